"""`python -m ttfd …`: operator commands — migrate, register Discord commands, point Telegram at the webhook,
print deploy scripts, manage the shop's items.
(Local development has its own: `python -m devtools run | simulate`.)"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ttfd.core import db

if TYPE_CHECKING:
    from ttfd.features.general import MenuScope


def use_database(dbname: str = "ttfd") -> db.Database:
    """DATABASE_URL, else the local server, else the embedded one — said out loud."""
    chosen = db.select_database(dbname)
    os.environ["DATABASE_URL"] = chosen.url
    print(f"database: {chosen.source}", file=sys.stderr)
    return chosen


def cmd_migrate(args: argparse.Namespace) -> int:
    chosen = use_database()
    applied = db.migrate(chosen.url)
    print(f"applied {len(applied)} migration(s): {', '.join(applied) or 'already up to date'}")
    return 0


def discord_definitions() -> list[dict[str, object]]:
    """Every Discord command's registration JSON, from the registry."""
    from ttfd.features import REGISTRY
    from ttfd.render import discord

    groups = {g.name: (g.description, g.default_member_permissions) for g in REGISTRY.groups.values()}
    return discord.definitions(list(REGISTRY.commands.values()), groups)


def cmd_discord_register(args: argparse.Namespace) -> int:
    from ttfd.clients.discord_commands import sync_commands
    from ttfd.clients.discord_rest import DiscordREST
    from ttfd.core.settings import get_settings

    s = get_settings()
    definitions = discord_definitions()
    changed = sync_commands(DiscordREST.from_settings(s), s.require("discord_application_id"), definitions, args.guild)
    where = f"guild {args.guild}" if args.guild else "globally"
    print(f"{len(definitions)} commands {where}: {'updated (PUT)' if changed else 'already up to date'}")
    return 0


def cmd_telegram_set_webhook(args: argparse.Namespace) -> int:
    from ttfd.clients.telegram import TelegramAPI
    from ttfd.core.settings import get_settings

    s = get_settings()
    api = TelegramAPI.from_settings(s)
    ok = api.call(
        "setWebhook",
        url=args.url,
        secret_token=s.require("telegram_webhook_secret"),
        allowed_updates=["message", "edited_message", "callback_query", "chat_join_request"],
        drop_pending_updates=args.drop_pending,
        max_connections=args.max_connections,
    )
    menus = telegram_menus(s.default_locale)
    for scope, language, commands in menus:
        where: dict[str, Any] = {"scope": {"type": scope}, **({"language_code": language} if language else {})}
        api.call("setMyCommands", commands=commands, **where)
    # The unscoped menu of earlier versions listed every command to everyone: the scoped ones replace it.
    api.call("deleteMyCommands")
    counts = ", ".join(f"{scope} {len(commands)}" for scope, language, commands in menus if not language)
    languages = ", ".join(sorted({language for _, language, _ in menus if language}))
    print(f"setWebhook → {ok}: {args.url}; command menus ({counts}) in {languages} and the default language")
    return 0


# Telegram's command menu ("/") for each scope: members' commands in private chats and in groups, and a
# group's administrators' (members' group commands and the moderators' ones).
TELEGRAM_SCOPES: dict[str, MenuScope] = {
    "all_private_chats": "private",
    "all_group_chats": "groups",
    "all_chat_administrators": "admins",
}
TELEGRAM_DESCRIPTION_MAX = 256


def telegram_menus(default_locale: str) -> list[tuple[str, str, list[dict[str, str]]]]:
    """(scope type, language_code, commands) for every setMyCommands call: each scope's menu in every language
    we speak (language_code "ru", "en") and, for everyone else, in the deployment's default language
    (language_code ""). Names stay ASCII (Telegram's [a-z0-9_]{1,32}); descriptions are translated."""
    from ttfd.core.i18n import LOCALES, said
    from ttfd.features import REGISTRY
    from ttfd.features.general import telegram_menu

    commands = list(REGISTRY.telegram_commands.values())
    out: list[tuple[str, str, list[dict[str, str]]]] = []
    for scope, who in TELEGRAM_SCOPES.items():
        picked = telegram_menu(commands, who)
        for language_code, locale in (("", default_locale), *((lang, lang) for lang in LOCALES)):
            menu = [
                {"command": c.tg_name, "description": said(c.description, locale)[:TELEGRAM_DESCRIPTION_MAX]}
                for c in picked
            ]
            out.append((scope, language_code, menu))
    return out


def cmd_deploy_gcp(args: argparse.Namespace) -> int:
    from ttfd import deploy
    from ttfd.features import REGISTRY

    print(deploy.gcp_script(REGISTRY, args.region, args.project, args.scheduler_account))
    return 0


def cmd_deploy_aws(args: argparse.Namespace) -> int:
    from ttfd import deploy

    print(deploy.aws_config_template())
    return 0


def _shop(work: Callable[[db.Conn], int]) -> int:
    """Run a shop command in one transaction; a refusal is printed (exit 2) and changes nothing."""
    from ttfd.core.errors import DomainError

    use_database()
    try:
        with db.transaction() as conn:
            return work(conn)
    except DomainError as exc:
        print(f"refused: {exc.message}", file=sys.stderr)
        return 2


def cmd_shop_add(args: argparse.Namespace) -> int:
    from ttfd.features.shop import service

    def work(conn: db.Conn) -> int:
        item = service.create(
            conn,
            name=args.name,
            price=args.price,
            kind=args.kind,
            guild_id=args.guild,
            role_id=args.role_id,
            description=args.description,
            category=args.category,
            stock=args.stock,
            per_user_limit=args.limit,
            image_url=args.image_url,
            sort_order=args.sort,
        )
        print(item.id)
        return 0

    return _shop(work)


def cmd_shop_list(args: argparse.Namespace) -> int:
    from ttfd.features.shop import service

    def work(conn: db.Conn) -> int:
        rows = conn.execute("SELECT id FROM shop_items ORDER BY guild_id NULLS FIRST, sort_order, id").fetchall()
        items = [service.get(conn, int(r["id"])) for r in rows]
        if args.json:
            print(
                json.dumps(
                    [i.json() | {"guild_id": i.guild_id, "role_id": i.role_id, "active": i.active} for i in items]
                )
            )
            return 0
        for i in items:
            where = f"guild {i.guild_id}" if i.guild_id else "everywhere"
            stock = "∞" if i.stock is None else i.stock
            state = "" if i.active else " (off sale)"
            print(f"{i.id:>6}  {i.name:<30} {i.price:>10,} coins  stock {stock:<6} {i.kind_name:<13} {where}{state}")
        return 0

    return _shop(work)


def cmd_shop_refund(args: argparse.Namespace) -> int:
    from ttfd.core.ledger import utc_now
    from ttfd.features.shop import service

    def work(conn: db.Conn) -> int:
        r = service.refund(conn, args.purchase, by=None, guild_id=None, platform="operator", now=utc_now())
        print(f"refunded purchase {r.purchase_id}: {r.total} coins to account {r.user_id}")
        return 0

    return _shop(work)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ttfd", description="TTFD operator tools")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply sql/NNNN_*.sql migrations").set_defaults(fn=cmd_migrate)
    dc = sub.add_parser("discord", help="Discord tools").add_subparsers(dest="action", required=True)
    reg = dc.add_parser("register", help="bulk-PUT slash commands if they differ from Discord's")
    reg.add_argument("--guild", help="register in one guild (instant) instead of globally")
    reg.set_defaults(fn=cmd_discord_register)
    tg = sub.add_parser("telegram", help="Telegram tools").add_subparsers(dest="action", required=True)
    wh = tg.add_parser("set-webhook", help="point the bot at our webhook with the secret token")
    wh.add_argument("--url", required=True)
    wh.add_argument("--drop-pending", action="store_true")
    wh.add_argument("--max-connections", type=int, default=40)
    wh.set_defaults(fn=cmd_telegram_set_webhook)
    dep = sub.add_parser("deploy", help="deploy helpers").add_subparsers(dest="cloud", required=True)
    gcp = dep.add_parser("gcp", help="gcloud commands for Cloud Run functions and Cloud Scheduler")
    gcp.add_argument("--print", action="store_true", required=True, help="print the script (it is never run)")
    gcp.add_argument("--project", required=True)
    gcp.add_argument("--region", default="europe-west1")
    gcp.add_argument("--scheduler-account", required=True, help="service account Cloud Scheduler signs as")
    gcp.set_defaults(fn=cmd_deploy_gcp)
    aws = dep.add_parser("aws", help="AWS helpers (the deploy itself is `npx serverless deploy`)")
    aws.add_argument("--config-template", action="store_true", required=True, help="the settings secret's JSON")
    aws.set_defaults(fn=cmd_deploy_aws)
    shop = sub.add_parser("shop", help="the shop's items").add_subparsers(dest="action", required=True)
    add = shop.add_parser("add", help="sell a new item; prints its id")
    add.add_argument("name")
    add.add_argument("--price", type=int, required=True)
    add.add_argument("--stock", type=int, help="how many there are (default: unlimited)")
    add.add_argument("--limit", type=int, help="how many one person may buy")
    add.add_argument("--kind", default="cosmetic", choices=["cosmetic", "role", "streak_freeze", "xp_boost"])
    add.add_argument("--role-id", type=int, help="a role item's Discord role")
    add.add_argument("--guild", type=int, help="sell only in this Discord server (a role item's server)")
    add.add_argument("--description", default="")
    add.add_argument("--category", default="general")
    add.add_argument("--image-url")
    add.add_argument("--sort", type=int, default=0)
    add.set_defaults(fn=cmd_shop_add)
    listing = shop.add_parser("list", help="every item, on sale or not")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(fn=cmd_shop_list)
    refund = shop.add_parser("refund", help="undo a purchase: coins back, items (and a role) taken back")
    refund.add_argument("purchase", type=int)
    refund.set_defaults(fn=cmd_shop_refund)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        rc: int = args.fn(args)
    except KeyboardInterrupt:
        return 130
    return rc
