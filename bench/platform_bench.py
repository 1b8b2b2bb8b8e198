"""Platform benchmark: functions behind gunicorn (functions-framework's server) on 127.0.0.1.

1. Every chat command (reads, writes up to their answer or deferral, /ping, /profile in Russian) under load at
   concurrency 8 against the bare signed PONG measured in the same run: median, p99, throughput, the ratio and
   its target, CPU per request of the function, Postgres' backends and the load generator; prepared statements
   off (the pooler default; `--prepared on|both` for on). Then round trips per command, counted in-process.
2. Cold start, whole process (functions-framework start → first 200), each function paired with a bare one.
3. Leaderboard top 10 and a user's position with 1,000,000 users seeded in SQL, server-side ms.

`--accounts N` runs (1) against N seeded accounts in N / 100 guilds (a kept template above 100,000).
"""

from __future__ import annotations

import http.client
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
from dataclasses import dataclass
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
PEER = "wsgi"  # _function's source for a plain WSGI app (bench/peer.py)
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
        "TTFD_METRICS": "emf",  # what ships on AWS (one JSON line per request on stdout), not the local log sink
        "GAMES_COOLDOWN_S": "0",  # the bench bets for 500 people as fast as it can: no per-person pause
        "PYTHONPATH": str(ROOT),
    }


@contextmanager
def _function(target: str, source: str, env: dict[str, str]) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """functions-framework (gunicorn, 1 worker, 8 threads) serving one target; `source` PEER: gunicorn serving
    the WSGI app `target` ("module:app") with the same worker, threads and worker class."""
    port = _free_port()
    if source == PEER:
        threads = str((os.cpu_count() or 1) * 4)  # functions-framework's default
        argv = ["gunicorn", "-w", "1", "-k", "gthread", "--threads", threads, "-b", f"127.0.0.1:{port}", target]
    else:
        argv = ["functions_framework", "--target", target, "--source", source, "--port", str(port)]
        argv += ["--host", "127.0.0.1"]
    proc = subprocess.Popen(
        [PY, "-m", *argv],
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
    sys.stdout.flush()  # a long run piped to a file shows each table as it is done


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


# --- what `make bench` measures per chat command -----------------------------------------------------------

BENCH_USERS = 500  # the existing accounts the commands come from (each warmed up once through the function)
DISCORD_BASE = 100_000_000  # seeded account g has Discord id DISCORD_BASE + g (clear of the demo players)
MODERATE = (1 << 40) | (1 << 3)  # MODERATE_MEMBERS | ADMINISTRATOR: /warn passes its permission check
READ_TARGET, WRITE_TARGET, P99_TARGET_MS = 0.6, 0.4, 25.0


@dataclass(frozen=True)
class Command:
    """A chat command as the bench sends it; `text` None is Discord's PING (answered PONG)."""

    label: str
    kind: str  # "read" (≥ READ_TARGET), "write" (≥ WRITE_TARGET) or "pong" (no target: the function's floor)
    text: str | None
    new_user: bool = False  # a new account each request (a first /daily)
    permissions: int = 0
    locale: str = "en-US"


COMMANDS = [
    Command("PING → PONG through the function", "pong", None),
    Command("/ping", "read", "/ping"),
    Command("/profile", "read", "/profile"),
    Command("/profile, Russian (locale ru)", "read", "/profile", locale="ru"),
    Command("/rank", "read", "/rank"),
    Command("/leaderboard", "read", "/leaderboard"),
    Command("/shop", "read", "/shop"),
    Command("/inventory", "read", "/inventory"),
    Command("/daily (a new account's first claim)", "write", "/daily", new_user=True),
    Command("/coinflip bet:10", "write", "/coinflip bet:10 side:heads"),
    Command("/buy item:Sticker", "write", "/buy item:Sticker"),
    Command("/warn (up to its deferral)", "write", "/warn user:{target} reason:spam", permissions=MODERATE),
]
PEER_LABEL = "flask-discord-interactions /ping (the peer: bench/peer.py, no database)"
PEER_PING = Command("/ping", "read", "/ping")
PEER_TARGET = 1.5  # /profile's throughput against the peer's
PING: dict[str, Any] = {"id": "1", "application_id": APP_ID, "type": 1, "token": "t", "version": 1}


class Commands:
    """Signed interactions for the bench users; new accounts for first claims never repeat within a run."""

    def __init__(self, users: list[int]) -> None:
        self.users = users
        self.definitions = discord_definitions()
        self._new = iter(range(5_000_000_000 + random.randrange(10**6) * 10**4, 10**13))

    def call(self, command: Command, user: int | None = None) -> Call:
        if command.text is None:
            return _signed(PING)
        who = user if user is not None else next(self._new) if command.new_user else random.choice(self.users)
        text = command.text.format(target=random.choice(self.users))
        data, resolved = simulate.parse_command(text, self.definitions)
        if resolved:
            data["resolved"] = resolved
        payload = simulate.discord_payload(
            app_id=APP_ID, user=who, guild=1, data=data, permissions=command.permissions, locale=command.locale
        )
        return _signed(payload)

    def calls(self, command: Command, n: int) -> list[Call]:
        return [self.call(command) for _ in range(n)]


# --- CPU per request, from /proc: the function's process tree, the database's backends, this process -------

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0  # gone: its CPU is not counted (a backend ending mid-run; rare)
    return (int(fields[11]) + int(fields[12])) / _TICK


def _tree(pid: int) -> list[int]:
    """pid and its descendants (functions-framework's gunicorn: the arbiter and its worker)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(parents.get(p, []))
    return found


class Meter:
    """CPU seconds so far of the function's processes, the bench database's backends and this process."""

    def __init__(self, admin: psycopg.Connection[Any], dbname: str, fn_pid: int) -> None:
        self.admin, self.dbname, self.fn_pid = admin, dbname, fn_pid

    def read(self) -> tuple[float, float, float]:
        backends = [
            r[0]
            for r in self.admin.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (self.dbname,)
            )
        ]
        fn = sum(_cpu_s(p) for p in _tree(self.fn_pid))
        return fn, sum(_cpu_s(p) for p in backends), time.process_time()


@dataclass
class Result:
    rps: float
    p50: float
    p99: float
    errors: int
    fn_ms: float = 0.0
    pg_ms: float = 0.0
    gen_ms: float = 0.0
    claims: float = 0.0


# --- seeding: accounts in bulk, then every bench user once through the function --------------------------

SEED_ACCOUNTS = """
ALTER TABLE unified_users DISABLE TRIGGER unified_users_lb;
ALTER TABLE xp_weekly DISABLE TRIGGER xp_weekly_lb;
INSERT INTO unified_users (discord_id, username, display_name, platforms, primary_platform, xp, coins, rank_id)
SELECT {base} + g, 'user' || ({base} + g), 'User ' || ({base} + g), '{{discord}}', 'discord',
       floor(-ln(1 - random()) * 6000)::bigint, floor(-ln(1 - random()) * 800)::bigint, 0
FROM generate_series(1, {accounts}) g;
INSERT INTO xp_weekly (week, user_id, xp)
SELECT date_trunc('week', now() AT TIME ZONE 'UTC')::date, id, floor(-ln(1 - random()) * 300)::bigint
FROM unified_users WHERE id % 3 = 0;
INSERT INTO guild_members (guild_id, user_id) SELECT id % {guilds} + 1, id FROM unified_users;
ALTER TABLE unified_users ENABLE TRIGGER unified_users_lb;
ALTER TABLE xp_weekly ENABLE TRIGGER xp_weekly_lb;
SELECT lb_rebuild();
INSERT INTO shop_items (name, price, kind) VALUES ('Sticker', 5, 'cosmetic');
"""


def _seed_accounts(url: str, accounts: int) -> None:
    """`accounts` accounts with XP, coins, this week's XP and a guild each (accounts / 100 guilds)."""
    script = SEED_ACCOUNTS.format(base=DISCORD_BASE, accounts=accounts, guilds=max(1, accounts // 100))
    with psycopg.connect(url, autocommit=True) as c:
        c.execute(script.encode())
        c.execute("VACUUM ANALYZE")


def _migrations_match(url: str) -> bool:
    with psycopg.connect(url) as c:
        landed = {(int(r[0]), str(r[1])) for r in c.execute("SELECT version, checksum FROM schema_migrations")}
    return landed == {(m.version, m.checksum) for m in db.discover()}


def _accounts_db(admin: str, name: str, accounts: int) -> tuple[str, str]:
    """A database `name` with `accounts` seeded accounts; (url, how it was made). Up to 100,000 it is seeded
    fresh; above, a kept template (ttfd_bench_tpl_<accounts>, seeded once per set of migrations) is copied."""
    if accounts <= 100_000:
        t0 = time.perf_counter()
        url = _fresh_db(admin, name)
        _seed_accounts(url, accounts)
        return url, f"seeded in {time.perf_counter() - t0:.1f} s"
    template = f"ttfd_bench_tpl_{accounts}"
    how = "template kept from an earlier run"
    with psycopg.connect(admin, autocommit=True) as c:
        exists = c.execute("SELECT 1 FROM pg_database WHERE datname = %s", (template,)).fetchone() is not None
    if not exists or not _migrations_match(db.with_dbname(admin, template)):
        t0 = time.perf_counter()
        _seed_accounts(_fresh_db(admin, template), accounts)
        how = f"template seeded in {time.perf_counter() - t0:.0f} s"
    t0 = time.perf_counter()
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        c.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template)))
    url = db.with_dbname(admin, name)
    db.migrate(url)
    return url, f"{how}, copied in {time.perf_counter() - t0:.0f} s"


def _bench_users(accounts: int) -> list[int]:
    step = max(1, accounts // BENCH_USERS)
    return [DISCORD_BASE + g for g in range(1, accounts + 1, step)][:BENCH_USERS]


def _warm_users(url: str, env: dict[str, str], commands: Commands) -> None:
    """Every bench user once through the function, as the payloads name them and in the bench's guild
    (so reads take the read path), with an item to list and a game played; then ANALYZE."""
    by_name = {c.label: c for c in COMMANDS}
    with psycopg.connect(url, autocommit=True) as c:  # enough coins for every /buy and bet of the run
        c.execute("UPDATE unified_users SET coins = coins + 1000000 WHERE discord_id = ANY(%s)", (commands.users,))
    with _function("discord_interactions", "main.py", env) as (fn_url, _):
        _wait_ready(fn_url, _signed(PING))
        for label in ("/profile", "/buy item:Sticker", "/coinflip bet:10"):
            _load(fn_url, [commands.call(by_name[label], u) for u in commands.users])
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("ANALYZE")


def _claims(url: str) -> int:
    with psycopg.connect(url) as c:
        row = c.execute("SELECT count(*) FROM idempotency_keys").fetchone()
    return int(row[0]) if row else 0


def _run(
    admin: psycopg.Connection[Any],
    url: str,
    env: dict[str, str],
    target: str,
    source: str,
    reqs: list[Call],
) -> Result:
    """One scenario behind its own server: the first tenth of the requests warms up, the rest is measured."""
    dbname = str(psycopg.conninfo.conninfo_to_dict(url)["dbname"])
    with _function(target, source, env) as (fn_url, proc):
        _wait_ready(fn_url, _signed(PING))
        _load(fn_url, reqs[: len(reqs) // 10])
        meter = Meter(admin, dbname, proc.pid)
        claims0 = _claims(url)
        f0, g0, l0 = meter.read()
        r = _load(fn_url, reqs[len(reqs) // 10 :])
        f1, g1, l1 = meter.read()
        claims1 = _claims(url)
    m = len(reqs) - len(reqs) // 10
    return Result(
        r["rps"],
        r["p50"],
        r["p99"],
        int(r["errors"]),
        (f1 - f0) / m * 1000,
        (g1 - g0) / m * 1000,
        (l1 - l0) / m * 1000,
        (claims1 - claims0) / m,
    )


def _ratio_cell(result: Result, base: float, kind: str) -> tuple[str, str]:
    ratio = result.rps / base
    goal = {"read": READ_TARGET, "write": WRITE_TARGET}.get(kind)
    if goal is None:
        return f"{ratio:.2f}×", ""
    return f"{ratio:.2f}×", f"≥ {goal}× {'✔' if ratio >= goal else '✘'}"


def bench_http(admin: str, n: int = 2000, accounts: int = BENCH_USERS, prepared: tuple[str, ...] = ("off",)) -> None:
    """Every chat command under load at CONCURRENCY, beside the bare signed PONG, in the same run; with
    prepared statements off (the pooler default) and/or on (a direct connection), each against its own bare
    baselines (the one before and the one after)."""
    url, how = _accounts_db(admin, "ttfd_bench", accounts)
    env = _env(url)
    commands = Commands(_bench_users(accounts))
    t0 = time.perf_counter()
    _warm_users(url, env, commands)
    print(
        f"\n{accounts:,} accounts in {max(1, accounts // 100):,} guilds ({how}); {len(commands.users)} bench users "
        f"warmed up through the function in {time.perf_counter() - t0:.1f} s, then ANALYZE"
    )
    bare: list[Result] = []
    by_mode: dict[str, list[Result]] = {}
    with psycopg.connect(admin, autocommit=True) as conn:
        bare.append(_run(conn, url, env, "bare", "bench/bare.py", [_signed(PING) for _ in range(n)]))
        peer = _run(conn, url, env, "bench.peer:app", PEER, commands.calls(PEER_PING, n))
        for mode in prepared:
            menv = {**env, "TTFD_PREPARED_STATEMENTS": mode}
            by_mode[mode] = [
                _run(conn, url, menv, "discord_interactions", "main.py", commands.calls(c, n)) for c in COMMANDS
            ]
            bare.append(_run(conn, url, env, "bare", "bench/bare.py", [_signed(PING) for _ in range(n)]))
    header = ["command", "req/s", "p50 ms", "p99 ms", "vs bare", "target", "fn CPU", "PG CPU", "loadgen CPU",
              "claims/req", "errors"]  # fmt: skip
    for i, mode in enumerate(prepared):
        base = (bare[i].rps + bare[i + 1].rps) / 2
        rows = [
            [f"bare verify+PONG (baseline, runs {i + 1} and {i + 2})", f"{base:.0f}",
             f"{(bare[i].p50 + bare[i + 1].p50) / 2:.2f}", f"{max(bare[i].p99, bare[i + 1].p99):.2f}", "1.00×", "",
             f"{(bare[i].fn_ms + bare[i + 1].fn_ms) / 2:.2f}", "", f"{(bare[i].gen_ms + bare[i + 1].gen_ms) / 2:.2f}",
             "", str(bare[i].errors + bare[i + 1].errors)]
        ]  # fmt: skip
        rows.append([PEER_LABEL, f"{peer.rps:.0f}", f"{peer.p50:.2f}", f"{peer.p99:.2f}", f"{peer.rps / base:.2f}×",
                     "", f"{peer.fn_ms:.2f}", "", f"{peer.gen_ms:.2f}", "", str(peer.errors)])  # fmt: skip
        for command, r in zip(COMMANDS, by_mode[mode], strict=True):
            ratio, goal = _ratio_cell(r, base, command.kind)
            p99 = f"{r.p99:.2f} {'✔' if r.p99 <= P99_TARGET_MS else '✘'}"
            rows.append([command.label, f"{r.rps:.0f}", f"{r.p50:.2f}", p99, ratio, goal, f"{r.fn_ms:.2f}",
                         f"{r.pg_ms:.2f}", f"{r.gen_ms:.2f}", f"{r.claims:.2f}", str(r.errors)])  # fmt: skip
            if command.label == "/profile":
                vs = r.rps / peer.rps
                rows.append(["/profile against the peer's /ping", "", "", "", f"{vs:.2f}× peer",
                             f"≥ {PEER_TARGET}× {'✔' if vs >= PEER_TARGET else '✘'}", "", "", "", "", ""])  # fmt: skip
        _table(
            f"Chat commands, prepared statements {mode}{' (the default)' if mode == 'off' else ''}: gunicorn "
            f"(functions-framework, 1 worker), {CONCURRENCY} concurrent clients, {n - n // 10} requests each "
            f"after {n // 10} warm-up, {accounts:,} accounts; p99 target ≤ {P99_TARGET_MS:.0f} ms; CPU ms per "
            "request of the function's processes, the database's backends and the load generator",
            header,
            rows,
        )
    _round_trips(url, env, commands)


def _round_trips(url: str, env: dict[str, str], commands: Commands, n: int = 200) -> None:
    """Round trips per command, counted in-process (functions-framework's test client, psycopg's waits)."""
    spec = json.dumps({"n": n, "users": commands.users})
    out = subprocess.run(
        [PY, "-m", "bench.inproc", spec], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout
    rows = []
    for line in out.splitlines():
        if not line.startswith('{"label"'):
            continue  # the function's own metric lines (TTFD_METRICS=emf) share stdout
        r = json.loads(line)
        rows.append([r["label"], f"{r['round_trips']:.2f}", f"{r['wall_ms']:.2f}", f"{r['cpu_ms']:.2f}",
                     f"{r['wait_ms']:.2f}", f"{r['cpu_ms'] - r['wait_cpu_ms']:.2f}"])  # fmt: skip
    _table(
        f"In-process, one request at a time ({n} each after a warm-up, prepared statements off): round trips "
        "to Postgres per request and where the function's time goes",
        ["command", "round trips", "wall ms", "CPU ms", "in psycopg waits ms", "CPU outside the waits ms"],
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


def _first_answer(target: str, source: str, call: Call, env: dict[str, str]) -> tuple[float, float, int]:
    """Start a functions-framework process and send `call` until it answers 200: (seconds from the start to
    that answer, the process tree's CPU seconds including its shutdown, the status)."""
    port = _free_port()
    method, path, body, headers = call
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [PY, "-m", "functions_framework", "--target", target, "--source", source, "--port", str(port),
         "--host", "127.0.0.1"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    status = 0
    while time.perf_counter() - t0 < 60:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            resp.read()
            status = resp.status
            conn.close()
            if status == 200:
                break
        except OSError:
            time.sleep(0.003)
    elapsed = time.perf_counter() - t0
    proc.terminate()
    _, _, usage = os.wait4(proc.pid, 0)
    proc.returncode = 0  # reaped above
    return elapsed, usage.ru_utime + usage.ru_stime, status


COLD_TARGET, TELEGRAM_TARGET_S = 1.5, 1.0


def bench_cold_start(admin: str, rounds: int = 5) -> None:
    """Whole process as a user meets it: functions-framework start to the first 200, each function timed
    right after its bare baseline (a pair), `rounds` pairs each after one warm-up round; ratio per pair."""
    url, _ = _accounts_db(admin, "ttfd_bench_cold", BENCH_USERS)
    env = {**_env(url), "SESSION_SECRET": "bench-session-secret-0123456789abcdef", "SITE_URL": "http://127.0.0.1"}
    # Deployed packages ship bytecode (the AWS package: devtools/bytecode.py); with PYTHONDONTWRITEBYTECODE set,
    # as here, every cold start would otherwise also compile our sources. __pycache__ is gitignored.
    compiled = [PY, "-m", "compileall", "-q", "ttfd", "functions", "webhooks", "main.py"]
    subprocess.run(compiled, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    with psycopg.connect(url) as c:
        ids = [int(r[0]) for r in c.execute("SELECT id FROM unified_users ORDER BY id LIMIT 100")]

    def profile() -> Call:
        data = {"name": "profile", "type": 1, "options": []}
        user = DISCORD_BASE + random.randint(1, BENCH_USERS)
        return _signed(simulate.discord_payload(app_id=APP_ID, user=user, guild=1, data=data))

    def tg_start() -> Call:
        upd = simulate.telegram_update("/start", user=random.randint(1, 10**9))
        headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
        return "POST", "/", json.dumps(upd).encode(), headers

    def get(path: Callable[[], str]) -> Callable[[], Call]:
        return lambda: ("GET", path(), b"", {})

    bare: tuple[str, str, Callable[[], Call]] = ("bare", "bench/bare.py", lambda: _signed(PING))
    bare_json: tuple[str, str, Callable[[], Call]] = ("bare_json", "bench/bare.py", get(lambda: "/"))
    cases: list[tuple[str, tuple[str, str, Callable[[], Call]], tuple[str, str, Callable[[], Call]]]] = [
        ("discord_interactions (PING → PONG)", ("discord_interactions", "main.py", lambda: _signed(PING)), bare),
        ("discord_interactions (/profile)", ("discord_interactions", "main.py", profile), bare),
        ("api_profile (GET /<id>)", ("api_profile", "main.py", get(lambda: f"/{random.choice(ids)}")), bare_json),
        ("api_leaderboard (GET /)", ("api_leaderboard", "main.py", get(lambda: "/")), bare_json),
        ("api_shop (GET /)", ("api_shop", "main.py", get(lambda: "/")), bare_json),
        ("api_seasons (GET /)", ("api_seasons", "main.py", get(lambda: "/")), bare_json),
        ("telegram_webhook (/start, a new person)", ("telegram_webhook", "main.py", tg_start), bare),
    ]
    samples: dict[str, list[tuple[float, float, float, float]]] = {label: [] for label, _, _ in cases}
    for round_ in range(rounds + 1):
        for label, (target, source, make), (btarget, bsource, bmake) in cases:
            b, bcpu, bstatus = _first_answer(btarget, bsource, bmake(), env)
            t, cpu, status = _first_answer(target, source, make(), env)
            if status != 200 or bstatus != 200:
                raise RuntimeError(f"cold start of {label}: status {status} (baseline {bstatus})")
            if round_:  # the first round warms the page cache
                samples[label].append((t, b, cpu, bcpu))
    rows = []
    for label, _, _ in cases:
        got = samples[label]
        ratios = sorted(t / b for t, b, _, _ in got)
        med_t = statistics.median(t for t, _, _, _ in got)
        if label.startswith("telegram"):
            verdict = f"≤ {TELEGRAM_TARGET_S:.1f} s {'✔' if med_t <= TELEGRAM_TARGET_S else '✘'}"
        else:
            verdict = f"≤ {COLD_TARGET}× {'✔' if statistics.median(ratios) <= COLD_TARGET else '✘'}"
        rows.append([label, f"{med_t * 1000:.0f}", f"{statistics.median(b for _, b, _, _ in got) * 1000:.0f}",
                     f"{statistics.median(ratios):.2f}× ({ratios[0]:.2f}–{ratios[-1]:.2f})", verdict,
                     f"{statistics.median(c for _, _, c, _ in got) * 1000:.0f}",
                     f"{statistics.median(c for _, _, _, c in got) * 1000:.0f}"])  # fmt: skip
    _table(
        f"Cold start, whole process: functions-framework start → first 200, each function paired with a bare "
        f"functions-framework function (PONG for chat, a JSON GET for the site), median of {rounds} pairs",
        ["function", "ms", "bare ms", "vs bare (min–max)", "target", "CPU ms", "bare CPU ms"],
        rows,
    )


def _explain_ms(conn: psycopg.Connection[Any], query: str, params: dict[str, Any]) -> float:
    plan = conn.execute(sql.SQL("EXPLAIN (ANALYZE, FORMAT JSON) ") + sql.SQL(query), params).fetchone()
    assert plan is not None
    return float(plan["QUERY PLAN"][0]["Execution Time"])


def bench_leaderboard(admin: str, samples: int = 200) -> None:
    from psycopg.rows import dict_row

    from ttfd.features.leaderboards import service as economy

    url, how = _accounts_db(admin, "ttfd_bench_lb", 1_000_000)
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
        f"Leaderboards at 1,000,000 users ({how}; server-side execution ms)",
        ["board", "top10 p50", "position p50", "position p99", "position max", "client wall p50", "users"],
        rows,
    )
    print(f"  for scale, a naive COUNT(*) of users above the median XP takes {count_ms:.1f} ms server-side")


def main(accounts: int = BENCH_USERS, prepared: tuple[str, ...] = ("off",)) -> None:
    admin = _admin()
    t0 = time.perf_counter()
    print(f"platform benchmark on {platform_info()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    bench_http(admin, accounts=accounts, prepared=prepared)
    if accounts == BENCH_USERS:  # a cold start reads one account: the number of others does not change it
        bench_cold_start(admin)
    bench_leaderboard(admin)
    print(f"\nplatform benchmark took {time.perf_counter() - t0:.0f} s")


def platform_info() -> str:
    return f"{os.cpu_count()} cores, Python {sys.version.split()[0]}"
