"""The 3x-ui adapter (ttfd/clients/xui.py) against the fake panel (devtools/fake_xui.py) served over real HTTP
on 127.0.0.1, for each panel version and auth mode: classic API (v2.6.8, v2.9.4, v3.0.0) and clients API
(v3.6.0); cookie login everywhere, Bearer tokens from v3.0."""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from devtools.fake_xui import VERSIONS, XuiState, create_app
from devtools.wsgi_server import RunningServer
from ttfd.clients import vless, xui
from ttfd.core.errors import ConfigError

PASSWORD = "pw-S3cret-never-logged"
TOKEN = "tok-3xui-48-random-chars-SECRET-abcdefghijklmno"
BASE = "/s3cret-base/"
MODES = [(v, "cookie") for v in VERSIONS] + [("3.0.0", "token"), ("3.6.0", "token")]
CLASSIC = ("2.6.8", "2.9.4", "3.0.0")
DAY_MS = 86_400_000


@dataclass
class Env:
    state: XuiState
    server: RunningServer
    auth: str

    @property
    def url(self) -> str:
        return self.server.url + BASE

    @property
    def classic(self) -> bool:
        return self.state.version in CLASSIC

    def panel(self, **over: Any) -> xui.Panel:
        cfg: dict[str, Any] = {
            "url": self.url,
            "inbound_id": 1,
            "timeout_s": 2.0,
            "health_timeout_s": 1.0,
            "link_host": "vpn.example.com",
        }
        if self.auth == "token":
            cfg["token"] = TOKEN
        else:
            cfg.update(username="admin", password=PASSWORD)
        cfg.update(over)
        return xui.Panel(xui.PanelConfig(**cfg), sleep=lambda s: None)

    def logins(self) -> int:
        return len(self.state.calls_to(r"^login$", "POST"))

    def close(self) -> None:
        _current["app"] = _gone


def _gone(environ: dict[str, Any], start: Any) -> list[bytes]:
    start("503 Service Unavailable", [("Content-Type", "text/plain")])
    return [b"no fake panel for this test"]


# One real HTTP server for the whole module (stopping one takes half a second); each test puts its own fake
# panel behind it.
_current: dict[str, Any] = {"app": _gone}


@pytest.fixture(scope="module")
def _server() -> Iterator[RunningServer]:
    server = RunningServer(lambda environ, start: _current["app"](environ, start))
    yield server
    server.stop()


_SERVER: list[RunningServer] = []


@pytest.fixture(autouse=True)
def _fresh(_server: RunningServer) -> Iterator[None]:
    _SERVER[:] = [_server]
    xui.forget_sessions()  # one URL for every test: no login or detection may outlive its fake
    yield
    xui.forget_sessions()
    _current["app"] = _gone


def _serve(version: str, auth: str, wrap: Any = None) -> Env:
    state = XuiState.demo(version, base_path=BASE, password=PASSWORD, tokens=[TOKEN], link_host="vpn.example.com")
    app: Any = create_app(state)
    _current["app"] = wrap(app, state) if wrap else app
    return Env(state, _SERVER[0], auth)


@pytest.fixture(params=MODES, ids=[f"{v}-{a}" for v, a in MODES])
def env(request: pytest.FixtureRequest) -> Env:
    return _serve(*request.param)


@pytest.fixture(params=VERSIONS)
def cookie_env(request: pytest.FixtureRequest) -> Env:
    return _serve(request.param, "cookie")


def _spec(email: str = "order-1", **kw: Any) -> xui.ClientSpec:
    return xui.ClientSpec(email=email, **kw)


# --- detection, login, sessions ----------------------------------------------------------------------------


def test_detects_the_api_and_reports_health(env: Env) -> None:
    panel = env.panel()
    health = panel.health()
    assert health.ok and health.xray_state == "running", health
    assert panel.api() == ("classic" if env.classic else "clients")
    assert health.panel_version == (None if env.classic else "3.6.0")
    if env.state.version == "2.6.8":  # the v2.6 route, POST {base}server/status
        assert env.state.calls_to(r"^server/status$", "POST")


def test_one_login_shared_by_instances_and_threads(env: Env) -> None:
    first = env.panel()
    first.ensure_client(_spec("a-1"))
    second = env.panel()  # a new instance in the same process (a warm serverless instance)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            second.ensure_client(_spec(f"t-{n}"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert all(env.state.count(f"t-{n}") == 1 for n in range(6))
    if env.auth == "token":
        assert env.logins() == 0
        assert {c.auth for c in env.state.calls if c.path.startswith("panel/api/")} == {"bearer"}
        return
    # v2.6 logs in twice while finding its status route (its GET 404 counts as a lost session once).
    assert env.logins() == (2 if env.state.version == "2.6.8" else 1)
    posts = [c for c in env.state.calls if c.method == "POST" and c.path.startswith("panel/api/")]
    assert posts and all(c.auth == "cookie" for c in posts)
    if env.state.version >= "3.0.0":  # CSRF token fetched before the login and sent on every write
        assert env.state.calls[0].path == "csrf-token"
        assert all(c.csrf for c in posts)


def test_lost_session_logs_in_again_once(cookie_env: Env) -> None:
    env = cookie_env
    panel = env.panel()
    panel.ensure_client(_spec())
    before = env.logins()
    env.state.drop_sessions()  # panel restarted / session expired: 307, 404 or HTML from here on
    client = panel.update_client("order-1", expiry_ms=5 * DAY_MS, total_bytes=1 << 30)
    assert client.expiry_ms == 5 * DAY_MS
    assert env.logins() == before + 1


def test_session_lost_again_after_login_gives_up() -> None:
    def forgetful(app: Any, state: XuiState) -> Any:
        def wsgi(environ: dict[str, Any], start: Any) -> Any:
            if not environ["PATH_INFO"].endswith(("/login", "/csrf-token")):
                state.drop_sessions()  # every login is forgotten before it can be used
            return app(environ, start)

        return wsgi

    env = _serve("2.9.4", "cookie", forgetful)
    try:
        with pytest.raises(xui.PanelError) as err:
            env.panel(api="classic").get_client("order-1")
        assert not err.value.retryable and err.value.status == 404
        assert env.logins() == 2  # the first login and exactly one more
    finally:
        env.close()


def test_wrong_password_refused_without_leaking(cookie_env: Env, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    env = cookie_env
    with pytest.raises(xui.PanelAuthError) as err:
        env.panel(password="wrong-Pa55word").get_client("order-1")
    assert not err.value.retryable
    assert env.logins() == 1
    assert "wrong-Pa55word" not in str(err.value) and "wrong-Pa55word" not in caplog.text


@pytest.mark.parametrize("version", ["3.0.0", "3.6.0"])
def test_login_limiter_blocks_after_five_failures(version: str) -> None:
    env = _serve(version, "cookie")
    now = [1_000_000.0]
    env.state.clock = lambda: now[0]
    try:
        for _ in range(5):
            with pytest.raises(xui.PanelAuthError):
                env.panel(password="bad").get_client("x")
            xui.forget_sessions()
        with pytest.raises(xui.PanelAuthError):  # blocked: even the right password fails for 15 minutes
            env.panel().get_client("x")
        xui.forget_sessions()
        now[0] += 16 * 60
        assert env.panel().get_client("x") is None
    finally:
        env.close()


@pytest.mark.parametrize("version", ["3.0.0", "3.6.0"])
def test_csrf_token_is_required_and_renewed(version: str) -> None:
    env = _serve(version, "cookie")
    try:
        panel = env.panel()
        panel.ensure_client(_spec())
        # The fake answers a cookie write without the session's token with a bare 403.
        cookie = next(iter(env.state.sessions))
        bare = httpx.post(env.url + "panel/api/inbounds/list", cookies={"3x-ui": cookie})
        assert bare.status_code in (403, 404) and bare.text in ("", "404 page not found")
        login = httpx.post(env.url + "login", data={"username": "admin", "password": PASSWORD})
        assert login.status_code == 403 and login.text == ""  # login needs it too
        # A token the panel no longer accepts → 403 → log in again (new token) → the write goes through.
        for s in env.state.sessions.values():
            s["csrf"] = "rotated"
        before = env.logins()
        assert panel.delete_client("order-1") is True
        assert env.logins() == before + 1
    finally:
        env.close()


@pytest.mark.parametrize("version", ["3.0.0", "3.6.0"])
def test_wrong_token_is_refused(version: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    env = _serve(version, "token")
    try:
        panel = env.panel(token="not-the-token")
        with pytest.raises(xui.PanelAuthError) as err:
            panel.ensure_client(_spec())
        assert not err.value.retryable
        health = panel.health()
        assert not health.ok and "token" in health.detail.lower()
        assert "not-the-token" not in caplog.text + str(err.value) + health.detail
        assert env.logins() == 0
    finally:
        env.close()


def test_classic_panels_before_3_0_know_no_tokens() -> None:
    env = _serve("2.9.4", "token")
    try:
        with pytest.raises(xui.PanelAuthError):
            env.panel().get_client("order-1")
    finally:
        env.close()


def test_forced_api_that_the_panel_lacks_fails_clearly() -> None:
    env = _serve("3.6.0", "cookie")
    try:
        with pytest.raises(xui.PanelError) as err:
            env.panel(api="classic").ensure_client(_spec())
        assert err.value.status == 404 and not err.value.retryable and "VPN_PANEL_API" in str(err.value)
        assert env.state.count("order-1") == 0
    finally:
        env.close()


# --- clients -----------------------------------------------------------------------------------------------


def test_ensure_creates_with_every_field(env: Env) -> None:
    expiry = int(time.time() * 1000) + 30 * DAY_MS
    spec = _spec(total_bytes=50 << 30, expiry_ms=expiry, limit_ip=2, tg_id=123456789, comment="order #1")
    client = env.panel().ensure_client(spec)
    assert (client.email, client.total_bytes, client.expiry_ms, client.limit_ip) == ("order-1", 50 << 30, expiry, 2)
    assert (client.tg_id, client.comment, client.enable, client.inbound_ids) == (123456789, "order #1", True, (1,))
    assert client.flow == vless.VISION  # a Reality tcp inbound
    found = env.state.find("order-1")
    assert found is not None and found[0] == 1
    stored = found[1]
    assert stored["id"] == client.uuid and stored["subId"] == client.sub_id and len(client.sub_id) >= 16
    assert stored["totalGB"] == 50 << 30 and stored["expiryTime"] == expiry and stored["tgId"] == 123456789
    assert env.state.traffics["order-1"]["total"] == 50 << 30


def test_no_flow_on_inbounds_that_cannot_carry_vision(env: Env) -> None:
    iid = env.state.add_inbound("cdn", 8443, "ws-tls")
    env.state.add_client(iid, "keeper-ws")
    client = env.panel(inbound_id=iid).ensure_client(_spec(flow=vless.VISION))
    assert client.flow == "" and client.inbound_ids == (iid,)


def test_ensure_is_idempotent_by_email(env: Env) -> None:
    panel = env.panel()
    spec = _spec(uuid="0b6c3f8e-8a52-4a4b-9a57-3a1f7d9c2e10", sub_id="r4nd0m16chars000")
    first = panel.ensure_client(spec)
    again = panel.ensure_client(spec)  # a retry with the same spec (same subId: the v3.1+ panel reuses it)
    other = panel.ensure_client(_spec())  # a retry that drew a fresh uuid/subId: still the stored client
    assert first == again == other
    assert env.state.count("order-1") == 1


def test_create_whose_reply_was_lost_makes_one_client(env: Env) -> None:
    add = r"inbounds/addClient$" if env.classic else r"clients/add$"
    env.state.fail_next(add, "drop_after")  # stored, then the connection closes without a reply
    panel = env.panel()
    client = panel.ensure_client(_spec())  # notices the stored client instead of failing
    assert env.state.count("order-1") == 1
    assert panel.ensure_client(_spec()) == client
    assert env.state.count("order-1") == 1
    assert len(env.state.calls_to(add)) == (1 if env.classic else 2)


def test_create_dropped_before_storing_is_retryable(env: Env) -> None:
    add = r"inbounds/addClient$" if env.classic else r"clients/add$"
    env.state.fail_next(add, "drop")
    panel = env.panel()
    with pytest.raises(xui.PanelError) as err:
        panel.ensure_client(_spec())
    assert err.value.retryable and env.state.count("order-1") == 0
    assert len(env.state.calls_to(add)) == 1  # a POST that may have arrived is not re-sent blindly
    panel.ensure_client(_spec())
    assert env.state.count("order-1") == 1


def test_email_taken_on_another_inbound_or_case(env: Env) -> None:
    other = env.state.add_inbound("other", 8443, "reality")
    env.state.add_client(other, "elsewhere")
    env.state.add_client(1, "Order-9")
    panel = env.panel()
    with pytest.raises(xui.EmailConflict):
        panel.ensure_client(_spec("elsewhere"))
    with pytest.raises(xui.EmailConflict):
        panel.ensure_client(_spec("order-9"))  # emails are unique case-insensitively
    assert panel.get_client("elsewhere") is None  # not a client of the configured inbound
    assert env.state.count("elsewhere") == 1 and env.state.count("order-9") == 1


def test_update_replaces_the_whole_client_keeping_fields(env: Env) -> None:
    panel = env.panel()
    made = panel.ensure_client(_spec(limit_ip=3, tg_id=42, comment="keep me", total_bytes=1 << 30, expiry_ms=DAY_MS))
    updated = panel.update_client("order-1", expiry_ms=60 * DAY_MS, total_bytes=100 << 30)
    assert (updated.expiry_ms, updated.total_bytes, updated.enable) == (60 * DAY_MS, 100 << 30, True)
    again = panel.get_client("order-1")
    assert again is not None
    for c in (updated, again):
        assert (c.uuid, c.sub_id, c.flow, c.limit_ip, c.tg_id, c.comment) == (
            made.uuid,
            made.sub_id,
            made.flow,
            3,
            42,
            "keep me",
        )
    assert again.expiry_ms == 60 * DAY_MS and again.total_bytes == 100 << 30
    disabled = panel.update_client("order-1", expiry_ms=60 * DAY_MS, total_bytes=100 << 30, enable=False, limit_ip=1)
    assert not disabled.enable and disabled.limit_ip == 1
    stored = env.state.find("order-1")
    assert stored is not None and stored[1]["enable"] is False and stored[1]["comment"] == "keep me"
    assert env.state.traffics["order-1"]["total"] == 100 << 30
    with pytest.raises(xui.ClientNotFound):
        panel.update_client("nobody", expiry_ms=0, total_bytes=0)


def test_traffic_and_reset(env: Env) -> None:
    panel = env.panel()
    panel.ensure_client(_spec(total_bytes=1000))
    assert panel.traffic("order-1") == xui.Traffic(0, 0, 1000, 0, True, 0)
    env.state.add_traffic("order-1", up=300, down=800)  # over quota: the traffic job disables it
    used = panel.traffic("order-1")
    assert used is not None and (used.up, used.down, used.used, used.enable) == (300, 800, 1100, False)
    assert used.last_online > 0
    panel.reset_traffic("order-1")
    reset = panel.traffic("order-1")
    assert reset is not None and (reset.up, reset.down, reset.enable) == (0, 0, True)
    assert panel.traffic("nobody") is None  # v2.6/v3.6: obj null; v2.9/v3.0: "Inbound Not Found For Email"
    with pytest.raises(xui.ClientNotFound):
        panel.reset_traffic("nobody")


def test_delete_twice(env: Env) -> None:
    panel = env.panel()
    panel.ensure_client(_spec())
    assert panel.delete_client("order-1") is True
    assert panel.delete_client("order-1") is False
    assert env.state.count("order-1") == 0 and "order-1" not in env.state.traffics
    assert panel.get_client("order-1") is None and panel.traffic("order-1") is None


def test_delete_of_the_last_client(env: Env) -> None:
    iid = env.state.add_inbound("solo", 8443, "tls")
    panel = env.panel(inbound_id=iid)
    panel.ensure_client(_spec("only-one"))
    if env.classic:
        with pytest.raises(xui.LastClientError) as err:
            panel.delete_client("only-one")
        assert not err.value.retryable and "last client" in str(err.value)
        assert env.state.count("only-one") == 1
    else:  # the clients API may empty an inbound
        assert panel.delete_client("only-one") is True
        assert env.state.clients_of(iid) == []


def test_list_clients_of_the_inbound(env: Env) -> None:
    panel = env.panel()
    a = panel.ensure_client(_spec("a-1", total_bytes=5, expiry_ms=7))
    panel.ensure_client(_spec("b-2", enable=True))
    other = env.state.add_inbound("other", 8443, "reality")
    env.state.add_client(other, "not-mine")
    env.state.add_traffic("a-1", up=1, down=2)
    listed = {c.email: c for c in panel.list_clients()}
    assert set(listed) == {"placeholder", "a-1", "b-2"}
    assert (listed["a-1"].uuid, listed["a-1"].sub_id, listed["a-1"].total_bytes, listed["a-1"].expiry_ms) == (
        a.uuid,
        a.sub_id,
        5,
        7,
    )
    assert all(c.enable and c.inbound_ids == (1,) for c in listed.values())
    traffic = listed["a-1"].traffic  # from clientStats (classic) or each row's `traffic` (clients API)
    assert traffic is not None and (traffic.up, traffic.down, traffic.total) == (1, 2, 5)


@pytest.mark.parametrize("email", ["ord#1?a%b@x.y", "u+1&=;ñ"])
def test_emails_are_percent_encoded_in_paths(email: str) -> None:
    for version in ("2.9.4", "3.6.0"):
        env = _serve(version, "cookie")
        try:
            panel = env.panel()
            made = panel.ensure_client(_spec(email))
            assert panel.get_client(email) == made
            assert panel.traffic(email) is not None
            panel.reset_traffic(email)
            assert panel.links(email)
            assert panel.delete_client(email) is True and env.state.count(email) == 0
        finally:
            env.close()
            xui.forget_sessions()


@pytest.mark.parametrize("bad", ["", " ", "a/b", "a\\b", "a b", "a\x01b", "a\x7fb", "tab\there"])
def test_bad_email_is_refused_before_any_request(bad: str) -> None:
    env = _serve("3.6.0", "cookie")
    try:
        panel = env.panel()
        for call in (
            lambda: panel.ensure_client(_spec(bad)),
            lambda: panel.get_client(bad),
            lambda: panel.delete_client(bad),
            lambda: panel.update_client(bad, expiry_ms=0, total_bytes=0),
            lambda: panel.links(bad),
        ):
            with pytest.raises(xui.InvalidEmail):
                call()
        with pytest.raises(ValueError):  # InvalidEmail is a ValueError too
            panel.traffic(bad)
        with pytest.raises(xui.InvalidEmail):
            panel.ensure_client(_spec("fine", sub_id="bad/sub"))
        assert env.state.calls == []
    finally:
        env.close()


# --- links and subscriptions -------------------------------------------------------------------------------


def _sub_links(env: Env, sub_id: str) -> list[vless.VlessLink]:
    resp = httpx.get(f"{env.server.url}/sub/{sub_id}")
    assert resp.status_code == 200
    return [vless.parse_link(line) for line in base64.b64decode(resp.text).decode().splitlines()]


def test_links_from_the_panel_parse_equal_to_a_local_build() -> None:
    env = _serve("3.6.0", "token")
    try:
        panel = env.panel()
        client = panel.ensure_client(_spec())
        (got,) = [vless.parse_link(link) for link in panel.links("order-1")]
        inbound = env.state.inbounds[1]
        raw = {"id": client.uuid, "email": client.email, "flow": client.flow, "subId": client.sub_id}
        local = vless.parse_link(
            vless.client_link(inbound, inbound["settings"], inbound["streamSettings"], raw, "vpn.example.com")
        )
        assert (got.uuid, got.host, got.port, got.params, got.name) == (
            local.uuid,
            local.host,
            local.port,
            local.params,
            local.remark,
        )
        assert got.params["spx"] == vless.spider_x("/", client.sub_id)  # v3.6: derived, not random
        assert [vless.parse_link(x) for x in panel.links("order-1")] == [got]
        assert _sub_links(env, client.sub_id)[0].params == got.params
        with pytest.raises(xui.ClientNotFound):
            panel.links("nobody")
    finally:
        env.close()


def test_panel_links_say_localhost_unless_a_link_host_is_set() -> None:
    env = _serve("3.6.0", "cookie")
    env.state.link_host = None  # no subDomain, API called on 127.0.0.1
    try:
        env.panel().ensure_client(_spec())
        (plain,) = env.panel(link_host=None).links("order-1")
        assert vless.parse_link(plain).host == "localhost"
        (fixed,) = env.panel().links("order-1")
        assert vless.parse_link(fixed).host == "vpn.example.com"
        assert vless.parse_link(fixed).params == vless.parse_link(plain).params
    finally:
        env.close()


@pytest.mark.parametrize("version", CLASSIC)
@pytest.mark.parametrize(
    ("stream", "expected"),
    [
        (
            "reality",
            {
                "type": "tcp",
                "security": "reality",
                "pbk": "u8uVd8j8iYjK3a1Y0cN8Q8f0Vq2Kk8pE1v6oYwR2fXo",
                "fp": "chrome",
                "sni": "www.google.com",
                "sid": "6ba85179",
                "flow": "xtls-rprx-vision",
            },
        ),
        (
            "tls",
            {
                "type": "tcp",
                "security": "tls",
                "sni": "vpn.example.com",
                "fp": "chrome",
                "alpn": "h2,http/1.1",
                "flow": "xtls-rprx-vision",
            },
        ),
        (
            "ws-tls",
            {
                "type": "ws",
                "security": "tls",
                "sni": "vpn.example.com",
                "fp": "chrome",
                "alpn": "h2,http/1.1",
                "path": "/ws",
                "host": "cdn.example.com",
            },
        ),
        (
            "grpc-tls",
            {
                "type": "grpc",
                "security": "tls",
                "sni": "vpn.example.com",
                "fp": "chrome",
                "alpn": "h2,http/1.1",
                "serviceName": "tun",
                "authority": "",
                "mode": "multi",
            },
        ),
    ],
)
def test_classic_links_are_built_like_the_sub_server(version: str, stream: str, expected: dict[str, str]) -> None:
    env = _serve(version, "cookie")
    try:
        iid = env.state.add_inbound("edge", 8443, stream)
        env.state.add_client(iid, "keeper")
        panel = env.panel(inbound_id=iid)
        client = panel.ensure_client(_spec(uuid="0b6c3f8e-8a52-4a4b-9a57-3a1f7d9c2e10"))
        (link,) = panel.links("order-1")
        got = vless.parse_link(link)
        want = dict(expected)
        if version >= "2.9":  # v2.9 writes encryption whenever the inbound settings have the key
            want["encryption"] = "none"
        assert (got.uuid, got.host, got.port, got.remark) == (client.uuid, "vpn.example.com", 8443, "edge-order-1")
        spx = got.params.pop("spx", None)
        assert got.params == want
        if stream == "reality":
            assert spx == vless.spider_x("/", client.sub_id)
        # The fake's subscription server (the panel's own generator) says the same, bar its random spiderX.
        (sub,) = _sub_links(env, client.sub_id)
        sub.params.pop("spx", None)
        assert (sub.uuid, sub.port, sub.remark, sub.params) == (got.uuid, got.port, got.remark, got.params)
        keys = [pair.split("=")[0] for pair in link.split("?")[1].split("#")[0].split("&")]
        assert keys == sorted(keys)  # as Go's url.Values.Encode
    finally:
        env.close()


def test_subscription_url_and_server(env: Env) -> None:
    panel = env.panel(sub_url="https://sub.example.com:2096/sub")
    client = panel.ensure_client(_spec(total_bytes=1000, expiry_ms=1_900_000_000_000))
    assert panel.subscription_url(client.sub_id) == f"https://sub.example.com:2096/sub/{client.sub_id}"
    assert env.panel().subscription_url(client.sub_id) is None  # VPN_SUB_URL not set
    env.state.add_traffic("order-1", up=10, down=20)
    resp = httpx.get(f"{env.server.url}/sub/{client.sub_id}")
    assert resp.status_code == 200
    assert resp.headers["Subscription-Userinfo"] == "upload=10; download=20; total=1000; expire=1900000000"
    assert base64.b64decode(resp.text).decode().endswith("\n")
    unknown = httpx.get(f"{env.server.url}/sub/nope")
    if env.classic:
        assert (unknown.status_code, unknown.text) == (400, "Error!")
    else:
        assert (unknown.status_code, unknown.text) == (404, "")


def test_subscription_url_refuses_bad_sub_ids() -> None:
    cfg = xui.PanelConfig(url="http://127.0.0.1:1/", inbound_id=1, token="t", sub_url="https://s.example/sub/")
    panel = xui.Panel(cfg)
    assert panel.subscription_url("abc") == "https://s.example/sub/abc"
    with pytest.raises(xui.InvalidEmail):
        panel.subscription_url("a/b")


# --- health ------------------------------------------------------------------------------------------------


def test_health_states(env: Env) -> None:
    panel = env.panel()
    env.state.xray_state, env.state.xray_error = "error", "failed to start: bad config"
    h = panel.health()
    assert (h.ok, h.xray_state) == (False, "error") and "bad config" in h.detail
    env.state.xray_state, env.state.xray_error = "stop", ""
    assert panel.health() == xui.Health(False, "stop", panel.panel_version, "xray stop")
    env.state.xray_state, env.state.status_mode = "running", "null"
    h = panel.health()
    assert not h.ok and "starting" in h.detail
    env.state.status_mode = "error"
    assert not panel.health().ok
    env.state.status_mode = "down"
    h = panel.health()
    assert not h.ok and "unreachable" in h.detail
    env.state.status_mode = "ok"
    assert panel.health().ok


@pytest.mark.parametrize("version", ["2.9.4", "3.6.0"])
def test_slow_panel_is_unhealthy_within_the_health_timeout(version: str) -> None:
    env = _serve(version, "cookie")
    try:
        panel = env.panel(health_timeout_s=0.3)
        assert panel.health().ok
        env.state.status_mode, env.state.slow_s = "slow", 1.5
        started = time.monotonic()
        h = panel.health()
        assert not h.ok and "unreachable" in h.detail
        assert time.monotonic() - started < 1.0
    finally:
        env.close()


# --- errors, retries, secrets ------------------------------------------------------------------------------


def test_5xx_is_retried_then_retryable(env: Env) -> None:
    panel = env.panel()
    panel.ensure_client(_spec())
    env.state.fail_next(r"inbounds/get/1$|clients/get/", "500")
    assert panel.get_client("order-1") is not None  # one 500, then the retry answers
    env.state.fail_next(r"inbounds/get/1$|clients/get/", "500", times=10)
    with pytest.raises(xui.PanelError) as err:
        panel.get_client("order-1")
    assert err.value.retryable and err.value.status == 500


def test_dropped_read_is_retried(env: Env) -> None:
    panel = env.panel()
    panel.ensure_client(_spec())
    env.state.fail_next(r"getClientTraffics|clients/traffic", "drop")
    assert panel.traffic("order-1") is not None


@pytest.mark.parametrize("version", ["3.0.0", "3.6.0"])
def test_timeout_is_retryable(version: str) -> None:
    env = _serve(version, "token")
    env.state.slow_s = 0.8
    try:
        panel = env.panel(timeout_s=0.3)
        panel.ensure_client(_spec())
        delete = r"delClient|clients/del/"
        env.state.fail_next(delete, "timeout")
        with pytest.raises(xui.PanelError) as err:
            panel.delete_client("order-1")
        assert err.value.retryable and len(env.state.calls_to(delete)) == 1  # a write is not re-sent
        time.sleep(0.7)  # the slow panel finishes the delete after the adapter gave up
        assert panel.delete_client("order-1") is False
    finally:
        env.close()


def test_refusal_is_not_retryable_but_a_busy_panel_is(env: Env) -> None:
    panel = env.panel()
    panel.ensure_client(_spec())
    route = r"updateClient|clients/update/"
    env.state.fail_next(route, "error", msg="Something went wrong (xray config invalid: something\n)")
    with pytest.raises(xui.PanelError) as err:
        panel.update_client("order-1", expiry_ms=1, total_bytes=1)
    assert not err.value.retryable and "xray config invalid" in str(err.value)
    assert not isinstance(err.value, xui.ClientNotFound)
    env.state.fail_next(route, "error")  # "Something went wrong (database is locked)"
    with pytest.raises(xui.PanelError) as busy:
        panel.update_client("order-1", expiry_ms=1, total_bytes=1)
    assert busy.value.retryable


def test_unknown_inbound_is_a_clear_refusal(env: Env) -> None:
    with pytest.raises(xui.PanelError) as err:
        env.panel(inbound_id=99).ensure_client(_spec())
    assert not err.value.retryable and "VPN_INBOUND_ID" in str(err.value)


def test_secrets_stay_out_of_logs_errors_and_reprs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    for version, auth in (("2.6.8", "cookie"), ("3.6.0", "cookie"), ("3.6.0", "token")):
        env = _serve(version, auth)
        try:
            panel = env.panel()
            texts.append(repr(panel.config))
            panel.ensure_client(_spec())
            env.state.drop_sessions()
            panel.update_client("order-1", expiry_ms=1, total_bytes=1)
            env.state.fail_next(r".", "500", times=20)
            with pytest.raises(xui.PanelError) as err:
                panel.get_client("order-1")
            texts.append(str(err.value))
            texts.append(panel.health().detail)
            for bad in ({"password": PASSWORD + "x"}, {"token": TOKEN + "x"}):
                xui.forget_sessions()
                with pytest.raises(xui.PanelError) as refused:
                    env.panel(**bad).ensure_client(_spec())
                texts.append(str(refused.value))
        finally:
            env.close()
            xui.forget_sessions()
    everything = caplog.text + "\n".join(texts)
    assert "logged in" in caplog.text  # the logs did say something
    for secret in (PASSWORD, TOKEN, BASE.strip("/")):
        assert secret not in everything


# --- configuration -----------------------------------------------------------------------------------------


def test_config_from_env() -> None:
    cfg = xui.PanelConfig.from_env(
        {
            "VPN_PANEL_URL": "https://panel.example.com:2053/secret",
            "VPN_PANEL_USERNAME": "admin",
            "VPN_PANEL_PASSWORD": " spaced pw ",
            "VPN_INBOUND_ID": "3",
            "VPN_PANEL_API": "Clients",
            "VPN_SUB_URL": "https://sub.example.com:2096/sub/",
        }
    )
    assert cfg.url == "https://panel.example.com:2053/secret/" and cfg.inbound_id == 3 and cfg.api == "clients"
    assert cfg.password == " spaced pw " and cfg.token is None
    assert cfg.effective_link_host == "panel.example.com" and cfg.sub_url == "https://sub.example.com:2096/sub/"
    assert " spaced pw " not in repr(cfg)
    token_cfg = xui.PanelConfig.from_env(
        {"VPN_PANEL_URL": "http://10.0.0.2/", "VPN_PANEL_TOKEN": TOKEN, "VPN_INBOUND_ID": "1", "VPN_LINK_HOST": "x.y"}
    )
    assert token_cfg.api == "auto" and token_cfg.effective_link_host == "x.y" and TOKEN not in repr(token_cfg)


@pytest.mark.parametrize(
    ("environ", "names"),
    [
        ({"VPN_INBOUND_ID": "1", "VPN_PANEL_TOKEN": "t"}, "VPN_PANEL_URL"),
        ({"VPN_PANEL_URL": "https://p.example/", "VPN_PANEL_TOKEN": "t"}, "VPN_INBOUND_ID"),
        ({"VPN_PANEL_URL": "https://p.example/", "VPN_PANEL_TOKEN": "t", "VPN_INBOUND_ID": "x1"}, "VPN_INBOUND_ID"),
        ({"VPN_PANEL_URL": "https://p.example/", "VPN_INBOUND_ID": "1", "VPN_PANEL_USERNAME": "a"}, "VPN_PANEL_TOKEN"),
        ({"VPN_PANEL_URL": "ftp://p.example/", "VPN_PANEL_TOKEN": "t", "VPN_INBOUND_ID": "1"}, "VPN_PANEL_URL"),
        (
            {"VPN_PANEL_URL": "https://u:hunter2@p.example/", "VPN_PANEL_TOKEN": "t", "VPN_INBOUND_ID": "1"},
            "VPN_PANEL_URL",
        ),
        ({"VPN_PANEL_URL": "https://p/", "VPN_PANEL_TOKEN": "t", "VPN_INBOUND_ID": "1", "VPN_PANEL_API": "v4"}, "API"),
    ],
)
def test_config_errors_name_the_variable(environ: dict[str, str], names: str) -> None:
    with pytest.raises(ConfigError) as err:
        xui.PanelConfig.from_env(environ)
    assert names in str(err.value) and "hunter2" not in str(err.value)


# --- the fake's own protocol shapes ------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_fake_speaks_each_versions_wire(version: str) -> None:
    env = _serve(version, "cookie")
    v = tuple(int(x) for x in version.split("."))
    try:
        url = env.url
        # Unauthenticated API calls: 307 to the base path (XHR: 401 JSON) before 2.8.5, a bare 404 after.
        anon = httpx.get(url + "panel/api/inbounds/list")
        xhr = httpx.get(url + "panel/api/inbounds/list", headers={"X-Requested-With": "XMLHttpRequest"})
        if v < (2, 8, 5):
            assert anon.status_code == 307 and anon.headers["Location"] == BASE
            assert xhr.status_code == 401 and xhr.json()["success"] is False
        else:
            assert anon.status_code == 404 and xhr.status_code == (401 if v >= (3, 6) else 404)
        # Login: form or JSON, always HTTP 200 with the envelope.
        with httpx.Client() as c:
            csrf = {}
            if v >= (3, 0):
                token = c.get(url + "csrf-token").json()["obj"]
                csrf = {"X-CSRF-Token": token}
            bad = c.post(url + "login", json={"username": "admin", "password": "nope"}, headers=csrf)
            assert bad.status_code == 200 and bad.json() == {
                "success": False,
                "msg": "Invalid username or password or two-factor code.",
                "obj": None,
            }
            good = c.post(url + "login", json={"username": "admin", "password": PASSWORD}, headers=csrf)
            assert good.status_code == 200 and good.json()["success"] is True
            set_cookie = good.headers["set-cookie"]
            assert set_cookie.startswith("3x-ui=") and "Max-Age=21600" in set_cookie
            assert (f"Path={BASE}" in set_cookie) == (v >= (2, 9))
            got = c.get(url + "panel/api/inbounds/get/1").json()
            assert isinstance(got["obj"]["settings"], str) and isinstance(got["obj"]["streamSettings"], str)
            assert c.get(url + "panel/api/inbounds/get/7").json()["msg"] == "Obtain (record not found)"
            classic = c.get(url + "panel/api/inbounds/getClientTraffics/placeholder")
            clients = c.get(url + "panel/api/clients/traffic/placeholder")
            assert (classic.status_code, clients.status_code) == ((200, 404) if v < (3, 1) else (404, 200))
            if v < (3, 1):
                dup = c.post(
                    url + "panel/api/inbounds/addClient",
                    data={"id": "1", "settings": '{"clients":[{"id":"x","email":"PLACEHOLDER"}]}'},
                    headers=csrf,
                )
                assert dup.json()["msg"] == "Something went wrong (Duplicate email: PLACEHOLDER\n)"
            else:
                body = {"client": {"email": "placeholder", "subId": "other"}, "inboundIds": [1]}
                dup = c.post(url + "panel/api/clients/add", json=body, headers=csrf)
                assert dup.json()["msg"] == "Something went wrong (email already in use: placeholder\n)"
                gone = c.post(url + "panel/api/clients/del/ghost", headers=csrf).json()["msg"]
                assert gone == 'Something went wrong (client "ghost" not found in any inbound or client record\n)'
    finally:
        env.close()


def test_fake_update_on_3_6_is_a_full_replacement() -> None:
    env = _serve("3.6.0", "token")
    try:
        env.panel().ensure_client(_spec(comment="c", tg_id=7, limit_ip=2, total_bytes=9))
        auth = {"Authorization": f"Bearer {TOKEN}"}
        reply = httpx.post(env.url + "panel/api/clients/update/order-1", json={"email": "order-1"}, headers=auth)
        assert reply.json()["success"] is True
        found = env.state.find("order-1")
        assert found is not None
        stored = found[1]
        assert (stored["comment"], stored["tgId"], stored["limitIp"], stored["totalGB"], stored["enable"]) == (
            "",
            0,
            0,
            0,
            False,
        )
    finally:
        env.close()


def test_fake_mounts_under_a_prefix_like_the_dev_server() -> None:
    from werkzeug.middleware.dispatcher import DispatcherMiddleware

    state = XuiState.demo("2.6.8", base_path="/panel-base/", password=PASSWORD)
    _current["app"] = DispatcherMiddleware(_gone, {"/_xui": create_app(state)})
    root = _SERVER[0].url + "/_xui/"
    redirect = httpx.get(root + "panel-base/panel/api/inbounds/list")
    assert redirect.status_code == 307 and redirect.headers["Location"] == "/_xui/panel-base/"
    cfg = xui.PanelConfig(url=root + "panel-base", inbound_id=1, username="admin", password=PASSWORD)
    panel = xui.Panel(cfg, sleep=lambda s: None)
    client = panel.ensure_client(_spec())
    assert panel.health().ok and state.count("order-1") == 1
    (link,) = [vless.parse_link(x) for x in panel.links("order-1")]
    assert link.host == "127.0.0.1" and link.uuid == client.uuid  # VPN_LINK_HOST unset: the panel URL's host
    sub = httpx.get(f"{root}sub/{client.sub_id}")
    assert sub.status_code == 200 and vless.parse_link(base64.b64decode(sub.text).decode()).uuid == client.uuid
    state.fail_next(r"addClient", 500, times=5)
    with pytest.raises(xui.PanelError) as err:
        panel.ensure_client(_spec("order-2"))
    assert err.value.retryable and err.value.status == 500 and state.count("order-2") == 0
