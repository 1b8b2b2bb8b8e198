"""Jobs that finish what an interaction started: a deferred command, and showing any job's result where
the person is waiting for it (editing Discord's @original, or Telegram's "working…" message).

Imported only when such a job runs: the API clients and pydantic stay off the interaction paths.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Literal, cast

from pydantic import BaseModel

from ttfd.core import users
from ttfd.core.errors import NotFound
from ttfd.core.failures import classify
from ttfd.core.i18n import _, negotiate
from ttfd.core.inbound import Caller
from ttfd.core.jobs import JobCtx
from ttfd.core.ledger import utc_now
from ttfd.ui.actions import prefix_of
from ttfd.ui.commands import Ctx, PlatformUser
from ttfd.ui.dispatch import decode_options
from ttfd.ui.reply import Reply, failed, localized

if TYPE_CHECKING:
    from ttfd.registry import Registry

log = logging.getLogger(__name__)


class DeferredEvent(BaseModel):
    key: str
    user_id: int
    caller: tuple[Literal["discord", "telegram", "website"], int, str | None, str | None, int | None]
    permissions: int = 0
    channel_id: int | None = None
    chat_id: int | None = None
    chat_type: str | None = None
    locale: str | None = None
    place_locale: str | None = None


class DeferredCommand(BaseModel):
    """A deferred command (its path and options), or a button press deferred on Telegram (its packed action)."""

    command: str | None = None
    options: dict[str, Any] = {}
    action: str | None = None
    event: DeferredEvent
    reply_to: dict[str, Any] = {}


class DiscordTarget(BaseModel):
    kind: Literal["discord"]
    application_id: str
    token: str


class TelegramTarget(BaseModel):
    kind: Literal["telegram"]
    chat_id: int
    message_id: int | None = None
    reply_to_message_id: int | None = None


class TelegramSend(BaseModel):
    chat_id: int
    text: str


def run(job: JobCtx, payload: dict[str, Any]) -> Reply:
    """Run a deferred command's implementation now, as the person who asked, in this job's transaction."""
    p = DeferredCommand.model_validate(payload)
    registry = cast("Registry", job.registry)  # run_jobs hands the whole registry in
    command = registry.commands.get(p.command) if p.command is not None else None
    pressed = registry.actions.get(prefix_of(p.action)) if p.action is not None else None
    if command is None and pressed is None:
        raise NotFound(_("That command is not available any more."))
    live = users.live_id(job.conn, p.event.user_id)
    if live is None:
        raise NotFound(_("That account does not exist any more."))
    platform, ext_id, username, display, guild_id = p.event.caller
    # The language saved when it was queued; the person's own choice if they have made one since.
    user = users.get_user(job.conn, live)
    locale = negotiate(user.language, p.event.locale, default=job.settings.default_locale)
    caller = Caller(platform, ext_id, username, display, guild_id)
    ctx = Ctx(
        conn=job.conn,
        settings=job.settings,
        platform=platform,
        user=user,
        caller=PlatformUser(platform, ext_id, username, display),
        key=p.event.key,
        now=utc_now(),
        guild_id=caller.guild_id,
        channel_id=p.event.channel_id,
        chat_id=p.event.chat_id,
        chat_type=p.event.chat_type,
        permissions=p.event.permissions,
        registry=registry,
        locale=locale,
        place_locale=negotiate(p.event.place_locale, default=locale),
        # A deferred button's later jobs answer where this one does (a command's keep their own targets).
        target=p.reply_to if p.action is not None else {},
    )
    if pressed is not None and p.action is not None:
        return pressed.handler(ctx, pressed.action_type.unpack(p.action))
    assert command is not None
    return command.handler(ctx, decode_options(p.options))


def deliver(target: dict[str, Any], result: Any, job: JobCtx) -> None:
    """Show a job's Reply (or, for a job that failed for good, why: ttfd.core.failures) where its person is
    waiting."""
    if isinstance(result, BaseException):
        reply = failed(classify(result))
    elif isinstance(result, Reply):
        reply = result
    else:
        return
    locale = negotiate(target.get("locale"), default=job.settings.default_locale)
    reply = localized(reply, locale)
    if target.get("kind") == "discord":
        _to_discord(DiscordTarget.model_validate(target), reply)
    else:
        _to_telegram(TelegramTarget.model_validate(target), reply, locale)


def _to_discord(t: DiscordTarget, reply: Reply) -> None:
    from ttfd.clients import discord_rest
    from ttfd.render import discord

    body = discord.message(reply)
    if reply.attachment is not None:
        for embed in body.get("embeds", []):
            embed["image"] = {"url": f"attachment://{reply.attachment.name}"}
    discord_rest.shared().edit_original(t.application_id, t.token, body, reply.attachment)


def _to_telegram(t: TelegramTarget, reply: Reply, locale: str) -> None:
    from ttfd.clients import telegram
    from ttfd.render import telegram as render

    api = telegram.shared()
    if reply.attachment is not None:
        caption = render.message_text(
            Reply(title=reply.title, body=reply.body), limit=render.CAPTION_MAX, locale=locale
        )
        api.send_file("sendPhoto", t.chat_id, "photo", reply.attachment, caption=caption, parse_mode="HTML")
        reply = localized(Reply(body=("🪪 ", _("Done — see below."))), locale)
    call = render.send(reply, t.chat_id, edit_message_id=t.message_id, reply_to=t.reply_to_message_id, locale=locale)
    method = call.pop("method")
    api.call(method, **call)


def send_telegram(job: JobCtx, payload: dict[str, Any]) -> None:
    """A Telegram message (a blocked bot gives 403, which is permanent)."""
    from ttfd.clients import telegram

    p = TelegramSend.model_validate(payload)
    telegram.shared().send_message(p.chat_id, p.text)
