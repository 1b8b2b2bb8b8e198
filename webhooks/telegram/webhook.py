"""`telegram_webhook`: secret check, claim `tg:<bot>:<update_id>`, aiogram `feed_update`, reply in the body."""

from __future__ import annotations

import hmac
import json
import logging
from typing import Any

from aiogram.methods import TelegramMethod
from aiogram.types import Update, User
from flask import Request, Response
from pydantic import ValidationError

from functions.http import json_response, problem
from ttfd import db, idempotency, inbound
from ttfd.settings import get_settings
from webhooks.telegram import runtime

log = logging.getLogger(__name__)
GENERIC_ERROR = "😵 Something went wrong on our side. Please try again in a moment."
# Methods a webhook reply may not carry (Telegram ignores them there).
_NOT_IN_REPLY = ("get", "setwebhook", "deletewebhook", "close", "logout")


def telegram_webhook(request: Request) -> Response:
    """HTTP entrypoint Telegram POSTs every update to."""
    if request.method != "POST":
        return problem(405, "Telegram updates are POSTed")
    expected = get_settings().require("telegram_webhook_secret")
    given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        return problem(401, "invalid secret token")
    try:
        payload = json.loads(request.get_data(cache=False))
        if not isinstance(payload, dict) or not isinstance(payload.get("update_id"), int):
            raise ValueError("body must be a JSON object with an integer update_id")
        bot = runtime.bot()
        update = Update.model_validate(payload, context={"bot": bot})
    except (ValueError, ValidationError) as exc:
        return problem(400, f"malformed update: {_reason(exc)}")
    try:
        return json_response(db.run(lambda conn: handle(conn, update)) or {})
    except Exception:
        # 200, or Telegram retries forever; the transaction rolled back, so nothing is half-done.
        log.exception("update %s failed", update.update_id)
        chat_id = _chat_id(update)
        body = {"method": "sendMessage", "chat_id": chat_id, "text": GENERIC_ERROR} if chat_id else {}
        return json_response(body)


def handle(conn: db.Conn, update: Update) -> dict[str, Any] | None:
    """Claim the update once and return the webhook-reply body (stored for redeliveries)."""
    bot = runtime.bot()
    key = f"tg:{bot.id}:{update.update_id}"
    sender = _sender(update)
    if sender is None:  # not from a person (channel post, edited message, …): claim it and do nothing
        idempotency.claim(conn, key, ttl_s=2 * 86400)
        return None
    name = " ".join(p for p in (sender.first_name, sender.last_name) if p) or None
    start = inbound.begin(conn, key, "telegram", sender.id, sender.username, name, ttl_s=2 * 86400)
    if not start.fresh:
        stored: dict[str, Any] | None = start.stored_response
        return stored
    feed = runtime.dispatcher().feed_update(bot, update, conn=conn, settings=get_settings(), user=start.user)
    result = runtime.run(feed)
    body = reply_body(result)
    idempotency.store_response(conn, key, body)
    return body


def reply_body(result: Any) -> dict[str, Any] | None:
    """A returned TelegramMethod as the JSON webhook reply `{"method": ..., ...params}`."""
    if not isinstance(result, TelegramMethod):
        return None
    method = result.__api_method__
    if method.lower().startswith(_NOT_IN_REPLY):
        raise ValueError(f"{method} cannot be a webhook reply")
    bot = runtime.bot()
    params = bot.session.prepare_value(result.model_dump(warnings=False), bot=bot, files={}, _dumps_json=False)
    return {"method": method, **params}


def _sender(update: Update) -> User | None:
    """The person behind a message or button press; bots earn nothing and get no reply."""
    who = update.message.from_user if update.message else None
    if update.callback_query:
        who = update.callback_query.from_user
    return who if who and not who.is_bot else None


def _chat_id(update: Update) -> int | None:
    if update.message:
        return update.message.chat.id
    if update.callback_query and update.callback_query.message:
        return update.callback_query.message.chat.id
    return None


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        return f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
    return str(exc)
