"""Tk desktop window of the Cleaner (the only module that imports tkinter).

The look is Sun Valley (sv-ttk): a maintained ttk theme in pure Tcl, light and dark, that PyInstaller
bundles through its standard hook; the light/dark choice follows the system (darkdetect).
"""

from __future__ import annotations

import os
import queue
import sys
import threading
import tkinter as tk
from collections import Counter
from collections.abc import Callable
from tkinter import messagebox, ttk
from typing import Any

import sv_ttk

from cleaner import __version__
from cleaner.rules import Category
from cleaner.scan import KIND_NAMES, Progress, ScanResult
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
        label_w, value_w = 190, 150
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

        # A fixed-width column: its wrapped texts and check boxes never push each other out of view.
        left = ttk.Frame(self, width=LEFT_WIDTH)
        left.pack(side="left", fill="y", padx=(0, 10))
        left.pack_propagate(False)
        wrap = LEFT_WIDTH - 30
        ttk.Label(left, text=intro, wraplength=wrap, justify="left").pack(anchor="w", pady=(0, 8))
        for cat in categories:
            var = tk.BooleanVar(value=not cat.opt_in)
            self.vars[cat.name] = var
            ttk.Checkbutton(left, text=cat.label, variable=var).pack(anchor="w")
            ttk.Label(left, text=cat.description, wraplength=wrap, style="Hint.TLabel", justify="left").pack(
                anchor="w", padx=(22, 0), pady=(0, 4)
            )
            if cat.warning:
                ttk.Label(left, text="⚠ " + cat.warning, wraplength=wrap, style="Warn.TLabel", justify="left").pack(
                    anchor="w", padx=(22, 0), pady=(0, 6)
                )
        ttk.Separator(left).pack(fill="x", pady=8)
        self.trash = tk.BooleanVar(value=False)
        self.force = tk.BooleanVar(value=False)
        ttk.Checkbutton(left, text="Send to trash instead of deleting", variable=self.trash).pack(anchor="w")
        ttk.Checkbutton(left, text="Clean even if the app is running", variable=self.force).pack(anchor="w")

        right = ttk.Frame(self)
        right.pack(side="left", fill="both", expand=True)
        bar = ttk.Frame(right)
        bar.pack(fill="x")
        self.scan_btn = ttk.Button(bar, text="Scan", command=self.start_scan, style="Accent.TButton")
        self.scan_btn.pack(side="left")
        self.cancel_btn = ttk.Button(bar, text="Cancel", command=self.cancel, state="disabled")
        self.cancel_btn.pack(side="left", padx=6)
        self.clean_btn = ttk.Button(bar, text="Clean…", command=self.clean, state="disabled")
        self.clean_btn.pack(side="left")
        self.status = tk.StringVar(value="Choose categories and press Scan.")
        ttk.Label(bar, textvariable=self.status).pack(side="left", padx=12)
        self.progress = ttk.Progressbar(right, mode="determinate", maximum=1.0)
        self.progress.pack(fill="x", pady=6)
        self.chart = SpaceChart(right, app)
        self.chart.pack(fill="x", pady=(2, 6))
        # After cleaning: what was freed, and what was left alone and why.
        self.summary = ttk.Frame(right)
        self.summary_title = ttk.Label(self.summary, text="", style="Big.TLabel")
        self.summary_title.pack(anchor="w")
        self.summary_text = tk.StringVar(value="")
        ttk.Label(self.summary, textvariable=self.summary_text, justify="left", wraplength=760).pack(
            anchor="w", pady=(2, 6)
        )

        cols = ("size", "items")
        self.tree = ttk.Treeview(right, columns=cols, show="tree headings", selectmode="browse")
        self.tree.heading("#0", text="Category / path")
        self.tree.heading("size", text="Size")
        self.tree.heading("items", text="Items")
        self.tree.column("#0", width=520, stretch=True)
        self.tree.column("size", width=100, anchor="e", stretch=False)
        self.tree.column("items", width=90, anchor="e", stretch=False)
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
                self.status.set("Nothing selected.")
            return
        self.preview = None
        self.summary.pack_forget()
        self.cancel_event = threading.Event()
        self._set_busy(True)
        self.progress.configure(value=0)
        self.status.set("Scanning…")
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
            self.status.set("Cancelling…")

    def clean(self) -> None:
        """Confirm, then apply the preview in a worker thread."""
        res = self.preview
        if res is None or self.busy():
            return
        how = "move to the trash" if self.trash.get() else "permanently delete"
        msg = f"{how.capitalize()} {res.total_items:,} items ({human(res.total_bytes)})?"
        if not self.app.confirm("Clean", msg):
            self.status.set("Clean cancelled.")
            return
        self.cancel_event = threading.Event()
        self._set_busy(True)
        self.status.set("Cleaning…")
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
                self.status.set(f"Scanning {p.category}: {p.files:,} items, {human(p.bytes)}")
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
                self.status.set(f"Error: {payload}")
        if finished:
            self.cancel_event = None
            self._set_busy(False)
        else:
            self.after(POLL_MS, self._poll)

    # results -----------------------------------------------------------------------------------------

    def _show(self, res: ScanResult) -> None:
        self.tree.delete(*self.tree.get_children())
        self.progress.configure(value=1.0)
        for cat in res.categories.values():
            node = self.tree.insert(
                "",
                "end",
                text=cat.label,
                values=(human(cat.bytes), f"{cat.files + cat.dirs:,}"),
                open=len(res.categories) == 1,
                tags=("category",),
            )
            for why in cat.refused:
                self.tree.insert(node, "end", text=f"Skipped: {why}", values=("", ""), tags=("refused",))
            entries = sorted(cat.iter_entries(), key=lambda e: e[1], reverse=True)
            for e in entries[:ITEMS_SHOWN]:
                shown = self.app.short_path(e[0])
                label = shown if e[2] == 0 else f"{shown}  ({KIND_NAMES[e[2]]})"
                self.tree.insert(node, "end", text=label, values=(human(e[1]), ""))
            if len(entries) > ITEMS_SHOWN:
                self.tree.insert(node, "end", text=f"… and {len(entries) - ITEMS_SHOWN:,} more", values=("", ""))
        state = "Cancelled — partial result: " if res.cancelled else "Found "
        self.status.set(f"{state}{res.total_items:,} items, {human(res.total_bytes)} ({res.duration_s:.2f} s)")
        rows = []
        for cat in res.categories.values():
            text = f"{human(cat.bytes)}  ·  {cat.files + cat.dirs:,} items"
            rows.append((cat.label, cat.bytes, text + ("  ·  refused" if cat.refused else "")))
        self.chart.show("Reclaimable space per category", rows)

    def _after_apply(self, report: dict[str, Any]) -> None:
        t = report["total"]
        self.tree.delete(*self.tree.get_children())
        self.status.set(f"Freed {human(t['bytes_freed'])}: {t['deleted']:,} deleted, {t['errors']} errors")
        labels = {n: c.label for n, c in self.app.categories.items()}
        self.chart.show(
            "Freed per category",
            [
                (labels.get(c["name"], c["name"]), c["bytes_freed"], f"{human(c['bytes_freed'])} freed")
                for c in report["categories"]
            ],
        )
        self.summary_title.configure(text=f"Freed {human(t['bytes_freed'])}")
        self.summary_text.set("\n".join(summary_lines(report)))
        self.summary.pack(fill="x", before=self.chart)
        for c in report["categories"]:
            node = self.tree.insert(
                "",
                "end",
                text=labels.get(c["name"], c["name"]),
                values=(human(c["bytes_freed"]), f"{c['deleted_files'] + c['deleted_dirs']:,}"),
                tags=("category",),
            )
            if c["skipped"] or c["errors"]:
                self.tree.insert(node, "end", text=f"{c['skipped']:,} skipped, {c['errors']:,} errors", values=("", ""))
        if report["skipped"]:
            node = self.tree.insert("", "end", text="Left alone", values=("", f"{t['skipped']:,}"), open=True)
            for s in report["skipped"][:ITEMS_SHOWN]:
                self.tree.insert(node, "end", text=f"{self.app.short_path(s['path'])}: {s['reason']}", values=("", ""))
        self.app.reports.refresh()
        self.app.show_report(report)


def summary_lines(report: dict[str, Any]) -> list[str]:
    """The after-cleaning summary: counts, then what was skipped and why (grouped), then errors."""
    t = report["total"]
    parts = [f"{t['deleted']:,} deleted"]
    if t.get("edited"):
        parts.append(f"{t['edited']:,} changed in place")
    parts += [f"{t['skipped']:,} skipped", f"{t['errors']:,} errors", f"{report['duration_s']:.2f} s"]
    lines = ["  ·  ".join(parts)]
    reasons = Counter(s["reason"] for s in report["skipped"])
    if reasons:
        lines.append("Skipped: " + "; ".join(f"{why} ({n:,})" for why, n in reasons.most_common()))
    for name, why in report.get("refused", {}).items():
        lines.append(f"Not cleaned ({name}): " + "; ".join(why))
    errors = Counter(e["error"] for e in report["errors"])
    if errors:
        lines.append("Errors: " + "; ".join(f"{why} ({n:,})" for why, n in errors.most_common()))
    return lines


class StartupPanel(ttk.Frame):
    """Startup entries with enable/disable."""

    def __init__(self, master: tk.Misc, app: CleanerApp) -> None:
        super().__init__(master, padding=10)
        self.app = app
        self.entries: dict[str, StartupEntry] = {}
        bar = ttk.Frame(self)
        bar.pack(fill="x")
        ttk.Label(bar, text="Show:").pack(side="left")
        self.category = tk.StringVar(value="all")
        combo = ttk.Combobox(
            bar,
            textvariable=self.category,
            values=["all", "logon", "services", "scheduled"],
            width=12,
            state="readonly",
        )
        combo.pack(side="left", padx=6)
        combo.bind("<<ComboboxSelected>>", lambda _e: self.refresh())
        ttk.Button(bar, text="Refresh", command=self.refresh).pack(side="left")
        ttk.Button(bar, text="Enable", command=lambda: self.toggle(True)).pack(side="left", padx=(18, 4))
        ttk.Button(bar, text="Disable", command=lambda: self.toggle(False)).pack(side="left")
        self.status = tk.StringVar(value="")
        ttk.Label(bar, textvariable=self.status).pack(side="left", padx=12)
        cols = ("enabled", "source", "scope", "command", "description")
        self.tree = ttk.Treeview(self, columns=cols, show="tree headings", selectmode="browse")
        self.tree.heading("#0", text="Name")
        for c, w in zip(cols, (80, 80, 70, 360, 220), strict=True):
            self.tree.heading(c, text=c.capitalize())
            self.tree.column(c, width=w, stretch=c in ("command", "description"))
        self.tree.column("#0", width=200)
        self.tree.pack(fill="both", expand=True, pady=(8, 0))
        self.tree.bind("<Double-1>", lambda _e: self.toggle(None))
        self.notes = tk.StringVar(value="")
        ttk.Label(self, textvariable=self.notes, style="Hint.TLabel", wraplength=900).pack(anchor="w", pady=(6, 0))

    def refresh(self) -> None:
        """Reload entries from every source."""
        sel = self.tree.selection()
        self.tree.delete(*self.tree.get_children())
        try:
            items = self.app.startup.entries(self.category.get())
        except StartupError as exc:
            self.status.set(str(exc))
            return
        self.entries = {e.id: e for e in items}
        for e in items:
            self.tree.insert(
                "",
                "end",
                iid=e.id,
                text=e.name,
                values=("yes" if e.enabled else "no", e.source, e.scope, e.command, e.description),
                tags=() if e.enabled else ("disabled",),
            )
        if sel and self.tree.exists(sel[0]):
            self.tree.selection_set(sel[0])
        self.notes.set("  ".join(self.app.startup.notes()))
        self.status.set(f"{len(items)} entries")

    def toggle(self, enable: bool | None) -> None:
        """Enable/disable the selected entry (None flips it)."""
        sel = self.tree.selection()
        if not sel:
            self.status.set("Select an entry first.")
            return
        entry = self.entries[sel[0]]
        target = (not entry.enabled) if enable is None else enable
        try:
            rec = self.app.startup.set_enabled(entry.id, target)
        except (StartupError, OSError) as exc:
            self.status.set(f"Error: {exc}")
            return
        self.refresh()
        word = "enabled" if rec["enabled"] else "disabled"
        self.status.set(f"{entry.name} {word}" + ("" if rec["changed"] else " (unchanged)"))


class ExclusionsPanel(ttk.Frame):
    """Edit exclusions (never cleaned) and custom paths (cleaned by 'custom')."""

    def __init__(self, master: tk.Misc, app: CleanerApp) -> None:
        super().__init__(master, padding=10)
        self.app = app
        ttk.Label(
            self,
            text="Exclusions win over every rule. Use a path (its whole subtree is kept) or a glob "
            "such as *.iso or ~/.cache/important*.",
            wraplength=900,
        ).pack(anchor="w")
        row = ttk.Frame(self)
        row.pack(fill="x", pady=6)
        self.entry = ttk.Entry(row, width=60)
        self.entry.pack(side="left")
        ttk.Button(row, text="Add", command=self.add).pack(side="left", padx=6)
        ttk.Button(row, text="Remove selected", command=self.remove).pack(side="left")
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
            self.status.set("Type a path or glob first.")
            return
        added = self.app.cleaner.storage.add_exclusion(pat)
        self.entry.delete(0, "end")
        self.refresh()
        self.status.set(f"Added {pat}" if added else f"{pat} was already excluded")

    def remove(self) -> None:
        """Remove the selected pattern."""
        sel = self.listbox.curselection()  # type: ignore[no-untyped-call]
        if not sel:
            self.status.set("Select an exclusion first.")
            return
        pat = self.listbox.get(sel[0])
        self.app.cleaner.storage.remove_exclusion(pat)
        self.refresh()
        self.status.set(f"Removed {pat}")


class ReportsPanel(ttk.Frame):
    """History of cleaning runs with details of the selected one."""

    def __init__(self, master: tk.Misc, app: CleanerApp) -> None:
        super().__init__(master, padding=10)
        self.app = app
        self.reports: dict[str, dict[str, Any]] = {}
        cols = ("categories", "freed", "deleted", "skipped", "errors", "duration")
        self.tree = ttk.Treeview(self, columns=cols, show="tree headings", height=10, selectmode="browse")
        self.tree.heading("#0", text="Started (UTC)")
        self.tree.column("#0", width=200)
        for c, w in zip(cols, (260, 100, 80, 80, 70, 90), strict=True):
            self.tree.heading(c, text=c.capitalize())
            self.tree.column(c, width=w, anchor="w" if c == "categories" else "e")
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
            cats = ", ".join(c["name"] for c in r.get("categories", []))
            self.reports[r["id"]] = r
            self.tree.insert(
                "",
                "end",
                iid=r["id"],
                text=str(r.get("started", ""))[:19].replace("T", " "),
                values=(
                    cats,
                    human(t.get("bytes_freed", 0)),
                    f"{t.get('deleted', 0):,}",
                    f"{t.get('skipped', 0):,}",
                    t.get("errors", 0),
                    f"{r.get('duration_s', 0):.2f} s",
                ),
            )
        kids = self.tree.get_children()
        if kids:
            self.tree.selection_set(kids[0])
            self._details()

    def _details(self) -> None:
        sel = self.tree.selection()
        self.text.delete("1.0", "end")
        if sel:
            self.text.insert("1.0", report_text(self.reports[sel[0]]))


def report_text(r: dict[str, Any]) -> str:
    """Plain-text rendering of one report."""
    t = r.get("total", {})
    lines = [
        f"Report {r.get('id')}   {'sent to trash' if r.get('trash') else 'deleted'}",
        f"Freed {human(t.get('bytes_freed', 0))}: {t.get('deleted', 0):,} items deleted, "
        f"{t.get('skipped', 0):,} skipped, {t.get('errors', 0):,} errors in {r.get('duration_s', 0):.2f} s",
        "",
    ]
    for c in r.get("categories", []):
        lines.append(
            f"  {c['name']:<22} {human(c['bytes_freed']):>10}  {c['deleted_files']:,} files, "
            f"{c['deleted_dirs']:,} dirs, {c['skipped']} skipped, {c['errors']} errors"
        )
    for s in r.get("skipped", [])[:20]:
        lines.append(f"  skipped {s['path']}: {s['reason']}")
    for e in r.get("errors", [])[:20]:
        lines.append(f"  error   {e['path']}: {e['error']}")
    return "\n".join(lines) + "\n"


class CleanerApp:
    """The main window: one notebook tab per section."""

    SECTIONS = ("Cleaning", "Browsers", "Apps", "Startup", "Exclusions", "Reports")

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
        root.title(f"TTFD Cleaner {__version__}")
        root.geometry("1180x740")
        root.minsize(900, 560)
        sv_ttk.set_theme(self.theme, root)

        cats = {c.name: c for c in cleaner.categories()}
        self.categories = cats

        def pick(*names: str) -> list[Category]:
            return [cats[n] for n in names if n in cats]

        header = ttk.Frame(root, padding=(12, 8))
        header.pack(fill="x")
        ttk.Label(header, text="TTFD Cleaner", style="Big.TLabel").pack(side="left")
        ttk.Label(header, text="Find and remove junk, manage programs started at login.", style="Hint.TLabel").pack(
            side="left", padx=12
        )
        self.notebook = ttk.Notebook(root)
        self.notebook.pack(fill="both", expand=True, padx=8, pady=(0, 8))
        self.cleaning = CleaningPanel(
            self.notebook,
            self,
            pick("temp", "cache", "custom"),
            "Temporary files, caches and the paths you added yourself.",
        )
        self.browsers = CleaningPanel(
            self.notebook,
            self,
            pick("browsers", "browsers.history", "browsers.cookies", "browsers.passwords"),
            "Browser caches per profile. History, cookies and passwords are separate and off by default.",
        )
        self.apps = CleaningPanel(
            self.notebook, self, pick("apps"), "Package-manager caches, old logs and the desktop trash."
        )
        self.startup_panel = StartupPanel(self.notebook, self)
        self.exclusions = ExclusionsPanel(self.notebook, self)
        self.reports = ReportsPanel(self.notebook, self)
        for name, panel in zip(
            self.SECTIONS,
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
        win.title("Cleaning report")
        win.geometry("760x320")
        # The button is packed first so a short window never pushes it out of sight.
        ttk.Button(win, text="Close", command=win.destroy).pack(side="bottom", pady=8)
        text = tk.Text(win, wrap="none", font=("TkFixedFont", 10), padx=8, pady=8, height=10)
        text.insert("1.0", report_text(report))
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
        print(f"error: cannot open the window: {exc}", file=sys.stderr)
        return 1
    CleanerApp(root, cl, StartupManager(cl.env, cl.storage))
    root.mainloop()
    return 0
