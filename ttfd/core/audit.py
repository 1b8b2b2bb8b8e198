"""audit_logs: every admin action (which guild, who, what), for the record."""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from ttfd.core.db import Conn

_AUDIT = """
INSERT INTO audit_logs (guild_id, actor_id, action, data) VALUES (%(guild_id)s, %(actor)s, %(action)s, %(data)s)
"""


def record(conn: Conn, guild_id: int | None, actor_id: int | None, action: str, data: dict[str, Any]) -> None:
    """Append an admin action to audit_logs."""
    conn.execute(_AUDIT, {"guild_id": guild_id, "actor": actor_id, "action": action, "data": Jsonb(data)})
