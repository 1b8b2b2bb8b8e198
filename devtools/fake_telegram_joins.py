"""Fake Telegram, join requests: approveChatJoinRequest / declineChatJoinRequest against the requests a
test (or the simulator) made with `request_to_join`, which also returns the `chat_join_request` update
Telegram would deliver. Deciding a request that is not pending answers Telegram's own
"Bad Request: HIDE_REQUESTER_MISSING"; `refuse_dm` makes the next private message fail as it does for
someone the bot may not write to."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import Response

from devtools.fake_wire import tg_err as _err
from devtools.fake_wire import tg_ok as _ok

if TYPE_CHECKING:
    from devtools.fake_telegram import TelegramState

MISSING = "Bad Request: HIDE_REQUESTER_MISSING"
CANNOT_INITIATE = "Forbidden: bot can't initiate conversation with a user"


@dataclass
class Joins:
    pending: set[tuple[int, int]] = field(default_factory=set)  # (chat id, user id)
    decisions: list[tuple[str, int, int]] = field(default_factory=list)  # ("approve" | "decline", chat, user)
    user_chats: itertools.count[int] = field(default_factory=lambda: itertools.count(1))


def joins(state: TelegramState) -> Joins:
    """This fake's join requests, kept beside the shared state (created on first use)."""
    found = state.__dict__.get("_joins")
    if not isinstance(found, Joins):
        found = state.__dict__["_joins"] = Joins()
    return found


def request_to_join(
    state: TelegramState, chat_id: int, user_id: int, *, title: str = "Dev group", update_id: int = 1
) -> dict[str, Any]:
    """Someone asks to join a group that approves new members: pending here, and the update Telegram sends."""
    j = joins(state)
    with state.lock:
        j.pending.add((chat_id, user_id))
    return {
        "update_id": update_id,
        "chat_join_request": {
            "chat": {"id": chat_id, "type": "supergroup", "title": title},
            "from": {"id": user_id, "is_bot": False, "first_name": f"Applicant {user_id}", "username": f"u{user_id}"},
            "user_chat_id": user_id,  # a private chat's id is the user's id
            "date": int(time.time()),
            "bio": "hello",
        },
    }


def refuse_dm(state: TelegramState) -> None:
    """The next sendMessage fails as it does for someone who never started the bot (or blocked it)."""
    state.fail_next("sendMessage", 403, CANNOT_INITIATE)


def _decide(verb: str) -> Callable[[TelegramState, dict[str, Any]], Response]:
    def method(state: TelegramState, p: dict[str, Any]) -> Response:
        try:
            key = int(p["chat_id"]), int(p["user_id"])
        except (KeyError, TypeError, ValueError):
            return _err(400, "Bad Request: invalid user_id specified")
        j = joins(state)
        with state.lock:
            if key not in j.pending:
                return _err(400, MISSING)
            j.pending.discard(key)
            j.decisions.append((verb, *key))
            if verb == "approve":
                state.chat_members[key] = {"status": "member"}
        return _ok(True)

    return method


METHODS: dict[str, Callable[[TelegramState, dict[str, Any]], Response]] = {
    "approvechatjoinrequest": _decide("approve"),
    "declinechatjoinrequest": _decide("decline"),
}
