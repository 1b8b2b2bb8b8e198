"""`python -m devtools run | simulate`: the whole platform on one port, and signed test traffic for it.
(Operator commands — migrate, discord register, telegram set-webhook — are `python -m ttfd`.)"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
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
    # The VPN store: the fake 3x-ui panel (its own demo login), links naming a made-up host.
    os.environ.setdefault("VPN_PANEL_URL", f"{base}{server.FAKE_XUI_PREFIX}{server.XUI_BASE_PATH}")
    os.environ.setdefault("VPN_PANEL_USERNAME", "admin")
    os.environ.setdefault("VPN_PANEL_PASSWORD", "admin")
    os.environ.setdefault("VPN_INBOUND_ID", "1")
    os.environ.setdefault("VPN_SUB_URL", f"{base}{server.FAKE_XUI_PREFIX}/sub/")
    os.environ.setdefault("VPN_METHODS", DEMO_METHODS)
    # Files sent with commands are fetched from Discord's CDN hosts only: here the fake CDN on this port too.
    host = base.removeprefix("http://").removeprefix("https://")
    os.environ.setdefault("DISCORD_CDN_HOSTS", f"cdn.discordapp.com,media.discordapp.net,{host}")


# Two made-up ways to pay (VPN_METHODS' shape: README → VPN store), so orders show the method buttons.
DEMO_METHODS = json.dumps(
    {
        "card": {
            "name": {"en": "Bank card", "ru": "Банковская карта"},
            "instructions": {
                "en": "Transfer the amount to card 2200 0000 0000 0000 (demo), then send the screenshot.",
                "ru": "Переведи сумму на карту 2200 0000 0000 0000 (демо), потом пришли скриншот.",
            },
        },
        "sbp": {
            "name": {"en": "SBP (fast payments)", "ru": "СБП"},
            "instructions": {
                "en": "Send the amount by SBP to +7 900 000-00-00, Demo Bank (demo), then send the screenshot.",
                "ru": "Переведи сумму по СБП на +7 900 000-00-00, Демо-банк (демо), потом пришли скриншот.",
            },
        },
    },
    ensure_ascii=False,
)


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
    sim = ".venv/bin/python -m devtools simulate"
    if args.port != 8080:  # another terminal does not have this PORT
        sim = f"TTFD_URL={base} {sim}"
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
  Demo Discord server:   guild {demo.GUILD_ID} «{demo.GUILD_NAME}»: moderators user 1 and Дмитрий (900008),
                         members 42, 43 and the demo players; roles Regular 555 and Verified 556 to give;
                         #general 700, #mod-log 701, #verify 702
  Demo Telegram group:   chat {demo.GROUP_ID} «{demo.GROUP_TITLE}»: admins user 7 and Алёна (900009), members the demo
                         players (Ёжик 900010 …)
Try, in another terminal:
  {sim} discord "/daily" --user 42 --guild 1
  {sim} discord "/warn user:43 reason:spam" --user 1 --guild 1
  {sim} telegram "/start" --user 7
  {sim} telegram "/warn спам" --user 900009 --chat {demo.GROUP_ID} --reply-to 900010
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


def default_url() -> str:
    """Where `make run` listens: TTFD_URL, else 127.0.0.1 on PORT (8080)."""
    return os.environ.get("TTFD_URL") or f"http://127.0.0.1:{os.environ.get('PORT', '8080')}"


def cmd_simulate(args: argparse.Namespace) -> int:
    import httpx

    from devtools import simulate as sim

    keys = _dev_env()
    base = args.url.rstrip("/")
    try:
        if args.platform == "discord":
            return _simulate_discord(args, keys, base)
        return _simulate_telegram(args, keys, base)
    except sim.Usage as exc:
        print(f"simulate: {exc}", file=sys.stderr)
        return 2
    except httpx.HTTPError as exc:
        print(sim.explain(exc, base), file=sys.stderr)
        return 1


def _simulate_discord(args: argparse.Namespace, keys: dict[str, str], base: str) -> int:
    from devtools import simulate as sim

    if args.say is not None:
        return _say(args, base)
    # What to send first (a typo is refused before anything is asked of the server), then who sends it.
    kind, data, resolved = sim.COMMAND, dict[str, Any](), dict[str, Any]()
    if args.button:
        kind, data = sim.COMPONENT, sim.button_data(args.button)
    elif args.select:
        if not args.value:
            raise sim.Usage("--select needs --value (an option's value or label; repeat it for several)")
        kind, data = sim.COMPONENT, sim.select_data(args.select, sim.pick_values(args.select, args.value))
    elif args.modal:
        if not args.field:
            raise sim.Usage("--modal needs --field NAME=VALUE for each text input")
        kind, data = sim.MODAL, sim.modal_data(args.modal, sim.modal_fields(args.modal, args.field))
    else:
        data, resolved = sim.parse_command(args.text or "", discord_definitions())
    dev = sim.Dev(base)
    dev.probe()
    if args.attach is not None:
        _attach(dev, data, resolved, args.attach)
    member = dev.discord_member(args.guild, args.user) if args.guild else None
    if member and member.get("banned"):
        print(
            f"note: user {args.user} is banned from server {args.guild}; Discord would not deliver this",
            file=sys.stderr,
        )
    if resolved:
        data["resolved"] = sim.dress(resolved, member) if member else resolved
    permissions = args.permissions
    if permissions is None:
        permissions = int(member["permissions"]) if member else 0
    payload = sim.discord_payload(
        app_id=keys["DISCORD_APPLICATION_ID"],
        user=args.user,
        guild=args.guild,
        data=data,
        interaction_type=kind,
        permissions=permissions,
        locale=sim.discord_locale(args.locale, args.user),
        roles=member["roles"] if member else (),
        message=sim.component_message() if kind == sim.COMPONENT else None,
        channel=args.channel if args.guild else None,
    )
    cursor = dev.cursor()
    body = json.dumps(payload).encode()
    status, reply = sim.post(f"{base}/discord/interactions", body, sim.sign(keys["DISCORD_SIGNING_SEED"], body))
    print(f"HTTP {status}")
    readable = cursor is not None and not args.json
    print("\n".join(sim.discord_response_lines(reply)) if readable and status == 200 else sim.pretty(reply))
    if cursor is None:
        return 0 if status == 200 else 1
    calls, settled = dev.later(cursor, args.wait) if args.wait > 0 else ([], True)
    sim.remember([reply, *(c["body"] for c in calls if c["api"] == "discord" and isinstance(c.get("body"), dict))])
    deferred = isinstance(reply, dict) and reply.get("type") in (5, 6)
    _print_later(sim.describe(calls, token=payload["token"]), settled, deferred, args.wait)
    return 0 if status == 200 else 1


def _attach(dev: Any, data: dict[str, Any], resolved: dict[str, Any], path: str) -> None:
    """--attach FILE: the file uploaded to the fake CDN and given as the command's ATTACHMENT option."""
    import mimetypes

    from devtools import simulate as sim

    spec = next((d for d in discord_definitions() if d["name"] == data.get("name")), None)
    options: list[dict[str, Any]] = spec.get("options", []) if spec else []  # type: ignore[assignment]
    option = next((o for o in options if o.get("type") == 11), None)
    if option is None:
        raise sim.Usage(f"--attach: /{data.get('name')} takes no file")
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise sim.Usage(f"--attach: cannot read {path}: {exc.strerror or exc}") from None
    kind = mimetypes.guess_type(path)[0] or "application/octet-stream"
    found = dev.discord_attachment(raw, os.path.basename(path), kind)
    if found is None:
        raise sim.Usage("--attach needs the dev server's helpers (make run)")
    data.setdefault("options", []).append({"name": option["name"], "type": 11, "value": found["id"]})
    resolved.setdefault("attachments", {})[found["id"]] = found


def _say(args: argparse.Namespace, base: str) -> int:
    import httpx

    from devtools import simulate as sim

    username, name = sim.names(args.user)
    author = {"id": str(args.user), "username": username, "global_name": name}
    api = os.environ.get("DISCORD_API_BASE", f"{base}/_fake/discord/api/v10")
    channel = args.channel or 700
    resp = httpx.post(f"{api}/_dev/channels/{channel}/say", json={"author": author, "content": args.say})
    print(f"HTTP {resp.status_code}: posted in <#{channel}>; poll_messages pays XP within a minute")
    return 0 if resp.status_code == 200 else 1


def _simulate_telegram(args: argparse.Namespace, keys: dict[str, str], base: str) -> int:
    from devtools import simulate as sim

    lang = sim.telegram_language(args.locale, args.user)
    token = keys.get("TELEGRAM_BOT_TOKEN")
    group = args.chat is not None and args.chat < 0
    if args.join and not group:
        raise sim.Usage("--join needs --chat with the group's id (negative), e.g. --chat -100123")
    if not (args.join or args.callback) and args.text is None and args.photo is None:
        raise sim.Usage('say what to send: a command such as "/start", or text (or --callback / --join / --photo)')
    if args.photo is not None and (args.join or args.callback):
        raise sim.Usage("--photo sends a message (its text is the caption): not with --callback or --join")
    photo = _telegram_photo(args.photo, base) if args.photo is not None else None
    if args.reply_to is not None and not group:
        raise sim.Usage("--reply-to works in a group: add --chat with the group's id, e.g. --chat -100123")
    dev = sim.Dev(base)
    dev.probe()
    if args.join:
        dev.telegram_join(args.chat, args.user)
        update = sim.join_request_update(args.chat, user=args.user, language=lang)
    elif args.callback:
        pressed = dev.telegram_button(args.callback, args.chat, args.message_id)
        if pressed is None and dev.available:  # a message the fake never saw: make it, so the bot may edit it
            bot = int(token.split(":")[0]) if token else 1
            pressed = sim.bot_message(
                args.callback, user=args.user, chat=args.chat, bot=bot, message_id=args.message_id
            )
            dev.telegram_message(pressed)
        update = sim.telegram_update(
            None, user=args.user, chat=args.chat, callback=args.callback, language=lang, callback_message=pressed
        )
    else:
        reply_to = None
        if args.reply_to is not None:
            their_lang = sim.telegram_language(None, args.reply_to)
            reply_to = sim.member_message(args.reply_to, args.chat, args.reply_text, language=their_lang)
            dev.telegram_message(reply_to)
        update = sim.telegram_update(
            args.text, user=args.user, chat=args.chat, language=lang, reply_to=reply_to, photo=photo
        )
        if group:  # the bot may delete it (automod), as it may any member's message
            dev.telegram_message(update["message"])
    cursor = dev.cursor()
    body = json.dumps(update).encode()
    status, reply = sim.post(
        f"{base}/telegram/webhook",
        body,
        {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": keys["TELEGRAM_WEBHOOK_SECRET"]},
    )
    print(f"HTTP {status}")
    readable = cursor is not None and not args.json and status == 200
    if readable:
        print("\n".join(sim.telegram_reply_lines(reply)) or "(no message in the webhook answer)")
    else:
        print(sim.pretty(reply))
    if cursor is None:
        return 0 if status == 200 else 1
    if token and status == 200:
        dev.run_webhook_reply(token, reply)
    calls, settled = dev.later(cursor, args.wait) if args.wait > 0 else ([], True)
    _print_later(sim.describe(calls), settled, False, args.wait)
    return 0 if status == 200 else 1


def _telegram_photo(path: str, base: str = "") -> list[dict[str, Any]]:
    """A message's `photo` for the picture at `path` (a thumbnail and the full size)."""
    from devtools import simulate as sim

    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise sim.Usage(f"--photo: cannot read {path}: {exc.strerror or exc}") from None
    # The fake Telegram holds the bytes (make run's dev helpers), so getFile and the download serve them.
    file_id = sim.Dev(base).telegram_file(data) if base else None
    return sim.photo_sizes(data, file_id=file_id) if file_id else sim.photo_sizes(data)


def _print_later(lines: list[str], settled: bool, deferred: bool, wait: float) -> None:
    if lines:
        print("\nThen the bot sent:")
        print("\n".join(lines))
    elif deferred and wait > 0:
        print(f"\nNothing arrived within {wait:g} s: the job may be retrying (see `make run`'s log).")
    if not settled and wait > 0 and lines:
        print(f"(jobs were still queued after {wait:g} s; run with a longer --wait to see more)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m devtools", description="TTFD local development tools")
    sub = p.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run every function + site locally (make run)")
    run.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    run.set_defaults(fn=cmd_run)

    simp = sub.add_parser(
        "simulate",
        help="send a signed Discord interaction / Telegram update and show what the bot sent",
        description="Send a signed Discord interaction or Telegram update to `make run`, print the answer, then "
        "what the bot sent later (deferred edits, DMs, moderation calls) as the local fakes received it.",
    )
    simp.add_argument("platform", choices=["discord", "telegram"])
    simp.add_argument("text", nargs="?", help='command text, e.g. "/daily" or "/leaderboard board:coins"')
    simp.add_argument("--user", type=int, default=42, help="Discord/Telegram user id")
    simp.add_argument(
        "--locale",
        "--lang",
        dest="locale",
        help="the person's language: Discord locale and guild_locale (default en-US), Telegram language_code "
        "(default en); a Russian demo player defaults to ru",
    )
    simp.add_argument("--guild", type=int, help="Discord guild id (omit for a DM); the demo server is 1")
    simp.add_argument(
        "--permissions",
        type=int,
        help="member permission bitfield (Discord; default: what the member's roles in the fake server give)",
    )
    simp.add_argument("--button", help="Discord: click a component with this custom_id")
    simp.add_argument("--select", help="Discord: pick from the select menu with this custom_id (with --value)")
    simp.add_argument(
        "--value", action="append", help="Discord: the picked option's value or label (repeat for several)"
    )
    simp.add_argument("--modal", help="Discord: submit the modal with this custom_id (with --field)")
    simp.add_argument("--field", action="append", help="Discord: a modal text input, NAME=VALUE (repeat)")
    simp.add_argument("--say", help="Discord: post this message in --channel of the fake Discord (message XP)")
    simp.add_argument(
        "--channel",
        type=int,
        help="Discord: the channel it happens in (--say: default 700, #general; a command: default guild + 1)",
    )
    simp.add_argument("--chat", type=int, help="Telegram: group chat id (negative) instead of a private chat")
    simp.add_argument("--callback", help="Telegram: press an inline button with this callback_data")
    simp.add_argument("--message-id", type=int, help="Telegram: the message the pressed button is on")
    simp.add_argument("--reply-to", type=int, help="Telegram: send the message as a reply to this member's message")
    simp.add_argument("--reply-text", default="hello", help="Telegram: what the replied-to message said")
    simp.add_argument("--join", action="store_true", help="Telegram: ask to join --chat (a join request)")
    simp.add_argument(
        "--photo",
        metavar="FILE",
        help='Telegram: send this picture as a photo, the text (a command such as "/pay card") as its caption',
    )
    simp.add_argument(
        "--attach",
        metavar="FILE",
        help="Discord: attach this file to the command (its ATTACHMENT option, e.g. /pay's screenshot)",
    )
    simp.add_argument("--wait", type=float, default=10.0, help="seconds to wait for the jobs (0: don't)")
    simp.add_argument("--json", action="store_true", help="print the immediate answer as raw JSON")
    simp.add_argument("--url", default=default_url(), help="the local server (TTFD_URL; default 127.0.0.1:$PORT)")
    simp.set_defaults(fn=cmd_simulate)

    cat = sub.add_parser("catalogs", help="message catalogs: update | check | compile (see devtools.catalogs)")
    cat.add_argument("action", choices=("update", "check", "compile"))
    cat.set_defaults(fn=lambda args: __import__("devtools.catalogs", fromlist=["main"]).main([args.action]))

    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        rc: int = args.fn(args)
    except KeyboardInterrupt:
        return 130
    return rc
