"""AWS Lambda handlers for every function in main.py: `functions/aws.<name>` in serverless.yml.

HTTP functions sit behind API Gateway's HTTP API (payload 2.0, the same shape as a Function URL). apig-wsgi
turns that event into a WSGI request for a one-route Flask app whose only view is main.py's function, so
each function gets exactly the flask.Request it gets from functions-framework: one code path on both clouds.
apig-wsgi (well kept, ~350 lines, handles cookies, base64 bodies and binary answers such as the rank card)
rather than our own adapter: those details are where hand-written adapters go wrong.

Scheduled functions have no URL on AWS: EventBridge invokes them directly, and anything else that reaches
the handler is refused. Handlers are built on first use, so a function imports only its own modules.

Settings: the function's environment names its Secrets Manager secret (TTFD_SECRET_ID), never its values.
It is read while the instance initialises (and, if that failed, by the first request), and every invocation
starts with `get_settings.refresh()`, which re-reads it once its TTL (60 s) has passed — so a rotated setting
applies without a redeploy. A change is applied here, between invocations (a Lambda instance serves one at a
time), to what was built from the old settings: a new DATABASE_URL closes the pool (the next transaction
opens one to the new URL), new tokens rebuild the API clients. If the secret cannot be read at all, HTTP
functions answer 503 (Telegram redelivers; 500 if what it holds is invalid) and scheduled ones skip their tick.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from functools import cache
from typing import Any

from ttfd.core.errors import ConfigError
from ttfd.core.settings import SecretUnavailable, get_settings, secret_ids

log = logging.getLogger(__name__)
Handler = Callable[[dict[str, Any], Any], Any]
_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
# What a rotated setting replaces. Looked up in sys.modules: a function that never loaded a client has none.
POOL_SETTINGS = frozenset({"DATABASE_URL", "TTFD_POOL_SIZE", "TTFD_PREPARED_STATEMENTS"})
# module → (its cached builder, the settings it was built from)
CLIENT_SETTINGS = {
    "ttfd.clients.discord_rest": ("shared", frozenset({"DISCORD_BOT_TOKEN", "DISCORD_API_BASE"})),
    "ttfd.clients.telegram": ("shared", frozenset({"TELEGRAM_BOT_TOKEN", "TELEGRAM_API_BASE"})),
    "ttfd.clients.discord_oauth": (
        "shared",
        frozenset({"DISCORD_CLIENT_ID", "DISCORD_CLIENT_SECRET", "DISCORD_OAUTH_BASE"}),
    ),
    "webhooks.telegram.runtime": ("_bot", frozenset({"TELEGRAM_BOT_TOKEN", "TELEGRAM_BOT_USERNAME"})),
}


def rebuild_after_rotation(changed: frozenset[str]) -> None:
    """Drop what was built from settings that just changed; the next use builds it from the new ones."""
    db = sys.modules.get("ttfd.core.db")
    if db is not None and changed & POOL_SETTINGS:
        db.close_pool()
    for module, (builder, names) in CLIENT_SETTINGS.items():
        loaded = sys.modules.get(module)
        if loaded is not None and changed & names:
            getattr(loaded, builder).cache_clear()


def _lambda_logging() -> None:
    """Lambda's runtime puts its own handler on the root logger (one CloudWatch event per record): adopt it
    so logs.setup() gives it our escaping formatter instead of adding a second handler (every line twice)."""
    from ttfd.core import logs

    for h in logging.getLogger().handlers:
        h._ttfd = True  # type: ignore[attr-defined]
    logs.setup()


get_settings.on_change(rebuild_after_rotation)
if os.environ.get("AWS_LAMBDA_RUNTIME_API"):
    _lambda_logging()
    if secret_ids():
        # Every settings section by name (importing no feature): a secret's names are checked against all of
        # them; each loaded feature's values too (ttfd.core.settings.sections).
        import ttfd.features  # noqa: F401

        try:  # during the instance's init: provisioned instances start with their settings
            get_settings()
        except Exception as exc:  # the first request tries again and answers 503 if it cannot either
            log.error("settings not read at init: %s", exc if isinstance(exc, ConfigError) else type(exc).__name__)


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
            from ttfd.features.health import runs  # measured (not through main.py) and recorded for health

            return runs.invoked(REGISTRY, name, ("process_events", "run_jobs") if woken else None)
        except db.Unavailable as exc:  # the next tick catches up; no retry storm (retries are off)
            log.warning("%s not run: %s", name, exc)
            return {"unavailable": str(exc)}

    return handler


def with_current_settings(name: str, handler: Handler, scheduled: bool) -> Handler:
    """The handler behind a settings refresh: each invocation starts on the current version of the secret."""

    def invoke(event: dict[str, Any], context: Any) -> Any:
        try:
            get_settings.refresh()
        except Exception as exc:  # SecretUnavailable (try again), or the secret holds what cannot be used
            # A ConfigError names settings, never values; anything else is named by its type only (its text
            # may quote what it refused), and never with a traceback.
            log.error("%s not run: %s", name, exc if isinstance(exc, ConfigError) else type(exc).__name__)
            if scheduled:
                return {"unavailable": "settings"}
            status = 503 if isinstance(exc, SecretUnavailable) else 500
            return {"statusCode": status, "headers": {"retry-after": "5", "content-type": "text/plain"}, "body": ""}
        return handler(event, context)

    return invoke


@cache
def _handler(name: str) -> Handler:
    from ttfd.features.lazy import REGISTRY  # the functions' kinds from the routing table: no feature imported

    kind = REGISTRY.functions.get(name)
    if kind is None:
        raise AttributeError(f"no function {name!r} in the registry")
    scheduled = kind == "scheduled"
    return with_current_settings(name, schedule_handler(name) if scheduled else http_handler(name), scheduled)


def __getattr__(name: str) -> Handler:
    """`functions.aws.api_me` and friends: the runtime looks the handler up by attribute."""
    if name.startswith("__"):
        raise AttributeError(name)
    return _handler(name)
