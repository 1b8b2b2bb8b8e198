"""Website test helpers: env for the site functions, the Discord OAuth dance against the fake, widget payloads."""

from __future__ import annotations

import time
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.conftest import TG_TOKEN
from ttfd.core.settings import get_settings
from ttfd.features.auth import telegram_login

CLIENT_ID = "1200000000000000001"
CLIENT_SECRET = "oauth-client-secret"
SESSION_SECRET = "session-secret-for-tests-only-0123456789"


def configure_site(monkeypatch: pytest.MonkeyPatch, fakes: Any, site_url: str = "http://localhost") -> None:
    """Point the site functions at the fake Discord OAuth provider (app_env did the rest)."""
    for k, v in {
        "DISCORD_CLIENT_ID": CLIENT_ID,
        "DISCORD_CLIENT_SECRET": CLIENT_SECRET,
        "DISCORD_OAUTH_BASE": fakes.discord_url,
        "SESSION_SECRET": SESSION_SECRET,
        "SITE_URL": site_url,
    }.items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    from ttfd.clients import discord_oauth

    discord_oauth.shared.cache_clear()
    fakes.discord.oauth_clients.clear()
    fakes.discord.oauth_clients[CLIENT_ID] = CLIENT_SECRET
    fakes.discord.oauth_redirect_uris[CLIENT_ID] = {f"{site_url}/auth/discord/callback"}
    fakes.discord.oauth_users.clear()
    fakes.discord.oauth_codes.clear()


def set_cookies(resp: Any) -> dict[str, Any]:
    """name → Morsel of every Set-Cookie on a response."""
    jar: dict[str, Any] = {}
    for header in resp.headers.getlist("Set-Cookie"):
        cookie: SimpleCookie = SimpleCookie()
        cookie.load(header)
        jar.update(cookie)
    return jar


def authorize_at_fake(authorize_url: str, fake_base: str, user_id: int, action: str = "authorize") -> str:
    """Be the person on Discord's consent page: returns the redirect back to our callback."""
    query = {k: v[0] for k, v in parse_qs(urlsplit(authorize_url).query).items()}
    root = fake_base.rsplit("/api", 1)[0]
    resp = httpx.post(f"{root}/oauth2/authorize", data={**query, "user_id": str(user_id), "action": action})
    assert resp.status_code == 302, resp.text
    return resp.headers["Location"]


@dataclass
class Login:
    session: str  # signed ttfd_session cookie value
    csrf: str
    next_path: str


def login_via_functions(make_client: Any, fakes: Any, user_id: int, next_path: str = "/me") -> Login:
    """The whole Discord login through the two functions served alone, as a browser would walk it."""
    start = make_client("auth_discord_login").get("/", query_string={"next": next_path})
    assert start.status_code == 302, start.get_data(as_text=True)
    nonce = set_cookies(start)["ttfd_oauth"].value
    back = authorize_at_fake(start.headers["Location"], fakes.discord_url, user_id)
    callback = make_client("auth_discord_callback")
    callback.set_cookie("ttfd_oauth", nonce)
    done = callback.get("/?" + urlsplit(back).query)
    assert done.status_code == 302, done.get_data(as_text=True)
    jar = set_cookies(done)
    return Login(jar["ttfd_session"].value, jar["csrf_token"].value, done.headers["Location"])


def widget_payload(user_id: int, first_name: str = "Tele", age_s: int = 0, **extra: Any) -> dict[str, Any]:
    """Login Widget data signed with the bot token exactly as Telegram signs it."""
    fields: dict[str, Any] = {"id": user_id, "first_name": first_name, "auth_date": int(time.time()) - age_s, **extra}
    fields["hash"] = telegram_login.sign(fields, TG_TOKEN)
    return fields


def login_over_http(base_url: str, fakes: Any, user_id: int) -> dict[str, str]:
    """The Discord login against a running server; returns the cookies a browser would now hold."""
    with httpx.Client(base_url=base_url) as client:
        start = client.get("/auth/discord/login")
        assert start.status_code == 302, start.text
        back = authorize_at_fake(start.headers["Location"], fakes.discord_url, user_id)
        done = client.get(f"/auth/discord/callback?{urlsplit(back).query}")
        assert done.status_code == 302, done.text
        return {name: client.cookies[name] for name in ("ttfd_session", "csrf_token")}
