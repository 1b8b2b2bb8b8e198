"""telegram_webhook through functions-framework: secret, once-only updates, reply-in-body, failures."""

from __future__ import annotations

import json

import psycopg
import pytest
from functions_framework import create_app

from devtools.simulate import telegram_update
from tests.conftest import TG_SECRET

HEADERS = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": TG_SECRET}


@pytest.fixture
def client(app_env):
    return create_app("telegram_webhook", "main.py").test_client()


def _send(client, update, headers=HEADERS):
    return client.post("/", data=json.dumps(update), headers=headers)


def _q(url: str, sql: str, *args):
    with psycopg.connect(url) as c:
        return c.execute(sql, args).fetchall()


@pytest.mark.parametrize("secret", [None, "", "wrong", TG_SECRET + "x", TG_SECRET[:-1]])
def test_secret_rejections(client, fresh_db, secret) -> None:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    resp = _send(client, telegram_update("/start", user=7), headers)
    assert resp.status_code == 401
    assert _q(fresh_db, "SELECT count(*) FROM unified_users")[0][0] == 0


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("{oops", "malformed update"),
        ("[]", "update_id"),
        ('{"update_id": "7"}', "update_id"),
    ],
)
def test_malformed_bodies_are_400(client, body, reason) -> None:
    resp = client.post("/", data=body, headers=HEADERS)
    assert resp.status_code == 400
    assert reason in resp.get_json()["title"]


def test_authentic_but_unreadable_update_is_skipped_with_200(client, fresh_db) -> None:
    # A 4xx would make Telegram retry it for a day and block the chat's later updates.
    resp = client.post("/", data='{"update_id": 7, "message": {"text": "hi"}}', headers=HEADERS)
    assert resp.status_code == 200 and resp.get_json() == {}
    assert _q(fresh_db, "SELECT count(*) FROM unified_users")[0][0] == 0


def test_start_replies_in_response_body(client, fresh_db) -> None:
    resp = _send(client, telegram_update("/start", user=7, update_id=1))
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["method"] == "sendMessage"
    assert body["chat_id"] == 7
    assert body["parse_mode"] == "HTML"
    assert "Welcome" in body["text"]
    buttons = [b["callback_data"] for row in body["reply_markup"]["inline_keyboard"] for b in row]
    assert buttons == ["menu:profile", "menu:daily", "menu:top"]
    assert _q(fresh_db, "SELECT telegram_id, platforms FROM unified_users") == [(7, ["telegram"])]


def test_replayed_update_is_a_noop_with_same_reply(client, fresh_db) -> None:
    update = telegram_update("/daily", user=8, update_id=55)
    first = _send(client, update).get_json()
    assert "+100 coins" in first["text"]
    second = _send(client, update).get_json()
    assert second == first
    assert _q(fresh_db, "SELECT count(*) FROM ledger")[0][0] == 3  # coins, XP, the Day one achievement
    assert _q(fresh_db, "SELECT count(*) FROM daily_claims")[0][0] == 1


def test_commands_profile_top_help_link(client) -> None:
    _send(client, telegram_update("/daily", user=9, update_id=2))
    profile = _send(client, telegram_update("/profile", user=9, update_id=3)).get_json()["text"]
    assert "rank F-</b>" in profile and "<b>Coins</b>: 150" in profile  # + Day one
    assert "<b>Achievements (1/13)</b>: 📅" in profile and "<b>Season: " in profile
    top = _send(client, telegram_update("/top coins", user=9, update_id=4)).get_json()
    assert "<b>🏆 Coins</b>" in top["text"] and "You: #1 with 150 coins" in top["text"]
    assert "/daily" in _send(client, telegram_update("/help", user=9, update_id=5)).get_json()["text"]
    link = _send(client, telegram_update("/link", user=9, update_id=6)).get_json()["text"]
    assert "<code>" in link


def test_callback_edits_message_and_answers_query(client, app_env) -> None:
    top = _send(client, telegram_update("/top", user=10, update_id=7)).get_json()
    buttons = {b["text"]: b["callback_data"] for row in top["reply_markup"]["inline_keyboard"] for b in row}
    resp = _send(client, telegram_update(None, user=10, callback=buttons["This week's XP"], update_id=8)).get_json()
    assert resp["method"] == "editMessageText"
    assert "This week" in resp["text"]
    answered = app_env.telegram.calls_of("answerCallbackQuery")
    assert len(answered) == 1  # the spinner stops via the Bot API (fake), the edit goes in the body


def test_group_messages_count_and_give_xp_with_cooldown(client, fresh_db) -> None:
    for i in range(3):
        resp = _send(client, telegram_update(f"hello {i}", user=11, chat=-100500, update_id=100 + i))
        assert resp.status_code == 200 and resp.get_json() == {}
    (row,) = _q(fresh_db, "SELECT xp, messages_sent FROM unified_users WHERE telegram_id = 11")
    assert row[1] == 3
    assert 15 <= row[0] <= 25  # one payment inside the 60 s cooldown


def test_handler_exception_is_200_with_nothing_written(client, fresh_db, monkeypatch) -> None:
    from ttfd.features import daily

    def boom(*a, **k):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(daily, "claim_daily", boom)
    resp = _send(client, telegram_update("/daily", user=12, update_id=9))
    assert resp.status_code == 200
    assert resp.get_json()["method"] == "sendMessage" and "kaboom" not in resp.get_json()["text"]
    assert _q(fresh_db, "SELECT count(*) FROM unified_users")[0][0] == 0  # account creation rolled back too
    assert _q(fresh_db, "SELECT count(*) FROM idempotency_keys")[0][0] == 0


def test_service_messages_in_groups_earn_nothing(client, fresh_db) -> None:
    update = telegram_update(None, user=13, chat=-100600, update_id=300)
    del update["message"]["text"]
    update["message"]["new_chat_members"] = [update["message"]["from"]]
    assert _send(client, update).status_code == 200
    rows = _q(fresh_db, "SELECT xp, messages_sent FROM unified_users WHERE telegram_id = 13")
    assert rows in ([], [(0, 0)])


def test_a_cold_instance_builds_its_dispatcher_once_under_concurrent_updates(app_env) -> None:
    # A fresh process, as a cold instance: its first updates arrive on many threads at once.
    import subprocess
    import sys

    code = """
import threading
from webhooks.telegram import runtime
gate = threading.Barrier(16)
built, errors = set(), []
def first_update():
    gate.wait()
    try:
        built.add(id(runtime.dispatcher())); runtime.bot()
    except Exception as exc:
        errors.append(repr(exc))
threads = [threading.Thread(target=first_update) for _ in range(16)]
[t.start() for t in threads]; [t.join() for t in threads]
assert not errors and len(built) == 1, (errors, built)
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
