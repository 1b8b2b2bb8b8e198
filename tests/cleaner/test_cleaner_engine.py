"""Engine tests on a fixture home: what is found, what is kept, and that apply deletes exactly the preview."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
from cleaner_fixtures import FixtureHome, tree_state

from cleaner import scan as scan_mod
from cleaner.categories import builtin_categories
from cleaner.rules import AppGuard, Category, Rule
from cleaner.safety import Protector, RunningChecker
from cleaner.scan import KIND_DIR, KIND_LINK, ScanResult
from cleaner.service import Cleaner, UnknownCategory
from cleaner.storage import Storage

STORE_PREFIXES = ("home/.config/ttfd-cleaner", "home/.local/share/ttfd-cleaner")


def no_processes() -> dict[str, int]:
    return {}


def make_cleaner(fx: FixtureHome, tmp_path: Path, *, processes=no_processes, exclusions=()) -> Cleaner:
    storage = Storage(str(tmp_path / "store" / "config"), str(tmp_path / "store" / "data"))
    for e in exclusions:
        storage.add_exclusion(e)
    return Cleaner(
        fx.env,
        storage,
        mounts={str(fx.mount)},
        running=RunningChecker(fx.env, processes),
    )


def paths(res: ScanResult, cat: str | None = None) -> set[str]:
    cats = [res.categories[cat]] if cat else list(res.categories.values())
    return {e[0] for c in cats for e in c.iter_entries()}


def state(fx: FixtureHome) -> dict[str, str]:
    st = tree_state(fx.base)
    return {k: v for k, v in st.items() if not k.startswith(("store", *STORE_PREFIXES))}


def test_scan_finds_junk_and_respects_every_safety_rule(fx: FixtureHome, tmp_path: Path) -> None:
    cl = make_cleaner(fx, tmp_path, exclusions=[str(fx.excluded)])
    res = cl.scan(["temp", "cache", "browsers", "apps"])
    found = paths(res)
    h, c = str(fx.home), str(fx.home / ".cache")
    # junk is found
    assert f"{c}/pip/http/0/a/b/blob0.bin" in found
    assert f"{c}/thumbnails/normal/t1.png" in found
    assert f"{c}/someapp/deep/er/x.dat" in found
    assert f"{h}/.config/google-chrome/Default/GPUCache/data_0" in found
    assert f"{h}/.config/google-chrome/Profile 1/Code Cache/js/c1" in found
    assert f"{h}/.mozilla/firefox/abcd.default-release/startupCache/s.bin" in found
    assert f"{h}/.npm/_cacache/index-v5/aa/bb" in found
    assert f"{h}/.cargo/registry/cache/index.crates.io/serde.crate" in found
    assert f"{h}/.local/share/Trash/files/old.txt" in found
    assert f"{h}/.local/state/app/old.log" in found
    assert f"{fx.root}/tmp/old.tmp" in found
    assert f"{fx.root}/var/tmp/old2.tmp" in found
    assert f"{fx.root}/tmp/olddir" in found  # old and will be empty
    # a link is a candidate itself; its target never is
    assert f"{c}/app/link_out" in found
    assert f"{c}/linkdir" in found
    assert not any(p.startswith(str(fx.outside)) for p in found)
    kinds = {e[0]: e[2] for cat in res.categories.values() for e in cat.iter_entries()}
    assert kinds[f"{c}/linkdir"] == KIND_LINK
    assert kinds[f"{c}/someapp/deep"] == KIND_DIR
    # kept: young temp files, logs that are new or not logs, fragile cache dirs, exclusions, mounts
    assert f"{fx.root}/tmp/new.tmp" not in found
    assert f"{h}/.local/state/app/new.log" not in found
    assert f"{h}/.local/state/app/data.db" not in found
    assert not any(p.startswith(f"{c}/dconf") for p in found)
    assert not any(p.startswith(str(fx.excluded)) for p in found)
    assert not any(p.startswith(str(fx.mount)) for p in found)
    assert not any("/.X11-unix" in p for p in found)
    assert f"{c}/" not in found and c not in found  # the cache root itself stays
    # browser privacy data is not in 'browsers'
    assert not any(p.endswith(("/History", "/Cookies", "/Login Data", "cookies.sqlite", "logins.json")) for p in found)


def test_paths_are_counted_once_across_categories(fx: FixtureHome, tmp_path: Path) -> None:
    cl = make_cleaner(fx, tmp_path)
    res = cl.scan(["cache", "apps", "browsers"])
    all_entries = [e[0] for cat in res.categories.values() for e in cat.iter_entries()]
    assert len(all_entries) == len(set(all_entries))
    # pip lives in ~/.cache: claimed by 'cache', so 'apps' does not count it again
    assert any("/pip/" in p for p in paths(res, "cache"))
    assert not any("/pip/" in p for p in paths(res, "apps"))
    assert res.total_bytes == sum(c.bytes for c in res.categories.values())
    # sizes are disk usage (blocks), aggregated per category
    blob = fx.home / ".cache" / "pip" / "http" / "0" / "a" / "b" / "blob0.bin"
    sizes = {e[0]: e[1] for e in res.categories["cache"].iter_entries()}
    assert sizes[str(blob)] == os.lstat(blob).st_blocks * 512
    assert res.categories["cache"].bytes == sum(e[1] for e in res.categories["cache"].iter_entries())


def test_apply_deletes_exactly_the_preview_and_nothing_else(fx: FixtureHome, tmp_path: Path) -> None:
    cl = make_cleaner(fx, tmp_path, exclusions=[str(fx.excluded)])
    before = state(fx)
    res = cl.scan(["temp", "cache", "browsers", "apps"])
    planned = {os.path.relpath(p, fx.base) for p in paths(res)}
    report, report_path = cl.apply(res)
    after = state(fx)
    removed = set(before) - set(after)
    assert removed == planned
    assert not set(after) - set(before)  # nothing created
    assert all(after[k] == before[k] for k in after)  # nothing else modified
    assert (fx.outside / "victim.txt").read_bytes() == b"precious"
    assert (fx.outside / "dir" / "inner.txt").exists()
    assert (fx.home / "Documents" / "important.txt").exists()
    assert (fx.excluded / "keep.bin").exists()
    assert (fx.mount / "on_other_fs.bin").exists()
    assert (fx.home / ".cache" / "dconf" / "user").exists()
    assert (fx.home / ".cache").is_dir()
    assert report["total"]["deleted"] == len(planned)
    assert report["total"]["errors"] == 0
    assert report["total"]["bytes_freed"] == res.total_bytes
    assert os.path.isfile(report_path)
    assert cl.storage.reports(1)[0]["id"] == report["id"]


def test_directories_are_removed_only_when_empty(fx: FixtureHome, tmp_path: Path) -> None:
    cl = make_cleaner(fx, tmp_path)
    res = cl.scan(["cache"])
    dirs = {e[0] for e in res.categories["cache"].iter_entries() if e[2] == KIND_DIR}
    assert str(fx.home / ".cache" / "pip") in dirs
    assert str(fx.home / ".cache" / "dconf") not in dirs  # holds a kept file
    # a file appears after the preview: its directory is no longer empty and stays
    late = fx.home / ".cache" / "someapp" / "deep" / "er" / "late.dat"
    late.write_bytes(b"new")
    report, _ = cl.apply(res)
    assert late.exists()
    reasons = {s["path"]: s["reason"] for s in report["skipped"]}
    assert reasons[str(late.parent)] == "directory not empty"
    assert not (fx.home / ".cache" / "pip").exists()


def test_apply_rechecks_each_entry_at_delete_time(fx: FixtureHome, tmp_path: Path) -> None:
    cl = make_cleaner(fx, tmp_path)
    res = cl.scan(["cache"])
    c = fx.home / ".cache"
    modified = c / "thumbnails" / "normal" / "t1.png"
    time.sleep(0.01)
    modified.write_bytes(b"changed after the preview")
    # a scanned directory swapped for a symlink into 'outside' must not be entered
    shutil.rmtree(c / "someapp" / "deep")
    os.symlink(fx.outside / "dir", c / "someapp" / "deep")
    (fx.outside / "dir" / "er").mkdir()
    (fx.outside / "dir" / "er" / "x.dat").write_bytes(b"lookalike")
    # an exclusion added after the preview wins
    cl.storage.add_exclusion(str(c / "pip" / "http" / "1"))
    report, _ = cl.apply(res)
    reasons = {s["path"]: s["reason"] for s in report["skipped"]}
    assert reasons[str(modified)] == "modified since the preview"
    assert modified.exists()
    assert (fx.outside / "dir" / "er" / "x.dat").read_bytes() == b"lookalike"
    assert "changed since the preview" in reasons[str(c / "someapp" / "deep" / "er" / "x.dat")]
    assert reasons[str(c / "pip" / "http" / "1" / "a" / "b" / "blob1.bin")] == "excluded"
    assert (c / "pip" / "http" / "1" / "a" / "b" / "blob1.bin").exists()
    assert not (c / "pip" / "http" / "0" / "a" / "b" / "blob0.bin").exists()


def test_bare_name_exclusions_and_globs(fx: FixtureHome, tmp_path: Path) -> None:
    cl = make_cleaner(fx, tmp_path, exclusions=["*.png", "~/.cache/someapp"])
    found = paths(cl.scan(["cache"]))
    assert not any(p.endswith(".png") for p in found)
    assert not any("/someapp" in p for p in found)
    assert any(p.endswith("blob0.bin") for p in found)


def test_running_app_by_process_name_refuses_unless_forced(fx: FixtureHome, tmp_path: Path) -> None:
    # a real process whose name is 'firefox': a copy of sleep
    exe = tmp_path / "bin" / "firefox"
    exe.parent.mkdir()
    shutil.copy(shutil.which("sleep") or "/bin/sleep", exe)
    proc = subprocess.Popen([str(exe), "30"])
    try:
        deadline = time.time() + 5
        while time.time() < deadline:
            try:
                if Path(f"/proc/{proc.pid}/comm").read_text().strip() == "firefox":
                    break
            except OSError:
                pass
            time.sleep(0.02)
        cl = Cleaner(fx.env, Storage(str(tmp_path / "c"), str(tmp_path / "d")), mounts=set())
        res = cl.scan(["browsers", "cache"])
        refused = res.categories["browsers"].refused
        assert any("Firefox is running" in r and str(proc.pid) in r for r in refused)
        found = paths(res)
        assert not any("/.mozilla/" in p or "/mozilla/firefox" in p for p in found)
        assert any("google-chrome" in p for p in found)  # other browsers are still cleaned
        assert res.categories["cache"].refused  # Firefox's dir inside ~/.cache is pruned too
        forced = cl.scan(["browsers", "cache"], force=True)
        assert any("/.mozilla/" in p for p in paths(forced))
        assert any("/mozilla/firefox/" in p for p in paths(forced))
    finally:
        proc.kill()
        proc.wait()


def test_running_app_by_lock_file(fx: FixtureHome, tmp_path: Path) -> None:
    # Chromium browsers keep a dangling SingletonLock symlink while running
    os.symlink("myhost-12345", fx.home / ".config" / "google-chrome" / "SingletonLock")
    cl = make_cleaner(fx, tmp_path)
    res = cl.scan(["browsers"])
    assert any("Google Chrome is running (lock file" in r for r in res.categories["browsers"].refused)
    assert not any("google-chrome" in p for p in paths(res))
    assert any("/.mozilla/" in p for p in paths(res))


def test_category_guard_refuses_whole_category(fx: FixtureHome, tmp_path: Path) -> None:
    d = fx.home / ".cache" / "someapp"
    cat = Category("x", "x", "x", (Rule("r", "walk.all", str(d), str(d)),), guard=AppGuard("Some", ("someapp",)))
    from cleaner.scan import scan

    res = scan(fx.env, [cat], Protector([]), running=RunningChecker(fx.env, lambda: {"someapp": 42}), mounts=set())
    assert res.categories["x"].refused == ["Some is running (process someapp, pid 42)"]
    assert res.total_items == 0


def test_opt_in_privacy_categories(fx: FixtureHome, tmp_path: Path) -> None:
    cl = make_cleaner(fx, tmp_path)
    cats = {c.name: c for c in cl.categories()}
    assert cats["browsers.cookies"].opt_in and "personal" in cats["browsers.cookies"].warning
    assert all(c.name not in ("browsers.history", "browsers.cookies") for c in cl.resolve(["all"]))
    res = cl.scan(["browsers.history", "browsers.cookies", "browsers.passwords"])
    found = paths(res)
    p = fx.home / ".config" / "google-chrome" / "Default"
    ff = fx.home / ".mozilla" / "firefox" / "abcd.default-release"
    assert {str(p / "History"), str(p / "Cookies"), str(p / "Login Data")} <= found
    assert {str(ff / "cookies.sqlite"), str(ff / "logins.json")} <= found
    assert str(p / "Bookmarks") not in found and str(ff / "places.sqlite") not in found
    with pytest.raises(UnknownCategory):
        cl.resolve(["nope"])


def test_send_to_trash(fx: FixtureHome, tmp_path: Path) -> None:
    cl = make_cleaner(fx, tmp_path)
    res = cl.scan(["cache"])
    report, _ = cl.apply(res, trash=True)
    assert report["trash"] is True and report["total"]["errors"] == 0
    trashed = fx.home / ".local" / "share" / "Trash" / "files"
    names = os.listdir(trashed)
    assert "blob0.bin" in names and "t1.png" in names
    assert not (fx.home / ".cache" / "pip" / "http" / "0" / "a" / "b" / "blob0.bin").exists()
    assert (fx.outside / "victim.txt").exists()  # links are removed, never their target trashed


def test_progress_and_cancel(fx: FixtureHome, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = fx.home / ".cache" / "big"
    for i in range(30):
        d = big / f"d{i}"
        d.mkdir(parents=True)
        for j in range(50):
            (d / f"f{j}").write_bytes(b"")
    monkeypatch.setattr(scan_mod, "PROGRESS_EVERY", 64)
    cl = make_cleaner(fx, tmp_path)
    seen = []
    res = cl.scan(["cache"], progress=seen.append)
    assert len(seen) > 5 and seen[-1].files == res.total_items - res.categories["cache"].dirs
    cancel = threading.Event()

    def stop(p: scan_mod.Progress) -> None:
        if p.files > 100:
            cancel.set()

    res2 = cl.scan(["cache"], progress=stop, cancel=cancel)
    assert res2.cancelled and res2.total_items < res.total_items


def test_portable_fallback_without_dir_fd(fx: FixtureHome, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import cleaner.apply as apply_mod

    monkeypatch.setattr(scan_mod, "USE_DIR_FD", False)
    monkeypatch.setattr(apply_mod, "USE_DIR_FD", False)
    cl = make_cleaner(fx, tmp_path)
    before = state(fx)
    res = cl.scan(["cache", "temp"])
    planned = {os.path.relpath(p, fx.base) for p in paths(res)}
    cl.apply(res)
    after = state(fx)
    assert set(before) - set(after) == planned
    assert (fx.outside / "victim.txt").exists()


def test_hard_links_are_counted_once(fx: FixtureHome, tmp_path: Path) -> None:
    a = fx.home / ".cache" / "someapp" / "big.bin"
    a.write_bytes(b"y" * 100_000)
    os.link(a, fx.home / ".cache" / "thumbnails" / "big-link.bin")
    cl = make_cleaner(fx, tmp_path)
    res = cl.scan(["cache"])
    sizes = [e[1] for e in res.categories["cache"].iter_entries() if e[0].endswith(("big.bin", "big-link.bin"))]
    assert sorted(sizes) == [0, os.lstat(a).st_blocks * 512]


def test_temp_never_touches_other_users_files(fx: FixtureHome, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to create a file owned by another user")
    f = fx.root / "tmp" / "someone_elses.tmp"
    f.write_bytes(b"x")
    os.chown(f, 12345, 12345)
    os.utime(f, (0, 0))
    res = make_cleaner(fx, tmp_path).scan(["temp"])
    assert str(f) not in paths(res)


def test_builtin_categories_have_expected_names(fx: FixtureHome) -> None:
    names = [c.name for c in builtin_categories(fx.env)]
    assert names[:5] == ["temp", "cache", "browsers", "apps", "custom"]


def test_custom_paths(fx: FixtureHome, tmp_path: Path) -> None:
    junk = fx.home / "Downloads" / "junk"
    (junk / "sub").mkdir(parents=True)
    (junk / "sub" / "a.bin").write_bytes(b"a")
    single = fx.home / "Downloads" / "setup.iso"
    single.write_bytes(b"iso")
    cl = make_cleaner(fx, tmp_path)
    cl.storage.save_settings({"custom_paths": [str(junk), str(single), str(fx.home)]})
    res = cl.scan(["custom"])
    found = paths(res)
    assert {str(junk / "sub" / "a.bin"), str(junk / "sub"), str(single)} <= found
    assert str(junk) not in found  # the root a user named is emptied, not removed
    assert any("too broad" in n for n in res.categories["custom"].notes)  # HOME itself is refused
    assert not any(p.startswith(str(fx.home / "Documents")) for p in found)


def test_protector_per_directory_matchers() -> None:
    p = Protector(["/a/*/keep", "/x/y", "*.iso"])
    m = p.for_dir("/a/b/c")
    # fnmatch semantics: '*' also crosses '/', which errs on the side of keeping
    assert m is not None and m("/a/b/c/keep", "keep") is True and m("/a/b/c/other", "other") is False
    assert p.for_dir("/a/b") is not None and p.for_dir("/a/b")("/a/b/keep", "keep")  # type: ignore[misc]
    q = p.for_dir("/q")
    assert q is not None and q("/q/z.iso", "z.iso") and not q("/q/z", "z")
    only_full = Protector(["/x/y"])
    assert only_full.for_dir("/q") is None  # nothing below /q can match: no per-file work
    assert only_full.for_dir("/x")("/x/y", "y")  # type: ignore[misc]
    assert only_full.for_dir("/x/y/z")("/x/y/z/f", "f")  # type: ignore[misc]
    assert not only_full.for_dir("/x")("/x/yy", "yy")  # type: ignore[misc]


def test_protector_decides_as_all_its_patterns_together() -> None:
    """Whether a path is kept is decided by the patterns its directory's matcher holds (one small expression
    per group, compiled when met): exactly what one expression of every pattern decides."""
    import fnmatch
    import re

    patterns = ["/a/*/keep", "/x/y", "*.iso", "/t/ssh-*", "/t/.X*-lock", "/c/doc", "rel/dir", "*/any", "/k[ab]/z"]
    full = [fnmatch.translate(os.path.normpath(p))[:-2] + "(?:/.*)?\\Z" for p in patterns if "/" in p]
    base = [fnmatch.translate(p) for p in patterns if "/" not in p]
    every = re.compile("|".join(f"(?:{r})" for r in full), re.S).match
    bare = re.compile("|".join(f"(?:{r})" for r in base), re.S).match
    p = Protector(patterns)
    names = ["a", "b", "keep", "x", "y", "yy", "z.iso", "t", "ssh-1", "ssh", ".X0-lock", "c", "doc", "docs", "rel"]
    names += ["dir", "any", "ka", "kc", "z", "q"]
    paths = {"/", "rel", "z.iso", "rel/dir", "x/any"}
    paths |= {f"/{a}" for a in names} | {f"/{a}/{b}" for a in names for b in names}
    paths |= {f"/{a}/{b}/{c}" for a in ("a", "x", "t", "c", "ka") for b in names for c in ("keep", "f", "z.iso")}
    for path in sorted(paths):
        name = os.path.basename(path)
        expected = every(path) is not None or bare(name) is not None
        assert p(path, name) is expected, path
        matcher = p.for_dir(os.path.dirname(path)) if os.path.dirname(path) else None
        if matcher is not None:
            assert matcher(path, name) is expected, path
    assert Protector([])("/a/keep", "keep") is False


def test_scan_restores_the_garbage_collector(fx: FixtureHome, tmp_path: Path) -> None:
    import gc

    cl = make_cleaner(fx, tmp_path)
    assert gc.isenabled()
    cl.scan(["cache"])
    assert gc.isenabled()
    gc.disable()
    try:
        cl.scan(["cache"])
        assert not gc.isenabled()  # it was off before: left off
    finally:
        gc.enable()
