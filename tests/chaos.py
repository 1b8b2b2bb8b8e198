"""Chaos run: mixed write bursts from Discord, Telegram and the site against the functions served by gunicorn
(as a deployed function is), `kill -9` of that process mid-burst, its database connections terminated
mid-burst, everything resent, then the books checked.

`python -m tests.chaos [--users N] [--kills K]` (make chaos) prints what happened and exits 1 on any broken
invariant; tests/test_chaos.py runs a CI-sized round. Every request has a natural key (interaction id,
update id), so resending it must either return its first answer or, if it never got one, do it once.
"""

from __future__ import annotations

import argparse
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
from ttfd.core import users

ROOT = Path(__file__).resolve().parent.parent
KEY = SigningKey(bytes(range(1, 33)))
APP_ID = "1100000000000000099"
TG_SECRET = "chaos-secret"
TG_TOKEN = "7000000099:AAchaosTOKENchaosTOKENchaosTOKENchaos"
SESSION_SECRET = "chaos-session-secret-0123456789abcdef"
BUSY_MARK = "very busy"


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
        SELECT v FROM (SELECT discord_id::text AS v FROM unified_users WHERE discord_id IS NOT NULL
                       UNION ALL SELECT telegram_id::text FROM unified_users WHERE telegram_id IS NOT NULL
                       UNION ALL SELECT 'w' || website_email FROM unified_users WHERE website_email IS NOT NULL) ids
        GROUP BY v HAVING count(*) > 1""",
    "two daily claims for one person on one day": """
        WITH RECURSIVE person(id, live) AS (
            SELECT id, id FROM unified_users WHERE merged_into IS NULL
            UNION ALL SELECT u.id, p.live FROM unified_users u JOIN person p ON u.merged_into = p.id)
        SELECT p.live, d.day FROM daily_claims d JOIN person p ON p.id = d.user_id
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
            FROM xp_season WHERE xp > 0 GROUP BY 2, 3, 4)
        SELECT * FROM (
            SELECT board, period, bucket, shard, n FROM lb_buckets WHERE n > 0
            EXCEPT SELECT * FROM truth) a
        UNION ALL
        SELECT * FROM (SELECT * FROM truth EXCEPT SELECT board, period, bucket, shard, n FROM lb_buckets) b""",
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
    }


def _session_cookie(db_url: str, discord_id: int) -> tuple[str, str]:
    """A logged-in website session for a Discord account, as the OAuth callback makes one."""
    from ttfd.web import session_signer, sessions

    with psycopg.connect(db_url, row_factory=psycopg.rows.dict_row) as conn:
        user = users.ensure_user(conn, "discord", discord_id, f"web{discord_id}", None)
        made = sessions.create(conn, user.id, sessions.Policy(86400, 86400, 3600), "chaos")
    return session_signer(SESSION_SECRET).sign(made.token).decode(), made.session.csrf_token


def build_workload(db_url: str, server: Server, users: int) -> list[Request]:
    """Dailies, profiles and messages from single and linked accounts, merges racing dailies, site edits."""
    client = httpx.Client(timeout=30)
    work: list[Request] = []
    base_d, base_t = 5_000_000, 6_000_000
    pairs = max(2, users // 5)
    for i in range(pairs):  # Telegram side makes a code now; Discord redeems it inside the burst
        made = telegram_request("/link", base_t + i)
        reply = made.send(client, server.url).json()["text"]
        code = reply.split("<code>")[1].split("</code>")[0]
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
    client.close()
    random.shuffle(work)
    return work


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


def run(db_url: str, users: int = 40, kills: int = 1, terminations: int = 2, out: Any = sys.stdout) -> Report:
    """One whole chaos round against an empty, migrated database."""
    d_state, t_state = DiscordState(token="chaos-bot-token"), TelegramState(token=TG_TOKEN)
    fakes = [RunningServer(discord_app(d_state)), RunningServer(telegram_app(t_state))]
    server = Server(environment(db_url, fakes[0].url, fakes[1].url))
    report = Report()
    try:
        server.start()
        work = build_workload(db_url, server, users)
        report.requests = len(work)
        print(f"chaos: {len(work)} requests from {users} people", file=out)
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
    finally:
        server.stop()
        for f in fakes:
            f.stop()
    for req in work:
        if not req.answers:
            report.mismatched.append(f"{req.key}: never answered")
        elif req.claimed and req.surface != "site" and any(a != req.answers[0] for a in req.answers[1:]):
            report.mismatched.append(f"{req.key}: answered differently on resend")
    report.problems = consistency_problems(db_url)
    print(
        f"  sent {report.sent}, lost in flight {report.lost_in_flight}, told to retry {report.transient}, "
        f"kills {report.kills}, connections terminated {report.terminated}",
        file=out,
    )
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
