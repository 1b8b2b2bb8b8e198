"""Fakes of outgoing HTTP APIs, served as real HTTP servers on 127.0.0.1.

The fake apps live in functions/devserver (the local `make run` mounts the same code); this package
starts them for tests.
"""

from __future__ import annotations

from functions.devserver.fake_discord import DiscordState
from functions.devserver.fake_discord import create_app as discord_app
from functions.devserver.fake_telegram import TelegramState
from functions.devserver.fake_telegram import create_app as telegram_app
from functions.devserver.wsgi_server import RunningServer

__all__ = ["DiscordState", "RunningServer", "TelegramState", "discord_app", "telegram_app"]
