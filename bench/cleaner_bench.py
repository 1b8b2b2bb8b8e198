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
CMD_REPS = 9  # whole-command scans (apply: APPLY_REPS)
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


def cleaner_cmd(home: str, *args: str) -> Callable[[], object]:
    """The command as a user runs it, HOME pointed at the generated home (its .cache is the tree)."""
    # A user's environment: no XDG_* overrides, and Python keeps its bytecode cache (the warm-up run
    # writes it) and buffers stdout, which development shells often switch off.
    drop = ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED")
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_") and k not in drop}
    env["HOME"] = home
    argv = [sys.executable, "-m", "cleaner", *args, "--json"]
    return lambda: subprocess.run(argv, stdout=subprocess.DEVNULL, env=env, cwd=REPO, check=True)


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
        target = statistics.median(s_ours) / ref_scan
        print(f"scan target <= 1.30x find: {'met' if target <= 1.3 else 'NOT met'} ({target:.2f}x)")
        whole_command(base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def whole_command(base: str) -> None:
    """Process start to exit: `scan-cleaning --categories cache` and `apply-cleaning` vs find, interleaved."""
    home = os.path.join(base, "home")
    cache = os.path.join(home, ".cache")
    os.makedirs(cache)
    generate(cache)
    scan_cmd = cleaner_cmd(home, "scan-cleaning", "--categories", "cache")
    apply_cmd = cleaner_cmd(home, "apply-cleaning", "--categories", "cache", "--yes")
    scan_cmd()  # warm the page cache and the .pyc files
    c_find: list[float] = []
    c_ours: list[float] = []
    for _ in range(CMD_REPS):
        c_find.append(_time(lambda: find_scan(cache)))
        c_ours.append(_time(scan_cmd))
    d_find: list[float] = []
    d_ours: list[float] = []
    for _ in range(APPLY_REPS):
        d_find.append(_time(lambda: subprocess.run(["find", cache, "-mindepth", "1", "-delete"], check=True)))
        generate(cache)
        d_ours.append(_time(apply_cmd))
        if os.listdir(cache):
            raise RuntimeError("apply-cleaning left entries behind")
        generate(cache)
    ref_scan, ref_apply = statistics.median(c_find), statistics.median(d_find)
    print(f"whole command ({sys.executable} -m cleaner ... --json, {FILES:,} files, process start to exit):")
    print(_row("find -printf '%s\\n' (process)", c_find, None))
    print(_row("scan-cleaning --categories cache", c_ours, ref_scan))
    print(_row("find -mindepth 1 -delete (process)", d_find, None))
    print(_row("apply-cleaning --categories cache", d_ours, ref_apply))
    scan_x, apply_x = statistics.median(c_ours) / ref_scan, statistics.median(d_ours) / ref_apply
    print(f"whole-command scan target <= 1.30x find: {'met' if scan_x <= 1.3 else 'NOT met'} ({scan_x:.2f}x)")
    print(f"whole-command apply target <= 1.50x find: {'met' if apply_x <= 1.5 else 'NOT met'} ({apply_x:.2f}x)")


if __name__ == "__main__":
    main()
