"""Verification's SQL: panels, role grants in flight, Discord captchas and Telegram join requests.

Every decision is a conditional UPDATE on a row's status, so two presses, a redelivery or two runs of the
schedule can never decide (grant, approve, decline) twice."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal

from ttfd.core.db import Conn
from ttfd.core.i18n import C_, Msg
from ttfd.core.settings import bounded


@dataclass(frozen=True)
class VerificationSettings:
    """VERIFY_*: how often a person may press Verify, captcha tries, how long a join request may wait."""

    ENV_PREFIX: ClassVar[str] = "VERIFY_"
    press_limit: int = bounded(5, 1, 1000)  # presses of Verify per person and server …
    press_window_s: int = bounded(60, 1, 86400)  # … in this window
    captcha_tries: int = bounded(3, 1, 20)  # wrong answers per person and server …
    captcha_window_s: int = bounded(600, 60, 86400)  # … in this window, then refused until it passes
    captcha_ttl_s: int = bounded(300, 30, 900)  # a modal's challenge must be answered within
    join_timeout_s: int = bounded(600, 60, 86400)  # a Telegram join request not solved by then is declined
    join_tries: int = bounded(3, 1, 10)


# --- Discord: the panel's configuration ------------------------------------------------------------------


@dataclass(frozen=True)
class Panel:
    guild_id: int
    channel_id: int
    role_id: int
    captcha: bool
    message_id: int | None


_SET_PANEL = """
INSERT INTO verification_panels (guild_id, channel_id, role_id, captcha, set_by)
VALUES (%(guild)s, %(channel)s, %(role)s, %(captcha)s, %(by)s)
ON CONFLICT (guild_id) DO UPDATE SET channel_id = excluded.channel_id, role_id = excluded.role_id,
    captcha = excluded.captcha, set_by = excluded.set_by, message_id = NULL, updated_at = now()
"""
_PANEL_POSTED = "UPDATE verification_panels SET message_id = %(message)s WHERE guild_id = %(guild)s"
_GET_PANEL = (
    "SELECT guild_id, channel_id, role_id, captcha, message_id FROM verification_panels WHERE guild_id = %(guild)s"
)


def set_panel(conn: Conn, guild_id: int, channel_id: int, role_id: int, captcha: bool, by: int) -> None:
    params = {"guild": guild_id, "channel": channel_id, "role": role_id, "captcha": captcha, "by": by}
    conn.execute(_SET_PANEL, params)


def panel_posted(conn: Conn, guild_id: int, message_id: int) -> None:
    conn.execute(_PANEL_POSTED, {"guild": guild_id, "message": message_id})


def panel(conn: Conn, guild_id: int) -> Panel | None:
    row = conn.execute(_GET_PANEL, {"guild": guild_id}).fetchone()
    return Panel(**row) if row else None


# --- Discord: role grants in flight ------------------------------------------------------------------------

# Claimed unless a grant is already pending (a stale pending one, whose job was lost, may be claimed again).
_CLAIM_GRANT = """
INSERT INTO verification_grants AS g (guild_id, discord_id, role_id, status)
VALUES (%(guild)s, %(user)s, %(role)s, 'pending')
ON CONFLICT (guild_id, discord_id) DO UPDATE SET role_id = excluded.role_id, status = 'pending', updated_at = now()
WHERE g.status <> 'pending' OR g.updated_at < now() - interval '15 minutes'
RETURNING 1
"""
_GRANT_DONE = """
UPDATE verification_grants SET status = %(status)s, updated_at = now()
WHERE guild_id = %(guild)s AND discord_id = %(user)s AND status = 'pending'
"""


def claim_grant(conn: Conn, guild_id: int, discord_id: int, role_id: int) -> bool:
    """Whether this press may queue the role grant (False: one is already on its way)."""
    params = {"guild": guild_id, "user": discord_id, "role": role_id}
    return conn.execute(_CLAIM_GRANT, params).fetchone() is not None


def grant_done(conn: Conn, guild_id: int, discord_id: int, ok: bool) -> None:
    conn.execute(_GRANT_DONE, {"guild": guild_id, "user": discord_id, "status": "granted" if ok else "failed"})


# --- Discord: captchas (a code drawn in a picture, typed into a modal) ------------------------------------

# No look-alikes, even turned by 30° and crossed by lines: 0/O/Q/D, 1/I/L, 2/Z/7, 5/S, 8/B, G, F/E, R/P.
ALPHABET = "ACEHJKMNPTUVWXY3469"
CODE_LENGTH = 5  # 19⁵ ≈ 2.5 million codes against a few tries per window


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def normalize(given: str) -> str:
    """A typed code as it is compared: capital or small letters alike, spaces anywhere ignored."""
    return "".join(given.split()).upper()


# One person's captcha steps in one server wait for each other (the count of wrong answers is then the truth
# when a decision reads it); a transaction-level advisory lock needs no row to exist first.
_LOCK_PERSON = "SELECT pg_advisory_xact_lock(hashtextextended(%(key)s, 0))"
_FAILURES = """
SELECT count(*) AS failed, extract(epoch FROM min(answered_at) + make_interval(secs => %(window)s) - now()) AS wait
FROM verification_challenges
WHERE guild_id = %(guild)s AND discord_id = %(user)s AND status = 'failed'
  AND answered_at > now() - make_interval(secs => %(window)s)
"""
_NEW_CHALLENGE = """
INSERT INTO verification_challenges (id, guild_id, discord_id, answer, expires_at)
VALUES (%(id)s, %(guild)s, %(user)s, %(answer)s, now() + make_interval(secs => %(ttl)s))
"""
_GET_CHALLENGE = """
SELECT guild_id, discord_id, answer, status, expires_at, expires_at <= now() AS past
FROM verification_challenges WHERE id = %(id)s
"""
_LOCK_CHALLENGE = _GET_CHALLENGE + " FOR UPDATE"
_ANSWERED = "UPDATE verification_challenges SET status = %(status)s, answered_at = now() WHERE id = %(id)s"
# The last try is used up: codes still held (pictures, open modals) stop working now, not at their own expiry.
_EXPIRE_OPEN = """
UPDATE verification_challenges SET expires_at = now()
WHERE guild_id = %(guild)s AND discord_id = %(user)s AND status = 'open' AND expires_at > now()
"""


def lock_person(conn: Conn, guild_id: int, discord_id: int) -> None:
    """Until this transaction ends, this person's other presses and answers in this server wait."""
    conn.execute(_LOCK_PERSON, {"key": f"verification:{guild_id}:{discord_id}"})


def failures(conn: Conn, s: VerificationSettings, guild_id: int, discord_id: int) -> tuple[int, float]:
    """Wrong answers in the current window, and seconds until the oldest of them leaves it."""
    params = {"guild": guild_id, "user": discord_id, "window": s.captcha_window_s}
    row = conn.execute(_FAILURES, params).fetchone()
    assert row is not None
    return int(row["failed"]), float(row["wait"] or 0)


def new_challenge(conn: Conn, s: VerificationSettings, guild_id: int, discord_id: int) -> str:
    """A new code to draw; its random id (all that buttons and modals carry: the code stays here)."""
    cid = secrets.token_urlsafe(18)  # 24 characters, unguessable
    params = {"id": cid, "guild": guild_id, "user": discord_id, "answer": new_code(), "ttl": s.captcha_ttl_s}
    conn.execute(_NEW_CHALLENGE, params)
    return cid


@dataclass(frozen=True)
class Challenge:
    guild_id: int
    discord_id: int
    answer: str
    status: str
    expires_at: datetime
    past: bool


def challenge(conn: Conn, challenge_id: str, *, lock: bool = False) -> Challenge | None:
    row = conn.execute(_LOCK_CHALLENGE if lock else _GET_CHALLENGE, {"id": challenge_id}).fetchone()
    return Challenge(**row) if row else None


def answered(conn: Conn, challenge_id: str, solved: bool) -> None:
    conn.execute(_ANSWERED, {"id": challenge_id, "status": "solved" if solved else "failed"})


def expire_open(conn: Conn, guild_id: int, discord_id: int) -> None:
    conn.execute(_EXPIRE_OPEN, {"guild": guild_id, "user": discord_id})


# --- Telegram: join requests ------------------------------------------------------------------------------

# (emoji, its name): the captcha names one ("tap the apple") and shows six pictures.
PICTURES: tuple[tuple[str, Msg], ...] = (
    ("🍎", C_("captcha picture: tap the …", "apple")),
    ("🐶", C_("captcha picture: tap the …", "dog")),
    ("🚗", C_("captcha picture: tap the …", "car")),
    ("🌙", C_("captcha picture: tap the …", "moon")),
    ("⚽", C_("captcha picture: tap the …", "ball")),
    ("🎸", C_("captcha picture: tap the …", "guitar")),
    ("🍕", C_("captcha picture: tap the …", "pizza")),
    ("🐢", C_("captcha picture: tap the …", "turtle")),
    ("🌵", C_("captcha picture: tap the …", "cactus")),
    ("🔑", C_("captcha picture: tap the …", "key")),
    ("🎈", C_("captcha picture: tap the …", "balloon")),
    ("🚀", C_("captcha picture: tap the …", "rocket")),
)
CHOICES = 6
Decision = Literal["approved", "declined"]


def draw_pictures() -> tuple[str, int]:
    """(six picture indexes joined by spaces, the position of the one to tap)."""
    pool = list(range(len(PICTURES)))
    picked = [pool.pop(secrets.randbelow(len(pool))) for _ in range(CHOICES)]
    return " ".join(map(str, picked)), secrets.randbelow(CHOICES)


@dataclass(frozen=True)
class JoinRequest:
    id: int
    chat_id: int
    chat_title: str
    telegram_id: int
    user_chat_id: int
    status: str
    reason: str | None
    choices: tuple[int, ...]
    answer: int
    round: int
    attempts: int
    dm_message_id: int | None
    expires_at: datetime
    past: bool = False
    locale: str | None = None  # the applicant's language when they asked

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> JoinRequest:
        fields = {k: row[k] for k in cls.__dataclass_fields__ if k in row and k != "choices"}
        return cls(**fields, choices=tuple(int(c) for c in str(row["choices"]).split()))


_OPEN_JOIN = """
INSERT INTO verification_join_requests
    (chat_id, chat_title, telegram_id, user_chat_id, choices, answer, expires_at, locale)
VALUES (%(chat)s, %(title)s, %(user)s, %(user_chat)s, %(choices)s, %(answer)s, %(expires)s, %(locale)s)
ON CONFLICT (chat_id, telegram_id) WHERE status = 'pending' DO NOTHING
RETURNING id
"""
_GET_JOIN = """
SELECT id, chat_id, chat_title, telegram_id, user_chat_id, status, reason, choices, answer, round, attempts,
    dm_message_id, expires_at, expires_at <= now() AS past
FROM verification_join_requests WHERE id = %(id)s
"""
_LOCK_JOIN = _GET_JOIN + " FOR UPDATE"
_RETRY_JOIN = """
UPDATE verification_join_requests SET attempts = attempts + 1, round = round + 1, choices = %(choices)s,
    answer = %(answer)s
WHERE id = %(id)s AND status = 'pending'
"""
_DECIDE = """
UPDATE verification_join_requests
SET status = %(status)s, reason = %(reason)s, decided_at = now(), attempts = attempts + %(wrong)s
WHERE id = %(id)s AND status = 'pending'
RETURNING id
"""
_EXPIRE = """
UPDATE verification_join_requests SET status = 'declined', reason = 'timeout', decided_at = now()
WHERE id IN (SELECT id FROM verification_join_requests WHERE status = 'pending' AND expires_at <= now()
             ORDER BY expires_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
RETURNING id
"""
_DM_SENT = "UPDATE verification_join_requests SET dm_message_id = %(message)s WHERE id = %(id)s"
_PURGE_CHALLENGES = "DELETE FROM verification_challenges WHERE created_at < now() - interval '1 day'"
_PURGE_JOINS = "DELETE FROM verification_join_requests WHERE decided_at < now() - interval '30 days'"


def open_join(
    conn: Conn,
    s: VerificationSettings,
    chat_id: int,
    chat_title: str,
    telegram_id: int,
    user_chat_id: int,
    now: datetime,
    locale: str | None = None,
) -> int | None:
    """A new pending request with its first captcha; None when this person already has one pending here."""
    choices, answer = draw_pictures()
    params = {
        "chat": chat_id,
        "title": chat_title[:256],
        "user": telegram_id,
        "user_chat": user_chat_id,
        "choices": choices,
        "answer": answer,
        "expires": now + timedelta(seconds=s.join_timeout_s),
        "locale": locale,
    }
    row = conn.execute(_OPEN_JOIN, params).fetchone()
    return int(row["id"]) if row else None


def join_request(conn: Conn, request_id: int, *, lock: bool = False) -> JoinRequest | None:
    row = conn.execute(_LOCK_JOIN if lock else _GET_JOIN, {"id": request_id}).fetchone()
    return JoinRequest.from_row(row) if row else None


def retry_join(conn: Conn, request_id: int) -> None:
    """A wrong pick with tries left: count it and draw a new captcha (a new round refuses the old buttons)."""
    choices, answer = draw_pictures()
    conn.execute(_RETRY_JOIN, {"id": request_id, "choices": choices, "answer": answer})


def decide(conn: Conn, request_id: int, status: Decision, reason: str, *, wrong: bool = False) -> bool:
    """pending → approved | declined, once; False when it was decided already."""
    params = {"id": request_id, "status": status, "reason": reason, "wrong": int(wrong)}
    return conn.execute(_DECIDE, params).fetchone() is not None


def expire_due(conn: Conn, limit: int = 500) -> list[int]:
    """Decline the pending requests past their deadline (each once, whoever else runs this)."""
    return [int(r["id"]) for r in conn.execute(_EXPIRE, {"limit": limit}).fetchall()]


def dm_sent(conn: Conn, request_id: int, message_id: int) -> None:
    conn.execute(_DM_SENT, {"id": request_id, "message": message_id})


def purge(conn: Conn) -> int:
    """Answered captchas after a day, decided join requests after 30 days."""
    return int(conn.execute(_PURGE_CHALLENGES).rowcount) + int(conn.execute(_PURGE_JOINS).rowcount)
