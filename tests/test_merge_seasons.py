"""Linking two accounts that both played a season, at every point of its rollover (open, archiving batch by
batch, paying, clearing, closed): the person ends with one placement — the better one, on the live account —
one reward for the season, and one line in the site's lists. Merges and rollover steps wait for each other
instead of interleaving, and never deadlock."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import psycopg
import pytest

from tests import chaos
from ttfd.core import db, ledger, users
from ttfd.features import REGISTRY
from ttfd.features.accounts import service as link
from ttfd.features.seasons import service
from ttfd.features.seasons.service import SeasonsSettings

SMALL = SeasonsSettings(rewards="1000,500,250", batch=2)
OWNER = "test-runner"
STEPS_TO_CLOSE = 10  # start, 4 archive batches, pay, 4 clearing batches (6 players, batches of 2)


def _q(url: str, query: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as c:
        return c.execute(query, args).fetchall()


def _season(url: str) -> int:
    """A season under way since ten days ago (nothing after it)."""
    with psycopg.connect(url) as c:
        c.execute("DELETE FROM seasons")
        row = c.execute(
            "INSERT INTO seasons (name, period, starts_at, ends_at) SELECT 'Test season', (t AT TIME ZONE 'UTC')::date,"
            " t, now() + interval '10 days' FROM (SELECT now() - interval '10 days' AS t) s RETURNING id"
        ).fetchone()
        assert row is not None
        return int(row[0])


def _player(platform: users.Platform, ext: int, season_xp: int) -> int:
    with db.transaction() as conn:
        uid = users.ensure_user(conn, platform, ext, f"p{ext}", f"Player {ext}").id
        conn.execute(
            "INSERT INTO xp_season (period, user_id, xp) SELECT period, %s, %s FROM seasons"
            " WHERE starts_at <= now() AND ends_at > now()",
            (uid, season_xp),
        )
        return uid


def _end(url: str, season_id: int) -> None:
    with psycopg.connect(url) as c:
        c.execute("UPDATE seasons SET ends_at = now() - interval '1 hour' WHERE id = %s", (season_id,))


def _step(season_id: int, s: SeasonsSettings = SMALL) -> str | None:
    return db.run(partial(service.step, s=s, season_id=season_id, owner=OWNER))


def _net_rewards(url: str, season_id: int) -> dict[int, int]:
    """Coins each live person kept of the season's rewards (paid, less what was taken back)."""
    live = dict(_q(url, "SELECT id, merged_into FROM unified_users"))
    kept: dict[int, int] = {}
    for key, delta in _q(
        url,
        "SELECT source_key, delta FROM ledger WHERE source_key LIKE %s AND currency = 'coins'",
        f"season:{season_id}:%",
    ):
        uid = int(key.split(":")[3])
        while live[uid] is not None:
            uid = live[uid]
        kept[uid] = kept.get(uid, 0) + int(delta)
    return {u: n for u, n in kept.items() if n}


def _standings(url: str, season_id: int) -> list[tuple[int, int, int]]:
    rows = _q(url, "SELECT user_id, position, xp FROM season_standings WHERE season_id = %s ORDER BY 2, 1", season_id)
    return [(int(u), int(p), int(x)) for u, p, x in rows]


@pytest.mark.parametrize("steps_before_merge", range(STEPS_TO_CLOSE + 1))
def test_a_merge_at_any_point_of_the_rollover_leaves_one_placement_and_one_reward(
    fresh_db, steps_before_merge: int
) -> None:
    season = _season(fresh_db)
    gone = _player("discord", 1, 500)  # #1
    x = _player("discord", 2, 400)  # #2
    keep = _player("telegram", 3, 300)  # #3 — the same person as #1
    y, z, w = _player("discord", 4, 200), _player("discord", 5, 100), _player("discord", 6, 50)
    _end(fresh_db, season)
    assert db.run(partial(service.take_lease, owner=OWNER)) is not None
    status = "open"
    for _ in range(steps_before_merge):
        status = _step(season) or "lost"
    merged = db.run(lambda c: link.merge_accounts(c, keep, gone, "telegram", REGISTRY.merge_hooks))
    while status != "closed":
        status = _step(season) or "lost"
    if steps_before_merge == 0:  # merged before the archive began: the season's XP added up
        assert _standings(fresh_db, season) == [(keep, 1, 800), (x, 2, 400), (y, 3, 200), (z, 4, 100), (w, 5, 50)]
        assert _net_rewards(fresh_db, season) == {keep: 1000, x: 500, y: 250}
    else:  # archived apart: the better placement is the person's, a gap where the other one was
        assert _standings(fresh_db, season) == [(keep, 1, 500), (x, 2, 400), (y, 4, 200), (z, 5, 100), (w, 6, 50)]
        assert _net_rewards(fresh_db, season) == {keep: 1000, x: 500}
    with db.transaction() as conn:
        (past,) = service.past(conn)
        assert [p.user_id for p in past.top].count(keep) == 1 and gone not in [p.user_id for p in past.top]
        mine = [(r["position"], r["xp"]) for r in service.placements(conn, keep)]
        assert mine == [(past.top[0].position, past.top[0].xp)]
        assert service.placements(conn, gone) == []
    assert _q(fresh_db, "SELECT count(*) FROM achievement_unlocks WHERE code = 'season_top10'") == [(5,)]
    assert chaos.consistency_problems(fresh_db) == []
    paid_twice = steps_before_merge >= 6  # merged after the rewards were paid (the 6th step pays)
    # Archived apart, both accounts unlocked "Top ten" (by the 3rd step): the person keeps one of its rewards.
    both_top10 = steps_before_merge >= 3
    assert merged.achievements_taken == (1 if both_top10 else 0)
    assert (merged.season_rewards_taken, merged.coins_taken) == (
        1 if paid_twice else 0,
        (250 if paid_twice else 0) + (2000 if both_top10 else 0),
    )


def test_the_site_lists_a_person_once_after_a_merge_during_the_archive(app_env, fresh_db) -> None:
    """The attack: SEASON_PAUSE_MS between batches, a /link while the archive runs."""
    from functions_framework import create_app

    season = _season(fresh_db)
    gone, keep = _player("discord", 1, 500), _player("telegram", 2, 300)
    others = [_player("discord", 10 + i, 100 - i) for i in range(3)]
    _end(fresh_db, season)
    assert db.run(partial(service.take_lease, owner=OWNER)) is not None
    _step(season)  # archiving, nothing archived yet
    db.run(lambda c: link.merge_accounts(c, keep, gone, "telegram", REGISTRY.merge_hooks))
    while _step(season) != "closed":
        pass
    body = create_app("api_seasons", "main.py").test_client().get("/").get_json()
    top = [(p["position"], p["user_id"]) for p in body["past"][0]["top"]]
    assert top == [(1, keep), (3, others[0]), (4, others[1]), (5, others[2])]
    assert body["past"][0]["players"] == 4
    assert _net_rewards(fresh_db, season) == {keep: 1000, others[0]: 250}
    assert chaos.consistency_problems(fresh_db) == []


def _waiting_on_locks(url: str) -> int:
    dbname = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    rows = _q(url, "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'", dbname)
    return int(rows[0][0])


def _wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


def test_a_merge_waits_for_a_rollover_step_before_locking_any_account(fresh_db) -> None:
    season = _season(fresh_db)
    gone, keep = _player("discord", 1, 500), _player("telegram", 2, 300)
    _end(fresh_db, season)
    with psycopg.connect(fresh_db) as step:
        step.execute("SELECT 1 FROM seasons WHERE id = %s FOR UPDATE", (season,))  # as a batch holds it
        with ThreadPoolExecutor(max_workers=1) as pool:
            merge = pool.submit(db.run, lambda c: link.merge_accounts(c, keep, gone, "telegram", REGISTRY.merge_hooks))
            _wait_for(lambda: _waiting_on_locks(fresh_db) >= 1)
            # the step can still lock both accounts (a top-ten unlock, a reward): no deadlock
            step.execute("SELECT 1 FROM unified_users WHERE id = ANY(%s) FOR NO KEY UPDATE", ([keep, gone],))
            assert not merge.done()
            step.rollback()
            assert merge.result(timeout=10).user.id == keep


@pytest.mark.parametrize("with_grants", [False, True])
def test_merges_racing_a_rollover_never_deadlock(fresh_db, caplog: pytest.LogCaptureFixture, with_grants: bool) -> None:
    """Merges and rollover steps take the season before any account, so they never wait for each other in a
    circle. (Grants racing a step that pays many accounts in one transaction, the rewards or a batch's top-ten
    unlocks, can still meet on two histogram rows in opposite orders: the loser is retried, and the books hold.)"""
    season = _season(fresh_db)
    pairs = [(_player("telegram", 100 + i, 10 * i + 5), _player("discord", 200 + i, 10 * i)) for i in range(24)]
    _end(fresh_db, season)
    caplog.set_level(logging.WARNING, logger="ttfd.core.db")
    rewards = SeasonsSettings(rewards=",".join(["100"] * 60), batch=2, pause_ms=10)
    go = threading.Barrier(3)
    seen: list[str] = []

    def roll() -> None:
        go.wait()
        while service.rollover(rewards).get("closed") == []:
            time.sleep(0.01)

    def merges() -> None:
        go.wait()
        for keep, gone in pairs:
            seen.append(_q(fresh_db, "SELECT status FROM seasons WHERE id = %s", season)[0][0])
            db.run(lambda c, k=keep, g=gone: link.merge_accounts(c, k, g, "telegram", REGISTRY.merge_hooks))
            time.sleep(0.015)

    def grants() -> None:
        go.wait()
        for n in range(60 if with_grants else 0):
            for _, gone in pairs[n % 3 :: 3]:
                db.run(
                    lambda c, u=gone, k=n: ledger.grant(
                        c, u, "coins", 1, reason="t", platform="discord", source_key=f"g:{u}:{k}"
                    )
                )

    threads = [threading.Thread(target=f) for f in (roll, merges, grants)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert _q(fresh_db, "SELECT status FROM seasons WHERE id = %s", season) == [("closed",)]
    assert {"archiving", "paying", "clearing"} & set(seen), seen  # some merges did land mid-rollover
    if not with_grants:
        assert "Deadlock" not in caplog.text
    assert chaos.consistency_problems(fresh_db) == []
    people = {keep for keep, _ in pairs}
    assert {u for u, _, _ in _standings(fresh_db, season)} == people
    assert set(_net_rewards(fresh_db, season)) == people and set(_net_rewards(fresh_db, season).values()) == {100}
    if with_grants:
        assert _q(fresh_db, "SELECT count(*) FROM ledger WHERE source_key LIKE 'g:%%'") == [(480,)]
