"""Work a request queues (a deferred reply's job, a rank-up's events) would wait for the next scheduled tick,
up to a minute. Where the platform can start a worker at once, the entrypoint does so after the commit.

`jobs.enqueue` and `events.emit` mark the request; `after_request()` — called by each entrypoint once its
transaction committed and before it answers — starts the worker if something was marked and a way to start
one is configured: on AWS, WAKE_FUNCTION names the run_jobs Lambda, invoked asynchronously (one round trip on
a keep-alive connection; Lambda answers 202 once queued). Locally the dev server's scheduler is kicked instead.

A wake-up never holds a reply for long, and a skipped one only delays the work to the next minute's tick:

- **Budget.** The call runs on a worker thread and the request waits for it at most WAKE_BUDGET_S (0.5 s),
  less when the request has already spent its time: a reply should be on its way REPLY_BUDGET_S (2.5 s) after
  API Gateway received the request (Discord shows "This interaction failed" at 3 s). Not even MIN_USEFUL_S
  left: no call at all. A call still running when the budget ends goes on in the background; the reply goes
  now. Never retried inside a request.
- **Coalescing.** At most one wake-up per instance per MIN_INTERVAL_S (1 s), and none while one is in flight.
  A Lambda instance serves one request at a time, so a burst spread over N instances invokes run_jobs at
  most N times a second, not once per request; one run drains every due job (FOR UPDATE SKIP LOCKED), so the
  invocations a burst saves would have found nothing to do. The work is not forgotten: a wake-up that was
  skipped or failed is *owed*, and the instance's next request after the interval sends it even if that
  request queued nothing; the scheduled tick runs it in any case.
- **Back-off.** After a wake-up that failed or timed out the interval doubles (2, 4 … MAX_INTERVAL_S = 30 s)
  until one succeeds: an Invoke API that hangs costs one request per instance a budget now and then, not
  one every second, and logs as rarely.
- **Stuck calls.** A call still in flight STUCK_S (10 s) after it started — far past the client's own
  timeouts, so something below them hangs — is given up: counted as a failure, logged once, and the next
  wake-up runs on a fresh worker thread instead of coalescing behind it for ever.
- **Cold start.** Where WAKE_FUNCTION is set, the Invoke client (httpx, a TLS context) is loaded when this
  module is (the function's init), so the first wake-up's budget is spent on the call, not on imports.

Why not "wake only when the job is due now": every job a request queues is due now (a deferred reply, a
rank-up's events), so that test would skip nothing.
"""

from __future__ import annotations

import concurrent.futures
import logging
import os
import threading
import time
import weakref
from contextvars import ContextVar
from typing import Any

log = logging.getLogger(__name__)
_queued: ContextVar[bool] = ContextVar("ttfd_work_queued", default=False)
WAKE_PAYLOAD = {"source": "ttfd.wake"}
WAKE_BUDGET_S = 0.5
REPLY_BUDGET_S = 2.5
MIN_USEFUL_S = 0.05
MIN_INTERVAL_S = 1.0
MAX_INTERVAL_S = 30.0
STUCK_S = 10.0


def mark() -> None:
    """This request queued work for a worker."""
    _queued.set(True)


def take() -> bool:
    """Whether this request queued work (and forget it, so one request wakes once)."""
    queued = _queued.get()
    _queued.set(False)
    return queued


class _Waker:
    """Per-process state of the wake-ups: when the last one started, the one in flight, whether one is owed,
    and how many failed in a row (the back-off)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.last = -float("inf")
        self.in_flight: concurrent.futures.Future[None] | None = None
        self.owed = False
        self.failures = 0
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        # Calls given up as stuck: when one ends at last, it changes nothing (it was counted already).
        self.abandoned: weakref.WeakSet[concurrent.futures.Future[None]] = weakref.WeakSet()

    def executor(self) -> concurrent.futures.ThreadPoolExecutor:
        # One worker: a call that hangs holds it, and the requests after it coalesce instead of adding threads.
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="ttfd-wake")
        return self._executor

    def interval(self) -> float:
        return min(MAX_INTERVAL_S, MIN_INTERVAL_S * 2**self.failures) if self.failures else MIN_INTERVAL_S

    def abandon(self, function: str, age_s: float) -> None:
        """Give up the call in flight (held under `lock`): a failure, owed, and a fresh worker for the next."""
        stuck = self.in_flight
        if stuck is not None:
            self.abandoned.add(stuck)
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)  # its thread ends when the call does
        self._executor, self.in_flight = None, None
        self.owed = True
        self.failures = min(self.failures + 1, 16)
        log.warning("waking %s: a call has been in flight for %.0f s; giving it up", function, age_s)

    def settled(self, future: concurrent.futures.Future[None]) -> None:
        """When the call ends, in the request or after it went: a failure is owed and backs off."""
        failed = future.cancelled() or future.exception() is not None
        with self.lock:
            if future in self.abandoned:
                return
            if failed:
                self.owed = True
                self.failures = min(self.failures + 1, 16)
            else:
                self.failures = 0


_waker = _Waker()


def reset() -> None:
    """Forget the process's wake-up state (tests)."""
    global _waker
    _waker = _Waker()


def _request_age_s() -> float | None:
    """How long ago API Gateway received the request being answered (its requestContext's timeEpoch, which
    apig-wsgi passes in the WSGI environ), or None where that is unknown (functions-framework, the dev server)."""
    try:
        from flask import has_request_context, request
    except ImportError:  # pragma: no cover - flask ships with every function
        return None
    if not has_request_context():
        return None
    context: Any = request.environ.get("apig_wsgi.request_context")
    if not isinstance(context, dict):
        return None
    epoch_ms = context.get("timeEpoch", context.get("requestTimeEpoch"))  # HTTP API; REST API
    if not isinstance(epoch_ms, int | float) or isinstance(epoch_ms, bool):
        return None
    age = time.time() - epoch_ms / 1000
    return age if 0 <= age < 3600 else None  # beyond that, a clock is wrong: rely on the fixed budget alone


def budget_s() -> float:
    """How long this request may wait for a wake-up now: WAKE_BUDGET_S, or less when the reply is due sooner."""
    age = _request_age_s()
    return WAKE_BUDGET_S if age is None else min(WAKE_BUDGET_S, REPLY_BUDGET_S - age)


def after_request() -> bool:
    """Start the worker now if this request queued work (or an earlier wake-up is owed) and the platform
    allows; True when Lambda accepted the invocation within the budget. Returns within the budget whatever
    the Invoke API does, and never raises: a wake-up only ever saves waiting for the minute's tick."""
    queued = take()
    function = os.environ.get("WAKE_FUNCTION")
    if not function:
        return False
    try:
        return _wake(function, queued)
    except Exception:  # a bug here must not cost the reply
        log.exception("waking %s failed", function)
        return False


def _prepare() -> Any:
    """The Invoke client, loaded (module and keep-alive client) before any budget runs."""
    from ttfd.clients import aws_lambda

    aws_lambda.client()
    return aws_lambda


def _wake(function: str, queued: bool) -> bool:
    waker = _waker
    if not (queued or waker.owed):
        return False
    aws_lambda = _prepare()  # loaded at import already where WAKE_FUNCTION was set then: a dict lookup
    with waker.lock:
        if not (queued or waker.owed):
            return False
        now = time.monotonic()
        busy = waker.in_flight is not None and not waker.in_flight.done()
        if busy and now - waker.last > STUCK_S:
            waker.abandon(function, now - waker.last)
            busy = False
        if busy or now - waker.last < waker.interval():
            waker.owed = True  # coalesced: the wake-up in flight or just sent runs it, or the next one does
            return False
        budget = budget_s()
        if budget < MIN_USEFUL_S:
            waker.owed = True
            log.info("not waking %s: the reply is due (%.0f ms of its budget left)", function, budget * 1000)
            return False
        future = waker.executor().submit(aws_lambda.invoke_async, function, WAKE_PAYLOAD, dict(os.environ), budget)
        waker.last, waker.owed, waker.in_flight = now, False, future
    try:
        future.result(timeout=budget)
    except concurrent.futures.TimeoutError:
        future.add_done_callback(waker.settled)  # settled when it ends, after the reply went
        log.warning("waking %s took longer than %.0f ms: answering without waiting for it", function, budget * 1000)
        return False
    except Exception as exc:  # owed now: the next request or the minute's tick runs the work
        waker.settled(future)
        log.warning("could not wake %s: %s", function, exc)
        return False
    waker.settled(future)
    return True


if os.environ.get("WAKE_FUNCTION"):  # a function that wakes run_jobs: load the client during its init
    _prepare()
