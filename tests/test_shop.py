"""The shop through the real functions: browsing and buying on Discord, Telegram and the site, refusals that
change nothing, 50 concurrent buyers of 10, role items granted and refunded on the fake Discord, consumables
against an injected clock, the operators' CLI, merges."""

from __future__ import annotations

import json
import random
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg
import pytest
from functions_framework import create_app

from devtools.fake_discord_guilds import add_guild
from devtools.simulate import discord_payload, telegram_update
from tests import chaos
from tests.conftest import APP_ID, TG_SECRET, encode, interaction, run_schedule, sign
from tests.site_helpers import SESSION_SECRET, configure_site
from ttfd.core import db, ledger, users
from ttfd.features import REGISTRY
from ttfd.features.accounts import service as link
from ttfd.features.daily import DailySettings, claim_daily
from ttfd.features.shop import service
from ttfd.web import session_signer, sessions

TG_HEADERS = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
MANAGE_GUILD, MANAGE_ROLES = 1 << 5, 1 << 28


@pytest.fixture
def clients(app_env):
    return (
        create_app("discord_interactions", "main.py").test_client(),
        create_app("telegram_webhook", "main.py").test_client(),
    )


def _discord(client, command: str, user: int = 42, **kw: Any) -> dict:
    body = encode(interaction(command, user=user, **kw))
    resp = client.post("/", data=body, headers=sign(body))
    assert resp.status_code == 200
    return dict(resp.get_json())


def _component(client, custom_id: str, user: int, values: list[str] | None = None, guild: int = 1) -> dict:
    data: dict[str, Any] = {"custom_id": custom_id, "component_type": 3 if values else 2}
    if values:
        data["values"] = values
    payload = discord_payload(
        app_id=APP_ID, user=user, guild=guild, data=data, interaction_type=3, message={"id": "1", "content": ""}
    )
    body = encode(payload)
    return dict(client.post("/", data=body, headers=sign(body)).get_json())


def _select(data: dict) -> dict:
    return next(c for row in data["components"] for c in row["components"] if c["type"] == 3)


def _button(data: dict, label: str) -> dict:
    return next(c for row in data["components"] for c in row["components"] if c.get("label") == label)


def _telegram(client, text: str, user: int, **kw: Any) -> dict:
    update = telegram_update(text, user=user, update_id=random.randrange(1, 2**31), **kw)
    resp = client.post("/", data=json.dumps(update), headers=TG_HEADERS)
    assert resp.status_code == 200
    return dict(resp.get_json())


def _one(url: str, query: str, *args: Any) -> Any:
    with psycopg.connect(url) as c:
        return c.execute(query, args).fetchone()


def _fund(discord_id: int | None = None, telegram_id: int | None = None, coins: int = 1000) -> int:
    with db.transaction() as conn:
        platform = "discord" if discord_id else "telegram"
        u = users.ensure_user(conn, platform, discord_id or telegram_id, f"p{discord_id or telegram_id}", "Player")
        if discord_id and telegram_id:
            link.link_identity(conn, u.id, "telegram", telegram_id, REGISTRY.merge_hooks)
        ledger.grant(conn, u.id, "coins", coins, reason="t", platform="discord", source_key=f"fund:{u.id}")
        return u.id


def _item(**kw: Any) -> service.Item:
    with db.transaction() as conn:
        return service.create(conn, **{"name": "Top hat", "price": 100, **kw})


def _books(url: str) -> tuple:
    """Everything a refusal must leave alone."""
    return _one(
        url,
        """SELECT (SELECT count(*) FROM ledger), (SELECT coalesce(sum(coins), 0) FROM unified_users),
                  (SELECT count(*) FROM purchases), (SELECT coalesce(sum(quantity), 0) FROM inventory),
                  (SELECT coalesce(sum(stock), 0) FROM shop_items), (SELECT count(*) FROM jobs)""",
    )


# --- browsing and buying on Discord --------------------------------------------------------------------


def test_shop_pages_item_card_buy_and_confirm_once(clients, fresh_db) -> None:
    discord, _ = clients
    uid = _fund(discord_id=42, coins=250)
    for n in range(7):
        _item(name=f"Badge {n}", price=10 * (n + 1), stock=5 if n == 0 else None, sort_order=n)
    page = _discord(discord, "/shop")["data"]
    embed = page["embeds"][0]
    assert (
        page["flags"] == 64
        and embed["title"] == "🛒 Shop"
        and "Page 1/2 · Your balance: 250 coins" in embed["footer"]["text"]
    )
    assert "**Badge 0** — 10 coins · 5 left" in embed["description"] and "Badge 5" not in embed["description"]
    menu = _select(page)
    assert [o["label"] for o in menu["options"]] == [f"Badge {n}" for n in range(5)]
    nxt = _button(page, "Next ▶")
    second = _component(discord, nxt["custom_id"], 42)
    assert second["type"] == 7 and "Badge 6" in second["data"]["embeds"][0]["description"]

    card = _component(discord, menu["custom_id"], 42, values=[menu["options"][0]["value"]])
    assert card["type"] == 7 and card["data"]["embeds"][0]["title"] == "🎖️ Badge 0"
    buy = _button(card["data"], "Buy")
    ask = _component(discord, buy["custom_id"], 42)
    assert (
        "Buy Badge 0?" in ask["data"]["embeds"][0]["title"] and "→ 240 after" in ask["data"]["embeds"][0]["description"]
    )
    confirm = _button(ask["data"], "Confirm")["custom_id"]

    stranger = _component(discord, confirm, 43)["data"]
    assert stranger["flags"] == 64 and "someone else's" in stranger["content"]
    done = [_component(discord, confirm, 42) for _ in range(2)]  # a double click buys once
    assert "You bought **Badge 0** for 10 coins. Balance: 265 coins." in done[0]["data"]["content"]
    assert "Achievement unlocked: **🛍️ Shopper** — +25 coins" in done[0]["data"]["content"]  # a first purchase
    assert "Already done" in done[1]["data"]["content"]
    assert _one(fresh_db, "SELECT coins FROM unified_users WHERE id = %s", uid) == (265,)
    assert _one(fresh_db, "SELECT count(*), sum(quantity) FROM purchases") == (1, 1)
    assert _one(fresh_db, "SELECT stock FROM shop_items WHERE name = 'Badge 0'") == (4,)
    assert chaos.consistency_problems(fresh_db) == []


def test_buy_by_name_with_quantity_and_autocomplete(clients, fresh_db) -> None:
    discord, telegram = clients
    uid = _fund(discord_id=42, telegram_id=7, coins=1000)
    items = [_item(name="Streak freeze", price=50, kind="streak_freeze"), _item(name="Streak shield", price=80)]
    # Autocomplete: Discord's type 4, answered with type 8 and at most 25 choices; nothing is created.
    payload = discord_payload(
        app_id=APP_ID,
        user=99,
        guild=1,
        interaction_type=4,
        data={"name": "buy", "type": 1, "options": [{"name": "item", "type": 3, "value": "strea", "focused": True}]},
    )
    body = encode(payload)
    hints = discord.post("/", data=body, headers=sign(body)).get_json()
    choices = hints["data"]["choices"]
    assert hints["type"] == 8 and [c["name"].split(" — ")[0] for c in choices] == ["Streak freeze", "Streak shield"]
    assert [c["value"] for c in choices] == [f"#{i.id}@{i.price}" for i in items]  # what was picked, at its price
    assert _one(fresh_db, "SELECT count(*) FROM unified_users WHERE discord_id = 99") == (0,)

    reply = _discord(discord, '/buy "item:streak freeze" quantity:3')["data"]["content"]
    assert "You bought **3 × Streak freeze** for 150 coins. Balance: 875 coins. You own 3." in reply
    ambiguous = _discord(discord, "/buy item:streak")["data"]["content"]
    assert "Which one? Streak freeze, Streak shield." in ambiguous
    tg = _telegram(telegram, "/buy Streak shield", user=7)["text"]  # several words, no quotes
    assert "You bought <b>Streak shield</b> for 80 coins. Balance: 795 coins." in tg
    tg = _telegram(telegram, "/buy Streak freeze 2", user=7)["text"]
    assert "2 × Streak freeze" in tg and "You own 5" in tg
    inv = _telegram(telegram, "/inventory", user=7)["text"]
    assert "Streak freeze</b> × 5" in inv and "Streak shield</b> × 1" in inv
    assert _one(fresh_db, "SELECT coins FROM unified_users WHERE id = %s", uid) == (695,)
    assert chaos.consistency_problems(fresh_db) == []


def _keys(reply: dict) -> dict[str, str]:
    return {b["text"]: b["callback_data"] for row in reply["reply_markup"]["inline_keyboard"] for b in row}


def _tap(client, data: str, user: int) -> dict:
    update = telegram_update(None, user=user, callback=data, update_id=random.randrange(1, 2**31))
    return dict(client.post("/", data=json.dumps(update), headers=TG_HEADERS).get_json())


def test_telegram_shop_is_an_inline_keyboard_down_to_a_confirmed_purchase(clients, app_env, fresh_db) -> None:
    _, telegram = clients
    uid = _fund(telegram_id=7, coins=100)
    _item(name="Top hat", price=60)
    shop = _telegram(telegram, "/shop", user=7)
    assert "🛒 Shop" in shop["text"] and "Your balance: 100 coins" in shop["text"]
    card = _tap(telegram, _keys(shop)["Top hat"], 7)
    assert card["method"] == "editMessageText" and "Top hat" in card["text"] and "Price" in card["text"]
    ask = _tap(telegram, _keys(card)["Buy"], 7)
    assert "Buy Top hat?" in ask["text"] and "→ 40 after" in ask["text"]
    confirm = _keys(ask)["Confirm"]
    assert _tap(telegram, confirm, 8) == {}  # a stranger's tap: refused in the tap's alert
    assert "someone else's" in json.dumps(app_env.telegram.calls_of("answerCallbackQuery")[-1], ensure_ascii=False)
    done = [_tap(telegram, confirm, 7) for _ in range(2)]
    assert "You bought <b>Top hat</b>" in done[0]["text"] and "Already done" in done[1]["text"]
    assert _one(fresh_db, "SELECT coins FROM unified_users WHERE id = %s", uid) == (65,)  # 100 − 60 + 25
    assert _one(fresh_db, "SELECT count(*) FROM purchases") == (1,)


@pytest.mark.parametrize(
    ("setup", "command", "says"),
    [
        ({"stock": 0}, '/buy "item:Top hat"', "Top hat is sold out."),
        ({"stock": 2}, '/buy "item:Top hat" quantity:3', "Only 2 Top hat left."),
        ({"per_user_limit": 1, "owned": 1}, '/buy "item:Top hat"', "limited to 1 per person; you have 1"),
        (
            {"price": 5000},
            '/buy "item:Top hat"',
            "Not enough coins: you have 500, this needs 5,000. Claim /daily for more.",
        ),
        ({"active": False}, '/buy "item:Top hat"', "Nothing called Top hat is for sale here."),
        ({"guild_id": 2}, '/buy "item:Top hat"', "Nothing called Top hat is for sale here."),
        ({}, '/buy "item:Top hat" quantity:101', "Option 'quantity' must be between 1 and 100"),
        ({}, "/buy item:Crown", "Nothing called Crown is for sale here."),
        ({}, '/use "item:Top hat"', "Top hat is not something you use."),
    ],
)
def test_every_refusal_says_why_and_changes_nothing(clients, fresh_db, setup, command, says) -> None:
    discord, _ = clients
    uid = _fund(discord_id=42, coins=500)
    owned = setup.pop("owned", 0)
    active = setup.pop("active", True)
    item = _item(**setup)
    for n in range(owned):
        with db.transaction() as conn:
            service.buy(conn, uid, item, 1, guild_id=1, platform="discord", key=f"k{n}", now=ledger.utc_now())
    if not active:
        with db.transaction() as conn:
            service.update(conn, item, {"active": False})
    before = _books(fresh_db)
    reply = _discord(discord, command)["data"]
    assert reply["flags"] == 64 and says in reply["content"], reply["content"]
    assert _books(fresh_db) == before


def test_an_inactive_item_bought_by_its_button_is_refused(clients, fresh_db) -> None:
    discord, _ = clients
    _fund(discord_id=42, coins=500)
    item = _item()
    menu = _select(_discord(discord, "/shop")["data"])
    card = _component(discord, menu["custom_id"], 42, values=[menu["options"][0]["value"]])
    ask = _component(discord, _button(card["data"], "Buy")["custom_id"], 42)
    confirm = _button(ask["data"], "Confirm")["custom_id"]
    with db.transaction() as conn:
        service.update(conn, item, {"active": False})
    before = _books(fresh_db)
    assert "Top hat is no longer for sale." in _component(discord, confirm, 42)["data"]["content"]
    assert _books(fresh_db) == before


# --- 50 buyers, 10 in stock ---------------------------------------------------------------------------


def _site_cookie(user_id: int) -> dict[str, str]:
    with db.transaction() as conn:
        created = sessions.create(conn, user_id, sessions.Policy(3600, 3600, 3600), "test")
    signed = session_signer(SESSION_SECRET).sign(created.token).decode()
    return {"ttfd_session": signed, "csrf_token": created.session.csrf_token}


def test_fifty_concurrent_buyers_on_three_platforms_get_exactly_the_stock(app_env, fresh_db, monkeypatch) -> None:
    from devtools.server import create_app as local_app
    from devtools.wsgi_server import RunningServer

    configure_site(monkeypatch, app_env)
    item = _item(name="Golden ticket", price=300, stock=10)
    buyers: list[tuple[str, int, dict[str, str]]] = []
    for n in range(50):
        platform = ("discord", "telegram", "website")[n % 3]
        if platform == "discord":
            buyers.append((platform, _fund(discord_id=9000 + n, coins=500), {}))
        elif platform == "telegram":
            buyers.append((platform, _fund(telegram_id=9000 + n, coins=500), {}))
        else:
            uid = _fund(discord_id=19000 + n, coins=500)
            buyers.append((platform, uid, _site_cookie(uid)))
    server = RunningServer(local_app(__import__("pathlib").Path("/tmp")))
    start = threading.Barrier(50)

    def buy(n: int) -> str:
        platform, _, cookies = buyers[n]
        start.wait()
        if platform == "discord":
            body = encode(interaction('/buy "item:Golden ticket"', user=9000 + n))
            r = httpx.post(f"{server.url}/discord/interactions", content=body, headers=sign(body), timeout=60)
            return str(r.json()["data"]["content"])
        if platform == "telegram":
            upd = telegram_update("/buy Golden ticket", user=9000 + n, update_id=random.randrange(1, 2**31))
            r = httpx.post(f"{server.url}/telegram/webhook", content=json.dumps(upd), headers=TG_HEADERS, timeout=60)
            return str(r.json()["text"])
        headers = {
            "X-CSRF-Token": cookies["csrf_token"],
            "Idempotency-Key": f"buy-{n:08d}",
            "Origin": "http://localhost",
        }
        r = httpx.post(
            f"{server.url}/api/shop/buy",
            json={"item_id": item.id, "price": 300},
            headers=headers,
            cookies=cookies,
            timeout=60,
        )
        return "You bought" if r.status_code == 200 else str(r.json()["title"])

    try:
        threads_out: list[str] = [""] * 50

        def run(n: int) -> None:
            threads_out[n] = buy(n)

        threads = [threading.Thread(target=run, args=(n,)) for n in range(50)]
        [t.start() for t in threads]
        [t.join() for t in threads]
    finally:
        server.stop()
    bought = [t for t in threads_out if "You bought" in t]
    refused = [t for t in threads_out if "sold out" in t]
    assert len(bought) == 10 and len(refused) == 40, threads_out
    assert _one(fresh_db, "SELECT count(*), sum(total) FROM purchases") == (10, 3000)
    assert _one(fresh_db, "SELECT count(*) FROM ledger WHERE source_key LIKE 'shop:%%'") == (10,)
    assert _one(fresh_db, "SELECT stock FROM shop_items WHERE id = %s", item.id) == (0,)
    assert _one(fresh_db, "SELECT count(*) FROM unified_users WHERE coins = 225") == (10,)  # + 25: a first purchase
    assert _one(fresh_db, "SELECT min(coins) FROM unified_users") == (225,)
    assert chaos.consistency_problems(fresh_db) == []


# --- the website ---------------------------------------------------------------------------------------


def test_buyers_of_an_unlimited_item_share_its_lock_but_stock_limits_and_edits_do_not(app_env, fresh_db) -> None:
    """Issue 20: shop_buy locks an unlimited item FOR SHARE, a limited one FOR UPDATE. Proven by locks, not
    timing: a purchase is left open in transaction A while B, with a short lock_timeout, does the next thing."""
    a, b = _fund(discord_id=1, coins=1000), _fund(discord_id=2, coins=1000)
    free, ticket = _item(name="Hat", price=10), _item(name="Ticket", price=10, stock=5)
    capped = _item(name="Cap", price=10, per_user_limit=1)
    week = ledger.week_start(ledger.utc_now().date())

    def buy(c: psycopg.Connection, user: int, item: service.Item, key: str, price: int | None = None) -> str:
        row = c.execute(
            "SELECT status FROM shop_buy(%s, %s, 1, NULL, 'discord', %s, %s, %s)", (user, item.id, key, week, price)
        ).fetchone()
        assert row is not None
        return str(row[0])

    def blocked(c: psycopg.Connection, query: str, *args: Any) -> bool:
        try:
            c.execute(query, args)
        except psycopg.errors.LockNotAvailable:
            c.rollback()
            return True
        c.rollback()
        return False

    with psycopg.connect(fresh_db) as ta, psycopg.connect(fresh_db) as tb:
        tb.execute("SET lock_timeout = '200ms'")
        tb.commit()
        # Two people buying one unlimited item: B goes through while A's purchase is still open.
        assert buy(ta, a, free, "a-free") == "ok"
        assert buy(tb, b, free, "b-free", price=10) == "ok"
        tb.commit()
        # ...but no edit of that item slips under A's purchase: off-sale, price, restock all wait for it.
        assert blocked(tb, "UPDATE shop_items SET active = false WHERE id = %s", free.id)
        assert blocked(tb, "UPDATE shop_items SET price = 11 WHERE id = %s", free.id)
        assert blocked(tb, "UPDATE shop_items SET stock = 3 WHERE id = %s", free.id)
        # A limited item still serializes its buyers (one stock count at a time).
        assert buy(ta, a, ticket, "a-ticket") == "ok"
        assert blocked(tb, "SELECT shop_buy(%s, %s, 1, NULL, 'discord', 'b-ticket', %s, NULL)", b, ticket.id, week)
        # A per-person limit holds through the buyer's own account lock: the same person waits.
        assert buy(ta, a, capped, "a-cap") == "ok"
        assert blocked(tb, "SELECT shop_buy(%s, %s, 1, NULL, 'discord', 'a-cap2', %s, NULL)", a, capped.id, week)
        ta.commit()
        assert buy(tb, a, capped, "a-cap2") == "limit"
        tb.rollback()
        # An edit in flight blocks a purchase, which then sees the new terms rather than the old ones.
        ta.execute("UPDATE shop_items SET price = 12 WHERE id = %s", (free.id,))
        assert blocked(tb, "SELECT shop_buy(%s, %s, 1, NULL, 'discord', 'b-free2', %s, 10)", b, free.id, week)
        ta.commit()
        assert buy(tb, b, free, "b-free2", price=10) == "price_changed"
        tb.rollback()
        ta.execute("UPDATE shop_items SET active = false WHERE id = %s", (free.id,))
        assert blocked(tb, "SELECT shop_buy(%s, %s, 1, NULL, 'discord', 'b-free3', %s, NULL)", b, free.id, week)
        ta.commit()
        assert buy(tb, b, free, "b-free3") == "inactive"
        tb.rollback()
        # A restock making an unlimited item limited is honoured by a buyer who saw it unlimited: B peeks the
        # stock as unlimited, waits FOR SHARE behind the edit, then reads the new row and locks it FOR UPDATE.
        ta.execute("UPDATE shop_items SET active = true, stock = 0 WHERE id = %s", (free.id,))
        tb.execute("SET lock_timeout = 0")
        pid = tb.info.backend_pid
        got: list[str] = []
        waiter = threading.Thread(target=lambda: got.append(buy(tb, b, free, "b-free4")))
        waiter.start()
        for _ in range(500):
            if _one(fresh_db, "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", pid) == ("Lock",):
                break
            threading.Event().wait(0.01)
        else:
            pytest.fail("B never waited for the edit")
        ta.commit()
        waiter.join(10)
        assert got == ["sold_out"]
        tb.rollback()
    assert _one(fresh_db, "SELECT stock FROM shop_items WHERE id = %s", ticket.id) == (4,)
    assert chaos.consistency_problems(fresh_db) == []


def test_site_shop_lists_buys_once_per_key_and_needs_csrf(app_env, fresh_db, monkeypatch) -> None:
    configure_site(monkeypatch, app_env)
    uid = _fund(discord_id=42, coins=500)
    hat = _item(stock=3)
    _item(name="Server role", price=1, kind="role", role_id=77, guild_id=1)  # not on the site
    cookies = _site_cookie(uid)
    shop_fn = create_app("api_shop", "main.py").test_client()
    anon = shop_fn.get("/").get_json()
    assert anon["me"] is None and [i["name"] for i in anon["items"]] == ["Top hat"]
    for k, v in cookies.items():
        shop_fn.set_cookie(k, v)
    mine = shop_fn.get("/").get_json()
    assert mine["me"]["balance"] == 500 and mine["items"][0]["owned"] == 0

    buy_fn = create_app("api_shop_buy", "main.py").test_client()
    for k, v in cookies.items():
        buy_fn.set_cookie(k, v)
    headers = {"X-CSRF-Token": cookies["csrf_token"], "Idempotency-Key": "abcdefgh1"}
    price = {"price": hat.price}
    assert (
        buy_fn.post("/", json={"item_id": hat.id, **price}, headers={"Idempotency-Key": "abcdefgh1"}).status_code == 403
    )
    missing_key = buy_fn.post("/", json={"item_id": hat.id, **price}, headers={"X-CSRF-Token": cookies["csrf_token"]})
    assert missing_key.status_code == 400 and "Idempotency-Key" in missing_key.get_json()["title"]
    for bad in (
        {"item_id": "1", **price},
        {"item_id": hat.id, "quantity": 0, **price},
        {"item_id": hat.id, "x": 1, **price},
        [1],
        {"item_id": 2**70, **price},
        {"item_id": hat.id},
    ):
        r = buy_fn.post("/", json=bad, headers={**headers, "Idempotency-Key": "bad-input-1"})
        assert r.status_code == 400, bad
    first = buy_fn.post("/", json={"item_id": hat.id, "quantity": 2, **price}, headers=headers)
    again = buy_fn.post("/", json={"item_id": hat.id, "quantity": 2, **price}, headers=headers)
    assert first.status_code == again.status_code == 200 and first.get_json() == again.get_json()
    assert (
        first.get_json()["balance"] == 325
    )  # 500 − 200 + 25 (the first purchase's achievement) and first.get_json()["item"]["stock"] == 1
    more = buy_fn.post(
        "/", json={"item_id": hat.id, "quantity": 2, **price}, headers={**headers, "Idempotency-Key": "second-1"}
    )
    assert more.status_code == 400 and more.get_json()["title"] == "Only 1 Top hat left."
    me = create_app("api_me", "main.py").test_client()
    for k, v in cookies.items():
        me.set_cookie(k, v)
    shop = me.get("/").get_json()["shop"]
    assert shop["inventory"][0]["quantity"] == 2 and shop["purchases"][0]["total"] == 200
    assert _one(fresh_db, "SELECT count(*) FROM purchases") == (1,)
    assert chaos.consistency_problems(fresh_db) == []


# --- role items and refunds --------------------------------------------------------------------------


def _server(app_env: Any) -> None:
    """Server 1: the seller (50) with Manage Server and Manage Roles above the VIP role (777), below TTFD."""
    add_guild(
        app_env.discord,
        1,
        900,
        roles=[(601, "Seller", 5, MANAGE_GUILD | MANAGE_ROLES), (603, "TTFD", 10, MANAGE_ROLES), (777, "VIP", 2, 0)],
        members={900: [], 50: [601], 42: [], int(APP_ID): [603]},
    )


def _admin_add(client, app_env: Any, command: str) -> str:
    """/shopadmin add is deferred (a role item is checked over REST): its answer, once the job ran."""
    body = encode(interaction(command, user=50, permissions=MANAGE_GUILD | MANAGE_ROLES))
    assert client.post("/", data=body, headers=sign(body)).get_json()["type"] == 5
    run_schedule("run_jobs")
    return str(app_env.discord.originals[json.loads(body)["token"]]["content"])


def test_role_item_granted_then_refunded_and_removed_on_the_fake_discord(clients, app_env, fresh_db) -> None:
    discord, _ = clients
    _server(app_env)
    uid = _fund(discord_id=42, coins=1000)
    _fund(discord_id=50, coins=0)
    add = _admin_add(discord, app_env, '/shopadmin add "name:VIP" price:400 kind:role role:777 stock:5')
    assert "Now for sale" in add, add
    bought = _discord(discord, "/buy item:VIP")["data"]["content"]
    assert "You bought **VIP** for 400 coins" in bought and "is on its way" in bought
    assert "You already have VIP" in _discord(discord, "/buy item:VIP")["data"]["content"]
    assert run_schedule("run_jobs").get_json()["done"] >= 1
    assert app_env.discord.member_roles[("1", "42")] == {"777"}
    purchase = _one(fresh_db, "SELECT id FROM purchases")[0]

    denied = _discord(discord, f"/shopadmin refund purchase:{purchase}", user=43)["data"]["content"]
    assert "Manage Server permission" in denied
    other_guild = _discord(
        discord, f"/shopadmin refund purchase:{purchase}", user=50, guild=2, permissions=MANAGE_GUILD
    )
    assert "No purchase" in other_guild["data"]["content"]
    refund = _discord(discord, f"/shopadmin refund purchase:{purchase}", user=50, permissions=MANAGE_GUILD)
    assert "400 coins back" in refund["data"]["content"] and "role is being removed" in refund["data"]["content"]
    twice = _discord(discord, f"/shopadmin refund purchase:{purchase}", user=50, permissions=MANAGE_GUILD)
    assert "refunded already" in twice["data"]["content"]
    run_schedule("run_jobs")
    assert app_env.discord.member_roles[("1", "42")] == set()
    assert _one(fresh_db, "SELECT coins FROM unified_users WHERE id = %s", uid) == (
        1025,
    )  # + the first purchase's reward
    assert _one(fresh_db, "SELECT stock FROM shop_items") == (5,)
    assert chaos.consistency_problems(fresh_db) == []


def test_a_role_discord_will_not_give_is_refunded_by_the_job(clients, app_env, fresh_db) -> None:
    discord, _ = clients
    uid = _fund(discord_id=42, coins=1000)
    _item(name="Crown", price=300, kind="role", role_id=900, guild_id=1)
    # TTFD's own role sits below this one: Discord answers 403 Missing Permissions.
    app_env.discord.fail_next(
        "PUT", r"/guilds/1/members/42/roles/900", 403, {"message": "Missing Permissions", "code": 50013}
    )
    assert "You bought **Crown**" in _discord(discord, "/buy item:Crown")["data"]["content"]
    run_schedule("run_jobs")
    assert app_env.discord.member_roles.get(("1", "42"), set()) == set()
    assert _one(fresh_db, "SELECT refunded_at IS NOT NULL FROM purchases") == (True,)
    assert _one(fresh_db, "SELECT coins FROM unified_users WHERE id = %s", uid) == (1025,)  # back, + Shopper
    assert _one(fresh_db, "SELECT count(*) FROM jobs WHERE kind = 'shop.role' AND status = 'done'") == (1,)
    assert chaos.consistency_problems(fresh_db) == []


def test_shopadmin_refuses_dangerous_roles_and_global_items(clients, app_env, fresh_db) -> None:
    discord, _ = clients
    _item(name="Global hat")
    body = encode(
        interaction(
            '/shopadmin add "name:Mod" price:1 kind:role role:778', user=50, permissions=MANAGE_GUILD | MANAGE_ROLES
        )
    )
    payload = json.loads(body)
    payload["data"]["resolved"]["roles"]["778"]["permissions"] = str(1 << 2)  # Ban Members
    body = encode(payload)
    refused = discord.post("/", data=body, headers=sign(body)).get_json()
    assert refused["type"] == 4 and "may not grant Ban Members" in refused["data"]["content"]  # before "thinking…"
    edit = _discord(discord, '/shopadmin edit "item:Global hat" price:1', user=50, permissions=MANAGE_GUILD)
    assert "only TTFD's operators change it" in edit["data"]["content"]
    assert _one(fresh_db, "SELECT count(*), min(price) FROM shop_items") == (1, 100)
    assert "Now for sale" in _admin_add(discord, app_env, '/shopadmin add "name:Sticker" price:5 stock:1')
    restock = _discord(discord, "/shopadmin restock item:Sticker amount:4", user=50, permissions=MANAGE_GUILD)
    assert "5 left" in restock["data"]["content"]
    _discord(
        discord, "/shopadmin edit item:Sticker unlimited:true new_name:Sticker+", user=50, permissions=MANAGE_GUILD
    )
    assert _one(fresh_db, "SELECT name, stock FROM shop_items WHERE guild_id = 1") == ("Sticker+", None)
    _discord(discord, "/shopadmin remove item:Sticker+", user=50, permissions=MANAGE_GUILD)
    assert _one(fresh_db, "SELECT active FROM shop_items WHERE guild_id = 1") == (False,)


# --- consumables against an injected clock ---------------------------------------------------------------


def _claim(uid: int, now: datetime) -> Any:
    with db.transaction() as conn:
        return claim_daily(conn, DailySettings(), uid, "discord", now)


def test_streak_freeze_covers_missed_days_across_midnight(app_env, fresh_db) -> None:
    uid = _fund(discord_id=42, coins=1000)
    freeze = _item(name="Freeze", price=10, kind="streak_freeze")
    with db.transaction() as conn:
        service.buy(conn, uid, freeze, 2, guild_id=None, platform="discord", key="f", now=ledger.utc_now())
    day = datetime(2026, 3, 1, 23, 59, 30, tzinfo=UTC)
    assert _claim(uid, day).streak == 1
    assert _claim(uid, day + timedelta(seconds=60)).streak == 2  # 00:00:30 the next day: a new day
    skipped = _claim(uid, day + timedelta(days=3))  # missed one day: one freeze keeps the streak
    assert (skipped.streak, skipped.freezes_used) == (3, 1)
    gap = _claim(uid, day + timedelta(days=6))  # missed two days, one freeze left: all or nothing → reset
    assert (gap.streak, gap.freezes_used) == (1, 0)
    assert _one(fresh_db, "SELECT quantity FROM inventory") == (1,)
    assert chaos.consistency_problems(fresh_db) == []


def test_xp_boost_doubles_daily_and_message_xp_for_one_hour(clients, fresh_db) -> None:
    discord, _ = clients
    uid = _fund(discord_id=42, coins=1000)
    boost = _item(name="Boost", price=10, kind="xp_boost")
    with db.transaction() as conn:
        service.buy(conn, uid, boost, 2, guild_id=None, platform="discord", key="b", now=ledger.utc_now())
    start = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    with db.transaction() as conn:
        used = service.use(conn, service.ShopSettings(), uid, boost, key="use1", now=start)
        again = service.use(conn, service.ShopSettings(), uid, boost, key="use1", now=start)  # a redelivery
    assert used.until == start + timedelta(hours=1) and again.duplicate
    normal = DailySettings().xp
    boosted = _claim(uid, start + timedelta(minutes=59))  # 00:29 the next day: still boosted
    assert boosted.boosted and boosted.xp == 2 * normal
    after = _claim(uid, start + timedelta(days=1, minutes=61))  # the next day, 00:31: the boost ended 00:30
    assert not after.boosted and after.xp == normal
    from ttfd.features.activity import service as activity

    settings = activity.ActivitySettings(cooldown_s=0)
    with db.transaction() as conn:
        during = activity.message_xp(conn, settings, uid, "discord", 15, "m1", at=start + timedelta(minutes=59))
        past = activity.message_xp(conn, settings, uid, "discord", 15, "m2", at=start + timedelta(minutes=61))
    assert during is not None and during.delta == 30 and past is not None and past.delta == 15
    with db.transaction() as conn:  # a second boost extends the running one by an hour
        extended = service.use(conn, service.ShopSettings(), uid, boost, key="use2", now=start + timedelta(minutes=30))
    assert extended.until == start + timedelta(hours=2) and extended.left == 0
    use_none = _discord(discord, "/use item:Boost")["data"]["content"]
    assert "You have no Boost" in use_none
    assert chaos.consistency_problems(fresh_db) == []


# --- operators, merges ---------------------------------------------------------------------------------


def test_cli_adds_and_lists_items(app_env, fresh_db, capsys) -> None:
    from ttfd.cli import main as cli

    assert (
        cli(["shop", "add", "Lucky charm", "--price", "25", "--stock", "3", "--limit", "1", "--description", "Shiny"])
        == 0
    )
    item_id = int(capsys.readouterr().out.strip())
    assert cli(["shop", "add", "Gold", "--price", "9", "--kind", "role", "--role-id", "5", "--guild", "1"]) == 0
    capsys.readouterr()
    assert cli(["shop", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    first = listed[0]
    assert (first["id"], first["name"], first["stock"], first["per_user_limit"]) == (item_id, "Lucky charm", 3, 1)
    assert listed[1]["kind"] == "role" and listed[1]["guild_id"] == 1
    assert cli(["shop", "list"]) == 0
    assert "Lucky charm" in capsys.readouterr().out
    assert cli(["shop", "add", "Lucky charm", "--price", "1"]) == 2
    assert "already for sale" in capsys.readouterr().err
    assert cli(["shop", "add", "Bad", "--price", "-1"]) == 2
    assert cli(["shop", "add", "Role", "--price", "1", "--kind", "role"]) == 2


def test_merge_moves_purchases_inventory_and_boosts(app_env, fresh_db) -> None:
    a, b = _fund(discord_id=42, coins=500), _fund(telegram_id=7, coins=500)
    hat, boost = _item(), _item(name="Boost", price=1, kind="xp_boost")
    now = ledger.utc_now()
    with db.transaction() as conn:
        service.buy(conn, a, hat, 1, guild_id=None, platform="discord", key="a1", now=now)
        service.buy(conn, b, hat, 2, guild_id=None, platform="telegram", key="b1", now=now)
        service.buy(conn, b, boost, 1, guild_id=None, platform="telegram", key="b2", now=now)
        service.use(conn, service.ShopSettings(), b, boost, key="u", now=now)
        link.link_identity(conn, a, "telegram", 7, REGISTRY.merge_hooks)
    assert _one(fresh_db, "SELECT quantity FROM inventory WHERE user_id = %s AND item_id = %s", a, hat.id) == (3,)
    assert _one(fresh_db, "SELECT count(*) FROM purchases WHERE user_id = %s", a) == (3,)
    assert _one(fresh_db, "SELECT count(*) FROM user_effects WHERE user_id = %s", a) == (1,)
    assert _one(fresh_db, "SELECT count(*) FROM inventory WHERE user_id = %s", b) == (0,)
    assert chaos.consistency_problems(fresh_db) == []


def test_attack_findings_stay_fixed(clients, app_env, fresh_db) -> None:
    """Server admins cannot mint consumables; a page past the end shows the last page; a name shared with a
    global item buys the global one; odd autocomplete text gets no suggestions; a refunded role stays off."""
    discord, _ = clients
    uid = _fund(discord_id=42, coins=1000)
    boost = _discord(
        discord, '/shopadmin add "name:Free boost" price:0 kind:xp_boost', user=50, permissions=MANAGE_GUILD
    )
    assert "must be one of: Cosmetic, Role" in boost["data"]["content"]
    for n in range(3):
        _item(name=f"Badge {n}", price=1)
    page = _discord(discord, "/shop page:9")["data"]["embeds"][0]
    assert "Page 1/1" in page["footer"]["text"] and "Badge 2" in page["description"]
    _item(name="Crown", price=10)
    with db.transaction() as conn:
        local = service.create(conn, name="crown", price=1, guild_id=1)
        assert service.find(conn, 1, "CROWN").guild_id is None and local.guild_id == 1
    for typed in ("\x00", "\ud800x", "a" * 101):
        payload = discord_payload(
            app_id=APP_ID,
            user=42,
            guild=1,
            interaction_type=4,
            data={"name": "buy", "type": 1, "options": [{"name": "item", "type": 3, "value": typed, "focused": True}]},
        )
        body = encode(payload)
        resp = discord.post("/", data=body, headers=sign(body))
        assert resp.status_code == 200 and resp.get_json() == {"type": 8, "data": {"choices": []}}
    role = _item(name="VIP", price=100, kind="role", role_id=777, guild_id=1)
    with db.transaction() as conn:
        bought = service.buy(
            conn, uid, role, 1, guild_id=1, platform="discord", key="r", now=ledger.utc_now(), discord_id=42
        )
        service.refund(conn, bought.purchase_id, by=None, guild_id=None, platform="discord", now=ledger.utc_now())
    run_schedule("run_jobs")  # the grant queued before the refund finds it refunded: no role
    assert app_env.discord.member_roles.get(("1", "42"), set()) == set()
    assert not app_env.discord.calls_to("PUT", r"/guilds/1/members/42/roles/777")
    assert chaos.consistency_problems(fresh_db) == []
