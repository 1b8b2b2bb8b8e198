"""The error and result envelopes of the fakes, shared by the fake APIs and their extension modules."""

from __future__ import annotations

import json
from typing import Any

from flask import Response


def discord_error(status: int, code: int, message: str) -> Response:
    """Discord's error body: `{"message", "code"}` (JSON error codes, docs/PROTOCOLS.md)."""
    return Response(json.dumps({"message": message, "code": code}), status, mimetype="application/json")


def tg_ok(result: Any, description: str | None = None) -> Response:
    body: dict[str, Any] = {"ok": True, "result": result}
    if description:
        body["description"] = description
    return Response(json.dumps(body), 200, mimetype="application/json")


def tg_err(code: int, description: str, retry_after: int | None = None) -> Response:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return Response(json.dumps(body), code, mimetype="application/json")
