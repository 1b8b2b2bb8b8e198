"""The routing table (ttfd/features/routes.py, written by `make manifests`) and the lazy registry that follows
it (ttfd.routing): the table is the full registry's, the lazy registry answers every question exactly as the
full one does — same commands, actions, routes, schedules, hooks and their contributors, in the same order —
so nothing is ever missing on the lazy path, and each lookup imports only the features it names. Settings:
every section's names are known without importing a feature; a feature's values are refused the same way
whichever registry loaded it."""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

import pytest

from ttfd import registry as registry_module
from ttfd.core.errors import ConfigError
from ttfd.core.settings import check_names, validate
from ttfd.features import NAMES, REGISTRY, lazy, routes
from ttfd.registry import Feature, Registry
from ttfd.routing import HOOKS, KEYED, LazyRegistry, Table

ROOT = Path(__file__).resolve().parent.parent


def _indexes() -> list[str]:
    """Everything a Registry answers: its properties and cached properties."""
    return [n for n, v in vars(Registry).items() if isinstance(v, property | cached_property)]


def _plain(value: Any) -> Any:
    """A registry answer with its order kept (a mapping as its list of items)."""
    if isinstance(value, Mapping):
        return [(k, _plain(v)) for k, v in value.items()]
    return value


def _table_items(table: Table) -> dict[str, Any]:
    return {name: _plain(getattr(table, name)) for name in table.__dataclass_fields__}


def test_the_committed_table_is_the_registrys() -> None:
    assert _table_items(lazy.TABLE) == _table_items(Table.of(REGISTRY)), "run `make manifests`"
    assert tuple(f"ttfd.features.{name}" for name in NAMES) == routes.FEATURES


def test_another_registry_gives_another_table_and_a_key_declared_twice_none() -> None:
    bigger = Registry((*REGISTRY.features, Feature("guestbook", "a guest book")))
    assert Table.of(bigger).features[-1] == "ttfd.features.guestbook"
    assert _table_items(Table.of(bigger)) != _table_items(lazy.TABLE)
    twice = Feature("profile2", "again", commands=(REGISTRY.commands["profile"],))
    with pytest.raises(ValueError, match="declared twice"):
        Table.of(Registry((*REGISTRY.features, twice)))


@pytest.mark.parametrize("index", _indexes())
def test_the_lazy_registry_answers_as_the_full_one(index: str) -> None:
    fresh = LazyRegistry(lazy.TABLE)
    assert _plain(getattr(fresh, index)) == _plain(getattr(REGISTRY, index)), index
    if index in ("job_kinds", "functions"):  # plain data in the table: nothing imported
        assert fresh.loaded() == ()


def test_every_index_and_hook_is_routed() -> None:
    """Each Registry index is looked up by key (KEYED), built from its contributors (HOOKS), plain data in
    the table, or `features` itself: a new index must say which, or the lazy path could miss it."""
    source = inspect.getsource(registry_module)
    hooks = re.findall(r'self\.contributors\("(\w+)"\)', source)
    assert sorted(hooks) == sorted(HOOKS)
    assert set(_indexes()) == {*KEYED, *HOOKS, "features", "job_kinds", "functions"}
    for kind in REGISTRY.job_kinds:
        assert LazyRegistry(lazy.TABLE).job_handler(kind) is REGISTRY.job_handler(kind)


def test_a_lookup_loads_only_the_features_it_names() -> None:
    fresh = LazyRegistry(lazy.TABLE)
    assert "profile" in fresh.commands and "ban" in fresh.commands and "nope" not in fresh.commands
    assert len(fresh.commands) == len(REGISTRY.commands) and fresh.loaded() == ()
    assert fresh.commands["profile"] is REGISTRY.commands["profile"]
    assert fresh.loaded() == ("ttfd.features.profiles",)
    assert fresh.profile_fields == REGISTRY.profile_fields  # what /profile adds: seasons, achievements, reputation
    assert set(fresh.loaded()) == {
        "ttfd.features.profiles",
        "ttfd.features.achievements",
        "ttfd.features.seasons",
        "ttfd.features.reputation",
    }
    assert fresh.commands.get("nope") is None and fresh.actions.get("nope") is None
    assert fresh.routes["api_profile"] and fresh.reply_notes  # asked for: loaded
    assert "ttfd.features.verification" not in fresh.loaded() and "ttfd.features.shop" not in fresh.loaded()
    duel = next(p for p, module in routes.ACTIONS.items() if module == "ttfd.features.games")  # a button
    assert fresh.actions[duel] is REGISTRY.actions[duel]
    assert "ttfd.features.games" in fresh.loaded() and "ttfd.features.moderation" not in fresh.loaded()


def test_the_lazy_registry_is_a_registry() -> None:
    assert isinstance(lazy.REGISTRY, Registry)  # what dispatch, the site's pages and health take


def _fresh(code: str) -> Any:
    """What `code` prints (JSON) in a fresh interpreter, and the feature packages it imported."""
    probe = (
        code
        + "\nimport sys\nprint(json.dumps([out, sorted(m for m in sys.modules if m.startswith('ttfd.features.'))]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", "import json\n" + probe], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def _refusal(fn: Any, *args: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        fn(*args)
    return str(caught.value)


def test_settings_are_known_unloaded_and_refused_the_same_way() -> None:
    """Importing ttfd.features registers every section by name: a secret's unknown name is refused, and a known
    one taken, with no feature imported; a feature's bad value is refused in the same words by both registries."""
    full_unknown = _refusal(check_names, {"GAMES_NOPE": "1", "DAILY_XP": "5"})
    full_invalid = _refusal(validate, {"GAMES_MIN_BET": "ten"})
    code = """
from ttfd.core import settings
from ttfd.core.errors import ConfigError
import ttfd.features.lazy

out = {}
settings.check_names({"GAMES_MIN_BET": "1", "HEALTH_TOKEN": "x", "VERIFY_PRESS_LIMIT": "5"})
for name, call in (("unknown", lambda: settings.check_names({"GAMES_NOPE": "1", "DAILY_XP": "5"})),
                   ("loaded", lambda: [c.__name__ for c, _ in settings.sections()])):
    try:
        out[name] = call()
    except ConfigError as exc:
        out[name] = str(exc)
before = sorted(m for m in sys.modules if m.startswith("ttfd.features."))
ttfd.features.lazy.REGISTRY.commands["coinflip"]
out["after_coinflip"] = [c.__name__ for c, _ in settings.sections()]
try:
    settings.validate({"GAMES_MIN_BET": "ten"})
except ConfigError as exc:
    out["invalid"] = str(exc)
out["before"] = before
"""
    out, imported = _fresh("import sys\n" + code)
    assert out["before"] == ["ttfd.features.lazy", "ttfd.features.routes"]  # no feature for the names
    assert out["unknown"] == full_unknown and "GAMES_NOPE" in full_unknown and "DAILY_XP" not in full_unknown
    assert out["loaded"] == []  # no feature loaded: no section's values to read yet
    assert out["after_coinflip"] == ["GamesSettings"]
    assert out["invalid"] == full_invalid == "environment variable GAMES_MIN_BET: must be a whole number"
    assert "ttfd.features.moderation" not in imported  # checking every section imports those, not every feature
