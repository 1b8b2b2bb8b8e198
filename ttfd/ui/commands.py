"""Commands declared once for Discord and Telegram: typed options, one implementation (ctx, options) → Reply.

Each platform turns what it received into the same typed option values (Discord from the interaction's
options and resolved data, Telegram from the message text and the message it replies to), then
`Command.check` validates them against the declaration before the implementation runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar

from ttfd.core.db import Conn
from ttfd.core.errors import BadInput, Forbidden
from ttfd.core.i18n import C_, N_, SOURCE, Msg, _, listing, said
from ttfd.core.inputs import INT64_MAX, text_problem
from ttfd.core.settings import Settings
from ttfd.core.users import Platform, User
from ttfd.ui.actions import Action
from ttfd.ui.reply import Field, Reply
from ttfd.ui.text import Part, Person, Text

MAX_SAFE_INTEGER = 2**53  # Discord's INTEGER options are limited to ±2^53
ADMINISTRATOR = 1 << 3
# Discord's permissions as its own client names them (what a refusal or a check tells a person).
PERMISSION_NAMES: dict[int, Msg] = {
    1 << 1: C_("permission", "Kick Members"),
    1 << 2: C_("permission", "Ban Members"),
    1 << 3: C_("permission", "Administrator"),
    1 << 4: C_("permission", "Manage Channels"),
    1 << 5: C_("permission", "Manage Server"),
    1 << 7: C_("permission", "View Audit Log"),
    1 << 13: C_("permission", "Manage Messages"),
    1 << 17: C_("permission", "Mention @everyone, @here and All Roles"),
    1 << 22: C_("permission", "Mute Members"),
    1 << 23: C_("permission", "Deafen Members"),
    1 << 24: C_("permission", "Move Members"),
    1 << 27: C_("permission", "Manage Nicknames"),
    1 << 28: C_("permission", "Manage Roles"),
    1 << 29: C_("permission", "Manage Webhooks"),
    1 << 30: C_("permission", "Manage Expressions"),
    1 << 33: C_("permission", "Manage Events"),
    1 << 34: C_("permission", "Manage Threads"),
    1 << 40: C_("permission", "Timeout Members"),
}


class Kind(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    USER = "user"
    CHANNEL = "channel"
    ROLE = "role"
    ATTACHMENT = "attachment"  # a file sent with the command (Discord's ATTACHMENT option)


@dataclass(frozen=True)
class PlatformUser:
    """Someone on a platform (an option's value, the caller, the author of a replied-to message)."""

    platform: Platform
    id: int
    username: str | None = None
    display_name: str | None = None
    is_bot: bool = False

    @property
    def name(self) -> str:
        return self.display_name or self.username or f"User {self.id}"

    @property
    def person(self) -> Person:
        return Person(
            self.name,
            self.id if self.platform == "discord" else None,
            self.id if self.platform == "telegram" else None,
        )


@dataclass(frozen=True)
class RoleRef:
    id: int
    name: str = ""
    permissions: int = 0
    managed: bool = False


@dataclass(frozen=True)
class ChannelRef:
    id: int
    name: str = ""


@dataclass(frozen=True)
class FileRef:
    """A file someone sent with a command, as their platform described it: the bytes are fetched later, from
    `url` (Discord's CDN) or by `file_id` (Telegram's getFile), by a job that checks what they are."""

    platform: Platform
    file_id: str  # Discord: the attachment's id; Telegram: the file_id
    filename: str = ""
    size: int = 0
    content_type: str = ""
    url: str = ""  # Discord only: the signed CDN URL (it expires; see protocols.md §8)
    width: int = 0
    height: int = 0


@dataclass(frozen=True)
class Option:
    name: str
    kind: Kind
    description: str
    required: bool = False
    choices: tuple[tuple[str, str | int], ...] = ()  # (label, value)
    min_value: int | None = None
    max_value: int | None = None
    max_length: int = 6000  # Discord's own limit for STRING options
    channel_types: tuple[int, ...] = ()
    # Discord suggests values as they are typed: (conn, guild id, typed) → [(label, value)] (at most 25).
    autocomplete: Callable[[Conn, int | None, str], list[tuple[str, str]]] | None = None
    rest: bool = False  # Telegram: this text takes every word the options after it do not (/buy Gold role 2)

    @property
    def placeholder(self) -> str:
        """How usage lines name this option: <side> for free values, <heads|tails> for choices."""
        return self.placeholder_in(SOURCE)

    def placeholder_in(self, locale: str) -> str:
        """The placeholder in `locale`: [ставка] (the option's catalog name), <орёл|решка> (the choices as words
        to type: their labels in that language when each is one word, else their values; Telegram reads both)."""
        inner = self.shown_name.in_(locale)
        if self.choices:
            words = [said(label, locale).lower() for label, _v in self.choices] if locale != SOURCE else []
            if not words or any(len(w.split()) != 1 for w in words):
                words = [str(v) for _l, v in self.choices]
            inner = "|".join(words)
        return f"<{inner}>" if self.required else f"[{inner}]"

    def check(self, value: Any) -> Any:
        """The value as declared, or BadInput naming the option and what is wrong."""
        if self.kind == Kind.STRING:
            if not isinstance(value, str):
                raise self.bad("text")
            if len(value) > self.max_length:
                raise BadInput(
                    N_(
                        "Option '{option}' is longer than {n} character.",
                        "Option '{option}' is longer than {n} characters.",
                        self.max_length,
                        option=self.shown_name,
                    )
                )
            if problem := text_problem(value):
                raise self.bad(problem)
        elif self.kind == Kind.INTEGER:
            if type(value) is not int or not -MAX_SAFE_INTEGER < value < MAX_SAFE_INTEGER:
                raise self.bad("integer")
            low = self.min_value if self.min_value is not None else -MAX_SAFE_INTEGER
            high = self.max_value if self.max_value is not None else MAX_SAFE_INTEGER
            if not low <= value <= high:
                raise BadInput(
                    _("Option '{option}' must be between {low} and {high}.", option=self.shown_name, low=low, high=high)
                )
        elif self.kind == Kind.NUMBER:
            if type(value) not in (int, float) or not math.isfinite(value):
                raise self.bad("number")
        elif self.kind == Kind.BOOLEAN:
            if type(value) is not bool:
                raise self.bad("boolean")
        elif self.kind == Kind.USER:
            if not isinstance(value, PlatformUser) or not 0 < value.id <= INT64_MAX:
                raise self.bad("id")
        elif self.kind == Kind.ROLE:
            if not isinstance(value, RoleRef) or not 0 < value.id <= INT64_MAX:
                raise self.bad("id")
        elif self.kind == Kind.CHANNEL and (not isinstance(value, ChannelRef) or not 0 < value.id <= INT64_MAX):
            raise self.bad("id")
        elif self.kind == Kind.ATTACHMENT and not isinstance(value, FileRef):
            raise self.bad("file")
        if self.choices and value not in {v for _, v in self.choices}:
            raise BadInput(
                _(
                    "Option '{option}' must be one of: {choices}.",
                    option=self.shown_name,
                    choices=listing(label for label, _v in self.choices),
                )
            )
        return value

    @property
    def shown_name(self) -> Msg:
        """The option's name as the reader's Discord shows it (its catalog name, context "option")."""
        return Msg(self.name, context="option")

    def bad(self, problem: str) -> BadInput:
        """A refusal naming the option: `problem` is one of PROBLEMS' keys (or a text_problem sentence)."""
        message = PROBLEMS.get(problem, _("Option '{option}' cannot be used as written."))
        return BadInput(message.with_values({"option": self.shown_name}))


# What can be wrong with an option's value, whole sentences ({option}: the option's name). The keys are
# the checks' names and ttfd.core.inputs.text_problem's answers.
PROBLEMS: dict[str, Msg] = {
    "text": _("Option '{option}' must be text."),
    "integer": _("Option '{option}' must be a whole number."),
    "number": _("Option '{option}' must be a number."),
    "boolean": _("Option '{option}' must be yes or no."),
    "id": _("Option '{option}' is not a valid id."),
    "file": _("Option '{option}' must be a file."),
    "telegram": _("Option '{option}' cannot be given on Telegram."),
    "must not contain NUL characters": _("Option '{option}' must not contain NUL characters."),
    "must be valid Unicode (it contains a lone surrogate)": _("Option '{option}' must be valid Unicode."),
    "must not contain control characters": _("Option '{option}' must not contain control characters."),
    "must not contain bidirectional control characters": _(
        "Option '{option}' must not contain bidirectional control characters."
    ),
    "wrong type": _("Option '{option}' has the wrong type."),
    # the words older callers pass
    "has the wrong type": _("Option '{option}' has the wrong type."),
    "is not a valid id": _("Option '{option}' is not a valid id."),
    "must be text": _("Option '{option}' must be text."),
    "must be a whole number": _("Option '{option}' must be a whole number."),
    "must be yes or no": _("Option '{option}' must be yes or no."),
    "cannot be given on Telegram": _("Option '{option}' cannot be given on Telegram."),
}


Options = Mapping[str, Any]
MergeHook = Callable[[Conn, int, int], None]  # (conn, keep_id, gone_id)


class HasHelp(Protocol):
    @property
    def help(self) -> Text: ...


class Catalog(Protocol):
    """What a command may ask of the registry (ttfd.registry.Registry is one; the UI layer stays below it)."""

    @property
    def commands(self) -> Mapping[str, Command]: ...

    @property
    def features(self) -> Sequence[HasHelp]: ...

    @property
    def merge_hooks(self) -> Sequence[MergeHook]: ...

    @property
    def profile_fields(self) -> Sequence[Callable[[Conn, int], tuple[Field, ...]]]: ...


@dataclass
class Ctx:
    """What an implementation knows about the request: who asks, where, and the transaction to work in.

    `key` is the event's natural key (`discord:<id>`, `tg:<bot>:<update>`): source keys of ledger
    movements derive from it, so a redelivered event can never pay twice."""

    conn: Conn
    settings: Settings
    platform: Platform
    user: User
    caller: PlatformUser
    key: str
    now: datetime
    guild_id: int | None = None
    channel_id: int | None = None
    chat_id: int | None = None
    chat_type: str | None = None
    permissions: int = 0
    created: bool = False  # the caller's account was created by this very event
    reply_to: PlatformUser | None = None  # Telegram: the author of the message this one replies to
    registry: Catalog | None = None  # every feature's declarations (help lists commands, merges run hooks)
    target: dict[str, Any] = field(default_factory=dict)  # where a later answer to this event goes (jobs)
    inputs: dict[str, str] = field(default_factory=dict)  # a submitted modal's text fields, by name
    roles: tuple[int, ...] = ()  # Discord: the member's role ids, as the interaction carried them
    urls: tuple[str, ...] = ()  # Telegram: the message's link entities (text_link targets, marked urls)
    edited: bool = False  # Telegram: the message was edited after it was sent (it counts once, when sent)
    locale: str = "en"  # the language the answer is said in (the person's; ttfd.core.i18n)
    place_locale: str = "en"  # the language of where the answer is posted for all (a Discord server's)
    platform_locale: str | None = None  # what the person's app says (Discord's locale, Telegram's language_code)

    @property
    def features(self) -> Catalog:
        assert self.registry is not None, "the entrypoint hands the registry in"
        return self.registry

    def require_permission(self, bit: int, name: str) -> None:
        """Refuse unless the member has `bit` (ADMINISTRATOR implies every permission), from the bitfield."""
        require_permission(self.guild_id, self.permissions, bit, name)


GUILD_ONLY = _("This command only works inside a server.")


def require_permission(guild_id: int | None, permissions: int, bit: int, name: str) -> None:
    """Refuse unless a server member's permission bitfield has `bit` (ADMINISTRATOR implies every one)."""
    if guild_id is None:
        raise Forbidden(GUILD_ONLY)
    if not (permissions & ADMINISTRATOR or permissions & bit):
        shown = PERMISSION_NAMES.get(bit, name)
        raise Forbidden(_("You need the {permission} permission to do that.", permission=shown))


Handler = Callable[[Ctx, Options], Reply]
# (options, platform, guild id) → the options to run with: what can be refused without the database (a
# duration out of range, a role that may not be handed out), refused before a deferred command says "thinking…".
Precheck = Callable[[dict[str, Any], Platform, int | None], dict[str, Any]]
A = TypeVar("A", bound=Action)


@dataclass(frozen=True)
class Command:
    """A command on every platform it lists. `writes=False` marks read-only commands: they skip the claim
    of their event key (a redelivery recomputes the same answer) and run without a transaction."""

    name: str
    description: str
    handler: Handler
    options: tuple[Option, ...] = ()
    platforms: tuple[Platform, ...] = ("discord", "telegram")
    group: str | None = None  # Discord: a subcommand of /group (Telegram: /group_name)
    telegram_name: str | None = None
    writes: bool = True
    defer: bool = False  # answer "working…" now; a job runs the handler and edits the answer
    guild_only: bool = False
    permission: tuple[int, str] | None = None  # (Discord permission bit, its name), checked before running
    # Telegram: only the chat's administrators (the handler asks getChatMember: it runs deferred, in a job)
    chat_admin: bool = False
    chats: tuple[str, ...] = ("private", "group", "supergroup")  # Telegram chat types it answers in
    precheck: Precheck | None = None
    private: bool = False  # a deferred answer only the person who asked sees (Discord)

    @property
    def path(self) -> str:
        """`setup rank-role` for a subcommand, the name otherwise."""
        return f"{self.group} {self.name}" if self.group else self.name

    @property
    def tg_name(self) -> str:
        return self.telegram_name or (f"{self.group}_{self.name}" if self.group else self.name).replace("-", "_")

    def usage(self, platform: Platform, locale: str | None = None) -> str:
        """`/coinflip <bet> <heads|tails>` in `locale`; without one, a Msg said in the reader's language where
        it is shown (a refusal's usage line). On Telegram the name is the Telegram one and neither a USER option
        (whoever the message replies to) nor an ATTACHMENT one (the photo the command is the caption of) is typed;
        on Discord the names are those the reader's client shows."""
        if locale is None:
            return Usage(self, platform)
        if platform == "telegram":
            name, shown = self.tg_name, [o for o in self.options if o.kind not in (Kind.USER, Kind.ATTACHMENT)]
        else:
            name, shown = " ".join(Msg(n, context="command").in_(locale) for n in self.path.split()), list(self.options)
        return " ".join([f"/{name}", *(o.placeholder_in(locale) for o in shown)])

    def check(self, values: dict[str, Any]) -> dict[str, Any]:
        """Every option checked against its declaration; unknown ones and missing required ones refused."""
        declared = {o.name: o for o in self.options}
        for name in values:
            if name not in declared:
                raise BadInput(_("Option '{option}' is not one this command takes.", option=name[:32]))
        checked = {name: declared[name].check(value) for name, value in values.items()}
        missing = [o for o in self.options if o.required and o.name not in checked]
        if missing:
            raise BadInput(_("Option '{option}' is required.", option=missing[0].shown_name))
        return checked


class Usage(Msg):
    """A command's usage line as a message: its English text, said in the reader's language at the edge."""

    __slots__ = ("command", "platform")
    command: Command
    platform: Platform

    def __new__(cls, command: Command, platform: Platform) -> Usage:
        obj = super().__new__(cls, "{usage}", values={"usage": command.usage(platform, SOURCE)})
        assert isinstance(obj, Usage)
        obj.command, obj.platform = command, platform
        return obj

    def say(self, locale: str) -> tuple[Part, ...]:
        return (self.command.usage(self.platform, locale),)

    def with_values(self, values: Mapping[str, Any]) -> Msg:
        return self

    def __reduce__(self) -> Any:
        return (Usage, (self.command, self.platform))


@dataclass(frozen=True)
class ActionHandler(Generic[A]):
    """What pressing a button (or picking a menu choice) carrying an `action_type` does."""

    action_type: type[A]
    handler: Callable[[Ctx, A], Reply]
    writes: bool = True
    # Telegram: run in a job ("working…" first), where the handler may ask the Bot API who pressed
    # (getChatMember): a button press on Telegram carries no permissions, and a webhook makes no outgoing calls.
    telegram_defer: bool = False


@dataclass(frozen=True)
class MessageHandler:
    """Plain (non-command) Telegram messages in the chats listed, e.g. group chat earning XP. Handlers run in
    feature order; the first that returns a Reply (NOTHING included) is the answer, None passes it on."""

    name: str
    handler: Callable[[Ctx, str], Reply | None]
    chats: tuple[str, ...] = ("group", "supergroup")
    extra: dict[str, Any] = field(default_factory=dict)
    # A guard (automod) also sees group messages that are commands, before the command runs: what it takes
    # (answers) never reaches the command.
    guard: bool = False
