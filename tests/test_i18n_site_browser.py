"""The website in Russian, in headless Chromium, as deployed with DEFAULT_LOCALE=ru (Russian pages at /, English
under /en/): every page at 1280 and 375 px (screenshots in artifacts/site/ru_*.png, nothing wider than the
phone), a Telegram-only person logging in through the fake Telegram's login page, the language switch that
persists across pages, reloads and devices, and dates and numbers in the page's language."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from devtools import fake_discord, fake_telegram
from devtools.server import create_app, with_fakes
from devtools.wsgi_server import RunningServer
from static_site.build import SiteConfig, build
from tests.conftest import BOT_TOKEN, TG_TOKEN
from tests.site_helpers import configure_site

# The browser and the page/screenshot helpers are test_site_browser's.
from tests.test_site_browser import SHOTS, _own_errors, _page, _q, _shot, browser, pytestmark  # noqa: F401
from ttfd.core import db, ledger, users
from ttfd.features import REGISTRY
from ttfd.features.accounts import service as link
from ttfd.features.games import service as games
from ttfd.features.shop import service as shop

PHONE = {"width": 375, "height": 800}
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture
def ru_site(app_env, monkeypatch, tmp_path) -> Iterator[str]:
    """The site built and served as deployed: DEFAULT_LOCALE=ru for the pages and the functions alike."""
    monkeypatch.setenv("DEFAULT_LOCALE", "ru")
    dist = tmp_path / "dist"
    build(
        dist,
        SiteConfig(
            telegram_bot="ttfd_test_bot",
            discord_invite_url="https://discord.gg/ttfd-example",
            dev_telegram_login="/_fake/telegram/_dev/login-widget",
            default_locale="ru",
        ),
    )
    discord = fake_discord.DiscordState(token=BOT_TOKEN)
    telegram = fake_telegram.TelegramState(token=TG_TOKEN)
    running = RunningServer(with_fakes(create_app(dist), discord, telegram))
    fakes = type("Fakes", (), {"discord": discord, "discord_url": f"{running.url}/_fake/discord/api/v10"})()
    configure_site(monkeypatch, fakes, site_url=running.url)  # (clears the settings: DEFAULT_LOCALE=ru now)
    discord.add_oauth_user(777001, "player_one", "Player One")
    with db.transaction() as conn:
        for i in range(25):
            user = users.ensure_user(conn, "telegram", 5000 + i, f"p{i}", f"Игрок {i}")
            ledger.grant(conn, user.id, "xp", 30_000 - i * 1000, reason="t", platform="telegram", source_key=f"b{i}")
            ledger.grant(conn, user.id, "coins", 12_345 + i, reason="t", platform="telegram", source_key=f"b{i}")
        shop.create(conn, name="Заморозка серии", price=150, kind="streak_freeze", per_user_limit=5)
        shop.create(conn, name="Буст XP", price=300, kind="xp_boost", description="Двойной XP на час.")
        shop.create(conn, name="Значок основателя", price=1_000, stock=25, per_user_limit=1, description="Для первых.")
        shop.create(conn, name="Золотая рамка", price=2_500, stock=0, description="Их всего три.")
    yield running.url
    running.stop()


def telegram_login(page: Any, base: str, tg_id: int, first_name: str = "", start: str = "/login") -> None:
    """Log in with Telegram: the login page's button → the fake Telegram's page → back, logged in."""
    page.goto(f"{base}{start}")
    page.click("#login-telegram")
    page.wait_for_url(re.compile(r"/_fake/telegram/_dev/login-widget"))
    page.fill("#tg_id", str(tg_id))
    page.fill("#first_name", first_name or f"Tg {tg_id}")
    page.click("#authorize")
    page.wait_for_url(re.compile(r"/me$"))


def check_page(page: Any, name: str, width: int) -> None:
    """A Russian page: its language, a screenshot (with the accessibility audit) and nothing wider than it."""
    assert page.evaluate("document.documentElement.lang") == "ru", name
    page.evaluate("window.scrollTo(0, 0)")  # (a sticky header is drawn where the page was scrolled to)
    _shot(page, f"ru_{width}_{name}")
    overflow = page.evaluate(
        """() => [...document.querySelectorAll('body *')].filter((el) => {
               const r = el.getBoundingClientRect();
               return r.width > 0 && r.right > document.documentElement.clientWidth + 1
                 && getComputedStyle(el).position !== 'fixed' && !el.closest('.table-wrap, .site-nav ul');
             }).map((el) => el.tagName + '#' + el.id + '.' + el.className).slice(0, 5)"""
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{name}: {overflow}"
    assert overflow == [], f"{name} at {width}px: {overflow}"
    menu = page.evaluate(
        "(() => { const ul = document.querySelector('.site-nav ul'); return [ul.scrollWidth, ul.clientWidth]; })()"
    )
    assert menu[0] <= menu[1] + 1, f"{name} at {width}px: the menu is cut off ({menu})"


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1280", "375"])
def test_every_page_in_russian(browser, ru_site, fresh_db, viewport) -> None:  # noqa: F811
    width = viewport["width"]
    page, problems = _page(browser, viewport=viewport, locale="ru-RU")
    page.goto(f"{ru_site}/")
    expect(page.locator("#top-players")).to_contain_text("Игрок 0")
    expect(page.locator("#hero-xp")).to_have_text("30\xa0000 XP")  # numbers as Russian writes them
    expect(page.locator(".site-nav")).to_contain_text("Рейтинг")
    check_page(page, "01_home", width)

    page.goto(f"{ru_site}/login")
    expect(page.locator("#login-telegram")).to_have_text("Войти через Telegram")
    check_page(page, "02_login", width)
    page.click("#login-telegram")
    page.wait_for_url(re.compile(r"/_fake/telegram/"))
    _shot(page, f"ru_{width}_03_fake_telegram_login")
    page.fill("#tg_id", "5003")  # Игрок 3, who has played on Telegram only
    page.fill("#first_name", "Игрок 3")
    page.click("#authorize")
    page.wait_for_url(f"{ru_site}/me")
    expect(page.locator("#profile-name")).to_have_text("Игрок 3")
    expect(page.locator("#logout")).to_have_text("Выйти")
    expect(page.locator("#profile-meta")).to_contain_text(re.compile(r"С нами с \d{1,2}\s[а-я]+\s\d{4}"))
    expect(page.locator("#stat-coins")).to_have_text("12\xa0348")
    expect(page.locator("#profile-linked")).to_contain_text("Сайт")
    uid = _q(fresh_db, "SELECT id FROM unified_users WHERE telegram_id = 5003")[0]
    with db.transaction() as conn:  # a streak and a couple of games to show
        conn.execute("UPDATE unified_users SET daily_streak = 3 WHERE id = %s", (uid,))
        for i, game in enumerate(("coinflip", "dice")):
            games.play(
                conn, games.GamesSettings(cooldown_s=0), uid, game, 10, "heads", "telegram", f"r{i}", ledger.utc_now()
            )
    page.reload()
    expect(page.locator("#stat-streak")).to_have_text("3 дня")  # Russian plural forms
    expect(page.locator("#profile-games tbody tr")).to_have_count(2)
    check_page(page, "04_my_profile", width)

    page.goto(f"{ru_site}/settings")
    expect(page.locator("#show_stats")).to_be_enabled()
    check_page(page, "05_settings", width)
    page.goto(f"{ru_site}/customize")
    expect(page.locator("#bio")).to_be_editable()
    page.fill("#bio", "Привет из настоящего браузера — тут по-русски и длиннее, чем по-английски")
    check_page(page, "06_customize", width)

    page.goto(f"{ru_site}/leaderboard")
    expect(page.locator("#lb-table tbody tr")).to_have_count(10)
    expect(page.locator("#lb-page")).to_have_text("Страница 1 из 3")
    expect(page.locator("#lb-mine")).to_contain_text("Твоё место:")
    check_page(page, "07_leaderboard", width)
    page.click("#tab-coins")
    expect(page.locator("#lb-value-head")).to_have_text("Монеты")
    expect(page.locator("#lb-mine")).to_contain_text("монет")
    check_page(page, "08_leaderboard_coins", width)

    page.goto(f"{ru_site}/shop")
    expect(page.locator("#shop-items .shop-item")).to_have_count(4)
    expect(page.locator("#shop-balance")).to_have_text(re.compile(r"^Твой баланс: [\d\xa0]+ монет[аы]?$"))
    expect(page.locator(".shop-item").nth(3)).to_contain_text("Распродано")
    check_page(page, "09_shop", width)
    page.locator(".shop-item").first.locator("button").click()
    expect(page.locator(".shop-item").first.locator("button")).to_have_text("Подтвердить: 150 монет")
    page.locator(".shop-item").first.locator("button").click()
    expect(page.locator(".shop-item").first.locator(".status")).to_contain_text("Куплено!")
    check_page(page, "10_shop_bought", width)

    page.goto(f"{ru_site}/link")
    expect(page.locator("#tg-linked-note")).to_be_visible()  # Telegram is this account's own
    expect(page.locator("#link-discord-hint")).to_be_visible()
    page.click("#link-code-btn")
    expect(page.locator("#link-code")).to_have_text(re.compile(r"^[2-9A-HJ-NP-Z]{10}$"))
    expect(page.locator("#link-code-expiry")).to_contain_text("Истекает через")
    check_page(page, "11_link", width)

    page.goto(f"{ru_site}/u/{uid}")
    expect(page.locator("#profile-name")).to_have_text("Игрок 3")
    check_page(page, "12_public_profile", width)
    page.goto(f"{ru_site}/u/nobody-by-this-name")
    expect(page.locator("#profile-error")).to_contain_text("Такого игрока нет")
    check_page(page, "13_no_such_player", width)
    missing = page.goto(f"{ru_site}/no-such-page")
    assert missing is not None and missing.status == 404
    expect(page.locator("h1")).to_have_text("Страница не найдена")
    check_page(page, "14_not_found", width)
    assert _own_errors(problems) == []
    page.context.close()


def test_a_telegram_only_person_links_discord_afterwards(browser, ru_site, fresh_db) -> None:  # noqa: F811
    page, problems = _page(browser, viewport=DESKTOP, locale="ru-RU")
    telegram_login(page, ru_site, 8801, "Тимур")
    uid = _q(fresh_db, "SELECT id FROM unified_users WHERE telegram_id = 8801")[0]
    page.goto(f"{ru_site}/link")
    expect(page.locator("#linked-discord .platform-state")).to_have_text("Не привязан")
    page.click("#link-code-btn")
    expect(page.locator("#link-code")).to_have_text(re.compile(r"^[2-9A-HJ-NP-Z]{10}$"))
    code = page.locator("#link-code").text_content()
    with db.transaction() as conn:  # /link code:<code> on Discord
        link.redeem_link_code(conn, code or "", "discord", 880100, REGISTRY.merge_hooks)
    page.reload()
    expect(page.locator("#linked-discord .platform-state")).to_have_text("✓ Привязан")
    expect(page.locator("#linked-telegram .platform-state")).to_have_text("✓ Привязан")
    assert _q(fresh_db, "SELECT discord_id, telegram_id FROM unified_users WHERE id = %s", uid) == (880100, 8801)
    _shot(page, "ru_1280_15_link_discord_after_telegram")
    assert _own_errors(problems) == []
    page.context.close()


def test_a_login_from_someone_elses_link_is_refused_in_russian(browser, ru_site, fresh_db) -> None:  # noqa: F811
    from urllib.parse import urlencode

    from tests.site_helpers import widget_payload

    page, _ = _page(browser, viewport=PHONE, locale="ru-RU")
    fields = widget_payload(8899, "Mallory")  # Mallory's own signed login, sent to someone else
    resp = page.goto(f"{ru_site}/auth/telegram?{urlencode({'login': 'mallorys-nonce-0123456789', **fields})}")
    assert resp is not None and resp.status == 400
    expect(page.locator("h1")).to_have_text("Ссылка для входа устарела")
    expect(page.locator("a")).to_have_attribute("href", "/login")
    _shot(page, "ru_375_16_telegram_login_refused")
    assert _q(fresh_db, "SELECT count(*) FROM sessions")[0] == 0
    page.context.close()


def test_the_language_switch_persists_across_pages_reloads_and_devices(browser, ru_site, fresh_db) -> None:  # noqa: F811
    page, problems = _page(browser, viewport=DESKTOP, locale="ru-RU")
    page.goto(f"{ru_site}/leaderboard?board=coins")
    assert page.evaluate("document.documentElement.lang") == "ru"
    expect(page.locator("#lang-en")).to_have_text("English")
    page.click("#lang-en")  # anonymous: the cookie remembers it
    page.wait_for_url(f"{ru_site}/en/leaderboard?board=coins&page=1")
    assert page.evaluate("document.documentElement.lang") == "en"
    expect(page.locator("h1")).to_have_text("Leaderboard")
    expect(page.locator("#lb-value-head")).to_have_text("Coins")
    page.reload()
    assert page.evaluate("document.documentElement.lang") == "en"
    page.goto(f"{ru_site}/shop")  # a Russian address: the saved choice leads to the English page
    page.wait_for_url(f"{ru_site}/en/shop")
    expect(page.locator("h1")).to_have_text("Shop")
    page.click(".site-nav a[href='/en/me']")  # links stay in the language; logged out → the English login
    page.wait_for_url(re.compile(r"/en/login\?next=%2Fen%2Fme$"))
    assert {c["name"]: c["value"] for c in page.context.cookies()}["lang"] == "en"

    # Logged in, the switch is saved on the account: it then wins on another device (and on the bots)
    page.click("#login-telegram")
    page.wait_for_url(re.compile(r"/_fake/telegram/"))
    page.fill("#tg_id", "8802")
    page.fill("#first_name", "Switcher")
    page.click("#authorize")
    page.wait_for_url(f"{ru_site}/en/me")
    expect(page.locator("#profile-meta")).to_contain_text("Member since")
    page.click("#lang-ru")
    page.wait_for_url(f"{ru_site}/me")
    expect(page.locator("#profile-meta")).to_contain_text("С нами с")
    assert _q(fresh_db, "SELECT language FROM unified_users WHERE telegram_id = 8802") == ("ru",)
    page.click("#lang-en")
    page.wait_for_url(f"{ru_site}/en/me")
    assert _q(fresh_db, "SELECT language FROM unified_users WHERE telegram_id = 8802") == ("en",)
    page.goto(f"{ru_site}/settings")  # the saved cookie, again
    page.wait_for_url(f"{ru_site}/en/settings")
    expect(page.locator("#language")).to_have_value("en")

    other, other_problems = _page(browser, viewport=PHONE, locale="ru-RU")  # another device, no cookie yet
    telegram_login(other, ru_site, 8802, "Switcher")  # the login hands over the account's language
    other.wait_for_url(f"{ru_site}/en/me")
    assert other.evaluate("document.documentElement.lang") == "en"
    # Settings: back to Russian from the form; the page follows
    other.goto(f"{ru_site}/en/settings")
    expect(other.locator("#language")).to_be_enabled()
    other.select_option("#language", "ru")
    other.click("#save-settings")
    other.wait_for_url(f"{ru_site}/settings")
    expect(other.locator("h1")).to_have_text("Настройки")
    assert _q(fresh_db, "SELECT language FROM unified_users WHERE telegram_id = 8802") == ("ru",)
    page.goto(f"{ru_site}/en/shop")  # the first device follows the account once it asks who is logged in
    page.wait_for_url(f"{ru_site}/shop")
    expect(page.locator("h1")).to_have_text("Магазин")
    assert _own_errors(problems) == [] and _own_errors(other_problems) == []
    other.context.close()
    page.context.close()


def test_an_english_page_in_a_russian_browser_writes_dates_and_numbers_in_english(browser, ru_site, fresh_db) -> None:  # noqa: F811
    uid = _q(fresh_db, "SELECT id FROM unified_users WHERE telegram_id = 5000")[0]
    page, problems = _page(browser, viewport=DESKTOP, locale="ru-RU", timezone_id="Europe/Moscow")
    page.goto(f"{ru_site}/en/u/{uid}")
    expect(page.locator("#profile-name")).to_have_text("Игрок 0")
    expect(page.locator("#profile-meta")).to_contain_text(re.compile(r"Member since [A-Z][a-z]+\s\d{1,2},\s\d{4}"))
    expect(page.locator("#stat-xp")).to_have_text("30,000")
    expect(page.locator("#stat-coins")).to_have_text("12,345")
    page.goto(f"{ru_site}/u/{uid}")  # and the Russian page in Russian
    expect(page.locator("#stat-xp")).to_have_text("30\xa0000")
    assert _own_errors(problems) == []
    page.context.close()
