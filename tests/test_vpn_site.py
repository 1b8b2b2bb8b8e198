"""The site's "My VPN" API (`/api/vpn`, the api_vpn function): a key bought on Telegram shows for the account on
the site with status, expiry and traffic from the panel; its link and QR code only on a POST with the CSRF
token (audited); a renewal placed from the site is an order in the store where the key was bought, its message
sent to the member's chat there; bad input changes nothing."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import pytest
from functions_framework import create_app

from tests.site_helpers import SESSION_SECRET, configure_site
from tests.test_vpn_store import _one
from tests.test_vpn_telegram import ADMIN, GROUP, MEMBER, _approve_and_confirm, _jobs, _order_and_pay, _sent, tg
from ttfd.core import db
from ttfd.web import session_signer, sessions

__all__ = ["tg"]  # the fixture, from the Telegram store's tests

ORIGIN = "http://localhost"


@pytest.fixture
def sold(app_env, tg, monkeypatch) -> dict[str, Any]:
    """A key bought on Telegram, and a site session for its account."""
    configure_site(monkeypatch, app_env)
    order_id, pay_id = _order_and_pay(tg, app_env, MEMBER, 1)
    _approve_and_confirm(tg, app_env, pay_id, ADMIN)
    key = _one("SELECT id, user_id, link FROM vpn_keys")
    assert key is not None
    with db.transaction() as conn:
        made = sessions.create(conn, key["user_id"], sessions.Policy(3600, 3600, 3600), "test")
    cookie = session_signer(SESSION_SECRET).sign(made.token).decode()
    client = create_app("api_vpn", "main.py").test_client()
    client.set_cookie("ttfd_session", cookie)
    client.set_cookie("csrf_token", made.session.csrf_token)
    return {"client": client, "csrf": made.session.csrf_token, "key": key, "order": order_id, "panel": tg.panel}


def _post(s: dict[str, Any], body: Any, **headers: str) -> Any:
    sent = {"X-CSRF-Token": s["csrf"], "Origin": ORIGIN, "Content-Type": "application/json", **headers}
    raw = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return s["client"].post("/", data=raw, headers=sent)


def test_my_vpn_shows_the_key_without_its_link(sold) -> None:
    resp = sold["client"].get("/")
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "private, no-store"
    body = resp.get_json()
    assert body["order"] is None
    (key,) = body["keys"]
    assert key["id"] == sold["key"]["id"] and key["status"] == "active" and key["plan"] == "Month"
    assert key["traffic"] == {"used": 0, "limit": 100 * 1024**3} and key["renewable"] is True
    assert "vless://" not in resp.get_data(as_text=True)  # the link only on purpose, by POST
    # logged out: 401, nothing else
    anon = create_app("api_vpn", "main.py").test_client().get("/")
    assert anon.status_code == 401


def test_the_panel_down_still_shows_the_keys(sold) -> None:
    sold["panel"].fail_next(r".*", "500", times=20)
    body = sold["client"].get("/").get_json()
    assert body["keys"][0]["status"] == "active" and body["keys"][0]["traffic"] is None


def test_reveal_gives_the_link_and_a_qr_code_that_reads_as_it(sold) -> None:
    no_csrf = sold["client"].post("/", json={"action": "reveal", "key": sold["key"]["id"]}, headers={"Origin": ORIGIN})
    assert no_csrf.status_code == 403
    resp = _post(sold, {"action": "reveal", "key": sold["key"]["id"]})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body = resp.get_json()
    assert body["link"] == sold["key"]["link"] and body["qr"].startswith("data:image/png;base64,")
    png = base64.b64decode(body["qr"].split(",", 1)[1])
    zxingcpp = pytest.importorskip("zxingcpp")
    from PIL import Image

    (found,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert found.text == sold["key"]["link"]
    seen = _one("SELECT count(*) AS n FROM vpn_audit WHERE action = 'key.reveal'")
    assert seen["n"] == 1


@pytest.mark.parametrize(
    "body",
    [
        {"action": "reveal"},
        {"action": "reveal", "key": "1"},
        {"action": "reveal", "key": 2**70},
        {"action": "reveal", "key": -1},
        {"action": "reveal", "key": True},
        {"action": "steal", "key": 1},
        {"action": "reveal", "key": 1, "extra": 1},
        {"action": "renew\x00", "key": 1},
        [1, 2],
        "[" * 5000 + "]" * 5000,
        b"\xff\xfe not json",
    ],
)
def test_bad_bodies_are_refused_and_change_nothing(sold, body) -> None:
    resp = _post(sold, body)
    assert resp.status_code == 400, resp.get_data(as_text=True)
    assert resp.headers["Content-Type"].startswith("application/problem+json")
    assert _one("SELECT count(*) AS n FROM vpn_audit WHERE action = 'key.reveal'")["n"] == 0


def test_someone_elses_key_is_not_found(sold) -> None:
    with db.transaction() as conn:
        other = conn.execute("INSERT INTO unified_users (discord_id) VALUES (4242) RETURNING id").fetchone()
        made = sessions.create(conn, other["id"], sessions.Policy(3600, 3600, 3600), "test")
    client = create_app("api_vpn", "main.py").test_client()
    client.set_cookie("ttfd_session", session_signer(SESSION_SECRET).sign(made.token).decode())
    client.set_cookie("csrf_token", made.session.csrf_token)
    stranger = {"client": client, "csrf": made.session.csrf_token}
    for action in ("reveal", "renew"):
        resp = _post(stranger, {"action": action, "key": sold["key"]["id"]}, **{"Idempotency-Key": "k" * 12})
        assert resp.status_code == 404, resp.get_data(as_text=True)
    assert client.get("/").get_json() == {"keys": [], "order": None}


def test_renew_from_the_site_places_one_order_where_the_key_was_bought(app_env, sold) -> None:
    key_id = sold["key"]["id"]
    missing = _post(sold, {"action": "renew", "key": key_id})
    assert missing.status_code == 400 and "Idempotency-Key" in missing.get_json()["title"]
    first = _post(sold, {"action": "renew", "key": key_id}, **{"Idempotency-Key": "renew-0001"})
    assert first.status_code == 201, first.get_data(as_text=True)
    placed = first.get_json()
    assert placed["platform"] == "telegram" and "in your chat with the bot" in placed["message"]
    again = _post(sold, {"action": "renew", "key": key_id}, **{"Idempotency-Key": "renew-0001"})
    assert again.status_code == 201 and again.get_json()["order"] == placed["order"]  # a retried click
    other = _post(sold, {"action": "renew", "key": key_id}, **{"Idempotency-Key": "renew-0002"})
    assert other.status_code == 409 and other.get_json()["title"] == (
        f"You already have an open order #{placed['order']}: pay for it or cancel it on Telegram."
    )
    row = _one("SELECT renews, platform, scope_id, status FROM vpn_orders WHERE id = %s", placed["order"])
    assert (row["renews"], row["platform"], row["scope_id"], row["status"]) == (
        key_id,
        "telegram",
        GROUP,
        "pending_payment",
    )
    _jobs()
    told = [p["text"] for p in _sent(app_env, MEMBER) if f"Order #{placed['order']}" in p.get("text", "")]
    assert len(told) == 1 and "/pay" in told[0]
    shown = sold["client"].get("/").get_json()["order"]
    assert shown["id"] == placed["order"] and shown["renews"] == key_id and shown["status"] == "pending_payment"
    assert shown["amount"] == "RUB\xa0299"
