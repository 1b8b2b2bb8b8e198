"""/setup …: server configuration for admins (permissions checked from the member's bitfield)."""

from __future__ import annotations

from functions.discord.router import (
    ADMINISTRATOR,
    BAN_MEMBERS,
    KICK_MEMBERS,
    MANAGE_CHANNELS,
    MANAGE_GUILD,
    MANAGE_MESSAGES,
    MANAGE_ROLES,
    MANAGE_WEBHOOKS,
    MODERATE_MEMBERS,
    Ctx,
    Option,
    OptionType,
    Reply,
    Router,
    reply,
)
from ttfd import discord_activity, economy, guilds
from ttfd.core.errors import DomainError

router = Router("setup")
router.group("setup", "Configure TTFD for this server", default_member_permissions=MANAGE_ROLES)
RANK_CHOICES = tuple((code, code) for code in economy.RANK_CODES)
# A rank role is handed out automatically for chatting; it must never carry moderation power.
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


@router.subcommand(
    "setup",
    "rank-role",
    "Give a role to members who reach a rank",
    Option("rank", OptionType.STRING, "Rank", required=True, choices=RANK_CHOICES),
    Option("role", OptionType.ROLE, "Role to give", required=True),
)
def rank_role(ctx: Ctx) -> Reply:
    ctx.require_permission(MANAGE_ROLES, "Manage Roles")
    assert ctx.guild_id is not None
    rank = economy.rank_by_code(ctx.conn, str(ctx.options.get("rank", "")))
    if rank is None:
        raise DomainError("Unknown rank. Pick one of F- … S.")
    role_id: int = ctx.options["role"]
    if role_id == ctx.guild_id:
        raise DomainError("@everyone cannot be a rank role.")
    # Discord sends the chosen role in data.resolved; without it we cannot check what it grants.
    role = ctx.resolved("roles", "role")
    permissions = str(role.get("permissions", "")) if role else ""
    if role is None or not (permissions.isascii() and permissions.isdigit()):
        raise DomainError("I could not see that role's permissions. Pick the role from Discord's list.")
    if role.get("managed"):
        raise DomainError("That role is managed by an integration or bot and cannot be handed out.")
    granted = int(permissions)
    risky = [name for bit, name in DANGEROUS.items() if granted & bit]
    if risky:
        raise DomainError(f"Rank roles are earned by chatting, so they may not grant {', '.join(risky)}.")
    guilds.set_rank_role(ctx.conn, ctx.guild_id, rank.id, role_id, ctx.user.id)
    mapping = guilds.rank_roles(ctx.conn, ctx.guild_id)
    ranks = {r.id: r.code for r in economy.ranks(ctx.conn)}
    listing = "\n".join(f"{ranks[r]} → <@&{role}>" for r, role in mapping.items())
    return reply(
        f"✅ Members reaching **{rank.code}** will get <@&{role_id}>.\n\nRank roles here:\n{listing}",
        ephemeral=True,
    )


@router.subcommand(
    "setup",
    "xp-channel",
    "Earn message XP in a channel (polled every minute; the bot needs Read Message History there)",
    Option("channel", OptionType.CHANNEL, "Text channel", required=True, channel_types=(0, 5, 11, 12)),
    Option("enabled", OptionType.BOOLEAN, "Turn XP on (default) or off for this channel"),
)
def xp_channel(ctx: Ctx) -> Reply:
    ctx.require_permission(MANAGE_GUILD, "Manage Server")
    assert ctx.guild_id is not None
    channel_id: int = ctx.options["channel"]
    enabled = ctx.options.get("enabled") is not False
    channels = discord_activity.set_channel(ctx.conn, ctx.guild_id, channel_id, ctx.user.id, enabled)
    state = "now earns" if enabled else "no longer earns"
    listing = ", ".join(f"<#{c}>" for c in channels) or "none"
    return reply(f"✅ <#{channel_id}> {state} message XP.\nXP channels here: {listing}", ephemeral=True)
