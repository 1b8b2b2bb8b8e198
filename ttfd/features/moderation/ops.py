"""What moderation asks of each platform, behind one interface: who may act on whom, DM the target, ban,
kick, time out, and lift those. Runs in jobs only (deferred commands, expiries, thresholds): the API clients
load here, never on an interaction's path.

Discord: the server's roles and members come over REST, cached briefly in Postgres (api_cache), and the
hierarchy is checked before acting, as Discord itself does; Telegram: getChatMember, cached the same way."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from ttfd.core import apicache
from ttfd.core.db import Conn
from ttfd.core.errors import BadInput, DomainError, Forbidden, NotFound
from ttfd.core.i18n import C_, Msg, _
from ttfd.features.moderation import cases
from ttfd.ui import guild

log = logging.getLogger(__name__)
CACHE_S = 30
MISSING_PERMISSIONS, CANNOT_DM, UNKNOWN_MEMBER, UNKNOWN_BAN, UNKNOWN_USER = 50013, 50007, 10007, 10026, 10013


# What a refusal says was refused ("You can't {verb} yourself."), by the case's action.
# TRANSLATORS: an infinitive that takes a person as its object: "ban", "lift the timeout of" (whom).
VERBS: dict[str, Msg] = {
    "ban": C_("moderation verb", "ban"),
    "kick": C_("moderation verb", "kick"),
    "timeout": C_("moderation verb", "time out"),
    "untimeout": C_("moderation verb", "lift the timeout of"),
    "warn": C_("moderation verb", "warn"),
}


@dataclass(frozen=True)
class Who:
    id: int
    name: str
    is_bot: bool = False


class Ops(Protocol):
    """One platform's moderation calls for one server (guild) or group (chat)."""

    scope: cases.Scope
    scope_id: int

    def check(self, invoker: Who, target: Who, action: str, *, present: bool = True) -> None: ...

    def dm(self, target: Who, text: str) -> bool: ...

    def ban(self, target: Who, until: datetime | None, delete_s: int, reason: str) -> None: ...

    def unban(self, target_id: int, reason: str) -> None: ...

    def kick(self, target: Who, reason: str) -> None: ...

    def timeout(self, target: Who, until: datetime, reason: str) -> None: ...

    def untimeout(self, target: Who, reason: str) -> None: ...


def _verb(action: str) -> Msg:
    return VERBS.get(action, VERBS["warn"])


def _refuse_basics(invoker: Who, target: Who, bot_id: int, action: str) -> None:
    if target.id == invoker.id:
        raise BadInput(_("You can't {verb} yourself.", verb=_verb(action)))
    if target.id == bot_id:
        raise BadInput(_("I won't {verb} myself.", verb=_verb(action)))


# --- Discord ---------------------------------------------------------------------------------------------


class DiscordOps:
    def __init__(self, conn: Conn, guild_id: int, bot_id: int) -> None:
        from ttfd.clients import discord_rest

        self.conn, self.scope_id, self.bot_id = conn, guild_id, bot_id
        self.scope: cases.Scope = "discord"
        self.rest = discord_rest.shared()

    def check(self, invoker: Who, target: Who, action: str, *, present: bool = True) -> None:
        """Self, the bot, the owner, and roles: the target's highest role must be below the invoker's (unless
        the invoker owns the server) and below the bot's, as Discord will insist anyway."""
        _refuse_basics(invoker, target, self.bot_id, action)
        verb = _verb(action)
        g = guild.load(self.conn, self.scope_id)
        if target.id == g.owner_id:
            raise Forbidden(_("You can't {verb} the server owner.", verb=verb))
        target_roles = guild.member_roles(self.conn, self.scope_id, target.id)
        if target_roles is None:
            if present:
                raise NotFound(_("{name} is not in this server.", name=target.name))
            return  # a ban may target someone who left
        top = g.top(target_roles)
        if invoker.id != g.owner_id and top >= g.top(guild.member_roles(self.conn, self.scope_id, invoker.id) or []):
            raise Forbidden(
                _(
                    "{name}'s highest role is the same as or above yours, so you can't {verb} them.",
                    name=target.name,
                    verb=verb,
                )
            )
        if top >= g.top(guild.member_roles(self.conn, self.scope_id, self.bot_id) or []):
            raise Forbidden(
                _(
                    "{name}'s highest role is the same as or above mine: move my role higher to {verb} them.",
                    name=target.name,
                    verb=verb,
                )
            )

    def dm(self, target: Who, text: str) -> bool:
        """A DM before the action; closed DMs (or any refusal) never block it."""
        from ttfd.clients.http import HTTPError

        try:
            channel = self.rest.request("POST", "/users/@me/channels", json={"recipient_id": str(target.id)}).json()
            self.rest.request("POST", f"/channels/{channel['id']}/messages", json={"content": text[:2000]})
        except HTTPError as exc:
            log.info("no DM to %s: %s", target.id, exc)
            return False
        return True

    def _act(self, method: str, path: str, reason: str, **kw: Any) -> None:
        from ttfd.clients.http import HTTPError

        try:
            self.rest.request(method, path, reason=reason[:512], **kw)
        except HTTPError as exc:
            raise discord_refusal(exc) from None
        guild.forget_members(self.conn, self.scope_id)

    def ban(self, target: Who, until: datetime | None, delete_s: int, reason: str) -> None:
        body = {"delete_message_seconds": delete_s}
        self._act("PUT", f"/guilds/{self.scope_id}/bans/{target.id}", reason, json=body)

    def unban(self, target_id: int, reason: str) -> None:
        self._act("DELETE", f"/guilds/{self.scope_id}/bans/{target_id}", reason)

    def kick(self, target: Who, reason: str) -> None:
        self._act("DELETE", f"/guilds/{self.scope_id}/members/{target.id}", reason)

    def timeout(self, target: Who, until: datetime, reason: str) -> None:
        body = {"communication_disabled_until": until.astimezone(UTC).isoformat()}
        self._act("PATCH", f"/guilds/{self.scope_id}/members/{target.id}", reason, json=body)

    def untimeout(self, target: Who, reason: str) -> None:
        self._act(
            "PATCH", f"/guilds/{self.scope_id}/members/{target.id}", reason, json={"communication_disabled_until": None}
        )


def discord_refusal(exc: Exception) -> DomainError:
    """Discord's refusals as plain sentences (and nothing changed)."""
    code = getattr(exc, "code", None)
    status = getattr(exc, "status", 0)
    if code == MISSING_PERMISSIONS or status == 403:
        return Forbidden(_("Discord refused: I'm missing the permission for that here, or my role is not high enough."))
    if code == UNKNOWN_MEMBER:
        return NotFound(_("They are not in this server."))
    if code == UNKNOWN_BAN:
        return NotFound(_("That user is not banned here."))
    if code == UNKNOWN_USER:
        return NotFound(_("There is no Discord user with that id."))
    if status == 400:
        return BadInput(_("Discord refused that request as invalid."))
    return DomainError(_("Discord could not do that right now; nothing was changed. Try again in a moment."))


# --- Telegram --------------------------------------------------------------------------------------------

MUTED = {
    "can_send_messages": False,
    "can_send_audios": False,
    "can_send_documents": False,
    "can_send_photos": False,
    "can_send_videos": False,
    "can_send_video_notes": False,
    "can_send_voice_notes": False,
    "can_send_polls": False,
    "can_send_other_messages": False,
    "can_add_web_page_previews": False,
}
UNMUTED = dict.fromkeys(MUTED, True)
ADMINS = ("creator", "administrator")


class TelegramOps:
    def __init__(self, conn: Conn, chat_id: int, bot_id: int) -> None:
        from ttfd.clients import telegram

        self.conn, self.scope_id, self.bot_id = conn, chat_id, bot_id
        self.scope: cases.Scope = "telegram"
        self.api = telegram.shared()

    def member(self, user_id: int) -> dict[str, Any]:
        key = f"tg:{self.scope_id}:{user_id}"
        found = apicache.get(self.conn, key)
        if found is None:
            found = self.api.call("getChatMember", chat_id=self.scope_id, user_id=user_id)
            apicache.put(self.conn, key, found, CACHE_S)
        return dict(found)

    def require_admin(self, invoker: Who, *, restrict: bool, refusal: str | None = None) -> None:
        m = self.member(invoker.id)
        if m.get("status") not in ADMINS:
            raise Forbidden(refusal or _("Only this group's administrators can do that."))
        if restrict and m.get("status") == "administrator" and not m.get("can_restrict_members"):
            raise Forbidden(_("You need the “Ban users” admin right in this group."))

    def check(self, invoker: Who, target: Who, action: str, *, present: bool = True) -> None:
        _refuse_basics(invoker, target, self.bot_id, action)
        self.require_admin(invoker, restrict=action != "warn")
        verb = _verb(action)
        if target.is_bot:
            raise BadInput(_("I don't {verb} bots.", verb=verb))
        status = self.member(target.id).get("status")
        if status == "creator":
            raise Forbidden(_("You can't {verb} the group's owner.", verb=verb))
        if status == "administrator":
            raise Forbidden(_("{name} is an administrator here; remove their admin rights first.", name=target.name))

    def _call(self, method: str, **params: Any) -> None:
        from ttfd.clients.http import HTTPError

        try:
            self.api.call(method, **params)
        except HTTPError as exc:
            raise telegram_refusal(exc) from None
        apicache.drop(self.conn, f"tg:{self.scope_id}:")

    def dm(self, target: Who, text: str) -> bool:
        from ttfd.clients.http import HTTPError

        try:
            self.api.call("sendMessage", chat_id=target.id, text=text[:4096], retries=0)
        except HTTPError as exc:  # they never started the bot, or blocked it
            log.info("no DM to %s: %s", target.id, exc)
            return False
        return True

    def ban(self, target: Who, until: datetime | None, delete_s: int, reason: str) -> None:
        params: dict[str, Any] = {"chat_id": self.scope_id, "user_id": target.id, "revoke_messages": delete_s > 0}
        if until is not None:
            params["until_date"] = int(until.timestamp())
        self._call("banChatMember", **params)

    def unban(self, target_id: int, reason: str) -> None:
        self._call("unbanChatMember", chat_id=self.scope_id, user_id=target_id, only_if_banned=True)

    def kick(self, target: Who, reason: str) -> None:  # a ban lifted at once: they may come back
        self._call("banChatMember", chat_id=self.scope_id, user_id=target.id, until_date=int(time.time()) + 60)
        self._call("unbanChatMember", chat_id=self.scope_id, user_id=target.id, only_if_banned=True)

    def timeout(self, target: Who, until: datetime, reason: str) -> None:
        self._call(
            "restrictChatMember",
            chat_id=self.scope_id,
            user_id=target.id,
            permissions=MUTED,
            until_date=int(until.timestamp()),
        )

    def untimeout(self, target: Who, reason: str) -> None:
        self._call("restrictChatMember", chat_id=self.scope_id, user_id=target.id, permissions=UNMUTED)


def telegram_refusal(exc: Exception) -> DomainError:
    text = str(exc)
    if "not enough rights" in text:
        return Forbidden(_("Telegram refused: make me an administrator with the “Ban users” right first."))
    if "administrator" in text or "owner" in text:
        return Forbidden(_("Telegram refused: they are an administrator of this group."))
    if "supergroups" in text:
        return BadInput(_("Telegram only lets bots restrict members in supergroups."))
    return DomainError(_("Telegram could not do that right now; nothing was changed. Try again in a moment."))


def for_scope(conn: Conn, scope: cases.Scope, scope_id: int) -> DiscordOps | TelegramOps:
    """The operations for a server or chat, with the bot's own id from settings."""
    from ttfd.core.settings import get_settings

    if scope == "discord":
        return DiscordOps(conn, scope_id, int(get_settings().require("discord_application_id")))
    return telegram_chat(conn, scope_id)


def telegram_chat(conn: Conn, chat_id: int) -> TelegramOps:
    """A Telegram group's operations (its members' status asked with getChatMember, cached briefly)."""
    from ttfd.core.settings import get_settings

    return TelegramOps(conn, chat_id, int(get_settings().require("telegram_bot_token").split(":")[0]))


def until_of(now: datetime, duration_s: int | None) -> datetime | None:
    return now + timedelta(seconds=duration_s) if duration_s else None
