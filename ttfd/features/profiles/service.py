"""Read model of a profile shared by Discord, Telegram and the site: rank, level, positions, platforms."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from psycopg import sql

from ttfd.core import ledger
from ttfd.core.db import Conn
from ttfd.core.ledger import week_start
from ttfd.core.users import User, get_row
from ttfd.ui import profile
from ttfd.ui.profile import ProfilePart
from ttfd.ui.reply import Field

# Both positions in one round trip (lb_rank: sql/0001), with what other features add to /profile.
_POSITIONS = """CASE WHEN u.merged_into IS NULL AND u.xp > 0 THEN lb_rank('xp', %(epoch)s, u.xp) END AS xp_position,
       w.xp AS week_xp"""
_OF_USER = """
FROM unified_users u LEFT JOIN xp_weekly w ON w.user_id = u.id AND w.week = %(week)s WHERE u.id = %(user_id)s"""


@dataclass(frozen=True)
class ProfileView:
    user: User
    rank: ledger.Rank
    next_rank: ledger.Rank | None
    level: ledger.Level
    xp_position: int | None
    week_xp: int
    linked: list[str]
    parts: tuple[Field, ...] = ()  # what the ProfileParts asked for add (profile_view's `parts`)


def profile_view(conn: Conn, user: User, parts: Sequence[ProfilePart] = ()) -> ProfileView:
    """Everything a profile card shows, and the fields `parts` add, in one statement."""
    ranks = ledger.ranks(conn)
    rank = ledger.rank_for_xp(ranks, user.xp)
    nxt = next((r for r in ranks if r.min_xp > user.xp), None)
    now = ledger.utc_now()
    params = {"user_id": user.id, "epoch": ledger.EPOCH_PERIOD, "week": week_start(now.date()), "now": now}
    row = conn.execute(profile.select(parts, _POSITIONS, _OF_USER), params).fetchone()
    assert row is not None
    level = ledger.level_for_xp(user.xp)
    extra = profile.fields(parts, row)
    return ProfileView(user, rank, nxt, level, row["xp_position"], row["week_xp"] or 0, user.linked, extra)


# --- settings and customisation (edited on the website) ---------------------------------------------

# No email is collected (logins are Discord's), so there is no "show my email" to edit.
EDITABLE = frozenset(
    {"theme", "primary_color", "background_image", "music_url", "bio", "show_stats", "notifications", "language"}
)


@dataclass(frozen=True)
class ProfileSettings:
    theme: str
    primary_color: str
    background_image: str | None
    music_url: str | None
    bio: str | None
    show_stats: bool
    notifications: bool

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ProfileSettings:
        return cls(**{f.name: row[f.name] for f in fields(cls)})


def load_profile(conn: Conn, user_id: int) -> tuple[User, ProfileSettings]:
    """An account and its appearance/privacy settings in one query."""
    row = get_row(conn, user_id)
    return User.from_row(row), ProfileSettings.from_row(row)


def update_settings(conn: Conn, user_id: int, changes: dict[str, Any]) -> None:
    """Write already-validated settings (only EDITABLE columns; the table's CHECKs guard the rest)."""
    unknown = set(changes) - EDITABLE
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    if changes:
        assignments = sql.SQL(", ").join(
            sql.SQL("{} = {}").format(sql.Identifier(k), sql.Placeholder(k)) for k in sorted(changes)
        )
        stmt = sql.SQL("UPDATE unified_users SET {}, updated_at = now() WHERE id = %(id)s AND merged_into IS NULL")
        conn.execute(stmt.format(assignments), {**changes, "id": user_id})
