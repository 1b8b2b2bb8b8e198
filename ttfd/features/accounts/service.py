"""Linking platform identities: one-time link codes, attaching an identity, merging two accounts."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from psycopg import sql

from ttfd.core import events, inputs, ledger
from ttfd.core.db import Conn
from ttfd.core.errors import BadInput, DomainError, NotFound
from ttfd.core.i18n import Msg, _
from ttfd.core.users import IDENTITY_COLUMNS, PLATFORMS, Platform, User, find_user, get_user
from ttfd.features import daily
from ttfd.features.achievements import service as achievements
from ttfd.features.seasons import service as seasons
from ttfd.registry import MergeHook

# No 0/O/1/I/L: codes are read off one screen and typed on another.
_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 10

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
INVALID_CODE = _("That link code is invalid, expired or already used. Make a new one with /link.")


def _has_other(platform: Platform) -> Msg:
    """Why an account cannot take this platform's identity: it has one already."""
    if platform == "website":
        return _("That account already has a different website login linked.")
    return _("That account already has a different {platform} identity linked.", platform=platform.title())


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
    return "".join(ch for ch in code.upper() if ch in _CODE_ALPHABET or (ch.isascii() and ch.isalnum()))[:32]


def _take_code(conn: Conn, code: str, by: int | None) -> int:
    row = conn.execute(_REDEEM, {"code": normalize_code(code), "by": by}).fetchone()
    if row is None:
        raise NotFound(INVALID_CODE)
    return int(row["user_id"])


@dataclass(frozen=True)
class LinkResult:
    user: User
    merged: bool  # two accounts with history became one (False: an identity, or an empty account, joined)
    platform: Platform
    taken: Merged | None = None  # the merge, when there was one (what it took back)


def redeem_link_code(
    conn: Conn,
    code: str,
    platform: Platform,
    ext_id: int | str,
    hooks: Sequence[MergeHook],
    username: str | None = None,
    display_name: str | None = None,
) -> LinkResult:
    """Attach this platform identity to the account that made `code`, merging accounts if both exist."""
    caller = find_user(conn, platform, ext_id)
    owner = _take_code(conn, code, caller.id if caller else None)
    return link_identity(conn, owner, platform, ext_id, hooks, username, display_name)


def redeem_on_site(conn: Conn, code: str, user_id: int, hooks: Sequence[MergeHook]) -> LinkResult:
    """The website's account joins the account that made `code` (made with /link on Discord or Telegram)."""
    owner = _take_code(conn, code, user_id)
    if owner == user_id:
        raise DomainError(_("That code was made by this account — nothing to link."))
    merged = merge_accounts(conn, keep_id=owner, gone_id=user_id, platform="website", hooks=hooks)
    events.emit(conn, merged.user.id, "account_linked", "website", {"platform": "website", "merged": merged.merged})
    return LinkResult(merged.user, merged.merged, "website", merged)


def link_identity(
    conn: Conn,
    user_id: int,
    platform: Platform,
    ext_id: int | str,
    hooks: Sequence[MergeHook],
    username: str | None = None,
    display_name: str | None = None,
) -> LinkResult:
    """Give account `user_id` this platform identity; if the identity has an account of its own, merge it in."""
    username, display_name = inputs.clean_name(username), inputs.clean_name(display_name)
    target = get_user(conn, user_id)
    owner = find_user(conn, platform, ext_id)
    if owner and owner.id == target.id:
        raise DomainError(_("This account is already linked here — nothing to do."))
    if getattr(target, IDENTITY_COLUMNS[platform]) is not None:
        raise DomainError(_has_other(platform))
    result: Merged | None = None
    if owner is None:
        user, merged = _attach(conn, target.id, platform, ext_id, username, display_name), False
    else:
        result = merge_accounts(conn, keep_id=target.id, gone_id=owner.id, platform=platform, hooks=hooks)
        user, merged = result.user, result.merged
    events.emit(conn, user.id, "account_linked", platform, {"platform": platform, "merged": merged})
    return LinkResult(user, merged, platform, result)


_ATTACH = sql.SQL("""
UPDATE unified_users
SET {col} = %(ext)s, platforms = array_append(array_remove(platforms, %(platform)s), %(platform)s),
    username = coalesce(username, %(username)s), display_name = coalesce(display_name, %(display_name)s),
    updated_at = now()
WHERE id = %(id)s AND {col} IS NULL AND merged_into IS NULL
RETURNING *
""")


def _attach(
    conn: Conn, user_id: int, platform: Platform, ext_id: int | str, username: str | None, display_name: str | None
) -> User:
    params = {"id": user_id, "ext": ext_id, "platform": platform, "username": username, "display_name": display_name}
    row = conn.execute(_ATTACH.format(col=sql.Identifier(IDENTITY_COLUMNS[platform])), params).fetchone()
    if row is None:
        raise DomainError(_has_other(platform))
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
    username = %(username)s, display_name = %(display_name)s, primary_platform = %(primary_platform)s,
    games_played = k.games_played + %(games_played)s,
    games_won = k.games_won + %(games_won)s,
    messages_sent = k.messages_sent + %(messages_sent)s,
    -- the streak of the later last claim; claimed on the same day, the longer one (the person claimed
    -- every day of both)
    daily_streak = CASE WHEN %(last_daily_on)s::date IS NULL OR k.last_daily_on > %(last_daily_on)s::date
                        THEN k.daily_streak
                        WHEN k.last_daily_on = %(last_daily_on)s::date
                        THEN greatest(k.daily_streak, %(daily_streak)s)
                        ELSE %(daily_streak)s END,
    last_daily_on = greatest(k.last_daily_on, %(last_daily_on)s::date),
    -- the person's choices survive: the more private one where they differ, their words where one is unset
    show_stats = k.show_stats AND %(show_stats)s, notifications = k.notifications AND %(notifications)s,
    language = coalesce(k.language, %(language)s::text),
    bio = coalesce(k.bio, %(bio)s::text), background_image = coalesce(k.background_image, %(background_image)s::text),
    music_url = coalesce(k.music_url, %(music_url)s::text),
    updated_at = now()
WHERE k.id = %(keep)s
RETURNING *
"""
_MOVE_MEMBERSHIPS = """
WITH gone AS (DELETE FROM guild_members WHERE user_id = %(gone)s RETURNING guild_id, last_seen)
INSERT INTO guild_members (guild_id, user_id, last_seen) SELECT guild_id, %(keep)s, last_seen FROM gone
ON CONFLICT (guild_id, user_id) DO NOTHING
"""
_MOVED = (
    "telegram_id",
    "discord_id",
    "website_email",
    "platforms",
    "games_played",
    "games_won",
    "messages_sent",
    "daily_streak",
    "last_daily_on",
    "show_stats",
    "notifications",
    "bio",
    "background_image",
    "music_url",
    "language",
)


def _has_history(row: dict[str, object]) -> bool:
    return any(row[k] for k in ("xp", "coins", "games_played", "messages_sent", "daily_streak"))


def _names(keep: dict[str, object], gone: dict[str, object]) -> dict[str, object]:
    """The survivor's names: a real name beats a placeholder; between two real ones, the account with more XP
    (the kept one on a tie). Names then follow the platform they came from."""
    source = keep
    keep_named, gone_named = (
        bool(keep["username"] or keep["display_name"]),
        bool(gone["username"] or gone["display_name"]),
    )
    if gone_named and (not keep_named or int(gone["xp"]) > int(keep["xp"])):  # type: ignore[call-overload]
        source = gone
    return {k: source[k] for k in ("username", "display_name", "primary_platform")}


_BALANCES = "SELECT xp, coins FROM unified_users WHERE id = %(id)s"
_ACCOUNT = "SELECT * FROM unified_users WHERE id = %(id)s"


@dataclass(frozen=True)
class Merged:
    user: User
    merged: bool  # False when the merged-away account had nothing yet (a brand-new account joining)
    # What was paid twice to one person and taken back: daily claims of a day both accounts claimed, season
    # rewards of a season both were paid for, achievements both had unlocked (coins_taken and xp_taken count all).
    duplicate_dailies: int = 0
    season_rewards_taken: int = 0
    coins_taken: int = 0
    xp_taken: int = 0
    achievements_taken: int = 0


def merge_accounts(conn: Conn, keep_id: int, gone_id: int, platform: Platform, hooks: Sequence[MergeHook]) -> Merged:
    """Fold account `gone_id` into `keep_id`: balances via the ledger, stats summed, identities moved, and
    every feature's rows moved by its merge hook. The merged-away row is retired, never deleted. What one
    person was paid twice (a daily of a day both claimed, a season's reward) is taken back."""
    seasons.hold_rollovers(conn)  # before any account lock: a rollover step locks seasons, then accounts
    rows = {r["id"]: r for r in conn.execute(_LOCK_PAIR, {"ids": [keep_id, gone_id]}).fetchall()}
    keep, gone = rows.get(keep_id), rows.get(gone_id)
    if keep is None or gone is None or keep["merged_into"] or gone["merged_into"]:
        raise DomainError(_("One of these accounts no longer exists; nothing was changed."))
    for p in PLATFORMS:
        col = IDENTITY_COLUMNS[p]
        if keep[col] is not None and gone[col] is not None:
            if p == "website":
                raise BadInput(_("Both accounts already have a website login, so they cannot be merged."))
            raise BadInput(
                _("Both accounts already have a {platform} identity, so they cannot be merged.", platform=p.title())
            )
    # One claim per person per day: the retired side's claim of a day both claimed goes, out of its balance
    # before that moves over (and before the boards' rows move: its XP leaves them too).
    dailies = daily.take_back_duplicates(conn, keep_id, gone_id, platform)
    # One reward per person per achievement: before the unlocks move (the hooks), the same way.
    rewarded = achievements.take_back_duplicates(conn, keep_id, gone_id, platform)
    # Features' rows next: an achievement the retired account had is the survivor's before the XP moving
    # over could unlock it a second time.
    for hook in hooks:
        hook(conn, keep_id, gone_id)
    balances = conn.execute(_BALANCES, {"id": gone_id}).fetchone()
    assert balances is not None
    key = f"merge:{gone_id}->{keep_id}"
    for currency in ("xp", "coins"):
        amount = int(balances[currency])
        if amount:
            # Out of the retired account, into the kept one: history on both sides stays in the ledger.
            ledger.grant(
                conn,
                gone_id,
                currency,
                -amount,
                reason="merge out",
                platform=platform,
                source_key=f"{key}:out",
                earned=False,
            )
            ledger.grant(
                conn,
                keep_id,
                currency,
                amount,
                reason="merge in",
                platform=platform,
                source_key=f"{key}:in",
                earned=False,
            )
    # Free the identities first: each column is unique, and the kept row takes them next.
    conn.execute(_RETIRE, {"gone": gone_id, "keep": keep_id})
    params = {k: gone[k] for k in _MOVED} | _names(keep, gone)
    params["keep"] = keep_id
    row = conn.execute(_ABSORB, params).fetchone()
    assert row is not None
    rewards = seasons.take_back_extra_rewards(conn, keep_id, platform)
    if rewards.coins:
        row = conn.execute(_ACCOUNT, {"id": keep_id}).fetchone()
        assert row is not None
    return Merged(
        User.from_row(row),
        _has_history(gone),
        dailies.days,
        rewards.rewards,
        dailies.coins + rewarded.coins + rewards.coins,
        dailies.xp + rewarded.xp,
        rewarded.rewards,
    )


def merge_rows(conn: Conn, keep_id: int, gone_id: int) -> None:
    """This feature's rows: guild memberships move; the retired account's unused link codes stop working."""
    conn.execute(_MOVE_MEMBERSHIPS, {"gone": gone_id, "keep": keep_id})
    conn.execute(_DROP_OLD_CODES, {"user_id": gone_id})


def purge_expired_codes(conn: Conn) -> int:
    """Delete link codes that expired more than a day ago."""
    return int(conn.execute(_PURGE_CODES).rowcount)
