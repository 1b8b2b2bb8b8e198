"""/clear: the channel's recent messages over REST, deleted in one bulk call when Discord allows it (2–100
messages under 14 days old), one by one otherwise; messages older than 14 days are deleted one by one up to
a few, and the rest reported as skipped."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

DISCORD_EPOCH_MS = 1420070400000
BULK_AGE = timedelta(days=14) - timedelta(minutes=5)  # a margin: the request takes time to arrive
OLD_ONE_BY_ONE = 5  # older messages are deleted singly, each its own rate-limited call: only a few


@dataclass(frozen=True)
class Cleared:
    deleted: int
    skipped: int

    def as_dict(self) -> dict[str, int]:
        return {"deleted": self.deleted, "skipped": self.skipped}


def created(message_id: int) -> datetime:
    from datetime import UTC

    return datetime.fromtimestamp(((message_id >> 22) + DISCORD_EPOCH_MS) / 1000, UTC)


def clear(channel_id: int, count: int, user_id: int | None, now: datetime) -> Cleared:
    from ttfd.clients import discord_rest
    from ttfd.clients.http import HTTPError, NotFoundError
    from ttfd.features.moderation.ops import discord_refusal

    rest = discord_rest.shared()
    try:
        recent = rest.request("GET", f"/channels/{channel_id}/messages", params={"limit": 100}).json()
    except HTTPError as exc:
        raise discord_refusal(exc) from None
    picked = [int(m["id"]) for m in recent if user_id is None or str(m.get("author", {}).get("id")) == str(user_id)]
    picked = picked[:count]
    young = [m for m in picked if now - created(m) < BULK_AGE]
    old = [m for m in picked if now - created(m) >= BULK_AGE]
    deleted = 0
    try:
        if len(young) >= 2:
            rest.request(
                "POST", f"/channels/{channel_id}/messages/bulk-delete", json={"messages": [str(m) for m in young]}
            )
            deleted += len(young)
        for m in young if len(young) == 1 else []:
            rest.request("DELETE", f"/channels/{channel_id}/messages/{m}")
            deleted += 1
        for m in old[:OLD_ONE_BY_ONE]:
            try:
                rest.request("DELETE", f"/channels/{channel_id}/messages/{m}")
                deleted += 1
            except NotFoundError:  # deleted meanwhile
                pass
    except HTTPError as exc:
        raise discord_refusal(exc) from None
    return Cleared(deleted, max(0, len(old) - OLD_ONE_BY_ONE))
