"""GCF source file: every entrypoint by its unique name (serverless.yml `handler:` values).

Imports are deferred into each wrapper so a function pays only for its own modules at cold start —
aiogram alone takes seconds to import and must never load for Discord or the schedules.
"""

from __future__ import annotations

from flask import Request, Response

from ttfd.core import logs

logs.setup()  # one escaped line per record, whichever function this process serves


def discord_interactions(request: Request) -> Response:
    from functions.discord.interactions import discord_interactions as fn

    return fn(request)


def telegram_webhook(request: Request) -> Response:
    from webhooks.telegram.webhook import telegram_webhook as fn

    return fn(request)


def process_events(request: Request) -> Response:
    from functions.scheduled.core import process_events as fn

    return fn(request)


def run_jobs(request: Request) -> Response:
    from functions.scheduled.core import run_jobs as fn

    return fn(request)


def poll_messages(request: Request) -> Response:
    from functions.scheduled.core import poll_messages as fn

    return fn(request)


def cleanup(request: Request) -> Response:
    from functions.scheduled.core import cleanup as fn

    return fn(request)


def auth_discord_login(request: Request) -> Response:
    from functions.site.auth import auth_discord_login as fn

    return fn(request)


def auth_discord_callback(request: Request) -> Response:
    from functions.site.auth import auth_discord_callback as fn

    return fn(request)


def auth_logout(request: Request) -> Response:
    from functions.site.auth import auth_logout as fn

    return fn(request)


def auth_telegram(request: Request) -> Response:
    from functions.site.auth import auth_telegram as fn

    return fn(request)


def api_me(request: Request) -> Response:
    from functions.site.api import api_me as fn

    return fn(request)


def api_profile(request: Request) -> Response:
    from functions.site.api import api_profile as fn

    return fn(request)


def api_leaderboard(request: Request) -> Response:
    from functions.site.api import api_leaderboard as fn

    return fn(request)


def api_link_code(request: Request) -> Response:
    from functions.site.api import api_link_code as fn

    return fn(request)
