"""Chaos run: mixed write bursts from Discord, Telegram and the site against the functions served by gunicorn
(as a deployed function is), `kill -9` of that process mid-burst, its database connections terminated
mid-burst, everything resent, then the books checked. In the mix: /link merges of accounts that both claimed
the daily (today, and on many past days), a season rollover running through an ended season while the burst
goes on (its scheduled function, called as the scheduler does), and dailies stamped on both sides of a
midnight (claim_daily called with its time passed in, as the daily function takes it).

`python -m tests.chaos [--users N] [--kills K]` (make chaos) prints what happened and exits 1 on any broken
invariant; tests/test_chaos.py runs a CI-sized round. Every request has a natural key (interaction id,
update id), so resending it must either return its first answer or, if it never got one, do it once.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import psycopg.rows
from nacl.signing import SigningKey

from devtools import simulate
from devtools.fake_discord import DiscordState
from devtools.fake_discord import create_app as discord_app
from devtools.fake_telegram import TelegramState
from devtools.fake_telegram import create_app as telegram_app
from devtools.wsgi_server import RunningServer
from functions.scheduled import SECRET_HEADER
from ttfd.core import users

ROOT = Path(__file__).resolve().parent.parent
KEY = SigningKey(bytes(range(1, 33)))
APP_ID = "1100000000000000099"
TG_SECRET = "chaos-secret"
TG_TOKEN = "7000000099:AAchaosTOKENchaosTOKENchaosTOKENchaos"
SESSION_SECRET = "chaos-session-secret-0123456789abcdef"
SCHEDULER_SECRET = "chaos-scheduler-secret"
BUSY_MARK = "very busy"
# The rollover in the smallest batches with a pause between them, so that merges and dailies land in each of
# its states; short runs, so a killed one is soon followed by the next; rewards for the top 60.
SEASON_ENV = {
    "SEASON_BATCH": "100",
    "SEASON_PAUSE_MS": "200",
    "SEASON_BUDGET_S": "5",
    "SEASON_REWARDS": ",".join(str(1000 - 10 * i) for i in range(60)),
}


def wsgi() -> Any:
    """The app gunicorn serves: every function mounted as `make run` mounts it (no fakes, no scheduler)."""
    from devtools.server import create_app

    return create_app(Path(tempfile.mkdtemp(prefix="ttfd-chaos-site-")))


# --- consistency -----------------------------------------------------------------------------------

CHECKS = {
    "balance differs from its ledger": """
        SELECT u.id FROM unified_users u
        LEFT JOIN (SELECT user_id, sum(delta) FILTER (WHERE currency = 'xp') AS xp,
                          sum(delta) FILTER (WHERE currency = 'coins') AS coins
                   FROM ledger GROUP BY user_id) l ON l.user_id = u.id
        WHERE u.xp <> coalesce(l.xp, 0) OR u.coins <> coalesce(l.coins, 0)""",
    "ledger running balance wrong": """
        SELECT id FROM (
            SELECT id, balance_after,
                   sum(delta) OVER (PARTITION BY user_id, currency ORDER BY id) AS running
            FROM ledger) r
        WHERE balance_after <> running""",
    "negative balance": "SELECT id FROM unified_users WHERE xp < 0 OR coins < 0",
    "retired row holds something": """
        SELECT id FROM unified_users WHERE merged_into IS NOT NULL AND (xp, coins) <> (0, 0)""",
    "identity on two accounts": """
        SELECT v FROM (SELECT 'd' || discord_id AS v FROM unified_users WHERE discord_id IS NOT NULL
                       UNION ALL SELECT 't' || telegram_id FROM unified_users WHERE telegram_id IS NOT NULL
                       UNION ALL SELECT 'w' || website_email FROM unified_users WHERE website_email IS NOT NULL) ids
        GROUP BY v HAVING count(*) > 1""",
    "two daily claims for one person on one day": """
        WITH RECURSIVE person(id, live) AS (
            SELECT id, id FROM unified_users WHERE merged_into IS NULL
            UNION ALL SELECT u.id, p.live FROM unified_users u JOIN person p ON u.merged_into = p.id)
        SELECT p.live, d.day FROM daily_claims d JOIN person p ON p.id = d.user_id
        GROUP BY 1, 2 HAVING count(*) > 1""",
    "daily claim dated after its account's last claim day": """
        SELECT d.user_id, d.day FROM daily_claims d JOIN unified_users u ON u.id = d.user_id
        WHERE u.last_daily_on IS NULL OR d.day > u.last_daily_on""",
    "last claim day differs from the person's latest claim": """
        WITH RECURSIVE person(id, live) AS (
            SELECT id, id FROM unified_users WHERE merged_into IS NULL
            UNION ALL SELECT u.id, p.live FROM unified_users u JOIN person p ON u.merged_into = p.id),
        latest AS (SELECT p.live, max(d.day) AS day FROM daily_claims d JOIN person p ON p.id = d.user_id GROUP BY 1)
        SELECT u.id, u.last_daily_on, l.day FROM unified_users u LEFT JOIN latest l ON l.live = u.id
        WHERE u.merged_into IS NULL AND u.last_daily_on IS DISTINCT FROM l.day""",
    "season placement not one per person on the live account": """
        WITH RECURSIVE person(id, live) AS (
            SELECT id, id FROM unified_users WHERE merged_into IS NULL
            UNION ALL SELECT u.id, p.live FROM unified_users u JOIN person p ON u.merged_into = p.id)
        SELECT p.live, st.season_id, array_agg(st.user_id) FROM season_standings st
        JOIN seasons s ON s.id = st.season_id AND s.status IN ('paying', 'clearing', 'closed')
        JOIN person p ON p.id = st.user_id
        GROUP BY 1, 2 HAVING count(*) > 1 OR bool_or(st.user_id <> p.live)""",
    # A reward beyond one per person per season must have been taken back (as far as the balance allowed).
    "season reward paid twice to one person": """
        WITH RECURSIVE person(id, live) AS (
            SELECT id, id FROM unified_users WHERE merged_into IS NULL
            UNION ALL SELECT u.id, p.live FROM unified_users u JOIN person p ON u.merged_into = p.id)
        SELECT p.live, split_part(l.source_key, ':', 2) AS season, array_agg(l.source_key) FROM ledger l
        JOIN person p ON p.id = split_part(l.source_key, ':', 4)::bigint
        WHERE l.currency = 'coins' AND l.source_key ~ '^season:[0-9]+:reward:[0-9]+$'
          AND NOT EXISTS (SELECT 1 FROM ledger t WHERE t.source_key = l.source_key || ':taken back'
                                                   AND t.currency = 'coins')
          AND NOT EXISTS (SELECT 1 FROM audit_logs a WHERE a.action = 'merge.taken_back_short'
                                                       AND a.data->>'key' = l.source_key)
        GROUP BY 1, 2 HAVING count(*) > 1""",
    "achievement reward paid twice to one person": """
        WITH RECURSIVE person(id, live) AS (
            SELECT id, id FROM unified_users WHERE merged_into IS NULL
            UNION ALL SELECT u.id, p.live FROM unified_users u JOIN person p ON u.merged_into = p.id)
        SELECT p.live, split_part(l.source_key, ':', 2) AS code, array_agg(l.source_key) FROM ledger l
        JOIN person p ON p.id = split_part(l.source_key, ':', 3)::bigint
        WHERE l.currency = 'coins' AND l.source_key ~ '^achievement:[a-z0-9_]+:[0-9]+$'
          AND NOT EXISTS (SELECT 1 FROM ledger t WHERE t.source_key = l.source_key || ':taken back'
                                                   AND t.currency = 'coins')
          AND NOT EXISTS (SELECT 1 FROM audit_logs a WHERE a.action = 'merge.taken_back_short'
                                                       AND a.data->>'key' = l.source_key)
        GROUP BY 1, 2 HAVING count(*) > 1""",
    "leaderboard histogram differs from a recount": """
        WITH truth AS (
            SELECT 'xp' AS board, date '1970-01-01' AS period, lb_bucket(xp) AS bucket, id % 16 AS shard,
                   count(*) AS n FROM unified_users WHERE merged_into IS NULL AND xp > 0 GROUP BY 3, 4
            UNION ALL
            SELECT 'coins', date '1970-01-01', lb_bucket(coins), id % 16, count(*)
            FROM unified_users WHERE merged_into IS NULL AND coins > 0 GROUP BY 3, 4
            UNION ALL
            SELECT 'week', week, lb_bucket(xp), user_id % 16, count(*)
            FROM xp_weekly WHERE xp > 0 GROUP BY 2, 3, 4
            UNION ALL
            SELECT 'season', period, lb_bucket(xp), user_id % 16, count(*)
            FROM xp_season WHERE xp > 0 GROUP BY 2, 3, 4
            UNION ALL
            SELECT 'rep', date '1970-01-01', lb_bucket(rep), id % 16, count(*)
            FROM unified_users WHERE merged_into IS NULL AND rep > 0 GROUP BY 3, 4)
        SELECT * FROM (
            SELECT board, period, bucket, shard, n FROM lb_buckets WHERE n > 0
            EXCEPT SELECT * FROM truth) a
        UNION ALL
        SELECT * FROM (SELECT * FROM truth EXCEPT SELECT board, period, bucket, shard, n FROM lb_buckets) b""",
    "reputation total differs from the rows received": """
        SELECT u.id, u.rep, count(r.id) FROM unified_users u LEFT JOIN reputation r ON r.receiver = u.id
        GROUP BY u.id HAVING u.rep <> count(r.id)""",
    "reputation given to oneself or held by a retired account": """
        SELECT r.id FROM reputation r JOIN unified_users g ON g.id = r.giver JOIN unified_users v ON v.id = r.receiver
        WHERE g.merged_into IS NOT NULL OR v.merged_into IS NOT NULL""",
    "inventory differs from purchases, refunds and uses": """
        WITH bought AS (SELECT user_id, item_id, sum(quantity) AS n FROM purchases WHERE refunded_at IS NULL
                        GROUP BY 1, 2),
             used AS (SELECT user_id, item_id, sum(quantity) AS n FROM item_uses GROUP BY 1, 2)
        SELECT coalesce(i.user_id, b.user_id), coalesce(i.item_id, b.item_id)
        FROM inventory i FULL JOIN bought b ON (b.user_id, b.item_id) = (i.user_id, i.item_id)
        LEFT JOIN used u ON (u.user_id, u.item_id) = (coalesce(i.user_id, b.user_id), coalesce(i.item_id, b.item_id))
        WHERE coalesce(i.quantity, 0) <> coalesce(b.n, 0) - coalesce(u.n, 0)""",
    "purchase paid differently from its ledger rows": """
        SELECT p.id FROM purchases p
        LEFT JOIN ledger d ON d.source_key = 'shop:' || p.request_key AND d.currency = 'coins'
        LEFT JOIN ledger r ON r.source_key = 'refund:' || p.id AND r.currency = 'coins'
        WHERE coalesce(-d.delta, 0) <> p.total OR coalesce(r.delta, 0) <> CASE WHEN p.refunded_at IS NULL THEN 0
                                                                                ELSE p.total END""",
}


def consistency_problems(url: str) -> list[str]:
    """Every broken invariant, as '<name>: <first offending rows>' (empty when the books are right)."""
    problems = []
    with psycopg.connect(url) as c:
        for name, query in CHECKS.items():
            rows = c.execute(query).fetchall()
            if rows:
                problems.append(f"{name}: {rows[:5]}")
    return problems


# --- the server under test -------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """gunicorn in its own process group (so `kill -9` takes master and worker at once)."""

    env: dict[str, str]
    port: int = field(default_factory=_free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        argv = [sys.executable, "-m", "gunicorn", "-b", f"127.0.0.1:{self.port}", "-k", "gthread"]
        argv += ["-w", "1", "--threads", "8", "--log-level", "warning", "tests.chaos:wsgi()"]
        self.proc = subprocess.Popen(argv, cwd=ROOT, env=self.env, start_new_session=True)
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{self.url}/api/leaderboard", timeout=2)
                return
            except httpx.TransportError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError("gunicorn did not start") from None
                time.sleep(0.1)

    def kill(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(10)


def terminate_connections(url: str) -> int:
    """pg_terminate_backend every connection of the app to its database."""
    dbname = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    with psycopg.connect(url, autocommit=True) as c:
        row = c.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
            (dbname,),
        ).fetchone()
    return int(row[0]) if row else 0


# --- requests --------------------------------------------------------------------------------------


@dataclass
class Request:
    """One inbound event with its natural key; `send` may be called any number of times."""

    key: str
    surface: str
    send: Callable[[httpx.Client, str], httpx.Response]
    answers: list[Any] = field(default_factory=list)
    # Read-only commands are not claimed (README: they recompute on a redelivery), so only writes must
    # answer a resend exactly as they answered first.
    claimed: bool = True


def discord_request(command: str, user: int, guild: int = 1) -> Request:
    data, resolved = simulate.parse_command(command, _definitions())
    if resolved:
        data["resolved"] = resolved
    payload = simulate.discord_payload(app_id=APP_ID, user=user, guild=guild, data=data)
    body = json.dumps(payload).encode()

    def send(client: httpx.Client, base: str) -> httpx.Response:
        ts = str(int(time.time()))
        headers = {
            "X-Signature-Ed25519": KEY.sign(ts.encode() + body).signature.hex(),
            "X-Signature-Timestamp": ts,
            "Content-Type": "application/json",
        }
        return client.post(f"{base}/discord/interactions", content=body, headers=headers)

    from ttfd.features import REGISTRY

    spec = REGISTRY.commands[data["name"]]
    return Request(f"discord:{payload['id']}", "discord", send, claimed=spec.writes or spec.defer)


_update_ids = iter(random.sample(range(1, 2**31), 200_000))


def telegram_request(text: str, user: int, chat: int | None = None) -> Request:
    update = simulate.telegram_update(text, user=user, chat=chat, update_id=next(_update_ids))
    body = json.dumps(update).encode()
    headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": TG_SECRET}

    def send(client: httpx.Client, base: str) -> httpx.Response:
        return client.post(f"{base}/telegram/webhook", content=body, headers=headers)

    return Request(f"tg:{update['update_id']}", "telegram", send)


def site_request(cookie: str, csrf: str, bio: str) -> Request:
    def send(client: httpx.Client, base: str) -> httpx.Response:
        headers = {"X-CSRF-Token": csrf, "Cookie": f"ttfd_session={cookie}; csrf_token={csrf}"}
        return client.patch(f"{base}/api/me", json={"bio": bio}, headers=headers)

    return Request(f"site:{cookie[:8]}:{bio}", "site", send)


def _definitions() -> list[dict[str, Any]]:
    from ttfd.cli import discord_definitions

    return discord_definitions()


def answer_of(resp: httpx.Response) -> Any:
    """What the sender was told, or None when it was told to come back (503, busy): nothing was done."""
    if resp.status_code == 503:
        return None
    assert resp.status_code < 500, f"HTTP {resp.status_code}: {resp.text[:200]}"
    body = resp.json()
    if BUSY_MARK in json.dumps(body):
        return None
    return body


# --- the run ---------------------------------------------------------------------------------------


@dataclass
class Report:
    requests: int = 0
    sent: int = 0
    lost_in_flight: int = 0
    transient: int = 0
    kills: int = 0
    terminated: int = 0
    mismatched: list[str] = field(default_factory=list)
    generic_errors: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)  # what the mix did (merges, take-backs, late claims …)

    @property
    def ok(self) -> bool:
        return not (self.mismatched or self.generic_errors or self.problems)


def environment(db_url: str, discord_fake: str, telegram_fake: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": db_url,
        "DISCORD_PUBLIC_KEY": KEY.verify_key.encode().hex(),
        "DISCORD_APPLICATION_ID": APP_ID,
        "DISCORD_BOT_TOKEN": "chaos-bot-token",
        "DISCORD_API_BASE": f"{discord_fake}/api/v10",
        "TELEGRAM_BOT_TOKEN": TG_TOKEN,
        "TELEGRAM_WEBHOOK_SECRET": TG_SECRET,
        "TELEGRAM_API_BASE": telegram_fake,
        "SESSION_SECRET": SESSION_SECRET,
        "SITE_URL": "http://127.0.0.1",
        "TTFD_POOL_SIZE": "6",
        "SCHEDULER_SECRET": SCHEDULER_SECRET,
        **SEASON_ENV,
    }


def _session_cookie(db_url: str, discord_id: int) -> tuple[str, str]:
    """A logged-in website session for a Discord account, as the OAuth callback makes one."""
    from ttfd.web import session_signer, sessions

    with psycopg.connect(db_url, row_factory=psycopg.rows.dict_row) as conn:
        user = users.ensure_user(conn, "discord", discord_id, f"web{discord_id}", None)
        made = sessions.create(conn, user.id, sessions.Policy(86400, 86400, 3600), "chaos")
    return session_signer(SESSION_SECRET).sign(made.token).decode(), made.session.csrf_token


@dataclass
class World:
    """What the workload set up besides its requests, for the activities running next to the burst."""

    season: int  # the ended season the rollover works through during the burst
    midnight: list[int]  # accounts whose dailies are stamped around midnight (claim_daily with its time)
    pairs: list[tuple[int, int]]  # (Telegram, Discord) accounts made before the burst, linked inside it


def _account(db_url: str, platform: users.Platform, ext: int) -> int:
    with psycopg.connect(db_url, row_factory=psycopg.rows.dict_row) as conn:
        return users.ensure_user(conn, platform, ext, *simulate.names(ext)).id


def claim_at(db_url: str, user_id: int, now: datetime) -> Any:
    """/daily's work for an account at a given moment, in its own transaction (sql/0015 daily_claim); retried
    on a terminated connection (it either committed, and the retry is told so, or did nothing)."""
    from ttfd.features.daily import DailySettings, claim_daily

    for attempt in range(20):
        try:
            with psycopg.connect(db_url, row_factory=psycopg.rows.dict_row) as conn:
                return claim_daily(conn, DailySettings(), user_id, "discord", now)
        except psycopg.OperationalError:
            time.sleep(0.05 * (attempt + 1))
    raise RuntimeError(f"no claim for {user_id} after 20 attempts")


def add_ended_season(db_url: str, start: date, end: date, players: dict[int, int], fillers: range) -> int:
    """A season that has ended with everyone's XP still in it (standings to archive), plus filler players who
    played only then (one account per id in `fillers`, made here)."""
    with psycopg.connect(db_url) as c:
        row = c.execute(
            "INSERT INTO seasons (name, period, starts_at, ends_at) VALUES (%s, %s, %s, %s) RETURNING id",
            (
                f"Chaos {start:%b %Y}",
                start,
                datetime.combine(start, dtime(0), UTC),
                datetime.combine(end, dtime(0), UTC),
            ),
        ).fetchone()
        assert row is not None
        c.execute(
            "INSERT INTO unified_users (discord_id, username) SELECT g, 'f' || g FROM generate_series(%s, %s) g"
            " ON CONFLICT DO NOTHING",
            (fillers.start, fillers.stop - 1),
        )
        c.execute(
            "INSERT INTO xp_season (period, user_id, xp) SELECT %s, id, 1 + id %% 97 FROM unified_users"
            " WHERE discord_id >= %s AND discord_id < %s",
            (start, fillers.start, fillers.stop),
        )
        with c.cursor() as cur:
            cur.executemany(
                "INSERT INTO xp_season (period, user_id, xp) VALUES (%s, %s, %s)",
                [(start, uid, xp) for uid, xp in players.items()],
            )
        return int(row[0])


def rollover(client: httpx.Client, base: str) -> dict[str, Any] | None:
    """One call of the season_rollover schedule as the scheduler makes it; None when it did not answer."""
    try:
        resp = client.post(f"{base}/scheduled/season_rollover", headers={SECRET_HEADER: SCHEDULER_SECRET})
    except httpx.TransportError:
        return None
    return dict(resp.json()) if resp.status_code == 200 else None


def season_status(db_url: str, season: int) -> str:
    with psycopg.connect(db_url) as c:
        row = c.execute("SELECT status FROM seasons WHERE id = %s", (season,)).fetchone()
    return str(row[0]) if row else "missing"


def roll_until_closed(db_url: str, server: Server, season: int, deadline: float) -> int:
    """Call the rollover until `season` is closed. A run that died (killed, its connection cut) keeps its
    lease until it runs out (60 s); this loop being the only caller, that time is made to pass at once (were a
    run still alive, it would lose its lease and stop at its next batch, as the rollover is built to)."""
    calls = 0
    with httpx.Client(timeout=30) as client:
        while time.monotonic() < deadline:
            try:
                if season_status(db_url, season) == "closed":
                    return calls
            except psycopg.OperationalError:  # its connection cut with the app's
                time.sleep(0.05)
                continue
            calls += 1
            answer = rollover(client, server.url)
            if answer is None or not (answer.get("closed") or "unfinished" in answer):
                with contextlib.suppress(psycopg.OperationalError), psycopg.connect(db_url) as c:
                    c.execute("UPDATE seasons SET lease_until = now() WHERE id = %s AND lease_until > now()", (season,))
                time.sleep(0.05)
    return calls


def build_workload(db_url: str, server: Server, users: int) -> tuple[list[Request], World]:
    """Dailies, profiles and messages from single and linked accounts, merges racing dailies (and of accounts
    that both claimed, today and on many past days, and both placed in past seasons), site edits; dailies
    around midnight; two ended seasons, one closed before the burst and one to roll over during it."""
    client = httpx.Client(timeout=30)
    work: list[Request] = []
    base_d, base_t = 5_000_000, 6_000_000
    pairs = max(2, users // 5)
    today = datetime.now(UTC).date()
    made: list[tuple[int, int]] = []
    for i in range(pairs):  # Telegram side makes a code now; Discord redeems it inside the burst
        made_code = telegram_request("/link", base_t + i)
        reply = made_code.send(client, server.url).json()["text"]
        code = reply.split("<code>")[1].split("</code>")[0]
        if i % 2 == 0:  # both sides have an account and claimed today before they link
            tg, dc = _account(db_url, "telegram", base_t + i), _account(db_url, "discord", base_d + i)
            if i % 4 == 0:  # … and on many past days too
                for back in range(12, 2, -1):
                    for uid in (tg, dc):
                        claim_at(db_url, uid, datetime.combine(today - timedelta(days=back), dtime(12), UTC))
            telegram_request("/daily", base_t + i).send(client, server.url)
            discord_request("/daily", base_d + i).send(client, server.url)
            made.append((tg, dc))
        work.append(discord_request(f"/link code:{code}", base_d + i))
        work += [discord_request("/daily", base_d + i, guild=1 + k % 3) for k in range(4)]
        work += [telegram_request(f"hi {k}", base_t + i, chat=-100500) for k in range(4)]
    for i in range(pairs, users):
        work += [discord_request("/daily", base_d + i) for _ in range(3)]
        work += [telegram_request("/daily", base_t + i) for _ in range(3)]
        work += [telegram_request(f"msg {k}", base_t + i, chat=-100500) for k in range(3)]
        work.append(discord_request("/profile", base_d + i))
        work.append(discord_request("/leaderboard board:coins", base_d + i))
    for i in range(max(1, users // 10)):
        cookie, csrf = _session_cookie(db_url, base_d + 900_000 + i)
        work += [site_request(cookie, csrf, f"bio {k}") for k in range(3)]
        work.append(discord_request("/daily", base_d + 900_000 + i))
    midnight = [_account(db_url, "discord", base_d + 800_000 + i) for i in range(max(2, users // 8))]
    work += [discord_request("/daily", base_d + 800_000 + i) for i in range(len(midnight)) for _ in range(2)]
    client.close()
    # Both accounts of each pair placed near the top of two past seasons: the first is archived and paid
    # before the burst (each account paid apart), the second is rolled over during it.
    placed = {uid: 10_000 - 10 * n - (k + n) % 2 for n, pair in enumerate(made) for k, uid in enumerate(pair)}
    add_ended_season(db_url, date(2000, 1, 1), date(2000, 2, 1), placed, range(7_000_000, 7_000_020))
    roll_until_closed(db_url, server, season_of(db_url, date(2000, 1, 1)), time.monotonic() + 60)
    season = add_ended_season(
        db_url, date(2000, 2, 1), date(2000, 3, 1), placed, range(7_100_000, 7_100_000 + 40 * users)
    )
    random.shuffle(work)
    return work, World(season, midnight, made)


def season_of(db_url: str, period: date) -> int:
    with psycopg.connect(db_url) as c:
        row = c.execute("SELECT id FROM seasons WHERE period = %s", (period,)).fetchone()
    assert row is not None
    return int(row[0])


def around_midnight(db_url: str, world: World, report: Report) -> None:
    """Dailies stamped just before and just after today's midnight, and a few just after the next one (the next
    midnight, seen early), in random order and from many threads, for the midnight accounts and the Discord
    side of the pairs (racing their merges). Claims committing after a later day's claim must be refused."""
    today = datetime.now(UTC).date()
    stamps = [
        datetime.combine(today, dtime(0), UTC) - timedelta(milliseconds=50),
        datetime.combine(today, dtime(0), UTC) + timedelta(milliseconds=50),
    ]
    jobs = [(uid, at) for uid in world.midnight + [dc for _, dc in world.pairs] for at in stamps]
    jobs += [(uid, datetime.combine(today + timedelta(days=1), dtime(0), UTC)) for uid in world.midnight[::3]]
    jobs += [(dc, datetime.combine(today + timedelta(days=1), dtime(0), UTC)) for _, dc in world.pairs[1::2]]
    random.shuffle(jobs)

    def claim(job: tuple[int, datetime]) -> Any:
        time.sleep(random.uniform(0, 4))  # spread over the burst, its kill and the merges in it
        return claim_at(db_url, *job)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(claim, jobs))
    report.facts["midnight claims"] = len(results)
    report.facts["late claims refused"] = sum(bool(r.late) for r in results)


def fire(work: list[Request], server: Server, report: Report, during: Callable[[], None] | None = None) -> None:
    """Send every request concurrently; `during` runs once about a third of the way in."""
    lock = threading.Lock()

    def one(req: Request) -> None:
        with httpx.Client(timeout=30) as client:
            try:
                resp = req.send(client, server.url)
            except httpx.TransportError:
                with lock:
                    report.lost_in_flight += 1  # the process died under it: it is resent later
                return
        answer = answer_of(resp)
        with lock:
            report.sent += 1
            if answer is None:
                report.transient += 1
            elif "Something went wrong" in json.dumps(answer, ensure_ascii=False):
                report.generic_errors.append(req.key)
            else:
                req.answers.append(answer)

    with ThreadPoolExecutor(max_workers=32) as pool:
        futures = [pool.submit(one, r) for r in work]
        if during is not None:
            while sum(f.done() for f in futures) < len(futures) // 3:
                time.sleep(0.005)
            during()
        for f in futures:
            f.result()


def watch_season(db_url: str, season: int, stop: threading.Event, seen: list[tuple[datetime, str]]) -> None:
    """Each state the season's rollover enters, with the database's clock (to place merges in them later)."""
    while not stop.is_set():
        try:
            with psycopg.connect(db_url) as c:
                while not stop.is_set():
                    row = c.execute("SELECT clock_timestamp(), status FROM seasons WHERE id = %s", (season,)).fetchone()
                    assert row is not None
                    if not seen or seen[-1][1] != row[1]:
                        seen.append((row[0], str(row[1])))
                    if row[1] == "closed":
                        return
                    time.sleep(0.01)
        except psycopg.OperationalError:
            time.sleep(0.01)


def mix_facts(db_url: str, seen: list[tuple[datetime, str]]) -> dict[str, Any]:
    """How many merges, take-backs and refused claims the mix produced, and the rollover state of each merge."""
    with psycopg.connect(db_url) as c:
        merged = [r[0] for r in c.execute("SELECT merged_at FROM unified_users WHERE merged_into IS NOT NULL")]
        taken = dict(
            c.execute(
                "SELECT split_part(source_key, ':', 1), count(DISTINCT source_key) FROM ledger"
                " WHERE source_key LIKE '%:taken back' GROUP BY 1"
            ).fetchall()
        )
    states: dict[str, int] = {}
    for at in merged:
        state = next((status for since, status in reversed(seen) if since <= at), "open")
        states[state] = states.get(state, 0) + 1
    return {
        "merges": len(merged),
        "merges by rollover state": dict(sorted(states.items())),
        "daily claims taken back": taken.get("daily", 0),
        "season rewards taken back": taken.get("season", 0),
    }


def run(db_url: str, users: int = 40, kills: int = 1, terminations: int = 2, out: Any = sys.stdout) -> Report:
    """One whole chaos round against an empty, migrated database."""
    d_state, t_state = DiscordState(token="chaos-bot-token"), TelegramState(token=TG_TOKEN)
    fakes = [RunningServer(discord_app(d_state)), RunningServer(telegram_app(t_state))]
    server = Server(environment(db_url, fakes[0].url, fakes[1].url))
    report = Report()
    stop, seen = threading.Event(), list[tuple[datetime, str]]()
    side: list[threading.Thread] = []
    try:
        server.start()
        work, world = build_workload(db_url, server, users)
        report.requests = len(work)
        print(f"chaos: {len(work)} requests from {users} people", file=out)
        # Next to the first burst: the rollover of an ended season, and dailies around midnight.
        side = [
            threading.Thread(target=watch_season, args=(db_url, world.season, stop, seen)),
            threading.Thread(target=roll_until_closed, args=(db_url, server, world.season, time.monotonic() + 300)),
            threading.Thread(target=around_midnight, args=(db_url, world, report)),
        ]
        for t in side:
            t.start()
        for k in range(kills):

            def crash() -> None:
                server.kill()
                report.kills += 1
                server.start()

            fire(work, server, report, during=crash)
            print(f"  round {k + 1}: killed mid-burst, {report.lost_in_flight} in flight so far", file=out)
        for _ in range(terminations):

            def cut() -> None:
                report.terminated += terminate_connections(db_url)

            fire(work, server, report, during=cut)
        fire(work, server, report)  # the final resend: everything must now have its answer
        side[2].join()
        side[1].join(timeout=60)
        roll_until_closed(db_url, server, world.season, time.monotonic() + 60)  # the rest, if any
    finally:
        stop.set()
        for t in side:
            t.join(timeout=30)
        server.stop()
        for f in fakes:
            f.stop()
    for req in work:
        if not req.answers:
            report.mismatched.append(f"{req.key}: never answered")
        elif req.claimed and req.surface != "site" and any(a != req.answers[0] for a in req.answers[1:]):
            report.mismatched.append(f"{req.key}: answered differently on resend")
    report.problems = consistency_problems(db_url)
    if season_status(db_url, world.season) != "closed":
        report.problems.append(f"the season rollover did not finish: {season_status(db_url, world.season)}")
    report.facts |= mix_facts(db_url, seen)
    print(
        f"  sent {report.sent}, lost in flight {report.lost_in_flight}, told to retry {report.transient}, "
        f"kills {report.kills}, connections terminated {report.terminated}",
        file=out,
    )
    print("  " + ", ".join(f"{k} {v}" for k, v in report.facts.items()), file=out)
    for line in report.problems + report.mismatched[:10] + report.generic_errors[:10]:
        print(f"  FAIL {line}", file=out)
    print("  books: consistent" if report.ok else "  books: BROKEN", file=out)
    return report


def main(argv: list[str] | None = None) -> int:
    from ttfd.core import db

    p = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__)
    p.add_argument("--users", type=int, default=120)
    p.add_argument("--kills", type=int, default=3)
    p.add_argument("--terminations", type=int, default=4)
    args = p.parse_args(argv)
    admin = os.environ.get("TEST_DATABASE_URL") or (
        db.LOCAL_ADMIN_URL if db._answers(db.LOCAL_ADMIN_URL) else db.embedded_admin_url()
    )
    name = f"ttfd_chaos_{os.getpid()}"
    db.ensure_database(admin, name)
    url = db.with_dbname(admin, name)
    try:
        db.migrate(url)
        report = run(url, args.users, args.kills, args.terminations)
    finally:
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(psycopg.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(psycopg.sql.Identifier(name)))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
