"""CLI: every command, --json schema, exit codes, reports under the platformdirs dirs of an isolated HOME."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cleaner_fixtures import FixtureHome, tree_state

from cleaner import __version__
from cleaner.cli import main

REPO = Path(__file__).resolve().parents[2]


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def run_json(*argv: str) -> tuple[int, dict]:
    code, out, _ = run(*argv, "--json")
    return code, json.loads(out)


def test_version_and_help() -> None:
    code, _, _ = run("--version")
    assert code == 0
    r = subprocess.run([sys.executable, "-m", "cleaner", "--version"], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0 and r.stdout.strip() == f"ttfd-cleaner {__version__}"


def test_usage_errors_are_non_zero(iso_env: Path) -> None:
    assert run("--bogus")[0] == 2
    assert run("scan-cleaning", "--nope")[0] == 2
    assert run()[0] == 2
    code, data = run_json("scan-cleaning", "--categories", "nope")
    assert code == 2 and data["ok"] is False and data["error"]["code"] == "unknown_category"
    code, data = run_json("toggle-startup", "--id", "xdg:user:missing.desktop", "--enable")
    assert code == 1 and data["error"]["code"] == "startup"
    code, data = run_json("exclusions", "remove", "/never/added")
    assert code == 1 and data["error"]["code"] == "storage"
    assert run("reports", "--last", "0")[0] == 2
    r = subprocess.run([sys.executable, "-m", "cleaner", "frobnicate"], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 2 and "invalid choice" in r.stderr


def test_list_categories(iso_env: Path, tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "thumbnails.xml").write_text(
        '<cleaner id="thumbnails"><label>Thumbs</label><option id="cache"><label>Cache</label>'
        '<action command="delete" search="walk.all" path="~/.cache/thumbnails"/>'
        '<action command="truncate" search="file" path="~/x"/>'
        '<action command="apt.clean"/></option></cleaner>'
    )
    code, data = run_json("list-categories", "--cleanerml", str(rules))
    assert code == 0 and data["schema"] == 1 and data["command"] == "list-categories" and data["ok"]
    names = [c["name"] for c in data["categories"]]
    assert names[:5] == ["temp", "cache", "browsers", "apps", "custom"]
    assert "thumbnails.cache" in names
    thumbs = next(c for c in data["categories"] if c["name"] == "thumbnails.cache")
    assert thumbs["rules"] == 2  # truncate is supported
    assert len(thumbs["refused_actions"]) == 1 and "apt.clean" in thumbs["refused_actions"][0]
    assert any("apt.clean" in s and "refused" in s for s in data["skipped"])
    code, out, _ = run("list-categories")
    assert code == 0 and "browsers.cookies" in out and "(opt-in)" in out
    code, out, _ = run("list-categories", "--cleanerml", str(rules))
    assert code == 0 and "refuses: thumbnails.cache: action command='apt.clean' refused (runs a system" in out


def test_scan_and_apply_flow(fx: FixtureHome) -> None:
    root = str(fx.root)
    code, data = run_json("scan-cleaning", "--categories", "temp,cache", "--root", root, "--max-items", "-1")
    assert code == 0
    cats = {c["name"]: c for c in data["categories"]}
    assert set(cats) == {"temp", "cache"}
    listed = {i["path"] for c in data["categories"] for i in c["items"]}
    assert str(fx.root / "tmp" / "old.tmp") in listed
    assert data["total_bytes"] == sum(c["bytes"] for c in data["categories"])
    assert data["total_items"] == len(listed)
    # without --yes: preview plus a clear refusal, nothing deleted
    before = tree_state(fx.base)
    code, out, err = run("apply-cleaning", "--categories", "temp", "--root", root)
    assert code == 3 and "re-run with --yes" in err and "old.tmp" in out
    code, data = run_json("apply-cleaning", "--categories", "temp", "--root", root)
    assert code == 3 and data["applied"] is False and data["error"]["code"] == "confirmation_required"
    assert tree_state(fx.base) == before
    # with --yes
    code, data = run_json("apply-cleaning", "--categories", "temp", "--root", root, "--yes")
    assert code == 0 and data["applied"] is True
    assert data["report"]["total"]["deleted"] == data["preview"]["total_items"] > 0
    assert not (fx.root / "tmp" / "old.tmp").exists() and (fx.root / "tmp" / "new.tmp").exists()
    report_path = Path(data["report_path"])
    assert report_path.is_file()
    # platformdirs honours XDG_DATA_HOME / HOME: the report is inside the isolated home
    assert str(report_path).startswith(str(fx.home / ".local" / "share" / "ttfd-cleaner" / "reports"))
    code, data = run_json("reports", "--last", "1")
    assert code == 0 and len(data["reports"]) == 1 and data["reports"][0]["total"]["deleted"] > 0
    code, out, _ = run("reports")
    assert "temp" in out and "freed" in out


def test_apply_with_trash(fx: FixtureHome) -> None:
    code, data = run_json("apply-cleaning", "--categories", "cache", "--trash", "--yes", "--root", str(fx.root))
    assert code == 0 and data["report"]["trash"] is True
    assert "t1.png" in os.listdir(fx.home / ".local" / "share" / "Trash" / "files")


def test_exclusions_and_custom_paths(fx: FixtureHome) -> None:
    code, data = run_json("exclusions", "add", "~/.cache/pip")
    assert code == 0 and data["changed"] and data["exclusions"] == ["~/.cache/pip"]
    assert run_json("exclusions", "add", "~/.cache/pip")[1]["changed"] is False
    assert (fx.home / ".config" / "ttfd-cleaner" / "exclusions.json").is_file()
    code, data = run_json("scan-cleaning", "--categories", "cache", "--root", str(fx.root), "--max-items", "-1")
    assert not any("/pip/" in i["path"] for c in data["categories"] for i in c["items"])
    code, out, _ = run("exclusions", "list")
    assert out.strip() == "~/.cache/pip"
    assert run_json("exclusions", "remove", "~/.cache/pip")[1]["exclusions"] == []
    target = fx.home / "Downloads"
    (target / "a").mkdir(parents=True)
    (target / "a" / "x.iso").write_bytes(b"iso")
    code, data = run_json("custom-paths", "add", str(target))
    assert data["custom_paths"] == [str(target)]
    code, data = run_json("scan-cleaning", "--categories", "custom", "--max-items", "-1")
    assert {i["path"] for i in data["categories"][0]["items"]} == {str(target / "a" / "x.iso"), str(target / "a")}


def test_status(fx: FixtureHome) -> None:
    code, data = run_json("status", "--root", str(fx.root))
    assert code == 0
    assert data["os"]["name"] == "linux" and data["disk"]["total"] > 0
    assert data["reclaimable"]["total_bytes"] > 0
    assert [c["name"] for c in data["reclaimable"]["categories"]] == ["temp", "cache", "browsers", "apps", "custom"]
    code, out, _ = run("status", "--root", str(fx.root))
    assert "Reclaimable" in out and "Disk" in out


def test_startup_commands(fx: FixtureHome) -> None:
    sysdir = fx.root / "etc" / "xdg" / "autostart"
    (sysdir / "tracker.desktop").write_text("[Desktop Entry]\nName=Tracker\nExec=tracker3\n")
    code, data = run_json("scan-startup", "--category", "logon", "--root", str(fx.root))
    assert code == 0
    ids = [e["id"] for e in data["entries"]]
    assert ids == ["xdg:system:tracker.desktop"]
    assert set(data["entries"][0]) >= {"id", "name", "command", "source", "scope", "enabled", "description"}
    code, data = run_json("toggle-startup", "--id", "xdg:system:tracker.desktop", "--disable", "--root", str(fx.root))
    assert code == 0 and data["result"]["changed"] and data["result"]["enabled"] is False
    assert (fx.home / ".config" / "autostart" / "tracker.desktop").is_file()
    code, data = run_json("scan-startup", "--root", str(fx.root))
    assert next(e for e in data["entries"] if e["id"] == "xdg:system:tracker.desktop")["enabled"] is False
    code, out, _ = run("toggle-startup", "--id", "xdg:system:tracker.desktop", "--enable", "--root", str(fx.root))
    assert code == 0 and "enabled" in out
    assert run("toggle-startup", "--id", "x", "--enable", "--disable")[0] == 2
    log = fx.home / ".local" / "share" / "ttfd-cleaner" / "startup-changes.jsonl"
    assert len(log.read_text().splitlines()) == 2


def test_module_entry_point_json(fx: FixtureHome) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "cleaner", "scan-cleaning", "--categories", "cache", "--json", "--root", str(fx.root)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ},
    )
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["categories"][0]["name"] == "cache" and data["categories"][0]["files"] > 0


@pytest.mark.parametrize("n", [1234, 5 * 1024**3])
def test_human_sizes(n: int) -> None:
    from cleaner.units import human

    assert human(n) in ("1.2 KiB", "5.0 GiB")


def test_progress_bar_draws_on_a_terminal() -> None:
    from cleaner.cli import ProgressBar
    from cleaner.scan import Progress

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Tty()
    bar = ProgressBar(stream, enabled=stream.isatty())
    bar.scan(Progress("cache", 1234, 5 * 1024**2, 1, 2))
    bar.apply(10, 10)
    bar.done()
    text = stream.getvalue()
    assert "[###############...............]  50.0% cache" in text and "1,234 items" in text
    assert "deleting 10/10" in text and text.endswith("\r\x1b[K")
    quiet = io.StringIO()
    ProgressBar(quiet, enabled=False).scan(Progress("x", 1, 1, 1, 1))
    assert quiet.getvalue() == ""


def test_engine_and_cli_do_not_import_tkinter() -> None:
    code = "import sys, cleaner.cli, cleaner.service, cleaner.startup.manager; print('tkinter' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0 and r.stdout.strip() == "False"


def test_gui_command_without_display_fails_cleanly(iso_env: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    r = subprocess.run([sys.executable, "-m", "cleaner", "gui"], capture_output=True, text=True, cwd=REPO, env=env)
    assert r.returncode == 1 and "cannot open the window" in r.stderr
