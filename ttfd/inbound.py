"""The first statement of every inbound event: claim its key and load the caller's account together.

Claiming and identifying are separate aggregates (idempotency_keys, unified_users) but every interaction
needs both before anything else, so the common case — a known user, a fresh event — costs one round trip.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import sql

from ttfd import accounts, guilds
from ttfd.accounts import Platform, User
from ttfd.core import idempotency
from ttfd.core.db import Conn

_BEGIN = sql.SQL("""
WITH claim AS (
    INSERT INTO idempotency_keys (key, expires_at)
    VALUES (%(key)s, now() + make_interval(secs => %(ttl)s))
    ON CONFLICT (key) DO NOTHING
    RETURNING key
), touch AS (  -- same upsert as guilds.touch_member, folded in to save a round trip per interaction
    INSERT INTO guild_members (guild_id, user_id)
    SELECT %(guild)s, id FROM unified_users WHERE {col} = %(ext)s AND %(guild)s::bigint IS NOT NULL
    ON CONFLICT (guild_id, user_id) DO UPDATE SET last_seen = now()
    WHERE guild_members.last_seen < now() - interval '1 hour'
)
SELECT EXISTS (SELECT 1 FROM claim) AS fresh, u.*
FROM (SELECT 1) AS one LEFT JOIN unified_users u ON u.{col} = %(ext)s
""")


@dataclass(frozen=True)
class Inbound:
    """`fresh` events carry the caller's account; redeliveries carry the first reply instead."""

    fresh: bool
    user: User | None
    stored_response: Any = None


def begin(
    conn: Conn,
    key: str,
    platform: Platform,
    ext_id: int | str,
    username: str | None,
    display_name: str | None,
    *,
    guild_id: int | None = None,
    ttl_s: int = 86400,
) -> Inbound:
    """Claim `key` and find-or-create the caller (and remember their guild) inside the caller's transaction."""
    col = sql.Identifier(accounts.IDENTITY_COLUMNS[platform])
    row = conn.execute(_BEGIN.format(col=col), {"key": key, "ttl": ttl_s, "ext": ext_id, "guild": guild_id}).fetchone()
    assert row is not None
    if not row["fresh"]:
        # Another delivery holds the key: ask again now that it has committed (or rolled back and freed it).
        again = idempotency.claim(conn, key, ttl_s)
        if not again.fresh:
            return Inbound(False, None, again.response)
    if row["id"] is None:  # first contact: create the account, then remember the guild
        user = accounts.ensure_user(conn, platform, ext_id, username, display_name)
        if guild_id is not None:
            guilds.touch_member(conn, guild_id, user.id)
        return Inbound(True, user)
    user = User.from_row(row)
    if accounts.names_outdated(user, platform, username, display_name):
        user = accounts.ensure_user(conn, platform, ext_id, username, display_name)
    return Inbound(True, user)
