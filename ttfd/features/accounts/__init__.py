"""Accounts: link platforms with one-time codes (/link on Discord or Telegram, or on the website), merging
two accounts into one when both already exist."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ttfd.core.settings import bounded
from ttfd.features.accounts import service
from ttfd.registry import Feature
from ttfd.ui.commands import Command, Ctx, Kind, Option, Options
from ttfd.ui.reply import Reply, say
from ttfd.ui.text import code, command, plain
from ttfd.web import Problem, Route, WebCtx, WebResponse, json_body, json_response


@dataclass(frozen=True)
class AccountSettings:
    ENV_PREFIX: ClassVar[str] = "LINK_"
    code_ttl_s: int = bounded(600, 60, 86400)


PLATFORM_NAMES = {"discord": "Discord", "telegram": "Telegram", "website": "website"}


def _count(n: int, thing: str) -> str:
    return f"{n:,} {thing}{'' if n == 1 else 's'}"


def taken_back(merged: service.Merged) -> str:
    """One sentence on what the merge took back because both accounts had been paid for it ("" if nothing)."""
    what = []
    if merged.duplicate_dailies:
        days = "a day" if merged.duplicate_dailies == 1 else "days"
        what.append(f"{_count(merged.duplicate_dailies, 'daily claim')} for {days} both accounts had claimed")
    if merged.season_rewards_taken:
        what.append(f"{_count(merged.season_rewards_taken, 'season reward')} both accounts had been paid")
    if merged.achievements_taken:
        what.append(f"{_count(merged.achievements_taken, 'achievement reward')} both accounts had earned")
    if not what:
        return ""
    amounts = [f"{n:,} {unit}" for n, unit in ((merged.coins_taken, "coins"), (merged.xp_taken, "XP")) if n]
    count = merged.duplicate_dailies + merged.season_rewards_taken + merged.achievements_taken
    verb = "was" if count == 1 else "were"
    took = " and ".join(amounts) if amounts else "nothing was left to take"
    return f"One person is paid once, so {' and '.join(what)} {verb} taken back ({took})."


def linked_message(result: service.LinkResult) -> Reply:
    """The same words wherever the code was redeemed."""
    where = PLATFORM_NAMES[result.platform]
    if result.merged:
        note = taken_back(result.taken) if result.taken else ""
        merged = "✅ Linked! Your two accounts were merged: XP, coins and stats were combined."
        return say(merged, f"\n↩️ {note}" if note else None, private=True)
    return say(f"✅ Linked! Your {where} account now shares one TTFD profile.", private=True)


def link(ctx: Ctx, opts: Options) -> Reply:
    ttl = ctx.settings.section(AccountSettings).code_ttl_s
    given = opts.get("code")
    if not given:
        made = service.create_link_code(ctx.conn, ctx.user.id, ctx.platform, ttl)
        other = "Telegram bot" if ctx.platform == "discord" else "Discord server"
        return say(
            "🔗 Your link code: ",
            code(made.code),
            "\nSend ",
            command(f"/link {made.code}"),
            f" to the TTFD {other}, or enter it on the website's Link page, within {ttl // 60} minutes. It works once.",
            private=True,
        )
    caller = ctx.caller
    result = service.redeem_link_code(
        ctx.conn, given, ctx.platform, caller.id, ctx.features.merge_hooks, caller.username, caller.display_name
    )
    return linked_message(result)


def _new_code(ctx: WebCtx) -> WebResponse:
    ttl = ctx.settings.section(AccountSettings).code_ttl_s
    made = service.create_link_code(ctx.conn, ctx.user_id, "website", ttl)
    return json_response({"code": made.code, "expires_at": made.expires_at.isoformat(), "ttl_s": ttl}, status=201)


def _redeem(ctx: WebCtx) -> WebResponse:
    body = json_body(ctx.request)
    given = body.get("code") if isinstance(body, dict) and set(body) == {"code"} else None
    if not isinstance(given, str) or not 4 <= len(given.strip()) <= 32:
        raise Problem(400, 'Send {"code": "<the code /link gave you>"}.')
    result = service.redeem_on_site(ctx.conn, given, ctx.user_id, ctx.registry.merge_hooks)
    return json_response({"merged": result.merged, "message": plain(linked_message(result).body)}, status=200)


FEATURE = Feature(
    name="accounts",
    summary=__doc__ or "",
    commands=(
        Command(
            "link",
            "Connect your Telegram, Discord and website accounts",
            link,
            (Option("code", Kind.STRING, "A code from /link on another platform", max_length=40),),
            chats=("private",),
        ),
    ),
    routes=(
        Route("api_link_code", "/api/link-code", {"POST": _new_code}, rate_limited=True, summary="a one-time code"),
        Route("api_link_redeem", "/api/link-redeem", {"POST": _redeem}, rate_limited=True, summary="redeem a code"),
    ),
    merge=service.merge_rows,
    purges={"link_codes": service.purge_expired_codes},
    settings=AccountSettings,
)
