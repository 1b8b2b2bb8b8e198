"""The routing table and the registry that follows it, so a cold instance imports only the features its
request needs.

`Table.of(registry)` says, ahead of time, which feature module declares each command, Telegram command,
action prefix, site function and schedule, and which modules contribute to each hook the request paths call
(Telegram message handlers, reply notes, /profile fields, profile sections, reactions, merges, purges, command
groups), plus what is plain data (deployed functions and their kinds, job kinds, settings sections).
`make manifests` writes it as ttfd/features/routes.py (devtools/manifests.py); `--check` and
tests/test_manifests.py fail when it is stale.

`LazyRegistry(table)` is a `Registry` that imports a feature on first use of something it contributes: a
Discord /profile imports the feature declaring `profile` and, when /profile asks for `profile_fields`, the
features contributing them — never moderation or the shop. Asked for everything (`features`, a mapping's
values), it imports everything. tests/test_routing.py holds it equal to the full registry.
"""

from __future__ import annotations

import dataclasses
import importlib
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from ttfd.registry import Feature, Registry, Schedule
from ttfd.ui.commands import ActionHandler, Command

if TYPE_CHECKING:
    from ttfd.web import Route

V = TypeVar("V")
# The registry's indexes by key: which module declares each key.
KEYED = ("commands", "telegram_commands", "actions", "routes", "schedules")
# The registry's hooks: which modules contribute to each, in the registry's order (which is the order they run).
HOOKS = (
    "groups",
    "messages",
    "reactions",
    "merge_hooks",
    "profile_sections",
    "profile_fields",
    "reply_notes",
    "purges",
)
PACKAGE = "ttfd.features"


def feature_module(feature: Feature) -> str:
    """Where a feature's record lives: its package, `FEATURE` (ttfd/features/<name>/__init__.py)."""
    return f"{PACKAGE}.{feature.name}"


@dataclass(frozen=True)
class Table:
    """Which feature module contributes what (module names only: reading it imports no feature)."""

    features: tuple[str, ...]  # every feature's module, in the registry's order
    keyed: Mapping[str, Mapping[str, str]]  # index (KEYED) → key → the module declaring it
    hooks: Mapping[str, tuple[str, ...]]  # hook (HOOKS) → the modules contributing to it, in order
    functions: Mapping[str, str]  # every deployable function → its kind (Registry.functions)
    job_kinds: Mapping[str, str]  # job kind → "module:function"
    settings: tuple[tuple[str, str], ...]  # every settings section: ("module:Class", ENV_PREFIX)
    settings_names: Mapping[str, tuple[str, ...]]  # "module:Class" → the variables it reads (what a secret may set)

    @classmethod
    def of(cls, registry: Registry, module_of: Callable[[Feature], str] = feature_module) -> Table:
        """The table of a full registry (what `make manifests` writes)."""
        one = {f.name: Registry((f,)) for f in registry.features}
        sections = [f.settings for f in registry.features if f.settings is not None]
        modules = {f.name: module_of(f) for f in registry.features}

        def owners(index: str) -> dict[str, str]:
            found = {key: modules[f.name] for f in registry.features for key in getattr(one[f.name], index)}
            if list(found) != list(getattr(registry, index)):  # also catches a key two features declare
                raise ValueError(f"{index}: the features' keys differ from the registry's")
            return found

        return cls(
            features=tuple(modules[f.name] for f in registry.features),
            keyed={index: owners(index) for index in KEYED},
            hooks={h: tuple(modules[f.name] for f in registry.features if getattr(one[f.name], h)) for h in HOOKS},
            functions=dict(registry.functions),
            job_kinds=dict(registry.job_kinds),
            settings=tuple((_ref(section), getattr(section, "ENV_PREFIX", "")) for section in sections),
            settings_names={_ref(section): _env_names(section) for section in sections},
        )


def _ref(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _env_names(cls: type) -> tuple[str, ...]:
    """The variables a section reads (ttfd.core.settings.load, settable): ENV_PREFIX + each public field."""
    prefix = getattr(cls, "ENV_PREFIX", "")
    return tuple((prefix + f.name).upper() for f in dataclasses.fields(cls) if not f.name.startswith("_"))


class Keyed(Mapping[str, V]):
    """A registry index whose keys come from the table: looking one up imports only the feature declaring
    it; its values (or items) import every feature in it."""

    def __init__(self, owners: Mapping[str, str], value: Callable[[str, str], V]) -> None:
        self._owners = owners
        self._value = value

    def __getitem__(self, key: str) -> V:
        return self._value(self._owners[key], key)

    def __contains__(self, key: object) -> bool:
        return key in self._owners

    def __iter__(self) -> Iterator[str]:
        return iter(self._owners)

    def __len__(self) -> int:
        return len(self._owners)

    def __repr__(self) -> str:
        return f"Keyed({list(self._owners)!r})"


class LazyRegistry(Registry):
    """A Registry that imports each feature when something it contributes is first asked for (see the module
    docstring); every answer equals the full registry's."""

    def __init__(self, table: Table) -> None:  # Registry.__init__ takes the features themselves: not called
        self.table = table
        self._lock = threading.Lock()
        self._single: dict[str, Registry] = {}

    def loaded(self) -> tuple[str, ...]:
        """The feature modules imported so far (what a cold request paid for)."""
        return tuple(m for m in self.table.features if m in self._single)

    def _one(self, module: str) -> Registry:
        """The registry of the one feature `module` declares, imported on first use."""
        found = self._single.get(module)
        if found is None:
            feature: Feature = importlib.import_module(module).FEATURE
            with self._lock:
                found = self._single.setdefault(module, Registry((feature,)))
        return found

    def _keyed(self, index: str) -> Keyed[Any]:
        return Keyed(self.table.keyed.get(index, {}), lambda module, key: getattr(self._one(module), index)[key])

    @property
    def features(self) -> tuple[Feature, ...]:
        """Every feature (imports them all: /help lists every command, health every migration)."""
        return tuple(self._one(m).features[0] for m in self.table.features)

    def contributors(self, hook: str) -> tuple[Feature, ...]:
        """Only the features the table names for `hook` (every feature for one it does not know)."""
        modules = self.table.hooks.get(hook, self.table.features)
        return tuple(self._one(m).features[0] for m in modules)

    @cached_property
    def commands(self) -> Mapping[str, Command]:
        return self._keyed("commands")

    @cached_property
    def telegram_commands(self) -> Mapping[str, Command]:
        return self._keyed("telegram_commands")

    @cached_property
    def actions(self) -> Mapping[str, ActionHandler[Any]]:
        return self._keyed("actions")

    @cached_property
    def routes(self) -> Mapping[str, Route]:
        return self._keyed("routes")

    @cached_property
    def schedules(self) -> Mapping[str, Schedule]:
        return self._keyed("schedules")

    @cached_property
    def job_kinds(self) -> dict[str, str]:
        return dict(self.table.job_kinds)

    @cached_property
    def functions(self) -> dict[str, str]:
        return dict(self.table.functions)
