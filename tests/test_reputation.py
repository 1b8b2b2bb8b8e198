"""Reputation through the real functions: /rep on Discord and as a Telegram reply, the 24-hour pair rule under
concurrency (20 givers at once → 20; one giver twice at once → 1; one person on both platforms → 1), a
redelivered event paying once, merges keeping totals exact, the board and its buttons, the card, /profile and
api_profile, and hostile input."""

from __future__ import annotations

import io
import json
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg
import pytest
from functions_framework import create_app
from PIL import Image

from devtools.simulate import telegram_update
from tests import chaos
from tests.conftest import TG_SECRET, encode, interaction, run_schedule, sign
from ttfd.core import db, users
from ttfd.features import REGISTRY
from ttfd.features.accounts import service as link
from ttfd.features.reputation import service
from ttfd.features.reputation.rep_card import RepCardData, render_rep_card

TG_HEADERS = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
GROUP = -100777


@pytest.fixture
def clients(app_env):
    return (
        create_app("discord_interactions", "main.py").test_client(),
        create_app("telegram_webhook", "main.py").test_client(),
    )


@pytest.fixture
def server(app_env):
    """Every function on a real threaded HTTP server (requests run concurrently, as in production)."""
    from devtools.server import create_app as local_app
    from devtools.wsgi_server import RunningServer

    running = RunningServer(local_app(Path("/tmp")))
    yield running.url
    running.stop()


def _discord(client, command: str, user: int = 42, **kw) -> dict:
    body = encode(interaction(command, user=user, **kw))
    resp = client.post("/", data=body, headers=sign(body))
    assert resp.status_code == 200
    return dict(resp.get_json())


def _said(reply: dict) -> str:
    data = reply["data"]
    parts = [data.get("content") or ""]
    for e in data.get("embeds", []):
        parts += [e.get("title", ""), e.get("description", ""), (e.get("footer") or {}).get("text", "")]
        parts += [f"{f['name']}: {f['value']}" for f in e.get("fields", [])]
    return "\n".join(parts)


def _reply_to(user: int, *, bot: bool = False, name: str = "Friend") -> dict:
    return {
        "message_id": random.randint(1, 10**6),
        "date": 1,
        "chat": {"id": GROUP, "type": "supergroup", "title": "G"},
        "from": {"id": user, "is_bot": bot, "first_name": name},
        "text": "hi",
    }


def _tg_update(text: str | None, user: int, *, reply_to: int | None = None, update_id: int | None = None, **kw):
    kw.setdefault("chat", GROUP)
    return telegram_update(
        text,
        user=user,
        update_id=update_id if update_id is not None else random.randrange(1, 2**31),
        reply_to=_reply_to(reply_to) if reply_to is not None else None,
        **kw,
    )


def _telegram(client, text: str | None, user: int, **kw) -> dict:
    resp = client.post("/", data=json.dumps(_tg_update(text, user, **kw)), headers=TG_HEADERS)
    assert resp.status_code == 200
    return dict(resp.get_json())


def _q(url: str, query: str, *args):
    with psycopg.connect(url) as c:
        return c.execute(query, args).fetchall()


def _rep_of(url: str, platform: str, ext: int) -> int:
    col = {"discord": "discord_id", "telegram": "telegram_id"}[platform]
    rows = _q(url, f"SELECT rep FROM unified_users WHERE {col} = %s", ext)  # noqa: S608 (a fixed column name)
    return int(rows[0][0]) if rows else 0


def _account(platform: str, ext: int, name: str = "Player") -> int:
    with db.transaction() as conn:
        return users.ensure_user(conn, platform, ext, name.lower(), name).id  # type: ignore[arg-type]


# --- giving ---------------------------------------------------------------------------------------------


def test_rep_on_discord_gives_one_and_says_so_with_the_reason(clients, fresh_db) -> None:
    discord, _ = clients
    said = _said(_discord(discord, '/rep user:43 "reason:thanks for the help"', user=42))
    assert "+1 reputation" in said and "They now have 1 reputation point (#1)" in said
    assert "thanks for the help" in said
    assert _rep_of(fresh_db, "discord", 43) == 1
    rows = _q(fresh_db, "SELECT reason, platform, place_id, source_key LIKE 'discord:%%' FROM reputation")
    assert rows == [("thanks for the help", "discord", 1, True)]
    # the receiver sees it in their history, with the reason
    mine = _said(_discord(discord, "/rep", user=43))
    assert "Your reputation: 1 reputation point (#1)" in mine and "thanks for the help" in mine
    assert chaos.consistency_problems(fresh_db) == []


def test_the_same_pair_within_24_hours_is_refused_with_the_time_left(clients, fresh_db) -> None:
    discord, _ = clients
    _discord(discord, "/rep user:43", user=42)
    again = _discord(discord, "/rep user:43", user=42)["data"]
    assert again["flags"] == 64 and "You already gave" in again["content"] and "You can again <t:" in again["content"]
    assert _rep_of(fresh_db, "discord", 43) == 1
    # a day later the pair may give again
    with psycopg.connect(fresh_db) as c:
        c.execute("UPDATE reputation SET created_at = created_at - interval '24 hours 1 second'")
    assert "They now have 2 reputation points" in _said(_discord(discord, "/rep user:43", user=42))
    assert _rep_of(fresh_db, "discord", 43) == 2


@pytest.mark.parametrize(
    ("command", "says"),
    [
        ("/rep user:42", "You can't give reputation to yourself."),
        ("/rep reason:thanks", "Pick a user to give +1 reputation to."),
    ],
)
def test_refusals_on_discord_change_nothing(clients, fresh_db, command, says) -> None:
    discord, _ = clients
    reply = _discord(discord, command, user=42)["data"]
    assert reply["flags"] == 64 and says in reply["content"]
    assert _q(fresh_db, "SELECT count(*) FROM reputation") == [(0,)]


def test_a_bot_is_refused(clients, fresh_db) -> None:
    discord, _ = clients
    payload = interaction("/rep user:555", user=42)
    payload["data"]["resolved"]["users"]["555"]["bot"] = True
    body = encode(payload)
    reply = discord.post("/", data=body, headers=sign(body)).get_json()["data"]
    assert "Bots don't collect reputation." in reply["content"]
    assert _q(fresh_db, "SELECT count(*) FROM reputation") == [(0,)]


def test_telegram_rep_is_a_reply_and_without_one_shows_history(clients, fresh_db) -> None:
    _, telegram = clients
    given = _telegram(telegram, "/rep спасибо за помощь", user=701, reply_to=702)
    assert "+1 reputation" in given["text"] and "спасибо за помощь" in given["text"]
    assert _rep_of(fresh_db, "telegram", 702) == 1
    history = _telegram(telegram, "/rep", user=702)
    assert "Your reputation: 1 reputation point (#1)" in history["text"] and "спасибо за помощь" in history["text"]
    # refusals: a reason with nobody replied to, yourself, a bot
    assert "Reply to someone's message with /rep" in _telegram(telegram, "/rep thanks", user=701)["text"]
    assert "yourself" in _telegram(telegram, "/rep", user=701, reply_to=701)["text"]
    bot = _tg_update("/rep", 701)
    bot["message"]["reply_to_message"] = _reply_to(9999, bot=True, name="SomeBot")
    said = telegram.post("/", data=json.dumps(bot), headers=TG_HEADERS).get_json()["text"]
    assert "Bots don't collect reputation." in said
    assert _q(fresh_db, "SELECT count(*) FROM reputation") == [(1,)]


def test_telegram_in_russian(clients, fresh_db) -> None:
    _, telegram = clients
    given = _telegram(telegram, "/rep", user=711, reply_to=712, language="ru")
    assert "+1 к репутации" in given["text"], given["text"]
    again = _telegram(telegram, "/rep", user=711, reply_to=712, language="ru")
    assert "уже засчитан" in again["text"], again["text"]


def test_a_redelivered_update_pays_once(clients, fresh_db) -> None:
    _, telegram = clients
    update = _tg_update("/rep", 721, reply_to=722, update_id=4242)
    first = telegram.post("/", data=json.dumps(update), headers=TG_HEADERS).get_json()
    second = telegram.post("/", data=json.dumps(update), headers=TG_HEADERS).get_json()
    assert first == second and "+1 reputation" in first["text"]
    assert _rep_of(fresh_db, "telegram", 722) == 1
    # and below the claim: the same event key gives nothing twice (a job retry, an expired claim)
    giver, receiver = _account("telegram", 721), _account("telegram", 722)
    with db.transaction() as conn:
        key = _q(fresh_db, "SELECT source_key FROM reputation")[0][0]
        again = service.give(
            conn, giver, receiver, reason=None, platform="telegram", place_id=GROUP, key=key, now=_now()
        )
    assert again.status == "duplicate" and again.total == 1
    assert _rep_of(fresh_db, "telegram", 722) == 1


def _now():
    from ttfd.core.ledger import utc_now

    return utc_now()


# --- the Done-when numbers, with real threads on a real HTTP server ---------------------------------------


def _post_discord(url: str, command: str, user: int) -> str:
    body = encode(interaction(command, user=user))
    r = httpx.post(f"{url}/discord/interactions", content=body, headers=sign(body), timeout=60)
    assert r.status_code == 200, r.text
    return _said(r.json())


def test_twenty_people_at_once_give_twenty(server, fresh_db) -> None:
    start = threading.Barrier(20)

    def give(i: int) -> str:
        start.wait()
        return _post_discord(server, "/rep user:5000", 5100 + i)

    with ThreadPoolExecutor(max_workers=20) as pool:
        said = list(pool.map(give, range(20)))
    assert sum("+1 reputation" in s for s in said) == 20, said
    assert _rep_of(fresh_db, "discord", 5000) == 20
    assert _q(fresh_db, "SELECT count(*) FROM reputation") == [(20,)]
    assert chaos.consistency_problems(fresh_db) == []


def test_the_same_giver_twice_at_once_gives_one(server, fresh_db) -> None:
    for trial in range(3):
        start = threading.Barrier(2)
        receiver = 5200 + trial

        def give(_i: int, r=receiver, s=start) -> str:
            s.wait()
            return _post_discord(server, f"/rep user:{r}", 5300)

        with ThreadPoolExecutor(max_workers=2) as pool:
            said = list(pool.map(give, range(2)))
        assert sum("+1 reputation" in s for s in said) == 1, said
        assert sum("You already gave" in s for s in said) == 1, said
        assert _rep_of(fresh_db, "discord", receiver) == 1


def test_a_linked_giver_on_telegram_and_discord_at_once_gives_one(server, fresh_db) -> None:
    with db.transaction() as conn:
        giver = users.ensure_user(conn, "discord", 5400, "giver", "Giver")
        link.link_identity(conn, giver.id, "telegram", 5401, REGISTRY.merge_hooks)
        receiver = users.ensure_user(conn, "discord", 5402, "receiver", "Receiver")
        link.link_identity(conn, receiver.id, "telegram", 5403, REGISTRY.merge_hooks)
    start = threading.Barrier(2)

    def give(i: int) -> str:
        start.wait()
        if i == 0:
            return _post_discord(server, "/rep user:5402", 5400)
        upd = _tg_update("/rep", 5401, reply_to=5403)
        r = httpx.post(f"{server}/telegram/webhook", content=json.dumps(upd), headers=TG_HEADERS, timeout=60)
        return str(r.json()["text"])

    with ThreadPoolExecutor(max_workers=2) as pool:
        said = list(pool.map(give, range(2)))
    assert sum("+1 reputation" in s for s in said) == 1, said
    assert _q(fresh_db, "SELECT rep FROM unified_users WHERE id = %s", receiver.id) == [(1,)]
    assert chaos.consistency_problems(fresh_db) == []


# --- merges ------------------------------------------------------------------------------------------


def test_merging_keeps_totals_exact_and_drops_self_reputation(clients, fresh_db) -> None:
    discord, telegram = clients
    # 801 (Discord) and 901 (Telegram) are one person who has not linked yet; 802 and 803 are others.
    _discord(discord, "/rep user:801", user=802)
    _discord(discord, "/rep user:801", user=803)
    _telegram(telegram, "/rep", user=901, reply_to=902)  # the Telegram side gives 902 …
    _telegram(telegram, "/rep", user=902, reply_to=901)  # … and receives from 902
    _telegram(telegram, "/rep", user=901, reply_to=903)
    _discord(discord, "/rep user:801", user=804)
    keep, gone = _account("discord", 801), _account("telegram", 901)
    with db.transaction() as conn:  # the Discord side gave the Telegram side, and back: self-reputation once merged
        service.give(conn, keep, gone, reason="me", platform="discord", place_id=1, key="t:1", now=_now())
        service.give(conn, gone, keep, reason="me", platform="telegram", place_id=1, key="t:2", now=_now())
    assert _q(fresh_db, "SELECT rep FROM unified_users WHERE id IN (%s, %s) ORDER BY id", keep, gone) == [(4,), (2,)]
    with db.transaction() as conn:
        link.merge_accounts(conn, keep, gone, "discord", REGISTRY.merge_hooks)
    assert _q(fresh_db, "SELECT rep FROM unified_users WHERE id = %s", keep) == [(4,)]  # 802, 803, 804, 902
    assert _q(fresh_db, "SELECT rep FROM unified_users WHERE id = %s", gone) == [(0,)]
    assert _q(fresh_db, "SELECT count(*) FROM reputation WHERE giver = receiver OR %s IN (giver, receiver)", gone) == [
        (0,)
    ]
    assert _q(fresh_db, "SELECT count(*) FROM reputation WHERE giver = %s", keep) == [(2,)]  # to 902 and 903
    # the merged person is one giver now: the Discord side cannot give 902 again today
    refused = _discord(discord, "/rep user:999", user=801)  # someone new: fine
    assert "+1 reputation" in _said(refused)
    assert "You already gave" in _telegram(telegram, "/rep", user=901, reply_to=902)["text"]
    # and cannot give itself through the other identity
    assert "yourself" in _telegram(telegram, "/rep", user=901, reply_to=901)["text"]
    assert chaos.consistency_problems(fresh_db) == []


def test_giving_to_a_merged_away_id_lands_on_the_live_account(fresh_db, app_env) -> None:
    a, b, c = _account("discord", 811), _account("discord", 812), _account("telegram", 813)
    with db.transaction() as conn:
        link.merge_accounts(conn, b, c, "discord", REGISTRY.merge_hooks)
    with db.transaction() as conn:
        got = service.give(conn, a, c, reason=None, platform="discord", place_id=None, key="t:3", now=_now())
        assert got.status == "given" and got.receiver_id == b
        assert service.give(
            conn, c, b, reason=None, platform="discord", place_id=None, key="t:4", now=_now()
        ).status == ("self")
    assert _q(fresh_db, "SELECT rep FROM unified_users WHERE id = %s", b) == [(1,)]


# --- the board ---------------------------------------------------------------------------------------


def _seed_board(url: str, n: int) -> list[int]:
    """n accounts with reputation n, n-1, … 1 (the fourth hides its stats), given through rep_give."""
    ids = [_account("discord", 6000 + i, f"P{i}") for i in range(n)]
    givers = [_account("discord", 7000 + i, f"G{i}") for i in range(n)]
    with db.transaction() as conn:
        for i, receiver in enumerate(ids):
            for g in givers[: n - i]:
                service.give(
                    conn,
                    g,
                    receiver,
                    reason=None,
                    platform="discord",
                    place_id=1,
                    key=f"seed:{g}:{receiver}",
                    now=_now(),
                )
        conn.execute("UPDATE unified_users SET show_stats = false WHERE id = %s", (ids[3],))
    return ids


def test_the_board_pages_with_buttons_and_shows_your_position(clients, fresh_db) -> None:
    discord, _ = clients
    _seed_board(fresh_db, 12)
    first = _discord(discord, "/repboard", user=6005)
    said = _said(first)
    assert "🥇 **P0** — 12 reputation points" in said and "Hidden player" in said and "P3" not in said
    assert "Page 1/2 · You: #6 with 7 reputation points" in said
    buttons = {b["label"]: b["custom_id"] for b in first["data"]["components"][0]["components"]}
    from tests.test_games import _press

    nxt = _press(discord, buttons["Next ▶"], user=6005)
    assert nxt["type"] == 7 and "`#11` **P10** — 2 reputation points" in _said(nxt)
    other = _press(discord, buttons["Next ▶"], user=6001)  # someone else's board: a private copy
    assert other["type"] == 4 and other["data"]["flags"] == 64
    # the board's own viewer sees themself when hidden; a huge page is the last one
    assert "Page 2/2" in _said(_discord(discord, "/repboard page:100000", user=6003))
    assert "must be between 1 and 100,000" in _said(_discord(discord, "/repboard page:100001", user=6003))
    # forged buttons: a bad signature, a page past the end with a valid one
    forged = buttons["Next ▶"][:-4] + "AAAA"
    assert _press(discord, forged, user=6005)["data"]["flags"] == 64
    from ttfd.features.reputation import RepBoardPage

    far = RepBoardPage(10**9, _account("discord", 6005)).pack()
    assert "Page 2/2" in _said(_press(discord, far, user=6005))


def test_positions_come_from_the_histogram(conn) -> None:
    """lb_rank('rep') agrees with a count over everyone, ties sharing a place."""
    ids = []
    for i, value in enumerate([5, 3, 3, 1, 9, 0, 2]):
        row = conn.execute(
            "INSERT INTO unified_users (discord_id, username) VALUES (%s, %s) RETURNING id", (8000 + i, f"u{i}")
        ).fetchone()
        conn.execute("UPDATE unified_users SET rep = %s WHERE id = %s", (value, row["id"]))
        ids.append((row["id"], value))
    for uid, value in ids:
        if value == 0:
            continue
        got = conn.execute("SELECT lb_rank('rep', '1970-01-01', %s) AS p", (value,)).fetchone()["p"]
        want = 1 + sum(v > value for _u, v in ids)
        assert got == want, (uid, value)
    page = service.board_page(conn, 0, ids[1][0])
    assert [e.value for e in page.entries] == [9, 5, 3, 3, 2, 1] and page.mine == (3, 3)


# --- profile, card ------------------------------------------------------------------------------------


def test_profile_and_api_profile_show_the_count(clients, fresh_db) -> None:
    from ttfd.features.profiles import views

    discord, _ = clients
    for giver in (821, 822, 823):
        _discord(discord, "/rep user:820", user=giver)
    assert "Reputation: 3 reputation points (#1)" in _said(_discord(discord, "/profile", user=820))
    uid = _account("discord", 820)
    site = create_app("api_profile", "main.py").test_client()
    body = site.get(f"/api/profile/{uid}").get_json()
    assert body["rep"] == 3
    with db.transaction() as conn:
        conn.execute("UPDATE unified_users SET show_stats = false WHERE id = %s", (uid,))
        assert views.profile_json(conn, uid, owner=False, registry=REGISTRY)["rep"] is None
        assert views.profile_json(conn, uid, owner=True, registry=REGISTRY)["rep"] == 3


def test_the_rep_card_is_a_png_with_a_cyrillic_name(clients, fresh_db, app_env) -> None:
    discord, _ = clients
    with db.transaction() as conn:
        users.ensure_user(conn, "discord", 831, "dmitry", "Дмитрий")
    _discord(discord, '/rep user:831 "reason:спасибо, друг"', user=832)
    deferred = _discord(discord, "/repcard user:831", user=832)
    assert deferred["type"] == 5
    assert run_schedule("run_jobs").get_json()["done"] >= 1
    uploads = [c for c in app_env.discord.calls if c[0] == "PATCH" and "@original" in c[1]]
    assert uploads, app_env.discord.calls
    data = RepCardData(
        "Дмитрий Ёжиков",
        "#5865f2",
        "dark",
        False,
        rep=12,
        position=3,
        given=4,
        latest_reason="спасибо, друг",
        latest_from="Алёна",
        locale="ru",
    )
    png = render_rep_card(data)
    img = Image.open(io.BytesIO(png))
    assert img.format == "PNG" and img.size == (934, 282)
    # the name is drawn: the card differs from one with another name, and Cyrillic is not the missing box
    other = render_rep_card(RepCardData("Игорь", "#5865f2", "dark", False, rep=12, locale="ru"))
    assert other != png
    hidden = Image.open(io.BytesIO(render_rep_card(RepCardData("Дмитрий", "#5865f2", "light", True))))
    assert hidden.size == (934, 282)


# --- hostile input ------------------------------------------------------------------------------------


def test_hostile_reasons_are_refused_and_change_nothing(clients, fresh_db) -> None:
    discord, telegram = clients
    long = "x" * 10_000
    payload = interaction("/rep user:43 reason:ab", user=42)
    payload["data"]["options"][1]["value"] = "a\x00b"
    body = encode(payload)
    nul = discord.post("/", data=body, headers=sign(body)).get_json()["data"]
    assert nul["flags"] == 64 and "NUL" in nul["content"]
    too_long = _discord(discord, f"/rep user:43 reason:{long}", user=42)["data"]
    assert "longer than 200 characters" in too_long["content"]
    tg = _telegram(telegram, "/rep " + "слово " * 2000, user=841, reply_to=842)
    assert "longer than 200 characters" in tg["text"]
    assert _q(fresh_db, "SELECT count(*) FROM reputation") == [(0,)]
    # exactly 200 is fine
    ok = _said(_discord(discord, f"/rep user:43 reason:{'я' * 200}", user=42))
    assert "+1 reputation" in ok
    assert _q(fresh_db, "SELECT length(reason) FROM reputation") == [(200,)]


def test_telegram_board_pages_and_refuses_forged_callbacks(clients, fresh_db) -> None:
    _, telegram = clients
    _seed_board(fresh_db, 12)
    with db.transaction() as conn:  # a Telegram player on the board
        users.ensure_user(conn, "telegram", 851, "tg", "Tg")
    board = _telegram(telegram, "/repboard", user=851, chat=None)
    assert "🥇 <b>P0</b> — 12 reputation points" in board["text"] and "Page 1/2" in board["text"]
    nxt = next(b for row in board["reply_markup"]["inline_keyboard"] for b in row if b["text"] == "Next ▶")
    assert len(nxt["callback_data"].encode()) <= 64
    paged = _telegram(telegram, None, user=851, chat=None, callback=nxt["callback_data"])
    assert paged["method"] == "editMessageText" and "Page 2/2" in paged["text"]
    forged = nxt["callback_data"][:-3] + "xyz"
    said = json.dumps(_telegram(telegram, None, user=851, chat=None, callback=forged))
    assert "Page" not in said
    huge = _telegram(telegram, "/repboard 99999999999999999999999", user=851, chat=None)
    assert "Usage: /repboard" in huge["text"]


def test_a_message_in_a_forum_topic_answers_nobody(clients, fresh_db) -> None:
    """In a forum topic an unanswered message carries the topic's opening as its reply: /rep there is the
    history, not +1 to whoever opened the topic."""
    _, telegram = clients
    update = _tg_update("/rep", 861)
    opening = _reply_to(862)
    opening["forum_topic_created"] = {"name": "Help", "icon_color": 7322096}
    update["message"]["reply_to_message"] = opening
    update["message"]["is_topic_message"] = True
    update["message"]["message_thread_id"] = opening["message_id"]
    said = telegram.post("/", data=json.dumps(update), headers=TG_HEADERS).get_json()["text"]
    assert "Your reputation" in said
    assert _q(fresh_db, "SELECT count(*) FROM reputation") == [(0,)]
