"""Postgres: choosing the server, the per-process pool, transactions and the migration runner."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.rows import DictRow, dict_row
from psycopg_pool import ConnectionPool

Conn = psycopg.Connection[DictRow]
T = TypeVar("T")

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent
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


# --- pool -------------------------------------------------------------------------------------------

_pool: ConnectionPool[Conn] | None = None
_pool_lock = threading.Lock()


def database_url() -> str:
    """The URL functions use: DATABASE_URL is required in deployed functions."""
    from ttfd.settings import get_settings

    return get_settings().require("database_url")


def pool() -> ConnectionPool[Conn]:
    """The process-wide pool, opened on first use (cheap cold start when a function never touches SQL)."""
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                p: ConnectionPool[Conn] = ConnectionPool(
                    database_url(),
                    min_size=1,
                    max_size=int(os.environ.get("TTFD_POOL_SIZE", "8")),
                    # A runaway statement must not hold a function instance (or a Telegram webhook) for long.
                    kwargs={"row_factory": dict_row, "autocommit": False, "options": "-c statement_timeout=15000"},
                    open=False,
                    name="ttfd",
                    max_idle=120,  # managed Postgres and frozen instances drop idle connections
                )
                p.open(wait=True, timeout=10)
                _pool = p
    return _pool


def close_pool() -> None:
    """Close the pool (tests switch databases; dev server shutdown)."""
    global _pool
    with _pool_lock:
        if _pool is not None:
            _pool.close()
            _pool = None


@contextmanager
def transaction() -> Iterator[Conn]:
    """One transaction on a pooled connection: commit on success, roll back on any exception."""
    with pool().connection() as conn:
        yield conn


_RETRYABLE = (pg_errors.SerializationFailure, pg_errors.DeadlockDetected)


def run(fn: Callable[[Conn], T], attempts: int = 3) -> T:
    """Run fn in one transaction, retrying whole on serialization failure, deadlock or a dead connection.

    Retrying is safe because every inbound event claims its key inside the transaction: if a lost
    connection had in fact committed, the retry finds the claim and returns the stored reply.
    """
    for attempt in range(1, attempts + 1):
        try:
            with transaction() as conn:
                return fn(conn)
        except _RETRYABLE:
            if attempt == attempts:
                raise
            log.warning("transaction retry %d after conflict", attempt)
        except psycopg.OperationalError:
            if attempt == attempts:
                raise
            log.warning("transaction retry %d after a lost connection", attempt)  # the pool discards it
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
