"""Scanning: turn categories into an exact list of deletable entries (the preview apply works from)."""

from __future__ import annotations

import contextlib
import gc
import glob
import os
import re
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from cleaner.platforms import Env
from cleaner.rules import Category, Rule
from cleaner.safety import (
    Protector,
    RunningChecker,
    is_protected_root,
    is_within,
    read_mount_points,
    root_problem,
)

# One candidate: (path, disk usage in bytes, kind, st_dev, st_ino, st_mtime_ns). A plain tuple because a
# scan may hold millions of them and this is the cheapest record Python has.
Entry = tuple[str, int, int, int, int, int]
KIND_FILE = 0
KIND_DIR = 1
KIND_LINK = 2
KIND_NAMES = {KIND_FILE: "file", KIND_DIR: "dir", KIND_LINK: "symlink"}

# Directory fds let us stat and delete relative to an already-verified directory (no path re-resolution,
# so a directory swapped for a symlink mid-scan is never followed). Windows has no dir_fd support.
USE_DIR_FD = os.open in os.supports_dir_fd and os.scandir in os.supports_fd and os.name != "nt"
_O_DIR = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_HAVE_BLOCKS = hasattr(os.stat_result, "st_blocks")
_REPARSE = 0x400  # FILE_ATTRIBUTE_REPARSE_POINT: junctions and Windows symlinks are never entered
PROGRESS_EVERY = 2048


_gc_lock = threading.Lock()
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


@dataclass
class Progress:
    """A snapshot sent to the progress callback."""

    category: str
    files: int
    bytes: int
    rules_done: int
    rules_total: int


@dataclass
class RuleResult:
    """Candidates found by one rule, with what apply needs to re-check them."""

    label: str
    allowed_root: str
    never_trash: bool = False
    own_files_only: bool = False
    entries: list[Entry] = field(default_factory=list)  # files and symlinks, deleted first
    dirs: list[Entry] = field(default_factory=list)  # directories that will be empty, children first


@dataclass
class CategoryResult:
    """Everything a scan found for one category."""

    name: str
    label: str
    rules: list[RuleResult] = field(default_factory=list)
    bytes: int = 0
    files: int = 0
    dirs: int = 0
    refused: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warning: str = ""

    def iter_entries(self) -> Iterable[Entry]:
        """All candidates, files before directories."""
        for r in self.rules:
            yield from r.entries
        for r in self.rules:
            yield from r.dirs


@dataclass
class ScanResult:
    """The preview: per-category candidates and totals."""

    categories: dict[str, CategoryResult]
    started: float
    duration_s: float
    forced: bool
    cancelled: bool = False

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
                for e in c.iter_entries():
                    if 0 < max_items <= len(items):  # negative: list everything
                        break
                    items.append({"path": e[0], "bytes": e[1], "kind": KIND_NAMES[e[2]]})
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
    ) -> None:
        self.env = env
        self.protect = protector
        self.force = force
        self.running = running or RunningChecker(env)
        self.mounts = read_mount_points() if mounts is None else mounts
        self.progress = progress
        self.cancel = cancel
        self.seen: set[str] = set()
        self.seen_inodes: set[tuple[int, int]] = set()
        self.count = 0
        self.bytes = 0
        self._cat = ""
        self._rules_done = 0
        self._rules_total = 0
        self._uid = os.getuid() if hasattr(os, "getuid") else -1
        self._roots: list[str] = []

    def scan(self, categories: list[Category]) -> ScanResult:
        """Scan categories in order; a path claimed by an earlier category is not counted again."""
        started = time.time()
        t0 = time.perf_counter()
        out: dict[str, CategoryResult] = {}
        self._rules_total = sum(len(c.rules) for c in categories)
        # What each rule can claim: its walk top, its single file, or its glob's fixed directory.
        self._roots = [
            os.path.normpath(r.allowed_root if r.search == "glob" else r.path) for c in categories for r in c.rules
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

    def _emit(self) -> None:
        if self.progress is not None:
            self.progress(Progress(self._cat, self.count, self.bytes, self._rules_done, self._rules_total))

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
            rr = RuleResult(rule.label, os.path.normpath(rule.allowed_root), rule.never_trash, rule.own_files_only)
            try:
                self._run_rule(rule, rr, res)
            except Cancelled:
                self._add(res, rr)
                raise
            self._add(res, rr)
            self._rules_done += 1
            self._emit()
        return res

    @staticmethod
    def _add(res: CategoryResult, rr: RuleResult) -> None:
        if rr.entries or rr.dirs:
            res.rules.append(rr)
            res.files += len(rr.entries)
            res.dirs += len(rr.dirs)
            res.bytes += sum(e[1] for e in rr.entries) + sum(e[1] for e in rr.dirs)

    # -- rules -----------------------------------------------------------------------------------------

    def _run_rule(self, rule: Rule, rr: RuleResult, res: CategoryResult) -> None:
        root = os.path.normpath(rule.allowed_root)
        problem = root_problem(root, self.env)
        if problem:
            res.notes.append(f"{rule.label}: skipped, {problem}")
            return
        if rule.search in ("walk.files", "walk.all", "walk.top"):
            path = os.path.normpath(rule.path)
            if not is_within(path, root):
                res.notes.append(f"{rule.label}: skipped, {path} is outside its allowed root {root}")
                return
            if is_protected_root(path, self.env):
                res.notes.append(f"{rule.label}: refused, {path} is too broad to walk")
                return
            self._walk(rule, path, rr, res)
        elif rule.search == "file":
            self._one(rule, os.path.normpath(rule.path), rr, res)
        elif rule.search == "glob":
            pat = rule.path
            rel = os.path.relpath(pat, root) if is_within(pat, root) else ""
            if not rel or rel.startswith(".."):
                res.notes.append(f"{rule.label}: skipped, {pat} is outside its allowed root {root}")
                return
            if is_protected_root(root, self.env) and rel[:1] in "*?[":
                res.notes.append(f"{rule.label}: refused, {pat} would match anything in {root}")
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
            res.notes.append(f"{rule.label}: unsupported search {rule.search!r}, skipped")

    def _filters(self, rule: Rule) -> tuple[Callable[[str, str], bool] | None, int]:
        rx, nrx = _compile(rule.regex), _compile(rule.nregex)
        wrx, nwrx = _compile(rule.wholeregex), _compile(rule.nwholeregex)
        cutoff = time.time_ns() - int(rule.min_age_s * 1e9) if rule.min_age_s > 0 else 0
        if not (rx or nrx or wrx or nwrx):
            return None, cutoff

        def accept(path: str, name: str) -> bool:
            if rx is not None and not rx(name):
                return False
            if nrx is not None and nrx(name):
                return False
            if wrx is not None and not wrx(path):
                return False
            return not (nwrx is not None and nwrx(path))

        return accept, cutoff

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
        accept, cutoff = self._filters(rule)
        if accept is not None and not accept(path, name):
            return
        if rule.own_files_only and self._uid >= 0 and st.st_uid != self._uid:
            return
        mode = st.st_mode
        if stat.S_ISDIR(mode) and not _is_reparse(st):
            if path in self.mounts:
                res.notes.append(f"{path}: mount point, skipped")
                return
            if cutoff and st.st_mtime_ns >= cutoff:
                return
            try:
                if os.listdir(path):
                    return  # directories are only ever removed when empty
            except OSError:
                return
            kind = KIND_DIR
        elif stat.S_ISLNK(mode) or _is_reparse(st):
            kind = KIND_LINK
        elif stat.S_ISREG(mode):
            kind = KIND_FILE
            if cutoff and st.st_mtime_ns >= cutoff:
                return
        else:
            return  # sockets, fifos and devices are never junk we delete
        if path in self.seen:
            return
        self.seen.add(path)
        du = _du(st)
        if st.st_nlink > 1 and kind != KIND_DIR:
            key = (st.st_dev, st.st_ino)
            if key in self.seen_inodes:
                du = 0
            self.seen_inodes.add(key)
        entry = (path, du, kind, st.st_dev, st.st_ino, st.st_mtime_ns)
        (rr.dirs if kind == KIND_DIR else rr.entries).append(entry)
        self.count += 1
        self.bytes += du

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
                res.notes.append(f"{rule.label}: {top} is a symbolic link, not entered")
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
        accept, cutoff = self._filters(rule)
        include_dirs = rule.search != "walk.files"
        own_uid = self._uid if (rule.own_files_only and self._uid >= 0) else -1
        root_dev = st.st_dev
        mounts = self.mounts
        seen = self.seen
        seen_inodes = self.seen_inodes
        entries = rr.entries
        dirs = rr.dirs
        errors = res.errors
        cancel = self.cancel
        sep = os.sep
        have_blocks = _HAVE_BLOCKS
        check_reparse = os.name == "nt"
        # Only rules whose roots overlap another rule of this scan can meet a path twice.
        dedupe = self._overlaps(top)
        # Files that need no per-file decision beyond their type take the short path below.
        simple = not (dedupe or accept is not None or cutoff)
        append = entries.append
        nbytes = self.bytes
        next_emit = len(entries) + PROGRESS_EVERY
        base_count = self.count - len(entries)

        top_entry: Entry | None = None
        if rule.search == "walk.top" and top != rr.allowed_root:
            top_entry = (top, _du(st), KIND_DIR, st.st_dev, st.st_ino, st.st_mtime_ns)
        stack = [_Dir(top, top_entry, None)]
        try:
            while stack:
                rec = stack.pop()
                if cancel is not None and cancel.is_set():
                    raise Cancelled
                dpath = rec.path
                prefix = dpath if dpath.endswith(sep) else dpath + sep
                # Exclusions that cannot match anything in this directory cost nothing per file.
                protect = protector.for_dir(dpath)
                checks = protect is not None or own_uid >= 0 or check_reparse
                subdirs = 0
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
                                # Inline S_IFMT tests: this loop runs once per file and dominates scan time.
                                fmt = st.st_mode & 0o170000
                                if checks:
                                    if protect is not None and protect(p, name):
                                        rec.full = False
                                        continue
                                    if own_uid >= 0 and st.st_uid != own_uid:
                                        rec.full = False
                                        continue
                                    if check_reparse and getattr(st, "st_file_attributes", 0) & _REPARSE:
                                        fmt = 0o120000
                                if fmt == 0o100000 and simple and have_blocks and st.st_nlink == 1:
                                    du = st.st_blocks * 512
                                    append((p, du, KIND_FILE, st.st_dev, st.st_ino, st.st_mtime_ns))
                                    nbytes += du
                                    continue
                                if fmt == 0o040000:
                                    if st.st_dev != root_dev or p in mounts or p in pruned:
                                        rec.full = False  # another file system, or a running app's dir
                                        continue
                                    ent: Entry | None = None
                                    # Age applies to directories too: a fresh empty dir in /tmp is someone's.
                                    young = cutoff and st.st_mtime_ns >= cutoff
                                    if include_dirs and not young and (accept is None or accept(p, name)):
                                        du = st.st_blocks * 512 if have_blocks else st.st_size
                                        ent = (p, du, KIND_DIR, st.st_dev, st.st_ino, st.st_mtime_ns)
                                    stack.append(_Dir(p, ent, rec))
                                    subdirs += 1
                                    continue
                                if fmt == 0o100000:
                                    kind = KIND_FILE
                                    if cutoff and st.st_mtime_ns >= cutoff:
                                        rec.full = False
                                        continue
                                elif fmt == 0o120000:
                                    kind = KIND_LINK
                                else:
                                    rec.full = False  # sockets, fifos, devices stay
                                    continue
                                if accept is not None and not accept(p, name):
                                    rec.full = False
                                    continue
                                if dedupe:
                                    if p in seen:
                                        continue  # another rule already claims it (and will delete it)
                                    seen.add(p)
                                du = st.st_blocks * 512 if have_blocks else st.st_size
                                if st.st_nlink > 1:
                                    key = (st.st_dev, st.st_ino)
                                    if key in seen_inodes:
                                        du = 0  # hard link: its blocks are already counted
                                    seen_inodes.add(key)
                                append((p, du, kind, st.st_dev, st.st_ino, st.st_mtime_ns))
                                nbytes += du
                    except OSError as exc:
                        errors.append(f"{dpath}: {exc.strerror}")
                        rec.full = False
                    finally:
                        if fd >= 0:
                            os.close(fd)
                rec.pending = subdirs
                if subdirs == 0:
                    self._finish(rec, include_dirs, dirs)
                if len(entries) >= next_emit:  # progress once per directory, not per file
                    next_emit = len(entries) + PROGRESS_EVERY
                    self.count, self.bytes = base_count + len(entries), nbytes
                    self._emit()
        finally:
            self.count, self.bytes = base_count + len(entries), nbytes

    def _overlaps(self, root: str) -> bool:
        """True when another rule root of this scan is inside, equal to or above ``root``."""
        hits = 0
        for other in self._roots:
            if is_within(other, root) or is_within(root, other):
                hits += 1
        return hits > 1 or not self._roots

    def _finish(self, rec: _Dir, include_dirs: bool, dirs: list[Entry]) -> None:
        """A directory is done: keep it as a candidate if it will be empty, then tell its parent."""
        node: _Dir | None = rec
        while node is not None:
            ok = include_dirs and node.full and node.entry is not None
            if ok and node.entry is not None and node.path not in self.seen:
                self.seen.add(node.path)
                dirs.append(node.entry)
            parent = node.parent
            if parent is None:
                return
            if not ok:
                parent.full = False
            parent.pending -= 1
            if parent.pending > 0:
                return
            node = parent


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
) -> ScanResult:
    """Scan categories and return the preview that apply() executes."""
    scanner = Scanner(env, protector, force=force, running=running, mounts=mounts, progress=progress, cancel=cancel)
    return scanner.scan(categories)
