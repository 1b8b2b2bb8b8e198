"""Chat activity: messages counted and message XP with a per-person cooldown — from Telegram group messages
as they arrive, and from Discord channels an admin opts in (/setup xp-channel), read over REST every minute
(no gateway)."""

from __future__ import annotations

import random
from typing import Any

from ttfd.core.i18n import Msg, _
from ttfd.features.activity import service
from ttfd.features.activity.service import ActivitySettings
from ttfd.registry import Feature, Registry, Schedule
from ttfd.ui.commands import Command, Ctx, Kind, MessageHandler, Option, Options
from ttfd.ui.permissions import MANAGE_GUILD
from ttfd.ui.reply import Reply, say
from ttfd.ui.text import channel


def group_message(ctx: Ctx, text: str) -> Reply | None:
    """A group chat message: counted, and XP unless the sender earned some within the cooldown. No reply."""
    if not text.strip():
        return None
    s = ctx.settings.section(ActivitySettings)
    # The event key makes the ledger key: a redelivered update can never pay twice.
    service.message_xp(ctx.conn, s, ctx.user.id, "telegram", random.randint(s.min, s.max), f"{ctx.key}:msgxp")
    return None


def _channels(ids: list[int]) -> Msg:
    """Channels, linked, one after another ("none" when there are none)."""
    if not ids:
        return _("none")
    values = {f"channel{i}": channel(c) for i, c in enumerate(ids)}
    return Msg(", ".join("{" + key + "}" for key in values), values=values)


def xp_channel(ctx: Ctx, opts: Options) -> Reply:
    from ttfd.features.activity import polling

    assert ctx.guild_id is not None
    channel_id: int = opts["channel"].id
    enabled = opts.get("enabled") is not False
    channels = polling.set_channel(ctx.conn, ctx.guild_id, channel_id, ctx.user.id, enabled)
    picked = channel(channel_id, opts["channel"].name)
    if enabled:
        state = _("{channel} now earns message XP.", channel=picked)
    else:
        state = _("{channel} no longer earns message XP.", channel=picked)
    return say(state, "\n", _("XP channels here: {channels}", channels=_channels(list(channels))), private=True)


def poll_messages(registry: Registry) -> dict[str, Any]:
    """Message XP for new messages in the channels admins opted in (/setup xp-channel)."""
    from ttfd.clients import discord_rest
    from ttfd.core.settings import get_settings
    from ttfd.features.activity import polling

    return polling.poll_channels(get_settings().section(ActivitySettings), discord_rest.shared()).as_dict()


FEATURE = Feature(
    name="activity",
    summary=__doc__ or "",
    commands=(
        Command(
            "xp-channel",
            _("Earn message XP in a channel (polled every minute; the bot needs Read Message History there)"),
            xp_channel,
            (
                Option("channel", Kind.CHANNEL, _("Text channel"), required=True, channel_types=(0, 5, 11, 12)),
                Option("enabled", Kind.BOOLEAN, _("Turn XP on (default) or off for this channel")),
            ),
            platforms=("discord",),
            group="setup",
            guild_only=True,
            permission=(MANAGE_GUILD, "Manage Server"),
        ),
    ),
    messages=(MessageHandler("group XP", group_message),),
    schedules=(Schedule("poll_messages", "* * * * *", poll_messages, "Discord message XP"),),
    settings=ActivitySettings,
    migrations=("0002_discord_message_xp.sql",),
    help=(_("In groups with the bot, and in Discord channels set up for it, chatting earns XP (once a minute)."),),
)
