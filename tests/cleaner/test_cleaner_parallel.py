"""Parallel scan: subtrees walked by forked workers give exactly the single-process preview, and stop on cancel."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from cleaner_fixtures import FixtureHome

from cleaner import scan as scan_mod
from cleaner.rules import AppGuard, Category, Rule
from cleaner.safety import Protector, RunningChecker
from cleaner.scan import KIND_DIR, KIND_FILE, KIND_LINK, Progress, Scanner, ScanResult
from cleaner.service import Cleaner
from cleaner.storage import Storage

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="parallel scans fork worker processes")

NO_DAC_ENV = "CLEANER_TEST_WITHOUT_DAC_OVERRIDE"
BUSY = AppGuard("Busy App", ("busyapp",))


def dump(res: ScanResult) -> list[Any]:
    """Everything a preview holds, in order."""
    out: list[Any] = [res.total_bytes, res.total_items, res.cancelled]
    for name, c in res.categories.items():
        rules = [(r.label, r.allowed_root, r.never_trash, r.own_files_only, r.entries, r.dirs) for r in c.rules]
        out.append((name, c.label, c.bytes, c.files, c.dirs, c.refused, c.notes, c.errors, c.warning, rules))
    return out


def build_tree(top: Path, outside: Path) -> dict[str, Path]:
    """A tree with enough directories to be shared among workers, and every kind of trap in it."""
    for a in range(6):
        for b in range(8):
            d = top / f"a{a}" / f"b{b}"
            d.mkdir(parents=True)
            for c in range((a * 8 + b) % 7):
                (d / f"f{c}.bin").write_bytes(b"x" * (1500 * c + 1))
            if b % 3 == 0:
                (d / "deeper" / "still").mkdir(parents=True)
                (d / "deeper" / "still" / "z.dat").write_bytes(b"z" * 5000)
            if b == 5:
                (d / "empty").mkdir()
    t = {
        "link_out": top / "a0" / "b1" / "link_out",
        "dirlink_out": top / "a3" / "b3" / "dirlink_out",
        "excluded": top / "a1" / "b2" / "excluded",
        "bare_excluded": top / "a2" / "b3" / "thing.keep",
        "mount": top / "a3" / "b0" / "mnt",
        "fifo": top / "a4" / "b1" / "pipe",
        "hard_a": top / "a0" / "b0" / "hard.bin",
        "hard_b": top / "a5" / "b7" / "hard-link.bin",
        "locked": top / "a4" / "b4" / "locked",
        "busy": top / "a5" / "b6",
        "odd_name": top / "a2" / "b2" / os.fsdecode(b"caf\xe9-\xff.bin"),
    }
    os.symlink(outside / "victim.txt", t["link_out"])
    os.symlink(outside / "dir", t["dirlink_out"])
    t["excluded"].mkdir()
    (t["excluded"] / "keep.bin").write_bytes(b"k")
    t["bare_excluded"].write_bytes(b"k")
    t["mount"].mkdir()
    (t["mount"] / "on_other_fs.bin").write_bytes(b"m")
    os.mkfifo(t["fifo"])
    t["hard_a"].write_bytes(b"h" * 20000)
    os.link(t["hard_a"], t["hard_b"])
    t["locked"].mkdir()
    (t["locked"] / "secret.bin").write_bytes(b"s")
    t["odd_name"].write_bytes(b"o")
    (t["busy"] / "lock.bin").write_bytes(b"b")
    return t


def categories(cl: Cleaner, top: Path, t: dict[str, Path]) -> list[Category]:
    """The fixture's built-in categories plus rules on the big tree that overlap them and each other."""
    a1 = top / "a1"
    cats = [
        # claims a1's .bin files first: the big walk below must not count them again
        Category("dupes", "dupes", "", (Rule("bins in a1", "walk.files", str(a1), str(a1), regex=r"\.bin$"),)),
        Category(
            "big",
            "big",
            "",
            (Rule("big tree", "walk.all", str(top), str(top), guarded_subdirs=((str(t["busy"]), BUSY),)),),
        ),
        Category("top", "top", "", (Rule("a0 itself", "walk.top", str(top / "a0"), str(top)),)),
        Category("refused", "refused", "", (Rule("r", "walk.all", str(top), str(top)),), guard=BUSY),
    ]
    return cl.resolve(["temp", "cache", "browsers", "apps"]) + cats


def make_cleaner(fx: FixtureHome, tmp_path: Path, mount: Path) -> Cleaner:
    storage = Storage(str(tmp_path / "store" / "config"), str(tmp_path / "store" / "data"))
    storage.add_exclusion(str(fx.excluded))
    storage.add_exclusion("*/excluded")
    storage.add_exclusion("*.keep")
    return Cleaner(
        fx.env, storage, mounts={str(fx.mount), str(mount)}, running=RunningChecker(fx.env, lambda: {"busyapp": 7})
    )


def run(cl: Cleaner, cats: list[Category], workers: int, **kw: Any) -> tuple[ScanResult, Scanner]:
    assert cl.mounts is not None and cl.running is not None
    s = Scanner(cl.env, cl.protector(), running=cl.running, mounts=cl.mounts, workers=workers, **kw)
    return s.scan(cats), s


def _dac_bypassed(tmp_path: Path) -> bool:
    """True when this process reads mode-000 directories anyway (root with CAP_DAC_OVERRIDE)."""
    probe = tmp_path / "probe"
    probe.mkdir()
    probe.chmod(0)
    try:
        os.listdir(probe)
        return True
    except PermissionError:
        return False
    finally:
        probe.chmod(0o700)
        probe.rmdir()


def _rerun_without_dac_override(test: str, tmp_path: Path) -> None:
    """Root reads everything: run ``test`` again in a pytest whose root lacks the override capabilities."""
    drop = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--"]
    if os.environ.get(NO_DAC_ENV) or shutil.which("setpriv") is None:
        pytest.skip("cannot make an unreadable directory for this user")
    if subprocess.run([*drop, "true"], capture_output=True, check=False).returncode != 0:
        pytest.skip("cannot drop CAP_DAC_OVERRIDE here")
    inner = tmp_path / "inner"  # its own base dir: never rotates other sessions' temp dirs
    cmd = [*drop, sys.executable, "-m", "pytest", f"{__file__}::{test}", "-q", "-p", "no:cacheprovider"]
    cmd.append(f"--basetemp={inner}")
    env = {k: v for k, v in os.environ.items() if k != "TMPDIR"}  # the fixture's TMPDIR is gone afterwards
    env[NO_DAC_ENV] = "1"
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env, cwd=Path(__file__).parent)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(("workers", "per_worker"), [(2, 1), (2, 4), (3, 2), (4, 8)])
def test_parallel_scan_equals_single_process_scan(
    fx: FixtureHome, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int, per_worker: int
) -> None:
    if _dac_bypassed(tmp_path):
        _rerun_without_dac_override(f"test_parallel_scan_equals_single_process_scan[{workers}-{per_worker}]", tmp_path)
        return
    top = fx.home / "big"  # its own root: no built-in category claims it first
    t = build_tree(top, fx.outside)
    cl = make_cleaner(fx, tmp_path, t["mount"])
    cats = categories(cl, top, t)
    t["locked"].chmod(0)
    try:
        single, s1 = run(cl, cats, 1)
        monkeypatch.setattr(scan_mod, "TASKS_PER_WORKER", per_worker)
        parallel, s2 = run(cl, cats, workers, parallel_min_dirs=2)
    finally:
        t["locked"].chmod(0o700)
    assert s1.forked_walks == 0
    assert s2.forked_walks >= 1  # the big tree at least was shared with workers
    # the same entries, sizes, order, notes, refusals and errors
    assert dump(parallel) == dump(single)

    entries = {e[0]: e for c in parallel.categories.values() for e in c.iter_entries()}
    assert len(entries) == sum(c.files + c.dirs for c in parallel.categories.values())  # each path once
    for c in parallel.categories.values():
        assert c.bytes == sum(e[1] for e in c.iter_entries())
    big = parallel.categories["big"]
    assert str(top / "a0" / "b2" / "f1.bin") in entries
    assert entries[str(t["link_out"])][2] == KIND_LINK and entries[str(t["dirlink_out"])][2] == KIND_LINK
    assert not any(p.startswith(str(fx.outside)) for p in entries)
    for kept in ("excluded", "bare_excluded", "mount", "fifo", "locked", "busy"):
        assert not any(p == str(t[kept]) or p.startswith(str(t[kept]) + os.sep) for p in entries), kept
    assert entries[str(t["odd_name"])][2] == KIND_FILE
    assert entries[str(top / "a0" / "b5" / "empty")][2] == KIND_DIR
    for parent in (t["locked"].parent, t["busy"], t["mount"].parent, top / "a4"):
        assert str(parent) not in entries  # never empty: something below it stays
    assert f"{t['locked']}: Permission denied" in big.errors
    assert any("Busy App is running" in r for r in big.refused)
    assert parallel.categories["refused"].refused and not parallel.categories["refused"].rules
    # claimed by an earlier category, so never counted twice
    assert all(not e[0].startswith(str(top / "a1") + os.sep) or not e[0].endswith(".bin") for e in big.iter_entries())
    assert any(e[0].endswith(".bin") for e in parallel.categories["dupes"].iter_entries())
    # a hard link in two subtrees (walked by different workers) is counted once, by the first in walk order
    sizes = sorted(entries[str(t[k])][1] for k in ("hard_a", "hard_b"))
    assert sizes == [0, os.lstat(t["hard_a"]).st_blocks * 512]
    assert str(top / "a0") in entries  # walk.top: the directory itself, emptied


def test_parallel_scan_is_repeatable_and_apply_deletes_it(
    fx: FixtureHome, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scan_mod, "TASKS_PER_WORKER", 2)
    top = fx.home / "big"  # its own root: no built-in category claims it first
    t = build_tree(top, fx.outside)
    cl = make_cleaner(fx, tmp_path, t["mount"])
    cats = categories(cl, top, t)
    first, s = run(cl, cats, 2, parallel_min_dirs=2)
    second, _ = run(cl, cats, 2, parallel_min_dirs=2)
    assert s.forked_walks > 0
    assert dump(first) == dump(second)
    report, _ = cl.apply(first)
    assert report["total"]["errors"] == 0
    assert report["total"]["deleted"] == first.total_items
    assert (fx.outside / "victim.txt").read_bytes() == b"precious"
    assert (t["excluded"] / "keep.bin").exists() and (t["mount"] / "on_other_fs.bin").exists()
    assert (t["busy"] / "lock.bin").exists() and t["bare_excluded"].exists()


def big_flat_tree(top: Path) -> None:
    for a in range(8):
        for b in range(10):
            d = top / f"a{a}" / f"b{b}"
            d.mkdir(parents=True)
            for c in range(60):
                (d / f"f{c}").write_bytes(b"")


class Forks:
    """Records the worker processes a scan forks and how each one ended."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.pids: list[int] = []
        self.statuses: dict[int, int] = {}
        real_fork, real_waitpid = os.fork, os.waitpid

        def fork() -> int:
            pid = real_fork()
            if pid:
                self.pids.append(pid)
            return pid

        def waitpid(pid: int, options: int) -> tuple[int, int]:
            got, status = real_waitpid(pid, options)
            if got:
                self.statuses[got] = status
            return got, status

        monkeypatch.setattr(os, "fork", fork)
        monkeypatch.setattr(os, "waitpid", waitpid)

    def all_reaped(self) -> bool:
        """Every worker has exited and been waited for: none is left running or as a zombie."""
        return set(self.statuses) == set(self.pids)

    def clear(self) -> None:
        self.pids.clear()
        self.statuses.clear()


@pytest.fixture
def forks(monkeypatch: pytest.MonkeyPatch) -> Forks:
    return Forks(monkeypatch)


def test_parallel_scan_cancel_stops_the_workers(
    fx: FixtureHome, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forks: Forks
) -> None:
    top = fx.home / ".cache" / "big"
    big_flat_tree(top)
    first = Category("first", "first", "", (Rule("npm", "walk.all", str(fx.home / ".npm"), str(fx.home)),))
    cat = Category("big", "big", "", (Rule("big", "walk.all", str(top), str(top)),))
    later = Category("later", "later", "", (Rule("later", "walk.all", str(fx.home / ".cargo"), str(fx.home)),))
    monkeypatch.setattr(scan_mod, "PROGRESS_EVERY", 32)
    cl = make_cleaner(fx, tmp_path, top / "none")
    full, _ = run(cl, [first, cat, later], 2, parallel_min_dirs=2)
    assert not full.cancelled and full.categories["big"].files == 8 * 10 * 60
    forks.clear()
    cancel = threading.Event()

    def progress(p: Progress) -> None:
        if p.category == "big" and p.files > 300:
            cancel.set()

    # cancelled while the parent walks its share: the scan stops inside the big walk
    res, s = run(cl, [first, cat, later], 2, parallel_min_dirs=2, progress=progress, cancel=cancel)
    assert forks.pids and s.forked_walks == 1
    assert res.cancelled
    assert list(res.categories) == ["first"]  # as before: a cancelled category is left out
    assert dump(res)[3:] == dump(full)[3:4]
    assert res.total_items == full.categories["first"].files + full.categories["first"].dirs
    # the workers were stopped and reaped: no process of ours is left running or unreaped
    assert forks.all_reaped()

    # cancelled while the parent only waits for its worker (it takes no subtree itself), and that worker
    # is stuck after its first subtree (think of a hung network file system): only a kill stops it
    parent = os.getpid()
    real_take, real_walk_task = scan_mod._take, scan_mod._walk_task
    stuck_r, stuck_w = os.pipe()  # never written; the worker holds the write end too, so no EOF either
    walked = [0]

    def take(fd: int) -> int:
        return -1 if os.getpid() == parent else real_take(fd)

    def walk_task(*args: Any) -> Any:
        walked[0] += 1
        if os.getpid() != parent and walked[0] > 1:
            os.read(stuck_r, 1)
        return real_walk_task(*args)

    monkeypatch.setattr(scan_mod, "_take", take)
    monkeypatch.setattr(scan_mod, "_walk_task", walk_task)
    forks.clear()
    cancel2 = threading.Event()

    def progress2(p: Progress) -> None:
        if p.category == "big" and p.files > 0:
            cancel2.set()  # the first subtree the worker reports

    try:
        res2, s2 = run(cl, [first, cat, later], 2, parallel_min_dirs=2, progress=progress2, cancel=cancel2)
    finally:
        os.close(stuck_r)
        os.close(stuck_w)
    assert res2.cancelled and list(res2.categories) == ["first"] and s2.forked_walks == 1
    assert len(forks.pids) == 1 and forks.all_reaped()
    status = forks.statuses[forks.pids[0]]
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    monkeypatch.setattr(scan_mod, "_walk_task", real_walk_task)

    # cancelled before it starts: nothing is forked
    forks.clear()
    res3, _ = run(cl, [cat], 2, parallel_min_dirs=2, cancel=cancel)
    assert res3.cancelled and res3.total_items == 0 and not forks.pids


def test_parallel_progress_counts_the_workers(fx: FixtureHome, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    top = fx.home / ".cache" / "big"
    big_flat_tree(top)
    cat = Category("big", "big", "", (Rule("big", "walk.all", str(top), str(top)),))
    monkeypatch.setattr(scan_mod, "PROGRESS_EVERY", 32)
    seen: list[Progress] = []
    res, s = run(make_cleaner(fx, tmp_path, top / "none"), [cat], 2, parallel_min_dirs=2, progress=seen.append)
    assert s.forked_walks == 1
    assert len(seen) > 5
    assert seen[-1].files == res.categories["big"].files == 8 * 10 * 60
    assert max(p.files for p in seen) == seen[-1].files  # workers' counts are never added twice


def test_failed_worker_is_redone_by_the_parent(
    fx: FixtureHome, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forks: Forks
) -> None:
    top = fx.home / "big"  # its own root: no built-in category claims it first
    t = build_tree(top, fx.outside)
    cl = make_cleaner(fx, tmp_path, t["mount"])
    cats = categories(cl, top, t)
    single, _ = run(cl, cats, 1)
    monkeypatch.setattr(scan_mod, "TASKS_PER_WORKER", 2)

    def dies(*args: object) -> None:
        os._exit(3)

    monkeypatch.setattr(scan_mod, "_child_main", dies)
    res, s = run(cl, cats, 2, parallel_min_dirs=2)
    assert s.forked_walks > 0 and dump(res) == dump(single)

    def garbles(w: object, tasks: object, chunks: object, tok_r: int, res_w: int, *rest: object) -> None:
        while scan_mod._take(tok_r) >= 0:  # takes every subtree, then sends nonsense
            pass
        os.write(res_w, scan_mod._FRAME.pack(5) + b"\x00junk")
        os._exit(0)

    monkeypatch.setattr(scan_mod, "_child_main", garbles)
    res, s = run(cl, cats, 2, parallel_min_dirs=2)
    assert s.forked_walks > 0 and dump(res) == dump(single)
    assert forks.pids and forks.all_reaped()
    assert all(os.WEXITSTATUS(st) in (0, 3) for st in forks.statuses.values())


def test_worker_results_are_read_whole_however_the_pipe_cuts_them() -> None:
    """A worker's frames reach the parent intact: cut anywhere by the pipe, bigger than the read buffer,
    several in one read; a malformed one is refused, not stored."""
    import marshal

    big = [(f"/t/d/f{i:06d}", 4096, KIND_FILE, 1, i, 10**18 + i) for i in range(scan_mod._READ_SIZE // 20)]
    results: list[Any] = [None] * 4
    frames = []
    for i, entries in enumerate(([("/t/a", 1, KIND_FILE, 1, 2, 3)], big, [], [("/t/b", 8, KIND_LINK, 1, 3, 4)])):
        head = marshal.dumps((i, len(entries), [("/t/dir", 4096, KIND_DIR, 1, 9, 9)], [], [], True, 7))
        blob = marshal.dumps(entries)
        size = scan_mod._FRAME.size + len(head) + len(blob)
        frames.append(scan_mod._FRAME.pack(size) + scan_mod._FRAME.pack(len(head)) + head + blob)
    data = b"".join(frames) + scan_mod._FRAME.pack(5) + b"\x00junk"
    r, w = os.pipe()
    box = scan_mod._Inbox()
    received: list[int] = []
    got: list[tuple[bytes, bytes]] = []
    try:
        pos = 0
        cuts = [3, 9, 1000]  # inside a length prefix, inside a header, inside the entries; then pipe-sized bits
        while pos < len(data):
            cut = cuts.pop(0) if cuts else 60000
            os.write(w, data[pos : pos + cut])
            pos += cut
            while _readable(r):
                out = box.read(r)
                assert out is not None
                got.extend(out)
        os.close(w)
        w = -1
        assert box.read(r) is None  # the worker is gone
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)
    assert len(got) == 5
    assert len(box.buf) > scan_mod._READ_SIZE  # it grew for the big frame
    assert [scan_mod._take_result(h, b, results, received) for h, b in got] == [True, True, True, True, False]
    assert received == [0, 1, 2, 3]
    assert results[1][0].decode() == big and len(results[1][0]) == len(big)
    assert results[3][0].decode() == [("/t/b", 8, KIND_LINK, 1, 3, 4)] and results[0][5] == 7


def _readable(fd: int) -> bool:
    import select

    return bool(select.select([fd], [], [], 0)[0])


def test_small_trees_and_threads_stay_single_process(fx: FixtureHome, tmp_path: Path) -> None:
    cl = make_cleaner(fx, tmp_path, fx.mount)
    cats = cl.resolve(["temp", "cache", "browsers", "apps"])
    single, _ = run(cl, cats, 1)
    res, s = run(cl, cats, 2)  # default threshold: the fixture home's trees are too small to share
    assert s.forked_walks == 0 and dump(res) == dump(single)
    if sys.platform.startswith("linux") and scan_mod.fork_is_safe():
        assert scan_mod.auto_workers() == min(scan_mod.MAX_WORKERS, len(os.sched_getaffinity(0)))
    # with another thread running (the GUI scans next to Tk's main loop) the default is one process
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert not scan_mod.fork_is_safe()
        assert scan_mod.auto_workers() == 1
        assert Scanner(cl.env, Protector([]), mounts=set()).workers == 1
    finally:
        stop.set()
        other.join()


def _same_tree(tmp_path: Path, name: str) -> tuple[FixtureHome, Path, dict[str, Path]]:
    from cleaner_fixtures import build_fixture_home

    base = tmp_path / name
    home = base / "home"
    home.mkdir(parents=True)
    fx = build_fixture_home(base, home)
    top = home / "big"
    return fx, top, build_tree(top, fx.outside)


@pytest.mark.parametrize("child_fails", [False, True])
def test_forked_apply_equals_single_process_apply(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, child_fails: bool
) -> None:
    from cleaner import apply as apply_mod

    def left(base: Path) -> set[str]:  # what remains (names only: the tree holds a FIFO, never opened)
        return {os.path.relpath(os.path.join(d, n), base) for d, ds, fs in os.walk(base) for n in ds + fs}

    reports = []
    states = []
    for name, forked in (("one", False), ("two", True)):
        fx, top, t = _same_tree(tmp_path, name)
        cl = make_cleaner(fx, tmp_path / name, t["mount"])
        preview, _ = run(cl, categories(cl, top, t), 1)
        monkeypatch.setattr(apply_mod, "PARALLEL_MIN_FILES", 1 if forked else 10**9)
        monkeypatch.setattr(apply_mod, "auto_workers", lambda: 3)
        forks_seen: list[int] = []
        real_fork = os.fork
        parent = os.getpid()

        def fork(real_fork: Any = real_fork, forks_seen: list[int] = forks_seen) -> int:
            pid = real_fork()
            if pid:
                forks_seen.append(pid)
            return pid

        monkeypatch.setattr(os, "fork", fork)
        if forked and child_fails:
            real_dumps = apply_mod.marshal.dumps

            def dumps(obj: object, real_dumps: Any = real_dumps, parent: int = parent) -> bytes:
                if os.getpid() != parent:  # a worker dies after deleting its share, before reporting
                    raise MemoryError
                return real_dumps(obj)

            monkeypatch.setattr(apply_mod.marshal, "dumps", dumps)
        report, _ = cl.apply(preview)
        monkeypatch.undo()
        assert bool(forks_seen) == forked
        assert (fx.outside / "victim.txt").read_bytes() == b"precious"
        reports.append((report, preview.total_items))
        states.append(left(fx.home))
    (single, planned), (forked_report, planned2) = reports
    assert planned == planned2 and single["total"]["errors"] == forked_report["total"]["errors"] == 0
    assert states[0] == states[1]  # the same entries remain
    if child_fails:  # what the dead worker deleted is found gone when this process redoes its share
        assert forked_report["total"]["deleted"] + forked_report["total"]["skipped"] >= single["total"]["deleted"]
        assert {s["reason"] for s in forked_report["skipped"]} <= {"already gone"} | {
            s["reason"] for s in single["skipped"]
        }
    else:
        for key in ("deleted", "bytes_freed", "skipped", "errors"):
            assert forked_report["total"][key] == single["total"][key], key
        assert [c["deleted_files"] for c in forked_report["categories"]] == [
            c["deleted_files"] for c in single["categories"]
        ]
        assert sorted(s["reason"] for s in forked_report["skipped"]) == sorted(s["reason"] for s in single["skipped"])
