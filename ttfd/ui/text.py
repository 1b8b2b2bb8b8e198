"""Rich text in neutral terms: what is emphasised, a code, a person, a moment, a link. Each platform's
renderer decides how that looks (Discord markdown, Telegram HTML) and escapes everything else."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

SpanKind = Literal["bold", "italic", "code", "command", "mention", "time", "link", "role", "channel"]
TimeStyle = Literal["relative", "datetime", "date"]


@dataclass(frozen=True)
class Person:
    """Someone to mention: shown by name, linked to their platform account where the platform can."""

    name: str
    discord_id: int | None = None
    telegram_id: int | None = None


@dataclass(frozen=True)
class Span:
    """A marked piece of text; plain pieces are plain `str`."""

    kind: SpanKind
    text: str
    person: Person | None = None
    moment: datetime | None = None
    style: TimeStyle = "relative"
    url: str | None = None
    ref: int | None = None  # a Discord role or channel id


Part = str | Span
Text = tuple[Part, ...]


def text(*parts: Part | Iterable[Part] | None) -> Text:
    """Parts (and nested sequences of parts) as one Text; None and "" are skipped."""
    out: list[Part] = []
    for p in parts:
        if p is None or p == "":
            continue
        if isinstance(p, str | Span):
            out.append(p)
        else:
            out.extend(text(*p))
    return tuple(out)


def lines(*rows: Text | str | None) -> Text:
    """Rows joined by newlines (None rows are left out)."""
    out: list[Part] = []
    for row in rows:
        if row is None:
            continue
        if out:
            out.append("\n")
        out.extend(text(row))
    return tuple(out)


def _text(value: object) -> str:
    # A catalog message (a str) is kept as it is, so it is still said in the reader's language.
    return value if isinstance(value, str) else str(value)


def bold(value: object) -> Span:
    return Span("bold", _text(value))


def italic(value: object) -> Span:
    return Span("italic", _text(value))


def code(value: object) -> Span:
    return Span("code", _text(value))


def command(value: str) -> Span:
    """A command to type: code on Discord, a tappable /command on Telegram."""
    return Span("command", value)


def mention(person: Person) -> Span:
    return Span("mention", person.name, person=person)


def role(ref: int, name: str = "") -> Span:
    """A Discord role: mentioned on Discord (never pinging), named elsewhere."""
    return Span("role", name or f"role {ref}", ref=ref)


def channel(ref: int, name: str = "") -> Span:
    """A Discord channel: linked on Discord, named elsewhere."""
    return Span("channel", f"#{name}" if name else f"channel {ref}", ref=ref)


def when(moment: datetime, style: TimeStyle = "relative") -> Span:
    """A moment each platform shows in its own way (Discord in the reader's time zone)."""
    return Span("time", moment.isoformat(), moment=moment, style=style)


def link(label: str, url: str) -> Span:
    return Span("link", label, url=url)


def plain(t: Text | str) -> str:
    """The text without marks (for logs, tests and platforms that take only plain text)."""
    if isinstance(t, str):
        return t
    return "".join(p if isinstance(p, str) else p.text for p in t)


def number(n: int) -> str:
    """12,345 style."""
    return f"{n:,}"


def progress_bar(fraction: float, width: int = 10) -> str:
    """▰▰▰▱▱ style bar."""
    filled = max(0, min(width, round(fraction * width)))
    return "▰" * filled + "▱" * (width - filled)
