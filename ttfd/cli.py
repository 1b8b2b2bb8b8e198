"""`python -m ttfd …`: operator commands — migrate, register Discord commands, invite the bot, point Telegram
at the webhook, keep the deployed secrets, print deploy scripts, manage the shop's items.
(Local development has its own: `python -m devtools run | simulate`.)

Every command reads the settings the functions read: the environment, plus `--env-file FILE` (dotenv syntax,
read as data) and `--secret ID[,ID…]` (the deployed Secrets Manager secrets, through the functions' own
ttfd.core.settings). Mistakes and refusals are one line on stderr and exit code 2."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ttfd.core import db

if TYPE_CHECKING:
    from ttfd.clients.secrets import SecretsManager
    from ttfd.features.general import MenuScope


def use_database(dbname: str = "ttfd") -> db.Database:
    """DATABASE_URL, else the local server, else the embedded one — said out loud."""
    chosen = db.select_database(dbname)
    os.environ["DATABASE_URL"] = chosen.url
    print(f"database: {chosen.source}", file=sys.stderr)
    return chosen


class CLIError(Exception):
    """An operator's mistake or an outside refusal: said in one line, exit code 2, no traceback."""


# --- settings: the ones the functions read ----------------------------------------------------------------

_ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$"}


def parse_env_file(text: str, where: str = "env file") -> dict[str, str]:
    """Dotenv syntax read as data, never by a shell: KEY=VALUE lines, an optional `export `, # comments,
    'single quotes' kept as they are, "double quotes" with \\n \\t \\" \\\\ escapes and line breaks inside,
    unquoted values up to a ` #` comment. No ${VAR} expansion: a $ is a $. Lines end at \n (or \r\n): other
    characters Python counts as line breaks (\x0b, \x1c, U+2028 …) are part of a value."""
    out: dict[str, str] = {}
    lines = text.replace("\r\n", "\n").split("\n")
    i = 0
    while i < len(lines):
        lineno, line = i + 1, lines[i].strip()
        i += 1
        if not line or line.startswith("#"):
            continue
        if exported := re.match(r"export\s+", line):
            line = line[exported.end() :]
        key, eq, rest = line.partition("=")
        key = key.strip()
        if not eq or not _ENV_KEY.fullmatch(key):
            raise CLIError(f"{where}:{lineno}: expected KEY=VALUE")
        rest = rest.lstrip()
        if rest[:1] not in ("'", '"'):
            out[key] = re.split(r"\s#", rest, maxsplit=1)[0].strip()
            continue
        quote, body, value, tail = rest[0], rest[1:], [], None
        while tail is None:
            j = 0
            while j < len(body):
                if quote == '"' and body[j] == "\\" and j + 1 < len(body):
                    value.append(_ESCAPES.get(body[j + 1], body[j : j + 2]))
                    j += 2
                elif body[j] == quote:
                    tail = body[j + 1 :]
                    break
                else:
                    value.append(body[j])
                    j += 1
            if tail is None:
                if i >= len(lines):
                    raise CLIError(f"{where}:{lineno}: the quote of {key} is never closed")
                value.append("\n")
                body, i = lines[i], i + 1
        if tail.strip() and not tail.strip().startswith("#"):
            raise CLIError(f"{where}:{lineno}: text after the closing quote of {key}")
        out[key] = "".join(value)
    return out


def read_env_file(path: str) -> dict[str, str]:
    try:
        text = Path(path).read_text(encoding="utf-8-sig")  # an editor's byte-order mark is not part of a name
    except (OSError, UnicodeDecodeError) as exc:
        raise CLIError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    return parse_env_file(text, path)


def secret_ids(spec: str) -> list[str]:
    """--secret's names or ARNs; `ttfd/<stage>/*` stands for every group's secret of that stage (on AWS)."""
    ids: list[str] = []
    for part in (p.strip() for p in spec.split(",")):
        if m := re.fullmatch(r"ttfd/([A-Za-z0-9_-]+)/\*", part):
            from ttfd import deploy

            ids += [deploy.secret_name(m[1], group) for group in aws_groups()]
        elif part:
            ids.append(part)
    if not ids:
        raise CLIError("--secret names no secret")
    return ids


def load_settings(args: argparse.Namespace) -> None:
    """Before any command: --env-file's variables (over the shell's), --region, and --secret, read once
    here as a function reads it at cold start (the variables already set win over the secret's, as a
    function's own do), so a missing or unreadable secret stops the command before it does anything."""
    from ttfd.core.errors import ConfigError
    from ttfd.core.settings import SECRET_ID_ENV, SecretUnavailable, check_values, get_settings
    from ttfd.features import REGISTRY  # noqa: F401 (every feature, so every settings section: checked whole)

    if args.env_file:
        given = read_env_file(args.env_file)
        try:
            check_values(given, args.env_file)
        except ConfigError as exc:
            raise CLIError(str(exc)) from None
        os.environ.update(given)
    if args.aws_region:
        os.environ["AWS_REGION"] = args.aws_region
    ids = secret_ids(args.secret) if args.secret else []
    if ids:
        from ttfd.clients.secrets import region_of

        os.environ[SECRET_ID_ENV] = ",".join(ids)
        if not (os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")) and region_of(ids[0]):
            os.environ["AWS_REGION"] = region_of(ids[0]) or ""
    if not (args.env_file or args.aws_region or ids):
        return
    get_settings.cache_clear()  # read again, from what was just given
    if not ids:
        return
    try:
        get_settings()
    except SecretUnavailable as exc:
        raise CLIError(str(exc)) from None
    versions = ", ".join(v[:8] for v in get_settings.versions)
    line = f"settings: {len(get_settings.from_secret)} from {', '.join(ids)} (version {versions})"
    if get_settings.shadowed:
        line += f"; your environment overrides {', '.join(sorted(get_settings.shadowed))}"
    print(line, file=sys.stderr)


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


# What the bot does in a server, by the Discord API calls the features make (bit, Discord's name, why).
BOT_PERMISSIONS: tuple[tuple[int, str, str], ...] = (
    (1 << 1, "Kick Members", "/kick"),
    (1 << 2, "Ban Members", "/ban, /unban"),
    (1 << 5, "Manage Server", "/automod keeps Discord's AutoMod rules"),
    (1 << 10, "View Channels", "posts in and reads the channels it is given"),
    (1 << 11, "Send Messages", "the mod-log, the verification panel, DMs to warned members"),
    (1 << 13, "Manage Messages", "/clear deletes messages"),
    (1 << 14, "Embed Links", "mod-log cases and panels are embeds"),
    (1 << 16, "Read Message History", "XP for messages, /clear finds recent messages"),
    (1 << 28, "Manage Roles", "rank roles, shop roles, the verified role"),
    (1 << 40, "Moderate Members", "/timeout, /untimeout"),
)
INVITE_SCOPES = ("bot", "applications.commands")


def invite_url(client_id: str, guild: str | None = None) -> str:
    """Discord's OAuth2 URL that adds the bot to a server with the permissions BOT_PERMISSIONS names."""
    from urllib.parse import urlencode

    query = {"client_id": client_id, "scope": " ".join(INVITE_SCOPES), "permissions": str(bot_permissions())}
    if guild:
        query |= {"guild_id": guild, "disable_guild_select": "true"}
    return "https://discord.com/oauth2/authorize?" + urlencode(query)


def bot_permissions() -> int:
    total = 0
    for bit, _name, _why in BOT_PERMISSIONS:
        total |= bit
    return total


def cmd_discord_invite(args: argparse.Namespace) -> int:
    from ttfd.core.settings import get_settings

    s = get_settings()
    client_id = s.discord_client_id or s.discord_application_id  # a bot's application id is its client id
    if not client_id:
        raise CLIError("DISCORD_APPLICATION_ID is not set (give it in --env-file or the environment)")
    print(invite_url(client_id, args.guild))
    print(f"scopes: {' '.join(INVITE_SCOPES)}; permissions {bot_permissions()}:")
    for bit, name, why in BOT_PERMISSIONS:
        print(f"  {name:<22} ({bit}): {why}")
    print("Keep the bot's role above the roles it hands out (rank, shop and verified roles).")
    return 0


def max_connections_default() -> int:
    from ttfd import deploy

    # The webhook function's reserved concurrency: Telegram never sends more updates at once than this.
    return int(getattr(deploy, "TELEGRAM_MAX_CONNECTIONS", 40))


def cmd_telegram_set_webhook(args: argparse.Namespace) -> int:
    from ttfd.clients.telegram import TelegramAPI
    from ttfd.core.settings import get_settings

    if not args.url.startswith("https://"):
        raise CLIError(f"--url must be an https:// URL (Telegram sends webhooks only over HTTPS): {args.url}")
    if not 1 <= args.max_connections <= 100:
        raise CLIError("--max-connections must be 1-100 (Telegram's limit)")
    s = get_settings()  # refuses a TELEGRAM_WEBHOOK_SECRET outside Telegram's characters, naming the rule
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
    print(
        f"setWebhook → {ok}: {args.url} (max_connections {args.max_connections}); command menus ({counts}) in "
        f"{languages} and the default language"
    )
    print(
        "Next, once per bot: in Telegram, @BotFather → /setprivacy → choose the bot → Disable. With privacy on,"
        " the bot sees only commands in groups where it is not an administrator: no XP for messages, and automod"
        " sees nothing."
    )
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


# --- the deployed secrets (AWS Secrets Manager) ------------------------------------------------------------

# Keys TTFD makes itself when the operator has none: 256 random bits in Telegram's secret_token alphabet.
GENERATED = (
    "ACTIONS_SECRET",
    "SESSION_SECRET",
    "EDGE_SECRET",
    "TELEGRAM_WEBHOOK_SECRET",
    "SCHEDULER_SECRET",
    "HEALTH_TOKEN",
)
# Replacing one of these keeps the old value as <NAME>_PREVIOUS, still accepted until that is cleared.
OVERLAPPED = ("SESSION_SECRET", "EDGE_SECRET")


def aws_groups() -> dict[str, tuple[str, ...]]:
    """The secret groups AWS keeps (ttfd.deploy.SECRET_GROUPS minus Google-only ones): group → setting names."""
    from ttfd import deploy

    clouds = getattr(deploy, "GROUP_CLOUDS", {})
    return {g: names for g, names in deploy.SECRET_GROUPS.items() if "aws" in clouds.get(g, ("aws",))}


def new_secret_value() -> str:
    import secrets

    return secrets.token_urlsafe(32)


def secrets_client(args: argparse.Namespace) -> SecretsManager:
    from ttfd.clients.secrets import SecretsManager

    return SecretsManager.from_env(os.environ, args.region or args.aws_region)


def _stored(client: SecretsManager, name: str) -> dict[str, str] | None:
    """The secret's current settings, None when it does not exist."""
    from ttfd.clients.secrets import SecretsError

    try:
        return client.get(name, timeout_s=10.0).values
    except SecretsError as exc:
        if exc.code == "ResourceNotFoundException":
            return None
        raise


def _validate(values: dict[str, str], where: str = "the settings") -> None:
    """The checks a function makes when it reads them, before anything is written: names a secret may hold,
    values an environment can hold, and each setting's own rule (Telegram's secret alphabet, DATABASE_URL's
    syntax, a feature's numbers) — errors name the setting, never its value."""
    from ttfd.core.errors import ConfigError
    from ttfd.core.settings import check_names, check_values, validate

    try:
        check_names(values, where)
        check_values(values, where)
        validate({k: v for k, v in values.items() if v})
    except ConfigError as exc:
        raise CLIError(str(exc)) from None


def _keep_previous(values: dict[str, str], name: str, value: str, force: bool = False) -> bool:
    """Before `name` becomes `value`: an overlapped setting keeps what it had as <NAME>_PREVIOUS (True). While
    an earlier rotation still overlaps (<NAME>_PREVIOUS set), another would drop a value still in use."""
    old = values.get(name, "")
    if not (old and old != value and name in OVERLAPPED):
        return False
    previous = values.get(f"{name}_PREVIOUS", "")
    if previous and previous != old and not force:
        wait = (
            "deploy CloudFront with the current version (--param edgeSecretVersion=…)"
            if name == "EDGE_SECRET"
            else "wait until no session needs the old key (SESSION_IDLE_S)"
        )
        raise CLIError(
            f"{name}_PREVIOUS is still set: finish the previous rotation first: {wait}, then clear"
            f" {name}_PREVIOUS with put-setting {name}_PREVIOUS ''; or --force to drop the value it holds"
        )
    values[f"{name}_PREVIOUS"] = old
    return True


def _size_checked(name: str, values: dict[str, str]) -> None:
    """What Secrets Manager would refuse (over 64 KB), refused before anything is written."""
    from ttfd.clients.secrets import _encode

    try:
        _encode(values)
    except ValueError as exc:
        raise CLIError(f"{name}: {exc}") from None


def cmd_deploy_aws_create_secret(args: argparse.Namespace) -> int:
    from ttfd import deploy

    source = read_env_file(args.from_env_file) if args.from_env_file else dict(os.environ)
    groups = aws_groups()
    _validate({k: v for k, v in source.items() if any(k in names for names in groups.values())})
    client = secrets_client(args)
    # Every group's new value is worked out and checked before the first write: all of them, or none.
    plans = []
    for group, names in groups.items():
        name = deploy.secret_name(args.stage, group)
        stored = _stored(client, name)
        values = dict(stored or {})
        given, generated = [], []
        for key in names:
            if source.get(key) and source[key] != values.get(key):
                _keep_previous(values, key, source[key], args.force)
                values[key] = source[key]
                given.append(key)
            elif not values.get(key) and key in GENERATED:
                values[key] = new_secret_value()
                generated.append(key)
        _size_checked(name, values)
        plans.append((name, names, stored, values, given, generated))
    for name, names, stored, values, given, generated in plans:
        unset = [k for k in names if not values.get(k) and not k.endswith("_PREVIOUS")]
        if stored is None:
            description = f"TTFD {args.stage}: {', '.join(names)} (python -m ttfd deploy aws create-secret)"
            secret = client.create(name, values, description)
            done = f"created (version {secret.version_id})"
        elif values != stored:
            done = f"updated (version {client.put(name, values).version_id})"
        else:
            done = "unchanged"
        notes = [f"set {', '.join(given)}"] if given else []
        notes += [f"generated {', '.join(generated)}"] if generated else []
        notes += [f"NOT SET {', '.join(unset)}"] if unset else []
        print(f"{name}: {done}" + (f"; {'; '.join(notes)}" if notes else ""))
    plain = [k for k in deploy.PLAIN if source.get(k)]
    if args.from_env_file:
        kept = {k for names in groups.values() for k in names}
        other = sorted(k for k in source if k not in kept and k not in deploy.PLAIN)
        if other:
            print(f"not stored (no secret holds them): {', '.join(other)}")
    if plain:
        print(f"plain settings, given to the deploy as parameters, not stored: {', '.join(plain)}")
    return 0


def cmd_deploy_aws_put_setting(args: argparse.Namespace) -> int:
    from ttfd import deploy
    from ttfd.core.settings import DEFAULT_TTL_S

    key = args.name
    group = next((g for g, names in aws_groups().items() if key in names), None)
    if group is None:
        if key in deploy.PLAIN:
            raise CLIError(f"{key} is not a secret: the deploy sets it from a parameter (see the README)")
        known = ", ".join(sorted(k for names in aws_groups().values() for k in names))
        raise CLIError(f"{key} is not kept in a secret on AWS; these are: {known}")
    if args.generate and args.value is not None:
        raise CLIError("give a value or --generate, not both")
    if args.generate:
        value = new_secret_value()
    elif args.value is not None:
        value = args.value
        if value:
            print(
                "note: a value on the command line stays in your shell's history; pipe it in next time", file=sys.stderr
            )
    elif sys.stdin.isatty():
        import getpass

        value = getpass.getpass(f"{key} (not shown): ")
    else:
        value = sys.stdin.read().rstrip("\r\n")
    if args.value is None and not value:
        raise CLIError("no value: pipe one in on stdin, or use --generate ('' clears a *_PREVIOUS setting)")
    if not value and not key.endswith("_PREVIOUS") and not args.force:
        raise CLIError(
            f"clearing {key} stops every function that needs it; only a *_PREVIOUS setting is cleared this way"
            " (--force to clear it anyway)"
        )
    if value:
        _validate({key: value})
    client = secrets_client(args)
    name = deploy.secret_name(args.stage, group)
    stored = _stored(client, name)
    if stored is None:
        raise CLIError(f"{name} does not exist: run `python -m ttfd deploy aws create-secret --stage {args.stage}`")
    values = dict(stored)
    if values.get(key, "") == value:
        print(f"{name}: {key} unchanged")
        return 0
    kept = _keep_previous(values, key, value, args.force) if value else False
    if value:
        values[key] = value
    else:
        values.pop(key, None)
    _size_checked(name, values)
    version = client.put(name, values).version_id
    said = "set" if value else "cleared"
    print(f"{name}: {key} {said}" + (f"; the old value is kept as {key}_PREVIOUS" if kept else ""))
    print(f"VersionId: {version}")
    where = f"--stage {args.stage} --region {client.region}"
    ttl = int(DEFAULT_TTL_S)
    if key == "EDGE_SECRET":
        print(
            f"Next: within {ttl} s every site function accepts the new and the old value. Point CloudFront at the"
            f" new one:\n  npx osls deploy {where} --param edgeSecretVersion={version}\nthen end the overlap:\n"
            f"  python -m ttfd deploy aws put-setting EDGE_SECRET_PREVIOUS '' {where}"
        )
    elif key == "SESSION_SECRET":
        print(
            f"Next: within {ttl} s new logins are signed with the new key and existing ones still pass (each is"
            " re-signed at its next token rotation, hourly while in use). After SESSION_IDLE_S (7 days) no"
            f" live session needs the old key:\n  python -m ttfd deploy aws put-setting SESSION_SECRET_PREVIOUS ''"
            f" {where}"
        )
    elif key == "TELEGRAM_WEBHOOK_SECRET":
        print(
            f"Next, now: tell Telegram (updates refused meanwhile are redelivered):\n  python -m ttfd --secret"
            f" ttfd/{args.stage}/* {'--env-file FILE ' if True else ''}telegram set-webhook --url https://…/telegram/webhook"
        )
    else:
        print(f"The functions use it within {ttl} s (their next invocation after that); no deploy needed.")
    return 0


def in_transaction(work: Callable[[db.Conn], int]) -> int:
    """Run an operator command in one transaction; a refusal is printed (exit 2) and changes nothing."""
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

    return in_transaction(work)


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

    return in_transaction(work)


def cmd_shop_refund(args: argparse.Namespace) -> int:
    from ttfd.core.ledger import utc_now
    from ttfd.features.shop import service

    def work(conn: db.Conn) -> int:
        r = service.refund(conn, args.purchase, by=None, guild_id=None, platform="operator", now=utc_now())
        print(f"refunded purchase {r.purchase_id}: {r.total} coins to account {r.user_id}")
        return 0

    return in_transaction(work)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ttfd", description="TTFD operator tools")
    p.add_argument("--env-file", metavar="FILE", help="read settings from a dotenv file (over the environment)")
    p.add_argument(
        "--secret",
        metavar="ID[,ID...]",
        help="read settings from the deployed Secrets Manager secrets (names or ARNs; ttfd/<stage>/* = all)",
    )
    p.add_argument("--region", dest="aws_region", metavar="R", help="the AWS region (else AWS_REGION, the profile)")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply sql/NNNN_*.sql migrations").set_defaults(fn=cmd_migrate)
    from ttfd.features.health import cli as health  # `status`: the health report, here or of a deployment

    health.register(sub)
    from ttfd.features.vpn import cli as vpn  # `vpn plan …`: the VPN store's plans

    vpn.register(sub, in_transaction)
    dc = sub.add_parser("discord", help="Discord tools").add_subparsers(dest="action", required=True)
    reg = dc.add_parser("register", help="bulk-PUT slash commands if they differ from Discord's")
    reg.add_argument("--guild", help="register in one guild (instant) instead of globally")
    reg.set_defaults(fn=cmd_discord_register)
    inv = dc.add_parser("invite", help="print the URL that adds the bot to a server, with the permissions it needs")
    inv.add_argument("--guild", help="preselect this server")
    inv.set_defaults(fn=cmd_discord_invite)
    tg = sub.add_parser("telegram", help="Telegram tools").add_subparsers(dest="action", required=True)
    wh = tg.add_parser("set-webhook", help="point the bot at our webhook with the secret token")
    wh.add_argument("--url", required=True)
    wh.add_argument("--drop-pending", action="store_true")
    wh.add_argument(
        "--max-connections",
        type=int,
        default=max_connections_default(),
        help="updates Telegram sends at once (default: the webhook function's reserved concurrency)",
    )
    wh.set_defaults(fn=cmd_telegram_set_webhook)
    dep = sub.add_parser("deploy", help="deploy helpers").add_subparsers(dest="cloud", required=True)
    gcp = dep.add_parser("gcp", help="gcloud commands for Cloud Run functions and Cloud Scheduler")
    gcp.add_argument("--print", action="store_true", required=True, help="print deploy/gcp.sh (it is never run)")
    gcp.add_argument("--project", help="default PROJECT in the script (else it must be set when run)")
    gcp.add_argument("--region", help="default REGION in the script (else europe-west1)")
    gcp.add_argument("--scheduler-account", help="service account Cloud Scheduler signs as (else one is created)")
    gcp.set_defaults(fn=cmd_deploy_gcp)
    aws = dep.add_parser("aws", help="AWS helpers (the deploy itself is `npx osls deploy`)")
    aws.add_argument("--config-template", action="store_true", help="print the settings as JSON")
    aws.set_defaults(fn=cmd_deploy_aws)
    aws_sub = aws.add_subparsers(dest="aws_action")
    create = aws_sub.add_parser("create-secret", help="create or update each group's secret (values never printed)")
    create.add_argument("--stage", required=True)
    create.add_argument("--region", help="the AWS region (else --region before the command, AWS_REGION)")
    create.add_argument("--from-env-file", metavar="FILE", help="the settings to store (default: the environment)")
    create.add_argument("--force", action="store_true", help="rotate EDGE_SECRET/SESSION_SECRET mid-rotation")
    create.set_defaults(fn=cmd_deploy_aws_create_secret)
    put = aws_sub.add_parser("put-setting", help="change one setting in its secret (value on stdin)")
    put.add_argument("name", metavar="NAME")
    put.add_argument("value", nargs="?", help="'' clears it; a secret value belongs on stdin, not here")
    put.add_argument("--generate", action="store_true", help="store a new random key")
    put.add_argument("--stage", required=True)
    put.add_argument("--region", help="the AWS region (else --region before the command, AWS_REGION)")
    put.add_argument(
        "--force", action="store_true", help="clear a needed setting, or rotate again before the overlap has ended"
    )
    put.set_defaults(fn=cmd_deploy_aws_put_setting)
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
    from ttfd.clients.http import HTTPError
    from ttfd.clients.secrets import SecretsError
    from ttfd.core.errors import ConfigError

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.fn is cmd_deploy_aws and not args.config_template:
        parser.error("deploy aws: choose create-secret, put-setting or --config-template")
    try:
        load_settings(args)
        rc: int = args.fn(args)
    except KeyboardInterrupt:
        return 130
    except (CLIError, ConfigError, SecretsError, HTTPError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (ValueError, OSError) as exc:  # input no command could use (UnicodeError is a ValueError): one line
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    return rc
