"""Getting started: /start (Telegram), /help (generated from every feature's commands), /ping, and the
menu buttons under /start and /help."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ttfd.core.ledger import utc_now
from ttfd.features.daily import daily
from ttfd.features.leaderboards import board_reply
from ttfd.features.profiles import profile
from ttfd.registry import Feature
from ttfd.ui.actions import Action
from ttfd.ui.commands import ActionHandler, Command, Ctx, Options
from ttfd.ui.reply import Button, Reply
from ttfd.ui.text import Part, bold, command, lines, text

DISCORD_EPOCH_MS = 1420070400000


@dataclass(frozen=True)
class Menu(Action):
    prefix = "menu"
    action: Literal["profile", "daily", "top"]


MENU = (
    (
        Button("👤 Profile", Menu("profile")),
        Button("💰 Daily", Menu("daily"), style="success"),
        Button("🏆 Top", Menu("top")),
    ),
)


def help_text(ctx: Ctx) -> Reply:
    """Every command available on this platform, from the registry, and what else features say."""
    rows: list[tuple[Part, ...]] = []
    for c in sorted(ctx.features.commands.values(), key=lambda c: c.path):
        if ctx.platform not in c.platforms or c.name == "start":
            continue
        if ctx.platform == "telegram" and ctx.chat_type not in c.chats:
            continue
        rows.append((command(c.usage(ctx.platform)), " — ", c.description))
    extra = [f.help for f in ctx.features.features if f.help]
    return Reply(
        title="TTFD commands",
        body=lines(*rows, *(("",) if extra else ()), *extra),
        footer="One account across Discord, Telegram and the web — use /link to connect them.",
        rows=MENU,
        private=True,
    )


def help_(ctx: Ctx, opts: Options) -> Reply:
    return help_text(ctx)


def start(ctx: Ctx, opts: Options) -> Reply:
    if ctx.chat_type != "private":  # in a group: say hello without spelling out private things
        return Reply(
            body=text(
                "👋 Hi! I'm TTFD. Chatting here earns XP. Try /top for the leaderboard, "
                "or message me privately for your profile, /daily and /link."
            )
        )
    welcome = text("👋 Welcome, ", bold(ctx.user.name), "! Your TTFD account is ready.\n\n")
    h = help_text(ctx)
    return Reply(body=welcome + h.body, rows=MENU)


def ping(ctx: Ctx, opts: Options) -> Reply:
    latency = ""
    if ctx.platform == "discord":
        # Snowflakes carry their creation time: (id >> 22) + Discord epoch, in ms.
        created_ms = (int(ctx.key.split(":")[1]) >> 22) + DISCORD_EPOCH_MS
        latency = f" ({max(0, int(utc_now().timestamp() * 1000) - created_ms)} ms since you pressed enter)"
    return Reply(body=(f"🏓 Pong!{latency}",), private=True)


def menu(ctx: Ctx, action: Menu) -> Reply:
    if action.action == "profile":
        return profile(ctx, {})
    if action.action == "daily":
        return daily(ctx, {})
    return board_reply(ctx, "xp", 0)


FEATURE = Feature(
    name="general",
    summary=__doc__ or "",
    commands=(
        Command("start", "Create your account and see what TTFD does", start, platforms=("telegram",), writes=False),
        Command("help", "What TTFD can do", help_, writes=False),
        Command("ping", "Check that TTFD is answering", ping, writes=False),
    ),
    actions=(ActionHandler(Menu, menu),),
)
