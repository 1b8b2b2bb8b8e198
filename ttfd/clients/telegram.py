"""Telegram Bot API over plain httpx, for schedules and the CLI (aiogram stays in the webhook only)."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import httpx

from ttfd.clients.http import DEFAULT_TIMEOUT, HTTPError, send
from ttfd.core.settings import Settings, get_settings

if TYPE_CHECKING:
    from ttfd.ui.reply import Attachment


def _parse_error(resp: httpx.Response) -> tuple[str, int | None, float | None]:
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:200] or resp.reason_phrase, None, None
    params = body.get("parameters") or {}
    return str(body.get("description", resp.reason_phrase)), body.get("error_code"), params.get("retry_after")


class TelegramAPI:
    """`call(method, **params)` with the same retry policy as Discord; the token never reaches a log line."""

    def __init__(self, base: str, token: str, client: httpx.Client | None = None) -> None:
        self._url = f"{base.rstrip('/')}/bot{token}/"
        self.client = client or httpx.Client(timeout=DEFAULT_TIMEOUT)

    @classmethod
    def from_settings(cls, settings: Settings) -> TelegramAPI:
        return cls(settings.telegram_api_base, settings.require("telegram_bot_token"))

    def call(self, method: str, /, *, retries: int = 3, **params: Any) -> Any:
        """Invoke a Bot API method and return its `result` (`retries`: how often 429/5xx are retried)."""
        resp = send(self.client, "POST", self._url + method, _parse_error, max_retries=retries, json=params)
        body = resp.json()
        if not body.get("ok"):
            raise HTTPError(resp.status_code, str(body.get("description")), code=body.get("error_code"))
        return body.get("result")

    def send_file(self, method: str, chat_id: int, field: str, file: Attachment, **params: Any) -> Any:
        """sendPhoto / sendDocument: the file as multipart/form-data (never retried: it may have been sent)."""
        form = {k: v if isinstance(v, str) else json.dumps(v) for k, v in {"chat_id": chat_id, **params}.items()}
        files = {field: (file.name, file.data, file.mime)}
        resp = send(self.client, "POST", self._url + method, _parse_error, max_retries=0, data=form, files=files)
        body = resp.json()
        if not body.get("ok"):
            raise HTTPError(resp.status_code, str(body.get("description")), code=body.get("error_code"))
        return body.get("result")

    def send_message(self, chat_id: int, text: str, **extra: Any) -> Any:
        return self.call("sendMessage", chat_id=chat_id, text=text, **extra)


@lru_cache(maxsize=1)
def shared() -> TelegramAPI:
    """The process-wide client built from settings."""
    return TelegramAPI.from_settings(get_settings())
