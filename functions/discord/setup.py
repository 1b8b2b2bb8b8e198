"""/setup …: server configuration for admins (permissions checked from the member's bitfield)."""

from __future__ import annotations

from functions.discord.router import MANAGE_ROLES, Ctx, Option, OptionType, Reply, Router, reply
from ttfd import economy, guilds
from ttfd.errors import DomainError

router = Router("setup")
router.group("setup", "Configure TTFD for this server", default_member_permissions=MANAGE_ROLES)
RANK_CHOICES = tuple(
    (c, c)
    for c in [
        "F-",
        "F",
        "F+",
        "E-",
        "E",
        "E+",
        "D-",
        "D",
        "D+",
        "C-",
        "C",
        "C+",
        "B-",
        "B",
        "B+",
        "A-",
        "A",
        "A+",
        "S-",
        "S",
    ]
)


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
    role_id = int(ctx.options["role"])
    if role_id == ctx.guild_id:
        raise DomainError("@everyone cannot be a rank role.")
    guilds.set_rank_role(ctx.conn, ctx.guild_id, rank.id, role_id, ctx.user.id)
    mapping = guilds.rank_roles(ctx.conn, ctx.guild_id)
    ranks = {r.id: r.code for r in economy.ranks(ctx.conn)}
    listing = "\n".join(f"{ranks[r]} → <@&{role}>" for r, role in mapping.items())
    return reply(
        f"✅ Members reaching **{rank.code}** will get <@&{role_id}>.\n\nRank roles here:\n{listing}",
        ephemeral=True,
    )
