"""A short cache of what a platform said (a Discord server's roles and members, a Telegram chat member), kept
in Postgres (api_cache, sql/0011) so every function instance shares it: the one place its SQL lives."""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from ttfd.core.db import Conn

_GET = "SELECT value FROM api_cache WHERE key = %(key)s AND expires_at > now()"
_PUT = """
INSERT INTO api_cache (key, value, expires_at) VALUES (%(key)s, %(value)s, now() + make_interval(secs => %(ttl)s))
ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at
"""


def get(conn: Conn, key: str) -> Any:
    """The cached value, or None when absent or expired."""
    row = conn.execute(_GET, {"key": key}).fetchone()
    return row["value"] if row else None


def put(conn: Conn, key: str, value: Any, ttl_s: int) -> None:
    conn.execute(_PUT, {"key": key, "value": Jsonb(value), "ttl": ttl_s})


def drop(conn: Conn, prefix: str) -> None:
    """Forget what was cached under a prefix (after acting, a member's roles or status changed)."""
    conn.execute(
        "DELETE FROM api_cache WHERE key LIKE %(p)s", {"p": prefix.replace("%", r"\%").replace("_", r"\_") + "%"}
    )


def purge(conn: Conn) -> int:
    return int(conn.execute("DELETE FROM api_cache WHERE expires_at < now() - interval '1 hour'").rowcount)
