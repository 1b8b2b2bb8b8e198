"""Fake Discord, channels (protocols.md §8): create a guild channel with permission overwrites, read it, put
or delete one overwrite, delete the channel, edit a message; posting with files (multipart `payload_json` +
`files[n]`) and `nonce` + `enforce_nonce` (the same nonce in a channel returns the first message instead of
posting twice). Discord's own refusals: Manage Channels to create or delete, Manage Roles to edit overwrites
(403 50013), unknown channel 10003, unknown message 10008, 500 channels per server (30013), a parent that is
not a category (50035). `can_see` / `can_send` compute a member's view of a channel in Discord's order
(@everyone, then roles, then the member's own overwrite)."""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, request

from devtools.fake_wire import discord_error as _error

if TYPE_CHECKING:
    from devtools.fake_discord import DiscordState

ADMINISTRATOR, MANAGE_CHANNELS, MANAGE_ROLES = 1 << 3, 1 << 4, 1 << 28
VIEW_CHANNEL, SEND_MESSAGES = 1 << 10, 1 << 11
MAX_CHANNELS = 500
NONCE_TTL_S = 300  # Discord keeps enforced nonces "a few minutes"


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status, mimetype="application/json")


def channels(state: DiscordState) -> dict[str, dict[str, Any]]:
    """Channels made through the fake (id → channel object, with "guild_id")."""
    found = state.__dict__.get("_channels")
    if not isinstance(found, dict):
        found = state.__dict__["_channels"] = {}
    return found


def files(state: DiscordState) -> dict[str, list[tuple[str, bytes, str]]]:
    """Files posted with messages: message id → [(filename, bytes, content type)]."""
    found = state.__dict__.get("_files")
    if not isinstance(found, dict):
        found = state.__dict__["_files"] = {}
    return found


def _nonces(state: DiscordState) -> dict[tuple[str, str], tuple[float, dict[str, Any]]]:
    found = state.__dict__.get("_nonces")
    if not isinstance(found, dict):
        found = state.__dict__["_nonces"] = {}
    return found


def add_category(state: DiscordState, guild_id: int, channel_id: int, name: str = "Orders") -> None:
    """A category the server already has (order channels may be made inside it)."""
    channels(state)[str(channel_id)] = {
        "id": str(channel_id),
        "guild_id": str(guild_id),
        "type": 4,
        "name": name,
        "permission_overwrites": [],
    }


def _guild_perms(state: DiscordState, gid: str, uid: str) -> int:
    from devtools import fake_discord_guilds

    if gid not in state.guilds:
        return (1 << 53) - 1  # a server the fake was not told of: the bot may do anything there
    return fake_discord_guilds.permissions(state, gid, uid)


def effective(state: DiscordState, channel_id: str, user_id: str) -> int:
    """A member's permissions in a channel: the server's, then the overwrites in Discord's order."""
    ch = channels(state)[channel_id]
    gid = ch["guild_id"]
    base = _guild_perms(state, gid, user_id)
    if base & ADMINISTRATOR:
        return (1 << 53) - 1
    over = {o["id"]: o for o in ch.get("permission_overwrites", [])}
    if (everyone := over.get(gid)) is not None:
        base = (base & ~int(everyone.get("deny") or 0)) | int(everyone.get("allow") or 0)
    roles = state.member_roles.get((gid, user_id), set())
    deny = allow = 0
    for r in roles:
        if (o := over.get(r)) is not None and o.get("type", 0) == 0:
            deny |= int(o.get("deny") or 0)
            allow |= int(o.get("allow") or 0)
    base = (base & ~deny) | allow
    if (mine := over.get(user_id)) is not None and mine.get("type") == 1:
        base = (base & ~int(mine.get("deny") or 0)) | int(mine.get("allow") or 0)
    if not base & VIEW_CHANNEL:  # denying View denies everything
        return 0
    return base


def can_see(state: DiscordState, channel_id: int | str, user_id: int | str) -> bool:
    return bool(effective(state, str(channel_id), str(user_id)) & VIEW_CHANNEL)


def can_send(state: DiscordState, channel_id: int | str, user_id: int | str) -> bool:
    return bool(effective(state, str(channel_id), str(user_id)) & SEND_MESSAGES)


def _overwrites(raw: Any) -> list[dict[str, Any]] | None:
    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > 100:
        return None
    out = []
    for o in raw:
        if not isinstance(o, dict) or not str(o.get("id", "")).isdigit() or o.get("type") not in (0, 1):
            return None
        try:
            allow, deny = int(o.get("allow") or 0), int(o.get("deny") or 0)
        except (TypeError, ValueError):
            return None
        out.append({"id": str(o["id"]), "type": o["type"], "allow": str(allow), "deny": str(deny)})
    return out


def message_body() -> tuple[dict[str, Any], list[tuple[str, bytes, str]]] | None:
    """A message's JSON and files, from a JSON body or multipart (payload_json + files[n]); None if malformed."""
    if request.mimetype == "multipart/form-data":
        try:
            body = json.loads(request.form.get("payload_json") or "{}")
        except ValueError:
            return None
        sent = []
        for key, f in request.files.items():
            if not key.startswith("files["):
                return None
            sent.append((f.filename or "file", f.read(), f.mimetype or "application/octet-stream"))
        return (body if isinstance(body, dict) else {}), sent
    return (request.get_json(silent=True) or {}), []


def extend(app: Flask, state: DiscordState, prefix: str) -> None:
    bot = state.bot_user_id
    # What the shared POST /channels/{id}/messages route (devtools/fake_discord_guilds.py) asks of channels.
    state.__dict__["_channel_posts"] = sys.modules[__name__]

    def known(cid: str) -> dict[str, Any] | None:
        return channels(state).get(cid)

    @app.post(f"{prefix}/guilds/<gid>/channels")
    def create_channel(gid: str) -> Response:
        body = request.get_json(silent=True)
        if gid in state.guilds and not _guild_perms(state, gid, bot) & (ADMINISTRATOR | MANAGE_CHANNELS):
            return _error(403, 50013, "Missing Permissions")
        if not isinstance(body, dict):
            return _error(400, 50035, "Invalid Form Body")
        name, kind, parent = body.get("name"), body.get("type", 0), body.get("parent_id")
        over = _overwrites(body.get("permission_overwrites"))
        if not isinstance(name, str) or not 1 <= len(name) <= 100 or kind not in (0, 4) or over is None:
            return _error(400, 50035, "Invalid Form Body")
        if len(str(body.get("topic") or "")) > 1024:
            return _error(400, 50035, "Invalid Form Body")
        if parent is not None:
            p = known(str(parent))
            if p is None or p["type"] != 4 or p["guild_id"] != gid:
                return _error(400, 50035, "Invalid Form Body")
        with state.lock:
            if sum(1 for c in channels(state).values() if c["guild_id"] == gid) >= MAX_CHANNELS:
                return _error(400, 30013, "Maximum number of guild channels reached (500)")
            cid = str(next(state.ids) + 9_000_000)
            channel = {
                "id": cid,
                "guild_id": gid,
                "type": kind,
                "name": name.lower().replace(" ", "-") if kind == 0 else name,
                "topic": body.get("topic"),
                "parent_id": str(parent) if parent is not None else None,
                "permission_overwrites": over,
            }
            channels(state)[cid] = channel
            state.channel_messages.setdefault(cid, [])
        return _json(channel, 201)

    @app.get(f"{prefix}/channels/<cid>")
    def get_channel(cid: str) -> Response:
        ch = known(cid)
        return _json(ch) if ch is not None else _error(404, 10003, "Unknown Channel")

    @app.delete(f"{prefix}/channels/<cid>")
    def delete_channel(cid: str) -> Response:
        ch = known(cid)
        if ch is None:
            return _error(404, 10003, "Unknown Channel")
        if not effective(state, cid, bot) & (ADMINISTRATOR | MANAGE_CHANNELS):
            return _error(403, 50013, "Missing Permissions")
        with state.lock:
            channels(state).pop(cid, None)
            _deleted(state).add(cid)
        return _json(ch)

    @app.route(f"{prefix}/channels/<cid>/permissions/<oid>", methods=["PUT", "DELETE"])
    def overwrite(cid: str, oid: str) -> Response:
        ch = known(cid)
        if ch is None:
            return _error(404, 10003, "Unknown Channel")
        if not _guild_perms(state, ch["guild_id"], bot) & (ADMINISTRATOR | MANAGE_ROLES):
            return _error(403, 50013, "Missing Permissions")
        with state.lock:
            kept = [o for o in ch["permission_overwrites"] if o["id"] != oid]
            if request.method == "PUT":
                parsed = _overwrites([{**(request.get_json(silent=True) or {}), "id": oid}])
                if not parsed:
                    return _error(400, 50035, "Invalid Form Body")
                kept.append(parsed[0])
            ch["permission_overwrites"] = kept
        return Response(status=204)

    @app.patch(f"{prefix}/channels/<cid>/messages/<mid>")
    def edit_message(cid: str, mid: str) -> Response:
        if cid in _deleted(state):
            return _error(404, 10003, "Unknown Channel")
        parsed = message_body()
        if parsed is None:
            return _error(400, 50035, "Invalid Form Body")
        body, sent = parsed
        with state.lock:
            for m in state.channel_messages.get(cid, []):
                if m["id"] == mid:
                    for k in ("content", "embeds", "components"):
                        if k in body:
                            m[k] = body[k]
                    if sent:
                        files(state)[mid] = sent
                    m["edited_timestamp"] = time.time()
                    return _json(m)
        return _error(404, 10008, "Unknown Message")


def post_refusal(state: DiscordState, cid: str) -> Response | None:
    """Discord's refusal of a post in a channel made through the fake: deleted (10003), or the bot may not
    send there (50001). Other channels (DMs, the demo's) accept it."""
    if cid in _deleted(state):
        return _error(404, 10003, "Unknown Channel")
    if cid in channels(state) and not effective(state, cid, state.bot_user_id) & SEND_MESSAGES:
        return _error(403, 50001, "Missing Access")
    return None


def _deleted(state: DiscordState) -> set[str]:
    found = state.__dict__.get("_deleted_channels")
    if not isinstance(found, set):
        found = state.__dict__["_deleted_channels"] = set()
    return found


def remember_nonce(state: DiscordState, cid: str, body: dict[str, Any], message: dict[str, Any] | None) -> Any:
    """With `enforce_nonce`, the message an earlier post with the same nonce made (None: post it)."""
    nonce = body.get("nonce")
    if not body.get("enforce_nonce") or nonce in (None, ""):
        return None
    store = _nonces(state)
    key = (cid, str(nonce))
    now = time.time()
    if message is None:
        found = store.get(key)
        return found[1] if found and now - found[0] < NONCE_TTL_S else None
    store[key] = (now, message)
    return message


def reset(state: DiscordState) -> None:
    """Forget every channel, file and nonce (tests share one fake across files)."""
    for name in ("_channels", "_files", "_nonces", "_deleted_channels"):
        state.__dict__.pop(name, None)
