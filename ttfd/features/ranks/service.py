"""Rank → role mappings per guild, and what a rank-up should change on Discord."""

from __future__ import annotations

from ttfd.core import audit
from ttfd.core.db import Conn

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


def set_rank_role(conn: Conn, guild_id: int, rank_id: int, role_id: int, actor_id: int) -> None:
    """Map a rank to a Discord role in one guild, recorded in the audit log."""
    conn.execute(_SET_RANK_ROLE, {"guild_id": guild_id, "rank_id": rank_id, "role_id": role_id})
    audit.record(conn, guild_id, actor_id, "rank_role.set", {"rank_id": rank_id, "role_id": str(role_id)})


def rank_roles(conn: Conn, guild_id: int) -> dict[int, int]:
    """rank_id → role_id for a guild."""
    rows = conn.execute(_RANK_ROLES, {"guild_id": guild_id}).fetchall()
    return {int(r["rank_id"]): int(r["role_id"]) for r in rows}


def guilds_with_rank_roles(conn: Conn, user_id: int) -> list[int]:
    """Guilds the user was seen in that map at least one rank to a role."""
    return [int(r["guild_id"]) for r in conn.execute(_MEMBER_GUILDS_WITH_ROLES, {"user_id": user_id})]


def plan_rank_roles(mapping: dict[int, int], to_id: int) -> tuple[int | None, list[int]]:
    """Keep exactly one rank role: the highest mapped rank at or below the new rank; drop the lower ones."""
    reached = [r for r in mapping if r <= to_id]
    if not reached:
        return None, []
    best = max(reached)
    return mapping[best], sorted({mapping[r] for r in reached if r != best and mapping[r] != mapping[best]})
