"""Real Postgres for every test: migrate once into a template, then a rolled-back transaction per test
(`conn`) or a fresh database copied from the template for tests that need several connections (`fresh_db`)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from ttfd.core import db
from ttfd.core.settings import get_settings

TEMPLATE = f"ttfd_test_tpl_{os.getpid()}"


def _admin_url() -> str:
    if url := os.environ.get("TEST_DATABASE_URL"):
        return url
    if db._answers(db.LOCAL_ADMIN_URL):
        return db.LOCAL_ADMIN_URL
    return db.embedded_admin_url()


def pytest_report_header() -> str:
    if os.environ.get("TEST_DATABASE_URL"):
        return "postgres: TEST_DATABASE_URL"
    if db._answers(db.LOCAL_ADMIN_URL):
        return "postgres: local server 127.0.0.1:5432 (per-run template + per-test databases)"
    return f"postgres: embedded under {db.EMBEDDED_DIR}"


def _drop(admin: str, name: str) -> None:
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def pg_admin() -> str:
    """URL of a maintenance database on the test server."""
    return _admin_url()


@pytest.fixture(scope="session")
def template_db(pg_admin: str) -> Iterator[str]:
    """A migrated template database for this test session."""
    _drop(pg_admin, TEMPLATE)
    db.ensure_database(pg_admin, TEMPLATE)
    url = db.with_dbname(pg_admin, TEMPLATE)
    db.migrate(url)
    yield TEMPLATE
    _drop(pg_admin, TEMPLATE)


@pytest.fixture(scope="session")
def session_db(pg_admin: str, template_db: str) -> Iterator[str]:
    """One database shared by transaction-scoped tests."""
    name = f"{template_db}_tx"
    db.ensure_database(pg_admin, name, template=template_db)
    yield db.with_dbname(pg_admin, name)
    _drop(pg_admin, name)


@pytest.fixture
def conn(session_db: str) -> Iterator[db.Conn]:
    """A connection inside a transaction that is rolled back after the test."""
    from psycopg.rows import dict_row

    with psycopg.connect(session_db, row_factory=dict_row) as c:
        yield c
        c.rollback()


@pytest.fixture
def fresh_db(pg_admin: str, template_db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A private database copied from the template; DATABASE_URL points at it for the code under test."""
    name = f"ttfd_t_{uuid.uuid4().hex[:12]}"
    db.ensure_database(pg_admin, name, template=template_db)
    url = db.with_dbname(pg_admin, name)
    monkeypatch.setenv("DATABASE_URL", url)
    db.close_pool()
    get_settings.cache_clear()
    yield url
    db.close_pool()
    get_settings.cache_clear()
    _drop(pg_admin, name)


# --- application environment: keys, fakes, helpers ---------------------------------------------------

import json  # noqa: E402
import logging  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

from nacl.signing import SigningKey  # noqa: E402

from devtools import fake_discord_channels  # noqa: E402
from tests.fakes import DiscordState, RunningServer, TelegramState, discord_app, telegram_app  # noqa: E402

logging.getLogger("werkzeug").setLevel(logging.WARNING)

SIGNING_KEY = SigningKey(bytes(range(32)))
PUBLIC_KEY = SIGNING_KEY.verify_key.encode().hex()
BOT_TOKEN = "test-bot-token"
APP_ID = "1100000000000000001"
TG_TOKEN = "7000000001:AAHtestTOKENtestTOKENtestTOKENtestTO"
TG_SECRET = "tg-secret_123"
SCHEDULER_SECRET = "test-scheduler-secret"
SCHEDULER_HEADERS = {"X-TTFD-Scheduler-Secret": SCHEDULER_SECRET}


@dataclass
class Fakes:
    discord: DiscordState
    discord_url: str
    telegram: TelegramState
    telegram_url: str


@pytest.fixture(scope="session")
def _fake_servers() -> Iterator[tuple[RunningServer, RunningServer]]:
    d_state, t_state = DiscordState(token=BOT_TOKEN), TelegramState(token=TG_TOKEN)
    d = RunningServer(discord_app(d_state))
    t = RunningServer(telegram_app(t_state))
    d.state, t.state = d_state, t_state  # type: ignore[attr-defined]
    yield d, t
    d.stop()
    t.stop()


@pytest.fixture
def fakes(_fake_servers: tuple[RunningServer, RunningServer]) -> Fakes:
    """Fake Discord REST and Telegram Bot API servers with state reset for this test."""
    d, t = _fake_servers
    d_state: DiscordState = d.state  # type: ignore[attr-defined]
    t_state: TelegramState = t.state  # type: ignore[attr-defined]
    for s in (d_state, t_state):
        s.calls.clear()
        s.failures.clear()
    d_state.commands.clear()
    d_state.member_roles.clear()
    # What one test's fake servers hold must not decide another test: servers, DMs and channel messages.
    for held in (d_state.guilds, d_state.originals, d_state.channel_messages, d_state.dm_channels):
        held.clear()
    d_state.closed_dms.clear()
    d_state.audit_reasons.clear()
    fake_discord_channels.reset(d_state)
    t_state.webhook.clear()
    t_state.commands.clear()
    t_state.messages.clear()
    t_state.chat_members.clear()
    return Fakes(d_state, f"{d.url}/api/v10", t_state, t.url)


@pytest.fixture
def app_env(fresh_db: str, fakes: Fakes, monkeypatch: pytest.MonkeyPatch) -> Fakes:
    """A fresh database plus every env var the functions read, pointing outgoing HTTP at the fakes."""
    from ttfd.clients import discord_rest, telegram

    env = {
        "DISCORD_PUBLIC_KEY": PUBLIC_KEY,
        "DISCORD_BOT_TOKEN": BOT_TOKEN,
        "DISCORD_APPLICATION_ID": APP_ID,
        "DISCORD_API_BASE": fakes.discord_url,
        "TELEGRAM_BOT_TOKEN": TG_TOKEN,
        "TELEGRAM_WEBHOOK_SECRET": TG_SECRET,
        "TELEGRAM_API_BASE": fakes.telegram_url,
        "SCHEDULER_SECRET": SCHEDULER_SECRET,
        # The suite reads answers in English (its payloads say en-US / en); Russian is tested where it is asked
        # for, and the deployment's own default (ru) by a test of its own.
        "DEFAULT_LOCALE": "en",
    }
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()
    discord_rest.shared.cache_clear()
    telegram.shared.cache_clear()
    return fakes


def sign(body: bytes, ts: str | None = None, key: SigningKey = SIGNING_KEY) -> dict[str, str]:
    """Discord's signature headers, made with the real Ed25519 algorithm."""
    ts = ts or str(int(time.time()))
    return {
        "X-Signature-Ed25519": key.sign(ts.encode() + body).signature.hex(),
        "X-Signature-Timestamp": ts,
        "Content-Type": "application/json",
    }


def interaction(
    command: str, *, user: int = 42, guild: int | None = 1, permissions: int = 0, iid: int | None = None, **kw: Any
) -> dict[str, Any]:
    """A signed-ready slash command payload built the way the simulator builds it."""
    from devtools import simulate
    from ttfd.cli import discord_definitions

    data, resolved = simulate.parse_command(command, discord_definitions())
    if resolved:
        data["resolved"] = resolved
    body = simulate.discord_payload(app_id=APP_ID, user=user, guild=guild, data=data, permissions=permissions, **kw)
    if iid is not None:
        body["id"] = str(iid)
    return body


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()


@pytest.fixture
def local_server(app_env, tmp_path) -> Iterator[str]:
    """Every function (and a one-page site) on a real threaded HTTP server, as `make run` mounts them."""
    from devtools.server import create_app

    (tmp_path / "index.html").write_text("<h1>TTFD</h1>")
    running = RunningServer(create_app(tmp_path))
    yield running.url
    running.stop()


def run_schedule(name: str) -> Any:
    """POST to a scheduled function as the scheduler does (with its secret); the Flask test response."""
    from functions_framework import create_app

    return create_app(name, "main.py").test_client().post("/", headers=SCHEDULER_HEADERS)
