"""Accounts: link platforms with one-time codes (/link on Discord or Telegram, or on the website), merging
two accounts into one when both already exist."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ttfd.core.i18n import N_, Msg, _, listing, localize
from ttfd.core.settings import bounded
from ttfd.features.accounts import service
from ttfd.registry import Feature
from ttfd.ui.commands import Command, Ctx, Kind, Option, Options
from ttfd.ui.reply import Reply, say
from ttfd.ui.text import code, command, lines, plain, text
from ttfd.web import Problem, Route, WebCtx, WebResponse, json_body, json_response


@dataclass(frozen=True)
class AccountSettings:
    ENV_PREFIX: ClassVar[str] = "LINK_"
    code_ttl_s: int = bounded(600, 60, 86400)


# What linking said, by the platform whose identity joined.
LINKED: dict[str, Msg] = {
    "discord": _("✅ Linked! Your Discord account now shares one TTFD profile."),
    "telegram": _("✅ Linked! Your Telegram account now shares one TTFD profile."),
    "website": _("✅ Linked! Your website account now shares one TTFD profile."),
}
MERGED = _("✅ Linked! Your two accounts were merged: XP, coins and stats were combined.")


def taken_back(merged: service.Merged) -> Msg | None:
    """What the merge took back because both accounts had been paid for it (None: nothing), as one sentence:
    what was paid twice, then how much left the retired account."""
    what: list[Msg] = []
    if merged.duplicate_dailies:
        what.append(
            N_(
                "{n} daily claim for a day both accounts had claimed",
                "{n} daily claims for days both accounts had claimed",
                merged.duplicate_dailies,
            )
        )
    if merged.season_rewards_taken:
        what.append(
            N_(
                "{n} season reward both accounts had been paid",
                "{n} season rewards both accounts had been paid",
                merged.season_rewards_taken,
            )
        )
    if merged.achievements_taken:
        what.append(
            N_(
                "{n} achievement reward both accounts had earned",
                "{n} achievement rewards both accounts had earned",
                merged.achievements_taken,
            )
        )
    if not what:
        return None
    coins, xp = merged.coins_taken, merged.xp_taken
    if coins and xp:
        took = N_("{n} coin and {xp} XP", "{n} coins and {xp} XP", coins, xp=xp)
    elif coins:
        took = N_("{n} coin", "{n} coins", coins)
    elif xp:
        took = _("{xp} XP", xp=xp)
    else:
        took = _("nothing was left to take")
    items = listing(what, "; ")
    return _("One person is paid once, so this was taken back: {items} ({took}).", items=items, took=took)


def linked_message(result: service.LinkResult) -> Reply:
    """The same words wherever the code was redeemed."""
    if result.merged:
        note = taken_back(result.taken) if result.taken else None
        return say(lines(MERGED, text("↩️ ", note) if note else None), private=True)
    return say(LINKED[result.platform], private=True)


def link(ctx: Ctx, opts: Options) -> Reply:
    ttl = ctx.settings.section(AccountSettings).code_ttl_s
    given = opts.get("code")
    if not given:
        made = service.create_link_code(ctx.conn, ctx.user.id, ctx.platform, ttl)
        values = {"code": code(made.code), "command": command(f"/link {made.code}")}
        if ctx.platform == "discord":
            how = N_(
                "🔗 Your link code: {code}\nSend {command} to the TTFD Telegram bot, or enter it on the website's "
                "Link page, within {n} minute. It works once.",
                "🔗 Your link code: {code}\nSend {command} to the TTFD Telegram bot, or enter it on the website's "
                "Link page, within {n} minutes. It works once.",
                ttl // 60,
                **values,
            )
        else:
            how = N_(
                "🔗 Your link code: {code}\nSend {command} to the TTFD Discord server, or enter it on the website's "
                "Link page, within {n} minute. It works once.",
                "🔗 Your link code: {code}\nSend {command} to the TTFD Discord server, or enter it on the website's "
                "Link page, within {n} minutes. It works once.",
                ttl // 60,
                **values,
            )
        return say(how, private=True)
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
        raise Problem(400, _("Send the code /link gave you, as {body}.", body='{"code": "…"}'))
    result = service.redeem_on_site(ctx.conn, given, ctx.user_id, ctx.registry.merge_hooks)
    message = plain(localize(linked_message(result).body, ctx.locale))  # in the reader's language
    return json_response({"merged": result.merged, "message": message}, status=200)


FEATURE = Feature(
    name="accounts",
    summary=__doc__ or "",
    commands=(
        Command(
            "link",
            _("Connect your Telegram, Discord and website accounts"),
            link,
            (Option("code", Kind.STRING, _("A code from /link on another platform"), max_length=40),),
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
