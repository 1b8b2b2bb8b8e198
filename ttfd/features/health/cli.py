"""`python -m ttfd status [--url URL] [--token T] [--json]`: the health report as a table.

Without --url it is gathered here, from the database this process's settings name (the same settings the
functions read: --env-file, --secret); with --url it is GET <URL>/health, with the bearer token from --token or
HEALTH_TOKEN (without one a deployment shows only the verdict and each check's state).
Exit status: 0 healthy, 1 unhealthy or degraded (something to look at), 2 the deployment did not answer with a
report (unreachable, refused the token, not our JSON). Operator output: English.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from typing import Any, TextIO

from ttfd.core.logs import escape

TIMEOUT_S = 15.0
EXIT_OK, EXIT_UNHEALTHY, EXIT_UNREACHABLE = 0, 1, 2


def register(sub: Any) -> None:
    """Add `status` to the operator CLI's subcommands (ttfd/cli.py build_parser)."""
    p = sub.add_parser("status", help="health of the database, migrations, job queue and schedules")
    p.add_argument("--url", help="a deployment's site URL (GET URL/health); default: this machine's database")
    p.add_argument("--token", help="bearer token for the full report (default: the HEALTH_TOKEN setting)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(fn=cmd_status)


def fetch(url: str, token: str | None, timeout_s: float = TIMEOUT_S) -> tuple[int, dict[str, Any]]:
    """GET the deployment's health: (HTTP status, report). Raises OSError or ValueError when there is none."""
    target = url.rstrip("/")
    if not target.endswith("/health"):
        target += "/health"
    if not target.startswith(("https://", "http://")):
        raise ValueError(f"not an http(s) URL: {url}")
    headers = {"Accept": "application/json", "User-Agent": "ttfd-status"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(target, headers=headers, method="GET")  # noqa: S310 (scheme checked above)
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:  # noqa: S310
            status, raw = int(resp.status), resp.read(1_000_000)
    except urllib.error.HTTPError as exc:  # 503 is a report too (unhealthy); 401 and the rest are not
        status, raw = exc.code, exc.read(1_000_000)
    if status == 401:
        raise ValueError(f"{target} refused the token (401): check --token / HEALTH_TOKEN")
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"{target} answered {status} without a health report") from exc
    if not isinstance(body, dict) or body.get("status") not in ("ok", "degraded", "fail"):
        raise ValueError(f"{target} answered {status} without a health report")
    return status, body


def _s(value: Any) -> str:
    """A value for the table: one line, control characters escaped (a remote report is not trusted)."""
    return "-" if value is None else escape(str(value))


def _table(rows: list[list[str]], out: TextIO) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        out.write("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() + "\n")


def _detail(name: str, check: dict[str, Any]) -> str:
    if check.get("state") == "unknown":
        return _s(check.get("reason") or "not checked: the database did not answer")
    if name == "database":
        if check.get("error"):
            return _s(check["error"])
        return f"round trip {_s(check.get('round_trip_ms'))} ms"
    if name == "migrations":
        text = f"{_s(check.get('applied'))} applied, {_s(check.get('expected'))} expected"
        if check.get("missing"):
            text += "; missing " + ", ".join(map(_s, check["missing"]))
        if check.get("unknown"):
            text += "; unknown to this code " + ", ".join(map(_s, check["unknown"]))
        return text
    if name == "jobs":
        capped = "+" if check.get("due_capped") else ""
        return f"{_s(check.get('due'))}{capped} due, oldest waiting {_s(check.get('oldest_due_s'))} s"
    if name == "schedules":
        stale = check.get("stale") or []
        return ("stale: " + ", ".join(map(_s, stale))) if stale else "all ran in time"
    if name == "dead_jobs":
        return f"{_s(check.get('recent'))} in the last {_s(check.get('window_s'))} s"
    return _s(check.get("reason"))


def render(report: dict[str, Any], where: str, out: TextIO) -> None:
    """The report as tables: the checks, then (in a full report) schedules and the latest dead jobs."""
    head = f"TTFD health: {_s(report.get('status')).upper()}  ({where}"
    if report.get("checked_at"):
        head += f", checked {_s(report['checked_at'])} in {_s(report.get('took_ms'))} ms"
    out.write(head + ")\n\n")
    checks: dict[str, Any] = report.get("checks") or {}
    full = all(isinstance(c, dict) for c in checks.values()) and bool(report.get("checked_at"))
    rows = [["CHECK", "STATE", "DETAIL"]]
    for name, check in checks.items():
        state = check.get("state") if isinstance(check, dict) else check
        rows.append([_s(name), _s(state), _detail(name, check) if full else ""])
    _table(rows, out)
    if not full:
        out.write("\n(only the summary: pass --token or set HEALTH_TOKEN for the full report)\n")
        return
    schedules = (checks.get("schedules") or {}).get("schedules") or {}
    if schedules:
        out.write("\n")
        rows = [["SCHEDULE", "CRON", "LAST OK", "AGE S", "RUNS", "FAILURES", "STATE", "LAST ERROR"]]
        for name, s in schedules.items():
            state = ("STALE" if s.get("stale") else "ok") + (" (never ran)" if s.get("never_ran") else "")
            rows.append(
                [
                    _s(name),
                    _s(s.get("cron")),
                    _s(s.get("last_ok")),
                    _s(s.get("last_ok_age_s")),
                    _s(s.get("runs")),
                    _s(s.get("failures")),
                    state,
                    _s(s.get("last_error")),
                ]
            )
        _table(rows, out)
    dead = (checks.get("dead_jobs") or {}).get("latest") or []
    if dead:
        out.write("\n")
        rows = [["DEAD JOB", "KIND", "ATTEMPTS", "FINISHED", "ERROR"]]
        for d in dead:
            rows.append(
                [
                    _s(d.get("id")),
                    _s(d.get("kind")),
                    _s(d.get("attempts")),
                    _s(d.get("finished_at")),
                    _s(d.get("error")),
                ]
            )
        _table(rows, out)


def cmd_status(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    from ttfd.core.settings import get_settings
    from ttfd.features.health.checks import HealthSettings

    if args.url:
        token = args.token or get_settings().section(HealthSettings).token or None
        try:
            _status, report = fetch(args.url, token)
        except (OSError, ValueError) as exc:
            sys.stderr.write(f"status: no health report from {escape(args.url)}: {escape(str(exc))}\n")
            return EXIT_UNREACHABLE
        where = escape(args.url)
    else:
        from ttfd.features import REGISTRY
        from ttfd.features.health import report as local_report

        report = local_report(REGISTRY).full()
        where = "this machine's database"
    if args.json:
        out.write(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    else:
        render(report, where, out)
    return EXIT_OK if report.get("status") == "ok" else EXIT_UNHEALTHY
