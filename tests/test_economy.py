from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ttfd.core import errors, ledger, users
from ttfd.core.ledger import level_for_xp, rank_for_xp, xp_to_next_level
from ttfd.features import daily
from ttfd.features.daily import DailySettings
from ttfd.features.leaderboards import service as boards


def test_level_curve_matches_mee6() -> None:
    assert [xp_to_next_level(level) for level in range(4)] == [100, 155, 220, 295]
    assert level_for_xp(0).level == 0
    assert level_for_xp(99).level == 0
    assert level_for_xp(100) == ledger.Level(1, 0, 155)
    assert level_for_xp(254).level == 1
    assert level_for_xp(255).level == 2
    lv = level_for_xp(300)
    assert (lv.level, lv.xp_into_level, lv.xp_for_next) == (2, 45, 220)


def test_twenty_ranks_at_every_third_level(conn) -> None:
    ranks = ledger.ranks(conn)
    assert " ".join(r.code for r in ranks) == "F- F F+ E- E E+ D- D D+ C- C C+ B- B B+ A- A A+ S- S"
    for i, r in enumerate(ranks):
        assert level_for_xp(r.min_xp).level == 3 * i
        if r.min_xp:
            assert level_for_xp(r.min_xp - 1).level == 3 * i - 1
    assert rank_for_xp(ranks, 0).code == "F-"
    assert rank_for_xp(ranks, 474).code == "F-"
    assert rank_for_xp(ranks, 475).code == "F"
    assert rank_for_xp(ranks, 10**9).code == "S"


def test_grant_is_idempotent_per_source_key(conn) -> None:
    u = users.ensure_user(conn, "discord", 1, "a")
    mv = ledger.grant(conn, u.id, "xp", 30, reason="t", platform="discord", source_key="k1")
    assert mv is not None and mv.balance_after == 30
    assert ledger.grant(conn, u.id, "xp", 30, reason="t", platform="discord", source_key="k1") is None
    assert users.get_user(conn, u.id).xp == 30
    rows = conn.execute("SELECT delta, balance_after FROM ledger WHERE user_id = %s", (u.id,)).fetchall()
    assert [(r["delta"], r["balance_after"]) for r in rows] == [(30, 30)]


def test_coins_never_negative(conn) -> None:
    u = users.ensure_user(conn, "discord", 2, "b")
    ledger.grant(conn, u.id, "coins", 10, reason="t", platform="discord", source_key="c1")
    with pytest.raises(errors.InsufficientFunds):
        ledger.grant(conn, u.id, "coins", -11, reason="t", platform="discord", source_key="c2")
    assert users.get_user(conn, u.id).coins == 10  # and the transaction is still usable


def test_rank_up_writes_event(conn) -> None:
    u = users.ensure_user(conn, "discord", 3, "c")
    mv = ledger.grant(conn, u.id, "xp", 500, reason="t", platform="discord", source_key="r1")
    assert mv is not None and mv.ranked_up and mv.rank_after and mv.rank_after.code == "F"
    ev = conn.execute(
        "SELECT data FROM cross_platform_events WHERE user_id = %s AND event_type = 'rank_up'", (u.id,)
    ).fetchone()
    assert ev["data"]["from"] == "F-" and ev["data"]["to"] == "F"
    assert users.get_user(conn, u.id).rank_id == 1


def _settings() -> DailySettings:
    return DailySettings(base_coins=100, step_coins=10, cap_coins=130, bonus_every=7, bonus_coins=500, xp=50)


def test_daily_streak_grows_caps_bonus_and_resets(conn) -> None:
    s = _settings()
    u = users.ensure_user(conn, "telegram", 10, "d")
    day0 = datetime(2026, 3, 2, 12, tzinfo=UTC)
    got = [daily.claim_daily(conn, s, u.id, "telegram", day0 + timedelta(days=i)) for i in range(8)]
    assert [g.streak for g in got] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert [g.coins for g in got] == [100, 110, 120, 130, 130, 130, 630, 130]
    assert got[6].bonus and not got[7].bonus
    again = daily.claim_daily(conn, s, u.id, "discord", day0 + timedelta(days=7, hours=5))
    assert not again.claimed and again.next_claim_at == datetime(2026, 3, 10, tzinfo=UTC)
    after_gap = daily.claim_daily(conn, s, u.id, "discord", day0 + timedelta(days=9))
    assert after_gap.claimed and after_gap.streak == 1
    # + the achievements the streak unlocked on the way: Day one (50) and a 7-day streak (200)
    assert users.get_user(conn, u.id).coins == sum(g.coins for g in got) + 100 + 50 + 200
    # the database's rule (sql/0005) is the same as daily.reward's
    assert [g.coins for g in got] == [daily.reward(s, streak)[0] for streak in range(1, 9)]


def test_leaderboard_order_ties_and_positions(conn) -> None:
    conn.execute("DELETE FROM xp_weekly; DELETE FROM ledger")
    values = [500, 300, 300, 300, 100, 0]
    made = []
    for i, v in enumerate(values):
        u = users.ensure_user(conn, "discord", 100 + i, f"u{i}")
        if v:
            ledger.grant(conn, u.id, "xp", v, reason="t", platform="discord", source_key=f"lb{i}")
        made.append(u)
    ids = [u.id for u in made]
    page = [e for e in boards.top(conn, "xp", limit=50) if e.user_id in ids]
    assert [e.user_id for e in page] == ids[:5]  # ties listed by account age (id); a 0 score is not listed
    assert [e.position for e in page][:5] == [1, 2, 2, 2, 5]
    assert boards.position(conn, "xp", ids[3]) == (2, 300)
    assert boards.position(conn, "xp", ids[4]) == (5, 100)
    second = boards.top(conn, "xp", limit=2, offset=2)
    assert [(e.position, e.user_id) for e in second] == [(2, ids[2]), (2, ids[3])]
    week = boards.top(conn, "week", limit=10)
    assert [e.user_id for e in week] == ids[:5]
    assert boards.position(conn, "week", ids[5]) is None
    assert boards.position(conn, "xp", ids[5]) is None


def test_bucket_positions_exact_across_scales(conn) -> None:
    conn.execute("DELETE FROM xp_weekly; DELETE FROM ledger; UPDATE unified_users SET merged_into = NULL WHERE false")
    values = [0, 1, 2, 3, 63, 64, 65, 1000, 1001, 1023, 1024, 99999, 100000, 10**7]
    ids = []
    for i, v in enumerate(values):
        u = users.ensure_user(conn, "telegram", 5000 + i)
        if v:
            ledger.grant(conn, u.id, "coins", v, reason="t", platform="telegram", source_key=f"b{i}")
        ids.append(u.id)
    others = conn.execute(
        "SELECT coins FROM unified_users WHERE merged_into IS NULL AND NOT (id = ANY(%s))", (ids,)
    ).fetchall()
    for uid, v in zip(ids, values, strict=True):
        expected = 1 + sum(1 for w in values if w > v) + sum(1 for r in others if r["coins"] > v)
        assert boards.position(conn, "coins", uid) == ((expected, v) if v else None)


def test_retried_debit_is_a_duplicate_not_insufficient(conn) -> None:
    u = users.ensure_user(conn, "discord", 31337)
    ledger.grant(conn, u.id, "coins", 50, reason="t", platform="discord", source_key="in")
    assert ledger.grant(conn, u.id, "coins", -50, reason="buy", platform="discord", source_key="buy1")
    assert ledger.grant(conn, u.id, "coins", -50, reason="buy", platform="discord", source_key="buy1") is None


def test_settings_validate_ranges() -> None:
    from ttfd.core import settings
    from ttfd.core.errors import ConfigError
    from ttfd.features.activity.service import ActivitySettings

    with pytest.raises(ConfigError, match="MESSAGE_XP_MIN"):
        settings.load(ActivitySettings, "MESSAGE_XP_", {"MESSAGE_XP_MIN": "30", "MESSAGE_XP_MAX": "20"})
    with pytest.raises(ConfigError, match="DAILY_BONUS_EVERY must be between 1"):
        settings.load(DailySettings, "DAILY_", {"DAILY_BONUS_EVERY": "0"})
    with pytest.raises(ConfigError, match="DAILY_XP: must be a whole number"):
        settings.load(DailySettings, "DAILY_", {"DAILY_XP": "lots"})
    assert settings.load(DailySettings, "DAILY_", {"DAILY_XP": "75"}).xp == 75


def test_rank_codes_constant_matches_table(conn) -> None:
    assert tuple(r.code for r in ledger.ranks(conn)) == ledger.RANK_CODES
