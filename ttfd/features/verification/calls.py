"""Verification's calls to Discord and Telegram, made only from jobs (imported when one runs, so the API
clients, pydantic and Pillow stay off the interaction paths): check a role against the server, post the
panel, draw a captcha, give the role, send the join-request captcha, approve or decline a join request."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel

from ttfd.clients import discord_rest, telegram
from ttfd.clients.http import Forbidden, HTTPError, NotFoundError
from ttfd.core import jobs, users
from ttfd.core.db import Conn
from ttfd.core.errors import BadInput, DomainError
from ttfd.core.i18n import _, negotiate
from ttfd.core.jobs import JobCtx
from ttfd.core.settings import get_settings
from ttfd.features.verification import DECIDE_JOB, VERIFY, WHAT, captcha_reply, code_reply, service
from ttfd.render import discord
from ttfd.render import telegram as render
from ttfd.ui import guild
from ttfd.ui.reply import Reply, localized, say
from ttfd.ui.text import Span, role

log = logging.getLogger(__name__)
# Telegram's answer to approve/decline when the request is gone (decided by an admin, withdrawn, expired).
GONE = "HIDE_REQUESTER_MISSING"
# What a member is told when Discord itself refused the role (our own check passed: its data was cached).
DISCORD_REFUSED = _("Discord refused, so my role may no longer be above it, or the role may be gone.")


def post_panel(channel_id: int, panel: Reply) -> int:
    """POST the panel into the channel; the message id. Discord's refusals become refusals (rolled back)."""
    try:
        resp = discord_rest.shared().request("POST", f"/channels/{channel_id}/messages", json=discord.message(panel))
    except Forbidden:
        raise DomainError(
            _("I cannot post in that channel: give me View Channel, Send Messages and Embed Links there.")
        ) from None
    except NotFoundError:
        raise BadInput(_("I cannot find that channel.")) from None
    return int(resp.json()["id"])


def _bot_id() -> int:
    return int(get_settings().require("discord_application_id"))  # the bot's user id is the application's


def check_role(conn: Conn, guild_id: int, role_id: int, *, invoker_id: int | None) -> None:
    """May this role be handed out here, by Discord's rules as Discord has the server now: refused (a
    DomainError saying what to change) otherwise. Discord answering 5xx or 429 is retried by the job. A grant
    (no invoker) asks Discord afresh: a role made dangerous seconds ago must not be given."""
    try:
        guild.check_assignable(conn, guild_id, role_id, _bot_id(), WHAT, invoker_id, fresh=invoker_id is None)
    except HTTPError as exc:
        if exc.retryable:
            raise
        raise DomainError(_("I cannot see this server's roles, so I cannot check or give that role.")) from None


class Grant(BaseModel):
    guild_id: int
    discord_id: int
    role_id: int


def grant_role(job: JobCtx, payload: dict[str, Any]) -> Reply:
    """Check the role again (it may have moved above mine or gained power since it was configured), then PUT
    the member's role (idempotent at Discord); the returned Reply edits the person's answer."""
    p = Grant.model_validate(payload)
    try:
        check_role(job.conn, p.guild_id, p.role_id, invoker_id=None)
        discord_rest.shared().add_member_role(
            p.guild_id, p.discord_id, p.role_id, reason=f"Verification panel: member {p.discord_id} verified"
        )
    except DomainError as exc:
        return _not_granted(job, p, exc.message, exc.message)
    except (Forbidden, NotFoundError) as exc:
        return _not_granted(job, p, str(exc), DISCORD_REFUSED)
    except HTTPError as exc:
        if not job.final:
            raise  # retried later; the grant stays pending meanwhile
        return _not_granted(job, p, str(exc), DISCORD_REFUSED)
    service.grant_done(job.conn, p.guild_id, p.discord_id, ok=True)
    return say(_("✅ You are verified: you now have {role}.", role=role(p.role_id)), private=True)


def _not_granted(job: JobCtx, p: Grant, logged: str, why: str) -> Reply:
    log.warning("verification role %s in guild %s not given to %s: %s", p.role_id, p.guild_id, p.discord_id, logged)
    service.grant_done(job.conn, p.guild_id, p.discord_id, ok=False)
    told = _("⚠️ I could not give you {role}. {why} Please tell a moderator.", role=role(p.role_id), why=why)
    return say(told, private=True)


class Code(BaseModel):
    challenge: str


def show_code(job: JobCtx, payload: dict[str, Any]) -> Reply:
    """Draw a captcha's code into the private answer of the Verify press (the picture is drawn from the code
    in Postgres; the job carries only the challenge's id)."""
    from ttfd.features.verification import captcha

    p = Code.model_validate(payload)
    found = service.challenge(job.conn, p.challenge)
    if found is None or found.status != "open" or found.past:
        expired = _(
            "⌛ This code expired before I could show it. Press {button} for a new one.", button=Span("bold", VERIFY)
        )
        return say(expired, private=True)
    return code_reply(p.challenge, captcha.draw(found.answer), found.expires_at)


class JoinJob(BaseModel):
    request: int
    locale: str | None = None  # the applicant's language (their Telegram's, or their own choice)


def send_captcha(job: JobCtx, payload: dict[str, Any]) -> None:
    """The join request's captcha, sent to the applicant's private chat. Someone the bot may not write to
    (403) can never solve it: the request is declined now rather than left to time out."""
    p = JoinJob.model_validate(payload)
    req = service.join_request(job.conn, p.request)
    if req is None or req.status != "pending":
        return
    locale = negotiate(p.locale, default=job.settings.default_locale)
    call = render.send(localized(captcha_reply(req), locale), req.user_chat_id, locale=locale)
    method = call.pop("method")
    try:
        sent = telegram.shared().call(method, **call)
    except HTTPError as exc:
        if exc.status != 403:
            raise  # 429/5xx retried; other 4xx end the job (the schedule declines the request in time)
        log.warning(
            "join request %s: cannot message user %s in private (%s); declining it", req.id, req.telegram_id, exc
        )
        if service.decide(job.conn, req.id, "declined", "unreachable"):
            body = {"request": req.id, "chat_id": req.chat_id, "user_id": req.telegram_id, "approve": False}
            jobs.enqueue(job.conn, DECIDE_JOB, body, dedupe_key=f"verify:join:{req.id}:decide")
        return
    service.dm_sent(job.conn, req.id, int(sent["message_id"]))


class Decide(BaseModel):
    request: int
    chat_id: int
    user_id: int
    approve: bool


def decide_join(job: JobCtx, payload: dict[str, Any]) -> None:
    """approveChatJoinRequest / declineChatJoinRequest for a decision already made in Postgres. A request
    Telegram no longer has (an admin decided it, the person withdrew) is logged, not retried."""
    p = Decide.model_validate(payload)
    method = "approveChatJoinRequest" if p.approve else "declineChatJoinRequest"
    try:
        telegram.shared().call(method, chat_id=p.chat_id, user_id=p.user_id)
    except HTTPError as exc:
        if exc.retryable:
            raise
        log.info("join request %s: %s refused (%s); nothing left to do", p.request, method, exc.message)
        return
    if not p.approve:
        _tell_timeout(job, p.request)


def _tell_timeout(job: JobCtx, request_id: int) -> None:
    """Best effort: a request that timed out says so in the private chat where its captcha was."""
    req = service.join_request(job.conn, request_id)
    if req is None or req.reason != "timeout" or req.dm_message_id is None:
        return
    # The applicant's own choice, else their app's language when they asked, else the deployment's.
    known = users.find_user(job.conn, "telegram", req.telegram_id)
    locale = negotiate(known.language if known else None, req.locale, default=job.settings.default_locale)
    told = say(_("⌛ Time is up: your request to join was declined. You can ask to join again."))
    call = render.send(localized(told, locale), req.user_chat_id, edit_message_id=req.dm_message_id, locale=locale)
    method = call.pop("method")
    try:
        telegram.shared().call(method, retries=0, **call)
    except HTTPError as exc:
        log.info("join request %s: could not edit the captcha message: %s", request_id, exc.message)
