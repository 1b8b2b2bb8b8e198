"""The VPN store: a member orders a plan (/order), pays by bank transfer and sends the screenshot (/pay) in a
private order channel; an admin presses Approve, then Confirm within five minutes; a job makes the client on
the 3x-ui panel and the member gets the vless:// key by private message. /myvpn shows the key, its expiry and
traffic. Operators keep the plans (`python -m ttfd vpn plan …`); a server sets its store up with /setup vpn.

Everything slow (Discord channels and files, the panel, the screenshot's download and checks) runs in jobs
(ttfd/features/vpn/calls.py), imported only when one runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ttfd.core import jobs, ratelimit
from ttfd.core.db import Conn
from ttfd.core.errors import BadInput, Forbidden
from ttfd.core.i18n import C_, N_, Msg, _
from ttfd.features.vpn import service
from ttfd.features.vpn.service import Order, Plan, Store, VpnSettings
from ttfd.registry import Feature, Group, Schedule
from ttfd.ui.actions import Action
from ttfd.ui.commands import (
    ADMINISTRATOR,
    ActionHandler,
    ChannelRef,
    Command,
    Ctx,
    FileRef,
    Kind,
    Option,
    Options,
    RoleRef,
)
from ttfd.ui.permissions import MANAGE_GUILD
from ttfd.ui.reply import Button, Choice, Field, Modal, Reply, Select, TextInput, say
from ttfd.ui.text import bold, channel, lines, text

COLOR = 0x3498DB
CHANNEL_JOB = "vpn.channel"  # make the order channel and post the order in it
PAYMENT_JOB = "vpn.payment"  # lock the order channel, post the proof for review
PROVISION_JOB = "vpn.provision"  # the panel client, the key, the books
DELIVER_JOB = "vpn.deliver"  # the key to the member, by private message
NOTICE_JOB = "vpn.notice"  # a message in an order channel or a review channel, and (un)locking
CLOSE_JOB = "vpn.close"  # delete an order channel
ALERT_JOB = "vpn.alert"  # the panel went down or came back: staff and owners are told
REMIND_JOB = "vpn.remind"  # a key ends soon, or has ended: its owner is told
DASHBOARD_JOB = "vpn.dashboard"  # the revenue message in a store's review channel, edited every 5 minutes
REASON_MAX = 300
REASON = "reason"  # the Reject form's one text input


def _settings(ctx: Ctx) -> VpnSettings:
    return ctx.settings.section(VpnSettings)


def _days(n: int) -> Msg:
    return N_("{n} day", "{n} days", n)


def _traffic(gb: int) -> Msg:
    return _("unlimited traffic") if gb == 0 else _("{n} GB", n=gb)


def _devices(n: int) -> Msg:
    return _("any number of devices") if n == 0 else N_("{n} device", "{n} devices", n)


def plan_line(p: Plan) -> Any:
    return text(
        bold(p.name), " — ", p.price, " · ", _days(p.days), " · ", _traffic(p.traffic_gb), " · ", _devices(p.devices)
    )


def _store(ctx: Ctx) -> Store:
    if ctx.guild_id is None:
        raise Forbidden(_("The store works inside a server."))
    st = service.store(ctx.conn, "discord", ctx.guild_id)
    if st is None:
        raise BadInput(_("This server has no VPN store yet. An admin sets it up with /setup vpn."))
    return st


def _role(ctx: Ctx, st: Store) -> service.Role | None:
    return service.discord_role(st, ctx.permissions, ctx.roles)


def _here(ctx: Ctx, od: Order) -> None:
    """A button about an order works only in the server whose store the order belongs to (an admin elsewhere
    must not decide it with a crafted button)."""
    if od.scope != "discord" or od.scope_id != ctx.guild_id:
        raise Forbidden(_("That order belongs to another server's store."))


# Per person and command, shared by every instance (ttfd.core.ratelimit): (requests, window in seconds).
LIMITS = {"order": (5, 600), "pay": (5, 600), "myvpn": (6, 60), "health": (6, 60)}


def _limited(ctx: Ctx, what: str) -> Reply | None:
    """A refusal when this person asked too often (answered, not raised: the count must commit)."""
    limit, window = LIMITS[what]
    decision = ratelimit.hit(ctx.conn, f"vpn:{what}:{ctx.user.id}", limit, window)
    if decision.allowed:
        return None
    return say(_("⏳ Too many tries. Try again in {s} s.", s=decision.retry_after_s), private=True)


# --- /order ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PickPlan(Action):
    """A plan picked from /order's menu."""

    prefix = "vpp"
    plan: int


@dataclass(frozen=True)
class CancelOrder(Action):
    """Cancel on the order message: only its owner (or staff), only while unpaid."""

    prefix = "vpx"
    signed = True
    order: int


def plan_choices(conn: Conn, _guild: int | None, typed: str) -> list[tuple[str, str]]:
    """/order's autocomplete: plans on sale whose name has what was typed (the value is the plan's id)."""
    wanted = typed.strip().lower()
    return [(f"{p.name} — {p.days} d", str(p.id)) for p in service.plans(conn) if wanted in p.name.lower()][:25]


def order_cmd(ctx: Ctx, opts: Options) -> Reply:
    st = _store(ctx)
    if (refused := _limited(ctx, "order")) is not None:
        return refused
    if "plan" in opts:
        return _place(ctx, st, service.get_plan(ctx.conn, opts["plan"]))
    on_sale = service.plans(ctx.conn)
    if not on_sale:
        return say(_("Nothing is on sale yet."), private=True)
    return Reply(
        title=_("🛡️ VPN plans"),
        body=lines(*(plan_line(p) for p in on_sale)),
        color=COLOR,
        select=Select(_("Pick a plan…"), tuple(Choice(p.name[:100], PickPlan(p.id), p.price) for p in on_sale[:25])),
        private=True,
    )


def on_pick(ctx: Ctx, action: PickPlan) -> Reply:
    return _place(ctx, _store(ctx), service.get_plan(ctx.conn, action.plan), edit=True)


def _place(ctx: Ctx, st: Store, plan: Plan, *, edit: bool = False, renews: int | None = None) -> Reply:
    """A new order (or a renewal of key `renews`); a job opens its private channel."""
    od = service.open_order(
        ctx.conn,
        user_id=ctx.user.id,
        plan=plan,
        st=st,
        platform="discord",
        locale=ctx.locale,
        request_key=ctx.key,
        renews=renews,
    )
    payload = {"order": od.id, "member": ctx.caller.id, "reply_to": ctx.target}
    jobs.enqueue(ctx.conn, CHANNEL_JOB, payload, dedupe_key=f"vpn:channel:{od.id}")
    if renews is not None:
        placed = _(
            "🔁 Renewal order #{id} for {plan} is placed. I am opening your private order channel…",
            id=od.id,
            plan=bold(plan.name),
        )
    else:
        placed = _(
            "🛒 Order #{id} for {plan} is placed. I am opening your private order channel…",
            id=od.id,
            plan=bold(plan.name),
        )
    return say(placed, private=True, edit=edit)


def renew_cmd(ctx: Ctx, opts: Options) -> Reply:
    """Extend your key: the same order, payment and review as /order; approving it extends the same panel client
    (new expiry, traffic reset), so the link you have keeps working."""
    st = _store(ctx)
    if (refused := _limited(ctx, "order")) is not None:
        return refused
    mine = [k for k in service.keys_of(ctx.conn, ctx.user.id) if k.status != "revoked"]
    if not mine:
        raise BadInput(_("You have no VPN key to renew. Order one with /order."))
    plan = service.get_plan(ctx.conn, opts.get("plan", mine[0].plan_id))
    if not plan.active:
        raise BadInput(_("Your plan is no longer on sale: pick another with the plan option."))
    return _place(ctx, st, plan, renews=mine[0].id)


def order_message(conn: Conn, od: Order, settings: VpnSettings, locale: str) -> Reply:
    """What the order channel shows first: the order, how to pay, and how to send the proof."""
    how = [text(bold(m.name(locale)), "\n", m.instruction(locale)) for m in service.methods(settings)]
    return Reply(
        title=_("🧾 Order #{id}", id=od.id),
        body=lines(
            _("{plan} for {days}: {amount}.", plan=bold(od.plan_name), days=_days(od.days), amount=bold(od.amount)),
            _("It extends your key #{key}: the link you have keeps working.", key=od.renews) if od.renews else None,
            "",
            _("How to pay:"),
            *how,
            "",
            _("When you have paid, send the screenshot of the payment here with /pay (attach the picture)."),
        ),
        fields=(
            Field(C_("field", "Traffic"), (_traffic(od.traffic_gb),)),
            Field(C_("field", "Devices"), (_devices(od.devices),)),
        ),
        footer=_("The order closes by itself if it is not paid within {hours} hours.", hours=settings.order_hours),
        color=COLOR,
        rows=((Button(C_("button", "Cancel the order"), CancelOrder(od.id), style="danger"),),),
    )


def on_cancel(ctx: Ctx, action: CancelOrder) -> Reply:
    od = service.order(ctx.conn, action.order, lock=True)
    _here(ctx, od)
    if od.user_id != ctx.user.id:
        st = _store(ctx)
        service.require(_role(ctx, st), "support")
    if not service.cancel(ctx.conn, od.id, ctx.user.id, "button"):
        raise BadInput(_("Order #{id} can no longer be cancelled: its payment is with the staff.", id=od.id))
    if od.channel_id:
        close = {"order": od.id, "channel": od.channel_id}
        jobs.enqueue(ctx.conn, CLOSE_JOB, close, delay_s=60, dedupe_key=f"vpn:close:{od.id}")
    return say(_("🗑️ Order #{id} is cancelled. This channel closes in a minute.", id=od.id), edit=True)


# --- /pay -------------------------------------------------------------------------------------------------------


def method_choices(conn: Conn, _guild: int | None, typed: str) -> list[tuple[str, str]]:
    from ttfd.core.settings import get_settings

    wanted = typed.strip().lower()
    found = service.methods(get_settings().section(VpnSettings))
    return [(m.name("en"), m.id) for m in found if wanted in m.id or wanted in m.name("en").lower()][:25]


def pay_cmd(ctx: Ctx, opts: Options) -> Reply:
    """Deferred (it runs in a job): fetch the screenshot, check it, and hand the order to the staff."""
    from ttfd.features.vpn import calls

    picture: FileRef = opts["screenshot"]
    if (refused := _limited(ctx, "pay")) is not None:
        return refused
    od = service.open_order_of(ctx.conn, ctx.user.id)
    if od is None:
        raise BadInput(_("You have no order waiting for a payment. Start one with /order."))
    if od.status != "pending_payment":
        raise BadInput(_("Order #{id} is already waiting for the staff to check your payment.", id=od.id))
    chosen = service.method(_settings(ctx), opts.get("method"))
    done = calls.submit_proof(ctx, od, chosen.id, picture)
    if isinstance(done, Reply):
        return done
    return say(
        _(
            "✅ Payment proof for order #{id} received. The staff will check it; your key comes by private message.",
            id=od.id,
        ),
        private=True,
    )


# --- review: Approve → Confirm, Reject (reason) ----------------------------------------------------------------


@dataclass(frozen=True)
class Approve(Action):
    prefix = "vpa"
    payment: int


@dataclass(frozen=True)
class Reject(Action):
    prefix = "vpr"
    payment: int


@dataclass(frozen=True)
class RejectReason(Action):
    """The Reject form's submit."""

    prefix = "vpR"
    payment: int


@dataclass(frozen=True)
class Confirm(Action):
    """Confirm on the ephemeral confirmation: the one-time session Approve opened (bound to that admin)."""

    prefix = "vpc"
    signed = True
    session: int


def review_buttons(payment_id: int) -> tuple[tuple[Button, ...], ...]:
    return (
        (
            Button(C_("button", "Approve"), Approve(payment_id), style="success"),
            Button(C_("button", "Reject"), Reject(payment_id), style="danger"),
        ),
    )


def _admin(ctx: Ctx) -> Store:
    st = _store(ctx)
    service.require(_role(ctx, st), "admin")
    return st


def on_approve(ctx: Ctx, action: Approve) -> Reply:
    _admin(ctx)
    pay = service.payment(ctx.conn, action.payment)
    od = service.order(ctx.conn, pay.order_id)
    _here(ctx, od)
    session = service.open_session(ctx.conn, pay.id, ctx.user.id, ctx.now)
    return Reply(
        title=_("Approve payment #{id}?", id=pay.id),
        body=lines(
            _("Order #{order}: {plan}, {amount}.", order=od.id, plan=bold(od.plan_name), amount=bold(od.amount)),
            _(
                "Confirm makes the member's key on the VPN server and sends it to them. This button works for five "
                "minutes, once."
            ),
        ),
        color=COLOR,
        rows=((Button(C_("button", "Confirm"), Confirm(session), style="success"),),),
        private=True,
    )


def on_confirm(ctx: Ctx, action: Confirm) -> Reply:
    _admin(ctx)
    pay = service.confirm(ctx.conn, action.session, ctx.user.id, ctx.now, ctx.guild_id)
    payload = {"payment": pay.id, "actor": ctx.user.id, "who": ctx.caller.id, "reply_to": ctx.target}
    jobs.enqueue(ctx.conn, PROVISION_JOB, payload, dedupe_key=f"vpn:provision:{pay.id}:{action.session}")
    return say(_("⏳ Making the key for order #{id}…", id=pay.order_id), private=True, edit=True)


def on_reject(ctx: Ctx, action: Reject) -> Reply:
    _admin(ctx)
    pay = service.payment(ctx.conn, action.payment)
    _here(ctx, service.order(ctx.conn, pay.order_id))
    if pay.status != "pending":
        raise BadInput(_("Payment #{id} was already decided.", id=pay.id))
    reason = TextInput(REASON, _("Why (the member reads this)"), max_length=REASON_MAX, long=True)
    return Reply(modal=Modal(_("Reject payment #{id}", id=pay.id), RejectReason(pay.id), (reason,)))


def on_reject_reason(ctx: Ctx, action: RejectReason) -> Reply:
    _admin(ctx)
    reason = " ".join(ctx.inputs.get(REASON, "").split())[:REASON_MAX]
    if not reason:
        raise BadInput(_("Say why the payment is rejected: the member reads it."))
    _here(ctx, service.order(ctx.conn, service.payment(ctx.conn, action.payment).order_id))
    pay = service.reject(ctx.conn, action.payment, ctx.user.id, reason)
    od = service.order(ctx.conn, pay.order_id)
    notice = {"order": od.id, "payment": pay.id, "what": "rejected", "actor": ctx.caller.id, "reason": reason}
    jobs.enqueue(ctx.conn, NOTICE_JOB, notice, dedupe_key=f"vpn:rejected:{pay.id}")
    return say(_("❌ Payment #{id} rejected. The member can send a new screenshot.", id=pay.id), private=True)


# --- /myvpn -----------------------------------------------------------------------------------------------------


def myvpn_cmd(ctx: Ctx, opts: Options) -> Reply:
    """Deferred: the traffic comes from the panel. The key itself is shown only to its owner, privately."""
    from ttfd.features.vpn import calls

    return _limited(ctx, "myvpn") or calls.my_vpn(ctx)


def status_word(status: str) -> Msg:
    return {
        "pending_payment": _("waiting for payment"),
        "review": _("payment being checked"),
        "provisioning": _("key being made"),
        "completed": _("completed"),
        "cancelled": _("cancelled"),
        "active": _("active"),
        "expired": _("expired"),
        "revoked": _("revoked"),
    }.get(status, Msg(status))


# --- revenue and health (staff) ------------------------------------------------------------------------------

PERIOD_NAMES = {
    "day": C_("period", "Today"),
    "month": C_("period", "This month"),
    "quarter": C_("period", "This quarter"),
    "year": C_("period", "This year"),
    "all": C_("period", "All time"),
}


def revenue_reply(conn: Conn, tz: str) -> Reply:
    """Approved payments by period and currency (refunds and rejections are not revenue), and orders by state."""
    by_period: dict[str, list[Any]] = {}
    for t in service.revenue(conn, tz):
        line = text(service.Money(t.minor, t.currency), " · ", N_("{n} payment", "{n} payments", t.payments))
        by_period.setdefault(t.period, []).append(line)
    fields = tuple(
        Field(PERIOD_NAMES[p], tuple(lines(*by_period[p])) if p in by_period else (_("nothing yet"),))
        for p in PERIOD_NAMES
    )
    counts = service.order_counts(conn)
    waiting = counts.get("review", 0)
    return Reply(
        title=_("💰 VPN store revenue"),
        body=(
            _(
                "Payments waiting for review: {n}. Open orders: {open}.",
                n=waiting,
                open=sum(counts.get(s, 0) for s in service.OPEN),
            ),
        ),
        fields=fields,
        footer=_("Calendar periods in {zone}.", zone=tz),
        color=COLOR,
    )


def revenue_cmd(ctx: Ctx, opts: Options) -> Reply:
    st = _store(ctx)
    service.require(_role(ctx, st), "owner")
    reply = revenue_reply(ctx.conn, ctx.settings.day_tz)
    return Reply(
        title=reply.title, body=reply.body, fields=reply.fields, footer=reply.footer, color=COLOR, private=True
    )


def health_cmd(ctx: Ctx, opts: Options) -> Reply:
    """Deferred: asks the panel now, and says what the breaker says."""
    st = _store(ctx)
    service.require(_role(ctx, st), "support")
    from ttfd.features.vpn import calls

    return _limited(ctx, "health") or calls.health_reply(ctx.conn)


# --- /setup vpn ---------------------------------------------------------------------------------------------------


def setup_vpn(ctx: Ctx, opts: Options) -> Reply:
    assert ctx.guild_id is not None
    review: ChannelRef = opts["review_channel"]
    staff: RoleRef = opts["staff_role"]
    admin: RoleRef | None = opts.get("admin_role")
    category: ChannelRef | None = opts.get("category")
    service.setup_store(
        ctx.conn,
        "discord",
        ctx.guild_id,
        review_channel=review.id,
        staff_role=staff.id,
        admin_role=admin.id if admin else None,
        category=category.id if category else None,
        locale=ctx.place_locale,
        actor=ctx.user.id,
    )
    who = (
        _("members with {role}", role=bold("@" + admin.name))
        if admin and admin.name
        else _("members with the Manage Server permission")
    )
    return say(
        lines(
            _("🛡️ The VPN store is open here. Payments are reviewed in {channel}.", channel=channel(review.id)),
            _("Approving and rejecting: {who}. Support staff: {role}.", who=who, role=bold("@" + (staff.name or "?"))),
            _("Members order with /order and pay with /pay."),
        ),
        private=True,
    )


def vpn_dashboard(registry: Any) -> dict[str, Any]:
    """Every 5 minutes, a job per Discord store edits its revenue message (one per store and slot)."""
    from ttfd.core import db
    from ttfd.core.ledger import utc_now

    slot = int(utc_now().timestamp()) // 300

    def queue(conn: Conn) -> dict[str, Any]:
        queued = 0
        for st in service.stores(conn):
            if st.scope == "discord":
                key = f"vpn:dashboard:{st.scope_id}:{slot}"
                queued += jobs.enqueue(conn, DASHBOARD_JOB, {"guild": st.scope_id}, dedupe_key=key) is not None
        return {"queued": queued}

    result: dict[str, Any] = db.run(queue, timeout_s=10)
    return result


def vpn_keys(registry: Any) -> dict[str, Any]:
    from ttfd.features.vpn import calls

    return calls.keys_schedule()


def vpn_reconcile(registry: Any) -> dict[str, Any]:
    from ttfd.features.vpn import calls

    return calls.reconcile()


def vpn_health(registry: Any) -> dict[str, Any]:
    from ttfd.features.vpn import calls

    return calls.scheduled("health")


FEATURE = Feature(
    name="vpn",
    summary=__doc__ or "",
    commands=(
        Command(
            "order",
            _("Order VPN access"),
            order_cmd,
            (
                Option(
                    "plan", Kind.INTEGER, _("The plan (start typing its name)"), min_value=1, autocomplete=plan_choices
                ),
            ),
            platforms=("discord",),
            guild_only=True,
        ),
        Command(
            "renew",
            _("Renew your VPN key (the same link keeps working)"),
            renew_cmd,
            (Option("plan", Kind.INTEGER, _("Another plan (default: yours)"), min_value=1, autocomplete=plan_choices),),
            platforms=("discord",),
            guild_only=True,
        ),
        Command(
            "pay",
            _("Send the screenshot of your payment for your order"),
            pay_cmd,
            (
                Option("screenshot", Kind.ATTACHMENT, _("The screenshot of the payment"), required=True),
                Option("method", Kind.STRING, _("How you paid"), max_length=32, autocomplete=method_choices),
            ),
            platforms=("discord",),
            guild_only=True,
            defer=True,
            private=True,
        ),
        Command(
            "myvpn",
            _("Your VPN key: status, expiry, traffic"),
            myvpn_cmd,
            platforms=("discord",),
            defer=True,
            private=True,
        ),
        Command(
            "revenue",
            _("The VPN store's revenue"),
            revenue_cmd,
            platforms=("discord",),
            guild_only=True,
            writes=False,
            permission=(ADMINISTRATOR, "Administrator"),
        ),
        Command(
            "health",
            _("Is the VPN server answering?"),
            health_cmd,
            platforms=("discord",),
            group="vpn",
            guild_only=True,
            defer=True,
            private=True,
        ),
        Command(
            "vpn",
            _("Open the VPN store in this server"),
            setup_vpn,
            (
                Option(
                    "review_channel", Kind.CHANNEL, _("Where staff review payments"), required=True, channel_types=(0,)
                ),
                Option("staff_role", Kind.ROLE, _("Support staff: they see orders and answer in them"), required=True),
                Option("category", Kind.CHANNEL, _("Where order channels are made"), channel_types=(4,)),
                Option("admin_role", Kind.ROLE, _("Who approves payments (default: Manage Server)")),
            ),
            platforms=("discord",),
            group="setup",
            guild_only=True,
            permission=(MANAGE_GUILD, "Manage Server"),
        ),
    ),
    actions=(
        ActionHandler(PickPlan, on_pick),
        ActionHandler(CancelOrder, on_cancel),
        ActionHandler(Approve, on_approve),
        ActionHandler(Reject, on_reject, writes=False),
        ActionHandler(RejectReason, on_reject_reason),
        ActionHandler(Confirm, on_confirm),
    ),
    groups=(Group("vpn", _("The VPN store")),),
    schedules=(
        Schedule("vpn_dashboard", "*/5 * * * *", vpn_dashboard, "the revenue message in each store's review channel"),
        Schedule("vpn_keys", "23 * * * *", vpn_keys, "reminders before a key ends; ended keys marked expired"),
        Schedule("vpn_reconcile", "41 * * * *", vpn_reconcile, "the panel's clients against the store's keys"),
        Schedule("vpn_health", "* * * * *", vpn_health, "the 3x-ui panel's health: new orders pause while it is down"),
    ),
    jobs={
        CHANNEL_JOB: "ttfd.features.vpn.calls:open_channel",
        PAYMENT_JOB: "ttfd.features.vpn.calls:to_review",
        PROVISION_JOB: "ttfd.features.vpn.calls:provision",
        DELIVER_JOB: "ttfd.features.vpn.calls:deliver",
        NOTICE_JOB: "ttfd.features.vpn.calls:notice",
        CLOSE_JOB: "ttfd.features.vpn.calls:close_channel",
        ALERT_JOB: "ttfd.features.vpn.calls:alert",
        DASHBOARD_JOB: "ttfd.features.vpn.calls:dashboard",
        REMIND_JOB: "ttfd.features.vpn.calls:remind",
    },
    merge=service.merge_rows,
    purges={"vpn_proofs": service.purge_proofs, "vpn_sessions": service.purge_sessions},
    settings=VpnSettings,
    migrations=("0024_vpn.sql",),
)
