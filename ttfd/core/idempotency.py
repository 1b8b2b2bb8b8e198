"""Claim-once keys for every write (`discord:<id>`, `tg:<bot>:<update>`, `site:<account>:<key>`,
`cron:<job>:<period>`) and `once`, the one path that does an event's work exactly once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from psycopg.types.json import Jsonb

from ttfd.core import db
from ttfd.core.db import Conn
from ttfd.core.errors import DomainError

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


# --- the one exactly-once path ---------------------------------------------------------------------

T = TypeVar("T")


@dataclass(frozen=True)
class Start(Generic[T]):
    """What the first statement of an event found: a fresh claim with its context, or the stored answer."""

    fresh: bool
    context: T | None = None
    stored: Any = None


def plain_start(key: str, ttl_s: int) -> Callable[[Conn], Start[None]]:
    """A start that only claims the key (surfaces that need nothing else loaded first)."""

    def start(conn: Conn) -> Start[None]:
        c = claim(conn, key, ttl_s)
        return Start(c.fresh, None, c.response)

    return start


def once(
    key: str,
    start: Callable[[Conn], Start[T]],
    work: Callable[[Conn, T], Any],
    refuse: Callable[[DomainError], Any],
    *,
    timeout_s: float,
    ttl_s: int = 86400,
) -> Any:
    """Do an event's work exactly once and answer every delivery of it the same.

    One transaction claims `key` (through `start`, which may load more in the same statement), runs
    `work` and stores its JSON answer. A refusal (DomainError) rolls that attempt back whole; a second
    short transaction then claims the key for the refusal, so a redelivery is refused in the same words
    and nothing of the refused attempt remains. A redelivery, or a twin racing this one, gets the stored
    answer. Transient failures (db.Unavailable) propagate: nothing was answered, so the sender may retry.
    """

    def attempt(conn: Conn) -> Any:
        begun = start(conn)
        if not begun.fresh:
            return begun.stored
        answer = work(conn, begun.context)  # type: ignore[arg-type]
        store_response(conn, key, answer)
        return answer

    try:
        return db.run(attempt, timeout_s=timeout_s)
    except DomainError as exc:
        answer = refuse(exc)

        def remember(conn: Conn) -> Any:
            c = claim(conn, key, ttl_s)
            if not c.fresh:
                return c.response
            store_response(conn, key, answer)
            return answer

        return db.run(remember, timeout_s=timeout_s)
