"""Fake Telegram, group administration: getChat, getChatMember, getChatAdministrators, banChatMember,
unbanChatMember, restrictChatMember, with the Bot API's own refusals (an administrator or the owner cannot be
restricted, the bot needs the right to restrict members, restricting is for supergroups). `add_chat` makes a
group known (its title, type and members); an unknown chat is a supergroup when its id looks like one."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flask import Response

from devtools.fake_wire import tg_err as _err
from devtools.fake_wire import tg_ok as _ok

if TYPE_CHECKING:
    from devtools.fake_telegram import TelegramState

ADMIN_STATUSES = ("creator", "administrator")


def _bot_id(state: TelegramState) -> int:
    return int(state.token.split(":")[0])


def chats(state: TelegramState) -> dict[int, dict[str, Any]]:
    """The groups this fake was told of (created on first use, kept beside the shared state)."""
    found = state.__dict__.get("_chats")
    if not isinstance(found, dict):
        found = state.__dict__["_chats"] = {}
    return found


def add_chat(
    state: TelegramState,
    chat_id: int,
    title: str,
    chat_type: str = "supergroup",
    members: dict[int, dict[str, Any]] | None = None,
) -> None:
    """A group: its title and type, and its members' ChatMember fields ("status", rights) by user id."""
    with state.lock:
        chats(state)[chat_id] = {"id": chat_id, "title": title, "type": chat_type}
        for user_id, fields in (members or {}).items():
            state.chat_members[(chat_id, user_id)] = dict(fields)


def _supergroup(state: TelegramState, chat_id: int) -> bool:
    known = chats(state).get(chat_id)
    if known is not None:
        return bool(known["type"] == "supergroup")
    return chat_id <= -1_000_000_000_000  # supergroup ids are -100…


def member(state: TelegramState, chat_id: int, user_id: int) -> dict[str, Any]:
    """A ChatMember object: as set by a test, else the bot is an administrator and anyone else a member."""
    found = state.chat_members.get((chat_id, user_id))
    if found is None:
        found = (
            {"status": "administrator", "can_restrict_members": True, "can_delete_messages": True}
            if user_id == _bot_id(state)
            else {"status": "member"}
        )
    return {"user": {"id": user_id, "is_bot": user_id == _bot_id(state), "first_name": f"U{user_id}"}, **found}


def _ids(p: dict[str, Any]) -> tuple[int, int] | None:
    try:
        return int(p["chat_id"]), int(p["user_id"])
    except (KeyError, TypeError, ValueError):
        return None


def _refusal(state: TelegramState, chat_id: int, user_id: int, verb: str) -> Response | None:
    bot = member(state, chat_id, _bot_id(state))
    if bot["status"] != "administrator" or not bot.get("can_restrict_members"):
        return _err(400, f"Bad Request: not enough rights to {verb} chat member")
    status = member(state, chat_id, user_id)["status"]
    if status == "creator":
        return _err(400, "Bad Request: can't remove chat owner")
    if status == "administrator":
        return _err(400, "Bad Request: user is an administrator of the chat")
    return None


def get_chat_member(state: TelegramState, p: dict[str, Any]) -> Response:
    ids = _ids(p)
    if ids is None:
        return _err(400, "Bad Request: invalid user_id specified")
    return _ok(member(state, *ids))


def ban_chat_member(state: TelegramState, p: dict[str, Any]) -> Response:
    ids = _ids(p)
    if ids is None:
        return _err(400, "Bad Request: invalid user_id specified")
    if (refused := _refusal(state, *ids, "restrict/unrestrict")) is not None:
        return refused
    until = int(p.get("until_date") or 0)
    with state.lock:
        state.chat_members[ids] = {"status": "kicked", "until_date": until}
    return _ok(True)


def unban_chat_member(state: TelegramState, p: dict[str, Any]) -> Response:
    ids = _ids(p)
    if ids is None:
        return _err(400, "Bad Request: invalid user_id specified")
    with state.lock:
        if state.chat_members.get(ids, {}).get("status") == "kicked":
            state.chat_members[ids] = {"status": "left"}
    return _ok(True)


def restrict_chat_member(state: TelegramState, p: dict[str, Any]) -> Response:
    ids = _ids(p)
    if ids is None:
        return _err(400, "Bad Request: invalid user_id specified")
    if not _supergroup(state, ids[0]):
        return _err(400, "Bad Request: method is available only for supergroups")
    if (refused := _refusal(state, *ids, "restrict/unrestrict")) is not None:
        return refused
    permissions = p.get("permissions")
    if not isinstance(permissions, dict):
        return _err(400, "Bad Request: can't parse permissions JSON object")
    until = int(p.get("until_date") or 0)
    if until and until < time.time() + 30:  # less than 30 s (or more than 366 days) means forever
        until = 0
    with state.lock:
        if permissions.get("can_send_messages") is False:
            state.chat_members[ids] = {"status": "restricted", "until_date": until, **permissions}
        else:
            state.chat_members[ids] = {"status": "member"}
    return _ok(True)


def get_chat(state: TelegramState, p: dict[str, Any]) -> Response:
    try:
        chat_id = int(p["chat_id"])
    except (KeyError, TypeError, ValueError):
        return _err(400, "Bad Request: chat not found")
    known = chats(state).get(chat_id)
    if known is None:
        if chat_id > 0:
            return _ok({"id": chat_id, "type": "private", "first_name": f"U{chat_id}"})
        return _err(400, "Bad Request: chat not found")
    return _ok(dict(known))


def get_chat_administrators(state: TelegramState, p: dict[str, Any]) -> Response:
    try:
        chat_id = int(p["chat_id"])
    except (KeyError, TypeError, ValueError):
        return _err(400, "Bad Request: chat not found")
    ids = {u for (c, u), m in state.chat_members.items() if c == chat_id} | {_bot_id(state)}
    return _ok([m for m in (member(state, chat_id, u) for u in sorted(ids)) if m["status"] in ADMIN_STATUSES])


METHODS: dict[str, Callable[[TelegramState, dict[str, Any]], Response]] = {
    "getchat": get_chat,
    "getchatadministrators": get_chat_administrators,
    "getchatmember": get_chat_member,
    "banchatmember": ban_chat_member,
    "unbanchatmember": unban_chat_member,
    "restrictchatmember": restrict_chat_member,
}
