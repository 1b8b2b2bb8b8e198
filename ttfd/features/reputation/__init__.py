"""Reputation: `/rep user [reason]` on Discord and `/rep [reason]` as a reply on Telegram give one person +1,
once per giver → receiver pair per 24 hours, across platforms (a linked account is one person), never to
yourself or a bot; `/rep` alone shows your reputation and the latest reasons; `/repboard` ranks everyone
(paged, your position); `/repcard` draws the reputation card. Reputation shows on /profile and the website."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from ttfd.core import users
from ttfd.core.errors import BadInput, Cooldown, DomainError, NotFound
from ttfd.core.i18n import C_, N_, Msg, _
from ttfd.features.reputation import service
from ttfd.features.reputation.service import REASON_MAX
from ttfd.registry import Feature
from ttfd.ui.actions import Action
from ttfd.ui.commands import ActionHandler, Command, Ctx, Kind, Option, Options, PlatformUser
from ttfd.ui.profile import ProfilePart
from ttfd.ui.reply import Attachment, Button, Field, Reply
from ttfd.ui.text import Person, Span, Text, bold, code, italic, lines, mention, when

PAGE_SIZE = 10
MAX_PAGE = 100_000
HISTORY = 10  # the latest +1s /rep shows
MEDALS = {1: "🥇", 2: "🥈", 3: "🥉"}
COLOR = 0xF5B923
HIDDEN = _("Hidden player")  # how someone who hides their stats appears to everyone else
PRIVATE = _("🔒 This player keeps their stats private.")


class RepTooSoon(Cooldown):
    """The same giver → receiver pair within 24 hours: says when it may give again."""

    def __init__(self, name: str, next_at: datetime, now: datetime) -> None:
        DomainError.__init__(
            self,
            _(
                "You already gave {name} +1 in the last 24 hours. You can again {when}.",
                name=bold(name),
                when=when(next_at),
            ),
        )
        self.retry_after = max(1, round((next_at - now).total_seconds()))


def points(n: int) -> Msg:
    return N_("{n} reputation point", "{n} reputation points", n)


def _person(user: users.User) -> Person:
    return Person(user.name, user.discord_id, user.telegram_id)


def _with_position(total: int, position: int | None) -> Msg:
    if position is None:
        return points(total)
    return N_("{n} reputation point (#{position})", "{n} reputation points (#{position})", total, position=position)


# --- /rep --------------------------------------------------------------------------------------------


def _who(ctx: Ctx) -> Msg:
    if ctx.platform == "telegram":
        return _("Reply to someone's message with /rep [reason] to give them +1 reputation.")
    return _("Pick a user to give +1 reputation to.")


def _reason(raw: Any) -> str | None:
    if raw is None:
        return None
    return " ".join(str(raw).split())[:REASON_MAX] or None  # one line, as typed on either platform


def give(ctx: Ctx, picked: PlatformUser, reason: str | None) -> Reply:
    """+1 from the caller to `picked`'s account (made if they have none yet: anyone may be thanked)."""
    if picked.is_bot:
        raise BadInput(_("Bots don't collect reputation."))
    if picked.platform == ctx.caller.platform and picked.id == ctx.caller.id:
        raise BadInput(_("You can't give reputation to yourself."))
    receiver = users.ensure_user(ctx.conn, picked.platform, picked.id, picked.username, picked.display_name)
    place = ctx.guild_id if ctx.platform == "discord" else ctx.chat_id
    got = service.give(
        ctx.conn,
        ctx.user.id,
        receiver.id,
        reason=reason,
        platform=ctx.platform,
        place_id=place,
        key=ctx.key,
        now=ctx.now,
    )
    if got.status == "self":
        raise BadInput(_("That account is linked to yours: you can't give reputation to yourself."))
    if got.status == "cooldown":
        assert got.next_at is not None
        raise RepTooSoon(receiver.name, got.next_at, ctx.now)
    who = mention(_person(receiver))
    body: list[Text] = [
        (_("{giver} gave {receiver} +1 reputation.", giver=bold(ctx.user.name), receiver=who),),
        (_("They now have {points}.", points=_with_position(got.total, got.position)),),
    ]
    if reason:
        body.append((italic(f"“{reason}”"),))
    return Reply(title=_("⭐ +1 reputation"), body=lines(*body), color=COLOR)


def history(ctx: Ctx) -> Reply:
    """Your reputation, position, how many you gave, and the latest +1s you received with their reasons."""
    s = service.standing(ctx.conn, ctx.user.id, HISTORY)
    rows: list[Text] = []
    for r in s.latest:
        name = bold(r.name) if r.public or r.giver_id == ctx.user.id else Span("bold", HIDDEN)
        if r.reason:
            rows.append((_("+1 from {name} {when}: {reason}", name=name, when=when(r.at), reason=italic(r.reason)),))
        else:
            rows.append((_("+1 from {name} {when}", name=name, when=when(r.at)),))
    if not rows:
        rows.append((_("Nobody has given you reputation yet. Help someone out — and thank others with /rep."),))
    return Reply(
        title=_("⭐ Your reputation: {points}", points=_with_position(s.total, s.position)),
        body=lines(*rows),
        footer=_("You gave {points} · one +1 per person per 24 hours", points=points(s.given)),
        color=COLOR,
    )


def rep(ctx: Ctx, opts: Options) -> Reply:
    picked: PlatformUser | None = opts.get("user")
    reason = _reason(opts.get("reason"))
    if picked is None:
        if reason is not None:
            raise BadInput(_who(ctx))
        return history(ctx)
    return give(ctx, picked, reason)


# --- /repboard -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RepBoardPage(Action):
    """Prev/Next on the reputation board; `owner` (who asked) pages it in place, anyone else gets a copy."""

    prefix = "rpb"
    signed = True
    page: int
    owner: int


def _mine(mine: tuple[int, int] | None) -> Msg:
    if mine is None:
        return _("You are not on this board yet")
    position, value = mine
    return N_(
        "You: #{position} with {n} reputation point",
        "You: #{position} with {n} reputation points",
        value,
        position=position,
    )


def board_reply(ctx: Ctx, page: int, *, edit: bool = False, private: bool = False) -> Reply:
    """One page of the reputation board as every platform shows it, with Prev/Next."""
    view = service.board_page(ctx.conn, min(max(page, 0), MAX_PAGE), ctx.user.id, PAGE_SIZE)
    rows: list[Text] = []
    for e in view.entries:
        name, shown_id = e.shown(ctx.user.id)
        who = bold(name) if shown_id is not None else Span("bold", HIDDEN)
        place = MEDALS.get(e.position) or code(f"#{e.position}")
        rows.append((_("{place} {name} — {score}", place=place, name=who, score=points(e.value)),))
    owner = ctx.user.id

    def go(label: str, to: int, disabled: bool) -> Button:
        return Button(label, RepBoardPage(to, owner), disabled=disabled)

    return Reply(
        title=_("⭐ Reputation"),
        body=lines(*rows) if rows else (_("Nobody has any reputation yet — thank someone with /rep!"),),
        footer=_("Page {page}/{pages} · {mine}", page=view.page + 1, pages=view.pages, mine=_mine(view.mine)),
        color=COLOR,
        rows=(
            (
                go(C_("button", "◀ Prev"), view.page - 1, view.page == 0),
                go(C_("button", "Next ▶"), view.page + 1, view.page >= view.pages - 1),
            ),
        ),
        edit=edit,
        private=private,
    )


def repboard(ctx: Ctx, opts: Options) -> Reply:
    return board_reply(ctx, int(opts.get("page", 1)) - 1)


def on_page(ctx: Ctx, action: RepBoardPage) -> Reply:
    if action.owner == ctx.user.id:
        return board_reply(ctx, action.page, edit=True)
    # Someone else's board: page a private copy instead of changing what everyone sees.
    return board_reply(ctx, action.page, private=True)


# --- /repcard ------------------------------------------------------------------------------------------


def _target(ctx: Ctx, opts: Options) -> users.User:
    other: PlatformUser | None = opts.get("user")
    if other is None or (other.platform == ctx.caller.platform and other.id == ctx.caller.id):
        return ctx.user
    found = users.find_user(ctx.conn, other.platform, other.id)
    if found is None:
        raise NotFound(_("{name} has no TTFD profile yet.", name=bold(other.name)))
    return found


def repcard(ctx: Ctx, opts: Options) -> Reply:
    """Runs in a job (deferred): drawing and uploading the PNG takes longer than an interaction may. Drawn in
    the asker's language (ctx.locale, which the job keeps)."""
    from ttfd.features.profiles.service import load_profile
    from ttfd.features.reputation.rep_card import RepCardData, render_rep_card

    who = _target(ctx, opts)
    user, settings = load_profile(ctx.conn, who.id)
    hidden = not settings.show_stats and user.id != ctx.user.id
    s = service.standing(ctx.conn, user.id, 1)
    shown: str | None = None
    if s.latest:
        first = s.latest[0]
        shown = first.name if first.public or first.giver_id == ctx.user.id else HIDDEN.in_(ctx.locale)
    theme: Literal["dark", "light"] = "light" if settings.theme == "light" else "dark"
    data = RepCardData(
        name=user.name,
        primary_color=settings.primary_color,
        theme=theme,
        hidden=hidden,
        rep=s.total,
        position=s.position,
        given=s.given,
        latest_reason=s.latest[0].reason if s.latest else None,
        latest_from=shown,
        locale=ctx.locale,
    )
    return Reply(
        title=_("⭐ {name} — reputation card", name=user.name),
        body=(PRIVATE,) if hidden else (_with_position(s.total, s.position),),
        attachment=Attachment("rep.png", render_rep_card(data)),
    )


# --- profiles ------------------------------------------------------------------------------------------


def _profile_fields(found: Any) -> tuple[Field, ...]:
    """/profile on Discord and Telegram: the reputation and its position."""
    total, position = (int(found["rep"]), found["position"]) if found else (0, None)
    return (Field(_("Reputation"), (_with_position(total, position),)),)


PROFILE_FIELDS = ProfilePart(service.PROFILE_JSON, _profile_fields)  # read in /profile's one statement

USER = Option("user", Kind.USER, _("Who gets +1 (none: your reputation)"))
REASON = Option("reason", Kind.STRING, _("Why (they will see it)"), max_length=REASON_MAX, rest=True)

FEATURE = Feature(
    name="reputation",
    summary=__doc__ or "",
    commands=(
        Command("rep", _("Give someone +1 reputation, or see yours"), rep, (USER, REASON)),
        Command(
            "repboard",
            _("Top players by reputation"),
            repboard,
            (Option("page", Kind.INTEGER, _("Which page"), min_value=1, max_value=MAX_PAGE),),
            writes=False,
        ),
        Command(
            "repcard",
            _("Your reputation card as an image (or someone else's)"),
            repcard,
            (Option("user", Kind.USER, _("Whose card (default: yours)")),),
            defer=True,
        ),
    ),
    actions=(ActionHandler(RepBoardPage, on_page, writes=False),),
    merge=service.merge_rows,
    migrations=("0026_reputation.sql",),
    profile_fields=PROFILE_FIELDS,
)
