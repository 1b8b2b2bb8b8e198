"""Announcements: /update previews a text privately; Confirm posts it, once however often it is pressed, to the
server's announcement channel and, when one is linked, its Telegram channel (/setup announcements). Posting
runs in a job (ttfd/features/announcements/calls.py)."""

from __future__ import annotations

from dataclasses import dataclass

from ttfd.core import jobs
from ttfd.core.errors import BadInput, Forbidden
from ttfd.core.i18n import C_, _
from ttfd.features.announcements import service
from ttfd.registry import Feature
from ttfd.ui.actions import Action
from ttfd.ui.commands import ActionHandler, ChannelRef, Command, Ctx, Kind, Option, Options, require_permission
from ttfd.ui.permissions import MANAGE_GUILD
from ttfd.ui.reply import Button, Field, Reply, say
from ttfd.ui.text import Part, bold, channel

POST_JOB = "announcements.post"
COLOR = 0xF1C40F
TEXT_CHANNELS = (0, 5)  # a text channel, or an announcement channel


@dataclass(frozen=True)
class Post(Action):
    """Confirm on the preview: bound to the announcement (signed), pressed by its author."""

    prefix = "anp"
    signed = True
    announcement: int


@dataclass(frozen=True)
class Drop(Action):
    prefix = "anx"
    signed = True
    announcement: int


def update_cmd(ctx: Ctx, opts: Options) -> Reply:
    assert ctx.guild_id is not None
    body = str(opts["text"]).replace("\\n", "\n").strip()
    if not body or "\x00" in body:
        raise BadInput(_("Write the announcement's text."))
    picked: ChannelRef | None = opts.get("channel")
    target = service.target(ctx.conn, ctx.guild_id)
    if picked is None and target is None:
        raise BadInput(_("Where to? Pick a channel, or set one up with /setup announcements."))
    where = picked.id if picked is not None else target.discord_channel  # type: ignore[union-attr]
    telegram = target.telegram_chat if target is not None else None
    made = service.draft(
        ctx.conn,
        guild_id=ctx.guild_id,
        author_id=ctx.user.id,
        author_discord=ctx.caller.id,
        body=body[: service.BODY_MAX],
        discord_channel=where,
        telegram_chat=telegram,
        locale=ctx.place_locale,
        request_key=ctx.key,
    )
    goes: list[Part] = [channel(where)]
    if telegram is not None and target is not None:
        goes += [" + Telegram: ", bold(target.telegram_title or str(telegram))]
    return Reply(
        title=_("📢 Announcement"),
        body=(made.body,),
        color=COLOR,
        fields=(Field(_("Posted to"), tuple(goes)),),
        footer=_("Preview: only you see this. Nobody is pinged."),
        rows=(
            (
                Button(C_("button", "Post it"), Post(made.id), style="success"),
                Button(C_("button", "Cancel"), Drop(made.id), style="secondary"),
            ),
        ),
        private=True,
    )


def _author(ctx: Ctx, a: service.Announcement) -> None:
    """Only the announcement's author, in its server, still with Manage Server."""
    if a.guild_id != ctx.guild_id or a.author_id != ctx.user.id:
        raise Forbidden(_("Only the person who wrote this announcement can post it."))
    require_permission(ctx.guild_id, ctx.permissions, MANAGE_GUILD, "Manage Server")


def on_post(ctx: Ctx, action: Post) -> Reply:
    a = service.get(ctx.conn, action.announcement, lock=True)
    _author(ctx, a)
    if not service.move(ctx.conn, a.id, "draft", "posting"):
        if a.status == "cancelled":
            raise BadInput(_("This announcement was cancelled."))
        raise BadInput(_("This announcement is posted already."))
    payload = {"announcement": a.id, "reply_to": ctx.target}
    jobs.enqueue(ctx.conn, POST_JOB, payload, dedupe_key=f"announce:{a.id}")
    return say(_("📣 Posting…"), private=True, edit=True)


def on_drop(ctx: Ctx, action: Drop) -> Reply:
    a = service.get(ctx.conn, action.announcement, lock=True)
    _author(ctx, a)
    if not service.move(ctx.conn, a.id, "draft", "cancelled"):
        raise BadInput(_("This announcement is posted already."))
    return say(_("Cancelled: nothing was posted."), private=True, edit=True)


def setup_cmd(ctx: Ctx, opts: Options) -> Reply:
    """Deferred: a Telegram channel is linked only after asking Telegram (see calls.link)."""
    from ttfd.features.announcements import calls

    return calls.link(ctx, opts["discord_channel"], opts.get("telegram_channel"))


FEATURE = Feature(
    name="announcements",
    summary=__doc__ or "",
    commands=(
        Command(
            "update",
            _("Post an announcement (a preview first)"),
            update_cmd,
            (
                Option(
                    "text",
                    Kind.STRING,
                    _("The announcement (\\n for a new line)"),
                    required=True,
                    max_length=service.BODY_MAX,
                ),
                Option("channel", Kind.CHANNEL, _("Another channel than the usual one"), channel_types=TEXT_CHANNELS),
            ),
            platforms=("discord",),
            guild_only=True,
            permission=(MANAGE_GUILD, "Manage Server"),
        ),
        Command(
            "announcements",
            _("Where announcements go: a channel here and a Telegram channel"),
            setup_cmd,
            (
                Option(
                    "discord_channel",
                    Kind.CHANNEL,
                    _("The announcement channel here"),
                    required=True,
                    channel_types=TEXT_CHANNELS,
                ),
                Option("telegram_channel", Kind.STRING, _("A Telegram channel: @name or its id"), max_length=64),
            ),
            platforms=("discord",),
            group="setup",
            guild_only=True,
            permission=(MANAGE_GUILD, "Manage Server"),
            defer=True,
            private=True,
        ),
    ),
    actions=(ActionHandler(Post, on_post), ActionHandler(Drop, on_drop)),
    jobs={POST_JOB: "ttfd.features.announcements.calls:post"},
    merge=service.merge_rows,
    migrations=("0027_announcements.sql",),
)
