"""Only updates from a person reach the feature routers, with their account as `user`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject


class AccountMiddleware(BaseMiddleware):
    """webhook.handle resolves the sender's account together with the update's claim (ttfd.inbound)."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        if data.get("user") is None:
            return None  # bots, channel posts: nothing to earn, nobody to answer
        return await handler(event, data)
