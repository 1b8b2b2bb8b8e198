"""The duel-expiry job (run by run_jobs when a challenge runs out)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from ttfd.core.i18n import N_, _
from ttfd.core.jobs import JobCtx
from ttfd.features.games import service
from ttfd.ui.reply import Reply


class ExpireDuel(BaseModel):
    duel: int


def expire_duel(job: JobCtx, payload: dict[str, Any]) -> Reply | None:
    """Close an unanswered challenge; its message says so (no coins were taken, so none come back), in the
    language of the challenge (its `reply_to` target carries it)."""
    p = ExpireDuel.model_validate(payload)
    d = service.expire(job.conn, p.duel)
    if d is None:
        return None  # answered in time: nothing to change
    expired = N_(
        "⌛ Nobody answered in time: the duel for {n} coin expired.",
        "⌛ Nobody answered in time: the duel for {n} coins expired.",
        d.bet,
    )
    return Reply(title=_("⚔️ Duel"), body=(expired,), edit=True)
