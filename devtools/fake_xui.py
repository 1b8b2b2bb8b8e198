"""A fake 3x-ui panel (MHSanaei/3x-ui; /work/shared/protocols.md §1 and §5), one of four versions per
instance: "2.6.8", "2.9.4", "3.0.0" (classic inbound API) and "3.6.0" (clients API, classic client routes gone).

What it keeps as the panel does: login (form or JSON, always HTTP 200, cookie `3x-ui`, v3.0's limiter), CSRF
on v3.0+ cookie writes (bare 403), Bearer tokens (v3.0+), unauthenticated replies per version (307 / 401 with
XHR / bare 404), the `{success,msg,obj}` envelope with `"<prefix> (<err>\\n)"` errors, inbounds whose
settings/streamSettings are JSON strings, emails unique across inbounds case-insensitively, traffic rows,
`server/status`, and the subscription server (`/sub/<subId>`, base64, Subscription-Userinfo).

For tests: `fail_next(path_regex, kind)` (500, a dropped connection before or after the change is stored,
success:false, a reply slower than the client waits), `add_traffic`, `drop_sessions`, `calls`.
Links are written here independently of ttfd.clients.vless, the way the panel's Go code writes them.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import itertools
import json
import math
import random
import re
import secrets
import socket
import string
import threading
import time
import uuid as uuidlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, quote_plus

from flask import Flask, Response, request

VERSIONS = ("2.6.8", "2.9.4", "3.0.0", "3.6.0")
COOKIE = "3x-ui"
KINDS = ("500", "drop", "drop_after", "error", "timeout")
_KIND_ALIASES = {"success:false": "error", "connection drop": "drop", "drop_before": "drop"}

# en-US texts of the panel (web/translation): prefixes of error envelopes and the login toasts.
WENT_WRONG = "Something went wrong"
OBTAIN = "Obtain"
TRAFFIC_ERR = "Error getting traffics."
LOGIN_OK = " You have successfully logged into your account."
LOGIN_BAD = "Invalid username or password or two-factor code."
LOGIN_AGAIN = "Your session has expired, please log in again"

REALITY_PRIVATE = "SMGVl0a6x0oJ6QKmOA1a8r0M3KJ2DftOMbAW9hOUP3s"
REALITY_PUBLIC = "u8uVd8j8iYjK3a1Y0cN8Q8f0Vq2Kk8pE1v6oYwR2fXo"


def _reality(v: tuple[int, ...]) -> dict[str, Any]:
    target = "dest" if v < (2, 9) else "target"  # v2.9 renamed the field
    return {
        "network": "tcp",
        "security": "reality",
        "externalProxy": [],
        "realitySettings": {
            "show": False,
            "xver": 0,
            target: "www.google.com:443",
            "serverNames": ["www.google.com"],
            "privateKey": REALITY_PRIVATE,
            "minClientVer": "",
            "maxClientVer": "",
            "maxTimediff": 0,
            "shortIds": ["6ba85179"],
            "settings": {
                "publicKey": REALITY_PUBLIC,
                "fingerprint": "chrome",
                "serverName": "",
                "spiderX": "/",
                "mldsa65Verify": "",
            },
        },
        "tcpSettings": {"acceptProxyProtocol": False, "header": {"type": "none"}},
    }


def _tls(network: str) -> dict[str, Any]:
    stream: dict[str, Any] = {
        "network": network,
        "security": "tls",
        "externalProxy": [],
        "tlsSettings": {
            "serverName": "vpn.example.com",
            "minVersion": "1.2",
            "maxVersion": "1.3",
            "alpn": ["h2", "http/1.1"],
            "certificates": [{"certificateFile": "/root/cert.crt", "keyFile": "/root/private.key"}],
            "settings": {"allowInsecure": False, "fingerprint": "chrome"},
        },
    }
    if network == "tcp":
        stream["tcpSettings"] = {"acceptProxyProtocol": False, "header": {"type": "none"}}
    elif network == "ws":
        stream["wsSettings"] = {"path": "/ws", "host": "", "headers": {"Host": "cdn.example.com"}}
    elif network == "grpc":
        stream["grpcSettings"] = {"serviceName": "tun", "authority": "", "multiMode": True}
    elif network == "xhttp":
        stream["xhttpSettings"] = {"path": "/x", "host": "cdn.example.com", "mode": "auto"}
    return stream


STREAMS: dict[str, Callable[[tuple[int, ...]], dict[str, Any]]] = {
    "reality": _reality,
    "tls": lambda v: _tls("tcp"),
    "ws-tls": lambda v: _tls("ws"),
    "grpc-tls": lambda v: _tls("grpc"),
    "xhttp-tls": lambda v: _tls("xhttp"),
}


@dataclass
class XuiCall:
    method: str
    path: str  # relative to the base path ("panel/api/clients/add"), or the sub path ("/sub/abc")
    body: dict[str, Any]
    auth: str  # "bearer", "cookie" or ""
    csrf: bool  # an X-CSRF-Token header came along


@dataclass
class _Failure:
    path_re: re.Pattern[str]
    kind: str
    method: str | None
    msg: str
    times: int


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


@dataclass
class XuiState:
    version: str = "3.6.0"
    base_path: str = "/"  # webBasePath; normalised to "/…/"
    username: str = "admin"
    password: str = "admin"  # noqa: S105 (the fake's login)
    tokens: list[str] = field(default_factory=list)  # valid API tokens (v3.0+)
    sub_path: str = "/sub/"
    link_host: str | None = None  # subDomain: None → the request's host ("localhost" for 127.0.0.1 on v3.1+)
    sub_title: str = ""
    # server/status: xray "running" | "stop" | "error"; mode "ok" | "null" (obj null, just started) |
    # "error" (success:false) | "down" (connection dropped) | "slow" (answers after slow_s)
    xray_state: str = "running"
    xray_error: str = ""
    status_mode: str = "ok"
    slow_s: float = 2.0
    inbounds: dict[int, dict[str, Any]] = field(default_factory=dict)
    traffics: dict[str, dict[str, Any]] = field(default_factory=dict)  # by email, as the client_traffics table
    record_ids: dict[str, int] = field(default_factory=dict)  # v3.1+ ClientRecord ids by email
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)  # cookie value → {"user", "csrf"}
    calls: list[XuiCall] = field(default_factory=list)
    failures: list[_Failure] = field(default_factory=list)
    login_failures: dict[str, list[float]] = field(default_factory=dict)
    login_blocked: dict[str, float] = field(default_factory=dict)
    clock: Callable[[], float] = time.time
    lock: threading.RLock = field(default_factory=threading.RLock)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    started: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        if self.version not in VERSIONS:
            raise ValueError(f"version must be one of {VERSIONS}")
        self.base_path = "/" + self.base_path.strip("/") + "/" if self.base_path.strip("/") else "/"

    @property
    def v(self) -> tuple[int, ...]:
        return _version(self.version)

    @classmethod
    def demo(cls, version: str = "3.6.0", **kw: Any) -> XuiState:
        """A panel with inbound 1: VLESS + Reality on 443 ("main") holding one placeholder client, since the
        classic API cannot delete an inbound's last client."""
        state = cls(version=version, **kw)
        iid = state.add_inbound("main", 443, "reality")
        state.add_client(iid, "placeholder", sub_id="placeholder0sub1")
        return state

    # --- seeding and inspection ------------------------------------------------------------------------

    def add_inbound(self, remark: str, port: int, stream: str = "reality", *, enable: bool = True) -> int:
        """A VLESS inbound with one of STREAMS' stream settings; returns its id."""
        with self.lock:
            iid = max(self.inbounds, default=0) + 1
            settings: dict[str, Any] = {"clients": [], "decryption": "none", "fallbacks": []}
            if self.v >= (2, 9):
                settings["encryption"] = "none"
            self.inbounds[iid] = {
                "id": iid,
                "up": 0,
                "down": 0,
                "total": 0,
                "allTime": 0,
                "remark": remark,
                "enable": enable,
                "expiryTime": 0,
                "listen": "",
                "port": port,
                "protocol": "vless",
                "settings": settings,
                "streamSettings": STREAMS[stream](self.v),
                "tag": f"inbound-{port}",
                "sniffing": {"enabled": False, "destOverride": ["http", "tls", "quic", "fakedns"]},
            }
            return iid

    def add_client(self, inbound_id: int, email: str, *, sub_id: str = "", **fields: Any) -> dict[str, Any]:
        """Store a client directly (as if made in the panel's UI)."""
        with self.lock:
            client = {
                "id": str(uuidlib.uuid4()),
                "flow": "",
                "email": email,
                "limitIp": 0,
                "totalGB": 0,
                "expiryTime": 0,
                "enable": True,
                "tgId": 0,
                "subId": sub_id or _rand16(),
                "comment": "",
                "reset": 0,
                **fields,
            }
            self._append(inbound_id, client)
            return client

    def clients_of(self, inbound_id: int) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(c) for c in self.inbounds[inbound_id]["settings"]["clients"]]

    def find(self, email: str) -> tuple[int, dict[str, Any]] | None:
        """(inbound id, client) of the first client with exactly this email."""
        with self.lock:
            for iid, ib in self.inbounds.items():
                for c in ib["settings"]["clients"]:
                    if c.get("email") == email:
                        return iid, c
        return None

    def count(self, email: str) -> int:
        """How many clients carry this email, in any letter case, over all inbounds (1 at most, if sane)."""
        with self.lock:
            return sum(
                1
                for ib in self.inbounds.values()
                for c in ib["settings"]["clients"]
                if str(c.get("email", "")).lower() == email.lower()
            )

    def add_traffic(self, email: str, up: int = 0, down: int = 0) -> None:
        """Xray counted traffic for the client; the traffic job then disables a client over its quota."""
        with self.lock:
            row = self.traffics[email]
            row["up"] += up
            row["down"] += down
            row["allTime"] += up + down
            row["lastOnline"] = int(self.clock() * 1000)
            self._deplete(row)

    def expire(self, email: str) -> None:
        """The traffic job ran after the client's expiry time."""
        with self.lock:
            row = self.traffics[email]
            row["expiryTime"] = int(self.clock() * 1000) - 1
            self._deplete(row)

    def _deplete(self, row: dict[str, Any]) -> None:
        now = int(self.clock() * 1000)
        if (row["total"] > 0 and row["up"] + row["down"] >= row["total"]) or 0 < row["expiryTime"] <= now:
            row["enable"] = False

    def drop_sessions(self) -> None:
        """Every login is forgotten (the panel restarted with a new secret, or the sessions expired)."""
        with self.lock:
            self.sessions.clear()

    def fail_next(
        self, path_re: str, kind: str | int, *, times: int = 1, method: str | None = None, msg: str | None = None
    ) -> None:
        """The next `times` requests whose path (relative to the base path) matches `path_re` (re.search):
        "500" → HTTP 500, nothing stored; "drop" → the connection closes before anything is stored;
        "drop_after" → the change is stored, then the connection closes without a reply; "error" →
        success:false with `msg` (default a locked database); "timeout" → the reply comes after slow_s."""
        kind = _KIND_ALIASES.get(str(kind), str(kind))
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        default = f"{WENT_WRONG} (database is locked)"
        with self.lock:
            self.failures.append(_Failure(re.compile(path_re), kind, method, msg or default, times))

    def calls_to(self, path_re: str, method: str | None = None) -> list[XuiCall]:
        return [c for c in self.calls if re.search(path_re, c.path) and (method is None or c.method == method)]

    # --- storage helpers (hold the lock) -----------------------------------------------------------------

    def _append(self, inbound_id: int, client: dict[str, Any]) -> None:
        now = int(self.clock() * 1000)
        client.setdefault("created_at", now)
        client["updated_at"] = now
        self.inbounds[inbound_id]["settings"]["clients"].append(client)
        email = str(client.get("email", ""))
        if email and email not in self.traffics:
            self.traffics[email] = {
                "id": next(self.ids),
                "inboundId": inbound_id,
                "enable": bool(client.get("enable", True)),
                "email": email,
                "up": 0,
                "down": 0,
                "allTime": 0,
                "expiryTime": int(client.get("expiryTime") or 0),
                "total": int(client.get("totalGB") or 0),
                "reset": int(client.get("reset") or 0),
                "lastOnline": 0,
            }
        self.record_ids.setdefault(email, next(self.ids))

    def _all_emails(self) -> list[str]:
        return [str(c.get("email", "")).lower() for ib in self.inbounds.values() for c in ib["settings"]["clients"]]

    def _sync_traffic(self, old_email: str, client: dict[str, Any]) -> None:
        """UpdateClientStat: the traffic row follows the client's email, enable, quota and expiry."""
        row = self.traffics.pop(old_email, None)
        if row is None:
            return
        row.update(
            email=client.get("email", old_email),
            enable=bool(client.get("enable", False)),
            total=int(client.get("totalGB") or 0),
            expiryTime=int(client.get("expiryTime") or 0),
            reset=int(client.get("reset") or 0),
        )
        self.traffics[row["email"]] = row
        if old_email != row["email"] and old_email in self.record_ids:
            self.record_ids[row["email"]] = self.record_ids.pop(old_email)


def _rand16() -> str:
    return "".join(random.choices(string.ascii_lowercase + string.digits, k=16))


class _Refusal(Exception):
    """A handler's error envelope: `msg="<prefix> (<err>)"`, HTTP 200."""

    def __init__(self, prefix: str, err: str) -> None:
        super().__init__(f"{prefix} ({err})")
        self.msg = f"{prefix} ({err})"


def _go_err(*parts: Any) -> str:
    """common.NewError: fmt.Sprintln, so words are space-joined and a newline ends the text."""
    return " ".join(str(p) for p in parts) + "\n"


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status, headers=headers, mimetype="application/json")


def _ok(obj: Any = None, msg: str = "") -> Response:
    return _json({"success": True, "msg": msg, "obj": obj})


def _fail(msg: str) -> Response:
    return _json({"success": False, "msg": msg, "obj": None})


def _bare(status: int) -> Response:
    # gin's NoRoute / AbortWithStatus: an empty body (404 page for unknown routes).
    return Response("404 page not found" if status == 404 else "", status, mimetype="text/plain")


def _body() -> dict[str, Any]:
    """gin ShouldBind: JSON by Content-Type, else form fields."""
    if request.is_json:
        data = request.get_json(silent=True)
        return data if isinstance(data, dict) else {}
    return {k: v for k, v in request.form.items()}


def _forbidden_char(s: str) -> bool:
    return any(ch in "/\\ " or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in s)


def _can_vision(inbound: dict[str, Any]) -> bool:
    stream = inbound["streamSettings"]
    return (
        inbound["protocol"] == "vless"
        and stream.get("network") == "tcp"
        and stream.get("security") in ("tls", "reality")
    )


def _fmt_bytes(n: int) -> str:
    units = ["B", "KB", "MB", "GB", "TB", "PB"]
    value, i = float(n), 0
    while value >= 1024 and i < len(units) - 1:
        value /= 1024
        i += 1
    return f"{value:.2f}{units[i]}"


def _search(data: Any, key: str) -> Any:
    """searchKey: the key here or anywhere below."""
    if isinstance(data, dict):
        if key in data:
            return data[key]
        for v in data.values():
            if (found := _search(v, key)) is not None:
                return found
    if isinstance(data, list):
        for v in data:
            if (found := _search(v, key)) is not None:
                return found
    return None


def _host_header(headers: Any) -> str:
    for k, v in (headers or {}).items():
        if k.lower() == "host":
            return str(v[0] if isinstance(v, list) and v else v or "")
    return ""


def gen_vless_link(state: XuiState, inbound: dict[str, Any], client: dict[str, Any], host: str) -> str:
    """sub/subService.go genVlessLink for this version (v2.x/3.0: random spiderX, v2.6 encryption only when
    set; v3.6: spiderX from sha256, remark template with traffic and days left)."""
    v = state.v
    stream, settings = inbound["streamSettings"], inbound["settings"]
    network = stream.get("network", "tcp")
    params: dict[str, str] = {"type": network}
    if "encryption" in settings and (v >= (2, 9) or settings["encryption"]):
        params["encryption"] = str(settings["encryption"])
    if network in ("ws", "httpupgrade", "xhttp"):
        section = stream.get(f"{network}Settings", {})
        params["path"] = section.get("path", "")
        params["host"] = section.get("host") or _host_header(section.get("headers"))
        if network == "xhttp":
            params["mode"] = section.get("mode", "")
    elif network == "grpc":
        grpc = stream.get("grpcSettings", {})
        params["serviceName"] = grpc.get("serviceName", "")
        params["authority"] = grpc.get("authority", "")
        if grpc.get("multiMode"):
            params["mode"] = "multi"
    security = stream.get("security")
    if security == "tls":
        tls = stream.get("tlsSettings", {})
        params["security"] = "tls"
        if tls.get("alpn"):
            params["alpn"] = ",".join(tls["alpn"])
        if (sni := _search(tls, "serverName")) is not None:
            params["sni"] = sni
        if (fp := _search(tls.get("settings"), "fingerprint")) is not None:
            params["fp"] = fp
        if v < (3, 1) and _search(tls.get("settings"), "allowInsecure") is True:
            params["allowInsecure"] = "1"
    elif security == "reality":
        rs = stream.get("realitySettings", {})
        cs = rs.get("settings", {})
        params["security"] = "reality"
        params["sni"] = random.choice(rs["serverNames"])
        params["pbk"] = cs.get("publicKey", "")
        params["sid"] = random.choice(rs["shortIds"])
        if cs.get("fingerprint"):
            params["fp"] = cs["fingerprint"]
        if cs.get("mldsa65Verify"):
            params["pqv"] = cs["mldsa65Verify"]
        key = client.get("subId") or client.get("email", "")
        if v >= (3, 1):
            params["spx"] = "/" + hashlib.sha256(f"{cs.get('spiderX', '')}|{key}".encode()).hexdigest()[:15]
        else:
            params["spx"] = "/" + "".join(random.choices(string.ascii_letters + string.digits, k=15))
    else:
        params["security"] = "none"
    if client.get("flow") and network == "tcp" and security in ("tls", "reality"):
        params["flow"] = client["flow"]
    query = "&".join(f"{quote_plus(k)}={quote_plus(str(val))}" for k, val in sorted(params.items()))
    email = str(client.get("email", ""))
    remark = "-".join(p for p in (inbound.get("remark", ""), email) if p)
    if v >= (3, 1):
        row = state.traffics.get(email)
        segments = [remark]
        if row and row["total"] > 0:
            segments.append("📊" + _fmt_bytes(max(0, row["total"] - row["up"] - row["down"])))
        expiry = int(client.get("expiryTime") or 0)
        if expiry > 0:
            days = max(0, math.ceil((expiry - state.clock() * 1000) / 86_400_000))
            segments.append(f"⏳{days}D")
        fragment = quote("|".join(segments), safe="")
    else:
        fragment = quote(remark, safe="$&+,/:;=?@!()*'")  # Go's url.URL.String() fragment escaping
    address = f"[{host}]" if ":" in host else host
    return f"vless://{client.get('id', '')}@{address}:{inbound['port']}?{query}#{fragment}"


def create_app(state: XuiState, prefix: str = "") -> Flask:
    """The fake panel as a Flask app. Routes live under `prefix + state.base_path` (the dev server mounts it
    with a prefix, tests serve it at the root); the subscription server under `prefix + state.sub_path`."""
    app = Flask("fake_xui")

    @app.route(f"{prefix}/", defaults={"path": ""}, methods=["GET", "POST", "HEAD", "PUT", "DELETE"])
    @app.route(f"{prefix}/<path:path>", methods=["GET", "POST", "HEAD", "PUT", "DELETE"])
    def any_route(path: str) -> Response:
        full = "/" + path
        if full.startswith(state.sub_path):
            return _sub(state, full[len(state.sub_path) :])
        if not full.startswith(state.base_path) and full + "/" != state.base_path:
            return _bare(404)
        return _panel(state, full[len(state.base_path) :])

    return app


def _auth(state: XuiState) -> tuple[str, dict[str, Any] | None]:
    """("bearer" | "cookie" | "", the cookie's session if any)."""
    session = state.sessions.get(request.cookies.get(COOKIE, ""))
    header = request.headers.get("Authorization", "")
    if state.v >= (3, 0) and header.startswith("Bearer ") and header[7:] in state.tokens:
        return "bearer", session
    if session is not None and session.get("user"):
        return "cookie", session
    return "", session


def _csrf_sent(session: dict[str, Any] | None) -> bool:
    sent = request.headers.get("X-CSRF-Token") or request.form.get("_csrf", "")
    expected = (session or {}).get("csrf")
    return bool(expected) and secrets.compare_digest(str(sent), str(expected))


def _unauthenticated(state: XuiState) -> Response:
    xhr = request.headers.get("X-Requested-With") == "XMLHttpRequest"
    if state.v < (2, 8, 5):
        if xhr:
            return _json({"success": False, "msg": LOGIN_AGAIN, "obj": None}, 401)
        return Response("", 307, headers={"Location": request.script_root + state.base_path})
    if state.v >= (3, 6) and xhr:
        return _bare(401)
    return _bare(404)


Handler = Callable[[XuiState, dict[str, str]], Response]


def _routes(v: tuple[int, ...]) -> list[tuple[str, str, str, Handler]]:
    """(method, path regex, guard, handler); guard "public" | "login" (v2.6 checkLogin) | "api"."""
    api = "panel/api/"
    routes: list[tuple[str, str, str, Handler]] = [
        ("GET", "", "public", _index),
        ("POST", "login", "public", _login),
        ("GET", f"{api}inbounds/list", "api", _inbounds_list),
        (
            "GET",
            f"{api}inbounds/get/(?P<id>[^/]+)",
            "api",
            lambda s, p: (
                _ok(_inbound_out(s, s.inbounds[int(p["id"])]))
                if p["id"].isdigit() and int(p["id"]) in s.inbounds
                else _fail(f"{OBTAIN} (record not found)")
            ),
        ),
    ]
    if v >= (3, 0):
        routes.append(("GET", "csrf-token", "public", _csrf_token))
    if v < (2, 7):
        routes.append(("POST", "server/status", "login", _status))
    else:
        routes.append(("GET", f"{api}server/status", "api", _status))
    if v < (3, 1):
        routes += [
            ("GET", f"{api}inbounds/getClientTraffics/(?P<email>[^/]+)", "api", _classic_traffic),
            ("POST", f"{api}inbounds/addClient", "api", _classic_add),
            ("POST", f"{api}inbounds/updateClient/(?P<cid>[^/]+)", "api", _classic_update),
            ("POST", f"{api}inbounds/(?P<id>[^/]+)/delClient/(?P<cid>[^/]+)", "api", _classic_del),
            ("POST", f"{api}inbounds/(?P<id>[^/]+)/resetClientTraffic/(?P<email>[^/]+)", "api", _classic_reset),
            ("POST", f"{api}inbounds/onlines", "api", _onlines),
            ("POST", f"{api}inbounds/lastOnline", "api", _last_online),
        ]
    else:
        routes += [
            ("GET", f"{api}clients/list", "api", _clients_list),
            ("GET", f"{api}clients/get/(?P<email>[^/]+)", "api", _clients_get),
            ("GET", f"{api}clients/traffic/(?P<email>[^/]+)", "api", _clients_traffic),
            ("GET", f"{api}clients/links/(?P<email>[^/]+)", "api", _clients_links),
            ("GET", f"{api}clients/subLinks/(?P<sub>[^/]+)", "api", _clients_sub_links),
            ("POST", f"{api}clients/add", "api", _clients_add),
            ("POST", f"{api}clients/update/(?P<email>[^/]+)", "api", _clients_update),
            ("POST", f"{api}clients/del/(?P<email>[^/]+)", "api", _clients_del),
            ("POST", f"{api}clients/resetTraffic/(?P<email>[^/]+)", "api", _clients_reset),
            ("POST", f"{api}clients/onlines", "api", _onlines),
            ("POST", f"{api}clients/lastOnline", "api", _last_online),
        ]
    return routes


def _drop() -> Response:
    """Close the client's connection without a reply (werkzeug's server hands the socket over; writing the
    returned response then fails quietly). Without that socket the best stand-in is a 502."""
    sock = request.environ.get("werkzeug.socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    return Response("", 502)


def _panel(state: XuiState, rel: str) -> Response:
    method = "GET" if request.method == "HEAD" else request.method
    match: tuple[str, Handler, dict[str, str]] | None = None
    for m, pattern, guard, handler in _routes(state.v):
        found = re.fullmatch(pattern, rel)
        if found and m == method:
            match = (guard, handler, found.groupdict())
            break
    body = _body() if method == "POST" else {}
    with state.lock:
        kind, session = _auth(state)
        state.calls.append(XuiCall(method, rel, dict(body), kind, bool(request.headers.get("X-CSRF-Token"))))
    if match is None:
        return _bare(404)  # gin: no route (and so no auth middleware either)
    guard, handler, params = match
    if guard == "api":
        if not kind:
            return _unauthenticated(state)
        # v3.0+ CSRFMiddleware: cookie callers must send the session's token on unsafe methods.
        if state.v >= (3, 0) and kind == "cookie" and method != "GET" and not _csrf_sent(session):
            return _bare(403)
    elif guard == "login" and kind != "cookie":
        return _unauthenticated(state)
    # Injected failures hit requests the panel would have handled (a refused one does not use them up).
    with state.lock:
        failure = next(
            (f for f in state.failures if f.times > 0 and f.path_re.search(rel) and f.method in (None, method)), None
        )
        if failure is not None:
            failure.times -= 1
    if failure is not None:
        if failure.kind == "500":
            return Response("Internal Server Error", 500, mimetype="text/plain")
        if failure.kind == "drop":
            return _drop()
        if failure.kind == "error":
            return _fail(failure.msg)
        if failure.kind == "timeout":
            time.sleep(state.slow_s)
    with state.lock:
        try:
            reply = handler(state, params)
        except _Refusal as refusal:
            reply = _fail(refusal.msg)
    if failure is not None and failure.kind == "drop_after":
        return _drop()
    return reply


def _index(state: XuiState, p: dict[str, str]) -> Response:
    return Response("<!doctype html><title>Login</title><form method=post action=login></form>", 200,
                    mimetype="text/html")  # fmt: skip


def _csrf_token(state: XuiState, p: dict[str, str]) -> Response:
    """EnsureCSRFToken: the session's token, creating an anonymous session (and cookie) when needed."""
    cookie = request.cookies.get(COOKIE, "")
    session = state.sessions.get(cookie)
    headers: dict[str, str] = {}
    if session is None:
        cookie = secrets.token_urlsafe(24)
        session = state.sessions[cookie] = {"user": None, "csrf": None}
        headers["Set-Cookie"] = _cookie_header(state, cookie)
    if not session.get("csrf"):
        session["csrf"] = secrets.token_urlsafe(32)
    return _json({"success": True, "obj": session["csrf"]}, headers=headers)


def _cookie_header(state: XuiState, value: str) -> str:
    if state.v < (2, 9):
        return f"{COOKIE}={value}; Path=/; Max-Age=21600; HttpOnly"
    return f"{COOKIE}={value}; Path={request.script_root}{state.base_path}; Max-Age=21600; HttpOnly; SameSite=Lax"


def _login(state: XuiState, p: dict[str, str]) -> Response:
    old_cookie = request.cookies.get(COOKIE, "")
    session = state.sessions.get(old_cookie)
    if state.v >= (3, 0) and not _csrf_sent(session):
        return _bare(403)
    form = _body()
    user, password = str(form.get("username") or ""), str(form.get("password") or "")
    if not user:
        return _fail("Username is required")
    if not password:
        return _fail("Password is required")
    key = f"{request.remote_addr}\x00{user.strip().lower()}"
    now = state.clock()
    if state.v >= (3, 0) and state.login_blocked.get(key, 0) > now:
        return _fail(LOGIN_BAD)  # the limiter's block looks like a wrong password
    if user != state.username or password != state.password:
        if state.v >= (3, 0):
            recent = [t for t in state.login_failures.get(key, []) if t >= now - 300] + [now]
            state.login_failures[key] = recent
            if len(recent) >= 5:
                state.login_failures.pop(key)
                state.login_blocked[key] = now + 900
        return _fail(LOGIN_BAD)
    state.login_failures.pop(key, None)
    # securecookie: the saved session is a new cookie value (the CSRF token stays in it).
    csrf = (session or {}).get("csrf")
    state.sessions.pop(old_cookie, None)
    cookie = secrets.token_urlsafe(24)
    state.sessions[cookie] = {"user": user, "csrf": csrf}
    return _json({"success": True, "msg": LOGIN_OK, "obj": None}, headers={"Set-Cookie": _cookie_header(state, cookie)})


def _status(state: XuiState, p: dict[str, str]) -> Response:
    mode = state.status_mode
    if mode == "down":
        return _drop()
    if mode == "slow":
        time.sleep(state.slow_s)
    if mode == "error":
        return _fail("get status failed")
    if mode == "null":
        return _ok(None)
    obj: dict[str, Any] = {
        "cpu": 3.5,
        "cpuCores": 2,
        "mem": {"current": 512 << 20, "total": 2 << 30},
        "disk": {"current": 5 << 30, "total": 20 << 30},
        "xray": {"state": state.xray_state, "errorMsg": state.xray_error, "version": "25.10.15"},
        "uptime": int(time.time() - state.started),
        "loads": [0.1, 0.2, 0.15],
        "tcpCount": 12,
        "udpCount": 3,
        "netIO": {"up": 0, "down": 0},
        "netTraffic": {"sent": 0, "recv": 0},
        "publicIP": {"ipv4": "203.0.113.7", "ipv6": "N/A"},
        "appStats": {"threads": 20, "mem": 50 << 20, "uptime": int(time.time() - state.started)},
    }
    if state.v >= (3, 1):
        obj.update(panelVersion=state.version, panelGuid="0f0e6a53-guid", swap={"current": 0, "total": 0})
    return _ok(obj)


def _stats_out(state: XuiState, row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    if state.v >= (2, 9):  # ClientTraffic gained uuid and subId
        found = state.find(row["email"])
        out["uuid"] = found[1].get("id", "") if found else ""
        out["subId"] = found[1].get("subId", "") if found else ""
    return out


def _inbound_out(state: XuiState, ib: dict[str, Any]) -> dict[str, Any]:
    """model.Inbound: settings, streamSettings and sniffing as JSON strings (Go MarshalIndent, keys sorted)."""
    out = {k: v for k, v in ib.items() if k not in ("settings", "streamSettings", "sniffing")}
    emails = [c.get("email") for c in ib["settings"]["clients"]]
    out["clientStats"] = [_stats_out(state, state.traffics[e]) for e in emails if e in state.traffics]
    for key in ("settings", "streamSettings", "sniffing"):
        out[key] = json.dumps(ib[key], indent=2, sort_keys=True, ensure_ascii=False)
    return out


def _inbounds_list(state: XuiState, p: dict[str, str]) -> Response:
    return _ok([_inbound_out(state, ib) for ib in state.inbounds.values()])


def _get_inbound(state: XuiState, raw_id: Any, prefix: str = WENT_WRONG) -> dict[str, Any]:
    try:
        return state.inbounds[int(raw_id)]
    except (KeyError, TypeError, ValueError):
        raise _Refusal(prefix, "record not found") from None


# --- classic client routes (v2.x–v3.0) ---------------------------------------------------------------------


def _settings_clients(form: dict[str, Any]) -> list[dict[str, Any]]:
    try:
        settings = json.loads(form.get("settings") or "{}")
    except ValueError as exc:
        raise _Refusal(WENT_WRONG, str(exc)) from None
    clients = settings.get("clients") if isinstance(settings, dict) else None
    if not isinstance(clients, list) or not all(isinstance(c, dict) for c in clients):
        raise _Refusal(WENT_WRONG, "json: cannot unmarshal clients")
    return clients


def _classic_add(state: XuiState, p: dict[str, str]) -> Response:
    form = _body()
    clients = _settings_clients(form)
    existing = state._all_emails()
    seen: list[str] = []
    for c in clients:
        email = str(c.get("email") or "")
        if email and (email.lower() in seen or email.lower() in existing):
            raise _Refusal(WENT_WRONG, _go_err("Duplicate email:", email))
        seen.append(email.lower())
    inbound = _get_inbound(state, form.get("id"))
    for c in clients:
        if not c.get("id"):
            raise _Refusal(WENT_WRONG, _go_err("empty client ID"))
    for c in clients:
        state._append(inbound["id"], dict(c))
    return _ok(None, "Inbound client(s) have been added.")


def _classic_update(state: XuiState, p: dict[str, str]) -> Response:
    form = _body()
    clients = _settings_clients(form)
    inbound = _get_inbound(state, form.get("id"))
    stored = inbound["settings"]["clients"]
    index = next((i for i, c in enumerate(stored) if c.get("id") == p["cid"]), -1)
    if index < 0 or not clients or not clients[0].get("id"):
        raise _Refusal(WENT_WRONG, _go_err("empty client ID"))
    new = dict(clients[0])
    old_email = str(stored[index].get("email", ""))
    email = str(new.get("email") or "")
    if email and email != old_email and email.lower() in state._all_emails():
        raise _Refusal(WENT_WRONG, _go_err("Duplicate email:", email))
    new["created_at"] = stored[index].get("created_at", int(state.clock() * 1000))
    new["updated_at"] = int(state.clock() * 1000)
    stored[index] = new  # the whole client is replaced by what was sent
    state._sync_traffic(old_email, new)
    return _ok(None, "Inbound client has been updated.")


def _classic_del(state: XuiState, p: dict[str, str]) -> Response:
    inbound = _get_inbound(state, p["id"])
    stored = inbound["settings"]["clients"]
    remaining = [c for c in stored if c.get("id") != p["cid"]]
    if len(remaining) == len(stored) and state.v >= (2, 9):
        raise _Refusal(WENT_WRONG, _go_err("Client Not Found In Inbound For ID:", p["cid"]))
    if not remaining:
        raise _Refusal(WENT_WRONG, _go_err("no client remained in Inbound"))
    for c in stored:
        if c.get("id") == p["cid"]:
            state.traffics.pop(str(c.get("email", "")), None)
    inbound["settings"]["clients"] = remaining  # v2.6: an unknown id changes nothing and succeeds
    return _ok(None, "Inbound client has been deleted.")


def _classic_traffic(state: XuiState, p: dict[str, str]) -> Response:
    row = state.traffics.get(p["email"])
    if row is None:
        if state.v >= (2, 9):
            raise _Refusal(TRAFFIC_ERR, _go_err("Inbound Not Found For Email:", p["email"]))
        return _ok(None)
    return _ok(_stats_out(state, row))


def _classic_reset(state: XuiState, p: dict[str, str]) -> Response:
    row = state.traffics.get(p["email"])
    if row is None:
        if state.v < (2, 9):  # a nil traffic row is dereferenced: gin's recovery answers 500
            return Response("", 500)
        raise _Refusal(WENT_WRONG, _go_err("Inbound Not Found For Email:", p["email"]))
    row.update(up=0, down=0, enable=True)
    return _ok(None, "Traffic has been reset.")


def _onlines(state: XuiState, p: dict[str, str]) -> Response:
    now = state.clock() * 1000
    return _ok([r["email"] for r in state.traffics.values() if now - r["lastOnline"] < 20_000])


def _last_online(state: XuiState, p: dict[str, str]) -> Response:
    return _ok({r["email"]: r["lastOnline"] for r in state.traffics.values() if r["lastOnline"]})


# --- clients API (v3.1+) -----------------------------------------------------------------------------------


def _record(state: XuiState, email: str, prefix: str) -> tuple[dict[str, Any], list[int]]:
    """A ClientRecord by exact email (SQL `email = ?`), with the inbounds it is attached to."""
    ids = [iid for iid, ib in state.inbounds.items() if any(c.get("email") == email for c in ib["settings"]["clients"])]
    if not ids:
        raise _Refusal(prefix, "record not found")
    client = next(c for c in state.inbounds[ids[0]]["settings"]["clients"] if c.get("email") == email)
    rec = {
        "id": state.record_ids.setdefault(email, next(state.ids)),
        "email": email,
        "subId": client.get("subId", ""),
        "uuid": client.get("id", ""),
        "password": client.get("password", ""),
        "auth": client.get("auth", ""),
        "flow": client.get("flow", ""),
        "security": client.get("security", ""),
        "reverse": client.get("reverse"),
        "limitIp": int(client.get("limitIp") or 0),
        "totalGB": int(client.get("totalGB") or 0),
        "expiryTime": int(client.get("expiryTime") or 0),
        "enable": bool(client.get("enable", False)),
        "tgId": int(client.get("tgId") or 0),
        "group": client.get("group", ""),
        "comment": client.get("comment", ""),
        "reset": int(client.get("reset") or 0),
        "createdAt": client.get("created_at", 0),
        "updatedAt": client.get("updated_at", 0),
    }
    return rec, ids


def _clients_list(state: XuiState, p: dict[str, str]) -> Response:
    emails: list[str] = []
    for ib in state.inbounds.values():
        emails += [str(c.get("email")) for c in ib["settings"]["clients"] if c.get("email") not in emails]
    out = []
    for email in emails:
        rec, ids = _record(state, email, OBTAIN)
        row = state.traffics.get(email)
        out.append({**rec, "inboundIds": ids, **({"traffic": _stats_out(state, row)} if row else {})})
    return _ok(out)


def _clients_get(state: XuiState, p: dict[str, str]) -> Response:
    rec, ids = _record(state, p["email"], OBTAIN)
    row = state.traffics.get(p["email"])
    used = row["up"] + row["down"] if row else 0
    return _ok({"client": rec, "inboundIds": ids, "externalLinks": [], "usedTraffic": used})


def _clients_traffic(state: XuiState, p: dict[str, str]) -> Response:
    row = state.traffics.get(p["email"])
    return _ok(_stats_out(state, row) if row else None)


def _link_host(state: XuiState) -> str:
    if state.link_host:
        return state.link_host
    host = request.host.rsplit(":", 1)[0] if not request.host.endswith("]") else request.host
    if state.v >= (3, 1) and host in ("127.0.0.1", "[::1]", "localhost"):
        return "localhost"  # PrepareForRequest: a loopback request host without subDomain
    return host.strip("[]")


def _clients_links(state: XuiState, p: dict[str, str]) -> Response:
    _, ids = _record(state, p["email"], OBTAIN)
    host = _link_host(state)
    links = []
    for iid in ids:
        ib = state.inbounds[iid]
        client = next(c for c in ib["settings"]["clients"] if c.get("email") == p["email"])
        links.append(gen_vless_link(state, ib, client, host))
    return _ok(links)


def _sub_clients(state: XuiState, sub_id: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(inbound, client) pairs of a subId: enabled inbounds; v2.x only enabled clients, v3.6 all of them."""
    return [
        (ib, c)
        for ib in state.inbounds.values()
        if ib["enable"]
        for c in ib["settings"]["clients"]
        if c.get("subId") == sub_id and (state.v >= (3, 1) or c.get("enable"))
    ]


def _clients_sub_links(state: XuiState, p: dict[str, str]) -> Response:
    host = _link_host(state)
    return _ok([gen_vless_link(state, ib, c, host) for ib, c in _sub_clients(state, p["sub"])])


def _check_client_strings(client: dict[str, Any]) -> str:
    email = str(client.get("email") or "")
    if not email.strip():
        raise _Refusal(WENT_WRONG, _go_err("client email is required"))
    if _forbidden_char(email):
        raise _Refusal(WENT_WRONG, _go_err("client email contains an invalid character:", email))
    if _forbidden_char(str(client.get("subId") or "")):
        raise _Refusal(WENT_WRONG, _go_err("client subId contains an invalid character:", client.get("subId")))
    return email


def _clients_add(state: XuiState, p: dict[str, str]) -> Response:
    payload = _body()
    client = dict(payload.get("client") or {})
    inbound_ids = payload.get("inboundIds") or []
    email = _check_client_strings(client)
    if not inbound_ids:
        raise _Refusal(WENT_WRONG, _go_err("at least one inbound is required"))
    client["subId"] = client.get("subId") or str(uuidlib.uuid4())
    client["enable"] = True  # forced on create
    existing = state.find(email)
    if existing is not None:
        stored = existing[1]
        if not stored.get("subId") or stored.get("subId") != client["subId"]:
            raise _Refusal(WENT_WRONG, _go_err("email already in use:", email))
        client["id"] = client.get("id") or stored.get("id")  # reuse the stored credentials
    for ib in state.inbounds.values():
        for c in ib["settings"]["clients"]:
            if c.get("subId") == client["subId"] and c.get("email") != email:
                raise _Refusal(WENT_WRONG, _go_err("subId already in use:", client["subId"]))
    for raw_id in inbound_ids:  # not atomic: inbounds handled before a failure keep the client
        inbound = _get_inbound(state, raw_id)
        entry = dict(client)
        entry["id"] = entry.get("id") or str(uuidlib.uuid4())
        client["id"] = entry["id"]
        if not _can_vision(inbound):
            entry["flow"] = ""  # v3.6 clientWithInboundFlow
        here = [c for c in inbound["settings"]["clients"] if str(c.get("email", "")).lower() == email.lower()]
        if any(c.get("email") == email and c.get("subId") == client["subId"] for c in here):
            continue  # the same identity is already on this inbound: a safe retry
        if email.lower() in state._all_emails() and existing is None:
            raise _Refusal(WENT_WRONG, _go_err("Duplicate email:", email))
        state._append(inbound["id"], entry)
    return _ok(None, "Inbound client(s) have been added.")


def _clients_update(state: XuiState, p: dict[str, str]) -> Response:
    rec, ids = _record(state, p["email"], WENT_WRONG)
    body = _body()
    email = _check_client_strings(body)
    if email != rec["email"] and state.find(email) is not None:
        raise _Refusal(WENT_WRONG, _go_err("Duplicate email:", email))
    # Full replacement: omitted numbers and texts become 0/"", an omitted enable false; credentials and subId
    # are kept when omitted.
    new = {
        "id": body.get("id") or rec["uuid"],
        "flow": body.get("flow") or "",
        "email": email,
        "limitIp": int(body.get("limitIp") or 0),
        "totalGB": int(body.get("totalGB") or 0),
        "expiryTime": int(body.get("expiryTime") or 0),
        "enable": bool(body.get("enable", False)),
        "tgId": int(body.get("tgId") or 0),
        "subId": body.get("subId") or rec["subId"],
        "group": body.get("group") or "",
        "comment": body.get("comment") or "",
        "reset": int(body.get("reset") or 0),
    }
    for iid in ids:
        stored = state.inbounds[iid]["settings"]["clients"]
        i = next(i for i, c in enumerate(stored) if c.get("email") == rec["email"])
        entry = {**new, "created_at": stored[i].get("created_at"), "updated_at": int(state.clock() * 1000)}
        if not _can_vision(state.inbounds[iid]):
            entry["flow"] = ""
        stored[i] = entry
    state._sync_traffic(rec["email"], new)
    return _ok(None, "Inbound client has been updated.")


def _clients_del(state: XuiState, p: dict[str, str]) -> Response:
    email = p["email"]
    if state.find(email) is None:
        raise _Refusal(WENT_WRONG, _go_err(f'client "{email}" not found in any inbound or client record'))
    for ib in state.inbounds.values():  # the last client of an inbound may go too
        ib["settings"]["clients"] = [c for c in ib["settings"]["clients"] if c.get("email") != email]
    state.traffics.pop(email, None)
    state.record_ids.pop(email, None)
    return _ok(None, "Inbound client has been deleted.")


def _clients_reset(state: XuiState, p: dict[str, str]) -> Response:
    _, ids = _record(state, p["email"], WENT_WRONG)
    for iid in ids:  # a disabled client is enabled again
        for c in state.inbounds[iid]["settings"]["clients"]:
            if c.get("email") == p["email"]:
                c["enable"] = True
    if (row := state.traffics.get(p["email"])) is not None:
        row.update(up=0, down=0, enable=True)
    return _ok(None, "Traffic has been reset.")


# --- subscription server -----------------------------------------------------------------------------------


def _sub(state: XuiState, sub_id: str) -> Response:
    with state.lock:
        state.calls.append(XuiCall(request.method, state.sub_path + sub_id, {}, "", False))
        pairs = _sub_clients(state, sub_id) if sub_id and "/" not in sub_id else []
        if not pairs:
            return Response("", 404) if state.v >= (3, 1) else Response("Error!", 400, mimetype="text/plain")
        host = state.link_host or request.host.rsplit(":", 1)[0]
        links = [gen_vless_link(state, ib, c, host) for ib, c in pairs]
        rows = [state.traffics[c["email"]] for _, c in pairs if c.get("email") in state.traffics]
    up, down = sum(r["up"] for r in rows), sum(r["down"] for r in rows)
    total = 0 if any(r["total"] == 0 for r in rows) else sum(r["total"] for r in rows)
    expiry = max((r["expiryTime"] for r in rows if r["expiryTime"] > 0), default=0)
    headers = {
        "Subscription-Userinfo": f"upload={up}; download={down}; total={total}; expire={expiry // 1000}",
        "Profile-Update-Interval": "12",
    }
    if state.v < (3, 1) or state.sub_title:
        headers["Profile-Title"] = "base64:" + base64.b64encode(state.sub_title.encode()).decode()
    text = "".join(link + "\n" for link in links)
    return Response(base64.b64encode(text.encode()).decode(), 200, headers=headers, mimetype="text/plain")
