"""The daily in local time: DAY_TZ (one IANA zone for everyone) decides when a day starts — for /daily, its
streak and the next claim — with DST handled by zoneinfo; a change of zone keeps everyone's streak; the
late-claim rule still holds; the weekly board stays the UTC week.

What a change of DAY_TZ does (documented by the tests below): claims are kept by calendar day, so a streak
carries on across the change. Moving the zone east (UTC → Europe/Moscow) shortens the day of the change:
someone who claimed at 22:00 UTC on day D (that was UTC's day D) may claim again at once, since it is already
D+1 in Moscow (01:00) — one claim for each calendar day, two within an hour once. Moving it west stretches the
day instead: a claim made on Moscow's D+1 while UTC is still on D leaves nothing to claim until UTC's D+2 (a
claim stamped before the last claimed day is refused, as a late one is)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ttfd.core import db, ledger, users
from ttfd.core.settings import get_settings
from ttfd.features.daily import DailyResult, DailySettings, claim_daily, day_of, day_start

MOSCOW = ZoneInfo("Europe/Moscow")


@pytest.fixture
def day_tz(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """Set DAY_TZ for the code under test (get_settings reads it again); UTC again afterwards."""

    def use(zone: str) -> None:
        monkeypatch.setenv("DAY_TZ", zone)
        get_settings.cache_clear()

    use("UTC")
    yield use
    monkeypatch.delenv("DAY_TZ", raising=False)
    get_settings.cache_clear()


def _account(ext: int) -> int:
    with db.transaction() as conn:
        return users.ensure_user(conn, "discord", ext, f"p{ext}", "Player").id


def _claim(uid: int, now: datetime) -> DailyResult:
    """A /daily stamped `now`, in DAY_TZ as the settings say now."""
    with db.transaction() as conn:
        return claim_daily(conn, DailySettings(), uid, "discord", now)


def _row(uid: int) -> tuple[date, int]:
    with db.transaction() as conn:
        row = conn.execute("SELECT last_daily_on, daily_streak FROM unified_users WHERE id = %s", (uid,)).fetchone()
        assert row is not None
        return row["last_daily_on"], row["daily_streak"]


# --- the day boundary ------------------------------------------------------------------------------


def test_a_day_starts_at_local_midnight_and_where_dst_skips_it_at_the_jump() -> None:
    berlin, santiago, beirut = ZoneInfo("Europe/Berlin"), ZoneInfo("America/Santiago"), ZoneInfo("Asia/Beirut")
    assert day_start(date(2026, 3, 10), MOSCOW) == datetime(2026, 3, 9, 21, tzinfo=UTC)
    # Berlin's 25-hour day (clocks back at 03:00 on 25 October): the next midnight is 25 hours after the last.
    assert day_start(date(2026, 10, 25), berlin) == datetime(2026, 10, 24, 22, tzinfo=UTC)
    assert day_start(date(2026, 10, 26), berlin) == datetime(2026, 10, 25, 23, tzinfo=UTC)
    # Santiago skips midnight on 6 September (24:00 → 01:00): that day starts when the clocks jump.
    assert day_start(date(2026, 9, 6), santiago) == datetime(2026, 9, 6, 4, tzinfo=UTC)
    assert day_of(datetime(2026, 9, 6, 3, 59, 59, tzinfo=UTC), santiago) == date(2026, 9, 5)
    assert day_of(datetime(2026, 9, 6, 4, tzinfo=UTC), santiago) == date(2026, 9, 6)
    # …and repeats 23:00–24:00 on 4 April: the 5th starts at the second midnight-to-be, 00:00 at −04.
    assert day_start(date(2026, 4, 5), santiago) == datetime(2026, 4, 5, 4, tzinfo=UTC)
    assert day_of(datetime(2026, 4, 5, 3, 30, tzinfo=UTC), santiago) == date(2026, 4, 4)  # the repeated hour
    # Beirut: midnight skipped in spring, and in autumn 00:00 (+03) turns back to 23:00 before it is shown.
    assert day_start(date(2026, 3, 29), beirut) == datetime(2026, 3, 28, 22, tzinfo=UTC)
    assert day_start(date(2026, 10, 25), beirut) == datetime(2026, 10, 24, 22, tzinfo=UTC)
    for zone, day in ((berlin, date(2026, 10, 25)), (santiago, date(2026, 9, 6)), (beirut, date(2026, 10, 25))):
        start = day_start(day, zone)
        assert day_of(start, zone) == day and day_of(start - timedelta(microseconds=1), zone) < day


def test_today_and_the_next_claim_follow_day_tz(fresh_db, day_tz) -> None:
    day_tz("Europe/Moscow")
    uid = _account(9101)
    # 22:30 UTC on 9 March is 01:30 on the 10th in Moscow: the claim is for the 10th.
    first = _claim(uid, datetime(2026, 3, 9, 22, 30, tzinfo=UTC))
    assert first.claimed and first.streak == 1 and _row(uid) == (date(2026, 3, 10), 1)
    assert first.next_claim_at == datetime(2026, 3, 10, 21, tzinfo=UTC)  # Moscow's next midnight
    again = _claim(uid, datetime(2026, 3, 10, 20, 59, tzinfo=UTC))  # 23:59 in Moscow: still the 10th
    assert not again.claimed and again.next_claim_at == datetime(2026, 3, 10, 21, tzinfo=UTC)
    second = _claim(uid, datetime(2026, 3, 10, 21, 0, tzinfo=UTC))  # Moscow's midnight: the 11th
    assert second.claimed and second.streak == 2


def test_the_next_claim_across_a_dst_change_is_the_next_local_midnight(fresh_db, day_tz) -> None:
    day_tz("Europe/Berlin")
    uid = _account(9102)
    r = _claim(uid, datetime(2026, 10, 25, 12, tzinfo=UTC))  # the 25-hour day
    assert r.next_claim_at == datetime(2026, 10, 25, 23, tzinfo=UTC)  # 00:00 CET, not 22:00 UTC + 24 h
    day_tz("America/Santiago")
    uid = _account(9103)
    r = _claim(uid, datetime(2026, 9, 5, 15, tzinfo=UTC))
    assert r.next_claim_at == datetime(2026, 9, 6, 4, tzinfo=UTC)  # 01:00 −03: midnight does not happen


# --- changing DAY_TZ -------------------------------------------------------------------------------


def test_a_streak_carries_on_when_day_tz_changes(fresh_db, day_tz) -> None:
    """Two UTC days claimed under DAY_TZ=UTC, then the zone becomes Europe/Moscow: the next Moscow day's claim
    continues the streak (claims are kept by calendar day, whichever zone drew the line)."""
    uid = _account(9201)
    assert _claim(uid, datetime(2026, 3, 1, 12, tzinfo=UTC)).streak == 1
    assert _claim(uid, datetime(2026, 3, 2, 12, tzinfo=UTC)).streak == 2
    day_tz("Europe/Moscow")
    third = _claim(uid, datetime(2026, 3, 3, 9, tzinfo=UTC))  # 12:00 on the 3rd in Moscow
    assert third.claimed and third.streak == 3 and not third.freezes_used
    assert _row(uid) == (date(2026, 3, 3), 3)
    assert third.next_claim_at == datetime(2026, 3, 3, 21, tzinfo=UTC)  # Moscow's midnight now
    # A day missed in Moscow's calendar still breaks it, as before.
    assert _claim(uid, datetime(2026, 3, 5, 9, tzinfo=UTC)).streak == 1


def test_a_late_evening_claim_then_the_change_east_gives_one_claim_per_calendar_day(fresh_db, day_tz) -> None:
    """22:00 UTC on day D under UTC, then DAY_TZ=Europe/Moscow: it is already D+1 (01:00) in Moscow, so the
    next claim is open at once and continues the streak; then Moscow's midnight is the line."""
    uid = _account(9202)
    evening = _claim(uid, datetime(2026, 3, 1, 22, tzinfo=UTC))
    assert evening.claimed and evening.next_claim_at == datetime(2026, 3, 2, tzinfo=UTC)
    day_tz("Europe/Moscow")
    right_after = _claim(uid, datetime(2026, 3, 1, 22, 30, tzinfo=UTC))  # 01:30 on the 2nd in Moscow
    assert right_after.claimed and right_after.streak == 2
    assert right_after.next_claim_at == datetime(2026, 3, 2, 21, tzinfo=UTC)  # 00:00 on the 3rd, Moscow
    assert not _claim(uid, datetime(2026, 3, 2, 20, tzinfo=UTC)).claimed  # 23:00 on the 2nd in Moscow
    assert _row(uid) == (date(2026, 3, 2), 2)


def test_a_change_west_refuses_a_claim_for_a_day_already_behind_the_last_one(fresh_db, day_tz) -> None:
    """Moscow's D+1 claimed at 01:00 (22:00 UTC on D); DAY_TZ becomes UTC: until UTC's D+2 there is no new day
    to claim — a claim for UTC's D is behind the last claimed day, refused as late, and changes nothing."""
    day_tz("Europe/Moscow")
    uid = _account(9203)
    assert _claim(uid, datetime(2026, 3, 1, 22, tzinfo=UTC)).claimed  # Moscow: the 2nd
    day_tz("UTC")
    behind = _claim(uid, datetime(2026, 3, 1, 23, tzinfo=UTC))  # UTC: still the 1st
    assert (behind.claimed, behind.late, behind.coins) == (False, True, 0)
    assert behind.next_claim_at == datetime(2026, 3, 3, tzinfo=UTC)
    assert not _claim(uid, datetime(2026, 3, 2, 12, tzinfo=UTC)).claimed  # UTC's 2nd: claimed already
    assert _claim(uid, datetime(2026, 3, 3, 0, 1, tzinfo=UTC)).streak == 2
    assert _row(uid) == (date(2026, 3, 3), 2)


def test_the_late_claim_rule_holds_in_local_time(fresh_db, day_tz) -> None:
    """sql/0015: a claim stamped before the account's last claim day is refused, with Moscow's days too."""
    day_tz("Europe/Moscow")
    uid = _account(9301)
    after = _claim(uid, datetime(2026, 3, 1, 21, 0, 0, 200_000, tzinfo=UTC))  # 00:00:00.2 on the 2nd, Moscow
    late = _claim(uid, datetime(2026, 3, 1, 20, 59, 59, 900_000, tzinfo=UTC))  # 23:59:59.9 on the 1st, Moscow
    assert after.claimed and after.streak == 1
    assert (late.claimed, late.late, late.streak) == (False, True, 1)
    assert late.next_claim_at == datetime(2026, 3, 2, 21, tzinfo=UTC)  # the day after the claim that won
    assert _row(uid) == (date(2026, 3, 2), 1)


# --- the weekly board ----------------------------------------------------------------------------


def test_a_claims_xp_counts_in_the_utc_week_it_is_earned_in(fresh_db, day_tz) -> None:
    """The weekly board's week is the UTC ISO week for every XP (sql/0019): a claim's day — here a week ahead,
    as a zone far east of UTC makes it on a Sunday evening — does not move its XP to another week."""
    uid = _account(9401)
    ahead = ledger.utc_now() + timedelta(days=7)
    assert _claim(uid, ahead).claimed
    with db.transaction() as conn:
        weeks = conn.execute("SELECT week, xp FROM xp_weekly WHERE user_id = %s", (uid,)).fetchall()
        now = conn.execute("SELECT (now() AT TIME ZONE 'UTC')::date AS today").fetchone()
    assert now is not None
    assert [(w["week"], w["xp"]) for w in weeks] == [(ledger.week_start(now["today"]), 50)]
