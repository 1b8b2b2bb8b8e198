"""Errors that carry a message safe to show to the user."""

from __future__ import annotations


class DomainError(Exception):
    """A refusal the user caused and can understand; entrypoints show `message` privately."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(RuntimeError):
    """A required setting is missing; raised loudly at first use, never shown to end users."""
