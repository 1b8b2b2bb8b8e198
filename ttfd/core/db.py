"""Postgres: choosing the server, the per-process pool, transactions and the migration runner."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import random
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from ttfd.core.errors import ConfigError

Conn = psycopg.Connection[DictRow]
T = TypeVar("T")

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[2]
SQL_DIR = ROOT / "sql"
LOCAL_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
EMBEDDED_DIR = ROOT / ".ttfd" / "pg"
_MIGRATION_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Database:
    """Where the data lives and how we found it (printed to the user)."""

    url: str
    source: str


def _answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=2):
            return True
    except psycopg.OperationalError:
        return False


def ensure_database(admin_url: str, name: str, template: str | None = None) -> None:
    """CREATE DATABASE name if it does not exist (optionally from a template)."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return
        stmt = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            stmt = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template))
        with contextlib.suppress(pg_errors.DuplicateDatabase):  # a concurrent process created it first
            conn.execute(stmt)


def with_dbname(url: str, name: str) -> str:
    """The same server URL pointing at another database."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    info["dbname"] = name
    return psycopg.conninfo.make_conninfo("", **info)


def embedded_server(path: Path = EMBEDDED_DIR) -> Any:
    """Start (or reuse) the embedded PostgreSQL 16; pgserver runs it as a 'pgserver' user when we are root.

    It stops when the last process using it exits (or on `.cleanup()`).
    """
    from pgserver.postgres_server import get_server  # only needed when no server answers

    path.mkdir(parents=True, exist_ok=True)
    return get_server(path, cleanup_mode="stop")


def embedded_admin_url(path: Path = EMBEDDED_DIR) -> str:
    """URL of the embedded server's maintenance database."""
    return str(embedded_server(path).get_uri("postgres"))


def select_database(dbname: str = "ttfd", env_var: str = "DATABASE_URL") -> Database:
    """DATABASE_URL if set; else 127.0.0.1:5432 if it answers; else the embedded server."""
    if url := os.environ.get(env_var):
        return Database(url, f"{env_var} from the environment")
    if _answers(LOCAL_ADMIN_URL):
        ensure_database(LOCAL_ADMIN_URL, dbname)
        return Database(with_dbname(LOCAL_ADMIN_URL, dbname), f"local server 127.0.0.1:5432, database {dbname}")
    admin = embedded_admin_url()
    ensure_database(admin, dbname)
    return Database(with_dbname(admin, dbname), f"embedded PostgreSQL under {EMBEDDED_DIR}, database {dbname}")


# --- pool and transactions -------------------------------------------------------------------------
#
# Every function reaches Postgres through this pool, and deployed fleets put a transaction-mode pooler
# (PgBouncer, a provider's own) in front of it. So a connection carries no session state from one
# transaction to the next: each transaction sets its own limits in the statement that opens it
# (`BEGIN; SET LOCAL …`, one round trip, the one BEGIN costs anyway).
#
# Server-side prepared statements are session state too, so they are off unless TTFD_PREPARED_STATEMENTS=on:
# psycopg then sends each parameterised statement unnamed (Parse, Bind, Execute and Sync in one message
# batch, which a transaction-mode pooler keeps on one server connection), never a named one that a later
# transaction might look for on another server connection. Behind PgBouncer 1.18 in transaction mode, 'on'
# fails most requests under concurrency with "prepared statement … does not exist" / "already exists"
# (tests/test_pgbouncer.py counts them). 'on' is for a direct connection or a pooler that tracks
# protocol-level prepared statements (PgBouncer ≥ 1.22 with max_prepared_statements > 0, the default from
# 1.24 — psycopg needs 1.22's DEALLOCATE ALL; Neon's pooler): Postgres then plans each statement once per
# server connection instead of once per execution.

_pool: ConnectionPool[Conn] | None = None
_pool_lock = threading.Lock()
DEFAULT_TIMEOUT_S = 15.0
# Scheduled work holds a transaction across outgoing HTTP calls (each with its own retries).
BACKGROUND_TIMEOUT_S = 120.0
# However long a transaction may take, waiting for a pooled connection longer than this means the instance
# is overloaded: better to say so (Unavailable) than to queue.
MAX_POOL_WAIT_S = 10.0


class Unavailable(Exception):
    """The database could not serve this request in time (pool exhausted, unreachable, connections lost,
    statement timeout, repeated conflicts). Transient: the same request may succeed later, and nothing of
    it was committed — unless the commit itself was cut off, which the inbound claim makes safe to repeat."""


class ConnectionLost(Unavailable):
    """The connection died under us (server restart, terminated backend, network)."""


def database_url() -> str:
    """The URL functions use: DATABASE_URL is required in deployed functions."""
    from ttfd.core.settings import get_settings

    return get_settings().require("database_url")


# Signals SQL raises as `RAISE NOTICE 'ttfd:<name>'` (an achievement unlocked): they arrive with the
# statement's own answer, so code can ask "did that happen?" without another round trip.
_SIGNALS: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()


def _watch_signals(conn: Conn) -> None:
    seen = _SIGNALS.setdefault(conn, set())

    def on_notice(diag: psycopg.errors.Diagnostic) -> None:
        message = diag.message_primary or ""
        if message.startswith("ttfd:"):
            seen.add(message[5:])

    conn.add_notice_handler(on_notice)


def take_signal(conn: Conn, name: str) -> bool:
    """Whether SQL on this connection raised `ttfd:<name>` since the last time it was taken."""
    seen = _SIGNALS.get(conn)
    if seen is None:
        return True  # a connection we do not watch (tests, tools): assume it did
    if name in seen:
        seen.discard(name)
        return True
    return False


def pool() -> ConnectionPool[Conn]:
    """The process-wide pool, opened on first use (cheap cold start when a function never touches SQL)."""
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                p: ConnectionPool[Conn] = ConnectionPool(
                    database_url(),
                    min_size=1,
                    max_size=pool_size(),
                    # autocommit: `transaction` opens each transaction itself, with its settings in the same
                    # statement. prepare_threshold None: nothing is ever prepared by name; 0 (when
                    # TTFD_PREPARED_STATEMENTS=on): every statement is prepared on its first use.
                    kwargs={"row_factory": dict_row, "autocommit": True, "prepare_threshold": _prepare_threshold()},
                    open=False,
                    configure=_watch_signals,
                    name="ttfd",
                    max_idle=120,  # managed Postgres and frozen instances drop idle connections
                )
                # Not waiting here: an unreachable database then costs each request its own deadline
                # (Unavailable), not an exception from pool creation.
                p.open(wait=False)
                _pool = p
    return _pool


POOL_SIZE_MAX = 100


def pool_size() -> int:
    """Connections one instance may hold (TTFD_POOL_SIZE, default 8): every instance's pool counts against the
    pooler's client limit (README, "Database poolers and pool size", says how to size it for a fleet)."""
    raw = os.environ.get("TTFD_POOL_SIZE", "").strip() or "8"
    if not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= POOL_SIZE_MAX):
        raise ConfigError(f"environment variable TTFD_POOL_SIZE must be a whole number from 1 to {POOL_SIZE_MAX}")
    return int(raw)


def prepared_statements() -> bool:
    """Whether statements are prepared by name on the server: only when TTFD_PREPARED_STATEMENTS=on (see above)."""
    raw = os.environ.get("TTFD_PREPARED_STATEMENTS", "").strip().lower()
    if raw not in ("", "on", "off"):
        raise ConfigError("environment variable TTFD_PREPARED_STATEMENTS must be 'on' or 'off'")
    return raw == "on"


def _prepare_threshold() -> int | None:
    return 0 if prepared_statements() else None


def close_pool() -> None:
    """Close the pool (tests switch databases; dev server shutdown)."""
    global _pool
    with _pool_lock:
        if _pool is not None:
            _pool.close()
            _pool = None


@lru_cache(maxsize=256)
def _begin(timeout_ms: int) -> bytes:
    # A statement (or lock wait) may not outlive the caller's deadline; a transaction left idle by a frozen
    # or dying instance is ended by the server instead of holding its row locks.
    stmt = sql.SQL(
        "BEGIN; SET LOCAL statement_timeout = {}; SET LOCAL idle_in_transaction_session_timeout = {}"
    ).format(sql.Literal(timeout_ms), sql.Literal(max(timeout_ms, 10_000)))
    return stmt.as_string().encode()


def _is_lost(conn: Conn) -> bool:
    return conn.closed or conn.broken


@contextmanager
def _pooled(timeout_s: float) -> Iterator[Conn]:
    wait_s = min(timeout_s, MAX_POOL_WAIT_S)
    try:
        conn = pool().getconn(timeout=wait_s)
    except PoolTimeout as exc:
        raise Unavailable(f"no database connection within {wait_s:g} s") from exc
    try:
        yield conn
    finally:
        pool().putconn(conn)  # a broken connection is discarded and replaced by the pool


def _transient(conn: Conn, exc: BaseException) -> None:
    """Raise the transient kind of a database error (ConnectionLost, Unavailable), if it is one."""
    if isinstance(exc, psycopg.OperationalError):
        if _is_lost(conn):
            raise ConnectionLost(str(exc)) from exc
        if isinstance(exc, pg_errors.QueryCanceled):
            raise Unavailable("a statement ran past the deadline") from exc


@contextmanager
def transaction(timeout_s: float = DEFAULT_TIMEOUT_S) -> Iterator[Conn]:
    """One transaction on a pooled connection: commit on success, roll back on any exception.

    `timeout_s` bounds every statement in the transaction and the wait for a pooled connection (which is
    also capped at MAX_POOL_WAIT_S). Raises Unavailable when no connection comes in time or a statement
    times out, and ConnectionLost when the connection died (the pool discards it).
    """
    ms = max(1, round(timeout_s * 10)) * 100  # 100 ms steps: few distinct statements
    with _pooled(timeout_s) as conn:
        try:
            conn.execute(_begin(ms), prepare=False)
            yield conn
            conn.commit()
        except BaseException as exc:
            if not _is_lost(conn):
                with contextlib.suppress(psycopg.Error):
                    conn.execute(b"ROLLBACK", prepare=False)
            _transient(conn, exc)
            raise


_CONFLICTS = (pg_errors.SerializationFailure, pg_errors.DeadlockDetected)


def run(fn: Callable[[Conn], T], *, timeout_s: float = DEFAULT_TIMEOUT_S, attempts: int = 3) -> T:
    """Run fn in one transaction within `timeout_s` in all, retrying it whole after a conflict, or on a
    fresh connection after a lost one. A full pool or a statement past the deadline is not retried: the
    caller's time is spent, and Unavailable says so.

    Retrying is safe because every inbound event claims its key inside the transaction: if a lost
    connection had in fact committed, the retry finds the claim and returns the stored reply.
    """
    deadline = time.monotonic() + timeout_s
    for attempt in range(1, attempts + 1):
        left = deadline - time.monotonic()
        if left < 0.05:
            raise Unavailable(f"no time left after {attempt - 1} attempt(s)")
        try:
            with transaction(left) as conn:
                return fn(conn)
        except _CONFLICTS as exc:
            if attempt == attempts:
                raise Unavailable(f"gave up after {attempts} conflicting attempts") from exc
            log.warning("transaction retry %d after %s", attempt, type(exc).__name__)
            time.sleep(random.uniform(0.001, 0.01 * attempt))
        except ConnectionLost:
            if attempt == attempts:
                raise
            log.warning("transaction retry %d on a fresh connection after a lost one", attempt)
            pool().check()  # test the idle connections now, so the retry does not draw another dead one
    raise AssertionError("unreachable")


def read(fn: Callable[[Conn], T], *, timeout_s: float = DEFAULT_TIMEOUT_S) -> T:
    """Run fn outside a transaction, each statement on its own: for reads that take no locks (a read-only
    command), which then cost no BEGIN and COMMIT round trips. Retried once on a fresh connection after a
    lost one; statements run under the database's default statement_timeout."""
    for attempt in (1, 2):
        with _pooled(timeout_s) as conn:
            try:
                return fn(conn)
            except BaseException as exc:
                try:
                    _transient(conn, exc)
                except ConnectionLost:
                    if attempt == 2:
                        raise
                    log.warning("read retried on a fresh connection after a lost one")
                    pool().check()
                    continue
                raise
    raise AssertionError("unreachable")


# --- migrations -------------------------------------------------------------------------------------


class MigrationError(RuntimeError):
    """A landed migration was edited, or the files are misnamed."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    @property
    def text(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def discover(sql_dir: Path = SQL_DIR) -> list[Migration]:
    """sql/NNNN_name.sql in version order; misnamed .sql files are an error, not silently skipped."""
    found: list[Migration] = []
    for path in sorted(sql_dir.glob("*.sql")):
        m = _MIGRATION_RE.match(path.name)
        if not m:
            raise MigrationError(f"{path.name}: migration files must be named NNNN_name.sql")
        found.append(Migration(int(m.group(1)), m.group(2), path))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError("two migrations share a version number")
    return found


_BOOKKEEPING = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)"""


def migrate(url: str, sql_dir: Path = SQL_DIR) -> list[str]:
    """Apply pending migrations in order, each in its own transaction; return the names applied."""
    migrations = discover(sql_dir)
    applied: list[str] = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(_BOOKKEEPING)
        # One migrator at a time across processes (make run and tests may start together).
        conn.execute("SELECT pg_advisory_lock(hashtext('ttfd.migrate'))")
        try:
            landed = {int(r[0]): str(r[1]) for r in conn.execute("SELECT version, checksum FROM schema_migrations")}
            for m in migrations:
                if m.version in landed:
                    if landed[m.version] != m.checksum:
                        raise MigrationError(
                            f"{m.path.name} was edited after it was applied; add a new migration instead"
                        )
                    continue
                with conn.transaction():
                    conn.execute(m.text.encode())  # bytes: a multi-statement script
                    conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                        (m.version, m.name, m.checksum),
                    )
                applied.append(m.path.name)
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtext('ttfd.migrate'))")
    return applied
