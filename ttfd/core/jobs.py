"""Postgres job queue: enqueue in the caller's transaction, run with FOR UPDATE SKIP LOCKED.

A job and its database effects commit together (its row is the claim: `done` once, whatever the
retries); calls it makes to other APIs are at least once, so handlers use idempotent calls (PUT a role,
PATCH a message) or accept a rare repeat. Handlers are declared by features (Feature.jobs) and typed:
each validates its payload with its own pydantic model.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from psycopg.types.json import Jsonb

from ttfd.core import db, wake
from ttfd.core.db import Conn
from ttfd.core.errors import PermanentJobError as PermanentJobError  # raised by handlers; classified in failures
from ttfd.core.failures import Kind, classify
from ttfd.core.settings import Settings, get_settings

log = logging.getLogger(__name__)
PARKED_S = 120  # a job waiting for its caller to finish something first (see release)


class Handlers(Protocol):
    """Where job handlers come from (ttfd.registry.Registry is one; the queue stays below every feature)."""

    def job_handler(self, kind: str) -> Callable[..., Any] | None: ...


@dataclass
class JobCtx:
    """What a handler gets besides its payload: the job's transaction and whether this is its last try."""

    conn: Conn
    settings: Settings
    registry: Handlers
    job_id: int
    attempt: int
    final: bool


_ENQUEUE = """
INSERT INTO jobs (kind, payload, run_at, dedupe_key, max_attempts)
VALUES (%(kind)s, %(payload)s, coalesce(%(run_at)s, now() + make_interval(secs => %(delay)s)), %(dedupe)s,
        %(max_attempts)s)
ON CONFLICT (dedupe_key) DO NOTHING
RETURNING id
"""
_RELEASE = """
UPDATE jobs SET payload = payload || %(extra)s, run_at = now(), updated_at = now()
WHERE id = %(id)s AND status = 'pending'
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
    delay_s: float = 0,
    dedupe_key: str | None = None,
    max_attempts: int = 6,
) -> int | None:
    """Queue work to do after this transaction commits; a repeated dedupe_key is ignored (None)."""
    wake.mark()
    row = conn.execute(
        _ENQUEUE,
        {
            "kind": kind,
            "payload": Jsonb(payload),
            "run_at": run_at,
            "delay": delay_s,
            "dedupe": dedupe_key,
            "max_attempts": max_attempts,
        },
    ).fetchone()
    return int(row["id"]) if row else None


def release(conn: Conn, job_id: int, extra: dict[str, Any]) -> None:
    """Add to a parked job's payload and let it run now."""
    conn.execute(_RELEASE, {"id": job_id, "extra": Jsonb(extra)})


_TAKE_PARKED = """
UPDATE jobs SET payload = payload || '{"taken": true}', updated_at = now()
WHERE id = %(id)s AND status = 'pending' AND NOT payload ? 'taken'
RETURNING id
"""


def take_parked(conn: Conn, job_id: int) -> bool:
    """Whether the caller is the first to finish parking this job (a redelivered event is not)."""
    return conn.execute(_TAKE_PARKED, {"id": job_id}).fetchone() is not None


def backoff_s(attempt: int) -> float:
    """Exponential backoff with jitter: ~30 s, 60 s, 2 min ... capped at an hour."""
    return float(min(30 * 2 ** (attempt - 1), 3600)) * random.uniform(0.8, 1.2)


@dataclass
class RunStats:
    done: int = 0
    retried: int = 0
    dead: int = 0
    results: list[tuple[dict[str, Any], Any]] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict[str, int]:
        return {"done": self.done, "retried": self.retried, "dead": self.dead}


Deliver = Callable[[dict[str, Any], Any, JobCtx], None]


def _run_one(conn: Conn, registry: Handlers, stats: RunStats, deliver: Deliver | None) -> bool:
    job = conn.execute(_NEXT).fetchone()
    if job is None:
        return False
    attempt = job["attempts"] + 1
    fn = registry.job_handler(job["kind"])
    ctx = JobCtx(conn, get_settings(), registry, int(job["id"]), attempt, attempt >= job["max_attempts"])
    try:
        if fn is None:
            raise PermanentJobError(f"no handler for job kind {job['kind']!r}")
        with conn.transaction():  # savepoint: a failing handler's writes roll back, the bookkeeping stays
            result = fn(ctx, job["payload"])
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"[:2000]
        failure = classify(exc)
        # A refusal or a permanent failure never succeeds on a retry. A transient one may, and so may one we
        # did not foresee (a bug, or the world outside in a way no client named) until its last attempt.
        if failure.kind in (Kind.REFUSED, Kind.PERMANENT) or ctx.final:
            conn.execute(_DEAD, {"id": job["id"], "error": error})
            stats.dead += 1
            if failure.kind is Kind.REFUSED:  # a bad duration, not an admin: said to the person, not an incident
                log.log(failure.level, "job %s (%s) refused: %s", job["id"], job["kind"], error)
            else:  # dead jobs need someone to look: ERROR, with the traceback of a bug
                bug = exc if failure.kind is Kind.BUG else None
                log.error(
                    "job %s (%s) dead after %d attempts: %s", job["id"], job["kind"], attempt, error, exc_info=bug
                )
            if deliver is not None and job["payload"].get("reply_to"):
                try:  # the person waiting on "working…" learns it failed
                    deliver(job["payload"]["reply_to"], exc, ctx)
                except Exception as failed:
                    log.warning("job %s: telling about the failure failed too: %s", job["id"], failed)
        else:
            delay = max(failure.retry_after or 0.0, backoff_s(attempt))
            conn.execute(_RETRY, {"id": job["id"], "error": error, "delay": delay})
            stats.retried += 1
            log.warning(
                "job %s (%s) attempt %d failed, retry in %.0fs: %s", job["id"], job["kind"], attempt, delay, error
            )
        return True
    conn.execute(_DONE, {"id": job["id"]})
    stats.done += 1
    if deliver is not None and job["payload"].get("reply_to"):
        # Showing the result is best effort (the API client retries what it can): the job's own work stands.
        try:
            deliver(job["payload"]["reply_to"], result, ctx)
        except Exception as exc:
            log.warning("job %s (%s) done, but showing its result failed: %s", job["id"], job["kind"], exc)
    return True


def run_due(registry: Handlers, max_jobs: int = 50, deliver: Deliver | None = None) -> RunStats:
    """Run up to max_jobs due jobs, each in its own transaction holding only its own row lock.

    `deliver(reply_to, result, ctx)` shows a job's result where its payload says (a deferred reply)."""
    stats = RunStats()
    for _ in range(max_jobs):
        with db.transaction(db.BACKGROUND_TIMEOUT_S) as conn:
            if not _run_one(conn, registry, stats, deliver):
                break
    return stats


def purge_finished(conn: Conn) -> int:
    """Delete done jobs older than a week (dead ones stay for inspection)."""
    return int(conn.execute(_PURGE_DONE).rowcount)


# What the queue looks like now (health and run_jobs' metrics): a few index lookups whatever the table's size —
# due jobs through jobs_due, dead ones through jobs_dead (sql/0021), each count capped.
_BACKLOG = """
SELECT
    (SELECT count(*) FROM (SELECT 1 FROM jobs WHERE status = 'pending' AND run_at <= now() LIMIT %(cap)s) d) AS due,
    (SELECT extract(epoch FROM now() - min(run_at))::float8 FROM jobs
      WHERE status = 'pending' AND run_at <= now()) AS oldest_due_s,
    (SELECT count(*) FROM (SELECT 1 FROM jobs WHERE status = 'dead'
      AND finished_at > now() - make_interval(secs => %(window)s) LIMIT %(cap)s) x) AS dead_recent
"""


@dataclass(frozen=True)
class Backlog:
    due: int  # due pending jobs, counted up to `cap`
    oldest_due_s: float | None  # how long the oldest due job has waited
    dead_recent: int  # jobs that went dead within the window, counted up to `cap`
    cap: int


def backlog(conn: Conn, dead_window_s: float = 86400, cap: int = 10_000) -> Backlog:
    """The queue's depth, its oldest due job's age and recent dead jobs, in one cheap statement."""
    row = conn.execute(_BACKLOG, {"cap": cap, "window": dead_window_s}).fetchone()
    assert row is not None
    oldest = row["oldest_due_s"]
    return Backlog(int(row["due"]), None if oldest is None else max(0.0, float(oldest)), int(row["dead_recent"]), cap)
