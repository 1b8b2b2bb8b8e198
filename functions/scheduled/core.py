"""process_events, run_jobs and cleanup: what a background worker used to do."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

from flask import Request, Response

from functions.http import json_response, problem
from ttfd import accounts, discord_activity, notify, sessions
from ttfd.clients import discord_rest
from ttfd.core import db, events, idempotency, jobs, ratelimit
from ttfd.core.settings import get_settings
from ttfd.economy import utc_now

log = logging.getLogger(__name__)


def _transient(fn: Callable[[Request], Response]) -> Callable[[Request], Response]:
    """A database that cannot serve now answers 503, so the scheduler's run is visibly failed and retried."""

    @functools.wraps(fn)
    def wrapper(request: Request) -> Response:
        try:
            return fn(request)
        except db.Unavailable as exc:
            log.warning("%s not run: %s", fn.__name__, exc)
            return problem(503, "database unavailable; try again")

    return wrapper


@_transient
def process_events(request: Request) -> Response:
    """Turn pending cross-platform events into jobs (rank-up roles, Telegram messages)."""
    total = 0
    while (n := db.run(notify.process_pending, timeout_s=db.BACKGROUND_TIMEOUT_S)) > 0:
        total += n
        if total >= 5000:  # leave the rest for the next tick rather than run past the function timeout
            break
    return json_response({"processed": total})


@_transient
def run_jobs(request: Request) -> Response:
    """Run due jobs; each job in its own transaction, failed ones rescheduled with backoff."""
    limit = request.args.get("max", "100")
    stats = jobs.run_due(max_jobs=int(limit) if limit.isascii() and limit.isdigit() else 100)
    return json_response(stats.as_dict())


@_transient
def poll_messages(request: Request) -> Response:
    """Give message XP for new messages in the channels admins opted in (/setup xp-channel)."""
    stats = discord_activity.poll_channels(get_settings(), discord_rest.shared())
    return json_response(stats.as_dict())


@_transient
def cleanup(request: Request) -> Response:
    """Hourly: drop expired idempotency keys, link codes, sessions, OAuth states, rate-limit windows and
    finished jobs (once per hour)."""

    def work(conn: db.Conn) -> dict[str, int | bool]:
        if not idempotency.claim(conn, f"cron:cleanup:{utc_now():%Y-%m-%dT%H}", ttl_s=3 * 86400).fresh:
            return {"skipped": True}
        return {
            "idempotency_keys": idempotency.purge_expired(conn),
            "link_codes": accounts.purge_expired_codes(conn),
            "jobs": jobs.purge_finished(conn),
            "events": events.purge_processed(conn),
            "sessions": sessions.purge(conn, get_settings().session_idle_s),
            "rate_limits": ratelimit.purge(conn),
        }

    return json_response(db.run(work))
