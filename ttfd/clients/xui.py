"""3x-ui panel adapter (MHSanaei/3x-ui; docs: /work/shared/protocols.md §1, §5): one class for the classic
inbound API (v2.x–v3.0) and the clients API (v3.1+), keyed by the client's email.

Why it looks like this:
- Every reply is HTTP 200 with `{success, msg, obj}`; a lost session shows up as 307/401 (v2.6–2.8.4), a bare
  404 (v2.8.5+), a bare 403 (v3.0+ CSRF) or an HTML page. Any of them → log in again once, retry once.
- Success texts differ between versions, so only the documented *error* texts are matched, case-insensitively
  and without their trailing newline (the panel builds them with Sprintln).
- Emails are the idempotency key the store derives from an order: `ensure_client` never makes a second client
  for an email, even when an earlier call's reply was lost after the panel stored it.
- The base URL's path (webBasePath) is often kept secret, so logs and errors name the host and the route only.
"""

from __future__ import annotations

import hashlib
import http.cookiejar
import json
import logging
import os
import re
import secrets
import threading
import time
import uuid as uuidlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal, cast
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

from ttfd.clients import vless
from ttfd.clients.http import HTTPError, send

log = logging.getLogger(__name__)

ApiKind = Literal["classic", "clients"]
USER_AGENT = "ttfd-xui/0.1"
COOKIE = "3x-ui"
PROBE_EMAIL = "ttfd-api-probe"  # looked up to tell the clients API (envelope) from v3.0 and older (404)
_LOST = (401, 403, 404)
_FORBIDDEN_CHARS = re.compile(r"[/\\ \x00-\x1f\x7f]")

# The panel's documented error texts (protocols.md); matched with search() so prefixes and "\n" do not matter.
_DUPLICATE = re.compile(r"duplicate email|email already in use", re.I)
_RECORD_NOT_FOUND = re.compile(r"record not found", re.I)
_GONE = re.compile(r"client not found in inbound for id|not found in any inbound|record not found", re.I)
_NO_TRAFFIC = re.compile(r"(inbound|client) not found for email", re.I)
_LAST_CLIENT = re.compile(r"no client remained in inbound", re.I)
_EMPTY_ID = re.compile(r"empty client id", re.I)
# success:false replies that describe a busy panel rather than a refusal (SQLite under load, xray API stalls).
_TRANSIENT = re.compile(r"database (table )?is locked|database is busy|deadline exceeded|i/o timeout", re.I)


class PanelError(Exception):
    """A 3x-ui call failed. `retryable`: network failures, timeouts, 5xx and a busy panel may succeed later;
    a refusal (`success:false`, a bad login, a missing route) will not. The message never holds a secret."""

    def __init__(self, message: str, retryable: bool = False, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.status = status


class PanelAuthError(PanelError):
    """The panel refused the credentials (login failed, token refused, v3.0 limiter after 5 failures)."""


class ClientNotFound(PanelError):
    """No client with this email on the configured inbound."""


class EmailConflict(PanelError):
    """The email is taken by a client the adapter cannot treat as this one: on another inbound, or the same
    email in another letter case (the panel compares emails case-insensitively)."""


class LastClientError(PanelError):
    """The classic API (v2.x–v3.0) refuses to delete an inbound's last client ("no client remained in
    Inbound"): keep a placeholder client on the inbound, or disable this one instead."""


class InvalidEmail(PanelError, ValueError):
    """The email (or subId) cannot be used: empty, or has `/`, `\\`, a space or a control character (they
    go into URL paths, and the panel refuses them)."""


@dataclass(frozen=True)
class PanelConfig:
    """Where the panel is and how to log in: a token (v3.0+, no CSRF) or a username and password."""

    url: str  # base URL including webBasePath, e.g. https://panel.example.com:2053/secretpath/
    inbound_id: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    api: str = "auto"  # auto | classic | clients
    link_host: str | None = None  # host in locally built links; None → the panel URL's host
    sub_url: str | None = None  # public base of the subscription server, e.g. https://sub.example.com:2096/sub/
    timeout_s: float = 10.0
    health_timeout_s: float = 5.0

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("VPN_PANEL_URL must be an http(s) URL")
        if parts.username or parts.password:
            raise ValueError("VPN_PANEL_URL must not carry credentials (use VPN_PANEL_USERNAME/PASSWORD)")
        path = parts.path if parts.path.endswith("/") else parts.path + "/"
        object.__setattr__(self, "url", urlunsplit((parts.scheme, parts.netloc, path, "", "")))
        if self.api not in ("auto", "classic", "clients"):
            raise ValueError("VPN_PANEL_API must be auto, classic or clients")
        if self.inbound_id <= 0:
            raise ValueError("VPN_INBOUND_ID must be a positive inbound id")
        if not self.token and not (self.username and self.password):
            raise ValueError("set VPN_PANEL_TOKEN, or both VPN_PANEL_USERNAME and VPN_PANEL_PASSWORD")

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> PanelConfig:
        """Read VPN_PANEL_URL, VPN_PANEL_USERNAME, VPN_PANEL_PASSWORD, VPN_PANEL_TOKEN, VPN_INBOUND_ID,
        VPN_PANEL_API, VPN_LINK_HOST and VPN_SUB_URL; a bad or missing one is a ConfigError naming it."""
        from ttfd.core.errors import ConfigError  # only here: it pulls in i18n, which the adapter does not need

        def get(name: str) -> str | None:
            return environ.get(name, "").strip() or None

        url = get("VPN_PANEL_URL")
        raw_inbound = get("VPN_INBOUND_ID")
        for name, value in (("VPN_PANEL_URL", url), ("VPN_INBOUND_ID", raw_inbound)):
            if value is None:
                raise ConfigError(f"environment variable {name} is required but not set")
        assert url is not None and raw_inbound is not None
        if not raw_inbound.isascii() or not raw_inbound.isdigit():
            raise ConfigError("environment variable VPN_INBOUND_ID must be a whole number")
        try:
            return cls(
                url=url,
                inbound_id=int(raw_inbound),
                username=get("VPN_PANEL_USERNAME"),
                # Passwords may start or end with spaces: taken as set.
                password=environ.get("VPN_PANEL_PASSWORD") or None,
                token=get("VPN_PANEL_TOKEN"),
                api=(get("VPN_PANEL_API") or "auto").lower(),
                link_host=get("VPN_LINK_HOST"),
                sub_url=get("VPN_SUB_URL"),
            )
        except ValueError as exc:
            raise ConfigError(f"environment: {exc}") from None

    def __repr__(self) -> str:
        # The URL's path is the panel's webBasePath, often a secret of its own: only the host is shown.
        auth = "token" if self.token else f"user {self.username!r}"
        return (
            f"PanelConfig(host={urlsplit(self.url).hostname!r}, inbound_id={self.inbound_id}, auth={auth}, "
            f"api={self.api!r}, link_host={self.link_host!r}, sub_url={self.sub_url!r})"
        )

    @property
    def effective_link_host(self) -> str:
        return self.link_host or urlsplit(self.url).hostname or ""


@dataclass(frozen=True)
class ClientSpec:
    """What `ensure_client` creates. uuid/sub_id are generated when None; flow None → xtls-rprx-vision where
    the inbound can carry it (tcp + tls/reality), else none."""

    email: str
    uuid: str | None = None
    sub_id: str | None = None
    flow: str | None = None
    limit_ip: int = 0
    total_bytes: int = 0  # 0 = unlimited
    expiry_ms: int = 0  # epoch ms; 0 = never; negative = that many ms after first use
    enable: bool = True
    tg_id: int = 0
    comment: str = ""


@dataclass(frozen=True)
class Client:
    email: str
    uuid: str
    sub_id: str
    flow: str = ""
    limit_ip: int = 0
    total_bytes: int = 0
    expiry_ms: int = 0
    enable: bool = True
    tg_id: int = 0
    comment: str = ""
    inbound_ids: tuple[int, ...] = ()
    # The counters when the reply carried them (list_clients; get_client on the classic API); not compared.
    traffic: Traffic | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Traffic:
    up: int
    down: int
    total: int  # quota in bytes, 0 = unlimited
    expiry_ms: int
    enable: bool  # false once the panel's traffic job found the client depleted or expired
    last_online: int = 0  # epoch ms, 0 = never seen

    @property
    def used(self) -> int:
        return self.up + self.down


@dataclass(frozen=True)
class Health:
    ok: bool
    xray_state: str | None
    panel_version: str | None
    detail: str


# Internal holders are plain classes: a dataclass costs about a millisecond of import each, paid on cold starts.
class _Envelope:
    __slots__ = ("msg", "obj", "success")

    def __init__(self, success: bool, msg: str, obj: Any) -> None:
        self.success, self.msg, self.obj = success, msg, obj


class _Session:
    """What one panel login holds, shared by every Panel of this process for the same URL and user (a warm
    serverless instance logs in once, not once per request)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.cookie: str | None = None
        self.csrf: str | None = None
        self.api: ApiKind | None = None
        self.legacy_status: bool | None = None  # v2.6: POST {base}server/status, not GET panel/api/server/status
        self.panel_version: str | None = None


_SESSIONS: dict[tuple[str, str], _Session] = {}
_SESSIONS_LOCK = threading.Lock()


def _session_for(config: PanelConfig) -> _Session:
    # By URL and user; the secret's hash too, so a rotated password or token never reuses the old login.
    secret = config.token or config.password or ""
    who = f"{'token' if config.token else config.username}:{hashlib.sha256(secret.encode()).hexdigest()[:16]}"
    key = (config.url, who)
    with _SESSIONS_LOCK:
        return _SESSIONS.setdefault(key, _Session())


def forget_sessions() -> None:
    """Drop every cached login and detection (tests; after rotating the panel's credentials)."""
    with _SESSIONS_LOCK:
        _SESSIONS.clear()


def check_email(email: str, what: str = "email") -> str:
    """The panel's rule for emails and subIds, checked before the value goes into a URL path."""
    if not isinstance(email, str) or not email.strip():
        raise InvalidEmail(f"client {what} is empty")
    if _FORBIDDEN_CHARS.search(email):
        raise InvalidEmail(f"client {what} has a '/', '\\', space or control character")
    return email


def _seg(value: str) -> str:
    return quote(value, safe="")


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0  # tgId was a string before v2.3.0 ("" in old rows)


def _json_field(value: Any) -> dict[str, Any]:
    """settings/streamSettings arrive as JSON-encoded strings."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str) and value.strip():
        try:
            decoded = json.loads(value)
        except ValueError:
            return {}
        return decoded if isinstance(decoded, dict) else {}
    return {}


def _parse_error(resp: httpx.Response) -> tuple[str, int | None, float | None]:
    text = resp.text.strip()[:200] if "json" in resp.headers.get("content-type", "") else ""
    return text or resp.reason_phrase or f"HTTP {resp.status_code}", None, None


def _envelope(resp: httpx.Response) -> _Envelope | None:
    """The `{success,msg,obj}` body, or None for anything else (a login page, a redirect, an empty reply)."""
    if resp.status_code != 200:
        return None
    try:
        body = resp.json()
    except ValueError:
        return None
    if not isinstance(body, dict) or not isinstance(body.get("success"), bool):
        return None
    return _Envelope(body["success"], str(body.get("msg") or ""), body.get("obj"))


def _set_cookie(resp: httpx.Response) -> tuple[bool, str | None]:
    """(whether the reply set the session cookie, its new value or None when it was cleared)."""
    for header in resp.headers.get_list("set-cookie"):
        first, _, attrs = header.partition(";")
        name, _, value = first.strip().partition("=")
        if name != COOKIE:
            continue
        expired = re.search(r"max-age\s*=\s*(-\d+|0)\b", attrs, re.I) is not None
        return True, (None if expired or not value else value)
    return False, None


def _client_from_settings(raw: Mapping[str, Any], inbound_id: int, stats: Any = None) -> Client:
    return Client(
        email=str(raw.get("email") or ""),
        uuid=str(raw.get("id") or ""),
        sub_id=str(raw.get("subId") or ""),
        flow=str(raw.get("flow") or ""),
        limit_ip=_int(raw.get("limitIp")),
        total_bytes=_int(raw.get("totalGB")),
        expiry_ms=_int(raw.get("expiryTime")),
        enable=bool(raw.get("enable", True)),
        tg_id=_int(raw.get("tgId")),
        comment=str(raw.get("comment") or ""),
        inbound_ids=(inbound_id,),
        traffic=_traffic(stats) if isinstance(stats, dict) else None,
    )


def _client_from_record(rec: Mapping[str, Any], inbound_ids: Any, stats: Any = None) -> Client:
    ids = tuple(_int(i) for i in inbound_ids) if isinstance(inbound_ids, list) else ()
    return Client(
        email=str(rec.get("email") or ""),
        uuid=str(rec.get("uuid") or ""),  # a ClientRecord's `id` is its row id; the UUID is `uuid`
        sub_id=str(rec.get("subId") or ""),
        flow=str(rec.get("flow") or ""),
        limit_ip=_int(rec.get("limitIp")),
        total_bytes=_int(rec.get("totalGB")),
        expiry_ms=_int(rec.get("expiryTime")),
        enable=bool(rec.get("enable", False)),
        tg_id=_int(rec.get("tgId")),
        comment=str(rec.get("comment") or ""),
        inbound_ids=ids,
        traffic=_traffic(stats) if isinstance(stats, dict) else None,
    )


# ClientRecord fields that mean the same in a Client body; `update` replaces the whole client, so each is sent.
_RECORD_TO_BODY = (
    "email",
    "subId",
    "password",
    "auth",
    "flow",
    "security",
    "limitIp",
    "totalGB",
    "expiryTime",
    "enable",
    "tgId",
    "group",
    "comment",
    "reset",
)


def _traffic(obj: Mapping[str, Any]) -> Traffic:
    return Traffic(
        up=_int(obj.get("up")),
        down=_int(obj.get("down")),
        total=_int(obj.get("total")),
        expiry_ms=_int(obj.get("expiryTime")),
        enable=bool(obj.get("enable", True)),
        last_online=_int(obj.get("lastOnline")),
    )


class _Inbound:
    """An inbound as `inbounds/get/:id` returns it, with settings and streamSettings decoded."""

    def __init__(self, obj: dict[str, Any], settings: dict[str, Any], stream: dict[str, Any]) -> None:
        self.obj, self.settings, self.stream = obj, settings, stream

    @property
    def clients(self) -> list[dict[str, Any]]:
        clients = self.settings.get("clients")
        return [c for c in clients if isinstance(c, dict)] if isinstance(clients, list) else []

    def raw_client(self, email: str) -> dict[str, Any] | None:
        return next((c for c in self.clients if c.get("email") == email), None)

    def stats(self, email: Any) -> dict[str, Any] | None:
        rows = self.obj.get("clientStats")
        found = (r for r in rows if isinstance(r, dict) and r.get("email") == email) if isinstance(rows, list) else ()
        return next(iter(found), None)

    def client(self, raw: Mapping[str, Any], inbound_id: int) -> Client:
        return _client_from_settings(raw, inbound_id, self.stats(raw.get("email")))


class Panel:
    """A 3x-ui panel seen through one inbound. Thread-safe; keep one per process (see `shared()`)."""

    def __init__(
        self,
        config: PanelConfig,
        *,
        client: httpx.Client | None = None,
        max_retries: int = 2,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self._retries = max_retries
        self._sleep = sleep
        # Cookies are sent by hand from the shared session, so httpx's own jar must keep none.
        no_cookies = http.cookiejar.CookieJar(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
        self._http = client or httpx.Client(
            timeout=httpx.Timeout(config.timeout_s, connect=min(3.0, config.timeout_s)),
            follow_redirects=False,
            cookies=no_cookies,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        )
        self._session = _session_for(config)
        self._host = urlsplit(config.url).hostname or "?"

    def close(self) -> None:
        self._http.close()

    # --- transport, login, detection ---------------------------------------------------------------------

    def _cookie(self) -> str:
        s = self._session
        with s.lock:
            if s.cookie is None:
                self._login_locked()
            assert s.cookie is not None
            return s.cookie

    def _relogin(self, stale: str | None) -> None:
        s = self._session
        with s.lock:
            if s.cookie == stale:  # else another thread has logged in since this call was refused
                s.cookie = s.csrf = None
                self._login_locked()

    def _login_locked(self) -> None:
        s = self._session
        cookie: str | None = None
        csrf: str | None = None
        # v3.0+: a CSRF token bound to a fresh session cookie comes first; older panels have no such route.
        try:
            resp = send(self._http, "GET", self.config.url + "csrf-token", _parse_error, max_retries=self._retries,
                        sleep=self._sleep)  # fmt: skip
        except HTTPError as exc:
            if exc.status != 404:
                raise PanelError(f"3x-ui csrf-token at {self._host}: {exc}", exc.retryable, status=exc.status) from exc
        else:
            env = _envelope(resp)
            if env is not None and env.success and isinstance(env.obj, str) and env.obj:
                csrf = env.obj
                cookie = _set_cookie(resp)[1]
        headers = {"X-CSRF-Token": csrf} if csrf else {}
        if cookie:
            headers["Cookie"] = f"{COOKIE}={cookie}"
        form = {"username": self.config.username or "", "password": self.config.password or ""}
        try:
            resp = send(self._http, "POST", self.config.url + "login", _parse_error, max_retries=self._retries,
                        sleep=self._sleep, headers=headers, data=form)  # fmt: skip
        except HTTPError as exc:
            hint = " (check the webBasePath in VPN_PANEL_URL)" if exc.status == 404 else ""
            raise PanelError(f"3x-ui login at {self._host}: {exc}{hint}", exc.retryable, status=exc.status) from exc
        env = _envelope(resp)
        if env is None:
            raise PanelError(
                f"3x-ui login at {self._host}: not a 3x-ui reply (HTTP {resp.status_code})", status=resp.status_code
            )
        if not env.success:
            # The same body for a wrong password, a 2FA panel and v3.0's limiter (5 failures → 15 min block).
            raise PanelAuthError(
                f"3x-ui at {self._host} refused the login (VPN_PANEL_USERNAME/VPN_PANEL_PASSWORD, two-factor "
                "code, or blocked for 15 minutes after 5 failures)"
            )
        new = _set_cookie(resp)[1] or cookie
        if not new:
            raise PanelError(f"3x-ui login at {self._host} set no session cookie")
        s.cookie, s.csrf = new, csrf
        log.info("logged in to the 3x-ui panel at %s", self._host)

    def _keep_cookie(self, resp: httpx.Response, used: str | None) -> None:
        changed, value = _set_cookie(resp)
        if changed and used is not None:
            s = self._session
            with s.lock:
                if s.cookie == used:
                    s.cookie = value

    def _call_opt(
        self,
        method: str,
        path: str,
        *,
        form: dict[str, str] | None = None,
        body: Any = None,
        timeout: float | None = None,
        retries: int | None = None,
    ) -> _Envelope | None:
        """One API call as an envelope; None when the route is missing (404 that logging in again does not
        cure). A lost session is logged into again once and the call sent once more."""
        kwargs: dict[str, Any] = {}
        if form is not None:
            kwargs["data"] = form
        if body is not None:
            kwargs["json"] = body
        if timeout is not None:
            kwargs["timeout"] = timeout
        status = 0
        for attempt in (0, 1):
            cookie: str | None = None
            headers: dict[str, str] = {}
            if self.config.token:
                headers["Authorization"] = f"Bearer {self.config.token}"
            else:
                cookie = self._cookie()
                headers["Cookie"] = f"{COOKIE}={cookie}"
                csrf = self._session.csrf
                if method != "GET" and csrf:
                    headers["X-CSRF-Token"] = csrf
            try:
                resp = send(
                    self._http,
                    method,
                    self.config.url + path,
                    _parse_error,
                    max_retries=self._retries if retries is None else retries,
                    sleep=self._sleep,
                    headers=headers,
                    **kwargs,
                )
            except HTTPError as exc:
                if exc.status not in _LOST:
                    raise PanelError(f"3x-ui {method} {path}: {exc}", exc.retryable, status=exc.status) from exc
                status = exc.status
            else:
                self._keep_cookie(resp, cookie)
                env = _envelope(resp)
                if env is not None:
                    return env
                status = resp.status_code
            if self.config.token:
                # A wrong or disabled token falls through to the cookie check: 404 (401 with XHR on v3.6).
                if status == 404:
                    return None
                raise PanelAuthError(f"3x-ui refused the API token on {path} (HTTP {status})", status=status)
            if attempt == 0:
                log.warning("3x-ui session lost (HTTP %s on %s): logging in again", status, path)
                self._relogin(cookie)
        if status == 404:
            return None
        raise PanelError(f"3x-ui {method} {path}: refused again after logging in (HTTP {status})", status=status)

    def _call(self, method: str, path: str, **kwargs: Any) -> _Envelope:
        env = self._call_opt(method, path, **kwargs)
        if env is None:
            if self.config.api == "auto":  # the panel may have been up- or downgraded: detect again next time
                self._session.api = self._session.legacy_status = None
            why = "wrong API token, or not on this panel version" if self.config.token else "not on this panel version"
            raise PanelError(f"3x-ui {method} {path}: HTTP 404 ({why}; VPN_PANEL_API?)", status=404)
        return env

    def _failure(self, env: _Envelope, what: str, cls: type[PanelError] = PanelError) -> PanelError:
        msg = env.msg.strip()
        return cls(f"3x-ui {what}: {msg or 'failed'}", _TRANSIENT.search(msg) is not None)

    def _status(self, timeout: float | None = None) -> _Envelope:
        """server/status, on whichever route this panel has; what it shows settles the API question too."""
        s = self._session
        if s.legacy_status is not True:
            kw: dict[str, Any] = {"timeout": timeout, "retries": 0 if timeout else None}
            path = "panel/api/server/status"
            env = self._call("GET", path, **kw) if s.legacy_status is False else self._call_opt("GET", path, **kw)
            if env is not None:
                s.legacy_status = False
                if env.success and isinstance(env.obj, dict):
                    version = env.obj.get("panelVersion")
                    s.panel_version = str(version) if version else None
                    # panelVersion came with the clients API (v3.1); a null obj (just started) says nothing.
                    s.api = s.api or ("clients" if version else "classic")
                return env
            if self.config.token:
                raise PanelAuthError(
                    f"3x-ui at {self._host} refused VPN_PANEL_TOKEN (wrong or disabled token, or a panel before v3.0)",
                    status=404,
                )
        env = self._call("POST", "server/status", timeout=timeout, retries=0 if timeout else None)
        s.legacy_status = True  # v2.6: the route is {base}server/status, and the API the classic one
        s.api = s.api or "classic"
        return env

    def api(self) -> ApiKind:
        """Which API this panel speaks: VPN_PANEL_API, else detected once per process and panel."""
        if self.config.api != "auto":
            return cast(ApiKind, self.config.api)
        s = self._session
        if s.api is None:
            self._status()
            if s.api is None:  # status obj still null: ask for the clients API itself
                probe = self._call_opt("GET", f"panel/api/clients/get/{PROBE_EMAIL}")
                s.api = "classic" if probe is None else "clients"
            log.info("3x-ui at %s speaks the %s API (panel %s)", self._host, s.api, s.panel_version or "< 3.1")
        return s.api

    @property
    def panel_version(self) -> str | None:
        """The panel's version when it reports one (v3.1+), after a health() or the first client call."""
        return self._session.panel_version

    # --- health ------------------------------------------------------------------------------------------

    def health(self) -> Health:
        """Healthy = success && obj != null && obj.xray.state == "running"; never raises."""
        try:
            env = self._status(timeout=self.config.health_timeout_s)
        except PanelError as exc:
            what = "credentials refused" if isinstance(exc, PanelAuthError) else "panel unreachable"
            return Health(False, None, self._session.panel_version, f"{what}: {exc.message}")
        version = self._session.panel_version
        if not env.success:
            return Health(False, None, version, f"status failed: {env.msg.strip() or 'no message'}")
        obj = env.obj
        if not isinstance(obj, dict):
            return Health(False, None, version, "panel starting: no status yet")
        xray: dict[str, Any] = obj["xray"] if isinstance(obj.get("xray"), dict) else {}
        state = str(xray.get("state")) if xray.get("state") is not None else None
        if state == "running":
            xray_version = xray.get("version")
            return Health(True, state, version, f"xray {xray_version} running" if xray_version else "xray running")
        error = str(xray.get("errorMsg") or "").strip()
        return Health(False, state, version, f"xray {state or 'state unknown'}" + (f": {error}" if error else ""))

    # --- clients -----------------------------------------------------------------------------------------

    def _inbound(self) -> _Inbound:
        iid = self.config.inbound_id
        env = self._call("GET", f"panel/api/inbounds/get/{iid}")
        if not env.success or not isinstance(env.obj, dict):
            raise self._failure(env, f"inbound {iid} (VPN_INBOUND_ID)")
        return _Inbound(env.obj, _json_field(env.obj.get("settings")), _json_field(env.obj.get("streamSettings")))

    def _record(self, email: str) -> Client | None:
        """v3.1+: the client record, or None when no client has exactly this email."""
        env = self._call("GET", f"panel/api/clients/get/{_seg(email)}")
        if not env.success:
            if _RECORD_NOT_FOUND.search(env.msg):
                return None
            raise self._failure(env, "clients/get")
        obj = env.obj if isinstance(env.obj, dict) else {}
        rec = obj.get("client")
        if not isinstance(rec, dict):
            raise PanelError("3x-ui clients/get: reply without a client")
        return _client_from_record(rec, obj.get("inboundIds"))

    def _new_body(self, spec: ClientSpec, inbound: _Inbound) -> dict[str, Any]:
        # Vision only where the inbound can carry it; v3.1.0 would store it on a ws inbound too.
        can_vision = inbound.obj.get("protocol", "vless") == "vless" and vless.flow_allowed(inbound.stream)
        flow = vless.VISION if spec.flow is None else spec.flow
        return {
            "id": spec.uuid or str(uuidlib.uuid4()),
            "flow": flow if can_vision else "",
            "email": spec.email,
            "limitIp": spec.limit_ip,
            "totalGB": spec.total_bytes,
            "expiryTime": spec.expiry_ms,
            "enable": spec.enable,
            "tgId": spec.tg_id,  # an int64 since v2.3.0: never ""
            "subId": spec.sub_id or secrets.token_hex(8),
            "comment": spec.comment,
            "reset": 0,
        }

    def get_client(self, email: str) -> Client | None:
        """The client with exactly this email on the configured inbound, or None."""
        check_email(email)
        if self.api() == "classic":
            inbound = self._inbound()
            raw = inbound.raw_client(email)
            return None if raw is None else inbound.client(raw, self.config.inbound_id)
        found = self._record(email)
        return found if found is not None and self.config.inbound_id in found.inbound_ids else None

    def ensure_client(self, spec: ClientSpec) -> Client:
        """Create the client, or return the one an earlier (retried, crashed, reply-lost) call made: never two
        clients for one email. Fields of an existing client are returned as stored, not changed."""
        check_email(spec.email)
        if spec.sub_id:
            check_email(spec.sub_id, "subId")
        if self.api() == "classic":
            return self._ensure_classic(spec)
        return self._ensure_clients(spec)

    def _ensure_classic(self, spec: ClientSpec) -> Client:
        iid = self.config.inbound_id
        inbound = self._inbound()
        if (raw := inbound.raw_client(spec.email)) is not None:
            return inbound.client(raw, iid)
        body = self._new_body(spec, inbound)
        form = {"id": str(iid), "settings": json.dumps({"clients": [body]})}
        try:
            env = self._call("POST", "panel/api/inbounds/addClient", form=form)
        except PanelError as exc:
            if exc.retryable and (found := self._lookup_after_failure(spec.email)) is not None:
                return found
            raise
        if env.success:
            return _client_from_settings(body, iid)
        if _DUPLICATE.search(env.msg):
            again = self._inbound()
            if (raw := again.raw_client(spec.email)) is not None:
                return again.client(raw, iid)
            raise EmailConflict(f"3x-ui: email {spec.email!r} is used on another inbound or in another letter case")
        raise self._failure(env, "addClient")

    def _ensure_clients(self, spec: ClientSpec) -> Client:
        iid = self.config.inbound_id
        body = self._new_body(spec, self._inbound())
        try:
            env = self._call("POST", "panel/api/clients/add", body={"client": body, "inboundIds": [iid]})
        except PanelError as exc:
            if exc.retryable and (found := self._lookup_after_failure(spec.email)) is not None:
                return found
            raise
        # Same email + same subId: the panel reuses the client (success). Another subId: "email already in use".
        if not env.success and not _DUPLICATE.search(env.msg):
            raise self._failure(env, "clients/add")
        found = self._record(spec.email)
        if found is None:
            if env.success:
                raise PanelError(f"3x-ui clients/add: {spec.email!r} missing right after it was added", True)
            raise EmailConflict(f"3x-ui: email {spec.email!r} is used in another letter case")
        if iid not in found.inbound_ids:
            raise EmailConflict(f"3x-ui: email {spec.email!r} belongs to a client of other inbounds")
        return found

    def _lookup_after_failure(self, email: str) -> Client | None:
        """After a create whose reply was lost: the panel may have stored it. Any error here means unknown."""
        try:
            return self.get_client(email)
        except PanelError:
            return None

    def update_client(
        self,
        email: str,
        *,
        expiry_ms: int,
        total_bytes: int,
        enable: bool = True,
        limit_ip: int | None = None,
    ) -> Client:
        """Set expiry, quota and enable (and limit_ip when given), keeping every other field: the panel
        replaces the whole client (v3.1+ turns omitted fields into 0/false), so it is read, changed, sent."""
        check_email(email)
        iid = self.config.inbound_id
        if self.api() == "classic":
            raw = self._inbound().raw_client(email)
            if raw is None:
                raise ClientNotFound(f"3x-ui: no client {email!r} on inbound {iid}")
            new = {**raw, "expiryTime": expiry_ms, "totalGB": total_bytes, "enable": enable}
            if limit_ip is not None:
                new["limitIp"] = limit_ip
            form = {"id": str(iid), "settings": json.dumps({"clients": [new]})}
            env = self._call("POST", f"panel/api/inbounds/updateClient/{_seg(str(raw.get('id') or ''))}", form=form)
            if not env.success:
                gone = _EMPTY_ID.search(env.msg) is not None  # the id was not found in the inbound any more
                raise self._failure(env, "updateClient", ClientNotFound if gone else PanelError)
            return _client_from_settings(new, iid)
        env = self._call("GET", f"panel/api/clients/get/{_seg(email)}")
        if not env.success:
            cls = ClientNotFound if _RECORD_NOT_FOUND.search(env.msg) else PanelError
            raise self._failure(env, "clients/get", cls)
        obj = env.obj if isinstance(env.obj, dict) else {}
        rec: dict[str, Any] = obj["client"] if isinstance(obj.get("client"), dict) else {}
        body: dict[str, Any] = {k: rec[k] for k in _RECORD_TO_BODY if k in rec}
        body["id"] = rec.get("uuid") or ""
        if isinstance(rec.get("reverse"), dict):
            body["reverse"] = rec["reverse"]
        body.update(expiryTime=expiry_ms, totalGB=total_bytes, enable=enable)
        if limit_ip is not None:
            body["limitIp"] = limit_ip
        env = self._call("POST", f"panel/api/clients/update/{_seg(email)}", body=body)
        if not env.success:
            cls = ClientNotFound if _RECORD_NOT_FOUND.search(env.msg) else PanelError
            raise self._failure(env, "clients/update", cls)
        return _client_from_record({**body, "uuid": body["id"]}, obj.get("inboundIds"))

    def reset_traffic(self, email: str) -> None:
        """Zero the client's up/down counters; the panel re-enables a depleted client too."""
        check_email(email)
        iid = self.config.inbound_id
        if self.api() == "classic":
            # v2.6 panics (HTTP 500) on an unknown email: ask first.
            if self._inbound().raw_client(email) is None:
                raise ClientNotFound(f"3x-ui: no client {email!r} on inbound {iid}")
            env = self._call("POST", f"panel/api/inbounds/{iid}/resetClientTraffic/{_seg(email)}")
            if not env.success:
                raise self._failure(env, "resetClientTraffic")
            return
        env = self._call("POST", f"panel/api/clients/resetTraffic/{_seg(email)}")
        if not env.success:
            cls = ClientNotFound if _RECORD_NOT_FOUND.search(env.msg) else PanelError
            raise self._failure(env, "clients/resetTraffic", cls)

    def delete_client(self, email: str) -> bool:
        """Delete the client; False when it was already gone. The classic API cannot delete an inbound's last
        client: LastClientError."""
        check_email(email)
        iid = self.config.inbound_id
        if self.api() == "classic":
            raw = self._inbound().raw_client(email)
            if raw is None:
                return False
            env = self._call("POST", f"panel/api/inbounds/{iid}/delClient/{_seg(str(raw.get('id') or ''))}")
            if env.success:
                return True
            if _LAST_CLIENT.search(env.msg):
                raise LastClientError(
                    f"3x-ui: {email!r} is the last client of inbound {iid}, which the classic API cannot delete "
                    "(keep a placeholder client on the inbound, or disable this one)"
                )
            if _GONE.search(env.msg):
                return False
            raise self._failure(env, "delClient")
        env = self._call("POST", f"panel/api/clients/del/{_seg(email)}")
        if env.success:
            return True
        if _GONE.search(env.msg):  # a repeated delete: `client "x" not found in any inbound or client record`
            return False
        raise self._failure(env, "clients/del")

    def traffic(self, email: str) -> Traffic | None:
        """The client's counters, or None for an unknown email (v2.6/v3.1: obj null; v2.9–v3.0: an error)."""
        check_email(email)
        if self.api() == "classic":
            env = self._call("GET", f"panel/api/inbounds/getClientTraffics/{_seg(email)}")
        else:
            env = self._call("GET", f"panel/api/clients/traffic/{_seg(email)}")
        if not env.success:
            if _NO_TRAFFIC.search(env.msg) or _RECORD_NOT_FOUND.search(env.msg):
                return None
            raise self._failure(env, "traffic")
        return _traffic(env.obj) if isinstance(env.obj, dict) else None

    def list_clients(self) -> list[Client]:
        """Every client of the configured inbound (for reconciling with the store's orders)."""
        iid = self.config.inbound_id
        if self.api() == "classic":
            inbound = self._inbound()
            return [inbound.client(raw, iid) for raw in inbound.clients]
        env = self._call("GET", "panel/api/clients/list")
        if not env.success:
            raise self._failure(env, "clients/list")
        rows = env.obj if isinstance(env.obj, list) else []
        found = [_client_from_record(r, r.get("inboundIds"), r.get("traffic")) for r in rows if isinstance(r, dict)]
        return [c for c in found if iid in c.inbound_ids]

    def links(self, email: str) -> list[str]:
        """The client's share links: the panel's own on v3.1+, built like its subscription server before."""
        check_email(email)
        if self.api() == "clients":
            env = self._call("GET", f"panel/api/clients/links/{_seg(email)}")
            if not env.success:
                cls = ClientNotFound if _RECORD_NOT_FOUND.search(env.msg) else PanelError
                raise self._failure(env, "clients/links", cls)
            links = [str(x) for x in env.obj] if isinstance(env.obj, list) else []
            return [self._public_host(link) for link in links]
        inbound = self._inbound()
        raw = inbound.raw_client(email)
        if raw is None:
            raise ClientNotFound(f"3x-ui: no client {email!r} on inbound {self.config.inbound_id}")
        if inbound.obj.get("protocol", "vless") != "vless":
            raise PanelError(f"3x-ui: inbound {self.config.inbound_id} is not a VLESS inbound")
        return [vless.client_link(inbound.obj, inbound.settings, inbound.stream, raw, self.config.effective_link_host)]

    def _public_host(self, link: str) -> str:
        """Called on 127.0.0.1 with no subDomain set, the panel writes `localhost` into links: VPN_LINK_HOST
        (when set) replaces a loopback host."""
        host = self.config.link_host
        if not host:
            return link
        m = re.match(r"^(vless://[^@]+@)(localhost|127\.0\.0\.1|\[::1\])(:\d+)", link)
        return f"{m.group(1)}{host}{m.group(3)}{link[m.end() :]}" if m else link

    def subscription_url(self, sub_id: str) -> str | None:
        """The client's subscription URL on the public sub server (VPN_SUB_URL), or None when not set."""
        if not self.config.sub_url:
            return None
        check_email(sub_id, "subId")
        base = self.config.sub_url if self.config.sub_url.endswith("/") else self.config.sub_url + "/"
        return base + _seg(sub_id)


@lru_cache(maxsize=1)
def shared() -> Panel:
    """The process-wide adapter built from the environment (keeps its connections and login)."""
    return Panel(PanelConfig.from_env(os.environ))
