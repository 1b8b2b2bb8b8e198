"""The assembled Discord router: one include_router per feature module."""

from __future__ import annotations

from functions.discord import economy, general, link, profile, setup
from functions.discord.router import Router

root = Router()
for feature in (general, profile, economy, link, setup):
    root.include_router(feature.router)
