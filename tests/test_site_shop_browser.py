"""The shop page and the profile's items and badges in headless Chromium: buy with a confirmation, a live
sold-out state, and /me showing the purchase, the inventory and the achievement it unlocked."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

# The browser and the one-port site (with fakes) are test_site_browser's fixtures.
from tests.test_site_browser import _own_errors, _page, _q, _shot, browser, pytestmark, site_url  # noqa: F401
from ttfd.core import db, ledger
from ttfd.features.shop import service as shop


def _login(page: Any, base: str, next_path: str) -> None:
    page.goto(f"{base}/login?next={next_path}")
    page.click("#login-discord")
    page.wait_for_url(re.compile(r"/_fake/discord/oauth2/authorize"))
    page.select_option("#user_id", "777001")
    page.click("#authorize")
    page.wait_for_url(f"{base}{next_path}")


def test_a_player_buys_in_the_shop_and_sees_it_on_their_profile(browser, site_url, fresh_db) -> None:  # noqa: F811
    with db.transaction() as conn:
        hat = shop.create(conn, name="Top hat", price=120, description="A very tall hat.", stock=1)
        shop.create(conn, name="Streak freeze", price=40, kind="streak_freeze", per_user_limit=3)
        shop.create(conn, name="XP boost", price=9999, kind="xp_boost")
    page, problems = _page(browser)

    page.goto(f"{site_url}/shop")  # anonymous: the items, and a way to log in
    expect(page.locator("#shop-items .shop-item")).to_have_count(3)
    expect(page.locator("#shop-anon")).to_be_visible()
    expect(page.locator(".shop-item").first.locator("button")).to_have_text("Log in to buy")

    _login(page, site_url, "/shop")
    uid = _q(fresh_db, "SELECT id FROM unified_users WHERE discord_id = 777001")[0]
    with db.transaction() as conn:
        ledger.grant(conn, uid, "coins", 500, reason="t", platform="discord", source_key="shop-test")
    page.reload()
    expect(page.locator("#shop-balance")).to_have_text("Your balance: 500 coins")
    hat_card = page.locator(".shop-item", has_text="Top hat")
    expect(hat_card.locator(".shop-stock")).to_have_text("1 left")
    expect(page.locator(".shop-item", has_text="XP boost").locator("button")).to_have_text("Not enough coins")
    _shot(page, "20_shop")

    hat_card.locator("button").click()  # first click asks…
    expect(hat_card.locator("button")).to_have_text("Confirm: 120 coins")
    hat_card.locator("button").click()  # …the second buys
    expect(hat_card.locator(".status")).to_have_text("Bought! You own 1.")
    expect(hat_card.locator(".shop-stock")).to_have_text("Sold out")
    expect(hat_card.locator("button")).to_have_text("Sold out")
    expect(page.locator("#shop-balance")).to_have_text("Your balance: 405 coins")  # + 25: Shopper achievement
    assert _q(fresh_db, "SELECT count(*), sum(total) FROM purchases WHERE item_id = %s", hat.id) == (1, 120)

    # Someone else empties a shelf while the page is open: it shows without a reload.
    with db.transaction() as conn:
        conn.execute("UPDATE shop_items SET stock = 0 WHERE name = 'Streak freeze'")
    page.evaluate("document.dispatchEvent(new Event('visibilitychange'))")
    expect(page.locator(".shop-item", has_text="Streak freeze").locator(".shop-stock")).to_have_text("Sold out")
    _shot(page, "21_shop_after_buying")

    page.goto(f"{site_url}/me")
    expect(page.locator("#profile-items")).to_contain_text("Top hat × 1")
    expect(page.locator("#profile-purchases tbody tr")).to_have_count(1)
    expect(page.locator("#profile-purchases")).to_contain_text("Top hat")
    expect(page.locator("#achievements-count")).to_have_text("1 of 13")
    expect(page.locator(".badge:not(.locked)")).to_have_text(re.compile("Shopper"))
    expect(page.locator(".badge.locked", has_text="???")).to_have_count(1)
    _shot(page, "22_me_items_and_badges")
    assert _own_errors(problems) == []
