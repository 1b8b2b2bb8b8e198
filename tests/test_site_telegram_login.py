"""Logging in with Telegram on the website (the Login Widget's redirect to auth_telegram, GET), through the
functions served alone as production builds them: a Telegram-only person gets a full account on the site,
refused logins change nothing, and Discord can be linked afterwards."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest

from tests.site_helpers import Login, login_via_functions, set_cookies, widget_payload
from tests.test_site_functions import call, q, site  # noqa: F401 (the fixture)
from ttfd.core import db, ledger, users
from ttfd.features import REGISTRY
from ttfd.features.accounts import service as link
from ttfd.features.shop import service as shop

NONCE = "n0nce-of-this-browser-0123456789"


def tg_login(
    make_client: Any, fields: dict[str, Any], nonce: str | None = NONCE, cookie: str | None = NONCE, **kw: Any
):
    """The browser coming back from the widget: our nonce and next, then Telegram's signed fields."""
    client = make_client("auth_telegram")
    if cookie is not None:
        client.set_cookie("ttfd_tg_login", cookie)
    ours = {"login": nonce} if nonce is not None else {}
    query = urlencode({**ours, "next": kw.pop("next", "/me"), **fields})
    return client.get(f"/auth/telegram?{query}", headers=kw.pop("headers", {}))


def logged_in(resp: Any) -> Login:
    assert resp.status_code == 302, resp.get_data(as_text=True)
    jar = set_cookies(resp)
    assert jar["ttfd_tg_login"].value == ""  # the nonce is used up
    return Login(jar["ttfd_session"].value, jar["csrf_token"].value, resp.headers["Location"])


def test_a_telegram_only_person_logs_in_and_has_the_whole_site(site, fresh_db) -> None:  # noqa: F811
    with db.transaction() as conn:  # they have played on Telegram only
        tg = users.ensure_user(conn, "telegram", 7100, "mira_tg", "Mira")
        ledger.grant(conn, tg.id, "coins", 500, reason="t", platform="telegram", source_key="tg:7100")
        item = shop.create(conn, name="Top hat", price=120, description="A very tall hat.")
    resp = tg_login(site, widget_payload(7100, "Mira", username="mira_tg"), next="/shop")
    login = logged_in(resp)
    assert login.next_path == "/shop"
    jar = set_cookies(resp)
    assert jar["ttfd_session"]["httponly"] and not jar["csrf_token"]["httponly"]

    me = call(site, "api_me", login=login).get_json()
    assert me["id"] == tg.id and me["name"] == "Mira" and me["linked"] == ["telegram", "website"]
    assert me["stats"]["coins"] == 500 and me["privacy"] == {"show_stats": True, "notifications": True}
    # settings and customisation
    saved = call(site, "api_me", "PATCH", login=login, json={"show_stats": False, "bio": "Telegram first"})
    assert saved.status_code == 200 and saved.get_json()["appearance"]["bio"] == "Telegram first"
    # the shop: see the balance, buy
    listing = call(site, "api_shop", login=login).get_json()
    assert listing["me"]["balance"] == 500
    buy = call(
        site,
        "api_shop_buy",
        "POST",
        login=login,
        json={"item_id": item.id, "quantity": 1, "price": 120},
        headers={"Idempotency-Key": "tg-first-buy-1"},
    )
    assert buy.status_code in (200, 201), buy.get_json()
    assert buy.get_json()["owned"] == 1  # (an achievement may have paid something back: the balance says)
    assert q(fresh_db, "SELECT coins FROM unified_users WHERE id = %s", tg.id) == (buy.get_json()["balance"],)
    assert q(fresh_db, "SELECT count(*) FROM purchases WHERE user_id = %s", tg.id) == (1,)
    assert q(fresh_db, "SELECT count(*) FROM sessions WHERE user_id = %s", tg.id) == (1,)


def test_a_first_telegram_login_creates_the_account(site, fresh_db) -> None:  # noqa: F811
    login = logged_in(tg_login(site, widget_payload(7200, "Newbie", last_name="Tg")))
    me = call(site, "api_me", login=login).get_json()
    assert me["name"] == "Newbie Tg" and me["linked"] == ["telegram", "website"]
    assert q(fresh_db, "SELECT telegram_id, discord_id FROM unified_users WHERE id = %s", me["id"]) == (7200, None)


def test_linking_discord_afterwards_merges_into_the_telegram_account(site, app_env, fresh_db) -> None:  # noqa: F811
    login = logged_in(tg_login(site, widget_payload(7300, "Kite")))
    me = call(site, "api_me", login=login).get_json()
    code = call(site, "api_link_code", "POST", login=login).get_json()["code"]
    with db.transaction() as conn:  # /link code:<code> on Discord, from someone with Discord history
        dc = users.ensure_user(conn, "discord", 730001, "kite_dc", "Kite on Discord")
        ledger.grant(conn, dc.id, "coins", 70, reason="t", platform="discord", source_key="dc:7300")
        link.redeem_link_code(conn, code, "discord", 730001, REGISTRY.merge_hooks)
    after = call(site, "api_me", login=login).get_json()  # the same session, now both platforms
    assert sorted(after["linked"]) == ["discord", "telegram", "website"]
    assert after["stats"]["coins"] >= 70
    # and a Discord login now reaches the same account
    app_env.discord.add_oauth_user(730001, "kite_dc", "Kite on Discord")
    discord = login_via_functions(site, app_env, 730001)
    assert call(site, "api_me", login=discord).get_json()["id"] == after["id"]
    assert q(
        fresh_db, "SELECT count(*) FROM unified_users WHERE merged_into IS NULL AND id IN (%s, %s)", me["id"], dc.id
    ) == (1,)


@pytest.mark.parametrize("case", ["forged", "tampered", "old", "future", "other_bot", "no_hash", "bad_id"])
def test_a_forged_or_stale_telegram_login_is_refused_and_changes_nothing(site, fresh_db, case) -> None:  # noqa: F811
    fields: dict[str, Any] = widget_payload(7400, "Eve", username="eve")
    if case == "forged":
        fields["hash"] = "0" * 64
    elif case == "tampered":
        fields["username"] = "admin"
    elif case == "old":
        fields = widget_payload(7400, "Eve", age_s=86401)
    elif case == "future":
        fields = widget_payload(7400, "Eve", age_s=-3600)
    elif case == "other_bot":
        from ttfd.features.auth import telegram_login

        fields = {"id": 7400, "first_name": "Eve", "auth_date": fields["auth_date"]}
        fields["hash"] = telegram_login.sign(fields, "123456:another-bots-token")
    elif case == "no_hash":
        del fields["hash"]
    else:
        fields["id"] = "74oo"
    resp = tg_login(site, fields)
    assert resp.status_code == 400 and resp.mimetype == "text/html"
    assert "ttfd_session" not in set_cookies(resp)
    assert q(fresh_db, "SELECT count(*) FROM unified_users WHERE telegram_id IS NOT NULL") == (0,)
    assert q(fresh_db, "SELECT count(*) FROM sessions") == (0,)


def test_a_replayed_telegram_login_is_refused(site, fresh_db) -> None:  # noqa: F811
    fields = widget_payload(7500, "Once")
    logged_in(tg_login(site, fields))
    again = tg_login(site, fields)
    assert again.status_code == 409 and "already used" in again.get_data(as_text=True)
    assert "ttfd_session" not in set_cookies(again)
    assert q(fresh_db, "SELECT count(*) FROM sessions") == (1,)
    # one signed login is used once, whether to log in or to link
    assert q(fresh_db, "SELECT count(*) FROM idempotency_keys WHERE key = %s", f"tglogin:{fields['hash']}") == (1,)


@pytest.mark.parametrize("case", ["no_cookie", "other_browser", "no_nonce", "short_nonce"])
def test_a_telegram_login_started_in_another_browser_is_refused(site, fresh_db, case) -> None:  # noqa: F811
    """Login CSRF: someone's own signed login, sent to a victim, must not log the victim into their account."""
    fields = widget_payload(7600, "Mallory")
    if case == "no_cookie":
        resp = tg_login(site, fields, cookie=None)
    elif case == "other_browser":
        resp = tg_login(site, fields, cookie="another-browsers-nonce-0123456")
    elif case == "no_nonce":
        resp = tg_login(site, fields, nonce=None)
    else:
        resp = tg_login(site, fields, nonce="short", cookie="short")
    assert resp.status_code == 400 and "another browser" in resp.get_data(as_text=True)
    assert q(fresh_db, "SELECT count(*) FROM sessions") == (0,)
    # the signed login was not used up: the person it belongs to can still log in with it
    assert q(fresh_db, "SELECT count(*) FROM idempotency_keys WHERE key LIKE 'tglogin:%%'") == (0,)


def test_telegram_login_never_redirects_off_site_and_takes_only_get(site, fresh_db) -> None:  # noqa: F811
    resp = tg_login(site, widget_payload(7700, "Away"), next="https://evil.example/x")
    assert logged_in(resp).next_path == "/me"
    head = call(site, "auth_telegram", "HEAD")
    assert head.status_code == 405 and set(head.headers["Allow"].split(", ")) == {"GET", "POST"}


def test_the_accounts_language_comes_back_with_the_login(site, fresh_db) -> None:  # noqa: F811
    with db.transaction() as conn:
        tg = users.ensure_user(conn, "telegram", 7800, "ru_tg", "Лена")
        conn.execute("UPDATE unified_users SET language = 'ru' WHERE id = %s", (tg.id,))
    resp = tg_login(site, widget_payload(7800, "Лена"))
    lang = set_cookies(resp)["lang"]
    assert lang.value == "ru" and not lang["httponly"]
    # an account that chose nothing leaves the browser's choice alone
    assert "lang" not in set_cookies(tg_login(site, widget_payload(7801, "Any")))
