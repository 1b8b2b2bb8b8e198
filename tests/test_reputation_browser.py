"""The site's profile card shows reputation (`rep` from api_profile), in English and Russian, in headless Chromium."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.test_site_browser import _own_errors, _page, browser, site_url  # noqa: F401 (fixtures)
from ttfd.core import db, ledger, users
from ttfd.features.reputation import service


def test_the_profile_card_shows_reputation(browser, site_url, fresh_db) -> None:  # noqa: F811
    with db.transaction() as conn:
        who = users.ensure_user(conn, "telegram", 5001, "p1", "Player 1")
        for i in range(3):
            giver = users.ensure_user(conn, "discord", 990 + i, f"g{i}", f"Giver {i}")
            service.give(
                conn,
                giver.id,
                who.id,
                reason="спасибо",
                platform="discord",
                place_id=1,
                key=f"b:{i}",
                now=ledger.utc_now(),
            )
    page, problems = _page(browser)
    page.goto(f"{site_url}/u/{who.id}")
    expect(page.locator("#stat-rep")).to_have_text("3 points")
    page.goto(f"{site_url}/ru/u/{who.id}")
    expect(page.locator("#stat-rep")).to_have_text("3 очка")
    assert _own_errors(problems) == []
