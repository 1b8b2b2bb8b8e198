"""In-place file edits of CleanerML actions: JSON key removal, INI section/parameter removal, SQLite vacuum.

JSON and INI edits cut the removed text out of the original bytes, so everything else in the file
(order, formatting, comments) stays exactly as it was; the result is written to a temp file next to
the original and renamed over it, relative to the already-verified directory fd.
"""

from __future__ import annotations

import contextlib
import json
import os
import urllib.parse
from collections.abc import Callable
from json.decoder import JSONDecodeError, scanstring  # type: ignore[attr-defined]  # untyped C helper

from cleaner.i18n import _

_O_READ = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_WS = " \t\n\r"
_DECODER = json.JSONDecoder()
SQLITE_MAGIC = b"SQLite format 3\0"


class EditRefused(Exception):
    """The file is not what the action expects (not JSON, not a database, held by an app): left alone."""


def _skip_ws(s: str, i: int) -> int:
    while i < len(s) and s[i] in _WS:
        i += 1
    return i


def _members(s: str, i: int) -> tuple[list[tuple[str, int, int, int]], int]:
    """Members of the JSON object starting at s[i] == '{': (key, key start, value start, value end)."""
    out: list[tuple[str, int, int, int]] = []
    i = _skip_ws(s, i + 1)
    if i < len(s) and s[i] == "}":
        return out, i + 1
    while True:
        if i >= len(s) or s[i] != '"':
            raise JSONDecodeError("expected a key", s, i)
        key, j = scanstring(s, i + 1)
        j = _skip_ws(s, j)
        if j >= len(s) or s[j] != ":":
            raise JSONDecodeError("expected ':'", s, j)
        vstart = _skip_ws(s, j + 1)
        _value, vend = _DECODER.raw_decode(s, vstart)
        out.append((key, i, vstart, vend))
        i = _skip_ws(s, vend)
        if i < len(s) and s[i] == ",":
            i = _skip_ws(s, i + 1)
            continue
        if i < len(s) and s[i] == "}":
            return out, i + 1
        raise JSONDecodeError("expected ',' or '}'", s, i)


def remove_json_key(text: str, address: str) -> str:
    """``text`` without the member at ``address`` ('a/b/c', as BleachBit's json action); unchanged if absent.

    Only the member (and one separating comma) is cut out; the rest stays byte for byte.
    """
    doc = json.loads(text)  # raises on anything that is not JSON
    keys = address.split("/")
    start = _skip_ws(text, 0)
    for depth, key in enumerate(keys):
        if start >= len(text) or text[start] != "{":
            return text  # not an object at this level: nothing to remove (as BleachBit)
        members, _end = _members(text, start)
        hits = [k for k, m in enumerate(members) if m[0] == key]
        if not hits:
            return text
        if depth < len(keys) - 1:
            start = members[hits[-1]][2]  # JSON keeps the last of duplicate keys
            continue
        cuts: list[tuple[int, int]] = []
        for k in hits:
            _key, kstart, _vstart, vend = members[k]
            if k + 1 < len(members):
                cuts.append((kstart, members[k + 1][1]))  # up to the next member: its comma goes too
            elif k > 0:
                cuts.append((members[k - 1][3], vend))  # the last one: the comma before it goes
            else:
                cuts.append((kstart, vend))
        out = text
        for a, b in sorted(set(cuts), reverse=True):
            out = out[:a] + out[b:]
        # Check the cut against the parsed document with the key removed (``doc`` is changed in place).
        parent = doc
        for key2 in keys[:-1]:
            parent = parent[key2]
        parent.pop(keys[-1], None)
        if json.loads(out) != doc:
            raise EditRefused(_("JSON edit would change more than the key"))
        return out
    return text


def remove_ini(text: str, section: str, parameter: str | None) -> str:
    """``text`` without ``[section]`` (or only its ``parameter``); other lines stay byte for byte.

    Section names are case-sensitive and parameter names are not, as in configparser (BleachBit's ini
    action). An indented line continues the value above it.
    """
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    in_section = False
    dropping = False  # inside a removed parameter's continuation lines
    want = parameter.strip().lower() if parameter else None
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            in_section = stripped[1:-1].strip() == section
            dropping = False
            if in_section and want is None:
                continue
            out.append(line)
            continue
        if in_section and want is None:
            continue  # the whole section goes
        if in_section and want is not None:
            if dropping and line[:1] in (" ", "\t") and stripped:
                continue
            dropping = False
            if stripped and stripped[0] not in "#;":
                name = stripped.split("=", 1)[0].split(":", 1)[0].strip().lower()
                if name == want:
                    dropping = True
                    continue
        out.append(line)
    return "".join(out)


def rewrite(dir_fd: int | None, name: str, edit: Callable[[str], str]) -> bool:
    """Apply a text edit to ``name`` in ``dir_fd``; write only when it changed (temp file + rename)."""
    fd = os.open(name, _O_READ, dir_fd=dir_fd)
    try:
        st = os.fstat(fd)
        with os.fdopen(os.dup(fd), "rb") as fh:
            raw = fh.read()
    finally:
        os.close(fd)
    bom = raw.startswith(b"\xef\xbb\xbf")
    try:
        text = raw[3 if bom else 0 :].decode("utf-8", "surrogateescape")
        new = edit(text)
    except (ValueError, RecursionError) as exc:
        raise EditRefused(_("not valid for this edit ({error})", error=str(exc))) from None
    if new == text:
        return False
    data = (b"\xef\xbb\xbf" if bom else b"") + new.encode("utf-8", "surrogateescape")
    head, base = os.path.split(name)  # a bare name when dir_fd is given, a path otherwise
    tmp = os.path.join(head, f".{base}.ttfd-{os.getpid()}.tmp")
    wfd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600, dir_fd=dir_fd)
    try:
        with contextlib.suppress(OSError):  # keep the owner (when run as root) and the mode
            os.fchown(wfd, st.st_uid, st.st_gid)
        os.fchmod(wfd, st.st_mode & 0o7777)
        view = memoryview(data)
        while view:
            view = view[os.write(wfd, view) :]
        os.fsync(wfd)
        os.close(wfd)
        wfd = -1
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        if wfd >= 0:
            os.close(wfd)
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dir_fd)
        raise
    return True


def vacuum(path: str, held: Callable[[os.stat_result], str | None]) -> None:
    """VACUUM one SQLite database, unless an application holds it.

    ``held`` answers from outside (another process has the file open); SQLite's own locks answer the
    rest: a hot journal or WAL means a writer is or was mid-transaction, and with ``timeout=0`` VACUUM
    fails at once instead of waiting when anyone holds a lock.
    """
    with open(path, "rb") as fh:
        st = os.fstat(fh.fileno())
        if fh.read(len(SQLITE_MAGIC)) != SQLITE_MAGIC:
            raise EditRefused(_("not a SQLite database"))
    why = held(st)
    if why:
        raise EditRefused(why)
    for suffix in ("-wal", "-journal"):
        if os.path.lexists(path + suffix):
            raise EditRefused(_("in use ({name} exists)", name=os.path.basename(path) + suffix))
    import sqlite3  # only when a vacuum runs: keeps the command's start-up short

    uri = "file:" + urllib.parse.quote(path) + "?mode=rw"
    con = sqlite3.connect(uri, uri=True, timeout=0, isolation_level=None)
    try:
        con.execute("VACUUM")
    except sqlite3.OperationalError as exc:
        raise EditRefused(_("in use ({error})", error=str(exc))) from None
    except sqlite3.DatabaseError as exc:
        raise EditRefused(_("not a usable SQLite database ({error})", error=str(exc))) from None
    finally:
        con.close()
