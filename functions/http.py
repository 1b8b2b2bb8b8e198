"""Response helpers shared by every entrypoint (functions-framework hands us Flask requests)."""

from __future__ import annotations

import json
from typing import Any

from flask import Response
from pydantic import ValidationError

GENERIC_ERROR = "😵 Something went wrong on our side. Please try again in a moment."


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


def bad_input_reason(exc: Exception) -> str:
    """First validation problem as `field.path: message`, safe to echo to the sender."""
    if isinstance(exc, ValidationError):
        err = exc.errors()[0]
        return f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
    return str(exc)
