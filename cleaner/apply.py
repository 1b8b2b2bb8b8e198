"""Applying a preview: delete exactly the scanned entries, each re-checked at delete time."""

from __future__ import annotations

import errno
import marshal
import mmap
import os
import stat
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from cleaner import edits
from cleaner.i18n import _, reason
from cleaner.platforms import Env
from cleaner.safety import Protector, is_within, open_inodes, read_mount_points
from cleaner.scan import _O_DIR, KIND_DIR, KIND_LINK, USE_DIR_FD, Entry, RuleResult, ScanResult, auto_workers
from cleaner.trash import trash_function

MAX_LISTED = 500  # per report list; totals stay exact
PARALLEL_MIN_FILES = 20_000  # fewer are deleted before a second process would pay off
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


class _Skip(Exception):
    """The entry (or its parent) no longer matches the preview; it is left alone."""


class _CatStats:
    """Per-category counts of the report (its fields, in this order, are the report's)."""

    def __init__(self) -> None:
        self.deleted_files = 0
        self.deleted_dirs = 0
        self.edited_files = 0  # json/ini/sqlite.vacuum/truncate: changed in place
        self.bytes_freed = 0
        self.skipped = 0
        self.errors = 0


class _State:
    def __init__(self, stats: dict[str, _CatStats]) -> None:
        self.stats = stats
        self.skipped: list[dict[str, str]] = []
        # (directory, rule root) -> (inside the root, excluded itself, matcher for its entries)
        self.dirs: dict[tuple[str, str], tuple[bool, bool, Callable[[str, str], bool] | None]] = {}
        self.errors: list[dict[str, str]] = []
        # Files this run changed in place: path -> (dev, ino, mtime_ns) now, so a second edit of the same
        # file (another JSON key) still matches "unchanged since the preview, apart from our own edits".
        self.ours: dict[str, tuple[int, int, int]] = {}
        self.held: dict[tuple[int, int], int] | None = None  # other processes' open files, read if needed

    def held_by(self, st: os.stat_result) -> str | None:
        """Why a database must not be vacuumed: another process has it open."""
        if self.held is None:
            self.held = open_inodes()
        pid = self.held.get((st.st_dev, st.st_ino))
        return _("open by process {pid}", pid=str(pid)) if pid is not None else None


_IS_NT = os.name == "nt"
_KINDS = {0o120000: KIND_LINK, 0o040000: KIND_DIR}  # by S_IFMT; everything else counts as a file


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
            self._error = reason(exc)
            raise
        return self._fd

    def _open(self, parent: str, root: str) -> int:
        rel = os.path.relpath(parent, root)
        parts = [] if rel == "." else rel.split(os.sep)
        if parts and parts[0] == "..":
            raise _Skip(_("outside its allowed root"))
        try:
            fd = os.open(root, _O_DIR)
        except OSError as exc:
            raise _Skip(_("allowed root unavailable: {error}", error=str(exc.strerror))) from None
        try:
            root_dev = os.fstat(fd).st_dev
            cur = root
            for part in parts:
                cur = os.path.join(cur, part)
                if cur in self.mounts:
                    raise _Skip(_("{path} is a mount point", path=cur))
                try:
                    nfd = os.open(part, _O_DIR, dir_fd=fd)
                except OSError as exc:
                    # ELOOP/ENOTDIR: a component became a symlink or a file since the scan
                    raise _Skip(
                        _("parent {path} changed since the preview ({error})", path=cur, error=str(exc.strerror))
                    ) from None
                os.close(fd)
                fd = nfd
                if os.fstat(fd).st_dev != root_dev:
                    raise _Skip(_("{path} is on another file system", path=cur))
            return fd
        except BaseException:
            os.close(fd)
            raise


def _check_chain_by_path(parent: str, root: str, mounts: set[str]) -> None:
    """Portable fallback (no dir_fd): every component from root to parent is a real directory."""
    rel = os.path.relpath(parent, root)
    if rel.startswith(".."):
        raise _Skip(_("outside its allowed root"))
    cur = root
    root_dev = os.lstat(root).st_dev
    for part in [] if rel == "." else rel.split(os.sep):
        cur = os.path.join(cur, part)
        try:
            st = os.lstat(cur)
        except OSError as exc:
            raise _Skip(
                _("parent {path} changed since the preview ({error})", path=cur, error=str(exc.strerror))
            ) from None
        if _kind_of(st) != KIND_DIR or st.st_dev != root_dev or cur in mounts:
            raise _Skip(_("parent {path} changed since the preview", path=cur))


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
    # Plain deletions of a big preview are shared with forked workers, each taking whole directories;
    # trash moves, in-place edits and runs next to other threads (the GUI) stay in this process.
    shared = (
        send2trash is None
        and len(files) >= PARALLEL_MIN_FILES
        and all(rr.action == "delete" for _c, rr, _e in files)
        and auto_workers() > 1
    )
    try:
        for batch in (files, dirs):
            if batch is files and shared:
                done, cancelled = _apply_forked(files, auto_workers(), protector, mounts, uid, state, cancel)
                if progress is not None:
                    progress(done, total)
            else:
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
            "edited": sum(s.edited_files for s in state.stats.values()),
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
    # Scanned paths are normalised and never directly under a drive or '/': a plain split is exact (and
    # several times cheaper than os.path.split, which this loop would call once per file).
    parent, _sep, name = path.rpartition(os.sep)
    try:
        # What holds for every entry of a directory is decided once per directory (and rule root).
        key = (parent, rr.allowed_root)
        checks = state.dirs.get(key)
        if checks is None:
            checks = state.dirs[key] = _dir_checks(parent, rr.allowed_root, protector)
        inside, kept, matcher = checks
        if not inside:
            raise _Skip(_("outside its allowed root"))
        # Exclusions are re-read for apply: one added after the preview still wins.
        if kept or (matcher is not None and matcher(path, name)):
            raise _Skip(_("excluded"))
        if path in mounts:
            raise _Skip(_("mount point"))
        if USE_DIR_FD:
            fd = opener.get(parent, rr.allowed_root)
            try:
                st = os.lstat(name, dir_fd=fd)
            except FileNotFoundError:
                raise _Skip(_("already gone")) from None
        else:
            _check_chain_by_path(parent, rr.allowed_root, mounts)
            fd = -1
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                raise _Skip(_("already gone")) from None
        dev, ino, mtime_ns = state.ours.get(path, (dev, ino, mtime_ns))
        if (
            st.st_dev != dev
            or st.st_ino != ino
            or (_kind_of(st) if _IS_NT else _KINDS.get(st.st_mode & 0o170000, 0)) != kind
        ):
            raise _Skip(_("changed since the preview"))
        # A directory's mtime changes when we empty it; files and links must be untouched since the scan.
        if kind != KIND_DIR and st.st_mtime_ns != mtime_ns:
            raise _Skip(_("modified since the preview"))
        if rr.own_files_only and uid >= 0 and st.st_uid != uid:
            raise _Skip(_("owned by another user"))
        if rr.action != "delete" and kind != KIND_DIR:
            stats.bytes_freed += _act(rr, path, fd, name, st, state, stats)
            return
        if kind == KIND_DIR:
            try:
                if fd >= 0:
                    os.rmdir(name, dir_fd=fd)
                else:
                    os.rmdir(path)
            except OSError as exc:
                if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                    raise _Skip(_("directory not empty")) from None
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
    except (_Skip, edits.EditRefused) as exc:
        stats.skipped += 1
        if len(state.skipped) < MAX_LISTED:
            state.skipped.append({"path": path, "reason": reason(exc)})
    except OSError as exc:
        stats.errors += 1
        if len(state.errors) < MAX_LISTED:
            state.errors.append({"path": path, "error": exc.strerror or str(exc)})
    except Exception as exc:  # send2trash raises its own types; one bad entry must not stop the run
        stats.errors += 1
        if len(state.errors) < MAX_LISTED:
            state.errors.append({"path": path, "error": str(exc)})


def _act(rr: RuleResult, path: str, fd: int, name: str, st: os.stat_result, state: _State, stats: _CatStats) -> int:
    """Run a non-delete action on one verified file (relative to its parent's fd); returns bytes freed."""
    before = st.st_blocks * 512 if hasattr(st, "st_blocks") else st.st_size
    args = dict(rr.action_args)
    dir_fd = fd if fd >= 0 else None
    target = name if dir_fd is not None else path
    if rr.action in ("truncate", "shred"):
        wfd = os.open(target, os.O_WRONLY | _O_NOFOLLOW, dir_fd=dir_fd)
        try:
            if rr.action == "shred":  # overwrite the content before the name goes
                chunk = b"\0" * min(st.st_size, 1 << 20)
                left = st.st_size
                while left > 0:
                    left -= os.write(wfd, chunk[:left])
                os.fsync(wfd)
            os.ftruncate(wfd, 0)
        finally:
            os.close(wfd)
        if rr.action == "shred":
            os.unlink(target, dir_fd=dir_fd)
            stats.deleted_files += 1
            return before
    elif rr.action == "sqlite.vacuum":
        edits.vacuum(path, state.held_by)
    elif rr.action == "json":
        changed = edits.rewrite(dir_fd, target, lambda t: edits.remove_json_key(t, args["address"]))
        if not changed:
            return 0
    elif rr.action == "ini":
        changed = edits.rewrite(dir_fd, target, lambda t: edits.remove_ini(t, args["section"], args.get("parameter")))
        if not changed:
            return 0
    else:  # pragma: no cover - the reader only makes rules with known actions
        raise edits.EditRefused(_("action {action} unsupported", action=repr(rr.action)))
    now = os.lstat(target, dir_fd=dir_fd)
    state.ours[path] = (now.st_dev, now.st_ino, now.st_mtime_ns)
    stats.edited_files += 1
    after = now.st_blocks * 512 if hasattr(now, "st_blocks") else now.st_size
    return max(0, before - after)


def _apply_range(
    files: list[tuple[str, RuleResult, Entry]],
    lo: int,
    hi: int,
    protector: Protector,
    mounts: set[str],
    uid: int,
    state: _State,
    stop: Callable[[], bool],
) -> tuple[int, bool]:
    """Delete files[lo:hi]; returns (entries done, stopped early)."""
    opener = _ParentOpener(mounts)
    try:
        for i in range(lo, hi):
            if not (i & 255) and stop():
                return i - lo, True
            cat_name, rr, entry = files[i]
            _apply_one(cat_name, rr, entry, protector, opener, mounts, None, uid, state)
    finally:
        opener.close()
    return hi - lo, False


def _apply_forked(
    files: list[tuple[str, RuleResult, Entry]],
    workers: int,
    protector: Protector,
    mounts: set[str],
    uid: int,
    state: _State,
    cancel: threading.Event | None,
) -> tuple[int, bool]:
    """Delete ``files`` in ``workers`` processes, each a contiguous run of whole directories.

    Each worker sends back its counts and skip/error lists, merged into ``state`` as if one process had
    done it all. A worker that dies leaves its share to this process (what it did shows as already gone).
    """
    n = len(files)
    cuts = [0]
    for k in range(1, workers):
        i = max(cuts[-1], k * n // workers)
        while 0 < i < n and files[i][2][0].rpartition(os.sep)[0] == files[i - 1][2][0].rpartition(os.sep)[0]:
            i += 1  # never split a directory: its parent fd and exclusion checks stay in one process
        cuts.append(i)
    cuts.append(n)
    flag = mmap.mmap(-1, 1)  # set to 1 by this process when the user cancels
    children: list[tuple[int, int, int, int]] = []  # (pid, read fd, lo, hi)
    leftover: list[tuple[int, int]] = []  # shares no worker could be started for

    def stop() -> bool:
        if cancel is not None and cancel.is_set():
            flag[0] = 1
        return flag[0] == 1

    try:
        for k in range(1, workers):
            lo, hi = cuts[k], cuts[k + 1]
            if lo >= hi:
                continue
            try:
                r, w = os.pipe()
            except OSError:
                leftover.append((lo, hi))
                continue
            try:
                pid = os.fork()
            except OSError:  # out of processes or memory: this process does that share too
                os.close(r)
                os.close(w)
                leftover.append((lo, hi))
                continue
            if pid == 0:  # pragma: no cover - the worker, which leaves through os._exit
                code = 1
                try:
                    os.close(r)
                    mine = _State({name: _CatStats() for name in state.stats})
                    done, stopped = _apply_range(files, lo, hi, protector, mounts, uid, mine, lambda: flag[0] == 1)
                    stats = {name: vars(s) for name, s in mine.stats.items()}
                    # marshal takes plain str only: reasons travel as their English text (say() finds them again)
                    skipped = [{k: str(v) for k, v in s.items()} for s in mine.skipped]
                    data = memoryview(marshal.dumps((done, stopped, stats, skipped, mine.errors)))
                    while data:
                        data = data[os.write(w, data) :]
                    code = 0
                finally:
                    os._exit(code)
            os.close(w)
            children.append((pid, r, lo, hi))
        done, cancelled = _apply_range(files, cuts[0], cuts[1], protector, mounts, uid, state, stop)
        for lo, hi in leftover:
            if not cancelled:
                c_done, cancelled = _apply_range(files, lo, hi, protector, mounts, uid, state, stop)
                done += c_done
        for pid, r, lo, hi in children:
            chunks = []
            while chunk := os.read(r, 1 << 20):  # the worker ends its share, or stops at the cancel flag
                chunks.append(chunk)
            os.close(r)
            os.waitpid(pid, 0)
            try:
                c_done, c_stopped, stats, skipped, errors = marshal.loads(b"".join(chunks))  # noqa: S302 - ours
            except (ValueError, TypeError, EOFError):
                c_done, c_stopped = _apply_range(files, lo, hi, protector, mounts, uid, state, stop)
                done += c_done
                cancelled |= c_stopped
                continue
            done += c_done
            cancelled |= c_stopped
            for name, counts in stats.items():
                mine_stats = state.stats[name]
                for field_name, value in counts.items():
                    setattr(mine_stats, field_name, getattr(mine_stats, field_name) + value)
            state.skipped.extend(skipped[: max(0, MAX_LISTED - len(state.skipped))])
            state.errors.extend(errors[: max(0, MAX_LISTED - len(state.errors))])
    finally:
        flag.close()
    return done, cancelled


def _dir_checks(parent: str, root: str, protector: Protector) -> tuple[bool, bool, Callable[[str, str], bool] | None]:
    """Per directory: is it at or below the rule root, is it (or a directory above it) excluded, and the
    exclusion matcher for its entries (None when nothing in it can match)."""
    inside = is_within(parent, root)
    if not protector.active:
        return inside, False, None
    return inside, _any_parent_protected(parent, root, protector), protector.for_dir(parent)


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
