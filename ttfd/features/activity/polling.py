"""Discord message XP without a gateway: poll opted-in channels over REST for messages since the last one."""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ttfd.clients.discord_rest import DiscordREST
from ttfd.clients.http import HTTPError, RateLimited
from ttfd.core import audit, db, users
from ttfd.core.db import Conn
from ttfd.features.activity import service
from ttfd.features.activity.service import ActivitySettings

log = logging.getLogger(__name__)
DISCORD_EPOCH_MS = 1420070400000
PAGE = 100
MAX_PAGES = 10  # per channel per run: a burst beyond 1,000 messages/minute is picked up by the next runs
CHATTY_TYPES = {0, 19}  # DEFAULT and REPLY; joins, pins, boosts … are not chat

_SET = """
INSERT INTO guild_xp_channels (channel_id, guild_id, added_by, last_message_id)
VALUES (%(channel)s, %(guild)s, %(actor)s, %(since)s)
ON CONFLICT (channel_id) DO UPDATE SET guild_id = EXCLUDED.guild_id, last_error = NULL
"""
_UNSET = "DELETE FROM guild_xp_channels WHERE channel_id = %(channel)s AND guild_id = %(guild)s"
_LIST = "SELECT channel_id FROM guild_xp_channels WHERE guild_id = %(guild)s ORDER BY created_at"
_NEXT = """
SELECT channel_id, guild_id, last_message_id FROM guild_xp_channels
WHERE polled_at IS NULL OR polled_at <= now() - make_interval(secs => %(interval)s)
ORDER BY polled_at NULLS FIRST
LIMIT 1
FOR UPDATE SKIP LOCKED
"""
_DONE = """
UPDATE guild_xp_channels SET last_message_id = %(last)s, polled_at = now(), last_error = %(error)s
WHERE channel_id = %(channel)s
"""


def snowflake_at(ms: int) -> int:
    """The smallest Discord snowflake created at unix time `ms`."""
    return (ms - DISCORD_EPOCH_MS) << 22


def set_channel(conn: Conn, guild_id: int, channel_id: int, actor_id: int, enabled: bool) -> list[int]:
    """Opt a channel in or out of message XP; returns the guild's XP channels."""
    if enabled:
        # Messages from before the opt-in earn nothing: start counting from now.
        since = snowflake_at(int(time.time() * 1000))
        conn.execute(_SET, {"channel": channel_id, "guild": guild_id, "actor": actor_id, "since": since})
    else:
        conn.execute(_UNSET, {"channel": channel_id, "guild": guild_id})
    audit.record(conn, guild_id, actor_id, "xp_channel.set", {"channel_id": str(channel_id), "enabled": enabled})
    return [int(r["channel_id"]) for r in conn.execute(_LIST, {"guild": guild_id})]


@dataclass
class PollStats:
    channels: int = 0
    messages: int = 0
    paid: int = 0
    errors: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"channels": self.channels, "messages": self.messages, "paid": self.paid, "errors": self.errors}


def _counts(msg: dict[str, Any]) -> bool:
    author = msg.get("author") or {}
    return msg.get("type", 0) in CHATTY_TYPES and not author.get("bot") and not msg.get("webhook_id")


def _poll_one(conn: Conn, settings: ActivitySettings, rest: DiscordREST, stats: PollStats, interval_s: int) -> bool:
    row = conn.execute(_NEXT, {"interval": interval_s}).fetchone()
    if row is None:
        return False
    channel, guild, last = int(row["channel_id"]), int(row["guild_id"]), int(row["last_message_id"])
    stats.channels += 1
    error = None
    try:
        for _ in range(MAX_PAGES):
            page = sorted(rest.get_messages(channel, after=last, limit=PAGE), key=lambda m: int(m["id"]))
            for msg in page:
                stats.messages += 1
                last = max(last, int(msg["id"]))
                if _counts(msg):
                    stats.paid += _pay(conn, settings, guild, msg)
            if len(page) < PAGE:
                break
    except RateLimited:
        pass  # keep what was counted; the next run continues from `last`
    except HTTPError as exc:
        stats.errors += 1
        error = str(exc)[:500]
        log.warning("polling channel %s failed: %s", channel, error)
    conn.execute(_DONE, {"last": last, "error": error, "channel": channel})
    return True


def _pay(conn: Conn, settings: ActivitySettings, guild_id: int, msg: dict[str, Any]) -> int:
    author = msg["author"]
    user = users.ensure_user(conn, "discord", int(author["id"]), author.get("username"), author.get("global_name"))
    users.touch_member(conn, guild_id, user.id)
    at = datetime.fromisoformat(msg["timestamp"]) if msg.get("timestamp") else None
    xp = random.randint(settings.min, settings.max)
    paid = service.message_xp(conn, settings, user.id, "discord", xp, f"dmsg:{msg['id']}", at=at)
    return 1 if paid else 0


def poll_channels(
    settings: ActivitySettings, rest: DiscordREST, max_channels: int = 50, interval_s: int = 30
) -> PollStats:
    """Poll channels not polled for `interval_s`, each in its own transaction holding only that channel's row."""
    stats = PollStats()
    for _ in range(max_channels):
        with db.transaction(db.BACKGROUND_TIMEOUT_S) as conn:
            if not _poll_one(conn, settings, rest, stats, interval_s):
                break
    return stats
