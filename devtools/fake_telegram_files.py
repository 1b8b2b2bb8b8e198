"""Fake Telegram, files: getFile and the download route `/file/bot<token>/<file_path>` (protocols.md §3).

`add_file(state, data)` makes a file known (what a member's photo or document would be) and returns its
file_id (or keeps the one given: devtools.simulate.photo_sizes derives ids from the bytes); over HTTP, for
the CLI talking to a running dev server, `POST <fake>/_dev/files[?file_id=…]` with the bytes as the body
answers `{"file_id": …}`. getFile answers `{file_id, file_unique_id, file_size, file_path}`, or Telegram's
"file is too big" above the 20 MB a bot may download, or "wrong file_id". The download route serves the
bytes (as Telegram's file server does, application/octet-stream) to the bot's own token only."""

from __future__ import annotations

import itertools
import json
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, request

from devtools.fake_wire import tg_err as _err
from devtools.fake_wire import tg_ok as _ok

if TYPE_CHECKING:
    from collections.abc import Callable

    from devtools.fake_telegram import TelegramState

BOT_DOWNLOAD_LIMIT = 20 * 1000 * 1000  # "bots can download files of up to 20MB in size"
_ids = itertools.count(1)


def files(state: TelegramState) -> dict[str, dict[str, Any]]:
    """file_id → {"data", "file_path", "file_size"} (created on first use, kept beside the shared state)."""
    found = state.__dict__.get("_files")
    if not isinstance(found, dict):
        found = state.__dict__["_files"] = {}
    return found


def add_file(
    state: TelegramState,
    data: bytes,
    *,
    file_id: str | None = None,
    file_path: str | None = None,
    file_size: int | None = None,
) -> str:
    """A file Telegram holds for the bot; its file_id. `file_size` overrides what getFile reports."""
    n = next(_ids)
    file_id = file_id or f"AgACAgIAAxkBAAI{n:08d}"
    with state.lock:
        files(state)[file_id] = {
            "data": data,
            "file_path": file_path or f"photos/file_{n}.jpg",
            "file_size": len(data) if file_size is None else file_size,
            "file_unique_id": f"AQAD{n:08d}",
        }
    return file_id


def get_file(state: TelegramState, p: dict[str, Any]) -> Response:
    found = files(state).get(str(p.get("file_id", "")))
    if found is None:
        return _err(400, "Bad Request: wrong file_id or the file is temporarily unavailable")
    if found["file_size"] > BOT_DOWNLOAD_LIMIT:
        return _err(400, "Bad Request: file is too big")
    return _ok(
        {
            "file_id": p["file_id"],
            "file_unique_id": found["file_unique_id"],
            "file_size": found["file_size"],
            "file_path": found["file_path"],
        }
    )


def register(app: Flask, state: TelegramState, prefix: str = "") -> None:
    """Mount the file download route on the fake Telegram's app."""

    @app.route(f"{prefix}/_dev/files", methods=["POST"])
    def upload() -> Response:
        file_id = add_file(state, request.get_data(), file_id=request.args.get("file_id") or None)
        return Response(json.dumps({"file_id": file_id}), 200, mimetype="application/json")

    @app.route(f"{prefix}/file/bot<token>/<path:file_path>", methods=["GET"])
    def download(token: str, file_path: str) -> Response:
        if token != state.token:
            return Response('{"ok":false,"error_code":401,"description":"Unauthorized"}', 401)
        for found in files(state).values():
            if found["file_path"] == file_path and found["data"] is not None:  # None: listed, no longer served
                return Response(found["data"], 200, mimetype="application/octet-stream")
        return Response('{"ok":false,"error_code":404,"description":"Not Found"}', 404)


METHODS: dict[str, Callable[[TelegramState, dict[str, Any]], Response]] = {"getfile": get_file}
