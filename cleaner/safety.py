"""Safety checks shared by scan and apply: keep list, exclusions, mount points, running apps, roots."""

from __future__ import annotations

import contextlib
import fnmatch
import glob
import os
import re
from collections.abc import Callable, Iterable

from cleaner.i18n import _
from cleaner.platforms import Env
from cleaner.rules import AppGuard

# Cache dirs that break things when emptied under a running session (FUSE portals, keyrings, input
# methods, settings databases). Relative to the user cache dir; globs allowed.
FRAGILE_CACHE_DIRS = (
    "doc",  # xdg-document-portal FUSE mount
    "gvfs",
    "dconf",
    "ibus",
    "keyring-*",
    "at-spi*",
    "gnome-shell",  # session-owned runtime state
    "ttfd-cleaner",  # our own cache
)

# Entries in shared temp dirs owned by the session (X/ICE sockets, systemd private dirs, multiplexers).
FRAGILE_TEMP_ENTRIES = (
    ".X11-unix",
    ".ICE-unix",
    ".XIM-unix",
    ".font-unix",
    ".Test-unix",
    ".X*-lock",
    "systemd-private-*",
    "snap-private-tmp",
    "tmux-*",
    "ssh-*",
    "pulse-*",
)

# Roots that a walk (or a leading wildcard glob) must never start from, whatever a rule file says.
PROTECTED_ROOTS_POSIX = (
    "/",
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/home",
    "/lib",
    "/lib64",
    "/opt",
    "/proc",
    "/root",
    "/sbin",
    "/srv",
    "/sys",
    "/usr",
    "/var",
    "/Users",
    "/System",
    "/Library",
    "/Applications",
)


def keep_list(env: Env, cache_dir: str, temp_dirs: Iterable[str]) -> list[str]:
    """Return the built-in keep globs (absolute) for a machine."""
    out = [os.path.join(cache_dir, name) for name in FRAGILE_CACHE_DIRS]
    for t in temp_dirs:
        out.extend(os.path.join(t, name) for name in FRAGILE_TEMP_ENTRIES)
    return out


class Protector:
    """Decides whether a path is kept (built-in keep list or user exclusion); exclusions win over rules.

    Patterns with a path separator match the full path (and everything below a matching directory);
    bare patterns like ``*.iso`` match any basename.
    """

    def __init__(self, patterns: Iterable[str], env: Env | None = None) -> None:
        full: list[tuple[str, str]] = []  # (literal prefix before the first wildcard, regex)
        base: list[str] = []
        for raw in patterns:
            pat = env.expand(raw) if env else os.path.expanduser(raw)
            if not pat:
                continue
            if "/" in pat or os.sep in pat:
                pat = os.path.normpath(pat)
                rx = fnmatch.translate(pat)  # ends with \Z
                # A matching directory protects its whole subtree too.
                lit = re.split(r"[*?\[]", pat, maxsplit=1)[0]
                full.append((lit, rx[:-2] + "(?:" + re.escape(os.sep) + ".*)?\\Z"))
            else:
                base.append(fnmatch.translate(pat))
        self._full_pats = full
        # for_dir's quick answer for the directories no full pattern concerns (most of a walk): their
        # path starts with no literal prefix, and none of them lies below the directory.
        lits = [lit for lit, _ in full]
        self._lits = tuple(lits)
        self._lit_dirs = frozenset(lit[: i + 1] for lit in lits for i, ch in enumerate(lit) if ch == os.sep)
        self._base = self._compile(base)
        self.active = bool(full or base)
        self._dir_cache: dict[tuple[str, ...], Callable[[str, str], bool] | None] = {}

    @staticmethod
    def _compile(rxs: list[str]) -> Callable[[str], re.Match[str] | None] | None:
        return re.compile("|".join(f"(?:{r})" for r in rxs), re.S).match if rxs else None

    def for_dir(self, directory: str) -> Callable[[str, str], bool] | None:
        """A matcher for entries directly inside ``directory``, or None when nothing there can be kept.

        A full-path pattern can only match below a directory its literal prefix leads to (or comes
        from), so most directories of a walk need no per-file check at all.
        """
        if not self.active:
            return None
        d = directory if directory.endswith(os.sep) else directory + os.sep
        # `lit.startswith(d)` for a d ending in a separator is `d in self._lit_dirs`
        if d in self._lit_dirs or d.startswith(self._lits):
            key = tuple(rx for lit, rx in self._full_pats if d.startswith(lit) or lit.startswith(d))
        else:
            key = ()
        return self._matcher(key)

    def _matcher(self, key: tuple[str, ...]) -> Callable[[str, str], bool] | None:
        """The matcher for the full patterns ``key`` and every bare one (one per key, compiled once)."""
        if key in self._dir_cache:
            return self._dir_cache[key]
        full = self._compile(list(key))
        base = self._base
        matcher: Callable[[str, str], bool] | None
        if full is None and base is None:
            matcher = None
        elif base is None:
            assert full is not None
            f = full

            def matcher(path: str, name: str) -> bool:
                return f(path) is not None

        elif full is None:
            b = base

            def matcher(path: str, name: str) -> bool:
                return b(name) is not None

        else:
            f2, b2 = full, base

            def matcher(path: str, name: str) -> bool:
                return f2(path) is not None or b2(name) is not None

        self._dir_cache[key] = matcher
        return matcher

    def __call__(self, path: str, name: str) -> bool:
        """True when the path must be kept.

        A full pattern can only match a path that starts with its literal prefix, so the patterns
        ``for_dir`` picks for the path's directory decide it: one small expression compiled per
        group of patterns met, not every pattern for a single check (start-up time counts).
        """
        if not self.active:
            return False
        head = os.path.dirname(path)
        # a bare name (no directory) is the one path that is not its directory's entry: try every pattern
        matcher = self.for_dir(head) if head else self._matcher(tuple(rx for _, rx in self._full_pats))
        return matcher is not None and matcher(path, name)


def read_mount_points() -> set[str]:
    """Mount points of this machine (Linux /proc/self/mountinfo; empty elsewhere, st_dev still applies)."""
    out: set[str] = set()
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                parts = line.split()
                if len(parts) > 4:
                    # mountinfo escapes spaces and friends as octal
                    out.add(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), parts[4]))
    except OSError:
        pass
    return out


def running_process_names() -> dict[str, int]:
    """Map of lower-cased process names (comm, exe basename, argv[0] basename) to a pid."""
    names: dict[str, int] = {}
    if os.path.isdir("/proc"):
        for pid_s in os.listdir("/proc"):
            if not pid_s.isdigit():
                continue
            pid = int(pid_s)
            base = f"/proc/{pid_s}/"
            # Plain descriptors, not open(): a file object each is most of the cost, for a few bytes.
            try:
                comm = _read_proc(base + "comm").decode("utf-8", "replace")
            except OSError:
                continue
            if "\r" in comm:  # as a text-mode read translates it
                comm = comm.replace("\r\n", "\n").replace("\r", "\n")
            names.setdefault(comm.strip().lower(), pid)
            with contextlib.suppress(OSError):  # exe of other users' processes is unreadable
                names.setdefault(os.path.basename(os.readlink(base + "exe")).lower(), pid)
            try:
                argv0 = _read_proc(base + "cmdline", 4096, b"\0").split(b"\0", 1)[0].decode("utf-8", "replace")
                if argv0:
                    names.setdefault(os.path.basename(argv0.split(" ", 1)[0]).lower(), pid)
            except OSError:
                pass
        return names
    import subprocess  # only where there is no /proc

    cmd = ["tasklist", "/fo", "csv", "/nh"] if os.name == "nt" else ["ps", "-axco", "pid=,comm="]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=20, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return names
    for line in out.splitlines():
        if os.name == "nt":
            cols = [c.strip('"') for c in line.split('","')]
            if len(cols) > 1 and cols[1].isdigit():
                names.setdefault(cols[0].lower().removesuffix(".exe"), int(cols[1]))
        else:
            pid_s, _sep, comm = line.strip().partition(" ")
            if pid_s.isdigit():
                names.setdefault(comm.strip().lower(), int(pid_s))
    return names


def _read_proc(path: str, limit: int = -1, enough: bytes = b"") -> bytes:
    """A /proc file's bytes: all of them, or the first ``limit`` (reading stops early once ``enough`` is in)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        data = b""
        while limit < 0 or len(data) < limit:
            chunk = os.read(fd, 4096 if limit < 0 else limit - len(data))
            if not chunk:
                break
            data += chunk
            if enough and enough in chunk:
                break
        return data
    finally:
        os.close(fd)


def open_inodes() -> dict[tuple[int, int], int]:
    """(st_dev, st_ino) of every file another process has open, with one of its pids (Linux /proc).

    Empty where /proc is missing; callers then rely on the file's own locks.
    """
    out: dict[tuple[int, int], int] = {}
    me = os.getpid()
    try:
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return out
    for pid in pids:
        if pid == me:
            continue
        base = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(base)
        except OSError:
            continue  # gone, or another user's process we may not look into
        for fd in fds:
            try:
                st = os.stat(f"{base}/{fd}")
            except OSError:
                continue
            out.setdefault((st.st_dev, st.st_ino), pid)
    return out


class RunningChecker:
    """Answers 'is this app running?' once per scan, from process names and lock files."""

    def __init__(self, env: Env, processes: Callable[[], dict[str, int]] = running_process_names) -> None:
        self._env = env
        self._processes = processes
        self._names: dict[str, int] | None = None
        self._cache: dict[AppGuard, str | None] = {}

    def reason(self, guard: AppGuard) -> str | None:
        """Why the app counts as running, or None when it does not."""
        if guard in self._cache:
            return self._cache[guard]
        why: str | None = None
        if guard.processes:
            if self._names is None:
                self._names = self._processes()
            for proc in guard.processes:
                pid = self._names.get(proc.lower())
                if pid is not None:
                    why = _(
                        "{app} is running (process {process}, pid {pid})", app=guard.name, process=proc, pid=str(pid)
                    )
                    break
        if why is None:
            for lock in guard.lock_files:
                pat = self._env.expand(lock)
                hits = glob.glob(pat) if glob.has_magic(pat) else ([pat] if os.path.lexists(pat) else [])
                # glob ignores dangling symlinks, but Firefox/Chromium locks are exactly that
                if not hits and glob.has_magic(pat):
                    parent = os.path.dirname(pat)
                    if not glob.has_magic(parent) and os.path.isdir(parent):
                        leaf = os.path.basename(pat)
                        hits = [n for n in os.listdir(parent) if fnmatch.fnmatch(n, leaf)]
                if hits:
                    why = _("{app} is running (lock file {path})", app=guard.name, path=hits[0])
                    break
        self._cache[guard] = why
        return why


def is_within(path: str, root: str) -> bool:
    """True when path is root or below it (lexically, after normalisation)."""
    path = os.path.normpath(path)
    root = os.path.normpath(root)
    if path == root:
        return True
    prefix = root if root.endswith(os.sep) else root + os.sep
    return path.startswith(prefix)


def root_problem(root: str, env: Env) -> str | None:
    """Explain why a rule root must not be used (symlinked or protected), or None when it is fine."""
    norm = os.path.normpath(root)
    if not os.path.isabs(norm):
        return _("root is not an absolute path")
    real = os.path.realpath(norm)
    if real != norm:
        # Symlinks above HOME (e.g. /home -> /usr/home) are the machine's business, not a redirect.
        home = os.path.normpath(env.home)
        if not (is_within(norm, home) and real == os.path.join(os.path.realpath(home), os.path.relpath(norm, home))):
            return _("root {path} goes through a symbolic link ({target})", path=norm, target=real)
    return None


def is_protected_root(path: str, env: Env) -> bool:
    """True for roots no walk may start from (/, /usr, HOME itself, a drive root...)."""
    norm = os.path.normpath(path)
    if norm == os.path.normpath(env.home):
        return True
    # Both the real system dirs and their images under a configured root are protected.
    roots = {os.path.normpath(p) for p in PROTECTED_ROOTS_POSIX}
    roots |= {os.path.normpath(env.sys_path(p)) for p in PROTECTED_ROOTS_POSIX}
    if norm in roots:
        return True
    # Windows drive roots and the Windows dir itself.
    stripped = norm.rstrip("\\/")
    if len(stripped) == 2 and stripped[1] == ":":
        return True
    return stripped.lower().endswith((":\\windows", ":\\users", ":\\program files"))
