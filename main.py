"""GCF source file: every deployable function by its unique name (the names the deploy manifests use).

Imports are deferred into each wrapper so a function pays only for its own modules at cold start:
aiogram (seconds) loads only for Telegram, Pillow only for rank cards. A test checks that this file lists
exactly the registry's functions (ttfd.features: every feature's routes and schedules, plus the two
platform entrypoints).
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


def api_me(request: Request) -> Response:
    from functions.site import handle

    return handle("api_me", request)


def api_profile(request: Request) -> Response:
    from functions.site import handle

    return handle("api_profile", request)


def api_leaderboard(request: Request) -> Response:
    from functions.site import handle

    return handle("api_leaderboard", request)


def api_shop(request: Request) -> Response:
    from functions.site import handle

    return handle("api_shop", request)


def api_shop_buy(request: Request) -> Response:
    from functions.site import handle

    return handle("api_shop_buy", request)


def api_seasons(request: Request) -> Response:
    from functions.site import handle

    return handle("api_seasons", request)


def api_link_code(request: Request) -> Response:
    from functions.site import handle

    return handle("api_link_code", request)


def api_link_redeem(request: Request) -> Response:
    from functions.site import handle

    return handle("api_link_redeem", request)


def auth_discord_login(request: Request) -> Response:
    from functions.site import handle

    return handle("auth_discord_login", request)


def auth_discord_callback(request: Request) -> Response:
    from functions.site import handle

    return handle("auth_discord_callback", request)


def auth_logout(request: Request) -> Response:
    from functions.site import handle

    return handle("auth_logout", request)


def auth_telegram(request: Request) -> Response:
    from functions.site import handle

    return handle("auth_telegram", request)


def process_events(request: Request) -> Response:
    from functions.scheduled import run

    return run("process_events", request)


def run_jobs(request: Request) -> Response:
    from functions.scheduled import run

    return run("run_jobs", request)


def season_rollover(request: Request) -> Response:
    from functions.scheduled import run

    return run("season_rollover", request)


def cleanup(request: Request) -> Response:
    from functions.scheduled import run

    return run("cleanup", request)


def verification_expire(request: Request) -> Response:
    from functions.scheduled import run

    return run("verification_expire", request)


def poll_messages(request: Request) -> Response:
    from functions.scheduled import run

    return run("poll_messages", request)
