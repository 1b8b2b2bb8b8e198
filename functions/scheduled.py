"""The scheduled functions over HTTP: each runs its feature's Schedule (process_events, run_jobs, cleanup, …).

Wherever they are reachable over HTTP (Cloud Run functions behind Cloud Scheduler, the dev server), the caller
must send SCHEDULER_SECRET in the X-TTFD-Scheduler-Secret header: anyone else gets 401 and nothing runs.
On AWS they have no URL at all: EventBridge invokes them (functions/aws.py).
"""

from __future__ import annotations

import hmac
import logging

from flask import Request, Response

from functions.http import failure_response, json_response, problem
from ttfd.core import failures
from ttfd.core.settings import get_settings
from ttfd.features import REGISTRY
from ttfd.features.health import runs

log = logging.getLogger(__name__)
SECRET_HEADER = "X-TTFD-Scheduler-Secret"  # noqa: S105 (a header name, not a secret)


def authorized(sent: str | None) -> bool:
    """The shared secret, compared in constant time; with none configured nobody may call (fail closed)."""
    expected = get_settings().scheduler_secret
    if not expected:
        log.error("SCHEDULER_SECRET is not set: scheduled functions refuse every HTTP caller")
        return False
    return sent is not None and hmac.compare_digest(sent.encode(), expected.encode())


def run(function: str, request: Request) -> Response:
    """Run one schedule for an authenticated caller; a failure is answered as ttfd.core.failures classifies
    it (the scheduler shows a failed run, and the next tick catches up)."""
    if not authorized(request.headers.get(SECRET_HEADER)):
        resp = problem(401, f"Scheduled functions need the {SECRET_HEADER} header.")
        resp.headers["WWW-Authenticate"] = "X-TTFD-Scheduler-Secret"
        return resp
    try:  # measured and recorded for health (ttfd.features.health.runs); main.py measures the invocation
        return json_response(runs.run(REGISTRY, function))
    except Exception as exc:  # busy (503, the next tick catches up) or a bug (500, logged with its traceback)
        return failure_response(failures.report(log, exc, function), f"{function} not run")
