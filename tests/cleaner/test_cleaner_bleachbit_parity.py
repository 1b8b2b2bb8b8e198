"""Parity with BleachBit: every Linux option of Debian's bleachbit package, previewed by both on one generated home.

For each option of the installed CleanerML files, files are created at the paths its actions name (expanded
from the XML here, the way BleachBit does, independently of our reader). Then `bleachbit --preview <option>`
(HOME pointed at the generated home, XDG variables unset) and our scan list what they would touch; the lists
must agree except where a documented, deliberate difference explains every differing path.

Run this file directly to print the parity table of cleaner/README.md.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from cleaner.cleanerml import REFUSED, os_matches
from cleaner.platforms import Env
from cleaner.safety import RunningChecker
from cleaner.service import Cleaner
from cleaner.storage import Storage

BLEACHBIT = shutil.which("bleachbit")
CLEANERS = Path("/usr/share/bleachbit/cleaners")
# A preview line: "<label> <size> <path>", e.g. "Delete 4.1kB /home/x/.cache/f" or "Clean file ?B /home/x/Prefs".
_LINE = re.compile(r"^(?P<label>[A-Z][\w ]*?) (?P<size>\?B|[\d.,]+[kMGTP]?B) (?P<path>/.*)$")
_VAR = re.compile(r"\$\{(\w+)\}|\$(\w+)")
# Deliberate differences, each explaining a path only BleachBit lists (see cleaner/README.md, "Parity").
REASONS = {
    "refused": "the action is refused (system command or app-specific database edit)",
    "guard": "our running-app guard: the application's lock file exists in the generated home",
    "not-empty": "BleachBit lists a directory that cannot be removed; we list directories only when they will be empty",
    "deep": "search='deep' (a walk of the whole home for backup files) is not supported",
}


@dataclass
class Option:
    """One cleaner option: the paths its actions name in the generated home, and with which command."""

    name: str
    commands: dict[str, set[str]] = field(default_factory=dict)  # path -> commands naming it
    made: list[str] = field(default_factory=list)  # entries created for it
    deep: bool = False  # has a search="deep" action


def _expand(raw: str, variables: dict[str, list[str]], environ: dict[str, str], home: str) -> list[str]:
    """BleachBit's expansion: $$var$$ (every combination of values), then $VAR/${VAR}, then ~."""
    names = [n for n in variables if f"$${n}$$" in raw]
    out = []
    for combo in itertools.product(*(variables[n] for n in names)):
        s = raw
        for n, v in zip(names, combo, strict=True):
            s = s.replace(f"$${n}$$", v)
        if "$$" in s:
            out.extend(_expand(s, variables, environ, home))
            continue
        s = _VAR.sub(lambda m: environ.get(m.group(1) or m.group(2), m.group(0)), s)
        out.append(home + s[1:] if s.startswith("~") else s)
    return out


def _concrete(path: str) -> str:
    """A name a pattern matches: '*' -> 'x1', '?' -> 'q', '[ab]' -> 'a'."""
    path = re.sub(r"\[!?([^\]])[^\]]*\]", r"\1", path)
    return path.replace("*", "x1").replace("?", "q")


def _make_file(p: Path, command: str) -> bool:
    if p.exists() or any(q.exists() and not q.is_dir() for q in p.parents):
        return False
    p.parent.mkdir(parents=True, exist_ok=True)
    if command == "sqlite.vacuum" or command.startswith(("chrome.", "mozilla.")):
        con = sqlite3.connect(p)
        con.execute("create table t (x)")
        con.close()
    elif command == "json":
        p.write_text('{"a": 1}\n')
    elif command == "ini":
        p.write_text("[a]\nb=c\n")
    else:
        p.write_bytes(b"junk" * 300)
    return True


def _make_dir(d: Path) -> list[str]:
    if any(q.exists() and not q.is_dir() for q in [d, *d.parents]):
        return []
    made = []
    for rel in ("a.dat", "b.log", "sub/c.tmp"):
        f = d / rel
        if not f.exists():
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_bytes(b"junk" * 300)
            made.append(str(f))
    return made


def options(home: Path) -> list[Option]:
    """Every option of the installed files that applies on Linux, its files created under ``home``."""
    env = {
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / ".local/share"),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
    }
    out: list[Option] = []
    for xml in sorted(CLEANERS.glob("*.xml")):
        root = ET.parse(xml).getroot()  # noqa: S314 - Debian's own files
        if root.tag != "cleaner" or not os_matches(root.get("os"), "linux"):
            continue
        variables: dict[str, list[str]] = {}
        for var in root.findall("var"):
            vals = [(v.text or "").strip() for v in var.findall("value") if os_matches(v.get("os"), "linux")]
            variables.setdefault(var.get("name", ""), []).extend(v for v in vals if v)
        for opt in root.findall("option"):
            o = Option(f"{root.get('id')}.{opt.get('id')}")
            acts = [a for a in opt.findall("action") if os_matches(a.get("os"), "linux")]
            if not acts:
                continue
            for act in acts:
                cmd, search, raw = act.get("command", ""), act.get("search", ""), act.get("path", "")
                o.deep |= search == "deep"
                if not raw:
                    continue
                for path in _expand(raw, variables, env, str(home)):
                    p = os.path.normpath(_concrete(path))
                    if not p.startswith(str(home) + os.sep):
                        continue  # system paths (/var/log, /tmp...) are not generated: both lists drop them
                    o.commands.setdefault(p, set()).add(cmd)
                    if search.startswith("walk"):
                        o.made += _make_dir(Path(p))
                    elif _make_file(Path(p), cmd):
                        o.made.append(p)
            out.append(o)
    return out


def bleachbit_preview(option: str, home: Path) -> set[str]:
    """Paths `bleachbit --preview` lists inside ``home`` (HOME is the generated home, XDG_* unset)."""
    assert BLEACHBIT is not None
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    proc = subprocess.run(
        [BLEACHBIT, "--preview", option], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    found = set()
    for line in proc.stdout.splitlines():
        m = _LINE.match(line)
        if m and m.group("path").startswith(str(home) + os.sep):
            found.add(os.path.normpath(m.group("path")))
    return found


@dataclass
class Row:
    """One option's comparison."""

    name: str
    ours: set[str]
    theirs: set[str]
    why: dict[str, str]  # differing path -> reason key (or 'unexplained')

    @property
    def matched(self) -> bool:
        return self.ours == self.theirs


def compare(home: Path, tmp: Path) -> list[Row]:
    """Generate the home, preview every option with both tools, explain every difference."""
    opts = options(home)
    bleachbit_cfg = home / ".config" / "bleachbit"  # BleachBit writes its settings there on start
    with ThreadPoolExecutor(max_workers=2) as pool:
        theirs = dict(
            zip([o.name for o in opts], pool.map(lambda o: bleachbit_preview(o.name, home), opts), strict=True)
        )
    env = Env(os_name="linux", home=str(home), environ={"HOME": str(home)})
    cl = Cleaner(env, Storage(str(tmp / "c"), str(tmp / "d")), str(CLEANERS), running=RunningChecker(env, dict))
    rows = []
    for o in opts:
        res = cl.scan([o.name])
        cat = res.categories[o.name]
        ours = {e[0] for e in cat.iter_entries() if e[0].startswith(str(home) + os.sep)}
        bb = {p for p in theirs[o.name] if not p.startswith(str(bleachbit_cfg))}
        why: dict[str, str] = {}
        for p in ours ^ bb:
            cmds = o.commands.get(p, set())
            if p in bb and cmds and cmds <= set(REFUSED):
                why[p] = "refused"
            elif p in bb and cat.refused:
                why[p] = "guard"
            elif p in bb and o.deep and p not in o.commands:
                why[p] = "deep"
            elif p in bb and os.path.isdir(p) and not os.path.islink(p) and os.listdir(p):
                why[p] = "not-empty"
            else:
                why[p] = "unexplained"
        rows.append(Row(o.name, ours, bb, why))
    return rows


def table(rows: list[Row]) -> Iterator[str]:
    """The README's parity table (totals, then one line per differing option)."""
    matched = sum(r.matched for r in rows)
    yield f"options matched: {matched} / {len(rows)}"
    yield ""
    yield "| option | BleachBit | ours | why they differ |"
    yield "|---|---|---|---|"
    for r in rows:
        if not r.matched:
            reasons = sorted(set(r.why.values()))
            yield f"| `{r.name}` | {len(r.theirs)} | {len(r.ours)} | {'; '.join(REASONS.get(x, x) for x in reasons)} |"


@pytest.mark.slow
@pytest.mark.skipif(BLEACHBIT is None or not CLEANERS.is_dir(), reason="bleachbit is not installed (apt bleachbit)")
def test_parity_with_bleachbit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    for var in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    rows = compare(home, tmp_path)
    assert len(rows) > 150  # every Linux option of the package
    unexplained = {r.name: sorted(p for p, w in r.why.items() if w == "unexplained") for r in rows}
    assert {k: v for k, v in unexplained.items() if v} == {}
    matched = [r for r in rows if r.matched]
    assert len(matched) >= 0.85 * len(rows)
    # the generated home was really read by both: most options found something
    assert sum(bool(r.theirs) for r in rows) > 100 and sum(bool(r.ours) for r in rows) > 100
    # the famous one: Chromium's cache with XDG_CACHE_HOME unset
    chromium = next(r for r in rows if r.name == "chromium.cache")
    assert chromium.matched and any("/.cache/chromium/" in p for p in chromium.ours)
    # all options in one scan: a path several options name is deleted (and counted) once, unlike BleachBit
    env = Env(os_name="linux", home=str(home), environ={"HOME": str(home)})
    cl = Cleaner(
        env, Storage(str(tmp_path / "c"), str(tmp_path / "d")), str(CLEANERS), running=RunningChecker(env, dict)
    )
    res = cl.scan([r.name for r in rows])
    deleted = [e[0] for c in res.categories.values() for e, action in c.iter_actions() if action == "delete"]
    assert (
        len(deleted)
        == len(set(deleted))
        == res.total_items
        - sum(1 for c in res.categories.values() for _e, action in c.iter_actions() if action != "delete")
    )
    assert len(set(deleted)) < sum(len(r.theirs) for r in rows)  # BleachBit's per-option lists overlap


if __name__ == "__main__":  # print the table for cleaner/README.md
    import tempfile

    for var in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
        os.environ.pop(var, None)
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "home").mkdir()
        for line in table(compare(Path(d) / "home", Path(d))):
            print(line)
    sys.exit(0)
