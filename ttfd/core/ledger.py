"""XP and coins: the ledger (every balance change), ranks F- … S and MEE6 levels."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from ttfd.core import wake
from ttfd.core.db import Conn
from ttfd.core.errors import InsufficientFunds

Currency = Literal["xp", "coins"]
EPOCH_PERIOD = date(1970, 1, 1)

# --- ranks and levels ------------------------------------------------------------------------------

# Mirrors the ranks table (sql/0001; a test keeps them equal): Discord needs the choices at registration time.
RANK_CODES = (
    "F-",
    "F",
    "F+",
    "E-",
    "E",
    "E+",
    "D-",
    "D",
    "D+",
    "C-",
    "C",
    "C+",
    "B-",
    "B",
    "B+",
    "A-",
    "A",
    "A+",
    "S-",
    "S",
)


@dataclass(frozen=True)
class Rank:
    id: int
    code: str
    min_xp: int


@dataclass(frozen=True)
class Level:
    level: int
    xp_into_level: int
    xp_for_next: int

    @property
    def progress(self) -> float:
        """Fraction of the way to the next level, 0..1."""
        return self.xp_into_level / self.xp_for_next


def xp_to_next_level(level: int) -> int:
    """MEE6 curve: XP needed to go from `level` to `level + 1`."""
    return 5 * level * level + 50 * level + 100


def level_for_xp(xp: int) -> Level:
    """The level reached with `xp` total XP and the progress inside it."""
    level, remaining = 0, xp
    while remaining >= (need := xp_to_next_level(level)):
        remaining -= need
        level += 1
    return Level(level, remaining, need)


_RANKS: tuple[Rank, ...] = ()


def ranks(conn: Conn) -> tuple[Rank, ...]:
    """The 20 ranks, lowest first (read once per process: migrations are the only writer)."""
    global _RANKS
    if not _RANKS:
        rows = conn.execute("SELECT id, code, min_xp FROM ranks ORDER BY min_xp").fetchall()
        _RANKS = tuple(Rank(r["id"], r["code"], r["min_xp"]) for r in rows)
    return _RANKS


def rank_for_xp(all_ranks: tuple[Rank, ...], xp: int) -> Rank:
    """The highest rank whose threshold `xp` has reached."""
    return all_ranks[bisect_right([r.min_xp for r in all_ranks], xp) - 1]


def rank_by_code(conn: Conn, code: str) -> Rank | None:
    """Look a rank up by its code (case-insensitive: 'a+' is A+)."""
    return next((r for r in ranks(conn) if r.code.lower() == code.strip().lower()), None)


# --- the ledger ------------------------------------------------------------------------------------

# The ledger_grant function (sql/0009) locks the live account, appends, updates balance/rank/season/weekly
# and writes the xp_change / rank_up events in one round trip.
_GRANT = """
SELECT status, user_id, balance_after, rank_before, rank_after
FROM ledger_grant(%(user_id)s, %(currency)s, %(delta)s, %(reason)s, %(platform)s, %(key)s, %(earned)s, %(week)s)
"""


@dataclass(frozen=True)
class Movement:
    """One applied ledger entry; `None` from `grant` means the source key had already paid."""

    user_id: int
    currency: Currency
    delta: int
    balance_after: int
    rank_before: Rank | None = None
    rank_after: Rank | None = None

    @property
    def ranked_up(self) -> bool:
        return bool(self.rank_before and self.rank_after and self.rank_after.min_xp > self.rank_before.min_xp)


def week_start(day: date) -> date:
    """Monday of the ISO week containing `day` (UTC)."""
    return day - timedelta(days=day.weekday())


def utc_now() -> datetime:
    """The current time in UTC (one place to read the clock)."""
    return datetime.now(UTC)


def grant(
    conn: Conn,
    user_id: int,
    currency: Currency,
    delta: int,
    *,
    reason: str,
    platform: str,
    source_key: str,
    earned: bool = True,
    now: datetime | None = None,
) -> Movement | None:
    """Move XP or coins through the ledger; the same (source_key, currency) twice is a no-op (None).

    The movement lands on the live account: if `user_id` was merged away meanwhile, on the one it went
    into (Movement.user_id says which). `earned` XP counts towards this week's and this season's boards;
    transfers (merges) do not.
    """
    if delta == 0:
        return None
    row = conn.execute(
        _GRANT,
        {
            "user_id": user_id,
            "currency": currency,
            "delta": delta,
            "reason": reason,
            "platform": platform,
            "key": source_key,
            "earned": earned,
            "week": week_start((now or utc_now()).date()),
        },
    ).fetchone()
    assert row is not None
    if row["status"] == "duplicate":
        return None
    if row["status"] == "insufficient":
        raise InsufficientFunds(currency, -delta, int(row["balance_after"]))
    live = int(row["user_id"])
    if currency == "coins":
        return Movement(live, currency, delta, int(row["balance_after"]))
    by_id = {r.id: r for r in ranks(conn)}
    moved = Movement(
        live, currency, delta, int(row["balance_after"]), by_id[row["rank_before"]], by_id[row["rank_after"]]
    )
    if moved.ranked_up:
        wake.mark()  # its rank_up event has reactions (roles, notices) waiting for a worker
    return moved
