"""The Tk window in a real X server (Xvfb): drive each section, in English and Russian, light and dark, and save
screenshots to artifacts/cleaner/ ({light,dark}-*.png in English, ru-{light,dark}-*.png in Russian)."""

from __future__ import annotations

import functools
import gc
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cleaner_fixtures import FakeRunner, FixtureHome

from cleaner import i18n
from cleaner.safety import RunningChecker
from cleaner.service import Cleaner
from cleaner.startup.manager import StartupManager
from cleaner.storage import Storage
from cleaner.units import human

pytestmark = pytest.mark.gui
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "cleaner"

# What a person sees, written out in each language (not computed from the catalog, so a missing or wrong
# translation shows).
SEEN: dict[str, dict[str, Any]] = {
    "en": {
        "tabs": ["Cleaning", "Browsers", "Apps", "Startup", "Exclusions", "Reports"],
        "buttons": ["Scan", "Cancel", "Clean…"],
        "cleaning": ["Temporary files", "Caches", "Custom paths"],
        "browsers": ["Browser caches", "Browser cookies"],
        "apps": "Applications",
        "units": ("KiB", "MiB"),
        "found": "Found ",
        "confirm": "Permanently delete ",
        "freed": "Freed ",
        "deleted": "deleted: {n}",
        "errors": "errors: 0",
        "yes": "yes",
        "no": "no",
        "cancelled": "Cancelled",
        "declined": "Clean cancelled.",
    },
    "ru": {
        "tabs": ["Очистка", "Браузеры", "Программы", "Автозагрузка", "Исключения", "Отчёты"],
        "buttons": ["Анализ", "Отмена", "Очистить…"],
        "cleaning": ["Временные файлы", "Кэш", "Свои пути"],
        "browsers": ["Кэш браузеров", "Cookie браузеров"],
        "apps": "Программы",
        "units": ("КБ", "МБ"),
        "found": "Найден",
        "confirm": "Удалить навсегда ",
        "freed": "Освобождено ",
        "deleted": "удалено: {n}",
        "errors": "ошибок: 0",
        "yes": "да",
        "no": "нет",
        "cancelled": "Отменено",
        "declined": "Очистка отменена.",
    },
}


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
    assert_nothing_cut(root)
    return path


def assert_nothing_cut(root: Any) -> None:
    """Every text on screen has the room it needs: each shown button, label and check box is at least as wide
    as it asks to be, and each tree column as wide as its heading (a longer translation must not be cut)."""
    import tkinter as tk
    from tkinter import font as tkfont
    from tkinter import ttk

    heading, text = tkfont.nametofont("TkHeadingFont"), tkfont.nametofont("TkDefaultFont")
    cut = []
    pending: list[Any] = [root]
    while pending:
        w = pending.pop()
        pending.extend(w.winfo_children())
        if not w.winfo_ismapped():
            # packed into a shown frame, yet not shown: squeezed out for want of room
            if w.winfo_manager() in ("pack", "grid") and w.master.winfo_ismapped() and not isinstance(w, ttk.Scrollbar):
                shown = str(w.cget("text")) if "text" in w.keys() else str(w)  # noqa: SIM118 - Tk options, not a dict
                cut.append(f"{w.winfo_class()} {shown!r} squeezed out")
            continue
        if isinstance(w, ttk.Button | ttk.Label | ttk.Checkbutton):
            label = str(w.cget("text")) or (w.cget("textvariable") and w.getvar(str(w.cget("textvariable"))))
            if label and w.winfo_width() < w.winfo_reqwidth():
                cut.append(f"{label!r}: {w.winfo_width()} < {w.winfo_reqwidth()} px")
        elif isinstance(w, ttk.Treeview):
            columns = w.cget("columns")
            rows: list[str] = list(w.get_children())
            for row in rows:
                rows.extend(w.get_children(row))
            total = sum(int(w.column(c, "width")) for c in ("#0", *columns))
            if total > w.winfo_width():
                cut.append(f"tree columns {total} px wide in a tree of {w.winfo_width()} px (the last ones hidden)")
            for i, col in enumerate(("#0", *columns)):
                title = str(w.heading(col, "text"))
                width = int(w.column(col, "width"))
                if title and width < heading.measure(title) + 12:
                    cut.append(f"column {title!r}: {width} px")
                if col == "#0" or w.column(col, "stretch"):
                    continue  # a stretching column shows data (paths, commands) that may be longer than any window
                for row in rows:
                    cell = str(w.item(row, "values")[i - 1]) if w.item(row, "values") else ""
                    if cell and width < text.measure(cell) + 12:
                        cut.append(f"{cell!r} in column {title!r}: {width} px")
        elif isinstance(w, tk.Toplevel | tk.Tk):
            continue
    assert not cut, "texts cut off: " + "; ".join(cut)


def _wide(root: Any) -> bool:
    return bool(root.winfo_width() > 1000)


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
    theme, lang = getattr(request, "param", ("light", "en"))
    i18n.use(lang)  # as the CLI does before it opens the window

    def confirm(_title: str, message: str) -> bool:  # says yes, and remembers what it was asked
        confirmations.append(message)
        return True

    app = CleanerApp(root, cl, mgr, confirm=confirm, theme=theme)
    app.confirmations = confirmations  # type: ignore[attr-defined]
    root.geometry("1180x740+0+0")
    pump(root, functools.partial(_wide, root))
    try:
        yield app
    finally:
        root.destroy()
        del app, root
        # Collect this window's Tk variables now, in the main thread: if a later test's worker thread ran
        # the cyclic GC instead, their __del__ would call into a deleted Tcl interpreter from that thread.
        gc.collect()


@pytest.mark.parametrize(
    "gui", [("light", "en"), ("dark", "en"), ("light", "ru"), ("dark", "ru")], indirect=True, ids=lambda p: "-".join(p)
)
def test_every_section(gui: Any, fx: FixtureHome, xdisplay: str) -> None:
    from tkinter import ttk

    app, root = gui, gui.root
    theme, lang = app.theme, i18n.language()
    seen = SEEN[lang]
    name = theme if lang == "en" else f"ru-{theme}"  # screenshot names
    assert ttk.Style(root).theme_use() == f"sun-valley-{theme}"
    # the window speaks the language of the run: tabs, buttons
    assert [app.notebook.tab(i, "text") for i in range(len(app.SECTIONS))] == seen["tabs"]
    buttons = (app.cleaning.scan_btn, app.cleaning.cancel_btn, app.cleaning.clean_btn)
    assert [str(b.cget("text")) for b in buttons] == seen["buttons"]
    # the plain Tk widgets follow the theme too
    assert app.exclusions.listbox.cget("background") == ("#292929" if theme == "dark" else "#ffffff")
    # warnings and hints keep their style's colour (the palette must not paint them like plain text)
    warns = [w for w in app.browsers.column.inner.winfo_children() if str(w.cget("style")) == "Warn.TLabel"]
    assert len(warns) == 3 and all(str(w.cget("foreground")) == "" for w in warns)
    assert ttk.Style(root).lookup("Warn.TLabel", "foreground") == ("#fbbf24" if theme == "dark" else "#b45309")

    # Cleaning: scan in the worker thread, results grouped by category with sizes
    app.select("Cleaning")
    app.cleaning.start_scan()
    assert app.cleaning.busy()
    pump(root, lambda: not app.cleaning.busy())
    tops = app.cleaning.tree.get_children()
    labels = [app.cleaning.tree.item(i, "text") for i in tops]
    assert labels == seen["cleaning"]
    for i in tops:
        app.cleaning.tree.item(i, open=True)
    size = app.cleaning.tree.item(tops[1], "values")[0]
    assert size.endswith(seen["units"])
    assert app.cleaning.status.get().startswith(seen["found"])
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
    # the chart's labels fit left of the bars, its values right of them inside the chart
    bars_left = min(chart.coords(b)[0] for b in chart.find_withtag("bar"))
    assert all(chart.bbox(item)[2] < bars_left for item in chart.find_withtag("label"))
    assert all(chart.bbox(item)[2] <= chart.winfo_width() for item in chart.find_withtag("value"))
    shot(root, xdisplay, f"{name}-01-cleaning")

    # Browsers: opt-in privacy categories are off by default, warnings shown
    app.select("Browsers")
    assert app.browsers.vars["browsers"].get() and not app.browsers.vars["browsers.cookies"].get()
    app.browsers.vars["browsers.cookies"].set(True)
    app.browsers.start_scan()
    pump(root, lambda: not app.browsers.busy())
    tops = app.browsers.tree.get_children()
    assert [app.browsers.tree.item(i, "text") for i in tops] == seen["browsers"]
    app.browsers.tree.item(tops[1], open=True)
    kids = [app.browsers.tree.item(k, "text") for k in app.browsers.tree.get_children(tops[1])]
    assert any(k.endswith("Default/Cookies") for k in kids)
    shot(root, xdisplay, f"{name}-02-browsers")

    # Apps: scan, clean (confirmed), report window
    app.select("Apps")
    app.apps.start_scan()
    pump(root, lambda: not app.apps.busy())
    assert (fx.home / ".npm" / "_cacache" / "index-v5" / "aa" / "bb").exists()
    app.apps.clean()
    assert app.confirmations and app.confirmations[-1].startswith(seen["confirm"])
    pump(root, lambda: not app.apps.busy())
    assert not (fx.home / ".npm" / "_cacache" / "index-v5" / "aa" / "bb").exists()
    assert (fx.home / "Documents" / "important.txt").exists()
    assert app.apps.status.get().startswith(seen["freed"])
    # the summary after cleaning: freed, counts, what was left alone and why
    report = app.reports.reports[app.reports.tree.get_children()[0]]
    assert app.apps.summary.winfo_ismapped()
    assert app.apps.summary_title.cget("text") == seen["freed"] + human(report["total"]["bytes_freed"])
    summary = app.apps.summary_text.get()
    assert seen["deleted"].format(n=report["total"]["deleted"]) in summary and seen["errors"] in summary
    assert [r[0] for r in app.apps.chart.rows] == [seen["apps"]]
    assert app.report_window is not None and app.report_window.winfo_exists()
    app.report_window.geometry("760x320+260+260")
    shot(root, xdisplay, f"{name}-03-apps-report", whole_screen=True)
    app.report_window.destroy()
    shot(root, xdisplay, f"{name}-03-apps-summary")

    # Startup: toggle an entry off and on
    app.select("Startup")
    app.startup_panel.refresh()
    tree = app.startup_panel.tree
    assert "xdg:system:tracker.desktop" in tree.get_children()
    tree.selection_set("xdg:system:tracker.desktop")
    app.startup_panel.toggle(False)
    assert tree.item("xdg:system:tracker.desktop", "values")[0] == seen["no"]
    assert (fx.home / ".config" / "autostart" / "tracker.desktop").exists()
    tree.selection_set("systemd:user:backup.service")
    app.startup_panel.toggle(None)  # flips: backup was disabled
    assert tree.item("systemd:user:backup.service", "values")[0] == seen["yes"]
    tree.selection_set("xdg:system:tracker.desktop")
    shot(root, xdisplay, f"{name}-04-startup")

    # Exclusions: add through the entry box
    app.select("Exclusions")
    app.exclusions.entry.insert(0, "*.iso")
    app.exclusions.add()
    assert app.cleaner.storage.exclusions() == ["~/.cache/excluded_dir", "*.iso"]
    assert app.exclusions.listbox.get(0, "end") == ("~/.cache/excluded_dir", "*.iso")
    shot(root, xdisplay, f"{name}-05-exclusions")

    # Reports: the run above is listed with details
    app.select("Reports")
    app.reports.refresh()
    rows = app.reports.tree.get_children()
    assert len(rows) == 1
    assert app.reports.tree.item(rows[0], "values")[0] == seen["apps"]
    assert seen["freed"] in app.reports.text.get("1.0", "end")
    shot(root, xdisplay, f"{name}-06-reports")


@pytest.mark.parametrize("gui", [("light", "ru")], indirect=True, ids=["ru"])
def test_russian_confirm_dialog(gui: Any, xdisplay: str) -> None:
    """The real Yes/No dialog (Tk's own) asks in Russian, buttons included."""
    from cleaner import gui as gui_mod

    app, root = gui, gui.root
    app.select("Apps")
    app.apps.start_scan()
    pump(root, lambda: not app.apps.busy())
    asked: dict[str, Any] = {}

    def answer() -> None:
        if not root.tk.call("winfo", "exists", ".__tk__messagebox"):
            root.after(100, answer)
            return
        asked["yes"] = root.tk.eval(".__tk__messagebox.yes cget -text")
        asked["no"] = root.tk.eval(".__tk__messagebox.no cget -text")
        root.tk.eval(".__tk__messagebox.no invoke")

    def grab_then_answer() -> None:
        if root.tk.call("winfo", "exists", ".__tk__messagebox"):
            from PIL import ImageGrab

            root.tk.call("wm", "geometry", ".__tk__messagebox", "+380+300")
            root.update()
            time.sleep(0.3)
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            ImageGrab.grab(xdisplay=xdisplay).save(ARTIFACTS / "ru-light-07-confirm.png")
        answer()

    app.confirm = gui_mod._ask  # the real dialog
    root.after(300, grab_then_answer)
    app.apps.clean()  # returns when the dialog is answered ("no": nothing is deleted)
    assert asked == {"yes": "Да", "no": "Нет"}
    assert app.apps.status.get() == "Очистка отменена."


@pytest.mark.parametrize("gui", [("light", "en"), ("light", "ru")], indirect=True, ids=["en", "ru"])
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
    assert app.cleaning.status.get().startswith(SEEN[i18n.language()]["cancelled"])
    assert str(app.cleaning.clean_btn.cget("state")) == "disabled"  # nothing to clean from a cancelled scan


@pytest.mark.parametrize("gui", [("light", "en"), ("light", "ru")], indirect=True, ids=["en", "ru"])
def test_clean_declined_deletes_nothing(gui: Any, fx: FixtureHome) -> None:
    app, root = gui, gui.root
    app.confirm = lambda _t, _m: False
    app.select("Apps")
    app.apps.start_scan()
    pump(root, lambda: not app.apps.busy())
    app.apps.clean()
    root.update()
    assert app.apps.status.get() == SEEN[i18n.language()]["declined"]
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


@pytest.mark.parametrize("gui", [("light", "ru")], indirect=True, ids=["ru"])
def test_smallest_window_in_russian(gui: Any, xdisplay: str) -> None:
    """At the window's minimum size the longer Russian texts still fit on every tab."""
    app, root = gui, gui.root
    width, height = root.minsize()
    root.geometry(f"{width}x{height}+0+0")
    pump(root, lambda: root.winfo_width() == width)
    app.cleaning.start_scan()
    pump(root, lambda: not app.cleaning.busy())
    for i, section in enumerate(app.SECTIONS):
        app.select(section)
        shot(root, xdisplay, f"ru-light-08-smallest-{i + 1}-{section.lower()}")
