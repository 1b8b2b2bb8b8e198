"""`api_me`, `api_profile`, `api_leaderboard`, `api_link_code`: the website's JSON functions."""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from flask import Request, Response
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, ValidationError

from functions.http import bad_input_reason, json_response
from functions.site import views, web
from functions.site.web import Ctx, Problem, endpoint
from ttfd import accounts, economy, profiles
from ttfd.core import inputs

URL_MAX = 500
BIO_MAX = 500
_UNSAFE_URL_CHARS = re.compile(r"[\s\"'<>\\`]")


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
    if _UNSAFE_URL_CHARS.search(value) or any(unicodedata.category(ch) == "Cc" for ch in value):
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


class MePatch(BaseModel):
    """Editable settings; only the fields sent are changed."""

    model_config = ConfigDict(extra="forbid")

    theme: Literal["dark", "light"] = "dark"
    primary_color: Annotated[str, Field(pattern=r"^#[0-9a-fA-F]{6}$")] = "#5865f2"
    background_image: Annotated[str | None, BeforeValidator(_https_url)] = None
    music_url: Annotated[str | None, BeforeValidator(_https_url)] = None
    bio: Annotated[str | None, BeforeValidator(_bio)] = None
    show_email: StrictBool = False
    show_stats: StrictBool = True
    notifications: StrictBool = True


# --- /api/me ---------------------------------------------------------------------------------------


def _get_me(ctx: Ctx) -> Response:
    return json_response(views.profile_json(ctx.conn, ctx.user_id, owner=True))


def _patch_me(ctx: Ctx) -> Response:
    body = web.json_body(ctx.request)
    if not isinstance(body, dict) or not body:
        raise Problem(400, "Send an object with at least one setting to change.")
    try:
        patch = MePatch.model_validate(body)
    except ValidationError as exc:
        raise Problem(400, f"Invalid setting: {bad_input_reason(exc)}") from exc
    changes = {k: getattr(patch, k) for k in patch.model_fields_set}
    if "primary_color" in changes:
        changes["primary_color"] = changes["primary_color"].lower()
    profiles.update_settings(ctx.conn, ctx.user_id, changes)
    return _get_me(ctx)


def api_me(request: Request) -> Response:
    """GET the logged-in account; PATCH its settings and customisation."""
    return endpoint(request, {"GET": _get_me, "PATCH": _patch_me})


# --- /api/profile/<ref>[/card.png] -----------------------------------------------------------------


# Served alone at / or mounted under /api/profile: exactly <ref> or <ref>/card.png after that.
_PROFILE_PATH = re.compile(r"(?:/api/profile)?/(?P<ref>[^/]{1,64})(?P<card>/card\.png)?/?")


def _profile_id(ctx: Ctx) -> int:
    """Which account the path names (the profile itself is then read once, by the view)."""
    match = _PROFILE_PATH.fullmatch(ctx.request.path)
    if match and inputs.text_problem(match["ref"]):
        raise Problem(400, "That is not a player id or username.")
    user_id = accounts.id_by_ref(ctx.conn, match["ref"]) if match else None
    if user_id is None:
        raise Problem(404, "No such player. Profiles are at /api/profile/<id or username>.")
    return user_id


def _get_profile(ctx: Ctx) -> Response:
    user_id = _profile_id(ctx)
    owner = ctx.session is not None and ctx.session.user_id == user_id
    resp = json_response(views.profile_json(ctx.conn, user_id, owner=owner))
    resp.headers["Cache-Control"] = "private, max-age=15"
    return resp


def _get_card(ctx: Ctx) -> Response:
    data, version = views.card_data(ctx.conn, _profile_id(ctx))
    etag = f'"{version}"'
    cache = {"Cache-Control": "public, max-age=300", "ETag": etag}
    if ctx.request.headers.get("If-None-Match") == etag:
        return Response(status=304, headers=cache)
    return Response(views.card_png(data), mimetype="image/png", headers=cache)


def api_profile(request: Request) -> Response:
    """GET a public profile (privacy settings honoured) or its PNG rank card (the same for everyone)."""
    match = _PROFILE_PATH.fullmatch(request.path)
    if match and match["card"]:
        return endpoint(request, {"GET": _get_card}, public=True)
    return endpoint(request, {"GET": _get_profile})


# --- /api/leaderboard ------------------------------------------------------------------------------

PAGE_SIZE = 10
MAX_PAGE = 100_000


def _get_board(ctx: Ctx) -> Response:
    board = ctx.request.args.get("board", "xp")
    if board not in economy.BOARDS:
        raise Problem(400, "board must be one of xp, week, coins.")
    raw_page = ctx.request.args.get("page", "1")
    if not re.fullmatch(r"[0-9]{1,6}", raw_page) or not 1 <= int(raw_page) <= MAX_PAGE:
        raise Problem(400, f"page must be a whole number from 1 to {MAX_PAGE}.")
    viewer = ctx.session.user_id if ctx.session else None
    bp = economy.board_page(ctx.conn, board, int(raw_page) - 1, viewer, PAGE_SIZE)
    resp = json_response(
        {
            "board": bp.board,
            "page": bp.page + 1,
            "pages": bp.pages,
            "page_size": PAGE_SIZE,
            "total": bp.total,
            "entries": [
                {
                    "position": e.position,
                    "user_id": e.user_id if e.public else None,
                    "name": e.name if e.public else "Hidden player",
                    "value": e.value,
                }
                for e in bp.entries
            ],
            "mine": {"position": bp.mine[0], "value": bp.mine[1]} if bp.mine else None,
        }
    )
    resp.headers["Cache-Control"] = "private, max-age=15"
    return resp


def api_leaderboard(request: Request) -> Response:
    """GET one page of the XP, weekly or coins board (and the viewer's place when logged in)."""
    return endpoint(request, {"GET": _get_board})


# --- /api/link-code --------------------------------------------------------------------------------


def _new_link_code(ctx: Ctx) -> Response:
    ttl = ctx.settings.link_code_ttl_s
    code = accounts.create_link_code(ctx.conn, ctx.user_id, "website", ttl)
    return json_response({"code": code.code, "expires_at": code.expires_at.isoformat(), "ttl_s": ttl}, status=201)


def api_link_code(request: Request) -> Response:
    """POST: a one-time code to type as /link CODE on Discord or Telegram."""
    return endpoint(request, {"POST": _new_link_code}, rate_limited=True)
