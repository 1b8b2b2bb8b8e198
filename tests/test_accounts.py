"""Unified accounts: identities, link codes, merges."""

from __future__ import annotations

import pytest

from ttfd.core import ledger, users
from ttfd.core.errors import DomainError
from ttfd.features import REGISTRY, daily
from ttfd.features.accounts import service as link
from ttfd.features.daily import DailySettings
from ttfd.features.leaderboards import service as boards

HOOKS = REGISTRY.merge_hooks


def test_ensure_user_creates_once_and_refreshes_names(conn) -> None:
    a = users.ensure_user(conn, "discord", 501, "old", "Old")
    b = users.ensure_user(conn, "discord", 501, "new", None)
    assert a.id == b.id and b.username == "new" and b.display_name == "Old"
    assert b.platforms == ["discord"] and b.primary_platform == "discord"


def test_names_follow_the_platform_the_account_was_made_on(conn) -> None:
    made_on_tg = users.ensure_user(conn, "telegram", 31, "tg_name", "TG Name")
    code = link.create_link_code(conn, made_on_tg.id, "telegram", 600)
    link.redeem_link_code(conn, code.code, "discord", 32, HOOKS, "dc_name", "DC Name")
    # every Discord path (interactions, message polling, website login) goes through ensure_user
    again = users.ensure_user(conn, "discord", 32, "dc_renamed", "DC Renamed")
    assert (again.id, again.username, again.display_name) == (made_on_tg.id, "tg_name", "TG Name")
    renamed = users.ensure_user(conn, "telegram", 31, "tg_new", None)
    assert (renamed.username, renamed.display_name) == ("tg_new", "TG Name")


def test_link_attaches_identity_when_caller_has_no_account(conn) -> None:
    tg = users.ensure_user(conn, "telegram", 601, "t")
    code = link.create_link_code(conn, tg.id, "telegram", 600)
    assert len(code.code) >= 8
    result = link.redeem_link_code(conn, code.code.lower(), "discord", 602, HOOKS, "d")
    assert result.merged is False
    assert result.user.id == tg.id and result.user.discord_id == 602 and result.user.telegram_id == 601
    assert users.find_user(conn, "discord", 602).id == tg.id
    ev = conn.execute("SELECT count(*) AS n FROM cross_platform_events WHERE event_type = 'account_linked'").fetchone()
    assert ev["n"] == 1


def test_code_is_single_use_and_expires(conn) -> None:
    tg = users.ensure_user(conn, "telegram", 611)
    code = link.create_link_code(conn, tg.id, "telegram", 600)
    link.redeem_link_code(conn, code.code, "discord", 612, HOOKS)
    with pytest.raises(DomainError, match="invalid, expired or already used"):
        link.redeem_link_code(conn, code.code, "discord", 613, HOOKS)
    other = users.ensure_user(conn, "telegram", 614)
    stale = link.create_link_code(conn, other.id, "telegram", 600)
    conn.execute("UPDATE link_codes SET expires_at = now() - interval '1 second' WHERE code = %s", (stale.code,))
    with pytest.raises(DomainError, match="expired"):
        link.redeem_link_code(conn, stale.code, "discord", 615, HOOKS)


def test_new_code_replaces_unused_old_one(conn) -> None:
    u = users.ensure_user(conn, "discord", 621)
    old = link.create_link_code(conn, u.id, "discord", 600)
    link.create_link_code(conn, u.id, "discord", 600)
    with pytest.raises(DomainError):
        link.redeem_link_code(conn, old.code, "telegram", 622, HOOKS)


def test_own_code_and_conflicting_identity_are_refused(conn) -> None:
    d = users.ensure_user(conn, "discord", 631)
    code = link.create_link_code(conn, d.id, "discord", 600)
    with pytest.raises(DomainError, match="already linked"):
        link.redeem_link_code(conn, code.code, "discord", 631, HOOKS)
    code2 = link.create_link_code(conn, d.id, "discord", 600)
    with pytest.raises(DomainError, match="different Discord identity"):
        link.redeem_link_code(conn, code2.code, "discord", 632, HOOKS)


def _codes(conn, user_id: int) -> list[str]:
    rows = conn.execute("SELECT code FROM achievement_unlocks WHERE user_id = %s ORDER BY code", (user_id,))
    return [r["code"] for r in rows]


def test_merge_keeps_totals_history_and_one_identity_each(conn) -> None:
    s = DailySettings()
    tg = users.ensure_user(conn, "telegram", 701, "t")
    dc = users.ensure_user(conn, "discord", 702, "d")
    ledger.grant(conn, tg.id, "xp", 300, reason="t", platform="telegram", source_key="m1")
    ledger.grant(conn, tg.id, "coins", 40, reason="t", platform="telegram", source_key="m1")
    ledger.grant(conn, dc.id, "xp", 250, reason="t", platform="discord", source_key="m2")
    daily.claim_daily(conn, s, dc.id, "discord", ledger.utc_now())
    conn.execute("UPDATE unified_users SET games_played = 3, games_won = 1, messages_sent = 9 WHERE id = %s", (dc.id,))
    assert _codes(conn, dc.id) == ["first_daily", "first_win"]  # unlocked by the claim and the counters
    conn.execute(
        "INSERT INTO achievement_unlocks (user_id, code, source_platform) VALUES (%s, 'first_win', 'x')", (tg.id,)
    )
    dc_before = users.get_user(conn, dc.id)
    code = link.create_link_code(conn, tg.id, "telegram", 600)

    result = link.redeem_link_code(conn, code.code, "discord", 702, HOOKS)

    kept = users.get_user(conn, tg.id)
    gone = users.get_user(conn, dc.id)
    assert result.merged is True and result.user.id == tg.id
    # Both had "Beginner's luck": the person keeps one reward, the retired account's (25 coins, 10 XP) goes.
    assert kept.xp == 300 + dc_before.xp - 10 and kept.coins == 40 + dc_before.coins - 25
    assert result.taken is not None and result.taken.achievements_taken == 1
    assert (kept.games_played, kept.games_won, kept.messages_sent) == (3, 1, 9)
    assert kept.discord_id == 702 and kept.telegram_id == 701
    assert sorted(kept.platforms) == ["discord", "telegram"]
    assert kept.daily_streak == 1 and kept.last_daily_on == dc_before.last_daily_on
    assert _codes(conn, tg.id) == ["first_daily", "first_win"] and _codes(conn, dc.id) == []  # once each
    assert gone.discord_id is None and gone.xp == 0 and gone.coins == 0
    retired = conn.execute("SELECT merged_into FROM unified_users WHERE id = %s", (dc.id,)).fetchone()
    assert retired["merged_into"] == tg.id
    # history stays: the retired account's ledger shows what it earned and the transfer out
    reasons = [r["reason"] for r in conn.execute("SELECT reason FROM ledger WHERE user_id = %s ORDER BY id", (dc.id,))]
    assert reasons[:4] == ["t", "achievement Day one", "daily", "daily"]  # the claim's trigger paid first
    assert reasons[-4:] == [
        "achievement taken back: Beginner's luck (linked account)",
        "achievement taken back: Beginner's luck (linked account)",
        "merge out",
        "merge out",
    ]
    assert users.find_user(conn, "discord", 702).id == tg.id
    # leaderboard sees one live account with the combined XP, weekly XP moved too
    assert boards.position(conn, "xp", dc.id) is None
    week = conn.execute("SELECT user_id, xp FROM xp_weekly WHERE user_id IN (%s, %s)", (tg.id, dc.id)).fetchall()
    # Beginner's luck's 10 XP was earned this week, and taken back with its reward: once for the person
    assert [(r["user_id"], r["xp"]) for r in week] == [(tg.id, 300 + 250 + s.xp)]


def test_merge_refuses_two_identities_on_one_platform(conn) -> None:
    a = users.ensure_user(conn, "telegram", 801)
    b = users.ensure_user(conn, "discord", 802)
    link.redeem_link_code(conn, link.create_link_code(conn, a.id, "telegram", 600).code, "discord", 803, HOOKS)
    # b (discord 802) redeems a code of a (which already has discord 803): refused, nothing changes
    code = link.create_link_code(conn, a.id, "telegram", 600)
    with pytest.raises(DomainError):
        link.redeem_link_code(conn, code.code, "discord", 802, HOOKS)
    assert users.find_user(conn, "discord", 802).id == b.id


def test_a_placeholder_name_never_wins_over_a_real_one(conn) -> None:
    # A brand-new account made the code ("User 50"); the one redeeming it has a real name and history.
    fresh = conn.execute("INSERT INTO unified_users (website_email) VALUES ('x@example') RETURNING id").fetchone()
    mira = users.ensure_user(conn, "telegram", 901, "mira", "Mira")
    ledger.grant(conn, mira.id, "xp", 18_900, reason="t", platform="telegram", source_key="mira")
    code = link.create_link_code(conn, fresh["id"], "website", 600)
    result = link.redeem_link_code(conn, code.code, "telegram", 901, HOOKS, "mira", "Mira")
    assert result.user.id == fresh["id"] and result.merged is True
    assert (result.user.username, result.user.display_name, result.user.primary_platform) == (
        "mira",
        "Mira",
        "telegram",
    )


def test_between_two_real_names_the_account_with_more_xp_wins(conn) -> None:
    small = users.ensure_user(conn, "discord", 911, "smol", "Small")
    big = users.ensure_user(conn, "telegram", 912, "big", "Big")
    ledger.grant(conn, big.id, "xp", 500, reason="t", platform="telegram", source_key="big")
    code = link.create_link_code(conn, small.id, "discord", 600)
    result = link.redeem_link_code(conn, code.code, "telegram", 912, HOOKS)
    assert result.user.id == small.id and result.user.display_name == "Big"
    # … and the names now follow Telegram, where they came from
    assert not users.names_outdated(result.user, "discord", "smol2", "Small2")


def test_someone_with_nothing_on_the_other_side_is_linked_not_merged(conn) -> None:
    tg = users.ensure_user(conn, "telegram", 921, "tg", "TG")
    newcomer = users.ensure_user(conn, "discord", 922, "new", "New")  # made by the /link event itself
    code = link.create_link_code(conn, tg.id, "telegram", 600)
    result = link.redeem_link_code(conn, code.code, "discord", newcomer.discord_id, HOOKS)
    assert result.merged is False and result.user.id == tg.id and result.user.name == "TG"


def test_redeeming_on_the_website_joins_the_code_owner(conn) -> None:
    tg = users.ensure_user(conn, "telegram", 931, "tg", "TG")
    web = users.ensure_user(conn, "discord", 932, "web", "Web")
    ledger.grant(conn, web.id, "coins", 70, reason="t", platform="website", source_key="web")
    code = link.create_link_code(conn, tg.id, "telegram", 600)
    result = link.redeem_on_site(conn, code.code, web.id, HOOKS)
    assert result.user.id == tg.id and result.user.coins == 70 and result.user.discord_id == 932
    with pytest.raises(DomainError, match="invalid, expired or already used"):
        link.redeem_on_site(conn, code.code, tg.id, HOOKS)
