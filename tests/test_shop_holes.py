"""Holes an attack on the shop found, each kept shut: a confirmation buys at the price it showed or shows
the new one (Discord, Telegram, the site); an Idempotency-Key reused for another request is refused; a body
with a key twice is refused; a free item pays no achievement; role items need what Discord itself needs
(Manage Roles, a role below the seller's and below TTFD's), checked again when the role is given."""

from __future__ import annotations

import json
from typing import Any

import pytest
from functions_framework import create_app

from devtools.fake_discord_guilds import add_guild
from devtools.simulate import discord_payload
from tests import chaos
from tests.conftest import APP_ID, encode, interaction, run_schedule, sign
from tests.site_helpers import configure_site
from tests.test_shop import (
    MANAGE_GUILD,
    _books,
    _button,
    _component,
    _discord,
    _fund,
    _item,
    _keys,
    _one,
    _select,
    _site_cookie,
    _tap,
    _telegram,
)
from ttfd.core import db, ledger

MANAGE_ROLES, BAN_MEMBERS, ADMINISTRATOR = 1 << 28, 1 << 2, 1 << 3
GUILD, OWNER, SELLER, BUYER, BOT = 1, 900, 50, 42, int(APP_ID)
SELLS_ROLES = MANAGE_GUILD | MANAGE_ROLES


@pytest.fixture
def clients(app_env):
    return (
        create_app("discord_interactions", "main.py").test_client(),
        create_app("telegram_webhook", "main.py").test_client(),
    )


@pytest.fixture
def roles_server(app_env):
    """A server: the seller (Seller, 5: Manage Server + Manage Roles), TTFD's role (Bot, 10, Manage Roles), a
    role for sale below both (VIP, 3), one between the seller and the bot (Elite, 7), one above the bot
    (Crown, 20), a moderator's role (Mods, 2, Ban Members), and a manager without Manage Roles (Manager, 6)."""
    add_guild(
        app_env.discord,
        GUILD,
        OWNER,
        roles=[
            (601, "Seller", 5, MANAGE_GUILD | MANAGE_ROLES),
            (603, "Bot", 10, MANAGE_ROLES),
            (604, "VIP", 3, 0),
            (605, "Elite", 7, 0),
            (606, "Crown", 20, 0),
            (607, "Mods", 2, BAN_MEMBERS),
            (608, "Manager", 6, MANAGE_GUILD),
            (609, "Peer", 5, 0),
        ],
        members={OWNER: [], SELLER: [601], BUYER: [], 51: [608], BOT: [603]},
    )
    return app_env


def _deferred(client, command: str, user: int, permissions: int) -> tuple[dict, str]:
    body = encode(interaction(command, user=user, permissions=permissions))
    answer = client.post("/", data=body, headers=sign(body)).get_json()
    return answer, json.loads(body)["token"]


def _finish(app_env: Any, token: str) -> str:
    run_schedule("run_jobs")
    return json.dumps(app_env.discord.originals[token], ensure_ascii=False)


# --- 1. bait and switch --------------------------------------------------------------------------------


def _confirm_on_discord(client) -> str:
    menu = _select(_discord(client, "/shop")["data"])
    card = _component(client, menu["custom_id"], BUYER, values=[menu["options"][0]["value"]])
    ask = _component(client, _button(card["data"], "Buy")["custom_id"], BUYER)
    assert "10 coins" in ask["data"]["embeds"][0]["description"]
    return str(_button(ask["data"], "Confirm")["custom_id"])


def _set_price(price: int) -> None:
    with db.transaction() as conn:
        conn.execute("UPDATE shop_items SET price = %(p)s WHERE name = 'Bait'", {"p": price})


def test_a_discord_confirmation_buys_at_the_price_it_showed_or_shows_the_new_one(clients, fresh_db) -> None:
    discord, _ = clients
    uid = _fund(discord_id=BUYER, coins=5000)
    _item(name="Bait", price=10, guild_id=GUILD)
    confirm = _confirm_on_discord(discord)
    before = _books(fresh_db)
    # The server's admin raises the price while the buyer looks at "10 coins".
    edit = _discord(discord, '/shopadmin edit "item:Bait" price:4000', user=SELLER, permissions=MANAGE_GUILD)
    assert "4,000 coins" in edit["data"]["content"]
    answer = _component(discord, confirm, BUYER)["data"]
    shown = answer["embeds"][0]["description"]
    assert "changed to 4,000 coins; nothing was bought" in shown and "4,000 coins. Your balance: 5,000" in shown
    assert _books(fresh_db) == before
    assert _one(fresh_db, "SELECT coins FROM unified_users WHERE id = %s", uid) == (5000,)
    # Pressing the old Confirm again still buys nothing; the new one buys at the price it shows.
    assert "nothing was bought" in json.dumps(_component(discord, confirm, BUYER))
    assert _books(fresh_db) == before
    done = _component(discord, _button(answer, "Confirm")["custom_id"], BUYER)["data"]["content"]
    assert "You bought **Bait** for 4,000 coins" in done
    assert _one(fresh_db, "SELECT unit_price, total FROM purchases") == (4000, 4000)
    assert chaos.consistency_problems(fresh_db) == []


def test_a_lower_price_is_not_taken_silently_either(clients, fresh_db) -> None:
    discord, _ = clients
    _fund(discord_id=BUYER, coins=500)
    _item(name="Bait", price=10, guild_id=GUILD)
    confirm = _confirm_on_discord(discord)
    _set_price(3)
    answer = _component(discord, confirm, BUYER)["data"]
    assert "changed to 3 coins" in answer["embeds"][0]["description"]
    assert _one(fresh_db, "SELECT count(*) FROM purchases") == (0,)


def test_a_telegram_confirmation_refuses_a_changed_price(clients, fresh_db) -> None:
    _, telegram = clients
    _fund(telegram_id=7, coins=5000)
    _item(name="Bait", price=10)
    shop = _telegram(telegram, "/shop", user=7)
    card = _tap(telegram, _keys(shop)["Bait"], 7)
    ask = _tap(telegram, _keys(card)["Buy"], 7)
    before = _books(fresh_db)
    _set_price(4000)
    again = _tap(telegram, _keys(ask)["Confirm"], 7)
    assert "changed to 4,000 coins; nothing was bought" in again["text"] and "Confirm" in _keys(again)
    assert _books(fresh_db) == before


def _site(app_env, monkeypatch, coins: int = 5000) -> tuple[Any, dict[str, str], int]:
    configure_site(monkeypatch, app_env)
    uid = _fund(discord_id=BUYER, coins=coins)
    cookies = _site_cookie(uid)
    client = create_app("api_shop_buy", "main.py").test_client()
    for k, v in cookies.items():
        client.set_cookie(k, v)
    return client, {"X-CSRF-Token": cookies["csrf_token"]}, uid


def test_the_site_sends_the_shown_price_and_gets_409_with_the_new_one(app_env, fresh_db, monkeypatch) -> None:
    buy, headers, _uid = _site(app_env, monkeypatch)
    bait = _item(name="Bait", price=10)
    _set_price(4000)
    before = _books(fresh_db)
    moved = buy.post("/", json={"item_id": bait.id, "price": 10}, headers={**headers, "Idempotency-Key": "bait-0001"})
    body = moved.get_json()
    assert moved.status_code == 409 and body["price"] == 4000 and "changed to 4,000 coins" in body["title"]
    assert _books(fresh_db) == before
    missing = buy.post("/", json={"item_id": bait.id}, headers={**headers, "Idempotency-Key": "bait-0002"})
    assert missing.status_code == 400 and "price" in missing.get_json()["title"]
    for bad in ("10", -1, 10**13, True, None):
        r = buy.post("/", json={"item_id": bait.id, "price": bad}, headers={**headers, "Idempotency-Key": "bait-0003"})
        assert r.status_code == 400, bad
    ok = buy.post("/", json={"item_id": bait.id, "price": 4000}, headers={**headers, "Idempotency-Key": "bait-0004"})
    assert ok.status_code == 200 and ok.get_json()["total"] == 4000
    assert chaos.consistency_problems(fresh_db) == []


def test_an_item_picked_from_the_suggestions_is_bought_at_the_price_they_showed(clients, fresh_db) -> None:
    discord, _ = clients
    _fund(discord_id=BUYER, coins=5000)
    bait = _item(name="Second", price=20, guild_id=GUILD)
    payload = discord_payload(
        app_id=APP_ID,
        user=BUYER,
        guild=GUILD,
        interaction_type=4,
        data={"name": "buy", "type": 1, "options": [{"name": "item", "type": 3, "value": "Sec", "focused": True}]},
    )
    body = encode(payload)
    (choice,) = discord.post("/", data=body, headers=sign(body)).get_json()["data"]["choices"]
    assert choice["name"].startswith("Second — 20 coins") and choice["value"] == f"#{bait.id}@20"
    _set_price_of("Second", 3000)
    before = _books(fresh_db)
    reply = _discord(discord, f"/buy item:{choice['value']} quantity:100")["data"]["content"]
    assert "changed to 3,000 coins; nothing was bought" in reply and _books(fresh_db) == before
    _set_price_of("Second", 20)
    done = _discord(discord, f"/buy item:{choice['value']}")["data"]["content"]
    assert "You bought **Second** for 20 coins" in done
    assert "You bought **Second** for 20 coins" in _discord(discord, "/buy item:Second")["data"]["content"]  # typed


def _set_price_of(name: str, price: int) -> None:
    with db.transaction() as conn:
        conn.execute("UPDATE shop_items SET price = %(p)s WHERE name = %(n)s", {"p": price, "n": name})


# --- 9. one key, one request ----------------------------------------------------------------------------


def test_an_idempotency_key_reused_for_another_request_is_422(app_env, fresh_db, monkeypatch) -> None:
    buy, headers, _uid = _site(app_env, monkeypatch)
    hat, cap = _item(name="Hat", price=10), _item(name="Cap", price=20)
    h = {**headers, "Idempotency-Key": "same-key-1"}
    first = buy.post("/", json={"item_id": hat.id, "price": 10}, headers=h)
    assert first.status_code == 200
    before = _books(fresh_db)
    for other in ({"item_id": cap.id, "price": 20}, {"item_id": hat.id, "price": 10, "quantity": 2}):
        reused = buy.post("/", json=other, headers=h)
        assert reused.status_code == 422 and "different request" in reused.get_json()["title"], other
    assert _books(fresh_db) == before
    again = buy.post("/", json={"item_id": hat.id, "price": 10}, headers=h)  # a true retry: the first answer
    assert again.status_code == 200 and again.get_json() == first.get_json()
    assert _one(fresh_db, "SELECT count(*) FROM purchases") == (1,)


def test_a_purchase_key_is_one_purchase_even_from_another_session(app_env, fresh_db, monkeypatch) -> None:
    buy, headers, uid = _site(app_env, monkeypatch)
    hat, cap = _item(name="Hat", price=10), _item(name="Cap", price=20)
    assert buy.post("/", json={"item_id": hat.id, "price": 10}, headers={**headers, "Idempotency-Key": "k-000001"})
    other = create_app("api_shop_buy", "main.py").test_client()
    cookies = _site_cookie(uid)  # a second login of the same person: its own idempotency scope
    for k, v in cookies.items():
        other.set_cookie(k, v)
    h = {"X-CSRF-Token": cookies["csrf_token"], "Idempotency-Key": "k-000001"}
    reused = other.post("/", json={"item_id": cap.id, "price": 20}, headers=h)
    assert reused.status_code == 422 and _one(fresh_db, "SELECT count(*) FROM purchases") == (1,)


def test_a_json_key_sent_twice_is_refused(app_env, fresh_db, monkeypatch) -> None:
    buy, headers, _uid = _site(app_env, monkeypatch)
    hat, cap = _item(name="Hat", price=10), _item(name="Cap", price=20)
    raw = f'{{"item_id": {cap.id}, "price": 20, "item_id": {hat.id}}}'
    h = {**headers, "Idempotency-Key": "twice-0001", "Content-Type": "application/json"}
    r = buy.post("/", data=raw, headers=h)
    assert r.status_code == 400 and "'item_id' appears twice" in r.get_json()["title"]
    assert _one(fresh_db, "SELECT count(*) FROM purchases") == (0,)


def test_a_five_thousand_digit_number_is_refused_in_plain_words(clients, app_env, fresh_db, monkeypatch) -> None:
    discord, _ = clients
    buy, headers, _uid = _site(app_env, monkeypatch)
    r = buy.post(
        "/",
        data='{"item_id": ' + "9" * 5000 + ', "price": 1}',
        headers={**headers, "Idempotency-Key": "digits-001", "Content-Type": "application/json"},
    )
    title = r.get_json()["title"]
    assert r.status_code == 400 and "out of range" in title and "4300" not in title and "Exceeds" not in title
    body = encode(interaction("/coinflip bet:10 side:heads")).replace(b'"value": 10', b'"value": ' + b"9" * 5000)
    resp = discord.post("/", data=body, headers=sign(body))
    assert resp.status_code == 400 and b"4300" not in resp.data and b"Exceeds" not in resp.data


# --- 10. a free item is not an achievement ----------------------------------------------------------------


def test_a_free_item_unlocks_no_shopper_achievement(clients, fresh_db) -> None:
    discord, _ = clients
    uid = _fund(discord_id=BUYER, coins=100)
    _item(name="Free sticker", price=0, guild_id=GUILD)
    reply = _discord(discord, '/buy "item:Free sticker"')["data"]["content"]
    assert "You bought **Free sticker** for 0 coins" in reply and "Achievement" not in reply
    assert _one(fresh_db, "SELECT count(*) FROM achievement_unlocks WHERE code = 'first_purchase'") == (0,)
    assert _one(fresh_db, "SELECT coins FROM unified_users WHERE id = %s", uid) == (100,)
    _item(name="Hat", price=10, guild_id=GUILD)
    assert "Shopper" in _discord(discord, '/buy "item:Hat"')["data"]["content"]  # spending coins still counts


# --- 2. roles within Discord's own rules --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "perms", "role", "says"),
    [
        (51, MANAGE_GUILD, 604, "You need the Manage Roles permission"),  # Manage Server only
        (SELLER, MANAGE_GUILD | MANAGE_ROLES, 605, "@Elite is the same as or above your highest role"),
        (SELLER, MANAGE_GUILD | MANAGE_ROLES, 609, "@Peer is the same as or above your highest role"),
        (OWNER, ADMINISTRATOR, 606, "@Crown is the same as or above my highest role"),
        (OWNER, ADMINISTRATOR, 607, "may not grant Ban Members"),  # the role's permissions as Discord has them
        (SELLER, MANAGE_GUILD | MANAGE_ROLES, 999, "does not exist in this server"),
    ],
)
def test_selling_a_role_needs_what_discord_needs(clients, roles_server, fresh_db, user, perms, role, says) -> None:
    discord, _ = clients
    first, token = _deferred(discord, f'/shopadmin add "name:Role item" price:5 kind:role role:{role}', user, perms)
    assert first["type"] == 5 and first["data"]["flags"] == 64  # thinking…, privately
    assert says in _finish(roles_server, token)
    assert _one(fresh_db, "SELECT count(*) FROM shop_items") == (0,)


def test_a_role_below_the_seller_and_the_bot_sells_and_is_given(clients, roles_server, fresh_db) -> None:
    discord, _ = clients
    _, token = _deferred(discord, '/shopadmin add "name:VIP" price:5 kind:role role:604', SELLER, SELLS_ROLES)
    assert "Now for sale" in _finish(roles_server, token)
    _, token = _deferred(discord, '/shopadmin add "name:Elite" price:5 kind:role role:605', OWNER, ADMINISTRATOR)
    assert "Now for sale" in _finish(roles_server, token)  # the owner may sell any role below the bot
    _fund(discord_id=BUYER, coins=100)
    assert "You bought **VIP**" in _discord(discord, "/buy item:VIP")["data"]["content"]
    run_schedule("run_jobs")
    assert roles_server.discord.member_roles[(str(GUILD), str(BUYER))] == {"604"}


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"position": 30}, "@VIP is the same as or above my highest role"),
        ({"permissions": str(ADMINISTRATOR)}, "may not grant Administrator"),
        ({"managed": True}, "managed by an integration"),
    ],
)
def test_a_role_changed_since_it_went_on_sale_is_refunded_and_the_buyer_told(
    clients, roles_server, fresh_db, change, says
) -> None:
    discord, _ = clients
    _, token = _deferred(discord, '/shopadmin add "name:VIP" price:40 kind:role role:604', SELLER, SELLS_ROLES)
    assert "Now for sale" in _finish(roles_server, token)
    uid = _fund(discord_id=BUYER, coins=100)
    # The server's roles are cached (the sale just read them); the grant must ask Discord afresh.
    roles_server.discord.guilds[str(GUILD)]["roles"]["604"].update(change)
    buy = encode(interaction("/buy item:VIP", user=BUYER))
    assert "You bought **VIP**" in discord.post("/", data=buy, headers=sign(buy)).get_json()["data"]["content"]
    receipt = _finish(roles_server, json.loads(buy)["token"])
    assert says in receipt and "Your 40 coins are back" in receipt
    assert roles_server.discord.member_roles.get((str(GUILD), str(BUYER)), set()) == set()
    assert _one(fresh_db, "SELECT refunded_at IS NOT NULL FROM purchases") == (True,)
    assert _one(fresh_db, "SELECT coins FROM unified_users WHERE id = %s", uid) == (125,)  # + Shopper
    assert chaos.consistency_problems(fresh_db) == []


@pytest.mark.parametrize(
    ("user", "perms", "role", "says"),
    [
        (SELLER, MANAGE_ROLES, 605, "@Elite is the same as or above your highest role"),
        (OWNER, ADMINISTRATOR, 606, "@Crown is the same as or above my highest role"),
        (SELLER, MANAGE_ROLES, 604, "will get"),
    ],
)
def test_rank_roles_follow_the_hierarchy(clients, roles_server, fresh_db, user, perms, role, says) -> None:
    discord, _ = clients
    first, token = _deferred(discord, f"/setup rank-role rank:F role:{role}", user, perms)
    assert first["type"] == 5
    assert says in _finish(roles_server, token)
    stored = _one(fresh_db, "SELECT count(*) FROM guild_rank_roles")[0]
    assert stored == (1 if says == "will get" else 0)


def test_a_rank_role_moved_above_the_bot_is_not_given(clients, roles_server, fresh_db) -> None:
    discord, _ = clients
    _, token = _deferred(discord, "/setup rank-role rank:F role:604", SELLER, MANAGE_ROLES)
    assert "will get" in _finish(roles_server, token)
    roles_server.discord.guilds[str(GUILD)]["roles"]["604"]["position"] = 30  # within the cache's 30 s
    uid = _fund(discord_id=BUYER, coins=0)
    with db.transaction() as conn:
        conn.execute(
            "INSERT INTO guild_members (guild_id, user_id) VALUES (%s, %s) ON CONFLICT DO NOTHING", (GUILD, uid)
        )
        ledger.grant(conn, uid, "xp", 500, reason="t", platform="discord", source_key="xp-to-f")  # rank F
    run_schedule("process_events")
    run_schedule("run_jobs")
    assert roles_server.discord.member_roles.get((str(GUILD), str(BUYER)), set()) == set()
    assert not roles_server.discord.calls_to("PUT", rf"/guilds/{GUILD}/members/{BUYER}/roles/604")


# --- 10. a duel where the opponent can see it --------------------------------------------------------------


def test_a_duel_is_refused_in_a_discord_dm(clients, fresh_db) -> None:
    discord, _ = clients
    _fund(discord_id=BUYER, coins=100)
    reply = _discord(discord, "/duel user:43 bet:20", guild=None)["data"]
    assert reply["flags"] == 64 and "only works inside a server" in reply["content"]
    assert _one(fresh_db, "SELECT count(*) FROM duels") == (0,)
