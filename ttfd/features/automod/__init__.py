"""Automod: one policy per Discord server or Telegram group — bad words (with * wildcards), invite links,
link allow/deny lists, mention spam; on Telegram also capitals, repeated messages and floods; exempt roles,
channels or people; an alert channel. On Discord a sync job turns the policy into Discord's own AutoMod
rules; in Telegram groups every message is checked as it arrives — a command included, before it runs — on
its text folded against look-alike and invisible characters: an offending one is deleted, its sender warned
and a moderation case opened.

Texts: the warning in a group is said in its sender's language; the messages Discord shows when its AutoMod
rules block something are said in the server's language (the sync carries it: see sync.py)."""

from __future__ import annotations

from typing import Any

from ttfd.core import jobs
from ttfd.core.errors import BadInput
from ttfd.core.i18n import C_, N_, Msg, _, listing
from ttfd.features.automod import rules, service
from ttfd.features.automod.service import DELETE_JOB, SYNC_JOB, Policy
from ttfd.features.moderation import cases
from ttfd.registry import Feature, Group
from ttfd.ui.commands import ChannelRef, Command, Ctx, Kind, MessageHandler, Option, Options
from ttfd.ui.permissions import MANAGE_GUILD
from ttfd.ui.reply import Field, Reply, say
from ttfd.ui.text import Text, channel, code, mention, role, text, when

COLOR = 0xE67E22
# What a case's reason calls each offence ("automod: bad word"); stored in the case as said then.
OFFENCES: dict[str, Msg] = {
    "bad_word": C_("automod offence", "bad word"),
    "invite": C_("automod offence", "invite"),
    "link": C_("automod offence", "link"),
    "mentions": C_("automod offence", "mentions"),
    "caps": C_("automod offence", "caps"),
    "repeat": C_("automod offence", "repeat"),
    "flood": C_("automod offence", "flood"),
}
NONE = C_("list", "none")
NOT_CHECKED = _("not checked")


# --- Telegram: every group message, before activity counts it or a command runs ---------------------------


def check_message(ctx: Ctx, message: str) -> Reply | None:
    """A group message (a command's included: this is a guard) against its chat's policy. Clean: None
    (activity counts it and pays XP, or the command runs). Offending: its deletion queued, a warning case
    opened (once per update: the event key is the case's key; the dispatch claims the key, so a redelivery
    never gets here) and the sender warned in the chat, in their language; a command in it does not run. An
    edited message is checked for what it now says, but not counted again for floods and repeats."""
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
    named = OFFENCES.get(offence.code, offence.code)
    case, warnings, _hit = cases.record_warning(
        ctx.conn,
        scope="telegram",
        scope_id=ctx.chat_id,
        target_id=ctx.caller.id,
        target_name=ctx.caller.name,
        moderator_id=None,
        moderator_name=None,
        reason=_("automod: {offence}", offence=named).in_(ctx.place_locale),
        source="automod",
        key=ctx.key,
        reply_to=ctx.target,
        place_locale=ctx.place_locale,
    )
    return say(
        _(
            "⚠️ {who}, message removed: {reason} (warning {count}, case #{case}).",
            who=mention(ctx.caller.person),
            reason=offence.says,
            count=warnings,
            case=str(case.number),
        )
    )


# --- showing a policy ------------------------------------------------------------------------------------


def _list(items: tuple[Any, ...], limit: int = 15) -> str:
    shown = ", ".join(str(i) for i in items[:limit])
    if len(items) > limit:
        return N_("{items}, … ({n} in all)", "{items}, … ({n} in all)", len(items), items=shown)
    return shown


def _joined(parts: list[Text]) -> Text:
    return text(*(s for i, part in enumerate(parts) for s in ((", ",) if i else ()) + part))


def _links(p: Policy) -> Msg:
    if p.link_mode == "allow":
        return _("only {domains}", domains=_list(p.links))
    if p.link_mode == "deny":
        return _("blocked: {domains}", domains=_list(p.links))
    return NOT_CHECKED


def _describe(p: Policy) -> tuple[Field, ...]:
    out: list[Field] = [
        Field(C_("field", "Automod"), (_("on") if p.enabled else _("off (nothing is checked)"),)),
        Field(C_("field", "Bad words"), (_list(p.bad_words) if p.bad_words else NONE,), False),
        Field(C_("field", "Invite links"), (_("blocked") if p.block_invites else _("allowed"),)),
        Field(C_("field", "Links"), (_links(p),), False),
        Field(
            C_("field", "Mentions"),
            (_("at most {n} per message", n=p.mention_limit) if p.mention_limit else NOT_CHECKED,),
        ),
    ]
    if p.scope == "telegram":
        caps = (
            N_(
                "{percent}% or more in messages of {n}+ letter",
                "{percent}% or more in messages of {n}+ letters",
                p.caps_min_len,
                percent=p.caps_percent,
            )
            if p.caps_percent
            else NOT_CHECKED
        )
        repeat = (
            N_(
                "more than {n} in a row within {window} s",
                "more than {n} in a row within {window} s",
                p.repeat_limit,
                window=p.repeat_window_s,
            )
            if p.repeat_limit
            else NOT_CHECKED
        )
        flood = (
            N_("more than {n} in {window} s", "more than {n} in {window} s", p.flood_limit, window=p.flood_window_s)
            if p.flood_limit
            else NOT_CHECKED
        )
        out += [
            Field(C_("field", "Capitals"), (caps,)),
            Field(C_("field", "Repeats"), (repeat,)),
            Field(C_("field", "Flood"), (flood,)),
            Field(C_("field", "Exempt people"), (_list(p.exempt_users) if p.exempt_users else NONE,), False),
        ]
        return tuple(out)
    exempt_roles = _joined([(role(r),) for r in p.exempt_roles])
    exempt_channels = _joined([(channel(c),) for c in p.exempt_channels])
    status: Msg
    if p.sync_error:
        status = _("⚠️ last sync refused: {error}", error=p.sync_error)
    elif p.synced_at:
        status = _("✅ Discord AutoMod rules match, synced {when}", when=when(p.synced_at))
    else:
        status = _("not synced yet")
    on_discord = _(
        "Discord's own AutoMod rules enforce these; capitals, repeated messages and floods are checked in "
        "Telegram groups only."
    )
    out += [
        Field(C_("field", "Exempt roles"), exempt_roles or (NONE,)),
        Field(C_("field", "Exempt channels"), exempt_channels or (NONE,)),
        Field(C_("field", "Alerts"), (channel(p.alert_channel),) if p.alert_channel else (NONE,)),
        Field(C_("field", "On Discord"), (on_discord,), False),
        Field(C_("field", "Sync"), (status,), False),
    ]
    return tuple(out)


UPDATED = _("🛡️ Automod updated")


def show(ctx: Ctx, opts: Options) -> Reply:
    assert ctx.guild_id is not None
    policy = service.get(ctx.conn, "discord", ctx.guild_id) or Policy("discord", ctx.guild_id)
    return Reply(title=_("🛡️ Automod — this server"), fields=_describe(policy), color=COLOR, private=True)


def tg_show(ctx: Ctx, opts: Options) -> Reply:
    assert ctx.chat_id is not None
    policy = service.get(ctx.conn, "telegram", ctx.chat_id) or Policy("telegram", ctx.chat_id)
    return Reply(title=_("🛡️ Automod — this group"), fields=_describe(policy), color=COLOR, private=True)


# --- Discord: /automod set | sync ---------------------------------------------------------------------------


def set_policy(ctx: Ctx, opts: Options) -> Reply:
    """Store the policy and queue its sync, in the server's language: what Discord's rules will tell a member
    whose message they block (rules.MESSAGES) is said in it."""
    assert ctx.guild_id is not None
    values = dict(opts)
    if not values:
        raise BadInput(_("Pick at least one setting to change."))
    picked: ChannelRef | None = values.pop("alert_channel", None)
    if picked is not None:
        values["alert_channel"] = picked.id
    if values.pop("no_alerts", False):
        if picked is not None:
            raise BadInput(_("Either pick an alert channel or turn alerts off, not both."))
        values["alert_channel"] = None
    changes = service.parse(values)
    locale = ctx.place_locale
    policy = service.update(
        ctx.conn, "discord", ctx.guild_id, changes, ctx.caller.id, also=lambda p: rules.desired(p, locale)
    )
    jobs.enqueue(ctx.conn, SYNC_JOB, {"guild_id": ctx.guild_id, "locale": locale})
    show_command = code("/automod show")  # text-ok: a command to type
    return Reply(
        title=UPDATED,
        body=(_("Discord's AutoMod rules are being updated to match (see {command}).", command=show_command),),
        fields=_describe(policy),
        color=COLOR,
        private=True,
    )


def _named(slots: list[str]) -> Msg:
    return listing(rules.SLOT_NAMES[s] for s in slots) if slots else NONE


def sync_now(ctx: Ctx, opts: Options) -> Reply:
    """Deferred: runs in a job, which may call Discord (in the server's language, as a queued sync does)."""
    from ttfd.clients import discord_rest
    from ttfd.features.automod import sync

    assert ctx.guild_id is not None
    result = sync.sync_guild(ctx.conn, discord_rest.shared(), ctx.guild_id, ctx.place_locale)
    if result.error:
        return say("⚠️ ", result.error, private=True)
    if not result.writes:
        return say(_("✅ Discord's AutoMod rules already match the policy; nothing changed."), private=True)
    return say(
        _(
            "✅ Synced. Created: {created}; updated: {updated}; deleted: {deleted}.",
            created=_named(result.created),
            updated=_named(result.updated),
            deleted=_named(result.deleted),
        ),
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
            raise BadInput(_("{setting} is on or off.", setting=setting))
        return {name: raw.lower() in _TRUE}
    if kind == "mode":
        if raw.lower() not in ("off", "allow", "deny"):
            raise BadInput(_("link_mode is off, allow (only the links listed) or deny (not the links listed)."))
        return {name: raw.lower()}
    if kind == "int":
        low, high = _RANGES[name]
        if not raw.isdigit() or not low <= int(raw) <= high:
            if low == 0:
                raise BadInput(
                    _("{setting} is a whole number from {low} to {high} (0: off).", setting=setting, low=low, high=high)
                )
            raise BadInput(_("{setting} is a whole number from {low} to {high}.", setting=setting, low=low, high=high))
        return {name: int(raw)}
    return {name: raw}


def tg_set(ctx: Ctx, opts: Options) -> Reply:
    """Deferred: runs in a job, after Telegram confirms the caller is an admin of the group."""
    from ttfd.features.moderation import ops

    assert ctx.chat_id is not None
    ops.telegram_chat(ctx.conn, ctx.chat_id).require_admin(
        ops.Who(ctx.caller.id, ctx.caller.name),
        restrict=False,
        refusal=_("Only this group's admins can change its automod settings."),
    )
    changes = service.parse(_tg_value(opts["setting"], opts["value"]))
    policy = service.update(ctx.conn, "telegram", ctx.chat_id, changes, ctx.caller.id)
    return Reply(title=UPDATED, fields=_describe(policy), color=COLOR)


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


SET_OPTIONS = (
    Option("enabled", Kind.BOOLEAN, _("Turn automod on or off")),
    Option("bad_words", Kind.STRING, _("Bad words, * at an end is a wildcard (comma-separated; none clears)")),
    Option("block_invites", Kind.BOOLEAN, _("Block Discord invite links")),
    Option(
        "link_mode",
        Kind.STRING,
        _("Links: off, allow (only the listed domains) or deny (the listed domains)"),
        choices=(
            (C_("link mode", "off"), "off"),
            (C_("link mode", "allow only the listed"), "allow"),
            (C_("link mode", "deny the listed"), "deny"),
        ),
    ),
    Option("links", Kind.STRING, _("Domains for the link mode (comma-separated; none clears)")),
    Option("mention_limit", Kind.INTEGER, _("Most mentions in one message (0: off)"), min_value=0, max_value=50),
    Option(
        "exempt_roles",
        Kind.STRING,
        _("Roles automod ignores, mentions or ids (comma-separated; none clears)"),
        max_length=2000,
    ),
    Option(
        "exempt_channels", Kind.STRING, _("Channels automod ignores (comma-separated; none clears)"), max_length=2000
    ),
    Option("alert_channel", Kind.CHANNEL, _("Where Discord posts automod alerts"), channel_types=(0, 5)),
    Option("no_alerts", Kind.BOOLEAN, _("Stop posting alerts")),
)

FEATURE = Feature(
    name="automod",
    summary=__doc__ or "",
    groups=(Group("automod", _("Automatic moderation for this server"), MANAGE_GUILD),),
    commands=(
        _discord("show", _("This server's automod policy and its sync"), show, writes=False),
        _discord(
            "set",
            _("Change this server's automod policy (then synced to Discord's AutoMod)"),
            set_policy,
            SET_OPTIONS,
        ),
        _discord("sync", _("Make Discord's AutoMod rules match the policy now"), sync_now, defer=True),
        Command(
            "automod_show",
            _("This group's automod rules"),
            tg_show,
            platforms=("telegram",),
            writes=False,
            chats=("group", "supergroup"),
        ),
        Command(
            "automod_set",
            _("Admins: change one automod setting of this group"),
            tg_set,
            (
                Option(
                    "setting",
                    Kind.STRING,
                    _("What to change"),
                    required=True,
                    choices=tuple((k, k) for k in TG_SETTINGS),
                ),
                Option(
                    "value",
                    Kind.STRING,
                    _("The new value (lists comma-separated; none clears)"),
                    required=True,
                    max_length=4000,
                    rest=True,
                ),
            ),
            platforms=("telegram",),
            defer=True,
            chat_admin=True,  # the group's admins only (asked with getChatMember, in the job)
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
        _(
            "Group admins can set automod rules (/automod_set): offending messages are deleted and their senders "
            "warned."
        ),
    ),
)
