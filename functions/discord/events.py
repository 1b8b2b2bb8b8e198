"""Everything a Discord interaction does past its signature and a PING: parse it, then the one dispatch path
(or suggestions for autocomplete). Loaded by functions.discord.interactions only for a request that needs it,
so a PING, which Discord sends to validate the endpoint, never imports the database, the registry or a feature.

Parsing is plain code rather than pydantic models: this function's cold start is measured against a bare
signature check, and every import counts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from discord_interactions import InteractionResponseType, InteractionType
from flask import Response

from functions.http import json_response, problem
from ttfd.core import db, failures, inputs, wake
from ttfd.core.errors import BadInput, DomainError
from ttfd.core.i18n import _, negotiate, said
from ttfd.core.inbound import Caller
from ttfd.core.settings import get_settings
from ttfd.features.lazy import REGISTRY  # imports only the features this request needs
from ttfd.render import discord
from ttfd.ui import dispatch
from ttfd.ui.commands import ChannelRef, Command, FileRef, Kind, PlatformUser, RoleRef
from ttfd.ui.reply import BUSY as BUSY  # what Discord is told when the database is busy (tests read it)
from ttfd.ui.reply import Reply

log = logging.getLogger(__name__)
# Discord shows "This interaction failed" 3 s after the click: leave time to answer that we are busy.
TIMEOUT_S = 2.0
COMMAND = InteractionType.APPLICATION_COMMAND
COMPONENT = InteractionType.MESSAGE_COMPONENT
AUTOCOMPLETE = InteractionType.APPLICATION_COMMAND_AUTOCOMPLETE
MODAL = InteractionType.MODAL_SUBMIT
OPTION_KINDS = {v: k for k, v in discord.OPTION_TYPES.items()}


def answer(payload: Any) -> Response:
    """The answer to a signed interaction other than a PING (`payload`: its parsed JSON body)."""
    try:
        if isinstance(payload, dict) and payload.get("type") == AUTOCOMPLETE:
            return json_response(autocomplete(payload))
        event = parse(payload)
    except inputs.InputError as exc:
        return problem(400, f"malformed interaction: {exc}")
    try:
        reply = dispatch.dispatch(event, REGISTRY, Renderer(), timeout_s=TIMEOUT_S)
        wake.after_request()  # committed: a deferred reply's job (or a rank-up's events) runs now
        return json_response(reply)
    except Exception as exc:
        # Always a 200 with words, inside the 3 s: Discord never redelivers. Busy (nothing was done, trying
        # again is safe) or generic (a bug, logged once with its traceback): ttfd.core.failures decides.
        failure = failures.report(log, exc, f"interaction {event.key}")
        return json_response(dispatch.answer_failure(failure, event, Renderer()))


class Renderer:
    """What Discord is answered (and what a redelivery gets back)."""

    def answer(self, reply: Reply, event: dispatch.Event) -> dict[str, Any]:
        if reply.empty:
            return {"type": discord.DEFERRED_UPDATE} if event.component else discord.response(reply)
        return discord.response(reply, component=event.component)

    def deferred(self, event: dispatch.Event, job_id: int, private: bool) -> dict[str, Any]:
        return discord.deferred(private=private, component=event.component)


# --- autocomplete ----------------------------------------------------------------------------------

AUTOCOMPLETE_RESULT = InteractionResponseType.APPLICATION_COMMAND_AUTOCOMPLETE_RESULT
CHOICES_MAX = 25


def autocomplete(payload: dict[str, Any]) -> dict[str, Any]:
    """Suggestions for the option being typed: read-only, no account touched; nothing to suggest on any
    problem (Discord shows "no options" rather than an error while someone types)."""
    choices: list[dict[str, str | int]] = []
    data = payload.get("data")
    try:
        command, options = _command(data if isinstance(data, dict) else {}, check=False)
        declared = {o.name: o for o in command.options}
        focused = next((o for o in options if o.get("focused") is True), None)
        option = declared.get(str(focused.get("name"))) if focused else None
        raw = focused.get("value") if focused else None
        typed = raw if isinstance(raw, str) and len(raw) <= 100 and not inputs.text_problem(raw) else None
        if option is not None and option.autocomplete is not None and typed is not None:
            guild_id, complete, text = _optional_id(payload, "guild_id"), option.autocomplete, typed
            found = db.read(lambda conn: complete(conn, guild_id, text), timeout_s=TIMEOUT_S)
            hint = payload.get("locale")  # suggestions in the app's language (no account is read for them)
            locale = negotiate(hint if isinstance(hint, str) else None, default=get_settings().default_locale)
            integer = option.kind == Kind.INTEGER  # Discord wants numbers for an INTEGER option's choices
            choices = [
                {"name": said(label, locale)[:100], "value": int(value) if integer else value[:100]}
                for label, value in found[:CHOICES_MAX]
            ]
    except (DomainError, inputs.InputError, db.Unavailable) as exc:
        log.info("no suggestions: %s", exc)
    return {"type": AUTOCOMPLETE_RESULT, "data": {"choices": choices}}


# --- parsing ---------------------------------------------------------------------------------------


def _need(cond: bool, reason: str) -> None:
    if not cond:
        raise inputs.InputError(reason)


def _id(value: Any, where: str) -> int:
    n = inputs.snowflake(value)
    _need(n is not None, f"{where}: must be a snowflake")
    assert n is not None
    return n


def _optional_id(payload: dict[str, Any], name: str) -> int | None:
    return None if payload.get(name) is None else _id(payload[name], name)


def _text(value: Any, where: str, limit: int = 100) -> str | None:
    if value is None:
        return None
    _need(isinstance(value, str) and len(value) <= limit, f"{where}: must be text of at most {limit} characters")
    return str(value)


@dataclass(frozen=True)
class Invoker:
    user: PlatformUser
    permissions: int
    roles: tuple[int, ...] = ()


def _invoker(payload: dict[str, Any]) -> Invoker:
    member = payload.get("member")
    raw = member.get("user") if isinstance(member, dict) else payload.get("user")
    if not isinstance(raw, dict):
        raise inputs.InputError("neither member.user nor user present")
    user = PlatformUser(
        "discord",
        _id(raw.get("id"), "user.id"),
        _text(raw.get("username"), "user.username"),
        _text(raw.get("global_name"), "user.global_name"),
        raw.get("bot") is True,
    )
    permissions = 0
    role_ids: tuple[int, ...] = ()
    if isinstance(member, dict):
        perms = str(member.get("permissions", "0"))
        _need(perms.isascii() and perms.isdigit() and len(perms) <= 20, "member.permissions: must be a bitfield")
        permissions = int(perms)
        roles = member.get("roles", [])
        _need(isinstance(roles, list) and all(inputs.snowflake(r) for r in roles), "member.roles: must be snowflakes")
        _need(len(roles) <= 250, "member.roles: too many")  # Discord servers have at most 250 roles
        role_ids = tuple(int(r) for r in roles)
    return Invoker(user, permissions, role_ids)


def parse(payload: Any) -> dispatch.Event:
    """A signed interaction as a neutral event (its shape checked; its options checked by the command)."""
    _need(isinstance(payload, dict), "must be a JSON object")
    iid = _id(payload.get("id"), "id")
    app_id = _id(payload.get("application_id"), "application_id")
    kind = payload.get("type")
    _need(kind in (COMMAND, COMPONENT, AUTOCOMPLETE, MODAL), "type: unknown interaction type")
    guild_id, channel_id = _optional_id(payload, "guild_id"), _optional_id(payload, "channel_id")
    token = payload.get("token", "")
    _need(isinstance(token, str) and len(token) <= 500, "token: must be text")
    invoker = _invoker(payload)
    u = invoker.user
    event = dispatch.Event(
        key=f"discord:{iid}",
        caller=Caller("discord", u.id, u.username, u.display_name, guild_id),
        who=u,
        permissions=invoker.permissions,
        roles=invoker.roles,
        channel_id=channel_id,
        component=kind == COMPONENT,
        target={"kind": "discord", "application_id": str(app_id), "token": token},
        locale=_text(payload.get("locale"), "locale", 16),
        place_locale=_text(payload.get("guild_locale"), "guild_locale", 16),
    )
    data = payload.get("data")
    _need(isinstance(data, dict), "data: must be an object")
    if kind == COMPONENT:
        custom_id = data.get("custom_id")
        _need(isinstance(custom_id, str) and len(custom_id) <= discord.CUSTOM_ID_MAX, "data.custom_id: must be text")
        values = data.get("values")
        if isinstance(values, list) and values:  # a select menu: the chosen option carries the action
            _need(isinstance(values[0], str) and len(values[0]) <= 100, "data.values: must be text")
            event.action = values[0]
        else:
            event.action = custom_id
        return event
    if kind == MODAL:
        custom_id = data.get("custom_id")
        _need(isinstance(custom_id, str) and len(custom_id) <= discord.CUSTOM_ID_MAX, "data.custom_id: must be text")
        event.action, event.inputs = custom_id, _modal_inputs(data.get("components"))
        return event
    if kind != COMMAND:
        event.problem = BadInput(_("That kind of interaction is not supported yet."))
        return event
    try:
        event.command, event.options = _command(data)
    except DomainError as exc:  # a signed payload that breaks its declarations: a polite refusal
        event.problem = exc
    return event


MODAL_INPUTS_MAX = 5


def _modal_inputs(rows: Any) -> dict[str, str]:
    """A modal submit's text inputs by custom_id: in action rows (type 1) or labels (type 18, newer modals)."""
    _need(isinstance(rows, list) and len(rows) <= MODAL_INPUTS_MAX, "data.components: must be a list of rows")
    found: dict[str, str] = {}
    for row in rows:
        _need(isinstance(row, dict), "data.components: must be objects")
        inner = row.get("components") if row.get("type") == 1 else [row.get("component")]
        _need(isinstance(inner, list) and len(inner) == 1, "data.components: one text input per row")
        item = inner[0]
        _need(isinstance(item, dict) and item.get("type") == 4, "data.components: only text inputs are read")
        name, value = item.get("custom_id"), item.get("value", "")
        _need(isinstance(name, str) and 0 < len(name) <= discord.CUSTOM_ID_MAX, "text input custom_id: must be text")
        _need(isinstance(value, str) and len(value) <= discord.INPUT_MAX, "text input value: must be text")
        _need(name not in found, "text input custom_id: given twice")
        found[str(name)] = str(value)
    return found


def _command(data: dict[str, Any], *, check: bool = True) -> tuple[Command, Any]:
    """The command an interaction names and its option values (`check=False`: Discord's raw option list)."""
    name = data.get("name")
    _need(isinstance(name, str) and len(name) <= 32, "data.name: must be a command name")
    options = data.get("options") or []
    _need(isinstance(options, list) and all(isinstance(o, dict) for o in options), "data.options: must be a list")
    path = str(name)
    if options and options[0].get("type") in (1, 2):  # a subcommand: /setup rank-role
        sub = options[0]
        _need(isinstance(sub.get("name"), str) and len(sub["name"]) <= 32, "subcommand name: must be text")
        path, options = f"{name} {sub['name']}", sub.get("options") or []
        _need(isinstance(options, list) and all(isinstance(o, dict) for o in options), "options: must be a list")
    command = REGISTRY.commands.get(path)
    if command is None or "discord" not in command.platforms:
        if any(p.startswith(f"{name} ") for p in REGISTRY.commands):  # a group's path: imports no feature
            raise BadInput(_("Pick one of this command's subcommands."))
        raise BadInput(_("I don't know that command any more — it may have been removed."))
    if not check:
        return command, options
    resolved = data.get("resolved")
    return command, _values(command, options, resolved if isinstance(resolved, dict) else {})


def _values(command: Command, sent: list[dict[str, Any]], resolved: dict[str, Any]) -> dict[str, Any]:
    """Discord's option list as neutral values; users, roles and channels from data.resolved."""
    declared = {o.name: o for o in command.options}
    values: dict[str, Any] = {}
    for o in sent:
        name = o.get("name")
        option = declared.get(name) if isinstance(name, str) else None
        if option is None or name in values:
            raise BadInput(_("Option '{option}' is not one this command takes.", option=str(name)[:32]))
        if o.get("type") != discord.OPTION_TYPES[option.kind]:
            raise option.bad("has the wrong type")
        values[option.name] = _value(option.kind, o.get("value"), resolved, option.bad)
    return values


def _value(kind: Kind, value: Any, resolved: dict[str, Any], bad: Any) -> Any:
    if kind not in (Kind.USER, Kind.ROLE, Kind.CHANNEL, Kind.ATTACHMENT):
        return value
    n = inputs.snowflake(value)
    if n is None:
        raise bad("is not a valid id")
    if kind == Kind.ATTACHMENT:
        return _file(n, resolved.get("attachments"), bad)
    entry = resolved.get({Kind.USER: "users", Kind.ROLE: "roles", Kind.CHANNEL: "channels"}[kind], {})
    found = entry.get(str(n)) if isinstance(entry, dict) else None
    found = found if isinstance(found, dict) else {}
    if kind == Kind.USER:
        username, display = found.get("username"), found.get("global_name")
        return PlatformUser(
            "discord",
            n,
            username if isinstance(username, str) else None,
            display if isinstance(display, str) else None,
            found.get("bot") is True,
        )
    if kind == Kind.CHANNEL:
        return ChannelRef(n, str(found.get("name", ""))[:100])
    # Discord sends the chosen role in data.resolved; without it we cannot check what it grants.
    perms = str(found.get("permissions", ""))
    if not (perms.isascii() and perms.isdigit() and len(perms) <= 20):
        raise BadInput(_("I could not see that role's permissions. Pick the role from Discord's list."))
    return RoleRef(n, str(found.get("name", ""))[:100], int(perms), found.get("managed") is True)


def _file(n: int, attachments: Any, bad: Any) -> FileRef:
    """An ATTACHMENT option's file from data.resolved.attachments: what Discord says about it (the bytes are
    fetched by the job that checks them, from the CDN hosts in DISCORD_CDN_HOSTS only)."""
    found = attachments.get(str(n)) if isinstance(attachments, dict) else None
    if not isinstance(found, dict):
        raise bad("is not a valid id")
    url, name, kind = found.get("url"), found.get("filename"), found.get("content_type", "")
    size, width, height = found.get("size"), found.get("width") or 0, found.get("height") or 0
    if not (isinstance(url, str) and url.startswith(("https://", "http://")) and len(url) <= 2048):
        raise bad("is not a valid id")
    if not (isinstance(name, str) and isinstance(kind, str) and type(size) is int and size >= 0):
        raise bad("is not a valid id")
    if type(width) is not int or type(height) is not int or inputs.text_problem(name + kind + url):
        raise bad("is not a valid id")
    return FileRef("discord", str(n), name[:256], size, kind[:128], url, max(width, 0), max(height, 0))
