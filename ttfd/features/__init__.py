"""The registry: every feature TTFD has, in the order their Telegram message handlers run and /help lists
them. Adding a feature is adding its package and one line here (README: "Adding a feature"), then
`make manifests`.

Importing this package imports no feature. `FEATURES` and `REGISTRY` (the full registry: schedules, the CLI,
the dev server, Telegram, tests) import every feature on first use; a Discord interaction or a site function
uses ttfd.features.lazy instead, which imports only the features its request needs, as the routing table
ttfd/features/routes.py (written by `make manifests` from this list) says.
"""

from __future__ import annotations

import importlib
import threading
from typing import TYPE_CHECKING

from ttfd.core import settings
from ttfd.features import routes as routes  # the routing table (`make manifests` writes it)

if TYPE_CHECKING:
    from ttfd.registry import Feature, Registry

    FEATURES: tuple[Feature, ...]
    REGISTRY: Registry

NAMES: tuple[str, ...] = (
    "platform",
    "general",
    "profiles",
    "achievements",  # before any feature whose merge inserts rows that unlock achievements
    "daily",
    "leaderboards",
    "seasons",
    "games",
    "shop",
    "reputation",  # /rep, /repboard, /repcard; its part of /profile after the season's
    "accounts",
    "ranks",
    "moderation",
    "automod",  # before activity: an offending group message is taken, not paid XP
    "activity",
    "auth",
    "verification",
    "announcements",  # /update: a preview, then posted once to Discord and a linked Telegram channel
    "vpn",  # the VPN store: plans, orders, payments, keys from the 3x-ui panel
    "imgsay",  # /imgsay: a caption drawn on a picture or a plain card
    "health",  # operators' view: /health, `python -m ttfd status`, schedule_runs
)
# Every feature's settings section, by name: a secret's names are checked against all of them, whichever
# features this process imports (ttfd.core.settings.sections).
settings.register_sections(
    settings.SectionRef(cls, prefix, routes.SETTINGS_NAMES.get(cls, ())) for cls, prefix in routes.SETTINGS
)
_building = threading.RLock()


def __getattr__(name: str) -> object:
    """`FEATURES` and `REGISTRY`, built on first use: every feature imported, in NAMES' order."""
    if name not in ("FEATURES", "REGISTRY"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    with _building:
        if "REGISTRY" not in globals():
            from ttfd.registry import Registry

            features: tuple[Feature, ...] = tuple(importlib.import_module(f"{__name__}.{n}").FEATURE for n in NAMES)
            registry = Registry(features)
            sections = ((f.settings, getattr(f.settings, "ENV_PREFIX", "")) for f in features if f.settings)
            settings.register_sections(sections)
            globals().update(FEATURES=features, REGISTRY=registry)
    return globals()[name]
