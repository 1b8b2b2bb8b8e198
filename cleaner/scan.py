"""Scanning: turn categories into an exact list of deletable entries (the preview apply works from)."""

from __future__ import annotations

import contextlib
import gc
import glob
import marshal
import mmap
import os
import re
import select
import stat
import struct
import sys
import time
from _thread import allocate_lock
from collections import deque
from collections.abc import Callable, Iterable, Iterator

from cleaner.i18n import _
from cleaner.platforms import Env
from cleaner.records import NamedTuple
from cleaner.rules import EDIT_ACTIONS, Category, Rule
from cleaner.safety import (
    Protector,
    RunningChecker,
    is_protected_root,
    is_within,
    read_mount_points,
    root_problem,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time (start-up time counts)
if TYPE_CHECKING:
    import threading
    from typing import Any, NoReturn

if sys.platform != "win32":
    import fcntl  # parallel walks only: they need fork, which Windows does not have

# One candidate: (path, disk usage in bytes, kind, st_dev, st_ino, st_mtime_ns). A plain tuple because a
# scan may hold millions of them and this is the cheapest record Python has.
Entry = tuple[str, int, int, int, int, int]
KIND_FILE = 0
KIND_DIR = 1
KIND_LINK = 2
KIND_NAMES = {KIND_FILE: "file", KIND_DIR: "dir", KIND_LINK: "symlink"}


class Packed:
    """Entries a worker process found, still in marshal form: decoded only when someone reads them."""

    __slots__ = ("blob", "n")

    def __init__(self, blob: bytes, n: int) -> None:
        self.blob = blob
        self.n = n

    def __len__(self) -> int:
        return self.n

    def decode(self) -> list[Entry]:
        """The entries (a list of Entry tuples, as the worker produced them)."""
        out: list[Entry] = marshal.loads(self.blob)  # noqa: S302 - from our own worker
        return out


class Entries:
    """Candidates in walk order, as blocks; blocks from worker processes stay packed until read.

    A preview that is only counted and summarised (``scan-cleaning --json`` lists 100 per category)
    never decodes most of a big walk; apply, full listings and de-duplication read everything.
    """

    __slots__ = ("_blocks", "_n")

    def __init__(self, items: list[Entry] | None = None) -> None:
        self._blocks: list[list[Entry] | Packed] = [items] if items else []
        self._n = len(items) if items else 0

    def __len__(self) -> int:
        return self._n

    def __bool__(self) -> bool:
        return self._n > 0

    def __iter__(self) -> Iterator[Entry]:
        for b in self._blocks:
            yield from (b.decode() if isinstance(b, Packed) else b)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Entries | list):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"Entries({list(self)!r})"

    def append(self, e: Entry) -> None:
        """Add one entry at the end."""
        if not self._blocks or isinstance(self._blocks[-1], Packed):
            self._blocks.append([])
        last = self._blocks[-1]
        assert isinstance(last, list)
        last.append(e)
        self._n += 1

    def extend(self, items: list[Entry] | Packed | Entries) -> None:
        """Add a block (a list is kept as it is, not copied) or every block of another Entries."""
        if isinstance(items, Entries):
            self._blocks.extend(items._blocks)
        elif items:
            self._blocks.append(items)
        self._n += len(items)

    def materialize(self) -> list[Entry]:
        """Everything as one list (decoded once; later reads use it)."""
        first = self._blocks[0] if len(self._blocks) == 1 else None
        if isinstance(first, list):
            return first
        out = list(self)
        self._blocks = [out]
        return out

    def __getitem__(self, i: int) -> Entry:
        return self.materialize()[i]

    def __setitem__(self, i: int, e: Entry) -> None:
        self.materialize()[i] = e


# Directory fds let us stat and delete relative to an already-verified directory (no path re-resolution,
# so a directory swapped for a symlink mid-scan is never followed). Windows has no dir_fd support.
USE_DIR_FD = os.open in os.supports_dir_fd and os.scandir in os.supports_fd and os.name != "nt"
_O_DIR = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_HAVE_BLOCKS = hasattr(os.stat_result, "st_blocks")
_REPARSE = 0x400  # FILE_ATTRIBUTE_REPARSE_POINT: junctions and Windows symlinks are never entered
PROGRESS_EVERY = 2048

# Parallel walks (see Scanner._walk_split): a walk is shared among worker processes once its top levels
# hold at least PARALLEL_MIN_DIRS sub-directories; the parent expands up to EXPAND_MAX directories
# breadth-first looking for TASKS_PER_WORKER subtrees per worker.
PARALLEL_MIN_DIRS = 16
TASKS_PER_WORKER = 32
EXPAND_MAX = 256
MAX_WORKERS = 4


_gc_lock = allocate_lock()  # threading.Lock, without importing threading
_gc_users = 0
_gc_was_enabled = False


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while a scan builds its (acyclic) preview tuples.

    A big scan allocates one tuple per file; with the GC on, the collector repeatedly walks the
    growing list for nothing (about 10% of scan time). Parallel scans share one pause, and the
    GC is only re-enabled if it was on before the first of them.
    """
    global _gc_users, _gc_was_enabled
    with _gc_lock:
        if _gc_users == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_users += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_users -= 1
            if _gc_users == 0 and _gc_was_enabled:
                gc.enable()


class Cancelled(Exception):
    """Raised inside a scan when the caller's cancel event is set."""


class Progress(NamedTuple):
    """A snapshot sent to the progress callback."""

    category: str
    files: int
    bytes: int
    rules_done: int
    rules_total: int


class RuleResult:
    """Candidates found by one rule, with what apply needs to re-check them."""

    def __init__(
        self,
        label: str,
        allowed_root: str,
        never_trash: bool = False,
        own_files_only: bool = False,
        action: str = "delete",  # what apply does to each entry (see rules.ACTIONS)
        action_args: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self.label = label
        self.allowed_root = allowed_root
        self.never_trash = never_trash
        self.own_files_only = own_files_only
        self.action = action
        self.action_args = action_args
        self.entries = Entries()  # files and symlinks, deleted first
        self.dirs: list[Entry] = []  # directories that will be empty, children first


class CategoryResult:
    """Everything a scan found for one category."""

    def __init__(self, name: str, label: str, notes: list[str] | None = None, warning: str = "") -> None:
        self.name = name
        self.label = label
        self.rules: list[RuleResult] = []
        self.bytes = 0
        self.files = 0
        self.dirs = 0
        self.refused: list[str] = []
        self.notes: list[str] = notes if notes is not None else []
        self.errors: list[str] = []
        self.warning = warning

    def iter_entries(self) -> Iterable[Entry]:
        """All candidates, files before directories."""
        for r in self.rules:
            yield from r.entries
        for r in self.rules:
            yield from r.dirs

    def iter_actions(self) -> Iterable[tuple[Entry, str]]:
        """Candidates in ``iter_entries`` order, each with what apply does to it ('delete', 'json'...)."""
        for r in self.rules:
            for e in r.entries:
                yield e, r.action
        for r in self.rules:
            for e in r.dirs:
                yield e, "delete"


class ScanResult:
    """The preview: per-category candidates and totals."""

    def __init__(
        self,
        categories: dict[str, CategoryResult],
        started: float,
        duration_s: float,
        forced: bool,
        cancelled: bool = False,
    ) -> None:
        self.categories = categories
        self.started = started
        self.duration_s = duration_s
        self.forced = forced
        self.cancelled = cancelled

    @property
    def total_bytes(self) -> int:
        """Bytes reclaimable over all categories (each path counted once)."""
        return sum(c.bytes for c in self.categories.values())

    @property
    def total_items(self) -> int:
        """Files, links and directories over all categories."""
        return sum(c.files + c.dirs for c in self.categories.values())

    def to_json(self, max_items: int = 0) -> dict[str, Any]:
        """Stable JSON form (see cleaner/README.md); ``max_items`` limits listed paths per category."""
        cats = []
        for c in self.categories.values():
            d: dict[str, Any] = {
                "name": c.name,
                "label": c.label,
                "bytes": c.bytes,
                "files": c.files,
                "dirs": c.dirs,
                "refused": c.refused,
                "notes": c.notes,
                "errors": c.errors,
                "warning": c.warning,
            }
            if max_items:
                items: list[dict[str, Any]] = []
                for e, action in c.iter_actions():
                    if 0 < max_items <= len(items):  # negative: list everything
                        break
                    items.append({"path": e[0], "bytes": e[1], "kind": KIND_NAMES[e[2]], "action": action})
                d["items"] = items
            cats.append(d)
        return {
            "total_bytes": self.total_bytes,
            "total_items": self.total_items,
            "duration_s": round(self.duration_s, 4),
            "forced": self.forced,
            "cancelled": self.cancelled,
            "categories": cats,
        }


class _Dir:
    """Walk bookkeeping: a directory is deletable only when everything below it is (post-order)."""

    __slots__ = ("entry", "full", "parent", "path", "pending")

    def __init__(self, path: str, entry: Entry | None, parent: _Dir | None) -> None:
        self.path = path
        self.entry = entry
        self.parent = parent
        self.pending = 0
        self.full = True


def _compile(rx: str | None) -> Callable[[str], Any] | None:
    return re.compile(rx).search if rx else None


_S_IFMT, _S_IFREG, _S_IFDIR, _S_IFLNK = 0o170000, 0o100000, 0o040000, 0o120000


class Criteria:
    """What an entry qualifies by (owner, kind, age, filters): the one definition every scan path uses.

    The walk (single-process or forked, see ``_Walk.scan_dir``) and the single-entry searches ('file',
    'glob', see ``Scanner._one``) all ask ``kind()``; the walk only skips the call for a plain file
    when ``trivial`` says the answer cannot be anything but yes. Age applies to files, symbolic links
    and directories alike: anything changed within ``min_age_s`` may be in use.
    """

    __slots__ = ("accept", "cutoff", "dirs", "kinds", "own_uid", "trivial")

    def __init__(self, rule: Rule, uid: int, now_ns: int) -> None:
        rx, nrx = _compile(rule.regex), _compile(rule.nregex)
        wrx, nwrx = _compile(rule.wholeregex), _compile(rule.nwholeregex)
        self.accept: Callable[[str, str], bool] | None = None
        if rx or nrx or wrx or nwrx:

            def accept(path: str, name: str) -> bool:
                if rx is not None and not rx(name):
                    return False
                if nrx is not None and nrx(name):
                    return False
                if wrx is not None and not wrx(path):
                    return False
                return not (nwrx is not None and nwrx(path))

            self.accept = accept
        self.cutoff = now_ns - int(rule.min_age_s * 1e9) if rule.min_age_s > 0 else 0
        self.own_uid = uid if (rule.own_files_only and uid >= 0) else -1
        # Only 'delete' removes links and directories; the other actions work on regular files.
        if rule.action != "delete" or rule.object_type == "f":
            kinds = {KIND_FILE}
        elif rule.object_type == "d":
            kinds = {KIND_DIR}
        else:
            kinds = {KIND_FILE, KIND_LINK, KIND_DIR}
        if rule.search == "walk.files":
            kinds.discard(KIND_DIR)
        self.kinds = frozenset(kinds)
        self.dirs = KIND_DIR in kinds  # directories can be candidates themselves
        self.trivial = self.accept is None and not self.cutoff and self.own_uid < 0 and KIND_FILE in kinds

    def kind(self, st: os.stat_result, path: str, name: str) -> int:
        """KIND_FILE, KIND_LINK or KIND_DIR when the entry qualifies, -1 when it stays."""
        if self.own_uid >= 0 and st.st_uid != self.own_uid:
            return -1  # shared dirs like /tmp: never other users' entries
        fmt = st.st_mode & _S_IFMT
        if fmt == _S_IFLNK or _is_reparse(st):
            kind = KIND_LINK
        elif fmt == _S_IFREG:
            kind = KIND_FILE
        elif fmt == _S_IFDIR:
            kind = KIND_DIR
        else:
            return -1  # sockets, fifos and devices are never junk we delete
        if kind not in self.kinds:
            return -1
        if self.cutoff and st.st_mtime_ns >= self.cutoff:
            return -1
        if self.accept is not None and not self.accept(path, name):
            return -1
        return kind


class Scanner:
    """Runs rules against the file system; one instance per scan (it de-duplicates across categories)."""

    def __init__(
        self,
        env: Env,
        protector: Protector,
        *,
        force: bool = False,
        running: RunningChecker | None = None,
        mounts: set[str] | None = None,
        progress: Callable[[Progress], None] | None = None,
        cancel: threading.Event | None = None,
        workers: int | None = None,
        parallel_min_dirs: int = PARALLEL_MIN_DIRS,
    ) -> None:
        """``workers``: processes per large walk; None picks auto_workers() (1 where forking is unsafe)."""
        self.env = env
        self.protect = protector
        self.force = force
        self.running = running or RunningChecker(env)
        self.mounts = read_mount_points() if mounts is None else mounts
        self.progress = progress
        self.cancel = cancel
        self.seen: set[str] = set()
        self.seen_inodes: set[tuple[int, int]] = set()
        self.seen_edits: set[tuple[str, str, tuple[tuple[str, str], ...]]] = set()
        self.count = 0
        self.bytes = 0
        self._cat = ""
        self._rules_done = 0
        self._rules_total = 0
        self._uid = os.getuid() if hasattr(os, "getuid") else -1
        self._roots: list[str] = []
        self._rule_bytes = 0  # bytes claimed by the rule being scanned
        self.workers = auto_workers() if workers is None else max(1, workers)
        if not hasattr(os, "fork"):
            self.workers = 1
        self.parallel_min_dirs = max(1, parallel_min_dirs)
        self.forked_walks = 0  # walks that were shared with worker processes (tests and diagnostics)

    def scan(self, categories: list[Category]) -> ScanResult:
        """Scan categories in order; a path claimed by an earlier category is not counted again."""
        started = time.time()
        t0 = time.perf_counter()
        out: dict[str, CategoryResult] = {}
        self._rules_total = sum(len(c.rules) for c in categories)
        # What each rule can claim: its walk top, its single file, or its glob's fixed directory.
        self._roots = [
            os.path.normpath(r.allowed_root if r.search == "glob" or glob.has_magic(r.path) else r.path)
            for c in categories
            for r in c.rules
        ]
        cancelled = False
        try:
            with _gc_paused():
                for cat in categories:
                    out[cat.name] = self._scan_category(cat)
        except Cancelled:
            cancelled = True
        self._emit()
        return ScanResult(out, started, time.perf_counter() - t0, self.force, cancelled)

    def _emit(self, files: int = 0, nbytes: int = 0) -> None:
        """Report progress; ``files``/``nbytes`` are what the running walk found so far."""
        if self.progress is not None:
            self.progress(
                Progress(self._cat, self.count + files, self.bytes + nbytes, self._rules_done, self._rules_total)
            )

    def _scan_category(self, cat: Category) -> CategoryResult:
        res = CategoryResult(cat.name, cat.label, notes=list(cat.notes), warning=cat.warning)
        self._cat = cat.name
        if cat.guard is not None and not self.force:
            why = self.running.reason(cat.guard)
            if why:
                res.refused.append(why)
                self._rules_done += len(cat.rules)
                return res
        for rule in cat.rules:
            if self.cancel is not None and self.cancel.is_set():
                raise Cancelled
            if rule.guard is not None and not self.force:
                why = self.running.reason(rule.guard)
                if why:
                    if why not in res.refused:
                        res.refused.append(why)
                    self._rules_done += 1
                    continue
            rr = RuleResult(
                rule.label,
                os.path.normpath(rule.allowed_root),
                rule.never_trash,
                rule.own_files_only,
                rule.action,
                rule.action_args,
            )
            self._rule_bytes = 0
            try:
                self._run_rule(rule, rr, res)
            except Cancelled:
                self._add(res, rr, self._rule_bytes)
                raise
            self._add(res, rr, self._rule_bytes)
            self._rules_done += 1
            self._emit()
        return res

    @staticmethod
    def _add(res: CategoryResult, rr: RuleResult, nbytes: int) -> None:
        """Count a rule's candidates; ``nbytes`` is their total (kept as they were claimed)."""
        if rr.entries or rr.dirs:
            res.rules.append(rr)
            res.files += len(rr.entries)
            res.dirs += len(rr.dirs)
            res.bytes += nbytes

    # -- rules -----------------------------------------------------------------------------------------

    def _run_rule(self, rule: Rule, rr: RuleResult, res: CategoryResult) -> None:
        root = os.path.normpath(rule.allowed_root)
        problem = root_problem(root, self.env)
        if problem:
            res.notes.append(_("{rule}: skipped, {problem}", rule=rule.label, problem=problem))
            return
        if rule.search in ("walk.files", "walk.all", "walk.top"):
            path = os.path.normpath(rule.path)
            if not is_within(path, root):
                res.notes.append(
                    _(
                        "{rule}: skipped, {path} is outside its allowed root {root}",
                        rule=rule.label,
                        path=path,
                        root=root,
                    )
                )
                return
            if not glob.has_magic(path):
                self._walk_top(rule, path, rr, res)
                return
            # BleachBit globs a walk's path too: walk every matching directory, in name order.
            for match in sorted(glob.glob(path)):
                top = os.path.normpath(match)
                # glob follows symlinked directories; a match reached through one is not ours to touch
                if is_within(top, root) and not root_problem(os.path.dirname(top), self.env):
                    self._walk_top(rule, top, rr, res)
        elif rule.search == "file":
            self._one(rule, os.path.normpath(rule.path), rr, res)
        elif rule.search == "glob":
            pat = rule.path
            rel = os.path.relpath(pat, root) if is_within(pat, root) else ""
            if not rel or rel.startswith(".."):
                res.notes.append(
                    _(
                        "{rule}: skipped, {path} is outside its allowed root {root}",
                        rule=rule.label,
                        path=pat,
                        root=root,
                    )
                )
                return
            if is_protected_root(root, self.env) and rel[:1] in "*?[":
                res.notes.append(
                    _(
                        "{rule}: refused, {pattern} would match anything in {root}",
                        rule=rule.label,
                        pattern=pat,
                        root=root,
                    )
                )
                return
            for match in sorted(glob.glob(pat)):
                if self.cancel is not None and self.cancel.is_set():
                    raise Cancelled
                parent = os.path.dirname(os.path.normpath(match))
                # glob follows symlinked directories; a match reached through one is not ours to touch
                if root_problem(parent, self.env) or not is_within(parent, root):
                    continue
                self._one(rule, os.path.normpath(match), rr, res)
        else:
            res.notes.append(
                _("{rule}: unsupported search {search}, skipped", rule=rule.label, search=repr(rule.search))
            )

    def _walk_top(self, rule: Rule, path: str, rr: RuleResult, res: CategoryResult) -> None:
        if is_protected_root(path, self.env):
            res.notes.append(_("{rule}: refused, {path} is too broad to walk", rule=rule.label, path=path))
            return
        self._walk(rule, path, rr, res)

    def _criteria(self, rule: Rule) -> Criteria:
        return Criteria(rule, self._uid, time.time_ns())

    def _one(self, rule: Rule, path: str, rr: RuleResult, res: CategoryResult) -> None:
        """A single named entry ('file' and 'glob' searches): a file/link, or a directory if empty."""
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return
        except OSError as exc:
            res.errors.append(f"{path}: {exc.strerror}")
            return
        name = os.path.basename(path)
        if not is_within(path, rr.allowed_root) or path == rr.allowed_root:
            return
        if self.protect.active and self.protect(path, name):
            return
        if root_problem(os.path.dirname(path), self.env):
            return
        is_dir = stat.S_ISDIR(st.st_mode) and not _is_reparse(st)
        if is_dir and path in self.mounts:
            res.notes.append(_("{path}: mount point, skipped", path=path))
            return
        kind = self._criteria(rule).kind(st, path, name)
        if kind < 0:
            return
        if kind == KIND_DIR:
            try:
                if os.listdir(path):
                    return  # directories are only ever removed when empty
            except OSError:
                return
        if rule.action in EDIT_ACTIONS:
            # An edit leaves the file in place, so it claims (path, edit) rather than the path: several
            # edits of one file (e.g. JSON keys) all run, and a later rule may still delete the file.
            key = (path, rule.action, rule.action_args)
            if key in self.seen_edits:
                return
            self.seen_edits.add(key)
            rr.entries.append((path, 0, kind, st.st_dev, st.st_ino, st.st_mtime_ns))  # size known after
            self.count += 1
            return
        if path in self.seen:
            return
        self.seen.add(path)
        du = _du(st)
        if st.st_nlink > 1 and kind != KIND_DIR:
            key2 = (st.st_dev, st.st_ino)
            if key2 in self.seen_inodes:
                du = 0
            self.seen_inodes.add(key2)
        entry = (path, du, kind, st.st_dev, st.st_ino, st.st_mtime_ns)
        (rr.dirs if kind == KIND_DIR else rr.entries).append(entry)
        self.count += 1
        self.bytes += du
        self._rule_bytes += du

    def _walk(self, rule: Rule, top: str, rr: RuleResult, res: CategoryResult) -> None:
        """Depth-first walk that never follows symlinks, never crosses mounts and prunes kept subtrees."""
        try:
            st = os.lstat(top)
        except FileNotFoundError:
            return
        except OSError as exc:
            res.errors.append(f"{top}: {exc.strerror}")
            return
        if not stat.S_ISDIR(st.st_mode) or _is_reparse(st):
            if stat.S_ISLNK(st.st_mode) or _is_reparse(st):
                res.notes.append(_("{rule}: {path} is a symbolic link, not entered", rule=rule.label, path=top))
            return
        protector = self.protect
        if protector.active and protector(top, os.path.basename(top)):
            return
        pruned: set[str] = set()
        for sub, guard in rule.guarded_subdirs:
            why = None if self.force else self.running.reason(guard)
            if why:
                pruned.add(os.path.normpath(sub))
                if why not in res.refused:
                    res.refused.append(why)
        w = _Walk(protector, pruned, self._criteria(rule), st.st_dev, self.mounts)
        top_entry: Entry | None = None
        if rule.search == "walk.top" and top != rr.allowed_root:
            top_entry = (top, _du(st), KIND_DIR, st.st_dev, st.st_ino, st.st_mtime_ns)
        root = _Dir(top, top_entry, None)
        found = _Found()
        try:
            if self.workers > 1:
                self._walk_split(w, root, found)
            else:
                try:
                    w.walk(root, found, self.cancel, lambda: self._emit(w.nfiles, w.nbytes))
                finally:
                    found.nbytes = w.nbytes
        finally:
            # Only rules whose roots overlap another rule of this scan can meet a path twice.
            self._claim(rr, res, found, self._overlaps(top))

    def _overlaps(self, root: str) -> tuple[bool, tuple[str, ...]]:
        """Which of a walk's paths another rule of this scan can also reach.

        (True, ()) when another root is equal to or above ``root``: any path may be met twice. Otherwise
        the prefixes of the roots nested below it (empty: none), so that only paths under those are
        recorded and checked; the bulk of a big walk then skips the claim bookkeeping.
        """
        root = os.path.normpath(root)
        if not self._roots:
            return True, ()
        mine = 0
        nested: list[str] = []
        for other in self._roots:
            if other == root:
                mine += 1
            elif is_within(root, other):
                return True, ()
            elif is_within(other, root) and os.path.lexists(other):
                nested.append(other)  # one that does not exist (now, after the walk) holds nothing of it
        if mine > 1:
            return True, ()
        return False, tuple(dict.fromkeys(nested))

    def _claim(self, rr: RuleResult, res: CategoryResult, found: _Found, overlap: tuple[bool, tuple[str, ...]]) -> None:
        """Keep what a walk found, in walk order, minus paths and hard-linked blocks earlier rules claimed.

        A walk (or its worker processes) knows nothing of other rules: claiming happens here, in the
        order a single depth-first walk produces, so the first finder of a path or inode keeps it.
        """
        entries: list[Entry] | Entries = found.entries if found.assembled is None else found.assembled
        removed = 0
        seen = self.seen
        seen_inodes = self.seen_inodes
        everything, nested = overlap
        if everything or nested:
            hard = set(found.hard)
            kept: list[Entry] = []
            keep = kept.append
            # A nested root is a directory or a single file: match it and everything below it.
            prefixes = tuple(p for n in nested for p in (n + os.sep, n))
            for i, e in enumerate(entries):
                p = e[0]
                if everything or p.startswith(prefixes):
                    if p in seen:
                        removed += e[1]
                        continue  # another rule already claims it (and will delete it)
                    seen.add(p)
                if i in hard:
                    key = (e[3], e[4])
                    if key in seen_inodes:
                        removed += e[1]
                        e = (p, 0, e[2], e[3], e[4], e[5])  # hard link: its blocks are already counted
                    seen_inodes.add(key)
                keep(e)
            entries = kept
        else:
            for i in found.hard:
                e = entries[i]
                key = (e[3], e[4])
                if key in seen_inodes:
                    removed += e[1]
                    entries[i] = (e[0], 0, e[2], e[3], e[4], e[5])
                seen_inodes.add(key)
        rr.entries.extend(entries)
        dir_bytes = 0
        for d in found.dirs:
            if d[0] not in seen:
                seen.add(d[0])
                rr.dirs.append(d)
                dir_bytes += d[1]
        res.errors.extend(found.errors)
        self.count += len(entries)
        self.bytes += found.nbytes - removed
        self._rule_bytes += found.nbytes - removed + dir_bytes

    # -- parallel walk ---------------------------------------------------------------------------------

    def _walk_split(self, w: _Walk, root: _Dir, found: _Found) -> None:
        """The same walk with its subtrees shared among worker processes, merged back into walk order.

        The parent expands the top of the tree breadth-first until there are enough subtrees to share,
        then it and ``workers - 1`` forked children take subtrees from a common queue. Each subtree's
        result is exactly what the depth-first walk produces for it, so stitching the blocks back in
        depth-first order reproduces the single-process result entry for entry.
        """
        cancel = self.cancel
        plan = _Plan(root, None)
        queue: deque[_Plan] = deque([plan])
        target = max(self.parallel_min_dirs, TASKS_PER_WORKER * self.workers)
        expanded = 0
        results: list[_TaskResult | None] = []
        next_emit = w.nfiles + PROGRESS_EVERY
        try:
            while queue and len(queue) < target and expanded < EXPAND_MAX:
                if cancel is not None and cancel.is_set():
                    raise Cancelled
                node = queue.popleft()
                b0 = w.nbytes
                subs = w.scan_dir(node.rec, node.files, node.errors, node.hard)
                node.nbytes = w.nbytes - b0
                node.scanned = True
                node.children = [_Plan(s, node) for s in subs]
                queue.extend(node.children)
                expanded += 1
                if w.nfiles >= next_emit:
                    next_emit = w.nfiles + PROGRESS_EVERY
                    self._emit(w.nfiles, w.nbytes)
            tasks = list(queue)
            results = [None] * len(tasks)
            for i, t in enumerate(tasks):
                t.task = i
            if len(tasks) >= self.parallel_min_dirs:
                self._run_forked(w, tasks, results)
            else:
                for i, t in enumerate(tasks):
                    results[i] = self._run_task(w, t, cancel)
        finally:
            _assemble(plan, results, w.include_dirs, found)

    def _run_task(self, w: _Walk, node: _Plan, cancel: threading.Event | None) -> _TaskResult:
        """Walk one subtree (in the calling process); progress goes to the scan's callback."""
        return _walk_task(w, node, cancel, lambda: self._emit(w.nfiles, w.nbytes))

    def _run_forked(self, w: _Walk, tasks: list[_Plan], results: list[_TaskResult | None]) -> None:
        """Share ``tasks`` with forked workers; fills ``results`` (all of it unless cancelled).

        Workers send each subtree's result as soon as it is walked; the parent takes them in between
        its own subtrees, so decoding them overlaps with the walk instead of trailing it.
        """
        n = len(tasks)
        ntok = min(n, _MAX_TOKENS)
        chunks = [(k * n // ntok, (k + 1) * n // ntok) for k in range(ntok)]
        nchild = self.workers - 1
        shm = mmap.mmap(-1, _PROGRESS.size * nchild)  # per child: files and bytes walked so far
        tok_r, tok_w = os.pipe()
        children: list[tuple[int, int]] = []  # (pid, read end of its result pipe)
        inboxes: dict[int, _Inbox] = {}
        received: list[int] = []  # tasks whose results came from a worker
        cancel = self.cancel
        done = False
        try:
            # Every token fits in the pipe before anyone reads (<= 4096 bytes, the smallest pipe buffer).
            os.write(tok_w, b"".join(_TOKEN.pack(k) for k in range(ntok)))
            os.close(tok_w)
            tok_w = -1
            for slot in range(nchild):
                try:
                    res_r, res_w = os.pipe()
                except OSError:
                    break  # out of file descriptors: fewer workers (or none: the parent walks it all)
                try:
                    pid = os.fork()
                except OSError:
                    os.close(res_r)
                    os.close(res_w)
                    break  # out of processes or memory: likewise
                if pid == 0:  # pragma: no cover - runs in the child, which never returns from here
                    _child_main(w, tasks, chunks, tok_r, res_w, shm, slot)
                os.close(res_w)
                children.append((pid, res_r))
                inboxes[res_r] = _Inbox()
                if slot == 0:
                    self.forked_walks += 1
                with contextlib.suppress(OSError, AttributeError):
                    fcntl.fcntl(res_r, fcntl.F_SETPIPE_SZ, 1 << 20)  # workers rarely wait for the parent

            def emit() -> None:
                cf, cb = _shm_totals(shm, nchild)
                self._emit(w.nfiles + cf, w.nbytes + cb)

            while (k := _take(tok_r)) >= 0:
                lo, hi = chunks[k]
                for i in range(lo, hi):
                    results[i] = _walk_task(w, tasks[i], cancel, emit)
                _drain(inboxes, results, received, 0)
            # The queue is empty: wait for the workers' last subtrees, cancellable, progress moving.
            last = (-1, -1)
            while inboxes:
                if cancel is not None and cancel.is_set():
                    raise Cancelled
                _drain(inboxes, results, received, 0.05)
                now = _shm_totals(shm, nchild)
                if now != last:
                    last = now
                    emit()
            done = True
        finally:
            if tok_w >= 0:
                os.close(tok_w)
            os.close(tok_r)
            _reap(children, kill=not done)  # cancelled or failed: stop the workers right away
            shm.close()
            for i in received:  # complete subtrees count, also in a cancelled scan's partial result
                r = results[i]
                if r is not None:
                    w.nfiles += len(r[0])
                    w.nbytes += r[5]
        # A worker that died (killed, out of memory...) loses nothing: its subtrees are walked here.
        for i, r in enumerate(results):
            if r is None:
                results[i] = self._run_task(w, tasks[i], cancel)


class _Found:
    """What one rule's walk found, in depth-first walk order, before other rules' claims are applied."""

    __slots__ = ("assembled", "dirs", "entries", "errors", "hard", "nbytes")

    def __init__(self) -> None:
        self.nbytes = 0  # sum of the entries' sizes
        self.entries: list[Entry] = []  # appended per file by the walk
        self.assembled: Entries | None = None  # instead, when put together from pieces (see _assemble)
        self.dirs: list[Entry] = []
        self.errors: list[str] = []
        self.hard: list[int] = []  # indices into entries of files/links with more than one hard link


class _Walk:
    """One rule's walk: the per-directory scan and the depth-first order every walk of a scan follows.

    Its attributes are fixed before the walk starts, so a forked worker inherits everything it needs.
    """

    def __init__(self, protector: Protector, pruned: set[str], criteria: Criteria, root_dev: int, mounts: set[str]):
        self.protector = protector
        self.pruned = pruned
        self.criteria = criteria
        self.include_dirs = criteria.dirs
        self.root_dev = root_dev
        self.mounts = mounts
        self.nfiles = 0  # progress: files and links found by this process (before other rules' claims)
        self.nbytes = 0

    def scan_dir(self, rec: _Dir, entries: list[Entry], errors: list[str], hard: list[int]) -> list[_Dir]:
        """List one directory: append its files and links, return its sub-directories in listing order."""
        pruned = self.pruned
        qualify = self.criteria.kind
        include_dirs = self.include_dirs
        own_uid = self.criteria.own_uid
        root_dev = self.root_dev
        mounts = self.mounts
        have_blocks = _HAVE_BLOCKS
        # A plain regular file qualifies without asking when the criteria hold no condition at all.
        fast = self.criteria.trivial and have_blocks
        kind_file, kind_dir = KIND_FILE, KIND_DIR
        is_nt = os.name == "nt"
        append = entries.append
        n0 = len(entries)
        nbytes = 0
        subs: list[_Dir] = []
        dpath = rec.path
        prefix = dpath if dpath.endswith(os.sep) else dpath + os.sep
        # Exclusions that cannot match anything in this directory cost nothing per file.
        protect = self.protector.for_dir(dpath)
        fd = -1
        try:
            if USE_DIR_FD:
                # O_NOFOLLOW: if the directory was replaced by a symlink since we saw it, fail here
                fd = os.open(dpath, _O_DIR)
                it = os.scandir(fd)
            else:
                it = os.scandir(dpath)
        except OSError as exc:
            errors.append(f"{dpath}: {exc.strerror}")
            rec.full = False
            it = None
        if it is not None:
            try:
                with it:
                    for e in it:
                        name = e.name
                        p = prefix + name
                        try:
                            st = e.stat(follow_symlinks=False)
                        except OSError:
                            rec.full = False
                            continue
                        if protect is not None and protect(p, name):
                            rec.full = False
                            continue
                        # Inline S_IFMT tests: this loop runs once per file and dominates scan time.
                        fmt = st.st_mode & 0o170000
                        if fmt == 0o100000 and fast and st.st_nlink == 1:
                            du = st.st_blocks * 512
                            append((p, du, kind_file, st.st_dev, st.st_ino, st.st_mtime_ns))
                            nbytes += du
                            continue
                        if fmt == 0o040000 and not (is_nt and _is_reparse(st)):
                            if own_uid >= 0 and st.st_uid != own_uid:
                                rec.full = False  # another user's directory is not entered
                                continue
                            if st.st_dev != root_dev or p in mounts or p in pruned:
                                rec.full = False  # another file system, or a running app's dir
                                continue
                            ent: Entry | None = None
                            if include_dirs and qualify(st, p, name) == kind_dir:
                                du = st.st_blocks * 512 if have_blocks else st.st_size
                                ent = (p, du, kind_dir, st.st_dev, st.st_ino, st.st_mtime_ns)
                            subs.append(_Dir(p, ent, rec))
                            continue
                        kind = qualify(st, p, name)
                        if kind < 0:
                            rec.full = False  # too young, not ours, filtered out, or a socket/fifo/device
                            continue
                        du = st.st_blocks * 512 if have_blocks else st.st_size
                        if st.st_nlink > 1:
                            hard.append(len(entries))  # its blocks may be counted already (see _claim)
                        append((p, du, kind, st.st_dev, st.st_ino, st.st_mtime_ns))
                        nbytes += du
            except OSError as exc:
                errors.append(f"{dpath}: {exc.strerror}")
                rec.full = False
            finally:
                if fd >= 0:
                    os.close(fd)
        self.nfiles += len(entries) - n0
        self.nbytes += nbytes
        return subs

    def walk(self, root: _Dir, found: _Found, cancel: threading.Event | None, tick: Callable[[], None] | None) -> None:
        """Depth-first walk of ``root``'s subtree (the order of every result); ``tick`` reports progress."""
        entries, dirs, errors, hard = found.entries, found.dirs, found.errors, found.hard
        scan_dir = self.scan_dir
        include_dirs = self.include_dirs
        every = PROGRESS_EVERY
        next_emit = self.nfiles + every
        stack = [root]
        while stack:
            rec = stack.pop()
            if cancel is not None and cancel.is_set():
                raise Cancelled
            subs = scan_dir(rec, entries, errors, hard)
            if subs:
                rec.pending = len(subs)
                stack.extend(subs)  # the last one listed is walked first
            else:
                _finish(rec, include_dirs, dirs)
            if self.nfiles >= next_emit:  # progress once per directory, not per file
                next_emit = self.nfiles + every
                if tick is not None:
                    tick()


def _finish(rec: _Dir, include_dirs: bool, dirs: list[Entry]) -> None:
    """A directory is done: keep it as a candidate if it will be empty, then tell its parent."""
    node: _Dir | None = rec
    while node is not None:
        entry = node.entry
        ok = include_dirs and node.full and entry is not None
        if ok and entry is not None:
            dirs.append(entry)
        parent = node.parent
        if parent is None:
            return
        if not ok:
            parent.full = False
        parent.pending -= 1
        if parent.pending > 0:
            return
        node = parent


# -- parallel walk: subtrees shared among forked workers ---------------------------------------------------

# One subtree walked: (entries, dirs, errors, hard-link indices, root will be empty, bytes); the entries
# are Packed when a worker process sent them.
_Walked = tuple[list[Entry], list[Entry], list[str], list[int], bool, int]
_TaskResult = tuple[list[Entry] | Packed, list[Entry], list[str], list[int], bool, int]
_TOKEN = struct.Struct("<I")
_MAX_TOKENS = 1024  # 4096 bytes of tokens: always fits in a pipe, so the queue is filled before forking


class _Plan:
    """A directory of the parallel walk's plan: expanded by the parent, or a subtree given to a worker."""

    __slots__ = ("children", "errors", "files", "hard", "nbytes", "rec", "scanned", "task", "up")

    def __init__(self, rec: _Dir, up: _Plan | None) -> None:
        self.rec = rec
        self.up = up
        self.task = -1  # index into the task list when a worker walks this subtree
        self.scanned = False
        self.files: list[Entry] = []
        self.errors: list[str] = []
        self.hard: list[int] = []
        self.nbytes = 0
        self.children: list[_Plan] = []


def _walk_task(w: _Walk, node: _Plan, cancel: threading.Event | None, tick: Callable[[], None] | None) -> _Walked:
    """Walk one planned subtree on its own; its root's fate (empty or not) is decided by the merge."""
    rec = node.rec
    rec.parent = None  # the walk of this subtree ends at its root
    found = _Found()
    b0 = w.nbytes
    w.walk(rec, found, cancel, tick)
    return found.entries, found.dirs, found.errors, found.hard, rec.full, w.nbytes - b0


def _assemble(plan: _Plan, results: list[_TaskResult | None], include_dirs: bool, found: _Found) -> None:
    """Stitch the plan's pieces together in exactly the order one depth-first walk produces.

    A depth-first walk lists a directory's files, then walks its sub-directories last-listed first, and
    finishes (adds the directory itself) after all of them. Missing pieces (a cancelled scan) count as
    'not empty', so a partial result never holds a directory with unlisted contents.
    """
    entries = found.assembled = Entries()
    dirs, errors, hard = found.dirs, found.errors, found.hard
    stack: list[tuple[_Plan, bool]] = [(plan, False)]
    while stack:
        node, finished = stack.pop()
        rec = node.rec
        if finished:
            ok = include_dirs and rec.full and rec.entry is not None
            if ok and rec.entry is not None:
                dirs.append(rec.entry)
        elif node.task >= 0 or not node.scanned:
            r = results[node.task] if node.task >= 0 else None
            if r is None:
                ok = False
            else:
                t_entries, t_dirs, t_errors, t_hard, full, t_bytes = r
                found.nbytes += t_bytes
                if t_hard:
                    base = len(entries)
                    hard.extend(base + i for i in t_hard)
                entries.extend(t_entries)
                dirs.extend(t_dirs)  # ends with the subtree's root when it will be empty
                errors.extend(t_errors)
                ok = include_dirs and full and rec.entry is not None
        else:
            if node.hard:
                base = len(entries)
                hard.extend(base + i for i in node.hard)
            entries.extend(node.files)
            errors.extend(node.errors)
            found.nbytes += node.nbytes
            stack.append((node, True))
            stack.extend((c, False) for c in node.children)  # the last one listed comes first
            continue
        if not ok and node.up is not None:
            node.up.rec.full = False


def _take(fd: int) -> int:
    """Next token from the shared queue, or -1 when it is empty."""
    data = b""
    while len(data) < _TOKEN.size:
        chunk = os.read(fd, _TOKEN.size - len(data))
        if not chunk:
            return -1
        data += chunk
    return int(_TOKEN.unpack(data)[0])


def _shm_totals(shm: mmap.mmap, nchild: int) -> tuple[int, int]:
    files = nbytes = 0
    for slot in range(nchild):
        f, b = _PROGRESS.unpack_from(shm, slot * _PROGRESS.size)
        files += f
        nbytes += b
    return files, nbytes


_PROGRESS = struct.Struct("<qq")


def _child_main(
    w: _Walk,
    tasks: list[_Plan],
    chunks: list[tuple[int, int]],
    tok_r: int,
    res_w: int,
    shm: mmap.mmap,
    slot: int,
) -> NoReturn:
    """A forked worker: walk subtrees from the queue, send each result to the parent, exit.

    It only lists directories and writes its pipe, never touching what the parent shares with others
    (callbacks, GUI, stdio), and leaves with os._exit so no inherited cleanup runs twice.
    """
    code = 1
    try:
        w.nfiles = w.nbytes = 0
        offset = slot * _PROGRESS.size

        def tick() -> None:
            _PROGRESS.pack_into(shm, offset, w.nfiles, w.nbytes)

        while (k := _take(tok_r)) >= 0:
            lo, hi = chunks[k]
            for i in range(lo, hi):
                entries, dirs, errors, hard, full, nbytes = _walk_task(w, tasks[i], None, tick)
                head = marshal.dumps((i, len(entries), dirs, errors, hard, full, nbytes))
                blob = marshal.dumps(entries)  # the parent keeps it as it is (see Packed)
                size = _FRAME.size + len(head) + len(blob)
                # blocks while the parent's pipe is full; it drains between its own subtrees
                _write_all(res_w, [_FRAME.pack(size), _FRAME.pack(len(head)), head, blob])
                tick()
        code = 0
    except BaseException:  # noqa: S110 - the parent walks whatever a failed worker did not deliver
        pass
    finally:
        os._exit(code)


# A worker's result for one subtree: the frame's size, then the size of its header, the header (a marshal of
# the subtree's number, entry count, dirs, errors, hard-link indices, emptiness and bytes) and the entries
# (a marshal of the list, kept by the parent as it is: see Packed). Sent with one writev, without joining.
_FRAME = struct.Struct("<Q")
_READ_SIZE = 1 << 18  # the parent's first read buffer per worker (it grows for a bigger frame)


def _write_all(fd: int, parts: list[bytes]) -> None:
    """Write every part, in order, with as few system calls as the pipe allows."""
    views = [memoryview(p) for p in parts]
    while views:
        n = os.writev(fd, views)
        while views and n >= len(views[0]):
            n -= len(views[0])
            views.pop(0)
        if n:
            views[0] = views[0][n:]


class _Inbox:
    """Bytes from one worker, read into one buffer that is reused, and cut into complete result frames.

    A frame's parts are copied out of the buffer once (not sliced, joined or unmarshalled into copies),
    so a worker's entries cost the parent one copy and no fresh pages per read.
    """

    __slots__ = ("bad", "buf", "end")

    def __init__(self) -> None:
        self.buf = bytearray(_READ_SIZE)
        self.end = 0  # buf[:end] holds data not yet taken
        self.bad = False

    def read(self, fd: int) -> list[tuple[bytes, bytes]] | None:
        """Read what the pipe holds; the (header, entries) of the frames it completed, None at its end."""
        if self.end == len(self.buf):
            self.buf += bytes(len(self.buf))  # a frame bigger than the buffer: grow it
        with memoryview(self.buf) as mv:
            n = os.readv(fd, [mv[self.end :]])
        if not n:
            return None
        self.end += n
        return self._frames()

    def _frames(self) -> list[tuple[bytes, bytes]]:
        out: list[tuple[bytes, bytes]] = []
        pos, end = 0, self.end
        with memoryview(self.buf) as mv:
            while end - pos >= _FRAME.size:
                (size,) = _FRAME.unpack_from(mv, pos)
                body = pos + _FRAME.size
                if end - body < size:
                    break
                pos = body + size
                (hlen,) = _FRAME.unpack_from(mv, body) if size >= _FRAME.size else (-1,)
                if not 0 <= hlen <= size - _FRAME.size:
                    out.append((b"", b""))  # malformed: refused by _take_result
                    continue
                head = body + _FRAME.size
                out.append((bytes(mv[head : head + hlen]), bytes(mv[head + hlen : pos])))
            if pos:
                rest = end - pos
                mv[:rest] = mv[pos:end]  # the start of the next frame (memmove)
                self.end = rest
        return out


def _drain(inboxes: dict[int, _Inbox], results: list[_TaskResult | None], received: list[int], timeout: float) -> None:
    """Take whatever the workers have sent (waiting up to ``timeout``); a closed pipe leaves ``inboxes``."""
    if not inboxes:
        return
    poller = select.poll()  # not select(): a GUI or a long-lived process may hold fds above FD_SETSIZE
    for fd in inboxes:
        poller.register(fd, select.POLLIN)
    for fd, _events in poller.poll(int(timeout * 1000)):
        box = inboxes[fd]
        frames = box.read(fd)
        if frames is None:
            del inboxes[fd]
            continue
        for head, blob in frames:
            if not box.bad:
                box.bad = not _take_result(head, blob, results, received)


def _take_result(head: bytes, blob: bytes, results: list[_TaskResult | None], received: list[int]) -> bool:
    """Store one worker result; False (and nothing stored) when it is malformed."""
    try:
        i, n, dirs, errors, hard, full, nbytes = marshal.loads(head)  # noqa: S302 - from our own worker
    except (ValueError, TypeError, EOFError):
        return False
    if not (isinstance(i, int) and 0 <= i < len(results)) or results[i] is not None:
        return False
    if not (isinstance(n, int) and isinstance(dirs, list) and isinstance(errors, list)):
        return False
    if not (isinstance(hard, list) and isinstance(nbytes, int)):
        return False
    results[i] = (Packed(blob, n), dirs, errors, hard, bool(full), nbytes)
    received.append(i)
    return True


def _reap(children: list[tuple[int, int]], *, kill: bool) -> None:
    """Close the workers' pipes and wait for them (killed first when the scan stopped early)."""
    for pid, fd in children:
        if kill:
            import signal  # rarely needed: its enums are a measurable share of start-up

            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.close(fd)
        with contextlib.suppress(ChildProcessError):  # already reaped when SIGCHLD is ignored
            os.waitpid(pid, 0)


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def fork_is_safe() -> bool:
    """True when forking worker processes cannot inherit another thread's half-held state.

    Only on Linux, and only while this process runs a single thread (counted by the kernel, so threads
    started by C libraries such as Tcl/Tk count too). The GUI scans in a worker thread next to Tk's main
    loop, so its scans stay single-process; the CLI and the benchmark fork.
    """
    if not sys.platform.startswith("linux") or not hasattr(os, "fork"):
        return False
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


def auto_workers() -> int:
    """Processes a large walk uses when the caller does not say: every CPU (up to MAX_WORKERS) if safe."""
    if not fork_is_safe():
        return 1
    return max(1, min(MAX_WORKERS, _cpus()))


def _du(st: os.stat_result) -> int:
    """Disk usage of one inode (allocated blocks where the OS reports them)."""
    return st.st_blocks * 512 if _HAVE_BLOCKS else st.st_size


def _is_reparse(st: os.stat_result) -> bool:
    return bool(getattr(st, "st_file_attributes", 0) & _REPARSE)  # Windows only; 0 elsewhere


def scan(
    env: Env,
    categories: list[Category],
    protector: Protector,
    *,
    force: bool = False,
    running: RunningChecker | None = None,
    mounts: set[str] | None = None,
    progress: Callable[[Progress], None] | None = None,
    cancel: threading.Event | None = None,
    workers: int | None = None,
) -> ScanResult:
    """Scan categories and return the preview that apply() executes (same result for any ``workers``)."""
    scanner = Scanner(
        env,
        protector,
        force=force,
        running=running,
        mounts=mounts,
        progress=progress,
        cancel=cancel,
        workers=workers,
    )
    return scanner.scan(categories)
