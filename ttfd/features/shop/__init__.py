"""Shop: spend coins on cosmetics, Discord roles and consumables (streak freeze, XP boost). /shop browses
(pages, a menu, an item card, Buy and a confirmation), /buy buys by name, /inventory and /use; server admins
sell their own items with /shopadmin; the website has a shop page and your purchases on /me."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from ttfd.core import users
from ttfd.core.db import Conn
from ttfd.core.errors import BadInput, Forbidden, NotFound
from ttfd.core.i18n import C_, N_, Msg, _
from ttfd.core.ledger import utc_now
from ttfd.core.users import Platform
from ttfd.features import profiles
from ttfd.features.shop import service
from ttfd.features.shop.service import Item, ShopSettings, coins
from ttfd.registry import Feature, Group
from ttfd.ui import guild
from ttfd.ui.actions import Action
from ttfd.ui.commands import ActionHandler, Command, Ctx, Kind, Option, Options, Precheck, RoleRef
from ttfd.ui.permissions import MANAGE_GUILD, MANAGE_ROLES, check_grantable, grantable_option
from ttfd.ui.reply import Button, Choice, Field, Reply, Select, say
from ttfd.ui.text import Text, bold, lines, role, text, when
from ttfd.web import Problem, Route, WebCtx, WebResponse, json_body, json_response

PAGE_SIZE = 5
ICONS = {"cosmetic": "🎖️", "role": "🏷️", "streak_freeze": "🧊", "xp_boost": "⚡"}
COLOR = 0x2ECC71


def _settings(ctx: Ctx) -> ShopSettings:
    return ctx.settings.section(ShopSettings)


def _count(n: int) -> Msg:
    """A bare number, grouped as the reader's language groups digits (12,345 / 12 345)."""
    return Msg("{n}", values={"n": n})


def _stock(item: Item) -> Msg:
    if item.stock is None:
        return _("unlimited")
    if item.stock == 0:
        return _("sold out")
    return N_("{n} left", "{n} left", item.stock)


def _per_person(limit: int) -> Msg:
    return N_("{n} per person", "{n} per person", limit)


def _line(item: Item) -> Text:
    return text(
        f"{ICONS[item.kind_name]} ",
        bold(item.name),
        " — ",
        coins(item.price),
        " · ",
        _stock(item),
        (" · ", _per_person(item.per_user_limit)) if item.per_user_limit else None,
        ("\n", item.description) if item.description else None,
    )


# --- browsing: /shop → page → item card → Buy → confirmation --------------------------------------------


@dataclass(frozen=True)
class ShopPage(Action):
    prefix = "shp"
    page: int


@dataclass(frozen=True)
class ShopItem(Action):
    prefix = "shi"
    item: int


@dataclass(frozen=True)
class ShopBuy(Action):
    """Buy pressed on an item card: ask to confirm."""

    prefix = "shb"
    item: int


@dataclass(frozen=True)
class ShopConfirm(Action):
    """The confirmation. It buys at the `price` (per item) and `quantity` it showed, or refuses and shows the
    new price. `nonce` comes from the press that showed it, so pressing Confirm twice (or Discord retrying)
    buys once; signed, with the buyer's account, so nobody else's press buys on their behalf."""

    prefix = "shc"
    signed = True
    item: int
    quantity: int
    price: int
    buyer: int
    nonce: int


def _nonce(key: str) -> int:
    # 24 bits: with the buyer and the item in the purchase key, enough to tell one Buy press from another,
    # and short enough that the confirmation (with its price) fits Telegram's 64-byte callback data.
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:3], "big")


SHOP_TITLE = _("🛒 Shop")


def page_reply(ctx: Ctx, page: int, *, edit: bool = False) -> Reply:
    size = PAGE_SIZE
    page = min(max(page, 0), 10_000)
    items, total, balance = service.shelf(ctx.conn, ctx.guild_id, page, size, ctx.user.id)
    if not items and page > 0:  # past the end (items sold out of the list meanwhile): the last page
        _first, total = service.listing(ctx.conn, ctx.guild_id, 0, size)
        page = max(0, -(-total // size) - 1)
        items, total, balance = service.shelf(ctx.conn, ctx.guild_id, page, size, ctx.user.id)
    pages = max(1, -(-total // size))
    if not items or balance is None:
        return Reply(title=SHOP_TITLE, body=(_("Nothing is for sale yet."),), private=True, edit=edit)
    return Reply(
        title=SHOP_TITLE,
        body=lines(*(_line(i) for i in items)),
        footer=_("Page {page}/{pages} · Your balance: {coins}", page=page + 1, pages=pages, coins=coins(balance)),
        color=COLOR,
        select=Select(_("Pick an item…"), tuple(Choice(i.name[:100], ShopItem(i.id), _stock(i)) for i in items)),
        rows=(
            (
                Button(C_("button", "◀ Prev"), ShopPage(page - 1), disabled=page == 0),
                Button(C_("button", "Next ▶"), ShopPage(page + 1), disabled=page >= pages - 1),
            ),
        ),
        private=True,
        edit=edit,
    )


def shop(ctx: Ctx, opts: Options) -> Reply:
    return page_reply(ctx, opts.get("page", 1) - 1)


def _visible(ctx: Ctx, item_id: int) -> Item:
    item = service.get(ctx.conn, item_id)
    if not item.active or (item.guild_id is not None and item.guild_id != ctx.guild_id):
        raise BadInput(_("{item} is no longer for sale here.", item=item.name))
    return item


def item_card(ctx: Ctx, item: Item, *, edit: bool = True) -> Reply:
    owned = sum(o.quantity for o in service.inventory(ctx.conn, ctx.user.id) if o.item.id == item.id)
    fields = [
        Field(C_("field", "Price"), (coins(item.price),)),
        Field(C_("field", "Stock"), (_stock(item),)),
        Field(C_("field", "You own"), (_count(owned),)),
    ]
    if item.per_user_limit:
        fields.append(Field(C_("field", "Limit"), (_per_person(item.per_user_limit),)))
    if item.role_id:
        fields.append(Field(C_("field", "Role"), (role(item.role_id),)))
    return Reply(
        title=f"{ICONS[item.kind_name]} {item.name}",
        body=(item.description or item.category,),
        fields=tuple(fields),
        image=item.image_url,
        color=COLOR,
        rows=(
            (
                Button(C_("button", "Buy"), ShopBuy(item.id), style="success", disabled=item.sold_out),
                Button(C_("button", "◀ Back to the shop"), ShopPage(0)),
            ),
        ),
        private=True,
        edit=edit,
    )


def on_page(ctx: Ctx, action: ShopPage) -> Reply:
    return page_reply(ctx, action.page, edit=True)


def on_item(ctx: Ctx, action: ShopItem) -> Reply:
    return item_card(ctx, _visible(ctx, action.item))


def on_buy(ctx: Ctx, action: ShopBuy) -> Reply:
    return _confirmation(ctx, _visible(ctx, action.item))


def _confirmation(ctx: Ctx, item: Item, note: str | None = None) -> Reply:
    """Buy this item for its price now? Confirm carries that price: it buys at it or not at all."""
    balance = service.balance(ctx.conn, ctx.user.id)
    confirm = ShopConfirm(item.id, 1, item.price, ctx.user.id, _nonce(ctx.key))
    short = balance < item.price
    price, have = coins(item.price), coins(balance)
    if short:
        sums = _("{price}. Your balance: {balance} — not enough.", price=price, balance=have)
    else:
        after = balance - item.price
        sums = _("{price}. Your balance: {balance} → {after} after.", price=price, balance=have, after=after)
    return Reply(
        title=_("Buy {item}?", item=item.name),
        body=text(("⚠️ ", note, "\n") if note else None, sums),
        color=COLOR,
        rows=(
            (
                Button(C_("button", "Confirm"), confirm, style="success", disabled=short),
                Button(C_("button", "Cancel"), ShopItem(item.id), style="secondary"),
            ),
        ),
        private=True,
        edit=True,
    )


def on_confirm(ctx: Ctx, action: ShopConfirm) -> Reply:
    if action.buyer != ctx.user.id:
        raise Forbidden(_("That confirmation is someone else's. Open /shop yourself."))
    item = service.get(ctx.conn, action.item)
    key = f"confirm:{action.buyer}:{action.item}:{action.nonce}"
    try:
        return _bought(ctx, item, action.quantity, key, price=action.price, edit=True)
    except service.PriceChanged as changed:
        # Nothing was bought: ask again, at the price the item has now.
        note = _("{refusal} Confirm again to buy at this price.", refusal=changed.message)
        return _confirmation(ctx, _visible(ctx, item.id), note)


def _for_hours_or_minutes(minutes: int) -> Msg:
    if minutes % 60 == 0:
        return N_("for {n} hour", "for {n} hours", minutes // 60)
    return N_("for {n} minute", "for {n} minutes", minutes)


def _how(ctx: Ctx, item: Item) -> Msg:
    """What happens with what was just bought."""
    if item.kind_name == "role":
        return _("The role {role} is on its way.", role=role(item.role_id or 0))
    if item.kind_name == "xp_boost":
        usage = f"/use {item.name}"  # text-ok: a command to type
        length = _for_hours_or_minutes(_settings(ctx).boost_minutes)
        return _("Start it with {command} — XP ×2 {length}.", command=bold(usage), length=length)
    if item.kind_name == "streak_freeze":
        return _("It keeps your daily streak alive on a day you miss, by itself.")
    return _("It shows on your profile.")


def _bought(ctx: Ctx, item: Item, quantity: int, key: str, *, price: int | None = None, edit: bool = False) -> Reply:
    b = service.buy(
        ctx.conn,
        ctx.user.id,
        item,
        quantity,
        guild_id=ctx.guild_id,
        platform=ctx.platform,
        key=key,
        now=ctx.now,
        discord_id=ctx.user.discord_id if ctx.platform == "discord" else None,
        price=price,
        reply_to=ctx.target if ctx.platform == "discord" else None,
    )
    what = bold(f"{b.quantity} × {item.name}" if b.quantity > 1 else item.name)
    values = {"item": what, "total": coins(b.total), "balance": coins(b.balance), "owned": b.owned}
    if b.duplicate:
        done = _("🛍️ Already done: you bought {item} for {total}. Balance: {balance}. You own {owned}.", **values)
    else:
        done = _("🛍️ You bought {item} for {total}. Balance: {balance}. You own {owned}.", **values)
    return say(done, "\n", _how(ctx, item), private=True, edit=edit)


# --- /buy, /inventory, /use --------------------------------------------------------------------------


def complete_item(conn: Conn, guild_id: int | None, typed: str) -> list[tuple[str, str]]:
    """Autocomplete for item names: (label with price and stock, `#id@price`): what is picked carries the
    price it showed, and /buy buys at that price or not at all. Labels are messages: the edge says them in
    the reader's language (and cuts them to Discord's 100 characters)."""
    return [
        (_("{item} — {price} · {stock}", item=i.name, price=coins(i.price), stock=_stock(i)), service.picked(i))
        for i in service.suggest(conn, guild_id, typed)
    ]


ITEM = Option(
    "item", Kind.STRING, _("The item's name"), required=True, max_length=60, autocomplete=complete_item, rest=True
)


def buy(ctx: Ctx, opts: Options) -> Reply:
    item = service.find(ctx.conn, ctx.guild_id, opts["item"])
    try:
        return _bought(ctx, item, opts.get("quantity", 1), ctx.key, price=service.shown_price(opts["item"]))
    except service.PriceChanged as changed:  # picked from the suggestions at another price: nothing bought
        raise BadInput(_("{refusal} Run /buy again to buy at this price.", refusal=changed.message)) from None


def inventory(ctx: Ctx, opts: Options) -> Reply:
    who = profiles.target(ctx, opts)
    if hidden := profiles.private_reply(ctx, who):
        return hidden
    owned, boost = service.bag(ctx.conn, who.id, ctx.now)
    rows: list[Text] = [
        text(f"{ICONS[o.item.kind_name]} ", bold(o.item.name), " × ", _count(o.quantity)) for o in owned
    ]
    if boost:
        rows.append(text(_("⚡ XP boost running, ends {when}", when=when(boost))))
    mine = who.id == ctx.user.id
    return Reply(
        title=_("🎒 Your inventory") if mine else _("🎒 {name}'s inventory", name=who.name),
        body=lines(*rows) if rows else (_("Empty. See /shop."),),
        color=COLOR,
        private=mine,
    )


def use(ctx: Ctx, opts: Options) -> Reply:
    owned = {o.item.id: o.item for o in service.inventory(ctx.conn, ctx.user.id)}
    try:
        item = service.find(ctx.conn, ctx.guild_id, opts["item"])
    except NotFound:
        # What you own may be off sale by now: look in your inventory by name too.
        match = [i for i in owned.values() if i.name.lower() == opts["item"].strip().lower()]
        if not match:
            raise
        item = match[0]
    u = service.use(ctx.conn, _settings(ctx), ctx.user.id, item, key=ctx.key, now=ctx.now)
    if u.duplicate:
        return say(
            _("⚡ XP boost on: message and daily XP count double. It ends {when}.", when=when(u.until)), private=True
        )
    return say(
        _(
            "⚡ XP boost on: message and daily XP count double. It ends {when}. {item} left: {left}.",
            when=when(u.until),
            item=item.name,
            left=u.left,
        ),
        private=True,
    )


# --- /shopadmin (MANAGE_GUILD; this server's items only) ----------------------------------------------


ADMIN = (MANAGE_GUILD, "Manage Server")
# A server's own items: cosmetics and roles. Consumables (boosts, freezes) act on the account everywhere, so
# only TTFD's operators sell them (python -m ttfd shop add).
KIND_CHOICES = ((C_("item kind", "Cosmetic"), "cosmetic"), (C_("item kind", "Role"), "role"))


def admin_add(ctx: Ctx, opts: Options) -> Reply:
    """Deferred (runs in a job): a role item is checked against the server's roles over REST first."""
    assert ctx.guild_id is not None
    kind = opts.get("kind", "cosmetic")
    picked: RoleRef | None = opts.get("role")
    if kind == "role":
        if picked is None:
            raise BadInput(_("A role item needs the role: pick it in the 'role' option."))
        # Selling a role hands it out: the seller needs what Discord asks of anyone giving it.
        ctx.require_permission(MANAGE_ROLES, "Manage Roles")
        check_grantable(picked, ctx.guild_id, service.ROLE_RULE)
        guild.check_assignable(ctx.conn, ctx.guild_id, picked.id, guild.bot_user_id(), service.ROLE_RULE, ctx.caller.id)
    elif picked is not None:
        raise BadInput(_("Only role items carry a role; set kind to Role."))
    item = service.create(
        ctx.conn,
        name=opts["name"],
        price=opts["price"],
        kind=kind,
        guild_id=ctx.guild_id,
        role_id=picked.id if picked else None,
        description=opts.get("description", ""),
        category=opts.get("category", "general"),
        stock=opts.get("stock"),
        per_user_limit=opts.get("limit"),
        image_url=opts.get("image_url"),
        sort_order=opts.get("sort", 0),
        created_by=ctx.user.id,
    )
    return say(_("✅ Now for sale (item #{number}):", number=str(item.id)), "\n", _line(item), private=True)


def _guild_item(ctx: Ctx, ref: str) -> Item:
    item = service.find(ctx.conn, ctx.guild_id, ref)
    service.require_guild_item(item, ctx.guild_id)
    return item


def admin_edit(ctx: Ctx, opts: Options) -> Reply:
    item = _guild_item(ctx, opts["item"])
    names = {"new_name": "name", "limit": "per_user_limit", "sort": "sort_order"}
    changes = {names.get(k, k): v for k, v in opts.items() if k != "item"}
    if changes.pop("unlimited", False):
        changes["stock"] = None
    item = service.update(ctx.conn, item, changes)
    return say(_("✅ Updated:"), "\n", _line(item), private=True)


def admin_remove(ctx: Ctx, opts: Options) -> Reply:
    item = service.update(ctx.conn, _guild_item(ctx, opts["item"]), {"active": False})
    gone = _("🗑️ {item} is no longer for sale. What people bought stays theirs.", item=bold(item.name))
    return say(gone, private=True)


def admin_restock(ctx: Ctx, opts: Options) -> Reply:
    item = service.restock(ctx.conn, _guild_item(ctx, opts["item"]), opts.get("amount"))
    return say(_("📦 {item}: {stock}.", item=bold(item.name), stock=_stock(item)), private=True)


def admin_refund(ctx: Ctx, opts: Options) -> Reply:
    r = service.refund(
        ctx.conn, opts["purchase"], by=ctx.user.id, guild_id=ctx.guild_id, platform=ctx.platform, now=ctx.now
    )
    buyer = users.get_user(ctx.conn, r.user_id)
    values = {
        "number": str(r.purchase_id),
        "coins": coins(r.total),
        "buyer": bold(buyer.name),
        "quantity": r.quantity,
        "item": r.item.name,
    }
    if r.item.kind == "role":
        done = _(
            "↩️ Purchase #{number} refunded: {coins} back to {buyer}, {quantity} × {item} taken back and the role "
            "is being removed.",
            **values,
        )
    else:
        done = _("↩️ Purchase #{number} refunded: {coins} back to {buyer}, {quantity} × {item} taken back.", **values)
    return say(done, private=True)


def _role_item(opts: dict[str, Any], platform: Platform, guild_id: int | None) -> dict[str, Any]:
    """Before "thinking…": a role item's role as the interaction resolved it may be handed out at all."""
    if opts.get("kind") == "role":
        return grantable_option(service.ROLE_RULE)(opts, platform, guild_id)
    return opts


def _admin(
    name: str, description: str, handler: Any, options: tuple[Option, ...], precheck: Precheck | None = None
) -> Command:
    return Command(
        name,
        description,
        handler,
        options,
        platforms=("discord",),
        group="shopadmin",
        guild_only=True,
        permission=ADMIN,
        defer=precheck is not None,  # adding a role item asks Discord about the server's roles: in a job
        private=True,
        precheck=precheck,
    )


ADMIN_ITEM = Option(
    "item", Kind.STRING, _("The item's name"), required=True, max_length=60, autocomplete=complete_item, rest=True
)
FIELDS = (
    Option("description", Kind.STRING, _("What it is"), max_length=300),
    Option("category", Kind.STRING, _("A category to group it under"), max_length=30),
    Option(
        "stock", Kind.INTEGER, _("How many there are (default: unlimited)"), min_value=0, max_value=service.MAX_STOCK
    ),
    Option("limit", Kind.INTEGER, _("How many one person may buy"), min_value=1, max_value=service.MAX_STOCK),
    Option("image_url", Kind.STRING, _("An https:// image"), max_length=500),
    Option("sort", Kind.INTEGER, _("Position in the list (lower first)"), min_value=-1_000_000, max_value=1_000_000),
)
ADMIN_COMMANDS = (
    _admin(
        "add",
        _("Sell an item in this server"),
        admin_add,
        (
            Option("name", Kind.STRING, _("Its name"), required=True, max_length=60),
            Option("price", Kind.INTEGER, _("Price in coins"), required=True, min_value=0, max_value=service.MAX_PRICE),
            Option("kind", Kind.STRING, _("What it is (default: cosmetic)"), choices=KIND_CHOICES),
            Option("role", Kind.ROLE, _("For a role item: the role it gives")),
            *FIELDS,
        ),
        _role_item,
    ),
    _admin(
        "edit",
        _("Change one of this server's items"),
        admin_edit,
        (
            ADMIN_ITEM,
            Option("new_name", Kind.STRING, _("A new name"), max_length=60),
            Option("price", Kind.INTEGER, _("A new price"), min_value=0, max_value=service.MAX_PRICE),
            *FIELDS,
            Option("unlimited", Kind.BOOLEAN, _("Make the stock unlimited")),
        ),
    ),
    _admin("remove", _("Stop selling one of this server's items"), admin_remove, (ADMIN_ITEM,)),
    _admin(
        "restock",
        _("Add stock to an item (no amount: unlimited)"),
        admin_restock,
        (ADMIN_ITEM, Option("amount", Kind.INTEGER, _("How many to add"), min_value=1, max_value=service.MAX_STOCK)),
    ),
    _admin(
        "refund",
        _("Refund a purchase of this server's items (coins back, item and role taken back)"),
        admin_refund,
        (Option("purchase", Kind.INTEGER, _("The purchase number"), required=True, min_value=1),),
    ),
)


# --- the website ---------------------------------------------------------------------------------------


def _get_shop(ctx: WebCtx) -> WebResponse:
    items, _total = service.listing(ctx.conn, None)
    body: dict[str, Any] = {"items": [i.json() for i in items], "me": None}
    if ctx.session is not None:
        owned = {o.item.id: o.quantity for o in service.inventory(ctx.conn, ctx.session.user_id)}
        body["me"] = {"balance": service.balance(ctx.conn, ctx.session.user_id), "owned": owned}
        for entry in body["items"]:
            entry["owned"] = owned.get(entry["id"], 0)
    return json_response(body, headers={"Cache-Control": "private, no-store"})


_KEY = re.compile(r"[A-Za-z0-9_-]{8,100}")


def _post_buy(ctx: WebCtx) -> WebResponse:
    key = ctx.request.header("idempotency-key") or ""
    if not _KEY.fullmatch(key):
        raise Problem(400, "Send an Idempotency-Key header (8-100 letters, digits, - or _) so a retry buys once.")
    body = json_body(ctx.request)
    if not isinstance(body, dict) or set(body) - {"item_id", "quantity", "price"} or "price" not in body:
        raise Problem(400, 'Send {"item_id": …, "quantity": …, "price": the price per item you were shown}.')
    item_id, quantity, price = body.get("item_id"), body.get("quantity", 1), body["price"]
    if type(item_id) is not int or not 0 < item_id < 2**62:
        raise Problem(400, "item_id must be an item's id.")
    if type(quantity) is not int or not 1 <= quantity <= service.MAX_QUANTITY:
        raise Problem(400, f"quantity must be a whole number from 1 to {service.MAX_QUANTITY}.")
    if type(price) is not int or not 0 <= price <= service.MAX_PRICE:
        raise Problem(400, "price must be the item's price in coins, as you were shown it.")
    user_id = ctx.user_id
    try:
        item = service.get(ctx.conn, item_id)
    except NotFound:
        item = None
    if item is None or item.guild_id is not None:  # a server's own items are sold in that server only
        raise Problem(404, _("No such item."))
    try:
        b = service.buy(
            ctx.conn,
            user_id,
            item,
            quantity,
            guild_id=None,
            platform="website",
            key=f"site:{user_id}:{key}",
            now=utc_now(),
            price=price,
        )
    except service.PriceChanged as changed:  # the page shows the new price; the person decides again
        raise Problem(409, changed.message, extra={"price": changed.price}) from None
    return json_response(
        {
            "purchase_id": b.purchase_id,
            "item": item.json() | {"stock": b.stock, "sold_out": b.stock == 0},
            "quantity": b.quantity,
            "total": b.total,
            "balance": b.balance,
            "owned": b.owned,
            "duplicate": b.duplicate,
        }
    )


def profile_shop(conn: Conn, user_id: int, owner: bool) -> dict[str, Any]:
    """The website's profile: what this player owns (badges for everyone; purchases for the owner only)."""
    owned = service.inventory(conn, user_id)
    body: dict[str, Any] = {
        "badges": [o.item.name for o in owned if o.item.kind == "cosmetic"],
    }
    if owner:
        body["inventory"] = [{"item": o.item.json(), "quantity": o.quantity} for o in owned]
        body["purchases"] = service.history(conn, user_id)
    return body


QUANTITY = Option("quantity", Kind.INTEGER, _("How many (default 1)"), min_value=1, max_value=service.MAX_QUANTITY)
FEATURE = Feature(
    name="shop",
    summary=__doc__ or "",
    groups=(Group("shopadmin", _("Sell items in this server's shop"), MANAGE_GUILD),),
    commands=(
        Command(
            "shop",
            _("Browse the shop"),
            shop,
            (Option("page", Kind.INTEGER, _("Which page"), min_value=1, max_value=10_000),),
            writes=False,
        ),
        Command("buy", _("Buy an item with coins"), buy, (ITEM, QUANTITY)),
        Command(
            "inventory",
            _("What you (or someone) own"),
            inventory,
            (Option("user", Kind.USER, _("Whose")),),
            writes=False,
        ),
        Command("use", _("Use a consumable (an XP boost)"), use, (ITEM,)),
        *ADMIN_COMMANDS,
    ),
    actions=(
        ActionHandler(ShopPage, on_page, writes=False),
        ActionHandler(ShopItem, on_item, writes=False),
        ActionHandler(ShopBuy, on_buy, writes=False),
        ActionHandler(ShopConfirm, on_confirm),
    ),
    routes=(
        Route("api_shop", "/api/shop", {"GET": _get_shop}, summary="the items for sale, your balance"),
        Route("api_shop_buy", "/api/shop/buy", {"POST": _post_buy}, summary="buy an item"),
    ),
    jobs={service.ROLE_JOB: "ttfd.features.shop.roles:apply_shop_role"},
    merge=service.merge_rows,
    settings=ShopSettings,
    migrations=("0007_shop.sql", "0016_shop_confirm_price.sql", "0022_shop_buy_concurrency.sql"),
    profile=profile_shop,
)
