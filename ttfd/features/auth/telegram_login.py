"""Telegram Login Widget data: HMAC-SHA256 keyed by SHA-256(bot token), fresh for at most a day."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass

from ttfd.core.i18n import Msg, _

MAX_AGE_S = 86400
FUTURE_SKEW_S = 300  # clocks differ a little; a login "from the future" beyond this is forged or broken
FIELDS = ("id", "first_name", "last_name", "username", "photo_url", "auth_date")


class InvalidLogin(Exception):
    """The data was not signed by Telegram for this bot, or is too old; `message` says so to the person."""

    def __init__(self, message: Msg) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class TelegramIdentity:
    id: int
    first_name: str
    last_name: str | None
    username: str | None
    auth_date: int
    hash: str

    @property
    def display_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip() if self.last_name else self.first_name


def data_check_string(fields: Mapping[str, object]) -> str:
    """Every received field but `hash`, as key=value lines in key order (exactly what Telegram signed)."""
    return "\n".join(f"{k}={fields[k]}" for k in sorted(fields) if k != "hash")


def sign(fields: Mapping[str, object], bot_token: str) -> str:
    """The hash Telegram would send for these fields (used by verify and by the dev/test fakes)."""
    secret = hashlib.sha256(bot_token.encode()).digest()
    return hmac.new(secret, data_check_string(fields).encode(), hashlib.sha256).hexdigest()


def verify(fields: Mapping[str, object], bot_token: str, now: float | None = None) -> TelegramIdentity:
    """Check the signature over exactly the fields received, then the age; raises InvalidLogin."""
    received = str(fields.get("hash", ""))
    if not hmac.compare_digest(sign(fields, bot_token), received):
        raise InvalidLogin(_("This Telegram login is not signed by our bot."))
    try:
        auth_date, user_id = int(str(fields["auth_date"])), int(str(fields["id"]))
    except (KeyError, ValueError) as exc:
        raise InvalidLogin(_("This Telegram login lacks the account id or its time.")) from exc
    age = (time.time() if now is None else now) - auth_date
    if age > MAX_AGE_S or age < -FUTURE_SKEW_S:
        raise InvalidLogin(_("This Telegram login has expired; sign in with Telegram again."))
    last, username = fields.get("last_name"), fields.get("username")
    return TelegramIdentity(
        user_id,
        str(fields.get("first_name", "")),
        str(last) if last else None,
        str(username) if username else None,
        auth_date,
        received,
    )
