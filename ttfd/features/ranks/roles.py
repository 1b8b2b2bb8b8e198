"""The rank-role job: runs in run_jobs, calls Discord REST (imported only here). A mapped role that has since
moved to or above TTFD's highest role, or gained a dangerous permission, is not given (and logged): the
server's admins fix the mapping or the role."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel

from ttfd.core.jobs import JobCtx

log = logging.getLogger(__name__)
UNKNOWN_MEMBER = 10007  # Discord error code: the member left the guild


class RankRoles(BaseModel):
    guild_id: int
    discord_id: int
    add: int | None = None
    remove: list[int] = []
    rank: str | None = None


def apply_rank_roles(job: JobCtx, payload: dict[str, Any]) -> None:
    """Give the new rank's role, then drop lower ones; a deleted role is skipped, a departed member ends it."""
    from ttfd.clients import discord_rest
    from ttfd.clients.http import NotFoundError
    from ttfd.core.errors import DomainError
    from ttfd.features.ranks import RANK_RULE
    from ttfd.ui import guild

    p = RankRoles.model_validate(payload)
    if p.add:
        try:
            guild.check_assignable(job.conn, p.guild_id, p.add, guild.bot_user_id(), RANK_RULE, None, fresh=True)
        except DomainError as refused:
            log.warning("rank role %s in guild %s not given to %s: %s", p.add, p.guild_id, p.discord_id, refused)
            p = p.model_copy(update={"add": None})
    rest = discord_rest.shared()
    reason = f"TTFD rank up to {p.rank}"
    calls = [(rest.add_member_role, p.add)] + [(rest.remove_member_role, r) for r in p.remove]
    for call, role in calls:
        if not role:
            continue
        try:
            call(p.guild_id, p.discord_id, role, reason=reason)
        except NotFoundError as exc:
            if exc.code == UNKNOWN_MEMBER:
                log.info("member %s left guild %s; rank roles skipped", p.discord_id, p.guild_id)
                return
            log.warning("role %s in guild %s is gone (%s); skipped", role, p.guild_id, exc)
