"""Every run of a scheduled function, however it was started — Cloud Scheduler and the dev scheduler through
functions/scheduled.py, EventBridge and a run_jobs wake-up through functions/aws.py — goes through `run`: it
emits the schedule metric set and upserts the schedule's row in schedule_runs, which health reads.

Recording is best effort in its own short transaction after the run: a schedule never fails, and never
changes its answer, because its bookkeeping could not be written.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from ttfd.core import db, metrics
from ttfd.registry import Registry

log = logging.getLogger(__name__)
RECORD_TIMEOUT_S = 2.0

# One row per schedule. A success keeps the last error (with its time) so health can show what last went
# wrong; staleness is judged on last_ok.
_RECORD = """
INSERT INTO schedule_runs AS r (name, last_started, last_finished, last_ok, last_error, last_error_at, runs, failures)
VALUES (%(name)s, %(started)s, now(), CASE WHEN %(ok)s THEN now() END, %(error)s,
        CASE WHEN %(ok)s THEN NULL ELSE now() END, 1, CASE WHEN %(ok)s THEN 0 ELSE 1 END)
ON CONFLICT (name) DO UPDATE SET
    last_started  = excluded.last_started,
    last_finished = excluded.last_finished,
    last_ok       = coalesce(excluded.last_ok, r.last_ok),
    last_error    = coalesce(excluded.last_error, r.last_error),
    last_error_at = coalesce(excluded.last_error_at, r.last_error_at),
    runs          = r.runs + 1,
    failures      = r.failures + excluded.failures
"""


def record(name: str, started: datetime, error: str | None) -> None:
    """Upsert the schedule's row; a failure to write it is logged, never raised."""
    params = {"name": name, "started": started, "ok": error is None, "error": None if error is None else error[:500]}
    try:
        db.run(lambda conn: conn.execute(_RECORD, params), timeout_s=RECORD_TIMEOUT_S, attempts=2)
    except Exception as exc:
        log.warning("schedule %s ran, but its run was not recorded: %s: %s", name, type(exc).__name__, exc)


def run(registry: Registry, name: str) -> dict[str, Any]:
    """Run schedule `name` once: measured and recorded, its result (or exception) unchanged."""
    schedule = registry.schedules[name]
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    try:
        result = schedule.run(registry)
    except Exception as exc:
        metrics.schedule_metrics(name, metrics.outcome_of(exc), (time.perf_counter() - t0) * 1000)
        record(name, started, f"{type(exc).__name__}: {exc}")
        raise
    metrics.schedule_metrics(name, "ok", (time.perf_counter() - t0) * 1000)
    record(name, started, None)
    return result


def invoked(registry: Registry, function: str, steps: Sequence[str] | None = None) -> dict[str, Any]:
    """One invocation of scheduled function `function` that did not come through main.py (AWS: EventBridge,
    or a wake-up running `steps` in order): measured as a function invocation, each schedule as a run."""
    with metrics.invocation(function):
        if steps is None:
            return run(registry, function)
        return {step: run(registry, step) for step in steps}
