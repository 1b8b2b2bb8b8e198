"""Seasons (sql/0009): which season is under way, its board position, the archive of past seasons, and the
rollover — archive every player's final position, pay the top, clear the season's XP — in short batches
that a crash or a second scheduler firing can interrupt at any point without anything happening twice."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any, ClassVar

from ttfd.core import audit, db, ledger
from ttfd.core.db import Conn
from ttfd.core.errors import ConfigError
from ttfd.core.i18n import C_, Msg, _
from ttfd.core.settings import bounded

LEASE_S = 60  # a runner that stops renewing (crashed, frozen) loses the rollover after this long
# An ended season is rolled over once no transaction begun before its end can still add XP to it.
GRACE_S = int(db.BACKGROUND_TIMEOUT_S)
ARCHIVED = ("paying", "clearing", "closed")  # statuses whose standings are complete
_NO_XP_YET = 2**63 - 1  # the archive's cursor before its first batch: above every score


@dataclass(frozen=True)
class SeasonsSettings:
    """SEASON_LENGTH (`month`: calendar months, or a number of days), SEASON_REWARDS (coins for final
    positions 1, 2, 3 …; players tied at a position all get its reward), and the rollover's pace."""

    ENV_PREFIX: ClassVar[str] = "SEASON_"
    length: str = "month"
    rewards: str = "1000,500,250"
    batch: int = bounded(5000, 100, 100_000)  # rows per rollover transaction
    pause_ms: int = bounded(0, 0, 10_000)  # between two batches, leaving the database to live traffic
    budget_s: int = bounded(120, 5, 900)  # one run stops after this long (the function's timeout is 150 s)

    def __post_init__(self) -> None:
        self.days  # noqa: B018 (validates)
        self.reward_list  # noqa: B018

    @property
    def days(self) -> int | None:
        """The length in days, or None for calendar months."""
        if self.length == "month":
            return None
        if not (self.length.isascii() and self.length.isdigit() and 1 <= int(self.length) <= 366):
            raise ConfigError("SEASON_LENGTH must be 'month' or a number of days from 1 to 366")
        return int(self.length)

    @property
    def reward_list(self) -> tuple[int, ...]:
        parts = [p.strip() for p in self.rewards.split(",") if p.strip()]
        if len(parts) > 1000 or not all(p.isascii() and p.isdigit() and int(p) <= 10**12 for p in parts):
            raise ConfigError("SEASON_REWARDS must be up to 1000 whole numbers of coins, comma-separated")
        return tuple(int(p) for p in parts)


@dataclass(frozen=True)
class Season:
    id: int
    name: str
    period: date  # the leaderboards' key for it
    starts_at: datetime
    ends_at: datetime
    status: str

    @classmethod
    def from_row(cls, r: dict[str, Any]) -> Season:
        return cls(r["id"], r["name"], r["period"], r["starts_at"], r["ends_at"], r["status"])


_CURRENT = "SELECT * FROM seasons WHERE starts_at <= %(now)s AND ends_at > %(now)s"
_LATEST = "SELECT * FROM seasons ORDER BY starts_at DESC LIMIT 1"
# A concurrent runner may have created it first (unique period, no overlap): then nothing happens.
_CREATE = """
INSERT INTO seasons (name, period, starts_at, ends_at) VALUES (%(name)s, %(period)s, %(starts_at)s, %(ends_at)s)
ON CONFLICT DO NOTHING
"""


def current(conn: Conn, now: datetime | None = None) -> Season | None:
    """The season under way (None only before the rollover first ran, or between two if it stopped running)."""
    row = conn.execute(_CURRENT, {"now": now or ledger.utc_now()}).fetchone()
    return Season.from_row(row) if row else None


def _month_after(t: datetime) -> datetime:
    return datetime(t.year + t.month // 12, t.month % 12 + 1, 1, tzinfo=UTC)


def bounds_after(s: SeasonsSettings, start: datetime) -> tuple[datetime, datetime]:
    """The season starting at `start`: to the next calendar month, or `SEASON_LENGTH` days later."""
    start = start.astimezone(UTC)
    return start, _month_after(start) if s.days is None else start + timedelta(days=s.days)


def first_bounds(s: SeasonsSettings, now: datetime) -> tuple[datetime, datetime]:
    """The first season ever: this calendar month, or `SEASON_LENGTH` days from today (UTC)."""
    now = now.astimezone(UTC)
    if s.days is None:
        return bounds_after(s, datetime(now.year, now.month, 1, tzinfo=UTC))
    return bounds_after(s, datetime(now.year, now.month, now.day, tzinfo=UTC))


def _is_month(start: datetime, end: datetime) -> bool:
    start = start.astimezone(UTC)
    return start == datetime(start.year, start.month, 1, tzinfo=UTC) and end == _month_after(start)


def season_name(start: datetime, end: datetime) -> str:
    """ "May 2026" for a calendar month, else its first and last days: the name stored with the season (the
    website's archive and the ledger's reasons use it; people read `shown_name`)."""
    if _is_month(start, end):
        return f"{start:%B %Y}"
    last = end - timedelta(microseconds=1)
    return f"{start:%-d %b %Y} – {last:%-d %b %Y}"


MONTHS: dict[int, Msg] = {
    1: C_("month", "January"),
    2: C_("month", "February"),
    3: C_("month", "March"),
    4: C_("month", "April"),
    5: C_("month", "May"),
    6: C_("month", "June"),
    7: C_("month", "July"),
    8: C_("month", "August"),
    9: C_("month", "September"),
    10: C_("month", "October"),
    11: C_("month", "November"),
    12: C_("month", "December"),
}


def shown_name(start: datetime, end: datetime, name: str | None = None) -> str:
    """A season's name in the reader's language (a Msg): "May 2026" / "Май 2026", else its first and last
    days. A season someone named otherwise (`name`, not the one made for it) keeps its name as it is."""
    start = start.astimezone(UTC)
    if name is not None and name != season_name(start, end):
        return name
    if _is_month(start, end):
        return _("{month} {year}", month=MONTHS[start.month], year=str(start.year))
    last = (end - timedelta(microseconds=1)).astimezone(UTC)
    return _("{first} – {last}", first=start.date(), last=last.date())


def ensure_seasons(conn: Conn, s: SeasonsSettings, now: datetime | None = None) -> int:
    """The season under way and the next one exist (the next ahead of time, so XP earned at the turn lands in
    it whenever the rollover runs); seasons missed while nothing ran are created back to back. Returns how
    many were created."""
    now = now or ledger.utc_now()
    created = 0
    for _attempt in range(1000):
        row = conn.execute(_LATEST).fetchone()
        if row is not None and row["starts_at"] > now:
            return created
        start, end = first_bounds(s, now) if row is None else bounds_after(s, row["ends_at"])
        params = {"name": season_name(start, end), "period": start.date(), "starts_at": start, "ends_at": end}
        created += conn.execute(_CREATE, params).rowcount
    raise ConfigError("too many seasons to create at once; is SEASON_LENGTH right?")


# --- the rollover ----------------------------------------------------------------------------------

# The oldest season that ended and is not closed, unless another runner holds it.
_TAKE = """
UPDATE seasons SET lease_owner = %(owner)s, lease_until = now() + make_interval(secs => %(lease)s)
WHERE id = (SELECT id FROM seasons WHERE status <> 'closed' AND ends_at <= now() - make_interval(secs => %(grace)s)
            ORDER BY starts_at LIMIT 1)
  AND (lease_until IS NULL OR lease_until < now() OR lease_owner = %(owner)s)
RETURNING *
"""
# Each batch starts here: a runner that lost its lease to another stops at its next batch.
_LOCK = "SELECT * FROM seasons WHERE id = %(id)s AND lease_owner = %(owner)s FOR UPDATE"
_ADVANCE = """
UPDATE seasons SET status = %(status)s, step_done = %(step_done)s, last_xp = %(last_xp)s,
    last_user = %(last_user)s, last_position = %(last_position)s, players = coalesce(%(players)s, players),
    paid = coalesce(%(paid)s, paid), lease_until = now() + make_interval(secs => %(lease)s),
    closed_at = CASE WHEN %(status)s = 'closed' THEN now() END,
    lease_owner = CASE WHEN %(status)s = 'closed' THEN NULL ELSE lease_owner END
WHERE id = %(id)s
"""
_RELEASE = "UPDATE seasons SET lease_until = now() WHERE id = %(id)s AND lease_owner = %(owner)s"

# One page of the final standings, best first, walking xp_season_board from where the last page stopped:
# players tied with the last page's last score first, then lower scores (two index range scans, so a big
# tie never gets rescanned). Competition ranking: a tie with the previous page keeps its position, any
# other score is 1 + everyone above it.
_ARCHIVE = """
WITH page AS (
    SELECT user_id, xp FROM (
        (SELECT user_id, xp FROM xp_season
         WHERE period = %(period)s AND xp = %(last_xp)s AND user_id > %(last_user)s ORDER BY user_id LIMIT %(n)s)
        UNION ALL
        (SELECT user_id, xp FROM xp_season
         WHERE period = %(period)s AND xp < %(last_xp)s AND xp > 0 ORDER BY xp DESC, user_id LIMIT %(n)s)
    ) both_ranges ORDER BY xp DESC, user_id LIMIT %(n)s
), ranked AS (
    SELECT user_id, xp, row_number() OVER (ORDER BY xp DESC, user_id) AS i,
           CASE WHEN xp = %(last_xp)s THEN %(last_position)s::bigint
                ELSE %(done)s::bigint + rank() OVER (ORDER BY xp DESC) END AS position
    FROM page
), saved AS (
    INSERT INTO season_standings (season_id, user_id, position, xp)
    SELECT %(season)s, user_id, position, xp FROM ranked
    ON CONFLICT DO NOTHING
)
SELECT count(*) OVER () AS n, user_id, xp, position FROM ranked ORDER BY i DESC LIMIT 1
"""
# Accounts merged away while the archive ran were archived under their own id (their season XP stays where it
# was once the archive started): their placement becomes the live account's, the better one where both placed.
# Merges wait for each batch (hold_rollovers), so none is half-seen here; later ones move placements themselves.
_FOLD_RETIRED = """
WITH moved AS (
    DELETE FROM season_standings st USING unified_users u
    WHERE st.season_id = %(season)s AND st.user_id = u.id AND u.merged_into IS NOT NULL
    RETURNING st.user_id, st.position, st.xp
), best AS (
    SELECT DISTINCT ON (live) live, position, xp
    FROM (SELECT live_user_id(user_id) AS live, position, xp FROM moved) m ORDER BY live, position
)
INSERT INTO season_standings AS t (season_id, user_id, position, xp)
SELECT %(season)s, live, position, xp FROM best
ON CONFLICT (user_id, season_id) DO UPDATE SET position = EXCLUDED.position, xp = EXCLUDED.xp
WHERE EXCLUDED.position < t.position
"""
_PLAYERS = "SELECT count(*) AS n FROM season_standings WHERE season_id = %(season)s"
_WINNERS = """
SELECT user_id, position FROM season_standings WHERE season_id = %(season)s AND position <= %(top)s ORDER BY user_id
"""
_DROP_BOARD = "DELETE FROM lb_buckets WHERE board = 'season' AND period = %(period)s"
# xp_season_lb skips the rows of the season this transaction clears (its histogram is gone already).
_CLEARING = "SELECT set_config('ttfd.clearing_season', %(period)s, true)"
_CLEAR = """
WITH upto AS (
    SELECT max(user_id) AS hi FROM (
        SELECT user_id FROM xp_season WHERE period = %(period)s AND user_id > %(last_user)s
        ORDER BY user_id LIMIT %(n)s) next_rows
), gone AS (
    DELETE FROM xp_season WHERE period = %(period)s AND user_id > %(last_user)s AND user_id <= (SELECT hi FROM upto)
    RETURNING user_id
)
SELECT count(*) AS n, max(user_id) AS last FROM gone
"""


def take_lease(conn: Conn, owner: str) -> Season | None:
    """The oldest ended season still to roll over, leased to `owner`; None if none is due or another runner
    holds it."""
    row = conn.execute(_TAKE, {"owner": owner, "lease": LEASE_S, "grace": GRACE_S}).fetchone()
    return Season.from_row(row) if row else None


def _archive_batch(conn: Conn, s: SeasonsSettings, row: dict[str, Any]) -> dict[str, Any]:
    done = int(row["step_done"])
    cursor = {
        "last_xp": _NO_XP_YET if row["last_xp"] is None else row["last_xp"],
        "last_user": row["last_user"] or 0,
        "last_position": row["last_position"] or 0,
    }
    page = conn.execute(
        _ARCHIVE, {**cursor, "period": row["period"], "season": row["id"], "done": done, "n": s.batch}
    ).fetchone()
    n = int(page["n"]) if page else 0
    if page:
        cursor = {"last_xp": page["xp"], "last_user": page["user_id"], "last_position": page["position"]}
        done += n
    if n < s.batch:  # the last page: standings complete, one placement per person
        conn.execute(_FOLD_RETIRED, {"season": row["id"]})
        players = conn.execute(_PLAYERS, {"season": row["id"]}).fetchone()
        assert players is not None
        return {"status": "paying", "step_done": 0, "players": players["n"], **dict.fromkeys(cursor)}
    return {"status": "archiving", "step_done": done, **cursor}


def _pay(conn: Conn, s: SeasonsSettings, row: dict[str, Any]) -> dict[str, Any]:
    """Every reward in this one transaction, which also ends the step: never paid twice (and each payment's
    ledger key would refuse a second one anyway)."""
    rewards = s.reward_list
    paid = 0
    for w in conn.execute(_WINNERS, {"season": row["id"], "top": len(rewards)}).fetchall():
        moved = ledger.grant(
            conn,
            w["user_id"],
            "coins",
            rewards[w["position"] - 1],
            reason=f"season {row['name']}: #{w['position']}",
            platform="system",
            source_key=f"season:{row['id']}:reward:{w['user_id']}",
            earned=False,
        )
        paid += moved is not None
    conn.execute(_DROP_BOARD, {"period": row["period"]})
    return {"status": "clearing", "step_done": 0, "paid": paid, "last_user": 0}


def _clear_batch(conn: Conn, s: SeasonsSettings, row: dict[str, Any]) -> dict[str, Any]:
    conn.execute(_CLEARING, {"period": str(row["period"])})
    gone = conn.execute(_CLEAR, {"period": row["period"], "last_user": row["last_user"] or 0, "n": s.batch}).fetchone()
    assert gone is not None
    n, done = int(gone["n"]), int(row["step_done"]) + int(gone["n"])
    if n < s.batch:
        return {"status": "closed", "step_done": done, "last_user": None}
    return {"status": "clearing", "step_done": done, "last_user": gone["last"]}


def _start(conn: Conn, s: SeasonsSettings, row: dict[str, Any]) -> dict[str, Any]:
    """Nothing can add XP to an ended season any more (the next one is under way): archive it."""
    return {"status": "archiving", "step_done": 0}


STEPS = {
    "open": _start,
    "archiving": _archive_batch,
    "paying": _pay,
    "clearing": _clear_batch,
}


def step(conn: Conn, s: SeasonsSettings, season_id: int, owner: str) -> str | None:
    """One batch of the rollover in the caller's transaction; the season's status after it, or None when
    `owner` no longer holds the lease (another runner took over: stop)."""
    row = conn.execute(_LOCK, {"id": season_id, "owner": owner}).fetchone()
    if row is None:
        return None
    if row["status"] == "closed":
        return "closed"
    changes: dict[str, Any] = {"last_xp": None, "last_user": None, "last_position": None, "players": None}
    changes |= {"paid": None} | STEPS[row["status"]](conn, s, row)
    conn.execute(_ADVANCE, {**changes, "id": season_id, "lease": LEASE_S})
    return str(changes["status"])


def rollover(s: SeasonsSettings, now: datetime | None = None) -> dict[str, Any]:
    """The scheduled rollover: make sure this season and the next exist, then take every ended season through
    archive → rewards → clearing, one short transaction per batch. A second runner finds the lease taken and
    does nothing; a crashed one's lease runs out and the next run resumes from the last committed batch."""
    owner = secrets.token_hex(8)
    deadline = time.monotonic() + s.budget_s
    timeout = db.BACKGROUND_TIMEOUT_S
    created = db.run(lambda c: ensure_seasons(c, s, now), timeout_s=timeout)
    closed: list[str] = []
    while (season := db.run(partial(take_lease, owner=owner))) is not None:
        status: str | None = season.status
        while status != "closed":
            if time.monotonic() > deadline:  # leave the rest to the next tick, which may start at once
                db.run(partial(_release, season_id=season.id, owner=owner))
                return {"created": created, "closed": closed, "unfinished": season.name, "step": status}
            status = db.run(partial(step, s=s, season_id=season.id, owner=owner), timeout_s=timeout)
            if status is None:
                return {"created": created, "closed": closed, "lost": season.name}
            if s.pause_ms:
                time.sleep(s.pause_ms / 1000)
        closed.append(season.name)
    return {"created": created, "closed": closed}


def _release(conn: Conn, season_id: int, owner: str) -> None:
    conn.execute(_RELEASE, {"id": season_id, "owner": owner})


# --- reads: the profile, the site ------------------------------------------------------------------


@dataclass(frozen=True)
class Standing:
    """Someone in the season under way: its name and end, their season XP and position (None: no XP yet)."""

    season: str
    ends_at: datetime
    xp: int
    position: int | None
    starts_at: datetime | None = field(default=None, compare=False)

    @property
    def shown_season(self) -> str:
        """The season's name as people read it (in their language)."""
        return shown_name(self.starts_at, self.ends_at, self.season) if self.starts_at else self.season


# The same as JSON, for /profile's one statement (ttfd.ui.profile).
STANDING_JSON = """
SELECT json_build_object('name', s.name, 'starts_at', s.starts_at, 'ends_at', s.ends_at, 'xp', coalesce(x.xp, 0),
                         'position', CASE WHEN x.xp > 0 THEN lb_rank('season', s.period, x.xp) END)
FROM seasons s LEFT JOIN xp_season x ON x.period = s.period AND x.user_id = %(user_id)s
WHERE s.starts_at <= %(now)s AND s.ends_at > %(now)s
ORDER BY s.starts_at DESC LIMIT 1
"""

_STANDING = """
SELECT s.name, s.starts_at, s.ends_at, coalesce(x.xp, 0) AS xp,
       CASE WHEN x.xp > 0 THEN lb_rank('season', s.period, x.xp) END AS position
FROM seasons s LEFT JOIN xp_season x ON x.period = s.period AND x.user_id = %(user_id)s
WHERE s.starts_at <= %(now)s AND s.ends_at > %(now)s
"""


def standing(conn: Conn, user_id: int, now: datetime | None = None) -> Standing | None:
    """This season's XP and position of an account, in one query (None when no season is under way)."""
    row = conn.execute(_STANDING, {"user_id": user_id, "now": now or ledger.utc_now()}).fetchone()
    if row is None:
        return None
    position = row["position"] and int(row["position"])
    return Standing(row["name"], row["ends_at"], int(row["xp"]), position, row["starts_at"])


@dataclass(frozen=True)
class Placement:
    user_id: int
    name: str
    position: int
    xp: int
    public: bool = True


@dataclass(frozen=True)
class PastSeason:
    id: int
    name: str
    starts_at: datetime
    ends_at: datetime
    players: int
    top: list[Placement]


_PAST = """
SELECT s.id, s.name, s.starts_at, s.ends_at, coalesce(s.players, 0) AS players, t.position, t.user_id, t.xp,
       coalesce(u.display_name, u.username, 'User ' || u.id) AS player, u.show_stats
FROM (SELECT * FROM seasons WHERE status = ANY(%(archived)s) ORDER BY starts_at DESC LIMIT %(limit)s) s
LEFT JOIN LATERAL (SELECT position, user_id, xp FROM season_standings WHERE season_id = s.id
                   ORDER BY position, user_id LIMIT %(top)s) t ON true
LEFT JOIN unified_users u ON u.id = t.user_id
ORDER BY s.starts_at DESC, t.position, t.user_id
"""
_MINE = """
SELECT s.id, s.name, s.starts_at, s.ends_at, coalesce(s.players, 0) AS players, st.position, st.xp
FROM season_standings st JOIN seasons s ON s.id = st.season_id
WHERE st.user_id = %(user_id)s AND s.status = ANY(%(archived)s)
ORDER BY s.starts_at DESC LIMIT %(limit)s
"""


def past(conn: Conn, limit: int = 12, top: int = 10) -> list[PastSeason]:
    """The latest archived seasons, newest first, each with its top players (ties by account age)."""
    out: dict[int, PastSeason] = {}
    params = {"archived": list(ARCHIVED), "limit": limit, "top": top}
    for r in conn.execute(_PAST, params).fetchall():
        season = out.setdefault(
            r["id"], PastSeason(r["id"], r["name"], r["starts_at"], r["ends_at"], int(r["players"]), [])
        )
        if r["user_id"] is not None:
            season.top.append(Placement(r["user_id"], r["player"], r["position"], r["xp"], bool(r["show_stats"])))
    return list(out.values())


def placements(conn: Conn, user_id: int, limit: int = 24) -> list[dict[str, Any]]:
    """An account's final positions in archived seasons, newest first."""
    return list(conn.execute(_MINE, {"user_id": user_id, "archived": list(ARCHIVED), "limit": limit}).fetchall())


# --- merges ----------------------------------------------------------------------------------------

# Season XP of seasons not yet archived adds to the survivor's. Share-locking those seasons makes a rollover
# that is starting an archive wait for the merge, or the merge see that it started (and leave that season).
_MOVE_XP = """
WITH live AS (SELECT period FROM seasons WHERE status = 'open' FOR SHARE),
gone AS (DELETE FROM xp_season WHERE user_id = %(gone)s AND period IN (SELECT period FROM live) RETURNING period, xp)
INSERT INTO xp_season AS x (period, user_id, xp) SELECT period, %(keep)s, xp FROM gone
ON CONFLICT (period, user_id) DO UPDATE SET xp = x.xp + EXCLUDED.xp
"""
# Archived placements: the survivor keeps the better of the two.
_MOVE_STANDINGS = """
WITH gone AS (DELETE FROM season_standings WHERE user_id = %(gone)s RETURNING season_id, position, xp)
INSERT INTO season_standings AS t (season_id, user_id, position, xp)
SELECT season_id, %(keep)s, position, xp FROM gone
ON CONFLICT (season_id, user_id) DO UPDATE SET position = EXCLUDED.position, xp = EXCLUDED.xp
WHERE EXCLUDED.position < t.position
"""


def merge_rows(conn: Conn, keep_id: int, gone_id: int) -> None:
    """A merged-away account's season XP and placements move to the survivor."""
    params = {"keep": keep_id, "gone": gone_id}
    conn.execute(_MOVE_XP, params)
    conn.execute(_MOVE_STANDINGS, params)


# A rollover step holds its season FOR UPDATE while it archives, pays or clears; a merge holding these makes the
# step wait for it, or waits for the step: never half of each. Taken before the merge locks any account (a step
# locks accounts too: a top-ten unlock, a reward), so the two never wait for each other.
_HOLD = "SELECT id FROM seasons WHERE status <> 'closed' ORDER BY id FOR KEY SHARE"


def hold_rollovers(conn: Conn) -> None:
    """The first statement of a merge: no rollover step runs until it commits."""
    conn.execute(_HOLD)


# A person's rewards for one season beyond the largest (two accounts that both placed, linked after the season
# paid out), and not taken back yet.
_EXTRA_REWARDS = """
WITH RECURSIVE person(id) AS (
    SELECT %(keep)s::bigint
    UNION ALL SELECT u.id FROM unified_users u JOIN person p ON u.merged_into = p.id
), paid AS (
    SELECT s.id AS season_id, s.name, l.source_key, l.delta
    FROM seasons s CROSS JOIN person p
    JOIN ledger l ON l.source_key = 'season:' || s.id || ':reward:' || p.id AND l.currency = 'coins'
    WHERE s.status IN ('clearing', 'closed')
      AND NOT EXISTS (SELECT 1 FROM ledger t WHERE t.source_key = l.source_key || ':taken back'
                                               AND t.currency = 'coins')
)
SELECT season_id, name, source_key, delta FROM (
    SELECT *, row_number() OVER (PARTITION BY season_id ORDER BY delta DESC, source_key) AS n FROM paid) r
WHERE n > 1 ORDER BY season_id, source_key
"""
_COINS = "SELECT coins FROM unified_users WHERE id = %(id)s"


@dataclass(frozen=True)
class RewardsTakenBack:
    rewards: int = 0
    coins: int = 0


SHORT = "merge.taken_back_short"  # the audit record of a take-back that found too little to take


def take_back_extra_rewards(conn: Conn, keep_id: int, platform: str) -> RewardsTakenBack:
    """After a merge moved the balances (the survivor locked): a reward is paid once per person per season, so
    of two accounts paid for one season the person keeps the larger reward; the other is taken back from the
    survivor's coins as far as they allow (what was spent stays spent), keyed by the reward it undoes."""
    extra = conn.execute(_EXTRA_REWARDS, {"keep": keep_id}).fetchall()
    if not extra:
        return RewardsTakenBack()
    row = conn.execute(_COINS, {"id": keep_id}).fetchone()
    assert row is not None
    left, rewards, coins = int(row["coins"]), 0, 0
    for r in extra:
        take = min(int(r["delta"]), left)
        if take < int(r["delta"]):  # what was spent stays spent: the books say how much could not come back
            audit.record(
                conn, None, keep_id, SHORT, {"key": r["source_key"], "wanted": int(r["delta"]), "took": max(take, 0)}
            )
        if take <= 0:
            continue
        moved = ledger.grant(
            conn,
            keep_id,
            "coins",
            -take,
            reason=f"season {r['name']}: reward taken back (linked account)",
            platform=platform,
            source_key=f"{r['source_key']}:taken back",
            earned=False,
        )
        if moved is not None:
            left, rewards, coins = moved.balance_after, rewards + 1, coins + take
    return RewardsTakenBack(rewards, coins)
