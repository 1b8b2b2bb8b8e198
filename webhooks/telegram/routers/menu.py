"""Callback data shared by the feature routers (≤ 64 bytes, like every Telegram callback_data)."""

from __future__ import annotations

from typing import Literal

from aiogram.filters.callback_data import CallbackData


class MenuAction(CallbackData, prefix="menu"):
    action: Literal["profile", "daily", "top"]


class TopPage(CallbackData, prefix="top"):
    board: Literal["xp", "week", "coins"]
    page: int
