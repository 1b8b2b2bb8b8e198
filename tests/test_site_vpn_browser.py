"""My VPN on /me in headless Chromium: the keys a person bought (plan, status, expiry, traffic, devices), the
key's link and QR code only after "Show key" (Copy, Hide), a renewal with a confirming second click that opens
the order block, a refusal said in place, the section absent for someone without VPN and on /u/<id>; in English
and in Russian, at 1280 and 360 px (screenshots in artifacts/site/vpn_*.png, nothing wider than the phone)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from devtools import fake_xui
from devtools.wsgi_server import RunningServer

# The browser and the one-port site (with fakes) are test_site_browser's fixtures.
from tests.test_site_browser import _own_errors, _page, _q, _shot, browser, pytestmark, site_url  # noqa: F401
from ttfd.core import db
from ttfd.core.settings import get_settings
from ttfd.features.vpn import service
from ttfd.features.vpn.service import Key, Plan, Store

GUILD = 990_001
TG_GROUP = -1_009_900_001
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 360, "height": 780}
GIB = 1024**3
TOKEN = "tok-" + "v" * 44


def _login(page: Any, base: str, next_path: str, user_id: int = 777001) -> None:
    """Log in through the fake Discord as `user_id`, back on `next_path`."""
    page.goto(f"{base}/login?next={next_path}")
    page.click("#login-discord")
    page.wait_for_url(re.compile(r"/_fake/discord/oauth2/authorize"))
    # The fake Discord lists its known people and takes any other id posted (a new person on Discord).
    page.evaluate(
        "id => { const s = document.querySelector('#user_id');"
        " if (![...s.options].some((o) => o.value === id)) s.add(new Option(id, id)); }",
        str(user_id),
    )
    page.select_option("#user_id", str(user_id))
    page.click("#authorize")
    page.wait_for_url(f"{base}{next_path}")


def _open_me(page: Any, url: str) -> None:
    """Open /me and wait until the VPN section has had its answer (shown or left hidden)."""
    page.goto(url)
    expect(page.locator("#profile")).to_be_visible()
    expect(page.locator("#vpn-section")).to_have_attribute("aria-busy", "false")


def _uid(url: str, discord_id: int) -> int:
    return int(_q(url, "SELECT id FROM unified_users WHERE discord_id = %s", discord_id)[0])


def _shop(
    conn: Any, plan: str = "Month", *, days: int = 30, price: str = "299", gb: int = 100, devices: int = 3
) -> tuple[Plan, Store]:
    """A plan on sale and the Discord server's store."""
    made = service.create_plan(conn, plan, days, price, "RUB", gb, devices)
    st = service.setup_store(
        conn,
        "discord",
        GUILD,
        review_channel=GUILD + 1,
        staff_role=None,
        admin_role=None,
        category=None,
        locale="en",
        actor=None,
    )
    return made, st


def _bought(conn: Any, user_id: int, plan: Plan, st: Store, expires_at: datetime) -> Key:
    """A key as an approved order leaves it: ordered, paid, confirmed, made on the panel, completed."""
    od = service.open_order(
        conn,
        user_id=user_id,
        plan=plan,
        st=st,
        platform="discord",
        locale="en",
        request_key=f"test:{plan.name}:{user_id}",
    )
    pay = conn.execute(
        """INSERT INTO vpn_payments (order_id, user_id, method, amount_minor, currency, request_key)
           VALUES (%s, %s, 'card', %s, %s, %s) RETURNING id""",
        (od.id, user_id, od.amount_minor, od.currency, f"pay:{od.id}"),
    ).fetchone()
    assert service.move(conn, od.id, ("pending_payment",), "provisioning")
    email, client_uuid, sub_id = service.client_identity(od.id)
    link = (
        f"vless://{client_uuid}@vpn.example.com:443?type=tcp&security=reality&pbk=Qk9Ft2sXvZ1nW8yJ3rL5mA0bC7dE6fG4"
        f"hI9jK2lM1n&fp=chrome&sni=www.example.com&sid=6ba85179e30d4fc2&flow=xtls-rprx-vision#TTFD-{email}"
    )
    return service.complete(
        conn,
        service.order(conn, od.id),
        service.payment(conn, int(pay["id"])),
        email=email,
        client_uuid=client_uuid,
        sub_id=sub_id,
        link=link,
        expires_at=expires_at,
        channel_hours=24,
    )


def _fits(page: Any, width: int, name: str) -> None:
    """Nothing on the page is wider than the screen."""
    overflow = page.evaluate(
        """() => [...document.querySelectorAll('body *')].filter((el) => {
               const r = el.getBoundingClientRect();
               return r.width > 0 && r.right > document.documentElement.clientWidth + 1
                 && getComputedStyle(el).position !== 'fixed' && !el.closest('.table-wrap, .site-nav ul');
             }).map((el) => el.tagName + '#' + el.id + '.' + el.className).slice(0, 5)"""
    )
    assert overflow == [], f"{name} at {width}px: {overflow}"
    assert page.evaluate("document.documentElement.scrollWidth") <= width, name


def _shots(page: Any, name: str) -> None:
    """The page at 1280 and at 360 px (each audited by _shot), nothing wider than the phone; back to 1280."""
    for size in (DESKTOP, PHONE):
        page.set_viewport_size(size)
        page.evaluate("window.scrollTo(0, 0)")
        _shot(page, f"{name}_{size['width']}")
        _fits(page, size["width"], name)
    page.set_viewport_size(DESKTOP)


def _posts(page: Any) -> list[dict[str, Any]]:
    """Every POST this page sent to /api/vpn (its JSON body)."""
    found: list[dict[str, Any]] = []
    page.on(
        "request",
        lambda r: (
            found.append(json.loads(r.post_data or "{}")) if r.method == "POST" and r.url.endswith("/api/vpn") else None
        ),
    )
    return found


@pytest.fixture
def panel(site_url, monkeypatch) -> Iterator[fake_xui.XuiState]:  # noqa: F811
    """A 3x-ui panel (the fake, over real HTTP) the site function reads traffic from."""
    from ttfd.features.vpn import calls

    state = fake_xui.XuiState.demo("3.6.0", tokens=[TOKEN])
    running = RunningServer(fake_xui.create_app(state))
    for name, value in {
        "VPN_PANEL_URL": running.url + "/",
        "VPN_PANEL_TOKEN": TOKEN,
        "VPN_INBOUND_ID": "1",
        "VPN_LINK_HOST": "vpn.example.com",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    calls._panels.clear()
    yield state
    running.stop()
    calls._panels.clear()


def test_my_vpn_shows_the_key_reveals_it_on_purpose_and_renews(browser, site_url, fresh_db) -> None:  # noqa: F811
    page, problems = _page(browser, permissions=["clipboard-read", "clipboard-write"])
    posts = _posts(page)
    _login(page, site_url, "/me")
    uid = _uid(fresh_db, 777001)
    expect(page.locator("#vpn-section")).to_have_attribute("aria-busy", "false")
    expect(page.locator("#vpn-section")).to_be_hidden()  # nothing bought yet: nothing of VPN shows

    with db.transaction() as conn:
        plan, st = _shop(conn)
        key = _bought(conn, uid, plan, st, datetime.now(UTC) + timedelta(days=30, hours=1))
    stale = page.context.new_page()  # a second tab, opened before the renewal
    _open_me(stale, f"{site_url}/me")
    _open_me(page, f"{site_url}/me")

    section = page.locator("#vpn-section")
    expect(section).to_be_visible()
    expect(section.locator("h2")).to_have_text("My VPN")
    expect(page.locator("#vpn-order")).to_be_hidden()
    card = page.locator(".vpn-key")
    expect(card).to_have_count(1)
    expect(card.locator("h3")).to_have_text("Month")
    expect(card.locator(".chip")).to_have_text("Active")
    expect(card.locator(".vpn-expiry")).to_contain_text(re.compile(r"^Valid until \w+\s\d+,\s\d{4} · in 30 days$"))
    # No panel is configured for this server: the page says traffic is unknown rather than guess it.
    expect(card.locator(".vpn-traffic")).to_contain_text("Traffic unavailable right now")
    expect(card.locator("progress")).to_be_hidden()
    expect(card).to_contain_text("Up to 3 devices")
    expect(card.get_by_role("button", name="Show key")).to_have_attribute("aria-expanded", "false")
    expect(card.get_by_role("button", name="Renew")).to_be_visible()
    assert "vless://" not in page.content() and posts == []  # the link only on purpose
    assert _q(fresh_db, "SELECT count(*) FROM vpn_audit WHERE action = 'key.reveal'") == (0,)
    _shots(page, "vpn_01_me_en")

    # Show key: the link and its QR code, fetched now (audited); Copy; Hide takes them out of the page again.
    card.get_by_role("button", name="Show key").click()
    link = card.get_by_label("Link for your VPN app")
    expect(link).to_have_value(key.link)
    assert posts == [{"action": "reveal", "key": key.id}]
    qr = card.get_by_role("img", name="QR code of your VPN key")
    expect(qr).to_have_js_property("complete", True)
    assert qr.evaluate("img => img.naturalWidth") > 0
    expect(card.get_by_role("button", name="Hide key")).to_have_attribute("aria-expanded", "true")
    assert _q(fresh_db, "SELECT count(*) FROM vpn_audit WHERE action = 'key.reveal'") == (1,)
    card.get_by_role("button", name="Copy").click()
    expect(card.locator(".vpn-reveal .status")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == key.link
    _shots(page, "vpn_02_key_shown_en")
    card.get_by_role("button", name="Hide key").click()
    expect(card.locator(".vpn-reveal")).to_be_hidden()
    assert "vless://" not in page.content()

    # Renew: the first click asks, the second places one order where the key was bought.
    renew = card.locator(".vpn-actions .btn", has_text=re.compile("Renew|Confirm renewal"))
    renew.click()
    expect(renew).to_have_text("Confirm renewal")
    expect(card.locator(".vpn-actions + .status")).to_have_text("Click again to place a renewal order.")
    assert _q(fresh_db, "SELECT count(*) FROM vpn_orders WHERE renews IS NOT NULL") == (0,)
    _shots(page, "vpn_03_confirm_en")
    renew.click()
    expect(card.locator(".vpn-actions + .status")).to_contain_text("Renewal order #")
    (order_id,) = _q(fresh_db, "SELECT id FROM vpn_orders WHERE renews = %s AND status = 'pending_payment'", key.id)
    expect(card.locator(".vpn-actions + .status")).to_have_text(
        f"Renewal order #{order_id} is placed: pay and send the screenshot in your order channel on Discord."
    )
    expect(page.locator("#vpn-order-line")).to_have_text(
        f"Order #{order_id} · Month · RUB\xa0299 · waiting for payment"
    )
    expect(page.locator("#vpn-order-where")).to_have_text(
        "Pay and send the screenshot on Discord (your order channel)."
    )
    expect(card.locator(".vpn-actions .btn", has_text="Renew")).to_be_hidden()  # one open order at a time
    assert [p["action"] for p in posts] == ["reveal", "renew"]
    assert _q(fresh_db, "SELECT count(*), min(platform), min(scope_id) FROM vpn_orders WHERE renews = %s", key.id) == (
        1,
        "discord",
        GUILD,
    )
    _shots(page, "vpn_04_renewal_en")

    # The tab opened before the renewal still offers it: the refusal is said in place, and the order shows.
    stale_card = stale.locator(".vpn-key")
    stale_renew = stale_card.locator(".vpn-actions .btn", has_text=re.compile("Renew|Confirm renewal"))
    stale_renew.click()
    stale_renew.click()
    expect(stale_card.locator(".vpn-actions + .status")).to_contain_text(f"You already have an open order #{order_id}")
    expect(stale_card.locator(".vpn-actions + .status")).to_have_class(re.compile(r"\berror\b"))
    expect(stale.locator("#vpn-order-line")).to_contain_text(f"Order #{order_id}")
    expect(stale_renew).to_be_hidden()
    assert _q(fresh_db, "SELECT count(*) FROM vpn_orders WHERE renews = %s", key.id) == (1,)
    _shots(stale, "vpn_05_refused_en")
    stale.close()

    # The light theme (the account's choice): the same section, shown key and all.
    with db.transaction() as conn:
        conn.execute("UPDATE unified_users SET theme = 'light' WHERE id = %s", (uid,))
    _open_me(page, f"{site_url}/me")
    expect(page.locator("html")).to_have_attribute("data-theme", "light")
    page.locator(".vpn-key").get_by_role("button", name="Show key").click()
    expect(page.locator(".vpn-key").get_by_label("Link for your VPN app")).to_have_value(key.link)
    _shots(page, "vpn_06_light_en")

    # The public profile never has it (not even in the page), and asks nothing of /api/vpn.
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/api/vpn" in r.url else None)
    page.goto(f"{site_url}/u/{uid}")
    expect(page.locator("#profile-name")).to_have_text("Player One")
    expect(page.locator("#vpn-section")).to_have_count(0)
    assert asked == []
    assert _own_errors(problems) == []


def test_someone_without_vpn_sees_nothing_of_it_and_an_order_alone_shows(browser, site_url, fresh_db) -> None:  # noqa: F811
    with db.transaction() as conn:
        plan, _st = _shop(conn)
        tg = service.setup_store(
            conn,
            "telegram",
            TG_GROUP,
            review_channel=TG_GROUP,
            staff_role=None,
            admin_role=None,
            category=None,
            locale="en",
            actor=None,
        )
    # Another player with no key and no order: /me has no trace of VPN.
    page, problems = _page(browser)
    _login(page, site_url, "/me", 777002)
    _open_me(page, f"{site_url}/me")
    expect(page.locator("#vpn-section")).to_be_hidden()
    assert page.locator("#vpn-keys li").count() == 0

    # An order placed on Telegram and not paid yet (no key): the section is that order, paid in the bot's chat.
    uid = _uid(fresh_db, 777002)
    with db.transaction() as conn:
        od = service.open_order(
            conn, user_id=uid, plan=plan, st=tg, platform="telegram", locale="en", request_key="tg:1", chat_id=4242
        )
    _open_me(page, f"{site_url}/me")
    expect(page.locator("#vpn-section")).to_be_visible()
    expect(page.locator("#vpn-keys")).to_be_hidden()
    expect(page.locator("#vpn-order-line")).to_have_text(f"Order #{od.id} · Month · RUB\xa0299 · waiting for payment")
    expect(page.locator("#vpn-order-where")).to_have_text(
        "Pay and send the screenshot on Telegram (your chat with the bot)."
    )
    _shots(page, "vpn_07_order_only_en")
    assert _own_errors(problems) == []


def test_my_vpn_in_russian_with_traffic_and_an_expired_key(browser, site_url, fresh_db, panel) -> None:  # noqa: F811
    page, problems = _page(browser, locale="ru-RU", permissions=["clipboard-read", "clipboard-write"])
    _login(page, site_url, "/ru/me")
    uid = _uid(fresh_db, 777001)
    now = datetime.now(UTC)
    with db.transaction() as conn:
        week = service.create_plan(conn, "Неделя", 7, "99", "RUB", 20, 1)
        month, st = _shop(conn, "Месяц")
        old = _bought(conn, uid, week, st, now - timedelta(days=3))
        conn.execute("UPDATE vpn_keys SET status = 'expired' WHERE id = %s", (old.id,))
        key = _bought(conn, uid, month, st, now + timedelta(days=12, hours=1))
    panel.add_client(1, key.email, sub_id=key.sub_id, totalGB=100 * GIB)
    panel.add_traffic(key.email, up=int(1.5 * GIB), down=11 * GIB)  # 12.5 GB of 100

    _open_me(page, f"{site_url}/ru/me")
    section = page.locator("#vpn-section")
    expect(section.locator("h2")).to_have_text("Мой VPN")
    live, gone = page.locator(".vpn-key").nth(0), page.locator(".vpn-key").nth(1)
    expect(live.locator("h3")).to_have_text("Месяц")
    expect(live.locator(".chip")).to_have_text("Активен")
    expect(live.locator(".vpn-expiry")).to_contain_text(
        re.compile(r"^Действует до \d+\s\S+\s\d{4}\sг\. · через 12 дней$")
    )
    expect(live.locator(".vpn-traffic")).to_contain_text("Трафик")
    expect(live.locator(".vpn-traffic")).to_contain_text("12,50 ГБ из 100 ГБ")
    bar = live.locator("progress")
    expect(bar).to_be_visible()
    assert bar.evaluate("p => [p.value, p.max]") == [int(12.5 * GIB), 100 * GIB]
    expect(live).to_contain_text("До 3 устройств")
    expect(gone.locator("h3")).to_have_text("Неделя")
    expect(gone.locator(".chip")).to_have_text("Истёк")
    expect(gone.locator(".vpn-expiry")).to_contain_text(re.compile(r"^Истёк \d+\s\S+\s\d{4}\sг\. · 3 дня назад$"))
    expect(gone.locator(".vpn-traffic")).to_be_hidden()
    expect(gone).to_contain_text("До 1 устройства")
    expect(gone.get_by_role("button", name="Показать ключ")).to_be_hidden()  # an expired link is no use
    expect(gone.get_by_role("button", name="Продлить")).to_be_visible()
    _shots(page, "vpn_08_me_ru")

    live.get_by_role("button", name="Показать ключ").click()
    expect(live.get_by_label("Ссылка для VPN-приложения")).to_have_value(key.link)
    qr = live.get_by_role("img", name="QR-код твоего VPN-ключа")
    expect(qr).to_have_js_property("complete", True)
    assert qr.evaluate("img => img.naturalWidth") > 0
    live.get_by_role("button", name="Копировать").click()
    expect(live.locator(".vpn-reveal .status")).to_have_text("Скопировано")
    expect(live.get_by_role("button", name="Скрыть ключ")).to_be_visible()
    _shots(page, "vpn_09_key_shown_ru")

    renew = gone.locator(".vpn-actions .btn", has_text=re.compile("Продлить|Подтвердить продление"))
    renew.click()
    expect(renew).to_have_text("Подтвердить продление")
    expect(gone.locator(".vpn-actions + .status")).to_have_text("Нажми ещё раз, чтобы оформить продление.")
    _shots(page, "vpn_10_confirm_ru")
    renew.click()
    expect(gone.locator(".vpn-actions + .status")).to_contain_text("Заказ на продление")
    (order_id,) = _q(fresh_db, "SELECT id FROM vpn_orders WHERE renews = %s", old.id)
    expect(page.locator("#vpn-order-line")).to_have_text(f"Заказ №{order_id} · Неделя · 99\xa0₽ · ждёт оплаты")
    expect(page.locator("#vpn-order-where")).to_have_text("Оплати и отправь скриншот в Discord (в твой канал заказа).")
    expect(page.locator(".vpn-actions .btn", has_text="Продлить")).to_have_count(2)
    expect(page.locator(".vpn-actions .btn", has_text="Продлить").first).to_be_hidden()
    _shots(page, "vpn_11_renewal_ru")
    assert _own_errors(problems) == []
