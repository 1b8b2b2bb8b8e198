"""XP and coins: the ledger, ranks F-..S, MEE6 levels, the daily reward and leaderboards."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal

from psycopg.types.json import Jsonb

from ttfd.core.db import Conn
from ttfd.core.settings import Settings

Currency = Literal["xp", "coins"]
Board = Literal["xp", "week", "coins"]
BOARDS: tuple[Board, ...] = ("xp", "week", "coins")
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

# The ledger_grant function (sql/0004) locks the live account, appends, updates balance/rank/season/weekly
# and writes the xp_change / rank_up events in one round trip.
_GRANT = """
SELECT status, user_id, balance_after, rank_before, rank_after
FROM ledger_grant(%(user_id)s, %(currency)s, %(delta)s, %(reason)s, %(platform)s, %(key)s, %(earned)s, %(week)s)
"""


class InsufficientFunds(Exception):
    """A debit would take a balance below zero (the database refuses it too)."""


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
        raise InsufficientFunds(currency)
    live = int(row["user_id"])
    if currency == "coins":
        return Movement(live, currency, delta, int(row["balance_after"]))
    by_id = {r.id: r for r in ranks(conn)}
    return Movement(
        live, currency, delta, int(row["balance_after"]), by_id[row["rank_before"]], by_id[row["rank_after"]]
    )


# --- daily -----------------------------------------------------------------------------------------

# The live account, locked (sql/0004): a /daily that loaded an account just before a merge pays the survivor.
_LOCK_DAILY = "SELECT id, daily_streak, last_daily_on FROM lock_live_user(%(user_id)s)"
# The claim row (its primary key is the once-per-day guarantee), the streak and the event in one statement.
_RECORD_CLAIM = """
WITH claim AS (
    INSERT INTO daily_claims (user_id, day, streak, coins, xp, source_platform)
    VALUES (%(user_id)s, %(day)s, %(streak)s, %(coins)s, %(xp)s, %(platform)s)
    RETURNING user_id
), streak AS (
    UPDATE unified_users SET daily_streak = %(streak)s, last_daily_on = %(day)s, updated_at = now()
    WHERE id = %(user_id)s
)
INSERT INTO cross_platform_events (user_id, event_type, source_platform, data)
SELECT user_id, 'daily_claimed', %(platform)s, %(data)s FROM claim
"""


@dataclass(frozen=True)
class DailyResult:
    claimed: bool
    streak: int
    coins: int
    xp: int
    bonus: bool
    next_claim_at: datetime
    movement_xp: Movement | None = None


def daily_reward(settings: Settings, streak: int) -> tuple[int, bool]:
    """Coins for a claim on day `streak` of a streak, and whether the periodic bonus applies."""
    coins = min(settings.daily_base_coins + settings.daily_step_coins * (streak - 1), settings.daily_cap_coins)
    bonus = streak % settings.daily_bonus_every == 0
    return coins + (settings.daily_bonus_coins if bonus else 0), bonus


def claim_daily(conn: Conn, settings: Settings, user_id: int, platform: str, now: datetime) -> DailyResult:
    """One claim per account per UTC day, whichever platform asks; the streak breaks after a missed day."""
    today = now.astimezone(UTC).date()
    next_at = datetime.combine(today + timedelta(days=1), time(0), UTC)
    row = conn.execute(_LOCK_DAILY, {"user_id": user_id}).fetchone()
    assert row is not None
    user_id = int(row["id"])
    last: date | None = row["last_daily_on"]
    if last == today:
        return DailyResult(False, row["daily_streak"], 0, 0, False, next_at)
    streak = row["daily_streak"] + 1 if last == today - timedelta(days=1) else 1
    coins, bonus = daily_reward(settings, streak)
    xp = settings.daily_xp
    data = Jsonb({"streak": streak, "coins": coins, "xp": xp})
    params = {"user_id": user_id, "day": today, "streak": streak, "coins": coins, "xp": xp, "platform": platform}
    conn.execute(_RECORD_CLAIM, {**params, "data": data})
    key = f"daily:{user_id}:{today.isoformat()}"
    # XP before coins, as in merges: one lock order across the histogram rows means no deadlocks.
    mv = grant(conn, user_id, "xp", xp, reason="daily", platform=platform, source_key=key, now=now)
    grant(conn, user_id, "coins", coins, reason="daily", platform=platform, source_key=key, now=now)
    return DailyResult(True, streak, coins, xp, bonus, next_at, mv)


# --- leaderboards ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    position: int
    user_id: int
    name: str
    value: int
    public: bool = True  # False: the player hides their stats (the website lists them anonymously)


_TOP = {
    "xp": """
        SELECT id AS user_id, coalesce(display_name, username, 'User ' || id) AS name, xp AS value,
               show_stats AS public
        FROM unified_users WHERE merged_into IS NULL AND xp > 0
        ORDER BY xp DESC, id LIMIT %(limit)s OFFSET %(offset)s""",
    "coins": """
        SELECT id AS user_id, coalesce(display_name, username, 'User ' || id) AS name, coins AS value,
               show_stats AS public
        FROM unified_users WHERE merged_into IS NULL AND coins > 0
        ORDER BY coins DESC, id LIMIT %(limit)s OFFSET %(offset)s""",
    "week": """
        SELECT w.user_id, coalesce(u.display_name, u.username, 'User ' || u.id) AS name, w.xp AS value,
               u.show_stats AS public
        FROM (SELECT user_id, xp FROM xp_weekly WHERE week = %(period)s AND xp > 0
              ORDER BY xp DESC, user_id LIMIT %(limit)s OFFSET %(offset)s) w
        JOIN unified_users u ON u.id = w.user_id
        ORDER BY w.xp DESC, w.user_id""",
}
_RANK_OF_VALUE = "SELECT lb_rank(%(board)s, %(period)s, %(value)s) AS position"
_POSITION = {
    "xp": """SELECT xp AS value, lb_rank('xp', %(period)s, xp) AS position
             FROM unified_users WHERE id = %(user_id)s AND merged_into IS NULL AND xp > 0""",
    "coins": """SELECT coins AS value, lb_rank('coins', %(period)s, coins) AS position
                FROM unified_users WHERE id = %(user_id)s AND merged_into IS NULL AND coins > 0""",
    "week": """SELECT xp AS value, lb_rank('week', %(period)s, xp) AS position
               FROM xp_weekly WHERE week = %(period)s AND user_id = %(user_id)s AND xp > 0""",
}
_TOTAL = "SELECT coalesce(sum(n), 0) AS n FROM lb_buckets WHERE board = %(board)s AND period = %(period)s"


def board_period(board: Board, now: datetime | None = None) -> date:
    """The period a board covers: this ISO week for 'week', a fixed epoch for all-time boards."""
    return week_start((now or utc_now()).date()) if board == "week" else EPOCH_PERIOD


def rank_of_value(conn: Conn, board: Board, value: int, period: date) -> int:
    """Competition ranking: 1 + how many entries score strictly more than `value` (lb_rank in sql/0001)."""
    row = conn.execute(_RANK_OF_VALUE, {"board": board, "period": period, "value": value}).fetchone()
    assert row is not None
    return int(row["position"])


def position(conn: Conn, board: Board, user_id: int, now: datetime | None = None) -> tuple[int, int] | None:
    """(position, score) of a user on a board; None when they are not on it (no XP this week)."""
    row = conn.execute(_POSITION[board], {"user_id": user_id, "period": board_period(board, now)}).fetchone()
    return (int(row["position"]), int(row["value"])) if row else None


def board_size(conn: Conn, board: Board, now: datetime | None = None) -> int:
    """How many entries a board has (for page counts)."""
    row = conn.execute(_TOTAL, {"board": board, "period": board_period(board, now)}).fetchone()
    return int(row["n"]) if row else 0


def top(conn: Conn, board: Board, limit: int = 10, offset: int = 0, now: datetime | None = None) -> list[Entry]:
    """A page of a board, highest first; ties share a position and are listed by account age."""
    period = board_period(board, now)
    rows = conn.execute(_TOP[board], {"limit": limit, "offset": offset, "period": period}).fetchall()
    entries: list[Entry] = []
    for i, r in enumerate(rows):
        value = int(r["value"])
        if entries and entries[-1].value == value:
            pos = entries[-1].position
        elif i == 0 and offset > 0:
            pos = rank_of_value(conn, board, value, period)
        else:
            pos = offset + i + 1
        entries.append(Entry(pos, int(r["user_id"]), str(r["name"]), value, bool(r["public"])))
    return entries


@dataclass(frozen=True)
class BoardPage:
    board: Board
    page: int  # 0-based, clamped to the board
    pages: int
    entries: list[Entry]
    mine: tuple[int, int] | None  # the viewer's (position, score), if on the board
    total: int = 0


def board_page(conn: Conn, board: Board, page: int, viewer_id: int | None, page_size: int = 10) -> BoardPage:
    """One page of a board for a viewer (None: anonymous), as every platform shows it."""
    total = board_size(conn, board)
    pages = max(1, -(-total // page_size))
    page = max(0, min(page, pages - 1))
    entries = top(conn, board, page_size, page * page_size)
    mine = position(conn, board, viewer_id) if viewer_id is not None else None
    return BoardPage(board, page, pages, entries, mine, total)
