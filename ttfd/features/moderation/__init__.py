"""Moderation with numbered cases: /ban (temporary with a duration), /unban, /kick, /timeout and /untimeout,
/warn and /warnings, /clear, /cases and /case on Discord; /ban, /mute, /unmute, /warn and /cases as replies in
Telegram groups. Every action is a case numbered per server or group, posted to the mod log; a temporary ban or
timeout ends on schedule once; reaching a server's warning threshold triggers its action once.

The invoker's permission bit is checked at once (Discord); the REST calls — the checks of roles and members
first, a DM to the target, then the action with its audit-log reason — run as a deferred reply in a job.

Texts: replies in the reader's language; the mod log in the server's (the case's job carries the place's
language); the DM to a target in theirs (their chosen one, else the server's or group's)."""

from __future__ import annotations

import re
from datetime import UTC, timedelta
from typing import Any

from ttfd.core import apicache, users
from ttfd.core.errors import BadInput, NotFound
from ttfd.core.i18n import C_, N_, Msg, _, negotiate
from ttfd.core.users import Platform
from ttfd.features.moderation import cases
from ttfd.features.moderation.cases import Case
from ttfd.registry import Feature, Group
from ttfd.ui.commands import ADMINISTRATOR, ChannelRef, Command, Ctx, Kind, Option, Options, PlatformUser
from ttfd.ui.permissions import BAN_MEMBERS, KICK_MEMBERS, MANAGE_GUILD, MANAGE_MESSAGES, MODERATE_MEMBERS
from ttfd.ui.reply import Field, Reply, say
from ttfd.ui.text import Span, Text, bold, channel, lines, text, when

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
# A case's kind, status and source as a case shows them.
ACTIONS: dict[str, Msg] = {
    "warn": C_("case action", "warn"),
    "kick": C_("case action", "kick"),
    "ban": C_("case action", "ban"),
    "unban": C_("case action", "unban"),
    "timeout": C_("case action", "timeout"),
    "untimeout": C_("case action", "untimeout"),
    "clear": C_("case action", "clear"),
    "delete": C_("case action", "delete"),
}
STATUSES: dict[str, Msg] = {
    "active": C_("case status", "active"),
    "expired": C_("case status", "expired"),
    "revoked": C_("case status", "revoked"),
    "deleted": C_("case status", "deleted"),
}
AUTOMOD = C_("case source", "automod")
SOURCES: dict[str, str] = {"discord": "Discord", "telegram": "Telegram", "automod": AUTOMOD}
# What a warning threshold does, as "Warning 3 of 3: **ban** follows." names it.
FOLLOWS: dict[str, Msg] = {
    "timeout": C_("threshold action", "a timeout"),
    "kick": C_("threshold action", "a kick"),
    "ban": C_("threshold action", "a ban"),
}
NO_REASON = _("No reason given")
COLOR = 0xE74C3C
MAX_BAN_S, MAX_TIMEOUT_S = 365 * 86400, 28 * 86400
WEEK, DAY, HOUR, MINUTE = 604800, 86400, 3600, 60
# Units as people type them, in English and in Russian (10m, 2h, 1d, 1w; 10м, 2ч, 1д, 1н; also 10мин, 2час,
# 1дн, 1нед and longer Russian forms of those: 5минут, 2часа, 3дня, 1неделя); keyed by their first letter.
_UNIT = r"s|m|h|d|w|с(?:ек[а-я]*)?|м(?:ин[а-я]*)?|ч(?:ас[а-я]*)?|д(?:н[а-я]*|ень)?|н(?:ед[а-я]*)?"
_UNITS = {"s": 1, "m": MINUTE, "h": HOUR, "d": DAY, "w": WEEK, "с": 1, "м": MINUTE, "ч": HOUR, "д": DAY, "н": WEEK}
_DURATION = re.compile(rf"(?:[0-9]{{1,6}}(?:{_UNIT}))+")
_PART = re.compile(rf"([0-9]{{1,6}})({_UNIT})")
_LOOKS_LIKE_DURATION = re.compile(r"\d")  # a first word starting with a digit (any script) means a duration


def parse_duration(raw: str) -> int | None:
    """'90s', '10m', '1h30m', '2d', '1w' (or in Russian '10м', '2ч', '1д', '1н', '1ч30мин') → seconds; None
    when it is not a duration."""
    compact = raw.strip().lower().replace(" ", "")
    if not compact or not _DURATION.fullmatch(compact):
        return None
    return sum(int(n) * _UNITS[unit[0]] for n, unit in _PART.findall(compact))


def span(seconds: int) -> Msg:
    """A duration in its largest whole unit, as exactly as it was given: "2 hours", "90 minutes"."""
    if seconds >= WEEK and seconds % WEEK == 0:
        return N_("{n} week", "{n} weeks", seconds // WEEK)
    if seconds >= DAY and seconds % DAY == 0:
        return N_("{n} day", "{n} days", seconds // DAY)
    if seconds >= HOUR and seconds % HOUR == 0:
        return N_("{n} hour", "{n} hours", seconds // HOUR)
    if seconds >= MINUTE and seconds % MINUTE == 0:
        return N_("{n} minute", "{n} minutes", seconds // MINUTE)
    return N_("{n} second", "{n} seconds", seconds)


def for_span(seconds: int) -> Msg:
    """How long an action lasts, as a sentence says it: "for 2 hours"."""
    if seconds >= WEEK and seconds % WEEK == 0:
        return N_("for {n} week", "for {n} weeks", seconds // WEEK)
    if seconds >= DAY and seconds % DAY == 0:
        return N_("for {n} day", "for {n} days", seconds // DAY)
    if seconds >= HOUR and seconds % HOUR == 0:
        return N_("for {n} hour", "for {n} hours", seconds // HOUR)
    if seconds >= MINUTE and seconds % MINUTE == 0:
        return N_("for {n} minute", "for {n} minutes", seconds // MINUTE)
    return N_("for {n} second", "for {n} seconds", seconds)


def _bad_duration(limit_s: int) -> Msg:
    """How a duration is written, and its range (the units are the reader's: the catalog's examples)."""
    if limit_s % WEEK == 0:
        return N_(
            "A duration is like 10m, 2h or 1d: from 1 minute to {n} week.",
            "A duration is like 10m, 2h or 1d: from 1 minute to {n} weeks.",
            limit_s // WEEK,
        )
    return N_(
        "A duration is like 10m, 2h or 1d: from 1 minute to {n} day.",
        "A duration is like 10m, 2h or 1d: from 1 minute to {n} days.",
        limit_s // DAY,
    )


# --- who, where, what --------------------------------------------------------------------------------------


def _scope(ctx: Ctx) -> tuple[cases.Scope, int]:
    scope_id = ctx.guild_id if ctx.platform == "discord" else ctx.chat_id
    if scope_id is None:
        raise BadInput(_("This works in a server or a group only."))
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
        if ctx.platform == "telegram":
            raise BadInput(_("Who? Reply to their message with the command."))
        raise BadInput(_("Who? Pick a user."))
    return picked


def _duration(opts: Options, limit_s: int, *, required: bool = False) -> int | None:
    raw = opts.get("duration")
    if raw is None:
        if required:
            raise BadInput(_("How long? For example 10m, 2h, 1d."))
        return None
    seconds = parse_duration(raw)
    if seconds is None or not 60 <= seconds <= limit_s:
        raise BadInput(_bad_duration(limit_s))
    return seconds


def _reason(opts: Options) -> str:
    """What the moderator gave as the reason ("" for none: a case then shows "No reason given")."""
    return str(opts.get("reason") or "").strip()


def _said_reason(reason: str | None) -> str:
    return reason or NO_REASON


def case_reply(case: Case, *, title: str | None = None, note: Text = ()) -> Reply:
    """A case as every platform shows it (the mod log too)."""
    user = f"{case.target_name or '—'} ({case.target_id})" if case.target_id else "—"
    fields = [
        Field(C_("field", "User"), (user,)),
        Field(C_("field", "Moderator"), (case.moderator_name or (AUTOMOD if case.source == "automod" else "—"),)),
        Field(C_("field", "Reason"), (_said_reason(case.reason),), False),
    ]
    if case.duration_s:
        fields.append(Field(C_("field", "Duration"), (span(case.duration_s),)))
    if case.expires_at and case.status == "active":
        fields.append(Field(C_("field", "Ends"), (when(case.expires_at),)))
    status = STATUSES.get(case.status, case.status)
    if case.ended_at:
        shown = _("{status}, {when}", status=status, when=when(case.ended_at, "datetime"))
        fields.append(Field(C_("field", "Status"), (shown,)))
    else:
        fields.append(Field(C_("field", "Status"), (status,)))
    opened = f"{case.created_at.astimezone(UTC):%Y-%m-%d %H:%M}"
    return Reply(
        title=title
        or _(
            "{icon} Case #{number} — {action}",
            icon=ICONS.get(case.action, "📋"),
            number=str(case.number),
            action=ACTIONS.get(case.action, case.action),
        ),
        body=note,
        fields=tuple(fields),
        footer=_("{source} · {time} UTC", source=SOURCES.get(case.source, case.source), time=opened),
        color=COLOR,
    )


def _done(action: str, name: str, number: int, duration_s: int | None) -> Msg:
    """The title of an action done: "🔨 Sam was banned for 2 days — case #4"."""
    values: dict[str, Any] = {"name": name, "number": str(number)}
    if duration_s:
        values["length"] = for_span(duration_s)
    if action == "ban":
        if duration_s:
            return _("🔨 {name} was banned {length} — case #{number}", **values)
        return _("🔨 {name} was banned — case #{number}", **values)
    if action == "kick":
        return _("👢 {name} was kicked — case #{number}", **values)
    if action == "timeout":
        return _("🔇 {name} was timed out {length} — case #{number}", **values)
    if action == "untimeout":
        return _("🔊 {name} is no longer timed out — case #{number}", **values)
    if action == "unban":
        return _("🕊️ {name} was unbanned — case #{number}", **values)
    return _("⚠️ {name} was warned — case #{number}", **values)


def _dm(action: str, scope: str, moderator: str, reason: str, duration_s: int | None) -> Msg:
    """What the target of a ban, kick or timeout is told before it happens."""
    values: dict[str, Any] = {"moderator": moderator, "reason": _said_reason(reason)}
    if duration_s:
        values["length"] = for_span(duration_s)
    if scope == "telegram":
        if action == "ban" and duration_s:
            return _("You were banned {length} from a Telegram group by {moderator}: {reason}", **values)
        if action == "ban":
            return _("You were banned from a Telegram group by {moderator}: {reason}", **values)
        return _("You were muted {length} in a Telegram group by {moderator}: {reason}", **values)
    if action == "ban" and duration_s:
        return _("You were banned {length} from a Discord server by {moderator}: {reason}", **values)
    if action == "ban":
        return _("You were banned from a Discord server by {moderator}: {reason}", **values)
    if action == "kick":
        return _("You were kicked from a Discord server by {moderator}: {reason}", **values)
    return _("You were timed out {length} in a Discord server by {moderator}: {reason}", **values)


def _their_locale(ctx: Ctx, target: PlatformUser) -> str:
    """The language to write to a target in: their own choice, else the server's (or the group's)."""
    scope, _scope_id = _scope(ctx)
    known = users.find_user(ctx.conn, scope, target.id)
    return negotiate(known.language if known else None, ctx.place_locale, default=ctx.settings.default_locale)


def _audit(ctx: Ctx, moderator: str, reason: str) -> str:
    """The reason Discord's audit log shows (in the server's language when none was given)."""
    return f"{moderator}: {reason or NO_REASON.in_(ctx.place_locale)}"


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
        place_locale=ctx.place_locale,
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
    ops.check(me, who, action, present=action != "ban")
    until = ctx.now + timedelta(seconds=duration_s) if duration_s else None
    if action in ("ban", "kick", "timeout"):
        ops.dm(who, _dm(action, scope, me.name, reason, duration_s).in_(_their_locale(ctx, target)))
    audit = _audit(ctx, me.name, reason)
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
    return case_reply(case, title=_done(action, target.name, case.number, duration_s))


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
        raise BadInput(_("Give the banned user's id (a number; enable Developer Mode to copy it)."))
    me = _who(ctx.caller)
    reason = _reason(opts)
    _ops(ctx).unban(int(raw), _audit(ctx, me.name, reason))
    scope, scope_id = _scope(ctx)
    cases.end_active(ctx.conn, scope, scope_id, int(raw), "ban")
    case = _open(ctx, "unban", int(raw), None, reason)
    return case_reply(case, title=_done("unban", raw, case.number, None))


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
        place_locale=ctx.place_locale,
    )
    told = _(
        "You were warned by {moderator}: {reason} (warning {count})",
        moderator=me.name,
        reason=_said_reason(reason),
        count=count,
    )
    ops.dm(who, told.in_(_their_locale(ctx, target)))
    s = cases.settings(ctx.conn, scope, scope_id)
    note: Msg
    if hit:
        follows = FOLLOWS.get(s.warn_action or "", s.warn_action or "")
        note = _(
            "Warning {count} of {threshold}: {action} follows.",
            count=bold(count),
            threshold=s.warn_threshold or count,
            action=Span("bold", follows),
        )
    elif s.warn_threshold:
        note = _("Active warnings: {count} of {threshold}.", count=bold(count), threshold=s.warn_threshold)
    else:
        note = _("Active warnings: {count}.", count=bold(count))
    return case_reply(case, title=_done("warn", target.name, case.number, None), note=(note,))


def warnings(ctx: Ctx, opts: Options) -> Reply:
    scope, scope_id = _scope(ctx)
    target = _target(ctx, opts)
    found, _total = cases.list_cases(ctx.conn, scope, scope_id, target.id, size=25)
    active = [c for c in found if c.action == "warn" and c.status == "active"]
    rows = [
        _(
            "#{number} {date} — {reason} (by {moderator})",
            number=str(c.number),
            date=when(c.created_at, "date"),
            reason=_said_reason(c.reason),
            moderator=c.moderator_name or AUTOMOD,
        )
        for c in active
    ]
    return Reply(
        title=N_("⚠️ {name}: {n} active warning", "⚠️ {name}: {n} active warnings", len(active), name=target.name),
        body=lines(*rows) if rows else (_("None."),),
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
            " ",
            ACTIONS.get(c.action, c.action),
            " · ",
            c.target_name or (str(c.target_id) if c.target_id else "—"),
            " · ",
            _said_reason(c.reason),
            (" · ", STATUSES.get(c.status, c.status)) if c.status != "active" else None,
        )
        for c in found
    ]
    pages = max(1, -(-total // PAGE))
    values = {"page": page + 1, "pages": pages}
    if pages > 1:
        footer = N_(
            "Page {page}/{pages} · {n} case · /cases page:N for more",
            "Page {page}/{pages} · {n} cases · /cases page:N for more",
            total,
            **values,
        )
    else:
        footer = N_("Page {page}/{pages} · {n} case", "Page {page}/{pages} · {n} cases", total, **values)
    return Reply(
        title=_("📋 Cases of {name}", name=target.name) if target else _("📋 Cases"),
        body=lines(*rows) if rows else (_("No cases yet."),),
        footer=footer,
        color=COLOR,
        private=True,
    )


def _number(opts: Options) -> int:
    return int(opts["id"])


def _no_case(opts: Options) -> NotFound:
    return NotFound(_("No case #{number} here.", number=str(_number(opts))))


def case_show(ctx: Ctx, opts: Options) -> Reply:
    scope, scope_id = _scope(ctx)
    case = cases.get_case(ctx.conn, scope, scope_id, _number(opts))
    if case is None or case.status == "deleted":
        raise _no_case(opts)
    return case_reply(case)


def case_reason(ctx: Ctx, opts: Options) -> Reply:
    scope, scope_id = _scope(ctx)
    case = cases.set_reason(ctx.conn, scope, scope_id, _number(opts), opts["text"])
    if case is None:
        raise _no_case(opts)
    return case_reply(case, note=(_("✅ Reason updated."),))


def case_delete(ctx: Ctx, opts: Options) -> Reply:
    scope, scope_id = _scope(ctx)
    case = cases.delete_case(ctx.conn, scope, scope_id, _number(opts))
    if case is None:
        raise _no_case(opts)
    gone = _(
        "🗑️ Case #{number} deleted (its number stays taken; a deleted warning no longer counts).",
        number=str(case.number),
    )
    return say(gone, private=True)


def clear(ctx: Ctx, opts: Options) -> Reply:
    from ttfd.features.moderation import purge

    done = cases.by_key(ctx.conn, ctx.key)
    if done is not None:
        return case_reply(done)
    if ctx.channel_id is None:
        raise BadInput(_("Use /clear in the channel to clear."))
    target: PlatformUser | None = opts.get("user")
    result = purge.clear(ctx.channel_id, opts["count"], target.id if target else None, ctx.now)
    # The case's reason is stored as written, in the server's language (the mod log and /case show it).
    reason = N_(
        "{n} message in #{channel}", "{n} messages in #{channel}", result.deleted, channel=str(ctx.channel_id)
    ).in_(ctx.place_locale)
    details = {"channel_id": ctx.channel_id, **result.as_dict()}
    case = _open(ctx, "clear", target.id if target else None, target.name if target else None, reason, details=details)
    cleared = N_(
        "🧹 Deleted {n} message (case #{case}).",
        "🧹 Deleted {n} messages (case #{case}).",
        result.deleted,
        case=str(case.number),
    )
    if not result.skipped:
        return say(cleared, private=True)
    skipped = N_("{n} older than 14 days was skipped.", "{n} older than 14 days were skipped.", result.skipped)
    return say(cleared, " ", skipped, private=True)


# --- /setup modlog, /setup warn-threshold -----------------------------------------------------------------


def setup_modlog(ctx: Ctx, opts: Options) -> Reply:
    scope, scope_id = _scope(ctx)
    picked: ChannelRef = opts["channel"]
    cases.set_modlog(ctx.conn, scope, scope_id, picked.id)
    return say(_("✅ Every case will be posted in {channel}.", channel=channel(picked.id, picked.name)), private=True)


def _threshold_set(count: int, action: str, seconds: int | None) -> Msg:
    if action == "timeout":
        return N_(
            "✅ Reaching {n} active warning will time the member out {length}, once, as its own case.",
            "✅ Reaching {n} active warnings will time the member out {length}, once, as its own case.",
            count,
            length=for_span(seconds or 0),
        )
    if action == "kick":
        return N_(
            "✅ Reaching {n} active warning will kick the member, once, as its own case.",
            "✅ Reaching {n} active warnings will kick the member, once, as its own case.",
            count,
        )
    if seconds:
        return N_(
            "✅ Reaching {n} active warning will ban the member {length}, once, as its own case.",
            "✅ Reaching {n} active warnings will ban the member {length}, once, as its own case.",
            count,
            length=for_span(seconds),
        )
    return N_(
        "✅ Reaching {n} active warning will ban the member, once, as its own case.",
        "✅ Reaching {n} active warnings will ban the member, once, as its own case.",
        count,
    )


def setup_threshold(ctx: Ctx, opts: Options) -> Reply:
    if ctx.platform == "telegram":
        _ops(ctx).require_admin(_who(ctx.caller), restrict=True)
    scope, scope_id = _scope(ctx)
    count, action = opts["count"], opts["action"]
    if action == "off":
        cases.set_threshold(ctx.conn, scope, scope_id, None, None, None)
        return say(_("✅ Warnings no longer trigger anything by themselves."), private=True)
    seconds = _duration(opts, MAX_TIMEOUT_S, required=action == "timeout")  # a threshold's ban: up to 28 days
    cases.set_threshold(ctx.conn, scope, scope_id, count, action, seconds)
    return say(_threshold_set(count, action, seconds), private=True)


USER = Option("user", Kind.USER, _("Who"), required=True)
REASON = Option("reason", Kind.STRING, _("Why (shown in the case and the audit log)"), max_length=400, rest=True)
DURATION = Option("duration", Kind.STRING, _("How long: 10m, 2h, 1d, 1w"), max_length=20)
ID = Option("id", Kind.INTEGER, _("The case number"), required=True, min_value=1, max_value=10**9)


def _mod(
    name: str, description: str, handler: Any, options: tuple[Option, ...], bit: tuple[int, str], **kw: Any
) -> Command:
    return Command(name, description, handler, options, defer=True, guild_only=True, permission=bit, **kw)


BAN_BIT, KICK_BIT = (BAN_MEMBERS, "Ban Members"), (KICK_MEMBERS, "Kick Members")
MOD_BIT, MSG_BIT = (MODERATE_MEMBERS, "Timeout Members"), (MANAGE_MESSAGES, "Manage Messages")
TG_GROUPS = ("group", "supergroup")
THRESHOLD_CHOICES = (
    (C_("threshold action", "Time out"), "timeout"),
    (C_("threshold action", "Kick"), "kick"),
    (C_("threshold action", "Ban"), "ban"),
    (C_("threshold action", "Nothing"), "off"),
)
FEATURE = Feature(
    name="moderation",
    summary=__doc__ or "",
    commands=(
        _mod(
            "ban",
            _("Ban a member (with a duration: a temporary ban)"),
            ban,
            (
                USER,
                DURATION,
                REASON,
                Option(
                    "delete_messages",
                    Kind.INTEGER,
                    _("Delete their messages of the last N days"),
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
            _("Lift a ban"),
            unban,
            (Option("user_id", Kind.STRING, _("The banned user's id"), required=True, max_length=25), REASON),
            BAN_BIT,
            platforms=("discord",),
        ),
        _mod("kick", _("Remove a member (they may come back)"), kick, (USER, REASON), KICK_BIT, platforms=("discord",)),
        _mod(
            "timeout",
            _("Time a member out (Telegram: mute)"),
            timeout,
            (
                USER,
                Option(
                    "duration", Kind.STRING, _("How long: 10m, 2h, 1d (at most 28 days)"), required=True, max_length=20
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
            _("Lift a timeout (Telegram: unmute)"),
            untimeout,
            (USER,),
            MOD_BIT,
            telegram_name="unmute",
            chat_admin=True,
            chats=TG_GROUPS,
        ),
        _mod(
            "warn",
            _("Warn a member (counts towards the server's warning threshold)"),
            warn,
            (USER, Option("reason", Kind.STRING, _("Why"), required=True, max_length=400, rest=True)),
            MOD_BIT,
            chat_admin=True,
            chats=TG_GROUPS,
        ),
        Command(
            "warnings",
            _("A member's active warnings"),
            warnings,
            (USER,),
            platforms=("discord",),
            writes=False,
            guild_only=True,
            permission=MOD_BIT,
        ),
        _mod(
            "clear",
            _("Delete up to 100 recent messages here (of one member)"),
            clear,
            (
                Option("count", Kind.INTEGER, _("How many"), required=True, min_value=1, max_value=100),
                Option("user", Kind.USER, _("Only theirs")),
            ),
            MSG_BIT,
            platforms=("discord",),
        ),
        _mod(
            "cases",
            _("Moderation cases here (of one member)"),
            list_cases,
            (
                Option("user", Kind.USER, _("Whose cases")),
                Option("page", Kind.INTEGER, _("Which page"), min_value=1, max_value=100_000),
            ),
            MOD_BIT,
            chat_admin=True,
            chats=TG_GROUPS,
        ),
        Command(
            "show",
            _("Show a case"),
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
            _("Change a case's reason"),
            case_reason,
            (ID, Option("text", Kind.STRING, _("The new reason"), required=True, max_length=400)),
            platforms=("discord",),
            group="case",
            guild_only=True,
            permission=MOD_BIT,
        ),
        Command(
            "delete",
            _("Delete a case (its number stays taken)"),
            case_delete,
            (ID,),
            platforms=("discord",),
            group="case",
            guild_only=True,
            permission=(ADMINISTRATOR, "Administrator"),
        ),
        Command(
            "modlog",
            _("Post every moderation case in a channel"),
            setup_modlog,
            (Option("channel", Kind.CHANNEL, _("Where"), required=True, channel_types=(0, 5)),),
            platforms=("discord",),
            group="setup",
            guild_only=True,
            permission=(MANAGE_GUILD, "Manage Server"),
        ),
        Command(
            "warn-threshold",
            _("What happens when a member reaches N active warnings"),
            setup_threshold,
            (
                Option("count", Kind.INTEGER, _("How many warnings"), required=True, min_value=1, max_value=50),
                Option(
                    "action",
                    Kind.STRING,
                    _("What then"),
                    required=True,
                    choices=THRESHOLD_CHOICES,
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
    groups=(Group("case", _("Look up and edit moderation cases"), MODERATE_MEMBERS),),
    jobs={
        cases.MODLOG_JOB: "ttfd.features.moderation.jobs:post_modlog",
        cases.EXPIRE_JOB: "ttfd.features.moderation.jobs:expire",
        cases.THRESHOLD_JOB: "ttfd.features.moderation.jobs:threshold",
    },
    purges={"api_cache": apicache.purge},
    migrations=("0011_moderation.sql",),
)
