"""The parts of Discord's interaction payload we read (extra fields are ignored, snowflakes become ints)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ttfd.core.inputs import Snowflake


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class DiscordUser(_Model):
    id: Snowflake
    username: str = Field("", max_length=100)
    global_name: str | None = Field(None, max_length=100)
    bot: bool = False

    @property
    def display(self) -> str:
        return self.global_name or self.username or str(self.id)


class Member(_Model):
    user: DiscordUser | None = None
    nick: str | None = None
    roles: list[Snowflake] = Field(default_factory=list)
    permissions: int = Field(0, ge=0, lt=1 << 64)  # Discord sends the bitfield as a decimal string


class CommandOption(_Model):
    name: str = Field(max_length=32)
    type: int
    value: Any = None
    options: list[CommandOption] | None = None
    focused: bool = False


class InteractionData(_Model):
    id: Snowflake | None = None
    name: str | None = Field(None, max_length=32)
    type: int | None = None
    options: list[CommandOption] | None = None
    resolved: dict[str, dict[str, Any]] = Field(default_factory=dict)
    custom_id: str | None = Field(default=None, max_length=100)
    component_type: int | None = None
    values: list[str] | None = None


class Interaction(_Model):
    id: Snowflake
    application_id: Snowflake
    type: int = Field(ge=1, le=5)
    token: str = ""
    version: int = 1
    data: InteractionData | None = None
    guild_id: Snowflake | None = None
    channel_id: Snowflake | None = None
    member: Member | None = None
    user: DiscordUser | None = None
    locale: str | None = None

    @property
    def invoker(self) -> DiscordUser | None:
        """member.user in a guild, user in a DM."""
        return self.member.user if self.member and self.member.user else self.user
