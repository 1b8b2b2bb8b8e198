"""Profiles: /profile and /rank on both platforms, /card (the rank card image, drawn in a job), and the
website's profile, settings and customisation. Privacy: whoever hides their stats is shown to others as
"Hidden player" everywhere; their own view stays complete."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from ttfd.core import inputs, users
from ttfd.core.errors import NotFound
from ttfd.features.profiles import service, views
from ttfd.registry import Feature
from ttfd.ui.commands import Command, Ctx, Kind, Option, Options, PlatformUser
from ttfd.ui.reply import Attachment, Field, Reply
from ttfd.ui.text import bold, lines, number, progress_bar
from ttfd.web import Problem, Route, WebCtx, WebResponse, json_body, json_response

PLATFORM_ICONS = {"discord": "🎮 Discord", "telegram": "✈️ Telegram", "website": "🌐 Website"}
USER_OPTION = Option("user", Kind.USER, "Whose profile (default: yours)")
PRIVATE = "🔒 This player keeps their stats private."


def target(ctx: Ctx, opts: Options) -> users.User:
    """The account a `user` option names (yourself when it is absent or you)."""
    other: PlatformUser | None = opts.get("user")
    if other is None or (other.platform == ctx.caller.platform and other.id == ctx.caller.id):
        return ctx.user
    found = users.find_user(ctx.conn, other.platform, other.id)
    if found is None:
        raise NotFound(f"{other.name} has no TTFD profile yet.")
    return found


def private_reply(ctx: Ctx, who: users.User) -> Reply | None:
    """What others see of someone who hides their stats (None: show them)."""
    return None if who.show_stats or who.id == ctx.user.id else Reply(title=users.HIDDEN, body=(PRIVATE,))


def profile(ctx: Ctx, opts: Options) -> Reply:
    who = target(ctx, opts)
    if hidden := private_reply(ctx, who):
        return hidden
    v = service.profile_view(ctx.conn, who)
    lv = v.level
    to_next = f"{number(v.next_rank.min_xp - who.xp)} XP to {v.next_rank.code}" if v.next_rank else "max rank"
    return Reply(
        title=f"{who.name} — rank {v.rank.code}",
        fields=(
            Field(
                "Level", (bold(lv.level), f" {progress_bar(lv.progress)} {lv.xp_into_level}/{lv.xp_for_next}"), False
            ),
            Field("XP", (f"{number(who.xp)} (#{v.xp_position or '—'})",)),
            Field("Coins", (number(who.coins),)),
            Field("Daily streak", (f"{who.daily_streak} 🔥",)),
            Field("Games", (f"{who.games_won}/{who.games_played} won",)),
            Field("This week", (f"{number(v.week_xp)} XP",)),
            Field("Next rank", (to_next,)),
            Field("Linked", (" · ".join(PLATFORM_ICONS[p] for p in v.linked),), False),
            *(f for hook in ctx.features.profile_fields for f in hook(ctx.conn, who.id)),
        ),
    )


def rank(ctx: Ctx, opts: Options) -> Reply:
    who = target(ctx, opts)
    if hidden := private_reply(ctx, who):
        return hidden
    v = service.profile_view(ctx.conn, who)
    lv = v.level
    return Reply(
        body=lines(
            (bold(who.name), " · rank ", bold(v.rank.code), " · level ", bold(lv.level), f" · #{v.xp_position or '—'}"),
            f"{progress_bar(lv.progress)} {lv.xp_into_level}/{lv.xp_for_next} XP to level {lv.level + 1}",
        )
    )


def card(ctx: Ctx, opts: Options) -> Reply:
    """Runs in a job (deferred): drawing and uploading the PNG takes longer than an interaction may."""
    who = target(ctx, opts)
    data, _ = views.card_data(ctx.conn, who.id, viewer_id=ctx.user.id)
    return Reply(
        title=f"🪪 {data.name} — rank card",
        body=("Rank ", bold(data.rank_code), f" · level {data.level}") if not data.hidden else (PRIVATE,),
        attachment=Attachment("card.png", views.card_png(data)),
    )


# --- website ---------------------------------------------------------------------------------------

URL_MAX = 500
BIO_MAX = 500
_UNSAFE_URL_CHARS = re.compile(r"[\s\"'<>\\`]")
_COLOR = re.compile(r"#[0-9a-fA-F]{6}")


def _https_url(raw: Any) -> str | None:
    """An https URL a page can put in CSS or an <audio> safely; empty clears the field."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if not isinstance(raw, str):
        raise ValueError("must be a string")
    value = raw.strip()
    if len(value) > URL_MAX:
        raise ValueError(f"at most {URL_MAX} characters")
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError("must be an https:// URL")
    if _UNSAFE_URL_CHARS.search(value):
        raise ValueError("must not contain spaces, quotes, backslashes or angle brackets (percent-encode them)")
    if problem := inputs.text_problem(value):
        raise ValueError(problem)
    return value


def _bio(raw: Any) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise ValueError("must be a string")
    value = raw.strip()
    if len(value) > BIO_MAX:
        raise ValueError(f"at most {BIO_MAX} characters")
    if problem := inputs.text_problem(value, multiline=True):
        raise ValueError(problem)
    return value or None


def _choice(*allowed: str) -> Callable[[Any], str]:
    def check(raw: Any) -> str:
        if raw not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return str(raw)

    return check


def _color(raw: Any) -> str:
    if not isinstance(raw, str) or not _COLOR.fullmatch(raw):
        raise ValueError("must be a colour like #5865f2")
    return raw.lower()


def _flag(raw: Any) -> bool:
    if type(raw) is not bool:
        raise ValueError("must be true or false")
    return raw


SETTINGS: dict[str, Callable[[Any], Any]] = {
    "theme": _choice("dark", "light"),
    "primary_color": _color,
    "background_image": _https_url,
    "music_url": _https_url,
    "bio": _bio,
    "show_stats": _flag,
    "notifications": _flag,
}


def validate_settings(body: Any) -> dict[str, Any]:
    """Only the settings sent, each checked; anything unknown or invalid is a 400 naming the field."""
    if not isinstance(body, dict) or not body:
        raise Problem(400, "Send an object with at least one setting to change.")
    changes = {}
    for name, raw in body.items():
        check = SETTINGS.get(name)
        if check is None:
            raise Problem(400, f"Invalid setting: {str(name)[:40]}: not a setting you can change")
        try:
            changes[name] = check(raw)
        except ValueError as exc:
            raise Problem(400, f"Invalid setting: {name}: {exc}") from exc
    return changes


def _get_me(ctx: WebCtx) -> WebResponse:
    return json_response(views.profile_json(ctx.conn, ctx.user_id, owner=True, registry=ctx.registry))


def _patch_me(ctx: WebCtx) -> WebResponse:
    service.update_settings(ctx.conn, ctx.user_id, validate_settings(json_body(ctx.request)))
    return _get_me(ctx)


# Served alone at / or mounted under /api/profile: exactly <ref> or <ref>/card.png after that.
_PROFILE_PATH = re.compile(r"(?:/api/profile)?/(?P<ref>[^/]{1,64})(?P<card>/card\.png)?/?")


def _profile_id(ctx: WebCtx) -> int:
    """Which account the path names (the profile itself is then read once, by the view)."""
    match = _PROFILE_PATH.fullmatch(ctx.request.path)
    if match and inputs.text_problem(match["ref"]):
        raise Problem(400, "That is not a player id or username.")
    user_id = users.id_by_ref(ctx.conn, match["ref"]) if match else None
    if user_id is None:
        raise Problem(404, "No such player. Profiles are at /api/profile/<id or username>.")
    return user_id


def _get_profile(ctx: WebCtx) -> WebResponse:
    if (m := _PROFILE_PATH.fullmatch(ctx.request.path)) and m["card"]:
        return _get_card(ctx)
    user_id = _profile_id(ctx)
    owner = ctx.session is not None and ctx.session.user_id == user_id
    body = views.profile_json(ctx.conn, user_id, owner=owner, registry=ctx.registry)
    return json_response(body, headers={"Cache-Control": "private, max-age=15"})


def _get_card(ctx: WebCtx) -> WebResponse:
    data, version = views.card_data(ctx.conn, _profile_id(ctx))
    etag = f'"{version}"'
    cache = {"Cache-Control": "public, max-age=300", "ETag": etag}
    if ctx.request.header("if-none-match") == etag:
        return WebResponse(304, b"", "image/png", cache)
    return WebResponse(200, views.card_png(data), "image/png", cache)


def is_card(path: str) -> bool:
    """The rank card is a public response (a CDN may cache it): no session is read for it."""
    m = _PROFILE_PATH.fullmatch(path)
    return bool(m and m["card"])


FEATURE = Feature(
    name="profiles",
    summary=__doc__ or "",
    commands=(
        Command("profile", "Show a TTFD profile", profile, (USER_OPTION,), writes=False),
        Command("rank", "Show rank, level and leaderboard position", rank, (USER_OPTION,), writes=False),
        Command("card", "Your rank card as an image (or someone else's)", card, (USER_OPTION,), defer=True),
    ),
    routes=(
        Route("api_me", "/api/me", {"GET": _get_me, "PATCH": _patch_me}, summary="your profile and settings"),
        Route("api_profile", "/api/profile/<ref>", {"GET": _get_profile}, public_if=is_card, summary="a profile"),
    ),
)
