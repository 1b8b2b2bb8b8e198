"""Baseline for the benchmark: a bare functions-framework function that verifies the signature, answers PONG."""

from __future__ import annotations

import json
import os

from flask import Request, Response
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

_KEY = VerifyKey(bytes.fromhex(os.environ["DISCORD_PUBLIC_KEY"]))


def bare(request: Request) -> Response:
    body = request.get_data()
    ts = request.headers.get("X-Signature-Timestamp", "")
    try:
        _KEY.verify(ts.encode() + body, bytes.fromhex(request.headers.get("X-Signature-Ed25519", "")))
    except (BadSignatureError, ValueError):
        return Response("invalid request signature", 401)
    return Response(json.dumps({"type": 1}), 200, mimetype="application/json")


def bare_json(request: Request) -> Response:
    """Baseline for the website functions: a GET answered with a small JSON body, no database."""
    return Response(json.dumps({"ok": True}), 200, mimetype="application/json")
