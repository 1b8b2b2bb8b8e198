"""`python -m ttfd …`: operator commands — migrate, register Discord commands, point Telegram at the webhook,
print deploy scripts.
(Local development has its own: `python -m devtools run | simulate`.)"""

from __future__ import annotations

import argparse
import os
import sys

from ttfd.core import db


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
    from ttfd.features import REGISTRY

    s = get_settings()
    api = TelegramAPI.from_settings(s)
    ok = api.call(
        "setWebhook",
        url=args.url,
        secret_token=s.require("telegram_webhook_secret"),
        allowed_updates=["message", "callback_query"],
        drop_pending_updates=args.drop_pending,
        max_connections=args.max_connections,
    )
    # The command menu Telegram shows under "/" comes from the same declarations.
    commands = [{"command": c.tg_name, "description": c.description[:256]} for c in REGISTRY.telegram_commands.values()]
    api.call("setMyCommands", commands=commands)
    print(f"setWebhook → {ok}: {args.url}; {len(commands)} commands in the menu")
    return 0


def cmd_deploy_gcp(args: argparse.Namespace) -> int:
    from ttfd import deploy
    from ttfd.features import REGISTRY

    print(deploy.gcp_script(REGISTRY, args.region, args.project, args.scheduler_account))
    return 0


def cmd_deploy_aws(args: argparse.Namespace) -> int:
    from ttfd import deploy

    print(deploy.aws_config_template())
    return 0


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
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        rc: int = args.fn(args)
    except KeyboardInterrupt:
        return 130
    return rc
