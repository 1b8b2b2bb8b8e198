"""Health: GET /health through the site function's real path (served over HTTP), `python -m ttfd status` here
and against that server, schedule runs recorded on every path that runs a schedule, and a database that is
down answered quickly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from functions_framework import create_app

from devtools.wsgi_server import RunningServer
from tests.conftest import run_schedule
from tests.lambda_events import scheduled_event
from ttfd.core import db, jobs, metrics
from ttfd.core.settings import get_settings
from ttfd.features import REGISTRY, health
from ttfd.features.health import checks, runs
from ttfd.features.health.checks import cron_interval_s, scrub, stale_after_s
from ttfd.registry import Feature, Registry, Schedule

# Every migration the features declare (numbered 1…N without gaps).
MIGRATIONS = len({m for f in REGISTRY.features for m in f.migrations})

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "health-token-for-tests_0123456789"


def dev_server(tmp_path: Path) -> RunningServer:
    """Every function as `make run` serves them (main.py's measured wrappers, /health among the site's)."""
    from devtools.server import create_app

    (tmp_path / "index.html").write_text("<h1>TTFD</h1>")
    return RunningServer(create_app(tmp_path))


@pytest.fixture
def served(app_env, monkeypatch, tmp_path) -> Iterator[str]:
    monkeypatch.setenv("HEALTH_TOKEN", TOKEN)
    monkeypatch.setattr(health, "SUMMARY_TTL_S", 0.0)  # these tests change the state between requests
    get_settings.cache_clear()
    server = dev_server(tmp_path)
    yield server.url
    server.stop()


def _sql(url: str, statement: str, params: Any = None) -> list[Any]:
    with psycopg.connect(url, autocommit=True) as c:
        cur = c.execute(statement, params)
        return cur.fetchall() if cur.description else []


def _status(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m ttfd status …` as an operator runs it, with this test's settings in its environment."""
    return subprocess.run(
        [sys.executable, "-m", "ttfd", "status", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cron_intervals_and_staleness_limits() -> None:
    assert cron_interval_s("* * * * *") == 60
    assert cron_interval_s("*/5 * * * *") == 300
    assert cron_interval_s("17 * * * *") == 3600
    assert cron_interval_s("30 2,14 * * *") == 12 * 3600
    assert cron_interval_s("0 9 * * 1-5") == 3 * 86400  # Friday to Monday is the longest wait
    assert cron_interval_s("0 0 1 * *") == 31 * 86400
    assert stale_after_s("* * * * *") == 3 * 60 + checks.STALE_GRACE_S
    assert stale_after_s("not a cron") == 3 * 86400 + checks.STALE_GRACE_S  # judged as daily, never as never
    with pytest.raises(ValueError):
        cron_interval_s("61 * * * *")


def test_scrub_keeps_the_kind_and_drops_what_may_be_a_credential() -> None:
    error = "HTTPError: 401 from https://api.telegram.org/bot7000000001:AAHtestTOKENtestTOKENtestTOKENtestTO/sendMessage\nmore"
    shown = scrub(error)
    assert shown is not None
    assert shown.startswith("HTTPError: 401 from https://api.telegram.org/")
    assert "AAHtest" not in shown and "more" not in shown and "\n" not in shown


def test_health_reports_a_dead_job_and_stale_schedules_over_http_and_in_status(app_env, served, fresh_db) -> None:
    # Healthy to begin with: nothing queued, no schedule overdue (recording has only just begun).
    _sql(fresh_db, "UPDATE schema_migrations SET applied_at = now() WHERE version = 21")
    fresh = httpx.get(f"{served}/health")
    assert fresh.status_code == 200, fresh.text
    assert fresh.headers["Cache-Control"] == "no-store"
    assert fresh.json() == {"status": "ok", "checks": dict.fromkeys(checks.CHECKS, "ok")}

    # Each schedule run through the real function records itself.
    for name in ("process_events", "cleanup", "season_rollover"):
        assert run_schedule(name).status_code == 200
    recorded = {
        r[0]: r[1:] for r in _sql(fresh_db, "SELECT name, runs, failures, last_ok IS NOT NULL FROM schedule_runs")
    }
    assert recorded == {n: (1, 0, True) for n in ("process_events", "cleanup", "season_rollover")}

    # A dead job: a kind nobody handles goes dead on its first run (a secret in its payload must not show).
    db.run(lambda c: jobs.enqueue(c, "no.such.kind", {"token": "payload-secret"}, max_attempts=1))
    assert run_schedule("run_jobs").get_json() == {"done": 0, "retried": 0, "dead": 1}
    # A stale schedule (its last success a day ago) and one that never ran, since recording began long ago.
    _sql(fresh_db, "UPDATE schedule_runs SET last_ok = now() - interval '1 day' WHERE name = 'process_events'")
    _sql(fresh_db, "DELETE FROM schedule_runs WHERE name = 'cleanup'")
    _sql(fresh_db, "UPDATE schema_migrations SET applied_at = now() - interval '30 days' WHERE version = 21")

    public = httpx.get(f"{served}/health")
    assert public.status_code == 503
    assert public.headers["Cache-Control"] == "no-store"
    assert public.json() == {
        "status": "fail",
        "checks": {"database": "ok", "migrations": "ok", "jobs": "ok", "schedules": "fail", "dead_jobs": "warn"},
    }
    assert "payload-secret" not in public.text and "no.such.kind" not in public.text  # the summary says no more

    full = httpx.get(f"{served}/health", headers={"Authorization": f"Bearer {TOKEN}"})
    assert full.status_code == 503
    body = full.json()
    sched = body["checks"]["schedules"]
    assert sched["state"] == "fail"
    # run_jobs and the rest never ran here either: stale once recording has been on for longer than allowed.
    assert {"process_events", "cleanup"} <= set(sched["stale"])
    assert "season_rollover" not in sched["stale"]  # it ran just now
    assert sched["schedules"]["cleanup"]["never_ran"] is True
    pe = sched["schedules"]["process_events"]
    assert pe["stale"] is True and pe["runs"] == 1 and pe["last_ok_age_s"] >= 86400 - 5
    dead = body["checks"]["dead_jobs"]
    assert dead["state"] == "warn" and dead["recent"] == 1
    assert dead["latest"][0]["kind"] == "no.such.kind"
    assert dead["latest"][0]["error"].startswith("PermanentJobError: no handler for job kind")
    assert "payload-secret" not in full.text
    assert body["checks"]["database"]["round_trip_ms"] >= 0
    assert body["checks"]["migrations"] == {
        "state": "ok",
        "applied": MIGRATIONS,
        "expected": MIGRATIONS,
        "latest": MIGRATIONS,
        "missing": [],
        "unknown": [],
    }

    wrong = httpx.get(f"{served}/health", headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status_code == 401 and wrong.headers["WWW-Authenticate"].startswith("Bearer")
    assert httpx.post(f"{served}/health").status_code == 405

    # The operator command: here (straight from the database) and against the served endpoint.
    here = _status(env={"DATABASE_URL": fresh_db})
    remote = _status("--url", served, "--token", TOKEN)
    for out in (here, remote):
        assert out.returncode == 1, out.stderr
        assert "TTFD health: FAIL" in out.stdout
        lines = {line.split()[0]: line for line in out.stdout.splitlines() if line.strip()}
        assert "STALE (never ran)" in lines["cleanup"]
        assert "STALE" in lines["process_events"] and "never ran" not in lines["process_events"]
        assert "no.such.kind" in out.stdout and "PermanentJobError" in out.stdout
        assert "payload-secret" not in out.stdout
    summary = _status("--url", served, env={"HEALTH_TOKEN": ""})
    assert summary.returncode == 1
    assert "only the summary" in summary.stdout and "no.such.kind" not in summary.stdout
    as_json = _status("--url", served, "--token", TOKEN, "--json")
    assert json.loads(as_json.stdout)["checks"]["dead_jobs"]["recent"] == 1

    # Fixed: the queue is emptied of the dead job's cause and the schedules run again → healthy, exit 0.
    _sql(fresh_db, "UPDATE jobs SET finished_at = now() - interval '2 days' WHERE status = 'dead'")
    for name in REGISTRY.schedules:
        assert run_schedule(name).status_code == 200
    assert httpx.get(f"{served}/health").json()["status"] == "ok"
    ok = _status("--url", served)
    assert ok.returncode == 0, ok.stdout + ok.stderr


def test_health_through_functions_framework_as_deployed(app_env, fresh_db) -> None:
    _sql(fresh_db, "UPDATE schema_migrations SET applied_at = now() WHERE version = 21")  # recording just began
    resp = create_app("health", "main.py").test_client().get("/health")
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    assert resp.get_json() == {"status": "ok", "checks": dict.fromkeys(checks.CHECKS, "ok")}


def test_the_anonymous_summary_is_kept_a_few_seconds_and_the_token_report_is_live(
    app_env, fresh_db, monkeypatch
) -> None:
    """A burst of anonymous checks costs the database one check per instance every SUMMARY_TTL_S; whoever
    holds the token sees the state now."""
    _sql(fresh_db, "UPDATE schema_migrations SET applied_at = now() WHERE version = 21")
    monkeypatch.setenv("HEALTH_TOKEN", TOKEN)
    get_settings.cache_clear()
    health.forget_summary()
    gathered: list[float] = []
    real = checks.gather

    def counted(*args: Any, **kwargs: Any) -> checks.Report:
        gathered.append(time.monotonic())
        return real(*args, **kwargs)

    monkeypatch.setattr(checks, "gather", counted)
    client = create_app("health", "main.py").test_client()
    answers = [client.get("/health") for _ in range(20)]
    assert len(gathered) == 1
    assert {(r.status_code, r.headers["Cache-Control"]) for r in answers} == {(200, "no-store")}
    assert all(r.get_json() == {"status": "ok", "checks": dict.fromkeys(checks.CHECKS, "ok")} for r in answers)

    # A dead job now: the token's report sees it at once (and refreshes the kept summary with it).
    db.run(lambda c: jobs.enqueue(c, "no.such.kind", {}, max_attempts=1))
    assert run_schedule("run_jobs").get_json()["dead"] == 1
    full = client.get("/health", headers={"Authorization": f"Bearer {TOKEN}"})
    assert len(gathered) == 2 and full.get_json()["checks"]["dead_jobs"]["recent"] == 1
    assert client.get("/health").get_json()["checks"]["dead_jobs"] == "warn" and len(gathered) == 2

    # Once the summary is older than SUMMARY_TTL_S the next anonymous request checks again.
    monkeypatch.setattr(health, "SUMMARY_TTL_S", 0.0)
    client.get("/health")
    client.get("/health")
    assert len(gathered) == 4
    health.forget_summary()


def test_a_health_check_that_fails_is_answered_as_problem_json(app_env, fresh_db, monkeypatch, caplog) -> None:
    """A route serving the whole request (serve=) gets the router's failure handling, not Flask's HTML 500."""
    health.forget_summary()

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("a bug in a check")

    monkeypatch.setattr(checks, "gather", broken)
    resp = create_app("health", "main.py").test_client().get("/health", headers={"Accept-Language": "en"})
    assert resp.status_code == 500 and resp.mimetype == "application/problem+json"
    assert resp.get_json()["status"] == 500 and resp.headers["Cache-Control"] == "no-store"
    assert [r for r in caplog.records if r.exc_info and "a bug in a check" in str(r.exc_info[1])]


def test_status_against_nothing_is_exit_2(app_env) -> None:
    out = _status("--url", "http://127.0.0.1:9", "--token", "x")
    assert out.returncode == 2
    assert "no health report" in out.stderr and "Traceback" not in out.stderr


def test_a_migration_missing_fails_health(app_env, fresh_db) -> None:
    from ttfd.features.health import report

    _sql(fresh_db, "DELETE FROM schema_migrations WHERE version = 20")
    now = report(REGISTRY)
    assert now.status == "fail" and now.http_status == 503
    assert now.checks["migrations"].detail["missing"] == ["0020_join_request_locale.sql"]


def test_health_with_the_database_down_is_a_quick_503(app_env, monkeypatch, caplog, tmp_path) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:9/ttfd?connect_timeout=1")
    db.close_pool()
    get_settings.cache_clear()
    server = dev_server(tmp_path)
    try:
        started = time.monotonic()
        resp = httpx.get(f"{server.url}/health", timeout=30)
        took = time.monotonic() - started
    finally:
        server.stop()
        db.close_pool()
    assert resp.status_code == 503
    assert resp.json() == {
        "status": "fail",
        "checks": {"database": "fail", **dict.fromkeys(checks.CHECKS[1:], "unknown")},
    }
    assert took < checks.DB_TIMEOUT_S + 1.5
    assert not [r for r in caplog.records if r.exc_info], "a database that is down is no bug: no traceback"


def _schedule_row(url: str, name: str) -> tuple[Any, ...] | None:
    rows = _sql(
        url, "SELECT runs, failures, last_ok IS NOT NULL, last_error FROM schedule_runs WHERE name = %s", (name,)
    )
    return tuple(rows[0]) if rows else None


def test_a_failing_schedule_is_recorded_and_still_raises(app_env, fresh_db) -> None:
    def boom(_: Registry) -> dict[str, Any]:
        raise RuntimeError("the schedule broke")

    registry = Registry((Feature("t", "", schedules=(Schedule("boom", "* * * * *", boom),)),))
    with pytest.raises(RuntimeError):
        runs.run(registry, "boom")
    assert _schedule_row(fresh_db, "boom") == (1, 1, False, "RuntimeError: the schedule broke")


def test_recording_that_fails_never_fails_the_schedule(app_env, fresh_db, caplog) -> None:
    _sql(fresh_db, "DROP TABLE schedule_runs")
    resp = run_schedule("process_events")
    assert resp.status_code == 200 and resp.get_json() == {"processed": 0}
    assert any("was not recorded" in r.getMessage() for r in caplog.records)


def test_aws_scheduled_invocations_are_recorded_and_measured(app_env, fresh_db, monkeypatch, capsys) -> None:
    from functions import aws

    monkeypatch.setenv("TTFD_METRICS", "emf")
    metrics.reset()
    try:
        capsys.readouterr()
        assert aws.schedule_handler("cleanup")(scheduled_event("ttfd-prod-cleanup"), None) != {}
        from ttfd.core.wake import WAKE_PAYLOAD

        woken = aws.schedule_handler("run_jobs")(WAKE_PAYLOAD, None)
        assert set(woken) == {"process_events", "run_jobs"}
        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    finally:
        metrics.reset()
    assert _schedule_row(fresh_db, "cleanup") == (1, 0, True, None)
    assert _schedule_row(fresh_db, "process_events") == (1, 0, True, None)
    assert _schedule_row(fresh_db, "run_jobs") == (1, 0, True, None)
    functions = [d["function"] for d in lines if d["ttfd_metric"] == "function"]
    assert functions == ["cleanup", "run_jobs"]  # one invocation each; the wake-up ran two schedules in it
    schedules = [d["schedule"] for d in lines if d["ttfd_metric"] == "schedule"]
    assert schedules == ["cleanup", "process_events", "run_jobs"]
    jobs_set = [d for d in lines if d["ttfd_metric"] == "jobs"]
    assert len(jobs_set) == 1 and jobs_set[0]["DeadJobsRecent"] == 0 and jobs_set[0]["JobsDue"] == 0
