"""`python -m ttfd vpn plan add|list|edit|off`: the VPN store's plans, kept by operators; `vpn store telegram
CHAT_ID`: the Telegram staff group; `vpn refund`. Operator output: English. A refusal is printed (exit 2) and
changes nothing."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from ttfd.core import db


def _unregistered(work: Callable[[db.Conn], int]) -> int:
    raise RuntimeError("register() first")


_run: Callable[[Callable[[db.Conn], int]], int] = _unregistered


def register(sub: Any, run: Callable[[Callable[[db.Conn], int]], int]) -> None:
    """Add `vpn` to the operator CLI's subcommands (ttfd/cli.py build_parser, which hands in how its commands run:
    one transaction on the database it picks, a refusal printed with exit 2)."""
    global _run
    _run = run
    vpn = sub.add_parser("vpn", help="the VPN store").add_subparsers(dest="vpn_what", required=True)
    plan = vpn.add_parser("plan", help="plans on sale").add_subparsers(dest="plan_action", required=True)

    add = plan.add_parser("add", help="put a plan on sale; prints its id")
    add.add_argument("name")
    add.add_argument("--days", type=int, required=True, help="how long a key lasts")
    add.add_argument("--price", required=True, help="the amount, e.g. 299 or 299.50")
    add.add_argument("--currency", required=True, help="ISO 4217 code: RUB, USD, EUR…")
    add.add_argument("--traffic-gb", type=int, default=0, help="traffic per term in GB (0: unlimited)")
    add.add_argument("--devices", type=int, default=0, help="devices at once (0: unlimited)")
    add.set_defaults(fn=cmd_plan_add)

    listing = plan.add_parser("list", help="every plan, on sale or not")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(fn=cmd_plan_list)

    edit = plan.add_parser("edit", help="change a plan (orders already placed keep their price and term)")
    edit.add_argument("id", type=int)
    edit.add_argument("--name")
    edit.add_argument("--days", type=int)
    edit.add_argument("--price")
    edit.add_argument("--currency")
    edit.add_argument("--traffic-gb", type=int)
    edit.add_argument("--devices", type=int)
    edit.add_argument("--on", dest="active", action="store_const", const=True, help="back on sale")
    edit.set_defaults(fn=cmd_plan_edit)

    stores = vpn.add_parser("store", help="where staff review payments").add_subparsers(
        dest="store_what", required=True
    )
    tg = stores.add_parser("telegram", help="make a Telegram group the bot's store (its staff group)")
    tg.add_argument("chat_id", type=int, help="the group's id (negative; -100… for a supergroup)")
    tg.add_argument("--locale", choices=("en", "ru"), help="the language of staff messages (default: the site's)")
    tg.set_defaults(fn=cmd_store_telegram)
    shown = stores.add_parser("list", help="every store, Discord and Telegram")
    shown.add_argument("--json", action="store_true")
    shown.set_defaults(fn=cmd_store_list)

    refund = vpn.add_parser("refund", help="give an approved payment back: not revenue, its key revoked")
    refund.add_argument("payment", type=int)
    refund.add_argument("--why", default="refunded by an operator")
    refund.set_defaults(fn=cmd_refund)

    off = plan.add_parser("off", help="take a plan off sale (keys already sold keep working)")
    off.add_argument("id", type=int)
    off.set_defaults(fn=cmd_plan_off)


def cmd_plan_add(args: argparse.Namespace) -> int:
    from ttfd.features.vpn import service

    def work(conn: db.Conn) -> int:
        plan = service.create_plan(conn, args.name, args.days, args.price, args.currency, args.traffic_gb, args.devices)
        service.audit(conn, None, "plan.add", outcome="ok", data=plan.json())
        print(plan.id)
        return 0

    return _run(work)


def cmd_plan_list(args: argparse.Namespace) -> int:
    from ttfd.features.vpn import service

    def work(conn: db.Conn) -> int:
        found = service.plans(conn, active_only=False)
        if args.json:
            print(json.dumps([p.json() for p in found], ensure_ascii=False))
            return 0
        for p in found:
            price = service.money_text(p.price_minor, p.currency, "en")
            traffic = f"{p.traffic_gb} GB" if p.traffic_gb else "unlimited"
            devices = p.devices or "any"
            state = "" if p.active else "  (off sale)"
            print(f"{p.id:>5}  {p.name:<24} {p.days:>5} d  {price:>14}  {traffic:>10}  devices {devices}{state}")
        return 0

    return _run(work)


def cmd_plan_edit(args: argparse.Namespace) -> int:
    from ttfd.features.vpn import service

    def work(conn: db.Conn) -> int:
        plan = service.edit_plan(
            conn,
            args.id,
            name=args.name,
            days=args.days,
            price=args.price,
            currency=args.currency,
            traffic_gb=args.traffic_gb,
            devices=args.devices,
            active=args.active,
        )
        service.audit(conn, None, "plan.edit", outcome="ok", data=plan.json())
        print(json.dumps(plan.json(), ensure_ascii=False))
        return 0

    return _run(work)


def cmd_plan_off(args: argparse.Namespace) -> int:
    from ttfd.features.vpn import service

    def work(conn: db.Conn) -> int:
        plan = service.edit_plan(conn, args.id, active=False)
        service.audit(conn, None, "plan.off", outcome="ok", data={"id": plan.id})
        print(f"plan {plan.id} ({plan.name}) is off sale")
        return 0

    return _run(work)


def cmd_refund(args: argparse.Namespace) -> int:
    """Refund a payment: the books first (one transaction), then the key's panel client disabled."""
    from ttfd.features.vpn import calls, service

    found: dict[str, Any] = {}

    def work(conn: db.Conn) -> int:
        pay = service.refund(conn, args.payment, None, args.why)
        od = service.order(conn, pay.order_id)
        if od.key_id is not None and od.renews is None:
            k = service.key(conn, od.key_id)
            found.update(email=k.email, expiry_ms=int(k.expires_at.timestamp() * 1000), gb=k.traffic_gb)
        print(f"payment {pay.id} refunded ({service.money_text(pay.amount_minor, pay.currency, 'en')})")
        return 0

    rc = _run(work)
    if rc == 0 and found:
        calls.panel().update_client(
            found["email"], expiry_ms=found["expiry_ms"], total_bytes=found["gb"] * 1024**3, enable=False
        )
        print(f"panel client {found['email']} disabled")
    return rc


def cmd_store_telegram(args: argparse.Namespace) -> int:
    """A Telegram store is set by an operator, never by a command in a chat: anyone can make a group and add the
    bot to it, and the staff group's administrators approve payments."""
    from ttfd.core.errors import BadInput
    from ttfd.core.i18n import _
    from ttfd.features.vpn import service

    def work(conn: db.Conn) -> int:
        if args.chat_id >= 0 or args.chat_id < -(10**15):
            raise BadInput(_("A group's id is negative (a supergroup's starts with -100)."))
        st = service.setup_store(
            conn,
            "telegram",
            args.chat_id,
            review_channel=args.chat_id,
            staff_role=None,
            admin_role=None,
            category=None,
            locale=args.locale,
            actor=None,
        )
        print(f"Telegram store: group {st.scope_id} reviews payments; private chats order from it")
        return 0

    return _run(work)


def cmd_store_list(args: argparse.Namespace) -> int:
    from ttfd.features.vpn import service

    def work(conn: db.Conn) -> int:
        found = service.stores(conn)
        if args.json:
            shown = [
                {"scope": st.scope, "id": st.scope_id, "review": st.review_channel, "locale": st.locale} for st in found
            ]
            print(json.dumps(shown))
            return 0
        for st in found:
            print(f"{st.scope:<9} {st.scope_id:>21}  review {st.review_channel}  locale {st.locale or '-'}")
        return 0

    return _run(work)
