"""Fake Discord, AutoMod rules: list, get, create, modify, delete (`/guilds/{g}/auto-moderation/rules[/{r}]`)
with Discord's documented shapes and refusals: 400 50035 "Invalid Form Body" with per-field `errors` for a
value over a limit (keywords ≤ 1000 of ≤ 60 characters, regex ≤ 10 of ≤ 260 and Rust-flavoured — no
look-around, allow list ≤ 100 or ≤ 1000 for presets, mention limit ≤ 50, exempt roles ≤ 20 and channels
≤ 50, a block message ≤ 150, a timeout ≤ 4 weeks and only on keyword or mention-spam rules) and for a rule
count over its trigger type's limit (6 keyword, 1 spam, 1 keyword preset, 1 mention spam, 1 member
profile), 404 10066 for an unknown rule, 204 on delete. `forbid(state, guild)` makes the bot lack Manage
Server there: every call answers 403 50013."""

from __future__ import annotations

import itertools
import json
import re
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, request

from devtools.fake_wire import discord_error as _error

if TYPE_CHECKING:
    from devtools.fake_discord import DiscordState

KEYWORD, SPAM, KEYWORD_PRESET, MENTION_SPAM, MEMBER_PROFILE = 1, 3, 4, 5, 6
MAX_PER_TYPE = {KEYWORD: 6, SPAM: 1, KEYWORD_PRESET: 1, MENTION_SPAM: 1, MEMBER_PROFILE: 1}
BLOCK, ALERT, TIMEOUT, BLOCK_INTERACTION = 1, 2, 3, 4

# The DiscordState dataclass is shared with other fakes: this module keeps its own state beside it.
_RULES: dict[int, dict[str, dict[str, dict[str, Any]]]] = {}  # id(state) → guild id → rule id → rule
_FORBIDDEN: dict[int, set[str]] = {}
_IDS = itertools.count(1_300_000_000_000_000_000)


def rules(state: DiscordState, guild_id: int | str) -> dict[str, dict[str, Any]]:
    """The guild's rules by id (a test may edit or delete one by hand, as a person in Discord would)."""
    return _RULES.setdefault(id(state), {}).setdefault(str(guild_id), {})


def forbid(state: DiscordState, guild_id: int | str, forbidden: bool = True) -> None:
    """The bot lacks Manage Server in this guild (or has it again)."""
    s = _FORBIDDEN.setdefault(id(state), set())
    (s.add if forbidden else s.discard)(str(guild_id))


def reset(state: DiscordState) -> None:
    _RULES.pop(id(state), None)
    _FORBIDDEN.pop(id(state), None)


class Invalid(Exception):
    def __init__(self, path: str, code: str, message: str) -> None:
        super().__init__(message)
        self.path, self.code, self.message = path, code, message

    def response(self) -> Response:
        errors: dict[str, Any] = {}
        node = errors
        for part in self.path.split("."):
            node = node.setdefault(part, {})
        node["_errors"] = [{"code": self.code, "message": self.message}]
        body = {"code": 50035, "message": "Invalid Form Body", "errors": errors}
        return Response(json.dumps(body), 400, mimetype="application/json")


def _strings(meta: dict[str, Any], key: str, most: int, longest: int) -> list[str]:
    values = meta.get(key) or []
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise Invalid(f"trigger_metadata.{key}", "BASE_TYPE_BAD", "Must be an array of strings.")
    if len(values) > most:
        raise Invalid(f"trigger_metadata.{key}", "BASE_TYPE_MAX_LENGTH", f"Must be {most} or fewer in length.")
    for i, v in enumerate(values):
        if not v or len(v) > longest:
            raise Invalid(
                f"trigger_metadata.{key}.{i}", "BASE_TYPE_BAD_LENGTH", f"Must be between 1 and {longest} in length."
            )
    return values


def _regex(patterns: list[str]) -> None:
    for i, p in enumerate(patterns):
        if re.search(r"\(\?<?[=!]", p) or re.search(r"\\[1-9]", p):  # Rust's regex has no look-around or backrefs
            raise Invalid(f"trigger_metadata.regex_patterns.{i}", "AUTO_MODERATION_INVALID_REGEX", "Invalid regex.")
        try:
            re.compile(p)
        except re.error:
            raise Invalid(
                f"trigger_metadata.regex_patterns.{i}", "AUTO_MODERATION_INVALID_REGEX", "Invalid regex."
            ) from None


def _metadata(trigger: int, meta: Any) -> dict[str, Any]:
    """The trigger metadata as Discord stores and returns it for this trigger type."""
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise Invalid("trigger_metadata", "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType.")
    if trigger == KEYWORD:
        patterns = _strings(meta, "regex_patterns", 10, 260)
        _regex(patterns)
        return {
            "keyword_filter": _strings(meta, "keyword_filter", 1000, 60),
            "regex_patterns": patterns,
            "allow_list": _strings(meta, "allow_list", 100, 60),
        }
    if trigger == KEYWORD_PRESET:
        presets = meta.get("presets") or []
        if not isinstance(presets, list) or not all(p in (1, 2, 3) for p in presets):
            raise Invalid("trigger_metadata.presets", "BASE_TYPE_CHOICES", "Value must be one of (1, 2, 3).")
        return {"presets": presets, "allow_list": _strings(meta, "allow_list", 1000, 60)}
    if trigger == MENTION_SPAM:
        limit = meta.get("mention_total_limit")
        if type(limit) is not int or not 0 <= limit <= 50:
            raise Invalid("trigger_metadata.mention_total_limit", "NUMBER_TYPE_MAX", "Must be between 0 and 50.")
        return {
            "mention_total_limit": limit,
            "mention_raid_protection_enabled": bool(meta.get("mention_raid_protection_enabled", False)),
        }
    return {}


def _actions(trigger: int, actions: Any) -> list[dict[str, Any]]:
    if not isinstance(actions, list) or not actions:
        raise Invalid("actions", "BASE_TYPE_REQUIRED", "This field is required")
    out = []
    for i, a in enumerate(actions):
        kind = a.get("type") if isinstance(a, dict) else None
        meta = a.get("metadata") or {} if isinstance(a, dict) else {}
        if kind not in (BLOCK, ALERT, TIMEOUT, BLOCK_INTERACTION) or not isinstance(meta, dict):
            raise Invalid(f"actions.{i}.type", "BASE_TYPE_CHOICES", "Value must be one of (1, 2, 3, 4).")
        if kind == BLOCK:
            message = meta.get("custom_message")
            if message is not None and (not isinstance(message, str) or len(message) > 150):
                raise Invalid(
                    f"actions.{i}.metadata.custom_message", "BASE_TYPE_BAD_LENGTH", "Must be 150 or fewer in length."
                )
            meta = {"custom_message": message} if message else {}
        elif kind == ALERT:
            if not str(meta.get("channel_id", "")).isdigit():
                raise Invalid(f"actions.{i}.metadata.channel_id", "BASE_TYPE_REQUIRED", "This field is required")
            meta = {"channel_id": str(meta["channel_id"])}
        elif kind == TIMEOUT:
            seconds = meta.get("duration_seconds")
            if trigger not in (KEYWORD, MENTION_SPAM, MEMBER_PROFILE):
                raise Invalid(f"actions.{i}.type", "AUTO_MODERATION_INVALID_ACTION", "Timeout is not allowed here.")
            if type(seconds) is not int or not 0 <= seconds <= 2419200:
                raise Invalid(
                    f"actions.{i}.metadata.duration_seconds", "NUMBER_TYPE_MAX", "Must be between 0 and 2419200."
                )
            meta = {"duration_seconds": seconds}
        out.append({"type": kind, "metadata": meta})
    return out


def _ids(body: dict[str, Any], key: str, most: int) -> list[str]:
    values = body.get(key) or []
    if not isinstance(values, list) or not all(str(v).isdigit() for v in values):
        raise Invalid(key, "BASE_TYPE_BAD", "Must be an array of snowflakes.")
    if len(values) > most:
        raise Invalid(key, "BASE_TYPE_MAX_LENGTH", f"Must be {most} or fewer in length.")
    return [str(v) for v in values]


def _apply(rule: dict[str, Any], body: dict[str, Any], creating: bool) -> dict[str, Any]:
    """The rule after `body`, or Invalid: fields not sent are kept (PATCH), trigger_type never changes."""
    out = dict(rule)
    if creating or "name" in body:
        name = body.get("name")
        if not isinstance(name, str) or not 1 <= len(name) <= 100:
            raise Invalid("name", "BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
        out["name"] = name
    if creating or "event_type" in body:
        if body.get("event_type") not in (1, 2):
            raise Invalid("event_type", "BASE_TYPE_CHOICES", "Value must be one of (1, 2).")
        out["event_type"] = body["event_type"]
    if creating:
        if body.get("trigger_type") not in MAX_PER_TYPE:
            raise Invalid("trigger_type", "BASE_TYPE_CHOICES", "Value must be one of (1, 3, 4, 5, 6).")
        out["trigger_type"] = body["trigger_type"]
    elif "trigger_type" in body and body["trigger_type"] != rule["trigger_type"]:
        raise Invalid("trigger_type", "AUTO_MODERATION_TRIGGER_TYPE_IMMUTABLE", "The trigger type cannot be changed.")
    trigger = out["trigger_type"]
    if creating or "trigger_metadata" in body:
        out["trigger_metadata"] = _metadata(trigger, body.get("trigger_metadata"))
    if creating or "actions" in body:
        out["actions"] = _actions(trigger, body.get("actions"))
    if creating or "enabled" in body:
        out["enabled"] = bool(body.get("enabled", False))  # a new rule is off unless asked
    if creating or "exempt_roles" in body:
        out["exempt_roles"] = _ids(body, "exempt_roles", 20)
    if creating or "exempt_channels" in body:
        out["exempt_channels"] = _ids(body, "exempt_channels", 50)
    return out


def extend(app: Flask, state: DiscordState, prefix: str) -> None:
    base = f"{prefix}/guilds/<gid>/auto-moderation/rules"

    def _json(body: Any, status: int = 200) -> Response:
        return Response(json.dumps(body), status, mimetype="application/json")

    def forbidden(gid: str) -> Response | None:
        if gid in _FORBIDDEN.get(id(state), set()):
            return _error(403, 50013, "Missing Permissions")
        return None

    @app.route(base, methods=["GET", "POST"])
    def listing(gid: str) -> Response:
        if (refused := forbidden(gid)) is not None:
            return refused
        guild = rules(state, gid)
        if request.method == "GET":
            return _json(list(guild.values()))
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return _error(400, 50109, "The request body contains invalid JSON.")
        rid = str(next(_IDS))
        try:
            rule = _apply({"id": rid, "guild_id": gid, "creator_id": "1000000000000000001"}, body, True)
        except Invalid as exc:
            return exc.response()
        with state.lock:
            same = sum(1 for r in guild.values() if r["trigger_type"] == rule["trigger_type"])
            limit = MAX_PER_TYPE[rule["trigger_type"]]
            if same >= limit:
                return Invalid(
                    "trigger_type",
                    "AUTO_MODERATION_MAX_RULES_OF_TYPE_EXCEEDED",
                    f"Maximum number of rules with trigger type {rule['trigger_type']} is {limit}",
                ).response()
            guild[rid] = rule
        return _json(rule)

    @app.route(f"{base}/<rid>", methods=["GET", "PATCH", "DELETE"])
    def one(gid: str, rid: str) -> Response:
        if (refused := forbidden(gid)) is not None:
            return refused
        guild = rules(state, gid)
        if rid not in guild:
            return _error(404, 10066, "Unknown Auto Moderation Rule")
        if request.method == "GET":
            return _json(guild[rid])
        if request.method == "DELETE":
            with state.lock:
                guild.pop(rid, None)
            return Response(status=204)
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return _error(400, 50109, "The request body contains invalid JSON.")
        try:
            updated = _apply(guild[rid], body, False)
        except Invalid as exc:
            return exc.response()
        with state.lock:
            guild[rid] = updated
        return _json(updated)
