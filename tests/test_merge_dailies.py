"""Two accounts that both claimed the daily on a day, then linked: one claim per person per day. The retired
side's claim of every such day is taken back at the merge — its XP and coins out of its balance before that moves
over, as far as the balance allows, keyed so nothing moves twice — its claim row goes, the ledger keeps the
history, and the /link reply says what was taken."""

from __future__ import annotations

import json
import random
import threading
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import Any

import httpx
import psycopg
import pytest

from devtools import simulate
from tests import chaos
from tests.conftest import TG_SECRET, encode, interaction, sign
from ttfd.core import db, ledger, users
from ttfd.core.errors import DomainError
from ttfd.features import REGISTRY
from ttfd.features.accounts import service as link
from ttfd.features.daily import DailySettings, claim_daily

TG_HEADERS = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
DAY = date(2026, 1, 10)


def _q(url: str, query: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as c:
        return c.execute(query, args).fetchall()


def _discord(server: str, command: str, user: int) -> str:
    body = encode(interaction(command, user=user))
    reply = httpx.post(f"{server}/discord/interactions", content=body, headers=sign(body), timeout=30)
    assert reply.status_code == 200
    return str(reply.json()["data"]["content"])


def _telegram(server: str, text: str, user: int) -> str:
    update = simulate.telegram_update(text, user=user, update_id=random.randrange(1, 2**31))
    reply = httpx.post(f"{server}/telegram/webhook", content=json.dumps(update), headers=TG_HEADERS, timeout=30)
    assert reply.status_code == 200
    return str(reply.json()["text"])


def _account(platform: users.Platform, ext: int | str) -> int:
    with db.transaction() as conn:
        return users.ensure_user(conn, platform, ext, f"p{ext}", f"Player {ext}").id


def _claim(uid: int, day: date) -> None:
    with db.transaction() as conn:
        assert claim_daily(conn, DailySettings(), uid, "discord", datetime.combine(day, dtime(12), UTC)).claimed


def _merge(keep: int, gone: int, hooks: Any = None) -> link.Merged:
    return db.run(
        lambda c: link.merge_accounts(c, keep, gone, "telegram", REGISTRY.merge_hooks if hooks is None else hooks)
    )


def _balances(url: str, uid: int) -> tuple[int, int]:
    return tuple(_q(url, "SELECT coins, xp FROM unified_users WHERE id = %s", uid)[0])  # type: ignore[return-value]


def _claims(url: str) -> list[tuple[int, date]]:
    return [tuple(r) for r in _q(url, "SELECT user_id, day FROM daily_claims ORDER BY day, user_id")]  # type: ignore[misc]


def test_linked_after_both_claimed_today_one_claim_and_the_reply_says_so(local_server, fresh_db) -> None:
    assert "+100 coins" in _discord(local_server, "/daily", 880)
    assert "+100 coins" in _telegram(local_server, "/daily", 881)
    gone = _q(fresh_db, "SELECT id FROM unified_users WHERE discord_id = 880")[0][0]
    keep = _q(fresh_db, "SELECT id FROM unified_users WHERE telegram_id = 881")[0][0]
    assert _balances(fresh_db, gone) == _balances(fresh_db, keep) == (150, 50)  # the daily and Day one each
    code = _telegram(local_server, "/link", 881).split("<code>")[1].split("</code>")[0]
    reply = _discord(local_server, f"/link code:{code}", 880)
    assert "merged" in reply
    assert (
        "One person is paid once, so this was taken back: 1 daily claim for a day both accounts had claimed; "
        "1 achievement reward both accounts had earned (150 coins and 50 XP)." in reply
    )
    assert _claims(fresh_db) == [(keep, ledger.utc_now().date())]  # one claim for the person that day
    assert _balances(fresh_db, keep) == (150, 50)  # one daily and one Day one: what one person earns
    assert _balances(fresh_db, gone) == (0, 0)
    taken = _q(
        fresh_db,
        "SELECT user_id, currency, delta, source_key FROM ledger WHERE source_key LIKE '%%taken back' ORDER BY 4, 2",
    )
    assert taken == [
        (gone, "coins", -50, f"achievement:first_daily:{gone}:taken back"),
        (gone, "coins", -100, f"daily:{gone}:{ledger.utc_now().date()}:taken back"),
        (gone, "xp", -50, f"daily:{gone}:{ledger.utc_now().date()}:taken back"),
    ]
    # Day one stays unlocked once for the person, its second reward taken back, and the merge pays it no more.
    assert _q(fresh_db, "SELECT user_id FROM achievement_unlocks WHERE code = 'first_daily'") == [(keep,)]
    assert _q(fresh_db, "SELECT count(*) FROM ledger WHERE source_key LIKE 'achievement:first_daily:%%'") == [(3,)]
    assert "already claimed" in _discord(local_server, "/daily", 880)
    assert "already claimed" in _telegram(local_server, "/daily", 881)
    assert chaos.consistency_problems(fresh_db) == []


def test_a_long_shared_history_and_the_better_streak(fresh_db) -> None:
    keep, gone = _account("telegram", 1), _account("discord", 2)
    for n in range(120):  # both claimed 120 days running; the retired one 30 days more before that
        _claim(keep, DAY + timedelta(days=n))
    for n in range(-30, 120):
        _claim(gone, DAY + timedelta(days=n))
    before = {uid: _balances(fresh_db, uid) for uid in (keep, gone)}
    paid_gone = _q(
        fresh_db,
        "SELECT coalesce(sum(coins), 0), coalesce(sum(xp), 0) FROM daily_claims WHERE user_id = %s AND day >= %s",
        gone,
        DAY,
    )[0]
    both_unlocked = _q(  # achievements both earned (Day one, On a roll, …): one reward each for the person
        fresh_db,
        """SELECT coalesce(sum(a.reward_coins), 0), coalesce(sum(a.reward_xp), 0) FROM achievement_unlocks k
           JOIN achievement_unlocks g ON g.code = k.code AND g.user_id = %s JOIN achievements a ON a.code = k.code
           WHERE k.user_id = %s""",
        gone,
        keep,
    )[0]
    started = time.monotonic()
    merged = _merge(keep, gone)
    assert time.monotonic() - started < 5
    assert _claims(fresh_db).count((gone, DAY)) == 0
    assert len(_claims(fresh_db)) == 150  # 120 shared days once, the retired account's 30 earlier ones
    after = _balances(fresh_db, keep)
    assert (merged.coins_taken, merged.xp_taken) == (
        paid_gone[0] + both_unlocked[0],
        paid_gone[1] + both_unlocked[1],
    )
    assert after == (
        before[keep][0] + before[gone][0] - paid_gone[0] - both_unlocked[0],
        before[keep][1] + before[gone][1] - paid_gone[1] - both_unlocked[1],
    )
    # Both last claimed on the same day: the longer streak (the retired account's 150) is the person's.
    assert _q(fresh_db, "SELECT daily_streak, last_daily_on FROM unified_users WHERE id = %s", keep) == [
        (150, DAY + timedelta(days=119))
    ]
    assert chaos.consistency_problems(fresh_db) == []
    assert merged.duplicate_dailies == 120 and merged.achievements_taken > 0


def test_a_huge_streak_survives_a_merge(fresh_db) -> None:
    keep, gone = _account("telegram", 3), _account("discord", 4)
    _claim(gone, DAY)
    _claim(keep, DAY)
    with psycopg.connect(fresh_db) as c:
        c.execute("UPDATE unified_users SET daily_streak = 1000000 WHERE id = %s", (gone,))
    _merge(keep, gone)
    assert len(_claims(fresh_db)) == 1
    assert _q(fresh_db, "SELECT daily_streak FROM unified_users WHERE id = %s", keep) == [(1000000,)]
    _claim(keep, DAY + timedelta(days=1))
    assert _q(fresh_db, "SELECT daily_streak FROM unified_users WHERE id = %s", keep) == [(1000001,)]
    assert chaos.consistency_problems(fresh_db) == []


def test_what_the_retired_account_spent_stays_spent(fresh_db) -> None:
    keep, gone = _account("telegram", 5), _account("discord", 6)
    _claim(keep, DAY)
    _claim(gone, DAY)  # 100 coins, 50 XP, and Day one's 50 coins
    db.run(lambda c: ledger.grant(c, gone, "coins", -130, reason="spent", platform="discord", source_key="spend"))
    assert _balances(fresh_db, gone) == (20, 50)
    merged = _merge(keep, gone)
    assert _balances(fresh_db, keep) == (150, 50)  # nothing of the retired account's was left to move
    assert _q(fresh_db, "SELECT min(balance_after) FROM ledger") == [(0,)]
    assert chaos.consistency_problems(fresh_db) == []
    assert (merged.duplicate_dailies, merged.coins_taken, merged.xp_taken) == (1, 20, 50)


def test_the_same_link_twice_and_at_once_takes_back_once(fresh_db) -> None:
    keep, gone = _account("telegram", 7), _account("discord", 8)
    _claim(keep, DAY)
    _claim(gone, DAY)
    go = threading.Barrier(4)
    results: list[object] = []

    def merge(k: int, g: int) -> None:
        go.wait()
        try:
            results.append(_merge(k, g))
        except DomainError as exc:
            results.append(exc)

    # the same merge twice, and the opposite one twice, all at once: one of them happens
    pairs = [(keep, gone), (keep, gone), (gone, keep), (gone, keep)]
    threads = [threading.Thread(target=merge, args=pair) for pair in pairs]
    [t.start() for t in threads]
    [t.join() for t in threads]
    done = [r for r in results if isinstance(r, link.Merged)]
    assert len(done) == 1 and sum(isinstance(r, DomainError) for r in results) == 3, results
    assert len(_claims(fresh_db)) == 1
    assert _q(fresh_db, "SELECT count(*) FROM ledger WHERE source_key LIKE 'daily:%%taken back'") == [(2,)]
    assert _q(fresh_db, "SELECT count(*) FROM ledger WHERE source_key LIKE 'achievement:%%taken back'") == [(1,)]
    assert done[0].duplicate_dailies == 1
    with pytest.raises(DomainError):  # and once more, afterwards
        _merge(keep, gone)
    assert chaos.consistency_problems(fresh_db) == []


def test_a_merge_that_dies_midway_changes_nothing_and_a_retry_does_it_once(fresh_db) -> None:
    keep, gone = _account("telegram", 9), _account("discord", 10)
    _claim(keep, DAY)
    _claim(gone, DAY)
    books = _q(fresh_db, "SELECT count(*), sum(delta) FROM ledger")

    class Crash(Exception):
        pass

    def crash(conn: db.Conn, keep_id: int, gone_id: int) -> None:
        raise Crash  # after the claims were taken back, before anything else moved

    with pytest.raises(Crash):
        _merge(keep, gone, hooks=(*REGISTRY.merge_hooks, crash))
    assert _q(fresh_db, "SELECT count(*), sum(delta) FROM ledger") == books
    assert len(_claims(fresh_db)) == 2

    # The connection terminated while the merge is under way (as the chaos run does).
    def stall(conn: db.Conn, keep_id: int, gone_id: int) -> None:
        conn.execute("SELECT pg_sleep(10)")

    killer = threading.Thread(target=_terminate_sleeper, args=(fresh_db,))
    killer.start()
    # a lost connection, whichever way psycopg says it
    with pytest.raises(Exception), db.transaction() as conn:
        link.merge_accounts(conn, keep, gone, "telegram", (*REGISTRY.merge_hooks, stall))
    killer.join()
    assert _q(fresh_db, "SELECT count(*), sum(delta) FROM ledger") == books
    assert len(_claims(fresh_db)) == 2
    merged = _merge(keep, gone)
    assert len(_claims(fresh_db)) == 1
    assert chaos.consistency_problems(fresh_db) == []
    assert merged.duplicate_dailies == 1


def _terminate_sleeper(url: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        rows = _q(url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%%'")
        if rows:
            return
        time.sleep(0.01)


def test_claims_of_earlier_merges_count_for_the_person(fresh_db) -> None:
    """A person is the live account and every account merged into it: a day claimed on an account retired long
    ago is still that person's claim."""
    a, b = _account("discord", 11), _account("telegram", 12)
    with db.transaction() as conn:
        c = users.ensure_user(conn, "website", "c@example.com").id
    _claim(a, DAY)
    _merge(b, a)  # b had not claimed: a's claim stays a's, the person's
    _claim(b, DAY + timedelta(days=1))
    _claim(c, DAY)
    _claim(c, DAY + timedelta(days=1))
    merged = _merge(c, b)  # c keeps: b's person claimed DAY (on a) and DAY+1 (on b), as c did
    assert _claims(fresh_db) == [(c, DAY), (c, DAY + timedelta(days=1))]
    assert merged.duplicate_dailies == 2
    keys = _q(fresh_db, "SELECT source_key, user_id FROM ledger WHERE source_key LIKE 'daily:%%taken back' ORDER BY 1")
    assert {k for k, _ in keys} == {f"daily:{a}:{DAY}:taken back", f"daily:{b}:{DAY + timedelta(days=1)}:taken back"}
    assert {u for _, u in keys} == {b}  # out of the retired account's balance, which holds a's coins
    assert chaos.consistency_problems(fresh_db) == []


def test_the_link_reply_names_what_was_taken_back_in_one_sentence() -> None:
    from ttfd.features.accounts import taken_back

    user = users.User.from_row({**dict.fromkeys(users.User.__dataclass_fields__), "id": 1})
    assert taken_back(link.Merged(user, True)) is None
    assert taken_back(link.Merged(user, True, 2, 1, 1_220, 100)) == (
        "One person is paid once, so this was taken back: 2 daily claims for days both accounts had claimed;"
        " 1 season reward both accounts had been paid (1,220 coins and 100 XP)."
    )
    assert taken_back(link.Merged(user, True, 1, 0, 0, 50)) == (
        "One person is paid once, so this was taken back: 1 daily claim for a day both accounts had claimed (50 XP)."
    )
    # In Russian, every count with its own plural form.
    said = taken_back(link.Merged(user, True, 5, 0, 1_220, 0, 21))
    assert said is not None and said.in_("ru") == (
        "Одному человеку платят один раз, поэтому мы забрали обратно: 5 ежедневных наград за дни, когда их получили"
        " оба аккаунта; 21 награда за достижение, полученная обоими аккаунтами (1\xa0220 монет)."
    )
