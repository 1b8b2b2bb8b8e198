"""Group chat messages: count them and give message XP with a per-user cooldown (no reply)."""

from __future__ import annotations

import random

from aiogram import F, Router
from aiogram.types import Message

from ttfd import activity
from ttfd.accounts import User
from ttfd.core.db import Conn
from ttfd.core.settings import Settings

router = Router(name="groups")
router.message.filter(F.chat.type.in_({"group", "supergroup"}))


@router.message(F.text | F.caption)  # joins, pins and other service messages are not chat
async def group_message(message: Message, user: User, conn: Conn, settings: Settings) -> None:
    # The update id makes the ledger key: a redelivered update can never pay twice.
    key = f"tg:msgxp:{message.chat.id}:{message.message_id}"
    xp = random.randint(settings.message_xp_min, settings.message_xp_max)
    activity.message_xp(conn, settings, user.id, "telegram", xp, key)
