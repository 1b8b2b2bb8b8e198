"""Work a request queues (a deferred reply's job, a rank-up's events) would wait for the next scheduled tick,
up to a minute. Where the platform can start a worker at once, the entrypoint does so after the commit.

`jobs.enqueue` and `events.emit` mark the request; `after_request()` — called by each entrypoint once its
transaction committed and before it answers — starts the worker if something was marked and a way to start
one is configured: on AWS, WAKE_FUNCTION names the run_jobs Lambda, invoked asynchronously (~20 ms, answers
202 once queued). A failure to wake only logs: the scheduled tick still runs the work. Locally the dev
server's scheduler is kicked instead.
"""

from __future__ import annotations

import logging
import os
from contextvars import ContextVar

log = logging.getLogger(__name__)
_queued: ContextVar[bool] = ContextVar("ttfd_work_queued", default=False)
WAKE_PAYLOAD = {"source": "ttfd.wake"}


def mark() -> None:
    """This request queued work for a worker."""
    _queued.set(True)


def take() -> bool:
    """Whether this request queued work (and forget it, so one request wakes once)."""
    queued = _queued.get()
    _queued.set(False)
    return queued


def after_request() -> bool:
    """Start the worker now if this request queued work and the platform allows; True when one was started."""
    if not take():
        return False
    function = os.environ.get("WAKE_FUNCTION")
    if not function:
        return False
    from ttfd.clients import aws_lambda

    try:
        aws_lambda.invoke_async(function, WAKE_PAYLOAD, os.environ)
    except Exception as exc:  # the minute's tick runs it anyway
        log.warning("could not wake %s: %s", function, exc)
        return False
    return True
