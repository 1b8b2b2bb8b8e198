"""`auth_discord_login`, `auth_discord_callback`, `auth_logout`, `auth_telegram`: website logins."""

from __future__ import annotations

import logging
import re
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from flask import Request, Response
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from functions.http import bad_input_reason, json_response
from functions.site import views, web
from functions.site.web import Ctx, Problem, endpoint
from ttfd import accounts, guilds, sessions, telegram_login
from ttfd.clients import discord_oauth
from ttfd.clients.http import HTTPError
from ttfd.core import db, idempotency, inputs
from ttfd.core.settings import Settings, get_settings

log = logging.getLogger(__name__)
SCOPES = "identify guilds"
_STATE = re.compile(r"[A-Za-z0-9_-]{20,100}")  # ours: secrets.token_urlsafe
_CODE = re.compile(r"[\x21-\x7e]{1,200}")  # Discord's: printable ASCII


def _callback_url(settings: Settings) -> str:
    return f"{settings.site_url.rstrip('/')}/auth/discord/callback"


def _browser_guard(request: Request, settings: Settings) -> Response | None:
    """Login pages are top-level navigations: refusals are small HTML pages (GET only, rate-limited)."""
    if request.method != "GET":  # HEAD too: these GETs write (a state, a session)
        return web.method_not_allowed("GET")
    try:
        web.rate_limit(request, settings)
    except Problem as p:
        page = web.html_page(429, "Slow down", p.title)
        page.headers.update(p.headers)
        return page
    return None


def auth_discord_login(request: Request) -> Response:
    """Redirect to Discord's authorize page with a one-time state bound to this browser by a cookie."""
    settings = get_settings()
    try:
        if refused := _browser_guard(request, settings):
            return refused
        next_path = web.safe_next(request.args.get("next"))
        start = db.run(lambda conn: sessions.begin_login(conn, next_path), timeout_s=web.TIMEOUT_S)
    except db.Unavailable:
        return _busy()
    params = {
        "response_type": "code",
        "client_id": settings.require("discord_client_id"),
        "scope": SCOPES,
        "state": start.state,
        "redirect_uri": _callback_url(settings),
        "prompt": "none",  # skip the consent screen for people who already authorized us
    }
    resp = web.redirect_to(f"{settings.discord_authorize_url}?{urlencode(params, quote_via=quote)}")
    web.set_cookie(resp, settings, web.OAUTH_COOKIE, start.browser_nonce, sessions.OAUTH_STATE_TTL_S)
    resp.headers["Cache-Control"] = "no-store"
    return resp


def auth_discord_callback(request: Request) -> Response:
    """Check the state, exchange the code, find or create the account, start a session, go on."""
    settings = get_settings()
    try:
        if refused := _browser_guard(request, settings):
            return refused
        return _callback(request, settings)
    except db.Unavailable:
        return _busy()
    except Exception:
        log.exception("discord login callback failed")
        return web.html_page(500, "Login failed", "Something went wrong on our side. Please try again in a moment.")


def _busy() -> Response:
    page = web.html_page(503, "We are very busy", "Nothing was changed. Please try again in a moment.")
    page.headers["Retry-After"] = "2"
    return page


def _callback(request: Request, settings: Settings) -> Response:
    state, code = request.args.get("state", ""), request.args.get("code", "")
    nonce = request.cookies.get(web.OAUTH_COOKIE)
    if request.args.get("error"):  # the person pressed Cancel on Discord: burn the state, back to login
        if _STATE.fullmatch(state):
            db.run(lambda conn: sessions.consume_state(conn, state, nonce), timeout_s=web.TIMEOUT_S)
        return _finish(web.redirect_to("/login?error=denied"), settings)
    if not state or not _CODE.fullmatch(code):
        return web.html_page(400, "Login failed", "The reply from Discord was incomplete. Please log in again.")
    # The state is claimed (used once) before any call to Discord: a replayed callback stops here. One we
    # could not have made (wrong alphabet or length) is refused without asking the database.
    next_path = None
    if _STATE.fullmatch(state):
        next_path = db.run(lambda conn: sessions.consume_state(conn, state, nonce), timeout_s=web.TIMEOUT_S)
    if next_path is None:
        return web.html_page(
            400,
            "Login link expired",
            "This login link has expired, was already used, or was started in another browser. Please log in again.",
        )
    try:
        oauth = discord_oauth.shared()
        identity = oauth.identify(oauth.exchange_code(code, _callback_url(settings)))
    except HTTPError as exc:
        log.warning("discord oauth failed: HTTP %s %s", exc.status, exc.message)
        if 400 <= exc.status < 500 and exc.status != 429:
            return web.html_page(400, "Login failed", "Discord did not accept this login. Please log in again.")
        return web.html_page(502, "Discord is not answering", "Please try again in a minute.")
    old_token = web.session_token(request, settings)
    user_agent = request.headers.get("User-Agent")

    def start_session(conn: db.Conn) -> sessions.Created:
        if old_token:  # a new login replaces whatever session this browser had (no session fixation)
            sessions.revoke_token(conn, old_token)
        user = accounts.ensure_user(conn, "discord", identity.id, identity.username, identity.global_name)
        guilds.touch_configured_guilds(conn, user.id, identity.guild_ids)
        return sessions.create(conn, user.id, web.policy(settings), user_agent)

    created = db.run(start_session, timeout_s=web.TIMEOUT_S)
    resp = web.redirect_to(next_path)
    web.set_session_cookies(resp, settings, created.token, created.session.csrf_token)
    return _finish(resp, settings)


def _finish(resp: Response, settings: Settings) -> Response:
    web.set_cookie(resp, settings, web.OAUTH_COOKIE, "", 0)
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _logout(ctx: Ctx) -> Response:
    assert ctx.session is not None  # endpoint() requires a session for POST
    sessions.revoke(ctx.conn, ctx.session.id)
    resp = Response(status=204)
    web.clear_session_cookies(resp, ctx.settings)
    return resp


def auth_logout(request: Request) -> Response:
    """POST: end this session and clear its cookies."""
    return endpoint(request, {"POST": _logout})


class TelegramLogin(BaseModel):
    """Login Widget fields; unknown fields are kept (strings or whole numbers), because the signature
    covers every field received."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, StrictStr | StrictInt]

    id: Annotated[StrictInt, Field(gt=0, le=inputs.INT64_MAX)]
    first_name: str = Field(max_length=256)
    last_name: str | None = Field(None, max_length=256)
    username: str | None = Field(None, max_length=64)
    photo_url: str | None = Field(None, max_length=1024)
    auth_date: StrictInt
    hash: str = Field(pattern=r"^[0-9a-f]{64}$")


def _link_telegram(ctx: Ctx) -> Response:
    raw = web.json_body(ctx.request)
    if not isinstance(raw, dict):
        raise Problem(400, "Send the Telegram Login Widget fields as a JSON object.")
    try:
        TelegramLogin.model_validate(raw)
    except ValidationError as exc:
        raise Problem(400, f"Invalid Telegram login data: {bad_input_reason(exc)}") from exc
    fields: dict[str, Any] = raw
    try:
        tg = telegram_login.verify(fields, ctx.settings.require("telegram_bot_token"))
    except telegram_login.InvalidLogin as exc:  # 400, not 401: the site's session is fine, the payload is not
        raise Problem(400, str(exc)) from exc
    # One signed login links once: a copied payload cannot be replayed into another account.
    if not idempotency.claim(ctx.conn, f"tglogin:{tg.hash}", ttl_s=2 * telegram_login.MAX_AGE_S).fresh:
        raise Problem(409, "This Telegram login was already used. Sign in with Telegram again.")
    result = accounts.link_identity(ctx.conn, ctx.user_id, "telegram", tg.id, tg.username, tg.display_name)
    me = views.profile_json(ctx.conn, result.user.id, owner=True)
    return json_response({"merged": result.merged_from is not None, "me": me})


def auth_telegram(request: Request) -> Response:
    """POST Login Widget data: link that Telegram account to the logged-in one (merging as /link does)."""
    return endpoint(request, {"POST": _link_telegram}, rate_limited=True)
