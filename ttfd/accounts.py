"""Unified accounts: one person, many platform identities; link codes and merges."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any, Literal

from psycopg import sql
from psycopg.types.json import Jsonb

from ttfd import economy
from ttfd.core import events, inputs
from ttfd.core.db import Conn
from ttfd.core.errors import DomainError

Platform = Literal["discord", "telegram", "website"]
PLATFORMS: tuple[Platform, ...] = ("discord", "telegram", "website")
IDENTITY_COLUMNS = {"discord": "discord_id", "telegram": "telegram_id", "website": "website_email"}
# No 0/O/1/I/L: codes are read off one screen and typed on another.
_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 10
ASCII_ID = re.compile(r"[0-9]{1,18}")  # str.isdigit() also accepts "²", which int() refuses


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
    current_season_xp: int
    daily_streak: int
    last_daily_on: date | None
    platforms: list[str]
    primary_platform: str | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> User:
        return cls(**{f.name: row[f.name] for f in fields(cls)})

    @property
    def name(self) -> str:
        return self.display_name or self.username or f"User {self.id}"


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
# Several platforms may share a username; the oldest live account answers to it.
_BY_USERNAME = """
SELECT id FROM unified_users WHERE lower(username) = lower(%(name)s) AND merged_into IS NULL
ORDER BY id LIMIT 1
"""


def live_id(conn: Conn, user_id: int) -> int | None:
    """The live account an id is (or was merged into); None if there is no such account."""
    row = conn.execute(_LIVE_ID, {"id": user_id}).fetchone()
    return int(row["id"]) if row else None


def id_by_ref(conn: Conn, ref: str) -> int | None:
    """The live account an id (old ids of merged accounts lead to the survivor) or a username names."""
    ref = ref.strip()
    if ASCII_ID.fullmatch(ref):
        return live_id(conn, int(ref))
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
        raise DomainError("That account does not exist.")
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


# --- link codes ------------------------------------------------------------------------------------

_DROP_OLD_CODES = "DELETE FROM link_codes WHERE user_id = %(user_id)s AND used_at IS NULL"
_NEW_CODE = """
INSERT INTO link_codes (code, user_id, source_platform, expires_at)
VALUES (%(code)s, %(user_id)s, %(platform)s, now() + make_interval(secs => %(ttl)s))
RETURNING code, expires_at
"""
_REDEEM = """
UPDATE link_codes SET used_at = now(), used_by = %(by)s
WHERE code = %(code)s AND used_at IS NULL AND expires_at > now()
RETURNING user_id, source_platform
"""
_PURGE_CODES = "DELETE FROM link_codes WHERE expires_at < now() - interval '1 day'"


@dataclass(frozen=True)
class LinkCode:
    code: str
    expires_at: datetime


def create_link_code(conn: Conn, user_id: int, platform: Platform, ttl_s: int) -> LinkCode:
    """A fresh one-time code for this account; an older unused code stops working."""
    conn.execute(_DROP_OLD_CODES, {"user_id": user_id})
    code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(CODE_LENGTH))
    row = conn.execute(_NEW_CODE, {"code": code, "user_id": user_id, "platform": platform, "ttl": ttl_s}).fetchone()
    assert row is not None
    return LinkCode(row["code"], row["expires_at"])


def normalize_code(code: str) -> str:
    """Codes are case-insensitive and tolerate spaces/dashes people add when copying."""
    return "".join(ch for ch in code.upper() if ch.isalnum())


@dataclass(frozen=True)
class LinkResult:
    user: User
    merged_from: int | None
    platform: Platform


def redeem_link_code(
    conn: Conn,
    code: str,
    platform: Platform,
    ext_id: int | str,
    username: str | None = None,
    display_name: str | None = None,
) -> LinkResult:
    """Attach this platform identity to the account that made `code`, merging accounts if both exist."""
    caller = find_user(conn, platform, ext_id)
    row = conn.execute(_REDEEM, {"code": normalize_code(code), "by": caller.id if caller else None}).fetchone()
    if row is None:
        raise DomainError("That link code is invalid, expired or already used. Make a new one with /link.")
    return link_identity(conn, int(row["user_id"]), platform, ext_id, username, display_name)


def link_identity(
    conn: Conn,
    user_id: int,
    platform: Platform,
    ext_id: int | str,
    username: str | None = None,
    display_name: str | None = None,
) -> LinkResult:
    """Give account `user_id` this platform identity; if the identity has an account of its own, merge it in."""
    username, display_name = inputs.clean_name(username), inputs.clean_name(display_name)
    target = get_user(conn, user_id)
    owner = find_user(conn, platform, ext_id)
    if owner and owner.id == target.id:
        raise DomainError("This account is already linked here — nothing to do.")
    if getattr(target, IDENTITY_COLUMNS[platform]) is not None:
        raise DomainError(f"That account already has a different {platform.title()} identity linked.")
    if owner is None:
        user = _attach(conn, target.id, platform, ext_id, username, display_name)
        merged_from = None
    else:
        user = merge_accounts(conn, keep_id=target.id, gone_id=owner.id, platform=platform)
        merged_from = owner.id
    events.emit(conn, user.id, "account_linked", platform, {"platform": platform, "merged_from": merged_from})
    return LinkResult(user, merged_from, platform)


_ATTACH = sql.SQL("""
UPDATE unified_users
SET {col} = %(ext)s, platforms = array_append(array_remove(platforms, %(platform)s), %(platform)s),
    username = coalesce(username, %(username)s), display_name = coalesce(display_name, %(display_name)s),
    updated_at = now()
WHERE id = %(id)s AND {col} IS NULL AND merged_into IS NULL
RETURNING *
""")


def _attach(
    conn: Conn,
    user_id: int,
    platform: Platform,
    ext_id: int | str,
    username: str | None,
    display_name: str | None,
) -> User:
    params = {
        "id": user_id,
        "ext": ext_id,
        "platform": platform,
        "username": username,
        "display_name": display_name,
    }
    row = conn.execute(_ATTACH.format(col=_ident(platform)), params).fetchone()
    if row is None:
        raise DomainError(f"That account already has a {platform.title()} identity linked.")
    return User.from_row(row)


# --- merges ----------------------------------------------------------------------------------------

# NO KEY UPDATE: rows referencing an account (its ledger, guild memberships) take key-share locks on it.
_LOCK_PAIR = "SELECT * FROM unified_users WHERE id = ANY(%(ids)s) ORDER BY id FOR NO KEY UPDATE"
_RETIRE = """
UPDATE unified_users
SET telegram_id = NULL, discord_id = NULL, website_email = NULL,
    merged_into = %(keep)s, merged_at = now(), updated_at = now()
WHERE id = %(gone)s
"""
_ABSORB = """
UPDATE unified_users k
SET telegram_id = coalesce(k.telegram_id, %(telegram_id)s::bigint),
    discord_id = coalesce(k.discord_id, %(discord_id)s::bigint),
    website_email = coalesce(k.website_email, %(website_email)s::text),
    platforms = ARRAY(SELECT DISTINCT unnest(k.platforms || %(platforms)s::text[]) ORDER BY 1),
    games_played = k.games_played + %(games_played)s,
    games_won = k.games_won + %(games_won)s,
    messages_sent = k.messages_sent + %(messages_sent)s,
    current_season_xp = k.current_season_xp + %(current_season_xp)s,
    achievements = (SELECT coalesce(jsonb_agg(DISTINCT a), '[]'::jsonb)
                    FROM jsonb_array_elements(k.achievements || %(achievements)s::jsonb) a),
    daily_streak = CASE WHEN %(last_daily_on)s::date IS NULL OR k.last_daily_on >= %(last_daily_on)s::date
                        THEN k.daily_streak ELSE %(daily_streak)s END,
    last_daily_on = greatest(k.last_daily_on, %(last_daily_on)s::date),
    updated_at = now()
WHERE k.id = %(keep)s
RETURNING *
"""
# Weekly XP follows the account; merging adds the two weeks together.
_MOVE_WEEKLY = """
WITH gone AS (DELETE FROM xp_weekly WHERE user_id = %(gone)s RETURNING week, xp)
INSERT INTO xp_weekly AS w (week, user_id, xp) SELECT week, %(keep)s, xp FROM gone
ON CONFLICT (week, user_id) DO UPDATE SET xp = w.xp + EXCLUDED.xp
"""
_MOVE_MEMBERSHIPS = """
WITH gone AS (DELETE FROM guild_members WHERE user_id = %(gone)s RETURNING guild_id, last_seen)
INSERT INTO guild_members (guild_id, user_id, last_seen) SELECT guild_id, %(keep)s, last_seen FROM gone
ON CONFLICT (guild_id, user_id) DO NOTHING
"""


def merge_accounts(conn: Conn, keep_id: int, gone_id: int, platform: Platform) -> User:
    """Fold account `gone_id` into `keep_id`: balances via the ledger, stats summed, identities moved."""
    rows = {r["id"]: r for r in conn.execute(_LOCK_PAIR, {"ids": [keep_id, gone_id]}).fetchall()}
    keep, gone = rows.get(keep_id), rows.get(gone_id)
    if keep is None or gone is None or keep["merged_into"] or gone["merged_into"]:
        raise DomainError("One of these accounts no longer exists; nothing was changed.")
    for p in PLATFORMS:
        col = IDENTITY_COLUMNS[p]
        if keep[col] is not None and gone[col] is not None:
            raise DomainError(
                f"Both accounts already have a {p.title()} identity, so they cannot be merged automatically."
            )
    key = f"merge:{gone_id}->{keep_id}"
    for currency in ("xp", "coins"):
        amount = int(gone[currency])
        if amount:
            # Out of the retired account, into the kept one: history on both sides stays in the ledger.
            economy.grant(
                conn,
                gone_id,
                currency,
                -amount,
                reason="merge out",
                platform=platform,
                source_key=f"{key}:out",
                earned=False,
            )
            economy.grant(
                conn,
                keep_id,
                currency,
                amount,
                reason="merge in",
                platform=platform,
                source_key=f"{key}:in",
                earned=False,
            )
    conn.execute(_MOVE_WEEKLY, {"gone": gone_id, "keep": keep_id})
    conn.execute(_MOVE_MEMBERSHIPS, {"gone": gone_id, "keep": keep_id})
    conn.execute(_DROP_OLD_CODES, {"user_id": gone_id})
    # Free the identities first: each column is unique, and the kept row takes them next.
    conn.execute(_RETIRE, {"gone": gone_id, "keep": keep_id})
    params = {
        k: gone[k]
        for k in (
            "telegram_id",
            "discord_id",
            "website_email",
            "platforms",
            "games_played",
            "games_won",
            "messages_sent",
            "current_season_xp",
            "daily_streak",
            "last_daily_on",
        )
    }
    params.update(keep=keep_id, achievements=Jsonb(gone["achievements"]))
    row = conn.execute(_ABSORB, params).fetchone()
    assert row is not None
    return User.from_row(row)


def purge_expired_codes(conn: Conn) -> int:
    """Delete link codes that expired more than a day ago."""
    return conn.execute(_PURGE_CODES).rowcount
