"""Rate limits shared by every function instance: fixed-window counters in Postgres."""

from __future__ import annotations

from dataclasses import dataclass

from ttfd.core.db import Conn

# One upsert per hit; the window is aligned to multiples of its length so every instance agrees on it.
_HIT = """
INSERT INTO rate_limits AS r (key, window_start, hits)
VALUES (%(key)s, to_timestamp(floor(extract(epoch FROM now()) / %(window)s) * %(window)s), 1)
ON CONFLICT (key, window_start) DO UPDATE SET hits = r.hits + 1
RETURNING hits, extract(epoch FROM r.window_start + make_interval(secs => %(window)s) - now()) AS left_s
"""
_PURGE = "DELETE FROM rate_limits WHERE window_start < now() - interval '1 day'"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after_s: int  # whole seconds until the window resets (for Retry-After)


def hit(conn: Conn, key: str, limit: int, window_s: int) -> Decision:
    """Count one request against `key`; refused once more than `limit` arrived in this window."""
    row = conn.execute(_HIT, {"key": key, "window": window_s}).fetchone()
    assert row is not None
    return Decision(int(row["hits"]) <= limit, max(1, int(float(row["left_s"]) + 0.999)))


def purge(conn: Conn) -> int:
    """Drop counters of windows long gone."""
    return int(conn.execute(_PURGE).rowcount)
