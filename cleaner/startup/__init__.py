"""Startup manager: list and toggle programs started at login, per OS, behind one interface."""

from __future__ import annotations

from cleaner.startup.base import (
    CATEGORIES,
    Runner,
    StartupEntry,
    StartupError,
    StartupSource,
    run_command,
)

__all__ = ["CATEGORIES", "Runner", "StartupEntry", "StartupError", "StartupSource", "run_command"]
