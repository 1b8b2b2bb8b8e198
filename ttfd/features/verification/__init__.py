"""Verification. Discord: /setup verification posts a panel whose Verify button gives a role (a job calls
Discord), optionally after a captcha: a code drawn in a picture, typed into a modal, with a few tries and
a per-person rate limit. The role is checked against Discord's own rules (the invoker's and the bot's
highest role, Manage Roles) when configured and again when given.
Telegram: a join request to a group that asks for approval gets a captcha in a private chat; solving it
approves the request, failing it or letting it time out (the `verification_expire` schedule) declines it.

Texts: the panel is said in the server's language (it is posted for everyone); what answers a press, the
captcha and its outcome in the person's own; a join request's captcha in the applicant's (their Telegram
language, carried by the job that sends it)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ttfd.core import db, jobs, ratelimit
from ttfd.core.db import Conn
from ttfd.core.errors import BadInput, DomainError, Forbidden, NotFound
from ttfd.core.i18n import C_, N_, Msg, _
from ttfd.features.verification import service
from ttfd.features.verification.service import JoinRequest, VerificationSettings
from ttfd.registry import Feature, Registry, Schedule
from ttfd.ui.actions import STALE, Action
from ttfd.ui.commands import ActionHandler, ChannelRef, Command, Ctx, Kind, MessageHandler, Option, Options, RoleRef
from ttfd.ui.permissions import MANAGE_ROLES, grantable_option
from ttfd.ui.reply import Attachment, Button, Modal, Reply, TextInput, localized, say
from ttfd.ui.text import Span, bold, channel, lines, role, text, when

GRANT_JOB, DM_JOB, DECIDE_JOB = "verification.grant", "verification.tg_dm", "verification.tg_decide"
CODE_JOB = "verification.code"  # draws a captcha's picture into the private answer
JOIN_REQUEST = "chat_join_request"  # the chat type Telegram join requests arrive as (webhooks/telegram/routing)
COLOR = 0x57F287
ANSWER = "answer"  # the modal's one text input


def _settings(ctx: Ctx) -> VerificationSettings:
    return ctx.settings.section(VerificationSettings)


def _minutes(seconds: float) -> int:
    return max(1, math.ceil(seconds / 60))


VERIFY = C_("button", "Verify")
ENTER = C_("button", "Enter the code")


def _button(label: Msg) -> Span:
    """A button named in a text, as its label reads in the reader's language."""
    return Span("bold", label)


# --- Discord: the panel ----------------------------------------------------------------------------------

# Why a verification role may not carry power (check_grantable's refusal names what the role may not grant).
WHAT = _("Verification gives this role to anyone who passes it")
ANSWER_MAX = 10  # a code is 5 characters; a few spaces are forgiven, anything longer is not an answer


@dataclass(frozen=True)
class VerifyPress(Action):
    """The panel's Verify button: which server and role come from where it is pressed and its config."""

    prefix = "vfy"


@dataclass(frozen=True)
class VerifyEnter(Action):
    """The captcha picture's button, which opens the modal (signed: the challenge cannot be swapped)."""

    prefix = "vfe"
    signed = True
    challenge: str


@dataclass(frozen=True)
class VerifyAnswer(Action):
    """The captcha modal's submit: only the challenge's random id (the code stays in Postgres)."""

    prefix = "vfa"
    signed = True
    challenge: str


def panel_reply(captcha: bool, role_id: int) -> Reply:
    """The panel (posted for everyone: said in the server's language where it is posted)."""
    if captcha:
        body = _(
            "Press {button} and type the code from a picture to get {role}.", button=_button(VERIFY), role=role(role_id)
        )
    else:
        body = _(
            "Press {button} to get {role} and see the rest of the server.", button=_button(VERIFY), role=role(role_id)
        )
    return Reply(
        title=_("✅ Verification"),
        body=(body,),
        color=COLOR,
        rows=((Button(VERIFY, VerifyPress(), style="success"),),),
    )


def setup_verification(ctx: Ctx, opts: Options) -> Reply:
    """Deferred: runs in a job, which asks Discord about the server (may the invoker give this role, may I?)
    and posts the panel inside its transaction; any refusal rolls the configuration back with it."""
    from ttfd.features.verification import calls

    assert ctx.guild_id is not None
    picked: RoleRef = opts["role"]
    where: ChannelRef = opts["channel"]
    calls.check_role(ctx.conn, ctx.guild_id, picked.id, invoker_id=ctx.caller.id)
    captcha = bool(opts.get("captcha", False))
    service.set_panel(ctx.conn, ctx.guild_id, where.id, picked.id, captcha, ctx.caller.id)
    message_id = calls.post_panel(where.id, localized(panel_reply(captcha, picked.id), ctx.place_locale))
    service.panel_posted(ctx.conn, ctx.guild_id, message_id)
    # The button as the panel shows it: in the server's language.
    values = {"channel": channel(where.id), "button": bold(VERIFY.in_(ctx.place_locale)), "role": role(picked.id)}
    if captcha:
        done = _(
            "✅ Verification panel posted in {channel}: members who press {button} and type the code from a picture "
            "get {role}.",
            **values,
        )
    else:
        done = _("✅ Verification panel posted in {channel}: members who press {button} get {role}.", **values)
    return Reply(body=(done,), private=True)


def _grant(ctx: Ctx, panel: service.Panel, intro: Msg | None = None) -> Reply:
    """Queue the role (once: a grant already on its way is not queued again); the job edits this answer."""
    assert ctx.guild_id is not None
    if not service.claim_grant(ctx.conn, ctx.guild_id, ctx.caller.id, panel.role_id):
        return say(_("⏳ Your role is already on its way."), private=True)
    payload = {"guild_id": ctx.guild_id, "discord_id": ctx.caller.id, "role_id": panel.role_id}
    jobs.enqueue(ctx.conn, GRANT_JOB, {**payload, "reply_to": ctx.target})
    giving = _("⏳ Giving you {role}…", role=role(panel.role_id))
    return say(intro, " " if intro else None, giving, private=True)


def _panel(ctx: Ctx) -> service.Panel:
    if ctx.platform != "discord" or ctx.guild_id is None:
        raise Forbidden(_("This button only works in a Discord server."))
    panel = service.panel(ctx.conn, ctx.guild_id)
    if panel is None:
        raise NotFound(_("Verification is not set up in this server any more."))
    return panel


def _not_locked_out(ctx: Ctx, s: VerificationSettings) -> None:
    """Refuse while the wrong answers of the window are used up (read under the person's lock on writes)."""
    assert ctx.guild_id is not None
    failed, wait = service.failures(ctx.conn, s, ctx.guild_id, ctx.caller.id)
    if failed >= s.captcha_tries:
        raise DomainError(
            N_(
                "Too many wrong answers. Try again in {n} minute.",
                "Too many wrong answers. Try again in {n} minutes.",
                _minutes(wait),
            )
        )


def on_press(ctx: Ctx, action: VerifyPress) -> Reply:
    """Verify: the role at once, or (captcha) a new code whose picture a job draws into this private answer:
    an interaction's answer is JSON and cannot carry a file, and Pillow stays off this path."""
    panel = _panel(ctx)
    assert ctx.guild_id is not None
    s = _settings(ctx)
    limit = ratelimit.hit(ctx.conn, f"verify:{ctx.guild_id}:{ctx.caller.id}", s.press_limit, s.press_window_s)
    if not limit.allowed:
        raise DomainError(_("Slow down: press {button} again in {n} s.", button=_button(VERIFY), n=limit.retry_after_s))
    if panel.role_id in ctx.roles:
        return say(_("✅ You are already verified: you have {role}.", role=role(panel.role_id)), private=True)
    if not panel.captcha:
        return _grant(ctx, panel)
    service.lock_person(ctx.conn, ctx.guild_id, ctx.caller.id)
    _not_locked_out(ctx, s)
    challenge = service.new_challenge(ctx.conn, s, ctx.guild_id, ctx.caller.id)
    jobs.enqueue(ctx.conn, CODE_JOB, {"challenge": challenge, "reply_to": ctx.target})
    return say(_("🧩 I am drawing a code for you, and it will appear here in a moment."), private=True)


def code_reply(challenge: str, png: bytes, expires_at: datetime) -> Reply:
    """The picture and the button that opens the modal (a modal cannot show a picture itself)."""
    return Reply(
        title=_("🧩 Verification"),
        body=lines(
            _("Press {button} and type the letters and digits you see in the picture.", button=_button(ENTER)),
            _("Capital or small letters both work."),
            _("This code stops working {when}.", when=when(expires_at)),
        ),
        color=COLOR,
        rows=((Button(ENTER, VerifyEnter(challenge), style="primary"),),),
        attachment=Attachment("code.png", png),
        private=True,
    )


def _open_challenge(ctx: Ctx, challenge_id: str, *, lock: bool = False) -> service.Challenge:
    """The caller's own challenge in this server, still open and in time; otherwise a refusal that says why."""
    found = service.challenge(ctx.conn, challenge_id, lock=lock)
    if found is None:
        raise BadInput(STALE)
    if found.guild_id != ctx.guild_id or found.discord_id != ctx.caller.id:
        raise Forbidden(_("This code was someone else's. Press {button} yourself.", button=_button(VERIFY)))
    _not_locked_out(ctx, _settings(ctx))
    if found.status != "open":
        raise DomainError(_("You answered this code already. Press {button} for a new one.", button=_button(VERIFY)))
    if found.past:
        raise DomainError(_("This code expired. Press {button} for a new one.", button=_button(VERIFY)))
    return found


def on_enter(ctx: Ctx, action: VerifyEnter) -> Reply:
    """Enter the code: the modal, while the code is open (read-only: opening it decides nothing)."""
    _panel(ctx)
    _open_challenge(ctx, action.challenge)
    field = TextInput(ANSWER, _("The code in the picture"), placeholder=_("Letters and digits"), max_length=ANSWER_MAX)
    return Reply(modal=Modal(_("Verification"), VerifyAnswer(action.challenge), (field,)))


def on_answer(ctx: Ctx, action: VerifyAnswer) -> Reply:
    """A modal submitted. Refusals (a stale, foreign or malformed form, or the tries used up) change nothing;
    a wrong answer is an answer, not a refusal: it is recorded (and counts against the tries) and told.
    The person's lock comes first: answers sent at once are decided one after another, each seeing the
    wrong answers before it, so held modals cannot outrun the limit."""
    panel = _panel(ctx)
    assert ctx.guild_id is not None
    given = ctx.inputs.get(ANSWER)
    if set(ctx.inputs) != {ANSWER} or given is None:
        raise BadInput(_("That form is not this verification's. Press {button} again.", button=_button(VERIFY)))
    if len(given) > ANSWER_MAX:
        raise BadInput(_("That answer is far too long, because the code has only five characters."))
    s = _settings(ctx)
    service.lock_person(ctx.conn, ctx.guild_id, ctx.caller.id)
    challenge = _open_challenge(ctx, action.challenge, lock=True)
    solved = service.normalize(given) == challenge.answer
    service.answered(ctx.conn, action.challenge, solved)
    if solved:
        if panel.role_id in ctx.roles:
            return say(_("✅ Correct — and you already have {role}.", role=role(panel.role_id)), private=True)
        return _grant(ctx, panel, _("✅ Correct!"))
    failed, wait = service.failures(ctx.conn, s, ctx.guild_id, ctx.caller.id)
    left = s.captcha_tries - failed
    if left >= 1:
        wrong = N_(
            "❌ That is not right, and you have {n} try left. Press {button} for a new code.",
            "❌ That is not right, and you have {n} tries left. Press {button} for a new code.",
            left,
            button=_button(VERIFY),
        )
        return say(wrong, private=True)
    service.expire_open(ctx.conn, ctx.guild_id, ctx.caller.id)
    last = N_(
        "❌ That is not right, and that was your last try. Try again in {n} minute.",
        "❌ That is not right, and that was your last try. Try again in {n} minutes.",
        _minutes(wait),
    )
    return say(last, private=True)


# --- Telegram: join requests -------------------------------------------------------------------------------


@dataclass(frozen=True)
class JoinPick(Action):
    """A picture tapped in the private captcha of a join request (signed: request and round can't be swapped)."""

    prefix = "vjp"
    signed = True
    request: int
    round: int
    pick: int


THE_GROUP = _("the group")  # a join request's chat without a title


def _chat(req: JoinRequest) -> Span:
    return Span("bold", req.chat_title or THE_GROUP)


def captcha_reply(req: JoinRequest, note: Msg | None = None, *, edit: bool = False) -> Reply:
    """The captcha: tap the named picture among six (the answer's position lives in Postgres)."""
    names = service.PICTURES
    buttons = tuple(Button(names[p][0], JoinPick(req.id, req.round, i)) for i, p in enumerate(req.choices))
    ask = _(
        "🛡️ To join {chat}, show you are human: tap the {picture}. Your request waits until {time}.",
        chat=_chat(req),
        picture=Span("bold", names[req.choices[req.answer]][1]),
        time=when(req.expires_at, "datetime"),
    )
    return Reply(
        body=text((note, "\n") if note else None, ask),
        rows=(buttons[:3], buttons[3:]),
        edit=edit,
    )


def on_join_request(ctx: Ctx, _: str) -> Reply | None:
    """A chat_join_request (routing gives it this chat type; the target is the applicant's private chat):
    store it with its captcha and queue the private message after commit."""
    if ctx.chat_type != JOIN_REQUEST or ctx.chat_id is None:
        return None
    user_chat = int(ctx.target.get("chat_id") or ctx.caller.id)
    title = str(ctx.target.get("chat_title") or "")
    request_id = service.open_join(
        ctx.conn, _settings(ctx), ctx.chat_id, title, ctx.caller.id, user_chat, ctx.now, ctx.locale
    )
    if request_id is not None:  # the captcha is said in the applicant's language (their Telegram's)
        payload = {"request": request_id, "locale": ctx.locale}
        jobs.enqueue(ctx.conn, DM_JOB, payload, dedupe_key=f"verify:join:{request_id}:dm")
    return Reply()  # nothing to answer in the group


def decide(conn: Conn, req: JoinRequest, status: service.Decision, reason: str, *, wrong: bool = False) -> bool:
    """Decide once and queue the Bot API call (approve/decline) for after the commit."""
    if not service.decide(conn, req.id, status, reason, wrong=wrong):
        return False
    payload = {"request": req.id, "chat_id": req.chat_id, "user_id": req.telegram_id, "approve": status == "approved"}
    jobs.enqueue(conn, DECIDE_JOB, payload, dedupe_key=f"verify:join:{req.id}:decide")
    return True


def on_pick(ctx: Ctx, action: JoinPick) -> Reply:
    req = service.join_request(ctx.conn, action.request, lock=True)
    if req is None or ctx.platform != "telegram":
        raise BadInput(STALE)
    if req.telegram_id != ctx.caller.id:
        raise Forbidden(_("This captcha is someone else's."))
    chat = _chat(req)
    if req.status == "approved":
        raise DomainError(_("Your request to join {chat} was approved already.", chat=chat))
    if req.status != "pending":
        raise DomainError(_("Your request to join {chat} was declined already.", chat=chat))
    if req.past:
        raise DomainError(_("Time is up for this captcha; ask to join again."))
    if action.round != req.round or not 0 <= action.pick < len(req.choices):
        raise BadInput(STALE)
    if action.pick == req.answer:
        decide(ctx.conn, req, "approved", "solved")
        return say(_("✅ Thank you! Your request to join {chat} is approved.", chat=chat), edit=True)
    s = _settings(ctx)
    if req.attempts + 1 >= s.join_tries:
        decide(ctx.conn, req, "declined", "failed", wrong=True)
        return say(_("❌ That was not it, and that was your last try: your request was declined."), edit=True)
    service.retry_join(ctx.conn, req.id)
    fresh = service.join_request(ctx.conn, req.id)
    assert fresh is not None
    left = s.join_tries - fresh.attempts
    note = N_("❌ Not that one — {n} try left.", "❌ Not that one — {n} tries left.", left)
    return captcha_reply(fresh, note, edit=True)


def verification_expire(registry: Registry) -> dict[str, Any]:
    """Every minute: decline join requests past their deadline, each exactly once (a conditional UPDATE
    claims them; a second run finds nothing), and queue the declines."""

    def work(conn: Conn) -> list[int]:
        ids = service.expire_due(conn)
        for request_id in ids:
            req = service.join_request(conn, request_id)
            assert req is not None
            payload = {"request": req.id, "chat_id": req.chat_id, "user_id": req.telegram_id, "approve": False}
            jobs.enqueue(conn, DECIDE_JOB, payload, dedupe_key=f"verify:join:{req.id}:decide")
        return ids

    return {"declined": len(db.run(work, timeout_s=db.BACKGROUND_TIMEOUT_S))}


FEATURE = Feature(
    name="verification",
    summary=__doc__ or "",
    commands=(
        Command(
            "verification",
            _("Post a Verify panel that gives a role (optionally after a captcha)"),
            setup_verification,
            (
                Option("channel", Kind.CHANNEL, _("Where to post the panel"), required=True, channel_types=(0, 5)),
                Option("role", Kind.ROLE, _("The role verified members get"), required=True),
                Option("captcha", Kind.BOOLEAN, _("Ask for a code shown in a picture first (default: no)")),
            ),
            platforms=("discord",),
            group="setup",
            defer=True,
            private=True,
            guild_only=True,
            permission=(MANAGE_ROLES, "Manage Roles"),
            precheck=grantable_option(WHAT),
        ),
    ),
    actions=(
        ActionHandler(VerifyPress, on_press),
        ActionHandler(VerifyEnter, on_enter, writes=False),
        ActionHandler(VerifyAnswer, on_answer),
        ActionHandler(JoinPick, on_pick),
    ),
    messages=(MessageHandler("verification.join_request", on_join_request, chats=(JOIN_REQUEST,)),),
    schedules=(
        Schedule("verification_expire", "* * * * *", verification_expire, "decline unsolved Telegram join requests"),
    ),
    jobs={
        GRANT_JOB: "ttfd.features.verification.calls:grant_role",
        CODE_JOB: "ttfd.features.verification.calls:show_code",
        DM_JOB: "ttfd.features.verification.calls:send_captcha",
        DECIDE_JOB: "ttfd.features.verification.calls:decide_join",
    },
    purges={"verification": service.purge},
    settings=VerificationSettings,
    migrations=("0013_verification.sql", "0020_join_request_locale.sql"),
)
