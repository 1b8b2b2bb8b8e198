"""Refusals a person caused and can understand, with words safe to show on every surface.

One hierarchy, classified in one place (`ttfd.core.failures.classify`) beside every other failure, and only
rendered by each surface: an ephemeral Discord reply, a Telegram message, a site problem+json with `status`.
The same refusal reads the same everywhere.
"""

from __future__ import annotations

from ttfd.core.i18n import N_, Msg, _
from ttfd.core.inputs import safe_text


def _safe(message: str) -> str:
    """What a refusal quotes of what a person sent, made safe to store and show (a NUL, a bidi override)."""
    if isinstance(message, Msg):
        return message.with_values({k: safe_text(v) if type(v) is str else v for k, v in message.values.items()})
    return safe_text(message)


class DomainError(Exception):
    """A refusal; `message` is shown to the person (privately where the platform can).

    Messages often quote what the person sent; they are stored for redeliveries and shown to others, so
    whatever they quote is made safe here, once, for every refusal."""

    status = 409  # the site's HTTP status for this refusal

    def __init__(self, message: str) -> None:
        message = _safe(message)
        super().__init__(message)
        self.message = message  # a Msg: said in the reader's language where it is shown


class BadInput(DomainError):
    """What was sent cannot be used (a wrong option, a stale button); `usage` says how to ask instead."""

    status = 400

    def __init__(self, message: str, usage: str | None = None) -> None:
        super().__init__(_("{refusal}\nUsage: {usage}", refusal=message, usage=usage) if usage else message)
        self.reason, self.usage = message, usage


class NotFound(DomainError):
    status = 404


class Forbidden(DomainError):
    status = 403


class InsufficientFunds(DomainError):
    """A debit would take a balance below zero (the database refuses it too)."""

    def __init__(self, currency: str = "coins", needed: int | None = None, have: int | None = None) -> None:
        if currency != "coins":
            message = _("Not enough XP.")
        elif needed is None or have is None:
            message = _("Not enough coins. Claim /daily for more.")
        else:  # a new player is told how to get some
            message = _(
                "Not enough coins: you have {have}, this needs {needed}. Claim /daily for more.",
                have=have,
                needed=needed,
            )
        super().__init__(message)
        self.currency = currency


class Cooldown(DomainError):
    """Too soon; try again after `retry_after` seconds."""

    status = 429

    def __init__(self, retry_after: float) -> None:
        wait = max(1, round(retry_after))
        super().__init__(N_("Slow down: try again in {n} second.", "Slow down: try again in {n} seconds.", wait))
        self.retry_after = wait


class PermanentJobError(Exception):
    """Retrying cannot help (bad payload, missing permission): the job goes straight to dead."""


class ConfigError(RuntimeError):
    """A required setting is missing; raised loudly at first use, never shown to end users."""
