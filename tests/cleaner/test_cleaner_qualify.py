"""One qualification rule: every rule gives the same list through the single-process walk, the forked walk
and the single-entry search, and young entries (symbolic links too) stay wherever the age rule applies."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from cleaner_fixtures import OLD, FixtureHome

from cleaner import scan as scan_mod
from cleaner.cleanerml import load_dir
from cleaner.rules import Category, Rule
from cleaner.safety import RunningChecker, is_within
from cleaner.scan import KIND_DIR, Scanner, ScanResult
from cleaner.service import Cleaner
from cleaner.storage import Storage

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="the parallel walk forks worker processes")

RULES = """<cleaner id="q"><label>Q</label>
<option id="logs"><action command="delete" search="walk.all" path="~/.cache/q" regex="\\.log$"/></option>
<option id="nlogs"><action command="delete" search="walk.all" path="~/.cache/q" nregex="\\.log$"/></option>
<option id="whole"><action command="delete" search="walk.files" path="~/.cache/q" wholeregex="/d1/"/></option>
<option id="nwhole"><action command="delete" search="walk.all" path="~/.cache/q" nwholeregex="/d2/"/></option>
<option id="top"><action command="delete" search="walk.top" path="~/.cache/q/d1"/></option>
<option id="globwalk"><action command="delete" search="walk.all" path="~/.cache/q/d*/sub"/></option>
<option id="glob"><action command="delete" search="glob" path="~/.cache/q/d1/*"/></option>
<option id="typef"><action command="delete" search="glob" path="~/.cache/q/*" type="f"/></option>
<option id="file"><action command="delete" search="file" path="~/.cache/q/old.log"/></option>
</cleaner>"""


def _touch(p: Path, age: float | None = OLD, data: bytes = b"x" * 3000) -> Path:
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    if age is not None:
        os.utime(p, (age, age))
    return p


def _link(p: Path, target: Path, age: float | None) -> Path:
    os.symlink(target, p)
    if age is not None:
        os.utime(p, (age, age), follow_symlinks=False)
    return p


def build(fx: FixtureHome) -> dict[str, Path]:
    """Young and old files, links and directories (and another user's) in the temp dir and a cache tree."""
    young = time.time() - 600  # ten minutes: a running app's
    t: dict[str, Path] = {}
    for base, tag in ((fx.root / "tmp", "tmp"), (fx.home / ".cache" / "q", "q")):
        for d in ("d1", "d2", "d3/sub", "d1/sub", "d2/sub/deeper"):
            _touch(base / d / "old.log")
            _touch(base / d / "old.bin")
        t[f"{tag}_young_file"] = _touch(base / "d1" / "young.log", young)
        t[f"{tag}_young_link"] = _link(base / "d2" / "SingletonCookie", fx.outside / "victim.txt", young)
        t[f"{tag}_old_link"] = _link(base / "d2" / "old_link.log", fx.outside / "victim.txt", OLD)
        t[f"{tag}_dangling_young"] = _link(base / "pytest-current", base / "gone", young)
        (base / "young_empty").mkdir()
        os.utime(base / "young_empty", (young, young))
        t[f"{tag}_young_dir"] = base / "young_empty"
        (base / "old_empty").mkdir()
        t[f"{tag}_old_dir"] = base / "old_empty"
        t[f"{tag}_fifo"] = base / "d3" / "fifo"
        os.mkfifo(t[f"{tag}_fifo"])
        _touch(base / "old.log")
        if os.geteuid() == 0:  # another user's file and directory in a shared dir
            other = _touch(base / "d3" / "nobody.log")
            os.chown(other, 65534, 65534)
            os.chown(base / "d3" / "sub", 65534, 65534)
            t[f"{tag}_other"] = other
        for d in sorted({p for p in base.rglob("*") if p.is_dir() and not p.is_symlink()}, reverse=True):
            if d != t[f"{tag}_young_dir"]:
                os.utime(d, (OLD, OLD))
    return t


def dump(res: ScanResult) -> list[Any]:
    out: list[Any] = [res.total_bytes, res.total_items]
    for name, c in res.categories.items():
        rules = [(r.label, r.allowed_root, r.action, r.entries, r.dirs) for r in c.rules]
        out.append((name, c.bytes, c.files, c.dirs, c.refused, c.notes, c.errors, rules))
    return out


def every_rule(fx: FixtureHome, tmp_path: Path) -> tuple[Cleaner, list[Category]]:
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    (rules_dir / "q.xml").write_text(RULES)
    storage = Storage(str(tmp_path / "c"), str(tmp_path / "d"))
    cl = Cleaner(fx.env, storage, str(rules_dir), mounts={str(fx.mount)}, running=RunningChecker(fx.env, dict))
    cats = [c for c in cl.categories() if c.rules]
    assert len(load_dir(str(rules_dir), fx.env).categories) == 9
    return cl, cats


def scan_one_rule(cl: Cleaner, rule: Rule, workers: int) -> tuple[ScanResult, Scanner]:
    s = Scanner(cl.env, cl.protector(), running=cl.running, mounts=cl.mounts, workers=workers, parallel_min_dirs=1)
    return s.scan([Category("one", "one", "", (rule,))]), s


def test_every_rule_qualifies_the_same_in_both_walkers(
    fx: FixtureHome, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = build(fx)
    cl, cats = every_rule(fx, tmp_path)
    monkeypatch.setattr(scan_mod, "TASKS_PER_WORKER", 1)
    forked = compared = 0
    for cat in cats:
        for rule in cat.rules:
            single, _ = scan_one_rule(cl, rule, 1)
            parallel, s2 = scan_one_rule(cl, rule, 2)
            forked += s2.forked_walks
            compared += 1
            assert dump(parallel) == dump(single), rule.label
    assert compared > 40 and forked >= 5  # built-in and CleanerML rules; many walks were really shared

    # and the single-entry search ('file') agrees with the walk on every entry below the walk's top
    for cat in cats:
        for rule in cat.rules:
            if not rule.search.startswith("walk") or not os.path.isdir(rule.path) or "*" in rule.path:
                continue
            walked, _ = scan_one_rule(cl, rule, 1)
            in_walk = {e[0] for e in walked.categories["one"].iter_entries() if e[2] != KIND_DIR}
            one_by_one = set()
            for dirpath, dirnames, filenames in os.walk(rule.path):
                for n in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
                    p = os.path.join(dirpath, n)
                    single = Rule(
                        "single", "file", p, rule.allowed_root, rule.regex, rule.nregex, rule.wholeregex,
                        rule.nwholeregex, rule.min_age_s, rule.own_files_only, object_type=rule.object_type,
                    )  # fmt: skip
                    res, _ = scan_one_rule(cl, single, 1)
                    one_by_one |= {e[0] for e in res.categories["one"].iter_entries()}
            # a walk does not cross mounts, nor enter other users' directories where ownership counts
            assert cl.mounts is not None
            unreached = [*cl.mounts, *([os.path.join(rule.path, "d3", "sub")] if rule.own_files_only else [])]
            reached = {p for p in one_by_one if not any(is_within(p, u) for u in unreached)}
            assert in_walk == reached, rule.label

    # what the temp category (age and owner rules) lists, through either walker
    for workers in (1, 2):
        s = Scanner(cl.env, cl.protector(), running=cl.running, mounts=cl.mounts, workers=workers, parallel_min_dirs=1)
        listed = {e[0] for e in s.scan(cl.resolve(["temp"])).categories["temp"].iter_entries()}
        tmp = fx.root / "tmp"
        assert str(tmp / "d1" / "old.log") in listed and str(t["tmp_old_link"]) in listed
        assert str(t["tmp_old_dir"]) in listed
        for young in ("tmp_young_file", "tmp_young_link", "tmp_dangling_young", "tmp_young_dir", "tmp_fifo"):
            assert str(t[young]) not in listed, young
        assert str(tmp / "d1") not in listed and str(tmp / "d2") not in listed  # something young stays inside
        if "tmp_other" in t:
            assert str(t["tmp_other"]) not in listed and str(tmp / "d3" / "sub" / "old.log") not in listed
            assert str(tmp / "d3") not in listed
