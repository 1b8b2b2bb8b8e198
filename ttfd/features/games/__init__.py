"""Mini-games with coin bets: /coinflip, /dice and /rps against the house, and /duel between two players
(Accept/Decline buttons; an unanswered challenge expires after a few minutes and nothing is lost)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ttfd.core import jobs, users
from ttfd.core.db import Conn
from ttfd.core.errors import BadInput, NotFound
from ttfd.features.games import service
from ttfd.features.games.service import GamesSettings, Result
from ttfd.registry import Feature
from ttfd.ui.actions import Action
from ttfd.ui.commands import ActionHandler, Command, Ctx, Kind, Option, Options, PlatformUser
from ttfd.ui.reply import Button, Reply, say
from ttfd.ui.text import Person, Text, bold, mention, number, text, when

BET = Option("bet", Kind.INTEGER, "How many coins to bet", required=True, min_value=1)
ICONS = {"heads": "🪙", "tails": "🪙", "rock": "🪨", "paper": "📄", "scissors": "✂️"}


def _settings(ctx: Ctx) -> GamesSettings:
    return ctx.settings.section(GamesSettings)


def _verdict(r: Result) -> Text:
    if r.won:
        return text("You ", bold("won"), f"! +{number(r.payout - r.bet)} coins. Balance: {number(r.balance)} coins.")
    if r.push:
        return text("It's a ", bold("tie"), f" — your {number(r.bet)} coins come back. Balance: {number(r.balance)}.")
    return text("You ", bold("lost"), f" {number(r.bet)} coins. Balance: {number(r.balance)} coins.")


def _play(ctx: Ctx, game: service.Game, bet: int, choice: str | None) -> Result:
    return service.play(ctx.conn, _settings(ctx), ctx.user.id, game, bet, choice, ctx.platform, ctx.key, ctx.now)


def coinflip(ctx: Ctx, opts: Options) -> Reply:
    r = _play(ctx, "coinflip", opts["bet"], opts["side"])
    return say(f"{ICONS[r.outcome]} The coin shows ", bold(r.outcome), ". ", _verdict(r))


def dice(ctx: Ctx, opts: Options) -> Reply:
    r = _play(ctx, "dice", opts["bet"], None)
    mine, house = r.outcome.split(":")
    return say("🎲 You rolled ", bold(mine), ", the house rolled ", bold(house), ". ", _verdict(r))


def rps(ctx: Ctx, opts: Options) -> Reply:
    r = _play(ctx, "rps", opts["bet"], opts["choice"])
    return say(
        f"{ICONS[opts['choice']]} {opts['choice'].title()} against ",
        bold(f"{ICONS[r.outcome]} {r.outcome}"),
        ". ",
        _verdict(r),
    )


# --- duels -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DuelAnswer(Action):
    """Accept or decline a duel (signed: the duel id cannot be swapped for someone else's)."""

    prefix = "duel"
    signed = True
    duel: int
    answer: Literal["accept", "decline"]


def _person(user: users.User) -> Person:
    return Person(user.name, user.discord_id, user.telegram_id)


def _opponent(ctx: Ctx, picked: PlatformUser | None) -> users.User:
    if picked is None:
        how = "Reply to their message with /duel <bet>" if ctx.platform == "telegram" else "Pick a user"
        raise BadInput(f"Who do you challenge? {how}.")
    if picked.is_bot:
        raise BadInput("Bots don't duel.")
    found = users.find_user(ctx.conn, picked.platform, picked.id)
    if found is None:
        raise NotFound(f"{picked.name} has no TTFD account yet — they can make one with /daily.")
    return found


def duel(ctx: Ctx, opts: Options) -> Reply:
    opponent = _opponent(ctx, opts.get("user") or ctx.reply_to)
    s = _settings(ctx)
    d = service.challenge(ctx.conn, s, ctx.user.id, opponent.id, opts["bet"], ctx.platform, ctx.key, ctx.now)
    # Expiry is a job due when the challenge runs out: it closes it (nothing was taken, nothing to give back)
    # and edits the challenge where the platform lets us.
    payload = {"duel": d.id, "reply_to": ctx.target}
    jobs.enqueue(ctx.conn, "games.expire_duel", payload, run_at=d.expires_at, dedupe_key=f"duel:{d.id}")
    return Reply(
        title="⚔️ Duel!",
        body=text(
            mention(_person(ctx.user)),
            " challenges ",
            mention(_person(opponent)),
            f" to a duel for {number(d.bet)} coins each. The winner takes the pot. Expires ",
            when(d.expires_at),
            ".",
        ),
        rows=(
            (
                Button("Accept", DuelAnswer(d.id, "accept"), style="success"),
                Button("Decline", DuelAnswer(d.id, "decline"), style="danger"),
            ),
        ),
    )


def duel_answer(ctx: Ctx, action: DuelAnswer) -> Reply:
    s = _settings(ctx)
    d = service.answer(ctx.conn, action.duel, ctx.user.id, action.answer == "accept", ctx.platform, ctx.key, s)
    challenger, opponent = users.get_user(ctx.conn, d.challenger_id), users.get_user(ctx.conn, d.opponent_id)
    vs = text(mention(_person(challenger)), " vs ", mention(_person(opponent)), f" for {number(d.bet)} coins: ")
    if d.status == "accepted":
        winner = challenger if d.winner_id == challenger.id else opponent
        pot = 2 * d.bet - int(2 * d.bet * s.duel_rake)
        body = text(vs, "🏆 ", mention(_person(winner)), f" wins {number(pot)} coins!")
    else:
        body = text(vs, "declined." if d.status == "declined" else "withdrawn.")
    return Reply(title="⚔️ Duel", body=body, edit=True)


def profile_games(conn: Conn, user_id: int, owner: bool) -> dict[str, Any]:
    """The website's profile: this player's latest games."""
    return {"recent": service.recent(conn, user_id)}


BET_OPTIONS = (BET,)
FEATURE = Feature(
    name="games",
    summary=__doc__ or "",
    commands=(
        Command(
            "coinflip",
            "Bet coins on heads or tails",
            coinflip,
            (
                BET,
                Option(
                    "side",
                    Kind.STRING,
                    "Heads or tails",
                    required=True,
                    choices=(("Heads", "heads"), ("Tails", "tails")),
                ),
            ),
        ),
        Command("dice", "Roll against the house: higher wins, a tie returns your bet", dice, BET_OPTIONS),
        Command(
            "rps",
            "Rock, paper, scissors against the house",
            rps,
            (
                Option(
                    "choice",
                    Kind.STRING,
                    "Your hand",
                    required=True,
                    choices=(("Rock", "rock"), ("Paper", "paper"), ("Scissors", "scissors")),
                ),
                BET,
            ),
        ),
        Command(
            "duel",
            "Challenge someone to a coin duel (on Telegram: reply to their message)",
            duel,
            (Option("user", Kind.USER, "Who to challenge"), BET),
            guild_only=True,  # in a DM the opponent could never see the challenge's buttons
            chats=("group", "supergroup"),
        ),
    ),
    actions=(ActionHandler(DuelAnswer, duel_answer),),
    jobs={"games.expire_duel": "ttfd.features.games.expiry:expire_duel"},
    merge=service.merge_rows,
    settings=GamesSettings,
    migrations=("0006_games.sql",),
    profile=profile_games,
)
