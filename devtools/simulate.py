"""Simulators: sign and send real-shaped Discord interactions / Telegram updates to a running server."""

from __future__ import annotations

import json
import random
import shlex
import time
from typing import Any

import httpx
from nacl.signing import SigningKey

DISCORD_EPOCH_MS = 1420070400000


def snowflake(now_ms: int | None = None) -> int:
    """A Discord-style id for 'now' (timestamp in the high bits, randomness below)."""
    ms = now_ms if now_ms is not None else int(time.time() * 1000)
    return ((ms - DISCORD_EPOCH_MS) << 22) | random.getrandbits(22)


def names(user: int) -> tuple[str, str]:
    """(username, display name) a simulated person sends: a demo player's own (so simulating as Mira never
    renames her), else user<id> / User <id>."""
    from devtools.demo import DEMO

    for _, ext, username, name, _, _ in DEMO:
        if ext == user:
            return username, name
    return f"user{user}", f"User {user}"


def _coerce(value: str, option_type: int) -> Any:
    if option_type in (4,):
        return int(value)
    if option_type == 10:
        return float(value)
    if option_type == 5:
        return value.lower() in ("1", "true", "yes", "on")
    if option_type in (6, 7, 8, 9):
        return value.strip("<@!&#>")
    return value


def parse_command(text: str, definitions: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """'/setup rank-role rank:F role:123' → (data.options tree, resolved) using the command definitions."""
    words = shlex.split(text.strip().lstrip("/"))
    if not words:
        raise ValueError("empty command")
    name, rest = words[0], words[1:]
    spec = next((d for d in definitions if d["name"] == name), None)
    if spec is None:
        raise ValueError(f"unknown command /{name}; known: {', '.join(d['name'] for d in definitions)}")
    option_specs = spec.get("options", [])
    wrapper: dict[str, Any] | None = None
    if option_specs and option_specs[0]["type"] == 1:
        if not rest or rest[0] in (":",) or ":" in rest[0]:
            raise ValueError(f"/{name} needs a subcommand: {', '.join(o['name'] for o in option_specs)}")
        sub = next((o for o in option_specs if o["name"] == rest[0]), None)
        if sub is None:
            raise ValueError(f"unknown subcommand {rest[0]!r}")
        wrapper = {"name": sub["name"], "type": 1, "options": []}
        option_specs, rest = sub.get("options", []), rest[1:]
    options: list[dict[str, Any]] = []
    resolved: dict[str, dict[str, Any]] = {}
    types = {o["name"]: o["type"] for o in option_specs}
    for i, word in enumerate(rest):
        key, sep, value = word.partition(":")
        if not sep:  # positional: the i-th option
            key, value = option_specs[i]["name"], word
        if key not in types:
            raise ValueError(f"unknown option {key!r}")
        v = _coerce(value, types[key])
        options.append({"name": key, "type": types[key], "value": v})
        # Discord resolves every picked user, role and channel into data.resolved.
        if types[key] == 6:
            resolved.setdefault("users", {})[str(v)] = {"id": str(v), "username": f"user{v}", "global_name": None}
        elif types[key] == 8:
            resolved.setdefault("roles", {})[str(v)] = {
                "id": str(v),
                "name": f"role {v}",
                "permissions": "0",
                "managed": False,
                "position": 1,
            }
        elif types[key] == 7:
            resolved.setdefault("channels", {})[str(v)] = {"id": str(v), "name": f"channel-{v}", "type": 0}
    if wrapper is not None:
        wrapper["options"] = options
        options = [wrapper]
    return {"name": name, "type": 1, "options": options}, resolved


def discord_payload(
    *,
    app_id: str,
    user: int,
    guild: int | None,
    name: str | None = None,
    data: dict[str, Any],
    interaction_type: int = 2,
    permissions: int = 0,
    message: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A guild (member.user) or DM (user) interaction as Discord sends it."""
    username, display = names(user)
    duser = {
        "id": str(user),
        "username": name or username,
        "global_name": (name or display).title(),
        "discriminator": "0",
        "avatar": None,
    }
    body: dict[str, Any] = {
        "id": str(snowflake()),
        "application_id": app_id,
        "type": interaction_type,
        "data": data,
        "token": f"tok{random.getrandbits(64):x}",
        "version": 1,
        "locale": "en-US",
        "app_permissions": str((1 << 41) - 1),
        "entitlements": [],
    }
    if guild:
        body.update(
            guild_id=str(guild),
            channel_id=str(guild + 1),
            context=0,
            guild_locale="en-US",
            member={
                "user": duser,
                "roles": [],
                "permissions": str(permissions),
                "nick": None,
                "joined_at": "2025-01-01T00:00:00+00:00",
                "deaf": False,
                "mute": False,
            },
        )
    else:
        body.update(user=duser, channel_id=str(user + 7), context=1)
    if message is not None:
        body["message"] = message
    return body


def sign(seed_hex: str, body: bytes, timestamp: str | None = None) -> dict[str, str]:
    """The two signature headers Discord sends."""
    ts = timestamp or str(int(time.time()))
    sig = SigningKey(bytes.fromhex(seed_hex)).sign(ts.encode() + body).signature.hex()
    return {"X-Signature-Ed25519": sig, "X-Signature-Timestamp": ts, "Content-Type": "application/json"}


def telegram_update(
    text: str | None,
    *,
    user: int,
    chat: int | None = None,
    callback: str | None = None,
    update_id: int | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """A message update (private chat unless `chat` is a group id < 0) or a callback_query."""
    username, display = names(user)
    sender = {
        "id": user,
        "is_bot": False,
        "first_name": name or display,
        "username": username,
        "language_code": "en",
    }
    chat_obj: dict[str, Any] = (
        {"id": chat, "type": "supergroup", "title": "Dev group"}
        if chat and chat < 0
        else {
            "id": user,
            "type": "private",
            "first_name": sender["first_name"],
            "username": sender["username"],
        }
    )
    now = int(time.time())
    uid = update_id if update_id is not None else int(time.time() * 1000) % 2**31
    message: dict[str, Any] = {
        "message_id": random.randint(1, 10**6),
        "from": sender,
        "chat": chat_obj,
        "date": now,
    }
    if callback is not None:
        bot_msg = {**message, "from": {"id": 1, "is_bot": True, "first_name": "TTFD"}, "text": "menu"}
        return {
            "update_id": uid,
            "callback_query": {
                "id": str(random.getrandbits(63)),
                "from": sender,
                "message": bot_msg,
                "chat_instance": "-1",
                "data": callback,
            },
        }
    message["text"] = text or ""
    if text and text.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    return {"update_id": uid, "message": message}


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    """POST and decode the JSON reply."""
    resp = httpx.post(url, content=body, headers=headers, timeout=30)
    try:
        return resp.status_code, resp.json()
    except ValueError:
        return resp.status_code, resp.text


def pretty(obj: Any) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False)
