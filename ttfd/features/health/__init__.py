"""Health: `GET /health` for uptime checks and operators, `python -m ttfd status` (ttfd.features.health.cli),
and the record of every schedule's runs it reads (ttfd.features.health.runs, table schedule_runs).

Anyone gets the verdict and each check's state (200 when healthy or degraded, 503 when failing); the full
report — round trip, migrations, queue, each schedule's last run, the latest dead jobs — needs
`Authorization: Bearer <HEALTH_TOKEN>`. A token of its own rather than SCHEDULER_SECRET: whoever holds it
(an uptime service, an operator's laptop) can read the report but run nothing. Never cached by a CDN or a
browser (no-store); the anonymous summary is kept SUMMARY_TTL_S in the instance, so a burst of uptime checks
(or anyone) costs the database one check per instance every few seconds. The token's report is always live.

The route is a site function like the others, so on AWS it is reached through CloudFront like /api/* and
passes the same edge check: an uptime check of https://<site>/health sees what a visitor's request sees (a
wrong EDGE_SECRET after a rotation shows as a failure instead of hiding behind a direct URL). Operator-facing:
the JSON and the status command's table are English.
"""

from __future__ import annotations

import hmac
import threading
import time
from typing import Any

from ttfd.core.settings import get_settings
from ttfd.features.health import checks
from ttfd.features.health.checks import HealthSettings, Report
from ttfd.registry import Feature, Registry
from ttfd.web import Catalog, Route, WebRequest, WebResponse, json_response, method_not_allowed, reader_locale

NO_STORE = {"Cache-Control": "no-store"}
SUMMARY_TTL_S = 5.0
# The latest summary of this instance: (registry id, database URL) → (monotonic time checked, body, status).
_summaries: dict[tuple[int, str], tuple[float, dict[str, Any], int]] = {}
_summaries_lock = threading.Lock()


def bearer_ok(header: str | None, token: str) -> bool:
    """`Authorization: Bearer <token>`, compared in constant time; with no token configured nobody gets in."""
    scheme, _, sent = (header or "").strip().partition(" ")
    if not token or scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(sent.strip().encode(), token.encode())


def report(registry: Registry, cfg: HealthSettings | None = None) -> Report:
    """Health now, for this process's database and the registry's migrations and schedules."""
    cfg = cfg or get_settings().section(HealthSettings)
    expected = [m for f in registry.features for m in f.migrations]
    return checks.gather(expected, {name: s.cron for name, s in registry.schedules.items()}, cfg)


def health_page(request: WebRequest, registry: Catalog) -> WebResponse:
    if request.method not in ("GET", "HEAD"):
        return method_not_allowed("GET", "HEAD", locale=reader_locale(request))
    if not isinstance(registry, Registry):  # the site router hands every page the registry itself
        raise TypeError("health needs the feature registry")
    cfg = get_settings().section(HealthSettings)
    auth = request.header("authorization")
    if auth is not None and not bearer_ok(auth, cfg.token):
        headers = {**NO_STORE, "WWW-Authenticate": 'Bearer realm="health"'}
        return json_response({"error": "unauthorized: send Authorization: Bearer <HEALTH_TOKEN>"}, 401, headers)
    key = (id(registry), get_settings().database_url or "")
    if auth is None:
        with _summaries_lock:
            cached = _summaries.get(key)
        if cached is not None and time.monotonic() - cached[0] < SUMMARY_TTL_S:
            return json_response(cached[1], cached[2], dict(NO_STORE))
    now = report(registry, cfg)
    with _summaries_lock:
        _summaries.clear()  # one registry and database per process: keep only the newest
        _summaries[key] = (time.monotonic(), now.summary(), now.http_status)
    return json_response(now.full() if auth is not None else now.summary(), now.http_status, dict(NO_STORE))


def forget_summary() -> None:
    """Drop the kept summary (tests: the next anonymous request checks again)."""
    with _summaries_lock:
        _summaries.clear()


FEATURE = Feature(
    name="health",
    summary=__doc__ or "",
    routes=(Route("health", "/health", serve=health_page, summary="health for uptime checks and operators"),),
    settings=HealthSettings,
    migrations=(checks.HEALTH_MIGRATION,),
)
