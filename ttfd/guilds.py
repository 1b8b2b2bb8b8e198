"""Per-guild Discord configuration: known members (no gateway) and rank → role mappings."""

from __future__ import annotations

from typing import Any

from psycopg.types.json import Jsonb

from ttfd.core.db import Conn

_TOUCH_MEMBER = """
INSERT INTO guild_members (guild_id, user_id) VALUES (%(guild_id)s, %(user_id)s)
ON CONFLICT (guild_id, user_id) DO UPDATE SET last_seen = now()
WHERE guild_members.last_seen < now() - interval '1 hour'
"""
# From a website login's guild list, only guilds TTFD is set up in are worth remembering.
_TOUCH_CONFIGURED = """
INSERT INTO guild_members (guild_id, user_id)
SELECT g, %(user_id)s FROM unnest(%(guild_ids)s::bigint[]) AS g
WHERE EXISTS (SELECT 1 FROM guild_rank_roles r WHERE r.guild_id = g)
   OR EXISTS (SELECT 1 FROM guild_xp_channels c WHERE c.guild_id = g)
ON CONFLICT (guild_id, user_id) DO UPDATE SET last_seen = now()
"""
_SET_RANK_ROLE = """
INSERT INTO guild_rank_roles (guild_id, rank_id, role_id) VALUES (%(guild_id)s, %(rank_id)s, %(role_id)s)
ON CONFLICT (guild_id, rank_id) DO UPDATE SET role_id = EXCLUDED.role_id
"""
_RANK_ROLES = "SELECT rank_id, role_id FROM guild_rank_roles WHERE guild_id = %(guild_id)s ORDER BY rank_id"
_MEMBER_GUILDS_WITH_ROLES = """
SELECT DISTINCT m.guild_id FROM guild_members m
JOIN guild_rank_roles r ON r.guild_id = m.guild_id
WHERE m.user_id = %(user_id)s
"""
_AUDIT = """
INSERT INTO audit_logs (guild_id, actor_id, action, data) VALUES (%(guild_id)s, %(actor)s, %(action)s, %(data)s)
"""


def touch_member(conn: Conn, guild_id: int, user_id: int) -> None:
    """Remember that a user is in a guild (written at most hourly per member to spare the table)."""
    conn.execute(_TOUCH_MEMBER, {"guild_id": guild_id, "user_id": user_id})


def touch_configured_guilds(conn: Conn, user_id: int, guild_ids: list[int]) -> None:
    """Remember the user in every guild of `guild_ids` that has TTFD configured (rank roles reach them)."""
    if guild_ids:
        conn.execute(_TOUCH_CONFIGURED, {"user_id": user_id, "guild_ids": guild_ids})


def set_rank_role(conn: Conn, guild_id: int, rank_id: int, role_id: int, actor_id: int) -> None:
    """Map a rank to a Discord role in one guild, recorded in the audit log."""
    conn.execute(_SET_RANK_ROLE, {"guild_id": guild_id, "rank_id": rank_id, "role_id": role_id})
    audit(conn, guild_id, actor_id, "rank_role.set", {"rank_id": rank_id, "role_id": str(role_id)})


def rank_roles(conn: Conn, guild_id: int) -> dict[int, int]:
    """rank_id → role_id for a guild."""
    rows = conn.execute(_RANK_ROLES, {"guild_id": guild_id}).fetchall()
    return {int(r["rank_id"]): int(r["role_id"]) for r in rows}


def guilds_with_rank_roles(conn: Conn, user_id: int) -> list[int]:
    """Guilds the user was seen in that map at least one rank to a role."""
    return [int(r["guild_id"]) for r in conn.execute(_MEMBER_GUILDS_WITH_ROLES, {"user_id": user_id})]


def audit(conn: Conn, guild_id: int | None, actor_id: int | None, action: str, data: dict[str, Any]) -> None:
    """Append an admin action to audit_logs."""
    conn.execute(_AUDIT, {"guild_id": guild_id, "actor": actor_id, "action": action, "data": Jsonb(data)})
