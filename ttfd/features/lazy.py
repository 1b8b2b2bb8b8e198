"""The registry of a cold function instance: `REGISTRY` answers as ttfd.features.REGISTRY does, but imports a
feature only when the request needs something it contributes, as the routing table says (ttfd.routing).
Used by the Discord interactions function and the site functions; everything else uses the full registry."""

from __future__ import annotations

from ttfd.features import routes
from ttfd.routing import LazyRegistry, Table

TABLE = Table(
    features=routes.FEATURES,
    keyed={
        "commands": routes.COMMANDS,
        "telegram_commands": routes.TELEGRAM_COMMANDS,
        "actions": routes.ACTIONS,
        "routes": routes.ROUTES,
        "schedules": routes.SCHEDULES,
    },
    hooks=routes.HOOKS,
    functions=routes.FUNCTIONS,
    job_kinds=routes.JOB_KINDS,
    settings=routes.SETTINGS,
    settings_names=routes.SETTINGS_NAMES,
)
REGISTRY = LazyRegistry(TABLE)
