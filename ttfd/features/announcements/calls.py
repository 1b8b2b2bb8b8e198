"""Announcements' work with Discord and Telegram, in jobs (imported only when one runs): linking a Telegram
channel after asking Telegram who runs it, and posting an announcement once.

Once: Confirm moves the draft to posting in one guarded statement, so one job runs; the Discord message carries
an enforced nonce (a job run again inside Discord's nonce window posts nothing new); each platform's message id
is recorded, so a retried job posts only where it has not yet."""

from __future__ import annotations

import logging
import re
from typing import Any

from pydantic import BaseModel

from ttfd.clients import discord_rest
from ttfd.clients.http import HTTPError
from ttfd.core.errors import BadInput, Forbidden
from ttfd.core.i18n import C_, _
from ttfd.core.jobs import JobCtx
from ttfd.core.logs import escape
from ttfd.features import announcements
from ttfd.features.announcements import service
from ttfd.render import discord
from ttfd.ui.commands import ChannelRef, Ctx
from ttfd.ui.reply import Button, Reply, localized, say
from ttfd.ui.text import bold, channel, text

log = logging.getLogger(__name__)
ADMINS = ("creator", "administrator")
_CHANNEL_ID = re.compile(r"-\d{4,19}")  # a channel id (-100… in real life; Telegram decides)
_USERNAME = re.compile(r"@?([A-Za-z][A-Za-z0-9_]{3,31})")


def _telegram_channel(raw: str) -> int | str:
    said = raw.strip()
    if _CHANNEL_ID.fullmatch(said):
        return int(said)
    if m := _USERNAME.fullmatch(said):
        return "@" + m.group(1)
    raise BadInput(_("A Telegram channel is its @name or its id (-100…)."))


def link(ctx: Ctx, here: ChannelRef, telegram_channel: str | None) -> Reply:
    """Set where a server's announcements go. A Telegram channel is linked only if the bot may post there and
    the person linking it runs it: their linked Telegram account is one of its administrators (a server admin
    must not be able to post into someone else's channel the bot happens to administer)."""
    from ttfd.clients import telegram

    assert ctx.guild_id is not None
    chat: int | None = None
    title: str | None = None
    if telegram_channel:
        ident = _telegram_channel(telegram_channel)
        api = telegram.shared()
        try:
            info = api.call("getChat", chat_id=ident)
        except HTTPError as exc:
            if exc.retryable:
                raise
            raise BadInput(_("Telegram does not know that channel: add me to it as an administrator first.")) from None
        if not isinstance(info, dict) or info.get("type") != "channel":
            raise BadInput(_("That is not a Telegram channel (a group cannot be an announcement channel)."))
        chat, title = int(info["id"]), str(info.get("title") or ident)
        bot = int(ctx.settings.require("telegram_bot_token").split(":")[0])
        me = api.call("getChatMember", chat_id=chat, user_id=bot)
        if me.get("status") != "administrator" or not me.get("can_post_messages"):
            raise BadInput(_("Make me an administrator of {name} who may post messages, then try again.", name=title))
        mine = ctx.user.telegram_id
        if mine is None:
            raise Forbidden(
                _("Link your Telegram account first (/link), so I can check that you run {name}.", name=title)
            )
        them = api.call("getChatMember", chat_id=chat, user_id=mine)
        if them.get("status") not in ADMINS:
            raise Forbidden(_("Your Telegram account is not an administrator of {name}.", name=title))
    service.set_target(ctx.conn, ctx.guild_id, here.id, chat, title, ctx.user.id)
    where = text(_("Announcements go to {channel}", channel=channel(here.id, here.name)))
    if chat is not None:
        where = text(where, " ", _("and to the Telegram channel {name}", name=bold(title)))
    return say(where, ".\n", _("Post one with /update."), private=True)


class Posting(BaseModel):
    announcement: int


def post(job: JobCtx, payload: dict[str, Any]) -> Reply:
    """Post the announcement where it goes; what each platform said comes back to its author."""
    from ttfd.clients import telegram
    from ttfd.render import telegram as render

    p = Posting.model_validate(payload)
    a = service.get(job.conn, p.announcement, lock=True)
    if a.status != "posting":
        return say(_("This announcement is posted already."), private=True)
    shown = localized(Reply(title=_("📢 Announcement"), body=(a.body,), color=announcements.COLOR), a.locale)
    if a.discord_message is None:
        body = discord.message(shown)
        body["nonce"], body["enforce_nonce"] = f"announce{a.id}", True
        try:
            sent = discord_rest.shared().request("POST", f"/channels/{a.discord_channel}/messages", json=body)
        except HTTPError as exc:
            if exc.retryable and not job.final:
                raise
            log.info("announcement %s not posted: %s", a.id, escape(str(exc)))
            service.move(job.conn, a.id, "posting", "draft")  # fix the channel, press again
            return Reply(
                body=(
                    _(
                        "❌ Discord refused the post in {channel}: I need to see it and send messages there. Fix "
                        "that and press Post it again.",
                        channel=channel(a.discord_channel),
                    ),
                ),
                rows=(
                    (
                        Button(C_("button", "Post it"), announcements.Post(a.id), style="success"),
                        Button(C_("button", "Cancel"), announcements.Drop(a.id), style="secondary"),
                    ),
                ),
                private=True,
                edit=True,
            )
        service.posted_discord(job.conn, a.id, int(sent.json()["id"]))
    told = [_("✅ Posted in {channel}.", channel=channel(a.discord_channel))]
    if a.telegram_chat is not None and a.telegram_message is None:
        call = render.send(shown, a.telegram_chat, locale=a.locale)
        call.pop("method")
        try:
            done = telegram.shared().call("sendMessage", **call)
            service.posted_telegram(job.conn, a.id, int(done["message_id"]))
            told.append(_("And in the Telegram channel."))
        except HTTPError as exc:
            if exc.retryable and not job.final:
                raise
            told.append(_("Telegram refused it: {why}", why=exc.message[:200]))
    service.done(job.conn, a.id)
    return say(told[0], *(text(" ", t) for t in told[1:]), private=True, edit=True)
