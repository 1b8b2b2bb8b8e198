"""Website logins: one-time OAuth states bound to a browser, and sessions that expire and rotate."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, replace
from datetime import datetime

from ttfd.core import users
from ttfd.core.db import Conn

OAUTH_STATE_TTL_S = 600
# A rotated-out token keeps working this long, so requests a page already has in flight still pass.
ROTATION_GRACE_S = 60


def token_hash(token: str) -> bytes:
    """What the database stores instead of a token."""
    return hashlib.sha256(token.encode()).digest()


def new_token() -> str:
    """A fresh unguessable token (256 bits)."""
    return secrets.token_urlsafe(32)


# --- OAuth state -----------------------------------------------------------------------------------

_NEW_STATE = """
INSERT INTO oauth_states (state, browser_hash, next_path, expires_at)
VALUES (%(state)s, %(browser)s, %(next)s, now() + make_interval(secs => %(ttl)s))
"""
_CONSUME_STATE = """
UPDATE oauth_states SET used_at = now()
WHERE state = %(state)s AND used_at IS NULL AND expires_at > now()
RETURNING browser_hash, next_path
"""
_PURGE_STATES = "DELETE FROM oauth_states WHERE expires_at < now() - interval '1 day'"


@dataclass(frozen=True)
class LoginStart:
    state: str  # goes to Discord and comes back in the callback
    browser_nonce: str  # stays in this browser's HttpOnly cookie


def begin_login(conn: Conn, next_path: str) -> LoginStart:
    """Remember a one-time state for a login this browser is starting."""
    start = LoginStart(new_token(), new_token())
    conn.execute(
        _NEW_STATE,
        {"state": start.state, "browser": token_hash(start.browser_nonce), "next": next_path, "ttl": OAUTH_STATE_TTL_S},
    )
    return start


def consume_state(conn: Conn, state: str, browser_nonce: str | None) -> str | None:
    """Use a state once; returns where to go after login, or None if it is unknown, used, expired or was
    started by another browser (login CSRF)."""
    row = conn.execute(_CONSUME_STATE, {"state": state}).fetchone()
    if row is None or not browser_nonce:
        return None
    if not hmac.compare_digest(bytes(row["browser_hash"]), token_hash(browser_nonce)):
        return None
    return str(row["next_path"])


# --- sessions --------------------------------------------------------------------------------------

# A login also records that this person uses the website (their `platforms`; an achievement counts it).
_CREATE = """
WITH seen AS (
    UPDATE unified_users SET platforms = array_append(platforms, 'website')
    WHERE id = %(user_id)s AND NOT 'website' = ANY(platforms)
)
INSERT INTO sessions (user_id, token_hash, csrf_token, expires_at, user_agent)
VALUES (%(user_id)s, %(hash)s, %(csrf)s, now() + make_interval(secs => %(ttl)s), %(ua)s)
RETURNING id, expires_at
"""
_LOAD = """
SELECT s.id, s.user_id, s.csrf_token, s.expires_at, s.token_hash = %(hash)s AS current,
       s.rotated_at < now() - make_interval(secs => %(rotate)s) AS rotate_due,
       s.last_seen_at < now() - interval '60 seconds' AS touch_due,
       u.merged_into IS NOT NULL AS merged, u.language
FROM sessions s JOIN unified_users u ON u.id = s.user_id
WHERE (s.token_hash = %(hash)s
       OR (s.prev_token_hash = %(hash)s AND s.rotated_at > now() - make_interval(secs => %(grace)s)))
  AND s.expires_at > now()
  AND s.last_seen_at > now() - make_interval(secs => %(idle)s)
"""
_ROTATE = """
UPDATE sessions SET prev_token_hash = token_hash, token_hash = %(new)s, rotated_at = now(), last_seen_at = now()
WHERE id = %(id)s AND token_hash = %(old)s
RETURNING id
"""
_TOUCH = "UPDATE sessions SET last_seen_at = now() WHERE id = %(id)s"
_MOVE = "UPDATE sessions SET user_id = %(user_id)s WHERE id = %(id)s"
_DELETE = "DELETE FROM sessions WHERE id = %(id)s"
_DELETE_STALE = "DELETE FROM sessions WHERE token_hash = %(hash)s OR prev_token_hash = %(hash)s"
_PURGE = """
DELETE FROM sessions WHERE expires_at < now() OR last_seen_at < now() - make_interval(secs => %(idle)s)
"""


@dataclass(frozen=True)
class Session:
    id: int
    user_id: int
    csrf_token: str
    expires_at: datetime
    new_token: str | None = None  # set when this request rotated the token: the cookie must be replaced
    language: str | None = None  # the account's chosen language (its answers are said in it)


@dataclass(frozen=True)
class Policy:
    """Lifetimes, from settings."""

    ttl_s: int
    idle_s: int
    rotate_s: int


@dataclass(frozen=True)
class Created:
    session: Session
    token: str


def create(conn: Conn, user_id: int, policy: Policy, user_agent: str | None) -> Created:
    """A new session for a fresh login (never reuse one: that would allow session fixation)."""
    token, csrf = new_token(), new_token()
    row = conn.execute(
        _CREATE,
        {
            "user_id": user_id,
            "hash": token_hash(token),
            "csrf": csrf,
            "ttl": policy.ttl_s,
            "ua": (user_agent or "")[:300],
        },
    ).fetchone()
    assert row is not None
    return Created(Session(int(row["id"]), user_id, csrf, row["expires_at"]), token)


def load(conn: Conn, token: str, policy: Policy) -> Session | None:
    """The session a cookie token names, rotating its token when due (the caller sets the new cookie)."""
    params = {
        "hash": token_hash(token),
        "rotate": policy.rotate_s,
        "grace": ROTATION_GRACE_S,
        "idle": policy.idle_s,
    }
    row = conn.execute(_LOAD, params).fetchone()
    if row is None:
        return None
    session = Session(
        int(row["id"]), int(row["user_id"]), str(row["csrf_token"]), row["expires_at"], language=row["language"]
    )
    if row["merged"]:  # the account was merged into another since login: the login follows it
        live = users.live_id(conn, session.user_id)
        if live is None:
            return None
        conn.execute(_MOVE, {"id": session.id, "user_id": live})
        session = replace(session, user_id=live)
    if row["current"] and row["rotate_due"]:
        fresh = new_token()
        # Two concurrent requests may both find rotation due: the first UPDATE wins, the other keeps the
        # old token, which stays valid for the grace period.
        if conn.execute(_ROTATE, {"id": session.id, "old": params["hash"], "new": token_hash(fresh)}).fetchone():
            return replace(session, new_token=fresh)
    elif row["touch_due"]:
        conn.execute(_TOUCH, {"id": session.id})
    return session


def revoke(conn: Conn, session_id: int) -> None:
    """Log a session out."""
    conn.execute(_DELETE, {"id": session_id})


def revoke_token(conn: Conn, token: str) -> None:
    """Drop whatever session a stale cookie still names (before a new login replaces it)."""
    conn.execute(_DELETE_STALE, {"hash": token_hash(token)})


def purge(conn: Conn, idle_s: int) -> int:
    """Delete expired and idle sessions and old OAuth states; returns how many rows went."""
    return int(conn.execute(_PURGE, {"idle": idle_s}).rowcount) + int(conn.execute(_PURGE_STATES).rowcount)
