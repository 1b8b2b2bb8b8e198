"""Refusals a person caused and can understand, with words safe to show on every surface.

One hierarchy, mapped in one place per surface: an ephemeral Discord reply, a Telegram message, a site
problem+json with `status`. The same refusal reads the same everywhere.
"""

from __future__ import annotations

from ttfd.core.inputs import safe_text


class DomainError(Exception):
    """A refusal; `message` is shown to the person (privately where the platform can).

    Messages often quote what the person sent; they are stored for redeliveries and shown to others, so
    whatever they quote is made safe here, once, for every refusal."""

    status = 409  # the site's HTTP status for this refusal

    def __init__(self, message: str) -> None:
        message = safe_text(message)
        super().__init__(message)
        self.message = message


class BadInput(DomainError):
    """What was sent cannot be used (a wrong option, a stale button); `usage` says how to ask instead."""

    status = 400

    def __init__(self, message: str, usage: str | None = None) -> None:
        super().__init__(f"{message}\nUsage: {usage}" if usage else message)


class NotFound(DomainError):
    status = 404


class Forbidden(DomainError):
    status = 403


class InsufficientFunds(DomainError):
    """A debit would take a balance below zero (the database refuses it too)."""

    def __init__(self, currency: str = "coins", needed: int | None = None, have: int | None = None) -> None:
        detail = f" You have {have:,}, this needs {needed:,}." if needed is not None and have is not None else ""
        super().__init__(f"Not enough {currency}.{detail}")
        self.currency = currency


class Cooldown(DomainError):
    """Too soon; try again after `retry_after` seconds."""

    status = 429

    def __init__(self, retry_after: float, what: str = "that") -> None:
        wait = max(1, round(retry_after))
        super().__init__(f"Slow down: you can do {what} again in {wait} s.")
        self.retry_after = wait


class ConfigError(RuntimeError):
    """A required setting is missing; raised loudly at first use, never shown to end users."""
