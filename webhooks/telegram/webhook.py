"""`telegram_webhook`: secret check, claim `tg:<bot>:<update_id>`, aiogram `feed_update`, reply in the body.

What Telegram is told decides whether an update can be lost. A 200 means "delivered, never send it
again"; anything else makes Telegram redeliver it (with backoff, for about a day). So:
- done, or refused with a reason → 200 with the reply (a refusal is stored, so a redelivery answers the same);
- a transient database failure (pool exhausted, connections lost, deadline passed) → 503: Telegram
  redelivers, and the claim makes the redelivery safe even if the first attempt did commit;
- a bug in a handler → 200 with a generic message, logged once: redelivering would fail the same way.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from aiogram.methods import TelegramMethod
from aiogram.types import Update, User
from flask import Request, Response
from pydantic import ValidationError

from functions.http import GENERIC_ERROR, bad_input_reason, json_response, problem
from ttfd import inbound
from ttfd.clients import telegram
from ttfd.core import db, idempotency, inputs
from ttfd.core.errors import DomainError
from ttfd.core.settings import get_settings
from webhooks.telegram import runtime

log = logging.getLogger(__name__)
# Methods a webhook reply may not carry (Telegram ignores them there).
_NOT_IN_REPLY = ("get", "setwebhook", "deletewebhook", "close", "logout")
# Telegram waits ~60 s for a webhook answer; leave room for the button answer after the transaction.
TIMEOUT_S = 20.0
KEY_TTL_S = 2 * 86400  # longer than Telegram keeps redelivering


def telegram_webhook(request: Request) -> Response:
    """HTTP entrypoint Telegram POSTs every update to."""
    if request.method != "POST":
        return problem(405, "Telegram updates are POSTed")
    expected = get_settings().require("telegram_webhook_secret")
    given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        return problem(401, "invalid secret token")
    try:
        payload = inputs.load_json(request.get_data(cache=False))
        if not isinstance(payload, dict) or type(payload.get("update_id")) is not int or payload["update_id"] < 0:
            raise inputs.InputError("body must be a JSON object with a non-negative integer update_id")
    except inputs.InputError as exc:
        return problem(400, f"malformed update: {exc}")
    try:
        update = Update.model_validate(inputs.scrub(payload), context={"bot": runtime.bot()})
    except ValidationError as exc:
        # Authentic (secret matched) but a shape we cannot read: a non-2xx would make Telegram retry it for
        # a day and hold back the chat's later updates, so log it and let it go.
        log.warning("unreadable update %s skipped: %s", payload["update_id"], bad_input_reason(exc))
        return json_response({})
    body: dict[str, Any] | None
    try:
        try:
            body = db.run(lambda conn: handle(conn, update), timeout_s=TIMEOUT_S)
        except DomainError as exc:
            # The refused attempt rolled back whole; remember the refusal so a redelivery answers the same.
            refusal = _message(update, f"⚠️ {exc.message}")
            body = db.run(lambda conn: remember(conn, update, refusal), timeout_s=TIMEOUT_S)
    except db.Unavailable as exc:
        log.warning("update %s deferred to Telegram's redelivery: %s", update.update_id, exc)
        resp = problem(503, "temporarily unavailable; redeliver this update")
        resp.headers["Retry-After"] = "5"
        return resp
    except Exception:
        log.exception("update %s failed", update.update_id)
        body = _message(update, GENERIC_ERROR)
    if update.callback_query:
        _stop_spinner(update.callback_query.id)
    return json_response(body or {})


def _stop_spinner(callback_query_id: str) -> None:
    """Answer a button press after the transaction committed: a deadlock retry never repeats it."""
    try:
        telegram.shared().call("answerCallbackQuery", retries=0, callback_query_id=callback_query_id)
    except Exception as exc:  # cosmetic: the button's spinner times out on its own
        log.warning("answerCallbackQuery failed: %s", type(exc).__name__)


def _key(update: Update) -> str:
    return f"tg:{runtime.bot().id}:{update.update_id}"


def handle(conn: db.Conn, update: Update) -> dict[str, Any] | None:
    """Claim the update once and return the webhook-reply body (stored for redeliveries)."""
    key = _key(update)
    sender = _sender(update)
    if sender is None:  # not from a person (channel post, edited message, …): claim it and do nothing
        idempotency.claim(conn, key, ttl_s=KEY_TTL_S)
        return None
    name = " ".join(p for p in (sender.first_name, sender.last_name) if p) or None
    start = inbound.begin(conn, key, "telegram", sender.id, sender.username, name, ttl_s=KEY_TTL_S)
    if not start.fresh:
        stored: dict[str, Any] | None = start.stored_response
        return stored
    feed = runtime.dispatcher().feed_update(runtime.bot(), update, conn=conn, settings=get_settings(), user=start.user)
    body = reply_body(runtime.run(feed))
    idempotency.store_response(conn, key, body)
    return body


def remember(conn: db.Conn, update: Update, refusal: dict[str, Any] | None) -> dict[str, Any] | None:
    """Claim the update for a refusal; if a twin delivery got there first, answer what it answered."""
    claim = idempotency.claim(conn, _key(update), ttl_s=KEY_TTL_S)
    if not claim.fresh:
        stored: dict[str, Any] | None = claim.response
        return stored
    idempotency.store_response(conn, _key(update), refusal)
    return refusal


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


def _message(update: Update, text: str) -> dict[str, Any] | None:
    """A plain sendMessage reply into the chat the update came from, if it came from one."""
    chat_id = None
    if update.message:
        chat_id = update.message.chat.id
    elif update.callback_query and update.callback_query.message:
        chat_id = update.callback_query.message.chat.id
    return {"method": "sendMessage", "chat_id": chat_id, "text": text} if chat_id is not None else None
