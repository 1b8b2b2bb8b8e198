"""Replies as Telegram Bot API calls in HTML parse mode (what a webhook reply body or a job sends).

Owns Telegram's format and limits: HTML escaping of everything a person wrote, 4,096 characters of
message text (counted without tags), inline keyboards of at most 8 buttons a row with 64 bytes of
callback_data each. Telegram has no private replies in a chat: `private` refusals to a button press go
to the presser alone as an alert (see `alert_text`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any

from ttfd.ui.reply import Reply
from ttfd.ui.text import Span, Text, plain, text

TEXT_MAX = 4096
CAPTION_MAX = 1024
ALERT_MAX = 200
ROW_MAX = 8
LABEL_MAX = 64


def _time(span: Span, now: datetime, locale: str) -> str:
    """A moment as text (Telegram has no native time mark): "in 3 hours (00:00 MSK)" / "через 3 часа (00:00
    MSK)", in the language of the reader and the deployment's time zone (DAY_TZ, the daily's)."""
    from zoneinfo import ZoneInfo

    from ttfd.core import i18n
    from ttfd.core.settings import get_settings

    assert span.moment is not None
    zone = ZoneInfo(get_settings().day_tz)
    local = span.moment.astimezone(zone)
    name = local.tzname() or "UTC"
    if span.style == "relative":
        clock = "HH:mm" if abs(span.moment - now) < timedelta(hours=24) else "d MMM, HH:mm"
        ago = i18n.duration(span.moment - now, locale, direction=True)
        return f"{ago} ({_clock(local, clock, locale)} {name})"
    if span.style == "datetime":
        return f"{_clock(local, 'd MMM y, HH:mm', locale)} {name}"
    return _clock(local, "d MMM y", locale)


def _clock(moment: datetime, pattern: str, locale: str) -> str:
    from babel.dates import format_datetime

    return str(format_datetime(moment, pattern, tzinfo=moment.tzinfo, locale=locale))


def _span(span: Span, now: datetime, locale: str) -> tuple[str, int]:
    """(HTML, visible length) of a marked piece."""
    if span.kind == "time":
        shown = _time(span, now, locale)
        return escape(shown, quote=False), len(shown)
    if span.kind == "mention" and span.person is not None:
        name = escape(span.person.name, quote=False)
        if span.person.telegram_id:
            return f'<a href="tg://user?id={span.person.telegram_id}">{name}</a>', len(span.person.name)
        return f"<b>{name}</b>", len(span.person.name)
    body = escape(span.text, quote=False)
    tag = {"bold": "b", "italic": "i", "code": "code"}.get(span.kind)
    if tag:
        return f"<{tag}>{body}</{tag}>", len(span.text)
    if span.kind == "link" and span.url:
        return f'<a href="{escape(span.url)}">{body}</a>', len(span.text)
    return body, len(span.text)


def html(t: Text | str, limit: int = TEXT_MAX, now: datetime | None = None, locale: str = "en") -> tuple[str, int]:
    """(HTML, visible length) of text, cut to `limit` visible characters at a piece boundary."""
    now = now or datetime.now(UTC)
    out, size = [], 0
    for part in (t,) if isinstance(t, str) else t:
        piece, visible = (escape(part, quote=False), len(part)) if isinstance(part, str) else _span(part, now, locale)
        if size + visible > limit:
            room = limit - size - 1
            if isinstance(part, str) and room > 0:
                out.append(escape(part[:room], quote=False))
            out.append("…")
            return "".join(out), limit
        out.append(piece)
        size += visible
    return "".join(out), size


def message_text(reply: Reply, now: datetime | None = None, limit: int = TEXT_MAX, locale: str = "en") -> str:
    """Title, body, fields and footer as one HTML message within `limit` visible characters."""
    blocks: list[Text] = []
    if reply.title:
        blocks.append(text(Span("bold", reply.title)))
    if reply.body:
        blocks.append(reply.body)
    if reply.fields:
        blocks.append(
            tuple(
                p
                for i, f in enumerate(reply.fields)
                for p in (*(("\n",) if i else ()), Span("bold", f.name), ": ", *(f.value or ("—",)))
            )
        )
    if reply.footer:
        blocks.append(text(Span("italic", reply.footer)))
    out, left = [], limit
    for block in blocks:
        rendered, used = html(block, max(left, 1), now, locale)
        out.append(rendered)
        left -= used + 2
        if left <= 0:
            break
    return "\n\n".join(out) or "…"


def keyboard(reply: Reply) -> dict[str, Any] | None:
    """Inline keyboard: the reply's rows (disabled buttons left out), then each menu choice on its own row."""
    rows: list[list[dict[str, Any]]] = []
    for row in reply.rows:
        buttons = [b for b in row if not b.disabled]
        for i in range(0, len(buttons), ROW_MAX):
            rows.append(
                [
                    {"text": b.label[:LABEL_MAX], "url": b.url}
                    if b.url
                    else {"text": b.label[:LABEL_MAX], "callback_data": b.action.pack()}  # type: ignore[union-attr]
                    for b in buttons[i : i + ROW_MAX]
                ]
            )
    if reply.select is not None:
        rows += [[{"text": c.label[:LABEL_MAX], "callback_data": c.action.pack()}] for c in reply.select.choices]
    return {"inline_keyboard": rows} if rows else None


def send(
    reply: Reply,
    chat_id: int,
    *,
    edit_message_id: int | None = None,
    reply_to: int | None = None,
    locale: str = "en",
) -> dict[str, Any]:
    """The Bot API call that shows `reply` (already said in `locale`, which times are written in):
    sendMessage, or editMessageText of the pressed message."""
    body: dict[str, Any] = {
        "method": "editMessageText" if edit_message_id else "sendMessage",
        "chat_id": chat_id,
        "text": message_text(reply, locale=locale),
        "parse_mode": "HTML",
        "link_preview_options": {"is_disabled": reply.image is None},
    }
    if reply.image:
        body["link_preview_options"] = {"url": reply.image, "prefer_large_media": True, "show_above_text": False}
    if edit_message_id:
        body["message_id"] = edit_message_id
    elif reply_to:
        body["reply_parameters"] = {"message_id": reply_to, "allow_sending_without_reply": True}
    markup = keyboard(reply)
    if markup is not None or edit_message_id:
        body["reply_markup"] = markup or {"inline_keyboard": []}
    return body


def alert_text(reply: Reply) -> str:
    """A short plain version for answerCallbackQuery alerts (seen only by whoever pressed; no markup)."""
    shown = plain(reply.body)
    return shown if len(shown) <= ALERT_MAX else shown[: ALERT_MAX - 1] + "…"
