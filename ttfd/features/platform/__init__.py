"""Platform: the schedules that replace a background worker — events into jobs, running jobs, the hourly
cleanup — and the jobs every feature may use (a deferred reply, a Telegram message)."""

from __future__ import annotations

import logging
from typing import Any

from ttfd.core import db, events, idempotency, jobs, metrics
from ttfd.core.ledger import utc_now
from ttfd.registry import Feature, Registry, Schedule

log = logging.getLogger(__name__)
MAX_EVENTS_PER_RUN = 5000  # leave the rest for the next tick rather than run past the function timeout


def process_events(registry: Registry) -> dict[str, Any]:
    """Turn pending cross-platform events into jobs (each feature's reactions)."""
    total = 0
    while total < MAX_EVENTS_PER_RUN:
        n = db.run(lambda conn: events.process_pending(conn, registry.reactions), timeout_s=db.BACKGROUND_TIMEOUT_S)
        if n == 0:
            break
        total += n
    return {"processed": total}


def run_jobs(registry: Registry, max_jobs: int = 100) -> dict[str, Any]:
    """Run due jobs, each in its own transaction; a deferred reply's result is shown where it was asked."""
    from ttfd.ui import deferred

    stats = jobs.run_due(registry, max_jobs, deliver=deferred.deliver)
    _job_metrics(stats)
    return dict(stats.as_dict())


def _job_metrics(stats: jobs.RunStats) -> None:
    """The jobs metric set: what this run did and the queue it left (one cheap statement, best effort)."""
    try:
        backlog: jobs.Backlog | None = db.read(jobs.backlog, timeout_s=2.0)
    except Exception as exc:  # the run's own work stands; the metric goes without the queue's numbers
        log.warning("run_jobs: the queue could not be read for its metrics: %s: %s", type(exc).__name__, exc)
        backlog = None
    metrics.job_metrics(
        stats.done,
        stats.retried,
        stats.dead,
        due=backlog.due if backlog else None,
        oldest_due_s=backlog.oldest_due_s if backlog else None,
        dead_recent=backlog.dead_recent if backlog else None,
    )


def cleanup(registry: Registry) -> dict[str, Any]:
    """Hourly, once per hour whatever the scheduler does: every feature's purge."""

    def work(conn: db.Conn) -> dict[str, Any]:
        if not idempotency.claim(conn, f"cron:cleanup:{utc_now():%Y-%m-%dT%H}", ttl_s=3 * 86400).fresh:
            return {"skipped": True}
        return {name: purge(conn) for name, purge in registry.purges.items()}

    return dict(db.run(work, timeout_s=db.BACKGROUND_TIMEOUT_S))


FEATURE = Feature(
    name="platform",
    summary=__doc__ or "",
    schedules=(
        Schedule("process_events", "* * * * *", process_events, "events → jobs"),
        Schedule("run_jobs", "* * * * *", run_jobs, "due jobs (kicked right away after writes locally)"),
        Schedule("cleanup", "17 * * * *", cleanup, "every feature's purge (hourly, off the hour's crowd)"),
    ),
    jobs={"ui.deferred": "ttfd.ui.deferred:run", "telegram.send": "ttfd.ui.deferred:send_telegram"},
    purges={
        "idempotency_keys": idempotency.purge_expired,
        "jobs": jobs.purge_finished,
        "events": events.purge_processed,
    },
    migrations=("0001_foundation.sql", "0004_live_accounts.sql", "0018_language.sql", "0023_identify_plan.sql"),
)
