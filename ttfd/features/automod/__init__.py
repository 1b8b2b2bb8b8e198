"""Automod: one policy per Discord server or Telegram group — bad words (with * wildcards), invite links,
link allow/deny lists, mention spam; on Telegram also capitals, repeated messages and floods; exempt roles,
channels or people; an alert channel. On Discord a sync job turns the policy into Discord's own AutoMod
rules; in Telegram groups every message is checked as it arrives — a command included, before it runs — on
its text folded against look-alike and invisible characters: an offending one is deleted, its sender warned
and a moderation case opened."""

from __future__ import annotations

from typing import Any

from ttfd.core import jobs
from ttfd.core.errors import BadInput
from ttfd.features.automod import rules, service
from ttfd.features.automod.service import DELETE_JOB, SYNC_JOB, Policy
from ttfd.features.moderation import cases
from ttfd.registry import Feature, Group
from ttfd.ui.commands import ChannelRef, Command, Ctx, Kind, MessageHandler, Option, Options
from ttfd.ui.permissions import MANAGE_GUILD
from ttfd.ui.reply import Field, Reply, say
from ttfd.ui.text import Text, channel, code, mention, role, text, when

COLOR = 0xE67E22
TELEGRAM_ONLY = "capitals, repeated messages and floods are checked in Telegram groups only"


# --- Telegram: every group message, before activity counts it or a command runs ---------------------------


def check_message(ctx: Ctx, message: str) -> Reply | None:
    """A group message (a command's included: this is a guard) against its chat's policy. Clean: None
    (activity counts it and pays XP, or the command runs). Offending: its deletion queued, a warning case
    opened (once per update: the event key is the case's key; the dispatch claims the key, so a redelivery
    never gets here) and the sender warned in the chat; a command in it does not run. An edited message is
    checked for what it now says, but not counted again for floods and repeats."""
    if ctx.chat_id is None or not message.strip():
        return None
    policy = service.get(ctx.conn, "telegram", ctx.chat_id)
    if policy is None or not policy.active or ctx.caller.id in policy.exempt_users:
        return None
    offence = service.content_offence(policy, message, ctx.urls)
    if not ctx.edited:
        counted = service.count_offence(ctx.conn, policy, ctx.chat_id, ctx.caller.id, message, ctx.now)
        offence = offence or counted
    if offence is None:
        return None
    message_id = ctx.target.get("reply_to_message_id")
    if message_id:
        jobs.enqueue(
            ctx.conn,
            DELETE_JOB,
            {"chat_id": ctx.chat_id, "message_id": message_id},
            dedupe_key=f"automod:delete:{ctx.chat_id}:{message_id}",
        )
    case, warnings, _ = cases.record_warning(
        ctx.conn,
        scope="telegram",
        scope_id=ctx.chat_id,
        target_id=ctx.caller.id,
        target_name=ctx.caller.name,
        moderator_id=None,
        moderator_name=None,
        reason=f"automod: {offence.code.replace('_', ' ')}",
        source="automod",
        key=ctx.key,
        reply_to=ctx.target,
    )
    return say(
        "⚠️ ",
        mention(ctx.caller.person),
        f", message removed: {offence.says} (warning {warnings}, case #{case.number}).",
    )


# --- showing a policy ------------------------------------------------------------------------------------


def _list(items: tuple[Any, ...], limit: int = 15) -> str:
    shown = ", ".join(str(i) for i in items[:limit])
    return shown + (f", … ({len(items)} in all)" if len(items) > limit else "")


def _describe(p: Policy) -> tuple[Field, ...]:
    out: list[Field] = [
        Field("Automod", ("on" if p.enabled else "off (nothing is checked)",)),
        Field("Bad words", (_list(p.bad_words) if p.bad_words else "none",), False),
        Field("Invite links", ("blocked" if p.block_invites else "allowed",)),
        Field(
            "Links",
            (
                {"off": "not checked", "allow": "only ", "deny": "blocked: "}[p.link_mode]
                + (_list(p.links) if p.link_mode != "off" else ""),
            ),
            False,
        ),
        Field("Mentions", (f"at most {p.mention_limit} per message" if p.mention_limit else "not checked",)),
    ]
    if p.scope == "telegram":
        caps = f"{p.caps_percent}% or more of {p.caps_min_len}+ letters" if p.caps_percent else "not checked"
        repeat = (
            f"more than {p.repeat_limit} in a row within {p.repeat_window_s} s" if p.repeat_limit else "not checked"
        )
        flood = f"more than {p.flood_limit} in {p.flood_window_s} s" if p.flood_limit else "not checked"
        out += [
            Field("Capitals", (caps,)),
            Field("Repeats", (repeat,)),
            Field("Flood", (flood,)),
            Field("Exempt people", (_list(p.exempt_users) if p.exempt_users else "none",), False),
        ]
        return tuple(out)
    exempt_roles: Text = text(*(s for i, r in enumerate(p.exempt_roles) for s in ((", ",) if i else ()) + (role(r),)))
    exempt_channels: Text = text(
        *(s for i, c in enumerate(p.exempt_channels) for s in ((", ",) if i else ()) + (channel(c),))
    )
    status: Text
    if p.sync_error:
        status = ("⚠️ last sync refused: ", p.sync_error)
    elif p.synced_at:
        status = ("✅ Discord AutoMod rules match, synced ", when(p.synced_at))
    else:
        status = ("not synced yet",)
    out += [
        Field("Exempt roles", exempt_roles or ("none",)),
        Field("Exempt channels", exempt_channels or ("none",)),
        Field("Alerts", (channel(p.alert_channel),) if p.alert_channel else ("none",)),
        Field("On Discord", (f"Discord's own AutoMod rules enforce these; {TELEGRAM_ONLY}.",), False),
        Field("Sync", status, False),
    ]
    return tuple(out)


def _show(p: Policy, where: str) -> Reply:
    return Reply(title=f"🛡️ Automod — {where}", fields=_describe(p), color=COLOR, private=True)


def show(ctx: Ctx, opts: Options) -> Reply:
    assert ctx.guild_id is not None
    policy = service.get(ctx.conn, "discord", ctx.guild_id) or Policy("discord", ctx.guild_id)
    return _show(policy, "this server")


def tg_show(ctx: Ctx, opts: Options) -> Reply:
    assert ctx.chat_id is not None
    policy = service.get(ctx.conn, "telegram", ctx.chat_id) or Policy("telegram", ctx.chat_id)
    return _show(policy, "this group")


# --- Discord: /automod set | sync ---------------------------------------------------------------------------


def set_policy(ctx: Ctx, opts: Options) -> Reply:
    assert ctx.guild_id is not None
    values = dict(opts)
    if not values:
        raise BadInput("Pick at least one setting to change.")
    picked: ChannelRef | None = values.pop("alert_channel", None)
    if picked is not None:
        values["alert_channel"] = picked.id
    if values.pop("no_alerts", False):
        if picked is not None:
            raise BadInput("Either pick an alert channel or turn alerts off, not both.")
        values["alert_channel"] = None
    changes = service.parse(values)
    policy = service.update(ctx.conn, "discord", ctx.guild_id, changes, ctx.caller.id, also=rules.desired)
    jobs.enqueue(ctx.conn, SYNC_JOB, {"guild_id": ctx.guild_id})
    return Reply(
        title="🛡️ Automod updated",
        body=("Discord's AutoMod rules are being updated to match (see ", code("/automod show"), ")."),
        fields=_describe(policy),
        color=COLOR,
        private=True,
    )


def sync_now(ctx: Ctx, opts: Options) -> Reply:
    """Deferred: runs in a job, which may call Discord."""
    from ttfd.clients import discord_rest
    from ttfd.features.automod import sync

    assert ctx.guild_id is not None
    result = sync.sync_guild(ctx.conn, discord_rest.shared(), ctx.guild_id)
    if result.error:
        return say("⚠️ ", result.error, private=True)

    def named(slots: list[str]) -> str:
        return ", ".join(rules.NAMES[s].removeprefix("TTFD: ") for s in slots) or "none"

    if not result.writes:
        return say("✅ Discord's AutoMod rules already match the policy; nothing changed.", private=True)
    return say(
        "✅ Synced. Created: ",
        named(result.created),
        "; updated: ",
        named(result.updated),
        "; deleted: ",
        named(result.deleted),
        ".",
        private=True,
    )


# --- Telegram: /automod_set <setting> <value> (admins; deferred, since asking Telegram is a call) ---------

TG_SETTINGS: dict[str, tuple[str, str]] = {  # typed name → (policy field, value kind)
    "enabled": ("enabled", "bool"),
    "words": ("bad_words", "list"),
    "invites": ("block_invites", "bool"),
    "link_mode": ("link_mode", "mode"),
    "links": ("links", "list"),
    "mentions": ("mention_limit", "int"),
    "caps": ("caps_percent", "int"),
    "caps_min": ("caps_min_len", "int"),
    "repeat": ("repeat_limit", "int"),
    "repeat_window": ("repeat_window_s", "int"),
    "flood": ("flood_limit", "int"),
    "flood_window": ("flood_window_s", "int"),
    "exempt": ("exempt_users", "list"),
}
_TRUE, _FALSE = {"on", "yes", "true", "1", "y"}, {"off", "no", "false", "0", "n"}
_RANGES = {
    "caps_min_len": (1, 4000),
    "repeat_window_s": (5, 86400),
    "flood_window_s": (1, 3600),
    "repeat_limit": (0, 20),
    "flood_limit": (0, 100),
    "mention_limit": (0, 50),
    "caps_percent": (0, 100),
}


def _tg_value(setting: str, raw: str) -> dict[str, Any]:
    name, kind = TG_SETTINGS[setting]
    raw = raw.strip()
    if kind == "bool":
        if raw.lower() not in _TRUE | _FALSE:
            raise BadInput(f"{setting} is on or off.")
        return {name: raw.lower() in _TRUE}
    if kind == "mode":
        if raw.lower() not in ("off", "allow", "deny"):
            raise BadInput("link_mode is off, allow (only the links listed) or deny (not the links listed).")
        return {name: raw.lower()}
    if kind == "int":
        low, high = _RANGES[name]
        if not raw.isdigit() or not low <= int(raw) <= high:
            raise BadInput(f"{setting} is a whole number from {low} to {high}" + (" (0: off)." if low == 0 else "."))
        return {name: int(raw)}
    return {name: raw}


def tg_set(ctx: Ctx, opts: Options) -> Reply:
    """Deferred: runs in a job, after Telegram confirms the caller is an admin of the group."""
    from ttfd.features.moderation import ops

    assert ctx.chat_id is not None
    ops.telegram_chat(ctx.conn, ctx.chat_id).require_admin(
        ops.Who(ctx.caller.id, ctx.caller.name),
        restrict=False,
        refusal="Only this group's admins can change its automod settings.",
    )
    changes = service.parse(_tg_value(opts["setting"], opts["value"]))
    policy = service.update(ctx.conn, "telegram", ctx.chat_id, changes, ctx.caller.id)
    return Reply(title="🛡️ Automod updated", fields=_describe(policy), color=COLOR)


def _discord(name: str, description: str, handler: Any, options: tuple[Option, ...] = (), **kw: Any) -> Command:
    return Command(
        name,
        description,
        handler,
        options,
        platforms=("discord",),
        group="automod",
        guild_only=True,
        permission=(MANAGE_GUILD, "Manage Server"),
        **kw,
    )


LIST_HINT = "comma-separated; none clears"
SET_OPTIONS = (
    Option("enabled", Kind.BOOLEAN, "Turn automod on or off"),
    Option("bad_words", Kind.STRING, f"Bad words, * at an end is a wildcard ({LIST_HINT})"),
    Option("block_invites", Kind.BOOLEAN, "Block Discord invite links"),
    Option(
        "link_mode",
        Kind.STRING,
        "Links: off, allow (only the listed domains) or deny (the listed domains)",
        choices=(("off", "off"), ("allow only the listed", "allow"), ("deny the listed", "deny")),
    ),
    Option("links", Kind.STRING, f"Domains for the link mode ({LIST_HINT})"),
    Option("mention_limit", Kind.INTEGER, "Most mentions in one message (0: off)", min_value=0, max_value=50),
    Option("exempt_roles", Kind.STRING, f"Roles automod ignores, mentions or ids ({LIST_HINT})", max_length=2000),
    Option("exempt_channels", Kind.STRING, f"Channels automod ignores ({LIST_HINT})", max_length=2000),
    Option("alert_channel", Kind.CHANNEL, "Where Discord posts automod alerts", channel_types=(0, 5)),
    Option("no_alerts", Kind.BOOLEAN, "Stop posting alerts"),
)

FEATURE = Feature(
    name="automod",
    summary=__doc__ or "",
    groups=(Group("automod", "Automatic moderation for this server", MANAGE_GUILD),),
    commands=(
        _discord("show", "This server's automod policy and its sync", show, writes=False),
        _discord(
            "set", "Change this server's automod policy (then synced to Discord's AutoMod)", set_policy, SET_OPTIONS
        ),
        _discord("sync", "Make Discord's AutoMod rules match the policy now", sync_now, defer=True),
        Command(
            "automod_show",
            "This group's automod rules",
            tg_show,
            platforms=("telegram",),
            writes=False,
            chats=("group", "supergroup"),
        ),
        Command(
            "automod_set",
            "Admins: change one automod setting of this group",
            tg_set,
            (
                Option(
                    "setting", Kind.STRING, "What to change", required=True, choices=tuple((k, k) for k in TG_SETTINGS)
                ),
                Option(
                    "value",
                    Kind.STRING,
                    "The new value (lists comma-separated; none clears)",
                    required=True,
                    max_length=4000,
                    rest=True,
                ),
            ),
            platforms=("telegram",),
            defer=True,
            chats=("group", "supergroup"),
        ),
    ),
    messages=(MessageHandler("automod", check_message, guard=True),),
    jobs={
        SYNC_JOB: "ttfd.features.automod.sync:run_sync_job",
        DELETE_JOB: "ttfd.features.automod.telegram:delete_message",
    },
    purges={"automod_counters": service.purge_counters},
    migrations=("0012_automod.sql",),
    help=(
        "Group admins can set automod rules (/automod_set): offending messages are deleted and their senders warned.",
    ),
)
