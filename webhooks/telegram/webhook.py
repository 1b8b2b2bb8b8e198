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

from functions.http import GENERIC_ERROR, bad_input_reason, json_response, problem
from ttfd import db, idempotency, inbound
from ttfd.settings import get_settings
from webhooks.telegram import runtime

log = logging.getLogger(__name__)
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
    except ValueError as exc:
        return problem(400, f"malformed update: {bad_input_reason(exc)}")
    try:
        update = Update.model_validate(payload, context={"bot": runtime.bot()})
    except ValidationError as exc:
        # Authentic (secret matched) but a shape we cannot read: a non-2xx would make Telegram retry it for
        # a day and hold back the chat's later updates, so log it and let it go.
        log.warning("unreadable update %s skipped: %s", payload["update_id"], bad_input_reason(exc))
        return json_response({})
    try:
        body = db.run(lambda conn: handle(conn, update)) or {}
    except Exception:
        # 200, or Telegram retries forever; the transaction rolled back, so nothing is half-done.
        log.exception("update %s failed", update.update_id)
        chat_id = _chat_id(update)
        body = {"method": "sendMessage", "chat_id": chat_id, "text": GENERIC_ERROR} if chat_id else {}
    if update.callback_query:
        _stop_spinner(update.callback_query.id)
    return json_response(body)


def _stop_spinner(callback_query_id: str) -> None:
    """Answer a button press after the transaction committed: a deadlock retry never repeats it."""
    bot = runtime.bot()
    try:
        runtime.run(bot.answer_callback_query(callback_query_id), timeout=12)
    except Exception as exc:  # cosmetic: the button's spinner times out on its own
        log.warning("answerCallbackQuery failed: %s", type(exc).__name__)


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
