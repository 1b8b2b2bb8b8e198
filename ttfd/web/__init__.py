"""The website's functions in neutral terms: a request, a response, and `serve`, the one router every site
function goes through (session from its cookie, CSRF, rate limits, one transaction, refusals).

Features declare `Route`s; functions/site adapts an HTTP framework's request to `WebRequest` and the
`WebResponse` back, so no feature imports one.

Refusals are said in the reader's language (`reader_locale`): the account's choice, else the site's `lang`
cookie (its language switch), else the browser's Accept-Language, else DEFAULT_LOCALE. A handler that puts
a text in its JSON says it with `ctx.say(msg)`.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol
from urllib.parse import urlsplit

from itsdangerous import BadSignature, Signer

from ttfd.core import db, idempotency, inputs, ratelimit
from ttfd.core.errors import DomainError
from ttfd.core.failures import Failure, classify, report, retry_headers
from ttfd.core.i18n import LOCALES, _, negotiate, said
from ttfd.core.settings import Settings, get_settings, on_lambda
from ttfd.web import sessions

log = logging.getLogger(__name__)

SESSION_COOKIE = "ttfd_session"
CSRF_COOKIE = "csrf_token"
OAUTH_COOKIE = "ttfd_oauth"
LANG_COOKIE = "lang"  # the site's language switch (set by the page's script; read here for refusals)
CSRF_HEADER = "X-CSRF-Token"
IDEMPOTENCY_HEADER = "Idempotency-Key"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
TIMEOUT_S = 5.0  # a person is waiting for the page
PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
_IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9_-]{8,100}")


@dataclass(frozen=True)
class WebRequest:
    method: str
    path: str
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-cased names
    cookies: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    remote_addr: str | None = None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def is_json(self) -> bool:
        ctype = (self.header("content-type") or "").split(";")[0].strip().lower()
        return ctype == "application/json" or ctype.endswith("+json")


@dataclass(frozen=True)
class Cookie:
    name: str
    value: str
    max_age: int
    httponly: bool = True


@dataclass
class WebResponse:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    cookies: list[Cookie] = field(default_factory=list)


class Problem(DomainError):
    """A refusal only the site makes, with the HTTP status chosen where it is raised (a DomainError says its
    own): it rolls back whatever the handler did, and is classified and answered like every refusal. `title`
    is a Msg, said in the reader's language when the refusal is answered."""

    def __init__(
        self, status: int, title: str, headers: dict[str, str] | None = None, extra: dict[str, Any] | None = None
    ) -> None:
        super().__init__(title)
        self.status = status
        self.headers = headers or {}
        self.extra = extra or {}  # RFC 9457 extension members (e.g. the current price)

    @property
    def title(self) -> str:
        return self.message


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> WebResponse:
    """A compact JSON reply."""
    data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    return WebResponse(status, data, "application/json", dict(headers or {}))


def problem(
    status: int,
    title: str,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
    *,
    locale: str | None = None,
) -> WebResponse:
    """An RFC 9457 problem with a human-readable title (the same words the chat platforms use), said in
    `locale` (default: DEFAULT_LOCALE), and any extension members."""
    text = said(title, locale or get_settings().default_locale)
    data = json.dumps({**(extra or {}), "title": text, "status": status}, ensure_ascii=False).encode()
    headers = dict(headers or {})
    headers.setdefault("Content-Language", locale or get_settings().default_locale)
    return WebResponse(status, data, "application/problem+json", headers)


def html_page(status: int, title: str, message: str, locale: str) -> WebResponse:
    """A small self-contained page for browser flows (the OAuth callback) that went wrong, in `locale`."""
    heading, text = html.escape(said(title, locale)), html.escape(said(message, locale))
    back = html.escape(_("Back to login").in_(locale))
    body = f"""<!doctype html><html lang="{locale}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{heading} · TTFD</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;background:#111318;color:#e8e9ee;display:grid;place-items:center;
min-height:100vh;margin:0}}main{{max-width:32rem;padding:2rem}}a{{color:#8ea1ff}}</style></head>
<body><main><h1>{heading}</h1><p>{text}</p>
<p><a href="{html.escape(site_path("/login", locale))}">{back}</a></p></main></body></html>"""
    headers = {"Cache-Control": "no-store", "Content-Security-Policy": PAGE_CSP, "Content-Language": locale}
    return WebResponse(status, body.encode(), "text/html; charset=utf-8", headers)


def redirect_to(location: str) -> WebResponse:
    return WebResponse(302, b"", "text/plain", {"Location": location})


def method_not_allowed(*methods: str, locale: str | None = None) -> WebResponse:
    """405 naming what this function does take."""
    allow = ", ".join(methods)
    return problem(405, _("This address takes {methods} only.", methods=allow), {"Allow": allow}, locale=locale)


def too_large(request: WebRequest, limit: int) -> WebResponse:
    """413 for a body larger than `limit` bytes (refused before it is read)."""
    return problem(413, _("The body is larger than {limit} bytes.", limit=limit), locale=reader_locale(request))


def json_body(request: WebRequest) -> Any:
    """The request's JSON body (bounded in size and depth), or a 400 saying what is wrong with it."""
    if not request.is_json:
        raise Problem(400, _("Send a JSON body (Content-Type: application/json)."))
    try:
        return inputs.load_json(request.body)
    except inputs.InputError as exc:  # the reason is about the JSON itself: it stays as the parser says it
        raise Problem(400, _("The body is not valid: {reason}", reason=str(exc))) from exc


# --- languages -------------------------------------------------------------------------------------


def accept_languages(header: str | None, limit: int = 10) -> list[str]:
    """The language tags of an Accept-Language header, most wanted first (q=0 dropped; a few read)."""
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate((header or "").split(",")[:limit]):
        tag, _sep, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _eq, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if tag and tag != "*" and q > 0:
            ranked.append((-q, i, tag.strip()))
    return [tag for _q, _i, tag in sorted(ranked)]


def reader_locale(request: WebRequest, chosen: str | None = None) -> str:
    """The language to answer this reader in: the account's choice (`chosen`), else the site's `lang`
    cookie, else the browser's Accept-Language, else DEFAULT_LOCALE."""
    wanted = (chosen, request.cookies.get(LANG_COOKIE), *accept_languages(request.header("accept-language")))
    return negotiate(*wanted, default=get_settings().default_locale)


def site_path(path: str, locale: str) -> str:
    """A page of the static site in `locale`: DEFAULT_LOCALE's pages are at /, the others under /<lang>/
    (static_site/build.py builds them so)."""
    if locale == get_settings().default_locale or locale not in LOCALES:
        return path
    return f"/{locale}{path}" if path != "/" else f"/{locale}/"


def path_locale(path: str) -> str:
    """The language of a page of the static site, from its path (see `site_path`)."""
    default = get_settings().default_locale
    first = path.split("?", 1)[0].split("/")[1:2]
    return first[0] if first and first[0] in LOCALES and first[0] != default else default


# --- cookies and sessions --------------------------------------------------------------------------


def session_signer(secret: str | Sequence[str]) -> Signer:
    """HMAC-SHA256 over the session token: a cookie we did not issue is refused without a database query.
    Given several secrets (oldest first), a cookie signed with any of them passes and the last one signs."""
    return Signer(
        secret if isinstance(secret, str) else list(secret), salt="ttfd.session", digest_method=hashlib.sha256
    )


def _session_secrets(settings: Settings) -> tuple[str, ...]:
    settings.require("session_secret")  # names SESSION_SECRET when it is missing
    return settings.session_secrets  # with SESSION_SECRET_PREVIOUS while SESSION_SECRET is rotated


def session_token(request: WebRequest, settings: Settings) -> str | None:
    """The session token from a correctly signed cookie (by SESSION_SECRET or, while it is rotated, the one
    before it: a cookie signed with that is replaced at the session's next token rotation)."""
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    try:
        return session_signer(_session_secrets(settings)).unsign(raw).decode()
    except BadSignature:
        return None


def session_cookies(settings: Settings, token: str, csrf: str) -> list[Cookie]:
    """The HttpOnly session cookie (signed with the current SESSION_SECRET) and the script-readable CSRF cookie
    it pairs with."""
    signed = session_signer(_session_secrets(settings)).sign(token).decode()
    return [
        Cookie(SESSION_COOKIE, signed, settings.session_ttl_s),
        Cookie(CSRF_COOKIE, csrf, settings.session_ttl_s, httponly=False),
    ]


def cleared_session_cookies() -> list[Cookie]:
    return [Cookie(SESSION_COOKIE, "", 0), Cookie(CSRF_COOKIE, "", 0, httponly=False)]


def client_ip(request: WebRequest, forwarded_hops: int) -> str:
    """The client address: the FORWARDED_HOPS-th X-Forwarded-For entry from the right, the one our own
    front end appended (entries left of it are whatever the client claimed)."""
    hops = [h.strip() for h in (request.header("x-forwarded-for") or "").split(",") if h.strip()]
    if forwarded_hops and len(hops) >= forwarded_hops:
        return hops[-forwarded_hops]
    return request.remote_addr or "unknown"


def rate_limit(request: WebRequest, settings: Settings) -> None:
    """Count this request for its client IP in its own short transaction (a refusal still counts)."""
    key = f"auth:{client_ip(request, settings.forwarded_hops)}"
    limit, window = settings.auth_rate_limit, settings.auth_rate_window_s
    decision = db.run(lambda conn: ratelimit.hit(conn, key, limit, window), timeout_s=TIMEOUT_S)
    if not decision.allowed:
        raise Problem(
            429, _("Too many attempts; wait a minute and try again."), {"Retry-After": str(decision.retry_after_s)}
        )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def check_origin(request: WebRequest, settings: Settings) -> None:
    """Browsers send Origin on every unsafe request; one from another site is refused outright."""
    origin = request.header("origin")
    if origin and origin != _origin(settings.site_url):
        raise Problem(403, _("Cross-site request refused."))


def safe_next(path: str | None) -> str:
    """Where to go after login: only a path on this site (no open redirect)."""
    if not path or len(path) > 200 or not path.startswith("/") or path.startswith(("//", "/\\")):
        return "/me"
    if any(ord(ch) < 0x21 or ch == "\\" for ch in path):
        return "/me"
    return path


# --- routes ----------------------------------------------------------------------------------------


class Catalog(Protocol):
    """What a site route may ask of the registry (ttfd.registry.Registry is one; web stays below it)."""

    @property
    def merge_hooks(self) -> Sequence[Callable[[db.Conn, int, int], None]]: ...

    @property
    def profile_sections(self) -> Sequence[tuple[str, Callable[[db.Conn, int, bool], Any]]]: ...


@dataclass
class WebCtx:
    conn: db.Conn
    request: WebRequest
    settings: Settings
    session: sessions.Session | None
    registry: Catalog

    @property
    def user_id(self) -> int:
        """The logged-in account (401 when there is no session)."""
        if self.session is None:
            raise Problem(401, LOG_IN_FIRST)
        return self.session.user_id

    @property
    def locale(self) -> str:
        """The reader's language (`reader_locale`): what a text in this answer is said in."""
        return reader_locale(self.request, self.session.language if self.session else None)

    def say(self, text: str) -> str:
        """A text for the JSON answer, in the reader's language (a Msg said; other text as it is)."""
        return said(text, self.locale)


Handler = Callable[[WebCtx], WebResponse]
Page = Callable[[WebRequest, Catalog], WebResponse]
LOG_IN_FIRST = _("Log in first.")


@dataclass(frozen=True)
class Route:
    """One deployed site function. `path` is where the site calls it (a trailing `<ref>` takes the rest).

    `public`: the answer is the same for everyone (a CDN may cache it): no session is read, so none is
    rotated and no cookie is set. `serve`: the function handles the whole request itself (OAuth pages)."""

    function: str
    path: str
    methods: Mapping[str, Handler] = field(default_factory=dict)
    rate_limited: bool = False
    public: bool = False
    serve: Page | None = None
    # Methods that are browser pages handling the whole request themselves (a login callback's GET), beside
    # `methods` served the usual way.
    pages: Mapping[str, Page] = field(default_factory=dict)
    public_if: Callable[[str], bool] | None = None  # public for some paths only (a profile's card.png)
    summary: str = ""


def policy(settings: Settings) -> sessions.Policy:
    return sessions.Policy(settings.session_ttl_s, settings.session_idle_s, settings.session_rotate_s)


EDGE_HEADER = "x-ttfd-edge"


def edge_refusal(request: WebRequest) -> WebResponse | None:
    """None when the request came through our own CDN, which adds EDGE_SECRET as a header (or the previous
    value, while it is rotated); the refusal otherwise: the functions' own URL would let anyone choose the
    X-Forwarded-For the rate limits trust. Without an EDGE_SECRET, AWS fails closed (503 and an ERROR naming
    it: its HTTP API URL is public); elsewhere there is no such edge (locally; Google Cloud restricts ingress)."""
    settings = get_settings()
    secrets = [s.encode() for s in (settings.edge_secret, settings.edge_secret_previous) if s]
    if not secrets:
        if not on_lambda():
            return None
        from ttfd.core.failures import GENERIC

        log.error("EDGE_SECRET is not set: refused %s (site functions fail closed on AWS)", request.path)
        return problem(503, GENERIC, locale=reader_locale(request))
    sent = (request.header(EDGE_HEADER) or "").encode()
    if sum(hmac.compare_digest(sent, s) for s in secrets):  # every value compared: the time says nothing
        return None
    refusal = _("Use the website's address; its functions are not served directly.")
    return problem(403, refusal, locale=reader_locale(request))


def serve(route: Route, request: WebRequest, registry: Catalog) -> WebResponse:
    """Run the route's handler for this method (writes in one transaction, reads statement by statement);
    refusals roll back and answer a problem.

    Unsafe methods need a session, the CSRF header and a same-site Origin before the handler runs; one
    that sends an Idempotency-Key is done once: a repeat (double click, retry) gets the first answer."""
    if (refused := edge_refusal(request)) is not None:
        return refused
    page = route.serve if route.serve is not None else route.pages.get(request.method)
    if page is not None:
        try:  # it words its own failures; what escapes is answered like any route's, not as an HTML 500
            return page(request, registry)
        except Exception as exc:
            failure = report(log, exc, f"{request.method} {request.path}")
            resp = failure_problem(failure, exc, reader_locale(request))
            resp.headers.setdefault("Cache-Control", "no-store")
            return resp
    method = "GET" if request.method == "HEAD" and "GET" not in route.pages else request.method
    handler = route.methods.get(method)
    if handler is None:
        return method_not_allowed(*route.methods, *route.pages, locale=reader_locale(request))
    settings = get_settings()
    unsafe = method in UNSAFE_METHODS
    public = route.public or bool(route.public_if and route.public_if(request.path))
    token = None if public else session_token(request, settings)
    state: dict[str, Any] = {"session": None, "stale": False}

    def work(conn: db.Conn) -> WebResponse:
        session = sessions.load(conn, token, policy(settings)) if token else None
        earlier = state["session"]
        if not unsafe and earlier is not None and earlier.new_token and session is not None:
            # A read retried after a lost connection: the first attempt's rotation is committed already.
            session = replace(session, new_token=earlier.new_token)
        state.update(session=session, stale=token is not None and session is None)
        if unsafe:
            if session is None:
                raise Problem(401, LOG_IN_FIRST)
            sent = request.header(CSRF_HEADER) or ""
            if not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
                raise Problem(
                    403, _("Missing or wrong {header} header; reload the page and try again.", header=CSRF_HEADER)
                )
        return handler(WebCtx(conn, request, settings, session, registry))

    def locale() -> str:
        session = state["session"]
        return reader_locale(request, session.language if session is not None else None)

    committed = False
    try:
        if route.rate_limited:
            rate_limit(request, settings)
        if unsafe:
            check_origin(request, settings)
        key = request.header(IDEMPOTENCY_HEADER)
        if unsafe and key and token:
            if not _IDEMPOTENCY_KEY.fullmatch(key):
                raise Problem(400, _("{header} must be 8-100 letters, digits, - or _.", header=IDEMPOTENCY_HEADER))
            once_key = f"site:{hashlib.sha256(token.encode()).hexdigest()[:16]}:{key}"
            resp = _once(once_key, _fingerprint(request), work, locale)
        elif unsafe:
            resp = db.run(work, timeout_s=TIMEOUT_S)
        else:
            # Reads run statement by statement with no transaction (READ COMMITTED gives each statement its
            # own snapshot anyway): two round trips fewer. The session's touch or rotation is one statement
            # and durable at once, so its cookie goes out even if the handler then fails.
            resp = db.read(work, timeout_s=TIMEOUT_S)
        committed = True
    except Exception as exc:
        resp = failure_problem(report(log, exc, f"{request.method} {request.path}"), exc, locale())
    if public:
        if resp.content_type == "application/problem+json":  # said in one reader's language: never shared
            resp.headers.setdefault("Cache-Control", "no-store")
        return resp
    session = state["session"]
    if not any(c.name == SESSION_COOKIE for c in resp.cookies):
        if state["stale"]:
            resp.cookies += cleared_session_cookies()  # stop sending a cookie that names no session
        elif session is not None and (committed or not unsafe):  # a rolled-back attempt rotated nothing
            if session.new_token:
                resp.cookies += session_cookies(settings, session.new_token, session.csrf_token)
            elif request.cookies.get(CSRF_COOKIE) != session.csrf_token:  # lost or stale: the page needs it
                resp.cookies.append(Cookie(CSRF_COOKIE, session.csrf_token, settings.session_ttl_s, httponly=False))
    resp.headers.setdefault("Cache-Control", "no-store")
    resp.headers.setdefault("Vary", "Cookie")
    return resp


def failure_problem(failure: Failure, exc: BaseException, locale: str) -> WebResponse:
    """A failure (ttfd.core.failures.classify) as problem+json: its status and words, Retry-After when
    trying again may help, and what a Problem adds (its headers, RFC 9457 members)."""
    headers = retry_headers(failure)
    extra: dict[str, Any] = {}
    if isinstance(exc, Problem):
        headers.update(exc.headers)
        extra = exc.extra
    return problem(failure.status, failure.words, headers, extra, locale=locale)


def failure_page(failure: Failure, title: str, locale: str) -> WebResponse:
    """A failure (ttfd.core.failures.classify) on a browser page (a login flow): its status and words under
    `title`, Retry-After when trying again may help."""
    page = html_page(failure.status, title, failure.words, locale)
    page.headers.update(retry_headers(failure))
    return page


def _fingerprint(request: WebRequest) -> str:
    """What makes a request this request: a retry sends the same method, path and body."""
    digest = hashlib.sha256(f"{request.method} {request.path}\0".encode())
    digest.update(request.body)
    return digest.hexdigest()


KEY_REUSED = _(
    "That {header} was used for a different request. Send a new key for a new request.", header=IDEMPOTENCY_HEADER
)


def _once(key: str, fingerprint: str, work: Callable[[db.Conn], WebResponse], locale: Callable[[], str]) -> WebResponse:
    """A site write done once per Idempotency-Key: the answer (refusals too) is stored and replayed to a
    retry; the same key with another request is refused with 422 (as payment APIs do), changing nothing."""

    def encode(conn: db.Conn, _: Any) -> dict[str, Any]:
        r = work(conn)
        return {"status": r.status, "body": r.body.decode(), "type": r.content_type, "headers": r.headers}

    def refuse(exc: DomainError) -> dict[str, Any]:
        if isinstance(exc, Problem):  # about this request (no session, CSRF, its body): never stored for the key
            raise exc
        r = failure_problem(classify(exc), exc, locale())
        return {"status": r.status, "body": r.body.decode(), "type": r.content_type, "headers": r.headers}

    def fingerprinted(answer: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        return lambda *args: answer(*args) | {"request": fingerprint}

    stored = idempotency.once(
        key, idempotency.plain_start(key, 86400), fingerprinted(encode), fingerprinted(refuse), timeout_s=TIMEOUT_S
    )
    if stored.get("request", fingerprint) != fingerprint:
        return problem(422, KEY_REUSED, locale=locale())
    return WebResponse(int(stored["status"]), stored["body"].encode(), stored["type"], dict(stored["headers"]))
