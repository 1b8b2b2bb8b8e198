"""A request that loaded an account just before a merge retired it pays the survivor, never the retired
row; one person gets one daily per UTC day across the accounts that became one."""

from __future__ import annotations

import json
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import psycopg

from devtools import simulate
from tests import chaos
from tests.conftest import TG_SECRET, encode, interaction, sign
from ttfd.core import db, ledger, users
from ttfd.features import REGISTRY
from ttfd.features.accounts import service as link
from ttfd.features.activity import service as activity_service

TG_HEADERS = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": TG_SECRET}


def _rows(url: str, query: str, *args):
    with psycopg.connect(url) as c:
        return c.execute(query, args).fetchall()


def _discord(server: str, command: str, user: int) -> str:
    body = encode(interaction(command, user=user))
    reply = httpx.post(f"{server}/discord/interactions", content=body, headers=sign(body), timeout=30)
    assert reply.status_code == 200
    return str(reply.json()["data"]["content"])


def _telegram(server: str, text: str, user: int) -> dict:
    update = simulate.telegram_update(text, user=user, update_id=random.randrange(1, 2**31))
    reply = httpx.post(f"{server}/telegram/webhook", content=json.dumps(update), headers=TG_HEADERS, timeout=30)
    assert reply.status_code == 200
    return dict(reply.json())


def _waiting_on_locks(url: str) -> int:
    dbname = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    rows = _rows(url, "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'", dbname)
    return int(rows[0][0])


def _wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


def assert_consistent(url: str) -> None:
    """Balances equal their ledger, retired rows hold nothing, one daily claim per person and day, …"""
    assert chaos.consistency_problems(url) == []


def test_daily_queued_behind_a_merge_pays_the_survivor(local_server, fresh_db) -> None:
    # Discord 920 has an account; Telegram 921 makes a link code; Discord redeems it → 920's row retires.
    assert "+100 coins" not in _discord(local_server, "/rank", 920)
    gone = _rows(fresh_db, "SELECT id FROM unified_users WHERE discord_id = 920")[0][0]
    code = _telegram(local_server, "/link", 921)["text"].split("<code>")[1].split("</code>")[0]
    with psycopg.connect(fresh_db) as locker:
        locker.execute("SELECT 1 FROM unified_users WHERE id = %s FOR UPDATE", (gone,))
        with ThreadPoolExecutor(max_workers=2) as pool:
            link = pool.submit(_discord, local_server, f"/link code:{code}", 920)
            _wait_for(lambda: _waiting_on_locks(fresh_db) >= 1)  # the merge queues first for the row …
            daily = pool.submit(_discord, local_server, "/daily", 920)
            _wait_for(lambda: _waiting_on_locks(fresh_db) >= 2)  # … then the daily, which loaded it already
            locker.rollback()
            assert "Linked" in link.result()
            assert "+100 coins" in daily.result()
    keep = _rows(fresh_db, "SELECT id FROM unified_users WHERE telegram_id = 921")[0][0]
    assert _rows(fresh_db, "SELECT id, coins, xp, merged_into FROM unified_users ORDER BY id") == [
        (gone, 0, 0, keep),
        (keep, 150, 50, None),  # the daily and its Day one achievement
    ]
    assert _rows(fresh_db, "SELECT user_id FROM daily_claims") == [(keep,)]
    # The same person asking again today, from either platform, is told it is claimed.
    assert "already claimed" in _discord(local_server, "/daily", 920)
    assert "already claimed" in _telegram(local_server, "/daily", 921)["text"]
    assert_consistent(fresh_db)


def test_dailies_racing_a_merge_pay_one_person_once(local_server, fresh_db) -> None:
    for trial in range(8):
        discord_id, telegram_id = 930_000 + trial, 931_000 + trial
        _discord(local_server, "/rank", discord_id)
        code = _telegram(local_server, "/link", telegram_id)["text"].split("<code>")[1].split("</code>")[0]
        with ThreadPoolExecutor(max_workers=11) as pool:
            link = pool.submit(_discord, local_server, f"/link code:{code}", discord_id)
            dailies = []
            for _ in range(10):
                time.sleep(random.uniform(0, 0.002))
                dailies.append(pool.submit(_discord, local_server, "/daily", discord_id))
            assert "Linked" in link.result()
            texts = [d.result() for d in dailies]
        assert sum("+100 coins" in t for t in texts) == 1, texts
        assert sum("already claimed" in t for t in texts) == 9
        survivor = _rows(fresh_db, "SELECT coins FROM unified_users WHERE telegram_id = %s", telegram_id)
        assert survivor == [(150,)]  # one daily, one Day one achievement
    assert_consistent(fresh_db)


def test_grant_to_a_retired_id_lands_on_the_survivor(fresh_db) -> None:

    with db.transaction() as conn:
        a = users.ensure_user(conn, "discord", 940)
        b = users.ensure_user(conn, "telegram", 941)
        link.merge_accounts(conn, keep_id=b.id, gone_id=a.id, platform="discord", hooks=REGISTRY.merge_hooks)
    moved = db.run(lambda c: ledger.grant(c, a.id, "coins", 30, reason="t", platform="discord", source_key="late"))
    assert moved is not None and moved.user_id == b.id
    assert _rows(fresh_db, "SELECT id, coins FROM unified_users ORDER BY id") == [(a.id, 0), (b.id, 30)]
    assert_consistent(fresh_db)


def test_messages_counted_after_a_merge_go_to_the_survivor(fresh_db) -> None:
    from ttfd.features.activity.service import ActivitySettings

    with db.transaction() as conn:
        a = users.ensure_user(conn, "discord", 950)
        b = users.ensure_user(conn, "telegram", 951)
        link.merge_accounts(conn, keep_id=b.id, gone_id=a.id, platform="discord", hooks=REGISTRY.merge_hooks)
    db.run(lambda c: activity_service.message_xp(c, ActivitySettings(), a.id, "discord", 20, "m1"))
    assert _rows(fresh_db, "SELECT id, messages_sent, xp FROM unified_users ORDER BY id") == [
        (a.id, 0, 0),
        (b.id, 1, 20),
    ]


def test_concurrent_merge_and_grants_never_leave_a_balance_on_the_retired_row(fresh_db) -> None:

    for trial in range(5):
        with db.transaction() as conn:
            a = users.ensure_user(conn, "discord", 960 + trial)
            b = users.ensure_user(conn, "telegram", 970 + trial)
        start = threading.Barrier(9)

        def grant(i: int, uid: int = a.id, t: int = trial, start: threading.Barrier = start) -> None:
            start.wait()
            db.run(lambda c: ledger.grant(c, uid, "coins", i + 1, reason="t", platform="x", source_key=f"r{t}:{i}"))

        def merge(keep: int = b.id, gone: int = a.id, start: threading.Barrier = start) -> None:
            start.wait()
            db.run(
                lambda c: link.merge_accounts(
                    c, keep_id=keep, gone_id=gone, platform="discord", hooks=REGISTRY.merge_hooks
                )
            )

        threads = [threading.Thread(target=grant, args=(i,)) for i in range(8)] + [threading.Thread(target=merge)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        assert _rows(fresh_db, "SELECT coins FROM unified_users WHERE id = %s", b.id) == [(36,)]
    assert_consistent(fresh_db)
