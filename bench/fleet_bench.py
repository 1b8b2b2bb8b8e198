"""Fleet benchmark (`make bench BENCH=fleet`): what the capacity model in the README is built on, measured the way
a deployment runs — functions-framework gunicorn processes (1 worker each, as one function instance with
TTFD_POOL_SIZE connections) all reaching one Postgres through one PgBouncer 1.18 in transaction mode
(prepared statements off, as they must be behind it), against 1,000,000 seeded accounts by default.

1. Each chat command alone through one process, CONCURRENCY clients: CPU ms per command of the function's
   processes, PgBouncer, the bench database's Postgres backends, Postgres' background processes (server-wide:
   WAL writer, checkpointer, autovacuum) and the load generator; what the machine's other work took meanwhile;
   PgBouncer's transactions, queries and server-connection time per command; what the backends were doing
   (sampled); round trips per command in-process (bench.inproc). Besides the platform bench's commands: /buy
   of an item with limited stock (its row locked FOR UPDATE: the hot row) and a Telegram group message.
2. The fleet: K processes behind the same PgBouncer sending a command mix (70 % reads, 30 % writes), in two
   shapes: Cloud Run-like instances (4 requests at a time, TTFD_POOL_SIZE 4; K = 1, 2, 4; 16 clients in all)
   and Lambda-like ones (1 at a time, TTFD_POOL_SIZE 1; K = 1, 2, 4, 8; 2 clients each): req/s, p50, p99 and
   the same CPU split per K. Postgres CPU ms per command gives commands per second per Postgres vCPU
   (1000 / ms).
3. Commands per second per Postgres vCPU for a few mixes, from (1).

`--accounts N` seeds N accounts instead (a kept template above 100,000, shared with the platform bench).
"""

from __future__ import annotations

import http.client
import json
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg.rows import dict_row

from bench.burst_bench import _tg
from bench.platform_bench import (
    _TICK,
    COMMANDS,
    CONCURRENCY,
    PING,
    PY,
    ROOT,
    Call,
    Command,
    Commands,
    _accounts_db,
    _admin,
    _bench_users,
    _cpu_s,
    _env,
    _free_port,
    _function,
    _signed,
    _table,
    _tree,
    _wait_ready,
    _warm_users,
    platform_info,
)
from ttfd.core import failures

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
ACCOUNTS = 1_000_000
DB_NAME = "ttfd_bench_fleet"
POOL_SIZE = 8  # PgBouncer's default_pool_size: server connections to the bench database (2 cores here)
MAX_CLIENT_CONN = 200  # ≥ K processes × TTFD_POOL_SIZE (8 by default) with room for the meters
CLIENTS = 16  # the Cloud Run-like fleet's concurrent clients, spread evenly over its K processes


@dataclass(frozen=True)
class Shape:
    """How a fleet's instances are built: gunicorn threads per process (requests one instance serves at once),
    TTFD_POOL_SIZE, clients per process (None: CLIENTS in all, spread), and the instance counts K to run."""

    name: str
    threads: int
    pool: int
    clients_per: int | None
    sizes: tuple[int, ...]

    def clients(self, k: int) -> int:
        return CLIENTS if self.clients_per is None else self.clients_per * k


SHAPES = (
    Shape("Cloud Run-like", 4, 4, None, (1, 2, 4)),  # deploy/gcp.sh: --concurrency 4, TTFD_POOL_SIZE 4
    Shape("Lambda-like", 1, 1, 2, (1, 2, 4, 8)),  # one request at a time, TTFD_POOL_SIZE 1 (serverless.yml)
)
TG_BASE, TG_USERS, TG_CHAT = 6_000_000_000, 500, -1_001_234_567_890
LIMITED = Command("/buy item:Limited (stock: row FOR UPDATE)", "write", "/buy item:Limited")
TELEGRAM = "Telegram group message (counted; XP once a minute)"
FAILED = (str(failures.GENERIC), str(failures.BUSY))  # a 200 that says we failed is an error too

# Command mixes by label: the fleet runs CHAT; the others are computed from the per-command costs.
READS = ["/profile", "/rank", "/leaderboard", "/shop", "/inventory"]
DAILY, COINFLIP, BUY = "/daily (a new account's first claim)", "/coinflip bet:10", "/buy item:Sticker"
CHAT: dict[str, float] = {**{r: 0.14 for r in READS}, DAILY: 0.10, COINFLIP: 0.10, BUY: 0.10}
MIXES: dict[str, dict[str, float]] = {
    "read-heavy: 90 % reads, 10 % writes": {**{r: 0.18 for r in READS}, DAILY: 0.04, COINFLIP: 0.04, BUY: 0.02},
    "chat: 70 % reads, 30 % writes (the fleet's mix)": CHAT,
    "games: 50 % reads, 50 % writes": {**{r: 0.10 for r in READS}, DAILY: 0.10, COINFLIP: 0.35, BUY: 0.05},
}


# --- PgBouncer: a throwaway in transaction mode, as tests/test_pgbouncer.py starts it -------------------------


@dataclass
class Bouncer:
    port: int
    proc: subprocess.Popen[bytes]

    def url(self, direct: str) -> str:
        """`direct` (a database URL) through this PgBouncer."""
        info = psycopg.conninfo.conninfo_to_dict(direct)
        return psycopg.conninfo.make_conninfo("", **{**info, "host": "127.0.0.1", "port": str(self.port)})

    def console(self) -> psycopg.Connection[dict[str, Any]]:
        """PgBouncer's admin console (SHOW STATS, SHOW POOLS)."""
        return psycopg.connect(  # simple statements only: psycopg would prepare a repeated one, which it refuses
            f"host=127.0.0.1 port={self.port} user=postgres dbname=pgbouncer",
            autocommit=True,
            row_factory=dict_row,
            prepare_threshold=None,
        )


@contextmanager
def pgbouncer(admin: str) -> Iterator[Bouncer]:
    """PgBouncer in transaction mode in front of `admin`'s server on a free port; as root it runs as postgres
    (it refuses root), so its directory is not under a private temp dir and is world-writable."""
    target = psycopg.conninfo.conninfo_to_dict(admin)
    user = str(target.get("user", "postgres"))
    with tempfile.TemporaryDirectory(prefix="ttfd-fleet-pgbouncer-") as tmp:
        work = Path(tmp)
        work.chmod(0o777)
        port = _free_port()
        (work / "users.txt").write_text(f'"{user}" ""\n')
        (work / "pgbouncer.ini").write_text(
            f"""[databases]
* = host={target.get("host", "127.0.0.1")} port={target.get("port", 5432)}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {work}/users.txt
admin_users = {user}
log_connections = 0
log_disconnections = 0
pool_mode = transaction
default_pool_size = {POOL_SIZE}
max_client_conn = {MAX_CLIENT_CONN}
logfile = {work}/pgbouncer.log
pidfile = {work}/pgbouncer.pid
"""
        )
        as_user = ["-u", "postgres"] if os.geteuid() == 0 else []
        # Its log goes to the logfile; stderr (which gets a copy) is not a pipe nobody reads, or it blocks.
        proc = subprocess.Popen([PGBOUNCER, *as_user, str(work / "pgbouncer.ini")], stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    psycopg.connect(f"host=127.0.0.1 port={port} user={user} dbname=pgbouncer").close()
                    break
                except psycopg.OperationalError:
                    if proc.poll() is not None:
                        log = (work / "pgbouncer.log").read_text() if (work / "pgbouncer.log").exists() else ""
                        raise RuntimeError(f"pgbouncer exited: {log[-2000:]}") from None
                    if time.monotonic() > deadline:
                        raise RuntimeError("pgbouncer did not start") from None
                    time.sleep(0.05)
            yield Bouncer(port, proc)
        finally:
            proc.terminate()
            proc.wait(10)


# --- what each side spent: CPU from /proc, PgBouncer's counters, sampled backend states --------------------


def _machine_busy_s() -> float:
    """CPU seconds every core of the machine spent on anything but idling, so far."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / _TICK  # less idle and iowait


@dataclass
class Snapshot:
    fn: float
    bouncer: float
    pg: dict[int, float]  # the bench database's client backends: pid → CPU s
    pg_bg: dict[int, float]  # Postgres' background processes, server-wide
    gen: float
    machine: float
    stats: dict[str, float]  # PgBouncer's SHOW STATS totals for the bench database


def _grown(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU s spent between two readings by processes alive at the second (one started meanwhile counts whole)."""
    return sum(v - before.get(pid, 0.0) for pid, v in after.items())


class FleetMeter:
    """CPU seconds so far of the fleet's processes, PgBouncer, Postgres (the bench database's backends; its
    background processes), this process and the whole machine; PgBouncer's counters."""

    def __init__(self, setup: Setup, fn_pids: list[int]) -> None:
        self.admin, self.console, self.dbname, self.fn_pids = setup.conn, setup.console, setup.dbname, fn_pids
        self.bouncer = setup.bouncer

    def read(self) -> Snapshot:
        rows = self.admin.execute(
            "SELECT pid, backend_type, datname FROM pg_stat_activity WHERE pid <> pg_backend_pid()"
        ).fetchall()
        pg = {int(r[0]): _cpu_s(int(r[0])) for r in rows if r[1] == "client backend" and r[2] == self.dbname}
        bg = {int(r[0]): _cpu_s(int(r[0])) for r in rows if r[1] != "client backend"}
        stats = next((r for r in self.console.execute("SHOW STATS") if r["database"] == self.dbname), {})
        return Snapshot(
            sum(_cpu_s(p) for pid in self.fn_pids for p in _tree(pid)),
            _cpu_s(self.bouncer.proc.pid),
            pg,
            bg,
            time.process_time(),
            _machine_busy_s(),
            {k: float(v) for k, v in stats.items() if k.startswith("total_")},
        )


_STATES = """
SELECT count(*) FILTER (WHERE state = 'active' AND wait_event_type IS DISTINCT FROM 'Lock') AS running,
       count(*) FILTER (WHERE state = 'active' AND wait_event_type = 'Lock') AS locked,
       count(*) FILTER (WHERE state LIKE 'idle in transaction%%') AS in_xact
FROM pg_stat_activity WHERE datname = %s AND backend_type = 'client backend'
"""


class Sampler(threading.Thread):
    """Every `every` s: the bench database's backends running a statement, waiting on a lock (a row another
    transaction holds), or idle inside a transaction (waiting for the function's next statement); PgBouncer's
    clients waiting for a server connection. Averages over the run."""

    def __init__(self, admin: str, bouncer: Bouncer, dbname: str, every: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.admin, self.bouncer, self.dbname, self.every = admin, bouncer, dbname, every
        self.done = threading.Event()
        self.samples: list[tuple[int, int, int, int]] = []

    def run(self) -> None:
        with psycopg.connect(self.admin, autocommit=True) as pg, self.bouncer.console() as console:
            while not self.done.wait(self.every):
                row = pg.execute(_STATES, (self.dbname,)).fetchone()
                pools = [r for r in console.execute("SHOW POOLS") if r["database"] == self.dbname]
                assert row is not None
                waiting = sum(int(r["cl_waiting"]) for r in pools)
                self.samples.append((int(row[0]), int(row[1]), int(row[2]), waiting))

    def averages(self) -> tuple[float, float, float, float]:
        self.done.set()
        self.join()
        if not self.samples:
            return 0.0, 0.0, 0.0, 0.0
        n = len(self.samples)
        a, b, c, d = (sum(s[i] for s in self.samples) / n for i in range(4))
        return a, b, c, d


# --- load: keep-alive clients spread evenly over the fleet's processes --------------------------------------


@dataclass
class Load:
    rps: float
    p50: float
    p99: float
    errors: int
    n: int


def _spread(urls: list[str], calls: list[Call], clients: int) -> Load:
    """Send every call with `clients` keep-alive clients, client i to process i mod K. http.client, not httpx:
    the load generator shares the cores with what it measures (0.2–0.6 ms of CPU per request this way, 2–3 ms
    with httpx clients at 16 threads)."""
    latencies: list[float] = []
    lock = threading.Lock()
    errors = [0]
    failed = [f.encode() for f in FAILED]

    def worker(url: str, chunk: list[Call]) -> None:
        mine, bad = [], 0
        where = urlsplit(url)
        conn = http.client.HTTPConnection(where.hostname or "127.0.0.1", where.port, timeout=30)
        for method, path, body, headers in chunk:
            t0 = time.perf_counter()
            for attempt in (1, 2):  # a keep-alive connection the server closed meanwhile: once more, anew
                try:
                    conn.request(method, path, body=body, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                    break
                except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                    conn.close()
                    if attempt == 2:
                        raise
            mine.append(time.perf_counter() - t0)
            if not 200 <= resp.status < 300 or any(f in data for f in failed):
                bad += 1
        conn.close()
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    threads = [threading.Thread(target=worker, args=(urls[i % len(urls)], calls[i::clients])) for i in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    latencies.sort()
    return Load(
        len(calls) / elapsed,
        statistics.median(latencies) * 1000,
        latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000,
        errors[0],
        len(calls),
    )


@dataclass
class Measured:
    load: Load
    k: int
    clients: int
    # CPU ms per request
    fn: float
    bouncer: float
    pg: float
    pg_bg: float
    gen: float
    others: float  # the machine's CPU beyond all of the above: other work sharing it
    busy: float  # the machine's CPU use, % of all its cores
    # PgBouncer per request: transactions, queries, ms a server connection was held, ms waited for one
    xacts: float
    queries: float
    xact_ms: float
    wait_ms: float
    # sampled averages: backends running, waiting on a lock, idle in a transaction; clients waiting in PgBouncer
    running: float
    locked: float
    in_xact: float
    cl_waiting: float

    @property
    def per_vcpu(self) -> float:
        """Commands per second one Postgres vCPU would run at 100 %: 1000 / Postgres CPU ms per command."""
        return 1000 / self.pg if self.pg > 0 else float("inf")


@dataclass
class Setup:
    admin: str  # admin URL (Postgres, direct)
    conn: psycopg.Connection[Any]  # an admin connection for the meter
    console: psycopg.Connection[dict[str, Any]]  # PgBouncer's, for the meter
    dbname: str
    bouncer: Bouncer
    env: dict[str, str]  # the functions' environment: DATABASE_URL through PgBouncer


@contextmanager
def _fleet(
    setup: Setup, k: int, target: str, probe: Call, extra: dict[str, str] | None = None
) -> Iterator[list[tuple[str, int]]]:
    """K functions-framework processes serving `target`, started together, each answering `probe`."""
    env = {**setup.env, **(extra or {})}
    with ExitStack() as stack:
        procs = [stack.enter_context(_function(target, "main.py", env)) for _ in range(k)]
        for url, _ in procs:
            _wait_ready(url, probe)
        yield [(url, proc.pid) for url, proc in procs]


def _measure(setup: Setup, fleet: list[tuple[str, int]], calls: list[Call], clients: int) -> Measured:
    """The first tenth of `calls` warms the fleet up (pools, imports), the rest is measured."""
    urls = [u for u, _ in fleet]
    cut = len(calls) // 10
    _spread(urls, calls[:cut], clients)
    meter = FleetMeter(setup, [pid for _, pid in fleet])
    sampler = Sampler(setup.admin, setup.bouncer, setup.dbname)
    s0 = meter.read()
    sampler.start()
    load = _spread(urls, calls[cut:], clients)
    states = sampler.averages()
    s1 = meter.read()
    m = load.n
    fn, bouncer, gen = s1.fn - s0.fn, s1.bouncer - s0.bouncer, s1.gen - s0.gen
    pg, pg_bg = _grown(s0.pg, s1.pg), _grown(s0.pg_bg, s1.pg_bg)
    machine = s1.machine - s0.machine
    wall = m / load.rps

    def stat(name: str) -> float:
        return (s1.stats.get(name, 0.0) - s0.stats.get(name, 0.0)) / m

    return Measured(
        load,
        len(fleet),
        clients,
        fn / m * 1000,
        bouncer / m * 1000,
        pg / m * 1000,
        pg_bg / m * 1000,
        gen / m * 1000,
        max(0.0, machine - fn - bouncer - pg - pg_bg - gen) / m * 1000,
        machine / wall / (os.cpu_count() or 1) * 100,
        stat("total_xact_count"),
        stat("total_query_count"),
        stat("total_xact_time") / 1000,  # PgBouncer counts µs
        stat("total_wait_time") / 1000,
        *states,
    )


# --- 1. each command alone ----------------------------------------------------------------------------------


def _tg_calls(users: list[int], n: int) -> list[Call]:
    return [_tg(random.choice(["hello", "gg", "what's up?"]), random.choice(users), TG_CHAT) for _ in range(n)]


def _round_trip_counts(env: dict[str, str], commands: Commands, n: int = 200) -> dict[str, float]:
    """Round trips per command, counted in-process by bench.inproc (prepared statements off)."""
    spec = json.dumps({"n": n, "users": commands.users})
    out = subprocess.run(
        [PY, "-m", "bench.inproc", spec], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return {r["label"]: float(r["round_trips"]) for r in rows if "round_trips" in r}  # not metric lines (EMF)


def bench_commands(setup: Setup, commands: Commands, n: int = 2000) -> tuple[dict[str, Measured], dict[str, float]]:
    """Each chat command alone through one process; then a Telegram group message; then round trips."""
    results: dict[str, Measured] = {}
    for command in [*COMMANDS, LIMITED]:
        with _fleet(setup, 1, "discord_interactions", _signed(PING)) as fleet:
            results[command.label] = _measure(setup, fleet, commands.calls(command, n), CONCURRENCY)
    tg_users = [TG_BASE + i for i in range(TG_USERS)]
    with _fleet(setup, 1, "telegram_webhook", _tg("hi", TG_BASE - 1, TG_CHAT)) as fleet:
        _spread([u for u, _ in fleet], [_tg("hi", u, TG_CHAT) for u in tg_users], CONCURRENCY)  # their accounts
        results[TELEGRAM] = _measure(setup, fleet, _tg_calls(tg_users, n), CONCURRENCY)
    trips = _round_trip_counts(setup.env, commands)
    rows = []
    for label, r in results.items():
        rows.append([label, f"{r.load.rps:.0f}", f"{r.load.p50:.1f}", f"{r.load.p99:.1f}", f"{r.fn:.2f}",
                     f"{r.bouncer:.2f}", f"{r.pg:.2f}", f"{r.pg_bg:.2f}", f"{r.gen:.2f}", f"{r.others:.2f}",
                     f"{r.busy:.0f}", str(r.load.errors)])  # fmt: skip
    _table(
        f"1. Each command alone: 1 process (functions-framework gunicorn, 1 worker, {(os.cpu_count() or 1) * 4} "
        "threads, TTFD_POOL_SIZE 8: the defaults) → PgBouncer (transaction mode, "
        f"default_pool_size {POOL_SIZE}) → Postgres, {CONCURRENCY} clients, {n - n // 10} requests after "
        f"{n // 10} warm-up, prepared statements off; CPU ms per request: the function, PgBouncer, the bench "
        "database's backends, Postgres' background processes (server-wide), the load generator, the rest of the "
        "machine (other work)",
        ["command", "req/s", "p50 ms", "p99 ms", "fn", "PgB", "PG", "PG bg", "loadgen", "others", "busy %",
         "errors"],
        rows,
    )  # fmt: skip
    rows = []
    for label, r in results.items():
        trip = trips.get(BUY if label == LIMITED.label else label)
        rows.append([label, "" if trip is None else f"{trip:.0f}", f"{r.queries:.2f}", f"{r.xacts:.2f}",
                     f"{r.xact_ms:.2f}", f"{r.wait_ms:.3f}", f"{r.running:.1f}", f"{r.locked:.1f}",
                     f"{r.in_xact:.1f}", f"{r.cl_waiting:.1f}", f"{r.pg:.2f}", f"{r.per_vcpu:,.0f}"])  # fmt: skip
    _table(
        "1b. The Postgres side of the same runs: round trips per command (in-process, bench.inproc; /buy of the "
        "limited item assumed as /buy's), PgBouncer's queries, transactions and server-connection ms per command "
        "and ms a client waited for one; backends running / waiting on a lock / idle in a transaction and "
        "clients waiting in PgBouncer (sampled averages); Postgres CPU ms per command and what one vCPU runs",
        ["command", "round trips", "PgB queries", "xacts", "conn ms", "wait ms", "running", "lock-wait",
         "idle in xact", "cl_waiting", "PG CPU ms", "cmds/s per PG vCPU"],
        rows,
    )  # fmt: skip
    return results, trips


# --- 2. the fleet -----------------------------------------------------------------------------------------------


def _mix_calls(commands: Commands, mix: dict[str, float], n: int) -> list[Call]:
    by_label = {c.label: c for c in COMMANDS}
    labels = [label for label, w in mix.items() for _ in range(round(w * n))]
    random.shuffle(labels)
    return [commands.call(by_label[label]) for label in labels]


def bench_fleet(setup: Setup, commands: Commands, shape: Shape, n: int = 5000) -> list[Measured]:
    """The chat mix through K processes of one shape behind the one PgBouncer, for each K of the shape."""
    results = []
    extra = {"THREADS": str(shape.threads), "TTFD_POOL_SIZE": str(shape.pool)}
    for k in shape.sizes:
        with _fleet(setup, k, "discord_interactions", _signed(PING), extra) as fleet:
            results.append(_measure(setup, fleet, _mix_calls(commands, CHAT, n), shape.clients(k)))
    base = results[0].load.rps
    rows = []
    for r in results:
        rows.append([str(r.k), str(r.clients), f"{r.load.rps:.0f}", f"{r.load.rps / base:.2f}×", f"{r.load.p50:.1f}",
                     f"{r.load.p99:.1f}", f"{r.fn:.2f}", f"{r.bouncer:.2f}", f"{r.pg:.2f}", f"{r.pg_bg:.2f}",
                     f"{r.gen:.2f}", f"{r.others:.2f}", f"{r.busy:.0f}", str(r.load.errors)])  # fmt: skip
    clients = f"{CLIENTS} clients in all" if shape.clients_per is None else f"{shape.clients_per} clients each"
    _table(
        f"2. The fleet, {shape.name}: K processes (1 worker, {shape.threads} thread{'s' * (shape.threads > 1)}, "
        f"TTFD_POOL_SIZE {shape.pool} each) → one PgBouncer (transaction mode, default_pool_size {POOL_SIZE}) → "
        f"Postgres; {clients}, spread evenly, sending the chat mix (70 % reads: /profile /rank /leaderboard /shop "
        f"/inventory 14 % each; 30 % writes: first /daily, /coinflip, /buy 10 % each), {n - n // 10} requests "
        f"after {n // 10} warm-up; CPU ms per request; busy % of the machine's {os.cpu_count()} cores",
        ["K", "clients", "req/s", "vs K=1", "p50 ms", "p99 ms", "fn", "PgB", "PG", "PG bg", "loadgen", "others",
         "busy %", "errors"],
        rows,
    )  # fmt: skip
    rows = []
    for r in results:
        rows.append([str(r.k), f"{r.queries:.2f}", f"{r.xacts:.2f}", f"{r.xact_ms:.2f}", f"{r.wait_ms:.3f}",
                     f"{r.running:.1f}", f"{r.locked:.2f}", f"{r.in_xact:.1f}", f"{r.cl_waiting:.1f}",
                     f"{r.pg:.2f}", f"{r.per_vcpu:,.0f}", f"{r.load.rps * r.pg / 1000:.2f}"])  # fmt: skip
    _table(
        f"2b. The Postgres side, {shape.name}, per K: PgBouncer's queries, transactions, server-connection ms and "
        "wait ms per command; backends running / lock-waiting / idle in a transaction and PgBouncer clients "
        "waiting (sampled averages); Postgres CPU ms per command, commands/s per Postgres vCPU, Postgres vCPUs "
        "in use",
        ["K", "PgB queries", "xacts", "conn ms", "wait ms", "running", "lock-wait", "idle in xact", "cl_waiting",
         "PG CPU ms", "cmds/s per PG vCPU", "PG vCPUs used"],
        rows,
    )  # fmt: skip
    return results


# --- 3. mixes ----------------------------------------------------------------------------------------------------


def _weighted(mix: dict[str, float], values: dict[str, float]) -> float:
    return sum(w * values[label] for label, w in mix.items())


def model(per_command: dict[str, Measured], trips: dict[str, float], fleets: dict[str, list[Measured]]) -> None:
    rows = []
    for name, mix in MIXES.items():
        pg = _weighted(mix, {k: v.pg for k, v in per_command.items()})
        fn = _weighted(mix, {k: v.fn for k, v in per_command.items()})
        conn = _weighted(mix, {k: v.xact_ms for k, v in per_command.items()})
        rt = _weighted(mix, trips)
        rows.append([name, f"{pg:.2f}", f"{1000 / pg:,.0f}", f"{fn:.2f}", f"{1000 / fn:,.0f}", f"{rt:.1f}",
                     f"{conn:.2f}"])  # fmt: skip
    for r, name in ((r, name) for name, fleet in fleets.items() for r in fleet):
        rows.append([f"chat mix measured, {name} fleet, K={r.k}", f"{r.pg:.2f}", f"{r.per_vcpu:,.0f}", f"{r.fn:.2f}",
                     f"{1000 / r.fn:,.0f}", "", f"{r.xact_ms:.2f}"])  # fmt: skip
    _table(
        "3. Command mixes, weighted from table 1 (and the fleet's own measurement of the chat mix): Postgres CPU ms "
        "per command and commands/s per Postgres vCPU at 100 %; the function's CPU ms per command and commands/s "
        "per function vCPU; round trips and PgBouncer server-connection ms per command",
        ["mix", "PG CPU ms", "cmds/s per PG vCPU", "fn CPU ms", "cmds/s per fn vCPU", "round trips", "conn ms"],
        rows,
    )  # fmt: skip


def main(accounts: int = ACCOUNTS, commands_n: int = 2000, fleet_n: int = 5000) -> None:
    print(f"fleet benchmark on {platform_info()}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    if not Path(PGBOUNCER).exists():
        print("fleet benchmark skipped: PgBouncer is not installed (Debian package 'pgbouncer'; make system-deps)")
        return
    busy0, w0 = _machine_busy_s(), time.perf_counter()
    time.sleep(3)
    idle_busy = (_machine_busy_s() - busy0) / (time.perf_counter() - w0) / (os.cpu_count() or 1) * 100
    print(f"the machine was {idle_busy:.0f} % busy (of all cores) in the 3 s before the run: other work")
    t0 = time.perf_counter()
    admin = _admin()
    url, how = _accounts_db(admin, DB_NAME, accounts)
    with psycopg.connect(url, autocommit=True) as c:  # an item with (plenty of) stock: its row is locked per buy
        c.execute("INSERT INTO shop_items (name, price, kind, stock) VALUES ('Limited', 5, 'cosmetic', 2000000000)")
    env = {k: v for k, v in _env(url).items() if k not in ("TTFD_PREPARED_STATEMENTS", "TTFD_POOL_SIZE")}
    commands = Commands(_bench_users(accounts))
    _warm_users(url, env, commands)
    version = subprocess.run([PGBOUNCER, "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    print(
        f"\n{accounts:,} accounts in {max(1, accounts // 100):,} guilds ({how}); {len(commands.users)} bench users "
        f"warmed up; {version}, transaction mode, default_pool_size {POOL_SIZE}, max_client_conn "
        f"{MAX_CLIENT_CONN}; the functions' TTFD_POOL_SIZE {env.get('TTFD_POOL_SIZE', '8 (default)')}, prepared "
        "statements off"
    )
    with pgbouncer(admin) as bouncer, psycopg.connect(admin, autocommit=True) as conn, bouncer.console() as console:
        setup = Setup(admin, conn, console, DB_NAME, bouncer, {**env, "DATABASE_URL": bouncer.url(url)})
        per_command, trips = bench_commands(setup, commands, commands_n)
        fleets = {shape.name: bench_fleet(setup, commands, shape, fleet_n) for shape in SHAPES}
    model(per_command, trips, fleets)
    print(f"\nfleet benchmark took {time.perf_counter() - t0:.0f} s")
