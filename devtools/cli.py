"""`python -m devtools run | simulate`: the whole platform on one port, and signed test traffic for it.
(Operator commands — migrate, discord register, telegram set-webhook — are `python -m ttfd`.)"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from typing import Any

from ttfd.cli import discord_definitions, use_database
from ttfd.core import db

log = logging.getLogger("ttfd")


def dev_environment(base: str) -> None:
    """Point every client at the fakes mounted on the local server (explicit env vars win)."""
    from devtools import server

    os.environ.setdefault("DISCORD_API_BASE", f"{base}{server.FAKE_DISCORD_PREFIX}/api/v10")
    os.environ.setdefault("TELEGRAM_API_BASE", f"{base}{server.FAKE_TELEGRAM_PREFIX}")
    # The website logs in through the fake Discord OAuth provider and links Telegram with the fake's widget.
    os.environ.setdefault("DISCORD_OAUTH_BASE", f"{base}{server.FAKE_DISCORD_PREFIX}/api/v10")
    os.environ.setdefault("SITE_URL", base)
    # Nothing runs in front of this server, so an X-Forwarded-For header is whatever the client made up.
    os.environ.setdefault("FORWARDED_HOPS", "0")
    os.environ.setdefault("TELEGRAM_BOT_USERNAME", "ttfd_dev_bot")
    os.environ.setdefault("SITE_DEV_TELEGRAM_LOGIN", f"{server.FAKE_TELEGRAM_PREFIX}/_dev/login-widget")


def cmd_run(args: argparse.Namespace) -> int:
    from devtools import demo, devkeys, server
    from static_site import build as site
    from ttfd.core import logs
    from ttfd.core.settings import get_settings

    logs.setup()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    chosen = use_database()
    applied = db.migrate(chosen.url)
    keys = devkeys.load_or_create()
    devkeys.apply(keys)
    base = f"http://127.0.0.1:{args.port}"
    dev_environment(base)
    get_settings.cache_clear()
    with db.transaction() as conn:
        seeded = demo.seed(conn)
    pages = site.build()
    print(
        f"""
TTFD is running on {base}
  migrations applied now: {len(applied)} · demo accounts: {seeded} · site pages: {len(pages)}
  Discord interactions:  POST {base}/discord/interactions   (public key {os.environ["DISCORD_PUBLIC_KEY"]})
  Telegram webhook:      POST {base}/telegram/webhook       (secret in {devkeys.DEV_ENV})
  Schedules:             process_events, run_jobs (every minute and right after each event),
                         poll_messages (every minute), cleanup (hourly)
  Fake Discord REST:     {os.environ["DISCORD_API_BASE"]}
  Fake Telegram Bot API: {os.environ["TELEGRAM_API_BASE"]}
  Website:               {base}/  (log in at {base}/login through the fake Discord; no Discord app needed)
Try, in another terminal:
  .venv/bin/python -m devtools simulate discord "/daily" --user 42 --guild 1
  .venv/bin/python -m devtools simulate discord "/coinflip bet:50 side:heads" --user 42
  .venv/bin/python -m devtools simulate telegram "/start" --user 7
""",
        flush=True,
    )
    server.serve(args.port)
    return 0


def _dev_env() -> dict[str, str]:
    from devtools import devkeys

    if not devkeys.DEV_ENV.exists():
        raise SystemExit("no dev keys yet: start the platform with `make run` first")
    return devkeys.load_or_create()


def cmd_simulate(args: argparse.Namespace) -> int:
    from devtools import simulate as sim

    keys = _dev_env()
    if args.platform == "discord":
        if args.say is not None:
            import httpx

            username, name = sim.names(args.user)
            author = {"id": str(args.user), "username": username, "global_name": name}
            base = os.environ.get("DISCORD_API_BASE", f"{args.url}/_fake/discord/api/v10")
            resp = httpx.post(f"{base}/_dev/channels/{args.channel}/say", json={"author": author, "content": args.say})
            print(f"HTTP {resp.status_code}: posted in <#{args.channel}>; poll_messages pays XP within a minute")
            return 0 if resp.status_code == 200 else 1
        if args.button:
            data: dict[str, Any] = {"custom_id": args.button, "component_type": 2}
            payload = sim.discord_payload(
                app_id=keys["DISCORD_APPLICATION_ID"],
                user=args.user,
                guild=args.guild,
                data=data,
                interaction_type=3,
                permissions=args.permissions,
                message={"id": str(sim.snowflake()), "content": ""},
            )
        else:
            try:
                command, resolved = sim.parse_command(args.text or "", discord_definitions())
            except ValueError as exc:
                print(f"simulate: {exc}", file=sys.stderr)
                return 2
            if resolved:
                command["resolved"] = resolved
            payload = sim.discord_payload(
                app_id=keys["DISCORD_APPLICATION_ID"],
                user=args.user,
                guild=args.guild,
                data=command,
                permissions=args.permissions,
            )
        body = json.dumps(payload).encode()
        status, reply = sim.post(f"{args.url}/discord/interactions", body, sim.sign(keys["DISCORD_SIGNING_SEED"], body))
    else:
        update = sim.telegram_update(args.text, user=args.user, chat=args.chat, callback=args.callback)
        body = json.dumps(update).encode()
        status, reply = sim.post(
            f"{args.url}/telegram/webhook",
            body,
            {
                "Content-Type": "application/json",
                "X-Telegram-Bot-Api-Secret-Token": keys["TELEGRAM_WEBHOOK_SECRET"],
            },
        )
    print(f"HTTP {status}")
    print(sim.pretty(reply))
    return 0 if status == 200 else 1


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m devtools", description="TTFD local development tools")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run every function + site locally (make run)")
    run.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    run.set_defaults(fn=cmd_run)

    simp = sub.add_parser("simulate", help="send a signed Discord interaction / Telegram update")
    simp.add_argument("platform", choices=["discord", "telegram"])
    simp.add_argument("text", nargs="?", help='command text, e.g. "/daily" or "/leaderboard board:coins"')
    simp.add_argument("--user", type=int, default=42, help="Discord/Telegram user id")
    simp.add_argument("--guild", type=int, help="Discord guild id (omit for a DM)")
    simp.add_argument("--permissions", type=int, default=0, help="member permission bitfield (Discord)")
    simp.add_argument("--button", help="Discord: click a component with this custom_id")
    simp.add_argument("--say", help="Discord: post this message in --channel of the fake Discord (message XP)")
    simp.add_argument("--channel", type=int, default=700, help="Discord channel id for --say")
    simp.add_argument("--chat", type=int, help="Telegram: group chat id (negative) instead of a private chat")
    simp.add_argument("--callback", help="Telegram: press an inline button with this callback_data")
    simp.add_argument("--url", default=os.environ.get("TTFD_URL", "http://127.0.0.1:8080"))
    simp.set_defaults(fn=cmd_simulate)

    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        rc: int = args.fn(args)
    except KeyboardInterrupt:
        return 130
    return rc
