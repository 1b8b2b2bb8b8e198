"""Finds or creates the unified account for whoever sent the update and hands it to handlers as `user`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import CallbackQuery, Message, TelegramObject

from ttfd import accounts


class AccountMiddleware(BaseMiddleware):
    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        sender = event.from_user if isinstance(event, Message | CallbackQuery) else None
        if sender is None or sender.is_bot:
            return None  # channel posts and other bots earn nothing and get no reply
        name = " ".join(p for p in (sender.first_name, sender.last_name) if p)
        data["user"] = accounts.ensure_user(data["conn"], "telegram", sender.id, sender.username, name or None)
        return await handler(event, data)
