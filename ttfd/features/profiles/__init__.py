"""Profiles: /profile and /rank on both platforms, /card (the rank card image, drawn in a job), and the
website's profile, settings and customisation. Privacy: whoever hides their stats is shown to others as
"Hidden player" everywhere; their own view stays complete. Everything is said in the reader's language; the
card is drawn in it too (its words from this feature's catalog, names in the bundled font: rank_card.py)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from ttfd.core import inputs, users
from ttfd.core.errors import NotFound
from ttfd.core.i18n import LOCALES, N_, Msg, _, negotiate, said_json
from ttfd.features.profiles import service, views
from ttfd.registry import Feature
from ttfd.ui.commands import Command, Ctx, Kind, Option, Options, PlatformUser
from ttfd.ui.profile import ProfilePart
from ttfd.ui.reply import Attachment, Field, Reply
from ttfd.ui.text import Part, bold, lines, progress_bar
from ttfd.web import Problem, Route, WebCtx, WebResponse, json_body, json_response

PLATFORM_ICONS: dict[str, str] = {"discord": "🎮 Discord", "telegram": "✈️ Telegram", "website": _("🌐 Website")}
USER_OPTION = Option("user", Kind.USER, _("Whose profile (default: yours)"))
HIDDEN = _("Hidden player")  # how others see someone who hides their stats (users.HIDDEN, said)
PRIVATE = _("🔒 This player keeps their stats private.")


def target(ctx: Ctx, opts: Options) -> users.User:
    """The account a `user` option names (yourself when it is absent or you)."""
    other: PlatformUser | None = opts.get("user")
    if other is None or (other.platform == ctx.caller.platform and other.id == ctx.caller.id):
        return ctx.user
    found = users.find_user(ctx.conn, other.platform, other.id)
    if found is None:
        raise NotFound(_("{name} has no TTFD profile yet.", name=bold(other.name)))
    return found


def private_reply(ctx: Ctx, who: users.User) -> Reply | None:
    """What others see of someone who hides their stats (None: show them)."""
    return None if who.show_stats or who.id == ctx.user.id else Reply(title=HIDDEN, body=(PRIVATE,))


def _xp_bar(level: int, into: int, need: int, progress: float) -> Msg:
    return _("{bar} {into}/{need} XP to level {level}", bar=progress_bar(progress), into=into, need=need, level=level)


def _linked(platforms: list[str]) -> tuple[Part, ...]:
    out: list[Part] = []
    for p in platforms:
        out.extend((" · ", PLATFORM_ICONS[p]) if out else (PLATFORM_ICONS[p],))
    return tuple(out)


def profile(ctx: Ctx, opts: Options) -> Reply:
    who = target(ctx, opts)
    if hidden := private_reply(ctx, who):
        return hidden
    hooks = ctx.features.profile_fields  # what other features add: as ProfileParts, read in the same statement
    v = service.profile_view(ctx.conn, who, [h for h in hooks if isinstance(h, ProfilePart)])
    lv = v.level
    if v.next_rank is None:
        to_next = _("Max rank")
    else:
        to_next = _("{xp} XP to {rank}", xp=v.next_rank.min_xp - who.xp, rank=v.next_rank.code)
    if v.xp_position is None:
        xp = _("{xp} XP (not on the leaderboard yet)", xp=who.xp)
    else:
        xp = _("{xp} XP (#{position})", xp=who.xp, position=v.xp_position)
    return Reply(
        title=_("{name} — rank {rank}", name=who.name, rank=v.rank.code),
        fields=(
            Field(
                _("Level"),
                (bold(lv.level), " ", _xp_bar(lv.level + 1, lv.xp_into_level, lv.xp_for_next, lv.progress)),
                False,
            ),
            Field(_("XP"), (xp,)),
            Field(_("Coins"), (N_("{n} coin", "{n} coins", who.coins),)),
            Field(_("Daily streak"), (N_("{n} day 🔥", "{n} days 🔥", who.daily_streak),)),
            Field(_("Games"), (_("{won} of {played} won", won=who.games_won, played=who.games_played),)),
            Field(_("This week"), (_("{xp} XP", xp=v.week_xp),)),
            Field(_("Next rank"), (to_next,)),
            Field(_("Linked"), _linked(v.linked), False),
            *v.parts,
            *(f for hook in hooks if not isinstance(hook, ProfilePart) for f in hook(ctx.conn, who.id)),
        ),
    )


def rank(ctx: Ctx, opts: Options) -> Reply:
    who = target(ctx, opts)
    if hidden := private_reply(ctx, who):
        return hidden
    v = service.profile_view(ctx.conn, who)
    lv = v.level
    name, code, level = bold(who.name), bold(v.rank.code), bold(lv.level)
    if v.xp_position is None:
        head = _("{name} · rank {rank} · level {level} · not on the leaderboard yet", name=name, rank=code, level=level)
    else:
        head = _(
            "{name} · rank {rank} · level {level} · #{position}",
            name=name,
            rank=code,
            level=level,
            position=v.xp_position,
        )
    return Reply(body=lines((head,), (_xp_bar(lv.level + 1, lv.xp_into_level, lv.xp_for_next, lv.progress),)))


def card(ctx: Ctx, opts: Options) -> Reply:
    """Runs in a job (deferred): drawing and uploading the PNG takes longer than an interaction may. The card
    is drawn in the asker's language (ctx.locale, which the job keeps)."""
    who = target(ctx, opts)
    data, _version = views.card_data(ctx.conn, who.id, viewer_id=ctx.user.id, locale=ctx.locale)
    rank_line = _("Rank {rank} · level {level}", rank=bold(data.rank_code), level=data.level)
    return Reply(
        title=_("🪪 {name} — rank card", name=data.name),
        body=(PRIVATE,) if data.hidden else (rank_line,),
        attachment=Attachment("card.png", views.card_png(data)),
    )


# --- website ---------------------------------------------------------------------------------------

URL_MAX = 500
BIO_MAX = 500
_UNSAFE_URL_CHARS = re.compile(r"[\s\"'<>\\`]")
_COLOR = re.compile(r"#[0-9a-fA-F]{6}")
MUST_BE_TEXT = _("must be a string")


def _https_url(raw: Any) -> str | None:
    """An https URL a page can put in CSS or an <audio> safely; empty clears the field."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if not isinstance(raw, str):
        raise ValueError(MUST_BE_TEXT)
    value = raw.strip()
    if len(value) > URL_MAX:
        raise ValueError(_("at most {max} characters", max=URL_MAX))
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError(_("must be an https:// URL"))
    if _UNSAFE_URL_CHARS.search(value):
        raise ValueError(_("must not contain spaces, quotes, backslashes or angle brackets (percent-encode them)"))
    if problem := inputs.text_problem(value):
        raise ValueError(problem)
    return value


def _bio(raw: Any) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise ValueError(MUST_BE_TEXT)
    value = raw.strip()
    if len(value) > BIO_MAX:
        raise ValueError(_("at most {max} characters", max=BIO_MAX))
    if problem := inputs.text_problem(value, multiline=True):
        raise ValueError(problem)
    return value or None


def _choice(*allowed: str) -> Callable[[Any], str]:
    def check(raw: Any) -> str:
        if raw not in allowed:
            raise ValueError(_("must be one of {choices}", choices=", ".join(allowed)))
        return str(raw)

    return check


def _color(raw: Any) -> str:
    if not isinstance(raw, str) or not _COLOR.fullmatch(raw):
        raise ValueError(_("must be a colour like {example}", example="#5865f2"))
    return raw.lower()


def _flag(raw: Any) -> bool:
    if type(raw) is not bool:
        raise ValueError(_("must be true or false"))
    return raw


def _language(raw: Any) -> str | None:
    return None if raw is None else _choice(*LOCALES)(raw)


SETTINGS: dict[str, Callable[[Any], Any]] = {
    "theme": _choice("dark", "light"),
    "primary_color": _color,
    "background_image": _https_url,
    "music_url": _https_url,
    "bio": _bio,
    "show_stats": _flag,
    "notifications": _flag,
    "language": _language,  # the site's and the bots' language for this person (null: their platform's)
}


def validate_settings(body: Any) -> dict[str, Any]:
    """Only the settings sent, each checked; anything unknown or invalid is a 400 naming the field."""
    if not isinstance(body, dict) or not body:
        raise Problem(400, _("Send an object with at least one setting to change."))
    changes = {}
    for name, raw in body.items():
        check = SETTINGS.get(name)
        if check is None:
            reason = _("not a setting you can change")
            raise Problem(400, _("Invalid setting: {name}: {reason}", name=str(name)[:40], reason=reason))
        try:
            changes[name] = check(raw)
        except ValueError as exc:
            raise Problem(400, _("Invalid setting: {name}: {reason}", name=name, reason=exc.args[0])) from exc
    return changes


def _get_me(ctx: WebCtx) -> WebResponse:
    body = views.profile_json(ctx.conn, ctx.user_id, owner=True, registry=ctx.registry)
    return json_response(said_json(body, ctx.locale))


def _patch_me(ctx: WebCtx) -> WebResponse:
    service.update_settings(ctx.conn, ctx.user_id, validate_settings(json_body(ctx.request)))
    return _get_me(ctx)


# Served alone at / or mounted under /api/profile: exactly <ref> or <ref>/card.png after that.
_PROFILE_PATH = re.compile(r"(?:/api/profile)?/(?P<ref>[^/]{1,64})(?P<card>/card\.png)?/?")


def _profile_id(ctx: WebCtx) -> int:
    """Which account the path names (the profile itself is then read once, by the view)."""
    match = _PROFILE_PATH.fullmatch(ctx.request.path)
    if match and inputs.text_problem(match["ref"]):
        raise Problem(400, _("That is not a player id or username."))
    user_id = users.id_by_ref(ctx.conn, match["ref"]) if match else None
    if user_id is None:
        raise Problem(404, _("No such player. Profiles are at {path}.", path="/api/profile/<id or username>"))
    return user_id


def _get_profile(ctx: WebCtx) -> WebResponse:
    if (m := _PROFILE_PATH.fullmatch(ctx.request.path)) and m["card"]:
        return _get_card(ctx)
    user_id = _profile_id(ctx)
    owner = ctx.session is not None and ctx.session.user_id == user_id
    body = said_json(views.profile_json(ctx.conn, user_id, owner=owner, registry=ctx.registry), ctx.locale)
    return json_response(body, headers={"Cache-Control": "private, max-age=15"})


def _get_card(ctx: WebCtx) -> WebResponse:
    """The card in the language `?lang=` asks for (the site's), else the deployment's: a public image a CDN keeps
    per URL, so the language is in the URL, never taken from a header."""
    locale = negotiate(ctx.request.query.get("lang"), default=ctx.settings.default_locale)
    data, version = views.card_data(ctx.conn, _profile_id(ctx), locale=locale)
    etag = f'"{version}-{locale}"'
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
        Command("profile", _("Show a TTFD profile"), profile, (USER_OPTION,), writes=False),
        Command("rank", _("Show rank, level and leaderboard position"), rank, (USER_OPTION,), writes=False),
        Command("card", _("Your rank card as an image (or someone else's)"), card, (USER_OPTION,), defer=True),
    ),
    routes=(
        Route("api_me", "/api/me", {"GET": _get_me, "PATCH": _patch_me}, summary="your profile and settings"),
        Route("api_profile", "/api/profile/<ref>", {"GET": _get_profile}, public_if=is_card, summary="a profile"),
    ),
)
