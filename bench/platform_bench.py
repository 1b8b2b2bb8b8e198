"""Platform benchmark: functions behind gunicorn (functions-framework's server) on 127.0.0.1.

1. Throughput and latency at concurrency 8: bare verify+PONG function (baseline) vs /profile, /daily, /buy, /coinflip.
2. Cold start (process start → first 200): bare vs discord_interactions vs telegram_webhook.
3. Leaderboard top 10 and a user's position with 1,000,000 users seeded in SQL, server-side ms.
"""

from __future__ import annotations

import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
from nacl.signing import SigningKey
from psycopg import sql

from devtools import simulate
from ttfd.cli import discord_definitions
from ttfd.core import db

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
SEED = SigningKey(bytes(range(1, 33)))
APP_ID = "1100000000000000009"
TG_TOKEN = "7000000009:AAHbenchTOKENbenchTOKENbenchTOKENbe"
TG_SECRET = "bench-secret"
CONCURRENCY = 8
Call = tuple[str, str, bytes, dict[str, str]]  # method, path under the function's URL, body, headers


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _env(database_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "DISCORD_PUBLIC_KEY": SEED.verify_key.encode().hex(),
        "DISCORD_APPLICATION_ID": APP_ID,
        "DISCORD_BOT_TOKEN": "bench-token",
        "TELEGRAM_BOT_TOKEN": TG_TOKEN,
        "TELEGRAM_WEBHOOK_SECRET": TG_SECRET,
        "TELEGRAM_API_BASE": "http://127.0.0.1:9",  # replies go in the webhook body; nothing is called
        "GAMES_COOLDOWN_S": "0",  # the bench bets for 500 people as fast as it can: no per-person pause
        "PYTHONPATH": str(ROOT),
    }


@contextmanager
def _function(target: str, source: str, env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """functions-framework (gunicorn, 1 worker, 8 threads) serving one target."""
    port = _free_port()
    proc = subprocess.Popen(
        [
            PY,
            "-m",
            "functions_framework",
            "--target",
            target,
            "--source",
            source,
            "--port",
            str(port),
            "--host",
            "127.0.0.1",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield f"http://127.0.0.1:{port}", proc
    finally:
        proc.terminate()
        proc.wait(10)


def _signed(payload: dict[str, Any]) -> Call:
    body = json.dumps(payload).encode()
    ts = str(int(time.time()))
    return (
        "POST",
        "/",
        body,
        {
            "X-Signature-Ed25519": SEED.sign(ts.encode() + body).signature.hex(),
            "X-Signature-Timestamp": ts,
            "Content-Type": "application/json",
        },
    )


def _wait_ready(url: str, call: Call, timeout: float = 60) -> float:
    """Poll until the function answers 200; returns the moment it did."""
    method, path, body, headers = call
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        try:
            if httpx.request(method, url + path, content=body, headers=headers, timeout=30).status_code == 200:
                return time.perf_counter()
        except httpx.TransportError:
            time.sleep(0.005)
    raise RuntimeError(f"{url} never answered 200")


def _load(url: str, requests: list[Call]) -> dict[str, float]:
    """Send every request with CONCURRENCY keep-alive clients; latency per request, throughput overall."""
    latencies: list[float] = []
    lock = threading.Lock()
    chunks = [requests[i::CONCURRENCY] for i in range(CONCURRENCY)]
    errors = [0]

    def worker(chunk: list[Call]) -> None:
        mine = []
        with httpx.Client(timeout=30) as client:
            for method, path, body, headers in chunk:
                t0 = time.perf_counter()
                resp = client.request(method, url + path, content=body, headers=headers)
                mine.append(time.perf_counter() - t0)
                if not 200 <= resp.status_code < 300:
                    errors[0] += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(c,)) for c in chunks]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    latencies.sort()
    return {
        "rps": len(requests) / elapsed,
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "errors": errors[0],
    }


def _table(title: str, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))


def _fresh_db(admin: str, name: str) -> str:
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    db.ensure_database(admin, name)
    url = db.with_dbname(admin, name)
    db.migrate(url)
    return url


def _admin() -> str:
    if url := os.environ.get("BENCH_DATABASE_URL"):
        return url
    return db.LOCAL_ADMIN_URL if db._answers(db.LOCAL_ADMIN_URL) else db.embedded_admin_url()


def bench_http(admin: str, n: int = 2000) -> None:
    url = _fresh_db(admin, "ttfd_bench")
    env = _env(url)
    users = list(range(10_000, 10_000 + 500))
    with psycopg.connect(url) as c:  # profiles to read: 500 existing accounts with some XP
        for u in users:
            c.execute("INSERT INTO unified_users (discord_id, username) VALUES (%s, %s)", (u, f"u{u}"))
        c.execute("UPDATE unified_users SET xp = (id * 37) % 50000, coins = 1000000 + (id * 11) % 4000")
        c.execute("INSERT INTO shop_items (name, price, kind) VALUES ('Sticker', 5, 'cosmetic')")  # for /buy
    definitions = discord_definitions()

    def payloads(command: str, user_of: Callable[[int], int]) -> list[Call]:
        data, _ = simulate.parse_command(command, definitions)
        return [_signed(simulate.discord_payload(app_id=APP_ID, user=user_of(i), guild=1, data=data)) for i in range(n)]

    ping = {"id": "1", "application_id": APP_ID, "type": 1, "token": "t", "version": 1}
    scenarios = [
        ("bare verify+PONG (baseline)", "bare", "bench/bare.py", [_signed(ping) for _ in range(n)]),
        (
            "/profile (existing user)",
            "discord_interactions",
            "main.py",
            payloads("/profile", lambda i: random.choice(users)),
        ),
        (
            "/daily (new claim each time)",
            "discord_interactions",
            "main.py",
            payloads("/daily", lambda i: 2_000_000 + i),
        ),
        (
            "/buy item:Sticker (existing user)",
            "discord_interactions",
            "main.py",
            payloads("/buy item:Sticker", lambda i: random.choice(users)),
        ),
        (
            "/coinflip bet:10 (existing user)",
            "discord_interactions",
            "main.py",
            payloads("/coinflip bet:10 side:heads", lambda i: random.choice(users)),
        ),
    ]
    rows = measure([(title, target, source, _signed(ping), reqs) for title, target, source, reqs in scenarios], env)
    _table(
        f"HTTP through gunicorn (functions-framework, 1 worker, {(os.cpu_count() or 1) * 4} threads), "
        f"concurrency {CONCURRENCY}, {n - n // 10} requests each",
        ["scenario", "req/s", "p50 ms", "p99 ms", "vs baseline", "errors"],
        rows,
    )


def measure(scenarios: list[tuple[str, str, str, Call, list[Call]]], env: dict[str, str]) -> list[list[str]]:
    """Each (title, target, source, readiness probe, requests) behind its own server; the first row is the
    baseline the others are compared with. The first tenth of the requests warms up (pool, imports)."""
    rows, base = [], 0.0
    for title, target, source, ready, reqs in scenarios:
        with _function(target, source, env) as (fn_url, _):
            _wait_ready(fn_url, ready)
            _load(fn_url, reqs[: len(reqs) // 10])
            result = _load(fn_url, reqs[len(reqs) // 10 :])
        base = base or result["rps"]
        rows.append(
            [
                title,
                f"{result['rps']:.0f}",
                f"{result['p50']:.2f}",
                f"{result['p99']:.2f}",
                f"{result['rps'] / base:.2f}x",
                str(result["errors"]),
            ]
        )
    return rows


def bench_cold_start(admin: str, runs: int = 3) -> None:
    url = _fresh_db(admin, "ttfd_bench")
    env = _env(url)
    ping = {"id": "1", "application_id": APP_ID, "type": 1, "token": "t", "version": 1}
    profile_data = {"name": "profile", "type": 1, "options": []}

    def tg_request() -> Call:
        upd = simulate.telegram_update("/start", user=random.randint(1, 10**9))
        return (
            "POST",
            "/",
            json.dumps(upd).encode(),
            {
                "Content-Type": "application/json",
                "X-Telegram-Bot-Api-Secret-Token": TG_SECRET,
            },
        )

    cases: list[tuple[str, str, str, Callable[[], Call]]] = [
        ("bare function (PONG)", "bare", "bench/bare.py", lambda: _signed(ping)),
        (
            "discord_interactions (/profile)",
            "discord_interactions",
            "main.py",
            lambda: _signed(
                simulate.discord_payload(app_id=APP_ID, user=random.randint(1, 10**9), guild=1, data=profile_data)
            ),
        ),
        ("telegram_webhook (/start)", "telegram_webhook", "main.py", tg_request),
    ]
    rows, base = [], 0.0
    for title, target, source, make in cases:
        samples = []
        for _ in range(runs):
            t0 = time.perf_counter()
            with _function(target, source, env) as (fn_url, _):
                samples.append(_wait_ready(fn_url, make()) - t0)
        med = statistics.median(samples)
        base = base or med
        rows.append(
            [
                title,
                f"{med * 1000:.0f}",
                f"{min(samples) * 1000:.0f}",
                f"{max(samples) * 1000:.0f}",
                f"{med / base:.2f}x",
            ]
        )
    _table(
        f"Cold start: process start → first 200 (median of {runs})",
        ["function", "median ms", "min ms", "max ms", "vs bare"],
        rows,
    )


SEED_1M = """
ALTER TABLE unified_users DISABLE TRIGGER unified_users_lb;
ALTER TABLE xp_weekly DISABLE TRIGGER xp_weekly_lb;
INSERT INTO unified_users (discord_id, username, xp, coins, rank_id)
SELECT g, 'u' || g, floor(-ln(1 - random()) * 6000)::bigint, floor(-ln(1 - random()) * 800)::bigint, 0
FROM generate_series(1, 1000000) g;
INSERT INTO xp_weekly (week, user_id, xp)
SELECT date_trunc('week', now() AT TIME ZONE 'UTC')::date, id, floor(-ln(1 - random()) * 300)::bigint
FROM unified_users WHERE id % 3 = 0;
ALTER TABLE unified_users ENABLE TRIGGER unified_users_lb;
ALTER TABLE xp_weekly ENABLE TRIGGER xp_weekly_lb;
SELECT lb_rebuild();
"""


def _explain_ms(conn: psycopg.Connection[Any], query: str, params: dict[str, Any]) -> float:
    plan = conn.execute(sql.SQL("EXPLAIN (ANALYZE, FORMAT JSON) ") + sql.SQL(query), params).fetchone()
    assert plan is not None
    return float(plan["QUERY PLAN"][0]["Execution Time"])


def bench_leaderboard(admin: str, samples: int = 200) -> None:
    from psycopg.rows import dict_row

    from ttfd.features.leaderboards import service as economy

    url = _fresh_db(admin, "ttfd_bench_lb")
    t0 = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as c:
        c.execute(SEED_1M.encode())
        c.execute("VACUUM ANALYZE unified_users")
        c.execute("VACUUM ANALYZE xp_weekly")
        c.execute("VACUUM ANALYZE lb_buckets")
    seeded = time.perf_counter() - t0
    rows = []
    with psycopg.connect(url, row_factory=dict_row) as conn:
        ids = [r["id"] for r in conn.execute("SELECT id FROM unified_users ORDER BY random() LIMIT %s", (samples,))]
        for board in ("xp", "week", "coins"):
            period = economy.board_period(conn, board)
            top_ms = [
                _explain_ms(conn, economy._TOP[board], {"limit": 10, "offset": 0, "period": period}) for _ in range(20)
            ]
            pos_ms, wall_ms = [], []
            for uid in ids:
                params = {"user_id": uid, "period": period}
                if conn.execute(economy._POSITION[board], params).fetchone() is None:
                    continue  # not on this week's board
                pos_ms.append(_explain_ms(conn, economy._POSITION[board], params))
                t = time.perf_counter()
                economy.position(conn, board, uid)
                wall_ms.append((time.perf_counter() - t) * 1000)
            pos_ms.sort()
            wall_ms.sort()
            rows.append(
                [
                    board,
                    f"{statistics.median(top_ms):.3f}",
                    f"{statistics.median(pos_ms):.3f}",
                    f"{pos_ms[int(len(pos_ms) * 0.99) - 1]:.3f}",
                    f"{pos_ms[-1]:.3f}",
                    f"{statistics.median(wall_ms):.3f}",
                    str(len(pos_ms)),
                ]
            )
        median = conn.execute(
            "SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY xp) AS v FROM unified_users"
        ).fetchone()
        assert median is not None
        count_ms = _explain_ms(
            conn, "SELECT count(*) FROM unified_users WHERE merged_into IS NULL AND xp > %(v)s", {"v": median["v"]}
        )
    _table(
        f"Leaderboards at 1,000,000 users (seeded in {seeded:.0f} s; server-side execution ms)",
        ["board", "top10 p50", "position p50", "position p99", "position max", "client wall p50", "users"],
        rows,
    )
    print(f"  for scale, a naive COUNT(*) of users above the median XP takes {count_ms:.1f} ms server-side")


def main() -> None:
    admin = _admin()
    print(f"platform benchmark on {platform_info()}")
    bench_http(admin)
    bench_cold_start(admin)
    bench_leaderboard(admin)


def platform_info() -> str:
    return f"{os.cpu_count()} cores, Python {sys.version.split()[0]}"
