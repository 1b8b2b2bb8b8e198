"""Discord REST (v10): roles, application commands, interaction webhooks."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from ttfd.clients.http import DEFAULT_TIMEOUT, send
from ttfd.core.settings import Settings, get_settings

if TYPE_CHECKING:
    from ttfd.ui.reply import Attachment

USER_AGENT = "DiscordBot (https://github.com/ttfd/ttfd, 0.1)"


def parse_error(resp: httpx.Response) -> tuple[str, int | None, float | None]:
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:200] or resp.reason_phrase, None, None
    if not isinstance(body, dict):
        return str(body)[:200], None, None
    # OAuth2 endpoints answer RFC 6749 errors (`{"error": "invalid_grant"}`), the rest `{"message", "code"}`.
    message = body.get("message") or body.get("error") or resp.reason_phrase
    return str(message), body.get("code"), body.get("retry_after")


class DiscordREST:
    """A small typed wrapper; one instance per process is enough (httpx keeps connections alive)."""

    def __init__(self, base: str, token: str | None, client: httpx.Client | None = None) -> None:
        self.base = base.rstrip("/")
        headers = {"User-Agent": USER_AGENT}
        if token:
            headers["Authorization"] = f"Bot {token}"
        self.client = client or httpx.Client(timeout=DEFAULT_TIMEOUT, headers=headers)

    @classmethod
    def from_settings(cls, settings: Settings) -> DiscordREST:
        return cls(settings.discord_api_base, settings.require("discord_bot_token"))

    def request(self, method: str, path: str, *, reason: str | None = None, **kwargs: Any) -> httpx.Response:
        """Any REST call; `reason` goes to the guild audit log."""
        headers = kwargs.pop("headers", {})
        if reason:  # 1-512 URL-encoded UTF-8 characters (a header is ASCII; names and reasons are not)
            headers["X-Audit-Log-Reason"] = quote(reason[:512], safe=" ")
        return send(self.client, method, self.base + path, parse_error, headers=headers, **kwargs)

    def add_member_role(self, guild_id: int, user_id: int, role_id: int, reason: str | None = None) -> None:
        self.request("PUT", f"/guilds/{guild_id}/members/{user_id}/roles/{role_id}", reason=reason)

    def remove_member_role(self, guild_id: int, user_id: int, role_id: int, reason: str | None = None) -> None:
        self.request("DELETE", f"/guilds/{guild_id}/members/{user_id}/roles/{role_id}", reason=reason)

    def _commands_path(self, application_id: str, guild_id: str | None) -> str:
        if guild_id:
            return f"/applications/{application_id}/guilds/{guild_id}/commands"
        return f"/applications/{application_id}/commands"

    def get_commands(self, application_id: str, guild_id: str | None = None) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.request("GET", self._commands_path(application_id, guild_id)).json()
        return result

    def put_commands(
        self, application_id: str, commands: list[dict[str, Any]], guild_id: str | None = None
    ) -> list[dict[str, Any]]:
        resp = self.request("PUT", self._commands_path(application_id, guild_id), json=commands)
        result: list[dict[str, Any]] = resp.json()
        return result

    def edit_original(
        self, application_id: str, token: str, message: dict[str, Any], file: Attachment | None = None
    ) -> dict[str, Any]:
        """Edit an interaction's first answer (valid 15 minutes after the interaction); a file goes as
        multipart/form-data beside payload_json, and the message refers to it as attachment://<name>."""
        path = f"/webhooks/{application_id}/{token}/messages/@original"
        if file is None:
            resp = self.request("PATCH", path, json=message)
        else:
            body = {**message, "attachments": [{"id": 0, "filename": file.name}]}
            resp = self.request(
                "PATCH",
                path,
                data={"payload_json": json.dumps(body)},
                files={"files[0]": (file.name, file.data, file.mime)},
            )
        result: dict[str, Any] = resp.json()
        return result

    def get_messages(self, channel_id: int, *, after: int, limit: int = 100) -> list[dict[str, Any]]:
        """Up to `limit` messages newer than the snowflake `after` (needs VIEW_CHANNEL + READ_MESSAGE_HISTORY)."""
        resp = self.request("GET", f"/channels/{channel_id}/messages", params={"after": str(after), "limit": limit})
        result: list[dict[str, Any]] = resp.json()
        return result


@lru_cache(maxsize=1)
def shared() -> DiscordREST:
    """The process-wide client built from settings (keeps its connections alive between invocations)."""
    return DiscordREST.from_settings(get_settings())
