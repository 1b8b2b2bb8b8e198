"""Seasons against a real Postgres: earned XP lands in the season and its board, the rollover archives every
player's final position (ties shared), pays the top once, clears the season's XP and opens the next — once,
whether it runs twice, concurrently, or is killed halfway and run again; merges move season XP and
placements; the site lists past seasons and your placements."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime

import psycopg
import pytest
from functions_framework import create_app

from tests.conftest import run_schedule
from tests.site_helpers import configure_site, login_via_functions
from ttfd.core import db, ledger, users
from ttfd.features import REGISTRY
from ttfd.features.accounts import service as link
from ttfd.features.leaderboards import service as boards
from ttfd.features.seasons import service
from ttfd.features.seasons.service import SeasonsSettings

SMALL = SeasonsSettings(rewards="1000,500,250", batch=2)  # tiny batches: every cursor edge gets crossed


def q(url: str, query: str, *args):
    with psycopg.connect(url) as c:
        return c.execute(query, args).fetchall()


def _season(url: str) -> int:
    """One season under way since ten days ago, with nothing after it (the rollover creates the rest)."""
    with psycopg.connect(url) as c:
        c.execute("DELETE FROM seasons")
        row = c.execute(
            "INSERT INTO seasons (name, period, starts_at, ends_at) SELECT 'Test season', (t AT TIME ZONE 'UTC')::date,"
            " t, now() + interval '10 days' FROM (SELECT now() - interval '10 days' AS t) s RETURNING id"
        ).fetchone()
        assert row is not None
        return int(row[0])


def _end(url: str, season_id: int) -> None:
    """Time passes: the season ended an hour ago."""
    q_exec(url, "UPDATE seasons SET ends_at = now() - interval '1 hour' WHERE id = %s", season_id)


def q_exec(url: str, query: str, *args) -> None:
    with psycopg.connect(url) as c:
        c.execute(query, args)


def _player(ext: int, season_xp: int) -> int:
    """An account with this much XP in the season under way, as the ledger leaves it (written directly, so no
    other feature's reaction to a grant, such as an achievement's reward, changes the numbers)."""
    with db.transaction() as conn:
        uid = users.ensure_user(conn, "discord", ext, f"p{ext}", f"Player {ext}").id
        if season_xp:
            conn.execute(
                "INSERT INTO xp_season (period, user_id, xp) SELECT period, %s, %s FROM seasons"
                " WHERE starts_at <= now() AND ends_at > now()",
                (uid, season_xp),
            )
        return uid


def _buckets_match(url: str) -> None:
    """The season histogram equals a recount of xp_season (what lb_rebuild would write)."""
    kept = q(
        url,
        "SELECT period, bucket, shard, n FROM lb_buckets WHERE board = 'season' AND n > 0 ORDER BY 1, 2, 3",
    )
    recount = q(
        url,
        "SELECT period, lb_bucket(xp), (user_id %% 16)::smallint, count(*) FROM xp_season WHERE xp > 0"
        " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
    )
    assert kept == recount


@pytest.fixture
def season(fresh_db) -> int:
    return _season(fresh_db)


@pytest.fixture
def ranked(fresh_db, season) -> list[int]:
    """Seven players: 500, 300, 300, 300, 100, 50 XP this season, one with none."""
    return [_player(900 + i, xp) for i, xp in enumerate((500, 300, 300, 300, 100, 50, 0))]


def _standings(url: str, season_id: int) -> list[tuple[int, int, int]]:
    return [
        tuple(r)
        for r in q(
            url, "SELECT user_id, position, xp FROM season_standings WHERE season_id = %s ORDER BY 2, 1", season_id
        )
    ]


def _rewards(url: str) -> list[tuple[int, int]]:
    return [tuple(r) for r in q(url, "SELECT user_id, delta FROM ledger WHERE source_key LIKE 'season:%%' ORDER BY 1")]


def _expected(ids: list[int]) -> tuple[list[tuple[int, int, int]], list[tuple[int, int]]]:
    standings = [(ids[0], 1, 500), (ids[1], 2, 300), (ids[2], 2, 300), (ids[3], 2, 300), (ids[4], 5, 100)]
    standings.append((ids[5], 6, 50))
    return standings, [(ids[0], 1000), (ids[1], 500), (ids[2], 500), (ids[3], 500)]


# --- XP and the board ------------------------------------------------------------------------------


def test_earned_xp_lands_in_the_season(fresh_db, season) -> None:
    ids = [_player(800 + i, 0) for i in range(3)]
    with db.transaction() as conn:
        for i, uid in enumerate(ids):
            for n in range(i + 1):
                ledger.grant(conn, uid, "xp", 40, reason="chat", platform="discord", source_key=f"e:{uid}:{n}")
        # a transfer is not earned (merges, refunds): it moves all-time XP only
        ledger.grant(conn, ids[0], "xp", 999, reason="t", platform="discord", source_key="moved", earned=False)
    rows = q(fresh_db, "SELECT u.id, u.xp, x.xp FROM unified_users u JOIN xp_season x ON x.user_id = u.id ORDER BY 1")
    assert [(uid, xp - (999 if uid == ids[0] else 0)) for uid, xp, _ in rows] == [(r[0], r[2]) for r in rows]
    assert [r[0] for r in rows] == ids and rows[2][2] >= 120
    with db.transaction() as conn:
        assert [e.user_id for e in boards.top(conn, "season")] == ids[::-1]
    _buckets_match(fresh_db)


def test_the_season_board_and_positions(fresh_db, season, ranked) -> None:
    with db.transaction() as conn:
        top = boards.top(conn, "season", limit=10)
        assert [(e.user_id, e.position, e.value) for e in top] == [
            (ranked[0], 1, 500),
            (ranked[1], 2, 300),
            (ranked[2], 2, 300),
            (ranked[3], 2, 300),
            (ranked[4], 5, 100),
            (ranked[5], 6, 50),
        ]
        assert boards.position(conn, "season", ranked[4]) == (5, 100)
        assert boards.position(conn, "season", ranked[6]) is None
        assert boards.board_size(conn, "season") == 6
        page = boards.board_page(conn, "season", 0, ranked[3], page_size=2)
        assert (page.pages, page.mine, [e.position for e in page.entries]) == (3, (2, 300), [1, 2])
        assert service.standing(conn, ranked[1]) == service.Standing("Test season", page_end(conn), 300, 2)
        assert service.standing(conn, ranked[6]) == service.Standing("Test season", page_end(conn), 0, None)
    _buckets_match(fresh_db)


def page_end(conn) -> datetime:
    season = service.current(conn)
    assert season is not None
    return season.ends_at


def test_the_season_board_on_discord_and_telegram(app_env, fresh_db, season, ranked) -> None:
    from devtools.simulate import telegram_update
    from tests.conftest import TG_SECRET, encode, interaction, sign

    discord = create_app("discord_interactions", "main.py").test_client()
    body = encode(interaction("/leaderboard board:season", user=904))
    embed = discord.post("/", data=body, headers=sign(body)).get_json()["data"]["embeds"][0]
    assert "This season's XP" in embed["title"] and "You: #5 with 100 XP" in embed["footer"]["text"]
    telegram = create_app("telegram_webhook", "main.py").test_client()
    headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
    reply = telegram.post("/", json=telegram_update("/top season", user=77, update_id=9), headers=headers).get_json()
    assert "This season's XP" in reply["text"] and "Player 900" in reply["text"]


def test_without_a_season_the_board_is_empty_and_xp_goes_nowhere_else(fresh_db) -> None:
    q_exec(fresh_db, "DELETE FROM seasons")
    uid = _player(1, 70)
    with db.transaction() as conn:
        assert boards.board_page(conn, "season", 0, uid).entries == []
        assert service.standing(conn, uid) is None
    assert q(fresh_db, "SELECT count(*) FROM xp_season") == [(0,)]


# --- which seasons exist ---------------------------------------------------------------------------


def test_seasons_are_months_by_default_and_created_ahead(fresh_db) -> None:
    q_exec(fresh_db, "DELETE FROM seasons")
    s = SeasonsSettings()
    with db.transaction() as conn:
        assert service.ensure_seasons(conn, s, datetime(2026, 12, 31, 23, 0, tzinfo=UTC)) == 2
        assert service.ensure_seasons(conn, s, datetime(2026, 12, 31, 23, 30, tzinfo=UTC)) == 0
        # nothing ran for two months: the missed seasons follow one another
        assert service.ensure_seasons(conn, s, datetime(2027, 3, 2, tzinfo=UTC)) == 3
    rows = q(fresh_db, "SELECT name, period, starts_at, ends_at FROM seasons ORDER BY starts_at")
    assert [r[0] for r in rows] == ["December 2026", "January 2027", "February 2027", "March 2027", "April 2027"]
    assert all(a[3] == b[2] for a, b in itertools.pairwise(rows))  # back to back, no gap
    assert rows[1][2] == datetime(2027, 1, 1, tzinfo=UTC) and rows[1][1].isoformat() == "2027-01-01"


def test_a_season_length_in_days(fresh_db) -> None:
    q_exec(fresh_db, "DELETE FROM seasons")
    with db.transaction() as conn:
        service.ensure_seasons(conn, SeasonsSettings(length="14"), datetime(2026, 5, 20, 9, 30, tzinfo=UTC))
    rows = q(fresh_db, "SELECT name, starts_at, ends_at FROM seasons ORDER BY starts_at")
    assert [(r[1].day, r[2].day) for r in rows] == [(20, 3), (3, 17)]
    assert rows[0][0] == "20 May 2026 – 2 Jun 2026"


@pytest.mark.parametrize("bad", [{"length": "week"}, {"length": "0"}, {"rewards": "100,-5"}, {"rewards": "x"}])
def test_bad_settings_are_refused(bad) -> None:
    from ttfd.core.errors import ConfigError

    with pytest.raises(ConfigError):
        SeasonsSettings(**bad)


# --- the rollover ----------------------------------------------------------------------------------


def test_rollover_archives_pays_clears_and_opens_the_next_season(fresh_db, season, ranked) -> None:
    _end(fresh_db, season)
    summary = service.rollover(SMALL)
    assert summary["closed"] == ["Test season"]
    standings, rewards = _expected(ranked)
    assert _standings(fresh_db, season) == standings
    assert _rewards(fresh_db) == rewards
    row = q(fresh_db, "SELECT status, players, paid, lease_owner FROM seasons WHERE id = %s", season)
    assert row == [("closed", 6, 4, None)]
    old = q(fresh_db, "SELECT period FROM seasons WHERE id = %s", season)[0][0]
    assert q(fresh_db, "SELECT count(*) FROM xp_season WHERE period = %s", old) == [(0,)]
    assert q(fresh_db, "SELECT count(*) FROM lb_buckets WHERE board = 'season' AND period = %s", old) == [(0,)]
    # the new season is under way; XP now lands there
    with db.transaction() as conn:
        now = service.current(conn)
        assert now is not None and now.id != season and now.status == "open"
        had = (boards.position(conn, "season", ranked[5]) or (0, 0))[1]  # an achievement's reward may be in
        ledger.grant(conn, ranked[5], "xp", 20, reason="chat", platform="discord", source_key="after")
        assert boards.position(conn, "season", ranked[5])[1] == had + 20
    _buckets_match(fresh_db)


def test_run_twice_archives_and_pays_once(fresh_db, season, ranked) -> None:
    _end(fresh_db, season)
    first = service.rollover(SMALL)
    second = service.rollover(SMALL)
    assert first["closed"] == ["Test season"] and second["closed"] == []
    standings, rewards = _expected(ranked)
    assert _standings(fresh_db, season) == standings and _rewards(fresh_db) == rewards


class Killed(Exception):
    """The function died here (a crash, a timeout, a frozen instance)."""


@pytest.mark.parametrize(("where", "after"), [("open", 0), ("archiving", 2), ("paying", 0), ("clearing", 1)])
def test_killed_halfway_then_run_again(fresh_db, season, ranked, monkeypatch, where, after) -> None:
    _end(fresh_db, season)
    real = service.STEPS[where]
    calls = {"n": 0}

    def dies(conn, s, row):
        calls["n"] += 1
        if calls["n"] > after:
            real(conn, s, row)  # the batch's work is done, and then the process dies before committing
            raise Killed
        return real(conn, s, row)

    monkeypatch.setitem(service.STEPS, where, dies)
    with pytest.raises(Killed):
        service.rollover(SMALL)
    status = q(fresh_db, "SELECT status, lease_until > now() FROM seasons WHERE id = %s", season)
    assert status == [(where, True)]  # stopped in that step, still leased to the dead run
    monkeypatch.setitem(service.STEPS, where, real)
    assert service.rollover(SMALL)["closed"] == []  # the dead run's lease holds until it runs out
    q_exec(fresh_db, "UPDATE seasons SET lease_until = now() - interval '1 second' WHERE id = %s", season)
    assert service.rollover(SMALL)["closed"] == ["Test season"]
    standings, rewards = _expected(ranked)
    assert _standings(fresh_db, season) == standings and _rewards(fresh_db) == rewards
    assert q(fresh_db, "SELECT status FROM seasons WHERE id = %s", season) == [("closed",)]
    _buckets_match(fresh_db)


def test_concurrent_rollovers_do_the_work_once(fresh_db, season) -> None:
    with psycopg.connect(fresh_db) as c:  # 300 players, many ties, straight into the season
        c.execute(
            "INSERT INTO unified_users (discord_id, username) SELECT 5000 + g, 'c' || g FROM generate_series(1, 300) g"
        )
        c.execute(
            "INSERT INTO xp_season (period, user_id, xp) SELECT s.period, u.id, 1 + u.id %% 37"
            " FROM unified_users u, seasons s WHERE s.id = %s",
            (season,),
        )
    _end(fresh_db, season)
    results: list[dict] = []
    go = threading.Barrier(3)

    def run() -> None:
        go.wait()
        results.append(service.rollover(SeasonsSettings(rewards="7,5,3", batch=10)))

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(len(r["closed"]) for r in results) == [0, 0, 1]
    assert q(fresh_db, "SELECT count(*), count(DISTINCT user_id) FROM season_standings") == [(300, 300)]
    # positions are competition ranking over the scores
    wrong = q(
        fresh_db,
        "SELECT count(*) FROM season_standings s WHERE position <> 1 +"
        " (SELECT count(*) FROM season_standings o WHERE o.season_id = s.season_id AND o.xp > s.xp)",
    )
    assert wrong == [(0,)]
    top = q(fresh_db, "SELECT count(*) FROM season_standings WHERE position <= 3")[0][0]
    assert q(fresh_db, "SELECT count(*), count(DISTINCT user_id) FROM ledger WHERE source_key LIKE 'season:%%'") == [
        (top, top)
    ]


def test_the_scheduled_function_rolls_over(app_env, fresh_db, season, ranked) -> None:
    _end(fresh_db, season)
    resp = run_schedule("season_rollover")
    assert resp.status_code == 200 and resp.get_json()["closed"] == ["Test season"]
    assert run_schedule("season_rollover").get_json()["closed"] == []
    assert _rewards(fresh_db) == _expected(ranked)[1]


def test_a_run_out_of_time_leaves_the_rest_to_the_next(fresh_db, season, ranked) -> None:
    _end(fresh_db, season)
    out = service.rollover(SeasonsSettings(batch=2, budget_s=1, pause_ms=300))  # ~10 batches: 3 s
    assert out["unfinished"] == "Test season" and out["step"] in ("archiving", "paying", "clearing")
    assert q(fresh_db, "SELECT lease_until <= now() FROM seasons WHERE id = %s", season) == [(True,)]
    assert service.rollover(SMALL)["closed"] == ["Test season"]  # released: the next run goes on at once
    assert _standings(fresh_db, season) == _expected(ranked)[0]


# --- merges ----------------------------------------------------------------------------------------


def test_a_merge_moves_season_xp_and_keeps_the_better_placement(fresh_db, season, ranked) -> None:
    keep = ranked[4]  # 100 XP this season, 7th in an old one
    with db.transaction() as conn:
        gone = users.ensure_user(conn, "telegram", 4242, "tg", "On Telegram").id
        conn.execute("INSERT INTO xp_season SELECT period, %s, 50 FROM seasons WHERE id = %s", (gone, season))
        assert boards.board_size(conn, "season") == 7
    with psycopg.connect(fresh_db) as c:  # an archived season where both placed
        past = c.execute(
            "INSERT INTO seasons (name, period, starts_at, ends_at, status) VALUES"
            " ('Old', '2020-01-01', '2020-01-01', '2020-02-01', 'closed') RETURNING id"
        ).fetchone()[0]
        c.execute("INSERT INTO season_standings VALUES (%s, %s, 7, 40), (%s, %s, 3, 90)", (past, keep, past, gone))
    both = q(fresh_db, "SELECT sum(xp) FROM xp_season WHERE user_id IN (%s, %s)", keep, gone)[0][0]
    last = q(fresh_db, "SELECT max(id) FROM ledger")[0][0] or 0
    with db.transaction() as conn:
        link.merge_accounts(conn, keep, gone, "website", REGISTRY.merge_hooks)
        assert boards.board_size(conn, "season") == 6
    # the two seasons' XP add up, plus whatever the merge itself earned (an achievement's reward, say)
    earned = q(
        fresh_db,
        "SELECT coalesce(sum(delta), 0) FROM ledger WHERE id > %s AND currency = 'xp' AND reason NOT LIKE 'merge %%'",
        last,
    )[0][0]
    assert q(fresh_db, "SELECT count(*) FROM xp_season WHERE user_id = %s", gone) == [(0,)]
    assert q(fresh_db, "SELECT xp FROM xp_season WHERE user_id = %s", keep) == [(both + earned,)]
    assert q(fresh_db, "SELECT user_id, position, xp FROM season_standings WHERE season_id = %s", past) == [
        (keep, 3, 90)
    ]
    _buckets_match(fresh_db)


# --- the site --------------------------------------------------------------------------------------


def test_the_site_lists_past_seasons_and_your_placements(app_env, monkeypatch, fresh_db, season, ranked) -> None:
    configure_site(monkeypatch, app_env)
    q_exec(fresh_db, "UPDATE unified_users SET show_stats = false WHERE id = %s", ranked[1])
    _end(fresh_db, season)
    service.rollover(SMALL)
    app_env.discord.add_oauth_user(903, "p903", "Player 903")
    login = login_via_functions(create_app_for(), app_env, 903)
    client = create_app("api_seasons", "main.py").test_client()
    anonymous = client.get("/").get_json()
    assert anonymous["mine"] is None and anonymous["current"]["mine"] is None
    past = anonymous["past"][0]
    assert (past["name"], past["players"], len(past["top"])) == ("Test season", 6, 6)
    assert past["top"][1] == {"position": 2, "user_id": None, "name": "Hidden player", "xp": 300, "me": False}
    client.set_cookie("ttfd_session", login.session)
    mine = client.get("/").get_json()
    assert [(m["name"], m["position"], m["xp"], m["players"]) for m in mine["mine"]] == [("Test season", 2, 300, 6)]
    assert mine["past"][0]["top"][3]["me"] is True
    now = mine["current"]["mine"]
    assert set(now) == {"xp", "position"} and (now["position"] is None) == (now["xp"] == 0)


def create_app_for():
    clients = {}

    def make(target: str):
        clients[target] = create_app(target, "main.py").test_client()
        return clients[target]

    return make
