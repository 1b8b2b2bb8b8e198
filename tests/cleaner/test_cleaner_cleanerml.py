"""CleanerML subset: our own fixture files (no BleachBit file is copied into the repo)."""

from __future__ import annotations

import os
from pathlib import Path

from cleaner_fixtures import FixtureHome, tree_state

from cleaner.cleanerml import load_dir, os_matches
from cleaner.safety import RunningChecker
from cleaner.service import Cleaner
from cleaner.storage import Storage

DEMO = """<?xml version="1.0" encoding="UTF-8"?>
<cleaner id="demo">
  <label>Demo app</label>
  <running type="exe">demoapp</running>
  <var name="base">
    <value>~/.demo</value>
    <value os="windows">%APPDATA%\\Demo</value>
  </var>
  <var name="profile">
    <value>$$base$$/p1</value>
    <value>$$base$$/p2</value>
  </var>
  <option id="cache">
    <label>Cache</label>
    <description>Demo cache</description>
    <action command="delete" search="walk.files" path="$$profile$$/cache"/>
  </option>
  <option id="logs">
    <label>Logs</label>
    <action command="delete" search="glob" path="~/.demo/logs/*.log"/>
    <action command="delete" search="walk.all" path="~/.demo/rot" regex="\\.gz$"/>
    <action command="delete" search="walk.all" path="~/.demo/keep" nregex="^keep"/>
    <action command="delete" search="walk.files" path="~/.demo/whole" wholeregex="/whole/a/"/>
    <action command="delete" search="walk.files" path="~/.demo/nwhole" nwholeregex="/skip/"/>
    <action command="delete" search="file" path="~/.demo/single.txt"/>
    <action command="delete" search="walk.top" path="~/.demo/topdir"/>
    <action command="delete" search="file" path="~/.demo/win.txt" os="windows"/>
    <action command="chrome.history" search="file" path="~/.demo/db.sqlite"/>
    <action command="frobnicate" search="file" path="~/.demo/db.sqlite"/>
    <action command="delete" search="deep" path="~/.demo/x"/>
    <action command="delete" search="file" path="~/.demo/single.txt" cache="true"/>
    <action command="delete" search="walk.all" path="/"/>
    <action command="delete" search="walk.all" path="~"/>
    <action command="delete" search="glob" path="~/*"/>
    <action command="delete" search="file" path="$$nosuchvar$$/x"/>
  </option>
</cleaner>
"""

THUMBS = """<?xml version="1.0"?>
<cleaner id="thumbnails" os="unix">
  <label>Thumbnails</label>
  <running type="pathname">~/.thumbs.lock</running>
  <option id="cache">
    <label>Cache</label>
    <warning>Thumbnails will be regenerated.</warning>
    <action command="delete" search="walk.all" path="$XDG_CACHE_HOME/thumbnails"/>
  </option>
</cleaner>
"""

WINONLY = (
    '<cleaner id="winonly" os="windows"><option id="x">'
    '<action command="delete" search="file" path="C:\\x"/></option></cleaner>'
)


def write_rules(d: Path) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / "demo.xml").write_text(DEMO)
    (d / "thumbnails.xml").write_text(THUMBS)
    (d / "winonly.xml").write_text(WINONLY)
    (d / "broken.xml").write_text("<cleaner id='broken'><option")
    (d / "notes.txt").write_text("not xml, ignored")
    return d


def make_demo_tree(home: Path) -> None:
    demo = home / ".demo"
    for p in (
        "p1/cache/a/b.bin",
        "p2/cache/c.bin",
        "logs/one.log",
        "logs/two.txt",
        "rot/x.log.gz",
        "rot/x.log",
        "keep/keep_me",
        "keep/drop_me",
        "whole/a/hit",
        "whole/b/miss",
        "nwhole/skip/miss",
        "nwhole/hit",
        "single.txt",
        "win.txt",
        "topdir/inner/f",
        "db.sqlite",
    ):
        f = demo / p
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"data")


def test_cleanerml_subset(fx: FixtureHome, tmp_path: Path) -> None:
    rules = write_rules(tmp_path / "rules")
    make_demo_tree(fx.home)
    res = load_dir(str(rules), fx.env)
    names = [c.name for c in res.categories]
    assert names == ["demo.cache", "demo.logs", "thumbnails.cache"]
    skipped = "\n".join(res.skipped)
    assert "broken.xml: unreadable" in skipped
    assert "winonly: not for linux" in skipped
    assert "command='frobnicate' unsupported" in skipped
    assert "command='chrome.history' refused (edits an application's database" in skipped
    assert "search='deep' unsupported" in skipped
    assert "attributes cache unsupported" in skipped
    assert "undefined variable(s) nosuchvar" in skipped
    cats = {c.name: c for c in res.categories}
    assert len(cats["demo.logs"].refused_actions) == 1 and "chrome.history" in cats["demo.logs"].refused_actions[0]
    assert cats["thumbnails.cache"].warning == "Thumbnails will be regenerated."
    assert cats["demo.cache"].guard is not None and cats["demo.cache"].guard.processes == ("demoapp",)
    # two values of a multi-value var that itself uses a var
    assert sorted(r.path for r in cats["demo.cache"].rules) == [
        str(fx.home / ".demo" / "p1" / "cache"),
        str(fx.home / ".demo" / "p2" / "cache"),
    ]

    storage = Storage(str(tmp_path / "c"), str(tmp_path / "d"))
    cl = Cleaner(fx.env, storage, str(rules), mounts=set(), running=RunningChecker(fx.env, dict))
    before = tree_state(fx.home)
    scan = cl.scan(["demo.cache", "demo.logs"])
    demo = fx.home / ".demo"
    found = {os.path.relpath(e[0], demo) for c in scan.categories.values() for e in c.iter_entries()}
    assert found == {
        "p1/cache/a/b.bin",
        "p2/cache/c.bin",
        "logs/one.log",
        "rot/x.log.gz",
        "keep/drop_me",
        "whole/a/hit",
        "nwhole/hit",
        "single.txt",
        "topdir",
        "topdir/inner",
        "topdir/inner/f",
    }
    notes = "\n".join(scan.categories["demo.logs"].notes)
    assert "too broad" in notes and "would match anything" in notes
    cl.apply(scan)
    after = tree_state(fx.home)
    removed = {os.path.relpath(fx.home / k, demo) for k in set(before) - set(after)}
    assert removed == found
    assert (fx.home / "Documents" / "important.txt").exists()


def test_cleanerml_running_guards(fx: FixtureHome, tmp_path: Path) -> None:
    rules = write_rules(tmp_path / "rules")
    make_demo_tree(fx.home)
    (fx.home / ".thumbs.lock").write_text("")
    cl = Cleaner(
        fx.env,
        Storage(str(tmp_path / "c"), str(tmp_path / "d")),
        str(rules),
        mounts=set(),
        running=RunningChecker(fx.env, lambda: {"demoapp": 7}),
    )
    scan = cl.scan(["demo.cache", "thumbnails.cache"])
    assert scan.categories["demo.cache"].refused == ["Demo app is running (process demoapp, pid 7)"]
    assert scan.categories["thumbnails.cache"].refused[0].startswith("Thumbnails is running (lock file")
    assert scan.total_items == 0
    forced = cl.scan(["demo.cache", "thumbnails.cache"], force=True)
    assert forced.categories["demo.cache"].files == 2
    assert forced.categories["thumbnails.cache"].files == 1


def test_os_matching() -> None:
    assert os_matches(None, "linux")
    assert os_matches("unix", "darwin") and not os_matches("unix", "windows")
    assert os_matches("windows", "windows") and not os_matches("linux", "windows")
