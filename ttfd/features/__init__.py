"""The registry: every feature TTFD has, in the order their Telegram message handlers run and /help lists
them. Adding a feature is adding its package and one line here (README: "Adding a feature")."""

from __future__ import annotations

from ttfd.core import settings
from ttfd.features import (
    accounts,
    achievements,
    activity,
    auth,
    automod,
    daily,
    games,
    general,
    health,
    leaderboards,
    moderation,
    platform,
    profiles,
    ranks,
    seasons,
    shop,
    verification,
)
from ttfd.registry import Feature, Registry

FEATURES: tuple[Feature, ...] = (
    platform.FEATURE,
    general.FEATURE,
    profiles.FEATURE,
    achievements.FEATURE,  # before any feature whose merge inserts rows that unlock achievements
    daily.FEATURE,
    leaderboards.FEATURE,
    seasons.FEATURE,
    games.FEATURE,
    shop.FEATURE,
    accounts.FEATURE,
    ranks.FEATURE,
    moderation.FEATURE,
    automod.FEATURE,  # before activity: an offending group message is taken, not paid XP
    activity.FEATURE,
    auth.FEATURE,
    verification.FEATURE,
    health.FEATURE,  # operators' view: /health, `python -m ttfd status`, schedule_runs
)
REGISTRY = Registry(FEATURES)
settings.register_sections(
    tuple((f.settings, getattr(f.settings, "ENV_PREFIX", "")) for f in REGISTRY.features if f.settings)
)
