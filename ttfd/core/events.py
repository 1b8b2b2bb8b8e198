"""cross_platform_events: written by every platform, consumed by the process_events schedule."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

from psycopg.types.json import Jsonb

from ttfd.core import wake
from ttfd.core.db import Conn

EventType = Literal["xp_change", "rank_up", "daily_claimed", "account_linked", "game_played"]

_INSERT = """
INSERT INTO cross_platform_events (user_id, event_type, source_platform, data)
VALUES (%(user_id)s, %(event_type)s, %(platform)s, %(data)s)
"""
_CLAIM_BATCH = """
SELECT id, user_id, event_type, source_platform, data, created_at
FROM cross_platform_events
WHERE NOT processed
ORDER BY created_at
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED
"""
_PURGE_PROCESSED = "DELETE FROM cross_platform_events WHERE processed AND processed_at < now() - interval '7 days'"
_MARK_PROCESSED = """
UPDATE cross_platform_events SET processed = true, processed_at = now() WHERE id = ANY(%(ids)s)
"""


def emit(conn: Conn, user_id: int, event_type: EventType, platform: str, data: dict[str, Any]) -> None:
    """Record that something happened to a user, for every other platform to react to."""
    wake.mark()
    conn.execute(_INSERT, {"user_id": user_id, "event_type": event_type, "platform": platform, "data": Jsonb(data)})


def claim_pending(conn: Conn, limit: int = 200) -> list[dict[str, Any]]:
    """Lock a batch of unprocessed events (other consumers skip them until this transaction ends)."""
    return list(conn.execute(_CLAIM_BATCH, {"limit": limit}).fetchall())


def mark_processed(conn: Conn, ids: list[Any]) -> None:
    """Mark events consumed in the same transaction as the jobs they produced."""
    if ids:
        conn.execute(_MARK_PROCESSED, {"ids": ids})


def purge_processed(conn: Conn) -> int:
    """Delete events consumed more than a week ago; returns how many."""
    return conn.execute(_PURGE_PROCESSED).rowcount


Reaction = Callable[[Conn, dict[str, Any]], None]


def process_pending(conn: Conn, reactions: Mapping[str, list[Reaction]], limit: int = 200) -> int:
    """Consume a batch of events, each feature's reactions turning them into jobs in the same transaction."""
    batch = claim_pending(conn, limit)
    for event in batch:
        for react in reactions.get(event["event_type"], ()):
            react(conn, event)
    mark_processed(conn, [e["id"] for e in batch])
    return len(batch)
