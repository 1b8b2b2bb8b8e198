"""Shop items, purchases, inventory and consumables: the one place their SQL lives (sql/0007).

Buying, refunding and using are each one call of a SQL function that locks the account, then the item, so
the stock, the coins (through the ledger), the purchase row and the inventory always move together."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, ClassVar, Literal

from psycopg import sql as psql
from psycopg.errors import UniqueViolation

from ttfd.core import jobs, ledger
from ttfd.core.db import Conn
from ttfd.core.errors import BadInput, DomainError, Forbidden, InsufficientFunds, NotFound
from ttfd.core.i18n import N_, Msg, _
from ttfd.core.inputs import text_problem
from ttfd.core.settings import bounded

Kind = Literal["cosmetic", "role", "consumable"]
Effect = Literal["streak_freeze", "xp_boost"]
# How people name a kind (commands, the CLI): a consumable is named by its effect.
KINDS: dict[str, tuple[Kind, Effect | None]] = {
    "cosmetic": ("cosmetic", None),
    "role": ("role", None),
    "streak_freeze": ("consumable", "streak_freeze"),
    "xp_boost": ("consumable", "xp_boost"),
}
MAX_QUANTITY = 100
ROLE_JOB = "shop.role"
ROLE_RULE = _("Shop roles are bought by anyone with coins")  # why a role item may not carry moderation power
MAX_PRICE = 10**12
MAX_STOCK = 10**9


def coins(n: int) -> Msg:
    """An amount of coins, in the reader's words and plural ("1 coin", "5 монет")."""
    return N_("{n} coin", "{n} coins", n)


@dataclass(frozen=True)
class ShopSettings:
    """SHOP_BOOST_MINUTES: how long one XP boost runs."""

    ENV_PREFIX: ClassVar[str] = "SHOP_"
    boost_minutes: int = bounded(60, 1, 24 * 60)


@dataclass(frozen=True)
class Item:
    id: int
    guild_id: int | None
    name: str
    description: str
    price: int
    category: str
    stock: int | None
    per_user_limit: int | None
    kind: Kind
    effect: Effect | None
    role_id: int | None
    image_url: str | None
    active: bool
    sort_order: int

    @property
    def sold_out(self) -> bool:
        return self.stock == 0

    @property
    def kind_name(self) -> str:
        """cosmetic, role, streak_freeze or xp_boost (KINDS' keys)."""
        return self.effect or self.kind

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "price": self.price,
            "category": self.category,
            "stock": self.stock,
            "per_user_limit": self.per_user_limit,
            "kind": self.kind_name,
            "image_url": self.image_url,
            "sold_out": self.sold_out,
        }


def _item(row: dict[str, Any]) -> Item:
    return Item(**{f.name: row[f.name] for f in fields(Item)})


# --- what an item may be -------------------------------------------------------------------------------

_EDITABLE = ("name", "description", "price", "category", "stock", "per_user_limit", "image_url", "sort_order")


_BOUNDS = {
    "stock": _("Stock must be a whole number from {low} to {high}.", low=0, high=0),
    "per_user_limit": _("The limit per person must be a whole number from {low} to {high}.", low=0, high=0),
    "sort_order": _("The position must be a whole number from {low} to {high}.", low=0, high=0),
}


def check_fields(values: dict[str, Any]) -> dict[str, Any]:
    """An item's fields as given by an admin, an operator or a test: each checked, with a clear refusal."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if value is None and name in ("stock", "per_user_limit", "image_url"):
            out[name] = None
            continue
        if name == "name":
            value = str(value).strip()
            if not 1 <= len(value) <= 60 or text_problem(value) or "\n" in value:
                raise BadInput(_("An item's name is 1 to 60 characters on one line."))
            if value.isdigit():
                raise BadInput(_("An item's name cannot be only digits (numbers pick items by id)."))
        elif name in ("description", "category"):
            value = str(value).strip() or ("general" if name == "category" else "")
            limit = 300 if name == "description" else 30
            if len(value) > limit or text_problem(value):
                if name == "description":
                    raise BadInput(_("An item's description is at most {n} characters of plain text.", n=limit))
                raise BadInput(_("An item's category is at most {n} characters of plain text.", n=limit))
        elif name == "price":
            if type(value) is not int or not 0 <= value <= MAX_PRICE:
                raise BadInput(_("A price is a whole number of coins from 0 to {max}.", max=MAX_PRICE))
        elif name in ("stock", "per_user_limit", "sort_order"):
            low = {"stock": 0, "per_user_limit": 1, "sort_order": -1_000_000}[name]
            high = MAX_STOCK if name != "sort_order" else 1_000_000
            if type(value) is not int or not low <= value <= high:
                raise BadInput(_BOUNDS[name].with_values({"low": low, "high": high}))
        elif name == "image_url":
            if not isinstance(value, str) or not re.fullmatch(r"https://[^\s<>\"']{1,490}", value):
                raise BadInput(_("An image URL starts with https:// and has no spaces."))
        elif name not in ("active", "kind", "effect", "role_id", "guild_id", "created_by"):
            raise BadInput(_("{field} is not something an item has.", field=name))
        out[name] = value
    return out


_INSERT = """
INSERT INTO shop_items (guild_id, name, description, price, category, stock, per_user_limit, kind, effect, role_id,
                        image_url, sort_order, created_by)
VALUES (%(guild_id)s, %(name)s, %(description)s, %(price)s, %(category)s, %(stock)s, %(per_user_limit)s, %(kind)s,
        %(effect)s, %(role_id)s, %(image_url)s, %(sort_order)s, %(created_by)s)
ON CONFLICT DO NOTHING
RETURNING id
"""


def create(
    conn: Conn,
    *,
    name: str,
    price: int,
    kind: str = "cosmetic",
    guild_id: int | None = None,
    role_id: int | None = None,
    description: str = "",
    category: str = "general",
    stock: int | None = None,
    per_user_limit: int | None = None,
    image_url: str | None = None,
    sort_order: int = 0,
    created_by: int | None = None,
) -> Item:
    """A new active item; refused when an active item of that name is already sold there."""
    if kind not in KINDS:
        raise BadInput(_("An item's kind is one of {kinds}.", kinds=", ".join(KINDS)))
    base, effect = KINDS[kind]
    if base == "role" and (role_id is None or guild_id is None):
        raise BadInput(_("A role item needs the role and the server it is in."))
    if base != "role" and role_id is not None:
        raise BadInput(_("Only role items carry a role."))
    values = check_fields(
        {
            "name": name,
            "description": description,
            "price": price,
            "category": category,
            "stock": stock,
            "per_user_limit": 1 if base == "role" else per_user_limit,
            "image_url": image_url,
            "sort_order": sort_order,
        }
    )
    values.update(kind=base, effect=effect, role_id=role_id, guild_id=guild_id, created_by=created_by)
    row = conn.execute(_INSERT, values).fetchone()
    if row is None:
        raise BadInput(_("An item called {name} is already for sale there.", name=values["name"]))
    return get(conn, int(row["id"]))


def get(conn: Conn, item_id: int) -> Item:
    row = conn.execute("SELECT * FROM shop_items WHERE id = %(id)s", {"id": item_id}).fetchone()
    if row is None:
        raise NotFound(_("No such item."))
    return _item(row)


_UPDATE = psql.SQL("UPDATE shop_items SET {}, updated_at = now() WHERE id = %(id)s")


def update(conn: Conn, item: Item, changes: dict[str, Any]) -> Item:
    """Change an item's editable fields (checked); a name clash with another active item is refused."""
    changes = check_fields({k: v for k, v in changes.items() if k in (*_EDITABLE, "active")})
    if not changes:
        raise BadInput(_("Say what to change."))
    if item.kind == "role" and "per_user_limit" in changes:
        raise BadInput(_("A role is bought once per person; its limit cannot change."))
    sets = psql.SQL(", ").join(psql.SQL("{} = {}").format(psql.Identifier(k), psql.Placeholder(k)) for k in changes)
    try:
        with conn.transaction():  # a savepoint: a name clash refuses this change only
            conn.execute(_UPDATE.format(sets), {**changes, "id": item.id})
    except UniqueViolation:
        raise BadInput(
            _("An item called {name} is already for sale there.", name=changes.get("name", item.name))
        ) from None
    return get(conn, item.id)


def restock(conn: Conn, item: Item, amount: int | None) -> Item:
    """Add `amount` to the stock, or make it unlimited (None)."""
    if amount is not None and not 1 <= amount <= MAX_STOCK:
        raise BadInput(_("Restock by 1 to {max}.", max=MAX_STOCK))
    conn.execute(
        """UPDATE shop_items SET stock = CASE WHEN %(n)s::integer IS NULL THEN NULL
                                              ELSE least(coalesce(stock, 0) + %(n)s, %(max)s) END,
                  updated_at = now() WHERE id = %(id)s""",
        {"n": amount, "max": MAX_STOCK, "id": item.id},
    )
    return get(conn, item.id)


# --- finding items -----------------------------------------------------------------------------------

# What a buyer sees: global items, and in a Discord server that server's own.
_LIST = """
SELECT *, count(*) OVER () AS total FROM shop_items WHERE active AND (guild_id IS NULL OR guild_id = %(guild)s)
ORDER BY guild_id NULLS FIRST, sort_order, id LIMIT %(limit)s OFFSET %(offset)s
"""


# A page of it with the buyer's balance, in one statement (/shop); the balance is None when the page is empty.
_SHELF = """
SELECT *, count(*) OVER () AS total, (SELECT coins FROM unified_users WHERE id = %(user)s) AS balance
FROM shop_items WHERE active AND (guild_id IS NULL OR guild_id = %(guild)s)
ORDER BY guild_id NULLS FIRST, sort_order, id LIMIT %(limit)s OFFSET %(offset)s
"""


def shelf(conn: Conn, guild_id: int | None, page: int, size: int, user_id: int) -> tuple[list[Item], int, int | None]:
    """`listing`'s page, how many there are, and what `user_id` can spend."""
    rows = conn.execute(_SHELF, {"guild": guild_id, "limit": size, "offset": page * size, "user": user_id}).fetchall()
    if not rows:
        return [], 0, None
    return [_item(r) for r in rows], int(rows[0]["total"]), int(rows[0]["balance"] or 0)


def listing(conn: Conn, guild_id: int | None, page: int = 0, size: int = 1000) -> tuple[list[Item], int]:
    """The items sold here (global ones first, then the server's), one page, and how many there are."""
    rows = conn.execute(_LIST, {"guild": guild_id, "limit": size, "offset": page * size}).fetchall()
    return [_item(r) for r in rows], int(rows[0]["total"]) if rows else 0


_BY_NAME = """
SELECT * FROM shop_items WHERE active AND (guild_id IS NULL OR guild_id = %(guild)s) AND lower(name) = lower(%(name)s)
ORDER BY guild_id NULLS FIRST LIMIT 1
"""
_BY_ID = "SELECT * FROM shop_items WHERE active AND (guild_id IS NULL OR guild_id = %(guild)s) AND id = %(id)s"
_BY_PREFIX = """
SELECT * FROM shop_items WHERE active AND (guild_id IS NULL OR guild_id = %(guild)s)
AND lower(name) LIKE %(pattern)s ESCAPE '\\'
ORDER BY guild_id NULLS FIRST, sort_order, id LIMIT %(limit)s
"""


def _like(text: str) -> str:
    return text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def suggest(conn: Conn, guild_id: int | None, typed: str, limit: int = 25) -> list[Item]:
    """Items whose name starts with what was typed, then those that contain it (autocomplete)."""
    typed = typed.strip()[:60]
    found = [
        _item(r) for r in conn.execute(_BY_PREFIX, {"guild": guild_id, "pattern": _like(typed) + "%", "limit": limit})
    ]
    if len(found) < limit and typed:
        more = conn.execute(_BY_PREFIX, {"guild": guild_id, "pattern": "%" + _like(typed) + "%", "limit": limit})
        found += [i for i in map(_item, more) if i.id not in {f.id for f in found}][: limit - len(found)]
    return found


_PICKED = re.compile(r"#([0-9]{1,18})@([0-9]{1,13})")


def picked(item: Item) -> str:
    """How an autocomplete suggestion names an item: its id and the price it showed (`#12@250`)."""
    return f"#{item.id}@{item.price}"


def shown_price(ref: str) -> int | None:
    """The price a picked suggestion showed (None: the item was typed, no price was shown)."""
    found = _PICKED.fullmatch(ref.strip())
    return int(found.group(2)) if found else None


def find(conn: Conn, guild_id: int | None, ref: str) -> Item:
    """An item sold here by exact name (any case), by id (`12`, `#12`, or a suggestion's `#12@250`), or by a
    unique start of its name."""
    ref = ref.strip()
    if found := _PICKED.fullmatch(ref):
        ref = "#" + found.group(1)
    if not ref:
        raise BadInput(_("Which item? See /shop."))
    row = conn.execute(_BY_NAME, {"guild": guild_id, "name": ref}).fetchone()
    if row is not None:
        return _item(row)
    digits = ref.removeprefix("#")
    if digits.isascii() and digits.isdigit() and len(digits) <= 18:
        row = conn.execute(_BY_ID, {"guild": guild_id, "id": int(digits)}).fetchone()
        if row is not None:
            return _item(row)
    matches = suggest(conn, guild_id, ref, limit=6)
    starts = [i for i in matches if i.name.lower().startswith(ref.lower())]
    if len(starts) == 1:
        return starts[0]
    if matches:
        names = ", ".join(i.name for i in matches[:5])
        raise NotFound(_("Which one? {names}.", names=names))
    raise NotFound(_("Nothing called {name} is for sale here. See /shop.", name=ref[:60]))


# --- buying, refunding, using --------------------------------------------------------------------------


@dataclass(frozen=True)
class Bought:
    purchase_id: int
    item: Item
    quantity: int
    total: int
    balance: int
    owned: int
    stock: int | None  # what is left after it (None: unlimited)
    duplicate: bool = False


# A repeated key answers with the first purchase, as things stand now.
_EARLIER = """
SELECT p.quantity, p.total, s.stock,
       (SELECT coalesce(sum(quantity), 0) FROM inventory WHERE user_id = p.user_id AND item_id = p.item_id) AS owned
FROM purchases p JOIN shop_items s ON s.id = p.item_id WHERE p.id = %(id)s
"""
_BUY = "SELECT * FROM shop_buy(%(user)s, %(item)s, %(qty)s, %(guild)s, %(platform)s, %(key)s, %(week)s, %(price)s)"


class PriceChanged(DomainError):
    """A confirmation showed a price the item no longer has: nothing was bought; `price` is the new one."""

    def __init__(self, item: Item, price: int) -> None:
        super().__init__(
            _("The price of {item} changed to {price}; nothing was bought.", item=item.name, price=coins(price))
        )
        self.price = price


class KeyReused(DomainError):
    """A request key already bought something else (another item, quantity or price)."""

    status = 422

    def __init__(self) -> None:
        super().__init__(_("That purchase key was already used for a different purchase; nothing was bought."))


def buy(
    conn: Conn,
    user_id: int,
    item: Item,
    quantity: int,
    *,
    guild_id: int | None,
    platform: str,
    key: str,
    now: datetime,
    discord_id: int | None = None,
    price: int | None = None,
    reply_to: dict[str, Any] | None = None,
) -> Bought:
    """Buy once per request key (a repeat answers with the first purchase); refusals change nothing.
    `price`: the unit price the buyer was shown — a different current price refuses (PriceChanged).

    A role item also queues the role grant, which needs the buyer's Discord account; `reply_to` is where the
    receipt is, to be corrected if the role cannot be given after all."""
    if not 1 <= quantity <= MAX_QUANTITY:
        raise BadInput(_("Buy 1 to {max} at a time.", max=MAX_QUANTITY))
    if item.kind == "role" and discord_id is None:
        raise BadInput(_("That is a Discord role: buy it in its server."))
    params = {
        "user": user_id,
        "item": item.id,
        "qty": quantity,
        "guild": guild_id,
        "platform": platform,
        "key": key,
        "week": ledger.week_start(now.date()),
        "price": price,
    }
    row = conn.execute(_BUY, params).fetchone()
    assert row is not None
    status, purchase_id, balance = row["status"], row["purchase_id"], int(row["balance"])
    if status == "ok":  # shop_buy said all of it
        if item.kind == "role":
            grant_role(conn, item, discord_id, int(purchase_id), add=True, reply_to=reply_to)
        return Bought(purchase_id, item, quantity, int(row["total"]), balance, int(row["owned"]), row["stock_left"])
    if status == "duplicate":
        p = conn.execute(_EARLIER, {"id": purchase_id}).fetchone()
        assert p is not None
        return Bought(
            purchase_id, item, p["quantity"], p["total"], balance, int(p["owned"]), p["stock"], duplicate=True
        )
    raise _refusal(status, item, quantity, row)


def _refusal(status: str, item: Item, quantity: int, row: dict[str, Any]) -> DomainError:
    if status == "price_changed":
        return PriceChanged(item, int(row["total"]))
    if status == "key_reused":
        return KeyReused()
    if status == "not_found":
        return NotFound(_("That item is not sold here."))
    if status == "inactive":
        return BadInput(_("{item} is no longer for sale.", item=item.name))
    if status == "sold_out":
        left = row["stock_left"]
        if not left:
            return BadInput(_("{item} is sold out.", item=item.name))
        return BadInput(N_("Only {n} {item} left.", "Only {n} {item} left.", int(left), item=item.name))
    if status == "limit":
        return BadInput(
            N_(
                "{item} is limited to {n} per person; you have {owned}.",
                "{item} is limited to {n} per person; you have {owned}.",
                item.per_user_limit or 0,
                item=item.name,
                owned=int(row["owned"]),
            )
        )
    if status == "owned":
        if row["owned"]:
            return BadInput(_("You already have {item}.", item=item.name))
        return BadInput(_("A role is bought one at a time."))
    assert status == "insufficient", status
    return InsufficientFunds(currency="coins", needed=int(row["total"]), have=int(row["balance"]))


def grant_role(
    conn: Conn,
    item: Item,
    discord_id: int | None,
    purchase_id: int,
    *,
    add: bool,
    reply_to: dict[str, Any] | None = None,
) -> None:
    """Queue giving (or, for a refund, taking back) a role item's role (ttfd.features.shop.roles)."""
    if discord_id is None or item.role_id is None or item.guild_id is None:
        return
    payload = {
        "purchase_id": purchase_id,
        "guild_id": item.guild_id,
        "discord_id": discord_id,
        "role_id": item.role_id,
        "add": add,
        "reason": f"TTFD shop: {'bought' if add else 'refunded'} {item.name}",
        **({"reply_to": reply_to} if reply_to else {}),
    }
    jobs.enqueue(conn, ROLE_JOB, payload, dedupe_key=f"shop_role:{purchase_id}:{'add' if add else 'remove'}")


@dataclass(frozen=True)
class Refunded:
    purchase_id: int
    user_id: int
    item: Item
    quantity: int
    total: int


_PURCHASE = """
SELECT p.id, p.user_id, p.item_id, p.quantity, p.total, p.refunded_at, i.guild_id
FROM purchases p JOIN shop_items i ON i.id = p.item_id WHERE p.id = %(id)s
"""
_REFUND = "SELECT * FROM shop_refund(%(purchase)s, %(by)s, %(platform)s, %(week)s)"


def refund(
    conn: Conn,
    purchase_id: int,
    *,
    by: int | None,
    guild_id: int | None,
    platform: str,
    now: datetime,
    take_role: bool = True,
) -> Refunded:
    """Undo a purchase of an item of this server (`guild_id`; None: an operator, any purchase) once; a role
    item's role is taken back (`take_role=False`: it was never given)."""
    found = conn.execute(_PURCHASE, {"id": purchase_id}).fetchone()
    if found is None or (guild_id is not None and found["guild_id"] != guild_id):
        raise NotFound(_("No purchase #{number} of this server's items.", number=str(purchase_id)))
    params = {"purchase": purchase_id, "by": by, "platform": platform, "week": ledger.week_start(now.date())}
    row = conn.execute(_REFUND, params).fetchone()
    assert row is not None
    item = get(conn, int(found["item_id"]))
    if row["status"] == "already":
        raise BadInput(_("Purchase #{number} was refunded already.", number=str(purchase_id)))
    if row["status"] == "used":
        raise BadInput(
            _("Purchase #{number} cannot be refunded: its items were used or moved.", number=str(purchase_id))
        )
    assert row["status"] == "ok", row["status"]
    if item.kind == "role" and take_role:
        discord_id = conn.execute(
            "SELECT discord_id FROM unified_users WHERE id = %(id)s", {"id": row["user_id"]}
        ).fetchone()
        grant_role(conn, item, discord_id["discord_id"] if discord_id else None, purchase_id, add=False)
    return Refunded(purchase_id, int(row["user_id"]), item, int(row["quantity"]), int(row["total"]))


@dataclass(frozen=True)
class Used:
    item: Item
    until: datetime
    left: int
    duplicate: bool = False


_USE = "SELECT * FROM shop_use(%(user)s, %(item)s, %(now)s, %(boost)s, %(key)s)"


def use(conn: Conn, s: ShopSettings, user_id: int, item: Item, *, key: str, now: datetime) -> Used:
    """Use one consumable now (an XP boost; a streak freeze is used by /daily by itself)."""
    if item.effect == "streak_freeze":
        raise BadInput(_("Streak freezes work by themselves: one is used when a missed day would break your streak."))
    if item.effect != "xp_boost":
        raise BadInput(_("{item} is not something you use.", item=item.name))
    params = {"user": user_id, "item": item.id, "now": now, "boost": s.boost_minutes * 60, "key": key}
    row = conn.execute(_USE, params).fetchone()
    assert row is not None
    if row["status"] == "none":
        raise BadInput(_("You have no {item}. Buy one with /buy.", item=item.name))
    if row["status"] == "not_usable":
        raise BadInput(_("{item} is not something you use.", item=item.name))
    return Used(item, row["until"], int(row["left_over"] or 0), duplicate=row["status"] == "duplicate")


# --- what someone has -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Owned:
    item: Item
    quantity: int


_INVENTORY = """
SELECT s.*, i.quantity AS owned
FROM inventory i JOIN shop_items s ON s.id = i.item_id
WHERE i.user_id = %(user)s AND i.quantity > 0 ORDER BY s.kind, s.sort_order, s.id
"""


def inventory(conn: Conn, user_id: int) -> list[Owned]:
    return [Owned(_item(r), int(r["owned"])) for r in conn.execute(_INVENTORY, {"user": user_id})]


# /inventory in one statement: what is owned and until when an XP boost runs (one row, id NULL, if nothing is).
_BAG = """
SELECT (SELECT until FROM user_effects WHERE user_id = %(user)s AND effect = 'xp_boost' AND until > %(now)s) AS boost,
       s.*, i.quantity AS owned
FROM (VALUES (1)) one (x)
LEFT JOIN (inventory i JOIN shop_items s ON s.id = i.item_id) ON i.user_id = %(user)s AND i.quantity > 0
ORDER BY s.kind, s.sort_order, s.id
"""


def bag(conn: Conn, user_id: int, now: datetime) -> tuple[list[Owned], datetime | None]:
    """What an account owns, and the end of its running XP boost (None: none runs)."""
    rows = conn.execute(_BAG, {"user": user_id, "now": now}).fetchall()
    return [Owned(_item(r), int(r["owned"])) for r in rows if r["id"] is not None], rows[0]["boost"]


_HISTORY = """
SELECT p.id, p.quantity, p.total, p.source_platform, p.created_at, p.refunded_at, s.name
FROM purchases p JOIN shop_items s ON s.id = p.item_id
WHERE p.user_id = %(user)s ORDER BY p.created_at DESC, p.id DESC LIMIT %(limit)s
"""


def history(conn: Conn, user_id: int, limit: int = 20) -> list[dict[str, Any]]:
    """A player's latest purchases, newest first."""
    return [
        {
            "id": r["id"],
            "item": r["name"],
            "quantity": r["quantity"],
            "total": r["total"],
            "platform": r["source_platform"],
            "at": r["created_at"].isoformat(),
            "refunded": r["refunded_at"] is not None,
        }
        for r in conn.execute(_HISTORY, {"user": user_id, "limit": limit})
    ]


def balance(conn: Conn, user_id: int) -> int:
    row = conn.execute("SELECT coins FROM unified_users WHERE id = %(id)s", {"id": user_id}).fetchone()
    return int(row["coins"]) if row else 0


def require_guild_item(item: Item, guild_id: int | None) -> None:
    """Server admins manage their server's items only; global items belong to the operators (CLI)."""
    if item.guild_id is None or item.guild_id != guild_id:
        raise Forbidden(_("{item} is sold everywhere; only TTFD's operators change it.", item=item.name))


# --- merges ------------------------------------------------------------------------------------------

_MERGE = (
    "UPDATE purchases SET user_id = %(keep)s WHERE user_id = %(gone)s",
    "UPDATE item_uses SET user_id = %(keep)s WHERE user_id = %(gone)s",
    """INSERT INTO inventory AS i (user_id, item_id, quantity, acquired_at)
       SELECT %(keep)s, item_id, quantity, acquired_at FROM inventory WHERE user_id = %(gone)s
       ON CONFLICT (user_id, item_id) DO UPDATE SET quantity = i.quantity + EXCLUDED.quantity,
                                                   acquired_at = least(i.acquired_at, EXCLUDED.acquired_at)""",
    "DELETE FROM inventory WHERE user_id = %(gone)s",
    """INSERT INTO user_effects AS e (user_id, effect, until)
       SELECT %(keep)s, effect, until FROM user_effects WHERE user_id = %(gone)s
       ON CONFLICT (user_id, effect) DO UPDATE SET until = greatest(e.until, EXCLUDED.until)""",
    "DELETE FROM user_effects WHERE user_id = %(gone)s",
)


def merge_rows(conn: Conn, keep_id: int, gone_id: int) -> None:
    """Purchases, inventory and running boosts follow the account (two of one role stay two rows' worth)."""
    for sql in _MERGE:
        conn.execute(sql, {"keep": keep_id, "gone": gone_id})
