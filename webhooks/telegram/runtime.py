"""Process-wide aiogram objects and the one event loop they live on.

aiogram's HTTP session belongs to one loop, and closing it costs ~250 ms, so instead of asyncio.run per
request we keep one loop in a daemon thread and submit each update to it, waiting for the result before
the HTTP response is written (no work survives the response).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from functools import lru_cache
from typing import Any, TypeVar

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode

from ttfd.settings import get_settings

T = TypeVar("T")
_loop: asyncio.AbstractEventLoop | None = None
_lock = threading.Lock()


def loop() -> asyncio.AbstractEventLoop:
    """The process's aiogram loop, started on first use."""
    global _loop
    with _lock:
        if _loop is None:
            new = asyncio.new_event_loop()
            threading.Thread(target=new.run_forever, name="aiogram-loop", daemon=True).start()
            _loop = new
    return _loop


def run(coro: Coroutine[Any, Any, T], timeout: float = 25.0) -> T:
    """Run a coroutine on the aiogram loop and wait for it (Telegram times out webhooks at ~60 s).

    On timeout the coroutine is cancelled and awaited before we give up, so it can never go on using the
    caller's database connection after the caller's transaction has ended.
    """
    future = asyncio.run_coroutine_threadsafe(coro, loop())
    try:
        return future.result(timeout)
    except concurrent.futures.TimeoutError:
        future.cancel()
        concurrent.futures.wait([future])  # bounded: handlers only do SQL, capped by statement_timeout
        raise


@lru_cache(maxsize=1)
def bot() -> Bot:
    """One Bot per process: building its SSL context costs ~35 ms."""
    s = get_settings()
    # Bot API calls happen after our transaction commits; keep them well inside Telegram's webhook wait.
    session = AiohttpSession(api=TelegramAPIServer.from_base(s.telegram_api_base), timeout=10)
    return Bot(
        s.require("telegram_bot_token"),
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML),
    )


@lru_cache(maxsize=1)
def dispatcher() -> Dispatcher:
    """The Dispatcher with every feature router included."""
    from webhooks.telegram.middleware import AccountMiddleware
    from webhooks.telegram.routers import ROUTERS

    dp = Dispatcher()
    dp.message.outer_middleware(AccountMiddleware())
    dp.callback_query.outer_middleware(AccountMiddleware())
    for router in ROUTERS:
        dp.include_router(router)
    return dp
