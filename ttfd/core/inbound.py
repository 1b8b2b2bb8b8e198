"""The first statement of every inbound event: claim its key and load the caller's account together.

Claiming and identifying are separate aggregates (idempotency_keys, unified_users) but every interaction
needs both before anything else, so the common case — a known user, a fresh event — costs one round trip.
Read-only commands skip the claim: `identify` loads the caller in one statement that writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

from ttfd.core import db, idempotency, users
from ttfd.core.db import Conn
from ttfd.core.idempotency import Start
from ttfd.core.users import Platform, User

_BEGIN = sql.SQL("""
WITH claim AS (
    INSERT INTO idempotency_keys (key, expires_at)
    VALUES (%(key)s, now() + make_interval(secs => %(ttl)s))
    ON CONFLICT (key) DO NOTHING
    RETURNING key
), touch AS (  -- the upsert of users.touch_member, folded in to save a round trip per interaction
    INSERT INTO guild_members (guild_id, user_id)
    SELECT %(guild)s, id FROM unified_users WHERE {col} = %(ext)s AND %(guild)s::bigint IS NOT NULL
    ON CONFLICT (guild_id, user_id) DO UPDATE SET last_seen = now()
    WHERE guild_members.last_seen < now() - interval '1 hour'
)
SELECT EXISTS (SELECT 1 FROM claim) AS fresh, u.*
FROM (SELECT 1) AS one LEFT JOIN unified_users u ON u.{col} = %(ext)s
""")
_IDENTIFY = sql.SQL("""
SELECT u.*, (%(guild)s::bigint IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM guild_members m
    WHERE m.guild_id = %(guild)s AND m.user_id = u.id AND m.last_seen > now() - interval '1 hour')) AS stale
FROM unified_users u WHERE u.{col} = %(ext)s
""")

# The same in plpgsql, whose plan each server connection keeps: with prepared statements off it costs Postgres
# about a third less CPU; with them on, the plain statement (prepared once) costs less still.
_IDENTIFY_PLANNED = b"SELECT (r.account).*, r.stale FROM inbound_identify(%(platform)s, %(ext)s, %(guild)s) r"
CHATS = ("discord", "telegram")

_COMPOSED: dict[tuple[str, str], bytes] = {}


def _query(template: sql.SQL, name: str, platform: Platform, conn: Conn) -> bytes:
    """`template` with the platform's identity column, composed once per process (as the bytes psycopg would
    send), not once per event."""
    key = (name, platform)
    query = _COMPOSED.get(key)
    if query is None:
        col = sql.Identifier(users.IDENTITY_COLUMNS[platform])
        query = _COMPOSED[key] = template.format(col=col).as_bytes(conn)
    return query


@dataclass(frozen=True)
class Caller:
    """Who sent an event, as their platform names them."""

    platform: Platform
    ext_id: int
    username: str | None
    display_name: str | None
    guild_id: int | None = None


@dataclass(frozen=True)
class Arrival:
    """The caller's account; `created` when this event made it."""

    user: User
    created: bool


def begin(conn: Conn, key: str, caller: Caller, ttl_s: int = 86400) -> Start[Arrival]:
    """Claim `key` and find-or-create the caller (and remember their guild) inside the caller's transaction."""
    params = {"key": key, "ttl": ttl_s, "ext": caller.ext_id, "guild": caller.guild_id}
    row = conn.execute(_query(_BEGIN, "begin", caller.platform, conn), params).fetchone()
    assert row is not None
    if not row["fresh"]:
        # Another delivery holds the key: ask again now that it has committed (or rolled back and freed it).
        again = idempotency.claim(conn, key, ttl_s)
        if not again.fresh:
            return Start(False, None, again.response)
    if row["id"] is None:  # first contact: create the account, then remember the guild
        return Start(True, _create(conn, caller))
    user = User.from_row(row)
    if users.names_outdated(user, caller.platform, caller.username, caller.display_name):
        user = users.ensure_user(conn, caller.platform, caller.ext_id, caller.username, caller.display_name)
    return Start(True, Arrival(user, False))


def identify(conn: Conn, caller: Caller) -> Arrival | None:
    """The caller's account for a read-only command, in one statement that writes nothing; None when
    something would need writing first (first contact, new names, a membership to refresh): such an event
    then takes the transactional path instead."""
    params = {"ext": caller.ext_id, "guild": caller.guild_id, "platform": caller.platform}
    if caller.platform in CHATS and not db.prepared_statements():
        query = _IDENTIFY_PLANNED  # not re-planned at every command (sql/0023)
    else:
        query = _query(_IDENTIFY, "identify", caller.platform, conn)
    row = conn.execute(query, params).fetchone()
    if row is None or row["stale"]:
        return None
    user = User.from_row(row)
    if users.names_outdated(user, caller.platform, caller.username, caller.display_name):
        return None
    return Arrival(user, False)


def _create(conn: Conn, caller: Caller) -> Arrival:
    c = caller
    return Arrival(users.create_user(conn, c.platform, c.ext_id, c.username, c.display_name, c.guild_id), True)
