"""Flask response helpers of the functions/ entrypoints (functions-framework hands us Flask requests)."""

from __future__ import annotations

import json
from typing import Any

from flask import Response

from ttfd.core.failures import Failure, retry_headers


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A compact JSON reply."""
    return Response(
        json.dumps(body, separators=(",", ":"), ensure_ascii=False),
        status=status,
        mimetype="application/json",
        headers=headers,
    )


def problem(status: int, reason: str) -> Response:
    """An RFC 9457-style problem reply with a human-readable reason."""
    return Response(
        json.dumps({"title": reason, "status": status}),
        status=status,
        mimetype="application/problem+json",
    )


def failure_response(failure: Failure, what: str) -> Response:
    """A failure (ttfd.core.failures.classify) for a machine caller (a scheduler): its status, an English
    title saying what was not done and why in one word, Retry-After when trying again may help."""
    resp = problem(failure.status, f"{what}: {failure.kind}")
    resp.headers.update(retry_headers(failure))
    return resp
