"""Settings from the environment, read once per process: platform-wide ones here, each feature's own
in a section it declares (a dataclass with an ENV_PREFIX), all read the same way.

Plain dataclasses rather than pydantic: the Discord function's cold start pays for every import.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import types
import typing
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, ClassVar, TypeVar

from ttfd.core.errors import ConfigError

S = TypeVar("S")


def bounded(default: float, low: float | None = None, high: float | None = None) -> Any:
    """A numeric setting with a range, checked when read."""
    return field(default=default, metadata={"min": low, "max": high})


def _cast(name: str, raw: str, kind: Any, meta: Any) -> Any:
    options = [a for a in typing.get_args(kind) if a is not type(None)] if isinstance(kind, types.UnionType) else []
    kind = options[0] if options else kind
    try:
        if kind is bool:
            if raw.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise ValueError("must be true or false")
            return raw.lower() in ("1", "true", "yes", "on")
        if kind is int:
            body = raw.strip().removeprefix("-")
            if not (body.isascii() and body.isdigit()):
                raise ValueError("must be a whole number")
            value: Any = int(raw)
        elif kind is float:
            value = float(raw)
        else:
            return raw
    except ValueError as exc:
        raise ConfigError(f"environment variable {name}: {exc} (got {raw!r})") from None
    low, high = meta.get("min"), meta.get("max")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ConfigError(f"environment variable {name} must be between {low} and {high} (got {raw})")
    return value


def load(cls: type[S], prefix: str = "", environ: typing.Mapping[str, str] | None = None) -> S:
    """An instance of dataclass `cls` with every field read from `PREFIX + FIELD` in the environment."""
    env = os.environ if environ is None else environ
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name.startswith("_"):
            continue
        name = (prefix + f.name).upper()
        if name in env:
            values[f.name] = _cast(name, env[name], hints[f.name], f.metadata)
    return cls(**values)


@dataclass(frozen=True)
class Settings:
    """Platform-wide knobs; each field is the upper-cased env var of the same name."""

    database_url: str | None = None
    discord_public_key: str | None = None
    discord_application_id: str | None = None
    discord_bot_token: str | None = None
    discord_api_base: str = "https://discord.com/api/v10"
    telegram_bot_token: str | None = None
    telegram_webhook_secret: str | None = None
    telegram_api_base: str = "https://api.telegram.org"
    # Signs typed button actions; derived from the bot tokens when not set.
    actions_secret: str | None = None
    # Website (Discord OAuth2 login, sessions)
    discord_client_id: str | None = None
    discord_client_secret: str | None = None
    discord_oauth_base: str = "https://discord.com/api/v10"
    site_url: str = "http://127.0.0.1:8080"
    session_secret: str | None = None
    session_ttl_s: int = bounded(30 * 86400, 300)  # absolute lifetime of a login
    session_idle_s: int = bounded(7 * 86400, 300)  # unused this long → logged out
    session_rotate_s: int = bounded(3600, 60)  # a session's token is replaced this often while in use
    auth_rate_limit: int = bounded(20, 1)  # auth requests per client IP per window
    auth_rate_window_s: int = bounded(60, 1)
    # Which X-Forwarded-For entry, counted from the right, is the client: each proxy we run appends one.
    # 1 = a Cloud Run function reached directly; 2 = behind a load balancer or CloudFront + API Gateway; 0 = ignore.
    forwarded_hops: int = bounded(1, 0, 10)
    scheduler_secret: str | None = None  # the header a scheduler sends to the scheduled functions
    edge_secret: str | None = None  # the header our CDN adds to site requests (AWS: CloudFront)
    default_locale: str = "ru"  # whoever has chosen no language and whose platform names none we speak
    day_tz: str = "UTC"  # DAY_TZ: the IANA zone whose midnight starts a new /daily day, the same for everyone
    _sections: dict[type, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        from ttfd.core.i18n import LOCALES

        if self.default_locale not in LOCALES:
            raise ConfigError(f"environment variable DEFAULT_LOCALE must be one of {', '.join(LOCALES)}")
        try:
            ZoneInfo(self.day_tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError(f"environment variable DAY_TZ must be an IANA time zone (got {self.day_tz!r})") from None

    ENV_PREFIX: ClassVar[str] = ""

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

    @property
    def action_key(self) -> bytes:
        """Key of the MACs on signed button actions: rotating it (or the bot tokens) voids old buttons."""
        secret = self.actions_secret or (self.discord_bot_token or "") + (self.telegram_bot_token or "")
        if not secret:
            raise ConfigError("environment variable ACTIONS_SECRET (or a bot token) is required but not set")
        return hashlib.sha256(b"ttfd.actions:" + secret.encode()).digest()

    def require(self, name: str) -> str:
        """Return a secret/setting that must be present, naming its env var if it is not."""
        value = getattr(self, name)
        if not value:
            raise ConfigError(f"environment variable {name.upper()} is required but not set")
        return str(value)

    def section(self, cls: type[S]) -> S:
        """A feature's settings (its dataclass with ENV_PREFIX), read once per Settings."""
        if cls not in self._sections:
            self._sections[cls] = load(cls, getattr(cls, "ENV_PREFIX", ""))
        return typing.cast(S, self._sections[cls])

    @classmethod
    def from_env(cls, environ: typing.Mapping[str, str] | None = None) -> Settings:
        """Validate the environment (an invalid number fails loudly, naming the variable)."""
        return load(cls, "", environ)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (tests call `get_settings.cache_clear()` after changing env)."""
    return Settings.from_env()
