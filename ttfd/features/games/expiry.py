"""The duel-expiry job (run by run_jobs when a challenge runs out)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from ttfd.core.jobs import JobCtx
from ttfd.features.games import service
from ttfd.ui.reply import Reply


class ExpireDuel(BaseModel):
    duel: int


def expire_duel(job: JobCtx, payload: dict[str, Any]) -> Reply | None:
    """Close an unanswered challenge; its message says so (no coins were taken, so none come back)."""
    p = ExpireDuel.model_validate(payload)
    d = service.expire(job.conn, p.duel)
    if d is None:
        return None  # answered in time: nothing to change
    return Reply(
        title="⚔️ Duel", body=(f"⌛ Nobody answered in time: the duel for {d.bet:,} coins expired.",), edit=True
    )
