"""Tk desktop window of the Cleaner (the only module that imports tkinter).

The look is Sun Valley (sv-ttk): a maintained ttk theme in pure Tcl, light and dark, that PyInstaller
bundles through its standard hook; the light/dark choice follows the system (darkdetect).

The window speaks the language of the run (`i18n.use`, chosen by the CLI from --lang or the environment):
every text is said when its widget is made, so `_`/`N_`/`C_` here return the text in that language (see
cleaner/i18n.py); texts from the engine (category labels, reasons) are `Msg`s, said with `say`. Widths that
hold a text (columns, the chart's label column) are measured from the text, so longer Russian fits too.
"""

from __future__ import annotations

import contextlib
import os
import queue
import sys
import threading
import tkinter as tk
from collections import Counter
from collections.abc import Callable, Iterable
from tkinter import font as tkfont
from tkinter import messagebox, ttk
from typing import Any

import sv_ttk

from cleaner import __version__, i18n
from cleaner.i18n import ctext as C_
from cleaner.i18n import ntext as N_
from cleaner.i18n import say
from cleaner.i18n import text as _
from cleaner.rules import Category
from cleaner.scan import KIND_DIR, KIND_LINK, Progress, ScanResult
from cleaner.service import Cleaner
from cleaner.startup.base import StartupEntry, StartupError
from cleaner.startup.manager import StartupManager
from cleaner.units import human

ITEMS_SHOWN = 200  # per category in the result tree; totals always cover everything
POLL_MS = 50
LEFT_WIDTH = 310  # the category column of the cleaning tabs
THEME_POLL_MS = 3000  # how often the window re-reads the system's light/dark setting
THEME_ENV = "TTFD_CLEANER_THEME"  # 'light' or 'dark' overrides the system setting

# Colours the theme does not give: text widgets, hints, the chart. Per sv-ttk theme.
PALETTE: dict[str, dict[str, str]] = {
    "light": {
        "bg": "#fafafa",
        "fg": "#1c1c1c",
        "field": "#ffffff",
        "hint": "#5f6368",
        "warn": "#b45309",
        "muted": "#8a8a8a",
        "track": "#e8e8e8",
        "good": "#15803d",
    },
    "dark": {
        "bg": "#1c1c1c",
        "fg": "#fafafa",
        "field": "#292929",
        "hint": "#a8a8a8",
        "warn": "#fbbf24",
        "muted": "#7a7a7a",
        "track": "#333333",
        "good": "#4ade80",
    },
}
CHART_COLORS = ("#2f7bf5", "#16a34a", "#e08a00", "#d6336c", "#8b5cf6", "#0ea5b7")


def system_theme() -> str:
    """'dark' or 'light': THEME_ENV if set, else the desktop's setting (light when unknown)."""
    forced = os.environ.get(THEME_ENV, "").strip().lower()
    if forced in PALETTE:
        return forced
    try:
        import darkdetect

        found = darkdetect.theme()
    except Exception:  # no detector for this desktop, or its helper failed: stay light
        found = None
    return "dark" if str(found).lower() == "dark" else "light"


Confirm = Callable[[str, str], bool]


def _ask(title: str, message: str) -> bool:
    return bool(messagebox.askyesno(title, message))


def text_width(texts: Iterable[str], font: str = "TkDefaultFont") -> int:
    """Pixels the widest of `texts` takes in a named Tk font."""
    f = tkfont.nametofont(font)
    return max((f.measure(t) for t in texts), default=0)


def fit_values(tree: ttk.Treeview) -> None:
    """Widen each fixed (non-stretching) column to the widest text it now shows. Stretching columns start
    narrow and take the room that is left: Tk only stretches columns whose widths fit in the tree."""
    f = tkfont.nametofont("TkDefaultFont")
    rows = list(tree.get_children())
    for row in rows:
        rows.extend(tree.get_children(row))
    for i, col in enumerate(("#0", *tree.cget("columns"))):
        if tree.column(col, "stretch"):
            continue
        texts = [
            str(tree.item(r, "text")) if col == "#0" else str((tree.item(r, "values") or ("",) * i)[i - 1])
            for r in rows
        ]
        need = max((f.measure(t) for t in texts), default=0) + (40 if col == "#0" else 20)
        if need > int(tree.column(col, "width")):
            tree.column(col, width=need)


def wrapping(label: ttk.Label) -> ttk.Label:
    """Make a label (packed to fill its width) wrap its text at whatever width it gets: a longer translation
    or a smaller window takes more lines instead of running off the edge."""
    label.bind("<Configure>", lambda e: label.configure(wraplength=max(e.width, 100)))
    return label


def fit_columns(
    tree: ttk.Treeview, headings: dict[str, tuple[str, int]], values: dict[str, Iterable[str]] | None = None
) -> None:
    """Head each column with its text, at least as wide as the text and as the words it may show (`values`:
    yes/no, a scope), so a longer translation is never cut."""
    for col, (title, width) in headings.items():
        tree.heading(col, text=title)
        need = max(text_width([title], "TkHeadingFont"), text_width((values or {}).get(col, ())))
        tree.column(col, width=max(width, need + 20))


class SpaceChart(tk.Canvas):
    """Horizontal bars: reclaimable space per category after a scan (or freed space after cleaning)."""

    ROW = 26
    TOP = 30

    def __init__(self, master: tk.Misc, app: CleanerApp) -> None:
        super().__init__(master, height=self.TOP, highlightthickness=0, borderwidth=0)
        self.app = app
        self.title = ""
        self.rows: list[tuple[str, int, str]] = []  # (label, bytes, text after the bar)
        self.bind("<Configure>", lambda _e: self.redraw())

    def show(self, title: str, rows: list[tuple[str, int, str]]) -> None:
        """Draw ``rows``; the longest bar is the largest value."""
        self.title = title
        self.rows = rows
        self.configure(height=self.TOP + self.ROW * len(rows) + 6)
        self.redraw()

    def redraw(self) -> None:
        """Paint with the current theme's colours (also on resize and theme change)."""
        pal = PALETTE[self.app.theme]
        self.delete("all")
        self.configure(background=pal["bg"])
        width = max(self.winfo_width(), 300)
        self.create_text(0, 12, text=self.title, anchor="w", fill=pal["fg"], font=("TkDefaultFont", 10, "bold"))
        # The label and value columns take what their texts need (within reason), the bars the rest.
        label_w = min(max(190, text_width(r[0] for r in self.rows) + 16), width // 3)
        value_w = max(150, text_width(r[2] for r in self.rows) + 16)
        bar_w = max(40, width - label_w - value_w - 16)
        top = max((b for _l, b, _t in self.rows), default=0) or 1
        for i, (label, nbytes, text) in enumerate(self.rows):
            y = self.TOP + i * self.ROW
            color = CHART_COLORS[i % len(CHART_COLORS)]
            self.create_text(0, y + 9, text=label, anchor="w", fill=pal["fg"], tags=("label",))
            x0 = label_w
            self.create_rectangle(x0, y + 2, x0 + bar_w, y + 16, fill=pal["track"], outline="")
            filled = round(bar_w * nbytes / top)
            if nbytes and filled < 3:
                filled = 3  # a non-empty category stays visible next to a huge one
            if filled:
                self.create_rectangle(x0, y + 2, x0 + filled, y + 16, fill=color, outline="", tags=("bar",))
            self.create_text(x0 + bar_w + 10, y + 9, text=text, anchor="w", fill=pal["hint"], tags=("value",))


class ScrolledColumn(ttk.Frame):
    """A fixed-width column whose content (`inner`) scrolls vertically when it is taller than the column; the
    scroll bar shows only then."""

    def __init__(self, master: tk.Misc, width: int) -> None:
        super().__init__(master)
        self.canvas = tk.Canvas(self, highlightthickness=0, borderwidth=0, width=width, height=1)
        self.bar = ttk.Scrollbar(self, orient="vertical", command=self.canvas.yview)
        self.inner = ttk.Frame(self.canvas)
        item = self.canvas.create_window(0, 0, window=self.inner, anchor="nw")
        self.canvas.configure(yscrollcommand=self._scrolled)
        # The column asks for the height of its content; given less, it scrolls.
        self.inner.bind(
            "<Configure>", lambda e: self.canvas.configure(scrollregion=(0, 0, e.width, e.height), height=e.height)
        )
        self.canvas.bind("<Configure>", lambda e: self.canvas.itemconfigure(item, width=e.width))
        self.canvas.pack(side="left", fill="both", expand=True)
        # The wheel scrolls the column while the pointer is over it (X11 sends buttons 4/5, others MouseWheel).
        for seq in ("<Button-4>", "<Button-5>", "<MouseWheel>"):
            self.bind_all(seq, self._wheel, add="+")

    def _scrolled(self, first: float, last: float) -> None:  # Tk passes them as strings
        self.bar.set(first, last)
        if float(first) <= 0.0 and float(last) >= 1.0:
            self.bar.pack_forget()
        elif not self.bar.winfo_ismapped():
            self.bar.pack(side="right", fill="y", before=self.canvas)

    def _wheel(self, event: tk.Event[Any]) -> None:
        over = self.winfo_containing(event.x_root, event.y_root)
        if over is None or not str(over).startswith(str(self)) or not self.bar.winfo_ismapped():
            return
        up = event.num == 4 or (event.num not in (4, 5) and event.delta > 0)
        self.canvas.yview_scroll(-1 if up else 1, "units")


class CleaningPanel(ttk.Frame):
    """Category checkboxes, scan/cancel/clean, a progress bar and the result tree."""

    def __init__(self, master: tk.Misc, app: CleanerApp, categories: list[Category], intro: str) -> None:
        super().__init__(master, padding=10)
        self.app = app
        self.vars: dict[str, tk.BooleanVar] = {}
        self.preview: ScanResult | None = None
        self.cancel_event: threading.Event | None = None
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.last_report: dict[str, Any] | None = None

        # A fixed-width column: its wrapped texts and check boxes never push each other out of view. The
        # categories scroll when they are taller than the window (a small window, a long translation); the
        # options under them stay in sight.
        column = ttk.Frame(self, width=LEFT_WIDTH)
        column.pack(side="left", fill="y", padx=(0, 10))
        column.grid_propagate(False)
        column.columnconfigure(0, weight=1)
        # Room to spare goes below the options (row 2); room lacking is taken from the categories (row 0).
        column.rowconfigure(0, weight=1)
        column.rowconfigure(2, weight=1000)
        self.column = ScrolledColumn(column, LEFT_WIDTH)
        self.column.grid(row=0, column=0, sticky="nsew")
        options = ttk.Frame(column)
        options.grid(row=1, column=0, sticky="ew")
        left = self.column.inner
        wrap = LEFT_WIDTH - 36  # leaves room for the scroll bar when it shows
        ttk.Label(left, text=intro, wraplength=wrap, justify="left").pack(anchor="w", pady=(0, 8))
        for cat in categories:
            var = tk.BooleanVar(value=not cat.opt_in)
            self.vars[cat.name] = var
            ttk.Checkbutton(left, text=say(cat.label), variable=var, style="Wrap.TCheckbutton").pack(anchor="w")
            ttk.Label(left, text=say(cat.description), wraplength=wrap - 22, style="Hint.TLabel", justify="left").pack(
                anchor="w", padx=(22, 0), pady=(0, 4)
            )
            if cat.warning:
                ttk.Label(
                    left, text="⚠ " + say(cat.warning), wraplength=wrap - 22, style="Warn.TLabel", justify="left"
                ).pack(anchor="w", padx=(22, 0), pady=(0, 6))
        ttk.Separator(options).pack(fill="x", pady=8)
        self.trash = tk.BooleanVar(value=False)
        self.force = tk.BooleanVar(value=False)
        for label, var in (
            (_("Send to the trash instead of deleting"), self.trash),
            (_("Clean even if the app is running"), self.force),
        ):
            ttk.Checkbutton(options, text=label, variable=var, style="Wrap.TCheckbutton").pack(anchor="w")

        right = ttk.Frame(self)
        right.pack(side="left", fill="both", expand=True)
        bar = ttk.Frame(right)
        bar.pack(fill="x")
        self.scan_btn = ttk.Button(bar, text=C_("button", "Scan"), command=self.start_scan, style="Accent.TButton")
        self.scan_btn.pack(side="left")
        self.cancel_btn = ttk.Button(bar, text=C_("button", "Cancel"), command=self.cancel, state="disabled")
        self.cancel_btn.pack(side="left", padx=6)
        self.clean_btn = ttk.Button(bar, text=C_("button", "Clean…"), command=self.clean, state="disabled")
        self.clean_btn.pack(side="left")
        self.status = tk.StringVar(value=_("Choose categories and press Scan."))
        # The status wraps within the room the buttons leave rather than running off the window's edge.
        wrapping(ttk.Label(bar, textvariable=self.status, justify="left")).pack(
            side="left", padx=12, fill="x", expand=True
        )
        self.progress = ttk.Progressbar(right, mode="determinate", maximum=1.0)
        self.progress.pack(fill="x", pady=6)
        self.chart = SpaceChart(right, app)
        self.chart.pack(fill="x", pady=(2, 6))
        # After cleaning: what was freed, and what was left alone and why.
        self.summary = ttk.Frame(right)
        self.summary_title = ttk.Label(self.summary, text="", style="Big.TLabel")
        self.summary_title.pack(anchor="w")
        self.summary_text = tk.StringVar(value="")
        wrapping(ttk.Label(self.summary, textvariable=self.summary_text, justify="left")).pack(
            anchor="w", fill="x", pady=(2, 6)
        )

        cols = ("size", "items")
        self.tree = ttk.Treeview(right, columns=cols, show="tree headings", selectmode="browse")
        fit_columns(
            self.tree,
            {
                "#0": (_("Category / path"), 200),
                "size": (C_("column", "Size"), 100),
                "items": (C_("column", "Items"), 90),
            },
        )
        self.tree.column("#0", stretch=True)
        self.tree.column("size", anchor="e", stretch=False)
        self.tree.column("items", anchor="e", stretch=False)
        self.tree.tag_configure("category", font=("TkDefaultFont", 10, "bold"))
        sb = ttk.Scrollbar(right, orient="vertical", command=self.tree.yview)
        self.tree.configure(yscrollcommand=sb.set)
        self.tree.pack(side="left", fill="both", expand=True)
        sb.pack(side="left", fill="y")

    # worker plumbing ---------------------------------------------------------------------------------

    def selected(self) -> list[str]:
        """Names of the ticked categories."""
        return [n for n, v in self.vars.items() if v.get()]

    def busy(self) -> bool:
        """True while a scan or clean runs."""
        return self.cancel_event is not None

    def _set_busy(self, busy: bool) -> None:
        self.scan_btn.configure(state="disabled" if busy else "normal")
        self.cancel_btn.configure(state="normal" if busy else "disabled")
        can_clean = not busy and self.preview is not None and self.preview.total_items > 0
        self.clean_btn.configure(state="normal" if can_clean else "disabled")

    def start_scan(self) -> None:
        """Run a scan in a worker thread."""
        names = self.selected()
        if not names or self.busy():
            if not names:
                self.status.set(_("Nothing selected."))
            return
        self.preview = None
        self.summary.pack_forget()
        self.cancel_event = threading.Event()
        self._set_busy(True)
        self.progress.configure(value=0)
        self.status.set(_("Scanning…"))
        cancel = self.cancel_event
        force = self.force.get()

        def work() -> None:
            try:
                res = self.app.cleaner.scan(
                    names, force=force, progress=lambda p: self.events.put(("progress", p)), cancel=cancel
                )
                self.events.put(("scanned", res))
            except Exception as exc:  # reported in the window instead of dying silently in the thread
                self.events.put(("error", exc))

        threading.Thread(target=work, daemon=True, name="cleaner-scan").start()
        self.after(POLL_MS, self._poll)

    def cancel(self) -> None:
        """Ask the running worker to stop."""
        if self.cancel_event is not None:
            self.cancel_event.set()
            self.status.set(_("Cancelling…"))

    def clean(self) -> None:
        """Confirm, then apply the preview in a worker thread."""
        res = self.preview
        if res is None or self.busy():
            return
        n, size = res.total_items, human(res.total_bytes)
        if self.trash.get():
            msg = N_("Move {n} item ({size}) to the trash?", "Move {n} items ({size}) to the trash?", n, size=size)
        else:
            msg = N_("Permanently delete {n} item ({size})?", "Permanently delete {n} items ({size})?", n, size=size)
        if not self.app.confirm(C_("dialog title", "Clean"), msg):
            self.status.set(_("Clean cancelled."))
            return
        self.cancel_event = threading.Event()
        self._set_busy(True)
        self.status.set(_("Cleaning…"))
        cancel = self.cancel_event
        trash = self.trash.get()

        def work() -> None:
            try:
                report, _path = self.app.cleaner.apply(
                    res, trash=trash, progress=lambda d, t: self.events.put(("applying", (d, t))), cancel=cancel
                )
                self.events.put(("applied", report))
            except Exception as exc:  # shown to the user, see start_scan
                self.events.put(("error", exc))

        threading.Thread(target=work, daemon=True, name="cleaner-apply").start()
        self.after(POLL_MS, self._poll)

    def _poll(self) -> None:
        finished = False
        while True:
            try:
                kind, payload = self.events.get_nowait()
            except queue.Empty:
                break
            if kind == "progress":
                p: Progress = payload
                self.progress.configure(value=p.rules_done / p.rules_total if p.rules_total else 0)
                self.status.set(
                    N_(
                        "Scanning {category}: {n} item, {size}",
                        "Scanning {category}: {n} items, {size}",
                        p.files,
                        category=self.app.category_label(p.category),
                        size=human(p.bytes),
                    )
                )
            elif kind == "applying":
                done, total = payload
                self.progress.configure(value=done / total if total else 1)
            elif kind == "scanned":
                self.preview = payload
                finished = True
                self._show(payload)
            elif kind == "applied":
                finished = True
                self.preview = None
                self.last_report = payload
                self._after_apply(payload)
            elif kind == "error":
                finished = True
                self.status.set(_("Error: {error}", error=say(i18n.reason(payload))))
        if finished:
            self.cancel_event = None
            self._set_busy(False)
        else:
            self.after(POLL_MS, self._poll)

    # results -----------------------------------------------------------------------------------------

    def _show(self, res: ScanResult) -> None:
        self.tree.delete(*self.tree.get_children())
        self.progress.configure(value=1.0)
        kinds = {KIND_DIR: C_("entry kind", "folder"), KIND_LINK: C_("entry kind", "link")}
        for cat in res.categories.values():
            node = self.tree.insert(
                "",
                "end",
                text=say(cat.label),
                values=(human(cat.bytes), i18n.number(cat.files + cat.dirs)),
                open=len(res.categories) == 1,
                tags=("category",),
            )
            for why in cat.refused:
                self.tree.insert(
                    node, "end", text=_("Skipped: {reason}", reason=say(why)), values=("", ""), tags=("refused",)
                )
            entries = sorted(cat.iter_entries(), key=lambda e: e[1], reverse=True)
            for e in entries[:ITEMS_SHOWN]:
                shown = self.app.short_path(e[0])
                label = f"{shown}  ({kinds[e[2]]})" if e[2] in kinds else shown
                self.tree.insert(node, "end", text=label, values=(human(e[1]), ""))
            if len(entries) > ITEMS_SHOWN:
                more = len(entries) - ITEMS_SHOWN
                self.tree.insert(node, "end", text=N_("… and {n} more", "… and {n} more", more), values=("", ""))
        n, size, took = res.total_items, human(res.total_bytes), i18n.seconds(res.duration_s)
        if res.cancelled:
            self.status.set(
                N_(
                    "Cancelled — partial result: {n} item, {size} ({seconds})",
                    "Cancelled — partial result: {n} items, {size} ({seconds})",
                    n,
                    size=size,
                    seconds=took,
                )
            )
        else:
            self.status.set(
                N_(
                    "Found {n} item, {size} ({seconds})",
                    "Found {n} items, {size} ({seconds})",
                    n,
                    size=size,
                    seconds=took,
                )
            )
        rows = []
        for cat in res.categories.values():
            text = f"{human(cat.bytes)}  ·  " + N_("{n} item", "{n} items", cat.files + cat.dirs)
            if cat.refused:
                text += "  ·  " + C_("chart", "refused")
            rows.append((say(cat.label), cat.bytes, text))
        self.chart.show(_("Reclaimable space per category"), rows)
        fit_values(self.tree)

    def _after_apply(self, report: dict[str, Any]) -> None:
        t = report["total"]
        self.tree.delete(*self.tree.get_children())
        freed = human(t["bytes_freed"])
        self.status.set(
            N_("Freed {size}: {n} item deleted", "Freed {size}: {n} items deleted", t["deleted"], size=freed)
            + ", "
            + N_("{n} error", "{n} errors", t["errors"])
        )
        label = self.app.category_label
        self.chart.show(
            _("Freed per category"),
            [
                (label(c["name"]), c["bytes_freed"], _("{size} freed", size=human(c["bytes_freed"])))
                for c in report["categories"]
            ],
        )
        self.summary_title.configure(text=_("Freed {size}", size=freed))
        self.summary_text.set("\n".join(summary_lines(report, label)))
        self.summary.pack(fill="x", before=self.chart)
        for c in report["categories"]:
            node = self.tree.insert(
                "",
                "end",
                text=label(c["name"]),
                values=(human(c["bytes_freed"]), i18n.number(c["deleted_files"] + c["deleted_dirs"])),
                tags=("category",),
            )
            if c["skipped"] or c["errors"]:
                counts = _("skipped: {skipped}, errors: {errors}", skipped=c["skipped"], errors=c["errors"])
                self.tree.insert(node, "end", text=counts, values=("", ""))
        if report["skipped"]:
            node = self.tree.insert("", "end", text=_("Left alone"), values=("", i18n.number(t["skipped"])), open=True)
            for s in report["skipped"][:ITEMS_SHOWN]:
                shown = f"{self.app.short_path(s['path'])}: {say(s['reason'])}"
                self.tree.insert(node, "end", text=shown, values=("", ""))
        fit_values(self.tree)
        self.app.reports.refresh()
        self.app.show_report(report)


def summary_lines(report: dict[str, Any], label: Callable[[str], str] = str) -> list[str]:
    """The after-cleaning summary: counts, then what was skipped and why (grouped), then errors."""
    t = report["total"]
    parts = [_("deleted: {n}", n=t["deleted"])]
    if t.get("edited"):
        parts.append(_("changed in place: {n}", n=t["edited"]))
    parts += [
        _("skipped: {n}", n=t["skipped"]),
        _("errors: {n}", n=t["errors"]),
        i18n.seconds(report["duration_s"]),
    ]
    lines = ["  ·  ".join(parts)]
    reasons = Counter(say(s["reason"]) for s in report["skipped"])
    if reasons:
        grouped = "; ".join(f"{why} ({i18n.number(n)})" for why, n in reasons.most_common())
        lines.append(_("Skipped: {reasons}", reasons=grouped))
    for name, why in report.get("refused", {}).items():
        lines.append(
            _("Not cleaned ({category}): {reasons}", category=label(name), reasons="; ".join(say(w) for w in why))
        )
    errors = Counter(say(e["error"]) for e in report["errors"])
    if errors:
        grouped = "; ".join(f"{why} ({i18n.number(n)})" for why, n in errors.most_common())
        lines.append(_("Errors: {reasons}", reasons=grouped))
    return lines


class StartupPanel(ttk.Frame):
    """Startup entries with enable/disable."""

    def __init__(self, master: tk.Misc, app: CleanerApp) -> None:
        super().__init__(master, padding=10)
        self.app = app
        self.entries: dict[str, StartupEntry] = {}
        # What the filter shows, and the category it stands for.
        self.filters = {
            C_("startup filter", "all"): "all",
            C_("startup filter", "at logon"): "logon",
            C_("startup filter", "services"): "services",
            C_("startup filter", "scheduled"): "scheduled",
        }
        self.scopes = {
            "user": C_("startup scope", "user"),
            "system": C_("startup scope", "system"),
            "daemon": C_("startup scope", "system"),
            "common": C_("startup scope", "all users"),
            "hkcu": C_("startup scope", "user"),
            "hklm": C_("startup scope", "all users"),
        }
        bar = ttk.Frame(self)
        bar.pack(fill="x")
        ttk.Label(bar, text=_("Show:")).pack(side="left")
        self.filter = tk.StringVar(value=next(iter(self.filters)))
        combo = ttk.Combobox(
            bar,
            textvariable=self.filter,
            values=list(self.filters),
            width=max(12, *(len(f) + 2 for f in self.filters)),
            state="readonly",
        )
        combo.pack(side="left", padx=6)
        combo.bind("<<ComboboxSelected>>", lambda _e: self.refresh())
        ttk.Button(bar, text=C_("button", "Refresh"), command=self.refresh).pack(side="left")
        ttk.Button(bar, text=C_("button", "Enable"), command=lambda: self.toggle(True)).pack(side="left", padx=(18, 4))
        ttk.Button(bar, text=C_("button", "Disable"), command=lambda: self.toggle(False)).pack(side="left")
        self.status = tk.StringVar(value="")
        ttk.Label(bar, textvariable=self.status).pack(side="left", padx=12)
        cols = ("enabled", "source", "scope", "command", "description")
        self.tree = ttk.Treeview(self, columns=cols, show="tree headings", selectmode="browse")
        self.yes_no = (C_("entry enabled", "yes"), C_("entry enabled", "no"))
        fit_columns(
            self.tree,
            {
                "#0": (C_("column", "Name"), 150),
                "enabled": (C_("column", "Enabled"), 80),
                "source": (C_("column", "Source"), 80),
                "scope": (C_("column", "Scope"), 90),
                "command": (C_("column", "Command"), 200),
                "description": (C_("column", "Description"), 120),
            },
            {"enabled": self.yes_no},
        )
        for c in cols:
            self.tree.column(c, stretch=c in ("command", "description"))
        self.tree.column("#0", stretch=True)
        self.tree.pack(fill="both", expand=True, pady=(8, 0))
        self.tree.bind("<Double-1>", lambda _e: self.toggle(None))
        self.notes = tk.StringVar(value="")
        wrapping(ttk.Label(self, textvariable=self.notes, style="Hint.TLabel", justify="left")).pack(
            anchor="w", fill="x", pady=(6, 0)
        )

    @property
    def category(self) -> str:
        """The startup category the filter shows (logon, services, scheduled or all)."""
        return self.filters.get(self.filter.get(), "all")

    def refresh(self) -> None:
        """Reload entries from every source."""
        sel = self.tree.selection()
        self.tree.delete(*self.tree.get_children())
        try:
            items = self.app.startup.entries(self.category)
        except StartupError as exc:
            self.status.set(say(i18n.reason(exc)))
            return
        self.entries = {e.id: e for e in items}
        yes, no = self.yes_no
        for e in items:
            self.tree.insert(
                "",
                "end",
                iid=e.id,
                text=e.name,
                values=(
                    yes if e.enabled else no,
                    e.source,
                    self.scopes.get(e.scope, e.scope),
                    e.command,
                    e.description,
                ),
                tags=() if e.enabled else ("disabled",),
            )
        if sel and self.tree.exists(sel[0]):
            self.tree.selection_set(sel[0])
        fit_values(self.tree)
        self.notes.set("  ".join(say(n) for n in self.app.startup.notes()))
        self.status.set(N_("{n} entry", "{n} entries", len(items)))

    def toggle(self, enable: bool | None) -> None:
        """Enable/disable the selected entry (None flips it)."""
        sel = self.tree.selection()
        if not sel:
            self.status.set(_("Select an entry first."))
            return
        entry = self.entries[sel[0]]
        target = (not entry.enabled) if enable is None else enable
        try:
            rec = self.app.startup.set_enabled(entry.id, target)
        except (StartupError, OSError) as exc:
            self.status.set(_("Error: {error}", error=say(i18n.reason(exc))))
            return
        self.refresh()
        if rec["enabled"]:
            done = _("{name} will start at login", name=entry.name)
        else:
            done = _("{name} will no longer start at login", name=entry.name)
        self.status.set(done + ("" if rec["changed"] else " " + _("(unchanged)")))


class ExclusionsPanel(ttk.Frame):
    """Edit exclusions (never cleaned) and custom paths (cleaned by 'custom')."""

    def __init__(self, master: tk.Misc, app: CleanerApp) -> None:
        super().__init__(master, padding=10)
        self.app = app
        intro = _(
            "Exclusions win over every rule. Use a path (its whole subtree is kept) or a glob "
            "such as *.iso or ~/.cache/important*."
        )
        wrapping(ttk.Label(self, text=intro, justify="left")).pack(anchor="w", fill="x")
        row = ttk.Frame(self)
        row.pack(fill="x", pady=6)
        self.entry = ttk.Entry(row, width=60)
        self.entry.pack(side="left")
        ttk.Button(row, text=C_("button", "Add"), command=self.add).pack(side="left", padx=6)
        ttk.Button(row, text=C_("button", "Remove selected"), command=self.remove).pack(side="left")
        self.listbox = tk.Listbox(
            self, height=12, activestyle="none", font=("TkFixedFont", 11), borderwidth=8, relief="flat"
        )
        self.listbox.pack(fill="both", expand=True)
        self.status = tk.StringVar(value="")
        ttk.Label(self, textvariable=self.status).pack(anchor="w", pady=(6, 0))

    def refresh(self) -> None:
        """Reload the list from storage."""
        self.listbox.delete(0, "end")
        for x in self.app.cleaner.storage.exclusions():
            self.listbox.insert("end", x)

    def add(self) -> None:
        """Add the typed pattern."""
        pat = self.entry.get().strip()
        if not pat:
            self.status.set(_("Type a path or glob first."))
            return
        added = self.app.cleaner.storage.add_exclusion(pat)
        self.entry.delete(0, "end")
        self.refresh()
        self.status.set(
            _("Added {pattern}", pattern=pat) if added else _("{pattern} was already excluded", pattern=pat)
        )

    def remove(self) -> None:
        """Remove the selected pattern."""
        sel = self.listbox.curselection()  # type: ignore[no-untyped-call]
        if not sel:
            self.status.set(_("Select an exclusion first."))
            return
        pat = self.listbox.get(sel[0])
        self.app.cleaner.storage.remove_exclusion(pat)
        self.refresh()
        self.status.set(_("Removed {pattern}", pattern=pat))


class ReportsPanel(ttk.Frame):
    """History of cleaning runs with details of the selected one."""

    def __init__(self, master: tk.Misc, app: CleanerApp) -> None:
        super().__init__(master, padding=10)
        self.app = app
        self.reports: dict[str, dict[str, Any]] = {}
        cols = ("categories", "freed", "deleted", "skipped", "errors", "duration")
        self.tree = ttk.Treeview(self, columns=cols, show="tree headings", height=10, selectmode="browse")
        fit_columns(
            self.tree,
            {
                "#0": (C_("column", "Started"), 150),
                "categories": (C_("column", "Categories"), 120),
                "freed": (C_("column", "Freed"), 100),
                "deleted": (C_("column", "Deleted"), 80),
                "skipped": (C_("column", "Skipped"), 80),
                "errors": (C_("column", "Errors"), 70),
                "duration": (C_("column", "Duration"), 90),
            },
        )
        for c in cols:
            self.tree.column(c, anchor="w" if c == "categories" else "e", stretch=c == "categories")
        self.tree.column("#0", stretch=False)
        self.tree.pack(fill="x")
        self.tree.bind("<<TreeviewSelect>>", lambda _e: self._details())
        self.text = tk.Text(self, height=14, wrap="none", font=("TkFixedFont", 10), relief="flat", padx=8, pady=8)
        self.text.pack(fill="both", expand=True, pady=(8, 0))

    def refresh(self) -> None:
        """Reload the history."""
        self.tree.delete(*self.tree.get_children())
        self.reports = {}
        for r in self.app.cleaner.storage.reports():
            t = r.get("total", {})
            cats = ", ".join(self.app.category_label(c["name"]) for c in r.get("categories", []))
            self.reports[r["id"]] = r
            started = i18n.parse_moment(r.get("started"))
            self.tree.insert(
                "",
                "end",
                iid=r["id"],
                text=i18n.moment(started) if started else str(r.get("started", "")),
                values=(
                    cats,
                    human(t.get("bytes_freed", 0)),
                    i18n.number(t.get("deleted", 0)),
                    i18n.number(t.get("skipped", 0)),
                    i18n.number(t.get("errors", 0)),
                    i18n.seconds(r.get("duration_s", 0)),
                ),
            )
        fit_values(self.tree)
        kids = self.tree.get_children()
        if kids:
            self.tree.selection_set(kids[0])
            self._details()

    def _details(self) -> None:
        sel = self.tree.selection()
        self.text.delete("1.0", "end")
        if sel:
            self.text.insert("1.0", report_text(self.reports[sel[0]], self.app.category_label))


def report_text(r: dict[str, Any], label: Callable[[str], str] = str) -> str:
    """Plain-text rendering of one report (`label` names a category for a person)."""
    t = r.get("total", {})
    started = i18n.parse_moment(r.get("started"))
    how = _("moved to the trash") if r.get("trash") else _("deleted permanently")
    lines = [
        _("Report {id}", id=str(r.get("id"))) + (f", {i18n.moment(started)}" if started else "") + f"   ({how})",
        _(
            "Freed {size} in {seconds}: deleted: {deleted}, skipped: {skipped}, errors: {errors}",
            size=human(t.get("bytes_freed", 0)),
            seconds=i18n.seconds(r.get("duration_s", 0)),
            deleted=t.get("deleted", 0),
            skipped=t.get("skipped", 0),
            errors=t.get("errors", 0),
        ),
        "",
    ]
    for c in r.get("categories", []):
        counts = ", ".join(
            (
                N_("{n} file", "{n} files", c["deleted_files"]),
                N_("{n} folder", "{n} folders", c["deleted_dirs"]),
                _("skipped: {n}", n=c["skipped"]),
                _("errors: {n}", n=c["errors"]),
            )
        )
        lines.append(f"  {label(c['name']):<22} {human(c['bytes_freed']):>10}  {counts}")
    for s in r.get("skipped", [])[:20]:
        lines.append("  " + _("skipped {path}: {reason}", path=s["path"], reason=say(s["reason"])))
    for e in r.get("errors", [])[:20]:
        lines.append("  " + _("error {path}: {error}", path=e["path"], error=say(e["error"])))
    return "\n".join(lines) + "\n"


class CleanerApp:
    """The main window: one notebook tab per section."""

    SECTIONS = ("Cleaning", "Browsers", "Apps", "Startup", "Exclusions", "Reports")  # ids, for select()

    def __init__(
        self,
        root: tk.Tk,
        cleaner: Cleaner,
        startup: StartupManager,
        confirm: Confirm | None = None,
        theme: str | None = None,
    ) -> None:
        """``theme``: 'light' or 'dark'; None follows the system, re-read every THEME_POLL_MS."""
        self.root = root
        self.cleaner = cleaner
        self.startup = startup
        self.confirm: Confirm = confirm or _ask
        self.follow_system = theme is None
        self.theme = theme or system_theme()
        root.title(f"TTFD Cleaner {__version__}")  # text-ok: the program's name
        root.geometry("1180x740")
        root.minsize(900, 560)
        with contextlib.suppress(tk.TclError):  # Tk's own dialogs (the Yes/No buttons) speak our language too
            root.tk.call("::msgcat::mclocale", i18n.language())
        sv_ttk.set_theme(self.theme, root)

        cats = {c.name: c for c in cleaner.categories()}
        self.categories = cats

        def pick(*names: str) -> list[Category]:
            return [cats[n] for n in names if n in cats]

        header = ttk.Frame(root, padding=(12, 8))
        header.pack(fill="x")
        ttk.Label(header, text="TTFD Cleaner", style="Big.TLabel").pack(side="left")  # text-ok: the name
        ttk.Label(header, text=_("Find and remove junk, manage programs started at login."), style="Hint.TLabel").pack(
            side="left", padx=12
        )
        self.notebook = ttk.Notebook(root)
        self.notebook.pack(fill="both", expand=True, padx=8, pady=(0, 8))
        self.cleaning = CleaningPanel(
            self.notebook,
            self,
            pick("temp", "cache", "custom"),
            _("Temporary files, caches and the paths you added yourself."),
        )
        self.browsers = CleaningPanel(
            self.notebook,
            self,
            pick("browsers", "browsers.history", "browsers.cookies", "browsers.passwords"),
            _("Browser caches per profile. History, cookies and passwords are separate and off by default."),
        )
        self.apps = CleaningPanel(
            self.notebook, self, pick("apps"), _("Package-manager caches, old logs and the desktop trash.")
        )
        self.startup_panel = StartupPanel(self.notebook, self)
        self.exclusions = ExclusionsPanel(self.notebook, self)
        self.reports = ReportsPanel(self.notebook, self)
        tabs = (
            C_("tab", "Cleaning"),
            C_("tab", "Browsers"),
            C_("tab", "Apps"),
            C_("tab", "Startup"),
            C_("tab", "Exclusions"),
            C_("tab", "Reports"),
        )
        for name, panel in zip(
            tabs,
            (self.cleaning, self.browsers, self.apps, self.startup_panel, self.exclusions, self.reports),
            strict=True,
        ):
            self.notebook.add(panel, text=name)
        self.startup_panel.refresh()
        self.exclusions.refresh()
        self.reports.refresh()
        self.report_window: tk.Toplevel | None = None
        self.apply_theme(self.theme)
        if self.follow_system:
            root.after(THEME_POLL_MS, self._follow_system)

    def _follow_system(self) -> None:
        new = system_theme()
        if new != self.theme:
            self.apply_theme(new)
        self.root.after(THEME_POLL_MS, self._follow_system)

    def apply_theme(self, theme: str) -> None:
        """Switch to the light or dark look, including the plain Tk widgets and the charts."""
        self.theme = theme
        sv_ttk.set_theme(theme, self.root)
        pal = PALETTE[theme]
        style = ttk.Style(self.root)
        style.configure("Hint.TLabel", foreground=pal["hint"])
        style.configure("Warn.TLabel", foreground=pal["warn"])
        # Check boxes of the fixed-width category column wrap their text (next to the box) within the column.
        style.configure("Wrap.TCheckbutton", wraplength=LEFT_WIDTH - 76, justify="left")
        style.configure("Big.TLabel", font=("TkDefaultFont", 15, "bold"))
        style.configure("Treeview", rowheight=26)
        style.configure("TNotebook.Tab", padding=(16, 6))
        # sv-ttk recolours plain Tk widgets (tk_setPalette) when <<ThemeChanged>> is handled, which is
        # after this call returns: paint ours once that has happened.
        self.root.after_idle(self._paint)

    def _paint(self) -> None:
        pal = PALETTE[self.theme]
        # tk_setPalette also sets the -foreground option of ttk labels, which beats their style
        # (hints, warnings): hand the colour back to the style.
        pending: list[tk.Misc] = [self.root]
        while pending:
            w = pending.pop()
            pending.extend(w.winfo_children())
            if isinstance(w, ttk.Label):
                w.configure(foreground="", background="")
        for panel in (self.cleaning, self.browsers, self.apps):
            panel.column.canvas.configure(background=pal["bg"])
            panel.tree.tag_configure("refused", foreground=pal["warn"])
            panel.summary_title.configure(foreground=pal["good"])
            panel.chart.redraw()
        self.startup_panel.tree.tag_configure("disabled", foreground=pal["muted"])
        field, fg, sel = pal["field"], pal["fg"], CHART_COLORS[0]
        self.exclusions.listbox.configure(
            background=field, foreground=fg, highlightthickness=0, selectbackground=sel, selectforeground="#ffffff"
        )
        texts = [self.reports.text]
        if self.report_window is not None and self.report_window.winfo_exists():
            self.report_window.configure(background=pal["bg"])
            texts.extend(w for w in self.report_window.winfo_children() if isinstance(w, tk.Text))
        for text in texts:
            text.configure(
                background=field,
                foreground=fg,
                highlightthickness=0,
                selectbackground=sel,
                selectforeground="#ffffff",
                insertbackground=fg,
            )

    def category_label(self, name: str) -> str:
        """A category as a person reads it: its label in this run's language (a name we do not know: itself)."""
        cat = self.categories.get(name)
        return say(cat.label) if cat is not None else name

    def short_path(self, path: str) -> str:
        """Path with the home directory shown as ~ (keeps the tree readable)."""
        home = self.cleaner.env.home.rstrip("/\\")
        if path == home or path.startswith(home + os.sep):
            return "~" + path[len(home) :]
        return path

    def select(self, section: str) -> None:
        """Show one section by name."""
        self.notebook.select(self.SECTIONS.index(section))  # type: ignore[no-untyped-call]

    def show_report(self, report: dict[str, Any]) -> None:
        """A small window with the report of the run that just finished."""
        if self.report_window is not None and self.report_window.winfo_exists():
            self.report_window.destroy()
        win = tk.Toplevel(self.root)
        win.title(_("Cleaning report"))
        win.geometry("760x320")
        # The button is packed first so a short window never pushes it out of sight.
        ttk.Button(win, text=C_("button", "Close"), command=win.destroy).pack(side="bottom", pady=8)
        text = tk.Text(win, wrap="none", font=("TkFixedFont", 10), padx=8, pady=8, height=10)
        text.insert("1.0", report_text(report, self.category_label))
        text.configure(state="disabled")
        text.pack(side="top", fill="both", expand=True, padx=8, pady=(8, 0))
        self.report_window = win
        self.apply_theme(self.theme)


def run(cleaner: Cleaner | None = None) -> int:
    """Open the window and run the Tk main loop."""
    cl = cleaner or Cleaner()
    try:
        root = tk.Tk()
    except tk.TclError as exc:  # no display: say so instead of a traceback
        print(_("error: cannot open the window: {error}", error=str(exc)), file=sys.stderr)
        return 1
    CleanerApp(root, cl, StartupManager(cl.env, cl.storage))
    root.mainloop()
    return 0
