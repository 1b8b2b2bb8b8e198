"""The website functions through functions-framework, each served alone at / as production builds it."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest
from functions_framework import create_app

from tests.site_helpers import (
    CLIENT_ID,
    Login,
    authorize_at_fake,
    configure_site,
    login_via_functions,
    set_cookies,
    widget_payload,
)
from ttfd.core import db, ledger, users
from ttfd.features import REGISTRY
from ttfd.features.accounts import service as link


@pytest.fixture
def site(app_env, monkeypatch):
    configure_site(monkeypatch, app_env)
    clients: dict[str, Any] = {}

    def make_client(target: str):
        clients[target] = create_app(target, "main.py").test_client()
        return clients[target]

    return make_client


def call(make_client, target: str, method: str = "GET", path: str = "/", login: Login | None = None, **kw: Any):
    """One request to one function; a login's cookies (and, for writes, its CSRF header) go along."""
    client = make_client(target)
    headers = dict(kw.pop("headers", {}))
    if login:
        client.set_cookie("ttfd_session", login.session)
        client.set_cookie("csrf_token", login.csrf)
        if method != "GET" and kw.pop("csrf", True):
            headers.setdefault("X-CSRF-Token", login.csrf)
    return client.open(path, method=method, headers=headers, **kw)


def q(url: str, sql: str, *args):
    with psycopg.connect(url) as c:
        return c.execute(sql, args).fetchone()


def test_login_redirects_to_discord_with_a_browser_bound_state(site, fresh_db) -> None:
    resp = call(site, "auth_discord_login", query_string={"next": "/leaderboard"})
    assert resp.status_code == 302
    url = urlsplit(resp.headers["Location"])
    params = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert url.path.endswith("/oauth2/authorize") and "/api/" not in url.path
    assert params["client_id"] == CLIENT_ID and params["scope"] == "identify guilds"
    assert params["response_type"] == "code" and params["redirect_uri"] == "http://localhost/auth/discord/callback"
    cookie = set_cookies(resp)["ttfd_oauth"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and not cookie["secure"]
    row = q(fresh_db, "SELECT next_path, used_at FROM oauth_states WHERE state = %s", params["state"])
    assert row == ("/leaderboard", None)


def test_cookies_are_secure_on_https(site, monkeypatch) -> None:
    from ttfd.core.settings import get_settings

    monkeypatch.setenv("SITE_URL", "https://ttfd.example")
    get_settings.cache_clear()
    cookie = set_cookies(call(site, "auth_discord_login"))["ttfd_oauth"]
    assert cookie["secure"] and cookie["httponly"] and cookie["samesite"] == "Lax"


def test_full_login_creates_account_session_and_cookies(site, app_env, fresh_db) -> None:
    app_env.discord.add_oauth_user(555001, "ada", "Ada L", guilds=(1, 2))
    with db.transaction() as conn:  # guild 2 has TTFD set up, guild 1 does not
        conn.execute("INSERT INTO guild_rank_roles (guild_id, rank_id, role_id) VALUES (2, 1, 99)")
    login = login_via_functions(site, app_env, 555001, next_path="/customize")
    assert login.next_path == "/customize"
    start = call(site, "auth_discord_login")
    assert start.status_code == 302
    me = call(site, "api_me", login=login)
    assert me.status_code == 200
    body = me.get_json()
    assert body["name"] == "Ada L" and body["username"] == "ada" and body["linked"] == ["discord", "website"]
    assert body["stats"]["rank"]["code"] == "F-" and body["privacy"]["show_stats"] is True
    uid = body["id"]
    assert q(fresh_db, "SELECT discord_id FROM unified_users WHERE id = %s", uid) == (555001,)
    assert q(fresh_db, "SELECT array_agg(guild_id) FROM guild_members WHERE user_id = %s", uid) == ([2],)
    assert q(fresh_db, "SELECT count(*) FROM sessions WHERE user_id = %s", uid) == (1,)
    # the database keeps only a hash of the token
    assert q(fresh_db, "SELECT count(*) FROM sessions WHERE token_hash::text LIKE %s", f"%{login.session[:8]}%")[0] == 0


def test_login_finds_the_account_made_on_discord(site, app_env, fresh_db) -> None:
    with db.transaction() as conn:
        user = users.ensure_user(conn, "discord", 555002, "bob", "Bob")
        ledger.grant(conn, user.id, "coins", 77, reason="t", platform="discord", source_key="t:1")
    app_env.discord.add_oauth_user(555002, "bob", "Bob")
    me = call(site, "api_me", login=login_via_functions(site, app_env, 555002)).get_json()
    assert me["id"] == user.id and me["stats"]["coins"] == 77
    assert q(fresh_db, "SELECT count(*) FROM unified_users")[0] == 1


def _start(site) -> tuple[str, str, str]:
    resp = call(site, "auth_discord_login")
    state = parse_qs(urlsplit(resp.headers["Location"]).query)["state"][0]
    return resp.headers["Location"], state, set_cookies(resp)["ttfd_oauth"].value


def _callback(site, query: str, nonce: str | None):
    client = site("auth_discord_callback")
    if nonce:
        client.set_cookie("ttfd_oauth", nonce)
    return client.get("/?" + query)


@pytest.mark.parametrize("case", ["no_state", "unknown_state", "other_browser", "no_cookie", "expired", "replayed"])
def test_callback_state_failures_are_rejected_and_change_nothing(site, app_env, fresh_db, case) -> None:
    app_env.discord.add_oauth_user(555003, "eve", "Eve")
    authorize, _, nonce = _start(site)
    back = urlsplit(authorize_at_fake(authorize, app_env.discord_url, 555003)).query
    code = parse_qs(back)["code"][0]
    if case == "replayed":
        assert _callback(site, back, nonce).status_code == 302
        sessions_before = q(fresh_db, "SELECT count(*) FROM sessions")[0]
    else:
        sessions_before = 0
    query, cookie = back, nonce
    if case == "no_state":
        query = f"code={code}"
    elif case == "unknown_state":
        query = f"code={code}&state=not-a-state"
    elif case == "other_browser":
        cookie = "a-different-browser-nonce"
    elif case == "no_cookie":
        cookie = None
    elif case == "expired":
        with psycopg.connect(fresh_db) as c:
            c.execute("UPDATE oauth_states SET expires_at = now() - interval '1 second'")
    resp = _callback(site, query, cookie)
    assert resp.status_code == 400
    assert resp.mimetype == "text/html" and "log in again" in resp.get_data(as_text=True).lower()
    assert not any(h.startswith("ttfd_session=") for h in resp.headers.getlist("Set-Cookie"))
    assert q(fresh_db, "SELECT count(*) FROM sessions")[0] == sessions_before
    if case != "replayed":
        assert q(fresh_db, "SELECT count(*) FROM unified_users")[0] == 0


def test_cancel_on_discord_burns_the_state(site, app_env, fresh_db) -> None:
    authorize, state, nonce = _start(site)
    back = urlsplit(authorize_at_fake(authorize, app_env.discord_url, 1, action="cancel")).query
    resp = _callback(site, back, nonce)
    assert resp.status_code == 302 and resp.headers["Location"] == "/login?error=denied"
    assert q(fresh_db, "SELECT used_at IS NOT NULL FROM oauth_states WHERE state = %s", state) == (True,)


def test_provider_refusals_and_outages(site, app_env, fresh_db) -> None:
    app_env.discord.add_oauth_user(555004, "zed", "Zed")
    authorize, _, nonce = _start(site)
    back = urlsplit(authorize_at_fake(authorize, app_env.discord_url, 555004)).query
    app_env.discord.oauth_codes.clear()  # the code expired at Discord: invalid_grant
    assert _callback(site, back, nonce).status_code == 400
    authorize, _, nonce = _start(site)
    back = urlsplit(authorize_at_fake(authorize, app_env.discord_url, 555004)).query
    app_env.discord.fail_next("POST", "/oauth2/token", 503, {"message": "down"}, times=5)
    assert _callback(site, back, nonce).status_code == 502
    assert q(fresh_db, "SELECT count(*) FROM sessions")[0] == 0


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example", "/\\evil.example", "me", "/a b"])
def test_next_never_leaves_the_site(site, fresh_db, target) -> None:
    call(site, "auth_discord_login", query_string={"next": target})
    assert q(fresh_db, "SELECT next_path FROM oauth_states") == ("/me",)


@pytest.fixture
def ada(site, app_env) -> Login:
    app_env.discord.add_oauth_user(555010, "ada", "Ada")
    return login_via_functions(site, app_env, 555010)


def _settings(url: str) -> tuple:
    return q(url, "SELECT theme, primary_color, background_image, music_url, bio, show_stats FROM unified_users")


def test_csrf_and_session_are_required_for_changes(site, ada, fresh_db) -> None:
    before = _settings(fresh_db)
    body = {"theme": "light"}
    assert call(site, "api_me", "PATCH", json=body).status_code == 401
    assert call(site, "api_me", "PATCH", login=ada, json=body, csrf=False).status_code == 403
    wrong = call(site, "api_me", "PATCH", login=ada, json=body, headers={"X-CSRF-Token": "nope"})
    assert wrong.status_code == 403 and wrong.mimetype == "application/problem+json"
    cross = call(site, "api_me", "PATCH", login=ada, json=body, headers={"Origin": "https://evil.example"})
    assert cross.status_code == 403
    assert call(site, "auth_logout", "POST", login=ada, csrf=False).status_code == 403
    assert call(site, "api_link_code", "POST", login=ada, csrf=False).status_code == 403
    assert _settings(fresh_db) == before
    ok = call(site, "api_me", "PATCH", login=ada, json=body, headers={"Origin": "http://localhost"})
    assert ok.status_code == 200 and ok.get_json()["appearance"]["theme"] == "light"


def test_a_lost_csrf_cookie_is_given_back(site, ada) -> None:
    client = site("api_me")
    client.set_cookie("ttfd_session", ada.session)
    assert set_cookies(client.get("/"))["csrf_token"].value == ada.csrf


def test_forged_or_missing_session_is_logged_out(site, ada) -> None:
    assert call(site, "api_me").status_code == 401
    flipped = "A" if ada.session[-2] != "A" else "B"  # a different signature byte, always (not "xx", once in 64)
    forged = Login(ada.session[:-2] + flipped + ada.session[-1], ada.csrf, "/me")
    assert call(site, "api_me", login=forged).status_code == 401


@pytest.mark.parametrize(
    ("patch", "reason"),
    [
        ({"theme": "neon"}, "theme"),
        ({"primary_color": "red"}, "primary_color"),
        ({"primary_color": "#12345"}, "primary_color"),
        ({"background_image": "http://img.example/a.png"}, "https"),
        ({"background_image": "javascript:alert(1)"}, "https"),
        ({"background_image": 'https://x.example/a.png");background:url("x'}, "quotes"),
        ({"music_url": "https://m.example/" + "a" * 500}, "500"),
        ({"bio": "x" * 501}, "500"),
        ({"bio": "bell\x07"}, "control"),
        ({"show_stats": "no"}, "show_stats"),
        ({"theme": None}, "theme"),
        ({"is_admin": True}, "is_admin"),
        ({}, "at least one"),
        ([1, 2], "at least one"),
    ],
)
def test_settings_are_validated_and_bad_input_changes_nothing(site, ada, fresh_db, patch, reason) -> None:
    before = _settings(fresh_db)
    resp = call(site, "api_me", "PATCH", login=ada, json=patch)
    assert resp.status_code == 400
    assert reason in resp.get_json()["title"]
    assert _settings(fresh_db) == before


def test_not_json_is_a_400(site, ada) -> None:
    resp = call(site, "api_me", "PATCH", login=ada, data="theme=light", content_type="text/plain")
    assert resp.status_code == 400 and "JSON" in resp.get_json()["title"]


def test_settings_save_normalise_and_clear(site, ada, fresh_db) -> None:
    patch = {
        "theme": "light",
        "primary_color": "#AABBCC",
        "background_image": " https://img.example/bg.png ",
        "music_url": "https://music.example/song.mp3",
        "bio": "  Hello there  ",
        "show_stats": False,
        "notifications": False,
    }
    me = call(site, "api_me", "PATCH", login=ada, json=patch).get_json()
    assert me["appearance"] == {
        "theme": "light",
        "primary_color": "#aabbcc",
        "background_image": "https://img.example/bg.png",
        "music_url": "https://music.example/song.mp3",
        "bio": "Hello there",
    }
    assert me["privacy"] == {"show_stats": False, "notifications": False}
    assert me["stats"] is not None  # the owner always sees their own stats
    cleared = call(site, "api_me", "PATCH", login=ada, json={"background_image": "", "bio": None}).get_json()
    assert cleared["appearance"]["background_image"] is None and cleared["appearance"]["bio"] is None
    assert cleared["appearance"]["music_url"] == "https://music.example/song.mp3"


def test_public_profile_honours_privacy(site, app_env, ada, fresh_db) -> None:
    me = call(site, "api_me", login=ada).get_json()
    public = call(site, "api_profile", path=f"/{me['id']}").get_json()
    assert public["stats"]["xp"] == 0 and "email" not in public and "privacy" not in public
    # no email is collected, so there is no "show my email" to turn on
    assert call(site, "api_me", "PATCH", login=ada, json={"show_email": True}).status_code == 400
    call(site, "api_me", "PATCH", login=ada, json={"show_stats": False})
    by_name = call(site, "api_profile", path="/ADA")  # usernames are case-insensitive
    assert by_name.status_code == 200
    hidden = by_name.get_json()
    assert hidden["stats"] is None and "games" not in hidden
    # the Discord id people copy from the app finds the player too
    assert call(site, "api_profile", path="/555010").get_json()["id"] == me["id"]
    assert call(site, "api_profile", path=f"/{me['id']}", login=ada).get_json()["stats"] is not None
    for missing in ("/nobody-here", "/", "/api/profile/ada/extra", "/x/y/ada", "/" + "a" * 65, "/²"):
        assert call(site, "api_profile", path=missing).status_code == 404, missing
    mounted = call(site, "api_profile", path=f"/api/profile/{me['id']}")  # as the local server mounts it
    assert mounted.get_json()["id"] == me["id"]


def test_merged_ids_lead_to_the_survivor(site, fresh_db) -> None:
    with db.transaction() as conn:
        keep = users.ensure_user(conn, "discord", 1, "keep")
        gone = users.ensure_user(conn, "telegram", 2, "gone")
        link.merge_accounts(conn, keep.id, gone.id, "telegram", REGISTRY.merge_hooks)
    assert call(site, "api_profile", path=f"/{gone.id}").get_json()["id"] == keep.id


def test_rank_card_png_with_etag(site, ada) -> None:
    me = call(site, "api_me", login=ada).get_json()
    card = call(site, "api_profile", path=urlsplit(me["card_url"]).path)
    assert card.status_code == 200 and card.mimetype == "image/png"
    assert card.data[:8] == b"\x89PNG\r\n\x1a\n" and "public" in card.headers["Cache-Control"]
    again = call(site, "api_profile", path=f"/{me['id']}/card.png", headers={"If-None-Match": card.headers["ETag"]})
    assert again.status_code == 304
    call(site, "api_me", "PATCH", login=ada, json={"primary_color": "#ff0000"})
    changed = call(site, "api_me", login=ada).get_json()["card_url"]
    assert changed != me["card_url"]  # a new version, so caches fetch the new card


def _players(n: int, hidden: int | None = None) -> list[int]:
    with db.transaction() as conn:
        ids = []
        for i in range(n):
            u = users.ensure_user(conn, "telegram", 7000 + i, f"p{i}", f"Player {i}")
            ledger.grant(conn, u.id, "xp", 1000 - i * 10, reason="t", platform="telegram", source_key=f"lb:{i}")
            ids.append(u.id)
        if hidden is not None:
            conn.execute("UPDATE unified_users SET show_stats = false WHERE id = %s", (ids[hidden],))
    return ids


def test_leaderboard_pages_and_validation(site, fresh_db) -> None:
    ids = _players(25, hidden=1)
    first = call(site, "api_leaderboard", query_string={"board": "xp"}).get_json()
    assert (first["page"], first["pages"], first["total"], first["mine"]) == (1, 3, 25, None)
    assert [e["position"] for e in first["entries"]] == list(range(1, 11))
    assert first["entries"][0] == {"position": 1, "user_id": ids[0], "name": "Player 0", "value": 1000, "me": False}
    hidden = {"position": 2, "user_id": None, "name": "Hidden player", "value": 990, "me": False}
    assert first["entries"][1] == hidden
    last = call(site, "api_leaderboard", query_string={"board": "xp", "page": "99"}).get_json()
    assert last["page"] == 3 and len(last["entries"]) == 5 and last["entries"][-1]["position"] == 25
    week = call(site, "api_leaderboard", query_string={"board": "week", "page": "2"}).get_json()
    assert week["entries"][0]["position"] == 11
    for bad in ({"board": "gold"}, {"page": "0"}, {"page": "-1"}, {"page": "two"}, {"page": "100001"}, {"page": "²"}):
        resp = call(site, "api_leaderboard", query_string=bad)
        assert resp.status_code == 400 and resp.mimetype == "application/problem+json"


def test_leaderboard_shows_the_viewers_place(site, app_env, fresh_db) -> None:
    _players(12)
    app_env.discord.add_oauth_user(555011, "late", "Late")
    login = login_via_functions(site, app_env, 555011)
    with db.transaction() as conn:
        uid = users.find_user(conn, "discord", 555011).id
        ledger.grant(conn, uid, "xp", 895, reason="t", platform="discord", source_key="late")
    board = call(site, "api_leaderboard", login=login).get_json()
    assert board["mine"] == {"position": 12, "value": 895}


def test_link_code_then_telegram_link_merges(site, app_env, ada, fresh_db) -> None:
    assert call(site, "api_link_code", "POST").status_code == 401
    resp = call(site, "api_link_code", "POST", login=ada)
    assert resp.status_code == 201
    code = resp.get_json()["code"]
    assert len(code) == 10 and resp.get_json()["ttl_s"] == 600
    with db.transaction() as conn:
        tg = users.ensure_user(conn, "telegram", 8100, "tgada", "Ada TG")
        ledger.grant(conn, tg.id, "coins", 40, reason="t", platform="telegram", source_key="tg:1")
        link.redeem_link_code(conn, code, "telegram", 8100, REGISTRY.merge_hooks)
    me = call(site, "api_me", login=ada).get_json()
    # Discord, Telegram and a website login: the "Everywhere" achievement's 300 coins come with the link
    assert me["linked"] == ["discord", "telegram", "website"] and me["stats"]["coins"] == 40 + 300


def test_telegram_widget_links_and_merges(site, app_env, ada, fresh_db) -> None:
    with db.transaction() as conn:
        tg = users.ensure_user(conn, "telegram", 8200, "ada_tg", "Ada on Telegram")
        ledger.grant(conn, tg.id, "coins", 55, reason="t", platform="telegram", source_key="tg:2")
    payload = widget_payload(8200, "Ada", username="ada_tg", photo_url="https://t.me/i/userpic/1.jpg")
    resp = call(site, "auth_telegram", "POST", login=ada, json=payload)
    assert resp.status_code == 200, resp.get_json()
    body = resp.get_json()
    assert body["merged"] is True and body["me"]["linked"] == ["discord", "telegram", "website"]
    assert body["me"]["stats"]["coins"] == 55 + 300  # + the "Everywhere" achievement
    assert q(fresh_db, "SELECT merged_into FROM unified_users WHERE id = %s", tg.id) == (body["me"]["id"],)
    replay = call(site, "auth_telegram", "POST", login=ada, json=payload)
    assert replay.status_code == 409 and "already used" in replay.get_json()["title"]


@pytest.mark.parametrize(
    "case", ["bad_hash", "tampered", "old", "future", "malformed", "bool_id", "nested_extra", "not_object"]
)
def test_telegram_widget_rejections_change_nothing(site, ada, fresh_db, case) -> None:
    payload: Any = widget_payload(8300)
    expected = 400  # the session is fine; the Telegram data is not
    if case == "bad_hash":
        payload["hash"] = "0" * 64
    elif case == "tampered":
        payload["id"] = 8301
    elif case == "old":
        payload = widget_payload(8300, age_s=86401)
    elif case == "future":
        payload = widget_payload(8300, age_s=-3600)
    elif case == "malformed":
        del payload["auth_date"]
    elif case == "bool_id":
        payload["id"] = True
    elif case == "nested_extra":
        payload["extra"] = {"a": 1}
    else:
        payload = ["id", 8300]
    resp = call(site, "auth_telegram", "POST", login=ada, json=payload)
    assert resp.status_code == expected
    assert q(fresh_db, "SELECT count(*) FROM unified_users WHERE telegram_id IS NOT NULL")[0] == 0
    assert q(fresh_db, "SELECT count(*) FROM idempotency_keys WHERE key LIKE 'tglogin:%%'")[0] == 0


def test_telegram_identity_conflict_is_a_409(site, ada, fresh_db) -> None:
    assert call(site, "auth_telegram", "POST", login=ada, json=widget_payload(8400)).status_code == 200
    other = call(site, "auth_telegram", "POST", login=ada, json=widget_payload(8401))
    assert other.status_code == 409 and "different Telegram" in other.get_json()["title"]


def test_logout_ends_the_session(site, ada, fresh_db) -> None:
    resp = call(site, "auth_logout", "POST", login=ada)
    assert resp.status_code == 204
    jar = set_cookies(resp)
    assert jar["ttfd_session"].value == "" and jar["csrf_token"].value == ""
    assert q(fresh_db, "SELECT count(*) FROM sessions")[0] == 0
    assert call(site, "api_me", login=ada).status_code == 401
    assert call(site, "auth_logout", "POST", login=ada).status_code == 401


@pytest.mark.parametrize("column", ["expires_at", "last_seen_at"])
def test_sessions_expire_absolutely_and_when_idle(site, ada, fresh_db, column) -> None:
    with psycopg.connect(fresh_db) as c:
        c.execute(f"UPDATE sessions SET {column} = now() - interval '8 days'")  # noqa: S608 (fixed column names)
    assert call(site, "api_me", login=ada).status_code == 401


def test_sessions_rotate_with_a_short_grace(site, ada, fresh_db) -> None:
    with psycopg.connect(fresh_db) as c:
        c.execute("UPDATE sessions SET rotated_at = now() - interval '2 hours'")
    resp = call(site, "api_me", login=ada)
    assert resp.status_code == 200
    jar = set_cookies(resp)
    fresh = Login(jar["ttfd_session"].value, jar["csrf_token"].value, "/me")
    assert fresh.session != ada.session and fresh.csrf == ada.csrf
    assert call(site, "api_me", login=ada).status_code == 200  # a request already in flight still passes
    assert not set_cookies(call(site, "api_me", login=fresh))  # no second rotation
    with psycopg.connect(fresh_db) as c:
        c.execute("UPDATE sessions SET rotated_at = now() - interval '61 seconds'")
    assert call(site, "api_me", login=ada).status_code == 401
    assert call(site, "api_me", login=fresh).status_code == 200


def test_a_read_that_rotates_delivers_the_new_cookie_even_when_it_answers_a_problem(site, ada, fresh_db) -> None:
    # Reads run without a transaction, so the rotation is committed whatever the handler answers next.
    with psycopg.connect(fresh_db) as c:
        c.execute("UPDATE sessions SET rotated_at = now() - interval '2 hours'")
    resp = call(site, "api_profile", path="/nobody-by-this-name", login=ada)
    assert resp.status_code == 404
    jar = set_cookies(resp)
    fresh = Login(jar["ttfd_session"].value, jar["csrf_token"].value, "/me")
    assert fresh.session != ada.session
    with psycopg.connect(fresh_db) as c:
        c.execute("UPDATE sessions SET rotated_at = now() - interval '61 seconds'")
    assert call(site, "api_me", login=fresh).status_code == 200


def test_session_follows_its_account_into_a_merge(site, ada, fresh_db) -> None:
    with db.transaction() as conn:
        me = users.find_user(conn, "discord", 555010)
        keeper = users.ensure_user(conn, "telegram", 8500, "keeper")
        link.merge_accounts(conn, keeper.id, me.id, "discord", REGISTRY.merge_hooks)
    assert call(site, "api_me", login=ada).get_json()["id"] == keeper.id


def test_auth_rate_limit_is_shared_across_instances(site, monkeypatch, fresh_db) -> None:
    from ttfd.core.settings import get_settings

    monkeypatch.setenv("AUTH_RATE_LIMIT", "3")
    get_settings.cache_clear()
    headers = {"X-Forwarded-For": "203.0.113.9"}
    # each create_app is a separate function instance; the count lives in Postgres
    codes = [call(site, "auth_discord_login", headers=headers).status_code for _ in range(3)]
    limited = call(site, "auth_discord_callback", headers=headers)
    assert codes == [302, 302, 302] and limited.status_code == 429
    assert limited.mimetype == "text/html" and 1 <= int(limited.headers["Retry-After"]) <= 60
    refused = call(site, "auth_discord_login", headers=headers)
    assert refused.status_code == 429 and 1 <= int(refused.headers["Retry-After"]) <= 60
    other_ip = call(site, "auth_discord_login", headers={"X-Forwarded-For": "198.51.100.7"})
    assert other_ip.status_code == 302
    # a spoofed first hop does not escape: the platform appends the real address last
    spoofed = call(site, "auth_discord_login", headers={"X-Forwarded-For": "1.2.3.4, 203.0.113.9"})
    assert spoofed.status_code == 429


def test_wrong_methods_are_405(site) -> None:
    resp = call(site, "api_leaderboard", "DELETE")
    assert resp.status_code == 405 and resp.headers["Allow"] == "GET"


def test_an_extra_signed_widget_field_is_verified_too(site, ada, fresh_db) -> None:
    payload = widget_payload(8600, "New", allows_write_to_pm="true")  # a field Telegram may add later
    assert call(site, "auth_telegram", "POST", login=ada, json=payload).status_code == 200
    payload = widget_payload(8601, "New", allows_write_to_pm="true")
    payload["allows_write_to_pm"] = "false"
    assert call(site, "auth_telegram", "POST", login=ada, json=payload).status_code == 400


def test_the_card_is_public_and_never_carries_cookies(site, ada, fresh_db) -> None:
    uid = call(site, "api_me", login=ada).get_json()["id"]
    with psycopg.connect(fresh_db) as c:  # a rotation would be due on any session-reading request
        c.execute("UPDATE sessions SET rotated_at = now() - interval '2 hours'")
    card = call(site, "api_profile", path=f"/{uid}/card.png", login=ada)
    assert card.status_code == 200 and card.headers["Cache-Control"] == "public, max-age=300"
    assert not card.headers.getlist("Set-Cookie") and "Vary" not in card.headers
    assert q(fresh_db, "SELECT rotated_at < now() - interval '1 hour' FROM sessions") == (True,)


def test_a_private_cards_version_reveals_no_numbers(site, ada, fresh_db) -> None:
    call(site, "api_me", "PATCH", login=ada, json={"show_stats": False})
    uid = call(site, "api_me", login=ada).get_json()["id"]
    before = call(site, "api_profile", path=f"/{uid}").get_json()["card_url"]
    with db.transaction() as conn:
        ledger.grant(conn, uid, "xp", 5000, reason="t", platform="discord", source_key="hidden:1")
        ledger.grant(conn, uid, "coins", 70, reason="t", platform="discord", source_key="hidden:1")
    assert call(site, "api_profile", path=f"/{uid}").get_json()["card_url"] == before


def test_a_stale_session_cookie_is_cleared(site, ada, fresh_db) -> None:
    with psycopg.connect(fresh_db) as c:
        c.execute("DELETE FROM sessions")
    resp = call(site, "api_me", login=ada)
    assert resp.status_code == 401 and set_cookies(resp)["ttfd_session"].value == ""


def test_login_pages_take_only_get(site, fresh_db) -> None:
    for target in ("auth_discord_login", "auth_discord_callback"):
        resp = call(site, target, "HEAD")
        assert resp.status_code == 405 and resp.headers["Allow"] == "GET"
    assert q(fresh_db, "SELECT count(*) FROM oauth_states")[0] == 0


def test_an_unregistered_redirect_uri_is_refused_by_discord(site, app_env, monkeypatch) -> None:
    from ttfd.core.settings import get_settings

    monkeypatch.setenv("SITE_URL", "https://not-registered.example")
    get_settings.cache_clear()
    authorize = call(site, "auth_discord_login").headers["Location"]
    query = {k: v[0] for k, v in parse_qs(urlsplit(authorize).query).items()}
    root = app_env.discord_url.rsplit("/api", 1)[0]
    import httpx

    assert httpx.get(f"{root}/oauth2/authorize", params=query).status_code == 400


@pytest.mark.parametrize(
    ("hops", "forwarded", "client"),
    [
        (1, "203.0.113.9", "203.0.113.9"),  # Cloud Functions' front end appended the client
        (1, "1.2.3.4, 203.0.113.9", "203.0.113.9"),  # a spoofed entry on the left is ignored
        (2, "1.2.3.4, 203.0.113.9, 35.191.0.1", "203.0.113.9"),  # behind an HTTPS load balancer
        (2, "203.0.113.9", "127.0.0.1"),  # fewer entries than proxies: not from our front end
        (0, "203.0.113.9", "127.0.0.1"),  # header ignored
    ],
)
def test_client_ip_counts_trusted_hops_from_the_right(hops, forwarded, client) -> None:
    from ttfd.web import WebRequest, client_ip

    request = WebRequest("GET", "/", headers={"x-forwarded-for": forwarded}, remote_addr="127.0.0.1")
    assert client_ip(request, hops) == client
