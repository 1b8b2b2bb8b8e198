"""The Discord sync: make a server's AutoMod rules say what its policy says, writing only what differs.

Runs in a job (it calls Discord REST; imported only there). The policy row is locked for the whole sync, so
two syncs of one server run one after the other and never create a rule twice. Discord's list is read
first: a rule someone edited or deleted by hand is put back, and a rule created by a sync that crashed
before it could remember it is found again by its name instead of being created twice. Running it again
right away makes no write call at all."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ttfd.core.db import Conn
from ttfd.core.errors import BadInput
from ttfd.core.jobs import JobCtx
from ttfd.features.automod import rules, service

if TYPE_CHECKING:
    from ttfd.clients.discord_rest import DiscordREST

log = logging.getLogger(__name__)
REASON = "TTFD automod sync"


class SyncPayload(BaseModel):
    guild_id: int


@dataclass
class SyncResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    error: str | None = None

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
            kind = {rules.KEYWORD: "keyword", rules.MENTION_SPAM: "mention-spam"}.get(trigger, str(trigger))
            raise Refused(
                f"Discord allows {limit} {kind} rule{'s' if limit > 1 else ''} per server; this server has "
                f"{others} of its own and the policy needs {needed}. Remove one in Server Settings → AutoMod, "
                "or turn a setting off."
            )


def sync_guild(conn: Conn, rest: DiscordREST, guild_id: int) -> SyncResult:
    """Create, update and delete this server's TTFD rules until they match its policy. A refusal by Discord
    (403, 400) is recorded on the policy and returned in `error`; 429/5xx raise (the job retries)."""
    from ttfd.clients.http import HTTPError

    result = SyncResult()
    policy = service.get(conn, "discord", guild_id, lock=True)
    if policy is None:
        policy = service.Policy("discord", guild_id)
    try:
        want = rules.desired(policy)
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
            result.error = (
                "Discord refused: TTFD needs the Manage Server permission in this server to manage its "
                f"AutoMod rules ({exc.message})."
            )
        else:
            result.error = f"Discord refused the rules: {exc.message}" + (f" (code {exc.code})" if exc.code else "")
    except Refused as exc:
        result.error = str(exc)
    except BadInput as exc:  # a policy stored before a limit changed
        result.error = exc.message
    if result.error:
        log.warning("automod sync of guild %s refused: %s", guild_id, result.error)
    if service.get(conn, "discord", guild_id) is not None:
        service.mark_synced(conn, guild_id, result.error)
    return result


def run_sync_job(job: JobCtx, payload: dict[str, Any]) -> None:
    """The job `/automod set` queues: a refusal is recorded on the policy (shown by /automod show)."""
    from ttfd.clients import discord_rest

    p = SyncPayload.model_validate(payload)
    result = sync_guild(job.conn, discord_rest.shared(), p.guild_id)
    log.info("automod sync of guild %s: %s", p.guild_id, result)
