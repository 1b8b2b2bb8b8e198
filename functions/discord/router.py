"""A small aiogram-style router: commands by name (and subcommand), components by typed custom_id prefix."""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, ClassVar, Self

from discord_interactions import InteractionResponseFlags, InteractionResponseType
from pydantic import BaseModel, ConfigDict

from functions.discord.models import CommandOption, DiscordUser, Interaction
from ttfd.accounts import User
from ttfd.core.db import Conn
from ttfd.core.errors import DomainError
from ttfd.core.inputs import INT64_MAX, text_problem
from ttfd.core.settings import Settings, get_settings

Reply = dict[str, Any]

# Permission bits (Discord's bitfield)
KICK_MEMBERS = 1 << 1
BAN_MEMBERS = 1 << 2
ADMINISTRATOR = 1 << 3
MANAGE_CHANNELS = 1 << 4
MANAGE_GUILD = 1 << 5
MANAGE_MESSAGES = 1 << 13
MANAGE_ROLES = 1 << 28
MANAGE_WEBHOOKS = 1 << 29
MODERATE_MEMBERS = 1 << 40


class OptionType(IntEnum):
    SUB_COMMAND = 1
    SUB_COMMAND_GROUP = 2
    STRING = 3
    INTEGER = 4
    BOOLEAN = 5
    USER = 6
    CHANNEL = 7
    ROLE = 8
    MENTIONABLE = 9
    NUMBER = 10


SNOWFLAKE_TYPES = frozenset({OptionType.USER, OptionType.CHANNEL, OptionType.ROLE, OptionType.MENTIONABLE})
MAX_SAFE_INTEGER = 2**53  # Discord's INTEGER options are limited to ±2^53


@dataclass(frozen=True)
class Option:
    name: str
    type: OptionType
    description: str
    required: bool = False
    choices: tuple[tuple[str, str | int], ...] = ()
    channel_types: tuple[int, ...] = ()
    min_value: int | None = None
    max_value: int | None = None
    max_length: int = 6000  # Discord's own limit for STRING options

    def definition(self) -> dict[str, Any]:
        d: dict[str, Any] = {"type": int(self.type), "name": self.name, "description": self.description}
        if self.required:
            d["required"] = True
        if self.choices:
            d["choices"] = [{"name": n, "value": v} for n, v in self.choices]
        if self.channel_types:
            d["channel_types"] = list(self.channel_types)
        if self.min_value is not None:
            d["min_value"] = self.min_value
        if self.max_value is not None:
            d["max_value"] = self.max_value
        if self.type == OptionType.STRING and self.max_length != 6000:
            d["max_length"] = self.max_length
        return d

    def check(self, sent_type: int, value: Any) -> Any:
        """The value as the declared type, or DomainError saying what is wrong with it.

        Discord enforces these on its side; a signed payload that breaks them is refused here, before
        any handler or query sees it."""
        if sent_type != self.type:
            raise _bad(self, "has the wrong type")
        if self.type == OptionType.STRING:
            if not isinstance(value, str):
                raise _bad(self, "must be text")
            if len(value) > self.max_length:
                raise _bad(self, f"is longer than {self.max_length} characters")
            if problem := text_problem(value):
                raise _bad(self, problem)
        elif self.type == OptionType.INTEGER:
            if type(value) is not int or not -MAX_SAFE_INTEGER < value < MAX_SAFE_INTEGER:
                raise _bad(self, "must be a whole number")
            if (self.min_value is not None and value < self.min_value) or (
                self.max_value is not None and value > self.max_value
            ):
                raise _bad(self, f"must be between {self.min_value} and {self.max_value}")
        elif self.type == OptionType.NUMBER:
            if type(value) not in (int, float) or not math.isfinite(value):
                raise _bad(self, "must be a number")
        elif self.type == OptionType.BOOLEAN:
            if type(value) is not bool:
                raise _bad(self, "must be true or false")
        elif self.type in SNOWFLAKE_TYPES:
            text = str(value) if type(value) in (int, str) else ""
            if not (text.isascii() and text.isdigit() and 0 < int(text) <= INT64_MAX):
                raise _bad(self, "is not a valid id")
            value = int(text)
        if self.choices and value not in {v for _, v in self.choices}:
            raise _bad(self, f"must be one of {', '.join(str(v) for _, v in self.choices)}")
        return value


def _bad(option: Option, problem: str) -> DomainError:
    return DomainError(f"Option `{option.name}` {problem}.")


def check_options(declared: tuple[Option, ...], sent: list[CommandOption]) -> dict[str, Any]:
    """Options as {name: typed value}: unknown, repeated, mistyped or missing required ones are refused."""
    by_name = {o.name: o for o in declared}
    values: dict[str, Any] = {}
    for o in sent:
        option = by_name.get(o.name)
        if option is None or o.name in values:
            raise DomainError(f"Option `{o.name[:32]}` is not one this command takes.")
        values[o.name] = option.check(o.type, o.value)
    missing = [o.name for o in declared if o.required and o.name not in values]
    if missing:
        raise DomainError(f"Option `{missing[0]}` is required.")
    return values


@dataclass
class Ctx:
    """Everything a handler needs; `user` is the caller's unified account (created on first contact)."""

    conn: Conn
    settings: Settings
    interaction: Interaction
    invoker: DiscordUser
    user: User
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def guild_id(self) -> int | None:
        return self.interaction.guild_id

    @property
    def permissions(self) -> int:
        """The invoker's permissions in this channel; 0 in DMs."""
        m = self.interaction.member
        return m.permissions if m else 0

    def require_permission(self, bit: int, name: str) -> None:
        """Refuse unless the member has `bit` (ADMINISTRATOR implies every permission)."""
        if self.guild_id is None:
            raise DomainError("This command only works inside a server.")
        if not (self.permissions & ADMINISTRATOR or self.permissions & bit):
            raise DomainError(f"You need the **{name}** permission to do that.")

    def resolved(self, kind: str, option: str) -> dict[str, Any] | None:
        """The data.resolved entry (users, roles, channels, …) for an option's snowflake value."""
        value = self.options.get(option)
        data = self.interaction.data
        if value is None or data is None:
            return None
        entry = data.resolved.get(kind, {}).get(str(value))
        return entry if isinstance(entry, dict) else None

    def resolved_user(self, option: str) -> DiscordUser | None:
        """A USER option's value looked up in data.resolved.users."""
        value = self.options.get(option)
        if value is None:
            return None
        raw = self.resolved("users", option)
        try:
            return DiscordUser.model_validate(raw) if raw else DiscordUser(id=int(value))
        except ValueError as exc:  # pydantic's ValidationError
            raise DomainError("I could not read that user; pick them from the list.") from exc


def reply(
    content: str | None = None,
    *,
    embeds: list[dict[str, Any]] | None = None,
    components: list[dict[str, Any]] | None = None,
    ephemeral: bool = False,
    update: bool = False,
) -> Reply:
    """A type 4 message (or type 7 update of the clicked message); ephemeral sets flag 64."""
    data: dict[str, Any] = {"allowed_mentions": {"parse": []}}
    if content is not None:
        data["content"] = content
    if embeds is not None:
        data["embeds"] = embeds
    if components is not None:
        data["components"] = components
    if ephemeral:
        data["flags"] = InteractionResponseFlags.EPHEMERAL
    kind = InteractionResponseType.UPDATE_MESSAGE if update else InteractionResponseType.CHANNEL_MESSAGE_WITH_SOURCE
    return {"type": kind, "data": data}


# --- custom_id models ------------------------------------------------------------------------------


class CustomId(BaseModel):
    """Typed component id packed as `prefix:field:field`; `signed` ones carry an HMAC so users cannot forge them."""

    model_config = ConfigDict(frozen=True)
    prefix: ClassVar[str]
    signed: ClassVar[bool] = False

    def pack(self) -> str:
        parts = [self.prefix, *(str(v) for v in self.model_dump().values())]
        if any(":" in p for p in parts[1:]):
            raise ValueError("custom_id fields may not contain ':'")
        text = ":".join(parts)
        if self.signed:
            text += ":" + _mac(text)
        if len(text) > 100:
            raise ValueError(f"custom_id is {len(text)} chars; Discord allows 100")
        return text

    @classmethod
    def unpack(cls, text: str) -> Self:
        parts = text.split(":")
        if cls.signed:
            body, mac = ":".join(parts[:-1]), parts[-1]
            if not hmac.compare_digest(_mac(body), mac):
                raise DomainError("This button is not valid any more.")
            parts = parts[:-1]
        names = list(cls.model_fields)
        if parts[0] != cls.prefix or len(parts) - 1 != len(names):
            raise DomainError("This button is not valid any more.")
        return cls.model_validate(dict(zip(names, parts[1:], strict=True)))


def _mac(text: str) -> str:
    # Keyed by the bot token: secret, already required in production, and rotating it voids old buttons.
    key = hashlib.sha256(b"ttfd.custom_id:" + get_settings().require("discord_bot_token").encode()).digest()
    digest = hmac.new(key, text.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:12]).decode()


# --- the router ------------------------------------------------------------------------------------

CommandHandler = Callable[[Ctx], Reply]
ComponentHandler = Callable[[Ctx, Any], Reply]


@dataclass
class Command:
    name: str
    description: str
    handler: CommandHandler | None = None
    options: tuple[Option, ...] = ()
    subcommands: dict[str, Command] = field(default_factory=dict)
    default_member_permissions: int | None = None
    guild_only: bool = False

    def definition(self) -> dict[str, Any]:
        """The JSON Discord expects in a bulk PUT of application commands."""
        d: dict[str, Any] = {"type": 1, "name": self.name, "description": self.description}
        if self.subcommands:
            d["options"] = [
                {
                    "type": 1,
                    "name": s.name,
                    "description": s.description,
                    **({"options": [o.definition() for o in s.options]} if s.options else {}),
                }
                for s in self.subcommands.values()
            ]
        elif self.options:
            d["options"] = [o.definition() for o in self.options]
        if self.default_member_permissions is not None:
            d["default_member_permissions"] = str(self.default_member_permissions)
        d["contexts"] = [0] if self.guild_only else [0, 1, 2]
        return d


class Router:
    """Collects commands and components; routers are combined with include_router, like aiogram's."""

    def __init__(self, name: str = "root") -> None:
        self.name = name
        self.commands: dict[str, Command] = {}
        self.components: dict[str, tuple[type[CustomId], ComponentHandler]] = {}

    def command(self, name: str, description: str, *options: Option) -> Callable[[CommandHandler], CommandHandler]:
        """Register a top-level slash command."""

        def register(fn: CommandHandler) -> CommandHandler:
            self._add(Command(name, description, fn, options))
            return fn

        return register

    def group(
        self,
        name: str,
        description: str,
        *,
        default_member_permissions: int | None = None,
        guild_only: bool = True,
    ) -> Command:
        """Declare a command whose work is done by subcommands."""
        return self._add(Command(name, description, None, (), {}, default_member_permissions, guild_only))

    def subcommand(
        self, group: str, name: str, description: str, *options: Option
    ) -> Callable[[CommandHandler], CommandHandler]:
        """Register `/group name`."""

        def register(fn: CommandHandler) -> CommandHandler:
            self.commands[group].subcommands[name] = Command(name, description, fn, options)
            return fn

        return register

    def component(self, model: type[CustomId]) -> Callable[[ComponentHandler], ComponentHandler]:
        """Register the handler for buttons/selects whose custom_id starts with model.prefix."""

        def register(fn: ComponentHandler) -> ComponentHandler:
            if model.prefix in self.components:
                raise ValueError(f"custom_id prefix {model.prefix!r} registered twice")
            self.components[model.prefix] = (model, fn)
            return fn

        return register

    def _add(self, cmd: Command) -> Command:
        if cmd.name in self.commands:
            raise ValueError(f"command /{cmd.name} registered twice")
        self.commands[cmd.name] = cmd
        return cmd

    def include_router(self, other: Router) -> None:
        for cmd in other.commands.values():
            self._add(cmd)
        for prefix, entry in other.components.items():
            if prefix in self.components:
                raise ValueError(f"custom_id prefix {prefix!r} registered twice")
            self.components[prefix] = entry

    def definitions(self) -> list[dict[str, Any]]:
        """Every command's registration JSON, sorted by name."""
        return [c.definition() for c in sorted(self.commands.values(), key=lambda c: c.name)]

    def resolve_command(self, name: str, options: list[CommandOption] | None) -> tuple[Command, dict[str, Any]]:
        """Find the handler for `/name [sub]` and flatten its options to {name: value}."""
        cmd = self.commands.get(name)
        if cmd is None:
            raise DomainError("I don't know that command any more — it may have been removed.")
        opts = options or []
        if cmd.subcommands:
            if not opts or opts[0].type != OptionType.SUB_COMMAND or opts[0].name not in cmd.subcommands:
                raise DomainError("Pick one of this command's subcommands.")
            cmd, opts = cmd.subcommands[opts[0].name], opts[0].options or []
        return cmd, check_options(cmd.options, opts)

    def dispatch_command(self, ctx: Ctx, name: str) -> Reply:
        data = ctx.interaction.data
        cmd, ctx.options = self.resolve_command(name, data.options if data else None)
        if cmd.handler is None:
            raise DomainError("Pick one of this command's subcommands.")
        return cmd.handler(ctx)

    def dispatch_component(self, ctx: Ctx, custom_id: str) -> Reply:
        entry = self.components.get(custom_id.split(":", 1)[0])
        if entry is None:
            raise DomainError("This button is not valid any more.")
        model, fn = entry
        try:
            parsed = model.unpack(custom_id)
        except ValueError as exc:  # pydantic's ValidationError is a ValueError
            raise DomainError("This button is not valid any more.") from exc
        return fn(ctx, parsed)
