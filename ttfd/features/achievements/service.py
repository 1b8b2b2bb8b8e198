"""Achievements: the catalog and who unlocked what (sql/0010). Unlocking happens in SQL triggers, in the
transaction of whatever crossed the line; this module reads, tells, and moves unlocks on a merge."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ttfd.core.db import Conn
from ttfd.core.i18n import Msg, _

# What each achievement is called and asks, as people read it (in their language). The catalog table (sql/0010,
# sql/0017) keeps its English words for the ledger's reasons and the website; a test keeps the two equal.
TEXTS: dict[str, tuple[Msg, Msg]] = {
    "first_daily": (_("Day one"), _("Claim your first daily reward.")),
    "streak_7": (_("On a roll"), _("Keep a 7-day daily streak.")),
    "streak_30": (_("Unstoppable"), _("Keep a 30-day daily streak.")),
    "rank_c": (_("Rank C"), _("Reach rank C-.")),
    "rank_b": (_("Rank B"), _("Reach rank B-.")),
    "rank_a": (_("Rank A"), _("Reach rank A-.")),
    "rank_s": (_("Rank S"), _("Reach rank S-.")),
    "first_win": (_("Beginner's luck"), _("Win your first game.")),
    "games_100": (_("Regular"), _("Play 100 games.")),
    "first_purchase": (_("Shopper"), _("Spend coins in the shop.")),
    "all_platforms": (_("Everywhere"), _("Use TTFD on Discord, Telegram and the website.")),
    "messages_1000": (_("Chatterbox"), _("Send 1,000 messages where TTFD counts them.")),
    "season_top10": (_("Top ten"), _("Finish a season in the top 10.")),
}


def title(code: str, fallback: str) -> str:
    """An achievement's name in the reader's language (a code without words here: the table's)."""
    return TEXTS[code][0] if code in TEXTS else fallback


@dataclass(frozen=True)
class Achievement:
    code: str
    name: str
    description: str
    icon: str
    hidden: bool
    reward_coins: int
    reward_xp: int
    unlocked_at: datetime | None = None

    @property
    def unlocked(self) -> bool:
        return self.unlocked_at is not None

    @property
    def shown_name(self) -> str:
        """The name as people read it (a Msg: said in their language)."""
        return title(self.code, self.name)

    @property
    def shown_description(self) -> str:
        return TEXTS[self.code][1] if self.code in TEXTS else self.description

    def json(self) -> dict[str, Any]:
        """As the site shows it: a hidden one still locked gives nothing away."""
        secret = self.hidden and not self.unlocked
        return {
            "code": None if secret else self.code,
            "name": "???" if secret else self.shown_name,  # Msgs: the site says them in the reader's language
            "description": _("A secret achievement.") if secret else self.shown_description,
            "icon": "❔" if secret else self.icon,
            "reward_coins": None if secret else self.reward_coins,
            "reward_xp": None if secret else self.reward_xp,
            "unlocked_at": self.unlocked_at.isoformat() if self.unlocked_at else None,
        }


_ALL = """
SELECT a.code, a.name, a.description, a.icon, a.hidden, a.reward_coins, a.reward_xp, u.unlocked_at
FROM achievements a LEFT JOIN achievement_unlocks u ON u.code = a.code AND u.user_id = %(user)s
ORDER BY a.sort_order, a.code
"""


def catalog(conn: Conn, user_id: int) -> list[Achievement]:
    """Every achievement, with when this account unlocked it."""
    return [Achievement(**r) for r in conn.execute(_ALL, {"user": user_id})]


# Unlocks made by this very transaction (rows it wrote carry its id; one a merge moved keeps its old time):
# the reply tells them, and records where, so the Telegram notice is not sent to someone told there.
_TOLD = """
UPDATE achievement_unlocks u SET told_in = %(platform)s
FROM achievements a
WHERE u.user_id = %(user)s AND a.code = u.code AND u.unlocked_at >= now()
  AND u.xmin::text::bigint = pg_current_xact_id_if_assigned()::text::bigint %% 4294967296
RETURNING a.code, a.name, a.description, a.icon, a.hidden, a.reward_coins, a.reward_xp, u.unlocked_at
"""


def told_now(conn: Conn, user_id: int, platform: str) -> list[Achievement]:
    found = [Achievement(**r) for r in conn.execute(_TOLD, {"user": user_id, "platform": platform})]
    return sorted(found, key=lambda a: (a.unlocked_at, a.code))


def told_on(conn: Conn, user_id: int, code: str) -> str | None:
    row = conn.execute(
        "SELECT told_in FROM achievement_unlocks WHERE user_id = %(u)s AND code = %(c)s", {"u": user_id, "c": code}
    ).fetchone()
    return row["told_in"] if row else None


_MERGE = (
    # Once per account: an achievement both had stays unlocked once (the earlier unlock), never paid again.
    """INSERT INTO achievement_unlocks (user_id, code, source_platform, told_in, unlocked_at)
       SELECT %(keep)s, code, source_platform, told_in, unlocked_at FROM achievement_unlocks WHERE user_id = %(gone)s
       ON CONFLICT (user_id, code) DO UPDATE SET unlocked_at = least(achievement_unlocks.unlocked_at,
                                                                    EXCLUDED.unlocked_at)""",
    "DELETE FROM achievement_unlocks WHERE user_id = %(gone)s",
)


def merge_rows(conn: Conn, keep_id: int, gone_id: int) -> None:
    for sql in _MERGE:
        conn.execute(sql, {"keep": keep_id, "gone": gone_id})


@dataclass(frozen=True)
class TakenBack:
    """What a merge took back: the retired account's rewards for achievements both accounts had (sql/0017)."""

    rewards: int = 0
    coins: int = 0
    xp: int = 0


_TAKE_BACK = "SELECT * FROM achievement_take_back(%(keep)s, %(gone)s, %(platform)s)"


def take_back_duplicates(conn: Conn, keep_id: int, gone_id: int, platform: str) -> TakenBack:
    """At a merge, before the unlocks and the balance move (both accounts locked): an achievement both accounts
    had pays the person once — the retired side's reward reversed as far as its balance allows."""
    row = conn.execute(_TAKE_BACK, {"keep": keep_id, "gone": gone_id, "platform": platform}).fetchone()
    assert row is not None
    return TakenBack(int(row["rewards"]), int(row["coins"]), int(row["xp"]))
