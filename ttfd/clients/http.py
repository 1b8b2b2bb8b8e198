"""Shared retry policy for outgoing HTTP: honour 429 Retry-After, back off on 5xx, typed errors."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import httpx

# httpx logs full URLs at INFO, and Telegram puts the bot token in the URL path.
logging.getLogger("httpx").setLevel(logging.WARNING)
logging.getLogger("httpcore").setLevel(logging.WARNING)

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=3.0)


class HTTPError(Exception):
    """A non-success reply from an API, with what the job runner needs to decide about retrying."""

    def __init__(self, status: int, message: str, *, code: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(f"HTTP {status}: {message}" + (f" (code {code})" if code is not None else ""))
        self.status = status
        self.message = message
        self.code = code
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        """429, 5xx and network failures may succeed later; other 4xx will not."""
        return self.status == 429 or self.status >= 500 or self.status == 0


class RateLimited(HTTPError):
    """429 whose wait is longer than we are willing to sleep inside this invocation."""


class Forbidden(HTTPError):
    """403: missing permission or role hierarchy; retrying will not help."""


class NotFoundError(HTTPError):
    """404: unknown guild/member/role/chat."""


ErrorParser = Callable[[httpx.Response], tuple[str, int | None, float | None]]


def _retry_after(resp: httpx.Response, body_value: float | None) -> float:
    if body_value is not None:
        return float(body_value)
    header = resp.headers.get("Retry-After")
    try:
        return float(header) if header else 1.0
    except ValueError:
        return 1.0


def send(
    client: httpx.Client,
    method: str,
    url: str,
    parse_error: ErrorParser,
    *,
    max_retries: int = 3,
    max_wait_s: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
    **kwargs: Any,
) -> httpx.Response:
    """Send with retries: 429 sleeps its Retry-After (up to max_wait_s), 5xx/network back off exponentially."""
    attempt = 0
    while True:
        try:
            resp = client.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            # A POST that may have reached the server (read timeout) is not repeated: it could act twice.
            sent = not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
            if attempt >= max_retries or (sent and method.upper() == "POST"):
                raise HTTPError(0, f"network error: {type(exc).__name__}") from exc
            sleep(0.2 * 2**attempt)
            attempt += 1
            continue
        if resp.status_code < 400:
            return resp
        message, code, body_retry = parse_error(resp)
        if resp.status_code == 429:
            wait = _retry_after(resp, body_retry)
            if attempt < max_retries and wait <= max_wait_s:
                sleep(wait)
                attempt += 1
                continue
            raise RateLimited(429, message, code=code, retry_after=wait)
        if resp.status_code >= 500 and attempt < max_retries:
            sleep(0.2 * 2**attempt)
            attempt += 1
            continue
        error_type = {403: Forbidden, 404: NotFoundError}.get(resp.status_code, HTTPError)
        raise error_type(resp.status_code, message, code=code)
