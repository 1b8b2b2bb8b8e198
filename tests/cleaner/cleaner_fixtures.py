"""Builds fixture homes for the Cleaner tests and hashes whole trees to prove what changed."""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

from cleaner.platforms import Env

OLD = time.time() - 90 * 86400  # older than every age threshold


@dataclass
class FixtureHome:
    """Paths of one fixture: base dir, home, fake root and the named traps."""

    base: Path
    home: Path
    root: Path
    outside: Path
    mount: Path
    excluded: Path
    env: Env


def _w(p: Path, data: bytes = b"x" * 5000, old: bool = False) -> Path:
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    if old:
        os.utime(p, (OLD, OLD))
    return p


def build_fixture_home(base: Path, home: Path) -> FixtureHome:
    """Create the fixture tree under base (home is base/home, the fake system root base/root)."""
    root = base / "root"
    outside = base / "outside"
    cache = home / ".cache"
    cfg = home / ".config"
    # things that must never change
    _w(outside / "victim.txt", b"precious")
    _w(outside / "dir" / "inner.txt", b"precious too")
    _w(home / "Documents" / "important.txt", b"my thesis")
    _w(root / "etc" / "xdg" / "autostart" / "placeholder.txt", b"")
    # nested caches
    for i in range(3):
        _w(cache / "pip" / "http" / f"{i}" / "a" / "b" / f"blob{i}.bin")
    _w(cache / "thumbnails" / "normal" / "t1.png")
    _w(cache / "someapp" / "deep" / "er" / "x.dat")
    _w(cache / "dconf" / "user", b"fragile")  # built-in keep list
    _w(cache / "excluded_dir" / "keep.bin")  # user exclusion
    _w(cache / "mnt" / "on_other_fs.bin")  # mount-like boundary (injected mount point)
    (cache / "app").mkdir(parents=True, exist_ok=True)
    os.symlink(outside / "victim.txt", cache / "app" / "link_out")  # link pointing out of the tree
    os.symlink(outside / "dir", cache / "linkdir")  # link to a directory outside
    # browser profiles
    chrome = cfg / "google-chrome"
    _w(chrome / "Default" / "Preferences", b"{}")
    _w(chrome / "Default" / "History", b"hist")
    _w(chrome / "Default" / "Cookies", b"cookies")
    _w(chrome / "Default" / "Login Data", b"pw")
    _w(chrome / "Default" / "Bookmarks", b"bm")
    _w(chrome / "Default" / "GPUCache" / "data_0")
    _w(chrome / "Profile 1" / "Preferences", b"{}")
    _w(chrome / "Profile 1" / "Code Cache" / "js" / "c1")
    _w(cache / "google-chrome" / "Default" / "Cache" / "Cache_Data" / "f_000001")
    ff = home / ".mozilla" / "firefox" / "abcd.default-release"
    _w(ff / "prefs.js", b"//")
    _w(ff / "places.sqlite", b"bookmarks+history")
    _w(ff / "cookies.sqlite", b"c")
    _w(ff / "logins.json", b"{}")
    _w(ff / "startupCache" / "s.bin")
    _w(cache / "mozilla" / "firefox" / "abcd.default-release" / "cache2" / "entries" / "E1")
    # apps
    _w(home / ".npm" / "_cacache" / "index-v5" / "aa" / "bb")
    _w(home / ".cargo" / "registry" / "cache" / "index.crates.io" / "serde.crate")
    _w(home / ".local" / "share" / "Trash" / "files" / "old.txt")
    _w(home / ".local" / "share" / "Trash" / "info" / "old.txt.trashinfo", b"[Trash Info]")
    _w(home / ".local" / "state" / "app" / "old.log", old=True)
    _w(home / ".local" / "state" / "app" / "new.log")
    _w(home / ".local" / "state" / "app" / "data.db", old=True)
    # temp dirs in the fake root
    _w(root / "tmp" / "old.tmp", old=True)
    _w(root / "tmp" / "new.tmp")
    _w(root / "tmp" / "olddir" / "inner.tmp", old=True)
    os.utime(root / "tmp" / "olddir", (OLD, OLD))
    _w(root / "tmp" / ".X11-unix" / "X0", old=True)  # session socket dir: keep list
    _w(root / "var" / "tmp" / "old2.tmp", old=True)
    os.symlink(outside / "victim.txt", root / "tmp" / "old_link")
    os.utime(root / "tmp" / "old_link", (OLD, OLD), follow_symlinks=False)

    env = Env(
        os_name="linux",
        home=str(home),
        environ={
            "XDG_CACHE_HOME": str(cache),
            "XDG_CONFIG_HOME": str(cfg),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "XDG_STATE_HOME": str(home / ".local" / "state"),
            "TMPDIR": str(root / "tmp"),
        },
        root=str(root),
    )
    return FixtureHome(
        base=base,
        home=home,
        root=root,
        outside=outside,
        mount=cache / "mnt",
        excluded=cache / "excluded_dir",
        env=env,
    )


def tree_state(top: Path) -> dict[str, str]:
    """Map relpath -> fingerprint (type + content hash or link target) of a whole tree, never following links."""
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, top)
            if os.path.islink(p):
                out[rel] = "link:" + os.readlink(p)
            elif os.path.isdir(p):
                out[rel] = "dir"
            else:
                with open(p, "rb") as fh:
                    out[rel] = "file:" + hashlib.sha256(fh.read()).hexdigest()
    return out


class FakeRunner:
    """Stands in for systemctl/crontab/launchctl: records calls, answers from a small state."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.units = {"syncthing.service": "enabled", "backup.service": "disabled", "dbus.service": "static"}
        self.crontab = "# m h dom mon dow command\n@reboot /usr/bin/tmux new -d\n0 * * * * /bin/true\n"

    def __call__(self, argv: list[str], stdin: str | None) -> tuple[int, str, str]:
        self.calls.append(argv)
        if argv[:3] == ["systemctl", "--user", "list-unit-files"]:
            return 0, "".join(f"{u} {s} enabled\n" for u, s in self.units.items()), ""
        if argv[:3] == ["systemctl", "--user", "show"]:
            blocks = [
                f"Id={u}\nDescription=The {u}\nExecStart={{ path=/usr/bin/{u} ; argv[]=/usr/bin/{u} -x ; }}\n"
                f"FragmentPath=/usr/lib/systemd/user/{u}\n"
                for u in argv[6:]
            ]
            return 0, "\n".join(blocks), ""
        if argv[:2] == ["systemctl", "--user"] and argv[2] in ("enable", "disable"):
            self.units[argv[3]] = argv[2] + "d"
            return 0, "", ""
        if argv == ["crontab", "-l"]:
            return 0, self.crontab, ""
        if argv == ["crontab", "-"]:
            self.crontab = stdin or ""
            return 0, "", ""
        if argv[:2] == ["launchctl", "print-disabled"]:
            return 0, 'disabled services = {\n\t"com.vendor.sysagent" => disabled\n}\n', ""
        if argv[0] == "launchctl":
            return 0, "", ""
        return 127, "", "unknown"
