"""What a feature adds to /profile in chats: one SQL expression and how to show its value.

/profile reads the profile's own columns and every feature's part in one statement (one round trip and one
plan however many features add a line); a part called alone (`part(conn, user_id)`, as a registry hook)
runs its own statement. The expression is code, never input: it sees `%(user_id)s` (the account shown) and
`%(now)s`, and yields one value (JSON or NULL)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, LiteralString

from psycopg import sql

from ttfd.core.db import Conn
from ttfd.core.ledger import utc_now
from ttfd.ui.reply import Field


@dataclass(frozen=True)
class ProfilePart:
    sql: LiteralString  # a scalar SQL expression over %(user_id)s and %(now)s
    render: Callable[[Any], tuple[Field, ...]]  # its value (None when the expression yields NULL) → fields

    def __call__(self, conn: Conn, user_id: int) -> tuple[Field, ...]:
        row = conn.execute(select((self,)), {"user_id": user_id, "now": utc_now()}).fetchone()
        return self.render(row["part0"] if row else None)


_COMPOSED: dict[tuple[str, str, tuple[str, ...]], sql.Composed] = {}


def select(parts: Sequence[ProfilePart], columns: LiteralString = "", tail: LiteralString = "") -> sql.Composed:
    """`SELECT columns, (part) AS part0, (part) AS part1, … tail`, composed once per process."""
    key = (columns, tail, tuple(p.sql for p in parts))
    composed = _COMPOSED.get(key)
    if composed is None:
        items: list[sql.Composable] = [sql.SQL(columns)] if columns else []
        items += [sql.SQL("({}) AS {}").format(sql.SQL(p.sql), sql.Identifier(f"part{i}")) for i, p in enumerate(parts)]
        listed = sql.SQL(", ").join(items) if items else sql.SQL("NULL")
        composed = _COMPOSED[key] = sql.SQL("SELECT {} {}").format(listed, sql.SQL(tail))
    return composed


def fields(parts: Sequence[ProfilePart], row: dict[str, Any]) -> tuple[Field, ...]:
    """The fields of every part from a row read with `select(parts, …)`."""
    return tuple(f for i, p in enumerate(parts) for f in p.render(row[f"part{i}"]))


def timestamp(raw: str) -> datetime:
    """A timestamptz as JSON gives it (ISO 8601 with its offset)."""
    return datetime.fromisoformat(raw)
