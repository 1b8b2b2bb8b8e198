"""Shared fixtures of the Cleaner tests: an isolated HOME and a fixture home with junk and traps."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # `import cleaner` also when pytest is run as a bare executable

from cleaner_fixtures import FixtureHome, build_fixture_home  # noqa: E402


@pytest.fixture
def iso_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point HOME and every XDG dir at tmp so nothing can touch the real home."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".local" / "state"))
    monkeypatch.setenv("XDG_CONFIG_DIRS", "/etc/xdg")
    monkeypatch.setenv("TMPDIR", str(tmp_path / "root" / "tmp"))
    return home


@pytest.fixture
def fx(tmp_path: Path, iso_env: Path) -> FixtureHome:
    """A fixture home (caches, browser profiles, symlinks out, exclusions, mount boundary) plus a fake root."""
    return build_fixture_home(tmp_path, iso_env)
