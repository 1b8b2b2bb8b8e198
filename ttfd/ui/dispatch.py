"""One path for every command, button press and chat message, whichever platform it came from.

An entrypoint verifies and parses its platform's payload into an `Event` (who, where, what: a command with
its options, a packed action, or message text) and hands it here with its platform's renderer. Writes go
through `idempotency.once` (claim, work, store the rendered answer, refusals included); read-only commands
skip the claim and run in one short transaction. A refusal (DomainError) reads the same on every platform.
A deferred command answers "working…" at once and a job finishes it (ttfd.ui.deferred).

A Telegram group message that is a command for this bot first passes the guards (automod): what a guard
takes (deleted, warned) never reaches the command, and the guard's own writes (its flood and repeat
counters) stand whatever the command then does, refusals included.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import astuple, dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from ttfd.core import db, inbound, jobs, metrics
from ttfd.core.errors import BadInput, DomainError, Forbidden
from ttfd.core.failures import Failure, classify
from ttfd.core.i18n import _, negotiate
from ttfd.core.idempotency import once
from ttfd.core.ledger import utc_now
from ttfd.core.settings import get_settings
from ttfd.ui.actions import STALE, prefix_of
from ttfd.ui.commands import (
    GUILD_ONLY,
    ChannelRef,
    Command,
    Ctx,
    FileRef,
    MessageHandler,
    PlatformUser,
    RoleRef,
    require_permission,
)
from ttfd.ui.reply import Reply, failed, localized
from ttfd.ui.text import text

if TYPE_CHECKING:
    from ttfd.registry import Registry

DEFERRED_JOB = "ui.deferred"
NOTHING = Reply()  # a handled event that answers nothing (a group message earning XP)
_NEEDS_WRITE = object()  # a read-only command whose caller must first be created or updated


@dataclass
class Event:
    """A verified, parsed inbound event in neutral terms."""

    key: str
    caller: inbound.Caller
    who: PlatformUser
    command: Command | None = None
    options: dict[str, Any] = field(default_factory=dict)
    action: str | None = None  # a packed action from a button or menu
    message: str | None = None  # the chat text of a Telegram group message (a command's too: guards read it)
    problem: DomainError | None = None  # the platform edge could not parse it: answer this refusal
    permissions: int = 0
    channel_id: int | None = None
    chat_id: int | None = None
    chat_type: str | None = None
    reply_to: PlatformUser | None = None
    component: bool = False  # a button press: an `edit` reply updates the pressed message
    parsed: Any = None  # the unpacked action, once validated
    target: dict[str, Any] = field(default_factory=dict)  # where a deferred answer goes later
    inputs: dict[str, str] = field(default_factory=dict)  # a submitted modal's text fields (Discord)
    roles: tuple[int, ...] = ()  # the Discord member's role ids
    urls: tuple[str, ...] = ()  # Telegram: the message's link entities (text_link targets, marked urls)
    edited: bool = False  # Telegram: a group message edited after it was sent (only the guards read it)
    locale: str | None = None  # the language the platform says the person uses (Discord locale, Telegram's)
    place_locale: str | None = None  # Discord: the server's language (for what is posted to a channel)
    said_in: str | None = None  # the language this event is answered in, once known (see `speak`)

    @property
    def platform(self) -> Any:
        return self.caller.platform


class Renderer(Protocol):
    """A platform's way of turning replies into what it answers (and stores for redeliveries)."""

    def answer(self, reply: Reply, event: Event) -> Any: ...

    def deferred(self, event: Event, job_id: int, private: bool) -> Any: ...


@dataclass(frozen=True)
class Later:
    """Returned by a handler that decided to finish in a job: `kind`'s handler returns the final Reply."""

    kind: str
    payload: dict[str, Any]
    private: bool = False


Outcome = Reply | Later


def speak(event: Event, chosen: str | None = None) -> str:
    """The language to answer in: the person's own choice, else what their platform says, else the
    deployment's default. Work queued for later (`target`) keeps it."""
    default = get_settings().default_locale
    event.said_in = negotiate(chosen, event.locale, default=default)
    event.target["locale"] = event.said_in
    return event.said_in


def _ctx(event: Event, conn: db.Conn, arrival: inbound.Arrival, registry: Registry, now: datetime) -> Ctx:
    locale = speak(event, arrival.user.language)
    return Ctx(
        conn=conn,
        settings=get_settings(),
        platform=event.platform,
        user=arrival.user,
        caller=event.who,
        key=event.key,
        now=now,
        guild_id=event.caller.guild_id,
        channel_id=event.channel_id,
        chat_id=event.chat_id,
        chat_type=event.chat_type,
        permissions=event.permissions,
        created=arrival.created,
        reply_to=event.reply_to,
        registry=registry,
        target=event.target,
        inputs=event.inputs,
        roles=event.roles,
        urls=event.urls,
        edited=event.edited,
        locale=locale,
        place_locale=negotiate(event.place_locale, default=locale),
        platform_locale=event.locale,
    )


def check_command(command: Command, event: Event) -> dict[str, Any]:
    """Where and by whom a command may run, then its options against their declarations."""
    platform = event.platform
    if platform not in command.platforms:
        raise BadInput(_("/{command} is not available here.", command=command.path))
    if platform == "telegram" and event.chat_type not in command.chats:
        if command.chats == ("private",):
            raise BadInput(_("Use /{command} in a private chat with me.", command=command.tg_name))
        raise BadInput(_("Use /{command} in a group.", command=command.tg_name))
    if command.guild_only and platform == "discord" and event.caller.guild_id is None:
        raise Forbidden(GUILD_ONLY)
    if command.permission and platform == "discord":
        require_permission(event.caller.guild_id, event.permissions, *command.permission)
    elif command.permission and not command.chat_admin:  # a bit Telegram cannot show: never unchecked
        raise Forbidden(_("/{command} is only for Discord servers.", command=command.tg_name))
    try:
        options = command.check(event.options)
        return command.precheck(options, platform, event.caller.guild_id) if command.precheck else options
    except BadInput as exc:  # on Telegram, options are typed by hand: show how
        if platform == "telegram" and exc.usage is None:
            raise BadInput(exc.reason, command.usage("telegram")) from None
        raise


def validate(event: Event, registry: Registry) -> None:
    """Everything that can be refused without the database, refused before it is touched: a malformed or
    misplaced request changes nothing, not even the caller's account or a stored answer."""
    if event.problem is not None:
        raise event.problem
    if event.command is not None:
        event.options = check_command(event.command, event)
    elif event.action is not None:
        entry = registry.actions.get(prefix_of(event.action))
        if entry is None:
            raise BadInput(STALE)
        event.parsed = entry.action_type.unpack(event.action)


def _handle(event: Event, ctx: Ctx, registry: Registry) -> Outcome:
    if event.command is not None:
        if event.command.defer:
            payload = {"command": event.command.path, "options": encode_options(event.options)}
            return Later(DEFERRED_JOB, payload, private=event.command.private)
        return event.command.handler(ctx, event.options)
    if event.action is not None:
        entry = registry.actions[prefix_of(event.action)]
        if entry.telegram_defer and event.platform == "telegram":
            return Later(DEFERRED_JOB, {"action": event.action})
        return entry.handler(ctx, event.parsed)
    # In order until one answers: automod may take a message (deleted, no XP) before activity counts it. An
    # edited message is not a new one: only the guards read it.
    for handler in registry.messages:
        if event.edited and not handler.guard:
            continue
        if event.chat_type in handler.chats and (answer := handler.handler(ctx, event.message or "")) is not None:
            return answer
    return NOTHING


def with_notes(conn: db.Conn, ctx: Ctx, reply: Reply, registry: Registry) -> Reply:
    """What else this write did for the person (an achievement unlocked), told in its own reply."""
    notes = [note for hook in registry.reply_notes if (note := hook(conn, ctx.user.id, ctx.platform))]
    if not notes:
        return reply
    return replace(reply, body=text(reply.body, *(text("\n\n", n) for n in notes)))


def guards(event: Event, registry: Registry) -> tuple[MessageHandler, ...]:
    """The guards a command event passes before its command runs: those watching its chat, when it carries
    the message's text (a Telegram group; never a private chat or Discord)."""
    if event.command is None or event.message is None:
        return ()
    return tuple(h for h in registry.messages if h.guard and event.chat_type in h.chats)


def writes(event: Event, registry: Registry) -> bool:
    """Whether the event may change anything (then it is claimed once and its answer stored)."""
    if event.command is not None:
        # A guarded command writes even when the command itself only reads: the guards count the message.
        return event.command.writes or event.command.defer or bool(guards(event, registry))
    if event.action is not None:
        entry = registry.actions.get(prefix_of(event.action))
        return bool(entry and (entry.writes or (entry.telegram_defer and event.platform == "telegram")))
    return event.message is not None


@metrics.commands  # Commands and CommandLatency per event (ttfd.core.metrics)
def dispatch(event: Event, registry: Registry, renderer: Renderer, *, timeout_s: float, ttl_s: int = 86400) -> Any:
    """Run the event and return the platform's answer (JSON); see the module docstring."""
    now = utc_now()

    def finish(conn: db.Conn, ctx: Ctx, outcome: Outcome, wrote: bool = False) -> Any:
        if wrote and isinstance(outcome, Reply) and not outcome.empty:
            outcome = with_notes(conn, ctx, outcome, registry)
        if isinstance(outcome, Later):
            payload = {**outcome.payload, "event": encode_event(event, ctx.user.id), "reply_to": event.target}
            parked = event.platform == "telegram"  # released once the "working…" message exists
            job_id = jobs.enqueue(conn, outcome.kind, payload, delay_s=jobs.PARKED_S if parked else 0)
            assert job_id is not None
            return renderer.deferred(event, job_id, outcome.private)
        return renderer.answer(localized(outcome, ctx.locale), event)

    def refuse(exc: DomainError) -> Any:
        return answer_failure(classify(exc), event, renderer)

    guarded = guards(event, registry)
    held: DomainError | None = None  # a guarded command's refusal, answered only if no guard takes the message
    try:
        validate(event, registry)
    except DomainError as exc:
        if not guarded:
            return refuse(exc)
        held = exc  # `/coinflip so bad` must still be seen by automod before it is refused

    def read(conn: db.Conn) -> Any:
        arrival = inbound.identify(conn, event.caller)
        if arrival is None:
            return _NEEDS_WRITE
        ctx = _ctx(event, conn, arrival, registry, now)
        return finish(conn, ctx, _handle(event, ctx, registry))

    if not writes(event, registry):
        # Read-only: no claim, no transaction; a redelivery recomputes the same answer. A caller the read
        # cannot take as they are (first contact, new names, a stale membership) goes the way of writes.
        try:
            answer = db.read(read, timeout_s=timeout_s)
        except DomainError as exc:
            return refuse(exc)
        if answer is not _NEEDS_WRITE:
            return answer

    def work(conn: db.Conn, arrival: inbound.Arrival) -> Any:
        ctx = _ctx(event, conn, arrival, registry, now)
        if not guarded:
            return finish(conn, ctx, _handle(event, ctx, registry), wrote=True)
        for guard in guarded:
            if (taken := guard.handler(ctx, event.message or "")) is not None:
                return finish(conn, ctx, taken, wrote=True)
        if held is not None:
            return refuse(held)
        try:
            with conn.transaction():  # a savepoint: a refusal rolls back the command, not the guards' counting
                return finish(conn, ctx, _handle(event, ctx, registry), wrote=True)
        except DomainError as exc:
            return refuse(exc)

    return once(
        event.key,
        lambda conn: inbound.begin(conn, event.key, event.caller, ttl_s),
        work,
        refuse,
        timeout_s=timeout_s,
        ttl_s=ttl_s,
    )


def answer_failure(failure: Failure, event: Event, renderer: Renderer) -> Any:
    """What the platform is told about a failure (ttfd.core.failures.classify), in the event's language: a
    refusal stored for redeliveries, or — from the entrypoint, nothing stored — the busy or generic words."""
    metrics.note(metrics.outcome_of(status=failure.status))  # a refusal answered in words is not "ok"
    return renderer.answer(localized(failed(failure), event.said_in or speak(event)), event)


# --- what a deferred command carries into its job ----------------------------------------------------


def encode_options(opts: dict[str, Any]) -> dict[str, Any]:
    """Option values as JSON (users, roles and channels tagged with their type)."""
    out: dict[str, Any] = {}
    for name, value in opts.items():
        if isinstance(value, PlatformUser):
            out[name] = {"$user": [value.platform, value.id, value.username, value.display_name]}
        elif isinstance(value, RoleRef):
            out[name] = {"$role": [value.id, value.name, value.permissions, value.managed]}
        elif isinstance(value, ChannelRef):
            out[name] = {"$channel": [value.id, value.name]}
        elif isinstance(value, FileRef):
            out[name] = {"$file": list(astuple(value))}
        else:
            out[name] = value
    return out


def decode_options(raw: dict[str, Any]) -> dict[str, Any]:
    decoders: dict[str, Callable[..., Any]] = {
        "$user": PlatformUser,
        "$role": RoleRef,
        "$channel": ChannelRef,
        "$file": FileRef,
    }
    out: dict[str, Any] = {}
    for name, value in raw.items():
        tag = next(iter(value), None) if isinstance(value, dict) and len(value) == 1 else None
        out[name] = decoders[tag](*value[tag]) if tag in decoders else value
    return out


def encode_event(event: Event, user_id: int) -> dict[str, Any]:
    c = event.caller
    return {
        "key": event.key,
        "user_id": user_id,
        "caller": [c.platform, c.ext_id, c.username, c.display_name, c.guild_id],
        "permissions": event.permissions,
        "channel_id": event.channel_id,
        "chat_id": event.chat_id,
        "chat_type": event.chat_type,
        "locale": event.said_in,
        "place_locale": event.place_locale,
    }
