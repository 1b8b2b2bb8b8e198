"""Website logins: Discord OAuth2 (one-time states bound to the browser) or Telegram's Login Widget (its
signed redirect, bound to the browser that started it), sessions, logout, and linking a Telegram account to
the one logged in."""

from __future__ import annotations

import hmac
import logging
import re
from typing import Any
from urllib.parse import quote, urlencode

from ttfd.core import db, idempotency, inputs, ratelimit, users
from ttfd.core.failures import report
from ttfd.core.i18n import _
from ttfd.core.settings import Settings, get_settings
from ttfd.features.accounts import service as accounts
from ttfd.features.auth import telegram_login
from ttfd.registry import Feature
from ttfd.web import (
    LANG_COOKIE,
    OAUTH_COOKIE,
    TIMEOUT_S,
    Catalog,
    Cookie,
    Problem,
    Route,
    WebCtx,
    WebRequest,
    WebResponse,
    cleared_session_cookies,
    failure_page,
    html_page,
    json_body,
    json_response,
    method_not_allowed,
    path_locale,
    policy,
    rate_limit,
    reader_locale,
    redirect_to,
    safe_next,
    session_cookies,
    session_token,
    sessions,
    site_path,
)

log = logging.getLogger(__name__)
SCOPES = "identify guilds"
_STATE = re.compile(r"[A-Za-z0-9_-]{20,100}")  # ours: secrets.token_urlsafe
_CODE = re.compile(r"[\x21-\x7e]{1,200}")  # Discord's: printable ASCII
LANG_COOKIE_S = 365 * 86400
# A Telegram login: the page that shows the widget puts a random nonce in this cookie and in the widget's
# return address (`login=`); the callback takes only a return carrying this browser's nonce (no login CSRF).
TG_LOGIN_COOKIE = "ttfd_tg_login"
_NONCE = re.compile(r"[A-Za-z0-9_-]{16,100}")
OUR_PARAMS = ("login", "next")  # on the widget's return address beside Telegram's (signed) fields
LOGIN_FAILED = _("Login failed")
LINK_EXPIRED = _("Login link expired")
TG_USED = _("This Telegram login was already used. Sign in with Telegram again.")
# From a website login's guild list, only guilds TTFD is set up in are worth remembering.
_TOUCH_CONFIGURED = """
INSERT INTO guild_members (guild_id, user_id)
SELECT g, %(user_id)s FROM unnest(%(guild_ids)s::bigint[]) AS g
WHERE EXISTS (SELECT 1 FROM guild_rank_roles r WHERE r.guild_id = g)
   OR EXISTS (SELECT 1 FROM guild_xp_channels c WHERE c.guild_id = g)
ON CONFLICT (guild_id, user_id) DO UPDATE SET last_seen = now()
"""


def _callback_url(settings: Settings) -> str:
    return f"{settings.site_url.rstrip('/')}/auth/discord/callback"


def _browser_guard(request: WebRequest, settings: Settings, locale: str) -> WebResponse | None:
    """Login pages are top-level navigations: refusals are small HTML pages (GET only, rate-limited)."""
    if request.method != "GET":  # HEAD too: these GETs write (a state, a session)
        return method_not_allowed("GET", locale=locale)
    try:
        rate_limit(request, settings)
    except Problem as p:
        page = html_page(429, _("Slow down"), p.title, locale)
        page.headers.update(p.headers)
        return page
    return None


def _finish(resp: WebResponse, cookie: str = OAUTH_COOKIE) -> WebResponse:
    resp.cookies.append(Cookie(cookie, "", 0))
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _logged_in(resp: WebResponse, settings: Settings, created: sessions.Created, user: users.User) -> WebResponse:
    """The new session's cookies; and the account's language, so the site shows it before its first call."""
    resp.cookies += session_cookies(settings, created.token, created.session.csrf_token)
    if user.language:
        resp.cookies.append(Cookie(LANG_COOKIE, user.language, LANG_COOKIE_S, httponly=False))
    return resp


def discord_login(request: WebRequest, registry: Catalog) -> WebResponse:
    """Redirect to Discord's authorize page with a one-time state bound to this browser by a cookie."""
    settings = get_settings()
    locale = reader_locale(request)
    try:
        if refused := _browser_guard(request, settings, locale):
            return refused
        next_path = safe_next(request.query.get("next"))
        start = db.run(lambda conn: sessions.begin_login(conn, next_path), timeout_s=TIMEOUT_S)
    except Exception as exc:  # busy (503, try again) or our fault (500): ttfd.core.failures decides
        return failure_page(report(log, exc, "discord login"), LOGIN_FAILED, locale)
    params = {
        "response_type": "code",
        "client_id": settings.require("discord_client_id"),
        "scope": SCOPES,
        "state": start.state,
        "redirect_uri": _callback_url(settings),
        "prompt": "none",  # skip the consent screen for people who already authorized us
    }
    resp = redirect_to(f"{settings.discord_authorize_url}?{urlencode(params, quote_via=quote)}")
    resp.cookies.append(Cookie(OAUTH_COOKIE, start.browser_nonce, sessions.OAUTH_STATE_TTL_S))
    resp.headers["Cache-Control"] = "no-store"
    return resp


def discord_callback(request: WebRequest, registry: Catalog) -> WebResponse:
    """Check the state, exchange the code, find or create the account, start a session, go on."""
    settings = get_settings()
    locale = reader_locale(request)
    try:
        if refused := _browser_guard(request, settings, locale):
            return refused
        return _callback(request, settings, locale)
    except Exception as exc:
        return failure_page(report(log, exc, "discord login callback"), LOGIN_FAILED, locale)


def _callback(request: WebRequest, settings: Settings, locale: str) -> WebResponse:
    from ttfd.clients import discord_oauth
    from ttfd.clients.http import HTTPError

    state, code = request.query.get("state", ""), request.query.get("code", "")
    nonce = request.cookies.get(OAUTH_COOKIE)
    if request.query.get("error"):  # the person pressed Cancel on Discord: burn the state, back to login
        back = None
        if _STATE.fullmatch(state):
            back = db.run(lambda conn: sessions.consume_state(conn, state, nonce), timeout_s=TIMEOUT_S)
        login = site_path("/login", path_locale(back) if back else locale)  # the language they came from
        return _finish(redirect_to(f"{login}?error=denied"))
    if not state or not _CODE.fullmatch(code):
        return html_page(400, LOGIN_FAILED, _("The reply from Discord was incomplete. Please log in again."), locale)
    # The state is claimed (used once) before any call to Discord: a replayed callback stops here. One we
    # could not have made (wrong alphabet or length) is refused without asking the database.
    next_path = None
    if _STATE.fullmatch(state):
        next_path = db.run(lambda conn: sessions.consume_state(conn, state, nonce), timeout_s=TIMEOUT_S)
    if next_path is None:
        return html_page(
            400,
            LINK_EXPIRED,
            _("This login link has expired, was already used, or was started in another browser. Please log in again."),
            locale,
        )
    try:
        oauth = discord_oauth.shared()
        identity = oauth.identify(oauth.exchange_code(code, _callback_url(settings)))
    except HTTPError as exc:
        log.warning("discord oauth failed: HTTP %s %s", exc.status, exc.message)
        if 400 <= exc.status < 500 and exc.status != 429:
            return html_page(400, LOGIN_FAILED, _("Discord did not accept this login. Please log in again."), locale)
        return html_page(502, _("Discord is not answering"), _("Please try again in a minute."), locale)
    old_token = session_token(request, settings)
    user_agent = request.header("user-agent")

    def start_session(conn: db.Conn) -> tuple[users.User, sessions.Created]:
        if old_token:  # a new login replaces whatever session this browser had (no session fixation)
            sessions.revoke_token(conn, old_token)
        user = users.ensure_user(conn, "discord", identity.id, identity.username, identity.global_name)
        if identity.guild_ids:
            conn.execute(_TOUCH_CONFIGURED, {"user_id": user.id, "guild_ids": identity.guild_ids})
        return user, sessions.create(conn, user.id, policy(settings), user_agent)

    user, created = db.run(start_session, timeout_s=TIMEOUT_S)
    return _finish(_logged_in(redirect_to(next_path), settings, created, user))


def telegram_callback(request: WebRequest, registry: Catalog) -> WebResponse:
    """The Login Widget's return (GET with Telegram's signed fields): check it was started in this browser,
    verify the signature and age, use it once, find or create the account, start a session, go on."""
    settings = get_settings()
    locale = reader_locale(request)
    try:
        if refused := _browser_guard(request, settings, locale):
            return refused
        return _finish(_telegram_login(request, settings, locale), TG_LOGIN_COOKIE)
    except Exception as exc:
        return failure_page(report(log, exc, "telegram login"), LOGIN_FAILED, locale)


def _widget_query(query: dict[str, str]) -> dict[str, Any]:
    """Telegram's fields from the return address (ours taken out); id and auth_date as numbers."""
    fields: dict[str, Any] = {k: v for k, v in query.items() if k not in OUR_PARAMS}
    for name in ("id", "auth_date"):
        value = fields.get(name)
        if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
            fields[name] = int(value)
    return fields


def _telegram_login(request: WebRequest, settings: Settings, locale: str) -> WebResponse:
    nonce, kept = request.query.get("login", ""), request.cookies.get(TG_LOGIN_COOKIE, "")
    if not _NONCE.fullmatch(nonce) or not hmac.compare_digest(nonce.encode(), kept.encode()):
        started_elsewhere = _("This Telegram login was started in another browser or has expired. Please log in again.")
        return html_page(400, LINK_EXPIRED, started_elsewhere, locale)
    try:
        tg = telegram_login.verify(
            check_widget(_widget_query(dict(request.query))), settings.require("telegram_bot_token")
        )
    except Problem as p:
        return html_page(400, LOGIN_FAILED, p.title, locale)
    except telegram_login.InvalidLogin as exc:
        return html_page(400, LOGIN_FAILED, exc.message, locale)
    next_path = safe_next(request.query.get("next"))
    old_token = session_token(request, settings)
    user_agent = request.header("user-agent")

    def start_session(conn: db.Conn) -> tuple[users.User, sessions.Created] | None:
        # One signed login is used once, for a login or a link: a copied return address cannot be replayed.
        if not idempotency.claim(conn, f"tglogin:{tg.hash}", ttl_s=2 * telegram_login.MAX_AGE_S).fresh:
            return None
        if old_token:  # a new login replaces whatever session this browser had (no session fixation)
            sessions.revoke_token(conn, old_token)
        user = users.ensure_user(conn, "telegram", tg.id, tg.username, tg.display_name)
        return user, sessions.create(conn, user.id, policy(settings), user_agent)

    started = db.run(start_session, timeout_s=TIMEOUT_S)
    if started is None:
        return html_page(409, LINK_EXPIRED, TG_USED, locale)
    user, created = started
    return _logged_in(redirect_to(next_path), settings, created, user)


def _logout(ctx: WebCtx) -> WebResponse:
    assert ctx.session is not None  # serve() requires a session for POST
    sessions.revoke(ctx.conn, ctx.session.id)
    return WebResponse(204, b"", "text/plain", {}, cleared_session_cookies())


_WIDGET_FIELDS = {"id", "first_name", "last_name", "username", "photo_url", "auth_date", "hash"}
_HASH = re.compile(r"[0-9a-f]{64}")


def check_widget(raw: Any) -> dict[str, Any]:
    """Login Widget fields as received (the signature covers every one), each of the expected type."""
    if not isinstance(raw, dict):
        raise Problem(400, _("Send the Telegram Login Widget fields as a JSON object."))

    def bad(field: str, rule: str) -> Problem:
        return Problem(400, _("Invalid Telegram login data: {field}: {rule}", field=field, rule=rule))

    for name, value in raw.items():
        if not isinstance(name, str) or len(name) > 64 or inputs.text_problem(name):
            raise Problem(400, _("Invalid Telegram login data: field names must be short plain text."))
        if type(value) not in (str, int) or (isinstance(value, str) and (len(value) > 1024 or "\x00" in value)):
            raise bad(name, _("must be a short string or a whole number."))
    if type(raw.get("id")) is not int or not 0 < raw["id"] <= inputs.INT64_MAX:
        raise bad("id", _("must be a Telegram user id."))
    if type(raw.get("auth_date")) is not int:
        raise bad("auth_date", _("must be a whole number."))
    if not isinstance(raw.get("first_name"), str) or len(raw["first_name"]) > 256:
        raise bad("first_name", _("must be text."))
    if not isinstance(raw.get("hash"), str) or not _HASH.fullmatch(raw["hash"]):
        raise bad("hash", _("must be 64 hex digits."))
    for name in ("last_name", "username", "photo_url"):
        if name in raw and not isinstance(raw[name], str):
            raise bad(name, _("must be text."))
    return raw


def _link_telegram(ctx: WebCtx) -> WebResponse:
    from ttfd.features.profiles import views

    fields = check_widget(json_body(ctx.request))
    try:
        tg = telegram_login.verify(fields, ctx.settings.require("telegram_bot_token"))
    except telegram_login.InvalidLogin as exc:  # 400, not 401: the site's session is fine, the payload is not
        raise Problem(400, exc.message) from exc
    # One signed login links once: a copied payload cannot be replayed into another account.
    if not idempotency.claim(ctx.conn, f"tglogin:{tg.hash}", ttl_s=2 * telegram_login.MAX_AGE_S).fresh:
        raise Problem(409, TG_USED)
    result = accounts.link_identity(
        ctx.conn, ctx.user_id, "telegram", tg.id, ctx.registry.merge_hooks, tg.username, tg.display_name
    )
    me = views.profile_json(ctx.conn, result.user.id, owner=True, registry=ctx.registry)
    return json_response({"merged": result.merged, "me": me})


def purge_sessions(conn: db.Conn) -> int:
    return sessions.purge(conn, get_settings().session_idle_s)


FEATURE = Feature(
    name="auth",
    summary=__doc__ or "",
    routes=(
        Route("auth_discord_login", "/auth/discord/login", serve=discord_login, summary="start a Discord login"),
        Route("auth_discord_callback", "/auth/discord/callback", serve=discord_callback, summary="finish it"),
        Route("auth_logout", "/auth/logout", {"POST": _logout}, summary="end this session"),
        Route(
            "auth_telegram",
            "/auth/telegram",
            {"POST": _link_telegram},
            rate_limited=True,
            pages={"GET": telegram_callback},
            summary="log in with Telegram (the Login Widget's return), or link it to this account",
        ),
    ),
    purges={"sessions": purge_sessions, "rate_limits": ratelimit.purge},
    migrations=("0003_website.sql",),
)
