"""`make run`: every function, the site and the API fakes on one port, with the schedules firing.

functions-framework's create_app executes the source file once per target, so this imports main.py once
and mounts each entrypoint itself, handing it the same Flask request functions-framework would.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from flask import Flask, Response, request, send_from_directory
from werkzeug.middleware.dispatcher import DispatcherMiddleware

import main
from functions.devserver import fake_discord, fake_telegram
from functions.devserver.scheduler import Scheduler, load_schedules
from ttfd.db import ROOT

log = logging.getLogger(__name__)
HTTP_FUNCTIONS = {"discord_interactions": "/discord/interactions", "telegram_webhook": "/telegram/webhook"}
SCHEDULED = ("process_events", "run_jobs", "poll_messages", "cleanup")
FAKE_DISCORD_PREFIX = "/_fake/discord"
FAKE_TELEGRAM_PREFIX = "/_fake/telegram"


def create_app(site_dir: Path, after_inbound: Callable[[], None] = lambda: None) -> Flask:
    """The functions and the static site under one Flask app."""
    app = Flask("ttfd-local", static_folder=None)

    def mount(name: str, path: str, methods: list[str], kick: bool) -> None:
        fn = getattr(main, name)

        def view() -> Response:
            resp: Response = fn(request)
            if kick:
                after_inbound()
            return resp

        app.add_url_rule(path, endpoint=name, view_func=view, methods=methods)

    for name, path in HTTP_FUNCTIONS.items():
        mount(name, path, ["POST", "GET"], kick=True)
    for name in SCHEDULED:
        mount(name, f"/scheduled/{name}", ["POST", "GET"], kick=False)

    @app.get("/")
    @app.get("/<path:path>")
    def site(path: str = "index.html") -> Response:
        target = site_dir / path
        if target.is_dir():
            path = f"{path.rstrip('/')}/index.html"
        elif not target.exists() and (site_dir / f"{path}.html").exists():
            path = f"{path}.html"
        return send_from_directory(site_dir, path)

    return app


def with_fakes(
    app: Flask, discord: fake_discord.DiscordState, telegram: fake_telegram.TelegramState
) -> DispatcherMiddleware:
    """Functions + site at /, the Discord and Telegram API fakes under /_fake/…"""
    return DispatcherMiddleware(
        app,
        {
            FAKE_DISCORD_PREFIX: fake_discord.create_app(discord),
            FAKE_TELEGRAM_PREFIX: fake_telegram.create_app(telegram),
        },
    )


def fire_in_process(app: Flask) -> Callable[[str], None]:
    """Invoke a scheduled function as Cloud Scheduler would, without an HTTP hop."""

    def fire(name: str) -> None:
        with app.test_request_context(f"/scheduled/{name}", method="POST"):
            resp = getattr(main, name)(request)
            log.info("schedule %s → %s %s", name, resp.status_code, resp.get_data(as_text=True)[:200])

    return fire


def serve(port: int) -> None:
    """Run until interrupted (assumes settings/env were prepared by the CLI)."""
    from werkzeug.serving import run_simple

    from static_site.build import DIST

    base = f"http://127.0.0.1:{port}"
    discord = fake_discord.DiscordState(token=os.environ["DISCORD_BOT_TOKEN"])
    telegram = fake_telegram.TelegramState(token=os.environ["TELEGRAM_BOT_TOKEN"])
    # The lambda reads `scheduler` when a request ends, by which time it exists.
    app = create_app(DIST, after_inbound=lambda: scheduler.kick())
    scheduler = Scheduler(load_schedules(ROOT / "serverless.yml"), fire_in_process(app))
    scheduler.start()
    log.info("serving on %s", base)
    run_simple("127.0.0.1", port, with_fakes(app, discord, telegram), threaded=True, use_reloader=False)
