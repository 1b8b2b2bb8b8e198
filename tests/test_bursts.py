"""Bursts through a real threaded HTTP server (more request threads than pooled connections): one person's
burst never stalls or loses anyone's updates, and pays exactly once. Timings are in `make bench`."""

from __future__ import annotations

import json
import random
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg

from devtools import simulate
from tests.conftest import TG_SECRET, encode, interaction, sign
from ttfd.core import db, users
from ttfd.features import REGISTRY
from ttfd.features.accounts import service as link
from ttfd.ui.reply import GENERIC_ERROR

TG_HEADERS = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": TG_SECRET}


def _one(url: str, query: str, *args):
    with psycopg.connect(url) as c:
        return c.execute(query, args).fetchone()


def tg(server: str, text: str, user: int, chat: int | None = None) -> httpx.Response:
    update = simulate.telegram_update(text, user=user, chat=chat, update_id=random.randrange(1, 2**31))
    return httpx.post(f"{server}/telegram/webhook", content=json.dumps(update), headers=TG_HEADERS, timeout=60)


def discord(server: str, command: str, user: int) -> httpx.Response:
    body = encode(interaction(command, user=user))
    return httpx.post(f"{server}/discord/interactions", content=body, headers=sign(body), timeout=60)


def burst(n: int, fn, *args) -> list[httpx.Response]:
    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(lambda _: fn(*args), range(n)))


def test_thirty_group_messages_from_one_person_are_all_counted(local_server, fresh_db) -> None:
    replies = burst(30, tg, local_server, "hello", 811, -100778)
    assert [r.status_code for r in replies] == [200] * 30
    assert all(r.json() == {} for r in replies)  # group chat XP answers nothing
    messages, xp = _one(fresh_db, "SELECT messages_sent, xp FROM unified_users WHERE telegram_id = 811")
    assert messages == 30
    # All 30 fall inside one cooldown window: exactly one message pays, 15-25 XP.
    assert _one(fresh_db, "SELECT count(*) FROM ledger WHERE reason = 'message'")[0] == 1
    assert 15 <= xp <= 25


def test_sixty_dailies_from_one_person_pay_once_and_answer_everyone(local_server, fresh_db) -> None:
    texts = [r.json()["text"] for r in burst(60, tg, local_server, "/daily", 812)]
    assert sum("+100 coins" in t for t in texts) == 1
    assert sum("already claimed" in t for t in texts) == 59
    assert GENERIC_ERROR not in texts
    # + the "Day one" achievement's 50 coins, paid once too
    assert _one(fresh_db, "SELECT coins, xp FROM unified_users WHERE telegram_id = 812") == (150, 50)


def test_linked_account_burst_from_both_platforms_pays_once(local_server, fresh_db) -> None:
    with db.transaction() as conn:
        user = users.ensure_user(conn, "discord", 813813)
        link.link_identity(conn, user.id, "telegram", 813, REGISTRY.merge_hooks)

    def one(i: int) -> str:
        if i % 2:
            r = discord(local_server, "/daily", 813813)
            assert r.status_code == 200
            return str(r.json()["data"]["content"])
        r = tg(local_server, "/daily", 813)
        assert r.status_code == 200
        return str(r.json()["text"])

    with ThreadPoolExecutor(max_workers=100) as pool:
        texts = list(pool.map(one, range(100)))
    assert sum("+100 coins" in t for t in texts) == 1
    assert sum("already claimed" in t for t in texts) == 99
    assert _one(fresh_db, "SELECT coins FROM unified_users WHERE id = %s", user.id) == (150,)  # + Day one's 50
    assert _one(fresh_db, "SELECT count(*) FROM daily_claims")[0] == 1


def test_someone_else_is_answered_during_a_burst(local_server, fresh_db) -> None:
    with ThreadPoolExecutor(max_workers=61) as pool:
        flood = [pool.submit(tg, local_server, "/daily", 814) for _ in range(60)]
        other = pool.submit(tg, local_server, "/start", 815)
        welcome = other.result()
        assert welcome.status_code == 200 and "Welcome" in welcome.json()["text"]
        assert all(f.result().status_code == 200 for f in flood)
