"""Moderation's jobs: posting a case to the mod log, ending a temporary ban or timeout on schedule (once: the
case's status changes in the job's transaction), and a warning threshold's action (once per threshold
crossing, as a case of its own)."""

from __future__ import annotations

import logging
from typing import Any, Literal

from pydantic import BaseModel

from ttfd.core.errors import DomainError
from ttfd.core.i18n import N_, _, negotiate
from ttfd.core.jobs import JobCtx, PermanentJobError
from ttfd.core.ledger import utc_now
from ttfd.features.moderation import cases, ops
from ttfd.ui.reply import Reply, localized

log = logging.getLogger(__name__)


class CaseRef(BaseModel):
    scope: Literal["discord", "telegram"]
    scope_id: int
    number: int
    place_locale: str | None = None  # the server's language when the case was opened


def _place(job: JobCtx, wanted: str | None) -> str:
    return negotiate(wanted, default=job.settings.default_locale)


def post_modlog(job: JobCtx, payload: dict[str, Any]) -> None:
    from ttfd.clients import discord_rest
    from ttfd.clients.http import Forbidden, NotFoundError
    from ttfd.features.moderation import case_reply
    from ttfd.render import discord

    ref = CaseRef.model_validate(payload)
    case = cases.get_case(job.conn, ref.scope, ref.scope_id, ref.number)
    channel = cases.settings(job.conn, ref.scope, ref.scope_id).modlog_channel
    if case is None or channel is None:
        return
    message = discord.message(localized(case_reply(case), _place(job, ref.place_locale)))
    try:
        discord_rest.shared().request("POST", f"/channels/{channel}/messages", json={"embeds": message["embeds"]})
    except (Forbidden, NotFoundError) as exc:  # the channel is gone or closed to us: retrying will not help
        raise PermanentJobError(f"mod log channel {channel}: {exc}") from None


def expire(job: JobCtx, payload: dict[str, Any]) -> None:
    """A temporary ban or timeout is over: lift it (Discord lifts timeouts and Telegram restrictions with an
    until date by itself) and mark the case expired — once, whatever fires twice."""
    ref = CaseRef.model_validate(payload)
    case = cases.get_case(job.conn, ref.scope, ref.scope_id, ref.number, lock=True)
    if case is None or case.status != "active":
        return  # lifted by hand (/unban ends the case) or expired already
    if case.expires_at and case.expires_at > utc_now():
        raise PermanentJobError("not due yet")  # never: the job is scheduled at expires_at
    if case.action == "ban" and case.scope == "discord" and case.target_id and not cases.outlasted(job.conn, case):
        try:
            over = _("Temporary ban (case #{number}) over", number=str(case.number))
            ops.for_scope(job.conn, ref.scope, ref.scope_id).unban(
                case.target_id, over.in_(_place(job, ref.place_locale))
            )
        except DomainError as exc:  # unbanned by hand on Discord already
            log.info("case %s: %s", case.number, exc.message)
    cases.end_case(job.conn, case, "expired")


class Threshold(BaseModel):
    scope: Literal["discord", "telegram"]
    scope_id: int
    target_id: int
    target_name: str | None = None
    warning: int
    count: int
    reply_to: dict[str, Any] | None = None
    place_locale: str | None = None


def threshold(job: JobCtx, payload: dict[str, Any]) -> Reply | None:
    """The warning threshold's action, as its own case (source automod), once per crossing warning."""
    p = Threshold.model_validate(payload)
    s = cases.settings(job.conn, p.scope, p.scope_id)
    if s.warn_action is None:
        return None
    key = f"threshold:{p.scope}:{p.scope_id}:{p.warning}"
    if cases.by_key(job.conn, key) is not None:
        return None
    target = ops.Who(p.target_id, p.target_name or str(p.target_id))
    platform = ops.for_scope(job.conn, p.scope, p.scope_id)
    # Stored as the case's reason and sent as the audit reason: in the server's (or group's) language.
    reason = N_(
        "Reached {n} warning (case #{case})", "Reached {n} warnings (case #{case})", p.count, case=str(p.warning)
    ).in_(_place(job, p.place_locale))
    until = ops.until_of(utc_now(), s.warn_duration_s)
    if s.warn_action == "timeout":
        assert until is not None
        platform.timeout(target, until, reason)
    elif s.warn_action == "kick":
        platform.kick(target, reason)
    else:
        platform.ban(target, until, 0, reason)
    action: cases.Action = s.warn_action  # type: ignore[assignment]
    case = cases.open_case(
        job.conn,
        scope=p.scope,
        scope_id=p.scope_id,
        action=action,
        target_id=p.target_id,
        target_name=p.target_name,
        moderator_id=None,
        moderator_name=None,
        reason=reason,
        source="automod",
        key=key,
        duration_s=s.warn_duration_s,
        expires_at=until if action in ("ban", "timeout") else None,
        place_locale=p.place_locale,
    )
    log.info("%s %s: threshold %s → case %s", p.scope, p.scope_id, s.warn_action, case.number)
    return None
