"""Getting started and finding one's way: /start (Telegram), /help (the commands this person can use here,
from the registry — or one command explained, or an unknown one named), /ping, /language, and the menu
buttons under /start and /help.

Help is per platform and per role. Telegram shows its own syntax (`/ban [duration] [reason]`, sent as a
reply: a person is never a typed option there) and never a Discord-only command. Moderators' commands are not
shown to members: on Discord a command that needs a permission is listed only to a member whose permission
bitfield has it (and its registration carries default_member_permissions, so the picker hides it too); on
Telegram they are in the group admins' command menu (setMyCommands, scope all_chat_administrators) and /help
says where, rather than asking Telegram who is an admin on every /help.

/language picks the language TTFD speaks to a person on every platform (`unified_users.language`; automatic:
their app's)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from ttfd.core import users
from ttfd.core.i18n import C_, LOCALES, Msg, _, listing, negotiate
from ttfd.core.ledger import utc_now
from ttfd.features.daily import daily
from ttfd.features.leaderboards import board_reply
from ttfd.features.profiles import profile
from ttfd.registry import Feature
from ttfd.ui.actions import Action
from ttfd.ui.commands import (
    ADMINISTRATOR,
    PERMISSION_NAMES,
    ActionHandler,
    Command,
    Ctx,
    Kind,
    Option,
    Options,
)
from ttfd.ui.reply import Button, Field, Reply, say
from ttfd.ui.text import Part, bold, command, lines

DISCORD_EPOCH_MS = 1420070400000
# Each language by its own name (a choice shown to someone who may not read the current one).
LANGUAGE_NAMES = {"ru": "Русский", "en": "English"}  # text-ok: languages in their own names


@dataclass(frozen=True)
class Menu(Action):
    prefix = "menu"
    action: Literal["profile", "daily", "top"]


@dataclass(frozen=True)
class PickLanguage(Action):
    prefix = "lang"
    code: Literal["ru", "en", "auto"]


MENU = (
    (
        Button(C_("button", "👤 Profile"), Menu("profile")),
        Button(C_("button", "💰 Daily"), Menu("daily"), style="success"),
        Button(C_("button", "🏆 Top"), Menu("top")),
    ),
)


# --- who sees which command ------------------------------------------------------------------------------------


def moderators_only(c: Command) -> bool:
    """A moderators' command: a Discord permission, or (Telegram) only a group's administrators may run it."""
    return c.permission is not None or c.chat_admin


def on_telegram(c: Command) -> bool:
    """Runs on Telegram (a command that needs a Discord permission it cannot check there never does)."""
    return "telegram" in c.platforms and (c.permission is None or c.chat_admin)


MenuScope = Literal["private", "groups", "admins"]


def telegram_menu(commands: list[Command], scope: MenuScope) -> list[Command]:
    """The commands of a Telegram command menu: members' in private chats or in groups, and a group's admins'
    (members' group commands and the moderators' ones) — what `setMyCommands` registers for each scope."""
    if scope == "private":
        return [c for c in commands if on_telegram(c) and "private" in c.chats and not moderators_only(c)]
    picked = [c for c in commands if on_telegram(c) and c.name != "start" and {"group", "supergroup"} & set(c.chats)]
    return picked if scope == "admins" else [c for c in picked if not moderators_only(c)]


def discord_allowed(c: Command, ctx: Ctx) -> bool:
    """Whether a Discord member may run it: no permission needed, or their bitfield has it (in a server)."""
    if c.permission is None:
        return True
    return ctx.guild_id is not None and bool(ctx.permissions & (ADMINISTRATOR | c.permission[0]))


def _listed(ctx: Ctx) -> list[Command]:
    everything = sorted(ctx.features.commands.values(), key=lambda c: c.path)
    if ctx.platform == "telegram":
        scope: MenuScope = "private" if ctx.chat_type == "private" else "groups"
        return sorted((c for c in telegram_menu(everything, scope) if c.name != "start"), key=lambda c: c.tg_name)
    return [c for c in everything if "discord" in c.platforms and discord_allowed(c, ctx)]


# --- /help ------------------------------------------------------------------------------------------------------

REPLY_NEEDED = _("(as a reply to their message)")
REPLY_OPTIONAL = _("(reply to someone's message for theirs)")
PHOTO_NEEDED = _("(as the caption of a photo)")
PHOTO_OPTIONAL = _("(may be the caption of a photo)")
GOOD_TO_KNOW = _("Good to know")  # the features' notes under the command list (Discord)
ADMINS_MENU = _("🛡️ Group admins find the moderation commands in the group's command menu (type / there).")


LISTED_OPTIONAL, LISTED_CHOICES = 2, 5  # what a line of the list shows of a long usage (/help <command>: all)


def short_usage(c: Command, platform: str, locale: str) -> str:
    """A usage line for the list: the required options, at most two optional ones and then […]; a choice of
    many (a rank) by its option's name. `/help <command>` shows the whole line (Command.usage)."""
    if platform == "telegram":
        name, options = c.tg_name, [o for o in c.options if o.kind not in (Kind.USER, Kind.ATTACHMENT)]
    else:
        name, options = " ".join(Msg(n, context="command").in_(locale) for n in c.path.split()), list(c.options)
    words, optional = [f"/{name}"], 0
    for o in options:
        if not o.required:
            optional += 1
            if optional > LISTED_OPTIONAL:
                words.append("[…]")
                break
        if len(o.choices) > LISTED_CHOICES:
            shown = o.shown_name.in_(locale)
            words.append(f"<{shown}>" if o.required else f"[{shown}]")
        else:
            words.append(o.placeholder_in(locale))
    return " ".join(words)


def _row(c: Command, ctx: Ctx, whole: bool = False) -> tuple[Part, ...]:
    """`/coinflip <bet> <heads|tails> — Bet coins on heads or tails` in the reader's language and syntax."""
    usage = c.usage(ctx.platform, ctx.locale) if whole else short_usage(c, ctx.platform, ctx.locale)
    row: list[Part] = [command(usage), " — ", c.description]
    if ctx.platform == "telegram":
        people = [o for o in c.options if o.kind == Kind.USER]
        if people:
            row += [" ", REPLY_NEEDED if any(o.required for o in people) else REPLY_OPTIONAL]
        files = [o for o in c.options if o.kind == Kind.ATTACHMENT]  # not typed: the photo the command captions
        if files:
            row += [" ", PHOTO_NEEDED if any(o.required for o in files) else PHOTO_OPTIONAL]
    return tuple(row)


FOR_STAFF = _("For staff")  # Discord: the commands that need a permission, under the list (as fields)
FIELD_BUDGET = 950  # characters of a field's rows as said (Discord: 1,024 a value, markdown included)


def _staff_fields(ctx: Ctx, staff: list[Command]) -> tuple[Field, ...]:
    """Discord: the commands that need a permission, in fields of at most FIELD_BUDGET characters each (said in
    the reader's language to measure them), so the embed's description keeps room for everyone's commands."""
    from ttfd.core.i18n import localize
    from ttfd.ui.text import plain

    chunks: list[list[tuple[Part, ...]]] = [[]]
    used = 0
    for c in staff:
        row = _row(c, ctx)
        size = len(plain(localize(row, ctx.locale))) + 3  # the backticks and the line break
        if chunks[-1] and used + size > FIELD_BUDGET:
            chunks.append([])
            used = 0
        chunks[-1].append(row)
        used += size
    return tuple(Field(FOR_STAFF, lines(*chunk), False) for chunk in chunks if chunk)


def help_text(ctx: Ctx, intro: tuple[Part, ...] = ()) -> Reply:
    """Every command this person can use here, from the registry, and what else features say."""
    listed = _listed(ctx)
    staff: tuple[Field, ...] = ()
    if ctx.platform == "discord":  # the embed's description (4,096) for everyone's commands, fields for staff's
        staff = _staff_fields(ctx, [c for c in listed if c.permission is not None])
        listed = [c for c in listed if c.permission is None]
    rows: list[tuple[Part, ...]] = [_row(c, ctx) for c in listed]
    if ctx.platform == "telegram":
        if ctx.chat_type == "private":
            everything = list(ctx.features.commands.values())
            here = {c.tg_name for c in telegram_menu(everything, "private")}
            elsewhere = [f"/{c.tg_name}" for c in telegram_menu(everything, "groups") if c.tg_name not in here]
            if elsewhere:
                rows.append((_("In a group also: {commands}", commands=listing(sorted(elsewhere))),))
        rows.append((ADMINS_MENU,))
    extra = [f.help for f in ctx.features.features if f.help]
    # On Discord the notes go in a field of their own: the embed's description (4,096 characters) is for the
    # command list, which for an administrator in Russian comes close to it by itself.
    notes = (Field(GOOD_TO_KNOW, lines(*extra), False),) if extra and ctx.platform == "discord" else ()
    if notes:
        extra = []
    return Reply(
        title=_("TTFD commands"),
        body=lines(*((intro,) if intro else ()), *rows, *(("",) if extra else ()), *extra),
        fields=(*staff, *notes),
        footer=_("One account across Discord, Telegram and the web — use /link to connect them."),
        rows=MENU,
        private=True,
    )


def _names(c: Command, platform: str) -> set[str]:
    """What someone may call a command: its Telegram name there; on Discord its path or name in any language."""
    if platform == "telegram":
        return {c.tg_name}
    found = {c.path, c.name}
    for locale in LOCALES:
        found.add(" ".join(Msg(n, context="command").in_(locale) for n in c.path.split()))
        found.add(Msg(c.name, context="command").in_(locale))
    return {n.lower() for n in found}


def explain(ctx: Ctx, asked: str) -> Reply:
    """`/help coinflip`: one command's usage and what it does; an unknown one is named before the list."""
    wanted = " ".join(asked.strip().lstrip("/").split("@", 1)[0].lower().split())[:64]
    shown = command(f"/{wanted}")
    everything = list(ctx.features.commands.values())
    # Its name here, else its Discord name (`/help leaderboard` on Telegram explains /top).
    found = [c for c in everything if wanted in _names(c, ctx.platform)]
    found = found or [c for c in everything if wanted in _names(c, "discord")]
    here = [c for c in found if (on_telegram(c) if ctx.platform == "telegram" else "discord" in c.platforms)]
    if not here:
        if ctx.platform == "telegram" and found:
            first = _("{command} is a Discord command. Here is what I can do here:", command=shown)
        else:
            first = _("I don't know {command}. Here is what I can do:", command=shown)
        return help_text(ctx, (first,))
    c = here[0]
    body: list[tuple[Part, ...]] = [_row(c, ctx, whole=True)]
    if ctx.platform == "telegram" and c.chats == ("private",):
        body.append((_("Works in a private chat with me."),))
    elif ctx.platform == "telegram" and "private" not in c.chats:
        body.append((_("Works in groups."),))
    if ctx.platform == "telegram" and moderators_only(c):
        body.append((_("For the group's admins."),))
    elif c.permission is not None:
        needed = PERMISSION_NAMES.get(c.permission[0], c.permission[1])
        body.append((_("Needs the {permission} permission.", permission=needed),))
    return Reply(title=_("TTFD commands"), body=lines(*body), private=True)


def help_(ctx: Ctx, opts: Options) -> Reply:
    asked = opts.get("command")
    return explain(ctx, asked) if asked else help_text(ctx)


# --- /start, /ping -------------------------------------------------------------------------------------------


def start(ctx: Ctx, opts: Options) -> Reply:
    if ctx.chat_type != "private":  # in a group: say hello without spelling out private things
        return say(
            _(
                "👋 Hi! I'm TTFD. Chatting here earns XP. Try /top for the leaderboard, "
                "or message me privately for your profile, /daily and /link."
            )
        )
    welcome = _("👋 Welcome, {name}! Your TTFD account is ready.", name=bold(ctx.user.name))
    return help_text(ctx, (welcome, "\n"))


def ping(ctx: Ctx, opts: Options) -> Reply:
    if ctx.platform == "discord":
        # Snowflakes carry their creation time: (id >> 22) + Discord epoch, in ms.
        created_ms = (int(ctx.key.split(":")[1]) >> 22) + DISCORD_EPOCH_MS
        ms = max(0, int(utc_now().timestamp() * 1000) - created_ms)
        return say(_("🏓 Pong! ({ms} ms since you pressed enter)", ms=ms), private=True)
    return say(_("🏓 Pong!"), private=True)


def menu(ctx: Ctx, action: Menu) -> Reply:
    if action.action == "profile":
        return profile(ctx, {})
    if action.action == "daily":
        return daily(ctx, {})
    return board_reply(ctx, "xp", 0)


# --- /language ---------------------------------------------------------------------------------------------

AUTOMATIC = C_("language", "Automatic (as in your app)")
CHOSEN = {
    "ru": _("✅ From now on I speak Russian to you everywhere: Discord, Telegram and the website."),
    "en": _("✅ From now on I speak English to you everywhere: Discord, Telegram and the website."),
    "auto": _("✅ From now on I speak the language of your app (Discord's or Telegram's), wherever you are."),
}


def language_panel(ctx: Ctx, chosen: str | None, note: Msg | None = None) -> Reply:
    """The language chosen (or that it follows the app), with a button for each choice."""
    if chosen in LANGUAGE_NAMES:
        now = _("You chose {language}: I speak it to you everywhere.", language=bold(LANGUAGE_NAMES[chosen]))
    else:
        now = _(
            "I follow your app's language (now {language}). Pick one to use everywhere:",
            language=bold(LANGUAGE_NAMES.get(ctx.locale, ctx.locale)),
        )
    current = chosen or "auto"
    buttons = tuple(
        Button(label, PickLanguage(code), style="primary" if code == current else "secondary")  # type: ignore[arg-type]
        for code, label in (*LANGUAGE_NAMES.items(), ("auto", AUTOMATIC))
    )
    body = lines(*(((note,),) if note else ()), (now,))
    return Reply(title=_("🌐 Language"), body=body, rows=(buttons,), private=True)


def choose_language(ctx: Ctx, code: str) -> Msg:
    """Store the choice (NULL: automatic) on the person's account, and answer in the language just chosen."""
    users.set_language(ctx.conn, ctx.user.id, None if code == "auto" else code)
    # dispatch says the reply in ctx.locale once the handler returns (and a later job in target's).
    ctx.locale = code if code in LANGUAGE_NAMES else negotiate(ctx.platform_locale, default=ctx.settings.default_locale)
    ctx.target["locale"] = ctx.locale
    return CHOSEN[code]


def language(ctx: Ctx, opts: Options) -> Reply:
    code = opts.get("language")
    if code:
        return say(choose_language(ctx, code), private=True)
    return language_panel(ctx, ctx.user.language)


def picked(ctx: Ctx, action: PickLanguage) -> Reply:
    """A language button: chosen, and the panel redrawn with it."""
    done = choose_language(ctx, action.code)
    panel = language_panel(ctx, None if action.code == "auto" else action.code, done)
    # Redrawn in place where only its owner sees it; in a Telegram group, whoever pressed gets their own answer.
    return replace(panel, edit=ctx.platform == "discord" or ctx.chat_type == "private")


FEATURE = Feature(
    name="general",
    summary=__doc__ or "",
    commands=(
        Command("start", _("Create your account and see what TTFD does"), start, platforms=("telegram",), writes=False),
        Command(
            "help",
            _("What TTFD can do"),
            help_,
            (Option("command", Kind.STRING, _("A command to explain"), max_length=64),),
            writes=False,
        ),
        Command("ping", _("Check that TTFD is answering"), ping, writes=False),
        Command(
            "language",
            _("The language TTFD speaks to you, on every platform"),
            language,
            (
                Option(
                    "language",
                    Kind.STRING,
                    _("Русский, English or automatic (as in your app)"),
                    choices=(*((name, code) for code, name in LANGUAGE_NAMES.items()), (AUTOMATIC, "auto")),
                ),
            ),
        ),
    ),
    actions=(ActionHandler(Menu, menu), ActionHandler(PickLanguage, picked)),
)
