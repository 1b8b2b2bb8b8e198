"""Achievements: milestones (first daily, streaks, ranks, games, a purchase, every platform, messages, a
season's top ten) unlocked once per account in the transaction that reached them, each paying its reward
through the ledger. The reply that unlocked one says so; Telegram gets a notice when it happened elsewhere.
/achievements lists them; profiles show them (a badge grid on the site)."""

from __future__ import annotations

from typing import Any

from ttfd.core import db, jobs, users, wake
from ttfd.core.db import Conn
from ttfd.features import profiles
from ttfd.features.achievements import service
from ttfd.registry import Feature
from ttfd.ui.commands import Command, Ctx, Kind, Option, Options
from ttfd.ui.reply import Field, Reply
from ttfd.ui.text import Text, bold, lines, number, text

COLOR = 0xE67E22


def _reward(coins: int, xp: int) -> str:
    parts = [f"+{number(coins)} coins" if coins else "", f"+{number(xp)} XP" if xp else ""]
    return " · ".join(p for p in parts if p)


def achievements(ctx: Ctx, opts: Options) -> Reply:
    who = profiles.target(ctx, opts)
    if hidden := profiles.private_reply(ctx, who):
        return hidden
    all_ = service.catalog(ctx.conn, who.id)
    rows: list[Text] = []
    for a in all_:
        if a.unlocked:
            rows.append(text(f"{a.icon} ", bold(a.name), f" — {a.description}"))
        elif a.hidden:
            rows.append(text("🔒 ??? — a secret achievement"))
        else:
            rows.append(text(f"🔒 {a.name} — {a.description} ({_reward(a.reward_coins, a.reward_xp)})"))
    got = sum(a.unlocked for a in all_)
    return Reply(
        title=f"🏅 {'Your' if who.id == ctx.user.id else who.name + chr(39) + 's'} achievements — {got}/{len(all_)}",
        body=lines(*rows),
        color=COLOR,
    )


def note(conn: Conn, user_id: int, platform: str) -> Text:
    """Achievements this request unlocked, for the end of its reply (asked only when SQL said one did)."""
    if not db.take_signal(conn, "achievement"):
        return ()
    unlocked = service.told_now(conn, user_id, platform)
    if unlocked:
        wake.mark()  # their events (a notice elsewhere) wait for a worker
    return lines(
        *(
            text(
                "🏅 Achievement unlocked: ",
                bold(f"{a.icon} {a.name}"),
                f" — {_reward(a.reward_coins, a.reward_xp) or a.description}",
            )
            for a in unlocked
        )
    )


def profile_fields(conn: Conn, user_id: int) -> tuple[Field, ...]:
    all_ = service.catalog(conn, user_id)
    got = [a for a in all_ if a.unlocked]
    icons = " ".join(a.icon for a in got[-12:]) or "none yet — see /achievements"
    return (Field(f"Achievements ({len(got)}/{len(all_)})", (icons,), False),)


def on_unlock(conn: Conn, event: dict[str, Any]) -> None:
    """A Telegram notice for an unlock no reply told (a chat message's XP, a season's end), if wanted."""
    user = users.get_user(conn, int(event["user_id"]))
    data = event["data"]
    if not (user.telegram_id and user.notifications) or service.told_on(conn, user.id, data["code"]) is not None:
        return
    reward = _reward(int(data["coins"]), int(data["xp"]))
    message = f"🏅 Achievement unlocked: {data['icon']} {data['name']}" + (f" ({reward})" if reward else "")
    jobs.enqueue(
        conn, "telegram.send", {"chat_id": user.telegram_id, "text": message}, dedupe_key=f"ach_msg:{event['id']}"
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
            "Achievements you (or someone) unlocked",
            achievements,
            (Option("user", Kind.USER, "Whose (default: yours)"),),
            writes=False,
        ),
    ),
    reactions={"achievement_unlocked": on_unlock},
    merge=service.merge_rows,
    migrations=("0010_achievements.sql", "0014_achievement_signal.sql", "0017_achievements_once_per_person.sql"),
    profile=profile_achievements,
    profile_fields=profile_fields,
    reply_note=note,
)
