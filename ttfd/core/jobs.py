"""Postgres job queue: enqueue in the caller's transaction, run with FOR UPDATE SKIP LOCKED."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from ttfd.clients.http import HTTPError
from ttfd.core import db
from ttfd.core.db import Conn

log = logging.getLogger(__name__)
Handler = Callable[[dict[str, Any]], None]
HANDLERS: dict[str, Handler] = {}


def handler(kind: str) -> Callable[[Handler], Handler]:
    """Register the function that performs jobs of `kind`."""

    def register(fn: Handler) -> Handler:
        HANDLERS[kind] = fn
        return fn

    return register


class PermanentJobError(Exception):
    """Retrying cannot help (bad payload, missing permission): the job goes straight to dead."""


_ENQUEUE = """
INSERT INTO jobs (kind, payload, run_at, dedupe_key, max_attempts)
VALUES (%(kind)s, %(payload)s, coalesce(%(run_at)s, now()), %(dedupe)s, %(max_attempts)s)
ON CONFLICT (dedupe_key) DO NOTHING
RETURNING id
"""
_NEXT = """
SELECT id, kind, payload, attempts, max_attempts FROM jobs
WHERE status = 'pending' AND run_at <= now()
ORDER BY run_at, id
LIMIT 1
FOR UPDATE SKIP LOCKED
"""
_DONE = """
UPDATE jobs SET status = 'done', attempts = attempts + 1, finished_at = now(), updated_at = now() WHERE id = %(id)s
"""
_RETRY = """
UPDATE jobs SET attempts = attempts + 1, last_error = %(error)s, updated_at = now(),
    run_at = now() + make_interval(secs => %(delay)s)
WHERE id = %(id)s
"""
_DEAD = """
UPDATE jobs SET status = 'dead', attempts = attempts + 1, last_error = %(error)s,
    finished_at = now(), updated_at = now()
WHERE id = %(id)s
"""
_PURGE_DONE = "DELETE FROM jobs WHERE status = 'done' AND finished_at < now() - interval '7 days'"


def enqueue(
    conn: Conn,
    kind: str,
    payload: dict[str, Any],
    *,
    run_at: datetime | None = None,
    dedupe_key: str | None = None,
    max_attempts: int = 6,
) -> int | None:
    """Queue work to do after this transaction commits; a repeated dedupe_key is ignored (None)."""
    row = conn.execute(
        _ENQUEUE,
        {
            "kind": kind,
            "payload": Jsonb(payload),
            "run_at": run_at,
            "dedupe": dedupe_key,
            "max_attempts": max_attempts,
        },
    ).fetchone()
    return int(row["id"]) if row else None


def backoff_s(attempt: int) -> float:
    """Exponential backoff with jitter: ~30 s, 60 s, 2 min ... capped at an hour."""
    return float(min(30 * 2 ** (attempt - 1), 3600)) * random.uniform(0.8, 1.2)


@dataclass
class RunStats:
    done: int = 0
    retried: int = 0
    dead: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"done": self.done, "retried": self.retried, "dead": self.dead}


def _run_one(conn: Conn, stats: RunStats) -> bool:
    job = conn.execute(_NEXT).fetchone()
    if job is None:
        return False
    attempt = job["attempts"] + 1
    fn = HANDLERS.get(job["kind"])
    try:
        if fn is None:
            raise PermanentJobError(f"no handler for job kind {job['kind']!r}")
        with conn.transaction():  # savepoint: a failing handler's writes roll back, the bookkeeping stays
            fn(job["payload"])
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"[:2000]
        permanent = isinstance(exc, PermanentJobError) or (isinstance(exc, HTTPError) and not exc.retryable)
        if permanent or attempt >= job["max_attempts"]:
            conn.execute(_DEAD, {"id": job["id"], "error": error})
            stats.dead += 1
            log.error("job %s (%s) dead after %d attempts: %s", job["id"], job["kind"], attempt, error)
        else:
            retry_after = exc.retry_after if isinstance(exc, HTTPError) else None
            delay = max(retry_after or 0.0, backoff_s(attempt))
            conn.execute(_RETRY, {"id": job["id"], "error": error, "delay": delay})
            stats.retried += 1
            log.warning(
                "job %s (%s) attempt %d failed, retry in %.0fs: %s",
                job["id"],
                job["kind"],
                attempt,
                delay,
                error,
            )
        return True
    conn.execute(_DONE, {"id": job["id"]})
    stats.done += 1
    return True


def run_due(max_jobs: int = 50) -> RunStats:
    """Run up to max_jobs due jobs, each in its own transaction holding only its own row lock."""
    from ttfd import notify  # noqa: F401  # registers the handlers

    stats = RunStats()
    for _ in range(max_jobs):
        with db.transaction(db.BACKGROUND_TIMEOUT_S) as conn:
            if not _run_one(conn, stats):
                break
    return stats


def purge_finished(conn: Conn) -> int:
    """Delete done jobs older than a week (dead ones stay for inspection)."""
    return conn.execute(_PURGE_DONE).rowcount
