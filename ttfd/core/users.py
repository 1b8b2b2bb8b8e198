"""Unified accounts: one person, many platform identities (each on one account at most); names; the guilds
a person was seen in (no gateway: learned from interactions and logins)."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any, Literal

from psycopg import sql

from ttfd.core import inputs
from ttfd.core.db import Conn
from ttfd.core.errors import NotFound
from ttfd.core.i18n import _

Platform = Literal["discord", "telegram", "website"]
PLATFORMS: tuple[Platform, ...] = ("discord", "telegram", "website")
IDENTITY_COLUMNS = {"discord": "discord_id", "telegram": "telegram_id", "website": "website_email"}
ASCII_ID = re.compile(r"[0-9]{1,19}")  # str.isdigit() also accepts "²", which int() refuses
HIDDEN = _("Hidden player")


@dataclass(frozen=True)
class User:
    id: int
    telegram_id: int | None
    discord_id: int | None
    website_email: str | None
    username: str | None
    display_name: str | None
    xp: int
    coins: int
    rank_id: int
    games_played: int
    games_won: int
    messages_sent: int
    daily_streak: int
    last_daily_on: date | None
    platforms: list[str]
    primary_platform: str | None
    created_at: datetime
    show_stats: bool = True
    notifications: bool = True  # Telegram messages about rank-ups and achievements
    language: str | None = None  # chosen with /language or on the site (ttfd.core.i18n.LOCALES)
    rep: int = 0  # reputation received (ttfd.features.reputation keeps it)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> User:
        return cls(**{f.name: row[f.name] for f in fields(cls) if f.name in row})

    @property
    def name(self) -> str:
        return self.display_name or self.username or f"User {self.id}"

    @property
    def has_name(self) -> bool:
        """False for a placeholder ("User 50"): no platform ever told us a name."""
        return bool(self.display_name or self.username)

    def shown_name(self, viewer_id: int | None) -> str:
        """The name others see: "Hidden player" when this person hides their stats from others."""
        return self.name if self.show_stats or viewer_id == self.id else HIDDEN

    @property
    def linked(self) -> list[str]:
        """Where this person has an identity or has logged in (the site's login is a Discord one)."""
        pairs = (("discord", self.discord_id), ("telegram", self.telegram_id))
        seen = [p for p, v in pairs if v is not None]
        return [*seen, "website"] if self.website_email or "website" in self.platforms else seen


def _ident(platform: Platform) -> sql.Identifier:
    return sql.Identifier(IDENTITY_COLUMNS[platform])


_FIND = sql.SQL("SELECT * FROM unified_users WHERE {col} = %(ext)s")
# Creating takes no lock on an existing row: a first contact must not hold the account row while it goes on
# to touch its guild membership (every other path takes the membership first, then the account).
_CREATE = sql.SQL("""
INSERT INTO unified_users ({col}, username, display_name, platforms, primary_platform)
VALUES (%(ext)s, %(username)s, %(display_name)s, ARRAY[%(platform)s], %(platform)s)
ON CONFLICT ({col}) DO NOTHING
RETURNING *
""")
# A first contact known to have no account (the claim just looked): create it and remember its guild in one
# statement. Nobody else can see the new row yet, so taking its membership after it cannot deadlock.
_CREATE_MEMBER = sql.SQL("""
WITH made AS (
    INSERT INTO unified_users ({col}, username, display_name, platforms, primary_platform)
    VALUES (%(ext)s, %(username)s, %(display_name)s, ARRAY[%(platform)s], %(platform)s)
    ON CONFLICT ({col}) DO NOTHING
    RETURNING *
), member AS (
    INSERT INTO guild_members (guild_id, user_id) SELECT %(guild)s, id FROM made WHERE %(guild)s::bigint IS NOT NULL
)
SELECT * FROM made
""")
_RENAME = sql.SQL("""
UPDATE unified_users
SET username = coalesce(%(username)s, username), display_name = coalesce(%(display_name)s, display_name),
    updated_at = now()
WHERE {col} = %(ext)s
RETURNING *
""")
_GET = "SELECT * FROM unified_users WHERE id = %(id)s"
# Merges can chain (a → b, later b → c): follow merged_into to the account that is still live.
_LIVE_ID = """
WITH RECURSIVE chain AS (
    SELECT id, merged_into, 0 AS depth FROM unified_users WHERE id = %(id)s
    UNION ALL
    SELECT u.id, u.merged_into, c.depth + 1 FROM unified_users u JOIN chain c ON u.id = c.merged_into
    WHERE c.depth < 32
)
SELECT id FROM chain WHERE merged_into IS NULL
"""
# A number in a profile address is our id, or else a Discord or Telegram id (what people copy from apps).
_BY_NUMBER = """
SELECT id FROM unified_users WHERE discord_id = %(n)s OR telegram_id = %(n)s ORDER BY id LIMIT 1
"""
# Several platforms may share a username; the oldest live account answers to it.
_BY_USERNAME = """
SELECT id FROM unified_users WHERE lower(username) = lower(%(name)s) AND merged_into IS NULL
ORDER BY id LIMIT 1
"""
_TOUCH_MEMBER = """
INSERT INTO guild_members (guild_id, user_id) VALUES (%(guild_id)s, %(user_id)s)
ON CONFLICT (guild_id, user_id) DO UPDATE SET last_seen = now()
WHERE guild_members.last_seen < now() - interval '1 hour'
"""


def live_id(conn: Conn, user_id: int) -> int | None:
    """The live account an id is (or was merged into); None if there is no such account."""
    row = conn.execute(_LIVE_ID, {"id": user_id}).fetchone()
    return int(row["id"]) if row else None


def id_by_ref(conn: Conn, ref: str) -> int | None:
    """The live account a profile address names: our id (old ids of merged accounts lead to the survivor),
    a Discord or Telegram id, or a username."""
    ref = ref.strip()
    if ASCII_ID.fullmatch(ref):
        n = int(ref)
        if n > inputs.INT64_MAX:
            return None
        found = live_id(conn, n)
        if found is None:
            row = conn.execute(_BY_NUMBER, {"n": n}).fetchone()
            found = int(row["id"]) if row else None
        return found
    row = conn.execute(_BY_USERNAME, {"name": ref.removeprefix("@")}).fetchone()
    return int(row["id"]) if row else None


def find_user(conn: Conn, platform: Platform, ext_id: int | str) -> User | None:
    """The live account that owns a platform identity, if any."""
    row = conn.execute(_FIND.format(col=_ident(platform)), {"ext": ext_id}).fetchone()
    return User.from_row(row) if row else None


def get_row(conn: Conn, user_id: int) -> dict[str, Any]:
    """Every column of an account (retired accounts included: history stays readable)."""
    row = conn.execute(_GET, {"id": user_id}).fetchone()
    if row is None:
        raise NotFound(_("That account does not exist."))
    return row


def get_user(conn: Conn, user_id: int) -> User:
    """An account by id (retired accounts included)."""
    return User.from_row(get_row(conn, user_id))


def names_outdated(user: User, platform: Platform, username: str | None, display_name: str | None) -> bool:
    """Whether this platform's names should replace the account's. Names follow the platform the account
    was made on, so a linked account's name does not flip-flop between platforms."""
    if user.primary_platform != platform:
        return False
    username, display_name = inputs.clean_name(username), inputs.clean_name(display_name)
    return bool((username and user.username != username) or (display_name and user.display_name != display_name))


def ensure_user(
    conn: Conn,
    platform: Platform,
    ext_id: int | str,
    username: str | None = None,
    display_name: str | None = None,
) -> User:
    """Find or create the account for a platform identity, refreshing names only when they changed (and only
    on the platform the account was made on). Names are cleaned of what may not be stored or shown."""
    username, display_name = inputs.clean_name(username), inputs.clean_name(display_name)
    params = {"ext": ext_id, "username": username, "display_name": display_name, "platform": platform}
    user = find_user(conn, platform, ext_id)
    if user is None:
        row = conn.execute(_CREATE.format(col=_ident(platform)), params).fetchone()
        if row is not None:
            return User.from_row(row)
        user = find_user(conn, platform, ext_id)  # a concurrent first contact created it and has committed
        assert user is not None
    if not names_outdated(user, platform, username, display_name):
        return user
    row = conn.execute(_RENAME.format(col=_ident(platform)), params).fetchone()
    assert row is not None
    return User.from_row(row)


def create_user(
    conn: Conn,
    platform: Platform,
    ext_id: int | str,
    username: str | None,
    display_name: str | None,
    guild_id: int | None,
) -> User:
    """The account of a first contact (`ensure_user` for someone seen to have none), with their guild
    remembered: one statement, or the long way when a concurrent first contact created it meanwhile."""
    username, display_name = inputs.clean_name(username), inputs.clean_name(display_name)
    params = {"ext": ext_id, "username": username, "display_name": display_name, "platform": platform}
    row = conn.execute(_CREATE_MEMBER.format(col=_ident(platform)), {**params, "guild": guild_id}).fetchone()
    if row is not None:
        return User.from_row(row)
    user = ensure_user(conn, platform, ext_id, username, display_name)
    if guild_id is not None:
        touch_member(conn, guild_id, user.id)
    return user


def touch_member(conn: Conn, guild_id: int, user_id: int) -> None:
    """Remember that a user is in a guild (written at most hourly per member to spare the table)."""
    conn.execute(_TOUCH_MEMBER, {"guild_id": guild_id, "user_id": user_id})


def set_language(conn: Conn, user_id: int, language: str | None) -> None:
    """The person's choice of language (None: follow their app's)."""
    conn.execute(
        "UPDATE unified_users SET language = %(language)s, updated_at = now() WHERE id = %(id)s",
        {"language": language, "id": user_id},
    )
