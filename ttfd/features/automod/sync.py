"""The Discord sync: make a server's AutoMod rules say what its policy says, writing only what differs.

Runs in a job (it calls Discord REST; imported only there). The policy row is locked for the whole sync, so
two syncs of one server run one after the other and never create a rule twice. Discord's list is read
first: a rule someone edited or deleted by hand is put back, and a rule created by a sync that crashed
before it could remember it is found again by its name instead of being created twice. Running it again
right away makes no write call at all.

Language: a sync is given the server's language (`guild_locale` of the interaction that set the policy or
asked for the sync, carried in the job). The rules' custom messages are what Discord shows any member whose
message they block, so they are said in the server's language, not in the admin's own; a sync after the
server changed its language updates them. A refusal is stored on the policy said in that language too."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ttfd.core.db import Conn
from ttfd.core.errors import BadInput
from ttfd.core.i18n import N_, _, negotiate, said
from ttfd.core.jobs import JobCtx
from ttfd.features.automod import rules, service

if TYPE_CHECKING:
    from ttfd.clients.discord_rest import DiscordREST

log = logging.getLogger(__name__)
REASON = "TTFD automod sync"


class SyncPayload(BaseModel):
    guild_id: int
    locale: str | None = None  # the server's language when the policy was set


@dataclass
class SyncResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    error: str | None = None  # a message (said in the reader's language where it is shown)

    @property
    def writes(self) -> int:
        return len(self.created) + len(self.updated) + len(self.deleted)


class Refused(Exception):
    """Discord will not take the rules (a permission, a limit): said to the admin, never retried."""


def _path(guild_id: int, rule_id: int | None = None) -> str:
    return f"/guilds/{guild_id}/auto-moderation/rules" + (f"/{rule_id}" if rule_id is not None else "")


def _check_room(remote: dict[int, dict[str, Any]], ours: set[int], want: dict[str, dict[str, Any]]) -> None:
    """Discord's per-server rule counts, with the rules people made by hand counted too: refuse before any
    write rather than leave a half-synced server."""
    for trigger, limit in rules.MAX_RULES.items():
        others = sum(1 for rid, r in remote.items() if rid not in ours and r.get("trigger_type") == trigger)
        needed = sum(1 for body in want.values() if body["trigger_type"] == trigger)
        if needed and others + needed > limit:
            if trigger == rules.MENTION_SPAM:
                raise Refused(
                    N_(
                        "Discord allows {n} mention-spam rule per server; this server has {others} of its own and "
                        "the policy needs {needed}. Remove one in Server Settings → AutoMod, or turn a setting off.",
                        "Discord allows {n} mention-spam rules per server; this server has {others} of its own and "
                        "the policy needs {needed}. Remove one in Server Settings → AutoMod, or turn a setting off.",
                        limit,
                        others=others,
                        needed=needed,
                    )
                )
            raise Refused(
                N_(
                    "Discord allows {n} keyword rule per server; this server has {others} of its own and the "
                    "policy needs {needed}. Remove one in Server Settings → AutoMod, or turn a setting off.",
                    "Discord allows {n} keyword rules per server; this server has {others} of its own and the "
                    "policy needs {needed}. Remove one in Server Settings → AutoMod, or turn a setting off.",
                    limit,
                    others=others,
                    needed=needed,
                )
            )


def sync_guild(conn: Conn, rest: DiscordREST, guild_id: int, locale: str = "en") -> SyncResult:
    """Create, update and delete this server's TTFD rules until they match its policy, their messages said in
    `locale` (the server's language). A refusal by Discord (403, 400) is recorded on the policy (said in
    `locale`) and returned in `error`; 429/5xx raise (the job retries)."""
    from ttfd.clients.http import HTTPError

    result = SyncResult()
    policy = service.get(conn, "discord", guild_id, lock=True)
    if policy is None:
        policy = service.Policy("discord", guild_id)
    try:
        want = rules.desired(policy, locale)
        known = service.known_rules(conn, guild_id)
        remote = {int(r["id"]): r for r in rest.request("GET", _path(guild_id)).json()}
        by_name = {r["name"]: rid for rid, r in remote.items()}
        ours = {rid for rid, _ in known.values()} | {by_name[n] for n in rules.NAMES.values() if n in by_name}
        _check_room(remote, ours, want)
        for slot in rules.SLOTS:
            body = want.get(slot)
            rid = known[slot][0] if slot in known else None
            if rid not in remote:  # never made, deleted by hand, or made by a sync that could not remember it
                rid = by_name.get(rules.NAMES[slot])
            current = remote.get(rid) if rid is not None else None
            if current is not None and body is not None and current.get("trigger_type") != body["trigger_type"]:
                current = None  # a same-named rule of another kind is not ours to change
            if body is None:
                if current is not None:
                    rest.request("DELETE", _path(guild_id, int(current["id"])), reason=REASON)
                    result.deleted.append(slot)
                service.forget_rule(conn, guild_id, slot)
                continue
            if current is None:
                made = rest.request("POST", _path(guild_id), json=body, reason=REASON).json()
                service.remember_rule(conn, guild_id, slot, int(made["id"]), rules.fingerprint(body))
                result.created.append(slot)
            elif not rules.matches(current, body):
                patch = {k: v for k, v in body.items() if k != "trigger_type"}  # Discord never changes a type
                rest.request("PATCH", _path(guild_id, int(current["id"])), json=patch, reason=REASON)
                service.remember_rule(conn, guild_id, slot, int(current["id"]), rules.fingerprint(body))
                result.updated.append(slot)
            else:
                service.remember_rule(conn, guild_id, slot, int(current["id"]), rules.fingerprint(body))
                result.unchanged.append(slot)
    except HTTPError as exc:
        if exc.retryable:
            raise
        if exc.status == 403:
            result.error = _(
                "Discord refused: TTFD needs the Manage Server permission in this server to manage its AutoMod "
                "rules ({reason}).",
                reason=exc.message,
            )
        elif exc.code:
            result.error = _(
                "Discord refused the rules: {reason} (code {code})", reason=exc.message, code=str(exc.code)
            )
        else:
            result.error = _("Discord refused the rules: {reason}", reason=exc.message)
    except Refused as exc:
        result.error = exc.args[0]
    except BadInput as exc:  # a policy stored before a limit changed
        result.error = exc.message
    if result.error:
        log.warning("automod sync of guild %s refused: %s", guild_id, result.error)
    if service.get(conn, "discord", guild_id) is not None:
        service.mark_synced(conn, guild_id, said(result.error, locale) if result.error else None)
    return result


def run_sync_job(job: JobCtx, payload: dict[str, Any]) -> None:
    """The job `/automod set` queues: a refusal is recorded on the policy (shown by /automod show)."""
    from ttfd.clients import discord_rest

    p = SyncPayload.model_validate(payload)
    locale = negotiate(p.locale, default=job.settings.default_locale)
    result = sync_guild(job.conn, discord_rest.shared(), p.guild_id, locale)
    log.info("automod sync of guild %s: %s", p.guild_id, result)
