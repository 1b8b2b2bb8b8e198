"""Errors that carry a message safe to show to the user."""

from __future__ import annotations

from ttfd.core.inputs import safe_text


class DomainError(Exception):
    """A refusal the user caused and can understand; entrypoints show `message` privately.

    Messages often quote what the user sent; they are stored for redeliveries and shown to others, so
    whatever they quote is made safe here, once, for every refusal."""

    def __init__(self, message: str) -> None:
        message = safe_text(message)
        super().__init__(message)
        self.message = message


class ConfigError(RuntimeError):
    """A required setting is missing; raised loudly at first use, never shown to end users."""
