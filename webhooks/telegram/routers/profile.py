"""/profile and the Profile menu button."""

from __future__ import annotations

from html import escape

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.methods import EditMessageText, SendMessage
from aiogram.types import CallbackQuery, Message

from ttfd.accounts import User
from ttfd.core.db import Conn
from ttfd.profiles import profile_view, progress_bar
from webhooks.telegram.routers.menu import MenuAction

router = Router(name="profile")


def profile_text(conn: Conn, user: User) -> str:
    """The profile card as Telegram HTML."""
    v = profile_view(conn, user)
    lv = v.level
    nxt = f"{v.next_rank.min_xp - user.xp:,} XP to {v.next_rank.code}" if v.next_rank else "max rank"
    return (
        f"👤 <b>{escape(user.name)}</b> — rank <b>{v.rank.code}</b>\n"
        f"Level <b>{lv.level}</b> {progress_bar(lv.progress)} {lv.xp_into_level}/{lv.xp_for_next}\n"
        f"⭐ XP: {user.xp:,} (#{v.xp_position or '—'}) · this week {v.week_xp:,}\n"
        f"💰 Coins: {user.coins:,}\n"
        f"🔥 Daily streak: {user.daily_streak}\n"
        f"🎮 Games: {user.games_won}/{user.games_played} won\n"
        f"⏭ Next rank: {nxt}\n"
        f"🔗 Linked: {', '.join(p.title() for p in v.linked)}"
    )


@router.message(Command("profile"))
async def profile(message: Message, user: User, conn: Conn) -> SendMessage:
    return message.answer(profile_text(conn, user))


@router.callback_query(MenuAction.filter(F.action == "profile"))
async def profile_button(query: CallbackQuery, user: User, conn: Conn) -> EditMessageText | None:
    if not isinstance(query.message, Message):
        return None  # too old: Telegram sends an inaccessible stub
    return EditMessageText(
        chat_id=query.message.chat.id, message_id=query.message.message_id, text=profile_text(conn, user)
    )
