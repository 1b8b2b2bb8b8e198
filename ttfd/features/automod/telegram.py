"""Telegram side effect of automod, run in a job (the Bot API client is imported only here): deleting an
offending group message. Whether someone administers the group is moderation's check (ops.TelegramOps)."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel

from ttfd.core.jobs import JobCtx

log = logging.getLogger(__name__)


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
