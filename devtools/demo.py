"""Demo accounts for `make run`, written through the ledger like any real activity (idempotent keys)."""

from __future__ import annotations

from ttfd.core import ledger, users
from ttfd.core.db import Conn
from ttfd.features.shop import service as shop

DEMO = [
    ("discord", 900001, "nova", "Nova", 41_250, 2_400),
    ("discord", 900002, "kite", "Kite", 18_900, 870),
    ("telegram", 900003, "mira", "Mira", 18_900, 1_530),
    ("discord", 900004, "orbit", "Orbit", 7_350, 300),
    ("telegram", 900005, "pixel", "Pixel", 2_040, 9_999),
    ("discord", 900006, "echo", "Echo", 640, 120),
    ("telegram", 900007, "lumen", "Lumen", 120, 40),
]


# A small shop to spend the demo coins in (name, price, kind, stock, per-person limit, description).
SHOP = [
    ("Streak freeze", 150, "streak_freeze", None, 5, "Keeps your daily streak alive on a day you miss."),
    ("XP boost", 300, "xp_boost", None, None, "Double message and daily XP for an hour."),
    ("Founder badge", 1_000, "cosmetic", 25, 1, "For the first 25 who believed."),
    ("Golden frame", 2_500, "cosmetic", 3, 1, "Only three exist."),
]


def seed(conn: Conn) -> int:
    """Create the demo accounts, balances and shop items; running it again changes nothing."""
    for platform, ext, username, name, xp, coins in DEMO:
        user = users.ensure_user(conn, platform, ext, username, name)  # type: ignore[arg-type]
        ledger.grant(conn, user.id, "xp", xp, reason="demo", platform=platform, source_key=f"demo:{ext}")
        ledger.grant(conn, user.id, "coins", coins, reason="demo", platform=platform, source_key=f"demo:{ext}")
    if not shop.listing(conn, None, size=1)[0]:
        for order, (item, price, kind, stock, limit, description) in enumerate(SHOP):
            shop.create(
                conn,
                name=item,
                price=price,
                kind=kind,
                stock=stock,
                per_user_limit=limit,
                description=description,
                sort_order=order,
            )
    return len(DEMO)


def discord_logins() -> list[tuple[int, str, str]]:
    """(discord id, username, name) of the demo players who can log in at the fake Discord authorize page,
    plus a brand-new person (a first login creates their account)."""
    known = [(ext, username, name) for platform, ext, username, name, _, _ in DEMO if platform == "discord"]
    return [*known, (900100, "newcomer", "Newcomer")]
