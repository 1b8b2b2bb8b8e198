"""The VPN store: a member orders a plan (/order), pays by bank transfer and sends the screenshot (/pay) in a
private order channel; an admin presses Approve, then Confirm within five minutes; a job makes the client on
the 3x-ui panel and the member gets the vless:// key by private message. /myvpn shows the key, its expiry and
traffic. Operators keep the plans (`python -m ttfd vpn plan …`); a server sets its store up with /setup vpn.

Everything slow (Discord channels and files, the panel, the screenshot's download and checks) runs in jobs
(ttfd/features/vpn/calls.py), imported only when one runs."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ttfd.core import jobs, ratelimit
from ttfd.core.db import Conn
from ttfd.core.errors import BadInput, Forbidden
from ttfd.core.i18n import C_, N_, Msg, _
from ttfd.features.vpn import service
from ttfd.features.vpn.service import Order, Plan, Store, VpnSettings
from ttfd.registry import Feature, Group, Schedule
from ttfd.ui.actions import STALE, Action
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
from ttfd.web import Route, WebCtx, WebResponse

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
STAFF_CHATS = ("group", "supergroup")  # Telegram: staff commands work in the store's staff group


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
    """The store asked: a Discord server's; on Telegram, the staff group's (in it) or the bot's (in a private
    chat)."""
    if ctx.platform == "telegram":
        if ctx.chat_type in STAFF_CHATS and ctx.chat_id is not None:
            found = service.store(ctx.conn, "telegram", ctx.chat_id)
        else:
            found = service.telegram_store(ctx.conn)
        if found is None:
            raise BadInput(_("There is no VPN store here yet."))
        return found
    if ctx.guild_id is None:
        raise Forbidden(_("The store works inside a server."))
    st = service.store(ctx.conn, "discord", ctx.guild_id)
    if st is None:
        raise BadInput(_("This server has no VPN store yet. An admin sets it up with /setup vpn."))
    return st


def _role(ctx: Ctx, st: Store) -> service.Role | None:
    """Discord: from the interaction's permissions and roles. Telegram: from the person's status in the staff
    group, which only the Bot API knows — so Telegram's staff commands and buttons run in jobs."""
    if st.scope == "telegram":
        from ttfd.features.vpn import calls

        return calls.telegram_role(ctx.conn, st, ctx.caller.id) if ctx.caller.platform == "telegram" else None
    return service.discord_role(st, ctx.permissions, ctx.roles)


def _here(ctx: Ctx, od: Order) -> None:
    """A staff button about an order works only where the order's store is (an admin of another server or
    group must not decide it with a crafted button)."""
    where = ctx.guild_id if ctx.platform == "discord" else ctx.chat_id
    if od.scope != ctx.platform or od.scope_id != where:
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


def place_order(
    conn: Conn,
    settings: VpnSettings,
    *,
    user_id: int,
    plan: Plan,
    st: Store,
    platform: service.Scope,
    locale: str,
    request_key: str,
    member: int,
    renews: int | None = None,
    reply_to: dict[str, Any] | None = None,
    answered: bool = False,
) -> Order:
    """A new order (or a renewal of key `renews`) by `member` (their id on `platform`), which closes by itself
    unless paid in time. On Discord a job opens its private channel; on Telegram the member's private chat is
    the order's place: the order message goes there unless the answer to their command is it (`answered`)."""
    od = service.open_order(
        conn,
        user_id=user_id,
        plan=plan,
        st=st,
        platform=platform,
        locale=locale,
        request_key=request_key,
        chat_id=member if platform == "telegram" else None,
        renews=renews,
    )
    timeout = {"order": od.id, "what": "timeout"}
    jobs.enqueue(conn, NOTICE_JOB, timeout, delay_s=settings.order_hours * 3600, dedupe_key=f"vpn:timeout:{od.id}")
    if platform == "discord":
        payload = {"order": od.id, "member": member, **({"reply_to": reply_to} if reply_to else {})}
        jobs.enqueue(conn, CHANNEL_JOB, payload, dedupe_key=f"vpn:channel:{od.id}")
    elif not answered:
        jobs.enqueue(conn, NOTICE_JOB, {"order": od.id, "what": "placed"}, dedupe_key=f"vpn:placed:{od.id}")
    return od


def _place(ctx: Ctx, st: Store, plan: Plan, *, edit: bool = False, renews: int | None = None) -> Reply:
    """/order's and /renew's order: on Telegram the order itself is the answer."""
    telegram = ctx.platform == "telegram"
    od = place_order(
        ctx.conn,
        _settings(ctx),
        user_id=ctx.user.id,
        plan=plan,
        st=st,
        platform="telegram" if telegram else "discord",
        locale=ctx.locale,
        request_key=ctx.key,
        member=ctx.caller.id,
        renews=renews,
        reply_to=ctx.target,
        answered=telegram,
    )
    if telegram:
        return replace(order_message(od, _settings(ctx), ctx.locale), edit=edit)
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


METHOD_BUTTONS = 8  # more methods than this are listed, not offered as buttons (Discord: 5 rows of 5)


def order_message(od: Order, settings: VpnSettings, locale: str) -> Reply:
    """The order, how to pay, and how to send the proof: the order channel's first message on Discord, the
    answer to /order on Telegram. A method picked with its button shows alone."""
    offered = service.methods(settings)
    shown = [m for m in offered if m.id == od.method] or offered
    how = [text(bold(m.name(locale)), "\n", m.instruction(locale)) for m in shown]
    if od.platform == "telegram":
        send = _("When you have paid, send the screenshot of the payment here as a photo with /pay as its caption.")
    else:
        send = _("When you have paid, send the screenshot of the payment here with /pay (attach the picture).")
    picks: tuple[Button, ...] = ()
    if 1 < len(offered) <= METHOD_BUTTONS:
        picks = tuple(
            Button(("✓ " if m.id == od.method else "") + m.name(locale)[:60], PickMethod(od.id, m.id)) for m in offered
        )
    cancel = (Button(C_("button", "Cancel the order"), CancelOrder(od.id), style="danger"),)
    return Reply(
        title=_("🧾 Order #{id}", id=od.id),
        body=lines(
            _("{plan} for {days}: {amount}.", plan=bold(od.plan_name), days=_days(od.days), amount=bold(od.amount)),
            _("It extends your key #{key}: the link you have keeps working.", key=od.renews) if od.renews else None,
            "",
            _("How to pay:"),
            *how,
            "",
            send,
        ),
        fields=(
            Field(C_("field", "Traffic"), (_traffic(od.traffic_gb),)),
            Field(C_("field", "Devices"), (_devices(od.devices),)),
        ),
        footer=_("The order closes by itself if it is not paid within {hours} hours.", hours=settings.order_hours),
        color=COLOR,
        rows=(*(picks[i : i + 4] for i in range(0, len(picks), 4)), cancel),
    )


@dataclass(frozen=True)
class PickMethod(Action):
    """A payment method picked on the order: its instructions alone, and /pay's default."""

    prefix = "vpm"
    order: int
    method: str


def on_method(ctx: Ctx, action: PickMethod) -> Reply:
    od = service.order(ctx.conn, action.order, lock=True)
    if od.user_id != ctx.user.id:
        raise Forbidden(_("Only the person who placed order #{id} can do that.", id=od.id))
    chosen = service.method(_settings(ctx), action.method)
    if not service.set_method(ctx.conn, od.id, chosen.id):
        raise BadInput(_("Order #{id} is no longer waiting for a payment.", id=od.id))
    picked = service.order(ctx.conn, od.id)
    return replace(order_message(picked, _settings(ctx), ctx.locale), edit=True)


def on_cancel(ctx: Ctx, action: CancelOrder) -> Reply:
    od = service.order(ctx.conn, action.order, lock=True)
    if od.user_id != ctx.user.id:  # staff in the order's channel (a Telegram order is in its member's chat)
        if ctx.platform != "discord":
            raise Forbidden(_("Only the person who placed order #{id} can do that.", id=od.id))
        _here(ctx, od)
        service.require(_role(ctx, _store(ctx)), "support")
    if not service.cancel(ctx.conn, od.id, ctx.user.id, "button"):
        raise BadInput(_("Order #{id} can no longer be cancelled: its payment is with the staff.", id=od.id))
    if od.channel_id:
        close = {"order": od.id, "channel": od.channel_id}
        jobs.enqueue(ctx.conn, CLOSE_JOB, close, delay_s=60, dedupe_key=f"vpn:close:{od.id}")
        return say(_("🗑️ Order #{id} is cancelled. This channel closes in a minute.", id=od.id), edit=True)
    return say(_("🗑️ Order #{id} is cancelled.", id=od.id), edit=True)


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
    chosen = service.method(_settings(ctx), opts.get("method") or od.method)
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
    where = ctx.guild_id if ctx.platform == "discord" else ctx.chat_id
    pay = service.confirm(ctx.conn, action.session, ctx.user.id, ctx.now, where)
    payload = {"payment": pay.id, "actor": ctx.user.id, "who": ctx.caller.id, "reply_to": ctx.target}
    if ctx.platform == "telegram":
        payload["by"] = ctx.caller.name  # the review message names who decided (Telegram ids are not mentions)
    jobs.enqueue(ctx.conn, PROVISION_JOB, payload, dedupe_key=f"vpn:provision:{pay.id}:{action.session}")
    return say(_("⏳ Making the key for order #{id}…", id=pay.order_id), private=True, edit=True)


@dataclass(frozen=True)
class RejectPreset(Action):
    """Telegram has no forms: Reject offers the usual reasons as buttons (and /reject for any other)."""

    prefix = "vpq"
    payment: int
    reason: int


# The usual reasons, said to the member in their language.
PRESETS = (
    _("the amount does not match the order"),
    _("this payment was not found"),
    _("the screenshot is unreadable or cut off"),
    _("the picture is not a payment receipt"),
)


def on_reject(ctx: Ctx, action: Reject) -> Reply:
    _admin(ctx)
    pay = service.payment(ctx.conn, action.payment)
    _here(ctx, service.order(ctx.conn, pay.order_id))
    if pay.status != "pending":
        raise BadInput(_("Payment #{id} was already decided.", id=pay.id))
    if ctx.platform == "telegram":
        return Reply(
            title=_("Reject payment #{id}", id=pay.id),
            body=lines(
                _("Why? The member reads the reason."),
                _("Another reason: /reject {id} followed by it.", id=pay.id),
            ),
            rows=tuple((Button(p, RejectPreset(pay.id, i), style="danger"),) for i, p in enumerate(PRESETS)),
        )
    reason = TextInput(REASON, _("Why (the member reads this)"), max_length=REASON_MAX, long=True)
    return Reply(modal=Modal(_("Reject payment #{id}", id=pay.id), RejectReason(pay.id), (reason,)))


def on_reject_reason(ctx: Ctx, action: RejectReason) -> Reply:
    return _reject(ctx, action.payment, ctx.inputs.get(REASON, ""))


def on_reject_preset(ctx: Ctx, action: RejectPreset) -> Reply:
    if not 0 <= action.reason < len(PRESETS):
        raise BadInput(STALE)
    od = service.order(ctx.conn, service.payment(ctx.conn, action.payment).order_id)
    return _reject(ctx, action.payment, PRESETS[action.reason].in_(od.locale), edit=True)


def reject_cmd(ctx: Ctx, opts: Options) -> Reply:
    """Telegram's Reject with a reason of the admin's own (deferred: the admin is asked of the staff group)."""
    return _reject(ctx, opts["payment"], opts["reason"])


def _reject(ctx: Ctx, payment_id: int, said: str, *, edit: bool = False) -> Reply:
    _admin(ctx)
    reason = " ".join(said.split())[:REASON_MAX]
    if not reason:
        raise BadInput(_("Say why the payment is rejected: the member reads it."))
    _here(ctx, service.order(ctx.conn, service.payment(ctx.conn, payment_id).order_id))
    pay = service.reject(ctx.conn, payment_id, ctx.user.id, reason)
    od = service.order(ctx.conn, pay.order_id)
    notice = {"order": od.id, "payment": pay.id, "what": "rejected", "actor": ctx.caller.id, "reason": reason}
    if ctx.platform == "telegram":
        notice["by"] = ctx.caller.name
    jobs.enqueue(ctx.conn, NOTICE_JOB, notice, dedupe_key=f"vpn:rejected:{pay.id}")
    return say(
        _("❌ Payment #{id} rejected. The member can send a new screenshot.", id=pay.id), private=True, edit=edit
    )


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
    st = service.setup_store(
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
    for waiting in service.unreviewed(ctx.conn, st):  # payments whose review message is elsewhere or missing
        key = f"vpn:review:{waiting}:{st.review_channel}"
        jobs.enqueue(ctx.conn, PAYMENT_JOB, {"payment": waiting}, dedupe_key=key)
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


def _get_vpn(ctx: WebCtx) -> WebResponse:
    from ttfd.features.vpn import web

    return web.get_vpn(ctx)


def _post_vpn(ctx: WebCtx) -> WebResponse:
    from ttfd.features.vpn import web

    return web.post_vpn(ctx)


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
            guild_only=True,
            chats=("private",),
        ),
        Command(
            "renew",
            _("Renew your VPN key (the same link keeps working)"),
            renew_cmd,
            (Option("plan", Kind.INTEGER, _("Another plan (default: yours)"), min_value=1, autocomplete=plan_choices),),
            guild_only=True,
            chats=("private",),
        ),
        Command(
            "pay",
            _("Send the screenshot of your payment for your order"),
            pay_cmd,
            (
                Option("screenshot", Kind.ATTACHMENT, _("The screenshot of the payment"), required=True),
                Option("method", Kind.STRING, _("How you paid"), max_length=32, autocomplete=method_choices),
            ),
            guild_only=True,
            chats=("private",),
            defer=True,
            private=True,
        ),
        Command(
            "myvpn",
            _("Your VPN key: status, expiry, traffic"),
            myvpn_cmd,
            chats=("private",),
            defer=True,
            private=True,
        ),
        Command(
            "revenue",
            _("The VPN store's revenue"),
            revenue_cmd,
            guild_only=True,
            chats=STAFF_CHATS,
            defer=True,  # Telegram: the owner is asked of the staff group, in the job
            private=True,
            permission=(ADMINISTRATOR, "Administrator"),
            chat_admin=True,
        ),
        Command(
            "health",
            _("Is the VPN server answering?"),
            health_cmd,
            group="vpn",
            guild_only=True,
            chats=STAFF_CHATS,
            defer=True,
            private=True,
        ),
        Command(
            "reject",
            _("Reject a payment with your own reason"),
            reject_cmd,
            (
                Option("payment", Kind.INTEGER, _("The payment's number"), required=True, min_value=1),
                Option(
                    "reason",
                    Kind.STRING,
                    _("Why (the member reads this)"),
                    required=True,
                    max_length=REASON_MAX,
                    rest=True,
                ),
            ),
            platforms=("telegram",),
            chats=STAFF_CHATS,
            defer=True,  # the admin is asked of the staff group, in the job
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
        ActionHandler(PickMethod, on_method),
        ActionHandler(Approve, on_approve, telegram_defer=True),
        ActionHandler(Reject, on_reject, writes=False, telegram_defer=True),
        ActionHandler(RejectReason, on_reject_reason),
        ActionHandler(RejectPreset, on_reject_preset, telegram_defer=True),
        ActionHandler(Confirm, on_confirm, telegram_defer=True),
    ),
    groups=(Group("vpn", _("The VPN store")),),
    routes=(
        Route(
            "api_vpn",
            "/api/vpn",
            {"GET": _get_vpn, "POST": _post_vpn},
            rate_limited=True,
            summary="your VPN keys; a key's link and QR code; a renewal",
        ),
    ),
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
    migrations=("0024_vpn.sql", "0025_vpn_telegram.sql"),
)
