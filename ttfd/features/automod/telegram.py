"""Telegram side effects of automod, run in jobs (the Bot API client is imported only here): deleting an
offending group message, and checking that whoever changes a chat's policy is one of its admins."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel

from ttfd.core.errors import Forbidden
from ttfd.core.jobs import JobCtx

log = logging.getLogger(__name__)
ADMIN_STATUSES = ("creator", "administrator")


class DeletePayload(BaseModel):
    chat_id: int
    message_id: int


def delete_message(job: JobCtx, payload: dict[str, Any]) -> None:
    """Delete an offending message; one already gone (deleted by an admin, or a retry) is fine."""
    from ttfd.clients import telegram
    from ttfd.clients.http import HTTPError

    p = DeletePayload.model_validate(payload)
    try:
        telegram.shared().call("deleteMessage", chat_id=p.chat_id, message_id=p.message_id)
    except HTTPError as exc:
        if exc.status == 400 and "not found" in exc.message:
            log.info("automod: message %s in %s was already gone", p.message_id, p.chat_id)
            return
        raise  # 403 (the bot is not an admin there) ends dead with the reason kept; 429/5xx retry


def require_admin(chat_id: int, user_id: int) -> None:
    """Refuse unless Telegram says this person is the chat's creator or one of its administrators."""
    from ttfd.clients import telegram

    member = telegram.shared().call("getChatMember", chat_id=chat_id, user_id=user_id)
    if not isinstance(member, dict) or member.get("status") not in ADMIN_STATUSES:
        raise Forbidden("Only this group's admins can change its automod settings.")
