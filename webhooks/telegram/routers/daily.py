"""/daily and the Daily menu button."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.methods import SendMessage
from aiogram.types import CallbackQuery, Message

from ttfd import economy
from ttfd.accounts import User
from ttfd.core.db import Conn
from ttfd.core.settings import Settings
from ttfd.profiles import until
from webhooks.telegram.routers.menu import MenuAction

router = Router(name="daily")


def daily_text(conn: Conn, settings: Settings, user: User) -> str:
    """Claim and describe the outcome (or when the next claim opens)."""
    now = economy.utc_now()
    r = economy.claim_daily(conn, settings, user.id, "telegram", now)
    if not r.claimed:
        return (
            f"⏳ You already claimed today. Next claim in <b>{until(r.next_claim_at, now)}</b> "
            f"(00:00 UTC). Streak: {r.streak} 🔥"
        )
    bonus = " 🎁 Weekly bonus included!" if r.bonus else ""
    rank = ""
    if r.movement_xp and r.movement_xp.ranked_up and r.movement_xp.rank_after:
        rank = f"\n🎉 Rank up: <b>{r.movement_xp.rank_after.code}</b>!"
    return (
        f"💰 +{r.coins} coins, +{r.xp} XP. Streak: <b>{r.streak}</b> 🔥{bonus}{rank}\n"
        f"Next claim in {until(r.next_claim_at, now)}."
    )


@router.message(Command("daily"))
async def daily(message: Message, user: User, conn: Conn, settings: Settings) -> SendMessage:
    return message.answer(daily_text(conn, settings, user))


@router.callback_query(MenuAction.filter(F.action == "daily"))
async def daily_button(query: CallbackQuery, user: User, conn: Conn, settings: Settings) -> SendMessage | None:
    if query.message is None:
        return None
    return SendMessage(chat_id=query.message.chat.id, text=daily_text(conn, settings, user))
