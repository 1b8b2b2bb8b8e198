"""Mini-games and duels through the real functions: stakes and payouts via the ledger, counters, refusals
that change nothing, concurrent bets on one linked account from both platforms, duel races."""

from __future__ import annotations

import json
import random
import threading
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from functions_framework import create_app

from devtools.simulate import telegram_update
from tests import chaos
from tests.conftest import TG_SECRET, encode, interaction, run_schedule, sign
from ttfd.core import db, jobs, ledger, users
from ttfd.features import REGISTRY
from ttfd.features.accounts import service as link
from ttfd.features.games import service

TG_HEADERS = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": TG_SECRET}


@pytest.fixture
def clients(app_env, monkeypatch):
    monkeypatch.setenv("GAMES_COOLDOWN_S", "0")
    from ttfd.core.settings import get_settings

    get_settings.cache_clear()
    return create_app("discord_interactions", "main.py").test_client(), create_app(
        "telegram_webhook", "main.py"
    ).test_client()


def _discord(client, command: str, user: int = 42, **kw) -> dict:
    body = encode(interaction(command, user=user, **kw))
    resp = client.post("/", data=body, headers=sign(body))
    assert resp.status_code == 200
    return dict(resp.get_json())


def _press(client, custom_id: str, user: int, guild: int = 1) -> dict:
    from devtools import simulate

    payload = simulate.discord_payload(
        app_id="1100000000000000001",
        user=user,
        guild=guild,
        data={"custom_id": custom_id, "component_type": 2},
        interaction_type=3,
        message={"id": "1", "content": ""},
    )
    body = encode(payload)
    return dict(client.post("/", data=body, headers=sign(body)).get_json())


def _telegram(client, text: str, user: int, **kw) -> dict:
    update = telegram_update(text, user=user, update_id=random.randrange(1, 2**31), **kw)
    resp = client.post("/", data=json.dumps(update), headers=TG_HEADERS)
    assert resp.status_code == 200
    return dict(resp.get_json())


def _one(url: str, query: str, *args):
    with psycopg.connect(url) as c:
        return c.execute(query, args).fetchone()


def _fund(discord_id: int | None = None, telegram_id: int | None = None, coins: int = 1000) -> int:
    with db.transaction() as conn:
        u = users.ensure_user(conn, "discord" if discord_id else "telegram", discord_id or telegram_id, "p", "Player")
        if discord_id and telegram_id:
            link.link_identity(conn, u.id, "telegram", telegram_id, REGISTRY.merge_hooks)
        ledger.grant(conn, u.id, "coins", coins, reason="t", platform="discord", source_key=f"fund:{u.id}")
        return u.id


def _force(monkeypatch, *, choice=None, randbelow=None):
    if choice is not None:
        monkeypatch.setattr(service.secrets, "choice", lambda seq: choice if choice in seq else seq[0])
    if randbelow is not None:
        rolls = iter(randbelow)
        monkeypatch.setattr(service.secrets, "randbelow", lambda n: next(rolls))


def test_coinflip_win_and_loss_move_coins_through_the_ledger(clients, fresh_db, monkeypatch) -> None:
    discord, _ = clients
    uid = _fund(discord_id=42, coins=100)
    _force(monkeypatch, choice="heads")
    won = _discord(discord, "/coinflip bet:50 side:heads")["data"]["content"]
    assert "**You won!** +47 coins. Balance: 172 coins." in won  # 50 × 1.95 = 97 back (house edge), + 25 below
    assert "Achievement unlocked: **🎲 Beginner's luck** — +25 coins · +10 XP" in won  # a first win
    lost = _discord(discord, "/coinflip bet:40 side:tails")["data"]["content"]
    assert "The coin shows **Heads**." in lost and "**You lost.** Your 40 coins are gone. Balance: 132 coins." in lost
    assert _one(fresh_db, "SELECT coins, games_played, games_won FROM unified_users WHERE id = %s", uid) == (132, 2, 1)
    assert _one(fresh_db, "SELECT count(*), sum(payout) FROM games WHERE user_id = %s", uid) == (2, 97)
    assert chaos.consistency_problems(fresh_db) == []


def test_dice_tie_returns_the_stake_and_rps_plays_on_telegram(clients, fresh_db, monkeypatch) -> None:
    discord, telegram = clients
    uid = _fund(discord_id=42, telegram_id=7, coins=100)
    _force(monkeypatch, randbelow=[3, 3])
    tie = _discord(discord, "/dice bet:20")["data"]["content"]
    assert "rolled **4**, the house rolled **4**" in tie and "**It's a tie!**" in tie and "Balance: 100" in tie
    _force(monkeypatch, choice="scissors")
    r = _telegram(telegram, "/rps 30 rock", user=7)  # the bet first, as in every game
    assert "🪨 Rock against ✂️ <b>Scissors</b>." in r["text"]
    assert "<b>You won!</b> +28 coins. Balance: 153 coins." in r["text"]  # + 25 for a first win
    assert _one(fresh_db, "SELECT coins FROM unified_users WHERE id = %s", uid) == (153,)
    assert _one(fresh_db, "SELECT games_played, games_won FROM unified_users WHERE id = %s", uid) == (2, 1)


@pytest.mark.parametrize(
    ("command", "says"),
    [
        ("/coinflip bet:5 side:heads", "must be between 10 and 10,000."),  # GAMES_MIN_BET, GAMES_MAX_BET
        ("/coinflip bet:20000 side:heads", "must be between 10 and 10,000."),
        ("/coinflip bet:500 side:heads", "Not enough coins: you have 100, this needs 500."),
        ("/dice bet:0", "must be between 10 and 10,000."),
    ],
)
def test_refused_bets_change_nothing(clients, fresh_db, command, says) -> None:
    discord, _ = clients
    _fund(discord_id=42, coins=100)
    before = _one(fresh_db, "SELECT count(*) FROM ledger")
    reply = _discord(discord, command)["data"]
    assert reply["flags"] == 64 and says in reply["content"]
    assert _one(fresh_db, "SELECT count(*) FROM ledger") == before
    assert _one(fresh_db, "SELECT count(*) FROM games") == (0,)


def test_a_bet_too_soon_after_another_is_refused(app_env, fresh_db, monkeypatch) -> None:
    monkeypatch.setenv("GAMES_COOLDOWN_S", "60")
    discord = create_app("discord_interactions", "main.py").test_client()
    _fund(discord_id=42, coins=100)
    _discord(discord, "/dice bet:10")
    again = _discord(discord, "/dice bet:10")["data"]
    assert again["flags"] == 64 and "Slow down: try again in" in again["content"]
    assert _one(fresh_db, "SELECT count(*) FROM games") == (1,)


def test_telegram_parses_bets_from_text_and_names_the_usage(clients, fresh_db) -> None:
    _, telegram = clients
    _fund(telegram_id=8, coins=100)
    assert "Usage: /coinflip &lt;bet&gt; &lt;heads|tails&gt;" in _telegram(telegram, "/coinflip lots heads", 8)["text"]
    assert "must be one of" in _telegram(telegram, "/coinflip 20 edge", 8)["text"]
    assert "Option 'side' is required" in _telegram(telegram, "/coinflip 20", 8)["text"]
    assert "Balance" in _telegram(telegram, "/coinflip 1,0 HEADS", 8)["text"]  # "1,0" → 10; case-insensitive


def test_sixty_four_concurrent_bets_from_both_platforms_never_go_negative(app_env, fresh_db, monkeypatch) -> None:
    from devtools.server import create_app as local_app
    from devtools.wsgi_server import RunningServer

    monkeypatch.setenv("GAMES_COOLDOWN_S", "0")
    uid = _fund(discord_id=4242, telegram_id=4343, coins=500)
    server = RunningServer(local_app(app_env and __import__("pathlib").Path("/tmp")))
    import httpx

    def bet(i: int) -> str:
        if i % 2:
            body = encode(interaction("/coinflip bet:100 side:heads", user=4242))
            r = httpx.post(f"{server.url}/discord/interactions", content=body, headers=sign(body), timeout=60)
            return str(r.json()["data"]["content"])
        upd = telegram_update("/coinflip 100 tails", user=4343, update_id=random.randrange(1, 2**31))
        r = httpx.post(f"{server.url}/telegram/webhook", content=json.dumps(upd), headers=TG_HEADERS, timeout=60)
        return str(r.json()["text"])

    try:
        with ThreadPoolExecutor(max_workers=64) as pool:
            texts = list(pool.map(bet, range(64)))
    finally:
        server.stop()
    played = sum("Balance" in t for t in texts)
    refused = sum("Not enough coins" in t for t in texts)
    assert played + refused == 64 and played >= 5
    coins, games_played = _one(fresh_db, "SELECT coins, games_played FROM unified_users WHERE id = %s", uid)
    assert coins >= 0 and games_played == played
    assert _one(fresh_db, "SELECT count(*) FROM games WHERE user_id = %s", uid) == (played,)
    assert chaos.consistency_problems(fresh_db) == []


# --- duels -----------------------------------------------------------------------------------------


def _challenge(discord, challenger: int, opponent: int, bet: int = 100) -> dict:
    reply = _discord(discord, f"/duel user:{opponent} bet:{bet}", user=challenger)
    assert reply["type"] == 4 and "challenges" in reply["data"]["embeds"][0]["description"], reply
    return {b["label"]: b["custom_id"] for b in reply["data"]["components"][0]["components"]}


def test_a_duel_accepted_pays_the_winner_from_both_stakes(clients, fresh_db, monkeypatch) -> None:
    discord, _ = clients
    a, b = _fund(discord_id=101, coins=300), _fund(discord_id=102, coins=300)
    buttons = _challenge(discord, 101, 102)
    assert _one(fresh_db, "SELECT sum(coins) FROM unified_users") == (600,)  # nothing held before accepting
    assert "isn't yours" in _press(discord, buttons["Accept"], user=103)["data"]["content"]  # a bystander
    assert "Only the challenged" in _press(discord, buttons["Accept"], user=101)["data"]["content"]
    monkeypatch.setattr(service.secrets, "choice", lambda pair: pair[1])  # the opponent wins
    done = _press(discord, buttons["Accept"], user=102)
    assert done["type"] == 7 and "wins 190 coins" in done["data"]["embeds"][0]["description"]
    assert done["data"]["components"] == []  # the buttons are gone from the message
    assert _one(fresh_db, "SELECT coins FROM unified_users WHERE id = %s", a) == (200,)
    assert _one(fresh_db, "SELECT coins FROM unified_users WHERE id = %s", b) == (415,)  # 5 % rake; + 25: first win
    again = _press(discord, buttons["Accept"], user=102)["data"]
    assert again["flags"] == 64 and "already over" in again["content"]
    assert _one(fresh_db, "SELECT games_played, games_won FROM unified_users WHERE id = %s", b) == (1, 1)
    assert chaos.consistency_problems(fresh_db) == []


def test_double_accept_and_accept_against_expiry_settle_once(clients, fresh_db) -> None:
    discord, _ = clients
    _fund(discord_id=111, coins=1000), _fund(discord_id=112, coins=1000)
    for trial in range(4):
        buttons = _challenge(discord, 111, 112, bet=50)
        duel_id = _one(fresh_db, "SELECT max(id) FROM duels")[0]
        start = threading.Barrier(3)
        results: list[str] = []

        def accept(b=buttons, s=start, results=results) -> None:
            s.wait()
            results.append(json.dumps(_press(discord, b["Accept"], user=112)))

        def expire(d=duel_id, s=start, t=trial) -> None:
            s.wait()
            if t % 2:  # every other trial, the expiry races the accept
                with db.transaction() as conn:
                    conn.execute("UPDATE duels SET expires_at = now() WHERE id = %s", (d,))

        threads = [threading.Thread(target=accept), threading.Thread(target=accept), threading.Thread(target=expire)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        settled = sum("wins" in r for r in results)
        assert settled <= 1 and len(results) == 2
        status = _one(fresh_db, "SELECT status FROM duels WHERE id = %s", duel_id)[0]
        assert (status == "accepted") == (settled == 1)
    accepted = _one(fresh_db, "SELECT count(*) FROM duels WHERE status = 'accepted'")[0]
    first_wins = _one(fresh_db, "SELECT count(*) FROM achievement_unlocks WHERE code = 'first_win'")[0]
    assert _one(fresh_db, "SELECT sum(coins) FROM unified_users") == (2000 - 5 * accepted + 25 * first_wins,)
    assert chaos.consistency_problems(fresh_db) == []


def test_an_unanswered_duel_expires_by_job_and_nothing_is_lost(clients, fresh_db, app_env) -> None:
    discord, _ = clients
    _fund(discord_id=121, coins=100), _fund(discord_id=122, coins=100)
    buttons = _challenge(discord, 121, 122, bet=60)
    with db.transaction() as conn:
        conn.execute("UPDATE duels SET expires_at = now() - interval '1 second'")
        conn.execute("UPDATE jobs SET run_at = now() WHERE kind = 'games.expire_duel'")
    assert run_schedule("run_jobs").get_json()["done"] == 1
    assert _one(fresh_db, "SELECT status FROM duels") == ("expired",)
    assert _one(fresh_db, "SELECT sum(coins) FROM unified_users") == (200,)
    edited = [c for c in app_env.discord.calls if c[0] == "PATCH" and "@original" in c[1]]
    assert edited and "expired" in json.dumps(edited[-1][2])
    late = _press(discord, buttons["Accept"], user=122)["data"]
    assert late["flags"] == 64 and "has expired" in late["content"]


def test_declined_and_withdrawn_duels_move_no_coins(clients, fresh_db) -> None:
    discord, _ = clients
    _fund(discord_id=131, coins=100), _fund(discord_id=132, coins=100)
    declined = _press(discord, _challenge(discord, 131, 132, 10)["Decline"], user=132)
    assert "declined" in declined["data"]["embeds"][0]["description"]
    withdrawn = _press(discord, _challenge(discord, 131, 132, 10)["Decline"], user=131)
    assert "withdrawn" in withdrawn["data"]["embeds"][0]["description"]
    assert _one(fresh_db, "SELECT sum(coins), count(*) FROM unified_users") == (200, 2)
    assert _one(fresh_db, "SELECT count(*) FROM ledger WHERE reason LIKE 'game%%'") == (0,)


def test_duel_refusals(clients, fresh_db) -> None:
    discord, telegram = clients
    _fund(discord_id=141, coins=100)
    assert "cannot duel yourself" in _discord(discord, "/duel user:141 bet:10", user=141)["data"]["content"]
    assert "no TTFD account yet" in _discord(discord, "/duel user:149 bet:10", user=141)["data"]["content"]
    _fund(discord_id=142, coins=5)
    assert "Not enough coins" in _discord(discord, "/duel user:142 bet:500", user=141)["data"]["content"]
    # Telegram: in a group, as a reply to the opponent's message; in a private chat it says where to use it
    assert "Use /duel in a group" in _telegram(telegram, "/duel 10", user=5)["text"]


def test_telegram_duel_is_a_reply_to_the_opponents_message(clients, fresh_db) -> None:
    _, telegram = clients
    _fund(telegram_id=151, coins=100), _fund(telegram_id=152, coins=100)
    update = telegram_update("/duel 30", user=151, chat=-100900, update_id=random.randrange(1, 2**31))
    update["message"]["reply_to_message"] = {
        "message_id": 5,
        "date": 1,
        "chat": update["message"]["chat"],
        "from": {"id": 152, "is_bot": False, "first_name": "Opp"},
        "text": "hi",
    }
    resp = (
        create_app("telegram_webhook", "main.py")
        .test_client()
        .post("/", data=json.dumps(update), headers=TG_HEADERS)
        .get_json()
    )
    assert "challenges" in resp["text"] and "tg://user?id=152" in resp["text"]
    accept = resp["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    assert len(accept.encode()) <= 64
    done = _telegram(telegram, None, user=152, chat=-100900, callback=accept)
    assert done["method"] == "editMessageText" and "wins 57 coins" in done["text"]


def test_recent_games_on_the_profile_and_merges_carry_them(clients, fresh_db) -> None:
    from ttfd.features.profiles import views

    discord, _ = clients
    uid = _fund(discord_id=161, coins=100)
    _discord(discord, "/dice bet:10", user=161)
    with db.transaction() as conn:
        mine = views.profile_json(conn, uid, owner=True, registry=REGISTRY)
        assert [g["game"] for g in mine["games"]["recent"]] == ["dice"]
        other = users.ensure_user(conn, "telegram", 162, "o", "Other")
        link.merge_accounts(conn, other.id, uid, "telegram", REGISTRY.merge_hooks)
        assert len(views.profile_json(conn, other.id, owner=True, registry=REGISTRY)["games"]["recent"]) == 1
    jobs_left = _one(fresh_db, "SELECT count(*) FROM jobs WHERE status = 'dead'")
    assert jobs_left == (0,)


def test_payouts_round_down_and_settings_are_read_from_the_environment(monkeypatch) -> None:
    from ttfd.core import settings

    assert service.payout(50, 1.95) == 97 and service.payout(10, 1.9) == 19 and service.payout(7, 2.0) == 14
    s = settings.load(service.GamesSettings, "GAMES_", {"GAMES_MIN_BET": "5", "GAMES_COINFLIP_PAYOUT": "1.5"})
    assert s.min_bet == 5 and s.coinflip_payout == 1.5
    with pytest.raises(Exception, match="GAMES_MIN_BET must not exceed"):
        settings.load(service.GamesSettings, "GAMES_", {"GAMES_MIN_BET": "500", "GAMES_MAX_BET": "10"})
    assert jobs.PARKED_S > 0


def test_the_bet_comes_first_everywhere_and_declares_the_real_limits() -> None:
    """/rps <bet> <hand> like /coinflip <bet> <side>; Discord's picker gets GAMES_MIN_BET … GAMES_MAX_BET."""
    from ttfd.render.discord import _option

    limits = service.GamesSettings()
    for name in ("coinflip", "dice", "rps"):
        bet = REGISTRY.commands[name].options[0]
        assert bet.name == "bet" and (bet.min_value, bet.max_value) == (limits.min_bet, limits.max_bet)
        assert _option(bet)["min_value"] == 10 and _option(bet)["max_value"] == 10_000
    assert REGISTRY.commands["rps"].usage("telegram") == "/rps <bet> <rock|paper|scissors>"
    assert REGISTRY.commands["coinflip"].usage("telegram") == "/coinflip <bet> <heads|tails>"
    assert [label.in_("ru") for label, _v in REGISTRY.commands["rps"].options[1].choices] == [
        "Камень",
        "Бумага",
        "Ножницы",
    ]
