"""The VPN store on Telegram, end to end through the real webhook, the jobs and the fakes (Telegram with files and
group members, a 3x-ui panel over real HTTP): an operator makes a group the staff group; a member orders in the
private chat (plan and method as inline buttons), sends the screenshot as a photo with /pay; the staff group gets
it with Approve and Reject; Approve asks the group who pressed (getChatMember) and opens a one-time Confirm;
Confirm makes exactly one panel client and one key message in the member's private chat."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from functions_framework import create_app

from devtools import fake_telegram_chats, fake_telegram_files, fake_xui
from devtools.simulate import photo_sizes, telegram_update
from tests.conftest import TG_SECRET, encode, interaction, run_schedule, sign
from tests.test_vpn_store import _all, _one, screenshot
from ttfd.core import db
from ttfd.features.vpn import PickMethod, service

HEADERS = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
GROUP = -1001234500
MEMBER, RU_MEMBER, OWNER, ADMIN, SUPPORT, OUTSIDER = 71, 72, 80, 81, 82, 83
METHODS = {
    "card": {"name": {"en": "Bank card", "ru": "Банковская карта"}, "instructions": {"en": "Card 2200 0000 0000 0000"}},
    "sbp": {"name": {"en": "SBP", "ru": "СБП"}, "instructions": {"en": "SBP +7 900 000-00-00", "ru": "СБП +7 900"}},
}


@pytest.fixture
def tg(app_env, monkeypatch) -> Iterator[Any]:
    state = fake_xui.XuiState.demo("3.6.0", tokens=["tok-" + "x" * 44])
    from devtools.wsgi_server import RunningServer
    from ttfd.core.settings import get_settings
    from ttfd.features.vpn import calls

    running = RunningServer(fake_xui.create_app(state))
    for name, value in {
        "VPN_PANEL_URL": running.url + "/",
        "VPN_PANEL_TOKEN": "tok-" + "x" * 44,
        "VPN_INBOUND_ID": "1",
        "VPN_LINK_HOST": "vpn.example.com",
        "VPN_METHODS": json.dumps(METHODS),
        "ACTIONS_SECRET": "a" * 32,
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    calls._panels.clear()
    members = {OWNER: {"status": "creator"}, ADMIN: {"status": "administrator"}, OUTSIDER: {"status": "left"}}
    fake_telegram_chats.add_chat(app_env.telegram, GROUP, "VPN staff", members=members)
    from ttfd.cli import main as cli

    assert cli(["vpn", "store", "telegram", str(GROUP), "--locale", "en"]) == 0
    client = create_app("telegram_webhook", "main.py").test_client()
    client.panel = state  # type: ignore[attr-defined]
    yield client
    running.stop()


def _send(client: Any, update: dict[str, Any]) -> dict[str, Any]:
    resp = client.post("/", data=json.dumps(update), headers=HEADERS)
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return dict(resp.get_json() or {})


def _jobs() -> None:
    for _ in range(6):
        assert run_schedule("run_jobs").status_code == 200


def _plan() -> int:
    """The plan on sale ("Month", made once per test)."""
    with db.transaction() as conn:
        found = [p.id for p in service.plans(conn) if p.name == "Month"]
        return found[0] if found else service.create_plan(conn, "Month", 30, "299", "RUB", 100, 3).id


def photo(n: int) -> bytes:
    """A receipt as Telegram delivers a photo: re-encoded as JPEG."""
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.open(io.BytesIO(screenshot(n))).convert("RGB").save(out, "JPEG", quality=87)
    return out.getvalue()


def _buttons(markup: dict[str, Any] | None) -> dict[str, str]:
    return {b["text"]: b.get("callback_data", "") for row in (markup or {}).get("inline_keyboard", []) for b in row}


def _sent(fakes: Any, chat: int, method: str = "sendMessage") -> list[dict[str, Any]]:
    return [p for p in fakes.telegram.calls_of(method) if int(p.get("chat_id", 0)) == chat]


def _group_messages(fakes: Any) -> list[dict[str, Any]]:
    """What the bot has in the staff group now (sent and edited), oldest first."""
    found = [m for (c, _mid), m in sorted(fakes.telegram.messages.items()) if c == GROUP]
    return found


def _press(client: Any, data: str, user: int, chat: int, message: dict[str, Any] | None = None) -> dict[str, Any]:
    return _send(
        client,
        telegram_update(None, user=user, chat=chat if chat < 0 else None, callback=data, callback_message=message),
    )


def _order_and_pay(client: Any, fakes: Any, user: int, n: int, language: str = "en") -> tuple[int, int]:
    """/order <plan> in the private chat, pick SBP, /pay with a photo; the order and its payment ids."""
    plan = _plan()
    said = _send(client, telegram_update(f"/order {plan}", user=user, language=language))
    order_id = int(_one("SELECT id FROM vpn_orders WHERE chat_id = %s ORDER BY id DESC LIMIT 1", user)["id"])
    picks = _buttons(said.get("reply_markup"))
    sbp = PickMethod(order_id, "sbp").pack()
    assert sbp in picks.values(), picks
    picked = _send(client, telegram_update(None, user=user, callback=sbp))
    assert picked["method"] == "editMessageText"
    assert _one("SELECT method FROM vpn_orders WHERE id = %s", order_id)["method"] == "sbp"
    data = photo(n)
    held = fake_telegram_files.add_file(fakes.telegram, data)
    assert (
        _send(client, telegram_update("/pay", user=user, photo=photo_sizes(data, file_id=held), language=language))
        == {}
    )
    _jobs()
    pay = _one("SELECT id, method, status FROM vpn_payments WHERE order_id = %s", order_id)
    assert pay is not None and pay["method"] == "sbp" and pay["status"] == "pending"
    return order_id, int(pay["id"])


def _review(fakes: Any, payment_id: int) -> dict[str, Any]:
    found = [m for m in _group_messages(fakes) if f"Payment #{payment_id} for order" in m.get("caption", "")]
    assert len(found) == 1, _group_messages(fakes)
    return found[0]


def _approve_and_confirm(client: Any, fakes: Any, payment_id: int, user: int = ADMIN) -> None:
    review = _review(fakes, payment_id)
    _press(client, _buttons(review.get("reply_markup"))["Approve"], user, GROUP, review)
    _jobs()
    confirm = [m for m in _group_messages(fakes) if "Confirm" in _buttons(m.get("reply_markup"))]
    assert confirm, _group_messages(fakes)
    _press(client, _buttons(confirm[-1]["reply_markup"])["Confirm"], user, GROUP, confirm[-1])
    _jobs()


def test_a_whole_order_on_telegram(app_env, tg) -> None:
    client, fakes = tg, app_env
    _plan()
    # /order without a plan: the plans as buttons; a plan picked: the order, with the methods as buttons
    menu = _send(client, telegram_update("/order", user=MEMBER))
    assert "VPN plans" in menu["text"] and menu["reply_markup"]["inline_keyboard"]
    order_id, pay_id = _order_and_pay(client, fakes, MEMBER, 1)
    # the proof in the staff group, as a photo with Approve and Reject
    review = _review(fakes, pay_id)
    assert "paid <b>RUB\xa0299</b> for <b>Month</b>" in review["caption"] and "Method: SBP" in review["caption"]
    assert set(_buttons(review["reply_markup"])) == {"Approve", "Reject"}
    # a plain member of the staff group, and someone outside it, may not approve
    for who in (SUPPORT, OUTSIDER):
        _press(client, _buttons(review["reply_markup"])["Approve"], who, GROUP, review)
        _jobs()
        said = [m.get("text", "") for m in _group_messages(fakes)]
        assert "Only the store's admins can do that." in said[-1], said
    assert _one("SELECT count(*) AS n FROM vpn_sessions")["n"] == 0
    _approve_and_confirm(client, fakes, pay_id)
    # exactly one client, one key message in the member's private chat, one approved payment
    assert client.panel.count(f"ttfd-o{order_id}") == 1 and [
        c["email"] for c in client.panel.clients_of(1) if c["email"].startswith("ttfd-")
    ] == [f"ttfd-o{order_id}"]
    keys = _sent(fakes, MEMBER, "sendPhoto")
    assert len(keys) == 1 and "vless://" in keys[0]["caption"] and "Your VPN key" in keys[0]["caption"]
    assert _one("SELECT status FROM vpn_orders WHERE id = %s", order_id)["status"] == "completed"
    assert _one("SELECT status FROM vpn_payments WHERE id = %s", pay_id)["status"] == "approved"
    # the review message now says who approved, without buttons
    review = _review(fakes, pay_id)
    assert "Approved by" in review["caption"] and "reply_markup" not in review
    trail = [r[0] for r in _all("SELECT action FROM vpn_audit WHERE order_id = %s ORDER BY id", order_id)]
    for step in ("order.open", "payment.submit", "payment.approve", "panel.client", "order.complete", "key.deliver"):
        assert step in trail, trail
    # /myvpn in the private chat: the key again, with its expiry
    assert _send(client, telegram_update("/myvpn", user=MEMBER)) == {}
    _jobs()
    again = _sent(fakes, MEMBER, "sendPhoto")
    assert len(again) == 2 and "vless://" in again[-1]["caption"] and "until" in again[-1]["caption"]
    # one account: with Discord linked, /myvpn on Discord shows the key bought on Telegram
    with db.transaction() as conn:
        conn.execute("UPDATE unified_users SET discord_id = 555 WHERE telegram_id = %s", (MEMBER,))
    discord = create_app("discord_interactions", "main.py").test_client()
    payload = interaction("/myvpn", user=555)
    body = encode(payload)
    assert discord.post("/", data=body, headers=sign(body)).status_code == 200
    _jobs()
    shown = fakes.discord.originals[payload["token"]]
    key = _one("SELECT link FROM vpn_keys")["link"]
    assert key in str(shown) and shown["embeds"][0]["title"] == "🔑 Your VPN key"


def test_reject_with_a_usual_reason_in_the_members_language(app_env, tg) -> None:
    client, fakes = tg, app_env
    order_id, pay_id = _order_and_pay(client, fakes, RU_MEMBER, 2, language="ru")
    review = _review(fakes, pay_id)
    _press(client, _buttons(review["reply_markup"])["Reject"], ADMIN, GROUP, review)
    _jobs()
    reasons = [m for m in _group_messages(fakes) if f"Reject payment #{pay_id}" in m.get("text", "")]
    assert reasons and f"/reject {pay_id}" in reasons[-1]["text"]
    choices = _buttons(reasons[-1]["reply_markup"])
    _press(client, choices["the amount does not match the order"], ADMIN, GROUP, reasons[-1])
    _jobs()
    assert _one("SELECT status FROM vpn_payments WHERE id = %s", pay_id)["status"] == "rejected"
    assert _one("SELECT status FROM vpn_orders WHERE id = %s", order_id)["status"] == "pending_payment"
    told = [p["text"] for p in _sent(fakes, RU_MEMBER)]
    assert any("сумма не совпадает с заказом" in t and "/pay" in t for t in told), told
    assert "Rejected by" in _review(fakes, pay_id)["caption"]
    # the second screenshot, then /reject with a reason of the admin's own
    data = photo(3)
    held = fake_telegram_files.add_file(fakes.telegram, data)
    _send(client, telegram_update("/pay", user=RU_MEMBER, photo=photo_sizes(data, file_id=held), language="ru"))
    _jobs()
    second = int(_one("SELECT id FROM vpn_payments WHERE order_id = %s AND status = 'pending'", order_id)["id"])
    _send(client, telegram_update(f"/reject {second} нет такого перевода", user=ADMIN, chat=GROUP))
    _jobs()
    assert _one("SELECT reason FROM vpn_payments WHERE id = %s", second)["reason"] == "нет такого перевода"


def test_one_open_order_and_cancel_on_telegram(app_env, tg) -> None:
    """One open order per person; /order works in the private chat; only its member cancels it."""
    client = tg
    plan = _plan()
    _send(client, telegram_update(f"/order {plan}", user=MEMBER))
    again = _send(client, telegram_update(f"/order {plan}", user=MEMBER))
    assert "You already have an open order" in again["text"]
    # in a group, /order says where it works
    there = _send(client, telegram_update(f"/order {plan}", user=MEMBER, chat=GROUP))
    assert "private chat" in there.get("text", ""), there
    # the Cancel button (only its member may press it)
    order_id = int(_one("SELECT id FROM vpn_orders WHERE chat_id = %s", MEMBER)["id"])
    from ttfd.features.vpn import CancelOrder

    cancel = CancelOrder(order_id).pack()
    _press(client, cancel, OUTSIDER, OUTSIDER)
    assert _one("SELECT status FROM vpn_orders WHERE id = %s", order_id)["status"] == "pending_payment"
    done = _press(client, cancel, MEMBER, MEMBER)
    assert "is cancelled" in done["text"]
    assert _one("SELECT status FROM vpn_orders WHERE id = %s", order_id)["status"] == "cancelled"


def test_the_order_times_out_in_the_private_chat(app_env, tg) -> None:
    client, fakes = tg, app_env
    plan = _plan()
    _send(client, telegram_update(f"/order {plan}", user=MEMBER))
    with db.transaction() as conn:
        conn.execute("UPDATE jobs SET run_at = now() WHERE kind = 'vpn.notice'")
    _jobs()
    assert _one("SELECT status FROM vpn_orders WHERE chat_id = %s", MEMBER)["status"] == "cancelled"
    assert any("was not paid in time" in p["text"] for p in _sent(fakes, MEMBER))


def test_telegram_stores_are_set_by_operators_only(app_env, tg, capsys) -> None:
    from ttfd.cli import main as cli

    assert cli(["vpn", "store", "telegram", "12345"]) == 2  # a person's chat is not a group
    assert "negative" in capsys.readouterr().err
    assert cli(["vpn", "store", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed == [{"scope": "telegram", "id": GROUP, "review": GROUP, "locale": "en"}]
    # no command in a chat sets a store: /setup_vpn is Discord's
    said = _send(tg, telegram_update("/setup_vpn", user=OWNER, chat=-1009999))
    assert "Order" not in json.dumps(said)
    assert _one("SELECT count(*) AS n FROM vpn_stores")["n"] == 1


def test_attacks_on_the_telegram_store_change_nothing(app_env, tg) -> None:
    """Forged and misplaced buttons, someone else's Confirm, ten concurrent Confirms and a too-big photo: clear
    answers, never a 5xx, exactly one client and one key message."""
    import threading

    client, fakes = tg, app_env
    order_id, pay_id = _order_and_pay(client, fakes, MEMBER, 4)

    def said_in_group() -> str:
        return str(_group_messages(fakes)[-1].get("text", ""))

    # a forged Approve for a payment that does not exist, and a real one pressed in another group
    _press(client, "vpa:987654", ADMIN, GROUP)
    _jobs()
    assert "There is no" in said_in_group() or "no payment" in said_in_group().lower(), said_in_group()
    other_group = -1009998887
    fake_telegram_chats.add_chat(fakes.telegram, other_group, "Not the store", members={ADMIN: {"status": "creator"}})
    _press(client, f"vpa:{pay_id}", ADMIN, other_group)
    _jobs()
    elsewhere = [m.get("text", "") for (c, _mid), m in sorted(fakes.telegram.messages.items()) if c == other_group]
    assert any("There is no VPN store here yet." in t for t in elsewhere), elsewhere
    assert _one("SELECT count(*) AS n FROM vpn_sessions")["n"] == 0
    # Approve by the admin; Confirm pressed by the group's owner (not the session's admin) is refused
    review = _review(fakes, pay_id)
    _press(client, _buttons(review["reply_markup"])["Approve"], ADMIN, GROUP, review)
    _jobs()
    confirm = [m for m in _group_messages(fakes) if "Confirm" in _buttons(m.get("reply_markup"))][-1]
    data = _buttons(confirm["reply_markup"])["Confirm"]
    _press(client, data, OWNER, GROUP, confirm)
    _jobs()
    assert "This confirmation is not yours" in said_in_group(), said_in_group()
    # ten concurrent presses of the real Confirm: one client, one key
    codes: list[int] = []

    def press() -> None:
        update = telegram_update(None, user=ADMIN, chat=GROUP, callback=data, callback_message=confirm)
        codes.append(client.post("/", data=json.dumps(update), headers=HEADERS).status_code)

    threads = [threading.Thread(target=press) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [200] * 10
    _jobs()
    assert client.panel.count(f"ttfd-o{order_id}") == 1
    assert len(_sent(fakes, MEMBER, "sendPhoto")) == 1
    assert _one("SELECT count(*) AS n FROM vpn_keys")["n"] == 1
    assert _one("SELECT count(*) AS n FROM vpn_payments WHERE status = 'approved'")["n"] == 1
    # a photo Telegram says is 40 MB: refused before it is fetched, the new order left waiting
    plan = _plan()
    _send(client, telegram_update(f"/order {plan}", user=RU_MEMBER))
    huge = photo_sizes(photo(5), file_id=fake_telegram_files.add_file(fakes.telegram, photo(5)))
    huge[-1]["file_size"] = 40 * 1024 * 1024
    assert _send(client, telegram_update("/pay", user=RU_MEMBER, photo=huge)) == {}
    _jobs()
    told = [p.get("text", "") for p in fakes.telegram.calls_of("editMessageText") if int(p["chat_id"]) == RU_MEMBER]
    assert any("too large" in t.lower() or "MB" in t for t in told), told
    assert _one("SELECT status FROM vpn_orders WHERE chat_id = %s", RU_MEMBER)["status"] == "pending_payment"
    assert not any(c.startswith("getFile") for c, _p in fakes.telegram.calls[-5:])
