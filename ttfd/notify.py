"""Reactions to cross-platform events: rank-up roles on Discord and a message on Telegram, via jobs."""

from __future__ import annotations

import logging
from typing import Any

from ttfd import accounts, guilds
from ttfd.clients import discord_rest, telegram
from ttfd.clients.http import NotFoundError
from ttfd.core import events, jobs
from ttfd.core.db import Conn

log = logging.getLogger(__name__)


def plan_rank_roles(mapping: dict[int, int], to_id: int) -> tuple[int | None, list[int]]:
    """Keep exactly one rank role: the highest mapped rank at or below the new rank; drop the lower ones."""
    reached = [r for r in mapping if r <= to_id]
    if not reached:
        return None, []
    best = max(reached)
    return mapping[best], sorted({mapping[r] for r in reached if r != best and mapping[r] != mapping[best]})


def _on_rank_up(conn: Conn, event: dict[str, Any]) -> None:
    user = accounts.get_user(conn, int(event["user_id"]))
    data = event["data"]
    to_id = int(data["to_id"])
    if user.discord_id:
        for guild_id in guilds.guilds_with_rank_roles(conn, user.id):
            add, remove = plan_rank_roles(guilds.rank_roles(conn, guild_id), to_id)
            if add is None and not remove:
                continue
            jobs.enqueue(
                conn,
                "discord.rank_roles",
                {
                    "guild_id": guild_id,
                    "discord_id": user.discord_id,
                    "add": add,
                    "remove": remove,
                    "rank": data["to"],
                },
                dedupe_key=f"rank_roles:{event['id']}:{guild_id}",
            )
    if user.telegram_id and _wants_notifications(conn, user.id):
        jobs.enqueue(
            conn,
            "telegram.send",
            {
                "chat_id": user.telegram_id,
                "text": f"🎉 Rank up! You are now rank {data['to']} (was {data['from']}). Keep going!",
            },
            dedupe_key=f"rank_msg:{event['id']}",
        )


def _wants_notifications(conn: Conn, user_id: int) -> bool:
    row = conn.execute("SELECT notifications FROM unified_users WHERE id = %(id)s", {"id": user_id}).fetchone()
    return bool(row and row["notifications"])


REACTIONS = {"rank_up": _on_rank_up}


def process_pending(conn: Conn, limit: int = 200) -> int:
    """Consume a batch of events, turning them into jobs in the same transaction; returns how many."""
    batch = events.claim_pending(conn, limit)
    for event in batch:
        react = REACTIONS.get(event["event_type"])
        if react:
            react(conn, event)
    events.mark_processed(conn, [e["id"] for e in batch])
    return len(batch)


# --- job handlers ----------------------------------------------------------------------------------


UNKNOWN_MEMBER = 10007  # Discord error code: the member left the guild


@jobs.handler("discord.rank_roles")
def apply_rank_roles(payload: dict[str, Any]) -> None:
    """Give the new rank's role, then drop lower ones; a deleted role is skipped, a departed member ends it."""
    rest, guild, member = discord_rest.shared(), int(payload["guild_id"]), int(payload["discord_id"])
    reason = f"TTFD rank up to {payload.get('rank')}"
    calls = [(rest.add_member_role, payload.get("add"))] + [(rest.remove_member_role, r) for r in payload["remove"]]
    for call, role in calls:
        if not role:
            continue
        try:
            call(guild, member, int(role), reason=reason)
        except NotFoundError as exc:
            if exc.code == UNKNOWN_MEMBER:
                log.info("member %s left guild %s; rank roles skipped", member, guild)
                return
            log.warning("role %s in guild %s is gone (%s); skipped", role, guild, exc)


@jobs.handler("telegram.send")
def send_telegram(payload: dict[str, Any]) -> None:
    """Send a Telegram message (a blocked bot gives 403, which is permanent)."""
    telegram.shared().send_message(int(payload["chat_id"]), str(payload["text"]))
