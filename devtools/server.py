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
from werkzeug.routing import BaseConverter

import main
from devtools import demo, fake_discord, fake_telegram
from devtools.scheduler import Scheduler
from functions.http import problem
from functions.scheduled import SECRET_HEADER
from ttfd.core.settings import get_settings
from ttfd.features import REGISTRY

log = logging.getLogger(__name__)
HTTP_FUNCTIONS = {"discord_interactions": "/discord/interactions", "telegram_webhook": "/telegram/webhook"}
# As deployed, a function receives every method and answers 405 (with Allow) to the ones it does not take.
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class _Anything(BaseConverter):
    """Any rest of the path, newlines and odd bytes included: the function decides what is valid."""

    regex = r"[\s\S]+"
    part_isolating = False


FAKE_DISCORD_PREFIX = "/_fake/discord"
FAKE_TELEGRAM_PREFIX = "/_fake/telegram"


def create_app(site_dir: Path, after_inbound: Callable[[], None] = lambda: None) -> Flask:
    """The functions and the static site under one Flask app."""
    app = Flask("ttfd-local", static_folder=None)
    app.url_map.converters["anything"] = _Anything

    def mount(name: str, path: str, methods: list[str], kick: bool, options: bool = True) -> None:
        fn = getattr(main, name)

        def view(**_: str) -> Response:  # path parameters: the function reads request.path itself
            resp: Response = fn(request)
            if kick:
                after_inbound()
            return resp

        # Site functions answer only their documented methods: anything else is a 405 with an Allow header.
        app.add_url_rule(path, endpoint=name, view_func=view, methods=methods, provide_automatic_options=options)

    for name, path in HTTP_FUNCTIONS.items():
        mount(name, path, ["POST", "GET"], kick=True)
    for name in REGISTRY.schedules:
        mount(name, f"/scheduled/{name}", ["POST", "GET"], kick=False)
    # The website's functions on the paths the site calls (a trailing <ref> takes the rest of the path);
    # any write may emit events or queue jobs, so the scheduler is kicked after each.
    for name, route in REGISTRY.routes.items():
        mount(name, route.path.replace("<ref>", "<anything:ref>"), ALL_METHODS, kick=True, options=False)

    def static(name: str, status: int = 200) -> Response:
        """A file of the built site, with the headers the static host sends in production."""
        from static_site.build import SECURITY_HEADERS

        resp = send_from_directory(site_dir, name)
        resp.status_code = status
        resp.headers.update(SECURITY_HEADERS)
        return resp

    @app.get("/u/<path:ref>")
    def public_profile(ref: str) -> Response:
        """A static host rewrites /u/* to the one profile page, which reads the ref from the URL."""
        return static("u.html")

    @app.get("/")
    @app.get("/<path:path>")
    def site(path: str = "index.html") -> Response:
        if path.startswith(("api/", "auth/")):
            return problem(404, "No such function.")
        target = site_dir / path
        if target.is_dir():
            path = f"{path.rstrip('/')}/index.html"
        elif not target.exists() and (site_dir / f"{path}.html").exists():
            path = f"{path}.html"
        elif not target.exists() and (site_dir / "404.html").exists():  # as static hosts serve 404.html
            return static("404.html", 404)
        return static(path)

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
    """Invoke a scheduled function as Cloud Scheduler would (with the scheduler's secret header), without an
    HTTP hop."""

    def fire(name: str) -> None:
        headers = {SECRET_HEADER: get_settings().scheduler_secret or ""}
        with app.test_request_context(f"/scheduled/{name}", method="POST", headers=headers):
            resp = getattr(main, name)(request)
            log.info("schedule %s → %s %s", name, resp.status_code, resp.get_data(as_text=True)[:200])

    return fire


def serve(port: int) -> None:
    """Run until interrupted (assumes settings/env were prepared by the CLI)."""
    from werkzeug.serving import run_simple

    from static_site.build import DIST

    base = f"http://127.0.0.1:{port}"
    discord = fake_discord.DiscordState(token=os.environ["DISCORD_BOT_TOKEN"])
    discord.oauth_clients[os.environ["DISCORD_CLIENT_ID"]] = os.environ["DISCORD_CLIENT_SECRET"]
    discord.oauth_redirect_uris[os.environ["DISCORD_CLIENT_ID"]] = {f"{os.environ['SITE_URL']}/auth/discord/callback"}
    for user_id, username, display_name in demo.discord_logins():
        discord.add_oauth_user(user_id, username, display_name, guilds=(1,))
    telegram = fake_telegram.TelegramState(token=os.environ["TELEGRAM_BOT_TOKEN"])
    # The lambda reads `scheduler` when a request ends, by which time it exists.
    app = create_app(DIST, after_inbound=lambda: scheduler.kick())
    scheduler = Scheduler({name: s.cron for name, s in REGISTRY.schedules.items()}, fire_in_process(app))
    scheduler.start()
    log.info("serving on %s", base)
    run_simple("127.0.0.1", port, with_fakes(app, discord, telegram), threaded=True, use_reloader=False)
