"""What health reports, gathered in one short transaction: the database (its round trip), migrations (what the
registry's features declare against schema_migrations), the job queue (depth, oldest due job), each schedule's
last run (schedule_runs) and recent dead jobs. A few index lookups and two tiny tables, whatever the size.

Each check is `ok`, `warn` (someone should look: a dead job, a database ahead of the code) or `fail` (the
service cannot do its work: the database unreachable, a migration missing, a stuck queue, a stale schedule);
`unknown` when the database could not be asked. The report is `ok`, `degraded` (a warning) or `fail`.

Operator-facing: the report and its words are English (like logs), never a person's language.
"""

from __future__ import annotations

import itertools
import logging
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any, ClassVar, Literal

from ttfd.core import db, jobs
from ttfd.core.settings import bounded

log = logging.getLogger(__name__)
State = Literal["ok", "warn", "fail", "unknown"]
CHECKS = ("database", "migrations", "jobs", "schedules", "dead_jobs")
DB_TIMEOUT_S = 2.0  # an uptime check waits ~10 s; an unreachable database is said well before that
STALE_GRACE_S = 120  # EventBridge and Cloud Scheduler fire up to a minute late, and a run takes a while
LATEST_DEAD = 5
HEALTH_MIGRATION = "0021_health.sql"  # creates schedule_runs


@dataclass(frozen=True)
class HealthSettings:
    """HEALTH_TOKEN (the bearer token for the full report; without one only the summary is ever served),
    HEALTH_MAX_JOB_WAIT_S (a due job waiting longer means run_jobs is not keeping up: fail),
    HEALTH_DEAD_WINDOW_S (how far back dead jobs count) and HEALTH_DEAD_JOBS_FAIL (that many in the window is
    a failure, not a warning: something systematic, such as a revoked bot token)."""

    ENV_PREFIX: ClassVar[str] = "HEALTH_"
    token: str = ""
    max_job_wait_s: int = bounded(600, 60, 7 * 86400)
    dead_window_s: int = bounded(86400, 300, 30 * 86400)
    dead_jobs_fail: int = bounded(25, 1, 1_000_000)


@dataclass
class Check:
    state: State
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Report:
    checks: dict[str, Check]
    checked_at: datetime
    took_ms: float

    @property
    def status(self) -> Literal["ok", "degraded", "fail"]:
        states = {c.state for c in self.checks.values()}
        if states & {"fail", "unknown"}:
            return "fail"
        return "degraded" if "warn" in states else "ok"

    @property
    def http_status(self) -> int:
        return 503 if self.status == "fail" else 200

    def summary(self) -> dict[str, Any]:
        """What anyone may see (an uptime check): the verdict and each check's state, nothing else."""
        return {"status": self.status, "checks": {name: c.state for name, c in self.checks.items()}}

    def full(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "checked_at": _iso(self.checked_at),
            "took_ms": round(self.took_ms, 1),
            "checks": {name: {"state": c.state, **c.detail} for name, c in self.checks.items()},
        }


# --- schedules: how often a cron fires ----------------------------------------------------------------

_FIELDS = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 7))


def _expand(spec: str, low: int, high: int) -> set[int]:
    """One cron field (`*`, `*/5`, `1-5`, `0-30/10`, `3,17`) as the values it matches."""
    out: set[int] = set()
    for part in spec.split(","):
        rng, _, step_s = part.partition("/")
        step = int(step_s) if step_s else 1
        if rng == "*":
            start, end = low, high
        elif "-" in rng:
            a, b = rng.split("-", 1)
            start, end = int(a), int(b)
        else:
            start = int(rng)
            end = high if step_s else start
        if not (low <= start <= end <= high) or step < 1:
            raise ValueError(f"cron field {spec!r} is out of range {low}-{high}")
        out.update(range(start, end + 1, step))
    return out


@lru_cache(maxsize=64)
def cron_interval_s(cron: str) -> int:
    """The longest wait between two firings of a five-field cron (UTC): what "missed three runs" is counted
    in. Irregular crons (weekdays only) are judged by their longest gap, so a weekend is not stale."""
    fields = cron.split()
    if len(fields) != 5:
        raise ValueError(f"not a five-field cron: {cron!r}")
    minute, hour, dom, month, dow = (_expand(f, lo, hi) for f, (lo, hi) in zip(fields, _FIELDS, strict=True))
    in_day = sorted(h * 60 + m for h in hour for m in minute)
    gaps = [b - a for a, b in itertools.pairwise(in_day)]
    span = in_day[-1] - in_day[0]
    dom_any, dow_any = fields[2] == "*", fields[4] == "*"
    weekdays = {d % 7 for d in dow}
    if fields[2] == fields[3] == fields[4] == "*":  # every day (all schedules so far): no calendar to walk
        return max([*gaps, 1440 - span]) * 60
    days: list[int] = []
    start = date(2024, 1, 1)
    for n in range(8 * 366):  # eight years: every weekday, every month length, two leap days
        d = start + timedelta(days=n)
        by_dom, by_dow = d.day in dom, d.isoweekday() % 7 in weekdays
        # Cron's rule: with both day fields restricted a day matches either; otherwise both must match.
        day_ok = (by_dom or by_dow) if not (dom_any or dow_any) else (by_dom and by_dow)
        if d.month in month and day_ok:
            days.append(n)
    if not days:
        raise ValueError(f"cron {cron!r} never fires")
    day_gap = max((b - a for a, b in itertools.pairwise(days)), default=1)
    gaps.append(day_gap * 1440 - span)
    return max(gaps) * 60


def stale_after_s(cron: str) -> int:
    """No success for this long means the schedule is stale: three firings missed, and a little grace."""
    try:
        interval = cron_interval_s(cron)
    except ValueError:
        interval = 86400  # a cron we cannot read: judged as daily rather than never
    return 3 * interval + STALE_GRACE_S


# --- gathering ----------------------------------------------------------------------------------------

_MIGRATIONS = "SELECT version, name, applied_at FROM schema_migrations ORDER BY version"
_RUNS = """
SELECT name, last_started, last_finished, last_ok, last_error, last_error_at, runs, failures
FROM schedule_runs
"""
# Through the partial index jobs_dead (sql/0021): the latest few, never a payload.
_DEAD_LATEST = """
SELECT id, kind, attempts, finished_at, last_error FROM jobs
WHERE status = 'dead' ORDER BY finished_at DESC LIMIT %(n)s
"""
# Anything that may carry a credential in an error text (a token in a URL, a key): long unbroken runs.
_SECRETISH = re.compile(r"[A-Za-z0-9_\-:+=]{24,}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def scrub(error: str | None, limit: int = 160) -> str | None:
    """An error text fit for the report: one line, no long token-like runs, bounded."""
    if not error:
        return None
    text = _SECRETISH.sub("…", _CONTROL.sub(" ", error.split("\n", 1)[0]))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _iso(t: datetime | None) -> str | None:
    return t.astimezone(UTC).isoformat(timespec="seconds") if t is not None else None


def _age_s(now: datetime, t: datetime | None) -> float | None:
    return None if t is None else round(max(0.0, (now - t).total_seconds()), 1)


def migration_check(expected: Iterable[str], rows: Iterable[Mapping[str, Any]]) -> Check:
    """The registry's migrations (each feature's `migrations`) against what the database applied."""
    want = {int(name[:4]): name for name in expected}
    have = {int(r["version"]): f"{int(r['version']):04d}_{r['name']}.sql" for r in rows}
    missing = sorted(name for v, name in want.items() if v not in have)
    unknown = sorted(name for v, name in have.items() if v not in want)  # the code is older than the database
    state: State = "fail" if missing else "warn" if unknown else "ok"
    latest = max(have, default=0)
    return Check(
        state, {"applied": len(have), "expected": len(want), "latest": latest, "missing": missing, "unknown": unknown}
    )


def jobs_check(backlog: jobs.Backlog, cfg: HealthSettings) -> Check:
    wait = backlog.oldest_due_s
    state: State = "fail" if wait is not None and wait > cfg.max_job_wait_s else "ok"
    return Check(
        state,
        {
            "due": backlog.due,
            "due_capped": backlog.due >= backlog.cap,
            "oldest_due_s": None if wait is None else round(wait, 1),
            "max_wait_s": cfg.max_job_wait_s,
        },
    )


def dead_check(backlog: jobs.Backlog, latest: Iterable[Mapping[str, Any]], cfg: HealthSettings) -> Check:
    n = backlog.dead_recent
    state: State = "fail" if n >= cfg.dead_jobs_fail else "warn" if n else "ok"
    shown = [
        {
            "id": int(r["id"]),
            "kind": r["kind"],
            "attempts": int(r["attempts"]),
            "finished_at": _iso(r["finished_at"]),
            "error": scrub(r["last_error"]),
        }
        for r in latest
    ]
    return Check(state, {"recent": n, "window_s": cfg.dead_window_s, "fail_at": cfg.dead_jobs_fail, "latest": shown})


def schedules_check(
    schedules: Mapping[str, str], rows: Iterable[Mapping[str, Any]], since: datetime | None, now: datetime
) -> Check:
    """Each schedule (name → cron) by its last success. One that never ran is stale once recording has been on
    (`since`: when schedule_runs was created) for longer than it may go without a success."""
    by_name = {r["name"]: r for r in rows}
    report: dict[str, Any] = {}
    stale: list[str] = []
    for name, cron in sorted(schedules.items()):
        limit = stale_after_s(cron)
        row = by_name.get(name)
        last_ok = row["last_ok"] if row else None
        reference = last_ok or since
        is_stale = reference is None or (now - reference).total_seconds() > limit
        if is_stale:
            stale.append(name)
        entry: dict[str, Any] = {"cron": cron, "stale_after_s": limit, "stale": is_stale, "never_ran": row is None}
        if row is not None:
            entry.update(
                last_ok=_iso(last_ok),
                last_ok_age_s=_age_s(now, last_ok),
                last_finished=_iso(row["last_finished"]),
                last_error=scrub(row["last_error"]),
                last_error_at=_iso(row["last_error_at"]),
                runs=int(row["runs"]),
                failures=int(row["failures"]),
            )
        report[name] = entry
    return Check("fail" if stale else "ok", {"stale": stale, "schedules": report})


def gather(migrations: Iterable[str], schedules: Mapping[str, str], cfg: HealthSettings) -> Report:
    """The report, from the database the process is configured for. Never raises for a database that cannot
    answer: that is the `database` check failing (and the others unknown)."""
    started = time.perf_counter()
    checked_at = datetime.now(UTC)
    expected = tuple(migrations)

    def work(conn: db.Conn) -> dict[str, Check]:
        t0 = time.perf_counter()
        now = conn.execute("SELECT now() AS now").fetchone()["now"]  # type: ignore[index]
        round_trip = (time.perf_counter() - t0) * 1000
        applied = conn.execute(_MIGRATIONS).fetchall()
        backlog = jobs.backlog(conn, dead_window_s=cfg.dead_window_s)
        latest = conn.execute(_DEAD_LATEST, {"n": LATEST_DEAD}).fetchall() if backlog.dead_recent else []
        health_since = next((r["applied_at"] for r in applied if int(r["version"]) == int(HEALTH_MIGRATION[:4])), None)
        out = {
            "database": Check("ok", {"round_trip_ms": round(round_trip, 2)}),
            "migrations": migration_check(expected, applied),
            "jobs": jobs_check(backlog, cfg),
        }
        if health_since is None:  # schedule_runs does not exist yet: a missing migration, already a failure
            out["schedules"] = Check("unknown", {"reason": f"{HEALTH_MIGRATION} is not applied"})
        else:
            out["schedules"] = schedules_check(schedules, conn.execute(_RUNS).fetchall(), health_since, now)
        out["dead_jobs"] = dead_check(backlog, latest, cfg)
        return out

    try:
        checks = db.run(work, timeout_s=DB_TIMEOUT_S, attempts=1)
    except Exception as exc:  # unreachable, refused, not configured, not migrated: the database check fails
        log.warning("health: the database did not answer: %s: %s", type(exc).__name__, exc)
        reason = scrub(f"{type(exc).__name__}: {exc}") or type(exc).__name__
        checks = {"database": Check("fail", {"error": reason})}
        checks.update((name, Check("unknown")) for name in CHECKS if name != "database")
    return Report(checks, checked_at, (time.perf_counter() - started) * 1000)
