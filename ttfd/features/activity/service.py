"""Chat activity: messages_sent and message XP with a per-user cooldown (MEE6-style)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from ttfd.core import ledger
from ttfd.core.db import Conn
from ttfd.core.settings import bounded


@dataclass(frozen=True)
class ActivitySettings:
    """MESSAGE_XP_MIN … MESSAGE_XP_COOLDOWN_S."""

    ENV_PREFIX: ClassVar[str] = "MESSAGE_XP_"
    min: int = bounded(15, 0, 10**6)
    max: int = bounded(25, 0, 10**6)
    cooldown_s: int = bounded(60, 0, 86400)

    def __post_init__(self) -> None:
        if self.min > self.max:
            from ttfd.core.errors import ConfigError

            raise ConfigError("MESSAGE_XP_MIN must not exceed MESSAGE_XP_MAX")


# On the live account (sql/0004): the sender may have been merged into another account meanwhile.
# With the XP multiplier at the message's own time (an XP boost from the shop doubles it: sql/0007).
_COUNT = """
UPDATE unified_users SET messages_sent = messages_sent + 1
WHERE id = (SELECT id FROM lock_live_user(%(user_id)s))
RETURNING id, xp_multiplier(id, coalesce(%(at)s, now())) AS multiplier
"""
# Take the cooldown only if it has expired; the row lock makes concurrent messages agree on one winner.
# `at` is when the message was written: polled Discord messages arrive in batches, minutes after the fact.
_TAKE_COOLDOWN = """
INSERT INTO cooldowns AS c (user_id, key, until)
VALUES (%(user_id)s, %(key)s, coalesce(%(at)s, now()) + make_interval(secs => %(seconds)s))
ON CONFLICT (user_id, key) DO UPDATE SET until = EXCLUDED.until WHERE c.until <= coalesce(%(at)s, now())
RETURNING until
"""


def count_message(conn: Conn, user_id: int, at: datetime | None = None) -> tuple[int, int]:
    """One more message sent by this user: (the live account that counted it, its XP multiplier at `at`)."""
    row = conn.execute(_COUNT, {"user_id": user_id, "at": at}).fetchone()
    assert row is not None
    return int(row["id"]), int(row["multiplier"])


def take_cooldown(conn: Conn, user_id: int, key: str, seconds: int, at: datetime | None = None) -> bool:
    """True if the cooldown was free at `at` (default now) and is now taken for `seconds` from then."""
    params = {"user_id": user_id, "key": key, "seconds": seconds, "at": at}
    return conn.execute(_TAKE_COOLDOWN, params).fetchone() is not None


def message_xp(
    conn: Conn,
    settings: ActivitySettings,
    user_id: int,
    platform: str,
    xp: int,
    source_key: str,
    at: datetime | None = None,
) -> ledger.Movement | None:
    """Count the message, and pay `xp` (doubled during an XP boost) unless the user earned message XP within
    the cooldown."""
    user_id, multiplier = count_message(conn, user_id, at)
    if not take_cooldown(conn, user_id, f"msgxp:{platform}", settings.cooldown_s, at):
        return None
    return ledger.grant(
        conn, user_id, "xp", xp * multiplier, reason="message", platform=platform, source_key=source_key
    )
