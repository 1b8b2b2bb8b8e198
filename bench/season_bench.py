"""Season rollover benchmark: 1,000,000 players with XP in a season that has ended; the whole rollover
(archive every position, pay the top, clear the season's XP) timed as the scheduled function runs it, in its
own process, and /daily (discord_interactions behind gunicorn, as in the platform bench) without and during it.

`python -m bench season` (part of `make bench`); `python -m bench.season_bench rollover` is the child that
runs one rollover against DATABASE_URL and prints its summary.
"""

from __future__ import annotations

import itertools
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import psycopg

from bench import platform_bench as pb
from devtools import simulate
from ttfd.cli import discord_definitions

PLAYERS = 1_000_000
BASELINE_S = 20.0  # /daily without the rollover, after a warm-up

# One season that began 20 days ago and ended an hour ago, with season XP for every player (the histogram
# rebuilt once instead of a million trigger calls). The next season is created by the bench before /daily runs.
SEED = """
DELETE FROM seasons;
INSERT INTO seasons (name, period, starts_at, ends_at)
SELECT 'Bench season', (t AT TIME ZONE 'UTC')::date, t, now() - interval '1 hour'
FROM (SELECT now() - interval '20 days' AS t) s;
ALTER TABLE unified_users DISABLE TRIGGER unified_users_lb;
ALTER TABLE xp_season DISABLE TRIGGER xp_season_lb;
INSERT INTO unified_users (discord_id, username, xp, coins, rank_id)
SELECT 10000000 + g, 'u' || g, 0, 0, 0 FROM generate_series(1, %(players)s) g;
INSERT INTO xp_season (period, user_id, xp)
SELECT (SELECT period FROM seasons), id, 1 + floor(-ln(1 - random()) * 400)::bigint FROM unified_users;
UPDATE unified_users u SET xp = x.xp FROM xp_season x WHERE x.user_id = u.id;
ALTER TABLE unified_users ENABLE TRIGGER unified_users_lb;
ALTER TABLE xp_season ENABLE TRIGGER xp_season_lb;
SELECT lb_rebuild();
"""


def _seed(url: str) -> float:
    t0 = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as c:
        c.execute(SEED.replace("%(players)s", str(PLAYERS)).encode())
        for table in ("unified_users", "xp_season", "lb_buckets", "seasons"):
            c.execute(f"VACUUM ANALYZE {table}".encode())
        c.execute("CHECKPOINT")
    return time.perf_counter() - t0


def _open_next_season(url: str) -> None:
    """What the schedule's first step does: the season after the ended one, so /daily's XP lands somewhere."""
    from psycopg.rows import dict_row

    from ttfd.features.seasons import service

    with psycopg.connect(url, row_factory=dict_row) as conn:
        service.ensure_seasons(conn, service.SeasonsSettings())


def _dailies(n: int, first_user: int) -> list[pb.Call]:
    data, _ = simulate.parse_command("/daily", discord_definitions())
    return [
        pb._signed(simulate.discord_payload(app_id=pb.APP_ID, user=first_user + i, guild=1, data=data))
        for i in range(n)
    ]


def _drive(url: str, calls: list[pb.Call], until: Callable[[], bool]) -> dict[str, float]:
    """pb.CONCURRENCY keep-alive clients sending /daily (a new player each) until `until()`; latencies."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    it = iter(calls)

    def worker() -> None:
        mine = []
        with httpx.Client(timeout=30) as client:
            while not until():
                with lock:
                    call = next(it, None)
                if call is None:
                    break
                method, path, body, headers = call
                t0 = time.perf_counter()
                resp = client.request(method, url + path, content=body, headers=headers)
                mine.append(time.perf_counter() - t0)
                if resp.status_code != 200 or "already claimed" in resp.text:
                    errors[0] += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(pb.CONCURRENCY)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    if len(latencies) < 100:
        raise RuntimeError("too few /daily requests to measure")
    latencies.sort()
    return {
        "n": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "errors": errors[0],
    }


def _watch_steps(url: str, done: threading.Event, seen: dict[str, float]) -> None:
    """When the season entered each step (sampled every 50 ms), for the breakdown."""
    t0 = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as c:
        while not done.is_set():
            row = c.execute("SELECT status FROM seasons WHERE name = 'Bench season'").fetchone()
            if row and row[0] not in seen:
                seen[row[0]] = time.perf_counter() - t0
            time.sleep(0.05)


def bench_rollover(admin: str) -> None:
    url = pb._fresh_db(admin, "ttfd_bench_season")
    seeded = _seed(url)
    _open_next_season(url)
    env = pb._env(url)
    calls = _dailies(120_000, 30_000_000)
    with pb._function("discord_interactions", "main.py", env) as (fn_url, _):
        pb._wait_ready(fn_url, calls.pop())
        warm = calls[:1000]
        del calls[:1000]
        _drive(fn_url, warm, lambda: False)
        stop_at = time.perf_counter() + BASELINE_S
        without = _drive(fn_url, calls, lambda: time.perf_counter() > stop_at)
        del calls[: int(without["n"]) + pb.CONCURRENCY]
        steps: dict[str, float] = {}
        finished = threading.Event()
        watcher = threading.Thread(target=_watch_steps, args=(url, finished, steps))
        watcher.start()
        t0 = time.perf_counter()
        child = subprocess.Popen(
            [pb.PY, "-m", "bench.season_bench", "rollover"], cwd=pb.ROOT, env=env, stdout=subprocess.PIPE, text=True
        )
        during = _drive(fn_url, calls, lambda: child.poll() is not None)
        out, _ = child.communicate()
        wall = time.perf_counter() - t0
        finished.set()
        watcher.join()
    if child.returncode != 0:
        raise RuntimeError(f"the rollover failed: {out}")
    summary = json.loads(out.strip().splitlines()[-1])
    with psycopg.connect(url) as c:
        row = c.execute("SELECT players, paid, status FROM seasons WHERE name = 'Bench season'").fetchone()
    assert row is not None and row[2] == "closed" and summary["closed"] == ["Bench season"], (row, summary)
    marks = [*sorted(steps.items(), key=lambda kv: kv[1]), ("end", wall)]
    phases = ", ".join(f"{a} {b_t - a_t:.1f} s" for (a, a_t), (_, b_t) in itertools.pairwise(marks))
    pb._table(
        f"Season rollover of {PLAYERS:,} players ({row[0]:,} archived, {row[1]} paid; seeded in {seeded:.0f} s): "
        f"{summary['seconds']:.1f} s in the function ({wall:.1f} s wall; {phases})",
        ["/daily (new player each)", "requests", "req/s", "p50 ms", "p99 ms", "p99 vs without", "errors"],
        [
            [
                title,
                str(int(r["n"])),
                f"{r['rps']:.0f}",
                f"{r['p50']:.2f}",
                f"{r['p99']:.2f}",
                f"{r['p99'] / without['p99']:.2f}x",
                str(int(r["errors"])),
            ]
            for title, r in (("without a rollover", without), ("during the rollover", during))
        ],
    )


def _child() -> None:
    """One rollover, as the season_rollover schedule runs it."""
    from ttfd.core.settings import get_settings
    from ttfd.features.seasons import service

    t0 = time.perf_counter()
    out: dict[str, Any] = service.rollover(get_settings().section(service.SeasonsSettings))
    out["seconds"] = time.perf_counter() - t0
    print(json.dumps(out))


def main() -> None:
    print(f"season benchmark on {pb.platform_info()}")
    bench_rollover(pb._admin())


if __name__ == "__main__":
    if sys.argv[1:] == ["rollover"]:
        _child()
    else:
        os.environ.setdefault("PYTHONPATH", str(pb.ROOT))
        main()
