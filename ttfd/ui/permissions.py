"""Discord permission bits, and which roles TTFD may hand out automatically (rank roles, shop roles)."""

from __future__ import annotations

from typing import Any

from ttfd.core.errors import BadInput
from ttfd.core.i18n import _, listing
from ttfd.core.users import Platform
from ttfd.ui.commands import ADMINISTRATOR, PERMISSION_NAMES, Precheck, RoleRef

KICK_MEMBERS, BAN_MEMBERS, MANAGE_CHANNELS, MANAGE_GUILD = 1 << 1, 1 << 2, 1 << 4, 1 << 5
VIEW_AUDIT_LOG, MANAGE_MESSAGES, MENTION_EVERYONE = 1 << 7, 1 << 13, 1 << 17
MUTE_MEMBERS, DEAFEN_MEMBERS, MOVE_MEMBERS, MANAGE_NICKNAMES = 1 << 22, 1 << 23, 1 << 24, 1 << 27
MANAGE_ROLES, MANAGE_WEBHOOKS, MANAGE_EXPRESSIONS = 1 << 28, 1 << 29, 1 << 30
MANAGE_EVENTS, MANAGE_THREADS, MODERATE_MEMBERS = 1 << 33, 1 << 34, 1 << 40
# A role earned by chatting or bought with coins must never carry moderation power.
DANGEROUS = (
    ADMINISTRATOR,
    MANAGE_GUILD,
    MANAGE_ROLES,
    MANAGE_CHANNELS,
    MANAGE_MESSAGES,
    MANAGE_WEBHOOKS,
    KICK_MEMBERS,
    BAN_MEMBERS,
    MODERATE_MEMBERS,
    MENTION_EVERYONE,
    MUTE_MEMBERS,
    DEAFEN_MEMBERS,
    MOVE_MEMBERS,
    MANAGE_NICKNAMES,
    MANAGE_THREADS,
    MANAGE_EVENTS,
    MANAGE_EXPRESSIONS,
    VIEW_AUDIT_LOG,
)


def check_grantable(role: RoleRef, guild_id: int, what: str) -> None:
    """Refuse a role TTFD would hand out to anyone (`what`: "Rank roles are earned by chatting")."""
    if role.id == guild_id:
        raise BadInput(_("@everyone cannot be handed out."))
    if role.managed:
        raise BadInput(_("That role is managed by an integration or bot and cannot be handed out."))
    risky = [PERMISSION_NAMES[bit] for bit in DANGEROUS if role.permissions & bit]
    if risky:
        raise BadInput(_("{rule}, so they may not grant {permissions}.", rule=what, permissions=listing(risky)))


def grantable_option(what: str, option: str = "role") -> Precheck:
    """A command's precheck: the role picked in `option` (as the interaction resolved it) may be handed out —
    refused before "thinking…"; the server's hierarchy is checked later, over REST (ttfd.ui.guild)."""

    def check(opts: dict[str, Any], platform: Platform, guild_id: int | None) -> dict[str, Any]:
        picked = opts.get(option)
        if isinstance(picked, RoleRef) and guild_id is not None:
            check_grantable(picked, guild_id, what)
        return opts

    return check
