"""AWS Lambda handlers for every function in main.py: `functions/aws.<name>` in serverless.yml.

HTTP functions sit behind API Gateway's HTTP API (payload 2.0, the same shape as a Function URL). apig-wsgi
turns that event into a WSGI request for a one-route Flask app whose only view is main.py's function, so
each function gets exactly the flask.Request it gets from functions-framework: one code path on both clouds.
apig-wsgi (well kept, ~350 lines, handles cookies, base64 bodies and binary answers such as the rank card)
rather than our own adapter: those details are where hand-written adapters go wrong.

Scheduled functions have no URL on AWS: EventBridge invokes them directly, and anything else that reaches
the handler is refused. Settings arrive as one JSON object in TTFD_CONFIG (a CloudFormation dynamic
reference to Secrets Manager, resolved at deploy time); it is expanded into the environment before anything
reads it. Handlers are built on first use, so a function imports only its own modules.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, MutableMapping
from functools import cache
from typing import Any

log = logging.getLogger(__name__)
Handler = Callable[[dict[str, Any], Any], Any]
_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def expand_config(environ: MutableMapping[str, str] = os.environ) -> None:
    """Copy TTFD_CONFIG's settings into the environment; variables set on the function itself win."""
    raw = environ.get("TTFD_CONFIG")
    if not raw:
        return
    config = json.loads(raw)
    if not isinstance(config, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in config.items()):
        raise ValueError("TTFD_CONFIG must be a JSON object of strings")
    for key, value in config.items():
        if value:
            environ.setdefault(key, value)


def _lambda_logging() -> None:
    """Lambda's runtime puts its own handler on the root logger (one CloudWatch event per record): adopt it
    so logs.setup() gives it our escaping formatter instead of adding a second handler (every line twice)."""
    from ttfd.core import logs

    for h in logging.getLogger().handlers:
        h._ttfd = True  # type: ignore[attr-defined]
    logs.setup()


expand_config()
if os.environ.get("AWS_LAMBDA_RUNTIME_API"):
    _lambda_logging()


def http_handler(name: str) -> Handler:
    """A Lambda handler serving main.<name> for every method and path the HTTP API routes to it."""
    from apig_wsgi import make_lambda_handler
    from flask import Flask, request

    import main

    function = getattr(main, name)
    app = Flask(name)
    app.add_url_rule("/", name, lambda **_: function(request), defaults={"path": ""}, methods=_METHODS)
    app.add_url_rule("/<path:path>", f"{name}_path", lambda **_: function(request), methods=_METHODS)
    handler: Handler = make_lambda_handler(app)
    return handler


def schedule_handler(name: str) -> Handler:
    """A Lambda handler running schedule <name> for an EventBridge "Scheduled Event"; run_jobs also runs when
    another function wakes it (ttfd.core.wake), after turning pending events into jobs."""
    from ttfd.core import db
    from ttfd.core.wake import WAKE_PAYLOAD
    from ttfd.features import REGISTRY

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        scheduled = isinstance(event, dict) and event.get("source") == "aws.events"
        woken = name == "run_jobs" and event == WAKE_PAYLOAD
        if not (scheduled or woken):
            log.warning("%s: refused an invocation that is neither its schedule nor a wake-up", name)
            return {"refused": "not an EventBridge scheduled event"}
        try:
            if woken:
                return {step: REGISTRY.schedules[step].run(REGISTRY) for step in ("process_events", "run_jobs")}
            return REGISTRY.schedules[name].run(REGISTRY)
        except db.Unavailable as exc:  # the next tick catches up; no retry storm (retries are off)
            log.warning("%s not run: %s", name, exc)
            return {"unavailable": str(exc)}

    return handler


@cache
def _handler(name: str) -> Handler:
    from ttfd.features import REGISTRY

    kind = REGISTRY.functions.get(name)
    if kind is None:
        raise AttributeError(f"no function {name!r} in the registry")
    return schedule_handler(name) if kind == "scheduled" else http_handler(name)


def __getattr__(name: str) -> Handler:
    """`functions.aws.api_me` and friends: the runtime looks the handler up by attribute."""
    if name.startswith("__"):
        raise AttributeError(name)
    return _handler(name)
