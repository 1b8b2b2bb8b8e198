"""Fakes of outgoing HTTP APIs, served as real HTTP servers on 127.0.0.1.

The fake apps live in devtools/ (the local `make run` mounts the same code); this package
starts them for tests.
"""

from __future__ import annotations

from devtools.fake_discord import DiscordState
from devtools.fake_discord import create_app as discord_app
from devtools.fake_telegram import TelegramState
from devtools.fake_telegram import create_app as telegram_app
from devtools.wsgi_server import RunningServer

__all__ = ["DiscordState", "RunningServer", "TelegramState", "discord_app", "telegram_app"]
