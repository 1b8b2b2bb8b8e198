"""Command line interface: ``python -m cleaner <command> [--json]`` (schema in cleaner/README.md)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from cleaner import __version__
from cleaner.platforms import Env
from cleaner.service import Cleaner, UnknownCategory
from cleaner.storage import Storage, StorageError
from cleaner.units import human

# Users run the command, not the function: what only some commands need is imported by them (start-up time).
if TYPE_CHECKING:
    from cleaner.scan import Progress, ScanResult
    from cleaner.startup.manager import StartupManager

SCHEMA_VERSION = 1
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_NEEDS_YES = 3
DEFAULT_CATEGORIES = "temp,cache,browsers,apps,custom"


class UsageError(Exception):
    """Bad command line input (exit code 2)."""


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so --json callers get a JSON error too."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


class ProgressBar:
    """A one-line progress bar on a terminal (stderr); silent when not a TTY."""

    def __init__(self, stream: TextIO, enabled: bool) -> None:
        self.stream = stream
        self.enabled = enabled
        self._last = 0.0
        self._drawn = False

    def scan(self, p: Progress) -> None:
        """Scan progress callback."""
        frac = p.rules_done / p.rules_total if p.rules_total else 0.0
        self._draw(frac, f"{p.category:<10} {p.files:>9,} items {human(p.bytes):>10}")

    def apply(self, done: int, total: int) -> None:
        """Apply progress callback."""
        self._draw(done / total if total else 1.0, f"deleting {done:,}/{total:,}")

    def _draw(self, frac: float, text: str) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._last < 0.1 and frac < 1.0:
            return
        self._last = now
        width = 30
        filled = int(width * min(max(frac, 0.0), 1.0))
        self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {frac * 100:5.1f}% {text}\x1b[K")
        self.stream.flush()
        self._drawn = True

    def done(self) -> None:
        """Finish the line."""
        if self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._drawn = False


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (every sub-command accepts --json)."""
    common = _Parser(add_help=False)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output")
    common.add_argument(
        "--root",
        default=argparse.SUPPRESS,
        metavar="DIR",
        help="resolve system locations (/tmp, /etc/xdg) under DIR",
    )
    p = _Parser(prog="ttfd-cleaner", description="TTFD Cleaner: remove junk files and manage startup programs.")
    p.add_argument("--version", action="version", version=f"ttfd-cleaner {__version__}")
    p.add_argument("--json", action="store_true", default=False, help="machine-readable output")
    p.add_argument("--root", default=None, metavar="DIR", help=argparse.SUPPRESS)
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    sub.add_parser("status", parents=[common], help="OS, disk usage and reclaimable summary")
    lc = sub.add_parser("list-categories", parents=[common], help="list cleaning categories")
    lc.add_argument("--cleanerml", metavar="DIR", help="add the options of the CleanerML files in DIR")

    for name, helptext in (("scan-cleaning", "preview what would be deleted"), ("apply-cleaning", "delete")):
        sp = sub.add_parser(name, parents=[common], help=helptext)
        sp.add_argument("--categories", default=DEFAULT_CATEGORIES, help="comma-separated names (default: %(default)s)")
        sp.add_argument("--cleanerml", metavar="DIR", help="add the options of the CleanerML files in DIR")
        sp.add_argument("--force", action="store_true", help="clean even when the owning application is running")
        sp.add_argument("--max-items", type=int, default=100, help="paths listed per category (-1: all)")
        if name == "apply-cleaning":
            sp.add_argument("--trash", action="store_true", help="send files to the desktop trash instead")
            sp.add_argument("--yes", action="store_true", help="really delete (without it: preview and refuse)")

    ss = sub.add_parser("scan-startup", parents=[common], help="list startup entries")
    ss.add_argument("--category", choices=["logon", "services", "scheduled", "all"], default="all")
    ts = sub.add_parser("toggle-startup", parents=[common], help="enable or disable a startup entry")
    ts.add_argument("--id", required=True, dest="entry_id")
    g = ts.add_mutually_exclusive_group(required=True)
    g.add_argument("--enable", action="store_true")
    g.add_argument("--disable", action="store_true")

    ex = sub.add_parser("exclusions", parents=[common], help="paths/globs that are never cleaned")
    exs = ex.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    exs.required = True
    exs.add_parser("list", parents=[common])
    exs.add_parser("add", parents=[common]).add_argument("pattern", metavar="PATH_OR_GLOB")
    exs.add_parser("remove", parents=[common]).add_argument("pattern", metavar="PATH_OR_GLOB")

    cp = sub.add_parser("custom-paths", parents=[common], help="paths cleaned by the 'custom' category")
    cps = cp.add_subparsers(dest="action", metavar="ACTION", parser_class=_Parser)
    cps.required = True
    cps.add_parser("list", parents=[common])
    cps.add_parser("add", parents=[common]).add_argument("path")
    cps.add_parser("remove", parents=[common]).add_argument("path")

    sub.add_parser("gui", parents=[common], help="open the desktop window")
    rp = sub.add_parser("reports", parents=[common], help="history of cleaning runs")
    rp.add_argument("--last", type=int, default=None, metavar="N")
    return p


class App:
    """Runs one parsed command; output goes to ``out`` (text or JSON)."""

    def __init__(self, args: argparse.Namespace, out: TextIO, err: TextIO) -> None:
        self.args = args
        self.out = out
        self.err = err
        self.json = bool(args.json)
        self.env = Env.current(root=args.root)
        self.storage = Storage()
        self.bar = ProgressBar(err, enabled=not self.json and err.isatty())

    def emit(self, data: dict[str, Any], text: Callable[[], None]) -> None:
        """Print JSON (with the envelope) or the human form."""
        if self.json:
            env = {"schema": SCHEMA_VERSION, "command": self.args.command, "ok": True, **data}
            _write_json(self.out, env)
        else:
            text()

    def p(self, *parts: object) -> None:
        """Print a line of human output."""
        print(*parts, file=self.out)

    def _lines(self, items: list[str], empty: str) -> None:
        for x in items:
            self.p(x)
        if not items:
            self.p(empty)

    def _cleaner(self) -> Cleaner:
        return Cleaner(self.env, self.storage, getattr(self.args, "cleanerml", None))

    def _print_preview(self, res: ScanResult, max_items: int) -> None:
        for c in res.categories.values():
            self.p(f"{c.name:<24} {human(c.bytes):>11}  {c.files:>8,} files {c.dirs:>6,} dirs")
            if c.warning:
                self.p(f"    warning: {c.warning}")
            for r in c.refused:
                self.p(f"    refused: {r} (use --force to clean anyway)")
            for n in c.notes:
                self.p(f"    note: {n}")
            for e in c.errors[:5]:
                self.p(f"    error: {e}")
            if max_items:
                for shown, (ent, action) in enumerate(c.iter_actions()):
                    if max_items > 0 and shown >= max_items:
                        self.p("    ...")
                        break
                    what = "" if action == "delete" else f"{action}: "
                    self.p(f"    {human(ent[1]):>10}  {what}{ent[0]}")
        self.p(f"{'total':<24} {human(res.total_bytes):>11}  {res.total_items:,} items ({res.duration_s:.2f} s)")

    # commands ----------------------------------------------------------------------------------------

    def cmd_status(self) -> int:
        import platform
        import shutil

        cl = self._cleaner()
        du = shutil.disk_usage(self.env.home)
        res = cl.scan(DEFAULT_CATEGORIES.split(","), progress=self.bar.scan)
        self.bar.done()
        data = {
            "os": {
                "name": self.env.os_name,
                "system": platform.system(),
                "release": platform.release(),
                "machine": platform.machine(),
                "python": platform.python_version(),
            },
            "disk": {"path": self.env.home, "total": du.total, "used": du.used, "free": du.free},
            "reclaimable": {
                "total_bytes": res.total_bytes,
                "total_items": res.total_items,
                "categories": [
                    {"name": c.name, "bytes": c.bytes, "files": c.files, "dirs": c.dirs, "refused": c.refused}
                    for c in res.categories.values()
                ],
            },
        }

        def text() -> None:
            self.p(f"OS:    {platform.system()} {platform.release()} ({platform.machine()})")
            self.p(f"Disk:  {human(du.used)} used of {human(du.total)}, {human(du.free)} free ({self.env.home})")
            self.p("Reclaimable:")
            for c in res.categories.values():
                extra = f"  (refused: {'; '.join(c.refused)})" if c.refused else ""
                self.p(f"  {c.name:<10} {human(c.bytes):>11}{extra}")
            self.p(f"  {'total':<10} {human(res.total_bytes):>11}")

        self.emit(data, text)
        return EXIT_OK

    def cmd_list_categories(self) -> int:
        cl = self._cleaner()
        cats = cl.categories()
        data = {
            "categories": [
                {
                    "name": c.name,
                    "label": c.label,
                    "description": c.description,
                    "opt_in": c.opt_in,
                    "warning": c.warning,
                    "rules": len(c.rules),
                    "notes": list(c.notes),
                    "refused_actions": list(c.refused_actions),
                }
                for c in cats
            ],
            "skipped": cl.skipped,
        }

        def text() -> None:
            for c in cats:
                flag = " (opt-in)" if c.opt_in else ""
                self.p(f"{c.name:<28} {c.label}{flag}: {c.description}")
                if c.warning:
                    self.p(f"{'':<28} warning: {c.warning}")
                for r in c.refused_actions:
                    self.p(f"{'':<28} refuses: {r}")
            for s in cl.skipped:
                self.p(f"skipped: {s}")

        self.emit(data, text)
        return EXIT_OK

    def _scan(self, cl: Cleaner) -> ScanResult:
        names = self.args.categories.split(",")
        res = cl.scan(names, force=self.args.force, progress=self.bar.scan)
        self.bar.done()
        return res

    def cmd_scan_cleaning(self) -> int:
        cl = self._cleaner()
        res = self._scan(cl)
        data = {**res.to_json(self.args.max_items), "skipped": cl.skipped}
        self.emit(data, lambda: self._print_preview(res, self.args.max_items))
        return EXIT_OK

    def cmd_apply_cleaning(self) -> int:
        cl = self._cleaner()
        res = self._scan(cl)
        if not self.args.yes:
            msg = "nothing deleted: re-run with --yes to delete the items listed above"
            if self.json:
                data = {
                    "schema": SCHEMA_VERSION,
                    "command": self.args.command,
                    "ok": False,
                    "applied": False,
                    "preview": res.to_json(self.args.max_items),
                    "error": {"code": "confirmation_required", "message": msg},
                }
                _write_json(self.out, data)
            else:
                self._print_preview(res, self.args.max_items)
                print(f"refused: {msg}", file=self.err)
            return EXIT_NEEDS_YES
        report, path = cl.apply(res, trash=self.args.trash, progress=self.bar.apply)
        self.bar.done()
        data = {"applied": True, "preview": res.to_json(0), "report": report, "report_path": path}

        def text() -> None:
            self._print_preview(res, 0)
            t = report["total"]
            edited = f"changed {t['edited']:,} in place, " if t.get("edited") else ""
            self.p(
                f"deleted {t['deleted']:,} items, {edited}freed {human(t['bytes_freed'])}, "
                f"skipped {t['skipped']:,}, errors {t['errors']:,} in {report['duration_s']:.2f} s"
            )
            for e in report["errors"][:10]:
                self.p(f"  error: {e['path']}: {e['error']}")
            self.p(f"report: {path}")

        self.emit(data, text)
        return EXIT_ERROR if report["total"]["errors"] else EXIT_OK

    def _startup(self) -> StartupManager:
        from cleaner.startup.manager import StartupManager

        return StartupManager(self.env, self.storage)

    def cmd_scan_startup(self) -> int:
        mgr = self._startup()
        entries = mgr.entries(self.args.category)
        data = {"entries": [e.to_json() for e in entries], "notes": mgr.notes()}

        def text() -> None:
            for e in entries:
                state = "enabled " if e.enabled else "disabled"
                self.p(f"{state}  {e.id}")
                self.p(f"          {e.name}: {e.command}" + (f"  ({e.description})" if e.description else ""))
            for n in mgr.notes():
                self.p(f"note: {n}")
            if not entries:
                self.p("no startup entries found")

        self.emit(data, text)
        return EXIT_OK

    def cmd_toggle_startup(self) -> int:
        rec = self._startup().set_enabled(self.args.entry_id, bool(self.args.enable))
        state = "enabled" if rec["enabled"] else "disabled"
        self.emit(
            {"result": rec},
            lambda: self.p(f"{rec['id']}: {state}" + ("" if rec["changed"] else " (unchanged)")),
        )
        return EXIT_OK

    def cmd_exclusions(self) -> int:
        changed = False
        if self.args.action == "add":
            changed = self.storage.add_exclusion(self.args.pattern)
        elif self.args.action == "remove":
            changed = self.storage.remove_exclusion(self.args.pattern)
            if not changed:
                raise StorageError(f"not in the exclusions: {self.args.pattern}")
        items = self.storage.exclusions()
        self.emit({"exclusions": items, "changed": changed}, lambda: self._lines(items, "no exclusions"))
        return EXIT_OK

    def cmd_custom_paths(self) -> int:
        settings = self.storage.settings()
        paths: list[str] = list(settings.get("custom_paths") or [])
        changed = False
        if self.args.action == "add":
            p = os.path.abspath(os.path.expanduser(self.args.path))
            if p not in paths:
                paths.append(p)
                changed = True
        elif self.args.action == "remove":
            p = os.path.abspath(os.path.expanduser(self.args.path))
            if p not in paths:
                raise StorageError(f"not a custom path: {p}")
            paths.remove(p)
            changed = True
        if changed:
            settings["custom_paths"] = paths
            self.storage.save_settings(settings)
        self.emit({"custom_paths": paths, "changed": changed}, lambda: self._lines(paths, "no custom paths"))
        return EXIT_OK

    def cmd_gui(self) -> int:
        from cleaner import gui  # Tk only when the window is wanted

        return gui.run(Cleaner(self.env, self.storage))

    def cmd_reports(self) -> int:
        if self.args.last is not None and self.args.last < 1:
            raise UsageError("--last must be at least 1")
        reps = self.storage.reports(self.args.last)

        def text() -> None:
            if not reps:
                self.p("no reports yet")
            for r in reps:
                t = r.get("total", {})
                cats = ",".join(c["name"] for c in r.get("categories", []))
                self.p(
                    f"{r.get('started', '?')}  {cats:<30} freed {human(t.get('bytes_freed', 0)):>10}  "
                    f"deleted {t.get('deleted', 0):,}  errors {t.get('errors', 0)}  "
                    f"{r.get('duration_s', 0):.2f} s"
                )

        self.emit({"reports": reps}, text)
        return EXIT_OK


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run the CLI and return the exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    argv = list(sys.argv[1:] if argv is None else argv)
    want_json = "--json" in argv
    command = next((a for a in argv if not a.startswith("-")), "")
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        return _fail(out, err, want_json, command, "usage", str(exc), EXIT_USAGE)
    except SystemExit as exc:  # --version / --help
        return int(exc.code or 0)
    app = App(args, out, err)
    handler = getattr(app, "cmd_" + args.command.replace("-", "_"))
    try:
        return int(handler())
    except UsageError as exc:
        return _fail(out, err, app.json, args.command, "usage", str(exc), EXIT_USAGE)
    except UnknownCategory as exc:
        return _fail(out, err, app.json, args.command, "unknown_category", str(exc), EXIT_USAGE)
    except StorageError as exc:
        return _fail(out, err, app.json, args.command, "storage", str(exc), EXIT_ERROR)
    except OSError as exc:
        return _fail(out, err, app.json, args.command, "os_error", str(exc), EXIT_ERROR)
    except Exception as exc:
        # A StartupError can only come from a startup command, which has imported its module by then.
        base = sys.modules.get("cleaner.startup.base")
        if base is None or not isinstance(exc, base.StartupError):
            raise
        return _fail(out, err, app.json, args.command, "startup", str(exc), EXIT_ERROR)
    finally:
        app.bar.done()


def _fail(out: TextIO, err: TextIO, as_json: bool, command: str, code: str, message: str, rc: int) -> int:
    if as_json:
        data = {
            "schema": SCHEMA_VERSION,
            "command": command,
            "ok": False,
            "error": {"code": code, "message": message},
        }
        _write_json(out, data)
    print(f"error: {message}", file=err)
    return rc


def _write_json(out: TextIO, data: dict[str, Any]) -> None:
    # One write: json.dump writes piece by piece, a system call each when stdout is unbuffered.
    out.write(json.dumps(data, indent=2) + "\n")
