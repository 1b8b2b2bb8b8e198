"""`telegram_webhook`: secret check, parse the update, let aiogram route it to an `Event`, run that through
the one dispatch path (claim `tg:<bot>:<update_id>`, work, store the answer), reply in the body.

What Telegram is told decides whether an update can be lost. A 200 means "delivered, never send it
again"; anything else makes Telegram redeliver it (with backoff, for about a day). What a failure is comes
from ttfd.core.failures.classify; this only renders it:
- done, or refused with a reason → 200 with the reply (a refusal is stored, so a redelivery answers the same);
- transient (the database could not serve in time, an API's 429 or 5xx) → 503 with Retry-After: Telegram
  redelivers, and the claim makes the redelivery safe even if the first attempt did commit;
- a bug in our code, or a permanent failure → 200 with the generic words, logged once: redelivering would
  fail the same way.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import logging
from typing import Any

from aiogram.types import Update
from flask import Request, Response
from pydantic import ValidationError

from ttfd.core import db, failures, inputs, jobs, wake
from ttfd.core.i18n import _
from ttfd.core.settings import get_settings
from ttfd.features import REGISTRY
from ttfd.render import telegram as render
from ttfd.ui import dispatch
from ttfd.ui.reply import Reply
from webhooks.telegram import runtime

log = logging.getLogger(__name__)
# Telegram waits ~60 s for a webhook answer; leave room for the calls after the transaction.
TIMEOUT_S = 20.0
KEY_TTL_S = 2 * 86400  # longer than Telegram keeps redelivering
WORKING = _("⏳ Working on it…")  # a deferred command's placeholder, edited into its answer


def json_response(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body, separators=(",", ":"), ensure_ascii=False), status, mimetype="application/json")


def problem(status: int, reason: str) -> Response:
    body = json.dumps({"title": reason, "status": status})
    return Response(body, status, mimetype="application/problem+json")


def bad_input_reason(exc: ValidationError) -> str:
    """The first validation problem as `field.path: message`, safe to log."""
    err = exc.errors()[0]
    return f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"


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
    # Routing only: no handler touches the database, so this loop never waits on anyone's transaction.
    event = runtime.run(runtime.dispatcher().feed_update(runtime.bot(), update))
    if not isinstance(event, dispatch.Event):
        return json_response({})  # not from a person, or nothing for us (edited message, channel post…)
    try:
        answer = dispatch.dispatch(event, REGISTRY, Renderer(), timeout_s=TIMEOUT_S, ttl_s=KEY_TTL_S)
    except Exception as exc:
        failure = failures.report(log, exc, f"update {update.update_id}")
        if failure.retry:  # nothing was done, or the claim makes doing it again safe: Telegram redelivers
            resp = problem(503, "temporarily unavailable; redeliver this update")
            resp.headers.update(failures.retry_headers(failure))
            return resp
        answer = dispatch.answer_failure(failure, event, Renderer())
    body = after_commit(event, answer or {})
    wake.after_request()  # a deferred command's job, released by after_commit, runs now rather than next tick
    return json_response(body)


class Renderer:
    """What an update is answered with, stored for redeliveries: the webhook reply `body`, an `alert` for
    whoever pressed a button, or the job that will finish a deferred command."""

    def answer(self, reply: Reply, event: dispatch.Event) -> dict[str, Any]:
        if reply.empty:
            return {}
        chat_id = event.target.get("chat_id")
        if event.component and reply.private and not reply.edit:
            return {"alert": render.alert_text(reply)}  # only the presser sees it
        if chat_id is None:
            return {}
        edit = event.target.get("message_id") if event.component and reply.edit else None
        return {"body": render.send(reply, int(chat_id), edit_message_id=edit, locale=event.said_in or "en")}

    def deferred(self, event: dispatch.Event, job_id: int, private: bool) -> dict[str, Any]:
        return {"deferred": job_id}


def after_commit(event: dispatch.Event, answer: dict[str, Any]) -> dict[str, Any]:
    """Bot API calls that must not repeat if the transaction is retried; returns the webhook reply body."""
    from ttfd.clients import telegram

    api = telegram.shared()
    if event.component:  # stop the button's spinner, with the refusal as an alert if there is one
        alert = answer.get("alert")
        try:
            extra = {"text": alert, "show_alert": True} if alert else {}
            api.call("answerCallbackQuery", retries=0, callback_query_id=_callback_id(event), **extra)
        except Exception as exc:  # cosmetic: the spinner times out on its own
            log.warning("answerCallbackQuery failed: %s", type(exc).__name__)
    if "deferred" in answer:
        job_id = int(answer["deferred"])
        # A redelivered update replays its stored answer: only the first delivery says "working…".
        try:
            if not db.run(lambda conn: jobs.take_parked(conn, job_id), timeout_s=TIMEOUT_S):
                return {}
        except db.Unavailable:
            return {}  # the parked job runs on its own after jobs.PARKED_S and sends its answer anew
        target = dict(event.target)
        try:
            working = WORKING.in_(event.said_in or dispatch.speak(event))
            sent = api.call("sendMessage", retries=0, chat_id=target["chat_id"], text=working)
            target["message_id"] = int(sent["message_id"])
        except Exception as exc:  # the job will send its answer as a new message instead of an edit
            log.warning("could not send the working message: %s", type(exc).__name__)
        with contextlib.suppress(db.Unavailable):  # a parked job runs on its own after jobs.PARKED_S
            db.run(lambda conn: jobs.release(conn, job_id, {"reply_to": target}), timeout_s=TIMEOUT_S)
        return {}
    body: dict[str, Any] = answer.get("body") or {}
    return body


def _callback_id(event: dispatch.Event) -> str:
    return str(event.target.get("callback_query_id", ""))
