"""Ranks: F- … S by XP. A rank-up gives the rank's Discord role in every server that maps one (/setup
rank-role), and a Telegram message to whoever wants notifications."""

from __future__ import annotations

from typing import Any

from ttfd.core import jobs, ledger, users
from ttfd.core.db import Conn
from ttfd.core.errors import BadInput
from ttfd.core.i18n import _, negotiate
from ttfd.core.settings import get_settings
from ttfd.features.ranks import service
from ttfd.registry import Feature, Group
from ttfd.ui import guild
from ttfd.ui.commands import Command, Ctx, Kind, Option, Options, RoleRef
from ttfd.ui.permissions import MANAGE_ROLES, check_grantable, grantable_option
from ttfd.ui.reply import Reply, say
from ttfd.ui.text import bold, lines
from ttfd.ui.text import role as mention_role

RANK_RULE = _("Rank roles are earned by chatting")


def rank_role(ctx: Ctx, opts: Options) -> Reply:
    """Deferred (runs in a job): the role is checked against the server's roles over REST, as Discord would
    check the member giving it — and the bot, which will."""
    assert ctx.guild_id is not None
    rank = ledger.rank_by_code(ctx.conn, opts["rank"])
    if rank is None:
        raise BadInput(_("Unknown rank. Pick one of F- … S."))
    role: RoleRef = opts["role"]
    check_grantable(role, ctx.guild_id, RANK_RULE)
    guild.check_assignable(ctx.conn, ctx.guild_id, role.id, guild.bot_user_id(), RANK_RULE, ctx.caller.id)
    service.set_rank_role(ctx.conn, ctx.guild_id, rank.id, role.id, ctx.user.id)
    codes = {r.id: r.code for r in ledger.ranks(ctx.conn)}
    mapping = service.rank_roles(ctx.conn, ctx.guild_id)
    return say(
        _("✅ Members reaching {rank} will get {role}.", rank=bold(rank.code), role=mention_role(role.id, role.name)),
        "\n\n",
        _("Rank roles here:"),
        "\n",
        lines(*((f"{codes[r]} → ", mention_role(role_id)) for r, role_id in mapping.items())),
        private=True,
    )


def on_rank_up(conn: Conn, event: dict[str, Any]) -> None:
    """Queue the Discord roles (each server that maps ranks) and the Telegram message."""
    user = users.get_user(conn, int(event["user_id"]))
    data = event["data"]
    to_id = int(data["to_id"])
    if user.discord_id:
        for guild_id in service.guilds_with_rank_roles(conn, user.id):
            add, remove = service.plan_rank_roles(service.rank_roles(conn, guild_id), to_id)
            if add is None and not remove:
                continue
            payload = {"guild_id": guild_id, "discord_id": user.discord_id, "add": add, "remove": remove}
            jobs.enqueue(
                conn,
                "discord.rank_roles",
                {**payload, "rank": data["to"]},
                dedupe_key=f"rank_roles:{event['id']}:{guild_id}",
            )
    if user.telegram_id and user.notifications:
        # Said now, in the person's language (a job's payload is JSON): their choice, else the deployment's.
        locale = negotiate(user.language, default=get_settings().default_locale)
        notice = _(
            "🎉 Rank up! You are now rank {rank} (was {was}). Keep going!", rank=str(data["to"]), was=str(data["from"])
        )
        jobs.enqueue(
            conn,
            "telegram.send",
            {"chat_id": user.telegram_id, "text": notice.in_(locale)},
            dedupe_key=f"rank_msg:{event['id']}",
        )


FEATURE = Feature(
    name="ranks",
    summary=__doc__ or "",
    groups=(Group("setup", _("Configure TTFD for this server"), MANAGE_ROLES),),
    commands=(
        Command(
            "rank-role",
            _("Give a role to members who reach a rank"),
            rank_role,
            (
                Option("rank", Kind.STRING, _("Rank"), required=True, choices=tuple((c, c) for c in ledger.RANK_CODES)),
                Option("role", Kind.ROLE, _("Role to give"), required=True),
            ),
            platforms=("discord",),
            group="setup",
            defer=True,
            private=True,
            guild_only=True,
            permission=(MANAGE_ROLES, "Manage Roles"),
            precheck=grantable_option(RANK_RULE),
        ),
    ),
    reactions={"rank_up": on_rank_up},
    jobs={"discord.rank_roles": "ttfd.features.ranks.roles:apply_rank_roles"},
)
