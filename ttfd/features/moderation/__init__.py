"""Moderation with numbered cases: /ban (temporary with a duration), /unban, /kick, /timeout and /untimeout,
/warn and /warnings, /clear, /cases and /case on Discord; /ban, /mute, /unmute, /warn and /cases as replies in
Telegram groups. Every action is a case numbered per server or group, posted to the mod log; a temporary ban or
timeout ends on schedule once; reaching a server's warning threshold triggers its action once.

The invoker's permission bit is checked at once (Discord); the REST calls — the checks of roles and members
first, a DM to the target, then the action with its audit-log reason — run as a deferred reply in a job."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from ttfd.core import apicache
from ttfd.core.errors import BadInput, NotFound
from ttfd.core.users import Platform
from ttfd.features.moderation import cases
from ttfd.features.moderation.cases import Case
from ttfd.registry import Feature, Group
from ttfd.ui.commands import ADMINISTRATOR, ChannelRef, Command, Ctx, Kind, Option, Options, PlatformUser
from ttfd.ui.permissions import BAN_MEMBERS, KICK_MEMBERS, MANAGE_GUILD, MANAGE_MESSAGES, MODERATE_MEMBERS
from ttfd.ui.reply import Field, Reply, say
from ttfd.ui.text import Text, bold, channel, lines, text, when

ICONS = {
    "warn": "⚠️",
    "kick": "👢",
    "ban": "🔨",
    "unban": "🕊️",
    "timeout": "🔇",
    "untimeout": "🔊",
    "clear": "🧹",
    "delete": "🗑️",
}
PAST = {
    "warn": "warned",
    "kick": "kicked",
    "ban": "banned",
    "unban": "unbanned",
    "timeout": "timed out",
    "untimeout": "no longer timed out",
}
COLOR = 0xE74C3C
MAX_BAN_S, MAX_TIMEOUT_S = 365 * 86400, 28 * 86400
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"(?:([0-9]{1,6})\s*([smhdw]))+", re.IGNORECASE)
_LOOKS_LIKE_DURATION = re.compile(r"\d")  # a first word starting with a digit (any script) means a duration


def parse_duration(raw: str) -> int | None:
    """'90s', '10m', '1h30m', '2d', '1w' → seconds; None when it is not a duration."""
    compact = raw.strip().lower().replace(" ", "")
    if not compact or not _DURATION.fullmatch(compact):
        return None
    return sum(int(n) * _UNITS[u] for n, u in re.findall(r"([0-9]{1,6})([smhdw])", compact))


def span(seconds: int) -> str:
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0 and seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


# --- who, where, what --------------------------------------------------------------------------------------


def _scope(ctx: Ctx) -> tuple[cases.Scope, int]:
    scope_id = ctx.guild_id if ctx.platform == "discord" else ctx.chat_id
    if scope_id is None:
        raise BadInput("This works in a server or a group only.")
    return ("discord" if ctx.platform == "discord" else "telegram"), scope_id


def _ops(ctx: Ctx) -> Any:
    from ttfd.features.moderation import ops

    return ops.for_scope(ctx.conn, *_scope(ctx))


def _who(user: PlatformUser) -> Any:
    from ttfd.features.moderation.ops import Who

    return Who(user.id, user.name, user.is_bot)


def _target(ctx: Ctx, opts: Options) -> PlatformUser:
    picked: PlatformUser | None = opts.get("user") or ctx.reply_to
    if picked is None:
        how = "Reply to their message with the command" if ctx.platform == "telegram" else "Pick a user"
        raise BadInput(f"Who? {how}.")
    return picked


def _duration(opts: Options, limit_s: int, *, required: bool = False) -> int | None:
    raw = opts.get("duration")
    if raw is None:
        if required:
            raise BadInput("How long? For example 10m, 2h, 1d.")
        return None
    seconds = parse_duration(raw)
    if seconds is None or not 60 <= seconds <= limit_s:
        raise BadInput(f"A duration is like 10m, 2h or 1d: from 1 minute to {span(limit_s)}.")
    return seconds


def _reason(opts: Options) -> str:
    return str(opts.get("reason") or "").strip() or "No reason given"


def case_reply(case: Case, *, title: str | None = None, note: Text = ()) -> Reply:
    """A case as every platform shows it (the mod log too)."""
    fields = [
        Field("User", (f"{case.target_name or '—'} ({case.target_id})" if case.target_id else "—",)),
        Field("Moderator", (case.moderator_name or ("automod" if case.source == "automod" else "—"),)),
        Field("Reason", (case.reason or "—",), False),
    ]
    if case.duration_s:
        fields.append(Field("Duration", (span(case.duration_s),)))
    if case.expires_at and case.status == "active":
        fields.append(Field("Ends", (when(case.expires_at),)))
    status = case.status if not case.ended_at else f"{case.status} {case.ended_at:%Y-%m-%d %H:%M} UTC"
    fields.append(Field("Status", (status,)))
    return Reply(
        title=title or f"{ICONS.get(case.action, '📋')} Case #{case.number} — {case.action}",
        body=note,
        fields=tuple(fields),
        footer=f"{case.source} · {case.created_at:%Y-%m-%d %H:%M} UTC",
        color=COLOR,
    )


def _open(
    ctx: Ctx, action: cases.Action, target_id: int | None, target_name: str | None, reason: str, **kw: Any
) -> Case:
    """This command's case, by the invoker, keyed by the event (a retried job finds it instead)."""
    scope, scope_id = _scope(ctx)
    return cases.open_case(
        ctx.conn,
        scope=scope,
        scope_id=scope_id,
        action=action,
        target_id=target_id,
        target_name=target_name,
        moderator_id=ctx.caller.id,
        moderator_name=ctx.caller.name,
        reason=reason,
        source=scope,
        key=ctx.key,
        **kw,
    )


def _act(ctx: Ctx, opts: Options, action: cases.Action, *, duration_s: int | None = None, delete_s: int = 0) -> Reply:
    """Check, DM, act, open the case — or, for a retried job whose case exists, answer with that case."""
    done = cases.by_key(ctx.conn, ctx.key)
    if done is not None:
        return case_reply(done)
    scope, scope_id = _scope(ctx)
    target = _target(ctx, opts)
    ops = _ops(ctx)
    who, me = _who(target), _who(ctx.caller)
    reason = _reason(opts)
    verb = {"timeout": "time out", "untimeout": "lift the timeout of"}.get(action, action)
    ops.check(me, who, verb, present=action != "ban")
    until = ctx.now + timedelta(seconds=duration_s) if duration_s else None
    if action in PAST and action not in ("unban", "untimeout"):
        length = f" for {span(duration_s)}" if duration_s else ""
        where = "a Discord server" if scope == "discord" else "a Telegram group"
        ops.dm(who, f"You were {PAST[action]}{length} in {where} by {me.name}: {reason}")
    audit = f"{me.name}: {reason}"
    if action == "ban":
        ops.ban(who, until, delete_s, audit)
    elif action == "kick":
        ops.kick(who, audit)
    elif action == "timeout":
        assert until is not None
        ops.timeout(who, until, audit)
    elif action == "untimeout":
        ops.untimeout(who, audit)
        cases.end_active(ctx.conn, scope, scope_id, target.id, "timeout")
    case = _open(ctx, action, target.id, target.name, reason, duration_s=duration_s, expires_at=until)
    length = f" for {span(duration_s)}" if duration_s else ""
    return case_reply(case, title=f"{ICONS[action]} {target.name} was {PAST[action]}{length} — case #{case.number}")


def check_ban(opts: dict[str, Any], platform: Platform, guild_id: int | None) -> dict[str, Any]:
    """Before "thinking…": on Telegram a first word that is not a duration begins the reason (/ban spam links),
    unless it starts with a digit (/ban 2y is a duration meant, and refused, never a permanent ban); a duration
    must be one, and in range."""
    raw = opts.get("duration")
    if (
        raw is not None
        and parse_duration(raw) is None
        and platform == "telegram"
        and not _LOOKS_LIKE_DURATION.match(raw)
    ):
        reason = f"{raw} {opts.get('reason') or ''}".strip()
        opts = {k: v for k, v in opts.items() if k != "duration"} | {"reason": reason}
    _duration(opts, MAX_BAN_S)
    return opts


def check_timeout(opts: dict[str, Any], platform: Platform, guild_id: int | None) -> dict[str, Any]:
    _duration(opts, MAX_TIMEOUT_S, required=True)
    return opts


def check_threshold(opts: dict[str, Any], platform: Platform, guild_id: int | None) -> dict[str, Any]:
    if opts.get("action") != "off":  # a threshold's ban lasts up to 28 days too (the table's bound)
        _duration(opts, MAX_TIMEOUT_S, required=opts.get("action") == "timeout")
    return opts


def ban(ctx: Ctx, opts: Options) -> Reply:
    return _act(
        ctx, opts, "ban", duration_s=_duration(opts, MAX_BAN_S), delete_s=opts.get("delete_messages", 0) * 86400
    )


def kick(ctx: Ctx, opts: Options) -> Reply:
    return _act(ctx, opts, "kick")


def timeout(ctx: Ctx, opts: Options) -> Reply:
    return _act(ctx, opts, "timeout", duration_s=_duration(opts, MAX_TIMEOUT_S, required=True))


def untimeout(ctx: Ctx, opts: Options) -> Reply:
    return _act(ctx, opts, "untimeout")


def unban(ctx: Ctx, opts: Options) -> Reply:
    done = cases.by_key(ctx.conn, ctx.key)
    if done is not None:
        return case_reply(done)
    raw = str(opts["user_id"]).strip().strip("<@!>")
    if not (raw.isascii() and raw.isdigit() and 0 < int(raw) < 2**63):
        raise BadInput("Give the banned user's id (a number; enable Developer Mode to copy it).")
    scope, scope_id = _scope(ctx)
    me = _who(ctx.caller)
    reason = _reason(opts)
    _ops(ctx).unban(int(raw), f"{me.name}: {reason}")
    cases.end_active(ctx.conn, scope, scope_id, int(raw), "ban")
    case = _open(ctx, "unban", int(raw), None, reason)
    return case_reply(case, title=f"🕊️ {raw} was unbanned — case #{case.number}")


def warn(ctx: Ctx, opts: Options) -> Reply:
    done = cases.by_key(ctx.conn, ctx.key)
    if done is not None:
        return case_reply(done)
    scope, scope_id = _scope(ctx)
    target = _target(ctx, opts)
    who, me = _who(target), _who(ctx.caller)
    ops = _ops(ctx)
    ops.check(me, who, "warn")
    reason = _reason(opts)
    case, count, hit = cases.record_warning(
        ctx.conn,
        scope=scope,
        scope_id=scope_id,
        target_id=target.id,
        target_name=target.name,
        moderator_id=me.id,
        moderator_name=me.name,
        reason=reason,
        source=scope,
        key=ctx.key,
        reply_to=ctx.target,
    )
    ops.dm(who, f"You were warned by {me.name}: {reason} (warning {count})")
    s = cases.settings(ctx.conn, scope, scope_id)
    note = (
        text("Warning ", bold(count), f" of {s.warn_threshold}: ", bold(s.warn_action), " follows.")
        if hit
        else text("Active warnings: ", bold(count), f" of {s.warn_threshold}." if s.warn_threshold else ".")
    )
    return case_reply(case, title=f"⚠️ {target.name} was warned — case #{case.number}", note=note)


def warnings(ctx: Ctx, opts: Options) -> Reply:
    scope, scope_id = _scope(ctx)
    target = _target(ctx, opts)
    found, _ = cases.list_cases(ctx.conn, scope, scope_id, target.id, size=25)
    active = [c for c in found if c.action == "warn" and c.status == "active"]
    rows = [
        text(f"#{c.number} ", when(c.created_at, "date"), f" — {c.reason or '—'} (by {c.moderator_name or 'automod'})")
        for c in active
    ]
    return Reply(
        title=f"⚠️ {target.name}: {len(active)} active warning{'s' if len(active) != 1 else ''}",
        body=lines(*rows) if rows else ("None.",),
        color=COLOR,
        private=True,
    )


PAGE = 10


def list_cases(ctx: Ctx, opts: Options) -> Reply:
    if ctx.platform == "telegram":
        _ops(ctx).require_admin(_who(ctx.caller), restrict=False)
    scope, scope_id = _scope(ctx)
    target: PlatformUser | None = opts.get("user") or ctx.reply_to
    page = opts.get("page", 1) - 1
    found, total = cases.list_cases(ctx.conn, scope, scope_id, target.id if target else None, page, PAGE)
    rows = [
        text(
            f"{ICONS.get(c.action, '📋')} ",
            bold(f"#{c.number}"),
            f" {c.action} · {c.target_name or c.target_id or '—'} · {c.reason or '—'}",
            f" · {c.status}" if c.status != "active" else None,
        )
        for c in found
    ]
    pages = max(1, -(-total // PAGE))
    return Reply(
        title=f"📋 Cases{' of ' + target.name if target else ''}",
        body=lines(*rows) if rows else ("No cases yet.",),
        footer=f"Page {page + 1}/{pages} · {total} cases" + (" · /cases page:N for more" if pages > 1 else ""),
        color=COLOR,
        private=True,
    )


def _number(opts: Options) -> int:
    return int(opts["id"])


def case_show(ctx: Ctx, opts: Options) -> Reply:
    scope, scope_id = _scope(ctx)
    case = cases.get_case(ctx.conn, scope, scope_id, _number(opts))
    if case is None or case.status == "deleted":
        raise NotFound(f"No case #{_number(opts)} here.")
    return case_reply(case)


def case_reason(ctx: Ctx, opts: Options) -> Reply:
    scope, scope_id = _scope(ctx)
    case = cases.set_reason(ctx.conn, scope, scope_id, _number(opts), opts["text"])
    if case is None:
        raise NotFound(f"No case #{_number(opts)} here.")
    return case_reply(case, note=("✅ Reason updated.",))


def case_delete(ctx: Ctx, opts: Options) -> Reply:
    scope, scope_id = _scope(ctx)
    case = cases.delete_case(ctx.conn, scope, scope_id, _number(opts))
    if case is None:
        raise NotFound(f"No case #{_number(opts)} here.")
    return say(
        f"🗑️ Case #{case.number} deleted (its number stays taken; a deleted warning no longer counts).", private=True
    )


def clear(ctx: Ctx, opts: Options) -> Reply:
    from ttfd.features.moderation import purge

    done = cases.by_key(ctx.conn, ctx.key)
    if done is not None:
        return case_reply(done)
    if ctx.channel_id is None:
        raise BadInput("Use /clear in the channel to clear.")
    target: PlatformUser | None = opts.get("user")
    result = purge.clear(ctx.channel_id, opts["count"], target.id if target else None, ctx.now)
    reason = f"{result.deleted} messages in #{ctx.channel_id}"
    details = {"channel_id": ctx.channel_id, **result.as_dict()}
    case = _open(ctx, "clear", target.id if target else None, target.name if target else None, reason, details=details)
    skipped = f" {result.skipped} older than 14 days were skipped." if result.skipped else ""
    return say(
        f"🧹 Deleted {result.deleted} message{'s' if result.deleted != 1 else ''} (case #{case.number}).{skipped}",
        private=True,
    )


# --- /setup modlog, /setup warn-threshold -----------------------------------------------------------------


def setup_modlog(ctx: Ctx, opts: Options) -> Reply:
    scope, scope_id = _scope(ctx)
    picked: ChannelRef = opts["channel"]
    cases.set_modlog(ctx.conn, scope, scope_id, picked.id)
    return say("✅ Every case will be posted in ", channel(picked.id, picked.name), ".", private=True)


def setup_threshold(ctx: Ctx, opts: Options) -> Reply:
    if ctx.platform == "telegram":
        _ops(ctx).require_admin(_who(ctx.caller), restrict=True)
    scope, scope_id = _scope(ctx)
    count, action = opts["count"], opts["action"]
    if action == "off":
        cases.set_threshold(ctx.conn, scope, scope_id, None, None, None)
        return say("✅ Warnings no longer trigger anything by themselves.", private=True)
    seconds = _duration(opts, MAX_TIMEOUT_S, required=action == "timeout")  # a threshold's ban: up to 28 days
    cases.set_threshold(ctx.conn, scope, scope_id, count, action, seconds)
    length = f" for {span(seconds)}" if seconds else ""
    return say(
        f"✅ Reaching {count} active warnings will {action} the member{length}, once, as its own case.", private=True
    )


USER = Option("user", Kind.USER, "Who", required=True)
REASON = Option("reason", Kind.STRING, "Why (shown in the case and the audit log)", max_length=400, rest=True)
DURATION = Option("duration", Kind.STRING, "How long: 10m, 2h, 1d, 1w", max_length=20)
ID = Option("id", Kind.INTEGER, "The case number", required=True, min_value=1, max_value=10**9)


def _mod(
    name: str, description: str, handler: Any, options: tuple[Option, ...], bit: tuple[int, str], **kw: Any
) -> Command:
    return Command(name, description, handler, options, defer=True, guild_only=True, permission=bit, **kw)


BAN_BIT, KICK_BIT = (BAN_MEMBERS, "Ban Members"), (KICK_MEMBERS, "Kick Members")
MOD_BIT, MSG_BIT = (MODERATE_MEMBERS, "Timeout Members"), (MANAGE_MESSAGES, "Manage Messages")
TG_GROUPS = ("group", "supergroup")
FEATURE = Feature(
    name="moderation",
    summary=__doc__ or "",
    commands=(
        _mod(
            "ban",
            "Ban a member (with a duration: a temporary ban)",
            ban,
            (
                USER,
                DURATION,
                REASON,
                Option(
                    "delete_messages",
                    Kind.INTEGER,
                    "Delete their messages of the last N days",
                    min_value=0,
                    max_value=7,
                ),
            ),
            BAN_BIT,
            chat_admin=True,
            chats=TG_GROUPS,
            precheck=check_ban,
        ),
        _mod(
            "unban",
            "Lift a ban",
            unban,
            (Option("user_id", Kind.STRING, "The banned user's id", required=True, max_length=25), REASON),
            BAN_BIT,
            platforms=("discord",),
        ),
        _mod("kick", "Remove a member (they may come back)", kick, (USER, REASON), KICK_BIT, platforms=("discord",)),
        _mod(
            "timeout",
            "Time a member out (Telegram: mute)",
            timeout,
            (
                USER,
                Option(
                    "duration", Kind.STRING, "How long: 10m, 2h, 1d (at most 28 days)", required=True, max_length=20
                ),
                REASON,
            ),
            MOD_BIT,
            telegram_name="mute",
            chat_admin=True,
            chats=TG_GROUPS,
            precheck=check_timeout,
        ),
        _mod(
            "untimeout",
            "Lift a timeout (Telegram: unmute)",
            untimeout,
            (USER,),
            MOD_BIT,
            telegram_name="unmute",
            chat_admin=True,
            chats=TG_GROUPS,
        ),
        _mod(
            "warn",
            "Warn a member (counts towards the server's warning threshold)",
            warn,
            (USER, Option("reason", Kind.STRING, "Why", required=True, max_length=400, rest=True)),
            MOD_BIT,
            chat_admin=True,
            chats=TG_GROUPS,
        ),
        Command(
            "warnings",
            "A member's active warnings",
            warnings,
            (USER,),
            platforms=("discord",),
            writes=False,
            guild_only=True,
            permission=MOD_BIT,
        ),
        _mod(
            "clear",
            "Delete up to 100 recent messages here (of one member)",
            clear,
            (
                Option("count", Kind.INTEGER, "How many", required=True, min_value=1, max_value=100),
                Option("user", Kind.USER, "Only theirs"),
            ),
            MSG_BIT,
            platforms=("discord",),
        ),
        _mod(
            "cases",
            "Moderation cases here (of one member)",
            list_cases,
            (
                Option("user", Kind.USER, "Whose"),
                Option("page", Kind.INTEGER, "Which page", min_value=1, max_value=100_000),
            ),
            MOD_BIT,
            chat_admin=True,
            chats=TG_GROUPS,
        ),
        Command(
            "show",
            "Show a case",
            case_show,
            (ID,),
            platforms=("discord",),
            group="case",
            writes=False,
            guild_only=True,
            permission=MOD_BIT,
        ),
        Command(
            "reason",
            "Change a case's reason",
            case_reason,
            (ID, Option("text", Kind.STRING, "The new reason", required=True, max_length=400)),
            platforms=("discord",),
            group="case",
            guild_only=True,
            permission=MOD_BIT,
        ),
        Command(
            "delete",
            "Delete a case (its number stays taken)",
            case_delete,
            (ID,),
            platforms=("discord",),
            group="case",
            guild_only=True,
            permission=(ADMINISTRATOR, "Administrator"),
        ),
        Command(
            "modlog",
            "Post every moderation case in a channel",
            setup_modlog,
            (Option("channel", Kind.CHANNEL, "Where", required=True, channel_types=(0, 5)),),
            platforms=("discord",),
            group="setup",
            guild_only=True,
            permission=(MANAGE_GUILD, "Manage Server"),
        ),
        Command(
            "warn-threshold",
            "What happens when a member reaches N active warnings",
            setup_threshold,
            (
                Option("count", Kind.INTEGER, "How many warnings", required=True, min_value=1, max_value=50),
                Option(
                    "action",
                    Kind.STRING,
                    "What then",
                    required=True,
                    choices=(("Time out", "timeout"), ("Kick", "kick"), ("Ban", "ban"), ("Nothing", "off")),
                ),
                DURATION,
            ),
            group="setup",
            defer=True,  # Telegram asks getChatMember whether the caller administers the group
            guild_only=True,
            permission=(MANAGE_GUILD, "Manage Server"),
            chat_admin=True,
            chats=TG_GROUPS,
            precheck=check_threshold,
        ),
    ),
    groups=(Group("case", "Look up and edit moderation cases", MODERATE_MEMBERS),),
    jobs={
        cases.MODLOG_JOB: "ttfd.features.moderation.jobs:post_modlog",
        cases.EXPIRE_JOB: "ttfd.features.moderation.jobs:expire",
        cases.THRESHOLD_JOB: "ttfd.features.moderation.jobs:threshold",
    },
    purges={"api_cache": apicache.purge},
    migrations=("0011_moderation.sql",),
)
