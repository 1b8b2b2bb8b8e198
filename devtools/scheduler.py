"""Fires the scheduled functions on their registry cron schedules, and right away when kicked."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from croniter import croniter

log = logging.getLogger(__name__)


class Scheduler:
    """One daemon thread; `kick()` runs the event/job pipeline now instead of at the next minute."""

    KICKED = ("process_events", "run_jobs")

    def __init__(self, schedules: dict[str, str], fire: Callable[[str], None]) -> None:
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

    def _run(self, name: str) -> None:
        try:
            self.fire(name)
        except Exception:
            log.exception("scheduled %s failed", name)

    def _loop(self) -> None:
        while not self._stop.is_set():
            now = datetime.now(UTC)
            wait = max(0.0, min((t - now).total_seconds() for t in self._next.values()))
            kicked = self._wake.wait(timeout=wait)
            if self._stop.is_set():
                return
            if kicked:
                self._wake.clear()
                for name in self.KICKED:
                    if name in self.schedules:
                        self._run(name)
            now = datetime.now(UTC)
            for name, due in list(self._next.items()):
                if due <= now:
                    self._run(name)
                    self._next[name] = croniter(self.schedules[name], now).get_next(datetime)
