"""CleanerML as BleachBit reads it: variable defaults, and the actions beyond delete on fixture files."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cleaner_fixtures import FixtureHome

from cleaner.cleanerml import bleachbit_env, load_dir
from cleaner.edits import remove_ini, remove_json_key
from cleaner.platforms import Env
from cleaner.safety import RunningChecker
from cleaner.service import Cleaner
from cleaner.storage import Storage

VARS = """<cleaner id="vars"><option id="x">
  <action command="delete" search="walk.files" path="$XDG_CACHE_HOME/chromium/"/>
  <action command="delete" search="file" path="${XDG_CONFIG_HOME}/app/x.log"/>
  <action command="delete" search="file" path="$XDG_DATA_HOME/app/y.log"/>
  <action command="delete" search="file" path="$TTFD_SURELY_UNSET/z.log"/>
</option></cleaner>"""

PREFS = (
    '{"a": 1,\n  "dns_prefetching": {"host_referral_list": [2, ["x"]], "startup_list": [1]},'
    ' "net": {"http_server_properties": {"servers": [{"s": "https://x"}], "version": 5}}, "z": "ü"}\n'
)

EDITS = """<cleaner id="app"><label>App</label>
<option id="prefs">
  <action command="json" search="file" path="~/.app/Preferences" address="dns_prefetching/host_referral_list"/>
  <action command="json" search="file" path="~/.app/Preferences" address="dns_prefetching/startup_list"/>
  <action command="json" search="file" path="~/.app/Preferences" address="net/http_server_properties/servers"/>
  <action command="json" search="file" path="~/.app/Preferences" address="no/such/key"/>
</option>
<option id="ini">
  <action command="ini" search="file" path="~/.app/app.ini" section="Recent"/>
  <action command="ini" search="glob" path="~/.app/*.ini" section="General" parameter="LastDir"/>
</option>
<option id="db"><action command="sqlite.vacuum" search="glob" path="~/.app/*.sqlite" type="f"/></option>
<option id="logs">
  <action command="truncate" search="file" path="~/.app/trunc.log"/>
  <action command="shred" search="file" path="~/.app/secret.bin"/>
</option>
</cleaner>"""

INI = "; comment\n[General]\nName = keep\nLastDir = /home/x\n  continued\nOther: 1\n\n[Recent]\nf1=a\nf2=b\n\n"
INI += "[Tail]\nk=v\n"


def _env(home: Path, environ: dict[str, str]) -> Env:
    return Env(os_name="linux", home=str(home), environ=environ)


def test_xdg_defaults_when_unset(tmp_path: Path) -> None:
    home = tmp_path / "home"
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "vars.xml").write_text(VARS)
    res = load_dir(str(rules), _env(home, {}))  # Debian/Ubuntu default: no XDG_* variable set
    paths = [r.path for r in res.categories[0].rules]
    assert paths == [
        str(home / ".cache/chromium"),
        str(home / ".config/app/x.log"),
        str(home / ".local/share/app/y.log"),
    ]
    assert res.skipped == ["vars.x: $TTFD_SURELY_UNSET has no value, path '$TTFD_SURELY_UNSET/z.log' skipped"]
    # set (non-empty) values win; an empty value counts as unset, as in BleachBit
    res = load_dir(str(rules), _env(home, {"XDG_CACHE_HOME": "/elsewhere/cache", "XDG_CONFIG_HOME": ""}))
    assert [r.path for r in res.categories[0].rules][:2] == [
        "/elsewhere/cache/chromium",
        str(home / ".config/app/x.log"),
    ]


def test_bleachbit_variable_defaults_per_platform() -> None:
    mac = bleachbit_env(Env(os_name="darwin", home="/Users/ann", environ={}))
    assert mac.var("XDG_CACHE_HOME") == "/Users/ann/.cache"  # BleachBit sets them on every POSIX system
    win = bleachbit_env(Env(os_name="windows", home="C:\\Users\\ann", environ={"LOCALAPPDATA": "D:\\L"}))
    assert win.var("localappdata") == "D:\\L" and win.var("LocalAppDataLow") == "C:\\Users\\ann\\AppData\\LocalLow"
    assert win.expand("$LOCALAPPDATA\\x") == "D:\\L\\x"  # Windows names are case-insensitive
    assert win.expand("%documents%\\x") == "C:\\Users\\ann\\Documents\\x"
    assert win.var("XDG_CACHE_HOME") is None


def test_json_key_removal_keeps_everything_else() -> None:
    out = remove_json_key(PREFS, "dns_prefetching/host_referral_list")
    assert out == PREFS.replace('"host_referral_list": [2, ["x"]], ', "")
    out = remove_json_key(out, "dns_prefetching/startup_list")
    assert out == PREFS.replace('"host_referral_list": [2, ["x"]], "startup_list": [1]', "")
    last = remove_json_key(PREFS, "z")  # the last member: its leading comma goes with it
    assert last == PREFS.replace(', "z": "ü"', "") and json.loads(last)["a"] == 1
    assert remove_json_key(PREFS, "a/b") == PREFS  # not an object there: unchanged
    assert remove_json_key(PREFS, "missing") == PREFS
    assert json.loads(remove_json_key('{"k": 1}', "k")) == {}
    with pytest.raises(ValueError):
        remove_json_key("{not json", "k")


def test_ini_removal_keeps_other_sections() -> None:
    assert remove_ini(INI, "Recent", None) == INI.replace("[Recent]\nf1=a\nf2=b\n\n", "")
    assert remove_ini(INI, "General", "lastdir") == INI.replace("LastDir = /home/x\n  continued\n", "")
    assert remove_ini(INI, "Nope", None) == INI


def _make_db(path: Path, rows: int) -> None:
    con = sqlite3.connect(path)
    con.execute("create table t (x text)")
    con.executemany("insert into t values (?)", [("y" * 500,) for _ in range(rows)])
    con.commit()
    con.execute("delete from t where rowid > 10")
    con.commit()
    con.close()


def _cleaner(fx: FixtureHome, tmp_path: Path) -> Cleaner:
    rules = tmp_path / "rules"
    rules.mkdir(exist_ok=True)
    (rules / "app.xml").write_text(EDITS)
    storage = Storage(str(tmp_path / "c"), str(tmp_path / "d"))
    return Cleaner(fx.env, storage, str(rules), mounts=set(), running=RunningChecker(fx.env, dict))


def test_actions_apply_on_fixture_files(fx: FixtureHome, tmp_path: Path) -> None:
    app = fx.home / ".app"
    app.mkdir()
    (app / "Preferences").write_text(PREFS)
    (app / "app.ini").write_text(INI)
    (app / "trunc.log").write_bytes(b"L" * 9000)
    (app / "secret.bin").write_bytes(b"S" * 9000)
    _make_db(app / "big.sqlite", 2000)
    (app / "fake.sqlite").write_bytes(b"not a database")
    before_db = (app / "big.sqlite").stat().st_size
    cl = _cleaner(fx, tmp_path)
    names = ["app.prefs", "app.ini", "app.db", "app.logs"]
    preview = cl.scan(names)
    listed = {(n, os.path.basename(e[0]), a) for n, c in preview.categories.items() for e, a in c.iter_actions()}
    assert listed == {
        ("app.prefs", "Preferences", "json"),
        ("app.ini", "app.ini", "ini"),
        ("app.db", "big.sqlite", "sqlite.vacuum"),
        ("app.db", "fake.sqlite", "sqlite.vacuum"),
        ("app.logs", "trunc.log", "truncate"),
        ("app.logs", "secret.bin", "shred"),
    }
    assert preview.categories["app.prefs"].files == 4  # one file, four keys: each edit is listed
    report, _ = cl.apply(preview)
    prefs = (app / "Preferences").read_text()
    assert prefs == PREFS.replace('"host_referral_list": [2, ["x"]], "startup_list": [1]', "").replace(
        '"servers": [{"s": "https://x"}], ', ""
    )
    assert json.loads(prefs)["z"] == "ü"
    ini = (app / "app.ini").read_text()
    assert ini == INI.replace("[Recent]\nf1=a\nf2=b\n\n", "").replace("LastDir = /home/x\n  continued\n", "")
    assert (app / "trunc.log").exists() and (app / "trunc.log").stat().st_size == 0
    assert not (app / "secret.bin").exists()
    assert (app / "big.sqlite").stat().st_size < before_db
    con = sqlite3.connect(app / "big.sqlite")
    assert con.execute("select count(*) from t").fetchone() == (10,)
    con.close()
    assert (app / "fake.sqlite").read_bytes() == b"not a database"
    assert {"path": str(app / "fake.sqlite"), "reason": "not a SQLite database"} in report["skipped"]
    assert report["total"]["errors"] == 0
    cats = {c["name"]: c for c in report["categories"]}
    assert cats["app.prefs"]["edited_files"] == 3  # the missing key changed nothing
    assert cats["app.logs"]["edited_files"] == 1 and cats["app.logs"]["deleted_files"] == 1
    assert report["total"]["bytes_freed"] >= 2 * 8192


def test_vacuum_never_runs_on_a_held_database(fx: FixtureHome, tmp_path: Path) -> None:
    app = fx.home / ".app"
    app.mkdir()
    held, locked = app / "held.sqlite", app / "locked.sqlite"
    _make_db(held, 500)
    _make_db(locked, 500)
    snapshot = {p: p.read_bytes() for p in (held, locked)}
    cl = _cleaner(fx, tmp_path)
    preview = cl.scan(["app.db"])
    assert preview.categories["app.db"].files == 2
    # another process has one open (a running app), and this process holds a lock on the other
    hold = "import sys,time; f=open(sys.argv[1],'rb'); print('open', flush=True); time.sleep(60)"
    holder = subprocess.Popen(
        [sys.executable, "-c", hold, str(held)],
        stdout=subprocess.PIPE,
        text=True,
    )
    lock = sqlite3.connect(locked, isolation_level=None)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "open\n"
        lock.execute("BEGIN EXCLUSIVE")
        report, _ = cl.apply(preview)
    finally:
        lock.execute("ROLLBACK")
        lock.close()
        holder.kill()
        holder.wait()
    reasons = {s["path"]: s["reason"] for s in report["skipped"]}
    if sys.platform.startswith("linux"):
        assert reasons[str(held)] == f"open by process {holder.pid}"
    assert reasons[str(locked)].startswith("in use")
    assert {p: p.read_bytes() for p in (held, locked)} == snapshot
    # released: now it runs
    time.sleep(0.05)
    report, _ = cl.apply(cl.scan(["app.db"]))
    assert report["total"]["skipped"] == 0 and report["categories"][0]["edited_files"] == 2
    assert held.stat().st_size < len(snapshot[held])


def test_var_values_globbed_on_reading_and_names_with_dashes(tmp_path: Path) -> None:
    home = tmp_path / "home"
    for p in ("a.default/cookies.sqlite", "b.default/cookies.sqlite", "c.other/cookies.sqlite", "x/Cache/f"):
        (home / ".app" / p).parent.mkdir(parents=True, exist_ok=True)
        (home / ".app" / p).write_text("x")
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "g.xml").write_text(
        '<cleaner id="g"><var name="profile"><value search="glob">~/.app/*.default</value></var>'
        '<var name="Cache-Dir"><value>~/.app/x</value></var><option id="o">'
        '<action command="delete" search="file" path="$$profile$$/cookies.sqlite"/>'
        '<action command="delete" search="walk.files" path="$$Cache-Dir$$/Cache"/></option></cleaner>'
    )
    res = load_dir(str(rules), _env(home, {}))
    assert res.skipped == []
    paths = sorted(r.path for r in res.categories[0].rules)
    app = home / ".app"
    assert paths == [str(app / "a.default/cookies.sqlite"), str(app / "b.default/cookies.sqlite"), str(app / "x/Cache")]
