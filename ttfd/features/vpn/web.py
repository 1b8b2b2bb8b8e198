"""The site's "My VPN" (`/api/vpn`, on /me): the logged-in person's keys with status, expiry and traffic, their
open order; the key's link and QR code only when asked for (POST, audited); a renewal placed from the site, paid
where the member ordered (their Discord order channel, or their private chat with the bot)."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime

from ttfd.core.errors import DomainError, NotFound
from ttfd.core.i18n import _
from ttfd.features import vpn
from ttfd.features.vpn import service
from ttfd.features.vpn.service import Key, VpnSettings
from ttfd.web import Problem, WebCtx, WebResponse, json_body, json_response

_KEY = re.compile(r"[A-Za-z0-9_-]{8,100}")
ACTIONS = {"reveal", "renew"}


def _traffic(keys: list[Key], settings: VpnSettings) -> dict[int, dict[str, int] | None]:
    """Each live key's traffic from the panel (absent where the panel does not answer: the page says so)."""
    from ttfd.clients import xui
    from ttfd.features.vpn import calls

    out: dict[int, dict[str, int] | None] = {}
    live = [k for k in keys if k.status == "active"][:5]
    if not live or not settings.panel_url:
        return out
    try:
        api = calls.panel()
        for k in live:
            t = api.traffic(k.email)
            out[k.id] = {"used": t.used, "limit": t.total} if t is not None else None
    except (xui.PanelError, DomainError):
        pass  # down: shown without traffic
    return out


def get_vpn(ctx: WebCtx) -> WebResponse:
    user = ctx.user_id
    now = datetime.now(UTC)
    keys = [k for k in service.keys_of(ctx.conn, user) if k.status != "revoked"]
    traffic = _traffic(keys, ctx.settings.section(VpnSettings))
    plans = {p.id: p for p in service.plans(ctx.conn, active_only=False)}
    shown = []
    for k in keys:
        state = "expired" if k.status == "expired" or k.expires_at <= now else "active"
        plan = plans.get(k.plan_id)
        shown.append(
            {
                "id": k.id,
                "status": state,
                "plan": plan.name if plan else None,
                "expires_at": k.expires_at.isoformat(),
                "devices": k.devices,
                "traffic_gb": k.traffic_gb,
                "traffic": traffic.get(k.id),
                "renewable": bool(plan and plan.active) and service.last_order_of_key(ctx.conn, k.id) is not None,
            }
        )
    od = service.open_order_of(ctx.conn, user)
    order = None
    if od is not None:
        order = {
            "id": od.id,
            "status": od.status,
            "status_text": vpn.status_word(od.status).in_(ctx.locale),
            "plan": od.plan_name,
            "amount": service.money_text(od.amount_minor, od.currency, ctx.locale),
            "platform": od.platform,
            "renews": od.renews,
        }
    return json_response({"keys": shown, "order": order}, headers={"Cache-Control": "private, no-store"})


def post_vpn(ctx: WebCtx) -> WebResponse:
    body = json_body(ctx.request)
    if not isinstance(body, dict) or body.get("action") not in ACTIONS or set(body) - {"action", "key", "plan"}:
        raise Problem(400, 'Send {"action": "reveal" or "renew", "key": the key\'s id}.')
    key_id, plan_id = body.get("key"), body.get("plan")
    if type(key_id) is not int or not 0 < key_id < 2**62:
        raise Problem(400, "key must be one of your keys' ids.")
    if plan_id is not None and (type(plan_id) is not int or not 0 < plan_id < 2**62):
        raise Problem(400, "plan must be a plan's id.")
    user = ctx.user_id
    try:
        k = service.key(ctx.conn, key_id)
    except NotFound:
        k = None
    if k is None or k.user_id != user or k.status == "revoked":
        raise Problem(404, _("You have no such VPN key."))
    if body["action"] == "reveal":
        return _reveal(ctx, k)
    return _renew(ctx, k, plan_id)


def _reveal(ctx: WebCtx, k: Key) -> WebResponse:
    """The link and its QR code (a PNG as a data URL): asked for on purpose, never in GET, and audited."""
    from ttfd.features.vpn import qr

    service.audit(ctx.conn, ctx.user_id, "key.reveal", outcome="ok", data={"key": k.id, "where": "site"})
    picture = base64.b64encode(qr.png(k.link)).decode()
    return json_response(
        {"key": k.id, "link": k.link, "qr": f"data:image/png;base64,{picture}"},
        headers={"Cache-Control": "no-store"},
    )


def _renew(ctx: WebCtx, k: Key, plan_id: int | None) -> WebResponse:
    """A renewal order in the store the key was last bought in, paid and reviewed there like /renew; once per
    Idempotency-Key (a retried click places one order)."""
    from ttfd.core import users

    once = ctx.request.header("idempotency-key") or ""
    if not _KEY.fullmatch(once):
        raise Problem(400, "Send an Idempotency-Key header (8-100 letters, digits, - or _) so a retry orders once.")
    request_key = f"site:{ctx.user_id}:{once}"
    current = service.open_order_of(ctx.conn, ctx.user_id)
    if current is not None and service.order_by_request(ctx.conn, request_key) is None:  # not this click's retry
        where = "Telegram" if current.platform == "telegram" else "Discord"
        said = _(
            "You already have an open order #{id}: pay for it or cancel it on {platform}.",
            id=current.id,
            platform=where,
        )
        raise Problem(409, said)
    last = service.last_order_of_key(ctx.conn, k.id)
    st = service.store(ctx.conn, last.scope, last.scope_id) if last else None
    if last is None or st is None:
        raise Problem(409, _("This key's store is closed: renew it with /renew where you bought it."))
    plan = service.get_plan(ctx.conn, plan_id or k.plan_id)
    if not plan.active:
        raise Problem(409, _("Your plan is no longer on sale: pick another with the plan option."))
    account = users.get_user(ctx.conn, ctx.user_id)
    member = account.telegram_id if last.platform == "telegram" else account.discord_id
    if member is None:
        raise Problem(409, _("Renew it with /renew where you bought it: that account is no longer linked."))
    od = vpn.place_order(
        ctx.conn,
        ctx.settings.section(VpnSettings),
        user_id=ctx.user_id,
        plan=plan,
        st=st,
        platform=last.platform,
        locale=ctx.locale,
        request_key=request_key,
        member=member,
        renews=k.id,
    )
    if last.platform == "telegram":
        where = _("Renewal order #{id} is placed: pay and send the screenshot in your chat with the bot.", id=od.id)
    else:
        where = _(
            "Renewal order #{id} is placed: pay and send the screenshot in your order channel on Discord.", id=od.id
        )
    return json_response({"order": od.id, "platform": last.platform, "message": ctx.say(where)}, status=201)
