"""Command line interface: ``python -m cleaner <command> [--json]`` (schema in cleaner/README.md).

Human output is said in the language of the run (``--lang``, else the environment: see ``i18n.choose``);
``--json`` output is English, keys and values, whatever the language: with ``--json`` the run speaks English.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence

from cleaner import __version__, i18n
from cleaner.i18n import ctext as C_
from cleaner.i18n import ntext as N_
from cleaner.i18n import say
from cleaner.i18n import text as _
from cleaner.platforms import Env
from cleaner.service import Cleaner, UnknownCategory
from cleaner.storage import Storage, StorageError
from cleaner.units import human

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time (start-up time counts)
# Users run the command, not the function: what only some commands need is imported by them (start-up time).
if TYPE_CHECKING:
    from typing import Any, NoReturn, TextIO

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


_columns: int | None = None  # the terminal's width, read once per build_parser (see _HelpFormatter)


def _terminal_columns() -> int:
    """``shutil.get_terminal_size().columns``, worked out the same way without importing shutil."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns > 0:
        return columns
    try:
        size = os.get_terminal_size(sys.__stdout__.fileno())  # type: ignore[union-attr]
    except (AttributeError, ValueError, OSError):  # no stdout, closed, detached or not a terminal
        return 80
    return size.columns or 80


class _HelpFormatter(argparse.HelpFormatter):
    """argparse's help formatter, told the width rather than asking shutil for it.

    argparse makes a formatter for every ``add_argument`` and each asks ``shutil.get_terminal_size``:
    importing shutil loads zlib, bz2 and lzma, and every call queries the terminal. Start-up time counts.
    """

    def __init__(
        self, prog: str, indent_increment: int = 2, max_help_position: int = 24, width: int | None = None
    ) -> None:
        global _columns
        if width is None:
            if _columns is None:
                _columns = _terminal_columns()
            width = _columns - 2  # as argparse does
        super().__init__(prog, indent_increment, max_help_position, width)


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so --json callers get a JSON error too."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def argparse_texts() -> tuple[str, ...]:
    """argparse's own texts a person sees (usage, section titles, its errors), as argparse writes them, so
    they are in our catalog: argparse asks its module's `_`/`ngettext` for them (see `_speak_argparse`)."""
    return (
        _("usage: "),
        _("positional arguments"),
        _("options"),
        _("show this help message and exit"),
        _("argument %(argument_name)s: %(message)s"),
        _("unrecognized arguments: %s"),
        _("not allowed with argument %s"),
        _("ignored explicit argument %r"),
        _("the following arguments are required: %s"),
        _("one of the arguments %s is required"),
        _("expected one argument"),
        _("expected at most one argument"),
        _("expected at least one argument"),
        N_("expected %s argument", "expected %s arguments", 2),
        _("ambiguous option: %(option)s could match %(matches)s"),
        _("unexpected option string: %s"),
        _("invalid %(type)s value: %(value)r"),
        _("invalid choice: %(value)r (choose from %(choices)s)"),
        _("unknown parser %(parser_name)r (choices: %(choices)s)"),
    )


def _argparse_text(message: str) -> str:
    # argparse may pass None (a sub-parsers group without a description): hand it back as it is
    return say(message) if isinstance(message, str) else message


def _argparse_ntext(singular: str, plural: str, n: int) -> str:
    return N_(singular, plural, n)


def _speak_argparse() -> None:
    """Make argparse say its own texts (see `argparse_texts`) in this run's language. argparse looks its
    texts up through its module's `_` and `ngettext` when it formats them, so pointing those at our
    catalog is enough (they are gettext's, which only reads the process's locale, not `--lang`)."""
    setattr(argparse, "_", _argparse_text)  # noqa: B010 - a module global of argparse, not an attribute we own
    setattr(argparse, "ngettext", _argparse_ntext)  # noqa: B010


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
        if self._due(frac):  # the text is only said when it is drawn (callbacks come often)
            items = N_("{n} item", "{n} items", p.files)
            self._draw(frac, f"{p.category:<10} {items:>15} {human(p.bytes):>10}")

    def apply(self, done: int, total: int) -> None:
        """Apply progress callback."""
        frac = done / total if total else 1.0
        if self._due(frac):
            self._draw(frac, _("deleting {done}/{total}", done=done, total=total))

    def _due(self, frac: float) -> bool:
        """Whether to draw now: on a terminal, at most every 0.1 s (and always the end)."""
        if not self.enabled:
            return False
        now = time.monotonic()
        if now - self._last < 0.1 and frac < 1.0:
            return False
        self._last = now
        return True

    def _draw(self, frac: float, text: str) -> None:
        width = 30
        filled = int(width * min(max(frac, 0.0), 1.0))
        percent = i18n.number(frac * 100, decimals=1)
        self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {percent:>5}% {text}\x1b[K")
        self.stream.flush()
        self._drawn = True

    def done(self) -> None:
        """Finish the line."""
        if self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._drawn = False


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (every sub-command accepts --json and --lang), in this run's language."""
    global _columns
    _columns = None  # read the terminal's width again (once) for this parser's help
    _speak_argparse()
    dir_ = C_("metavar", "DIR")
    common = _Parser(add_help=False)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help=_("machine-readable output"))
    common.add_argument(
        "--root",
        default=argparse.SUPPRESS,
        metavar=dir_,
        help=_("resolve system locations (/tmp, /etc/xdg) under DIR"),
    )
    lang_help = _("language of the output: ru or en (default: from LANGUAGE, LC_ALL, LC_MESSAGES or LANG)")
    common.add_argument("--lang", choices=i18n.LOCALES, default=argparse.SUPPRESS, help=lang_help)
    p = _Parser(prog="ttfd-cleaner", description=_("TTFD Cleaner: remove junk files and manage startup programs."))
    p.add_argument(
        "--version", action="version", version=f"ttfd-cleaner {__version__}", help=_("show the version and exit")
    )
    p.add_argument("--json", action="store_true", default=False, help=_("machine-readable output"))
    p.add_argument("--lang", choices=i18n.LOCALES, default=None, help=lang_help)
    p.add_argument("--root", default=None, metavar=dir_, help=argparse.SUPPRESS)
    sub = p.add_subparsers(dest="command", metavar=C_("metavar", "COMMAND"), parser_class=_Parser)
    sub.required = True

    sub.add_parser("status", parents=[common], help=_("OS, disk usage and reclaimable summary"))
    lc = sub.add_parser("list-categories", parents=[common], help=_("list cleaning categories"))
    cleanerml_help = _("add the options of the CleanerML files in DIR")
    lc.add_argument("--cleanerml", metavar=dir_, help=cleanerml_help)

    for name, helptext in (
        ("scan-cleaning", _("preview what would be deleted")),
        ("apply-cleaning", _("delete what the preview lists")),
    ):
        sp = sub.add_parser(name, parents=[common], help=helptext)
        sp.add_argument(
            "--categories",
            default=DEFAULT_CATEGORIES,
            metavar=C_("metavar", "NAMES"),
            help=_("comma-separated names (default: %(default)s)"),
        )
        sp.add_argument("--cleanerml", metavar=dir_, help=cleanerml_help)
        sp.add_argument("--force", action="store_true", help=_("clean even when the owning application is running"))
        sp.add_argument(
            "--max-items", type=int, default=100, metavar="N", help=_("paths listed per category (-1: all)")
        )
        if name == "apply-cleaning":
            sp.add_argument("--trash", action="store_true", help=_("send files to the desktop trash instead"))
            sp.add_argument("--yes", action="store_true", help=_("really delete (without it: preview and refuse)"))

    ss = sub.add_parser("scan-startup", parents=[common], help=_("list startup entries"))
    ss.add_argument(
        "--category",
        choices=["logon", "services", "scheduled", "all"],
        default="all",
        help=_("which entries: programs started at logon, services, scheduled tasks, or all"),
    )
    ts = sub.add_parser("toggle-startup", parents=[common], help=_("enable or disable a startup entry"))
    entry_help = _("the entry's id (see scan-startup)")
    ts.add_argument("--id", required=True, dest="entry_id", metavar="ID", help=entry_help)  # text-ok: reads as is
    g = ts.add_mutually_exclusive_group(required=True)
    g.add_argument("--enable", action="store_true", help=_("start it at login again"))
    g.add_argument("--disable", action="store_true", help=_("do not start it at login"))

    pattern = C_("metavar", "PATH_OR_GLOB")
    path = C_("metavar", "PATH")
    action = C_("metavar", "ACTION")
    ex = sub.add_parser("exclusions", parents=[common], help=_("paths/globs that are never cleaned"))
    exs = ex.add_subparsers(dest="action", metavar=action, parser_class=_Parser)
    exs.required = True
    exs.add_parser("list", parents=[common], help=_("show the exclusions"))
    exs.add_parser("add", parents=[common], help=_("never clean this path or glob")).add_argument(
        "pattern", metavar=pattern, help=_("a path (its whole subtree is kept) or a glob such as *.iso")
    )
    exs.add_parser("remove", parents=[common], help=_("remove an exclusion")).add_argument(
        "pattern", metavar=pattern, help=_("the exclusion as it is listed")
    )

    cp = sub.add_parser("custom-paths", parents=[common], help=_("paths cleaned by the 'custom' category"))
    cps = cp.add_subparsers(dest="action", metavar=action, parser_class=_Parser)
    cps.required = True
    cps.add_parser("list", parents=[common], help=_("show the custom paths"))
    cps.add_parser("add", parents=[common], help=_("clean this path too")).add_argument(
        "path", metavar=path, help=_("a directory (emptied) or a file (deleted)")
    )
    cps.add_parser("remove", parents=[common], help=_("stop cleaning this path")).add_argument(
        "path", metavar=path, help=_("the path as it is listed")
    )

    sub.add_parser("gui", parents=[common], help=_("open the desktop window"))
    rp = sub.add_parser("reports", parents=[common], help=_("history of cleaning runs"))
    rp.add_argument("--last", type=int, default=None, metavar="N", help=_("only the N newest"))
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
            files = N_("{n} file", "{n} files", c.files)
            dirs = N_("{n} folder", "{n} folders", c.dirs)
            self.p(f"{c.name:<24} {human(c.bytes):>11}  {files}, {dirs}")
            if c.warning:
                self.p("    " + _("warning: {text}", text=say(c.warning)))
            for r in c.refused:
                self.p("    " + _("refused: {reason} (use --force to clean anyway)", reason=say(r)))
            for n in c.notes:
                self.p("    " + _("note: {text}", text=say(n)))
            for e in c.errors[:5]:
                self.p("    " + _("error: {message}", message=say(e)))
            if max_items:
                for shown, (ent, action) in enumerate(c.iter_actions()):
                    if max_items > 0 and shown >= max_items:
                        self.p("    ...")
                        break
                    what = "" if action == "delete" else f"{action}: "
                    self.p(f"    {human(ent[1]):>10}  {what}{ent[0]}")
        items = N_(
            "{n} item ({seconds})", "{n} items ({seconds})", res.total_items, seconds=i18n.seconds(res.duration_s)
        )
        total = C_("sum", "total")
        self.p(f"{total:<24} {human(res.total_bytes):>11}  {items}")

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
            labels = (_("OS:"), _("Disk:"))
            width = max(len(x) for x in labels) + 1
            system = f"{platform.system()} {platform.release()} ({platform.machine()})"
            self.p(f"{labels[0]:<{width}} {system}")
            disk = _(
                "{used} used of {total}, {free} free ({path})",
                used=human(du.used),
                total=human(du.total),
                free=human(du.free),
                path=self.env.home,
            )
            self.p(f"{labels[1]:<{width}} {disk}")
            self.p(_("Reclaimable:"))
            for c in res.categories.values():
                extra = (
                    "  " + _("(refused: {reasons})", reasons="; ".join(say(r) for r in c.refused)) if c.refused else ""
                )
                self.p(f"  {c.name:<10} {human(c.bytes):>11}{extra}")
            total = C_("sum", "total")
            self.p(f"  {total:<10} {human(res.total_bytes):>11}")

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
                flag = " " + _("(opt-in)") if c.opt_in else ""
                self.p(f"{c.name:<28} {say(c.label)}{flag}: {say(c.description)}")
                if c.warning:
                    self.p(f"{'':<28} " + _("warning: {text}", text=say(c.warning)))
                for r in c.refused_actions:
                    self.p(f"{'':<28} " + _("refuses: {reason}", reason=say(r)))
            for s in cl.skipped:
                self.p(_("skipped: {text}", text=say(s)))

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
            msg = _("nothing deleted: re-run with --yes to delete the items listed above")
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
                print(_("refused: {reason}", reason=msg), file=self.err)
            return EXIT_NEEDS_YES
        report, path = cl.apply(res, trash=self.args.trash, progress=self.bar.apply)
        self.bar.done()
        data = {"applied": True, "preview": res.to_json(0), "report": report, "report_path": path}

        def text() -> None:
            self._print_preview(res, 0)
            t = report["total"]
            parts = [N_("deleted {n} item", "deleted {n} items", t["deleted"])]
            if t.get("edited"):
                parts.append(N_("changed {n} file in place", "changed {n} files in place", t["edited"]))
            parts += [
                _("freed {size}", size=human(t["bytes_freed"])),
                _("skipped: {n}", n=t["skipped"]),
                _("errors: {n}", n=t["errors"]),
                i18n.seconds(report["duration_s"]),
            ]
            self.p(", ".join(parts))
            for e in report["errors"][:10]:
                message = f"{e['path']}: {say(e['error'])}"
                self.p("  " + _("error: {message}", message=message))
            for s in report["skipped"][:10]:
                skipped = f"{s['path']}: {say(s['reason'])}"
                self.p("  " + _("skipped: {text}", text=skipped))
            self.p(_("report: {path}", path=path))

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
            states = (C_("startup entry", "enabled"), C_("startup entry", "disabled"))
            width = max(len(x) for x in states)
            for e in entries:
                state = states[0] if e.enabled else states[1]
                self.p(f"{state:<{width}}  {e.id}")
                described = f"  ({e.description})" if e.description else ""
                self.p(f"{'':<{width}}  {e.name}: {e.command}{described}")
            for n in mgr.notes():
                self.p(_("note: {text}", text=say(n)))
            if not entries:
                self.p(_("no startup entries found"))

        self.emit(data, text)
        return EXIT_OK

    def cmd_toggle_startup(self) -> int:
        rec = self._startup().set_enabled(self.args.entry_id, bool(self.args.enable))
        state = C_("startup entry", "enabled") if rec["enabled"] else C_("startup entry", "disabled")
        unchanged = "" if rec["changed"] else " " + _("(unchanged)")
        self.emit({"result": rec}, lambda: self.p(f"{rec['id']}: {state}{unchanged}"))
        return EXIT_OK

    def cmd_exclusions(self) -> int:
        changed = False
        if self.args.action == "add":
            changed = self.storage.add_exclusion(self.args.pattern)
        elif self.args.action == "remove":
            changed = self.storage.remove_exclusion(self.args.pattern)
            if not changed:
                raise StorageError(_("not in the exclusions: {pattern}", pattern=self.args.pattern))
        items = self.storage.exclusions()
        self.emit({"exclusions": items, "changed": changed}, lambda: self._lines(items, _("no exclusions")))
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
                raise StorageError(_("not a custom path: {path}", path=p))
            paths.remove(p)
            changed = True
        if changed:
            settings["custom_paths"] = paths
            self.storage.save_settings(settings)
        self.emit({"custom_paths": paths, "changed": changed}, lambda: self._lines(paths, _("no custom paths")))
        return EXIT_OK

    def cmd_gui(self) -> int:
        from cleaner import gui  # Tk only when the window is wanted

        return gui.run(Cleaner(self.env, self.storage))

    def cmd_reports(self) -> int:
        if self.args.last is not None and self.args.last < 1:
            raise UsageError(_("--last must be at least 1"))
        reps = self.storage.reports(self.args.last)

        def text() -> None:
            if not reps:
                self.p(_("no reports yet"))
            for r in reps:
                t = r.get("total", {})
                cats = ",".join(c["name"] for c in r.get("categories", []))
                started = i18n.parse_moment(r.get("started"))
                when = i18n.moment(started) if started else str(r.get("started", "?"))
                parts = (
                    _("freed {size}", size=human(t.get("bytes_freed", 0))),
                    N_("deleted {n} item", "deleted {n} items", int(t.get("deleted", 0))),
                    _("errors: {n}", n=int(t.get("errors", 0))),
                    i18n.seconds(float(r.get("duration_s", 0))),
                )
                self.p(f"{when}  {cats:<30} " + ", ".join(parts))

        self.emit({"reports": reps}, text)
        return EXIT_OK


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run the CLI and return the exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    argv = list(sys.argv[1:] if argv is None else argv)
    want_json = "--json" in argv
    # The language is needed before parsing (help and usage errors are said by the parser); --json speaks English.
    i18n.use(i18n.SOURCE if want_json else i18n.choose(_wanted_language(argv)))
    command = next((a for a in argv if not a.startswith("-")), "")
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        return _fail(out, err, want_json, command, "usage", str(exc), EXIT_USAGE)
    except SystemExit as exc:  # --version / --help
        return int(exc.code or 0)
    if args.lang and not args.json:  # an abbreviated --la ru, which _wanted_language does not see
        i18n.use(args.lang)
    app = App(args, out, err)
    handler = getattr(app, "cmd_" + args.command.replace("-", "_"))
    try:
        return int(handler())
    except UsageError as exc:
        return _fail(out, err, app.json, args.command, "usage", str(exc), EXIT_USAGE)
    except UnknownCategory as exc:
        return _fail(out, err, app.json, args.command, "unknown_category", say(i18n.reason(exc)), EXIT_USAGE)
    except StorageError as exc:
        return _fail(out, err, app.json, args.command, "storage", say(i18n.reason(exc)), EXIT_ERROR)
    except OSError as exc:
        return _fail(out, err, app.json, args.command, "os_error", str(exc), EXIT_ERROR)
    except Exception as exc:
        # A StartupError can only come from a startup command, which has imported its module by then.
        base = sys.modules.get("cleaner.startup.base")
        if base is None or not isinstance(exc, base.StartupError):
            raise
        return _fail(out, err, app.json, args.command, "startup", say(i18n.reason(exc)), EXIT_ERROR)
    finally:
        app.bar.done()


def _wanted_language(argv: list[str]) -> str | None:
    """The value of --lang (`--lang ru` or `--lang=ru`) before argparse has run, or None."""
    for i, arg in enumerate(argv):
        if arg == "--":
            break
        if arg == "--lang" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--lang="):
            return arg.partition("=")[2]
    return None


def _fail(out: TextIO, err: TextIO, as_json: bool, command: str, code: str, message: str, rc: int) -> int:
    if as_json:
        data = {
            "schema": SCHEMA_VERSION,
            "command": command,
            "ok": False,
            "error": {"code": code, "message": message},
        }
        _write_json(out, data)
    print(_("error: {message}", message=message), file=err)
    return rc


def _write_json(out: TextIO, data: dict[str, Any]) -> None:
    # One write: json.dump writes piece by piece, a system call each when stdout is unbuffered.
    out.write(json.dumps(data, indent=2) + "\n")
