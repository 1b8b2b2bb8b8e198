"""One aiogram Router per feature; order matters only for the catch-all group XP router (last)."""

from __future__ import annotations

from aiogram import Router

from webhooks.telegram.routers import account, daily, groups, profile, top

ROUTERS: tuple[Router, ...] = (account.router, profile.router, daily.router, top.router, groups.router)
