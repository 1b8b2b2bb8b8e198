"""Mini-games with coin bets: /coinflip, /dice and /rps against the house, and /duel between two players
(Accept/Decline buttons; an unanswered challenge expires after a few minutes and nothing is lost)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ttfd.core import jobs, settings, users
from ttfd.core.db import Conn
from ttfd.core.errors import BadInput, NotFound
from ttfd.core.i18n import C_, N_, Msg, _
from ttfd.features.games import service
from ttfd.features.games.service import GamesSettings, Result
from ttfd.registry import Feature
from ttfd.ui.actions import Action
from ttfd.ui.commands import ActionHandler, Command, Ctx, Kind, Option, Options, PlatformUser
from ttfd.ui.reply import Button, Reply, say
from ttfd.ui.text import Person, Span, Text, bold, lines, mention, text, when


def _bet_option() -> Option:
    """The bet, with the deployment's limits (GAMES_MIN_BET, GAMES_MAX_BET) read when the commands are declared:
    Discord's picker enforces them, and a bet outside them is refused naming the real range."""
    limits = settings.load(GamesSettings, GamesSettings.ENV_PREFIX)
    return Option(
        "bet",
        Kind.INTEGER,
        _("How many coins to bet"),
        required=True,
        min_value=limits.min_bet,
        max_value=limits.max_bet,
    )


BET = _bet_option()
ICONS = {"heads": "🪙", "tails": "🪙", "rock": "🪨", "paper": "📄", "scissors": "✂️"}
# What the choices are called (in the picker, in usage lines, in the result): the values stay English.
SIDES: dict[str, Msg] = {"heads": _("Heads"), "tails": _("Tails")}
HANDS: dict[str, Msg] = {"rock": _("Rock"), "paper": _("Paper"), "scissors": _("Scissors")}


def _strong(message: Msg) -> Span:
    """A message shown in bold, said in the reader's language."""
    return Span("bold", message)


def _settings(ctx: Ctx) -> GamesSettings:
    return ctx.settings.section(GamesSettings)


def _verdict(r: Result) -> Text:
    """How the bet went, then the balance: two sentences."""
    if r.won:
        verdict = _strong(_("You won!"))
        how = N_("{verdict} +{n} coin.", "{verdict} +{n} coins.", r.payout - r.bet, verdict=verdict)
    elif r.push:
        verdict = _strong(_("It's a tie!"))
        how = N_("{verdict} Your {n} coin comes back.", "{verdict} Your {n} coins come back.", r.bet, verdict=verdict)
    else:
        verdict = _strong(_("You lost."))
        how = N_("{verdict} Your {n} coin is gone.", "{verdict} Your {n} coins are gone.", r.bet, verdict=verdict)
    return text(how, " ", N_("Balance: {n} coin.", "Balance: {n} coins.", r.balance))


def _play(ctx: Ctx, game: service.Game, bet: int, choice: str | None) -> Result:
    return service.play(ctx.conn, _settings(ctx), ctx.user.id, game, bet, choice, ctx.platform, ctx.key, ctx.now)


def coinflip(ctx: Ctx, opts: Options) -> Reply:
    r = _play(ctx, "coinflip", opts["bet"], opts["side"])
    shown = _("{icon} The coin shows {side}.", icon=ICONS[r.outcome], side=_strong(SIDES[r.outcome]))
    return say(shown, " ", _verdict(r))


def dice(ctx: Ctx, opts: Options) -> Reply:
    r = _play(ctx, "dice", opts["bet"], None)
    mine, house = r.outcome.split(":")
    return say(
        _("🎲 You rolled {mine}, the house rolled {house}.", mine=bold(mine), house=bold(house)), " ", _verdict(r)
    )


def rps(ctx: Ctx, opts: Options) -> Reply:
    r = _play(ctx, "rps", opts["bet"], opts["choice"])
    hands = _(
        "{icon} {hand} against {house_icon} {house}.",
        icon=ICONS[opts["choice"]],
        hand=HANDS[opts["choice"]],
        house_icon=ICONS[r.outcome],
        house=_strong(HANDS[r.outcome]),
    )
    return say(hands, " ", _verdict(r))


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
        if ctx.platform == "telegram":
            raise BadInput(_("Who do you challenge? Reply to their message with /duel <bet>."))
        raise BadInput(_("Who do you challenge? Pick a user."))
    if picked.is_bot:
        raise BadInput(_("Bots don't duel."))
    found = users.find_user(ctx.conn, picked.platform, picked.id)
    if found is None:
        raise NotFound(_("{name} has no TTFD account yet — they can make one with /daily.", name=picked.name))
    return found


def duel(ctx: Ctx, opts: Options) -> Reply:
    opponent = _opponent(ctx, opts.get("user") or ctx.reply_to)
    s = _settings(ctx)
    d = service.challenge(ctx.conn, s, ctx.user.id, opponent.id, opts["bet"], ctx.platform, ctx.key, ctx.now)
    # Expiry is a job due when the challenge runs out: it closes it (nothing was taken, nothing to give back)
    # and edits the challenge where the platform lets us (in the language the challenge was said in).
    payload = {"duel": d.id, "reply_to": ctx.target}
    jobs.enqueue(ctx.conn, "games.expire_duel", payload, run_at=d.expires_at, dedupe_key=f"duel:{d.id}")
    return Reply(
        title=_("⚔️ Duel!"),
        body=(
            N_(
                "{challenger} challenges {opponent} to a duel for {n} coin each. The winner takes the pot. "
                "Expires {when}.",
                "{challenger} challenges {opponent} to a duel for {n} coins each. The winner takes the pot. "
                "Expires {when}.",
                d.bet,
                challenger=mention(_person(ctx.user)),
                opponent=mention(_person(opponent)),
                when=when(d.expires_at),
            ),
        ),
        rows=(
            (
                Button(C_("button", "Accept"), DuelAnswer(d.id, "accept"), style="success"),
                Button(C_("button", "Decline"), DuelAnswer(d.id, "decline"), style="danger"),
            ),
        ),
    )


def duel_answer(ctx: Ctx, action: DuelAnswer) -> Reply:
    s = _settings(ctx)
    d = service.answer(ctx.conn, action.duel, ctx.user.id, action.answer == "accept", ctx.platform, ctx.key, s)
    challenger, opponent = users.get_user(ctx.conn, d.challenger_id), users.get_user(ctx.conn, d.opponent_id)
    vs = N_(
        "{challenger} vs {opponent}, {n} coin each.",
        "{challenger} vs {opponent}, {n} coins each.",
        d.bet,
        challenger=mention(_person(challenger)),
        opponent=mention(_person(opponent)),
    )
    if d.status == "accepted":
        winner = challenger if d.winner_id == challenger.id else opponent
        pot = 2 * d.bet - int(2 * d.bet * s.duel_rake)
        outcome = N_("🏆 {winner} wins {n} coin!", "🏆 {winner} wins {n} coins!", pot, winner=mention(_person(winner)))
    elif d.status == "declined":
        outcome = _("The challenge was declined.")
    else:
        outcome = _("The challenge was withdrawn.")
    return Reply(title=_("⚔️ Duel"), body=lines(vs, outcome), edit=True)


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
            _("Bet coins on heads or tails"),
            coinflip,
            (
                BET,
                Option(
                    "side",
                    Kind.STRING,
                    _("Heads or tails"),
                    required=True,
                    choices=tuple((label, value) for value, label in SIDES.items()),
                ),
            ),
        ),
        Command("dice", _("Roll against the house: higher wins, a tie returns your bet"), dice, BET_OPTIONS),
        Command(
            "rps",
            _("Rock, paper, scissors against the house"),
            rps,
            (
                BET,  # first, as in every game: /rps <bet> <hand> like /coinflip <bet> <side>
                Option(
                    "choice",
                    Kind.STRING,
                    _("Your hand"),
                    required=True,
                    choices=tuple((label, value) for value, label in HANDS.items()),
                ),
            ),
        ),
        Command(
            "duel",
            _("Challenge someone to a coin duel (on Telegram: reply to their message)"),
            duel,
            (Option("user", Kind.USER, _("Who to challenge")), BET),
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
