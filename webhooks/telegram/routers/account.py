"""/start, /help and /link."""

from __future__ import annotations

from html import escape

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.methods import SendMessage
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message

from ttfd import accounts
from ttfd.accounts import User
from ttfd.core.db import Conn
from ttfd.core.settings import Settings
from webhooks.telegram.routers.menu import MenuAction

router = Router(name="account")
router.message.filter(F.chat.type == "private")

HELP = (
    "<b>TTFD</b> — one profile across Discord, Telegram and the web.\n\n"
    "/profile — your rank, level, XP and coins\n"
    "/daily — claim your daily reward (once per UTC day, any platform)\n"
    "/top — leaderboards\n"
    "/link — get a code to connect Discord or the website\n"
    "/link CODE — connect a code made on another platform\n"
    "In groups with the bot, chatting earns XP (once a minute)."
)


def main_menu() -> InlineKeyboardMarkup:
    """The three buttons under /start and /help."""
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(text="👤 Profile", callback_data=MenuAction(action="profile").pack()),
                InlineKeyboardButton(text="💰 Daily", callback_data=MenuAction(action="daily").pack()),
                InlineKeyboardButton(text="🏆 Top", callback_data=MenuAction(action="top").pack()),
            ]
        ]
    )


@router.message(CommandStart())
async def start(message: Message, user: User) -> SendMessage:
    return message.answer(
        f"👋 Welcome, <b>{escape(user.name)}</b>! Your TTFD account is ready.\n\n{HELP}",
        reply_markup=main_menu(),
    )


@router.message(Command("help"))
async def help_(message: Message) -> SendMessage:
    return message.answer(HELP, reply_markup=main_menu())


@router.message(Command("link"))
async def link(message: Message, command: CommandObject, user: User, conn: Conn, settings: Settings) -> SendMessage:
    if not command.args:
        made = accounts.create_link_code(conn, user.id, "telegram", settings.link_code_ttl_s)
        return message.answer(
            f"🔗 Your link code: <code>{made.code}</code>\nUse <code>/link {made.code}</code> on Discord (or enter it "
            f"on the website) within {settings.link_code_ttl_s // 60} minutes. It works once."
        )
    sender = message.from_user
    assert sender is not None
    # A DomainError (bad code, conflicting identity) rolls the update back; the webhook answers its message.
    result = accounts.redeem_link_code(
        conn, command.args.strip(), "telegram", sender.id, sender.username, user.display_name
    )
    merged = " Your two accounts were merged: XP, coins and stats were combined." if result.merged_from else ""
    return message.answer(f"✅ Linked! This Telegram account now shares one TTFD profile.{merged}")
