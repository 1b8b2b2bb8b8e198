"""The VPN store end to end through the real Discord function, the jobs and the fakes (Discord with channels
and files, a Discord CDN, a 3x-ui panel over real HTTP): /setup vpn, /order makes a private order channel,
/pay takes a screenshot and locks the channel, the review message's Approve opens a one-time Confirm, Confirm
makes exactly one panel client and one key message; rejections, cancellations, rollbacks, races, duplicates
and the panel's circuit breaker."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from functions_framework import create_app
from PIL import Image, ImageDraw

from devtools import fake_cdn, fake_xui
from devtools import fake_discord_channels as chans
from devtools.fake_discord_guilds import add_guild
from devtools.simulate import discord_payload, modal_data
from devtools.wsgi_server import RunningServer
from tests.conftest import APP_ID, encode, interaction, run_schedule, sign
from ttfd.core import db
from ttfd.features.vpn import calls, service

GUILD, OWNER, BOT = 1, 900, int(APP_ID)
STAFF_ROLE, ADMIN_ROLE, BOT_ROLE = 700, 701, 702
MEMBER, OTHER, ADMIN, SUPPORT = 501, 502, 601, 602
REVIEW = 800
MANAGE_GUILD, MANAGE_CHANNELS, MANAGE_ROLES, ADMINISTRATOR = 1 << 5, 1 << 4, 1 << 28, 1 << 3
ROLES = [
    (STAFF_ROLE, "Support", 2, 0),
    (ADMIN_ROLE, "Payments", 3, 0),
    (BOT_ROLE, "TTFD", 10, MANAGE_CHANNELS | MANAGE_ROLES | (1 << 10) | (1 << 11) | (1 << 14) | (1 << 15)),
]
MEMBERS = {MEMBER: [], OTHER: [], ADMIN: [ADMIN_ROLE], SUPPORT: [STAFF_ROLE], OWNER: [], BOT: [BOT_ROLE]}


@pytest.fixture
def panel(app_env, monkeypatch) -> Iterator[fake_xui.XuiState]:
    state = fake_xui.XuiState.demo("3.6.0", tokens=["tok-" + "x" * 44])
    running = RunningServer(fake_xui.create_app(state))
    monkeypatch.setenv("VPN_PANEL_URL", running.url + "/")
    monkeypatch.setenv("VPN_PANEL_TOKEN", "tok-" + "x" * 44)
    monkeypatch.setenv("VPN_INBOUND_ID", "1")
    monkeypatch.setenv("VPN_LINK_HOST", "vpn.example.com")
    monkeypatch.setenv("ACTIONS_SECRET", "a" * 32)
    from ttfd.core.settings import get_settings

    get_settings.cache_clear()
    calls._panels.clear()
    yield state
    running.stop()


@pytest.fixture
def cdn(app_env, monkeypatch) -> Iterator[fake_cdn.FakeCdn]:
    """Discord's CDN, where a command's uploads are fetched from (the only host DISCORD_CDN_HOSTS allows here)."""
    state = fake_cdn.FakeCdn()
    running = RunningServer(fake_cdn.create_app(state))
    state.base_url = running.url
    monkeypatch.setenv("DISCORD_CDN_HOSTS", running.url.removeprefix("http://"))
    from ttfd.core.settings import get_settings

    get_settings.cache_clear()
    yield state
    running.stop()


@pytest.fixture
def store(app_env, panel, cdn) -> Iterator[Any]:
    chans.reset(app_env.discord)
    add_guild(app_env.discord, GUILD, OWNER, ROLES, MEMBERS, channels={REVIEW: "payments"})
    client = create_app("discord_interactions", "main.py").test_client()
    yield client
    app_env.discord.guilds.pop(str(GUILD), None)


def _post(client, payload: dict[str, Any]) -> dict[str, Any]:
    body = encode(payload)
    resp = client.post("/", data=body, headers=sign(body))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return dict(resp.get_json())


def _jobs() -> None:
    for _ in range(5):
        assert run_schedule("run_jobs").status_code == 200


def _one(query: str, *args: Any) -> Any:
    with db.transaction() as conn:
        return conn.execute(query, args).fetchone()


def _setup(client) -> None:
    cmd = f"/setup vpn review_channel:{REVIEW} staff_role:{STAFF_ROLE} admin_role:{ADMIN_ROLE}"
    said = _post(client, interaction(cmd, user=OWNER, permissions=MANAGE_GUILD))
    assert "The VPN store is open here" in said["data"]["content"], said


def _plan(days: int = 30, price: str = "299", currency: str = "RUB") -> int:
    with db.transaction() as conn:
        return service.create_plan(conn, f"Month {days}", days, price, currency, 100, 3).id


def _order(client, fakes, user: int = MEMBER, plan: int | None = None) -> tuple[int, int]:
    payload = interaction(f"/order plan:{plan}" if plan else "/order", user=user)
    said = _post(client, payload)
    assert "is placed" in said["data"]["content"], said
    _jobs()
    done = fakes.discord.originals[payload["token"]]
    assert "is open in <#" in done["content"], done
    row = _one(
        "SELECT id, channel_id FROM vpn_orders WHERE user_id = (SELECT id FROM unified_users "
        "WHERE discord_id = %s) ORDER BY id DESC LIMIT 1",
        user,
    )
    return int(row["id"]), int(row["channel_id"])


def test_setup_order_makes_a_private_channel_with_the_order(app_env, store) -> None:
    client, fakes = store, app_env
    _setup(client)
    plan = _plan()
    order_id, channel = _order(client, fakes, plan=plan)
    made = chans.channels(fakes.discord)[str(channel)]
    assert made["name"] == f"order-{order_id}"
    assert chans.can_see(fakes.discord, channel, MEMBER) and chans.can_send(fakes.discord, channel, MEMBER)
    assert chans.can_see(fakes.discord, channel, SUPPORT) and chans.can_see(fakes.discord, channel, ADMIN)
    assert not chans.can_see(fakes.discord, channel, OTHER)
    first = fakes.discord.channel_messages[str(channel)][0]
    assert f"<@{MEMBER}>" in first["content"]
    assert first["embeds"][0]["title"] == f"🧾 Order #{order_id}"
    assert "RUB\xa0299" in first["embeds"][0]["description"] and "/pay" in first["embeds"][0]["description"]
    # one open order per person: a second /order is refused and makes nothing
    again = _post(client, interaction(f"/order plan:{plan}", user=MEMBER))
    assert f"You already have an open order #{order_id}" in again["data"]["content"]
    assert _one("SELECT count(*) AS n FROM vpn_orders")["n"] == 1


def test_order_without_a_plan_shows_the_plans_as_a_menu(app_env, store) -> None:
    _setup(store)
    _plan(30)
    _plan(90, "799")
    said = _post(store, interaction("/order", user=MEMBER))
    menu = said["data"]["components"][0]["components"][0]
    assert [o["label"] for o in menu["options"]] == ["Month 30", "Month 90"]
    assert said["data"]["flags"] & 64  # only the member sees it


def test_order_is_refused_where_no_store_is_set_up(app_env, store) -> None:
    plan = _plan()
    said = _post(store, interaction(f"/order plan:{plan}", user=MEMBER))
    assert "no VPN store yet" in said["data"]["content"]


# --- the review: Approve → Confirm → one client, one key ------------------------------------------------------


def _paid(fakes, order_id: int, picture: bytes | None = None) -> int:
    """A payment under review for the order, as /pay leaves it (its job run: the review message posted)."""
    from ttfd.features.vpn import proof

    checked = proof.check(picture or screenshot(order_id), "image/png", "pay.png")
    row = service.ProofRow.of(checked)
    with db.transaction() as conn:
        od = service.order(conn, order_id)
        pay = service.submit_payment(
            conn, od, method_id="transfer", proof=row, request_key=f"t:{order_id}", actor=od.user_id
        )
        from ttfd.core import jobs

        jobs.enqueue(conn, "vpn.payment", {"payment": pay.id}, dedupe_key=f"vpn:review:{pay.id}")
    _jobs()
    return pay.id


def screenshot(n: int, size: tuple[int, int] = (540, 1170)) -> bytes:
    """A bank app's receipt, different for each n (amount, recipient, operation number)."""
    img = Image.new("RGB", size, "white")
    d = ImageDraw.Draw(img)
    d.rectangle((0, 0, size[0], 60), fill=(30, 160, 80))
    d.ellipse((220, 120, 320, 220), fill=(30, 160, 80))
    for i, line in enumerate(
        (
            f"Transfer done {n}",
            f"{299 + n * 7} RUB",
            f"To: Ivan {n * 13 % 97}",
            f"Operation {n * 7919:08d}",
            f"2026-12-0{1 + n % 7} 1{n % 10}:2{n % 6}",
        )
    ):
        d.text((40, 260 + i * 60), line, fill=(20, 20, 20))
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def _review_message(fakes, payment_id: int) -> dict[str, Any]:
    row = _one("SELECT review_channel, review_message FROM vpn_payments WHERE id = %s", payment_id)
    for m in fakes.discord.channel_messages[str(row["review_channel"])]:
        if m["id"] == str(row["review_message"]):
            return m
    raise AssertionError("no review message")


def _press(client, custom_id: str, user: int, roles: tuple[int, ...] = (), perms: int = 0) -> dict[str, Any]:
    payload = discord_payload(
        app_id=APP_ID,
        user=user,
        guild=GUILD,
        data={"custom_id": custom_id, "component_type": 2},
        interaction_type=3,
        message={"id": "1", "content": ""},
        roles=[str(r) for r in roles],
        permissions=perms,
    )
    return _post(client, payload)


def _buttons(message: dict[str, Any]) -> dict[str, str]:
    return {b["label"]: b["custom_id"] for row in message.get("components", []) for b in row["components"]}


def _approve(client, fakes, payment_id: int, user: int = ADMIN) -> str:
    """Approve pressed by an admin: the Confirm button's custom_id."""
    said = _press(client, _buttons(_review_message(fakes, payment_id))["Approve"], user, (ADMIN_ROLE,))
    assert said["data"]["flags"] & 64, said
    return str(_buttons(said["data"])["Confirm"])


def _confirm_payload(custom_id: str, user: int = ADMIN) -> dict[str, Any]:
    return discord_payload(
        app_id=APP_ID,
        user=user,
        guild=GUILD,
        data={"custom_id": custom_id, "component_type": 2},
        interaction_type=3,
        message={"id": "2", "content": "", "flags": 64},
        roles=[str(ADMIN_ROLE)],
    )


def _dm(fakes, user: int) -> list[dict[str, Any]]:
    channel = fakes.discord.dm_channels.get(str(user))
    return fakes.discord.channel_messages.get(channel, []) if channel else []


def test_a_whole_order_ends_in_one_client_one_key_one_payment(app_env, store, panel) -> None:
    client, fakes = store, app_env
    _setup(client)
    order_id, channel = _order(client, fakes, plan=_plan())
    payment_id = _paid(fakes, order_id)
    # the proof went to review (with the picture), and the member can no longer write in the order channel
    review = _review_message(fakes, payment_id)
    assert set(_buttons(review)) == {"Approve", "Reject"}
    assert chans.files(fakes.discord)[review["id"]][0][2] == "image/png"
    assert chans.can_see(fakes.discord, channel, MEMBER) and not chans.can_send(fakes.discord, channel, MEMBER)
    # support staff may read, not approve
    refused = _press(client, _buttons(review)["Approve"], SUPPORT, (STAFF_ROLE,))
    assert "Only the store's admins can do that." in refused["data"]["content"]
    confirm = _approve(client, fakes, payment_id)
    said = _post(client, _confirm_payload(confirm))
    assert said["type"] == 7 and "Making the key" in said["data"]["content"]
    _jobs()
    email = f"ttfd-o{order_id}"
    assert panel.count(email) == 1
    key = _one("SELECT * FROM vpn_keys")
    assert key["email"] == email and key["link"].startswith("vless://")
    assert _one("SELECT status FROM vpn_orders WHERE id = %s", order_id)["status"] == "completed"
    assert _one("SELECT status FROM vpn_payments WHERE id = %s", payment_id)["status"] == "approved"
    dms = _dm(fakes, MEMBER)
    assert len(dms) == 1 and key["link"] in dms[0]["content"]
    assert chans.files(fakes.discord)[dms[0]["id"]][0][0] == "vpn-key.png"
    actions = [r[0] for r in _all("SELECT action FROM vpn_audit WHERE order_id = %s ORDER BY id", order_id)]
    assert actions == [
        "order.open",
        "order.channel",
        "payment.submit",
        "payment.approve",
        "payment.confirm",
        "panel.client",
        "order.complete",
        "key.deliver",
    ]
    # the review message shows who approved it, and has no buttons left
    decided = _review_message(fakes, payment_id)
    assert decided["components"] == [] and f"Approved by <@{ADMIN}>" in str(decided)
    # the audit cannot be changed
    with pytest.raises(psycopg.errors.RaiseException), db.transaction() as conn:
        conn.execute("UPDATE vpn_audit SET outcome = 'x'")
    with pytest.raises(psycopg.errors.RaiseException), db.transaction() as conn:
        conn.execute("DELETE FROM vpn_audit")


def _all(query: str, *args: Any) -> list[Any]:
    with db.transaction() as conn:
        return [tuple(r.values()) for r in conn.execute(query, args).fetchall()]


def test_ten_concurrent_confirms_and_a_double_approve_make_one_client(app_env, store, panel) -> None:
    client, fakes = store, app_env
    _setup(client)
    order_id, _ = _order(client, fakes, plan=_plan())
    payment_id = _paid(fakes, order_id)
    first, second = _approve(client, fakes, payment_id), _approve(client, fakes, payment_id)
    answers: list[dict[str, Any]] = []

    def press(custom_id: str) -> None:
        answers.append(_post(client, _confirm_payload(custom_id)))

    threads = [threading.Thread(target=press, args=(first if i % 2 else second,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    started = [a for a in answers if "Making the key" in str(a)]
    assert len(started) == 1, answers
    _jobs()
    assert panel.count(f"ttfd-o{order_id}") == 1
    assert len(_dm(fakes, MEMBER)) == 1
    assert _one("SELECT count(*) AS n FROM vpn_keys")["n"] == 1


def test_a_job_killed_after_the_panel_call_runs_again_into_one_client(app_env, store, panel, monkeypatch) -> None:
    client, fakes = store, app_env
    _setup(client)
    order_id, _ = _order(client, fakes, plan=_plan())
    payment_id = _paid(fakes, order_id)
    _post(client, _confirm_payload(_approve(client, fakes, payment_id)))
    real = service.complete

    def killed(*args: Any, **kw: Any) -> Any:
        raise KeyboardInterrupt  # the process dies here: nothing after the panel call commits

    monkeypatch.setattr(service, "complete", killed)
    with pytest.raises(KeyboardInterrupt):
        from ttfd.core import jobs
        from ttfd.features import REGISTRY

        jobs.run_due(REGISTRY)
    assert panel.count(f"ttfd-o{order_id}") == 1  # the client was made…
    assert _one("SELECT count(*) AS n FROM vpn_keys")["n"] == 0  # …and nothing recorded
    monkeypatch.setattr(service, "complete", real)
    _jobs()
    assert panel.count(f"ttfd-o{order_id}") == 1
    assert _one("SELECT status FROM vpn_orders WHERE id = %s", order_id)["status"] == "completed"
    assert len(_dm(fakes, MEMBER)) == 1


def test_an_order_channel_made_before_a_crash_is_adopted_not_made_twice(app_env, store, monkeypatch) -> None:
    client, fakes = store, app_env
    _setup(client)
    payload = interaction(f"/order plan:{_plan()}", user=MEMBER)
    assert "is placed" in _post(client, payload)["data"]["content"]
    real = service.set_channel

    def killed(*args: Any, **kw: Any) -> Any:
        raise KeyboardInterrupt  # the process dies after Discord made the channel, before the commit

    monkeypatch.setattr(service, "set_channel", killed)
    with pytest.raises(KeyboardInterrupt):
        from ttfd.core import jobs
        from ttfd.features import REGISTRY

        jobs.run_due(REGISTRY)
    made = [c for c in chans.channels(fakes.discord).values() if c["name"].startswith("order-")]
    assert len(made) == 1 and _one("SELECT channel_id FROM vpn_orders")["channel_id"] is None
    monkeypatch.setattr(service, "set_channel", real)
    _jobs()
    again = [c for c in chans.channels(fakes.discord).values() if c["name"].startswith("order-")]
    assert [c["id"] for c in again] == [made[0]["id"]]
    assert _one("SELECT channel_id FROM vpn_orders")["channel_id"] == int(made[0]["id"])
    assert len(fakes.discord.channel_messages[made[0]["id"]]) == 1  # the order, posted once
    assert "is open in <#" in fakes.discord.originals[payload["token"]]["content"]


def test_a_payment_whose_review_channel_is_gone_is_posted_again_after_setup(app_env, store, cdn) -> None:
    client, fakes = store, app_env
    _setup(client)
    order_id, _ = _order(client, fakes, plan=_plan())
    fakes.discord.guilds[str(GUILD)]["channels"][str(REVIEW + 1)] = "payments-2"
    fakes.discord.guilds[str(GUILD)]["channels"].pop(str(REVIEW))  # someone deleted the review channel
    chans._deleted(fakes.discord).add(str(REVIEW))
    told = _pay(client, fakes, cdn, MEMBER, screenshot(31))
    assert "received" in told, told  # the member's part is done; the staff's message could not be posted
    pay = _one("SELECT id, review_message FROM vpn_payments WHERE order_id = %s", order_id)
    assert pay["review_message"] is None
    assert _one("SELECT outcome FROM vpn_audit WHERE action = 'payment.review'")["outcome"] == "no channel"
    assert _one("SELECT count(*) AS n FROM jobs WHERE status = 'dead'")["n"] == 0
    cmd = f"/setup vpn review_channel:{REVIEW + 1} staff_role:{STAFF_ROLE} admin_role:{ADMIN_ROLE}"
    assert (
        "The VPN store is open here"
        in _post(client, interaction(cmd, user=OWNER, permissions=MANAGE_GUILD))["data"]["content"]
    )
    _jobs()
    moved = _one("SELECT review_channel, review_message FROM vpn_payments WHERE id = %s", pay["id"])
    assert moved["review_channel"] == REVIEW + 1 and moved["review_message"] is not None
    posted = fakes.discord.channel_messages[str(REVIEW + 1)]
    assert any(f"Payment #{pay['id']}" in str(m) for m in posted), posted


def test_a_failure_after_the_panel_call_rolls_back(app_env, store, panel) -> None:
    client, fakes = store, app_env
    _setup(client)
    order_id, channel = _order(client, fakes, plan=_plan())
    payment_id = _paid(fakes, order_id)
    payload = _confirm_payload(_approve(client, fakes, payment_id))
    _post(client, payload)
    panel.fail_next(r".*clients/links/.*", "error")
    _jobs()
    told = fakes.discord.originals[payload["token"]]["content"]
    assert "back in review" in told, told
    assert panel.count(f"ttfd-o{order_id}") == 0  # the client made is gone
    assert _one("SELECT status FROM vpn_orders WHERE id = %s", order_id)["status"] == "review"
    assert _one("SELECT status FROM vpn_payments WHERE id = %s", payment_id)["status"] == "pending"
    assert chans.can_send(fakes.discord, channel, MEMBER)  # unlocked
    assert _dm(fakes, MEMBER) == []
    # Approve again: it works now
    _post(client, _confirm_payload(_approve(client, fakes, payment_id)))
    _jobs()
    assert panel.count(f"ttfd-o{order_id}") == 1 and len(_dm(fakes, MEMBER)) == 1


def test_reject_with_a_reason_reopens_the_order_for_a_new_screenshot(app_env, store) -> None:
    client, fakes = store, app_env
    _setup(client)
    order_id, channel = _order(client, fakes, plan=_plan())
    payment_id = _paid(fakes, order_id)
    reject = _buttons(_review_message(fakes, payment_id))["Reject"]
    modal = _press(client, reject, ADMIN, (ADMIN_ROLE,))
    assert modal["type"] == 9
    custom_id = modal["data"]["custom_id"]
    submit = discord_payload(
        app_id=APP_ID,
        user=ADMIN,
        guild=GUILD,
        data=modal_data(custom_id, {"reason": "Wrong amount"}),
        interaction_type=5,
        roles=[str(ADMIN_ROLE)],
    )
    said = _post(client, submit)
    assert "rejected" in said["data"]["content"], said
    _jobs()
    assert _one("SELECT status FROM vpn_orders WHERE id = %s", order_id)["status"] == "pending_payment"
    assert _one("SELECT status, reason FROM vpn_payments WHERE id = %s", payment_id) == {
        "status": "rejected",
        "reason": "Wrong amount",
    }
    assert chans.can_send(fakes.discord, channel, MEMBER)
    told = fakes.discord.channel_messages[str(channel)][-1]
    assert "Wrong amount" in str(told) and f"<@{MEMBER}>" in told["content"]
    # a stale Approve after the rejection changes nothing
    stale = _press(
        client, _buttons(_review_message(fakes, payment_id)).get("Approve", f"vpa:{payment_id}"), ADMIN, (ADMIN_ROLE,)
    )
    assert "already decided" in str(stale)


# --- /pay: the screenshot ---------------------------------------------------------------------------------------


def _pay_payload(
    cdn, user: int, data: bytes, content_type: str = "image/png", name: str = "pay.png", **extra: Any
) -> dict[str, Any]:
    url = extra.pop("url", None) or cdn.put(name, data, content_type)
    attachment = {
        "id": "1180000000000000099",
        "filename": name,
        "size": extra.pop("size", len(data)),
        "content_type": content_type,
        "url": url,
        "proxy_url": url,
        "ephemeral": True,
    }
    data_ = {
        "name": "pay",
        "type": 1,
        "options": [{"name": "screenshot", "type": 11, "value": attachment["id"]}],
        "resolved": {"attachments": {attachment["id"]: attachment}},
    }
    return discord_payload(app_id=APP_ID, user=user, guild=GUILD, data=data_)


def _pay(client, fakes, cdn, user: int, data: bytes, **kw: Any) -> str:
    """/pay with a file: deferred; what the member is told once its job ran."""
    payload = _pay_payload(cdn, user, data, **kw)
    said = _post(client, payload)
    assert said["type"] == 5 and said["data"]["flags"] & 64, said
    _jobs()
    return str(fakes.discord.originals[payload["token"]]["content"])


def test_pay_takes_the_screenshot_and_hands_the_order_to_review(app_env, store, cdn) -> None:
    client, fakes = store, app_env
    _setup(client)
    order_id, channel = _order(client, fakes, plan=_plan())
    told = _pay(client, fakes, cdn, MEMBER, screenshot(1))
    assert f"Payment proof for order #{order_id} received" in told, told
    payment = _one("SELECT * FROM vpn_payments WHERE order_id = %s", order_id)
    assert payment["status"] == "pending" and payment["review_message"] is not None
    stored = _one("SELECT content_type, data, sha256 FROM vpn_proofs WHERE payment_id = %s", payment["id"])
    assert stored["content_type"] == "image/png" and bytes(stored["data"]).startswith(b"\x89PNG")
    assert not chans.can_send(fakes.discord, channel, MEMBER)
    # a second /pay while the first waits is refused and changes nothing
    again = _pay(client, fakes, cdn, MEMBER, screenshot(2))
    assert "already waiting for the staff" in again
    assert _one("SELECT count(*) AS n FROM vpn_payments")["n"] == 1


def test_the_same_screenshot_on_another_order_is_refused_and_flagged(app_env, store, cdn) -> None:
    client, fakes = store, app_env
    _setup(client)
    first, _ = _order(client, fakes, plan=_plan())
    original = screenshot(7)
    _pay(client, fakes, cdn, MEMBER, original)
    second, _ = _order(client, fakes, user=OTHER, plan=_plan(60, "499"))
    # byte for byte
    told = _pay(client, fakes, cdn, OTHER, original)
    assert "already sent for another order" in told, told
    # re-encoded as JPEG and cropped a little (the status bar cut off)
    img = Image.open(io.BytesIO(original)).convert("RGB")
    w, h = img.size
    out = io.BytesIO()
    img.crop((0, int(h * 0.04), w, h)).save(out, "JPEG", quality=80)
    told = _pay(client, fakes, cdn, OTHER, out.getvalue(), content_type="image/jpeg", name="pay.jpg")
    assert "already sent for another order" in told, told
    assert _one("SELECT count(*) AS n FROM vpn_payments WHERE order_id = %s", second)["n"] == 0
    assert _one("SELECT status FROM vpn_orders WHERE id = %s", second)["status"] == "pending_payment"
    flags = [m for m in fakes.discord.channel_messages[str(REVIEW)] if f"order #{first}" in str(m)]
    assert any("already used" in str(m) for m in flags), flags
    # a different receipt of the same bank app is taken
    told = _pay(client, fakes, cdn, OTHER, screenshot(8))
    assert "received" in told, told


def _sparse(amount: int) -> bytes:
    """A receipt with one line of text: too little for the fine check, alike by its hash to any other such."""
    img = Image.new("RGB", (540, 1170), "white")
    d = ImageDraw.Draw(img)
    d.rectangle((0, 0, 540, 200), fill=(30, 160, 90))
    d.text((40, 400), f"Paid {amount} RUB", fill="black")
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def test_a_sparse_receipt_alike_another_is_taken_and_flagged_not_refused(app_env, store, cdn) -> None:
    """Two customers' one-line receipts from one app hash the same: refusing would block an honest payment, so
    the second goes to staff with a warning naming the other order."""
    client, fakes = store, app_env
    _setup(client)
    first, _ = _order(client, fakes, plan=_plan())
    _pay(client, fakes, cdn, MEMBER, _sparse(299))
    second, _ = _order(client, fakes, user=OTHER, plan=_plan(60, "499"))
    told = _pay(client, fakes, cdn, OTHER, _sparse(499))
    assert "received" in told, told
    pay = _one("SELECT id, flagged, status FROM vpn_payments WHERE order_id = %s", second)
    assert pay["status"] == "pending" and pay["flagged"] == f"alike:{first}"
    review = _review_message(fakes, pay["id"])
    assert f"looks like the one sent for order #{first}" in str(review), review
    assert _one("SELECT count(*) AS n FROM vpn_audit WHERE action = 'payment.alike'")["n"] == 1
    # the very same file is still refused
    _order(client, fakes, user=SUPPORT, plan=_plan(90, "699"))
    assert "already sent for another order" in _pay(client, fakes, cdn, SUPPORT, _sparse(299))


@pytest.mark.parametrize("case", ["not_an_image", "huge", "bomb", "html_as_png"])
def test_bad_files_are_refused_without_a_5xx(app_env, store, cdn, case) -> None:
    client, fakes = store, app_env
    _setup(client)
    order_id, channel = _order(client, fakes, plan=_plan())
    if case == "not_an_image":
        payload = _pay_payload(cdn, MEMBER, b"%PDF-1.4 not a picture", "application/pdf", "pay.pdf")
    elif case == "huge":
        url = cdn.put_huge("pay.png", 40 * 1024 * 1024)
        payload = _pay_payload(cdn, MEMBER, b"", url=url, size=1000)
    elif case == "bomb":
        img = Image.new("1", (20000, 20000))
        out = io.BytesIO()
        img.save(out, "PNG")
        payload = _pay_payload(cdn, MEMBER, out.getvalue())
    else:
        payload = _pay_payload(cdn, MEMBER, b"<html><script>alert(1)</script></html>", "image/png")
    body = encode(payload)
    resp = client.post("/", data=body, headers=sign(body))
    assert resp.status_code == 200
    for _ in range(3):
        assert run_schedule("run_jobs").status_code == 200
    told = fakes.discord.originals[payload["token"]]["content"]
    assert told and "received" not in told, told
    assert _one("SELECT count(*) AS n FROM vpn_payments")["n"] == 0
    assert _one("SELECT status FROM vpn_orders WHERE id = %s", order_id)["status"] == "pending_payment"
    assert chans.can_send(fakes.discord, channel, MEMBER)


# --- after the sale -----------------------------------------------------------------------------------------------


def _sold(client, fakes, user: int = MEMBER, plan: int | None = None) -> int:
    """A whole order through to its key; the order's id."""
    order_id, _ = _order(client, fakes, user=user, plan=plan or _plan())
    payment_id = _paid(fakes, order_id)
    _post(client, _confirm_payload(_approve(client, fakes, payment_id)))
    _jobs()
    assert _one("SELECT status FROM vpn_orders WHERE id = %s", order_id)["status"] == "completed"
    return order_id


def test_myvpn_shows_the_key_expiry_and_traffic_only_to_its_owner(app_env, store, panel) -> None:
    client, fakes = store, app_env
    _setup(client)
    order_id = _sold(client, fakes)
    panel.add_traffic(f"ttfd-o{order_id}", up=1024**3, down=512 * 1024**2)
    payload = interaction("/myvpn", user=MEMBER)
    assert _post(client, payload)["data"]["flags"] & 64
    _jobs()
    shown = fakes.discord.originals[payload["token"]]
    key = _one("SELECT link FROM vpn_keys")["link"]
    assert key in str(shown) and "1.5 GB used" in str(shown), shown
    other = interaction("/myvpn", user=OTHER)
    _post(client, other)
    _jobs()
    assert "no VPN key yet" in fakes.discord.originals[other["token"]]["content"]


def test_renew_extends_the_same_client_through_the_same_review(app_env, store, panel) -> None:
    client, fakes = store, app_env
    _setup(client)
    first = _sold(client, fakes)
    before = _one("SELECT id, expires_at, link FROM vpn_keys")
    panel.add_traffic(f"ttfd-o{first}", up=5 * 1024**3)
    payload = interaction("/renew", user=MEMBER)
    assert "Renewal order" in _post(client, payload)["data"]["content"]
    _jobs()
    renewal = _one("SELECT id, renews FROM vpn_orders ORDER BY id DESC LIMIT 1")
    assert renewal["renews"] == before["id"]
    payment_id = _paid(fakes, renewal["id"])
    _post(client, _confirm_payload(_approve(client, fakes, payment_id)))
    _jobs()
    after = _one("SELECT id, expires_at, link FROM vpn_keys")
    assert after["id"] == before["id"] and (after["expires_at"] - before["expires_at"]).days == 30
    assert panel.count(f"ttfd-o{first}") == 1 and panel.count(f"ttfd-o{renewal['id']}") == 0
    traffic = panel.traffics[f"ttfd-o{first}"]
    assert traffic["up"] == 0 and traffic["down"] == 0  # reset with the renewal
    assert _one("SELECT count(*) AS n FROM vpn_keys")["n"] == 1


def test_reminders_before_expiry_then_expired(app_env, store) -> None:
    client, fakes = store, app_env
    _setup(client)
    _sold(client, fakes)
    with db.transaction() as conn:
        conn.execute("UPDATE vpn_keys SET expires_at = now() + interval '2 days 23 hours'")
    for _ in range(2):  # the schedule runs often; the reminder goes once
        assert run_schedule("vpn_keys").status_code == 200
        _jobs()
    texts = [m["content"] for m in _dm(fakes, MEMBER)]
    assert sum("Your VPN key ends" in t for t in texts) == 1, texts
    with db.transaction() as conn:
        conn.execute("UPDATE vpn_keys SET expires_at = now() + interval '20 hours'")
    run_schedule("vpn_keys")
    _jobs()
    with db.transaction() as conn:
        conn.execute("UPDATE vpn_keys SET expires_at = now() - interval '1 minute'")
    run_schedule("vpn_keys")
    _jobs()
    texts = [m["content"] for m in _dm(fakes, MEMBER)]
    assert sum("Your VPN key ends" in t for t in texts) == 2 and sum("has ended" in t for t in texts) == 1, texts
    assert _one("SELECT status FROM vpn_keys")["status"] == "expired"


def test_reconcile_reports_differences_once(app_env, store, panel) -> None:
    client, fakes = store, app_env
    _setup(client)
    order_id = _sold(client, fakes)
    panel.add_client(1, "ttfd-o999", sub_id="orphan0sub")  # ours by name, with no key
    with db.transaction() as conn:
        conn.execute("UPDATE vpn_keys SET expires_at = expires_at + interval '1 day'")
    for _ in range(2):
        assert run_schedule("vpn_reconcile").status_code == 200
        _jobs()
    reports = [m for m in fakes.discord.channel_messages[str(REVIEW)] if "disagree" in str(m)]
    assert len(reports) == 1, reports
    assert "ttfd-o999" in str(reports[0]) and f"ttfd-o{order_id}" in str(reports[0])


def test_panel_down_three_times_pauses_orders_and_tells_once(app_env, store, panel) -> None:
    client, fakes = store, app_env
    _setup(client)
    plan = _plan()
    panel.status_mode = "down"
    for _ in range(4):
        assert run_schedule("vpn_health").status_code == 200
        _jobs()
    alerts = [m for m in fakes.discord.channel_messages[str(REVIEW)] if "not answering" in m.get("content", "")]
    assert len(alerts) == 1, alerts
    owner_dm = _dm(fakes, OWNER)
    assert len(owner_dm) == 1 and "not answering" in owner_dm[0]["content"]
    refused = _post(client, interaction(f"/order plan:{plan}", user=MEMBER))
    assert "new orders are paused" in refused["data"]["content"]
    panel.status_mode = "ok"
    run_schedule("vpn_health")
    _jobs()
    assert any("answers again" in m.get("content", "") for m in fakes.discord.channel_messages[str(REVIEW)])
    assert "is placed" in _post(client, interaction(f"/order plan:{plan}", user=MEMBER))["data"]["content"]


def test_revenue_counts_approved_payments_for_owners_only(app_env, store) -> None:
    client, fakes = store, app_env
    _setup(client)
    _sold(client, fakes, plan=_plan(30, "299.50"))
    denied = _post(client, interaction("/revenue", user=ADMIN))
    assert "Administrator" in denied["data"]["content"]

    def revenue() -> dict[str, str]:  # deferred (on Telegram the owner is asked of the staff group)
        payload = interaction("/revenue", user=OWNER, permissions=ADMINISTRATOR)
        _post(client, payload)
        _jobs()
        shown = fakes.discord.originals[payload["token"]]
        return {f["name"]: f["value"] for f in shown["embeds"][0]["fields"]}

    fields = revenue()
    assert "RUB\xa0299.50 · 1 payment" in fields["Today"] and "RUB\xa0299.50" in fields["All time"]
    with db.transaction() as conn:
        service.refund(conn, _one("SELECT id FROM vpn_payments")["id"], None, "test")
    assert revenue()["Today"] == "nothing yet"
    # the dashboard message: posted once, then edited in place
    for _ in range(2):
        assert run_schedule("vpn_dashboard").status_code == 200
        _jobs()
    boards = [m for m in fakes.discord.channel_messages[str(REVIEW)] if "revenue" in str(m.get("embeds"))]
    assert len(boards) == 1


def test_the_order_message_in_russian(app_env, store) -> None:
    client, fakes = store, app_env
    _setup(client)
    plan = _plan(30, "1500")
    payload = interaction(f"/order plan:{plan}", user=MEMBER, locale="ru")
    said = _post(client, payload)
    assert "оформлен" in said["data"]["content"], said
    _jobs()
    channel = _one("SELECT channel_id FROM vpn_orders")["channel_id"]
    first = fakes.discord.channel_messages[str(channel)][0]["embeds"][0]
    assert first["title"].startswith("🧾 Заказ №") and "1\xa0500\xa0₽" in first["description"], first
    assert "30 дней" in first["description"] and "Как оплатить" in first["description"]


def test_operators_keep_plans_and_refund_from_the_cli(app_env, store, panel, capsys) -> None:
    import json

    from ttfd.cli import main as cli

    assert (
        cli(
            [
                "vpn",
                "plan",
                "add",
                "Year",
                "--days",
                "365",
                "--price",
                "2990.50",
                "--currency",
                "rub",
                "--traffic-gb",
                "0",
                "--devices",
                "5",
            ]
        )
        == 0
    )
    plan_id = int(capsys.readouterr().out.strip())
    assert cli(["vpn", "plan", "add", "Year", "--days", "30", "--price", "1", "--currency", "RUB"]) == 2
    assert "already on sale" in capsys.readouterr().err
    for bad in (["--price", "12.345"], ["--price", "-5"], ["--price", "1e9"], ["--currency", "RUBLE"]):
        args = {"--price": "10", "--currency": "RUB", **dict(zip(bad[::2], bad[1::2], strict=True))}
        assert cli(["vpn", "plan", "add", "Bad", "--days", "30", *sum(args.items(), ())]) == 2, bad
    assert "refused" in capsys.readouterr().err
    assert cli(["vpn", "plan", "edit", str(plan_id), "--price", "2490"]) == 0
    capsys.readouterr()
    assert cli(["vpn", "plan", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(p["name"], p["price_minor"], p["currency"]) for p in listed] == [("Year", 249000, "RUB")]
    assert cli(["vpn", "plan", "off", str(plan_id)]) == 0
    said = _post(store, interaction(f"/order plan:{plan_id}", user=MEMBER))
    assert "no VPN store yet" in said["data"]["content"]  # (the store is not set up in this test)
    # a refund: no longer revenue, the key revoked, the panel client disabled
    _setup(store)
    order_id = _sold(store, app_env)
    payment_id = _one("SELECT id FROM vpn_payments WHERE order_id = %s", order_id)["id"]
    assert cli(["vpn", "refund", str(payment_id)]) == 0
    assert _one("SELECT status FROM vpn_payments WHERE id = %s", payment_id)["status"] == "refunded"
    assert _one("SELECT status FROM vpn_keys")["status"] == "revoked"
    assert panel.find(f"ttfd-o{order_id}")[1]["enable"] is False
    assert cli(["vpn", "refund", str(payment_id)]) == 2  # once


def test_another_servers_admin_cannot_decide_an_order_with_a_crafted_button(app_env, store) -> None:
    client, fakes = store, app_env
    _setup(client)
    order_id, _ = _order(client, fakes, plan=_plan())
    payment_id = _paid(fakes, order_id)
    other_guild = 77
    with db.transaction() as conn:  # a second server with a store of its own, where user 990 is an admin
        service.setup_store(
            conn,
            "discord",
            other_guild,
            review_channel=7701,
            staff_role=None,
            admin_role=None,
            category=None,
            locale=None,
            actor=None,
        )
    for custom_id in (f"vpa:{payment_id}", f"vpr:{payment_id}"):
        payload = discord_payload(
            app_id=APP_ID,
            user=990,
            guild=other_guild,
            permissions=MANAGE_GUILD,
            data={"custom_id": custom_id, "component_type": 2},
            interaction_type=3,
            message={"id": "1", "content": ""},
        )
        said = _post(client, payload)
        assert "another server's store" in str(said), said
    assert _one("SELECT count(*) AS n FROM vpn_sessions")["n"] == 0
    assert _one("SELECT status FROM vpn_payments WHERE id = %s", payment_id)["status"] == "pending"


def test_orders_are_rate_limited_per_person(app_env, store) -> None:
    client = store
    _setup(client)
    _plan()
    answers = [_post(client, interaction("/order", user=MEMBER))["data"].get("content") or "menu" for _ in range(7)]
    assert answers[:5] == ["menu"] * 5 and all("Too many tries" in a for a in answers[5:]), answers
    assert (_post(client, interaction("/order", user=OTHER))["data"].get("content") or "menu") == "menu"


def test_cancel_closes_an_unpaid_order_and_its_channel(app_env, store) -> None:
    client, fakes = store, app_env
    _setup(client)
    order_id, channel = _order(client, fakes, plan=_plan())
    cancel = _buttons(fakes.discord.channel_messages[str(channel)][0])["Cancel the order"]
    assert "Only the store's staff" in str(_press(client, cancel, OTHER))  # someone else's press: refused
    assert _one("SELECT status FROM vpn_orders WHERE id = %s", order_id)["status"] == "pending_payment"
    said = _press(client, cancel, MEMBER)
    assert "is cancelled" in said["data"]["content"], said
    with db.transaction() as conn:
        conn.execute("UPDATE jobs SET run_at = now() WHERE kind = 'vpn.close'")
    _jobs()
    assert str(channel) not in chans.channels(fakes.discord)
    assert _one("SELECT status FROM vpn_orders WHERE id = %s", order_id)["status"] == "cancelled"
    # a new order is possible again
    assert _order(client, fakes, plan=_plan(60, "499"))[0] != order_id


def test_old_proofs_lose_their_pictures_but_an_exact_copy_is_still_caught(app_env, store, cdn) -> None:
    client, fakes = store, app_env
    _setup(client)
    first = _sold(client, fakes)
    with db.transaction() as conn:
        conn.execute("UPDATE vpn_payments SET reviewed_at = now() - interval '91 days'")
        assert service.purge_proofs(conn) == 1
    kept = _one("SELECT data, length(detail) AS detail, sha256 FROM vpn_proofs")
    assert kept["data"] is None and kept["detail"] == 0 and kept["sha256"]
    _order(client, fakes, user=OTHER, plan=_plan(60, "499"))
    told = _pay(client, fakes, cdn, OTHER, screenshot(first))  # _sold's picture is screenshot(order id)
    assert "already sent for another order" in told, told


def test_an_order_whose_channel_discord_refuses_is_cancelled_not_stuck(app_env, store) -> None:
    client, fakes = store, app_env
    _setup(client)
    plan = _plan()
    fakes.discord.fail_next("POST", r"/guilds/1/channels", 400, {"code": 50035, "message": "Invalid Form Body"})
    payload = interaction(f"/order plan:{plan}", user=MEMBER)
    _post(client, payload)
    _jobs()
    assert "could not open an order channel" in fakes.discord.originals[payload["token"]]["content"]
    assert _one("SELECT status FROM vpn_orders")["status"] == "cancelled"
    assert _order(client, fakes, plan=plan)[0] == 2  # the member can order again


def test_hostile_inputs_are_refused_and_change_nothing(app_env, store, cdn) -> None:
    client, fakes = store, app_env
    _setup(client)
    said = _post(client, interaction("/order plan:9007199254740990", user=MEMBER))
    assert "There is no plan" in said["data"]["content"], said
    _order(client, fakes, plan=_plan())
    # an attachment option pointing at nothing resolved, a non-CDN host, a NUL in the method
    broken = _pay_payload(cdn, MEMBER, screenshot(5))
    broken["data"]["resolved"] = {"attachments": {}}
    assert "not a valid id" in str(_post(client, broken))
    elsewhere = _pay_payload(cdn, MEMBER, screenshot(5), url="https://evil.example/receipt.png")
    _post(client, elsewhere)
    _jobs()
    assert "not a Discord upload" in fakes.discord.originals[elsewhere["token"]]["content"]
    nul = _pay_payload(cdn, MEMBER, screenshot(5))
    nul["data"]["options"].append({"name": "method", "type": 3, "value": "card\x00"})
    assert "NUL" in str(_post(client, nul))
    deep: dict[str, Any] = {}
    for _ in range(200):
        deep = {"x": deep}
    weird = _pay_payload(cdn, MEMBER, screenshot(5))
    weird["data"]["resolved"]["attachments"]["1180000000000000099"]["size"] = deep
    body = encode(weird)
    assert client.post("/", data=body, headers=sign(body)).status_code in (200, 400)
    assert _one("SELECT count(*) AS n FROM vpn_payments")["n"] == 0


def test_the_same_screenshot_sent_for_two_orders_at_once_passes_once(app_env, store, cdn) -> None:
    client, fakes = store, app_env
    _setup(client)
    _order(client, fakes, plan=_plan())
    _order(client, fakes, user=OTHER, plan=_plan(60, "499"))
    picture = screenshot(21)
    payloads = [_pay_payload(cdn, user, picture) for user in (MEMBER, OTHER)]
    for p in payloads:
        _post(client, p)
    done: list[Any] = []

    def run() -> None:
        done.append(run_schedule("run_jobs").status_code)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    _jobs()
    said = [fakes.discord.originals[p["token"]]["content"] for p in payloads]
    assert sum("received" in s for s in said) == 1 and sum("already sent" in s for s in said) == 1, said
    assert _one("SELECT count(*) AS n FROM vpn_payments")["n"] == 1
