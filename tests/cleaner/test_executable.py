"""The PyInstaller one-file build (`make cleaner-exe` -> dist/ttfd-cleaner): --version, a JSON scan, Russian."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from cleaner_fixtures import FixtureHome, tree_state

from cleaner import __version__

EXE = Path(__file__).resolve().parents[2] / "dist" / ("ttfd-cleaner.exe" if os.name == "nt" else "ttfd-cleaner")

pytestmark = pytest.mark.skipif(
    not EXE.is_file(), reason=f"{EXE} not built; run `make cleaner-exe` first (CI does, then runs this file)"
)


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(EXE), *args], capture_output=True, text=True, timeout=120, env=env)


def test_version() -> None:
    r = _run("--version")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"ttfd-cleaner {__version__}"


def test_speaks_russian_from_the_environment(fx: FixtureHome) -> None:
    """The executable carries the compiled catalogs: LANG=ru_RU.UTF-8 gives Russian help and output."""
    env = {**os.environ, "HOME": str(fx.home), "LANG": "ru_RU.UTF-8"}
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        env.pop(var, None)
    r = _run("--help", env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("использование: ttfd-cleaner") and "показать эту справку и выйти" in r.stdout
    r = _run("status", "--root", str(fx.root), env=env)
    assert r.returncode == 0, r.stderr
    assert "Можно освободить:" in r.stdout and "Диск:" in r.stdout and "итого" in r.stdout
    r = _run("status", "--root", str(fx.root), "--lang", "en", env=env)
    assert "Reclaimable:" in r.stdout
    r = _run("scan-cleaning", "--categories", "nope", "--json", env=env)  # machine output stays English
    assert r.returncode == 2 and json.loads(r.stdout)["error"]["message"].startswith("unknown category")


def test_unknown_option_fails() -> None:
    assert _run("--definitely-not-an-option").returncode == 2


def test_json_scan_of_fixture_home(fx: FixtureHome) -> None:
    env = {**os.environ, "HOME": str(fx.home)}
    before = tree_state(fx.base)
    r = _run(
        "scan-cleaning",
        "--categories",
        "temp,cache,browsers,apps",
        "--root",
        str(fx.root),
        "--max-items",
        "-1",
        "--json",
        env=env,
    )
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["ok"] is True and data["command"] == "scan-cleaning" and data["schema"] == 1
    cats = {c["name"]: c for c in data["categories"]}
    assert set(cats) == {"temp", "cache", "browsers", "apps"}
    listed = {i["path"] for c in data["categories"] for i in c["items"]}
    assert str(fx.home / ".cache" / "pip" / "http" / "0" / "a" / "b" / "blob0.bin") in listed
    assert str(fx.home / ".npm" / "_cacache" / "index-v5" / "aa" / "bb") in listed
    assert str(fx.root / "tmp" / "old.tmp") in listed
    assert not any(p.startswith(str(fx.outside)) for p in listed)
    assert not any("/dconf/" in p for p in listed)
    assert data["total_bytes"] > 0
    assert tree_state(fx.base) == before  # a scan changes nothing


def test_apply_refuses_without_yes(fx: FixtureHome) -> None:
    env = {**os.environ, "HOME": str(fx.home)}
    before = tree_state(fx.base)
    r = _run("apply-cleaning", "--categories", "cache", "--root", str(fx.root), "--json", env=env)
    assert r.returncode == 3
    assert json.loads(r.stdout)["error"]["code"] == "confirmation_required"
    assert tree_state(fx.base) == before


def test_window_opens_with_its_theme(fx: FixtureHome, xdisplay: str) -> None:
    """The bundled window starts (sv-ttk's Tcl theme files are inside the one-file build) and stays up."""
    xdotool = shutil.which("xdotool")
    if xdotool is None:
        pytest.skip("xdotool is not installed (Debian package 'xdotool')")
    env = {**os.environ, "HOME": str(fx.home), "DISPLAY": xdisplay, "TTFD_CLEANER_THEME": "dark"}
    proc = subprocess.Popen([str(EXE), "gui"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        found = ""
        while time.time() < deadline and proc.poll() is None and not found:
            time.sleep(0.3)
            found = subprocess.run(
                [xdotool, "search", "--name", "TTFD Cleaner"], capture_output=True, text=True, env=env
            ).stdout.strip()
        assert proc.poll() is None, proc.communicate()[1]
        assert found, "no window appeared"
    finally:
        proc.kill()
        proc.wait()
