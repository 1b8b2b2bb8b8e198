"""A /daily stamped before midnight that commits after the next day's claim: claims only move forward, so the
late one is refused and told so, the streak and the freezes stay as the first claim left them, and /daily keeps
working that day (it used to hit daily_claims_pkey: "Something went wrong")."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from tests import chaos
from ttfd.core import db, ledger, users
from ttfd.features.daily import DailyResult, DailySettings, claim_daily, daily
from ttfd.features.shop import service as shop
from ttfd.ui.text import plain

BEFORE_MIDNIGHT = datetime(2026, 3, 1, 23, 59, 59, 900_000, tzinfo=UTC)
AFTER_MIDNIGHT = datetime(2026, 3, 2, 0, 0, 0, 200_000, tzinfo=UTC)


def _q(url: str, query: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as c:
        return c.execute(query, args).fetchall()


def _account(ext: int) -> int:
    with db.transaction() as conn:
        return users.ensure_user(conn, "discord", ext, f"p{ext}", "Player").id


def _claim_on_own_connection(url: str, uid: int, now: datetime) -> DailyResult:
    """One /daily in its own transaction on its own connection, with its time passed in (the claim's stamp)."""
    with psycopg.connect(url, row_factory=dict_row) as c:
        return claim_daily(c, DailySettings(), uid, "discord", now)


def _waiting_on_locks(url: str) -> int:
    dbname = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    row = _q(url, "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'", dbname)
    return int(row[0][0])


def _wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


def _commit_in_order(url: str, uid: int, first: datetime, second: datetime) -> tuple[DailyResult, DailyResult]:
    """Two claims queued behind a third connection's lock on the account, `first` ahead of `second`: released,
    they commit in that order whatever their stamps say."""
    with psycopg.connect(url) as locker:
        locker.execute("SELECT 1 FROM unified_users WHERE id = %s FOR UPDATE", (uid,))
        with ThreadPoolExecutor(max_workers=2) as pool:
            a = pool.submit(_claim_on_own_connection, url, uid, first)
            _wait_for(lambda: _waiting_on_locks(url) >= 1)
            b = pool.submit(_claim_on_own_connection, url, uid, second)
            _wait_for(lambda: _waiting_on_locks(url) >= 2)
            locker.rollback()
            return a.result(), b.result()


def test_a_claim_committing_after_the_next_days_claim_is_refused(fresh_db) -> None:
    uid = _account(7001)
    # The 23:59:59.9 request was slow; the 00:00:00.2 one (the next day) commits first.
    after, late = _commit_in_order(fresh_db, uid, AFTER_MIDNIGHT, BEFORE_MIDNIGHT)
    assert (after.claimed, after.streak, late.claimed) == (True, 1, False)
    assert after.late is False
    assert (late.claimed, late.late, late.coins, late.xp, late.streak) == (False, True, 0, 0, 1)
    assert late.next_claim_at == datetime(2026, 3, 3, tzinfo=UTC)  # the day after the claim that won
    assert _q(fresh_db, "SELECT last_daily_on, daily_streak FROM unified_users WHERE id = %s", uid) == [
        (date(2026, 3, 2), 1)
    ]
    assert _q(fresh_db, "SELECT day FROM daily_claims") == [(date(2026, 3, 2),)]
    assert _q(fresh_db, "SELECT count(*), sum(delta) FROM ledger WHERE reason = 'daily' AND currency = 'coins'") == [
        (1, 100)
    ]
    # Later that day /daily answers "already claimed" (it used to fail on daily_claims_pkey).
    again = _claim_on_own_connection(fresh_db, uid, AFTER_MIDNIGHT + timedelta(hours=9))
    assert (again.claimed, again.late, again.streak) == (False, False, 1)
    nxt = _claim_on_own_connection(fresh_db, uid, AFTER_MIDNIGHT + timedelta(days=1))
    assert (nxt.claimed, nxt.streak, nxt.freezes_used) == (True, 2, 0)
    assert chaos.consistency_problems(fresh_db) == []


def test_a_late_claim_spends_no_streak_freeze(fresh_db) -> None:
    uid = _account(7002)
    freeze = None
    with db.transaction() as conn:
        ledger.grant(conn, uid, "coins", 100, reason="t", platform="discord", source_key=f"fund:{uid}")
        freeze = shop.create(conn, name="Freeze", price=10, kind="streak_freeze")
        shop.buy(conn, uid, freeze, 2, guild_id=None, platform="discord", key="f", now=ledger.utc_now())
    after, late = _commit_in_order(fresh_db, uid, AFTER_MIDNIGHT, BEFORE_MIDNIGHT)
    assert after.claimed and not late.claimed
    # Two days on: one day (3 March) missed, so one freeze; none for 1 March, which nobody missed.
    later = _claim_on_own_connection(fresh_db, uid, AFTER_MIDNIGHT + timedelta(days=2))
    assert (later.claimed, later.streak, later.freezes_used) == (True, 2, 1)
    assert _q(fresh_db, "SELECT quantity FROM inventory WHERE user_id = %s", uid) == [(1,)]
    assert chaos.consistency_problems(fresh_db) == []


def test_in_order_across_midnight_both_claims_count(fresh_db) -> None:
    uid = _account(7003)
    first, second = _commit_in_order(fresh_db, uid, BEFORE_MIDNIGHT, AFTER_MIDNIGHT)
    assert (first.claimed, first.streak, second.claimed, second.streak) == (True, 1, True, 2)
    assert chaos.consistency_problems(fresh_db) == []


def test_the_late_reply_says_the_day_turned_and_when_to_come_back(fresh_db) -> None:
    from types import SimpleNamespace

    from ttfd.core.settings import get_settings

    uid = _account(7004)
    _claim_on_own_connection(fresh_db, uid, AFTER_MIDNIGHT)
    with db.transaction() as conn:
        user = users.get_user(conn, uid)
        ctx = SimpleNamespace(conn=conn, settings=get_settings(), user=user, platform="discord", now=BEFORE_MIDNIGHT)
        reply = daily(ctx, {})  # type: ignore[arg-type]
    words = plain(reply.body)
    assert "turned" in words and "already claimed" in words and "Next claim" in words
    assert reply.private
    assert chaos.consistency_problems(fresh_db) == []
