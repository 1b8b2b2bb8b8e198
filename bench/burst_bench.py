"""Bursts from one person, timed: the functions behind gunicorn (functions-framework) as deployed.

Targets (issue "Hold under bursts…"): a 30-message Telegram burst fully counted within 3 s; 60 concurrent
/daily from one person → 1 payout, 59 "already claimed"; 50 Discord + 50 Telegram /daily on one linked
account → 1 payout, Discord unaffected; someone else's update during a burst answered within 1 s.
The baseline is the same requests sent one after another, in the same run.
"""

from __future__ import annotations

import json
import random
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import psycopg

from bench.platform_bench import TG_SECRET, Call, _admin, _env, _fresh_db, _function, _signed, _table, _wait_ready
from devtools import simulate

MESSAGES_SENT = "SELECT messages_sent FROM unified_users WHERE telegram_id = %s"
TG_HEADERS = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": TG_SECRET}


def _tg(text: str, user: int, chat: int | None = None) -> Call:
    update = simulate.telegram_update(text, user=user, chat=chat, update_id=random.randrange(1, 2**31))
    return "POST", "/", json.dumps(update).encode(), TG_HEADERS


def _discord(command: str, user: int) -> Call:
    data, _ = simulate.parse_command(command, [{"name": command.strip("/"), "options": []}])
    return _signed(simulate.discord_payload(app_id="1100000000000000009", user=user, guild=1, data=data))


def _send(url: str, call: Call) -> tuple[float, int, str]:
    method, path, body, headers = call
    t0 = time.perf_counter()
    resp = httpx.request(method, url + path, content=body, headers=headers, timeout=60)
    return time.perf_counter() - t0, resp.status_code, resp.text


def _burst(calls: list[tuple[str, Call]]) -> tuple[float, list[tuple[float, int, str]]]:
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        results = list(pool.map(lambda c: _send(*c), calls))
    return time.perf_counter() - t0, results


def _sequential(calls: list[tuple[str, Call]]) -> float:
    t0 = time.perf_counter()
    for url, call in calls:
        _send(url, call)
    return time.perf_counter() - t0


def _one(url: str, query: str, *args: Any) -> Any:
    with psycopg.connect(url) as c:
        row = c.execute(query, args).fetchone()
        return row[0] if row else None


def main() -> None:
    admin = _admin()
    url = _fresh_db(admin, "ttfd_bench_burst")
    env = _env(url)
    rows: list[list[str]] = []
    with (
        _function("telegram_webhook", "main.py", env) as (tg, _),
        _function("discord_interactions", "main.py", env) as (dc, _),
    ):
        _wait_ready(tg, _tg("/start", 1))
        _wait_ready(dc, _discord("/profile", 1))
        for i in range(20):  # warm both (imports, models, pool) before timing
            _send(tg, _tg("/profile", 2 + i))
            _send(dc, _discord("/profile", 2 + i))

        def scenario(
            name: str, make: Callable[[int], list[tuple[str, Call]]], check: Callable[[list[str]], str]
        ) -> None:
            base = _sequential(make(0))
            wall, results = _burst(make(1))
            lat = sorted(r[0] for r in results)
            errors = sum(1 for r in results if r[1] != 200 or "went wrong" in r[2] or "very busy" in r[2])
            rows.append(
                [
                    name,
                    f"{wall * 1000:.0f}",
                    f"{base * 1000:.0f}",
                    f"{wall / base:.2f}x",
                    f"{statistics.median(lat) * 1000:.0f}",
                    f"{lat[-1] * 1000:.0f}",
                    str(errors),
                    check([r[2] for r in results]),
                ]
            )

        scenario(
            "Telegram: 30 group messages, one person",
            lambda k: [(tg, _tg(f"hi {i}", 500 + k, chat=-100778)) for i in range(30)],
            lambda _: f"messages_sent={_one(url, MESSAGES_SENT, 501)}",
        )
        scenario(
            "Telegram: 60 /daily, one person",
            lambda k: [(tg, _tg("/daily", 600 + k)) for _ in range(60)],
            lambda texts: f"paid={sum('+100 coins' in t for t in texts)} claimed={sum('already' in t for t in texts)}",
        )

        def linked(k: int) -> list[tuple[str, Call]]:
            with psycopg.connect(url) as c:
                c.execute(
                    "INSERT INTO unified_users (discord_id, telegram_id, platforms) "
                    "VALUES (%s, %s, '{discord,telegram}')",
                    (70_000 + k, 700 + k),
                )
            calls = [(dc, _discord("/daily", 70_000 + k)) for _ in range(50)]
            calls += [(tg, _tg("/daily", 700 + k)) for _ in range(50)]
            random.shuffle(calls)
            return calls

        scenario(
            "50 Discord + 50 Telegram /daily, one linked account",
            linked,
            lambda texts: f"paid={sum('+100 coins' in t for t in texts)} claimed={sum('already' in t for t in texts)}",
        )

        # Someone else's /start while one person floods /daily.
        others = []
        for k in range(5):
            with ThreadPoolExecutor(max_workers=61) as pool:
                flood = [pool.submit(_send, tg, _tg("/daily", 800 + k)) for _ in range(60)]
                time.sleep(0.05)
                other = pool.submit(_send, tg, _tg("/start", 900 + k)).result()
                others.append(other[0])
                [f.result() for f in flood]
        alone = statistics.median(_send(tg, _tg("/start", 950 + i))[0] for i in range(5))
        rows.append(
            [
                "someone else's /start during a 60 /daily burst",
                f"{statistics.median(others) * 1000:.0f}",
                f"{alone * 1000:.0f}",
                f"{statistics.median(others) / alone:.2f}x",
                "",
                f"{max(others) * 1000:.0f}",
                "0",
                "5 runs; baseline: /start alone",
            ]
        )
    _table(
        "Bursts from one person (burst = all at once; baseline = the same requests one after another)",
        ["scenario", "burst ms", "sequential ms", "ratio", "p50 ms", "max ms", "errors", "outcome"],
        rows,
    )


if __name__ == "__main__":
    main()
