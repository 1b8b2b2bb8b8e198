"""Transient database failures never become lost updates, and each surface is told the right thing:
Telegram a non-2xx (it redelivers; the claim makes that safe), Discord an answer inside its 3 s, the site
and the schedules a 503. A dead pooled connection is replaced, not retried into."""

from __future__ import annotations

import json
import socket
import threading
import time

import psycopg
import pytest
from functions_framework import create_app

from devtools.simulate import telegram_update
from functions.discord import events
from tests import chaos
from tests.conftest import SCHEDULER_HEADERS, TG_SECRET, encode, interaction, sign
from ttfd import web
from ttfd.core import db
from ttfd.core.settings import get_settings
from webhooks.telegram import webhook

TG_HEADERS = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": TG_SECRET}


@pytest.fixture
def clients(app_env):
    return {
        "discord": create_app("discord_interactions", "main.py").test_client(),
        "telegram": create_app("telegram_webhook", "main.py").test_client(),
        "site": create_app("api_leaderboard", "main.py").test_client(),
        "jobs": create_app("run_jobs", "main.py").test_client(),
    }


def _discord(client, command: str, user: int = 42):
    body = encode(interaction(command, user=user))
    return client.post("/", data=body, headers=sign(body))


def _telegram(client, text: str, user: int = 7, update_id: int = 1):
    return client.post("/", data=json.dumps(telegram_update(text, user=user, update_id=update_id)), headers=TG_HEADERS)


def _one(url: str, query: str, *args):
    with psycopg.connect(url) as c:
        return c.execute(query, args).fetchone()


def test_every_pooled_connection_terminated_then_requests_still_succeed(clients, fresh_db, monkeypatch) -> None:
    monkeypatch.setenv("TTFD_POOL_SIZE", "4")
    db.close_pool()
    # Four connections in the pool, all idle.
    hold = threading.Barrier(4)
    threads = [threading.Thread(target=lambda: db.run(lambda c: hold.wait(5))) for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert db.pool().get_stats()["pool_size"] == 4
    assert chaos.terminate_connections(fresh_db) == 4
    # Each surface is served on a fresh connection; nobody is told anything went wrong.
    assert "+100 coins" in _discord(clients["discord"], "/daily").get_json()["data"]["content"]
    assert "+100 coins" in _telegram(clients["telegram"], "/daily").get_json()["text"]
    assert clients["site"].get("/").status_code == 200
    assert _one(fresh_db, "SELECT count(*) FROM daily_claims")[0] == 2


@pytest.fixture
def one_busy_connection(app_env, monkeypatch):
    """A pool of one connection, held by someone else until the test ends or calls the fixture's value."""
    monkeypatch.setenv("TTFD_POOL_SIZE", "1")
    db.close_pool()
    release, held = threading.Event(), threading.Event()

    def hold() -> None:
        with db.transaction():
            held.set()
            release.wait(30)

    t = threading.Thread(target=hold)
    t.start()
    assert held.wait(5)

    def free() -> None:
        release.set()
        t.join()

    yield free
    free()


def test_full_pool_answers_each_surface_quickly_and_changes_nothing(
    clients, fresh_db, one_busy_connection, monkeypatch
) -> None:
    monkeypatch.setattr(webhook, "TIMEOUT_S", 0.5)
    monkeypatch.setattr(db, "MAX_POOL_WAIT_S", 0.5)
    started = time.monotonic()
    reply = _discord(clients["discord"], "/daily").get_json()
    assert time.monotonic() - started < events.TIMEOUT_S + 0.5  # inside Discord's 3 s
    assert reply["data"]["content"] == events.BUSY and reply["data"]["flags"] == 64
    resp = _telegram(clients["telegram"], "/daily")
    assert resp.status_code == 503 and resp.headers["Retry-After"]  # Telegram will redeliver it
    assert clients["site"].get("/").status_code == 503
    assert clients["jobs"].post("/", headers=SCHEDULER_HEADERS).status_code == 503
    assert _one(fresh_db, "SELECT count(*) FROM unified_users")[0] == 0


def test_a_redelivered_update_after_a_503_is_applied_once(clients, fresh_db, one_busy_connection, monkeypatch) -> None:
    monkeypatch.setattr(webhook, "TIMEOUT_S", 0.5)
    assert _telegram(clients["telegram"], "/daily", update_id=99).status_code == 503
    one_busy_connection()  # the connection comes free; Telegram redelivers
    first = _telegram(clients["telegram"], "/daily", update_id=99)
    again = _telegram(clients["telegram"], "/daily", update_id=99)
    assert "+100 coins" in first.get_json()["text"] and again.get_json() == first.get_json()
    assert _one(fresh_db, "SELECT count(*) FROM ledger")[0] == 3  # coins, XP and the Day one achievement


def test_a_statement_past_the_deadline_is_transient(clients, fresh_db, monkeypatch) -> None:
    assert "+100" in _discord(clients["discord"], "/daily", user=77).get_json()["data"]["content"]
    monkeypatch.setattr(webhook, "TIMEOUT_S", 0.5)
    with psycopg.connect(fresh_db) as locker:  # someone holds the account row past every deadline
        locker.execute("SELECT 1 FROM unified_users WHERE discord_id = 77 FOR UPDATE")
        reply = _discord(clients["discord"], "/daily", user=77).get_json()
        assert reply["data"]["content"] == events.BUSY
        locker.rollback()
    assert "already claimed" in _discord(clients["discord"], "/daily", user=77).get_json()["data"]["content"]


def test_unreachable_database_is_transient(clients, monkeypatch) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    monkeypatch.setenv("DATABASE_URL", f"postgresql://postgres@127.0.0.1:{port}/nowhere?connect_timeout=1")
    get_settings.cache_clear()
    db.close_pool()
    monkeypatch.setattr(webhook, "TIMEOUT_S", 1.0)
    monkeypatch.setattr(web, "TIMEOUT_S", 1.0)
    assert _discord(clients["discord"], "/daily").get_json()["data"]["content"] == events.BUSY
    assert _telegram(clients["telegram"], "/daily").status_code == 503
    assert clients["site"].get("/").status_code == 503


def test_a_deterministic_bug_is_answered_200_so_it_is_not_redelivered(clients, fresh_db, monkeypatch) -> None:
    from ttfd.features import daily as economy
    from ttfd.ui.reply import GENERIC_ERROR

    def boom(*args, **kwargs):
        raise KeyError("a bug")

    monkeypatch.setattr(economy, "claim_daily", boom)
    resp = _telegram(clients["telegram"], "/daily")
    assert resp.status_code == 200 and resp.get_json()["text"] == GENERIC_ERROR
    assert _one(fresh_db, "SELECT count(*) FROM unified_users")[0] == 0
