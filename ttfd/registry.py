"""A feature declares everything it contributes in one `Feature` record; `Registry` derives what every
entrypoint, the dev server, the cleanup and account merges need from the tuple of features.

Job handlers are named by "module:function" and imported when a job of their kind runs, so their payload
models (pydantic) and API clients never load on the interaction paths' cold start; a test imports every
one of them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from ttfd.core.db import Conn
from ttfd.ui.commands import ActionHandler, Command, MessageHandler
from ttfd.ui.reply import Field
from ttfd.ui.text import Text

if TYPE_CHECKING:
    from ttfd.web import Route

Reaction = Callable[[Conn, dict[str, Any]], None]
MergeHook = Callable[[Conn, int, int], None]  # (conn, keep_id, gone_id)
Purge = Callable[[Conn], int]
ProfileSection = Callable[[Conn, int, bool], Any]  # (conn, account id, owner viewing) → JSON
ProfileFields = Callable[[Conn, int], tuple[Field, ...]]  # (conn, account id) → fields of /profile in chats
ReplyNote = Callable[[Conn, int, str], Text]  # (conn, live account id, platform) → lines after a write's reply


@dataclass(frozen=True)
class Schedule:
    """A scheduled function: `function` is its deployed name; `run(registry)` returns a JSON summary."""

    function: str
    cron: str
    run: Callable[[Registry], dict[str, Any]]
    description: str = ""


@dataclass(frozen=True)
class Group:
    """A Discord command group (/setup …): its description and who sees it by default."""

    name: str
    description: str
    default_member_permissions: int | None = None


@dataclass(frozen=True)
class Feature:
    name: str
    summary: str
    commands: tuple[Command, ...] = ()
    groups: tuple[Group, ...] = ()
    actions: tuple[ActionHandler[Any], ...] = ()
    messages: tuple[MessageHandler, ...] = ()  # Telegram plain messages, in this order after every command
    routes: tuple[Route, ...] = ()
    schedules: tuple[Schedule, ...] = ()
    jobs: Mapping[str, str] = field(default_factory=dict)  # job kind → "module:function"
    reactions: Mapping[str, Reaction] = field(default_factory=dict)  # event type → reaction
    merge: MergeHook | None = None  # moves this feature's rows from a merged-away account to the survivor
    purges: Mapping[str, Purge] = field(default_factory=dict)  # what the hourly cleanup deletes
    settings: type | None = None  # a dataclass with ENV_PREFIX: this feature's section of the environment
    migrations: tuple[str, ...] = ()  # the sql/ files that create its tables
    help: Text = ()  # a line for /help beyond the command list (e.g. how chat XP works)
    profile: ProfileSection | None = None  # what it adds to a profile on the website (e.g. recent games)
    profile_fields: ProfileFields | None = None  # what it adds to /profile on Discord and Telegram
    # Lines added to the reply of any command or button that wrote (e.g. an achievement it unlocked)
    reply_note: ReplyNote | None = None


# Deployed HTTP entrypoints that are not a feature's route or schedule.
PLATFORM_FUNCTIONS = ("discord_interactions", "telegram_webhook")


class Registry:
    """Indexes over the features, built once; names must be unique across features."""

    def __init__(self, features: tuple[Feature, ...]) -> None:
        self._features = features
        names = [f.name for f in features]
        if len(set(names)) != len(names):
            raise ValueError("two features share a name")

    @property
    def features(self) -> tuple[Feature, ...]:
        """Every feature, in the registry's order."""
        return self._features

    def contributors(self, hook: str) -> tuple[Feature, ...]:
        """The features a hook (one of the indexes below: `messages`, `reply_notes`, …) is built from, in order:
        every feature here; ttfd.routing.LazyRegistry imports only those its routing table names."""
        return self.features

    def _unique(self, what: str, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                raise ValueError(f"{what} {key!r} is declared twice")
            out[key] = value
        return out

    @cached_property
    def commands(self) -> Mapping[str, Command]:
        """By path: `daily`, `setup rank-role`."""
        return self._unique("command", [(c.path, c) for f in self.features for c in f.commands])

    @cached_property
    def telegram_commands(self) -> Mapping[str, Command]:
        """By Telegram name: `top`, `setup_rank_role`."""
        return self._unique(
            "Telegram command",
            [(c.tg_name, c) for c in self.commands.values() if "telegram" in c.platforms],
        )

    @cached_property
    def groups(self) -> dict[str, Group]:
        return self._unique("command group", [(g.name, g) for f in self.contributors("groups") for g in f.groups])

    @cached_property
    def actions(self) -> Mapping[str, ActionHandler[Any]]:
        """By action prefix."""
        return self._unique("action prefix", [(a.action_type.prefix, a) for f in self.features for a in f.actions])

    @cached_property
    def messages(self) -> tuple[MessageHandler, ...]:
        return tuple(m for f in self.contributors("messages") for m in f.messages)

    @cached_property
    def routes(self) -> Mapping[str, Route]:
        """By deployed function name."""
        return self._unique("site function", [(r.function, r) for f in self.features for r in f.routes])

    @cached_property
    def schedules(self) -> Mapping[str, Schedule]:
        return self._unique("scheduled function", [(s.function, s) for f in self.features for s in f.schedules])

    @cached_property
    def job_kinds(self) -> dict[str, str]:
        return self._unique("job kind", [(k, v) for f in self.features for k, v in f.jobs.items()])

    def job_handler(self, kind: str) -> Callable[..., Any] | None:
        """The handler of a job kind, imported on first use."""
        ref = self.job_kinds.get(kind)
        if ref is None:
            return None
        module, _, name = ref.partition(":")
        fn: Callable[..., Any] = getattr(importlib.import_module(module), name)
        return fn

    @cached_property
    def reactions(self) -> dict[str, list[Reaction]]:
        out: dict[str, list[Reaction]] = {}
        for f in self.contributors("reactions"):
            for event, react in f.reactions.items():
                out.setdefault(event, []).append(react)
        return out

    @cached_property
    def merge_hooks(self) -> tuple[MergeHook, ...]:
        """Every feature's merge hook, in feature order."""
        return tuple(f.merge for f in self.contributors("merge_hooks") if f.merge is not None)

    @cached_property
    def profile_sections(self) -> tuple[tuple[str, ProfileSection], ...]:
        return tuple((f.name, f.profile) for f in self.contributors("profile_sections") if f.profile is not None)

    @cached_property
    def profile_fields(self) -> tuple[ProfileFields, ...]:
        return tuple(f.profile_fields for f in self.contributors("profile_fields") if f.profile_fields is not None)

    @cached_property
    def reply_notes(self) -> tuple[ReplyNote, ...]:
        return tuple(f.reply_note for f in self.contributors("reply_notes") if f.reply_note is not None)

    @cached_property
    def purges(self) -> dict[str, Purge]:
        return self._unique("purge", [(k, p) for f in self.contributors("purges") for k, p in f.purges.items()])

    @cached_property
    def functions(self) -> dict[str, str]:
        """Every deployable function → its kind (http, site, scheduled): what main.py and the deploy
        manifests must list."""
        out = dict.fromkeys(PLATFORM_FUNCTIONS, "http")
        out.update(dict.fromkeys(self.routes, "site"))
        out.update(dict.fromkeys(self.schedules, "scheduled"))
        return out
