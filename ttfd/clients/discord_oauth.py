"""Discord OAuth2 (authorization code grant) for the website login: token exchange and who the user is."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import httpx

from ttfd.clients.discord_rest import USER_AGENT, parse_error
from ttfd.clients.http import DEFAULT_TIMEOUT, send
from ttfd.core.settings import Settings, get_settings


@dataclass(frozen=True)
class DiscordIdentity:
    id: int
    username: str
    global_name: str | None
    guild_ids: list[int]


class DiscordOAuth:
    """One instance per process (httpx keeps the connection to Discord alive)."""

    def __init__(self, base: str, client_id: str, client_secret: str, client: httpx.Client | None = None) -> None:
        self.base = base.rstrip("/")
        self.auth = (client_id, client_secret)
        self.client = client or httpx.Client(timeout=DEFAULT_TIMEOUT, headers={"User-Agent": USER_AGENT})

    @classmethod
    def from_settings(cls, settings: Settings) -> DiscordOAuth:
        return cls(
            settings.discord_oauth_base,
            settings.require("discord_client_id"),
            settings.require("discord_client_secret"),
        )

    def exchange_code(self, code: str, redirect_uri: str) -> str:
        """Trade the callback's code for an access token (client credentials as HTTP Basic)."""
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        resp = send(self.client, "POST", f"{self.base}/oauth2/token", parse_error, data=form, auth=self.auth)
        body: dict[str, Any] = resp.json()
        return str(body["access_token"])

    def identify(self, access_token: str) -> DiscordIdentity:
        """/users/@me and /users/@me/guilds with the user's token."""
        headers = {"Authorization": f"Bearer {access_token}"}
        me: dict[str, Any] = send(self.client, "GET", f"{self.base}/users/@me", parse_error, headers=headers).json()
        guilds: list[dict[str, Any]] = send(
            self.client, "GET", f"{self.base}/users/@me/guilds", parse_error, headers=headers
        ).json()
        return DiscordIdentity(
            int(me["id"]), str(me["username"]), me.get("global_name"), [int(g["id"]) for g in guilds]
        )


@lru_cache(maxsize=1)
def shared() -> DiscordOAuth:
    """The process-wide client built from settings."""
    return DiscordOAuth.from_settings(get_settings())
