"""Settings from the environment, read once per process."""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ttfd.core.errors import ConfigError


class Settings(BaseModel):
    """Every knob TTFD reads; each field is the upper-cased env var of the same name.

    Plain pydantic rather than pydantic-settings: that import alone added ~120 ms to every cold start.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    database_url: str | None = None
    discord_public_key: str | None = None
    discord_application_id: str | None = None
    discord_bot_token: str | None = None
    discord_api_base: str = "https://discord.com/api/v10"
    telegram_bot_token: str | None = None
    telegram_webhook_secret: str | None = None
    telegram_api_base: str = "https://api.telegram.org"
    # Website (Discord OAuth2 login, sessions)
    discord_client_id: str | None = None
    discord_client_secret: str | None = None
    discord_oauth_base: str = "https://discord.com/api/v10"
    site_url: str = "http://127.0.0.1:8080"
    session_secret: str | None = None
    session_ttl_s: int = Field(30 * 86400, ge=300)  # absolute lifetime of a login
    session_idle_s: int = Field(7 * 86400, ge=300)  # unused this long → logged out
    session_rotate_s: int = Field(3600, ge=60)  # a session's token is replaced this often while in use
    auth_rate_limit: int = Field(20, ge=1)  # auth requests per client IP per window
    auth_rate_window_s: int = Field(60, ge=1)
    # Which X-Forwarded-For entry, counted from the right, is the client: each proxy we run appends one.
    # 1 = Cloud Functions' own front end; 2 = behind an external HTTPS load balancer; 0 = ignore the header.
    forwarded_hops: int = Field(1, ge=0, le=10)

    # Daily reward: coins = min(base + step * (streak - 1), cap); every `bonus_every`-th day adds the bonus.
    daily_base_coins: int = Field(100, ge=0)
    daily_step_coins: int = Field(10, ge=0)
    daily_cap_coins: int = Field(250, ge=0)
    daily_bonus_every: int = Field(7, ge=1)
    daily_bonus_coins: int = Field(500, ge=0)
    daily_xp: int = Field(50, ge=0)
    message_xp_min: int = Field(15, ge=0)
    message_xp_max: int = Field(25, ge=0)
    message_xp_cooldown_s: int = Field(60, ge=0)
    link_code_ttl_s: int = Field(600, ge=60)

    @model_validator(mode="after")
    def _ranges(self) -> Settings:
        if self.message_xp_min > self.message_xp_max:
            raise ValueError("MESSAGE_XP_MIN must not exceed MESSAGE_XP_MAX")
        return self

    @property
    def discord_authorize_url(self) -> str:
        """Discord's authorize page lives beside the API, not under it: …/api/v10 → …/oauth2/authorize."""
        base = self.discord_oauth_base.rstrip("/")
        root = base.rsplit("/api", 1)[0] if "/api" in base else base
        return f"{root}/oauth2/authorize"

    @property
    def site_is_https(self) -> bool:
        """Cookies are marked Secure whenever the site is served over https (always, deployed)."""
        return self.site_url.startswith("https://")

    def require(self, name: str) -> str:
        """Return a secret/setting that must be present, naming its env var if it is not."""
        value = getattr(self, name)
        if not value:
            raise ConfigError(f"environment variable {name.upper()} is required but not set")
        return str(value)

    @classmethod
    def from_env(cls) -> Settings:
        """Validate the environment (an invalid number fails loudly, naming the field)."""
        present = {name: os.environ[name.upper()] for name in cls.model_fields if name.upper() in os.environ}
        return cls.model_validate(present)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (tests call `get_settings.cache_clear()` after changing env)."""
    return Settings.from_env()
