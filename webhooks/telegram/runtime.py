"""Process-wide aiogram objects, and an event loop per request thread to run updates on.

Handlers do blocking database work. On one loop shared by every request, a handler waiting for a row
lock would block the very loop that the lock's holder needs to finish: a deadlock broken only by the
statement timeout. So each request thread runs its update on a loop of its own, and no update's
transaction ever depends on another update's progress. The loops never open aiogram's HTTP session
(replies go back in the webhook body; other Bot API calls use the plain client in ttfd.clients), so a
loop is cheap to keep per thread (~10 µs per update) and to close when its thread ends.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine
from functools import lru_cache
from typing import Any, TypeVar

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.enums import ParseMode
from aiogram.types import User

from ttfd.core.settings import get_settings

T = TypeVar("T")


class _OwnLoop:
    """A thread's loop, held in that thread's locals: closed when the thread ends and drops them."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()

    def __del__(self) -> None:
        if not self.loop.is_running():
            self.loop.close()


_local = threading.local()


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion on the calling thread's own loop."""
    own: _OwnLoop | None = getattr(_local, "own", None)
    if own is None:
        own = _local.own = _OwnLoop()
    return own.loop.run_until_complete(coro)


_build_lock = threading.Lock()


@lru_cache(maxsize=1)
def _bot() -> Bot:
    s = get_settings()
    bot = Bot(s.require("telegram_bot_token"), default=DefaultBotProperties(parse_mode=ParseMode.HTML))
    if username := os.environ.get("TELEGRAM_BOT_USERNAME"):
        # aiogram's command filter asks getMe to tell "/top@us" from "/top@another_bot": answer it here,
        # so routing never calls the Bot API.
        bot._me = User(id=bot.id, is_bot=True, first_name="TTFD", username=username)
    return bot


def bot() -> Bot:
    """One Bot per process (building it costs ~35 ms); used for its id and to mount updates, never to send."""
    with _build_lock:  # request threads of a cold instance arrive together; lru_cache would build twice
        return _bot()


@lru_cache(maxsize=1)
def _dispatcher() -> Dispatcher:
    from ttfd.features import REGISTRY
    from webhooks.telegram import routing

    dp = Dispatcher()
    dp.include_router(routing.build(REGISTRY, os.environ.get("TELEGRAM_BOT_USERNAME")))
    return dp


def dispatcher() -> Dispatcher:
    """The Dispatcher routing every update, built once however many threads ask at once."""
    with _build_lock:
        return _dispatcher()
