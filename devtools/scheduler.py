"""Fires the scheduled functions on their registry cron schedules, and right away when kicked."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from croniter import croniter

log = logging.getLogger(__name__)


class Scheduler:
    """One daemon thread; `kick()` runs the event/job pipeline now instead of at the next minute.

    `fire(name)` runs a schedule and may answer whether it queued more work (a job that queued a job or
    emitted an event, as a rank-up does): the pipeline then runs again, as the deployed wake-up would."""

    KICKED = ("process_events", "run_jobs")
    ROUNDS = 5  # a kick runs the pipeline at most this often in a row

    def __init__(self, schedules: dict[str, str], fire: Callable[[str], object]) -> None:
        self.schedules = schedules
        self.fire = fire
        self._wake = threading.Event()
        self._stop = threading.Event()
        now = datetime.now(UTC)
        self._next = {name: croniter(expr, now).get_next(datetime) for name, expr in schedules.items()}
        self.thread = threading.Thread(target=self._loop, name="scheduler", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def kick(self) -> None:
        self._wake.set()

    def _run(self, name: str) -> bool:
        """Fire one schedule; True when it says it queued more work."""
        try:
            return self.fire(name) is True
        except Exception:
            log.exception("scheduled %s failed", name)
            return False

    def pipeline(self) -> None:
        """process_events then run_jobs, again while they queue more work (bounded)."""
        for _ in range(self.ROUNDS):
            more = False
            for name in self.KICKED:
                if name in self.schedules:
                    more = self._run(name) or more
            if not more:
                return

    def _loop(self) -> None:
        while not self._stop.is_set():
            now = datetime.now(UTC)
            wait = max(0.0, min((t - now).total_seconds() for t in self._next.values()))
            kicked = self._wake.wait(timeout=wait)
            if self._stop.is_set():
                return
            if kicked:
                self._wake.clear()
                self.pipeline()
            now = datetime.now(UTC)
            for name, due in list(self._next.items()):
                if due <= now:
                    self._run(name)
                    self._next[name] = croniter(self.schedules[name], now).get_next(datetime)
