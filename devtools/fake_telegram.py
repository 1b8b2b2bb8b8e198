"""A Telegram Bot API fake (docs/PROTOCOLS.md): `/bot<token>/<method>`, JSON or form bodies,
`{"ok":true,"result":…}` envelopes, error envelopes with error_code/description/parameters."""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, request

from devtools import fake_telegram_chats, fake_telegram_files, fake_telegram_joins, fake_telegram_login
from devtools.fake_wire import tg_err as _err
from devtools.fake_wire import tg_ok as _ok

_SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")


@dataclass
class TelegramState:
    token: str
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    webhook: dict[str, Any] = field(default_factory=dict)
    failures: dict[str, list[tuple[int, str, int | None]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    message_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1000))
    # What the bot has sent, by (chat id, message id): edits and deletes of anything else fail as Telegram's do.
    messages: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    # The command menus set with setMyCommands, by (scope, language_code): scope is the BotCommandScope's type
    # (with ":<chat_id>" / ":<chat_id>:<user_id>" for one chat or member), language_code "" for everyone else.
    commands: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    # Group members (devtools/fake_telegram_chats.py): (chat id, user id) → ChatMember fields ("status", rights,
    # "until_date"); anyone not listed is a plain member, and the bot an administrator that may restrict.
    chat_members: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)

    def fail_next(self, method: str, code: int, description: str, retry_after: int | None = None) -> None:
        """The next call of `method` answers this error (e.g. 403 'Forbidden: bot was blocked by the user')."""
        self.failures.setdefault(method.lower(), []).append((code, description, retry_after))

    def menu(self, scope: str = "default", language_code: str = "") -> list[dict[str, Any]]:
        """The commands set for exactly this scope and language (empty when none were)."""
        return self.commands.get((scope, language_code), [])

    def calls_of(self, method: str) -> list[dict[str, Any]]:
        return [p for m, p in self.calls if m.lower() == method.lower()]

    def add_message(self, chat_id: int, message_id: int, from_id: int, text: str) -> None:
        """A member's message in a group (what an update carried), so deleteMessage of it succeeds once."""
        msg = {"message_id": message_id, "chat": {"id": chat_id}, "from": {"id": from_id}, "text": text}
        with self.lock:
            self.messages[(chat_id, message_id)] = msg


def _params() -> dict[str, Any]:
    if request.is_json:
        return dict(request.get_json(silent=True) or {})
    params: dict[str, Any] = {**request.args.to_dict(), **request.form.to_dict()}
    for k, v in list(params.items()):  # form values of objects arrive JSON-encoded
        if isinstance(v, str) and v[:1] in "[{":
            with contextlib.suppress(ValueError):
                params[k] = json.loads(v)
    return params


# More Bot API methods by (lower-case) name, added by devtools/fake_telegram_*.py modules (group moderation,
# join requests): each takes the state and the call's parameters.
Method = Callable[[TelegramState, dict[str, Any]], Response]
METHODS: dict[str, Method] = {
    **fake_telegram_chats.METHODS,
    **fake_telegram_joins.METHODS,
    **fake_telegram_files.METHODS,
}


_SCOPES = {
    "default",
    "all_private_chats",
    "all_group_chats",
    "all_chat_administrators",
    "chat",
    "chat_administrators",
    "chat_member",
}


def _menu_key(p: dict[str, Any]) -> tuple[str, str] | Response:
    """(scope, language_code) of a *MyCommands call, as Telegram checks them: a known BotCommandScope (one
    chat's scopes with their chat_id, a member's with user_id too) and an empty or two-letter language."""
    scope = p.get("scope") or {"type": "default"}
    if not isinstance(scope, dict) or scope.get("type") not in _SCOPES:
        return _err(400, "Bad Request: BOT_COMMAND_SCOPE_INVALID")
    key = str(scope["type"])
    if key in ("chat", "chat_administrators", "chat_member"):
        if "chat_id" not in scope:
            return _err(400, "Bad Request: chat not found")
        key += f":{scope['chat_id']}"
        if scope["type"] == "chat_member":
            if "user_id" not in scope:
                return _err(400, "Bad Request: user not found")
            key += f":{scope['user_id']}"
    language = str(p.get("language_code") or "")
    if language and not re.fullmatch(r"[a-z]{2}", language):
        return _err(400, "Bad Request: LANG_CODE_INVALID")
    return key, language


def create_app(state: TelegramState, prefix: str = "") -> Flask:
    """The fake as a Flask app (the dev server mounts it at /_fake/telegram)."""
    app = Flask("fake_telegram")

    bot_id = int(state.token.split(":")[0])

    @app.route(f"{prefix}/bot<token>/<method>", methods=["GET", "POST"])
    def call(token: str, method: str) -> Response:
        if token != state.token:
            return _err(401, "Unauthorized")
        p = _params()
        name = method.lower()
        with state.lock:
            state.calls.append((method, p))
            queued = state.failures.get(name)
            if queued:
                return _err(*queued.pop(0))
        if name == "getme":
            return _ok({"id": bot_id, "is_bot": True, "first_name": "TTFD", "username": "ttfd_dev_bot"})
        if name in ("sendmessage", "editmessagetext", "sendphoto"):
            chat_id = int(p.get("chat_id", 0))
            text = str(p.get("text" if name != "sendphoto" else "caption", ""))
            if name != "sendphoto" and not text.strip():
                return _err(400, "Bad Request: message text is empty")
            if len(text) > (1024 if name == "sendphoto" else 4096):
                return _err(400, "Bad Request: message is too long")
            if name == "editmessagetext":
                mid = int(p.get("message_id", 0))
                old = state.messages.get((chat_id, mid))
                if old is None:
                    return _err(400, "Bad Request: message to edit not found")
                if old.get("text") == text and old.get("reply_markup") == p.get("reply_markup"):
                    return _err(400, "Bad Request: message is not modified")
            else:
                mid = next(state.message_ids)
            msg: dict[str, Any] = {
                "message_id": mid,
                "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"},
                "from": {"id": bot_id, "is_bot": True, "first_name": "TTFD"},
                **({"reply_markup": p["reply_markup"]} if p.get("reply_markup") else {}),
            }
            if name == "sendphoto":
                photo = request.files.get("photo")
                if photo is None:
                    return _err(400, "Bad Request: there is no photo in the request")
                size = len(photo.read())
                msg["photo"] = [
                    {
                        "file_id": f"photo{mid}",
                        "file_unique_id": f"u{mid}",
                        "width": 800,
                        "height": 240,
                        "file_size": size,
                    }
                ]
                msg["caption"] = text
            else:
                msg["text"] = text
            with state.lock:
                state.messages[(chat_id, mid)] = msg
            return _ok(msg)
        if name == "editmessagecaption":  # a photo's caption (and keyboard); a text message has none to edit
            key = (int(p.get("chat_id", 0)), int(p.get("message_id", 0)))
            caption = str(p.get("caption", ""))
            with state.lock:
                old = state.messages.get(key)
                if old is None:
                    return _err(400, "Bad Request: message to edit not found")
                if "photo" not in old:
                    return _err(400, "Bad Request: there is no caption in the message to edit")
                if len(caption) > 1024:
                    return _err(400, "Bad Request: message caption is too long")
                markup = p.get("reply_markup")
                if old.get("caption") == caption and old.get("reply_markup") == markup:
                    return _err(400, "Bad Request: message is not modified")
                old["caption"] = caption
                if markup and markup.get("inline_keyboard"):
                    old["reply_markup"] = markup
                else:
                    old.pop("reply_markup", None)
                return _ok(dict(old))
        if name == "deletemessage":
            key = (int(p.get("chat_id", 0)), int(p.get("message_id", 0)))
            with state.lock:
                if state.messages.pop(key, None) is None:
                    return _err(400, "Bad Request: message to delete not found")
            return _ok(True)
        if name in ("setmycommands", "deletemycommands", "getmycommands"):
            where = _menu_key(p)
            if isinstance(where, Response):
                return where
            if name == "getmycommands":
                return _ok(state.commands.get(where, []))
            if name == "deletemycommands":
                with state.lock:
                    state.commands.pop(where, None)
                return _ok(True)
            commands = p.get("commands")
            if not isinstance(commands, list) or len(commands) > 100:
                return _err(400, "Bad Request: commands must be a list of at most 100")
            for c in commands:
                if not (
                    isinstance(c, dict)
                    and re.fullmatch(r"[a-z0-9_]{1,32}", str(c.get("command", "")))
                    and 1 <= len(str(c.get("description", ""))) <= 256
                ):
                    return _err(400, "Bad Request: BOT_COMMAND_INVALID")
            if len({c["command"] for c in commands}) != len(commands):
                return _err(400, "Bad Request: command is duplicated")
            with state.lock:
                state.commands[where] = commands
            return _ok(True)
        if name == "answercallbackquery":
            return _ok(True)
        if name == "setwebhook":
            url, secret = str(p.get("url", "")), p.get("secret_token")
            if secret is not None and not _SECRET_RE.fullmatch(str(secret)):
                return _err(400, "Bad Request: secret token contains unallowed characters")
            if url and not url.startswith("https://"):
                return _err(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
            new = {"url": url, "secret_token": secret, "allowed_updates": p.get("allowed_updates")}
            same = new == state.webhook
            state.webhook = new
            return _ok(True, "Webhook is already set" if same else "Webhook was set")
        if name == "getwebhookinfo":
            return _ok(
                {
                    "url": state.webhook.get("url", ""),
                    "has_custom_certificate": False,
                    "pending_update_count": 0,
                    "allowed_updates": state.webhook.get("allowed_updates"),
                }
            )
        if name in METHODS:
            return METHODS[name](state, p)
        return _err(404, "Not Found: method not found")

    fake_telegram_login.register(app, state, prefix)  # the Login Widget's dev stand-in
    fake_telegram_files.register(app, state, prefix)  # getFile's downloads

    return app
