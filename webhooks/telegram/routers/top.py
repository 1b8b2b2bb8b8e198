"""/top [xp|week|coins] with paging and board buttons."""

from __future__ import annotations

from html import escape

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.methods import EditMessageText, SendMessage
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from ttfd import economy
from ttfd.accounts import User
from ttfd.core.db import Conn
from webhooks.telegram.routers.menu import MenuAction, TopPage

router = Router(name="top")
PAGE_SIZE = 10
TITLES = {"xp": "All-time XP", "week": "This week", "coins": "Coins"}


def top_view(conn: Conn, user: User, board: economy.Board, page: int) -> tuple[str, InlineKeyboardMarkup]:
    """Text and keyboard for one page of a board."""
    view = economy.board_page(conn, board, page, user.id, PAGE_SIZE)
    unit = "coins" if board == "coins" else "XP"
    medal = {1: "🥇", 2: "🥈", 3: "🥉"}
    lines = [f"{medal.get(e.position, f'{e.position}.')} {escape(e.name)} — {e.value:,} {unit}" for e in view.entries]
    me = f"You: #{view.mine[0]} with {view.mine[1]:,} {unit}" if view.mine else "You are not on this board yet"
    text = (
        f"🏆 <b>{TITLES[board]}</b> · page {view.page + 1}/{view.pages}\n\n"
        + ("\n".join(lines) or "Nobody here yet.")
        + f"\n\n{me}"
    )
    nav = []
    if view.page > 0:
        nav.append(InlineKeyboardButton(text="◀", callback_data=TopPage(board=board, page=view.page - 1).pack()))
    if view.page < view.pages - 1:
        nav.append(InlineKeyboardButton(text="▶", callback_data=TopPage(board=board, page=view.page + 1).pack()))
    boards = [
        InlineKeyboardButton(
            text=("• " if b == board else "") + TITLES[b], callback_data=TopPage(board=b, page=0).pack()
        )
        for b in economy.BOARDS
    ]
    return text, InlineKeyboardMarkup(inline_keyboard=[row for row in (nav, boards) if row])


@router.message(Command("top"))
async def top(message: Message, command: CommandObject, user: User, conn: Conn) -> SendMessage:
    arg = (command.args or "xp").strip().lower()
    board: economy.Board = arg if arg in ("xp", "week", "coins") else "xp"  # type: ignore[assignment]
    text, kb = top_view(conn, user, board, 0)
    return message.answer(text, reply_markup=kb)


@router.callback_query(TopPage.filter())
async def top_page(query: CallbackQuery, callback_data: TopPage, user: User, conn: Conn) -> EditMessageText | None:
    if not isinstance(query.message, Message):
        return None  # too old: Telegram sends an inaccessible stub
    text, kb = top_view(conn, user, callback_data.board, callback_data.page)
    return EditMessageText(
        chat_id=query.message.chat.id, message_id=query.message.message_id, text=text, reply_markup=kb
    )


@router.callback_query(MenuAction.filter(F.action == "top"))
async def top_button(query: CallbackQuery, user: User, conn: Conn) -> SendMessage | None:
    if query.message is None:
        return None
    text, kb = top_view(conn, user, "xp", 0)
    return SendMessage(chat_id=query.message.chat.id, text=text, reply_markup=kb)
