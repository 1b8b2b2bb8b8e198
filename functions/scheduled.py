"""The scheduled functions: each runs its feature's Schedule (process_events, run_jobs, cleanup, …)."""

from __future__ import annotations

import logging

from flask import Request, Response

from functions.http import json_response, problem
from ttfd.core import db
from ttfd.features import REGISTRY

log = logging.getLogger(__name__)


def run(function: str, request: Request) -> Response:
    """Run one schedule; a database that cannot serve now answers 503 (the scheduler shows a failed run,
    and the next tick catches up)."""
    try:
        return json_response(REGISTRY.schedules[function].run(REGISTRY))
    except db.Unavailable as exc:
        log.warning("%s not run: %s", function, exc)
        return problem(503, "database unavailable; try again")
