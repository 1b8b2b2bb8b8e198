from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ttfd import accounts, economy
from ttfd.core.settings import Settings
from ttfd.economy import level_for_xp, rank_for_xp, xp_to_next_level


def test_level_curve_matches_mee6() -> None:
    assert [xp_to_next_level(level) for level in range(4)] == [100, 155, 220, 295]
    assert level_for_xp(0).level == 0
    assert level_for_xp(99).level == 0
    assert level_for_xp(100) == economy.Level(1, 0, 155)
    assert level_for_xp(254).level == 1
    assert level_for_xp(255).level == 2
    lv = level_for_xp(300)
    assert (lv.level, lv.xp_into_level, lv.xp_for_next) == (2, 45, 220)


def test_twenty_ranks_at_every_third_level(conn) -> None:
    ranks = economy.ranks(conn)
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
    u = accounts.ensure_user(conn, "discord", 1, "a")
    mv = economy.grant(conn, u.id, "xp", 30, reason="t", platform="discord", source_key="k1")
    assert mv is not None and mv.balance_after == 30
    assert economy.grant(conn, u.id, "xp", 30, reason="t", platform="discord", source_key="k1") is None
    assert accounts.get_user(conn, u.id).xp == 30
    rows = conn.execute("SELECT delta, balance_after FROM ledger WHERE user_id = %s", (u.id,)).fetchall()
    assert [(r["delta"], r["balance_after"]) for r in rows] == [(30, 30)]


def test_coins_never_negative(conn) -> None:
    u = accounts.ensure_user(conn, "discord", 2, "b")
    economy.grant(conn, u.id, "coins", 10, reason="t", platform="discord", source_key="c1")
    with pytest.raises(economy.InsufficientFunds):
        economy.grant(conn, u.id, "coins", -11, reason="t", platform="discord", source_key="c2")
    assert accounts.get_user(conn, u.id).coins == 10  # and the transaction is still usable


def test_rank_up_writes_event(conn) -> None:
    u = accounts.ensure_user(conn, "discord", 3, "c")
    mv = economy.grant(conn, u.id, "xp", 500, reason="t", platform="discord", source_key="r1")
    assert mv is not None and mv.ranked_up and mv.rank_after and mv.rank_after.code == "F"
    ev = conn.execute(
        "SELECT data FROM cross_platform_events WHERE user_id = %s AND event_type = 'rank_up'", (u.id,)
    ).fetchone()
    assert ev["data"]["from"] == "F-" and ev["data"]["to"] == "F"
    assert accounts.get_user(conn, u.id).rank_id == 1


def _settings() -> Settings:
    return Settings(
        daily_base_coins=100,
        daily_step_coins=10,
        daily_cap_coins=130,
        daily_bonus_every=7,
        daily_bonus_coins=500,
        daily_xp=50,
    )


def test_daily_streak_grows_caps_bonus_and_resets(conn) -> None:
    s = _settings()
    u = accounts.ensure_user(conn, "telegram", 10, "d")
    day0 = datetime(2026, 3, 2, 12, tzinfo=UTC)
    got = [economy.claim_daily(conn, s, u.id, "telegram", day0 + timedelta(days=i)) for i in range(8)]
    assert [g.streak for g in got] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert [g.coins for g in got] == [100, 110, 120, 130, 130, 130, 630, 130]
    assert got[6].bonus and not got[7].bonus
    again = economy.claim_daily(conn, s, u.id, "discord", day0 + timedelta(days=7, hours=5))
    assert not again.claimed and again.next_claim_at == datetime(2026, 3, 10, tzinfo=UTC)
    after_gap = economy.claim_daily(conn, s, u.id, "discord", day0 + timedelta(days=9))
    assert after_gap.claimed and after_gap.streak == 1
    assert accounts.get_user(conn, u.id).coins == sum(g.coins for g in got) + 100


def test_leaderboard_order_ties_and_positions(conn) -> None:
    conn.execute("DELETE FROM xp_weekly; DELETE FROM ledger")
    values = [500, 300, 300, 300, 100, 0]
    users = []
    for i, v in enumerate(values):
        u = accounts.ensure_user(conn, "discord", 100 + i, f"u{i}")
        if v:
            economy.grant(conn, u.id, "xp", v, reason="t", platform="discord", source_key=f"lb{i}")
        users.append(u)
    ids = [u.id for u in users]
    page = [e for e in economy.top(conn, "xp", limit=50) if e.user_id in ids]
    assert [e.user_id for e in page] == ids[:5]  # ties listed by account age (id); a 0 score is not listed
    assert [e.position for e in page][:5] == [1, 2, 2, 2, 5]
    assert economy.position(conn, "xp", ids[3]) == (2, 300)
    assert economy.position(conn, "xp", ids[4]) == (5, 100)
    second = economy.top(conn, "xp", limit=2, offset=2)
    assert [(e.position, e.user_id) for e in second] == [(2, ids[2]), (2, ids[3])]
    week = economy.top(conn, "week", limit=10)
    assert [e.user_id for e in week] == ids[:5]
    assert economy.position(conn, "week", ids[5]) is None
    assert economy.position(conn, "xp", ids[5]) is None


def test_bucket_positions_exact_across_scales(conn) -> None:
    conn.execute("DELETE FROM xp_weekly; DELETE FROM ledger; UPDATE unified_users SET merged_into = NULL WHERE false")
    values = [0, 1, 2, 3, 63, 64, 65, 1000, 1001, 1023, 1024, 99999, 100000, 10**7]
    ids = []
    for i, v in enumerate(values):
        u = accounts.ensure_user(conn, "telegram", 5000 + i)
        if v:
            economy.grant(conn, u.id, "coins", v, reason="t", platform="telegram", source_key=f"b{i}")
        ids.append(u.id)
    others = conn.execute(
        "SELECT coins FROM unified_users WHERE merged_into IS NULL AND NOT (id = ANY(%s))", (ids,)
    ).fetchall()
    for uid, v in zip(ids, values, strict=True):
        expected = 1 + sum(1 for w in values if w > v) + sum(1 for r in others if r["coins"] > v)
        assert economy.position(conn, "coins", uid) == ((expected, v) if v else None)


def test_retried_debit_is_a_duplicate_not_insufficient(conn) -> None:
    u = accounts.ensure_user(conn, "discord", 31337)
    economy.grant(conn, u.id, "coins", 50, reason="t", platform="discord", source_key="in")
    assert economy.grant(conn, u.id, "coins", -50, reason="buy", platform="discord", source_key="buy1")
    assert economy.grant(conn, u.id, "coins", -50, reason="buy", platform="discord", source_key="buy1") is None


def test_settings_validate_ranges() -> None:
    import pydantic

    with pytest.raises(pydantic.ValidationError, match="MESSAGE_XP_MIN"):
        Settings(message_xp_min=30, message_xp_max=20)


def test_rank_codes_constant_matches_table(conn) -> None:
    assert tuple(r.code for r in economy.ranks(conn)) == economy.RANK_CODES
