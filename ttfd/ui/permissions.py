"""Discord permission bits, and which roles TTFD may hand out automatically (rank roles, shop roles)."""

from __future__ import annotations

from ttfd.core.errors import BadInput
from ttfd.ui.commands import ADMINISTRATOR, RoleRef

KICK_MEMBERS, BAN_MEMBERS, MANAGE_CHANNELS, MANAGE_GUILD = 1 << 1, 1 << 2, 1 << 4, 1 << 5
MANAGE_MESSAGES, MANAGE_ROLES, MANAGE_WEBHOOKS, MODERATE_MEMBERS = 1 << 13, 1 << 28, 1 << 29, 1 << 40
# A role earned by chatting or bought with coins must never carry moderation power.
DANGEROUS = {
    ADMINISTRATOR: "Administrator",
    MANAGE_GUILD: "Manage Server",
    MANAGE_ROLES: "Manage Roles",
    MANAGE_CHANNELS: "Manage Channels",
    MANAGE_MESSAGES: "Manage Messages",
    MANAGE_WEBHOOKS: "Manage Webhooks",
    KICK_MEMBERS: "Kick Members",
    BAN_MEMBERS: "Ban Members",
    MODERATE_MEMBERS: "Timeout Members",
}


def check_grantable(role: RoleRef, guild_id: int, what: str) -> None:
    """Refuse a role TTFD would hand out to anyone (`what`: "Rank roles are earned by chatting")."""
    if role.id == guild_id:
        raise BadInput("@everyone cannot be handed out.")
    if role.managed:
        raise BadInput("That role is managed by an integration or bot and cannot be handed out.")
    risky = [name for bit, name in DANGEROUS.items() if role.permissions & bit]
    if risky:
        raise BadInput(f"{what}, so they may not grant {', '.join(risky)}.")
