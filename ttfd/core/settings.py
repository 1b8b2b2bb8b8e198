"""Settings from the environment: platform-wide ones here, each feature's own in a section it declares (a
dataclass with an ENV_PREFIX), all read the same way.

Where they come from. Locally and on Google Cloud, the process environment (Cloud Run resolves Secret
Manager references into environment variables when an instance starts). On AWS, a function's environment
names a Secrets Manager secret (TTFD_SECRET_ID) instead of holding its values: the first `get_settings()`
reads it (GetSecretValue, ttfd.clients.secrets) and its values join the environment of this process —
variables set on the function itself win. Then `get_settings.refresh()`, which the Lambda entrypoint calls
at the start of every invocation, re-reads it once TTFD_SECRET_TTL_S (60 s) have passed: a rotated setting
reaches every request that starts more than a TTL after the new version was stored, without a redeploy.
A refresh waits at most REFRESH_BUDGET_S; if it fails (or the new value is invalid) the last good
settings stay, an ERROR is logged, and it is tried again RETRY_S later. A secret may set only TTFD's own
settings (`settable()`), and a version is checked whole — names, values, every loaded feature section,
DATABASE_URL's syntax — then applied whole or not at all. Only a refresh replaces the
settings, between two requests, so one request never sees two versions, and what was built from the old
ones (a database pool, an API client) can be rebuilt safely by an `on_change` listener.

Plain dataclasses rather than pydantic: the Discord function's cold start pays for every import.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import logging
import os
import re
import sys
import threading
import time
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from ttfd.core.errors import ConfigError

if TYPE_CHECKING:
    from ttfd.clients.secrets import SecretsManager

S = TypeVar("S")
log = logging.getLogger(__name__)
# Telegram's rule for setWebhook's secret_token (sent back as X-Telegram-Bot-Api-Secret-Token).
TELEGRAM_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
TELEGRAM_SECRET_RULE = "1-256 characters, each A-Z, a-z, 0-9, _ or -"  # noqa: S105 (a rule, not a secret)


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
        # Never the value itself: a section's field may be a secret (HEALTH_TOKEN), and repr() would escape
        # it past any scrubbing.
        raise ConfigError(f"environment variable {name}: {exc}") from None
    low, high = meta.get("min"), meta.get("max")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ConfigError(f"environment variable {name} must be between {low} and {high}")
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
    # Where files sent with commands may be fetched from (host or host:port, comma-separated): Discord's CDN.
    discord_cdn_hosts: str = "cdn.discordapp.com,media.discordapp.net"
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
    # While rotating SESSION_SECRET: the one before it, still accepted on cookies (signing uses the new one).
    session_secret_previous: str | None = None
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
    # While rotating EDGE_SECRET: the old value, accepted until CloudFront sends the new one everywhere.
    edge_secret_previous: str | None = None
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
            raise ConfigError("environment variable DAY_TZ must be an IANA time zone such as Europe/Moscow") from None
        if self.telegram_webhook_secret is not None and not TELEGRAM_SECRET.fullmatch(self.telegram_webhook_secret):
            # Not quoted: it is a secret. Telegram's setWebhook refuses any other value.
            raise ConfigError(f"environment variable TELEGRAM_WEBHOOK_SECRET must be {TELEGRAM_SECRET_RULE}")

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
        if not self.actions_secret and on_lambda():
            # Each function holds only the bot tokens it needs, so keys derived from them would differ.
            raise ConfigError("environment variable ACTIONS_SECRET is required on AWS but not set")
        secret = self.actions_secret or (self.discord_bot_token or "") + (self.telegram_bot_token or "")
        if not secret:
            raise ConfigError("environment variable ACTIONS_SECRET (or a bot token) is required but not set")
        return hashlib.sha256(b"ttfd.actions:" + secret.encode()).digest()

    @property
    def session_secrets(self) -> tuple[str, ...]:
        """The keys session cookies are checked with, oldest first; the last one signs new cookies
        (itsdangerous' Signer takes such a list). Empty when SESSION_SECRET is not set."""
        if not self.session_secret:
            return ()
        return (
            (self.session_secret_previous, self.session_secret)
            if self.session_secret_previous
            else (self.session_secret,)
        )

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


# --- where the settings come from ------------------------------------------------------------------------

_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]{0,127}")
SECRET_ID_ENV = "TTFD_SECRET_ID"  # noqa: S105 (a name or ARN; several, comma-separated, merge in order)
SECRET_TTL_ENV = "TTFD_SECRET_TTL_S"  # noqa: S105 (a variable name)
DEFAULT_TTL_S = 60.0
TTL_RANGE = (5, 3600)
COLD_BUDGET_S = 3.0  # the first read: nothing can be served without it
REFRESH_BUDGET_S = 0.5  # a re-read a request waits for; past it the request runs on the last good settings
RETRY_S = 10.0  # after a failed re-read, the next try (not on every request while Secrets Manager is down)
# What a secret may set beyond Settings' fields and the feature sections': the pool's knobs (the pool is rebuilt
# when they change) and the bot's username (the Telegram runtime is). Not TTFD_METRICS: the sink is chosen once
# per process by the deploy, and a secret turning it off would blind the alarms.
SECRET_KNOBS = frozenset({"TTFD_POOL_SIZE", "TTFD_PREPARED_STATEMENTS", "TELEGRAM_BOT_USERNAME"})
# Never from a secret, whatever a section declares: what steers the interpreter, the loader, the AWS clients,
# TLS and proxies — a secret's writer must not gain code execution or a man in the middle — and the secret's
# own knobs (the function's environment alone says which secret and how often).
# Nor where the bot tokens are sent (the APIs' base URLs exist for local fakes): a deploy sets those, if anything.
_NEVER = re.compile(
    r"(?:AWS_|LD_|PYTHON|SSL_|TTFD_SECRET_|LAMBDA_|_).*|.*_PROXY|.*_API_BASE|.*_OAUTH_BASE|.*_CDN_HOSTS"
)
# A new version that drops one of these, when the current one set it, is refused: the function would stop
# serving (no database, every site call refused, every update refused). Clearing one is a deploy, not a rotation.
KEPT_WHEN_SET = (
    "DATABASE_URL",
    "EDGE_SECRET",
    "SESSION_SECRET",
    "DISCORD_BOT_TOKEN",
    "TELEGRAM_BOT_TOKEN",
    "TELEGRAM_WEBHOOK_SECRET",
    "ACTIONS_SECRET",
    "DISCORD_CLIENT_SECRET",
)


class SecretUnavailable(ConfigError):
    """The settings secret could not be read when there were no settings yet (a cold start): transient, the
    next request tries again."""


Section = tuple[type, str]
Sections = tuple[Section, ...]


@dataclass(frozen=True)
class SectionRef:
    """A feature's settings section by name, as the routing table lists it (ttfd/features/routes.py): the class
    as "module:Class", its ENV_PREFIX and the variables it reads. A function instance that imports only some
    features knows every section's names this way, without importing the others."""

    cls: str
    prefix: str
    names: tuple[str, ...]

    def loaded(self, load: bool = False) -> type | None:
        """The class, if its module is imported already (or `load`: imported now)."""
        module, _, name = self.cls.partition(":")
        found = importlib.import_module(module) if load else sys.modules.get(module)
        cls = getattr(found, name, None)
        return cls if isinstance(cls, type) else None


_registered: tuple[Section | SectionRef, ...] = ()
_settable: frozenset[str] | None = None


def register_sections(found: typing.Iterable[Section | SectionRef]) -> None:
    """The feature registry's settings sections (their dataclasses and ENV_PREFIXes, or SectionRefs), handed in
    by ttfd.features: core never imports the features. Importing ttfd.features registers every section by
    name; building its full REGISTRY registers the classes. Whatever reads a secret imports ttfd.features
    first (functions/aws.py, the CLI), so a secret's names are checked against every section."""
    global _registered, _settable
    _registered, _settable = tuple(found), None


def sections(every: bool = False) -> Sections:
    """The registered feature settings sections (dataclass, ENV_PREFIX) whose features are loaded — all of them
    with the full registry; in a function instance that imports only the features its requests need
    (ttfd.features.lazy), those it has imported so far: a section is read, and checked, once its feature is
    loaded. `every` imports the rest (checking an environment or a secret before it is written: the CLI)."""
    out: list[Section] = []
    for section in _registered:
        if isinstance(section, SectionRef):
            cls = section.loaded(load=every)
            if cls is not None:
                out.append((cls, section.prefix))
        else:
            out.append(section)
    return tuple(out)


def settable() -> frozenset[str]:
    """The names a settings secret may set: Settings' fields, every feature section's (loaded or not),
    SECRET_KNOBS."""
    global _settable
    if _settable is None:
        names = set(SECRET_KNOBS)
        for section in ((Settings, ""), *_registered):
            if isinstance(section, SectionRef):
                names.update(section.names)
                continue
            cls, prefix = section
            names.update((prefix + f.name).upper() for f in dataclasses.fields(cls) if not f.name.startswith("_"))
        _settable = frozenset(n for n in names if not _NEVER.fullmatch(n))
    return _settable


def check_names(names: typing.Iterable[str], where: str = "the settings secret") -> None:
    """Refuse a name a secret may not set (ConfigError naming the names, never a value)."""
    given = set(names)
    odd = sorted(ascii(k)[:40] for k in given if not _ENV_NAME.fullmatch(k))
    if odd:
        raise ConfigError(f"{where} has names that are not environment variables: {', '.join(odd)}")
    refused = sorted(k for k in given if _NEVER.fullmatch(k) or k not in settable())
    if refused:
        raise ConfigError(
            f"{where} sets {', '.join(refused)}, which TTFD does not take from a secret (only its settings:"
            " the README's Configuration table)"
        )


def check_values(values: Mapping[str, str], where: str = "the settings secret") -> None:
    """Refuse a value no environment can hold: a NUL, or text that is not Unicode (a lone surrogate)."""
    bad = []
    for key, value in values.items():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            bad.append(key)
            continue
        if "\x00" in value:
            bad.append(key)
    if bad:
        raise ConfigError(f"{where}: the value of {', '.join(sorted(bad))} has a NUL character or is not Unicode")


def check_database_url(url: str) -> None:
    """DATABASE_URL's syntax, as libpq reads it — refused now rather than by every connection attempt (whose
    errors quote the string, password included)."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        conninfo_to_dict(url)
    except Exception:
        raise ConfigError(
            "environment variable DATABASE_URL is not a connection string libpq can read (a postgresql:// URI with"
            " special characters percent-encoded, or key=value pairs)"
        ) from None


def validate(env: Mapping[str, str], with_sections: bool = True) -> Settings:
    """The settings `env` gives, with DATABASE_URL's syntax and every feature section checked too (each
    feature's section imported if need be): what a function would refuse later, refused now (ConfigError
    naming the variable, never its value)."""
    settings = Settings.from_env(env)
    if settings.database_url:
        check_database_url(settings.database_url)
    if with_sections:
        for cls, prefix in sections(every=True):
            settings._sections[cls] = load(cls, prefix, env)
    return settings


Listener = Callable[[frozenset[str]], None]


class CurrentSettings:
    """`get_settings()`: the settings of this process now. `refresh()` at a request boundary applies a rotated
    secret; `cache_clear()` forgets everything (tests, after changing the environment)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._settings: Settings | None = None
        self._due = 0.0  # monotonic time of the next re-read
        self._read_at = 0.0
        self._versions: tuple[str, ...] = ()
        self._exported: dict[str, str] = {}  # what the secret put into os.environ (to update or take back)
        self._secret_keys: frozenset[str] = frozenset()  # every non-empty setting the secret holds
        self._listeners: list[Listener] = []
        self._client: SecretsManager | None = None
        self.clock: Callable[[], float] = time.monotonic

    def __call__(self) -> Settings:
        settings = self._settings
        if settings is None:
            with self._lock:
                if self._settings is None:
                    self._settings = self._first()
                settings = self._settings
        return settings

    def cache_clear(self) -> None:
        """Forget the settings and take back what a secret put into the environment: the next call reads
        the environment (and the secret) again."""
        with self._lock:
            for key, value in self._exported.items():
                if os.environ.get(key) == value:
                    del os.environ[key]
            self._exported.clear()
            self._secret_keys = frozenset()
            self._settings, self._versions, self._due = None, (), 0.0
            if self._client is not None:
                self._client.close()
                self._client = None

    def on_change(self, listener: Listener) -> None:
        """Call `listener(names of the settings that changed)` after a refresh applied a new version."""
        self._listeners.append(listener)

    @property
    def from_secret(self) -> frozenset[str]:
        """The settings this process took from the secret (names only)."""
        return frozenset(self._exported)

    @property
    def shadowed(self) -> frozenset[str]:
        """Settings the secret has but a variable of the process overrides (the function's own win)."""
        return frozenset(self._secret_keys - self._exported.keys())

    @property
    def versions(self) -> tuple[str, ...]:
        """The VersionId of each secret read, in TTFD_SECRET_ID's order (empty without a secret)."""
        return self._versions

    @property
    def age_s(self) -> float | None:
        """Seconds since the secret was last read successfully (None without a secret)."""
        return self.clock() - self._read_at if self._versions else None

    def refresh(self) -> bool:
        """At a request boundary: re-read the secret if its TTL has passed; True when the settings changed.
        Never raises once there are settings (any failure keeps them); the first read raises SecretUnavailable
        or ConfigError."""
        ids = secret_ids()
        if not ids:
            return False
        if self._settings is None:
            self()
            return False
        if self.clock() < self._due or not self._lock.acquire(blocking=False):
            return False  # fresh enough, or another thread is re-reading: this request uses the last good ones
        try:
            return self._refresh(ids)
        except Exception as exc:  # a bug must not turn a rotation into failed requests: keep the last good
            self._due = self.clock() + RETRY_S
            log.error("settings: the re-read failed (%s); keeping the last good settings", type(exc).__name__)
            return False
        finally:
            self._lock.release()

    # --- inside the lock -------------------------------------------------------------------------------

    def _first(self) -> Settings:
        ids = secret_ids()
        if not ids:
            return Settings.from_env()
        started = time.perf_counter()
        try:
            versions, values = self._read(ids, COLD_BUDGET_S, attempts=2)
        except Exception as exc:
            raise SecretUnavailable(f"settings secret {', '.join(ids)} could not be read: {exc}") from None
        try:
            settings = self._install(values)
        except Exception as exc:
            raise ConfigError(f"settings secret {', '.join(ids)} is invalid: {_scrubbed(exc, values)}") from None
        self._versions, self._read_at, self._due = versions, self.clock(), self.clock() + ttl_s()
        log.info(
            "settings: read %s (version %s, %d settings) in %.0f ms",
            ", ".join(ids),
            ", ".join(v[:8] for v in versions),
            len(values),
            (time.perf_counter() - started) * 1000,
        )
        return settings

    def _refresh(self, ids: tuple[str, ...]) -> bool:
        try:
            versions, values = self._read(ids, REFRESH_BUDGET_S, attempts=1)
        except Exception as exc:
            self._due = self.clock() + RETRY_S
            log.error(
                "settings: could not re-read %s (%s); keeping the settings read %.0f s ago, next try in %.0f s",
                ", ".join(ids),
                exc,
                self.clock() - self._read_at,
                RETRY_S,
            )
            return False
        self._read_at, self._due = self.clock(), self.clock() + ttl_s()
        if versions == self._versions:
            return False
        before = dict(self._exported)
        try:
            settings = self._install(values)
        except Exception as exc:  # ConfigError, or what the environment itself refused: nothing was changed
            shown, why = ", ".join(versions), _scrubbed(exc, values)
            log.error(
                "settings: %s version %s is invalid (%s); keeping the last good settings", ", ".join(ids), shown, why
            )
            self._versions = versions  # not read again until it changes (the error is logged once per version)
            return False
        self._settings, self._versions = settings, versions
        changed = frozenset(k for k in before.keys() | self._exported.keys() if before.get(k) != self._exported.get(k))
        names = ", ".join(sorted(changed)) or "nothing"
        log.info("settings: applied %s version %s; changed: %s", ", ".join(ids), ", ".join(versions), names)
        for listener in self._listeners:
            try:
                listener(changed)
            except Exception:
                log.exception("settings: a listener failed after the change of %s", ", ".join(sorted(changed)))
        return True

    def _read(self, ids: tuple[str, ...], budget_s: float, attempts: int) -> tuple[tuple[str, ...], dict[str, str]]:
        from ttfd.clients.secrets import SecretsError, SecretsManager

        if self._client is None:
            self._client = SecretsManager.from_env(os.environ)
        deadline = time.monotonic() + budget_s
        versions: list[str] = []
        values: dict[str, str] = {}
        for secret_id in ids:
            for attempt in range(1, attempts + 1):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SecretsError("TimeoutError", f"no answer within {budget_s:g} s")
                try:
                    secret = self._client.get(secret_id, timeout_s=left / (attempts - attempt + 1))
                    break
                except SecretsError as exc:
                    if attempt == attempts or not exc.transient or deadline - time.monotonic() < 0.3:
                        raise
                    time.sleep(0.1)  # throttled or a dropped connection: once more, a moment later
            versions.append(secret.version_id)
            values.update(secret.values)
        return tuple(versions), values

    def _install(self, values: Mapping[str, str]) -> Settings:
        """Make `values` (minus the empty ones) the secret's part of os.environ — never over a variable the
        function has itself — and build the settings from it. All or nothing: on any error os.environ is as it
        was, and the error names settings, never their values."""
        check_names(values)
        check_values(values)
        exported = {k: v for k, v in values.items() if v and (k in self._exported or k not in os.environ)}
        dropped = sorted(k for k in KEPT_WHEN_SET if k in self._exported and k not in exported)
        if dropped:
            raise ConfigError(
                f"the new version drops {', '.join(dropped)}, which the current one sets and this function needs"
            )
        env = {k: v for k, v in os.environ.items() if k not in self._exported}
        env.update(exported)
        settings = validate(env, with_sections=False)  # before anything changes
        saved = {k: os.environ.get(k) for k in self._exported.keys() | exported.keys()}
        try:
            for key in self._exported.keys() - exported.keys():
                os.environ.pop(key, None)
            for key, value in exported.items():
                os.environ[key] = value
            # The sections last, with the new environment in place: importing the features reads some of it.
            # At a cold start, those of the features this process has loaded (all, but where
            # ttfd.features.lazy loads them one by one: a feature loaded later reads its section then, and
            # refuses it the same way); on a refresh, every section (importing the rest once, between two
            # requests), so a rotated version with a bad value anywhere is refused whole and the last good stays.
            for cls, prefix in sections(every=self._settings is not None):
                settings._sections[cls] = load(cls, prefix, os.environ)
        except BaseException:
            for key, old in saved.items():
                if old is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = old
            raise
        self._exported = exported
        self._secret_keys = frozenset(k for k, v in values.items() if v)
        return settings


def _scrubbed(exc: BaseException, values: Mapping[str, str]) -> str:
    """An error about the secret's settings without any of their values, as they are or as repr() escapes
    them (a check may quote what it got)."""
    text = str(exc)
    forms = {form for v in values.values() if v for form in (v, repr(v)[1:-1], ascii(v)[1:-1]) if form}
    for form in sorted(forms, key=len, reverse=True):
        if len(form) >= 8:
            text = text.replace(form, "…")
        else:  # a short one only where it stands alone, not inside the words of the message
            text = re.sub(rf"(?<![A-Za-z0-9_]){re.escape(form)}(?![A-Za-z0-9_])", "…", text)
    return text


def secret_ids(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    raw = (os.environ if environ is None else environ).get(SECRET_ID_ENV, "")
    return tuple(s.strip() for s in raw.split(",") if s.strip())


_ttl_refused: set[str] = set()


def ttl_s() -> float:
    """TTFD_SECRET_TTL_S from the function's own environment (a secret may not set it): an invalid value is
    said once, as an ERROR, and the default used — a typo must not stop every request."""
    raw = os.environ.get(SECRET_TTL_ENV)
    if raw is None:
        return DEFAULT_TTL_S
    try:
        return float(_cast(SECRET_TTL_ENV, raw, int, {"min": TTL_RANGE[0], "max": TTL_RANGE[1]}))
    except ConfigError as exc:
        if raw not in _ttl_refused:
            _ttl_refused.add(raw)
            log.error("settings: %s; using %.0f s", exc, DEFAULT_TTL_S)
        return DEFAULT_TTL_S


def on_lambda() -> bool:
    """Running as an AWS Lambda function (the runtime sets this for every function)."""
    return bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))


# psycopg.pool logs each failed connection attempt with libpq's message, which quotes the part of the
# connection string it could not parse — possibly the password. Keep the line, drop the quoted text.
class _NoQuotedConninfo(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if '"' in message:
            record.msg, record.args = re.sub(r'"[^"]*"', '"…"', message), None
        return True


logging.getLogger("psycopg.pool").addFilter(_NoQuotedConninfo())

get_settings = CurrentSettings()
