"""Fake Discord, servers: the guild, its roles, members, bans, timeouts, DMs and message deletion, with
Discord's own checks (role hierarchy: 403 50013; the owner cannot be acted on; unknown member 10007, unknown
ban 10026; DMs closed 50007; bulk delete of 2–100 messages under 14 days old, else 50034/50035)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, request

from devtools.fake_wire import discord_error as _error

if TYPE_CHECKING:
    from devtools.fake_discord import DiscordState

MAX_TIMEOUT = timedelta(days=28)
BULK_AGE_S = 14 * 86400
ADMINISTRATOR, MANAGE_ROLES = 1 << 3, 1 << 28


def add_guild(
    state: DiscordState,
    guild_id: int,
    owner_id: int,
    roles: list[tuple[int, str, int, int]],
    members: dict[int, list[int]],
    *,
    name: str | None = None,
    users: dict[int, dict[str, Any]] | None = None,
    channels: dict[int, str] | None = None,
) -> None:
    """A server: roles as (id, name, position, permissions); members as user id → role ids (the bot is one).
    @everyone (the guild's id, position 0) is added. `users`: how members' user objects read (username,
    global_name, bot), else user<id>; `channels`: its text channels by id (GET /guilds/{id}/channels)."""
    gid = str(guild_id)
    everyone = {"id": gid, "name": "@everyone", "position": 0, "permissions": "0", "managed": False}
    with state.lock:
        state.guilds[gid] = {
            "id": gid,
            "name": name or f"Guild {gid}",
            "owner_id": str(owner_id),
            "users": {str(u): dict(profile) for u, profile in (users or {}).items()},
            "channels": {str(c): n for c, n in (channels or {}).items()},
            "roles": {
                gid: everyone,
                **{
                    str(r): {"id": str(r), "name": n, "position": p, "permissions": str(perms), "managed": False}
                    for r, n, p, perms in roles
                },
            },
            "members": {str(u): {"communication_disabled_until": None} for u in members},
            "bans": {},
        }
        for user, role_ids in members.items():
            state.member_roles[(gid, str(user))] = {str(r) for r in role_ids}


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status, mimetype="application/json")


def _user(state: DiscordState, gid: str, uid: str) -> dict[str, Any]:
    known = state.guilds[gid].get("users", {}).get(uid, {})
    return {
        "id": uid,
        "username": known.get("username") or f"user{uid}",
        "global_name": known.get("global_name"),
        "bot": bool(known.get("bot", uid == _bot_id(state))),
    }


def join(
    state: DiscordState, guild_id: int | str, user_id: int | str, roles: tuple[int, ...] = (), **user: Any
) -> bool:
    """Someone joins a known server (with these roles); False when they are banned there or already in it.
    `user`: username / global_name for their member object."""
    gid, uid = str(guild_id), str(user_id)
    g = state.guilds[gid]
    with state.lock:
        if uid in g["bans"] or uid in g["members"]:
            return False
        g["members"][uid] = {"communication_disabled_until": None}
        if user:
            g.setdefault("users", {})[uid] = dict(user)
        state.member_roles[(gid, uid)] = {str(r) for r in roles}
    return True


def permissions(state: DiscordState, guild_id: int | str, user_id: int | str) -> int:
    """A member's server-wide permission bits as Discord computes them for an interaction's
    `member.permissions`: @everyone's and every role's combined; everything for the owner or an
    administrator."""
    gid, uid = str(guild_id), str(user_id)
    g = state.guilds[gid]
    everything = (1 << 53) - 1
    if uid == g["owner_id"]:
        return everything
    bits = 0
    for r in state.member_roles.get((gid, uid), set()) | {gid}:
        bits |= int(g["roles"].get(r, {}).get("permissions", "0"))
    return everything if bits & ADMINISTRATOR else bits


def _member(state: DiscordState, gid: str, uid: str) -> dict[str, Any]:
    m = state.guilds[gid]["members"][uid]
    return {
        "user": _user(state, gid, uid),
        "roles": sorted(state.member_roles.get((gid, uid), set()) - {gid}),
        "communication_disabled_until": m["communication_disabled_until"],
        "joined_at": "2026-01-01T00:00:00+00:00",
    }


def _top(state: DiscordState, gid: str, uid: str) -> int:
    roles = state.guilds[gid]["roles"]
    return max((roles[r]["position"] for r in state.member_roles.get((gid, uid), set()) if r in roles), default=0)


def _bot_id(state: DiscordState) -> str:
    return state.bot_user_id


def _can_act_on(state: DiscordState, gid: str, uid: str) -> Response | None:
    """Discord's own refusal when the bot may not act on this member (owner, or not below the bot's top role)."""
    g = state.guilds[gid]
    if uid == g["owner_id"] or (uid in g["members"] and _top(state, gid, uid) >= _top(state, gid, _bot_id(state))):
        return _error(403, 50013, "Missing Permissions")
    return None


def role_refusal(state: DiscordState, gid: str, uid: str, rid: str) -> Response | None:
    """Discord's refusal of giving or taking a role in a known server: an unknown role or member (404), or the
    bot without Manage Roles or not above the role (403 50013). Servers the fake was not told of accept it."""
    g = state.guilds.get(gid)
    if g is None:
        return None
    if rid not in g["roles"]:
        return _error(404, 10011, "Unknown Role")
    if uid not in g["members"]:
        return _error(404, 10007, "Unknown Member")
    bot = _bot_id(state)
    if bot == g["owner_id"]:
        return None
    held = state.member_roles.get((gid, bot), set()) | {gid}
    perms = 0
    for r in held:
        perms |= int(g["roles"].get(r, {}).get("permissions", "0"))
    if not perms & (ADMINISTRATOR | MANAGE_ROLES) or g["roles"][rid]["position"] >= _top(state, gid, bot):
        return _error(403, 50013, "Missing Permissions")
    return None


def extend(app: Flask, state: DiscordState, prefix: str) -> None:
    def guild_or_404(gid: str) -> Response | None:
        return None if gid in state.guilds else _error(404, 10004, "Unknown Guild")

    @app.get(f"{prefix}/guilds/<gid>")
    def guild(gid: str) -> Response:
        if (missing := guild_or_404(gid)) is not None:
            return missing
        g = state.guilds[gid]
        return _json({"id": gid, "name": g["name"], "owner_id": g["owner_id"], "roles": list(g["roles"].values())})

    @app.get(f"{prefix}/guilds/<gid>/channels")
    def channels(gid: str) -> Response:
        if (missing := guild_or_404(gid)) is not None:
            return missing
        known = state.guilds[gid].get("channels", {})
        listed = [{"id": c, "type": 0, "guild_id": gid, "name": n} for c, n in known.items()]
        made = state.__dict__.get("_channels") or {}  # those made through devtools/fake_discord_channels.py
        return _json(listed + [dict(c) for c in made.values() if c["guild_id"] == gid])

    @app.get(f"{prefix}/guilds/<gid>/roles")
    def roles(gid: str) -> Response:
        if (missing := guild_or_404(gid)) is not None:
            return missing
        return _json(list(state.guilds[gid]["roles"].values()))

    @app.route(f"{prefix}/guilds/<gid>/members/<uid>", methods=["GET", "PATCH", "DELETE"])
    def member(gid: str, uid: str) -> Response:
        if (missing := guild_or_404(gid)) is not None:
            return missing
        g = state.guilds[gid]
        if uid not in g["members"]:
            return _error(404, 10007, "Unknown Member")
        if request.method == "GET":
            return _json(_member(state, gid, uid))
        if (refused := _can_act_on(state, gid, uid)) is not None:
            return refused
        if request.method == "DELETE":  # a kick
            with state.lock:
                del g["members"][uid]
                state.member_roles.pop((gid, uid), None)
            return Response(status=204)
        body = request.get_json(silent=True) or {}
        if "communication_disabled_until" in body:
            until = body["communication_disabled_until"]
            if until is not None:
                try:
                    moment = datetime.fromisoformat(str(until))
                except ValueError:
                    return _error(400, 50035, "Invalid Form Body")
                if moment.tzinfo is None or moment - datetime.now(UTC) > MAX_TIMEOUT:
                    return _error(400, 50035, "Invalid Form Body")
            g["members"][uid]["communication_disabled_until"] = until
        return _json(_member(state, gid, uid))

    @app.route(f"{prefix}/guilds/<gid>/bans/<uid>", methods=["GET", "PUT", "DELETE"])
    def ban(gid: str, uid: str) -> Response:
        if (missing := guild_or_404(gid)) is not None:
            return missing
        g = state.guilds[gid]
        if request.method == "GET":
            found = g["bans"].get(uid)
            return _json(found) if found else _error(404, 10026, "Unknown Ban")
        if request.method == "DELETE":
            with state.lock:
                if g["bans"].pop(uid, None) is None:
                    return _error(404, 10026, "Unknown Ban")
            return Response(status=204)
        if (refused := _can_act_on(state, gid, uid)) is not None:
            return refused
        body = request.get_json(silent=True) or {}
        seconds = body.get("delete_message_seconds", 0)
        if type(seconds) is not int or not 0 <= seconds <= 604800:
            return _error(400, 50035, "Invalid Form Body")
        with state.lock:
            g["bans"][uid] = {
                "user": {"id": uid, "username": f"user{uid}"},
                "reason": request.headers.get("X-Audit-Log-Reason"),
            }
            g["members"].pop(uid, None)
            state.member_roles.pop((gid, uid), None)
        return Response(status=204)

    @app.post(f"{prefix}/users/@me/channels")
    def dm_channel() -> Response:
        body = request.get_json(silent=True) or {}
        uid = str(body.get("recipient_id", ""))
        if not uid.isdigit():
            return _error(400, 50035, "Invalid Form Body")
        with state.lock:
            channel = state.dm_channels.setdefault(uid, str(next(state.ids) + 7_000_000))
            state.channel_messages.setdefault(channel, [])
        return _json({"id": channel, "type": 1, "recipients": [{"id": uid, "username": f"user{uid}"}]})

    @app.post(f"{prefix}/channels/<cid>/messages")
    def post_message(cid: str) -> Response:
        # Channels, files and nonces (devtools/fake_discord_channels.py) hand their part in through the state.
        chans: Any = state.__dict__["_channel_posts"]
        parsed = chans.message_body()
        if parsed is None:
            return _error(400, 50035, "Invalid Form Body")
        body, sent = parsed
        content, embeds = body.get("content", ""), body.get("embeds") or []
        if (not content and not embeds and not sent) or len(str(content)) > 2000 or len(embeds) > 10:
            empty = not content and not embeds and not sent
            return _error(400, 50006 if empty else 50035, "Cannot send an empty message")
        refused: Response | None = chans.post_refusal(state, cid)
        if refused is not None:
            return refused
        recipient = next((u for u, c in state.dm_channels.items() if c == cid), None)
        if recipient is not None and recipient in state.closed_dms:
            return _error(403, 50007, "Cannot send messages to this user")
        with state.lock:
            if (earlier := chans.remember_nonce(state, cid, body, None)) is not None:
                return _json(earlier)  # enforce_nonce: the same nonce posts once
        bot = {"id": _bot_id(state), "username": "ttfd", "bot": True}
        extra: dict[str, Any] = {k: body[k] for k in ("embeds", "components") if k in body}
        if sent:
            extra["attachments"] = [
                {"id": str(i), "filename": name, "size": len(data), "content_type": kind}
                for i, (name, data, kind) in enumerate(sent)
            ]
        message = state.add_message(int(cid), bot, str(content), **extra)
        with state.lock:
            chans.remember_nonce(state, cid, body, message)
            if sent:
                chans.files(state)[message["id"]] = sent
        return _json(message)

    @app.delete(f"{prefix}/channels/<cid>/messages/<mid>")
    def delete_message(cid: str, mid: str) -> Response:
        with state.lock:
            kept = [m for m in state.channel_messages.get(cid, []) if m["id"] != mid]
            if len(kept) == len(state.channel_messages.get(cid, [])):
                return _error(404, 10008, "Unknown Message")
            state.channel_messages[cid] = kept
        return Response(status=204)

    @app.post(f"{prefix}/channels/<cid>/messages/bulk-delete")
    def bulk_delete(cid: str) -> Response:
        ids = (request.get_json(silent=True) or {}).get("messages")
        if not isinstance(ids, list) or not 2 <= len(ids) <= 100 or len(set(ids)) != len(ids):
            return _error(400, 50035, "Invalid Form Body")
        now_ms = time.time() * 1000
        for mid in ids:
            created_ms = (int(mid) >> 22) + 1420070400000
            if now_ms - created_ms > BULK_AGE_S * 1000:
                return _error(400, 50034, "You can only bulk delete messages that are under 14 days old.")
        with state.lock:
            state.channel_messages[cid] = [m for m in state.channel_messages.get(cid, []) if m["id"] not in ids]
        return Response(status=204)
