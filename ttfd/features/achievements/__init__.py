"""Achievements: milestones (first daily, streaks, ranks, games, a purchase, every platform, messages, a
season's top ten) unlocked once per account in the transaction that reached them, each paying its reward
through the ledger. The reply that unlocked one says so; Telegram gets a notice when it happened elsewhere.
/achievements lists them; profiles show them (a badge grid on the site)."""

from __future__ import annotations

from typing import Any

from ttfd.core import db, jobs, users, wake
from ttfd.core.db import Conn
from ttfd.core.i18n import N_, Msg, _, listing, negotiate
from ttfd.core.settings import get_settings
from ttfd.features import profiles
from ttfd.features.achievements import service
from ttfd.registry import Feature
from ttfd.ui.commands import Command, Ctx, Kind, Option, Options
from ttfd.ui.profile import ProfilePart
from ttfd.ui.reply import Field, Reply
from ttfd.ui.text import Span, Text, lines

COLOR = 0xE67E22


def _reward(coins: int, xp: int) -> Msg | None:
    """ "+25 coins · +10 XP" (None: no reward)."""
    if coins and xp:
        return N_("+{n} coin · +{xp} XP", "+{n} coins · +{xp} XP", coins, xp=xp)
    if coins:
        return N_("+{n} coin", "+{n} coins", coins)
    return _("+{xp} XP", xp=xp) if xp else None


def _badge(icon: str, name: str) -> Span:
    """ "🎲 Beginner's luck" in bold, the name in the reader's language."""
    return Span("bold", listing((icon, name), " "))


def achievements(ctx: Ctx, opts: Options) -> Reply:
    who = profiles.target(ctx, opts)
    if hidden := profiles.private_reply(ctx, who):
        return hidden
    all_ = service.catalog(ctx.conn, who.id)
    rows: list[Text] = []
    for a in all_:
        if a.unlocked:
            name = Span("bold", a.shown_name)
            rows.append((_("{icon} {name} — {description}", icon=a.icon, name=name, description=a.shown_description),))
        elif a.hidden:
            rows.append((_("🔒 ??? — a secret achievement"),))
        elif reward := _reward(a.reward_coins, a.reward_xp):
            locked = _(
                "🔒 {name} — {description} ({reward})",
                name=a.shown_name,
                description=a.shown_description,
                reward=reward,
            )
            rows.append((locked,))
        else:
            rows.append((_("🔒 {name} — {description}", name=a.shown_name, description=a.shown_description),))
    got = sum(a.unlocked for a in all_)
    if who.id == ctx.user.id:
        title = _("🏅 Your achievements — {got}/{total}", got=got, total=len(all_))
    else:
        title = _("🏅 {name}'s achievements — {got}/{total}", name=who.name, got=got, total=len(all_))
    return Reply(title=title, body=lines(*rows), color=COLOR)


def note(conn: Conn, user_id: int, platform: str) -> Text:
    """Achievements this request unlocked, for the end of its reply (asked only when SQL said one did)."""
    if not db.take_signal(conn, "achievement"):
        return ()
    unlocked = service.told_now(conn, user_id, platform)
    if unlocked:
        wake.mark()  # their events (a notice elsewhere) wait for a worker
    return lines(
        *(
            (
                _(
                    "🏅 Achievement unlocked: {badge} — {what}",
                    badge=_badge(a.icon, a.shown_name),
                    what=_reward(a.reward_coins, a.reward_xp) or a.shown_description,
                ),
            )
            for a in unlocked
        )
    )


def _profile_fields(got: Any) -> tuple[Field, ...]:
    icons = " ".join(got["icons"][-12:]) or _("none yet — see /achievements")
    return (Field(_("Achievements ({got}/{total})", got=len(got["icons"]), total=got["total"]), (icons,), False),)


# /profile: how many there are and the icons of those unlocked, in catalog order (read with the profile).
PROFILE_FIELDS = ProfilePart(
    """SELECT json_build_object('total', count(*), 'icons', coalesce(
           array_to_json(array_agg(a.icon ORDER BY a.sort_order, a.code) FILTER (WHERE u.code IS NOT NULL)), '[]'))
       FROM achievements a LEFT JOIN achievement_unlocks u ON u.code = a.code AND u.user_id = %(user_id)s""",
    _profile_fields,
)


def on_unlock(conn: Conn, event: dict[str, Any]) -> None:
    """A Telegram notice for an unlock no reply told (a chat message's XP, a season's end), if wanted; said
    now, in the person's language (their choice, else the deployment's), since a job's payload is JSON."""
    user = users.get_user(conn, int(event["user_id"]))
    data = event["data"]
    if not (user.telegram_id and user.notifications) or service.told_on(conn, user.id, data["code"]) is not None:
        return
    name = service.title(str(data["code"]), str(data["name"]))
    reward = _reward(int(data["coins"]), int(data["xp"]))
    if reward:
        notice = _(
            "🏅 Achievement unlocked: {icon} {name} ({reward})", icon=str(data["icon"]), name=name, reward=reward
        )
    else:
        notice = _("🏅 Achievement unlocked: {icon} {name}", icon=str(data["icon"]), name=name)
    locale = negotiate(user.language, default=get_settings().default_locale)
    jobs.enqueue(
        conn,
        "telegram.send",
        {"chat_id": user.telegram_id, "text": notice.in_(locale)},
        dedupe_key=f"ach_msg:{event['id']}",
    )


def profile_achievements(conn: Conn, user_id: int, owner: bool) -> dict[str, Any]:
    """The website's badge grid: every achievement, locked ones greyed, hidden ones as '???'."""
    all_ = service.catalog(conn, user_id)
    return {"unlocked": sum(a.unlocked for a in all_), "total": len(all_), "list": [a.json() for a in all_]}


FEATURE = Feature(
    name="achievements",
    summary=__doc__ or "",
    commands=(
        Command(
            "achievements",
            _("Achievements you (or someone) unlocked"),
            achievements,
            (Option("user", Kind.USER, _("Whose (default: yours)")),),
            writes=False,
        ),
    ),
    reactions={"achievement_unlocked": on_unlock},
    merge=service.merge_rows,
    migrations=("0010_achievements.sql", "0014_achievement_signal.sql", "0017_achievements_once_per_person.sql"),
    profile=profile_achievements,
    profile_fields=PROFILE_FIELDS,
    reply_note=note,
)
