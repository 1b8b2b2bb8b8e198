"""Flask response helpers of the functions/ entrypoints (functions-framework hands us Flask requests)."""

from __future__ import annotations

import json
from typing import Any

from flask import Response


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
