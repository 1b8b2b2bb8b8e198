"""Moderation cases and each server's (or chat's) moderation settings: the one place their SQL lives
(sql/0011). A case is numbered per server without gaps (the settings row's lock) and opened once per request
key; opening one also queues what follows from it: its mod-log post, its expiry, a warning threshold."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Literal

from psycopg.types.json import Jsonb

from ttfd.core import jobs
from ttfd.core.db import Conn

Scope = Literal["discord", "telegram"]
Action = Literal["warn", "kick", "ban", "unban", "timeout", "untimeout", "clear", "delete"]
Source = Literal["discord", "telegram", "automod"]
MODLOG_JOB, EXPIRE_JOB, THRESHOLD_JOB = "moderation.modlog", "moderation.expire", "moderation.threshold"


@dataclass(frozen=True)
class Case:
    scope: Scope
    scope_id: int
    number: int
    action: Action
    target_id: int | None
    target_name: str | None
    moderator_id: int | None
    moderator_name: str | None
    reason: str | None
    duration_s: int | None
    expires_at: datetime | None
    status: str
    source: Source
    created_at: datetime
    ended_at: datetime | None
    details: dict[str, Any]


def _case(row: dict[str, Any]) -> Case:
    return Case(**{f.name: row[f.name] for f in fields(Case)})


@dataclass(frozen=True)
class ModSettings:
    modlog_channel: int | None = None
    warn_threshold: int | None = None
    warn_action: str | None = None
    warn_duration_s: int | None = None


_OPEN = """
SELECT * FROM mod_case_open(%(scope)s, %(scope_id)s, %(action)s, %(target)s, %(target_name)s, %(moderator)s,
                            %(moderator_name)s, %(reason)s, %(duration)s, %(expires)s, %(source)s, %(key)s,
                            %(details)s)
"""


def open_case(
    conn: Conn,
    *,
    scope: Scope,
    scope_id: int,
    action: Action,
    target_id: int | None,
    target_name: str | None,
    moderator_id: int | None,
    moderator_name: str | None,
    reason: str | None,
    source: Source,
    key: str,
    duration_s: int | None = None,
    expires_at: datetime | None = None,
    details: dict[str, Any] | None = None,
    place_locale: str | None = None,
) -> Case:
    """The next case of this server, once per `key`; queues its mod-log post and (with `expires_at`) its end.
    `place_locale`: the server's language, which its mod-log post (and the audit reason of its end) are said in."""
    params = {
        "scope": scope,
        "scope_id": scope_id,
        "action": action,
        "target": target_id,
        "target_name": target_name,
        "moderator": moderator_id,
        "moderator_name": moderator_name,
        "reason": (reason or None) and reason[:512],
        "duration": duration_s,
        "expires": expires_at,
        "source": source,
        "key": key,
        "details": Jsonb(details or {}),
    }
    row = conn.execute(_OPEN, params).fetchone()
    assert row is not None
    case = _case(row)
    ref = {"scope": scope, "scope_id": scope_id, "number": case.number, "place_locale": place_locale}
    if scope == "discord" and settings(conn, scope, scope_id).modlog_channel:
        jobs.enqueue(conn, MODLOG_JOB, ref, dedupe_key=f"modlog:{scope_id}:{case.number}")
    if case.expires_at is not None and case.action in ("ban", "timeout"):
        jobs.enqueue(
            conn, EXPIRE_JOB, ref, run_at=case.expires_at, dedupe_key=f"expire:{scope}:{scope_id}:{case.number}"
        )
    return case


def by_key(conn: Conn, key: str) -> Case | None:
    """The case an event opened (a retried job answers with it instead of acting twice)."""
    row = conn.execute("SELECT * FROM mod_cases WHERE request_key = %(key)s", {"key": key}).fetchone()
    return _case(row) if row else None


_GET = "SELECT * FROM mod_cases WHERE scope = %(scope)s AND scope_id = %(scope_id)s AND number = %(number)s"


def get_case(conn: Conn, scope: Scope, scope_id: int, number: int, *, lock: bool = False) -> Case | None:
    row = conn.execute(
        _GET + (" FOR UPDATE" if lock else ""), {"scope": scope, "scope_id": scope_id, "number": number}
    ).fetchone()
    return _case(row) if row else None


_LIST = """
SELECT *, count(*) OVER () AS total FROM mod_cases
WHERE scope = %(scope)s AND scope_id = %(scope_id)s AND status <> 'deleted'
  AND (%(target)s::bigint IS NULL OR target_id = %(target)s)
ORDER BY number DESC LIMIT %(limit)s OFFSET %(offset)s
"""


def list_cases(
    conn: Conn, scope: Scope, scope_id: int, target_id: int | None = None, page: int = 0, size: int = 10
) -> tuple[list[Case], int]:
    """Newest first, one page, and how many there are (deleted cases keep their number but are not listed)."""
    params = {"scope": scope, "scope_id": scope_id, "target": target_id, "limit": size, "offset": page * size}
    rows = conn.execute(_LIST, params).fetchall()
    return [_case(r) for r in rows], int(rows[0]["total"]) if rows else 0


_WARNINGS = """
SELECT count(*) AS n FROM mod_cases
WHERE scope = %(scope)s AND scope_id = %(scope_id)s AND target_id = %(target)s AND action = 'warn' AND status = 'active'
"""


def active_warnings(conn: Conn, scope: Scope, scope_id: int, target_id: int) -> int:
    row = conn.execute(_WARNINGS, {"scope": scope, "scope_id": scope_id, "target": target_id}).fetchone()
    return int(row["n"]) if row else 0


def record_warning(
    conn: Conn,
    *,
    scope: Scope,
    scope_id: int,
    target_id: int,
    target_name: str | None,
    moderator_id: int | None,
    moderator_name: str | None,
    reason: str,
    source: Source,
    key: str,
    reply_to: dict[str, Any] | None = None,
    place_locale: str | None = None,
) -> tuple[Case, int, bool]:
    """A warning as a case; (the case, the target's active warnings, whether this one reached the server's
    threshold — its action is then queued once, as a case of its own)."""
    case = open_case(
        conn,
        scope=scope,
        scope_id=scope_id,
        action="warn",
        target_id=target_id,
        target_name=target_name,
        moderator_id=moderator_id,
        moderator_name=moderator_name,
        reason=reason,
        source=source,
        key=key,
        place_locale=place_locale,
    )
    count = active_warnings(conn, scope, scope_id, target_id)
    s = settings(conn, scope, scope_id)
    # Exactly at the threshold: cases are ordered by the counter's lock, so one warning is "the Nth".
    hit = s.warn_threshold is not None and count == s.warn_threshold and case.status == "active"
    if hit:
        payload = {
            "scope": scope,
            "scope_id": scope_id,
            "target_id": target_id,
            "target_name": target_name,
            "warning": case.number,
            "count": count,
            "reply_to": reply_to,
            "place_locale": place_locale,
        }
        jobs.enqueue(conn, THRESHOLD_JOB, payload, dedupe_key=f"threshold:{scope}:{scope_id}:{case.number}")
    return case, count, hit


def outlasted(conn: Conn, case: Case) -> bool:
    """Whether another active case of the same kind on the same person lasts longer (a later permanent ban
    must not be lifted by an earlier temporary one's expiry)."""
    row = conn.execute(
        """SELECT 1 FROM mod_cases
           WHERE scope = %(scope)s AND scope_id = %(scope_id)s AND target_id = %(target)s AND action = %(action)s
             AND status = 'active' AND number <> %(number)s AND (expires_at IS NULL OR expires_at > %(expires)s)
           LIMIT 1""",
        {
            "scope": case.scope,
            "scope_id": case.scope_id,
            "target": case.target_id,
            "action": case.action,
            "number": case.number,
            "expires": case.expires_at,
        },
    ).fetchone()
    return row is not None


def end_case(conn: Conn, case: Case, status: Literal["expired", "revoked"]) -> bool:
    """Mark an active case ended (a temp ban lifted, a timeout over); False if it had ended already."""
    row = conn.execute(
        """UPDATE mod_cases SET status = %(status)s, ended_at = now(), updated_at = now()
           WHERE scope = %(scope)s AND scope_id = %(scope_id)s AND number = %(number)s AND status = 'active'
           RETURNING number""",
        {"status": status, "scope": case.scope, "scope_id": case.scope_id, "number": case.number},
    ).fetchone()
    return row is not None


def end_active(conn: Conn, scope: Scope, scope_id: int, target_id: int, action: Action) -> int:
    """An unban or untimeout ends the target's active ban or timeout cases (their expiry then finds nothing)."""
    cur = conn.execute(
        """UPDATE mod_cases SET status = 'revoked', ended_at = now(), updated_at = now()
           WHERE scope = %(scope)s AND scope_id = %(scope_id)s AND target_id = %(target)s AND action = %(action)s
             AND status = 'active'""",
        {"scope": scope, "scope_id": scope_id, "target": target_id, "action": action},
    )
    return int(cur.rowcount)


def set_reason(conn: Conn, scope: Scope, scope_id: int, number: int, reason: str) -> Case | None:
    row = conn.execute(
        """UPDATE mod_cases SET reason = %(reason)s, updated_at = now()
           WHERE scope = %(scope)s AND scope_id = %(scope_id)s AND number = %(number)s AND status <> 'deleted'
           RETURNING *""",
        {"reason": reason[:512], "scope": scope, "scope_id": scope_id, "number": number},
    ).fetchone()
    return _case(row) if row else None


def delete_case(conn: Conn, scope: Scope, scope_id: int, number: int) -> Case | None:
    """Deleted cases keep their number (no gaps) and stop counting as warnings."""
    row = conn.execute(
        """UPDATE mod_cases SET status = 'deleted', updated_at = now()
           WHERE scope = %(scope)s AND scope_id = %(scope_id)s AND number = %(number)s AND status <> 'deleted'
           RETURNING *""",
        {"scope": scope, "scope_id": scope_id, "number": number},
    ).fetchone()
    return _case(row) if row else None


def settings(conn: Conn, scope: Scope, scope_id: int) -> ModSettings:
    row = conn.execute(
        """SELECT modlog_channel, warn_threshold, warn_action, warn_duration_s FROM mod_settings
           WHERE scope = %(scope)s AND scope_id = %(scope_id)s""",
        {"scope": scope, "scope_id": scope_id},
    ).fetchone()
    return ModSettings(**row) if row else ModSettings()


_SET_MODLOG = """
INSERT INTO mod_settings AS s (scope, scope_id, modlog_channel) VALUES (%(scope)s, %(scope_id)s, %(channel)s)
ON CONFLICT (scope, scope_id) DO UPDATE SET modlog_channel = EXCLUDED.modlog_channel, updated_at = now()
"""
_SET_THRESHOLD = """
INSERT INTO mod_settings AS s (scope, scope_id, warn_threshold, warn_action, warn_duration_s)
VALUES (%(scope)s, %(scope_id)s, %(count)s, %(action)s, %(duration)s)
ON CONFLICT (scope, scope_id) DO UPDATE SET warn_threshold = EXCLUDED.warn_threshold,
    warn_action = EXCLUDED.warn_action, warn_duration_s = EXCLUDED.warn_duration_s, updated_at = now()
"""


def set_modlog(conn: Conn, scope: Scope, scope_id: int, channel_id: int | None) -> None:
    conn.execute(_SET_MODLOG, {"scope": scope, "scope_id": scope_id, "channel": channel_id})


def set_threshold(
    conn: Conn, scope: Scope, scope_id: int, count: int | None, action: str | None, duration_s: int | None
) -> None:
    params = {"scope": scope, "scope_id": scope_id, "count": count, "action": action, "duration": duration_s}
    conn.execute(_SET_THRESHOLD, params)
