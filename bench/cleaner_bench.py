"""Cleaner benchmark: scan vs ``find -printf '%s\\n'`` and apply vs ``find -delete`` on a 100,000-file tree.

Two views of each: in-process (the engine's functions) and whole-command (``python -m cleaner ... --json``
as a user runs it, process start to exit, next to ``find`` as a process), the runs interleaved.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

from cleaner.apply import apply
from cleaner.platforms import Env
from cleaner.rules import Category, Rule
from cleaner.safety import Protector, RunningChecker, keep_list
from cleaner.scan import ScanResult, scan

FILES = 100_000
TOP, SUB = 100, 10  # 100 x 10 directories, 100 files each
SCAN_REPS = 9
APPLY_REPS = 3
CMD_REPS = 15  # whole-command scans, paired with find (apply: APPLY_REPS)
SCAN_TARGET = 1.30  # whole-command scan-cleaning vs find -printf (issue 20)
APPLY_TARGET = 1.50
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def generate(root: str, files: int = FILES) -> None:
    """Create ``files`` small files in TOP x SUB directories under root."""
    per_dir = max(1, files // (TOP * SUB))
    payload = b"x" * 700
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    made = 0
    for a in range(TOP):
        for b in range(SUB):
            d = os.path.join(root, f"d{a:03d}", f"s{b:02d}")
            os.makedirs(d)
            for c in range(per_dir):
                if made >= files:
                    return
                fd = os.open(os.path.join(d, f"f{c:03d}.cache"), flags, 0o644)
                os.write(fd, payload)
                os.close(fd)
                made += 1


def _category(root: str) -> Category:
    return Category("bench", "bench", "generated tree", (Rule("bench", "walk.all", root, root),))


def our_scan(env: Env, root: str, protector: Protector) -> ScanResult:
    """The engine's scan, exactly as the CLI runs it for one walk.all rule."""
    return scan(env, [_category(root)], protector, running=RunningChecker(env, dict))


def find_scan(root: str) -> None:
    """The reference: find prints every size (output discarded so find pays no pipe cost)."""
    subprocess.run(["find", root, "-printf", "%s\n"], stdout=subprocess.DEVNULL, check=True)


def python_floor(root: str) -> int:
    """Reference only: the least a Python walk can do (scandir + one lstat per entry, no checks)."""
    n = 0
    stack = [root]
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
    while stack:
        d = stack.pop()
        fd = os.open(d, flags)
        try:
            with os.scandir(fd) as it:
                for e in it:
                    st = e.stat(follow_symlinks=False)
                    if st.st_mode & 0o170000 == 0o040000:
                        stack.append(d + "/" + e.name)
                    n += st.st_blocks
        finally:
            os.close(fd)
    return n


def cleaner_cmd(*args: str) -> list[str]:
    """The command as a user runs it (see ``_run_user`` and ``_user_env``): ``python -m cleaner ... --json``."""
    return [sys.executable, "-m", "cleaner", *args, "--json"]


def _user_env(home: str) -> dict[str, str]:
    # A user's environment: no XDG_* overrides, and Python keeps its bytecode cache and buffers stdout, which
    # development shells often switch off. HOME is the generated home (its .cache is the tree).
    drop = ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED")
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_") and k not in drop}
    env["HOME"] = home
    return env


def _run_user(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """Run a command as a process, output discarded: (wall s from start to exit, CPU s of it and its workers)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, env=env, cwd=REPO)
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, argv)
    return wall, usage.ru_utime + usage.ru_stime  # a worker it waited for is counted in its usage


def precompile() -> str:
    """Compile the Cleaner's bytecode before timing it, as a shipped build (installed package, one-file
    executable) carries it; the runs then never compile, whatever PYTHONDONTWRITEBYTECODE says."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", os.path.join(REPO, "cleaner")], check=True)
    return "cleaner/ precompiled with `python -m compileall -q cleaner` (a shipped build has its bytecode)"


def _time(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _row(name: str, samples: list[float], ref: float | None) -> str:
    med = statistics.median(samples)
    p99 = sorted(samples)[max(0, round(0.99 * len(samples)) - 1)]
    ratio = f"{med / ref:5.2f}x" if ref else "  1.00x"
    return f"{name:<34} {len(samples):>4} {med * 1000:>9.1f} {min(samples) * 1000:>9.1f} {p99 * 1000:>9.1f} {ratio:>8}"


def main() -> None:
    """Generate the tree, time scan and apply against find, print a plain text table."""
    if shutil.which("find") is None:
        print("cleaner bench: `find` not available, skipped")
        return
    env = Env.current()
    base = tempfile.mkdtemp(prefix="ttfd-cleaner-bench-")
    try:
        tree = os.path.join(base, "tree")
        os.mkdir(tree)
        t_gen = _time(lambda: generate(tree))
        plain = Protector([])
        # the protector a real run has: built-in keep list plus a few user exclusions
        guarded = Protector([*keep_list(env, "/nonexistent/cache", ["/tmp"]), "*.iso", "~/keep", "/srv/x/*"], env)
        warm = our_scan(env, tree, plain)
        find_scan(tree)
        found = warm.total_items
        s_find: list[float] = []
        s_ours: list[float] = []
        s_ours_ex: list[float] = []
        s_floor: list[float] = []
        for _ in range(SCAN_REPS):  # interleaved, so drift in the machine hits both alike
            s_find.append(_time(lambda: find_scan(tree)))
            s_floor.append(_time(lambda: python_floor(tree)))
            s_ours.append(_time(lambda: our_scan(env, tree, plain)))
            s_ours_ex.append(_time(lambda: our_scan(env, tree, guarded)))

        a_find: list[float] = []
        a_ours: list[float] = []
        a_ours_only: list[float] = []
        deleted = 0
        for _ in range(APPLY_REPS):
            shutil.rmtree(tree)
            os.mkdir(tree)
            generate(tree)
            a_find.append(_time(lambda: subprocess.run(["find", tree, "-mindepth", "1", "-delete"], check=True)))
            generate(tree)
            t0 = time.perf_counter()
            res = our_scan(env, tree, plain)
            t1 = time.perf_counter()
            report = apply(env, res, plain)
            t2 = time.perf_counter()
            a_ours.append(t2 - t0)
            a_ours_only.append(t2 - t1)
            deleted = report["total"]["deleted"]
            if os.listdir(tree):
                raise RuntimeError("apply left entries behind")

        ref_scan = statistics.median(s_find)
        ref_apply = statistics.median(a_find)
        print(f"cleaner bench: {FILES:,} files in {TOP * SUB + TOP:,} dirs (generated in {t_gen:.1f} s) under {base}")
        print(f"scan found {found:,} entries; apply deleted {deleted:,} entries per run")
        print(f"{'case':<34} {'reps':>4} {'median ms':>9} {'min ms':>9} {'p99 ms':>9} {'vs find':>8}")
        print(_row("find -printf '%s\\n'", s_find, None))
        print(_row("cleaner scan", s_ours, ref_scan))
        print(_row("cleaner scan (keep list+exclusions)", s_ours_ex, ref_scan))
        print(_row("(python floor: scandir+lstat only)", s_floor, ref_scan))
        print(_row("find -mindepth 1 -delete", a_find, None))
        print(_row("cleaner scan+apply", a_ours, ref_apply))
        print(_row("cleaner apply only", a_ours_only, ref_apply))
        inproc = statistics.median(s_ours) / ref_scan
        print(f"in-process scan (the engine alone) vs find: {inproc:.2f}x (the target is the whole command's, below)")
        whole_command(base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def whole_command(base: str) -> None:
    """Process start to exit: `scan-cleaning --categories cache` and `apply-cleaning` vs find, interleaved."""
    home = os.path.join(base, "home")
    cache = os.path.join(home, ".cache")
    os.makedirs(cache)
    generate(cache)
    env = _user_env(home)
    compiled = precompile()
    scan_cmd = cleaner_cmd("scan-cleaning", "--categories", "cache")
    apply_cmd = cleaner_cmd("apply-cleaning", "--categories", "cache", "--yes")
    find_cmd = ["find", cache, "-printf", "%s\n"]
    load_before = _load()
    _run_user(scan_cmd, env)  # warm the page cache
    _run_user(find_cmd)
    c_find: list[tuple[float, float]] = []
    c_ours: list[tuple[float, float]] = []
    for i in range(CMD_REPS):  # in turn, each pair in the other order than the last
        if i % 2:
            c_ours.append(_run_user(scan_cmd, env))
            c_find.append(_run_user(find_cmd))
        else:
            c_find.append(_run_user(find_cmd))
            c_ours.append(_run_user(scan_cmd, env))
    d_find: list[float] = []
    d_ours: list[float] = []
    for _ in range(APPLY_REPS):
        d_find.append(_run_user(["find", cache, "-mindepth", "1", "-delete"])[0])
        generate(cache)
        d_ours.append(_run_user(apply_cmd, env)[0])
        if os.listdir(cache):
            raise RuntimeError("apply-cleaning left entries behind")
        generate(cache)
    walls_find, walls_ours = [w for w, _ in c_find], [w for w, _ in c_ours]
    ref_scan, ref_apply = statistics.median(walls_find), statistics.median(d_find)
    pairs = sorted(o[0] / f[0] for o, f in zip(c_ours, c_find, strict=True))
    print(f"whole command ({sys.executable} -m cleaner ... --json, {FILES:,} files, process start to exit):")
    print(f"  bytecode: {compiled}; load average {load_before} before, {_load()} after")
    print(_row("find -printf '%s\\n' (process)", walls_find, None))
    print(_row("scan-cleaning --categories cache", walls_ours, ref_scan))
    print(_row("find -mindepth 1 -delete (process)", d_find, None))
    print(_row("apply-cleaning --categories cache", d_ours, ref_apply))
    cpu_find = statistics.median(c for _, c in c_find) * 1000
    cpu_ours = statistics.median(c for _, c in c_ours) * 1000
    med_ours = statistics.median(walls_ours)
    scan_x, apply_x = med_ours / ref_scan, statistics.median(d_ours) / ref_apply
    print(
        f"whole-command scan-cleaning vs find -printf: {scan_x:.2f}× (medians {med_ours * 1000:.0f} / "
        f"{ref_scan * 1000:.0f} ms; {CMD_REPS} pairs {pairs[0]:.2f}–{pairs[-1]:.2f}×; CPU {cpu_ours:.0f} / "
        f"{cpu_find:.0f} ms), target ≤ {SCAN_TARGET:.2f}× {'✔' if scan_x <= SCAN_TARGET else '✘'}"
    )
    print(
        f"whole-command apply-cleaning vs find -delete: {apply_x:.2f}×, target ≤ {APPLY_TARGET:.2f}× "
        f"{'✔' if apply_x <= APPLY_TARGET else '✘'}"
    )


if __name__ == "__main__":
    main()
