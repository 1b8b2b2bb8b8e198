"""Games against the house and duels: outcomes from `secrets`, stakes and payouts through the ledger."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal

from ttfd.core import ledger
from ttfd.core.db import Conn
from ttfd.core.errors import BadInput, Cooldown, DomainError, Forbidden, InsufficientFunds, NotFound
from ttfd.core.i18n import Msg, _
from ttfd.core.settings import bounded

Game = Literal["coinflip", "dice", "rps", "duel"]
SIDES = ("heads", "tails")
HANDS = ("rock", "paper", "scissors")
BEATS = {"rock": "scissors", "paper": "rock", "scissors": "paper"}


@dataclass(frozen=True)
class GamesSettings:
    """GAMES_MIN_BET … : limits, payouts (a win returns bet × payout, so below 2 is the house's edge)."""

    ENV_PREFIX: ClassVar[str] = "GAMES_"
    min_bet: int = bounded(10, 1, 10**12)
    max_bet: int = bounded(10_000, 1, 10**12)
    coinflip_payout: float = bounded(1.95, 1.0, 10.0)
    dice_payout: float = bounded(1.9, 1.0, 10.0)
    rps_payout: float = bounded(1.95, 1.0, 10.0)
    duel_rake: float = bounded(0.05, 0.0, 0.5)  # the house's share of a duel's pot
    cooldown_s: int = bounded(3, 0, 3600)  # between two bets of one person
    duel_ttl_s: int = bounded(300, 30, 86400)

    def __post_init__(self) -> None:
        if self.min_bet > self.max_bet:
            from ttfd.core.errors import ConfigError

            raise ConfigError("GAMES_MIN_BET must not exceed GAMES_MAX_BET")


def payout(bet: int, multiplier: float) -> int:
    """What a win returns (stake included), in whole coins, rounded down: ten-thousandths of a multiplier."""
    return bet * round(multiplier * 10_000) // 10_000


@dataclass(frozen=True)
class Result:
    game: Game
    bet: int
    choice: str | None
    outcome: str
    won: bool
    payout: int
    balance: int

    @property
    def push(self) -> bool:
        """A tie: the stake came back."""
        return not self.won and self.payout == self.bet


def draw(game: Game, choice: str | None, bet: int, s: GamesSettings) -> tuple[str, bool, int]:
    """(outcome, won, payout) of one bet, drawn with `secrets`."""
    if game == "coinflip":
        side = secrets.choice(SIDES)
        won = side == choice
        return side, won, payout(bet, s.coinflip_payout) if won else 0
    if game == "dice":
        mine, house = secrets.randbelow(6) + 1, secrets.randbelow(6) + 1
        outcome = f"{mine}:{house}"
        if mine == house:
            return outcome, False, bet  # a tie returns the stake
        return outcome, mine > house, payout(bet, s.dice_payout) if mine > house else 0
    assert game == "rps" and choice in HANDS
    house_hand = secrets.choice(HANDS)
    if house_hand == choice:
        return house_hand, False, bet
    won = BEATS[choice] == house_hand
    return house_hand, won, payout(bet, s.rps_payout) if won else 0


def check_bet(bet: int, s: GamesSettings) -> None:
    if not s.min_bet <= bet <= s.max_bet:
        raise BadInput(_("Bets are from {min} to {max} coins.", min=s.min_bet, max=s.max_bet))


_PLAY = """
SELECT * FROM game_play(%(user)s, %(game)s, %(bet)s, %(choice)s, %(outcome)s, %(won)s, %(payout)s, %(platform)s,
                        %(key)s, %(cooldown)s, %(week)s)
"""


def play(
    conn: Conn,
    s: GamesSettings,
    user_id: int,
    game: Game,
    bet: int,
    choice: str | None,
    platform: str,
    key: str,
    now: datetime,
) -> Result:
    """One bet against the house in one round trip (sql/0006): refused whole on cooldown or short funds."""
    check_bet(bet, s)
    outcome, won, paid = draw(game, choice, bet, s)
    params = {
        "user": user_id,
        "game": game,
        "bet": bet,
        "choice": choice,
        "outcome": outcome,
        "won": won,
        "payout": paid,
        "platform": platform,
        "key": key,
        "cooldown": s.cooldown_s,
        "week": ledger.week_start(now.date()),
    }
    row = conn.execute(_PLAY, params).fetchone()
    assert row is not None
    if row["status"] == "cooldown":
        raise Cooldown(float(row["retry_after"] or 1))
    if row["status"] == "insufficient":
        raise InsufficientFunds(currency="coins", needed=bet, have=int(row["balance"]))
    return Result(game, bet, choice, outcome, won, paid, int(row["balance"]))


# --- duels -----------------------------------------------------------------------------------------

_NEW_DUEL = """
INSERT INTO duels (challenger_id, opponent_id, bet, platform, event_key, expires_at)
VALUES (%(challenger)s, %(opponent)s, %(bet)s, %(platform)s, %(key)s, %(expires)s)
RETURNING id
"""
_LOCK_DUEL = "SELECT *, expires_at <= now() AS past FROM duels WHERE id = %(id)s FOR UPDATE"
_CLOSE = "UPDATE duels SET status = %(status)s, settled_at = now() WHERE id = %(id)s"
_SETTLE = "UPDATE duels SET status = 'accepted', winner_id = %(winner)s, settled_at = now() WHERE id = %(id)s"
_COINS = "SELECT id, coins FROM lock_live_user(%(user)s)"
_RECORD = """
INSERT INTO games (user_id, game, bet, choice, outcome, payout, won, source_platform, event_key)
VALUES (%(user)s, 'duel', %(bet)s, %(choice)s, %(outcome)s, %(payout)s, %(won)s, %(platform)s, %(key)s)
"""
_COUNT = """
UPDATE unified_users SET games_played = games_played + 1, games_won = games_won + %(won)s WHERE id = %(user)s
"""


@dataclass(frozen=True)
class Duel:
    id: int
    challenger_id: int
    opponent_id: int
    bet: int
    status: str
    winner_id: int | None
    expires_at: datetime


def challenge(
    conn: Conn,
    s: GamesSettings,
    challenger_id: int,
    opponent_id: int,
    bet: int,
    platform: str,
    key: str,
    now: datetime,
) -> Duel:
    """Open a challenge; no coins move until it is accepted (an unanswered one expires with nothing lost)."""
    check_bet(bet, s)
    if challenger_id == opponent_id:
        raise BadInput(_("You cannot duel yourself."))
    row = conn.execute(_COINS, {"user": challenger_id}).fetchone()
    assert row is not None
    if int(row["coins"]) < bet:
        raise InsufficientFunds(currency="coins", needed=bet, have=int(row["coins"]))
    expires = now + timedelta(seconds=s.duel_ttl_s)
    params = {"challenger": challenger_id, "opponent": opponent_id, "bet": bet, "platform": platform}
    made = conn.execute(_NEW_DUEL, {**params, "key": key, "expires": expires}).fetchone()
    assert made is not None
    return Duel(int(made["id"]), challenger_id, opponent_id, bet, "open", None, expires)


EXPIRED = _("This duel has expired.")
# Why a duel can no longer be answered, by its status.
CLOSED: dict[str, Msg] = {
    "accepted": _("This duel is already over."),
    "declined": _("This duel was already declined."),
    "cancelled": _("This duel was already withdrawn."),
    "expired": EXPIRED,
}


def _locked(conn: Conn, duel_id: int) -> dict[str, Any]:
    row = conn.execute(_LOCK_DUEL, {"id": duel_id}).fetchone()
    if row is None:
        raise NotFound(_("That duel does not exist."))
    if row["status"] != "open":
        raise DomainError(CLOSED.get(row["status"], _("This duel is already over.")))
    if row["past"]:
        raise DomainError(EXPIRED)
    return row


def _duel(row: dict[str, Any], **changes: Any) -> Duel:
    fields = {k: row[k] for k in ("id", "challenger_id", "opponent_id", "bet", "status", "winner_id", "expires_at")}
    return Duel(**{**fields, **changes})


def answer(conn: Conn, duel_id: int, presser_id: int, accept: bool, platform: str, key: str, s: GamesSettings) -> Duel:
    """The opponent accepts (both stakes taken, the winner paid, in this one transaction) or declines; the
    challenger may withdraw. Anyone else, a second answer, or an expired duel is refused and changes nothing."""
    row = _locked(conn, duel_id)
    challenger, opponent = int(row["challenger_id"]), int(row["opponent_id"])
    if presser_id not in (challenger, opponent):
        raise Forbidden(_("This duel isn't yours to answer."))
    if not accept or presser_id == challenger:
        if accept:
            raise Forbidden(_("Only the challenged player can accept."))
        status = "cancelled" if presser_id == challenger else "declined"
        conn.execute(_CLOSE, {"id": duel_id, "status": status})
        return _duel(row, status=status)
    bet = int(row["bet"])
    for who in sorted((challenger, opponent)):  # one lock order for the two accounts
        locked = conn.execute(_COINS, {"user": who}).fetchone()
        assert locked is not None
        if int(locked["coins"]) < bet:
            if who == opponent:
                raise InsufficientFunds(currency="coins", needed=bet, have=int(locked["coins"]))
            raise DomainError(_("The challenger no longer has enough coins for this duel."))
    for who in (challenger, opponent):
        ledger.grant(
            conn, who, "coins", -bet, reason="game duel", platform=platform, source_key=f"duel:{duel_id}:{who}"
        )
    winner = secrets.choice((challenger, opponent))
    pot = 2 * bet - int(2 * bet * s.duel_rake)
    ledger.grant(conn, winner, "coins", pot, reason="game duel", platform=platform, source_key=f"duel:{duel_id}:pot")
    for who in (challenger, opponent):
        won = who == winner
        params = {"user": who, "bet": bet, "choice": None, "outcome": f"winner:{winner}", "won": won}
        conn.execute(_RECORD, {**params, "payout": pot if won else 0, "platform": platform, "key": f"duel:{duel_id}"})
        conn.execute(_COUNT, {"user": who, "won": 1 if won else 0})
    conn.execute(_SETTLE, {"id": duel_id, "winner": winner})
    return _duel(row, status="accepted", winner_id=winner)


def expire(conn: Conn, duel_id: int) -> Duel | None:
    """Close a challenge nobody answered in time (the scheduled job); None if it was answered already."""
    row = conn.execute(_LOCK_DUEL, {"id": duel_id}).fetchone()
    if row is None or row["status"] != "open" or not row["past"]:
        return None
    conn.execute(_CLOSE, {"id": duel_id, "status": "expired"})
    return _duel(row, status="expired")


_RECENT = """
SELECT game, bet, outcome, payout, won, created_at FROM games WHERE user_id = %(user)s
ORDER BY created_at DESC, id DESC LIMIT %(limit)s
"""


def recent(conn: Conn, user_id: int, limit: int = 10) -> list[dict[str, Any]]:
    """A player's latest games, newest first."""
    rows = conn.execute(_RECENT, {"user": user_id, "limit": limit}).fetchall()
    return [
        {
            "game": r["game"],
            "bet": r["bet"],
            "outcome": r["outcome"],
            "payout": r["payout"],
            "won": r["won"],
            "at": r["created_at"].isoformat(),
        }
        for r in rows
    ]


_CALL_OFF = """
UPDATE duels SET status = 'cancelled', settled_at = now()
WHERE status = 'open' AND ((challenger_id, opponent_id) = (%(gone)s, %(keep)s)
                           OR (challenger_id, opponent_id) = (%(keep)s, %(gone)s))
"""
_MOVE_DUELS = """
UPDATE duels SET
    challenger_id = CASE WHEN challenger_id = %(gone)s THEN %(keep)s ELSE challenger_id END,
    opponent_id = CASE WHEN opponent_id = %(gone)s THEN %(keep)s ELSE opponent_id END,
    winner_id = CASE WHEN winner_id = %(gone)s THEN %(keep)s ELSE winner_id END
WHERE %(gone)s IN (challenger_id, opponent_id) AND %(keep)s NOT IN (challenger_id, opponent_id)
"""
# (A duel between the two accounts has a row for each under one key: that one stays with the retired row.)
_MOVE_GAMES = """
UPDATE games g SET user_id = %(keep)s WHERE g.user_id = %(gone)s
AND NOT EXISTS (SELECT 1 FROM games k WHERE k.user_id = %(keep)s AND k.event_key = g.event_key)
"""


def merge_rows(conn: Conn, keep_id: int, gone_id: int) -> None:
    """Games history follows the account; an open duel between the two merged accounts is called off."""
    ids = {"keep": keep_id, "gone": gone_id}
    conn.execute(_MOVE_GAMES, ids)
    conn.execute(_CALL_OFF, ids)
    conn.execute(_MOVE_DUELS, ids)
