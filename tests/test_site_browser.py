"""The website end to end in headless Chromium: the built site, every function and the fakes on one port,
as `make run` serves them. Screenshots of every page go to artifacts/site/."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

import psycopg
import pytest
from playwright.sync_api import expect

from devtools import fake_discord, fake_telegram
from devtools.server import create_app, with_fakes
from devtools.wsgi_server import RunningServer
from static_site.build import SiteConfig, build
from tests.conftest import BOT_TOKEN, TG_TOKEN
from tests.site_helpers import configure_site, widget_payload
from ttfd.core import db, ledger, users
from ttfd.features.accounts import service as link
from ttfd.features.games import service as games

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parent.parent / "artifacts" / "site"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed")


@pytest.fixture
def site_url(app_env, monkeypatch, tmp_path) -> Iterator[str]:
    """Site + functions + fake Discord/Telegram on one port, like `make run`, with 25 ranked players."""
    dist = tmp_path / "dist"
    build(
        dist,
        SiteConfig(
            telegram_bot="ttfd_test_bot",
            discord_invite_url="https://discord.gg/ttfd-example",
            dev_telegram_login="/_fake/telegram/_dev/login-widget",
            default_locale="en",  # as the suite's DEFAULT_LOCALE: English at /, Russian under /ru/
        ),
    )
    discord = fake_discord.DiscordState(token=BOT_TOKEN)
    telegram = fake_telegram.TelegramState(token=TG_TOKEN)
    running = RunningServer(with_fakes(create_app(dist), discord, telegram))
    fakes = SimpleNamespace(discord=discord, discord_url=f"{running.url}/_fake/discord/api/v10")
    configure_site(monkeypatch, fakes, site_url=running.url)
    discord.add_oauth_user(777001, "player_one", "Player One")
    with db.transaction() as conn:
        for i in range(25):
            user = users.ensure_user(conn, "telegram", 5000 + i, f"p{i}", f"Player {i}")
            ledger.grant(conn, user.id, "xp", 3000 - i * 100, reason="t", platform="telegram", source_key=f"b{i}")
            ledger.grant(conn, user.id, "coins", 100 + i, reason="t", platform="telegram", source_key=f"b{i}")
    yield running.url
    running.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield b
        b.close()


def _page(browser: Any, **kw: Any) -> tuple[Any, list[str]]:
    """A fresh browser profile; console errors and CSP violations are collected to assert on."""
    context = browser.new_context(viewport=kw.pop("viewport", {"width": 1280, "height": 900}), **kw)
    context.route(re.compile(r"^https://(telegram\.org|oauth\.telegram\.org)/"), lambda route: route.abort())
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    return page, problems


def _shot(page: Any, name: str) -> None:
    """A full-page screenshot, and an axe-core audit of the page: no serious or critical WCAG violation."""
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    if "/_fake/" in page.url:
        return  # the fake Discord's page is not ours
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options={"runOnly": ["wcag2a", "wcag2aa", "wcag21aa", "best-practice"]})
    serious = [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert serious == [], f"{name}: {serious}"


def _own_errors(problems: list[str]) -> list[str]:
    """Console errors that are ours: the blocked Telegram widget script and expected 4xx fetches are not."""
    ignored = ("telegram.org", "Failed to load resource", "ERR_FAILED", "401", "409")
    return [p for p in problems if not any(s in p for s in ignored)]


def _q(url: str, sql: str, *args: Any) -> Any:
    with psycopg.connect(url) as c:
        return c.execute(sql, args).fetchone()


def test_a_person_uses_the_whole_site(browser, site_url, fresh_db) -> None:
    page, problems = _page(browser)

    # Home: top players from the leaderboard function
    page.goto(f"{site_url}/")
    expect(page.locator("#top-players")).to_contain_text("Player 0")
    expect(page.locator("#hero-who")).to_have_text("#1 · Player 0")  # real numbers, not a mock-up
    expect(page.locator("#hero-xp")).to_have_text("3,000 XP")
    _shot(page, "01_home")

    # Log in through the fake Discord OAuth provider
    page.goto(f"{site_url}/login")
    _shot(page, "02_login")
    page.click("#login-discord")
    page.wait_for_url(re.compile(r"/_fake/discord/oauth2/authorize"))
    _shot(page, "03_fake_discord_authorize")
    page.select_option("#user_id", "777001")
    page.click("#authorize")
    page.wait_for_url(f"{site_url}/me")
    expect(page.locator("#profile-name")).to_have_text("Player One")
    expect(page.locator("#logout")).to_be_visible()
    expect(page.locator("#rank-card")).to_have_js_property("complete", True)
    assert page.eval_on_selector("#rank-card", "img => img.naturalWidth") == 934
    _shot(page, "04_my_profile")
    uid = _q(fresh_db, "SELECT id FROM unified_users WHERE discord_id = 777001")[0]

    # Customize: live preview, save, and it persists across a reload
    page.goto(f"{site_url}/customize")
    expect(page.locator("#bio")).to_be_editable()
    page.select_option("#theme", "light")
    page.fill("#primary_color", "#e91e63")
    page.fill("#bio", "Hello from a real browser")
    expect(page.locator("#preview-bio")).to_have_text("Hello from a real browser")  # before saving
    expect(page.locator("#bio-count")).to_contain_text("25")
    page.click("#save-customize")
    expect(page.locator("#status")).to_contain_text(re.compile("saved", re.I))
    _shot(page, "05_customize")
    page.reload()
    expect(page.locator("#bio")).to_have_value("Hello from a real browser")
    expect(page.locator("#theme")).to_have_value("light")
    assert _q(fresh_db, "SELECT theme, primary_color, bio FROM unified_users WHERE id = %s", uid) == (
        "light",
        "#e91e63",
        "Hello from a real browser",
    )
    # Games played on a chat platform show on the profile
    with db.transaction() as conn:
        ledger.grant(conn, uid, "coins", 30, reason="t", platform="discord", source_key="browser-games")
        for i, game in enumerate(("coinflip", "dice")):
            games.play(
                conn, games.GamesSettings(cooldown_s=0), uid, game, 10, "heads", "discord", f"b{i}", ledger.utc_now()
            )
    page.goto(f"{site_url}/me")
    expect(page.locator("#profile-bio")).to_have_text("Hello from a real browser")
    expect(page.locator("#profile-games tbody tr")).to_have_count(2)
    expect(page.locator("#profile-games tbody tr").first).to_contain_text("Dice")
    expect(page.locator("#stat-games")).to_contain_text("of 2 won")
    _shot(page, "06_my_profile_light")

    # Settings: hide stats from others
    page.goto(f"{site_url}/settings")
    expect(page.locator("#show_stats")).to_be_checked()
    page.uncheck("#show_stats")
    page.click("#save-settings")
    expect(page.locator("#status")).to_contain_text(re.compile("saved", re.I))
    _shot(page, "07_settings")
    assert _q(fresh_db, "SELECT show_stats FROM unified_users WHERE id = %s", uid) == (False,)

    # Leaderboard: page forward, switch boards
    page.goto(f"{site_url}/leaderboard")
    expect(page.locator("#lb-table tbody tr")).to_have_count(10)
    expect(page.locator("#lb-page")).to_contain_text("1")
    expect(page.locator("#lb-prev")).to_be_disabled()
    page.click("#lb-next")
    expect(page.locator("#lb-table tbody tr").first).to_contain_text("11")
    assert "page=2" in page.url
    _shot(page, "08_leaderboard_page2")
    page.click("#tab-coins")
    expect(page.locator("#tab-coins")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#lb-table tbody tr").first).to_contain_text("124")
    _shot(page, "09_leaderboard_coins")

    # A signed widget link this tab did not ask for (someone sent it) is never linked without asking
    crafted = widget_payload(8899, "Mallory", username="mallory")
    page.goto(f"{site_url}/link?{urlencode(crafted)}")
    expect(page.locator("#tg-confirm")).to_be_visible()
    expect(page.locator("#tg-confirm-text")).to_contain_text("@mallory (id 8899)")
    _shot(page, "10a_link_confirm_foreign_payload")
    page.click("#tg-confirm-no")
    expect(page.locator("#tg-status")).to_have_text("Nothing was linked.")
    assert _q(fresh_db, "SELECT telegram_id FROM unified_users WHERE id = %s", uid) == (None,)

    # Link Telegram: the widget (started from this tab, so it carries the tab's nonce) redirects to /link
    # with the signed fields, which the page posts to auth_telegram
    nonce = "0123456789abcdef0123456789abcdef"
    page.evaluate(f"sessionStorage.setItem('ttfd.tg_nonce', '{nonce}')")
    fields = widget_payload(8800, "Tele", username="tele_user")
    page.goto(f"{site_url}/link?tg_nonce={nonce}&{urlencode(fields)}")
    expect(page.locator("#tg-status")).to_contain_text(re.compile("linked", re.I))
    expect(page.locator("#tg-confirm")).to_be_hidden()
    assert "hash=" not in page.url and "tg_nonce" not in page.url  # nothing signed left in the address bar
    assert _q(fresh_db, "SELECT telegram_id FROM unified_users WHERE id = %s", uid) == (8800,)
    # the dev sign-in form goes through the same path; a second Telegram account is refused kindly
    page.fill("#dev-tg-id", "8801")
    page.fill("#dev-tg-name", "Other")
    page.click("#dev-tg-login")
    expect(page.locator("#tg-status")).to_contain_text("different Telegram")
    page.click("#link-code-btn")
    expect(page.locator("#link-code")).to_have_text(re.compile(r"^[2-9A-HJ-NP-Z]{10}$"))
    _shot(page, "10_link_accounts")

    # A code made elsewhere (/link on a chat platform) is entered on the site: the two accounts become one
    with db.transaction() as conn:
        other = conn.execute("INSERT INTO unified_users (website_email) VALUES ('w@example') RETURNING id").fetchone()
        ledger.grant(conn, other["id"], "coins", 500, reason="t", platform="website", source_key="gift")
        code = link.create_link_code(conn, other["id"], "website", 600).code
    page.fill("#redeem-code", "nope-nope")
    page.click("#redeem-btn")
    expect(page.locator("#redeem-status")).to_contain_text("invalid, expired or already used")
    page.fill("#redeem-code", code.lower())
    page.click("#redeem-btn")
    expect(page.locator("#redeem-status")).to_contain_text("Linked!")  # nothing here had history yet
    _shot(page, "10b_link_code_redeemed")
    page.goto(f"{site_url}/leaderboard?board=coins")  # the session followed the merge; our name survived
    expect(page.locator("#lb-table tbody tr.is-me")).to_have_count(1)
    expect(page.locator("#lb-table tbody tr.is-me")).to_contain_text("Player One")
    expect(page.locator("#lb-table tbody tr[aria-current]")).to_have_count(1)
    page.goto(f"{site_url}/link")

    # In-page requests without the CSRF header are refused
    status = page.evaluate(
        """() => fetch('/api/me', {method: 'PATCH', headers: {'Content-Type': 'application/json'},
                                   body: JSON.stringify({bio: 'csrf'})}).then(r => r.status)"""
    )
    assert status == 403

    # Someone else sees the public profile without the hidden stats
    other, other_problems = _page(browser)
    other.goto(f"{site_url}/u/player_one")
    expect(other.locator("#profile-name")).to_have_text("Player One")
    expect(other.locator("#profile-private")).to_be_visible()
    expect(other.locator("#profile-bio")).to_have_text("Hello from a real browser")
    _shot(other, "11_public_profile_private_stats")
    other.goto(f"{site_url}/u/{uid + 100000}")
    expect(other.locator("#profile-error")).to_contain_text(re.compile("no such player", re.I))
    other.goto(f"{site_url}/me")  # logged out → to the login page
    other.wait_for_url(re.compile(r"/login\?next="))
    other.context.close()

    # A phone-sized screen
    phone, _ = _page(browser, viewport={"width": 375, "height": 800})
    phone.goto(f"{site_url}/u/{uid}")
    expect(phone.locator("#profile-name")).to_have_text("Player One")
    _shot(phone, "12_public_profile_phone")
    assert phone.evaluate("document.documentElement.scrollWidth") <= 375
    phone.context.close()

    # Log out
    page.goto(f"{site_url}/me")
    page.click("#logout")
    page.wait_for_url(f"{site_url}/")
    expect(page.locator("#login-link")).to_be_visible()
    assert page.evaluate("fetch('/api/me').then(r => r.status)") == 401
    assert _q(fresh_db, "SELECT count(*) FROM sessions")[0] == 0
    _shot(page, "13_logged_out")
    assert _own_errors(problems) == [] and _own_errors(other_problems) == []
    page.context.close()


def test_a_forged_or_stale_login_reply_is_refused_in_the_browser(browser, site_url, fresh_db) -> None:
    page, _ = _page(browser)
    first = page.goto(f"{site_url}/login")
    assert first is not None and first.headers["x-frame-options"] == "DENY"  # no clickjacking of our pages
    assert first.headers["content-security-policy"] == "frame-ancestors 'none'"
    page.click("#login-discord")
    page.wait_for_url(re.compile(r"/oauth2/authorize"))
    page.click("#cancel")
    page.wait_for_url(re.compile(r"/login\?error=denied"))
    expect(page.locator("#login-error")).to_be_visible()
    _shot(page, "14_login_cancelled")
    response = page.goto(f"{site_url}/auth/discord/callback?code=stolen&state=not-ours")
    assert response is not None and response.status == 400
    expect(page.locator("h1")).to_have_text("Login link expired")
    _shot(page, "15_bad_state")
    assert _q(fresh_db, "SELECT count(*) FROM sessions")[0] == 0
    page.context.close()


def test_the_leaderboard_shows_this_season_and_past_ones(browser, site_url, fresh_db) -> None:
    page, problems = _page(browser)
    page.goto(f"{site_url}/login")
    page.click("#login-discord")
    page.wait_for_url(re.compile(r"/_fake/discord/oauth2/authorize"))
    page.select_option("#user_id", "777001")
    page.click("#authorize")
    page.wait_for_url(f"{site_url}/me")
    me = _q(fresh_db, "SELECT id FROM unified_users WHERE discord_id = 777001")[0]
    first = _q(fresh_db, "SELECT id FROM unified_users WHERE telegram_id = 5000")[0]
    with psycopg.connect(fresh_db) as c:  # a season that ended long ago, archived: Player 0 won, we came 2nd
        old = c.execute(
            "INSERT INTO seasons (name, period, starts_at, ends_at, status, players) VALUES"
            " ('March 2020', '2020-03-01', '2020-03-01', '2020-04-01', 'closed', 2) RETURNING id"
        ).fetchone()[0]
        c.execute("INSERT INTO season_standings VALUES (%s, %s, 1, 900), (%s, %s, 2, 400)", (old, first, old, me))
    page.goto(f"{site_url}/leaderboard")
    page.click("#tab-season")
    expect(page.locator("#tab-season")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#lb-value-head")).to_have_text("XP this season")
    leader = _q(fresh_db, "SELECT xp FROM xp_season ORDER BY xp DESC, user_id LIMIT 1")[0]
    expect(page.locator("#lb-table tbody tr").first).to_contain_text(f"{leader:,}")  # this season's XP so far
    expect(page).to_have_url(re.compile(r"board=season"))  # (the XP board's rows look the same: wait for it)
    now = _q(fresh_db, "SELECT name FROM seasons WHERE starts_at <= now() AND ends_at > now()")[0]
    expect(page.locator("#season-now")).to_contain_text(f"This season: {now}")
    expect(page.locator("#season-mine")).to_contain_text("March 2020: #2 of 2 players · 400 XP")
    past = page.locator("#season-past details").first
    expect(past).to_contain_text("March 2020")
    expect(past.locator("li").first).to_contain_text("Player 0")
    expect(past.locator("li.is-me")).to_contain_text("Player One")
    _shot(page, "16_leaderboard_seasons")
    assert _own_errors(problems) == []
    page.context.close()
