"""What every website function shares: the session from its cookie, CSRF, rate limits, cookies, problems.

`endpoint` is the router of a site function: HTTP method → handler, run in one transaction with the
session loaded; unsafe methods need a session and the CSRF header before the handler runs.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import Request, Response
from itsdangerous import BadSignature, Signer

from functions.http import problem
from ttfd import sessions
from ttfd.core import db, inputs, ratelimit
from ttfd.core.errors import DomainError
from ttfd.core.settings import Settings, get_settings

log = logging.getLogger(__name__)

SESSION_COOKIE = "ttfd_session"
CSRF_COOKIE = "csrf_token"
OAUTH_COOKIE = "ttfd_oauth"
CSRF_HEADER = "X-CSRF-Token"
TIMEOUT_S = 5.0  # a person is waiting for the page
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"


class Problem(Exception):
    """An HTTP refusal with a reason safe to show (rolls back whatever the handler did)."""

    def __init__(self, status: int, title: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(title)
        self.status = status
        self.title = title
        self.headers = headers or {}


# --- cookies ---------------------------------------------------------------------------------------


def session_signer(secret: str) -> Signer:
    """HMAC-SHA256 over the session token: a cookie we did not issue is refused without a database query."""
    return Signer(secret, salt="ttfd.session", digest_method=hashlib.sha256)


def _signer(settings: Settings) -> Signer:
    return session_signer(settings.require("session_secret"))


def session_token(request: Request, settings: Settings) -> str | None:
    """The session token from a correctly signed cookie (a forged cookie costs no database query)."""
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    try:
        return _signer(settings).unsign(raw).decode()
    except BadSignature:
        return None


def set_cookie(
    resp: Response, settings: Settings, name: str, value: str, max_age: int, *, httponly: bool = True
) -> None:
    """SameSite=Lax always, Secure whenever the site is https (browsers refuse Secure on plain http)."""
    resp.set_cookie(
        name, value, max_age=max_age, path="/", secure=settings.site_is_https, httponly=httponly, samesite="Lax"
    )


def set_session_cookies(resp: Response, settings: Settings, token: str, csrf: str) -> None:
    """The HttpOnly session cookie and the script-readable CSRF cookie it pairs with."""
    signed = _signer(settings).sign(token).decode()
    set_cookie(resp, settings, SESSION_COOKIE, signed, settings.session_ttl_s)
    set_cookie(resp, settings, CSRF_COOKIE, csrf, settings.session_ttl_s, httponly=False)


def clear_session_cookies(resp: Response, settings: Settings) -> None:
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        set_cookie(resp, settings, name, "", 0, httponly=name == SESSION_COOKIE)


def _sets_session_cookie(resp: Response) -> bool:
    return any(c.startswith(f"{SESSION_COOKIE}=") for c in resp.headers.getlist("Set-Cookie"))


def policy(settings: Settings) -> sessions.Policy:
    return sessions.Policy(settings.session_ttl_s, settings.session_idle_s, settings.session_rotate_s)


# --- request checks --------------------------------------------------------------------------------


def client_ip(request: Request, forwarded_hops: int) -> str:
    """The client address: the FORWARDED_HOPS-th X-Forwarded-For entry from the right, the one our own
    front end appended (entries left of it are whatever the client claimed)."""
    hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
    if forwarded_hops and len(hops) >= forwarded_hops:
        return hops[-forwarded_hops]
    return request.remote_addr or "unknown"


def rate_limit(request: Request, settings: Settings) -> None:
    """Count this auth request for its client IP in its own short transaction (a refusal still counts)."""
    key = f"auth:{client_ip(request, settings.forwarded_hops)}"
    decision = db.run(
        lambda conn: ratelimit.hit(conn, key, settings.auth_rate_limit, settings.auth_rate_window_s),
        timeout_s=TIMEOUT_S,
    )
    if not decision.allowed:
        raise Problem(
            429, "Too many attempts; wait a minute and try again.", {"Retry-After": str(decision.retry_after_s)}
        )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def check_origin(request: Request, settings: Settings) -> None:
    """Browsers send Origin on every unsafe request; one from another site is refused outright."""
    origin = request.headers.get("Origin")
    if origin and origin != _origin(settings.site_url):
        raise Problem(403, "Cross-site request refused.")


def safe_next(path: str | None) -> str:
    """Where to go after login: only a path on this site (no open redirect)."""
    if not path or len(path) > 200 or not path.startswith("/") or path.startswith(("//", "/\\")):
        return "/me"
    if any(ord(ch) < 0x21 or ch == "\\" for ch in path):
        return "/me"
    return path


def json_body(request: Request) -> Any:
    """The request's JSON body (bounded in size and depth), or a 400 saying what is wrong with it."""
    if not request.is_json:
        raise Problem(400, "Send a JSON body (Content-Type: application/json).")
    try:
        return inputs.load_json(request.get_data(cache=True))
    except inputs.InputError as exc:
        raise Problem(400, f"The body is not valid: {exc}") from exc


# --- the router ------------------------------------------------------------------------------------


@dataclass
class Ctx:
    conn: db.Conn
    request: Request
    settings: Settings
    session: sessions.Session | None

    @property
    def user_id(self) -> int:
        """The logged-in account (401 when there is no session)."""
        if self.session is None:
            raise Problem(401, "Log in first.")
        return self.session.user_id


Handler = Callable[[Ctx], Response]


def problem_response(p: Problem) -> Response:
    resp = problem(p.status, p.title)
    resp.headers.update(p.headers)
    return resp


def method_not_allowed(*methods: str) -> Response:
    """405 naming what this function does take."""
    resp = problem(405, f"Use {' or '.join(methods)}.")
    resp.headers["Allow"] = ", ".join(methods)
    return resp


def endpoint(
    request: Request, routes: dict[str, Handler], *, rate_limited: bool = False, public: bool = False
) -> Response:
    """Run the handler for this method in one transaction; refusals roll back and answer a problem.

    `public` responses are the same for everyone (a CDN may cache them): no session is read, so none is
    rotated and no cookie is ever set on them."""
    handler = routes.get("GET" if request.method == "HEAD" else request.method)
    if handler is None:
        return method_not_allowed(*routes)
    settings = get_settings()
    unsafe = request.method in UNSAFE_METHODS
    token = None if public else session_token(request, settings)
    session: sessions.Session | None = None
    stale = False  # the cookie is ours but its session expired or was revoked

    def work(conn: db.Conn) -> Response:
        nonlocal session, stale
        session = sessions.load(conn, token, policy(settings)) if token else None
        stale = token is not None and session is None
        if unsafe:
            if session is None:
                raise Problem(401, "Log in first.")
            sent = request.headers.get(CSRF_HEADER, "")
            if not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
                raise Problem(403, f"Missing or wrong {CSRF_HEADER} header; reload the page and try again.")
        return handler(Ctx(conn, request, settings, session))

    committed = False
    try:
        if rate_limited:
            rate_limit(request, settings)
        if unsafe:
            check_origin(request, settings)
        resp = db.run(work, timeout_s=TIMEOUT_S)
        committed = True
    except Problem as p:
        resp = problem_response(p)
    except DomainError as exc:
        resp = problem(409, exc.message)
    except db.Unavailable as exc:
        log.warning("%s %s not served: %s", request.method, request.path, exc)
        resp = problem(503, "We are very busy right now; nothing was changed. Please try again in a moment.")
        resp.headers["Retry-After"] = "2"
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        resp = problem(500, "Something went wrong on our side. Please try again in a moment.")
    if public:
        return resp
    if not _sets_session_cookie(resp):
        if stale:
            clear_session_cookies(resp, settings)  # stop sending a cookie that names no session
        elif session and committed:  # a rolled-back attempt rotated nothing
            if session.new_token:
                set_session_cookies(resp, settings, session.new_token, session.csrf_token)
            elif request.cookies.get(CSRF_COOKIE) != session.csrf_token:  # lost or stale: the page needs it back
                set_cookie(resp, settings, CSRF_COOKIE, session.csrf_token, settings.session_ttl_s, httponly=False)
    resp.headers.setdefault("Cache-Control", "no-store")
    resp.headers.setdefault("Vary", "Cookie")
    return resp


def redirect_to(location: str) -> Response:
    """302 to `location` (flask.redirect returns werkzeug's Response type)."""
    return Response(status=302, headers={"Location": location})


def html_page(status: int, title: str, message: str) -> Response:
    """A small self-contained page for browser flows (the OAuth callback) that went wrong."""
    body = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{html.escape(title)} · TTFD</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;background:#111318;color:#e8e9ee;display:grid;place-items:center;
min-height:100vh;margin:0}}main{{max-width:32rem;padding:2rem}}a{{color:#8ea1ff}}</style></head>
<body><main><h1>{html.escape(title)}</h1><p>{html.escape(message)}</p>
<p><a href="/login">Back to login</a></p></main></body></html>"""
    return Response(
        body,
        status=status,
        mimetype="text/html",
        headers={"Cache-Control": "no-store", "Content-Security-Policy": PAGE_CSP},
    )
