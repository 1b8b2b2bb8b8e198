"""Announcements' SQL, all of it: where a server's announcements go, drafts, the once-only move to posting."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ttfd.core.db import Conn
from ttfd.core.errors import NotFound
from ttfd.core.i18n import _

BODY_MAX = 2000  # a Discord message's content (Telegram allows 4,096)


@dataclass(frozen=True)
class Target:
    guild_id: int
    discord_channel: int
    telegram_chat: int | None
    telegram_title: str | None


@dataclass(frozen=True)
class Announcement:
    id: int
    guild_id: int
    author_id: int
    author_discord: int
    body: str
    discord_channel: int
    telegram_chat: int | None
    locale: str
    status: str
    discord_message: int | None
    telegram_message: int | None
    created_at: datetime
    posted_at: datetime | None


def _target(row: dict[str, Any]) -> Target:
    return Target(**{k: row[k] for k in Target.__dataclass_fields__})


def _announcement(row: dict[str, Any]) -> Announcement:
    return Announcement(**{k: row[k] for k in Announcement.__dataclass_fields__})


def set_target(
    conn: Conn, guild_id: int, discord_channel: int, telegram_chat: int | None, title: str | None, actor: int
) -> Target:
    row = conn.execute(
        """INSERT INTO announce_targets (guild_id, discord_channel, telegram_chat, telegram_title, configured_by)
            VALUES (%s, %s, %s, %s, %s)
            ON CONFLICT (guild_id) DO UPDATE SET discord_channel = excluded.discord_channel,
                telegram_chat = excluded.telegram_chat, telegram_title = excluded.telegram_title,
                configured_by = excluded.configured_by, updated_at = now()
            RETURNING *""",
        (guild_id, discord_channel, telegram_chat, title, actor),
    ).fetchone()
    assert row is not None
    return _target(row)


def target(conn: Conn, guild_id: int) -> Target | None:
    row = conn.execute("SELECT * FROM announce_targets WHERE guild_id = %s", (guild_id,)).fetchone()
    return _target(row) if row else None


def draft(
    conn: Conn,
    *,
    guild_id: int,
    author_id: int,
    author_discord: int,
    body: str,
    discord_channel: int,
    telegram_chat: int | None,
    locale: str,
    request_key: str,
) -> Announcement:
    """A new draft (a redelivered /update finds the one it made)."""
    row = conn.execute(
        """INSERT INTO announcements (guild_id, author_id, author_discord, body, discord_channel, telegram_chat,
                                       locale, request_key)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (request_key) DO UPDATE SET request_key = excluded.request_key
            RETURNING *""",
        (guild_id, author_id, author_discord, body, discord_channel, telegram_chat, locale, request_key),
    ).fetchone()
    assert row is not None
    return _announcement(row)


def get(conn: Conn, announcement_id: int, *, lock: bool = False) -> Announcement:
    row = conn.execute(
        "SELECT * FROM announcements WHERE id = %s FOR UPDATE" if lock else "SELECT * FROM announcements WHERE id = %s",
        (announcement_id,),
    ).fetchone()
    if row is None:
        raise NotFound(_("There is no announcement #{id}.", id=announcement_id))
    return _announcement(row)


def move(conn: Conn, announcement_id: int, frm: str, to: str) -> bool:
    """Move a draft on if it is still `frm` (the guard: of ten Confirms, one moves it); True if it moved."""
    row = conn.execute(
        "UPDATE announcements SET status = %s WHERE id = %s AND status = %s RETURNING id", (to, announcement_id, frm)
    ).fetchone()
    return row is not None


def posted_discord(conn: Conn, announcement_id: int, message_id: int) -> None:
    conn.execute("UPDATE announcements SET discord_message = %s WHERE id = %s", (message_id, announcement_id))


def posted_telegram(conn: Conn, announcement_id: int, message_id: int) -> None:
    conn.execute("UPDATE announcements SET telegram_message = %s WHERE id = %s", (message_id, announcement_id))


def done(conn: Conn, announcement_id: int) -> None:
    conn.execute(
        "UPDATE announcements SET status = 'posted', posted_at = now() WHERE id = %s AND status = 'posting'",
        (announcement_id,),
    )


def merge_rows(conn: Conn, keep_id: int, gone_id: int) -> None:
    """Account merges: the author of announcements and of targets' setups is the surviving account."""
    conn.execute("UPDATE announcements SET author_id = %s WHERE author_id = %s", (keep_id, gone_id))
    conn.execute("UPDATE announce_targets SET configured_by = %s WHERE configured_by = %s", (keep_id, gone_id))
