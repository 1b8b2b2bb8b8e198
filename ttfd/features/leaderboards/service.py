"""Leaderboards: all-time XP, this week's XP, this season's XP, coins. Positions from a log-scale histogram
kept by triggers (sql/0001, sql/0009) plus a range scan inside one bucket, so a position costs about a
millisecond at 1M players."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal, LiteralString

from psycopg import sql

from ttfd.core.db import Conn
from ttfd.core.i18n import Msg, _
from ttfd.core.ledger import EPOCH_PERIOD, utc_now, week_start
from ttfd.core.users import HIDDEN
from ttfd.features.seasons import service as seasons

Board = Literal["xp", "week", "season", "coins"]
BOARDS: tuple[Board, ...] = ("xp", "week", "season", "coins")
TITLES: dict[Board, Msg] = {
    "xp": _("All-time XP"),
    "week": _("This week's XP"),
    "season": _("This season's XP"),
    "coins": _("Coins"),
}


@dataclass(frozen=True)
class Entry:
    position: int
    user_id: int
    name: str
    value: int
    public: bool = True  # False: the player hides their stats (shown to others as "Hidden player")

    def shown(self, viewer_id: int | None) -> tuple[str, int | None]:
        """(name, account id) as `viewer_id` may see them: a hidden player is anonymous to everyone else."""
        if self.public or viewer_id == self.user_id:
            return self.name, self.user_id
        return HIDDEN, None


_TOP: dict[Board, LiteralString] = {
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
    "season": """
        SELECT s.user_id, coalesce(u.display_name, u.username, 'User ' || u.id) AS name, s.xp AS value,
               u.show_stats AS public
        FROM (SELECT user_id, xp FROM xp_season WHERE period = %(period)s AND xp > 0
              ORDER BY xp DESC, user_id LIMIT %(limit)s OFFSET %(offset)s) s
        JOIN unified_users u ON u.id = s.user_id
        ORDER BY s.xp DESC, s.user_id""",
}
_RANK_OF_VALUE = "SELECT lb_rank(%(board)s, %(period)s, %(value)s) AS position"
_POSITION: dict[Board, LiteralString] = {
    "xp": """SELECT xp AS value, lb_rank('xp', %(period)s, xp) AS position
             FROM unified_users WHERE id = %(user_id)s AND merged_into IS NULL AND xp > 0""",
    "coins": """SELECT coins AS value, lb_rank('coins', %(period)s, coins) AS position
                FROM unified_users WHERE id = %(user_id)s AND merged_into IS NULL AND coins > 0""",
    "week": """SELECT xp AS value, lb_rank('week', %(period)s, xp) AS position
               FROM xp_weekly WHERE week = %(period)s AND user_id = %(user_id)s AND xp > 0""",
    "season": """SELECT xp AS value, lb_rank('season', %(period)s, xp) AS position
                 FROM xp_season WHERE period = %(period)s AND user_id = %(user_id)s AND xp > 0""",
}
_TOTAL = "SELECT coalesce(sum(n), 0) AS n FROM lb_buckets WHERE board = %(board)s AND period = %(period)s"


# A board outside any season (the rollover has not run yet) is empty: no score has this period.
_NO_SEASON = date(1, 1, 1)


def board_period(conn: Conn, board: Board, now: datetime | None = None) -> date:
    """The period a board covers: this ISO week (Monday to Sunday, UTC, whatever DAY_TZ says: every XP counts
    in the UTC week it is earned in) for 'week', the season under way for 'season', a fixed epoch for all-time
    boards."""
    if board == "season":
        season = seasons.current(conn, now)
        return season.period if season else _NO_SEASON
    return week_start((now or utc_now()).date()) if board == "week" else EPOCH_PERIOD


def rank_of_value(conn: Conn, board: Board, value: int, period: date) -> int:
    """Competition ranking: 1 + how many entries score strictly more than `value` (lb_rank in sql/0009)."""
    row = conn.execute(_RANK_OF_VALUE, {"board": board, "period": period, "value": value}).fetchone()
    assert row is not None
    return int(row["position"])


def position(
    conn: Conn, board: Board, user_id: int, now: datetime | None = None, period: date | None = None
) -> tuple[int, int] | None:
    """(position, score) of a user on a board; None when they are not on it (no XP this week)."""
    period = period or board_period(conn, board, now)
    row = conn.execute(_POSITION[board], {"user_id": user_id, "period": period}).fetchone()
    return (int(row["position"]), int(row["value"])) if row else None


def board_size(conn: Conn, board: Board, now: datetime | None = None, period: date | None = None) -> int:
    """How many entries a board has (for page counts)."""
    row = conn.execute(_TOTAL, {"board": board, "period": period or board_period(conn, board, now)}).fetchone()
    return int(row["n"]) if row else 0


def top(
    conn: Conn,
    board: Board,
    limit: int = 10,
    offset: int = 0,
    now: datetime | None = None,
    period: date | None = None,
) -> list[Entry]:
    """A page of a board, highest first; ties share a position and are listed by account age."""
    period = period or board_period(conn, board, now)
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


# A page of a board in one statement: the board's size (from the histogram), the page clamped to it, its rows
# (highest first; ties by account age), the first row's position when the page is not the first (ties across
# pages share it), and the viewer's position. An empty page still yields one row (user_id NULL).
_PAGE_OF = """
WITH t AS (SELECT coalesce(sum(n), 0)::bigint AS total FROM lb_buckets WHERE board = %(board)s AND period = %(period)s),
o AS (SELECT greatest(0, least(%(page)s, (t.total + %(size)s - 1) / %(size)s - 1)) * %(size)s AS off FROM t),
page AS ({page})
SELECT t.total, o.off, m.position AS mine_position, m.value AS mine_value,
       CASE WHEN o.off > 0 THEN lb_rank(%(board)s, %(period)s, (SELECT max(value) FROM page)) END AS first_position,
       p.user_id, p.name, p.value, p.public
FROM t CROSS JOIN o
LEFT JOIN LATERAL ({mine}) m ON true
LEFT JOIN page p ON true
ORDER BY p.value DESC, p.user_id
"""
_PAGE = {
    board: sql.SQL(_PAGE_OF).format(
        page=sql.SQL(top.replace("%(offset)s", "(SELECT off FROM o)").replace("%(limit)s", "%(size)s")),
        mine=sql.SQL(_POSITION[board].replace("%(user_id)s", "%(viewer)s")),
    )
    for board, top in _TOP.items()
}


def board_page(conn: Conn, board: Board, page: int, viewer_id: int | None, page_size: int = 10) -> BoardPage:
    """One page of a board for a viewer (None: anonymous), as every platform shows it, in one statement."""
    params = {"board": board, "period": board_period(conn, board), "page": page, "size": page_size}
    rows = conn.execute(_PAGE[board], {**params, "viewer": viewer_id}).fetchall()
    head = rows[0]
    total, offset = int(head["total"]), int(head["off"])
    entries: list[Entry] = []
    for i, r in enumerate(row for row in rows if row["user_id"] is not None):
        value = int(r["value"])
        if entries and entries[-1].value == value:
            pos = entries[-1].position
        elif i == 0 and offset > 0:
            pos = int(head["first_position"])
        else:
            pos = offset + i + 1
        entries.append(Entry(pos, int(r["user_id"]), str(r["name"]), value, bool(r["public"])))
    mine = (int(head["mine_position"]), int(head["mine_value"])) if head["mine_position"] is not None else None
    return BoardPage(board, offset // page_size, max(1, -(-total // page_size)), entries, mine, total)


# Weekly XP follows the account; merging adds the two weeks together.
_MOVE_WEEKLY = """
WITH gone AS (DELETE FROM xp_weekly WHERE user_id = %(gone)s RETURNING week, xp)
INSERT INTO xp_weekly AS w (week, user_id, xp) SELECT week, %(keep)s, xp FROM gone
ON CONFLICT (week, user_id) DO UPDATE SET xp = w.xp + EXCLUDED.xp
"""


def merge_rows(conn: Conn, keep_id: int, gone_id: int) -> None:
    """This week's (and earlier weeks') XP of a merged-away account adds to the survivor's."""
    conn.execute(_MOVE_WEEKLY, {"gone": gone_id, "keep": keep_id})
