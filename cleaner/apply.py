"""Applying a preview: delete exactly the scanned entries, each re-checked at delete time."""

from __future__ import annotations

import errno
import os
import stat
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cleaner.platforms import Env
from cleaner.safety import Protector, is_within, read_mount_points
from cleaner.scan import _O_DIR, KIND_DIR, KIND_LINK, USE_DIR_FD, Entry, RuleResult, ScanResult
from cleaner.trash import trash_function

MAX_LISTED = 500  # per report list; totals stay exact


class _Skip(Exception):
    """The entry (or its parent) no longer matches the preview; it is left alone."""


@dataclass
class _CatStats:
    deleted_files: int = 0
    deleted_dirs: int = 0
    bytes_freed: int = 0
    skipped: int = 0
    errors: int = 0


@dataclass
class _State:
    stats: dict[str, _CatStats]
    skipped: list[dict[str, str]] = field(default_factory=list)
    parent_kept: dict[str, bool] = field(default_factory=dict)
    errors: list[dict[str, str]] = field(default_factory=list)


def _kind_of(st: os.stat_result) -> int:
    if stat.S_ISLNK(st.st_mode) or getattr(st, "st_file_attributes", 0) & 0x400:
        return KIND_LINK
    if stat.S_ISDIR(st.st_mode):
        return KIND_DIR
    return 0


class _ParentOpener:
    """Opens an entry's parent directory from its allowed root without following any symlink."""

    def __init__(self, mounts: set[str]) -> None:
        self.mounts = mounts
        self._path: str | None = None
        self._fd = -1
        self._error: str | None = None

    def close(self) -> None:
        """Release the cached directory fd."""
        if self._fd >= 0:
            os.close(self._fd)
        self._fd = -1
        self._path = None

    def get(self, parent: str, root: str) -> int:
        """fd of ``parent`` (cached for consecutive entries of the same directory)."""
        if parent == self._path:
            if self._error:
                raise _Skip(self._error)
            return self._fd
        self.close()
        self._path = parent
        self._error = None
        try:
            self._fd = self._open(parent, root)
        except _Skip as exc:
            self._error = str(exc)
            raise
        return self._fd

    def _open(self, parent: str, root: str) -> int:
        rel = os.path.relpath(parent, root)
        parts = [] if rel == "." else rel.split(os.sep)
        if parts and parts[0] == "..":
            raise _Skip("outside its allowed root")
        try:
            fd = os.open(root, _O_DIR)
        except OSError as exc:
            raise _Skip(f"allowed root unavailable: {exc.strerror}") from None
        try:
            root_dev = os.fstat(fd).st_dev
            cur = root
            for part in parts:
                cur = os.path.join(cur, part)
                if cur in self.mounts:
                    raise _Skip(f"{cur} is a mount point")
                try:
                    nfd = os.open(part, _O_DIR, dir_fd=fd)
                except OSError as exc:
                    # ELOOP/ENOTDIR: a component became a symlink or a file since the scan
                    raise _Skip(f"parent {cur} changed since the preview ({exc.strerror})") from None
                os.close(fd)
                fd = nfd
                if os.fstat(fd).st_dev != root_dev:
                    raise _Skip(f"{cur} is on another file system")
            return fd
        except BaseException:
            os.close(fd)
            raise


def _check_chain_by_path(parent: str, root: str, mounts: set[str]) -> None:
    """Portable fallback (no dir_fd): every component from root to parent is a real directory."""
    rel = os.path.relpath(parent, root)
    if rel.startswith(".."):
        raise _Skip("outside its allowed root")
    cur = root
    root_dev = os.lstat(root).st_dev
    for part in [] if rel == "." else rel.split(os.sep):
        cur = os.path.join(cur, part)
        try:
            st = os.lstat(cur)
        except OSError as exc:
            raise _Skip(f"parent {cur} changed since the preview ({exc.strerror})") from None
        if _kind_of(st) != KIND_DIR or st.st_dev != root_dev or cur in mounts:
            raise _Skip(f"parent {cur} changed since the preview")


def apply(
    env: Env,
    result: ScanResult,
    protector: Protector,
    *,
    trash: bool = False,
    mounts: set[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
    uid: int | None = None,
) -> dict[str, Any]:
    """Delete (or send to trash) exactly the entries of a preview and return the report dict."""
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    mounts = read_mount_points() if mounts is None else mounts
    if uid is None:
        uid = os.getuid() if hasattr(os, "getuid") else -1
    state = _State({name: _CatStats() for name in result.categories})
    files: list[tuple[str, RuleResult, Entry]] = []
    dirs: list[tuple[str, RuleResult, Entry]] = []
    for name, cat in result.categories.items():
        for rr in cat.rules:
            files.extend((name, rr, e) for e in rr.entries)
            dirs.extend((name, rr, e) for e in rr.dirs)
    # Files first, then directories deepest first, so a directory is empty when its turn comes.
    dirs.sort(key=lambda t: t[2][0].count(os.sep), reverse=True)
    total = len(files) + len(dirs)
    opener = _ParentOpener(mounts)
    send2trash: Callable[[str], None] | None = None
    if trash:
        send2trash = trash_function()
    done = 0
    cancelled = False
    try:
        for batch in (files, dirs):
            for cat_name, rr, entry in batch:
                if cancel is not None and cancel.is_set():
                    cancelled = True
                    break
                _apply_one(cat_name, rr, entry, protector, opener, mounts, send2trash, uid, state)
                done += 1
                if progress is not None and not (done & 1023):
                    progress(done, total)
            if cancelled:
                break
    finally:
        opener.close()
    if progress is not None:
        progress(done, total)
    finished = datetime.now(UTC)
    cats = [{"name": n, **vars(s)} for n, s in state.stats.items()]
    return {
        "id": started.strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6],
        "started": started.isoformat(),
        "finished": finished.isoformat(),
        "duration_s": round(time.perf_counter() - t0, 4),
        "trash": trash,
        "forced": result.forced,
        "cancelled": cancelled,
        "planned": total,
        "categories": cats,
        "total": {
            "deleted": sum(s.deleted_files + s.deleted_dirs for s in state.stats.values()),
            "bytes_freed": sum(s.bytes_freed for s in state.stats.values()),
            "skipped": sum(s.skipped for s in state.stats.values()),
            "errors": sum(s.errors for s in state.stats.values()),
        },
        "skipped": state.skipped,
        "errors": state.errors,
    }


def _apply_one(
    cat_name: str,
    rr: RuleResult,
    entry: Entry,
    protector: Protector,
    opener: _ParentOpener,
    mounts: set[str],
    send2trash: Callable[[str], None] | None,
    uid: int,
    state: _State,
) -> None:
    path, du, kind, dev, ino, mtime_ns = entry
    stats = state.stats[cat_name]
    parent, name = os.path.split(path)
    try:
        if not is_within(path, rr.allowed_root) or path == rr.allowed_root:
            raise _Skip("outside its allowed root")
        # Exclusions are re-read for apply: one added after the preview still wins.
        if protector.active:
            kept = state.parent_kept.get(parent)
            if kept is None:
                kept = state.parent_kept[parent] = _any_parent_protected(parent, rr.allowed_root, protector)
            if kept or protector(path, name):
                raise _Skip("excluded")
        if path in mounts:
            raise _Skip("mount point")
        if USE_DIR_FD:
            fd = opener.get(parent, rr.allowed_root)
            try:
                st = os.lstat(name, dir_fd=fd)
            except FileNotFoundError:
                raise _Skip("already gone") from None
        else:
            _check_chain_by_path(parent, rr.allowed_root, mounts)
            fd = -1
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                raise _Skip("already gone") from None
        if st.st_dev != dev or st.st_ino != ino or _kind_of(st) != kind:
            raise _Skip("changed since the preview")
        # A directory's mtime changes when we empty it; files and links must be untouched since the scan.
        if kind != KIND_DIR and st.st_mtime_ns != mtime_ns:
            raise _Skip("modified since the preview")
        if rr.own_files_only and uid >= 0 and st.st_uid != uid:
            raise _Skip("owned by another user")
        if kind == KIND_DIR:
            try:
                if fd >= 0:
                    os.rmdir(name, dir_fd=fd)
                else:
                    os.rmdir(path)
            except OSError as exc:
                if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                    raise _Skip("directory not empty") from None
                raise
            stats.deleted_dirs += 1
        else:
            if send2trash is not None and not rr.never_trash and kind != KIND_LINK:
                send2trash(path)
            elif fd >= 0:
                os.unlink(name, dir_fd=fd)
            else:
                os.unlink(path)
            stats.deleted_files += 1
        stats.bytes_freed += du
    except _Skip as exc:
        stats.skipped += 1
        if len(state.skipped) < MAX_LISTED:
            state.skipped.append({"path": path, "reason": str(exc)})
    except OSError as exc:
        stats.errors += 1
        if len(state.errors) < MAX_LISTED:
            state.errors.append({"path": path, "error": exc.strerror or str(exc)})
    except Exception as exc:  # send2trash raises its own types; one bad entry must not stop the run
        stats.errors += 1
        if len(state.errors) < MAX_LISTED:
            state.errors.append({"path": path, "error": str(exc)})


def _any_parent_protected(parent: str, root: str, protector: Protector) -> bool:
    """An exclusion on a directory covers its subtree even when the pattern is a bare name."""
    cur = parent
    while len(cur) > len(root) and is_within(cur, root):
        if protector(cur, os.path.basename(cur)):
            return True
        nxt = os.path.dirname(cur)
        if nxt == cur:
            break
        cur = nxt
    return False
