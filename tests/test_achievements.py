"""Achievements: unlocked by triggers in the transaction that crossed the line, told in that reply, paid once
through the ledger — under concurrency and across merges — and shown on every platform's profile."""

from __future__ import annotations

import json
import random
import threading
from typing import Any

import psycopg
import pytest
from functions_framework import create_app

from devtools.simulate import telegram_update
from tests import chaos
from tests.conftest import TG_SECRET, encode, interaction, run_schedule, sign
from ttfd.core import db, ledger, users
from ttfd.features import REGISTRY
from ttfd.features.accounts import service as link
from ttfd.features.shop import service as shop
from ttfd.web import sessions

TG_HEADERS = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": TG_SECRET}


@pytest.fixture
def clients(app_env):
    return (
        create_app("discord_interactions", "main.py").test_client(),
        create_app("telegram_webhook", "main.py").test_client(),
    )


def _discord(client, command: str, user: int = 42, **kw: Any) -> dict:
    body = encode(interaction(command, user=user, **kw))
    resp = client.post("/", data=body, headers=sign(body))
    assert resp.status_code == 200
    return dict(resp.get_json())


def _telegram(client, text: str, user: int) -> dict:
    update = telegram_update(text, user=user, update_id=random.randrange(1, 2**31))
    return dict(client.post("/", data=json.dumps(update), headers=TG_HEADERS).get_json())


def _q(url: str, query: str, *args: Any) -> list[tuple]:
    with psycopg.connect(url) as c:
        return c.execute(query, args).fetchall()


def _account(platform: str, ext: int) -> int:
    with db.transaction() as conn:
        return users.ensure_user(conn, platform, ext, f"u{ext}", f"User {ext}").id  # type: ignore[arg-type]


def _unlocks(url: str, user_id: int) -> list[str]:
    return [r[0] for r in _q(url, "SELECT code FROM achievement_unlocks WHERE user_id = %s ORDER BY code", user_id)]


def test_first_daily_unlocks_in_its_reply_and_pays_once(clients, fresh_db) -> None:
    discord, _ = clients
    first = _discord(discord, "/daily")["data"]["content"]
    assert "🏅 Achievement unlocked: **📅 Day one** — +50 coins" in first
    uid = _q(fresh_db, "SELECT id FROM unified_users WHERE discord_id = 42")[0][0]
    assert _unlocks(fresh_db, uid) == ["first_daily"]
    again = _discord(discord, "/daily")["data"]["content"]
    assert "Achievement" not in again
    assert _q(fresh_db, "SELECT count(*), sum(delta) FROM ledger WHERE source_key LIKE 'achievement:%%'") == [(1, 50)]
    assert chaos.consistency_problems(fresh_db) == []


def test_rank_tiers_unlock_every_tier_crossed(app_env, fresh_db) -> None:
    uid = _account("discord", 42)
    b_minus = _q(fresh_db, "SELECT min_xp FROM ranks WHERE code = 'B-'")[0][0]
    with db.transaction() as conn:
        ledger.grant(conn, uid, "xp", b_minus, reason="t", platform="discord", source_key="big")
    assert _unlocks(fresh_db, uid) == ["rank_b", "rank_c"]
    with db.transaction() as conn:
        ledger.grant(conn, uid, "xp", 1, reason="t", platform="discord", source_key="small")
    assert _unlocks(fresh_db, uid) == ["rank_b", "rank_c"]
    assert chaos.consistency_problems(fresh_db) == []


def test_concurrent_first_purchases_unlock_once(app_env, fresh_db) -> None:
    uid = _account("discord", 42)
    with db.transaction() as conn:
        ledger.grant(conn, uid, "coins", 1000, reason="t", platform="discord", source_key="fund")
        item = shop.create(conn, name="Sticker", price=1)
    start = threading.Barrier(12)
    errors: list[BaseException] = []

    def buy(n: int) -> None:
        start.wait()
        try:
            with db.transaction() as conn:
                shop.buy(conn, uid, item, 1, guild_id=None, platform="discord", key=f"c{n}", now=ledger.utc_now())
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=buy, args=(n,)) for n in range(12)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert errors == []
    assert _unlocks(fresh_db, uid) == ["first_purchase"]
    assert _q(fresh_db, "SELECT count(*) FROM ledger WHERE source_key LIKE 'achievement:first_purchase:%%'") == [(1,)]
    assert _q(fresh_db, "SELECT count(*) FROM purchases") == [(12,)]
    assert chaos.consistency_problems(fresh_db) == []


def test_merge_of_two_accounts_that_both_have_it_keeps_one_reward_and_pays_nothing_more(app_env, fresh_db) -> None:
    a, b = _account("discord", 42), _account("telegram", 7)
    c_minus = _q(fresh_db, "SELECT min_xp FROM ranks WHERE code = 'C-'")[0][0]
    with db.transaction() as conn:
        for uid in (a, b):
            conn.execute("UPDATE unified_users SET games_won = 1, games_played = 1 WHERE id = %s", (uid,))
        # Only the Telegram account reached C-; the merge moves its XP into one below it.
        ledger.grant(conn, b, "xp", c_minus, reason="t", platform="telegram", source_key="b-xp")
        ledger.grant(conn, a, "xp", 10, reason="t", platform="discord", source_key="a-xp")
    assert _unlocks(fresh_db, a) == ["first_win"] and _unlocks(fresh_db, b) == ["first_win", "rank_c"]
    paid_before = _q(fresh_db, "SELECT count(*) FROM ledger WHERE source_key LIKE 'achievement:%%'")[0][0]
    with db.transaction() as conn:
        link.link_identity(conn, a, "telegram", 7, REGISTRY.merge_hooks)
    assert _unlocks(fresh_db, a) == ["first_win", "rank_c"] and _unlocks(fresh_db, b) == []
    # Nothing paid again, and "Beginner's luck", which both accounts had been paid, pays the person once: the
    # retired account's 25 coins and 10 XP were taken back (two ledger rows), before its balance moved over.
    taken = _q(fresh_db, "SELECT user_id, currency, delta FROM ledger WHERE source_key LIKE '%%taken back' ORDER BY 2")
    assert taken == [(b, "coins", -25), (b, "xp", -10)]
    assert _q(fresh_db, "SELECT count(*) FROM ledger WHERE source_key LIKE 'achievement:%%'")[0][0] == paid_before + 2
    assert chaos.consistency_problems(fresh_db) == []


def test_all_platforms_after_linking_and_a_site_login_with_a_telegram_notice(clients, app_env, fresh_db) -> None:
    discord, telegram = clients
    _discord(discord, "/daily")  # Day one, told in this reply: no notice for it later
    code = _discord(discord, "/link")["data"]["content"]
    secret = code.split("`")[1] if "`" in code else code.split("**")[1]
    linked = _telegram(telegram, f"/link {secret}", 7)["text"]
    assert "Linked" in linked or "linked" in linked, linked
    uid = _q(fresh_db, "SELECT id FROM unified_users WHERE discord_id = 42")[0][0]
    assert "all_platforms" not in _unlocks(fresh_db, uid)
    with db.transaction() as conn:
        sessions.create(conn, uid, sessions.Policy(60, 60, 60), "test")  # a website login
    assert "all_platforms" in _unlocks(fresh_db, uid)
    run_schedule("process_events")
    run_schedule("run_jobs")
    sent = [json.dumps(c) for c in app_env.telegram.calls if "sendMessage" in str(c)]
    assert any("Everywhere" in s for s in sent), sent
    # A reply told the daily's unlock; nobody told the login's: only that one is a notice.
    assert not any("Day one" in s for s in sent)


def test_profiles_show_achievements_and_hide_secret_ones(clients, app_env, fresh_db) -> None:
    discord, _ = clients
    _discord(discord, "/daily")
    profile = _discord(discord, "/profile")["data"]["embeds"][0]
    field = next(f for f in profile["fields"] if f["name"].startswith("Achievements"))
    assert field["name"] == "Achievements (1/13)" and "📅" in field["value"]
    listing = _discord(discord, "/achievements")["data"]["embeds"][0]
    assert "1/13" in listing["title"] and "🔒 ??? — a secret achievement" in listing["description"]
    uid = _q(fresh_db, "SELECT id FROM unified_users WHERE discord_id = 42")[0][0]
    site = create_app("api_profile", "main.py").test_client().get(f"/api/profile/{uid}").get_json()
    grid = site["achievements"]
    assert grid["unlocked"] == 1 and grid["total"] == 13
    secret = next(a for a in grid["list"] if a["name"] == "???")
    assert secret["code"] is None and secret["reward_coins"] is None and secret["unlocked_at"] is None
    assert next(a for a in grid["list"] if a["code"] == "first_daily")["unlocked_at"] is not None


def test_a_season_top_ten_placement_unlocks_the_hidden_one(app_env, fresh_db) -> None:
    uid = _account("discord", 42)
    with db.transaction() as conn:
        season = conn.execute("SELECT id FROM seasons ORDER BY id LIMIT 1").fetchone()
        assert season is not None
        conn.execute(
            "INSERT INTO season_standings (season_id, user_id, position, xp) VALUES (%s, %s, 3, 100), (%s, %s, 11, 5)",
            (season["id"], uid, season["id"], _account("discord", 43)),
        )
    assert _unlocks(fresh_db, uid) == ["season_top10"]
    assert _q(fresh_db, "SELECT count(*) FROM achievement_unlocks WHERE code = 'season_top10'") == [(1,)]


def test_a_merge_never_pays_a_season_placement_twice(app_env, fresh_db) -> None:
    a, b = _account("discord", 42), _account("telegram", 7)
    with db.transaction() as conn:
        season = conn.execute("SELECT id FROM seasons ORDER BY id LIMIT 1").fetchone()
        conn.execute(
            "INSERT INTO season_standings (season_id, user_id, position, xp) VALUES (%s, %s, 1, 900)", (season["id"], b)
        )
    assert _unlocks(fresh_db, b) == ["season_top10"]
    with db.transaction() as conn:  # the seasons hook moves the placement: its insert must not unlock it again
        link.link_identity(conn, a, "telegram", 7, REGISTRY.merge_hooks)
    assert _unlocks(fresh_db, a) == ["season_top10"]
    assert _q(
        fresh_db,
        "SELECT count(*) FROM ledger WHERE source_key LIKE 'achievement:season_top10:%%' AND currency = 'coins'",
    ) == [(1,)]
    assert chaos.consistency_problems(fresh_db) == []
