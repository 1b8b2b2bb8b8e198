"""Demo data for `make run`: players written through the ledger like any real activity (idempotent keys), a
small shop, and — on the fake Discord and Telegram — a demo server and a demo group to moderate."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from ttfd.core import ledger, users
from ttfd.core.db import Conn
from ttfd.features.shop import service as shop
from ttfd.features.vpn import service as vpn
from ttfd.ui.permissions import (
    BAN_MEMBERS,
    KICK_MEMBERS,
    MANAGE_CHANNELS,
    MANAGE_GUILD,
    MANAGE_MESSAGES,
    MANAGE_ROLES,
    MODERATE_MEMBERS,
    VIEW_AUDIT_LOG,
)

if TYPE_CHECKING:
    from devtools.fake_discord import DiscordState
    from devtools.fake_telegram import TelegramState


class Player(NamedTuple):
    platform: str
    ext: int  # Discord or Telegram user id
    username: str
    name: str
    xp: int
    coins: int
    language: str | None = None  # what their platform says they read (Discord locale, Telegram language_code)


DEMO = [
    Player("discord", 900001, "nova", "Nova", 41_250, 2_400),
    Player("discord", 900002, "kite", "Kite", 18_900, 870),
    Player("telegram", 900003, "mira", "Mira", 18_900, 1_530),
    Player("discord", 900004, "orbit", "Orbit", 7_350, 300),
    Player("telegram", 900005, "pixel", "Pixel", 2_040, 9_999),
    Player("discord", 900006, "echo", "Echo", 640, 120),
    Player("telegram", 900007, "lumen", "Lumen", 120, 40),
    Player("discord", 900008, "dmitry", "Дмитрий", 9_800, 650, "ru"),
    Player("telegram", 900009, "alyona", "Алёна", 12_400, 1_100, "ru"),
    Player("telegram", 900010, "ezhik", "Ёжик", 380, 75, "ru"),
]


def player(ext: int) -> Player | None:
    """The demo player with this platform id, if any."""
    return next((p for p in DEMO if p.ext == ext), None)


# A small shop to spend the demo coins in (name, price, kind, stock, per-person limit, description).
SHOP = [
    ("Streak freeze", 150, "streak_freeze", None, 5, "Keeps your daily streak alive on a day you miss."),
    ("XP boost", 300, "xp_boost", None, None, "Double message and daily XP for an hour."),
    ("Founder badge", 1_000, "cosmetic", 25, 1, "For the first 25 who believed."),
    ("Golden frame", 2_500, "cosmetic", 3, 1, "Only three exist."),
]


# --- the demo Discord server (guild 1) on the fake Discord -------------------------------------------------

GUILD_ID = 1
GUILD_NAME = "TTFD Demo"
OWNER = 900001  # Nova owns the server (nobody may act on an owner)
MODERATORS = (1, 900008)  # README's `--user 1`, and Дмитрий
ROLE_MODERATOR, ROLE_MEMBER, ROLE_TTFD, ROLE_REGULAR, ROLE_VERIFIED = 501, 502, 503, 555, 556
MOD_PERMISSIONS = (
    KICK_MEMBERS | BAN_MEMBERS | MANAGE_GUILD | MANAGE_MESSAGES | MANAGE_ROLES | MODERATE_MEMBERS | VIEW_AUDIT_LOG
)
# (id, name, position, permissions), highest last: TTFD's own role is above every role it acts on or gives.
ROLES = [
    (ROLE_MEMBER, "Member", 1, 0),
    (ROLE_VERIFIED, "Verified", 2, 0),  # to give with /setup verification
    (ROLE_REGULAR, "Regular", 3, 0),  # to give as a rank role or sell in the shop
    (ROLE_MODERATOR, "Moderator", 4, MOD_PERMISSIONS),
    (ROLE_TTFD, "TTFD", 5, MOD_PERMISSIONS | MANAGE_CHANNELS),  # Manage Channels: the VPN store's order channels
]
CHANNELS = {
    2: "bot-commands",
    700: "general",
    701: "mod-log",
    702: "verify",
    703: "automod-alerts",
    704: "vpn-payments",  # where the VPN store's payments are reviewed
}
VPN_CATEGORY = 705  # the category order channels are made in
# The VPN store's demo plans: (name, days, price, currency, traffic GB, devices)
VPN_PLANS = [("Month", 30, "299", "RUB", 100, 3), ("Quarter", 90, "799", "RUB", 0, 5)]
EVERYDAY = (42, 43)  # README's everyday players


def discord_members() -> dict[int, list[int]]:
    """Who is in the demo server, with their roles (the bot is added by `populate_fakes`)."""
    members: dict[int, list[int]] = {OWNER: [ROLE_MEMBER]}
    for p in DEMO:
        if p.platform == "discord":
            members.setdefault(p.ext, [ROLE_MEMBER])
    for uid in EVERYDAY:
        members[uid] = [ROLE_MEMBER]
    for uid in MODERATORS:
        members[uid] = [ROLE_MEMBER, ROLE_MODERATOR]
    return members


# --- the demo Telegram group (-100123) on the fake Telegram --------------------------------------------------

GROUP_ID = -100123
GROUP_TITLE = "TTFD Demo"
ADMIN_RIGHTS = {
    "can_be_edited": False,
    "can_manage_chat": True,
    "can_delete_messages": True,
    "can_restrict_members": True,
    "can_invite_users": True,
    "can_pin_messages": True,
    "can_promote_members": False,
    "can_change_info": True,
    "is_anonymous": False,
}
NEWS_CHANNEL = -100125  # a Telegram channel for /setup announcements: user 7 created it, TTFD may post there
VPN_STAFF_GROUP = -100124  # the VPN store's staff group on Telegram: Mira created it, user 7 administers it
VPN_STAFF_TITLE = "TTFD VPN staff"
GROUP_OWNER = 900003  # Mira created the group
GROUP_ADMINS = (7, 900009)  # README's `--user 7`, and Алёна: administrators who may restrict members


def group_members() -> dict[int, dict[str, Any]]:
    """The group's ChatMember fields by user (anyone else is a plain member)."""
    members: dict[int, dict[str, Any]] = {GROUP_OWNER: {"status": "creator", "is_anonymous": False}}
    for uid in GROUP_ADMINS:
        members[uid] = {"status": "administrator", **ADMIN_RIGHTS}
    for p in DEMO:
        if p.platform == "telegram":
            members.setdefault(p.ext, {"status": "member"})
    return members


def seed(conn: Conn) -> int:
    """Create the demo accounts, balances and shop items; running it again changes nothing."""
    for p in DEMO:
        user = users.ensure_user(conn, p.platform, p.ext, p.username, p.name)  # type: ignore[arg-type]
        key = f"demo:{p.ext}"
        ledger.grant(conn, user.id, "xp", p.xp, reason="demo", platform=p.platform, source_key=key)
        ledger.grant(conn, user.id, "coins", p.coins, reason="demo", platform=p.platform, source_key=key)
    if not shop.listing(conn, None, size=1)[0]:
        for order, (item, price, kind, stock, limit, description) in enumerate(SHOP):
            shop.create(
                conn,
                name=item,
                price=price,
                kind=kind,
                stock=stock,
                per_user_limit=limit,
                description=description,
                sort_order=order,
            )
    if not vpn.plans(conn, active_only=False):
        for name, term, amount, currency, traffic, devices in VPN_PLANS:
            vpn.create_plan(conn, name, term, amount, currency, traffic, devices)
    if vpn.store(conn, "discord", GUILD_ID) is None:  # Moderators answer orders; Manage Server approves
        vpn.setup_store(
            conn,
            "discord",
            GUILD_ID,
            review_channel=704,
            staff_role=ROLE_MODERATOR,
            admin_role=None,
            category=VPN_CATEGORY,
            locale=None,
            actor=None,
        )
    if vpn.store(conn, "telegram", VPN_STAFF_GROUP) is None:  # private chats order; this group reviews
        vpn.setup_store(
            conn,
            "telegram",
            VPN_STAFF_GROUP,
            review_channel=VPN_STAFF_GROUP,
            staff_role=None,
            admin_role=None,
            category=None,
            locale=None,
            actor=None,
        )
    return len(DEMO)


def populate_fakes(discord: DiscordState, telegram: TelegramState) -> None:
    """The demo server on the fake Discord and the demo group on the fake Telegram (TTFD is in both, with
    the rights moderation, automod and verification need)."""
    from devtools import fake_discord_channels, fake_discord_guilds, fake_telegram_chats

    members = discord_members()
    members[int(discord.bot_user_id)] = [ROLE_TTFD]
    profiles: dict[int, dict[str, Any]] = {
        p.ext: {"username": p.username, "global_name": p.name} for p in DEMO if p.platform == "discord"
    }
    profiles[int(discord.bot_user_id)] = {"username": "ttfd", "global_name": "TTFD", "bot": True}
    fake_discord_guilds.add_guild(
        discord, GUILD_ID, OWNER, ROLES, members, name=GUILD_NAME, users=profiles, channels=CHANNELS
    )
    for channel in CHANNELS:  # readable (empty) before anyone speaks: /clear and poll_messages find them
        discord.channel_messages.setdefault(str(channel), [])
    fake_discord_channels.add_category(discord, GUILD_ID, VPN_CATEGORY, "VPN orders")
    bot_id = int(telegram.token.split(":")[0])
    group = group_members()
    group[bot_id] = {"status": "administrator", **ADMIN_RIGHTS}
    fake_telegram_chats.add_chat(telegram, GROUP_ID, GROUP_TITLE, "supergroup", group)
    staff: dict[int, dict[str, Any]] = {
        GROUP_OWNER: {"status": "creator"},
        7: {"status": "administrator", **ADMIN_RIGHTS},
    }
    staff[bot_id] = {"status": "administrator", **ADMIN_RIGHTS}
    fake_telegram_chats.add_chat(telegram, VPN_STAFF_GROUP, VPN_STAFF_TITLE, "supergroup", staff)
    news: dict[int, dict[str, Any]] = {
        7: {"status": "creator"},
        bot_id: {"status": "administrator", "can_post_messages": True},
    }
    fake_telegram_chats.add_chat(telegram, NEWS_CHANNEL, "TTFD News", "channel", news)


def discord_logins() -> list[tuple[int, str, str]]:
    """(discord id, username, name) of the demo players who can log in at the fake Discord authorize page,
    plus a brand-new person (a first login creates their account)."""
    known = [(p.ext, p.username, p.name) for p in DEMO if p.platform == "discord"]
    return [*known, (900100, "newcomer", "Newcomer")]
