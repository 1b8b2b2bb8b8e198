"""The VPN store's books: plans, stores, orders, payments, proofs, approval sessions, keys, the audit and the
panel's health. All of its SQL is here; nothing in it talks to Discord, Telegram or the panel (ttfd/features/
vpn/calls.py does, from jobs).

Orders move pending_payment → review (a proof was sent) → provisioning (an admin confirmed) → completed, or
back to pending_payment (rejected, or a provisioning that was rolled back goes back to review); cancelled ends
an order that was never paid. A payment is pending → approved | rejected (→ refunded). Money is minor units.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar, Literal

import psycopg
from psycopg.types.json import Jsonb

from ttfd.core.db import Conn
from ttfd.core.errors import BadInput, DomainError, Forbidden, NotFound
from ttfd.core.i18n import SOURCE, Msg, _
from ttfd.core.settings import bounded
from ttfd.ui.text import Part

Scope = Literal["discord", "telegram"]
OPEN = ("pending_payment", "review", "provisioning")
SESSION_S = 300  # Approve → Confirm: five minutes, once
CURRENCY_DIGITS = {"JPY": 0, "KRW": 0, "VND": 0, "CLP": 0, "ISK": 0, "HUF": 2, "KWD": 3, "BHD": 3}
MAX_MINOR = 100_000_000_000


@dataclass(frozen=True)
class VpnSettings:
    """VPN_* settings: the panel (see ttfd/clients/xui.py for VPN_PANEL_*), how orders are paid (VPN_METHODS, a
    JSON object: id → {"name": text or {"en": …, "ru": …}, "instructions": the same}), how long proofs are
    kept (VPN_PROOF_DAYS: the screenshots show bank details), when an unpaid order closes by itself
    (VPN_ORDER_HOURS), after how many failed checks in a row the panel counts as down (VPN_HEALTH_FAILURES)."""

    ENV_PREFIX: ClassVar[str] = "VPN_"
    panel_url: str = ""  # the panel's base URL with its web base path: https://panel.example.com:2053/secret/
    panel_username: str = ""  # the cookie API (v2.x–v3.0; also v3.x without a token)
    panel_password: str = ""
    panel_token: str = ""  # v3.0+: an API token (Bearer), preferred over the login
    panel_api: str = "auto"  # auto | classic | clients (v3.1+)
    inbound_id: int = bounded(1, 1, 2**31 - 1)
    link_host: str = ""  # the host in links built here (classic API); default: the panel URL's host
    sub_url: str = ""  # the subscription server's public base, e.g. https://sub.example.com:2096/sub/
    methods: str = ""
    proof_days: int = bounded(90, 1, 3650)
    order_hours: int = bounded(72, 1, 24 * 60)
    health_failures: int = bounded(3, 1, 100)
    channel_hours: int = bounded(24, 1, 24 * 30)  # the order channel goes this long after completion


# --- money ------------------------------------------------------------------------------------------------


def parse_amount(raw: str, currency: str) -> int:
    """ "299" or "299.50" in `currency` → minor units (29950); anything else is refused."""
    digits = CURRENCY_DIGITS.get(currency, 2)
    text = raw.strip().replace(",", ".")
    if not re.fullmatch(r"\d{1,12}(\.\d{1,3})?", text):
        raise BadInput(_("An amount is a number such as 299 or 299.50."))
    try:
        value = Decimal(text) * (10**digits)
    except InvalidOperation:
        raise BadInput(_("An amount is a number such as 299 or 299.50.")) from None
    if value != value.to_integral_value() or not 0 < value <= MAX_MINOR:
        raise BadInput(_("That amount cannot be used for {currency}.", currency=currency))
    return int(value)


def check_currency(raw: str) -> str:
    code = raw.strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", code):
        raise BadInput(_("A currency is a three-letter code such as RUB, USD or EUR."))
    return code


class Money(Msg):
    """An amount said in the reader's language: 1 500 ₽ in Russian, RUB1,500 in English (no ,00 when whole)."""

    __slots__ = ("currency", "minor")
    minor: int
    currency: str

    def __new__(cls, minor: int, currency: str) -> Money:
        obj = super().__new__(cls, "{money}", values={"money": money_text(minor, currency, SOURCE)})
        assert isinstance(obj, Money)
        obj.minor, obj.currency = minor, currency
        return obj

    def say(self, locale: str) -> tuple[Part, ...]:
        return (money_text(self.minor, self.currency, locale),)

    def with_values(self, values: Any) -> Msg:
        return self

    def __reduce__(self) -> Any:
        return (Money, (self.minor, self.currency))


def money_text(minor: int, currency: str, locale: str) -> str:
    from babel import Locale
    from babel.numbers import format_currency

    digits = CURRENCY_DIGITS.get(currency, 2)
    amount = Decimal(minor).scaleb(-digits)
    loc = "en" if locale == SOURCE else locale
    if minor % (10**digits) == 0:
        pattern = Locale.parse(loc).currency_formats["standard"].pattern.split(";")[0]
        pattern = re.sub(r"\.0+", "", pattern)
        said = str(format_currency(amount, currency, format=pattern, locale=loc, currency_digits=False))
    else:
        said = str(format_currency(amount, currency, locale=loc))
    # English puts a code right before the digits (RUB299): a no-break space reads better
    return re.sub(r"^([A-Z]{3})(?=\d)", "\\1\u00a0", said)


# --- plans --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    id: int
    name: str
    days: int
    price_minor: int
    currency: str
    traffic_gb: int
    devices: int
    active: bool

    @property
    def price(self) -> Money:
        return Money(self.price_minor, self.currency)

    def json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "days": self.days,
            "price": str(Decimal(self.price_minor).scaleb(-CURRENCY_DIGITS.get(self.currency, 2))),
            "price_minor": self.price_minor,
            "currency": self.currency,
            "traffic_gb": self.traffic_gb,
            "devices": self.devices,
            "active": self.active,
        }


def _plan(row: dict[str, Any]) -> Plan:
    return Plan(**{k: row[k] for k in Plan.__dataclass_fields__})


def _plan_name(raw: str) -> str:
    from ttfd.core.inputs import text_problem

    name = " ".join(raw.split())
    if not 1 <= len(name) <= 64 or text_problem(name):
        raise BadInput(_("A plan's name is 1 to 64 characters of text."))
    return name


def _limits(days: int, traffic_gb: int, devices: int) -> None:
    if not 1 <= days <= 3660:
        raise BadInput(_("A plan lasts 1 to 3660 days."))
    if not 0 <= traffic_gb <= 1_000_000 or not 0 <= devices <= 1000:
        raise BadInput(_("Traffic is 0 (unlimited) to 1000000 GB, devices 0 (unlimited) to 1000."))


def create_plan(conn: Conn, name: str, days: int, price: str, currency: str, traffic_gb: int, devices: int) -> Plan:
    currency = check_currency(currency)
    name = _plan_name(name)
    _limits(days, traffic_gb, devices)
    minor = parse_amount(price, currency)
    try:
        with conn.transaction():
            row = conn.execute(
                "INSERT INTO vpn_plans (name, days, price_minor, currency, traffic_gb, devices) "
                "VALUES (%s, %s, %s, %s, %s, %s) RETURNING *",
                (name, days, minor, currency, traffic_gb, devices),
            ).fetchone()
    except psycopg.errors.UniqueViolation:
        raise BadInput(_("A plan named {name} is already on sale.", name=name)) from None
    assert row is not None
    return _plan(row)


def edit_plan(
    conn: Conn,
    plan_id: int,
    *,
    name: str | None = None,
    days: int | None = None,
    price: str | None = None,
    currency: str | None = None,
    traffic_gb: int | None = None,
    devices: int | None = None,
    active: bool | None = None,
) -> Plan:
    """Change a plan (orders already made keep what they were sold)."""
    old = get_plan(conn, plan_id)
    cur = check_currency(currency) if currency is not None else old.currency
    new = Plan(
        old.id,
        _plan_name(name) if name is not None else old.name,
        days if days is not None else old.days,
        parse_amount(price, cur) if price is not None else old.price_minor,
        cur,
        traffic_gb if traffic_gb is not None else old.traffic_gb,
        devices if devices is not None else old.devices,
        active if active is not None else old.active,
    )
    _limits(new.days, new.traffic_gb, new.devices)
    try:
        with conn.transaction():
            conn.execute(
                "UPDATE vpn_plans SET name = %s, days = %s, price_minor = %s, currency = %s, traffic_gb = %s, "
                "devices = %s, active = %s, updated_at = now() WHERE id = %s",
                (new.name, new.days, new.price_minor, new.currency, new.traffic_gb, new.devices, new.active, new.id),
            )
    except psycopg.errors.UniqueViolation:
        raise BadInput(_("A plan named {name} is already on sale.", name=new.name)) from None
    return new


def get_plan(conn: Conn, plan_id: int) -> Plan:
    row = conn.execute("SELECT * FROM vpn_plans WHERE id = %s", (plan_id,)).fetchone()
    if row is None:
        raise NotFound(_("There is no plan #{id}.", id=plan_id))
    return _plan(row)


def plans(conn: Conn, *, active_only: bool = True) -> list[Plan]:
    rows = conn.execute(
        "SELECT * FROM vpn_plans WHERE active OR NOT %s ORDER BY active DESC, price_minor, id", (active_only,)
    )
    return [_plan(r) for r in rows.fetchall()]


# --- payment methods (settings) -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Method:
    id: str
    names: dict[str, str]
    instructions: dict[str, str]

    def name(self, locale: str) -> str:
        return self.names.get(locale) or self.names.get("en") or next(iter(self.names.values()))

    def instruction(self, locale: str) -> str:
        return self.instructions.get(locale) or self.instructions.get("en") or next(iter(self.instructions.values()))


def _texts(value: Any, what: str) -> dict[str, str]:
    from ttfd.core.errors import ConfigError

    if isinstance(value, str):
        value = {"en": value}
    if (
        not isinstance(value, dict)
        or not value
        or not all(isinstance(k, str) and isinstance(v, str) and v.strip() and len(v) <= 1500 for k, v in value.items())
    ):
        raise ConfigError(f"VPN_METHODS: {what} must be text or an object of texts by language (≤ 1500 characters)")
    return dict(value)


def methods(settings: VpnSettings) -> list[Method]:
    """The payment methods VPN_METHODS lists, in its order; a demo-free default says to ask staff."""
    import json

    from ttfd.core.errors import ConfigError

    if not settings.methods.strip():
        return [Method("transfer", {"en": "Bank transfer", "ru": "Банковский перевод"}, _DEFAULT_INSTRUCTIONS)]
    try:
        raw = json.loads(settings.methods)
    except ValueError:
        raise ConfigError("VPN_METHODS must be a JSON object") from None
    if not isinstance(raw, dict) or not 1 <= len(raw) <= 25:
        raise ConfigError("VPN_METHODS must be a JSON object of 1 to 25 methods")
    out = []
    for key, spec in raw.items():
        if not (isinstance(key, str) and re.fullmatch(r"[a-z0-9_]{1,32}", key) and isinstance(spec, dict)):
            raise ConfigError("VPN_METHODS: each method's id is 1-32 of a-z, 0-9, _ and its value an object")
        out.append(Method(key, _texts(spec.get("name"), "name"), _texts(spec.get("instructions"), "instructions")))
    return out


_DEFAULT_INSTRUCTIONS = {
    "en": "Ask the staff in this order for the payment details, pay, then send the screenshot with /pay.",
    "ru": "Спросите реквизиты у администрации в этом заказе, оплатите и отправьте скриншот командой /pay.",
}


def method(settings: VpnSettings, method_id: str | None) -> Method:
    found = methods(settings)
    if method_id is None:
        return found[0]
    for m in found:
        if m.id == method_id:
            return m
    raise BadInput(_("There is no payment method {method}.", method=method_id[:32]))


# --- stores -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Store:
    scope: Scope
    scope_id: int
    review_channel: int
    staff_role: int | None
    admin_role: int | None
    category: int | None
    locale: str | None
    dashboard_message: int | None


def setup_store(
    conn: Conn,
    scope: Scope,
    scope_id: int,
    *,
    review_channel: int,
    staff_role: int | None,
    admin_role: int | None,
    category: int | None,
    locale: str | None,
    actor: int | None,
) -> Store:
    row = conn.execute(
        """INSERT INTO vpn_stores (scope, scope_id, review_channel, staff_role, admin_role, category, locale,
                                    configured_by)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (scope, scope_id) DO UPDATE SET review_channel = excluded.review_channel,
                staff_role = excluded.staff_role, admin_role = excluded.admin_role, category = excluded.category,
                locale = excluded.locale, configured_by = excluded.configured_by, updated_at = now()
            RETURNING *""",
        (scope, scope_id, review_channel, staff_role, admin_role, category, locale, actor),
    ).fetchone()
    assert row is not None
    audit(conn, actor, "store.setup", outcome="ok", data={"scope": scope, "scope_id": scope_id})
    return _store(row)


def telegram_store(conn: Conn) -> Store | None:
    """The store a Telegram private chat orders from: the bot's staff group (the newest one set up)."""
    row = conn.execute(
        "SELECT * FROM vpn_stores WHERE scope = 'telegram' ORDER BY updated_at DESC, scope_id LIMIT 1"
    ).fetchone()
    return _store(row) if row else None


def _store(row: dict[str, Any]) -> Store:
    return Store(**{k: row[k] for k in Store.__dataclass_fields__})


def store(conn: Conn, scope: Scope, scope_id: int) -> Store | None:
    row = conn.execute("SELECT * FROM vpn_stores WHERE scope = %s AND scope_id = %s", (scope, scope_id)).fetchone()
    return _store(row) if row else None


def stores(conn: Conn) -> list[Store]:
    return [_store(r) for r in conn.execute("SELECT * FROM vpn_stores ORDER BY scope, scope_id")]


def set_dashboard(conn: Conn, st: Store, message_id: int | None) -> None:
    conn.execute(
        "UPDATE vpn_stores SET dashboard_message = %s WHERE scope = %s AND scope_id = %s",
        (message_id, st.scope, st.scope_id),
    )


# --- staff ------------------------------------------------------------------------------------------------


Role = Literal["support", "admin", "owner"]
RANK: dict[str, int] = {"support": 1, "admin": 2, "owner": 3}
MANAGE_GUILD, ADMINISTRATOR = 1 << 5, 1 << 3


def discord_role(st: Store, permissions: int, roles: tuple[int, ...]) -> Role | None:
    """Who someone is in a Discord server's store, from the interaction's permission bitfield and role ids:
    owner — Administrator (a server's owner has it); admin — the store's admin role, else Manage Server;
    support — the staff role."""
    if permissions & ADMINISTRATOR:
        return "owner"
    if (st.admin_role is not None and st.admin_role in roles) or (st.admin_role is None and permissions & MANAGE_GUILD):
        return "admin"
    if st.staff_role is not None and st.staff_role in roles:
        return "support"
    return None


def telegram_role(status: str) -> Role | None:
    """Who someone is in a Telegram store, from their status in its staff group (getChatMember): owner — the
    group's creator; admin — its administrators; support — any other member."""
    roles: dict[str, Role] = {
        "creator": "owner",
        "administrator": "admin",
        "member": "support",
        "restricted": "support",
    }
    return roles.get(status)


def require(role: Role | None, needed: Role) -> None:
    if role is None or RANK[role] < RANK[needed]:
        words = {
            "support": _("Only the store's staff can do that."),
            "admin": _("Only the store's admins can do that."),
            "owner": _("Only the store's owners can do that."),
        }
        raise Forbidden(words[needed])


# --- orders -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Order:
    id: int
    user_id: int
    plan_id: int
    renews: int | None
    plan_name: str
    days: int
    amount_minor: int
    currency: str
    traffic_gb: int
    devices: int
    platform: Scope
    scope: Scope
    scope_id: int
    channel_id: int | None
    chat_id: int | None
    locale: str
    status: str
    key_id: int | None
    created_at: datetime
    completed_at: datetime | None
    method: str | None  # picked with the order's buttons; /pay's default

    @property
    def amount(self) -> Money:
        return Money(self.amount_minor, self.currency)

    @property
    def open(self) -> bool:
        return self.status in OPEN


def _order(row: dict[str, Any]) -> Order:
    return Order(**{k: row[k] for k in Order.__dataclass_fields__})


def open_order(
    conn: Conn,
    *,
    user_id: int,
    plan: Plan,
    st: Store,
    platform: Scope,
    locale: str,
    request_key: str,
    chat_id: int | None = None,
    renews: int | None = None,
) -> Order:
    """A new order at the plan's price now; refused while another is open or the panel is down. A redelivered
    event (`request_key`) returns the order it made."""
    if not plan.active:
        raise BadInput(_("The plan {plan} is no longer on sale.", plan=plan.name))
    if panel_down(conn):
        raise DomainError(_("The VPN server is not answering right now, so new orders are paused. Try again later."))
    if (found := order_by_request(conn, request_key)) is not None:
        return found
    if (current := open_order_of(conn, user_id)) is not None:
        raise BadInput(
            _(
                "You already have an open order #{id}. Finish it first, or cancel it with its Cancel button.",
                id=current.id,
            )
        )
    try:
        with conn.transaction():
            row = conn.execute(
                """INSERT INTO vpn_orders (user_id, plan_id, renews, plan_name, days, amount_minor, currency,
                        traffic_gb, devices, platform, scope, scope_id, chat_id, locale, request_key)
                    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                    RETURNING *""",
                (
                    user_id,
                    plan.id,
                    renews,
                    plan.name,
                    plan.days,
                    plan.price_minor,
                    plan.currency,
                    plan.traffic_gb,
                    plan.devices,
                    platform,
                    st.scope,
                    st.scope_id,
                    chat_id,
                    locale,
                    request_key,
                ),
            ).fetchone()
    except psycopg.errors.UniqueViolation:  # another /order of this person won the race
        current = open_order_of(conn, user_id)
        raise BadInput(
            _(
                "You already have an open order #{id}. Finish it first, or cancel it with its Cancel button.",
                id=current.id,
            )
            if current
            else _("You already have an open order. Finish it first, or cancel it with its Cancel button.")
        ) from None
    assert row is not None
    order = _order(row)
    audit(conn, user_id, "order.open", order_id=order.id, outcome="ok", data={"plan": plan.id, "renews": renews})
    return order


def order_by_request(conn: Conn, request_key: str) -> Order | None:
    """The order an event (or a site click's Idempotency-Key) placed, if any."""
    row = conn.execute("SELECT * FROM vpn_orders WHERE request_key = %s", (request_key,)).fetchone()
    return _order(row) if row else None


def open_order_of(conn: Conn, user_id: int) -> Order | None:
    row = conn.execute(
        "SELECT * FROM vpn_orders WHERE user_id = %s AND status = ANY(%s)", (user_id, list(OPEN))
    ).fetchone()
    return _order(row) if row else None


def order(conn: Conn, order_id: int, *, lock: bool = False) -> Order:
    row = conn.execute(
        "SELECT * FROM vpn_orders WHERE id = %s FOR UPDATE" if lock else "SELECT * FROM vpn_orders WHERE id = %s",
        (order_id,),
    ).fetchone()
    if row is None:
        raise NotFound(_("There is no order #{id}.", id=order_id))
    return _order(row)


def order_in_channel(conn: Conn, channel_id: int) -> Order | None:
    row = conn.execute(
        "SELECT * FROM vpn_orders WHERE channel_id = %s ORDER BY id DESC LIMIT 1", (channel_id,)
    ).fetchone()
    return _order(row) if row else None


def orders_of(conn: Conn, user_id: int, limit: int = 10) -> list[Order]:
    rows = conn.execute("SELECT * FROM vpn_orders WHERE user_id = %s ORDER BY id DESC LIMIT %s", (user_id, limit))
    return [_order(r) for r in rows.fetchall()]


def last_order_of_key(conn: Conn, key_id: int) -> Order | None:
    """The newest order that bought or renewed a key (its language and platform are the owner's latest)."""
    row = conn.execute("SELECT * FROM vpn_orders WHERE key_id = %s ORDER BY id DESC LIMIT 1", (key_id,)).fetchone()
    return _order(row) if row else None


def set_method(conn: Conn, order_id: int, method_id: str) -> bool:
    """The member's pick of payment method, while the order waits for its payment; True if it was taken."""
    row = conn.execute(
        "UPDATE vpn_orders SET method = %s, updated_at = now() WHERE id = %s AND status = 'pending_payment' "
        "RETURNING id",
        (method_id, order_id),
    ).fetchone()
    return row is not None


def set_channel(conn: Conn, order_id: int, channel_id: int) -> None:
    conn.execute("UPDATE vpn_orders SET channel_id = %s, updated_at = now() WHERE id = %s", (channel_id, order_id))


def move(conn: Conn, order_id: int, frm: tuple[str, ...], to: str) -> bool:
    """Move an order between states if it is in one of `frm` (the guard against a race); True if it moved."""
    row = conn.execute(
        "UPDATE vpn_orders SET status = %s, updated_at = now() WHERE id = %s AND status = ANY(%s) RETURNING id",
        (to, order_id, list(frm)),
    ).fetchone()
    return row is not None


def cancel(conn: Conn, order_id: int, actor: int, why: str) -> bool:
    """An unpaid order closed (by its owner, staff, or the timeout); a payment under review stays decidable."""
    moved = move(conn, order_id, ("pending_payment",), "cancelled")
    if moved:
        audit(conn, actor, "order.cancel", order_id=order_id, outcome="ok", data={"why": why})
    return moved


# --- payments and proofs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Payment:
    id: int
    order_id: int
    user_id: int
    method: str
    amount_minor: int
    currency: str
    status: str
    reviewer_id: int | None
    reason: str | None
    review_channel: int | None
    review_message: int | None
    flagged: str | None
    created_at: datetime
    reviewed_at: datetime | None


def _payment(row: dict[str, Any]) -> Payment:
    return Payment(**{k: row[k] for k in Payment.__dataclass_fields__})


@dataclass(frozen=True)
class ProofRow:
    """What the database keeps of a proof (ttfd/features/vpn/proof.py makes it from the bytes)."""

    sha256: str
    phash: int
    detail: bytes
    content_type: str
    width: int
    height: int
    data: bytes

    @classmethod
    def of(cls, proof: Any) -> ProofRow:
        """From a checked proof (proof.Proof: kept out of this module's imports, it brings Pillow)."""
        return cls(proof.sha256, proof.phash, proof.detail, proof.content_type, proof.width, proof.height, proof.data)


CANDIDATES_MAX = 100  # the nearest earlier proofs given the fine check (each costs ~10-20 ms)


def proof_candidates(
    conn: Conn, order_id: int, sha256: str, phash: int, near: str, distance: str
) -> list[tuple[int, str, int, bytes]]:
    """Earlier proofs of other orders that may be the same screenshot: (order, sha256, phash, detail), the exact
    copy first, then the nearest by hash. `near` and `distance` are SQL on `p` and %(phash)s from
    ttfd/features/vpn/proof.py's constants (never user input); proof.find_duplicate decides."""
    from psycopg import sql

    # One submission at a time, until its transaction commits: two orders sending the same screenshot at once
    # must not both pass (payments are few; the lock is held for the check, the insert and the commit).
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('vpn_proofs'))")
    query = sql.SQL(
        """SELECT p.order_id, p.sha256, p.phash, p.detail FROM vpn_proofs p
           WHERE p.order_id <> %(order)s AND (p.sha256 = %(sha)s OR ({near}))
           ORDER BY (p.sha256 = %(sha)s) DESC, {distance}, p.payment_id LIMIT %(max)s"""
    ).format(near=sql.SQL(near), distance=sql.SQL(distance))
    rows = conn.execute(query, {"sha": sha256, "order": order_id, "phash": phash, "max": CANDIDATES_MAX})
    return [(int(r["order_id"]), str(r["sha256"]), int(r["phash"]), bytes(r["detail"])) for r in rows.fetchall()]


def submit_payment(
    conn: Conn, od: Order, *, method_id: str, proof: ProofRow, request_key: str, actor: int, flag: str | None = None
) -> Payment:
    """The proof of an order's payment: the order goes to review (`flag`: why staff should look twice). A
    redelivery returns the same payment."""
    row = conn.execute("SELECT * FROM vpn_payments WHERE request_key = %s", (request_key,)).fetchone()
    if row is not None:
        return _payment(row)
    if not move(conn, od.id, ("pending_payment",), "review"):
        current = order(conn, od.id)
        if current.status == "review":
            raise BadInput(_("Order #{id} is already waiting for the staff to check your payment.", id=od.id))
        raise BadInput(_("Order #{id} is not waiting for a payment.", id=od.id))
    row = conn.execute(
        """INSERT INTO vpn_payments (order_id, user_id, method, amount_minor, currency, request_key, flagged)
            VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING *""",
        (od.id, od.user_id, method_id, od.amount_minor, od.currency, request_key, flag),
    ).fetchone()
    assert row is not None
    pay = _payment(row)
    conn.execute(
        """INSERT INTO vpn_proofs (payment_id, order_id, sha256, phash, detail, content_type, width, height, data)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)""",
        (
            pay.id,
            od.id,
            proof.sha256,
            proof.phash,
            proof.detail,
            proof.content_type,
            proof.width,
            proof.height,
            proof.data,
        ),
    )
    audit(
        conn,
        actor,
        "payment.submit",
        order_id=od.id,
        payment_id=pay.id,
        outcome="ok",
        data={"method": method_id, "sha256": proof.sha256},
    )
    return pay


def payment(conn: Conn, payment_id: int, *, lock: bool = False) -> Payment:
    row = conn.execute(
        "SELECT * FROM vpn_payments WHERE id = %s FOR UPDATE" if lock else "SELECT * FROM vpn_payments WHERE id = %s",
        (payment_id,),
    ).fetchone()
    if row is None:
        raise NotFound(_("There is no payment #{id}.", id=payment_id))
    return _payment(row)


def proof_image(conn: Conn, payment_id: int) -> tuple[bytes, str] | None:
    row = conn.execute("SELECT data, content_type FROM vpn_proofs WHERE payment_id = %s", (payment_id,)).fetchone()
    return (bytes(row["data"]), str(row["content_type"])) if row and row["data"] is not None else None


def set_review_message(conn: Conn, payment_id: int, channel: int, message: int) -> None:
    conn.execute(
        "UPDATE vpn_payments SET review_channel = %s, review_message = %s WHERE id = %s", (channel, message, payment_id)
    )


def unreviewed(conn: Conn, st: Store) -> list[int]:
    """A store's payments waiting for review whose review message is not in its review channel now (never
    posted, or posted where the store reviewed before /setup vpn moved it)."""
    rows = conn.execute(
        """SELECT p.id FROM vpn_payments p JOIN vpn_orders o ON o.id = p.order_id
            WHERE o.scope = %s AND o.scope_id = %s AND p.status = 'pending'
              AND p.review_channel IS DISTINCT FROM %s ORDER BY p.id""",
        (st.scope, st.scope_id, st.review_channel),
    )
    return [int(r["id"]) for r in rows.fetchall()]


def reject(conn: Conn, payment_id: int, actor: int, reason: str) -> Payment:
    """Staff refuse a payment: the order waits for a new proof (its channel opens again)."""
    pay = payment(conn, payment_id, lock=True)
    if pay.status != "pending":
        raise BadInput(_("Payment #{id} was already decided.", id=pay.id))
    od = order(conn, pay.order_id, lock=True)
    if od.status != "review":
        raise BadInput(_("Order #{id} is being approved right now.", id=od.id))
    conn.execute(
        "UPDATE vpn_payments SET status = 'rejected', reviewer_id = %s, reason = %s, reviewed_at = now() WHERE id = %s",
        (actor, reason, pay.id),
    )
    move(conn, od.id, ("review",), "pending_payment")
    audit(conn, actor, "payment.reject", order_id=od.id, payment_id=pay.id, outcome="ok", data={"reason": reason})
    return payment(conn, pay.id)


# --- approval: Approve opens a one-time session, Confirm consumes it ----------------------------------------


def open_session(conn: Conn, payment_id: int, actor: int, now: datetime) -> int:
    pay = payment(conn, payment_id)
    if pay.status != "pending":
        raise BadInput(_("Payment #{id} was already decided.", id=pay.id))
    sid = secrets.randbits(62) + 1
    conn.execute(
        "INSERT INTO vpn_sessions (id, payment_id, actor_id, action, created_at, expires_at) "
        "VALUES (%s, %s, %s, 'approve', %s, %s)",
        (sid, payment_id, actor, now, now + timedelta(seconds=SESSION_S)),
    )
    audit(
        conn,
        actor,
        "payment.approve",
        order_id=pay.order_id,
        payment_id=pay.id,
        outcome="confirm asked",
        data={"session": sid},
    )
    return sid


def confirm(conn: Conn, session_id: int, actor: int, now: datetime, scope_id: int | None = None) -> Payment:
    """Consume the session (once, by whoever opened it, within five minutes) and start provisioning: the
    order moves review → provisioning here, so of ten Confirm presses one starts it."""
    row = conn.execute(
        """UPDATE vpn_sessions SET consumed_at = %(now)s
           WHERE id = %(id)s AND actor_id = %(actor)s AND action = 'approve' AND consumed_at IS NULL
             AND expires_at > %(now)s
           RETURNING payment_id""",
        {"id": session_id, "actor": actor, "now": now},
    ).fetchone()
    if row is None:
        found = conn.execute(
            "SELECT actor_id, consumed_at, expires_at FROM vpn_sessions WHERE id = %s", (session_id,)
        ).fetchone()
        if found is None or found["actor_id"] != actor:
            raise Forbidden(_("This confirmation is not yours. Press Approve yourself."))
        if found["consumed_at"] is not None:
            raise BadInput(_("This confirmation was already used."))
        raise BadInput(_("This confirmation expired. Press Approve again."))
    pay = payment(conn, int(row["payment_id"]), lock=True)
    if scope_id is not None and order(conn, pay.order_id).scope_id != scope_id:
        raise Forbidden(_("That order belongs to another server's store."))
    if pay.status != "pending" or not move(conn, pay.order_id, ("review",), "provisioning"):
        raise BadInput(_("Payment #{id} was already decided.", id=pay.id))
    conn.execute("UPDATE vpn_payments SET reviewer_id = %s WHERE id = %s", (actor, pay.id))
    audit(
        conn,
        actor,
        "payment.confirm",
        order_id=pay.order_id,
        payment_id=pay.id,
        outcome="provisioning",
        data={"session": session_id},
    )
    return pay


# --- keys -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Key:
    id: int
    user_id: int
    email: str
    client_uuid: uuid.UUID
    sub_id: str
    plan_id: int
    link: str
    expires_at: datetime
    traffic_gb: int
    devices: int
    status: str


def _key(row: dict[str, Any]) -> Key:
    return Key(**{k: row[k] for k in Key.__dataclass_fields__})


def client_identity(order_id: int) -> tuple[str, uuid.UUID, str]:
    """The panel client an order makes: its email is derived from the order, so a retried or crashed approval
    finds the client it already made (the panel's uuid and subId then win over these fresh random ones, which
    are the credentials and must not be guessable)."""
    return f"ttfd-o{order_id}", uuid.uuid4(), secrets.token_hex(8)


def key(conn: Conn, key_id: int) -> Key:
    row = conn.execute("SELECT * FROM vpn_keys WHERE id = %s", (key_id,)).fetchone()
    if row is None:
        raise NotFound(_("That key does not exist any more."))
    return _key(row)


def keys_of(conn: Conn, user_id: int) -> list[Key]:
    rows = conn.execute("SELECT * FROM vpn_keys WHERE user_id = %s ORDER BY expires_at DESC", (user_id,))
    return [_key(r) for r in rows.fetchall()]


def complete(
    conn: Conn,
    od: Order,
    pay: Payment,
    *,
    email: str,
    client_uuid: uuid.UUID,
    sub_id: str,
    link: str,
    expires_at: datetime,
    channel_hours: int,
) -> Key:
    """Record what the panel now holds: the key (new, or the renewed one extended), the payment approved (now
    revenue), the order completed and its channel due to go."""
    if od.renews is not None:
        row = conn.execute(
            """UPDATE vpn_keys SET expires_at = %s, plan_id = %s, traffic_gb = %s, devices = %s, link = %s,
                    status = 'active', reminded = 0, updated_at = now()
                WHERE id = %s RETURNING *""",
            (expires_at, od.plan_id, od.traffic_gb, od.devices, link, od.renews),
        ).fetchone()
    else:
        row = conn.execute(
            """INSERT INTO vpn_keys (user_id, email, client_uuid, sub_id, plan_id, link, expires_at, traffic_gb,
                    devices) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING *""",
            (od.user_id, email, client_uuid, sub_id, od.plan_id, link, expires_at, od.traffic_gb, od.devices),
        ).fetchone()
    assert row is not None
    k = _key(row)
    conn.execute(
        "UPDATE vpn_payments SET status = 'approved', reviewed_at = now() WHERE id = %s AND status = 'pending'",
        (pay.id,),
    )
    done = conn.execute(
        """UPDATE vpn_orders SET status = 'completed', key_id = %s, completed_at = now(), updated_at = now(),
               channel_delete_at = now() + make_interval(hours => %s)
           WHERE id = %s AND status = 'provisioning' RETURNING id""",
        (k.id, channel_hours, od.id),
    ).fetchone()
    if done is None:
        raise DomainError(_("Order #{id} changed while it was being approved.", id=od.id))
    return k


def roll_back(conn: Conn, order_id: int, actor: int | None, why: str) -> None:
    """Provisioning failed: the order waits for review again and the payment stays pending."""
    move(conn, order_id, ("provisioning",), "review")
    audit(conn, actor, "payment.rollback", order_id=order_id, outcome="rolled back", data={"why": why[:500]})


# --- audit and health ---------------------------------------------------------------------------------------


def audit(
    conn: Conn,
    actor: int | None,
    action: str,
    *,
    outcome: str,
    order_id: int | None = None,
    payment_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    conn.execute(
        "INSERT INTO vpn_audit (actor_id, action, order_id, payment_id, outcome, data) VALUES (%s, %s, %s, %s, %s, %s)",
        (actor, action, order_id, payment_id, outcome[:200], Jsonb(data or {})),
    )


def panel_down(conn: Conn) -> bool:
    row = conn.execute("SELECT down FROM vpn_health WHERE id = 1").fetchone()
    return bool(row and row["down"])


def note_health(conn: Conn, ok: bool, detail: str, threshold: int) -> tuple[bool, bool]:
    """Count a check: (down now, changed) — down after `threshold` failures in a row, up at the first success."""
    row = conn.execute(
        """UPDATE vpn_health h SET
               failures = CASE WHEN %(ok)s THEN 0 ELSE h.failures + 1 END,
               down = CASE WHEN %(ok)s THEN false ELSE h.down OR h.failures + 1 >= %(t)s END,
               alerted = CASE WHEN %(ok)s THEN false ELSE h.alerted END,
               detail = %(detail)s, checked_at = now(),
               changed_at = CASE WHEN h.down <> (CASE WHEN %(ok)s THEN false ELSE h.down OR h.failures + 1 >= %(t)s
                                                  END) THEN now() ELSE h.changed_at END
           FROM (SELECT down AS was FROM vpn_health WHERE id = 1 FOR UPDATE) old
           WHERE h.id = 1 RETURNING h.down, old.was""",
        {"ok": ok, "t": threshold, "detail": detail[:500]},
    ).fetchone()
    assert row is not None
    return bool(row["down"]), bool(row["down"]) != bool(row["was"])


# --- cleanup (the hourly schedule) ------------------------------------------------------------------------------


def purge_proofs(conn: Conn) -> int:
    """Screenshots show bank details: their bytes, and the fine check's grey copy (its text is readable), go
    VPN_PROOF_DAYS after the payment was decided; the SHA-256 and the 64-bit hash stay, so the same file sent
    again is still caught (a re-saved copy of so old a screenshot no longer is)."""
    from ttfd.core.settings import get_settings

    days = get_settings().section(VpnSettings).proof_days
    return int(
        conn.execute(
            """UPDATE vpn_proofs p SET data = NULL, detail = '\\x' FROM vpn_payments y
               WHERE y.id = p.payment_id AND p.data IS NOT NULL AND y.status <> 'pending'
                 AND coalesce(y.reviewed_at, y.created_at) < now() - make_interval(days => %s)""",
            (days,),
        ).rowcount
    )


def purge_sessions(conn: Conn) -> int:
    """Approval sessions an hour past their expiry (the audit keeps which one confirmed what)."""
    return int(conn.execute("DELETE FROM vpn_sessions WHERE expires_at < now() - interval '1 hour'").rowcount)


# --- account merges -------------------------------------------------------------------------------------------


def merge_rows(conn: Conn, keep_id: int, gone_id: int) -> None:
    """Two accounts become one: orders, payments and keys follow. One open order per person still holds — the
    unpaid one of two goes (cancelled, in the audit); two orders both with the staff refuse the merge until one
    is decided."""
    mine, theirs = open_order_of(conn, keep_id), open_order_of(conn, gone_id)
    if mine is not None and theirs is not None:
        unpaid = next((o for o in (theirs, mine) if o.status == "pending_payment"), None)
        if unpaid is None:
            raise BadInput(
                _("Both accounts have a VPN order with the staff. Link them once one of the orders is decided.")
            )
        cancel(conn, unpaid.id, keep_id, "accounts merged")
    conn.execute("UPDATE vpn_orders SET user_id = %s WHERE user_id = %s", (keep_id, gone_id))
    conn.execute("UPDATE vpn_payments SET user_id = %s WHERE user_id = %s", (keep_id, gone_id))
    conn.execute("UPDATE vpn_keys SET user_id = %s WHERE user_id = %s", (keep_id, gone_id))


# --- revenue ----------------------------------------------------------------------------------------------------

PERIODS = ("day", "month", "quarter", "year")


@dataclass(frozen=True)
class Takings:
    """Approved payments in one period and currency (refunded and rejected ones are not revenue)."""

    period: str
    currency: str
    minor: int
    payments: int


def revenue(conn: Conn, tz: str) -> list[Takings]:
    """This day, month, quarter and year (calendar, in `tz`: DAY_TZ) and all time, by currency."""
    rows = conn.execute(
        """WITH now_local AS (SELECT now() AT TIME ZONE %(tz)s AS t)
           SELECT p.period, y.currency, sum(y.amount_minor)::bigint AS minor, count(*) AS payments
           FROM vpn_payments y
           CROSS JOIN now_local
           CROSS JOIN LATERAL (VALUES ('day'), ('month'), ('quarter'), ('year'), ('all')) AS p(period)
           WHERE y.status = 'approved'
             AND (p.period = 'all'
                  OR date_trunc(p.period, y.reviewed_at AT TIME ZONE %(tz)s) = date_trunc(p.period, now_local.t))
           GROUP BY p.period, y.currency
           ORDER BY array_position(ARRAY['day', 'month', 'quarter', 'year', 'all'], p.period), y.currency""",
        {"tz": tz},
    ).fetchall()
    return [Takings(r["period"], r["currency"], int(r["minor"]), int(r["payments"])) for r in rows]


def order_counts(conn: Conn) -> dict[str, int]:
    """Orders by state (the dashboard's second line)."""
    rows = conn.execute("SELECT status, count(*) AS n FROM vpn_orders GROUP BY status").fetchall()
    return {str(r["status"]): int(r["n"]) for r in rows}


def refund(conn: Conn, payment_id: int, actor: int | None, why: str) -> Payment:
    """An approved payment given back: no longer revenue; the key it bought is revoked (the caller disables
    the panel client)."""
    pay = payment(conn, payment_id, lock=True)
    if pay.status != "approved":
        raise BadInput(_("Only an approved payment can be refunded."))
    conn.execute("UPDATE vpn_payments SET status = 'refunded', refunded_at = now() WHERE id = %s", (pay.id,))
    conn.execute(
        "UPDATE vpn_keys SET status = 'revoked', updated_at = now() WHERE id = "
        "(SELECT key_id FROM vpn_orders WHERE id = %s AND renews IS NULL)",
        (pay.order_id,),
    )
    audit(conn, actor, "payment.refund", order_id=pay.order_id, payment_id=pay.id, outcome="ok", data={"why": why})
    return payment(conn, pay.id)


# --- after the sale: reminders, expiry, reconcile ---------------------------------------------------------------

REMINDERS = (3, 1)  # days before expiry


def due_reminders(conn: Conn) -> list[tuple[Key, int]]:
    """Active keys entering their last 3 days (then their last day) that were not told yet: marked told here, in
    the transaction that queues the message."""
    out: list[tuple[Key, int]] = []
    for days in REMINDERS:
        rows = conn.execute(
            """UPDATE vpn_keys SET reminded = %(d)s, updated_at = now()
               WHERE status = 'active' AND expires_at > now() AND expires_at <= now() + make_interval(days => %(d)s)
                 AND (reminded = 0 OR reminded > %(d)s)
               RETURNING *""",
            {"d": days},
        ).fetchall()
        out.extend((_key(r), days) for r in rows)
    return out


def expire_keys(conn: Conn) -> list[Key]:
    """Keys past their expiry become expired (the panel disables the client by its own expiryTime)."""
    rows = conn.execute(
        """UPDATE vpn_keys SET status = 'expired', updated_at = now()
           WHERE status = 'active' AND expires_at <= now() RETURNING *"""
    ).fetchall()
    return [_key(r) for r in rows]


def live_keys(conn: Conn) -> list[Key]:
    """Every key the panel should hold (active, or expired: the panel keeps disabled clients)."""
    return [_key(r) for r in conn.execute("SELECT * FROM vpn_keys WHERE status <> 'revoked' ORDER BY id").fetchall()]


def note_reconcile(conn: Conn, findings: list[dict[str, Any]]) -> bool:
    """Keep what the reconcile found; True when it differs from what the staff were last told (tell them)."""
    import json

    digest = hashlib.sha256(json.dumps(findings, sort_keys=True).encode()).hexdigest()
    row = conn.execute(
        """UPDATE vpn_reconcile r SET findings = %(f)s, checked_at = now(), digest = %(d)s,
               reported_at = CASE WHEN r.digest IS DISTINCT FROM %(d)s THEN now() ELSE r.reported_at END
           FROM (SELECT digest FROM vpn_reconcile WHERE id = 1 FOR UPDATE) old
           WHERE r.id = 1 RETURNING old.digest IS DISTINCT FROM %(d)s AS changed""",
        {"f": Jsonb(findings), "d": digest},
    ).fetchone()
    return bool(row and row["changed"])
