"""The VPN store's work with Discord and the 3x-ui panel, done in jobs (imported only when one runs, so the
panel client, Pillow and pydantic stay off the interaction paths).

Exactly once where it matters: the panel client's email, uuid and subId are derived from the order, so a
provisioning job that died after the panel call and runs again finds the client it made; the key's private
message carries an enforced nonce, so Discord posts it once however often its job runs; the books (key,
payment, order) commit with the job. Anything that fails after the panel call deletes the client it made and
puts the order back in review.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ttfd.clients import discord_rest
from ttfd.clients.http import Forbidden, HTTPError, NotFoundError
from ttfd.core import jobs, users
from ttfd.core.db import Conn
from ttfd.core.errors import DomainError
from ttfd.core.i18n import _, negotiate
from ttfd.core.jobs import JobCtx
from ttfd.core.logs import escape
from ttfd.core.settings import Settings, get_settings
from ttfd.features import vpn
from ttfd.features.vpn import service
from ttfd.features.vpn.service import Order, Payment, Store, VpnSettings
from ttfd.render import discord
from ttfd.ui.commands import Ctx, FileRef
from ttfd.ui.reply import Attachment, Field, Reply, localized, refusal, say
from ttfd.ui.text import Person, bold, channel, code, lines, mention, text, when

if TYPE_CHECKING:
    from ttfd.clients import xui

log = logging.getLogger(__name__)

# Discord permission bits (protocols.md §8)
VIEW, SEND, MANAGE_MESSAGES, EMBED, ATTACH, HISTORY = 1 << 10, 1 << 11, 1 << 13, 1 << 14, 1 << 15, 1 << 16
MEMBER_ALLOW = VIEW | SEND | ATTACH | HISTORY  # 101376: what the member may do in their order channel
STAFF_ALLOW = MEMBER_ALLOW | MANAGE_MESSAGES  # 109568
BOT_ALLOW = MEMBER_ALLOW | EMBED
LOCKED_ALLOW, LOCKED_DENY = VIEW | HISTORY, SEND | ATTACH  # after the proof: read, not write
CLOSED_DMS = 50007


def _vpn(settings: Settings | None = None) -> VpnSettings:
    return (settings or get_settings()).section(VpnSettings)


def _rest() -> discord_rest.DiscordREST:
    return discord_rest.shared()


def _staff_locale(st: Store, settings: Settings) -> str:
    return negotiate(st.locale, default=settings.default_locale)


def _post(
    channel_id: int,
    reply: Reply,
    locale: str,
    *,
    content: str = "",
    nonce: str | None = None,
    file: Attachment | None = None,
) -> int:
    """Post a Reply in a channel (with a file, and a nonce Discord enforces); the message id."""
    body: dict[str, Any] = discord.message(localized(reply, locale))
    body.pop("flags", None)
    if content:
        body["content"] = (content + "\n" + body.get("content", "")).strip()
    if nonce:
        body["nonce"], body["enforce_nonce"] = nonce[:25], True
    if file is not None:
        body["attachments"] = [{"id": 0, "filename": file.name}]
        for embed in body.get("embeds", []):
            embed["image"] = {"url": f"attachment://{file.name}"}
        resp = _rest().request(
            "POST",
            f"/channels/{channel_id}/messages",
            data={"payload_json": json.dumps(body)},
            files={"files[0]": (file.name, file.data, file.mime)},
        )
    else:
        resp = _rest().request("POST", f"/channels/{channel_id}/messages", json=body)
    return int(resp.json()["id"])


def _account(conn: Conn, user_id: int) -> users.User:
    """The account now (a merged one's survivor)."""
    return users.get_user(conn, users.live_id(conn, user_id) or user_id)


def _member_id(conn: Conn, user_id: int) -> int | None:
    return _account(conn, user_id).discord_id


# --- Telegram: the staff group and the member's private chat ----------------------------------------------------


def _tg_post(chat_id: int, reply: Reply, locale: str, *, file: Attachment | None = None) -> int:
    """Send a Reply to a Telegram chat (a picture with the Reply as its caption); the message id. Telegram has
    no idempotency key: a job that dies after this and runs again sends it twice (harmless: the same text)."""
    from ttfd.clients import telegram
    from ttfd.render import telegram as render

    said = localized(reply, locale)
    api = telegram.shared()
    if file is not None:
        extra: dict[str, Any] = {"parse_mode": "HTML"}
        if (markup := render.keyboard(said)) is not None:
            extra["reply_markup"] = markup
        caption = render.message_text(said, limit=render.CAPTION_MAX, locale=locale)
        sent = api.send_file("sendPhoto", chat_id, "photo", file, caption=caption, **extra)
    else:
        call = render.send(said, chat_id, locale=locale)
        call.pop("method")
        sent = api.call("sendMessage", **call)
    return int(sent["message_id"])


def telegram_role(conn: Conn, st: Store, tg_user: int) -> service.Role | None:
    """Someone's role in a Telegram store: their status in its staff group, asked of the Bot API (cached a
    minute, shared by every instance)."""
    from ttfd.clients import telegram
    from ttfd.core import apicache

    key = f"tg:{st.scope_id}:{tg_user}"
    found = apicache.get(conn, key)
    if found is None:
        try:
            found = telegram.shared().call("getChatMember", chat_id=st.scope_id, user_id=tg_user)
        except HTTPError as exc:
            if exc.retryable:
                raise
            return None  # not a member, or the bot is not in the group any more
        apicache.put(conn, key, found, 60)
    return service.telegram_role(str(dict(found).get("status", "")))


def _staff_post(
    st: Store, reply: Reply, locale: str, *, nonce: str | None = None, file: Attachment | None = None
) -> int:
    """A message for a store's staff: its review channel on Discord, its staff group on Telegram."""
    if st.scope == "telegram":
        return _tg_post(st.review_channel, reply, locale, file=file)
    return _post(st.review_channel, reply, locale, nonce=nonce, file=file)


def _tell_member(conn: Conn, od: Order, reply: Reply, *, nonce: str) -> None:
    """Something the member must read about their order: in its channel on Discord (mentioned), in their private
    chat on Telegram (a blocked bot: logged, nothing else to do)."""
    if od.platform == "telegram":
        chat = od.chat_id or _account(conn, od.user_id).telegram_id
        if chat is None:
            return
        try:
            _tg_post(chat, reply, od.locale)
        except Forbidden:
            log.info("order %s: the member has blocked the bot", od.id)
        return
    member = _member_id(conn, od.user_id)
    if od.channel_id:
        _post(od.channel_id, reply, od.locale, content=f"<@{member}>" if member else "", nonce=nonce)


# --- the order channel -----------------------------------------------------------------------------------------


class OpenChannel(BaseModel):
    order: int
    member: int


def open_channel(job: JobCtx, payload: dict[str, Any]) -> Reply:
    """Make the member's private order channel (the member, the staff roles and the bot) and post the order in
    it; a server that does not let the bot do that cancels the order, with the reason."""
    p = OpenChannel.model_validate(payload)
    od = service.order(job.conn, p.order, lock=True)
    if od.status != "pending_payment":
        return say(_("Order #{id} is no longer waiting for a payment.", id=od.id), private=True)
    if od.channel_id is not None:
        return say(_("🧾 Order #{id} is open in {channel}.", id=od.id, channel=channel(od.channel_id)), private=True)
    st = service.store(job.conn, "discord", od.scope_id)
    assert st is not None
    bot = int(job.settings.require("discord_application_id"))
    over = [
        {"id": str(od.scope_id), "type": 0, "deny": str(VIEW), "allow": "0"},
        {"id": str(p.member), "type": 1, "allow": str(MEMBER_ALLOW), "deny": "0"},
        {"id": str(bot), "type": 1, "allow": str(BOT_ALLOW), "deny": "0"},
    ]
    for role in {r for r in (st.staff_role, st.admin_role) if r}:
        over.append({"id": str(role), "type": 0, "allow": str(STAFF_ALLOW), "deny": "0"})
    body: dict[str, Any] = {
        "name": f"order-{od.id}",
        "type": 0,
        "topic": f"VPN order #{od.id}",
        "permission_overwrites": over,
    }
    if st.category:
        body["parent_id"] = str(st.category)
    try:
        cid = _made_before(od) or int(
            _rest()
            .request("POST", f"/guilds/{od.scope_id}/channels", json=body, reason=f"VPN order #{od.id}")
            .json()["id"]
        )
    except HTTPError as exc:  # Discord refused (no permission, a category that is not one, 500 channels)
        if exc.retryable and not job.final:
            raise
        log.warning("order channel for order %s not made: %s", od.id, escape(str(exc)))
        service.cancel(job.conn, od.id, od.user_id, "no channel")
        return say(
            _(
                "⚠️ I could not open an order channel here (I need the Manage Channels permission, and the category "
                "must exist). Order #{id} is cancelled; tell an admin.",
                id=od.id,
            ),
            private=True,
        )
    service.set_channel(job.conn, od.id, cid)
    service.audit(job.conn, od.user_id, "order.channel", order_id=od.id, outcome="ok", data={"channel": cid})
    message = vpn.order_message(od, _vpn(job.settings), od.locale)
    _post(cid, message, od.locale, content=f"<@{p.member}>", nonce=f"vpnorder{od.id}")
    return say(
        _(
            "🧾 Order #{id} is open in {channel}: pay there and send the screenshot with /pay.",
            id=od.id,
            channel=channel(cid),
        ),
        private=True,
    )


def _made_before(od: Order) -> int | None:
    """The order's channel if an earlier run made it and died before its commit: adopted, not made twice (the
    topic names the order; a member cannot make channels in a store's category with it)."""
    listed = _rest().request("GET", f"/guilds/{od.scope_id}/channels").json()
    for c in listed if isinstance(listed, list) else ():
        if c.get("name") == f"order-{od.id}" and c.get("topic") == f"VPN order #{od.id}" and c.get("type") == 0:
            return int(c["id"])
    return None


class Close(BaseModel):
    order: int
    channel: int


def close_channel(job: JobCtx, payload: dict[str, Any]) -> None:
    """Delete an order channel (24 h after the key, or a minute after a cancel); gone already is fine."""
    p = Close.model_validate(payload)
    with contextlib.suppress(NotFoundError):  # gone already
        _rest().request("DELETE", f"/channels/{p.channel}", reason=f"VPN order #{p.order} closed")
    service.audit(job.conn, None, "order.channel_delete", order_id=p.order, outcome="ok")


# --- the proof ----------------------------------------------------------------------------------------------------


def submit_proof(ctx: Ctx, od: Order, method_id: str, picture: FileRef) -> Payment | Reply:
    """Fetch the screenshot (Discord's CDN only), check it, refuse a screenshot another order already used (and
    tell the staff), and hand the order to review. Runs in /pay's job."""
    from ttfd.clients import downloads
    from ttfd.features.vpn import proof

    got = downloads.fetch(picture, hosts=ctx.settings.discord_cdn_hosts)
    checked = proof.check(got.data, picture.content_type or got.content_type, picture.filename)
    row = service.ProofRow.of(checked)
    nearest = proof.hamming_sql("p.phash", "%(phash)s::bigint")
    candidates = service.proof_candidates(ctx.conn, od.id, checked.sha256, checked.phash, proof.CANDIDATE_SQL, nearest)
    dup = proof.find_duplicate(checked, candidates)
    flag = None
    if dup is not None and dup[1] == "alike":  # too little text to tell: staff decide, warned
        flag, dup = f"alike:{dup[0]}", None
        service.audit(ctx.conn, ctx.user.id, "payment.alike", order_id=od.id, outcome="flagged", data={"flag": flag})
    if dup is not None:  # refused, but answered (not raised): the audit row and the staff's notice commit
        other, exact = dup[0], dup[1] == "exact"
        service.audit(
            ctx.conn,
            ctx.user.id,
            "payment.duplicate",
            order_id=od.id,
            outcome="refused",
            data={"other_order": other, "exact": exact, "sha256": checked.sha256},
        )
        notice = {"order": od.id, "what": "duplicate", "other": other, "exact": exact}
        jobs.enqueue(ctx.conn, vpn.NOTICE_JOB, notice)
        return refusal(
            _(
                "This screenshot was already sent for another order, so I cannot take it. Send the "
                "screenshot of this payment; the staff have been told."
            ).in_(ctx.locale)
        )
    pay = service.submit_payment(
        ctx.conn, od, method_id=method_id, proof=row, request_key=ctx.key, actor=ctx.user.id, flag=flag
    )
    jobs.enqueue(ctx.conn, vpn.PAYMENT_JOB, {"payment": pay.id}, dedupe_key=f"vpn:review:{pay.id}")
    return pay


class ToReview(BaseModel):
    payment: int


def _review(conn: Conn, st: Store, od: Order, pay: Payment, settings: Settings, decided: Any = None) -> Reply:
    """The review message: who paid what for which plan, how, and any flag; Approve and Reject until decided
    (then the decision instead)."""
    locale = _staff_locale(st, settings)
    u = _account(conn, od.user_id)
    name = u.display_name or u.username or f"#{od.user_id}"
    member = mention(Person(name, u.discord_id, u.telegram_id))
    return Reply(
        title=_("💳 Payment #{id} for order #{order}", id=pay.id, order=od.id),
        body=lines(
            _(
                "{member} paid {amount} for {plan} ({days}).",
                member=member,
                amount=bold(od.amount),
                plan=bold(od.plan_name),
                days=vpn._days(od.days),
            ),
            _("Method: {method}.", method=_method_name(settings, pay.method, locale)),
            text("⚠️ ", _flag(pay.flagged)) if pay.flagged else None,
            text("\n", decided) if decided is not None else None,
        ),
        fields=(Field(_("Order channel"), (channel(od.channel_id),)),) if od.channel_id else (),
        color=vpn.COLOR,
        rows=vpn.review_buttons(pay.id) if decided is None else (),
    )


def _flag(flagged: str) -> Any:
    """Why staff should look twice, said in their language (`alike:<order>`: see proof.find_duplicate)."""
    kind, _sep, other = flagged.partition(":")
    if kind == "alike" and other.isdigit():
        return _(
            "This screenshot looks like the one sent for order #{other}, but it has too little text to compare "
            "for sure. Compare the two before approving.",
            other=int(other),
        )
    return flagged


def to_review(job: JobCtx, payload: dict[str, Any]) -> None:
    """Post the proof, with Approve and Reject, where the store's staff review payments; on Discord, lock the
    member out of writing in the order channel first."""
    p = ToReview.model_validate(payload)
    pay = service.payment(job.conn, p.payment, lock=True)
    od = service.order(job.conn, pay.order_id)
    st = service.store(job.conn, od.scope, od.scope_id)
    assert st is not None
    member = _member_id(job.conn, od.user_id)
    if od.channel_id and member:
        _lock(od.channel_id, member, locked=True, order_id=od.id)
    if pay.review_message is not None and pay.review_channel == st.review_channel:
        return
    image = service.proof_image(job.conn, pay.id)
    extension = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}
    file = Attachment(f"proof-{pay.id}.{extension.get(image[1], 'bin')}", image[0], image[1]) if image else None
    review = _review(job.conn, st, od, pay, job.settings)
    try:
        mid = _staff_post(st, review, _staff_locale(st, job.settings), nonce=f"vpnreview{pay.id}", file=file)
    except HTTPError as exc:  # the review channel (or group) is gone or closed to the bot: /setup vpn again
        if exc.retryable:
            raise
        service.audit(job.conn, None, "payment.review", order_id=od.id, payment_id=pay.id, outcome="no channel")
        log.warning("payment %s: no review message: %s", pay.id, escape(str(exc)))
        return
    service.set_review_message(job.conn, pay.id, st.review_channel, mid)
    if od.channel_id:
        waiting = say(_("📨 Got it: the staff are checking your payment. Your key will come by private message."))
        _post(od.channel_id, waiting, od.locale, nonce=f"vpnwait{pay.id}")


def _method_name(settings: Settings, method_id: str, locale: str) -> str:
    """The payment method's name now (a method removed from VPN_METHODS since is shown by its id)."""
    found = next((m for m in service.methods(_vpn(settings)) if m.id == method_id), None)
    return found.name(locale) if found else method_id


def _lock(channel_id: int, member: int, *, locked: bool, order_id: int) -> None:
    allow, deny = (LOCKED_ALLOW, LOCKED_DENY) if locked else (MEMBER_ALLOW, 0)
    try:
        _rest().request(
            "PUT",
            f"/channels/{channel_id}/permissions/{member}",
            json={"type": 1, "allow": str(allow), "deny": str(deny)},
            reason=f"VPN order #{order_id}: {'payment under review' if locked else 'open again'}",
        )
    except NotFoundError:
        log.info("order %s: its channel is gone", order_id)


# --- provisioning --------------------------------------------------------------------------------------------


class Provision(BaseModel):
    payment: int
    actor: int  # the admin's account
    who: int | None = None  # the admin's id on the store's platform (the review message names them)
    by: str | None = None  # Telegram: the admin's name


_panels: dict[Any, Any] = {}


def panel() -> xui.Panel:
    """The 3x-ui adapter for this deployment's settings (one per configuration and process: it keeps its login;
    a rotated password or token makes a new one)."""
    from ttfd.clients import xui
    from ttfd.core.errors import ConfigError

    vs = _vpn()
    try:
        config = xui.PanelConfig(
            url=vs.panel_url,
            inbound_id=vs.inbound_id,
            username=vs.panel_username or None,
            password=vs.panel_password or None,
            token=vs.panel_token or None,
            api=vs.panel_api,
            link_host=vs.link_host or None,
            sub_url=vs.sub_url or None,
        )
    except ValueError as exc:
        raise ConfigError(f"VPN panel settings: {exc}") from None
    found = _panels.get(config)
    if found is None:
        found = _panels[config] = xui.Panel(config)
    return found


def provision(job: JobCtx, payload: dict[str, Any]) -> Reply:
    """Confirm's work: the panel must be up; make (or, for a renewal, extend) the client, build the key, record
    it. Run again after a crash it finds the client it made. A failure after the panel call removes that client
    and puts the order back in review; the admin is told why."""
    from ttfd.clients import xui

    p = Provision.model_validate(payload)
    pay = service.payment(job.conn, p.payment, lock=True)
    od = service.order(job.conn, pay.order_id, lock=True)
    if od.status != "provisioning":
        return say(
            _("Order #{id} is {status}: nothing to do.", id=od.id, status=vpn.status_word(od.status)), private=True
        )
    settings = _vpn(job.settings)
    api = panel()
    health = api.health()
    if not health.ok:
        return _rolled_back(
            job,
            od,
            p.actor,
            f"panel unhealthy: {health.detail}",
            _("The VPN server is not answering, so nothing was made."),
        )
    now = datetime.now(UTC)
    renewing = service.key(job.conn, od.renews) if od.renews else None
    if renewing is not None:
        email, client_uuid, sub_id = renewing.email, renewing.client_uuid, renewing.sub_id
        expires = max(now, renewing.expires_at) + timedelta(days=od.days)
    else:
        email, client_uuid, sub_id = service.client_identity(od.id)
        expires = now + timedelta(days=od.days)
    tg = users.get_user(job.conn, od.user_id).telegram_id or 0
    spec = xui.ClientSpec(
        email=email,
        uuid=str(client_uuid),
        sub_id=sub_id,
        expiry_ms=int(expires.timestamp() * 1000),
        total_bytes=od.traffic_gb * 1024**3,
        limit_ip=od.devices,
        tg_id=tg,
        comment=f"TTFD order {od.id}",
    )
    try:
        if renewing is not None:
            api.update_client(email, expiry_ms=spec.expiry_ms, total_bytes=spec.total_bytes, limit_ip=od.devices)
            api.reset_traffic(email)
        else:
            made = api.ensure_client(spec)
            client_uuid, sub_id = uuid.UUID(made.uuid), made.sub_id  # an earlier attempt's client keeps its own
    except xui.PanelError as exc:
        service.audit(
            job.conn,
            p.actor,
            "panel.client",
            order_id=od.id,
            payment_id=pay.id,
            outcome="failed",
            data={"error": str(exc)[:300], "email": email},
        )
        if exc.retryable and not job.final:
            raise  # the job runs again; the client's email makes that safe
        return _rolled_back(job, od, p.actor, str(exc), _("The VPN server refused to make the key."))
    service.audit(
        job.conn,
        p.actor,
        "panel.client",
        order_id=od.id,
        payment_id=pay.id,
        outcome="ok",
        data={"email": email, "renewal": renewing is not None},
    )
    try:
        with job.conn.transaction():
            links = api.links(email)
            if not links:
                raise DomainError(_("The VPN server gave no link for the key."))
            k = service.complete(
                job.conn,
                od,
                pay,
                email=email,
                client_uuid=client_uuid,
                sub_id=sub_id,
                link=links[0],
                expires_at=expires,
                channel_hours=settings.channel_hours,
            )
            service.audit(
                job.conn,
                p.actor,
                "order.complete",
                order_id=od.id,
                payment_id=pay.id,
                outcome="ok",
                data={"key": k.id, "expires_at": expires.isoformat()},
            )
            jobs.enqueue(job.conn, vpn.DELIVER_JOB, {"order": od.id}, dedupe_key=f"vpn:deliver:{od.id}")
            approved = {"order": od.id, "payment": pay.id, "what": "approved", "actor": p.who, "by": p.by}
            jobs.enqueue(job.conn, vpn.NOTICE_JOB, approved, dedupe_key=f"vpn:approved:{pay.id}")
            if od.channel_id:
                jobs.enqueue(
                    job.conn,
                    vpn.CLOSE_JOB,
                    {"order": od.id, "channel": od.channel_id},
                    delay_s=settings.channel_hours * 3600,
                    dedupe_key=f"vpn:close:{od.id}",
                )
    except Exception as exc:
        log.warning("order %s: rolling back after the panel call: %s", od.id, escape(repr(exc)[:300]))
        if renewing is None:
            try:
                api.delete_client(email)
            except xui.PanelError as gone:
                log.error("order %s: the panel client %s could not be removed: %s", od.id, email, escape(str(gone)))
        why = exc.message if isinstance(exc, DomainError) else _("Something failed after the key was made.")
        return _rolled_back(job, od, p.actor, repr(exc)[:300], why)
    return say(
        _(
            "✅ Order #{id} approved: the key is made (until {until}) and on its way to the member.",
            id=od.id,
            until=when(expires, "datetime"),
        ),
        private=True,
    )


def _rolled_back(job: JobCtx, od: Order, actor: int, logged: str, why: Any) -> Reply:
    service.roll_back(job.conn, od.id, actor, logged)
    unlock = {"order": od.id, "what": "unlock"}
    jobs.enqueue(job.conn, vpn.NOTICE_JOB, unlock)
    return say(
        text(
            "❌ ",
            why,
            " ",
            _("Order #{id} is back in review: the payment still waits, and you can press Approve again.", id=od.id),
        ),
        private=True,
    )


# --- the key, to its owner --------------------------------------------------------------------------------------


class Deliver(BaseModel):
    order: int


def key_reply(k: service.Key, od: Order | None) -> tuple[Reply, Attachment]:
    from ttfd.features.vpn import qr

    png = qr.png(k.link)
    reply = Reply(
        title=_("🔑 Your VPN key"),
        body=lines(
            _("Order #{id}: {plan}.", id=od.id, plan=bold(od.plan_name)) if od else None,
            _("Valid until {until}.", until=when(k.expires_at, "datetime")),
            _("Import this link into your VPN app (v2rayNG, Hiddify, Streisand, Happ…) or scan the QR code:"),
        ),
        color=vpn.COLOR,
    )
    return reply, Attachment("vpn-key.png", png)


def deliver(job: JobCtx, payload: dict[str, Any]) -> None:
    """The key by private message (the link as text, and its QR code); closed DMs → the order channel."""
    p = Deliver.model_validate(payload)
    od = service.order(job.conn, p.order)
    if od.key_id is None:
        return
    k = service.key(job.conn, od.key_id)
    if od.platform == "telegram":
        _deliver_telegram(job.conn, od, k)
        return
    member = _member_id(job.conn, od.user_id)
    if member is None:
        return
    reply, png = key_reply(k, od)
    content = f"`{k.link}`" if len(k.link) < 1900 else k.link[:1990]
    rest = _rest()
    where = "dm"
    try:
        dm = int(rest.request("POST", "/users/@me/channels", json={"recipient_id": str(member)}).json()["id"])
        _post(dm, reply, od.locale, content=content, nonce=f"vpnkey{od.id}", file=png)
    except Forbidden as exc:
        if exc.code != CLOSED_DMS or od.channel_id is None:
            raise
        where = "order channel"
        note = say(_("I could not send you a private message (your DMs are closed), so here is your key."))
        _post(od.channel_id, note, od.locale, content=f"<@{member}>", nonce=f"vpnkeyc{od.id}")
        _post(od.channel_id, reply, od.locale, content=content, nonce=f"vpnkeyc2{od.id}", file=png)
    service.audit(job.conn, None, "key.deliver", order_id=od.id, outcome="ok", data={"where": where})


def _deliver_telegram(conn: Conn, od: Order, k: service.Key) -> None:
    """The key in the member's private chat: the QR code with the link as copyable text in its caption (a
    link too long for a caption follows as its own message). A bot the member blocked is audited and left:
    /myvpn shows the key when they are back."""
    chat = od.chat_id or _account(conn, od.user_id).telegram_id
    if chat is None:
        return
    reply, png = key_reply(k, od)
    with_link = Reply(title=reply.title, body=text(reply.body, "\n\n", code(k.link)), color=reply.color)
    try:
        if len(k.link) <= 700:
            _tg_post(chat, with_link, od.locale, file=png)
        else:
            _tg_post(chat, reply, od.locale, file=png)
            _tg_post(chat, Reply(body=(code(k.link),)), od.locale)
    except Forbidden:
        service.audit(conn, None, "key.deliver", order_id=od.id, outcome="blocked", data={"where": "telegram"})
        return
    service.audit(conn, None, "key.deliver", order_id=od.id, outcome="ok", data={"where": "telegram"})


# --- notices ----------------------------------------------------------------------------------------------------


class Notice(BaseModel):
    order: int
    what: str
    payment: int | None = None
    actor: int | None = None
    reason: str | None = None
    other: int | None = None
    exact: bool | None = None
    by: str | None = None  # Telegram: the deciding admin's name


def notice(job: JobCtx, payload: dict[str, Any]) -> None:
    """What the member or the staff are told, and the order channel opened or locked accordingly."""
    p = Notice.model_validate(payload)
    od = service.order(job.conn, p.order)
    st = service.store(job.conn, od.scope, od.scope_id)
    if st is None:
        return
    member = _member_id(job.conn, od.user_id)
    staff_locale = _staff_locale(st, job.settings)
    if p.what == "timeout":
        if service.cancel(job.conn, od.id, od.user_id, "not paid in time"):
            if od.channel_id:
                close = {"order": od.id, "channel": od.channel_id}
                jobs.enqueue(job.conn, vpn.CLOSE_JOB, close, dedupe_key=f"vpn:close:{od.id}")
            elif od.platform == "telegram":
                late = say(
                    _("⌛ Order #{id} was not paid in time, so it is closed. Start again with /order.", id=od.id)
                )
                _tell_member(job.conn, od, late, nonce=f"vpnlate{od.id}")
        return
    if p.what == "placed":  # a renewal placed on the site: the order and how to pay, where the member ordered
        _tell_member(job.conn, od, vpn.order_message(od, _vpn(job.settings), od.locale), nonce=f"vpnorder{od.id}")
        return
    if p.what in ("rejected", "unlock") and od.channel_id and member:
        _lock(od.channel_id, member, locked=False, order_id=od.id)
    if p.what == "rejected":
        told = say(
            _(
                "❌ The staff could not accept your payment: {reason}\nSend a new screenshot with /pay.",
                reason=p.reason or "",
            )
        )
        _tell_member(job.conn, od, told, nonce=f"vpnrej{p.payment}")
    if p.what in ("rejected", "approved") and p.payment is not None:
        by = Person(
            p.by or "?", p.actor if st.scope == "discord" else None, p.actor if st.scope == "telegram" else None
        )
        _decided(job.conn, st, p.payment, p.what, by if p.actor else None, p.reason, job.settings)
    if p.what == "duplicate":
        flag = say(
            _(
                "⚠️ Order #{id}: the member sent a screenshot already used for order #{other} ({how}). It was refused.",
                id=od.id,
                other=p.other or 0,
                how=_("the same file") if p.exact else _("the same picture, re-saved or cropped"),
            ),
        )
        _staff_post(st, flag, staff_locale)


def _decided(
    conn: Conn, st: Store, payment_id: int, what: str, who: Person | None, reason: str | None, settings: Settings
) -> None:
    """The review message shows the decision and loses its buttons (the picture stays)."""
    pay = service.payment(conn, payment_id)
    if pay.review_channel is None or pay.review_message is None:
        return
    locale = _staff_locale(st, settings)
    by = mention(who) if who else "?"
    line = (
        _("✅ Approved by {who}.", who=by)
        if what == "approved"
        else _("❌ Rejected by {who}: {reason}", who=by, reason=reason or "")
    )
    if st.scope == "telegram":
        _tg_decided(conn, st, pay, line, settings)
        return
    body = discord.message(localized(say(line), locale))
    body["components"] = []
    try:
        msg = _rest().request("GET", f"/channels/{pay.review_channel}/messages/{pay.review_message}").json()
        embeds = msg.get("embeds") or []
        if embeds:
            embeds[0]["footer"] = {"text": (body.get("content") or "")[:2000]}
            body = {"embeds": embeds, "components": []}
    except HTTPError:
        pass
    try:
        _rest().request("PATCH", f"/channels/{pay.review_channel}/messages/{pay.review_message}", json=body)
    except NotFoundError:
        log.info("payment %s: its review message is gone", payment_id)


def _tg_decided(conn: Conn, st: Store, pay: Payment, line: Any, settings: Settings) -> None:
    from ttfd.clients import telegram
    from ttfd.render import telegram as render

    assert pay.review_channel is not None and pay.review_message is not None
    od = service.order(conn, pay.order_id)
    locale = _staff_locale(st, settings)
    review = localized(_review(conn, st, od, pay, settings, decided=line), locale)
    caption = render.message_text(review, limit=render.CAPTION_MAX, locale=locale)
    try:
        telegram.shared().call(
            "editMessageCaption",
            chat_id=pay.review_channel,
            message_id=pay.review_message,
            caption=caption,
            parse_mode="HTML",
            reply_markup={"inline_keyboard": []},
        )
    except HTTPError as exc:  # deleted by someone, or already shows it (a job run twice)
        if exc.retryable:
            raise
        log.info("payment %s: review message not edited: %s", pay.id, escape(str(exc)))


# --- /myvpn ---------------------------------------------------------------------------------------------------


def my_vpn(ctx: Ctx) -> Reply:
    """The person's keys with expiry and traffic (from the panel; shown without it while the panel is down),
    and the newest active key again, as a link and a QR code, only to them."""
    from ttfd.clients import xui

    found = service.keys_of(ctx.conn, ctx.user.id)
    od = service.open_order_of(ctx.conn, ctx.user.id)
    if not found:
        if od is not None:
            return say(
                _(
                    "Your order #{id} is {status}. Your key comes when it is approved.",
                    id=od.id,
                    status=vpn.status_word(od.status),
                ),
                private=True,
            )
        return say(_("You have no VPN key yet. Order one with /order."), private=True)
    fields = []
    for k in found[:5]:
        try:
            used = panel().traffic(k.email)
        except xui.PanelError:
            used = None
        state = vpn.status_word("expired" if k.expires_at <= ctx.now else k.status)
        traffic = (
            _("{used} GB used", used=round((used.up + used.down) / 1024**3, 2))
            if used is not None
            else _("traffic unknown right now")
        )
        fields.append(
            Field(f"#{k.id}", (state, " · ", _("until {until}", until=when(k.expires_at, "datetime")), " · ", traffic))
        )
    newest = next((k for k in found if k.status == "active" and k.expires_at > ctx.now), None)
    if newest is None:
        return Reply(
            title=_("🛡️ Your VPN"), fields=tuple(fields), body=(_("No active key. Order with /order."),), private=True
        )
    reply, png = key_reply(newest, None)
    body = text(reply.body, "\n", code(newest.link))
    if ctx.platform == "telegram":  # a photo's caption has no fields: the keys go first, as lines
        rows = [text(bold(f.name), ": ", *f.value) for f in fields]
        return Reply(title=reply.title, body=lines(*rows, "", body), color=vpn.COLOR, attachment=png)
    return Reply(title=reply.title, body=body, fields=tuple(fields), color=vpn.COLOR, attachment=png, private=True)


# --- the panel's health ------------------------------------------------------------------------------------------


def scheduled(what: str) -> dict[str, Any]:
    """vpn_health: check the panel; after VPN_HEALTH_FAILURES failures in a row new orders pause and the owners
    are told once; the first success resumes them (and says so)."""
    from ttfd.core import db

    if what != "health":
        raise ValueError(what)
    vs = _vpn()
    if not vs.panel_url:
        return {"skipped": "VPN_PANEL_URL is not set"}
    health = panel().health()

    def note(conn: Conn) -> dict[str, Any]:
        down, changed = service.note_health(conn, health.ok, health.detail, vs.health_failures)
        if changed:
            service.audit(conn, None, "panel.health", outcome="down" if down else "up", data={"detail": health.detail})
            jobs.enqueue(conn, vpn.ALERT_JOB, {"down": down, "detail": health.detail[:300]})
        return {"ok": health.ok, "down": down, "changed": changed}

    result: dict[str, Any] = db.run(note, timeout_s=10)
    return result


class Alert(BaseModel):
    down: bool
    detail: str = ""
    findings: list[dict[str, Any]] | None = None  # vpn_reconcile's differences (then nothing is down)


KINDS = {
    "missing": _("a key without its client on the panel"),
    "orphaned": _("a client of ours on the panel without a key"),
    "expiry": _("the panel's expiry differs from ours"),
    "disabled": _("disabled on the panel while paid for"),
}


def _differences(findings: list[dict[str, Any]]) -> Reply:
    rows = [
        text("• ", f"`{f.get('email', '?')}`", " — ", KINDS.get(str(f.get("kind")), str(f.get("kind"))))
        for f in findings
    ]
    return Reply(title=_("🔎 The panel and the store disagree"), body=lines(*rows), color=vpn.COLOR)


def alert(job: JobCtx, payload: dict[str, Any]) -> None:
    """The panel went down (or came back): every store's staff are told, and its owner by private message (a
    Discord server's owner; a Telegram staff group's creator) — closed DMs: the staff message is enough."""
    p = Alert.model_validate(payload)
    for st in service.stores(job.conn):
        locale = _staff_locale(st, job.settings)
        if p.findings is not None:
            _staff_post(st, _differences(p.findings), locale)
            continue
        if st.scope == "telegram":
            _tg_alert(st, p, locale)
            continue
        said = _health_news(p)
        nonce = f"vpnh{job.job_id}"
        with contextlib.suppress(NotFoundError, Forbidden):
            _post(st.review_channel, said, locale, nonce=nonce)
        try:
            owner = int(_rest().request("GET", f"/guilds/{st.scope_id}").json()["owner_id"])
            dm = int(_rest().request("POST", "/users/@me/channels", json={"recipient_id": str(owner)}).json()["id"])
            _post(dm, said, locale, nonce=nonce)
        except (NotFoundError, Forbidden, KeyError, ValueError) as exc:
            log.info("store %s: the owner was not messaged: %s", st.scope_id, escape(str(exc)))


def _health_news(p: Alert) -> Reply:
    if p.down:
        return say(
            _(
                "🚨 The VPN server is not answering: new orders are paused until it does. ({detail})",
                detail=p.detail or "?",
            )
        )
    return say(_("✅ The VPN server answers again: orders are open."))


def _tg_alert(st: Store, p: Alert, locale: str) -> None:
    from ttfd.clients import telegram

    said = _health_news(p)
    with contextlib.suppress(HTTPError):  # the bot was removed from the group: the owner below still hears
        _tg_post(st.review_channel, said, locale)
    try:
        admins = telegram.shared().call("getChatAdministrators", chat_id=st.review_channel)
        owner = next(int(a["user"]["id"]) for a in admins if a.get("status") == "creator")
        _tg_post(owner, said, locale)
    except (HTTPError, StopIteration, KeyError, TypeError, ValueError) as exc:
        log.info("store %s: the owner was not messaged: %s", st.scope_id, escape(str(exc)))


def health_reply(conn: Conn) -> Reply:
    """/vpn health: the panel asked now, and whether new orders are paused."""
    health = panel().health()
    paused = service.panel_down(conn)
    state = _("✅ answering") if health.ok else _("❌ not answering")
    return Reply(
        title=_("🩺 VPN server"),
        fields=(
            Field(_("Panel"), (state,)),
            Field(_("Version"), (health.panel_version or "?",)),
            Field(_("New orders"), (_("paused") if paused else _("open"),)),
        ),
        body=(health.detail,) if not health.ok else (),
        color=vpn.COLOR,
        private=True,
    )


class Dashboard(BaseModel):
    guild: int


def dashboard(job: JobCtx, payload: dict[str, Any]) -> None:
    """Edit the store's revenue message (post it anew if it is gone)."""
    p = Dashboard.model_validate(payload)
    st = service.store(job.conn, "discord", p.guild)
    if st is None:
        return
    locale = _staff_locale(st, job.settings)
    reply = vpn.revenue_reply(job.conn, job.settings.day_tz)
    if st.dashboard_message is not None:
        body = discord.message(localized(reply, locale))
        try:
            _rest().request("PATCH", f"/channels/{st.review_channel}/messages/{st.dashboard_message}", json=body)
            return
        except NotFoundError:
            pass  # deleted by someone: a new one below
    mid = _post(st.review_channel, reply, locale)
    service.set_dashboard(job.conn, st, mid)


# --- after the sale ------------------------------------------------------------------------------------------


class Remind(BaseModel):
    key: int
    days: int  # 0: it has expired


def remind(job: JobCtx, payload: dict[str, Any]) -> None:
    """A key's owner is told it ends soon (3 days, 1 day) or has ended, by private message on Discord."""
    p = Remind.model_validate(payload)
    k = service.key(job.conn, p.key)
    user = _account(job.conn, k.user_id)
    last = service.last_order_of_key(job.conn, k.id)
    locale = negotiate(user.language, last.locale if last else None, default=job.settings.default_locale)
    if p.days:
        said = say(_("⏳ Your VPN key ends {when}. Renew it with /renew to keep it working.", when=when(k.expires_at)))
    else:
        said = say(_("⌛ Your VPN key has ended. Renew it with /renew: the same link starts working again."))
    member = user.discord_id
    if user.telegram_id and (member is None or (last is not None and last.platform == "telegram")):
        try:  # where they last ordered: Telegram
            _tg_post(user.telegram_id, said, locale)
        except Forbidden:
            log.info("key %s: reminder not sent (bot blocked)", k.id)
        service.audit(job.conn, None, "key.remind", outcome="ok", data={"key": k.id, "days": p.days})
        return
    if member is None:
        return
    try:
        dm = int(_rest().request("POST", "/users/@me/channels", json={"recipient_id": str(member)}).json()["id"])
        _post(dm, said, locale, nonce=f"vpnrem{k.id}d{p.days}")
    except Forbidden as exc:
        if exc.code != CLOSED_DMS:
            raise
        log.info("key %s: reminder not sent (DMs closed)", k.id)
    service.audit(job.conn, None, "key.remind", outcome="ok", data={"key": k.id, "days": p.days})


def keys_schedule() -> dict[str, Any]:
    """vpn_keys (hourly): reminders 3 days and 1 day before a key ends, and keys that ended marked expired."""
    from ttfd.core import db

    def work(conn: Conn) -> dict[str, Any]:
        due = service.due_reminders(conn)
        for k, days in due:
            jobs.enqueue(conn, vpn.REMIND_JOB, {"key": k.id, "days": days}, dedupe_key=f"vpn:remind:{k.id}:{days}")
        ended = service.expire_keys(conn)
        for k in ended:
            jobs.enqueue(
                conn,
                vpn.REMIND_JOB,
                {"key": k.id, "days": 0},
                dedupe_key=f"vpn:ended:{k.id}:{int(k.expires_at.timestamp())}",
            )
        return {"reminded": len(due), "expired": len(ended)}

    result: dict[str, Any] = db.run(work, timeout_s=30)
    return result


def reconcile() -> dict[str, Any]:
    """vpn_reconcile (hourly): the panel's clients against our keys — a key without its client, a client of ours
    without a key, expiry or enabled that differ. The staff hear of it when what is found changes."""
    from ttfd.clients import xui
    from ttfd.core import db

    if not _vpn().panel_url:
        return {"skipped": "VPN_PANEL_URL is not set"}
    try:
        clients = {c.email: c for c in panel().list_clients()}
    except xui.PanelError as exc:
        return {"error": str(exc)[:200]}
    now = datetime.now(UTC)

    def work(conn: Conn) -> dict[str, Any]:
        findings: list[dict[str, Any]] = []
        for k in service.live_keys(conn):
            c = clients.pop(k.email, None)
            if c is None:
                findings.append({"kind": "missing", "email": k.email, "key": k.id})
                continue
            ours = int(k.expires_at.timestamp() * 1000)
            if abs(c.expiry_ms - ours) > 60_000:
                findings.append({"kind": "expiry", "email": k.email, "key": k.id, "panel": c.expiry_ms, "ours": ours})
            if k.status == "active" and k.expires_at > now and not c.enable:
                findings.append({"kind": "disabled", "email": k.email, "key": k.id})
        for email in sorted(clients):
            if email.startswith("ttfd-o"):  # ours by name, with no key: a rollback that could not delete it
                findings.append({"kind": "orphaned", "email": email})
        changed = service.note_reconcile(conn, findings)
        if changed and findings:
            jobs.enqueue(conn, vpn.ALERT_JOB, {"down": False, "detail": "", "findings": findings[:20]})
        service.audit(
            conn, None, "panel.reconcile", outcome=f"{len(findings)} differences", data={"findings": findings[:50]}
        )
        return {"clients": len(clients), "differences": len(findings), "reported": changed and bool(findings)}

    result: dict[str, Any] = db.run(work, timeout_s=30)
    return result
