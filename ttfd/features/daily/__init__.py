"""Daily reward: one claim per person per day on any platform; a streak that grows the reward, with a bonus
every few days, and breaks after a missed day — unless streak freezes from the shop cover it (used
automatically); an XP boost running at the claim doubles its XP. Claims only move forward (one that commits
after a later day's claim is refused as late), and linking two accounts that claimed on the same day takes the
retired account's claim of that day back.

A day is a calendar day in the deployment's zone, DAY_TZ (one for everyone: nobody claims twice by changing
zones); it starts at that zone's midnight, or where a clock change skips midnight, when the clocks jump. The
zone may change: claims are kept by day, so a streak carries on across the change (a day the change cut short
or stretched is still one day). The weekly board's week stays the ISO week in UTC (sql/0019)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import ClassVar
from zoneinfo import ZoneInfo

from ttfd.core import ledger, wake
from ttfd.core.db import Conn
from ttfd.core.i18n import N_, _
from ttfd.core.settings import bounded, get_settings
from ttfd.registry import Feature
from ttfd.ui.commands import Command, Ctx, Options
from ttfd.ui.reply import Reply, say
from ttfd.ui.text import bold, lines, when


@dataclass(frozen=True)
class DailySettings:
    ENV_PREFIX: ClassVar[str] = "DAILY_"
    base_coins: int = bounded(100, 0, 10**9)
    step_coins: int = bounded(10, 0, 10**9)
    cap_coins: int = bounded(250, 0, 10**9)
    bonus_every: int = bounded(7, 1, 366)
    bonus_coins: int = bounded(500, 0, 10**9)
    xp: int = bounded(50, 0, 10**9)


def reward(s: DailySettings, streak: int) -> tuple[int, bool]:
    """Coins for a claim on day `streak` of a streak, and whether the periodic bonus applies (sql/0005 does
    the same in the database; a test keeps them equal)."""
    coins = min(s.base_coins + s.step_coins * (streak - 1), s.cap_coins)
    bonus = streak % s.bonus_every == 0
    return coins + (s.bonus_coins if bonus else 0), bonus


@dataclass(frozen=True)
class DailyResult:
    claimed: bool
    user_id: int
    streak: int
    coins: int
    xp: int
    bonus: bool
    next_claim_at: datetime
    rank_up: ledger.Rank | None = None
    freezes_used: int = 0
    boosted: bool = False
    late: bool = False  # refused: stamped before a day already claimed (it committed after midnight's claim)


def zone(name: str | None = None) -> ZoneInfo:
    """The zone whose calendar days are the daily's (DAY_TZ unless `name` is given)."""
    return ZoneInfo(name or get_settings().day_tz)


def day_of(moment: datetime, tz: ZoneInfo) -> date:
    """The daily's day a moment falls on."""
    return moment.astimezone(tz).date()


def day_start(day: date, tz: ZoneInfo) -> datetime:
    """The first moment of `day` in zone `tz`, in UTC: its local midnight — a 23- or 25-hour day around a DST
    change ends at the next one. Where a change skips midnight (the clocks jump from 23:59:59 to 01:00), the
    day starts at the jump: a local time inside the gap is read with the offset before it (fold=0), which puts
    it exactly there."""
    return datetime.combine(day, time(0), tz).astimezone(UTC)


_CLAIM = """
SELECT * FROM daily_claim(%(user)s, %(today)s, %(base)s, %(step)s, %(cap)s, %(every)s, %(bonus)s, %(xp)s,
                          %(platform)s, %(now)s)
"""


def claim_daily(
    conn: Conn, s: DailySettings, user_id: int, platform: str, now: datetime, tz: str | None = None
) -> DailyResult:
    """One claim per account per day of DAY_TZ (or `tz`), whichever platform asks (one round trip: sql/0015,
    sql/0019). Claims only move forward: one stamped before the account's last claim day is refused as late.
    The next claim is at the start of the day after the latest claim's."""
    where = zone(tz)
    today = day_of(now, where)
    params = {
        "user": user_id,
        "today": today,
        "base": s.base_coins,
        "step": s.step_coins,
        "cap": s.cap_coins,
        "every": s.bonus_every,
        "bonus": s.bonus_coins,
        "xp": s.xp,
        "platform": platform,
        "now": now,
    }
    row = conn.execute(_CLAIM, params).fetchone()
    assert row is not None
    rank_up = None
    if row["rank_after"] is not None and row["rank_after"] != row["rank_before"]:
        rank_up = {r.id: r for r in ledger.ranks(conn)}[row["rank_after"]]
        wake.mark()  # the rank_up event's reactions (roles, notices) wait for a worker
    next_at = day_start(row["claim_day"] + timedelta(days=1), where)
    return DailyResult(
        row["claimed"],
        row["user_id"],
        row["streak"],
        row["coins"],
        row["xp"],
        row["bonus"],
        next_at,
        rank_up,
        row["freezes_used"],
        row["boosted"],
        row["late"],
    )


@dataclass(frozen=True)
class TakenBack:
    """What a merge took back: the retired account's claims of days both accounts claimed (sql/0015)."""

    days: int = 0
    coins: int = 0
    xp: int = 0


_TAKE_BACK = "SELECT * FROM daily_take_back(%(keep)s, %(gone)s, %(platform)s)"


def take_back_duplicates(conn: Conn, keep_id: int, gone_id: int, platform: str) -> TakenBack:
    """At a merge, before the retired account's balance moves over (both accounts locked): one claim per person
    per day, the retired side's coins and XP for a day both claimed reversed as far as its balance allows."""
    row = conn.execute(_TAKE_BACK, {"keep": keep_id, "gone": gone_id, "platform": platform}).fetchone()
    assert row is not None
    return TakenBack(int(row["days"]), int(row["coins"]), int(row["xp"]))


def daily(ctx: Ctx, opts: Options) -> Reply:
    r = claim_daily(
        ctx.conn, ctx.settings.section(DailySettings), ctx.user.id, ctx.platform, ctx.now, ctx.settings.day_tz
    )
    if r.late:
        late = _(
            "⏳ The day turned while this claim was on its way, and today's daily was already claimed. "
            "Next claim {when}. Streak: {streak} 🔥",
            when=when(r.next_claim_at),
            streak=r.streak,
        )
        return say(late, private=True)
    if not r.claimed:
        again = _(
            "⏳ You already claimed today. Next claim {when}. Streak: {streak} 🔥",
            when=when(r.next_claim_at),
            streak=r.streak,
        )
        return say(again, private=True)
    streak = bold(r.streak)
    if r.boosted:
        paid = N_(
            "💰 +{n} coin, +{xp} XP (⚡ boosted ×2). Streak: {streak} 🔥",
            "💰 +{n} coins, +{xp} XP (⚡ boosted ×2). Streak: {streak} 🔥",
            r.coins,
            xp=r.xp,
            streak=streak,
        )
    else:
        paid = N_(
            "💰 +{n} coin, +{xp} XP. Streak: {streak} 🔥",
            "💰 +{n} coins, +{xp} XP. Streak: {streak} 🔥",
            r.coins,
            xp=r.xp,
            streak=streak,
        )
    frozen = N_(
        "🧊 {n} streak freeze kept your streak alive.", "🧊 {n} streak freezes kept your streak alive.", r.freezes_used
    )
    return say(
        lines(
            (paid, " ", _("🎁 Streak bonus included!")) if r.bonus else paid,
            frozen if r.freezes_used else None,
            _("🎉 Rank up: {rank}!", rank=bold(r.rank_up.code)) if r.rank_up else None,
            _("Next claim {when}.", when=when(r.next_claim_at)),
        )
    )


FEATURE = Feature(
    name="daily",
    summary=__doc__ or "",
    commands=(Command("daily", _("Claim your daily reward (once a day, on any platform)"), daily),),
    settings=DailySettings,
    migrations=(
        "0005_daily_in_one_call.sql",
        "0008_daily_with_items.sql",
        "0015_merges_and_claims.sql",
        "0019_daily_week_in_utc.sql",
    ),
)
