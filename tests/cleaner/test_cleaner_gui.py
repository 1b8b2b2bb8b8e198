"""The Tk window in a real X server (Xvfb): drive each section and save screenshots to artifacts/cleaner/."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cleaner_fixtures import FakeRunner, FixtureHome

from cleaner.safety import RunningChecker
from cleaner.service import Cleaner
from cleaner.startup.manager import StartupManager
from cleaner.storage import Storage
from cleaner.units import human

pytestmark = pytest.mark.gui
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "cleaner"


def pump(root: Any, cond: Callable[[], bool], timeout: float = 20) -> None:
    """Run the Tk event loop until cond() holds."""
    end = time.time() + timeout
    while time.time() < end:
        root.update()
        if cond():
            root.update()
            return
        time.sleep(0.01)
    raise AssertionError("GUI did not reach the expected state in time")


def shot(root: Any, display: str, name: str, whole_screen: bool = False) -> Path:
    """Save a screenshot of the window (or the screen) and sanity-check it is not blank."""
    from PIL import ImageGrab

    root.update()
    time.sleep(0.15)
    root.update()
    img = ImageGrab.grab(xdisplay=display)
    if not whole_screen:
        x, y = root.winfo_rootx(), root.winfo_rooty()
        img = img.crop((x, y, x + root.winfo_width(), y + root.winfo_height()))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    img.save(path)
    colors = img.convert("RGB").getcolors(maxcolors=1_000_000)
    assert colors is not None and len(colors) > 20, f"{name} looks blank"
    return path


@pytest.fixture
def gui(
    fx: FixtureHome, tmp_path: Path, xdisplay: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[Any]:
    import tkinter as tk

    from cleaner.gui import CleanerApp

    monkeypatch.setenv("DISPLAY", xdisplay)
    (fx.root / "etc" / "xdg" / "autostart" / "tracker.desktop").write_text(
        "[Desktop Entry]\nName=Tracker\nExec=tracker3 daemon\nComment=File indexer\n"
    )
    (fx.home / ".config" / "autostart").mkdir(parents=True, exist_ok=True)
    (fx.home / ".config" / "autostart" / "notes.desktop").write_text(
        "[Desktop Entry]\nName=Notes\nExec=notes --tray\nComment=Sticky notes\n"
    )
    storage = Storage(str(tmp_path / "store" / "c"), str(tmp_path / "store" / "d"))
    storage.add_exclusion("~/.cache/excluded_dir")
    cl = Cleaner(fx.env, storage, mounts={str(fx.mount)}, running=RunningChecker(fx.env, dict))
    mgr = StartupManager(fx.env, storage, runner=FakeRunner())
    confirmations: list[str] = []
    root = tk.Tk()
    theme = getattr(request, "param", "light")
    app = CleanerApp(root, cl, mgr, confirm=lambda _t, m: confirmations.append(m) or True, theme=theme)
    app.confirmations = confirmations  # type: ignore[attr-defined]
    root.geometry("1180x740+0+0")
    pump(root, lambda r=root: r.winfo_width() > 1000)
    try:
        yield app
    finally:
        root.destroy()
        del app, root
        # Collect this window's Tk variables now, in the main thread: if a later test's worker thread ran
        # the cyclic GC instead, their __del__ would call into a deleted Tcl interpreter from that thread.
        gc.collect()


@pytest.mark.parametrize("gui", ["light", "dark"], indirect=True)
def test_every_section(gui: Any, fx: FixtureHome, xdisplay: str) -> None:
    from tkinter import ttk

    app, root = gui, gui.root
    theme = app.theme
    assert ttk.Style(root).theme_use() == f"sun-valley-{theme}"
    # the plain Tk widgets follow the theme too
    assert app.exclusions.listbox.cget("background") == ("#292929" if theme == "dark" else "#ffffff")
    # warnings and hints keep their style's colour (the palette must not paint them like plain text)
    warns = [w for w in app.browsers.winfo_children()[0].winfo_children() if str(w.cget("style")) == "Warn.TLabel"]
    assert len(warns) == 3 and all(str(w.cget("foreground")) == "" for w in warns)
    assert ttk.Style(root).lookup("Warn.TLabel", "foreground") == ("#fbbf24" if theme == "dark" else "#b45309")

    # Cleaning: scan in the worker thread, results grouped by category with sizes
    app.select("Cleaning")
    app.cleaning.start_scan()
    assert app.cleaning.busy()
    pump(root, lambda: not app.cleaning.busy())
    tops = app.cleaning.tree.get_children()
    labels = [app.cleaning.tree.item(i, "text") for i in tops]
    assert labels == ["Temporary files", "Caches", "Custom paths"]
    for i in tops:
        app.cleaning.tree.item(i, open=True)
    size = app.cleaning.tree.item(tops[1], "values")[0]
    assert size.endswith(("KiB", "MiB"))
    assert "Found" in app.cleaning.status.get()
    assert str(app.cleaning.clean_btn.cget("state")) == "normal"
    # the chart: one bar per category, the longest for the most reclaimable space
    chart = app.cleaning.chart
    res = app.cleaning.preview
    assert [r[0] for r in chart.rows] == labels
    assert [r[1] for r in chart.rows] == [c.bytes for c in res.categories.values()]
    bars = [chart.coords(b) for b in chart.find_withtag("bar")]
    assert len(bars) == sum(1 for c in res.categories.values() if c.bytes)
    widths = [x1 - x0 for x0, _y0, x1, _y1 in bars]
    assert max(widths) > 100 and widths.index(max(widths)) == [r[1] for r in chart.rows].index(
        max(r[1] for r in chart.rows)
    )
    shot(root, xdisplay, f"{theme}-01-cleaning")

    # Browsers: opt-in privacy categories are off by default, warnings shown
    app.select("Browsers")
    assert app.browsers.vars["browsers"].get() and not app.browsers.vars["browsers.cookies"].get()
    app.browsers.vars["browsers.cookies"].set(True)
    app.browsers.start_scan()
    pump(root, lambda: not app.browsers.busy())
    tops = app.browsers.tree.get_children()
    assert [app.browsers.tree.item(i, "text") for i in tops] == ["Browser caches", "Browser cookies"]
    app.browsers.tree.item(tops[1], open=True)
    kids = [app.browsers.tree.item(k, "text") for k in app.browsers.tree.get_children(tops[1])]
    assert any(k.endswith("Default/Cookies") for k in kids)
    shot(root, xdisplay, f"{theme}-02-browsers")

    # Apps: scan, clean (confirmed), report window
    app.select("Apps")
    app.apps.start_scan()
    pump(root, lambda: not app.apps.busy())
    assert (fx.home / ".npm" / "_cacache" / "index-v5" / "aa" / "bb").exists()
    app.apps.clean()
    assert app.confirmations and app.confirmations[-1].startswith("Permanently delete")
    pump(root, lambda: not app.apps.busy())
    assert not (fx.home / ".npm" / "_cacache" / "index-v5" / "aa" / "bb").exists()
    assert (fx.home / "Documents" / "important.txt").exists()
    assert "Freed" in app.apps.status.get()
    # the summary after cleaning: freed, counts, what was left alone and why
    report = app.reports.reports[app.reports.tree.get_children()[0]]
    assert app.apps.summary.winfo_ismapped()
    assert app.apps.summary_title.cget("text") == f"Freed {human(report['total']['bytes_freed'])}"
    summary = app.apps.summary_text.get()
    assert f"{report['total']['deleted']:,} deleted" in summary and "errors" in summary
    assert [r[0] for r in app.apps.chart.rows] == ["Applications"]
    assert app.report_window is not None and app.report_window.winfo_exists()
    app.report_window.geometry("760x320+260+260")
    shot(root, xdisplay, f"{theme}-03-apps-report", whole_screen=True)
    app.report_window.destroy()
    shot(root, xdisplay, f"{theme}-03-apps-summary")

    # Startup: toggle an entry off and on
    app.select("Startup")
    app.startup_panel.refresh()
    tree = app.startup_panel.tree
    assert "xdg:system:tracker.desktop" in tree.get_children()
    tree.selection_set("xdg:system:tracker.desktop")
    app.startup_panel.toggle(False)
    assert tree.item("xdg:system:tracker.desktop", "values")[0] == "no"
    assert (fx.home / ".config" / "autostart" / "tracker.desktop").exists()
    tree.selection_set("systemd:user:backup.service")
    app.startup_panel.toggle(None)  # flips: backup was disabled
    assert tree.item("systemd:user:backup.service", "values")[0] == "yes"
    tree.selection_set("xdg:system:tracker.desktop")
    shot(root, xdisplay, f"{theme}-04-startup")

    # Exclusions: add through the entry box
    app.select("Exclusions")
    app.exclusions.entry.insert(0, "*.iso")
    app.exclusions.add()
    assert app.cleaner.storage.exclusions() == ["~/.cache/excluded_dir", "*.iso"]
    assert app.exclusions.listbox.get(0, "end") == ("~/.cache/excluded_dir", "*.iso")
    shot(root, xdisplay, f"{theme}-05-exclusions")

    # Reports: the run above is listed with details
    app.select("Reports")
    app.reports.refresh()
    rows = app.reports.tree.get_children()
    assert len(rows) == 1
    assert app.reports.tree.item(rows[0], "values")[0] == "apps"
    assert "Freed" in app.reports.text.get("1.0", "end")
    shot(root, xdisplay, f"{theme}-06-reports")


def test_scan_can_be_cancelled(gui: Any, xdisplay: str) -> None:
    app, root = gui, gui.root
    real_scan = app.cleaner.scan

    def slow_scan(names: list[str], **kw: Any) -> Any:
        kw["cancel"].wait(10)  # hold the worker until the user pressed Cancel
        return real_scan(names, **kw)

    app.cleaner.scan = slow_scan
    app.select("Cleaning")
    app.cleaning.start_scan()
    pump(root, lambda: str(app.cleaning.cancel_btn.cget("state")) == "normal")
    assert str(app.cleaning.scan_btn.cget("state")) == "disabled"
    app.cleaning.cancel()
    pump(root, lambda: not app.cleaning.busy())
    assert app.cleaning.preview is not None and app.cleaning.preview.cancelled
    assert app.cleaning.status.get().startswith("Cancelled")
    assert str(app.cleaning.clean_btn.cget("state")) == "disabled"  # nothing to clean from a cancelled scan


def test_clean_declined_deletes_nothing(gui: Any, fx: FixtureHome) -> None:
    app, root = gui, gui.root
    app.confirm = lambda _t, _m: False
    app.select("Apps")
    app.apps.start_scan()
    pump(root, lambda: not app.apps.busy())
    app.apps.clean()
    root.update()
    assert app.apps.status.get() == "Clean cancelled."
    assert (fx.home / ".npm" / "_cacache" / "index-v5" / "aa" / "bb").exists()


def test_theme_follows_the_system(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("tkinter")
    from cleaner import gui as gui_mod

    monkeypatch.setenv(gui_mod.THEME_ENV, "dark")
    assert gui_mod.system_theme() == "dark"
    monkeypatch.delenv(gui_mod.THEME_ENV)
    import darkdetect

    monkeypatch.setattr(darkdetect, "theme", lambda: "Dark")
    assert gui_mod.system_theme() == "dark"
    monkeypatch.setattr(darkdetect, "theme", lambda: None)  # unknown desktop
    assert gui_mod.system_theme() == "light"
