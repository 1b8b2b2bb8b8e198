"""Reputation's rules and every statement it runs: a +1 (rep_give in sql/0026: both accounts locked and
followed to the live ones, the 24-hour pair rule, the event's key), what someone received, the board (positions
from the lb_buckets histogram: about a millisecond at 1M accounts), and how an account merge moves it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from ttfd.core.db import Conn
from ttfd.core.ledger import EPOCH_PERIOD
from ttfd.core.users import HIDDEN

COOLDOWN = timedelta(hours=24)  # one +1 per giver → receiver pair per this long
REASON_MAX = 200
Status = Literal["given", "duplicate", "self", "cooldown"]


@dataclass(frozen=True)
class Given:
    status: Status
    giver_id: int  # the live accounts it landed on (a merged-away id is followed)
    receiver_id: int
    total: int  # the receiver's reputation after it
    position: int | None  # the receiver's place on the board (None: not given, or no reputation)
    next_at: datetime | None = None  # 'cooldown': when this pair may give again


_GIVE = """
SELECT status, giver, receiver, total, next_at, place AS position
FROM rep_give(%(giver)s, %(receiver)s, %(reason)s, %(platform)s, %(place)s, %(key)s, %(now)s, %(cooldown)s)
"""


def give(
    conn: Conn,
    giver_id: int,
    receiver_id: int,
    *,
    reason: str | None,
    platform: str,
    place_id: int | None,
    key: str,
    now: datetime,
) -> Given:
    """+1 from one account to another, at most once per pair per COOLDOWN and once per event `key`."""
    params = {
        "giver": giver_id,
        "receiver": receiver_id,
        "reason": reason or None,
        "platform": platform,
        "place": place_id,
        "key": key,
        "now": now,
        "cooldown": COOLDOWN,
    }
    row = conn.execute(_GIVE, params).fetchone()
    assert row is not None
    return Given(
        row["status"],
        int(row["giver"]),
        int(row["receiver"]),
        int(row["total"]),
        row["position"],
        row["next_at"],
    )


# --- what someone received -------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    giver_id: int
    name: str
    public: bool  # False: the giver hides their stats (shown to others as "Hidden player")
    reason: str | None
    platform: str
    at: datetime


@dataclass(frozen=True)
class Standing:
    total: int
    position: int | None  # None: no reputation yet (not on the board)
    given: int  # how many +1 this account gave
    latest: list[Received]


_STANDING = """
SELECT u.rep AS total,
       CASE WHEN u.merged_into IS NULL AND u.rep > 0 THEN lb_rank('rep', %(epoch)s, u.rep) END AS position,
       (SELECT count(*) FROM reputation g WHERE g.giver = u.id) AS given,
       coalesce((SELECT json_agg(json_build_object(
                     'giver_id', r.giver, 'name', coalesce(gu.display_name, gu.username, 'User ' || gu.id),
                     'public', gu.show_stats, 'reason', r.reason, 'platform', r.platform, 'at', r.created_at)
                     ORDER BY r.created_at DESC, r.id DESC)
                 FROM (SELECT * FROM reputation WHERE receiver = u.id
                       ORDER BY created_at DESC, id DESC LIMIT %(limit)s) r
                 JOIN unified_users gu ON gu.id = r.giver), '[]') AS latest
FROM unified_users u WHERE u.id = %(user_id)s
"""


def standing(conn: Conn, user_id: int, limit: int = 10) -> Standing:
    """An account's reputation, its position, how many it gave, and the latest it received (newest first)."""
    row = conn.execute(_STANDING, {"user_id": user_id, "epoch": EPOCH_PERIOD, "limit": limit}).fetchone()
    if row is None:
        return Standing(0, None, 0, [])
    latest = [
        Received(
            int(r["giver_id"]),
            str(r["name"]),
            bool(r["public"]),
            r["reason"],
            str(r["platform"]),
            datetime.fromisoformat(r["at"]),
        )
        for r in row["latest"]
    ]
    return Standing(int(row["total"]), row["position"], int(row["given"]), latest)


# /profile in chats: the total and the position, read in the profile's own statement (ttfd.ui.profile).
PROFILE_JSON = """
SELECT json_build_object('rep', rep, 'position',
                         CASE WHEN merged_into IS NULL AND rep > 0 THEN lb_rank('rep', date '1970-01-01', rep) END)
FROM unified_users WHERE id = %(user_id)s
"""


# --- the board -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One place on the board (as leaderboards' Entry; its own so /profile's path never loads that feature)."""

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


@dataclass(frozen=True)
class RepPage:
    page: int  # 0-based, clamped to the board
    pages: int
    total: int  # accounts on the board
    entries: list[Entry]
    mine: tuple[int, int] | None  # the viewer's (position, reputation), if on the board


# As leaderboards' board_page: the size from the histogram, the page clamped to it, its rows (highest first,
# ties by account age), the first row's position when the page is not the first (ties across pages share it)
# and the viewer's position, in one statement. An empty board still yields one row (user_id NULL).
_PAGE = """
WITH t AS (SELECT coalesce(sum(n), 0)::bigint AS total FROM lb_buckets WHERE board = 'rep' AND period = %(epoch)s),
o AS (SELECT greatest(0, least(%(page)s, (t.total + %(size)s - 1) / %(size)s - 1)) * %(size)s AS off FROM t),
page AS (
    SELECT id AS user_id, coalesce(display_name, username, 'User ' || id) AS name, rep AS value,
           show_stats AS public
    FROM unified_users WHERE merged_into IS NULL AND rep > 0
    ORDER BY rep DESC, id LIMIT %(size)s OFFSET (SELECT off FROM o))
SELECT t.total, o.off, m.position AS mine_position, m.value AS mine_value,
       CASE WHEN o.off > 0 THEN lb_rank('rep', %(epoch)s, (SELECT max(value) FROM page)) END AS first_position,
       p.user_id, p.name, p.value, p.public
FROM t CROSS JOIN o
LEFT JOIN LATERAL (
    SELECT rep AS value, lb_rank('rep', %(epoch)s, rep) AS position FROM unified_users
    WHERE id = %(viewer)s AND merged_into IS NULL AND rep > 0) m ON true
LEFT JOIN page p ON true
ORDER BY p.value DESC, p.user_id
"""


def board_page(conn: Conn, page: int, viewer_id: int | None, size: int = 10) -> RepPage:
    """One page of the reputation board for a viewer (None: anonymous), in one statement."""
    params = {"epoch": EPOCH_PERIOD, "page": max(0, page), "size": size, "viewer": viewer_id}
    rows = conn.execute(_PAGE, params).fetchall()
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
    return RepPage(offset // size, max(1, -(-total // size)), total, entries, mine)


# --- merges ----------------------------------------------------------------------------------------

# Both accounts are locked by the merge (accounts.service.merge_accounts). What one side gave the other
# becomes self-reputation and goes first (the table refuses giver = receiver); the rest follows the person;
# the survivor's total is its rows recounted, the retired account's is zero (it never holds a balance).
_DROP_SELF = """
DELETE FROM reputation
WHERE (giver = %(gone)s AND receiver = %(keep)s) OR (giver = %(keep)s AND receiver = %(gone)s)
"""
_MOVE_GIVEN = "UPDATE reputation SET giver = %(keep)s WHERE giver = %(gone)s"
_MOVE_RECEIVED = "UPDATE reputation SET receiver = %(keep)s WHERE receiver = %(gone)s"
_RECOUNT = """
UPDATE unified_users u
SET rep = CASE WHEN u.id = %(keep)s THEN (SELECT count(*) FROM reputation WHERE receiver = %(keep)s) ELSE 0 END
WHERE u.id IN (%(keep)s, %(gone)s)
"""


def merge_rows(conn: Conn, keep_id: int, gone_id: int) -> None:
    """Reputation follows the person: rows move to the survivor, what became self-reputation is dropped, and
    the survivor's total is recounted from its rows (so it stays exact)."""
    params = {"keep": keep_id, "gone": gone_id}
    conn.execute(_DROP_SELF, params)
    conn.execute(_MOVE_GIVEN, params)
    conn.execute(_MOVE_RECEIVED, params)
    conn.execute(_RECOUNT, params)
