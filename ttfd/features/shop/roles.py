"""The shop's role job: runs in run_jobs and calls Discord REST (imported only here). A role that cannot be
given is refunded, never kept paid for: one that has since moved to or above TTFD's highest role, gained a
dangerous permission or become managed (checked before giving it, as the shop checked when it was put on
sale), or one Discord refuses (the role or the member is gone). The buyer's receipt then says why."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel

from ttfd.core.errors import DomainError
from ttfd.core.i18n import _
from ttfd.core.jobs import JobCtx
from ttfd.core.ledger import utc_now
from ttfd.features.shop import service
from ttfd.features.shop.service import coins
from ttfd.ui import guild
from ttfd.ui.reply import Reply, say
from ttfd.ui.text import role

log = logging.getLogger(__name__)


class ShopRole(BaseModel):
    purchase_id: int
    guild_id: int
    discord_id: int
    role_id: int
    add: bool
    reason: str


def apply_shop_role(job: JobCtx, payload: dict[str, Any]) -> Reply | None:
    """Give (or take back) the role; a grant that cannot happen is refunded and its Reply edits the receipt."""
    from ttfd.clients import discord_rest
    from ttfd.clients.http import Forbidden, HTTPError, NotFoundError

    p = ShopRole.model_validate(payload)
    if p.add and _refunded(job, p.purchase_id):  # refunded while this grant waited for a retry
        log.info("purchase %s was refunded: its role is not given", p.purchase_id)
        return None
    rest = discord_rest.shared()
    call = rest.add_member_role if p.add else rest.remove_member_role
    try:
        if p.add:
            guild.check_assignable(
                job.conn, p.guild_id, p.role_id, guild.bot_user_id(), service.ROLE_RULE, None, fresh=True
            )
        call(p.guild_id, p.discord_id, p.role_id, reason=p.reason)
    except DomainError as refused:  # the role moved above mine, gained a dangerous permission, …
        return _refund(job, p, refused.message)
    except (Forbidden, NotFoundError) as exc:
        if p.add:
            return _refund(job, p, _("Discord refused to give it (my role must be above it, and it must still exist)."))
        log.info("shop role %s of purchase %s was not there to remove: %s", p.role_id, p.purchase_id, exc)
    except HTTPError:
        if not (job.final and p.add):
            raise  # retried later
        return _refund(job, p, _("Discord did not answer in time."))
    return None


def _refunded(job: JobCtx, purchase_id: int) -> bool:
    row = job.conn.execute(
        "SELECT refunded_at IS NOT NULL AS refunded FROM purchases WHERE id = %(id)s FOR SHARE", {"id": purchase_id}
    ).fetchone()
    return bool(row and row["refunded"])


def _refund(job: JobCtx, p: ShopRole, why: str) -> Reply | None:
    log.warning(
        "shop role %s in guild %s could not be given (%s): purchase %s refunded",
        p.role_id,
        p.guild_id,
        why,
        p.purchase_id,
    )
    try:
        r = service.refund(
            job.conn, p.purchase_id, by=None, guild_id=None, platform="discord", now=utc_now(), take_role=False
        )
    except DomainError as exc:  # refunded by an admin meanwhile
        log.info("purchase %s: %s", p.purchase_id, exc.message)
        return None
    back = _(
        "⚠️ I could not give you {role}: {why} Your {coins} are back.",
        role=role(p.role_id),
        why=why,
        coins=coins(r.total),
    )
    return say(back, private=True)
