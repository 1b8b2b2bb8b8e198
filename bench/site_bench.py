"""Website functions behind gunicorn (functions-framework) on 127.0.0.1, against a bare JSON function.

Throughput and latency at concurrency 8 for the reads the site makes on every page (api_me with a session,
api_leaderboard, api_profile), a settings write (PATCH /api/me with CSRF) and rank card rendering; then the
cold start of api_me.
"""

from __future__ import annotations

import json
import random
import statistics
import time
from collections.abc import Callable

import psycopg
from psycopg.rows import dict_row

from bench.platform_bench import CONCURRENCY, Call, _admin, _env, _fresh_db, _function, _table, _wait_ready, measure
from ttfd.web import session_signer, sessions

SESSION_SECRET = "bench-session-secret-0123456789abcdef"
USERS = 500


def _site_env(url: str) -> dict[str, str]:
    return {**_env(url), "SESSION_SECRET": SESSION_SECRET, "SITE_URL": "http://127.0.0.1", "AUTH_RATE_LIMIT": "1000000"}


def _seed(url: str) -> list[tuple[int, str, str]]:
    """USERS accounts with XP, coins and this week's XP, each logged in: (user id, cookie, csrf)."""
    signer = session_signer(SESSION_SECRET)
    logins = []
    with psycopg.connect(url, row_factory=dict_row) as conn:
        for i in range(USERS):
            row = conn.execute(
                "INSERT INTO unified_users (discord_id, username, display_name) VALUES (%s, %s, %s) RETURNING id",
                (20_000 + i, f"site{i}", f"Site Player {i}"),
            ).fetchone()
            assert row is not None
            created = sessions.create(conn, row["id"], sessions.Policy(86400, 86400, 86400), "bench")
            logins.append((row["id"], signer.sign(created.token).decode(), created.session.csrf_token))
        conn.execute("UPDATE unified_users SET xp = (id * 37) % 50000, coins = (id * 11) % 4000")
        conn.execute(
            "INSERT INTO xp_weekly (week, user_id, xp) SELECT date_trunc('week', now() AT TIME ZONE 'UTC')::date,"
            " id, (id * 13) % 900 + 1 FROM unified_users"
        )
    return logins


def bench_site(n: int = 1500) -> None:
    url = _fresh_db(_admin(), "ttfd_bench_site")
    env = _site_env(url)
    logins = _seed(url)

    def me(i: int) -> Call:
        _, cookie, _ = random.choice(logins)
        return "GET", "/", b"", {"Cookie": f"ttfd_session={cookie}"}

    def patch(i: int) -> Call:
        _, cookie, csrf = random.choice(logins)
        body = json.dumps({"bio": f"bio {i}", "theme": random.choice(["dark", "light"])}).encode()
        headers = {"Cookie": f"ttfd_session={cookie}", "X-CSRF-Token": csrf, "Content-Type": "application/json"}
        return "PATCH", "/", body, headers

    def board(i: int) -> Call:
        return "GET", f"/?board={random.choice(['xp', 'week', 'coins'])}&page={random.randint(1, 50)}", b"", {}

    def profile(i: int) -> Call:
        return "GET", f"/{random.choice(logins)[0]}", b"", {}

    def card(i: int) -> Call:
        return "GET", f"/{random.choice(logins)[0]}/card.png", b"", {}

    get_ok: Call = ("GET", "/", b"", {})
    scenarios: list[tuple[str, str, str, Call, Callable[[int], Call]]] = [
        ("bare JSON GET (baseline)", "bare_json", "bench/bare.py", get_ok, lambda i: get_ok),
        ("api_me GET (session)", "api_me", "main.py", me(0), me),
        ("api_me PATCH (session + CSRF)", "api_me", "main.py", me(0), patch),
        ("api_leaderboard (random board/page)", "api_leaderboard", "main.py", board(0), board),
        ("api_profile (public JSON)", "api_profile", "main.py", profile(0), profile),
        ("api_profile card.png (render)", "api_profile", "main.py", card(0), card),
    ]
    rows = measure(
        [(t, target, source, ready, [make(i) for i in range(n)]) for t, target, source, ready, make in scenarios], env
    )
    _table(
        f"Website functions through gunicorn, concurrency {CONCURRENCY}, {n - n // 10} requests each",
        ["scenario", "req/s", "p50 ms", "p99 ms", "vs baseline", "errors"],
        rows,
    )
    cold = []
    for title, target, source, ready in (
        ("bare JSON GET", "bare_json", "bench/bare.py", get_ok),
        ("api_me (session)", "api_me", "main.py", me(0)),
    ):
        samples = []
        for _ in range(3):
            t0 = time.perf_counter()
            with _function(target, source, env) as (fn_url, _):
                samples.append(_wait_ready(fn_url, ready) - t0)
        cold.append((title, statistics.median(samples)))
    _table(
        "Website cold start: process start → first 200 (median of 3)",
        ["function", "median ms", "vs bare"],
        [[t, f"{s * 1000:.0f}", f"{s / cold[0][1]:.2f}x"] for t, s in cold],
    )


def main() -> None:
    bench_site()
