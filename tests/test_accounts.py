"""Unified accounts: identities, link codes, merges."""

from __future__ import annotations

import pytest

from ttfd import accounts, economy
from ttfd.core.errors import DomainError
from ttfd.core.settings import Settings


def test_ensure_user_creates_once_and_refreshes_names(conn) -> None:
    a = accounts.ensure_user(conn, "discord", 501, "old", "Old")
    b = accounts.ensure_user(conn, "discord", 501, "new", None)
    assert a.id == b.id and b.username == "new" and b.display_name == "Old"
    assert b.platforms == ["discord"] and b.primary_platform == "discord"


def test_names_follow_the_platform_the_account_was_made_on(conn) -> None:
    made_on_tg = accounts.ensure_user(conn, "telegram", 31, "tg_name", "TG Name")
    code = accounts.create_link_code(conn, made_on_tg.id, "telegram", 600)
    accounts.redeem_link_code(conn, code.code, "discord", 32, "dc_name", "DC Name")
    # every Discord path (interactions, message polling, website login) goes through ensure_user
    again = accounts.ensure_user(conn, "discord", 32, "dc_renamed", "DC Renamed")
    assert (again.id, again.username, again.display_name) == (made_on_tg.id, "tg_name", "TG Name")
    renamed = accounts.ensure_user(conn, "telegram", 31, "tg_new", None)
    assert (renamed.username, renamed.display_name) == ("tg_new", "TG Name")


def test_link_attaches_identity_when_caller_has_no_account(conn) -> None:
    tg = accounts.ensure_user(conn, "telegram", 601, "t")
    code = accounts.create_link_code(conn, tg.id, "telegram", 600)
    assert len(code.code) >= 8
    result = accounts.redeem_link_code(conn, code.code.lower(), "discord", 602, "d")
    assert result.merged_from is None
    assert result.user.id == tg.id and result.user.discord_id == 602 and result.user.telegram_id == 601
    assert accounts.find_user(conn, "discord", 602).id == tg.id
    ev = conn.execute("SELECT count(*) AS n FROM cross_platform_events WHERE event_type = 'account_linked'").fetchone()
    assert ev["n"] == 1


def test_code_is_single_use_and_expires(conn) -> None:
    tg = accounts.ensure_user(conn, "telegram", 611)
    code = accounts.create_link_code(conn, tg.id, "telegram", 600)
    accounts.redeem_link_code(conn, code.code, "discord", 612)
    with pytest.raises(DomainError, match="invalid, expired or already used"):
        accounts.redeem_link_code(conn, code.code, "discord", 613)
    other = accounts.ensure_user(conn, "telegram", 614)
    stale = accounts.create_link_code(conn, other.id, "telegram", 600)
    conn.execute("UPDATE link_codes SET expires_at = now() - interval '1 second' WHERE code = %s", (stale.code,))
    with pytest.raises(DomainError, match="expired"):
        accounts.redeem_link_code(conn, stale.code, "discord", 615)


def test_new_code_replaces_unused_old_one(conn) -> None:
    u = accounts.ensure_user(conn, "discord", 621)
    old = accounts.create_link_code(conn, u.id, "discord", 600)
    accounts.create_link_code(conn, u.id, "discord", 600)
    with pytest.raises(DomainError):
        accounts.redeem_link_code(conn, old.code, "telegram", 622)


def test_own_code_and_conflicting_identity_are_refused(conn) -> None:
    d = accounts.ensure_user(conn, "discord", 631)
    code = accounts.create_link_code(conn, d.id, "discord", 600)
    with pytest.raises(DomainError, match="already linked"):
        accounts.redeem_link_code(conn, code.code, "discord", 631)
    code2 = accounts.create_link_code(conn, d.id, "discord", 600)
    with pytest.raises(DomainError, match="different Discord identity"):
        accounts.redeem_link_code(conn, code2.code, "discord", 632)


def test_merge_keeps_totals_history_and_one_identity_each(conn) -> None:
    s = Settings()
    tg = accounts.ensure_user(conn, "telegram", 701, "t")
    dc = accounts.ensure_user(conn, "discord", 702, "d")
    economy.grant(conn, tg.id, "xp", 300, reason="t", platform="telegram", source_key="m1")
    economy.grant(conn, tg.id, "coins", 40, reason="t", platform="telegram", source_key="m1")
    economy.grant(conn, dc.id, "xp", 250, reason="t", platform="discord", source_key="m2")
    economy.claim_daily(conn, s, dc.id, "discord", economy.utc_now())
    conn.execute(
        "UPDATE unified_users SET games_played = 3, games_won = 1, messages_sent = 9, "
        "achievements = '[\"first\"]' WHERE id = %s",
        (dc.id,),
    )
    conn.execute('UPDATE unified_users SET achievements = \'["first", "chatty"]\' WHERE id = %s', (tg.id,))
    dc_before = accounts.get_user(conn, dc.id)
    code = accounts.create_link_code(conn, tg.id, "telegram", 600)

    result = accounts.redeem_link_code(conn, code.code, "discord", 702)

    kept = accounts.get_user(conn, tg.id)
    gone = accounts.get_user(conn, dc.id)
    assert result.merged_from == dc.id and result.user.id == tg.id
    assert kept.xp == 300 + dc_before.xp and kept.coins == 40 + dc_before.coins
    assert (kept.games_played, kept.games_won, kept.messages_sent) == (3, 1, 9)
    assert kept.discord_id == 702 and kept.telegram_id == 701
    assert sorted(kept.platforms) == ["discord", "telegram"]
    assert kept.daily_streak == 1 and kept.last_daily_on == dc_before.last_daily_on
    ach = conn.execute("SELECT achievements FROM unified_users WHERE id = %s", (tg.id,)).fetchone()["achievements"]
    assert sorted(ach) == ["chatty", "first"]
    assert gone.discord_id is None and gone.xp == 0 and gone.coins == 0
    retired = conn.execute("SELECT merged_into FROM unified_users WHERE id = %s", (dc.id,)).fetchone()
    assert retired["merged_into"] == tg.id
    # history stays: the retired account's ledger shows what it earned and the transfer out
    reasons = [r["reason"] for r in conn.execute("SELECT reason FROM ledger WHERE user_id = %s ORDER BY id", (dc.id,))]
    assert reasons[:3] == ["t", "daily", "daily"] and reasons[-2:] == ["merge out", "merge out"]
    assert accounts.find_user(conn, "discord", 702).id == tg.id
    # leaderboard sees one live account with the combined XP, weekly XP moved too
    assert economy.position(conn, "xp", dc.id) is None
    week = conn.execute("SELECT user_id, xp FROM xp_weekly WHERE user_id IN (%s, %s)", (tg.id, dc.id)).fetchall()
    assert [(r["user_id"], r["xp"]) for r in week] == [(tg.id, 300 + 250 + s.daily_xp)]


def test_merge_refuses_two_identities_on_one_platform(conn) -> None:
    a = accounts.ensure_user(conn, "telegram", 801)
    b = accounts.ensure_user(conn, "discord", 802)
    accounts.redeem_link_code(conn, accounts.create_link_code(conn, a.id, "telegram", 600).code, "discord", 803)
    # b (discord 802) redeems a code of a (which already has discord 803): refused, nothing changes
    code = accounts.create_link_code(conn, a.id, "telegram", 600)
    with pytest.raises(DomainError):
        accounts.redeem_link_code(conn, code.code, "discord", 802)
    assert accounts.find_user(conn, "discord", 802).id == b.id
