"""Slash-command registration: GET what Discord has, bulk PUT only when our definitions differ.

The comparison covers the translations too (name_localizations, description_localizations, a choice's
name_localizations): a changed translation re-registers, an unchanged catalog does not. Discord answers a GET
with its own localized strings (`name_localized`) unless asked for the full dictionaries, so we ask."""

from __future__ import annotations

from typing import Any

from ttfd.clients.discord_rest import DiscordREST

# Fields Discord adds or defaults on its side; comparing them would force a PUT every time.
_SERVER_FIELDS = {
    "id",
    "application_id",
    "version",
    "guild_id",
    "nsfw",
    "dm_permission",
    "integration_types",
    "name_localized",
    "description_localized",
}


def normalize(obj: Any) -> Any:
    """Drop server-side fields and empty/false defaults so equal definitions compare equal."""
    if isinstance(obj, dict):
        return {
            k: normalize(v)
            for k, v in sorted(obj.items())
            if k not in _SERVER_FIELDS and v not in (None, False, [], {})
        }
    if isinstance(obj, list):
        return [normalize(v) for v in obj]
    return obj


def registered(rest: DiscordREST, application_id: str, guild_id: str | None = None) -> list[dict[str, Any]]:
    """The commands Discord has, with their full localization dictionaries."""
    path = f"/applications/{application_id}" + (f"/guilds/{guild_id}" if guild_id else "") + "/commands"
    result: list[dict[str, Any]] = rest.request("GET", path, params={"with_localizations": "true"}).json()
    return result


def sync_commands(
    rest: DiscordREST, application_id: str, definitions: list[dict[str, Any]], guild_id: str | None = None
) -> bool:
    """True if a PUT was needed (and done)."""
    current = registered(rest, application_id, guild_id)
    key = lambda c: c["name"]  # noqa: E731
    if normalize(sorted(current, key=key)) == normalize(sorted(definitions, key=key)):
        return False
    rest.put_commands(application_id, definitions, guild_id)
    return True
