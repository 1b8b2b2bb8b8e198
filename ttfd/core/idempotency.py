"""Claim-once keys for inbound events (`discord:<id>`, `tg:<bot>:<update>`, `cron:<job>:<period>`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg.types.json import Jsonb

from ttfd.core.db import Conn

_CLAIM = """
INSERT INTO idempotency_keys (key, expires_at)
VALUES (%(key)s, now() + make_interval(secs => %(ttl)s))
ON CONFLICT (key) DO NOTHING
RETURNING key
"""
_STORED = "SELECT response FROM idempotency_keys WHERE key = %(key)s"
_STORE = "UPDATE idempotency_keys SET response = %(response)s WHERE key = %(key)s"
_PURGE = "DELETE FROM idempotency_keys WHERE expires_at < now()"


@dataclass(frozen=True)
class Claim:
    """Either this call owns the key (`fresh`) or it is a redelivery with the first call's `response`."""

    key: str
    fresh: bool
    response: Any = None


def claim(conn: Conn, key: str, ttl_s: int = 7 * 86400) -> Claim:
    """Claim key inside the caller's transaction; a concurrent twin waits here until we commit or roll back."""
    if conn.execute(_CLAIM, {"key": key, "ttl": ttl_s}).fetchone():
        return Claim(key, True)
    row = conn.execute(_STORED, {"key": key}).fetchone()
    return Claim(key, False, row["response"] if row else None)


def store_response(conn: Conn, key: str, response: Any) -> None:
    """Keep the reply so a redelivery answers exactly the same."""
    conn.execute(_STORE, {"key": key, "response": Jsonb(response)})


def purge_expired(conn: Conn) -> int:
    """Delete keys past their expiry; returns how many."""
    return conn.execute(_PURGE).rowcount
