"""Replies as Discord messages (content or an embed, components) and commands as registration JSON.

Owns Discord's format and limits: markdown escaping of everything a person wrote, 2,000 characters of
content, an embed's 256/4,096/25×(256/1,024)/2,048 and 6,000 in all, 5 buttons a row and 5 rows, 80
characters a label, 100 a custom_id, 25 menu choices. Mentions never ping (allowed_mentions is empty).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from ttfd.core.i18n import SOURCE, Msg, said
from ttfd.ui.commands import Command, Kind, Option
from ttfd.ui.reply import Button, Modal, Reply
from ttfd.ui.text import Span, Text

CONTENT_MAX = 2000
TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FIELDS_MAX = 25
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FOOTER_MAX = 2048
EMBED_MAX = 6000
ROW_MAX = 5
ROWS_MAX = 5
LABEL_MAX = 80
CUSTOM_ID_MAX = 100
CHOICES_MAX = 25
EPHEMERAL = 1 << 6
STYLES = {"primary": 1, "secondary": 2, "success": 3, "danger": 4}
COLOR = 0x5865F2

# Response types (Discord's InteractionResponseType)
PONG, MESSAGE, DEFERRED_MESSAGE, DEFERRED_UPDATE, UPDATE, MODAL = 1, 4, 5, 6, 7, 9
MODAL_TITLE_MAX, INPUT_LABEL_MAX, INPUT_MAX = 45, 45, 4000
OPTION_TYPES = {
    Kind.STRING: 3,
    Kind.INTEGER: 4,
    Kind.BOOLEAN: 5,
    Kind.USER: 6,
    Kind.CHANNEL: 7,
    Kind.ROLE: 8,
    Kind.NUMBER: 10,
    Kind.ATTACHMENT: 11,
}

_INLINE = re.compile(r"([\\*_~`|\[\]<])")
_LINE_START = re.compile(r"(?m)^(\s*)([#>-])")  # headers, quotes and lists only mean something there
_SPECIAL = re.compile(r"[\\*_~`|\[\]<#>-]")  # every character either of the two above can match


def escape(value: str) -> str:
    """Text shown exactly as written: markdown and mention syntax escaped."""
    if _SPECIAL.search(value) is None:  # most pieces: nothing to escape, one scan instead of two substitutions
        return value
    return _LINE_START.sub(r"\1\\\2", _INLINE.sub(r"\\\1", value))


def _clip(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _time(moment: datetime, style: str) -> str:
    flag = {"relative": "R", "datetime": "f", "date": "D"}[style]
    return f"<t:{int(moment.timestamp())}:{flag}>"


def _span(span: Span) -> str:
    if span.kind == "bold":
        return f"**{escape(span.text)}**"
    if span.kind == "italic":
        return f"*{escape(span.text)}*"
    if span.kind in ("code", "command"):
        return "`" + span.text.replace("`", "ˋ") + "`" if span.text else ""
    if span.kind == "mention" and span.person is not None:
        pid = span.person.discord_id
        return f"<@{pid}>" if pid else f"**{escape(span.person.name)}**"
    if span.kind == "time" and span.moment is not None:
        return _time(span.moment, span.style)
    if span.kind == "role" and span.ref:
        return f"<@&{span.ref}>"
    if span.kind == "channel" and span.ref:
        return f"<#{span.ref}>"
    if span.kind == "link" and span.url:
        return f"[{escape(span.text)}](<{span.url.replace('>', '%3E')}>)"
    return escape(span.text)


def markdown(t: Text | str, limit: int = DESCRIPTION_MAX) -> str:
    """Text as Discord markdown, cut to `limit` characters at a piece boundary (never inside a mark)."""
    if isinstance(t, str):
        return _clip(escape(t), limit)
    out, size = [], 0
    for part in t:
        piece = escape(part) if isinstance(part, str) else _span(part)
        if size + len(piece) > limit:
            room = limit - size - 1
            if isinstance(part, str) and room > 0:
                out.append(escape(part)[:room].rstrip("\\"))
            out.append("…")
            break
        out.append(piece)
        size += len(piece)
    return "".join(out)


def _button(b: Button) -> dict[str, Any]:
    d: dict[str, Any] = {"type": 2, "label": _clip(b.label, LABEL_MAX), "disabled": b.disabled}
    if b.url:
        d.update(style=5, url=b.url)
    else:
        assert b.action is not None, "a button needs an action or a URL"
        d.update(style=STYLES[b.style], custom_id=b.action.pack())
    return d


def components(reply: Reply) -> list[dict[str, Any]]:
    """Rows of at most 5 buttons (longer rows wrap), then the select menu; at most 5 rows in all."""
    rows: list[dict[str, Any]] = []
    for row in reply.rows:
        for i in range(0, len(row), ROW_MAX):
            rows.append({"type": 1, "components": [_button(b) for b in row[i : i + ROW_MAX]]})
    if reply.select is not None:
        options = [
            {
                "label": _clip(c.label, 100),
                "value": c.action.pack(),
                **({"description": _clip(c.description, 100)} if c.description else {}),
            }
            for c in reply.select.choices[:CHOICES_MAX]
        ]
        first = reply.select.choices[0].action.prefix if reply.select.choices else "none"
        rows.append(
            {
                "type": 1,
                "components": [
                    {
                        "type": 3,
                        "custom_id": f"{first}:menu",
                        "placeholder": _clip(reply.select.placeholder, 150),
                        "options": options,
                    }
                ],
            }
        )
    return rows[:ROWS_MAX]


def message(reply: Reply) -> dict[str, Any]:
    """The message payload (interaction response `data`, or a webhook edit body)."""
    data: dict[str, Any] = {"allowed_mentions": {"parse": []}}
    if reply.title or reply.fields or reply.image:
        embed: dict[str, Any] = {"color": reply.color if reply.color is not None else COLOR}
        budget = EMBED_MAX
        if reply.title:
            embed["title"] = _clip(reply.title, TITLE_MAX)
            budget -= len(embed["title"])
        if reply.footer:
            embed["footer"] = {"text": _clip(reply.footer, FOOTER_MAX)}
            budget -= len(embed["footer"]["text"])
        fields = []
        for f in reply.fields[:FIELDS_MAX]:
            name, value = _clip(f.name, FIELD_NAME_MAX), markdown(f.value, FIELD_VALUE_MAX) or "—"
            if len(name) + len(value) > budget:
                break
            budget -= len(name) + len(value)
            fields.append({"name": name, "value": value, "inline": f.inline})
        if fields:
            embed["fields"] = fields
        if reply.body:
            embed["description"] = markdown(reply.body, min(DESCRIPTION_MAX, max(budget, 1)))
        if reply.image:
            embed["image"] = {"url": reply.image}
        data["embeds"] = [embed]
    else:
        data["content"] = markdown(reply.body, CONTENT_MAX)
    rows = components(reply)
    if rows or reply.edit:
        data["components"] = rows
    if reply.private:
        data["flags"] = EPHEMERAL
    return data


def modal(m: Modal) -> dict[str, Any]:
    """A modal's `data`: one action row per text input (style 1 short, 2 paragraph)."""
    rows = [
        {
            "type": 1,
            "components": [
                {
                    "type": 4,
                    "custom_id": i.name,
                    "label": _clip(i.label, INPUT_LABEL_MAX),
                    "style": 2 if i.long else 1,
                    "min_length": i.min_length,
                    "max_length": min(i.max_length, INPUT_MAX),
                    "required": i.min_length > 0,
                    **({"placeholder": _clip(i.placeholder, 100)} if i.placeholder else {}),
                }
            ],
        }
        for i in m.inputs[:ROWS_MAX]
    ]
    return {"custom_id": m.action.pack(), "title": _clip(m.title, MODAL_TITLE_MAX), "components": rows}


def response(reply: Reply, *, component: bool = False) -> dict[str, Any]:
    """An interaction response: a new message, an update of the message whose button was pressed, or a
    modal (which Discord allows as the answer to a command or a button, not to a modal submit)."""
    if reply.modal is not None:
        return {"type": MODAL, "data": modal(reply.modal)}
    kind = UPDATE if component and reply.edit else MESSAGE
    return {"type": kind, "data": message(reply)}


def deferred(*, private: bool, component: bool) -> dict[str, Any]:
    """'Thinking…' now, the real answer later through the interaction webhook (15 minutes)."""
    if component:
        return {"type": DEFERRED_UPDATE}
    return {"type": DEFERRED_MESSAGE, "data": {"flags": EPHEMERAL} if private else {}}


# --- registration ------------------------------------------------------------------------------------


# The languages Discord is told the commands' names and descriptions in, beside English (what the declarations
# say): ours → Discord's locale code. A Russian client shows /бонус for /daily; its interactions still carry
# the English names, so routing never depends on the translations.
DISCORD_LOCALES = {"ru": "ru"}
NAME_MAX, COMMAND_DESCRIPTION_MAX, CHOICE_NAME_MAX = 32, 100, 100


def valid_name(name: str) -> bool:
    """Discord's rule for a slash command's (or option's) name: 1-32 of letters, digits, - _ ', lowercase."""
    return 1 <= len(name) <= NAME_MAX and name == name.lower() and all(ch.isalnum() or ch in "-_'" for ch in name)


def _name(name: str, context: str, locale: str) -> str:
    """A name in `locale` from the catalog (context "command" or "option"); the English one when the
    translation breaks Discord's rule, so one bad translation never blocks the registration."""
    said_name = Msg(name, context=context).in_(locale).strip().lower().replace(" ", "-")
    return said_name if valid_name(said_name) else name


def _named(name: str, description: str, context: str) -> dict[str, Any]:
    """`name`, `description` and their translations (name_localizations, description_localizations)."""
    return {
        "name": name,
        "name_localizations": {code: _name(name, context, lang) for lang, code in DISCORD_LOCALES.items()},
        "description": _clip(said(description, SOURCE), COMMAND_DESCRIPTION_MAX),
        "description_localizations": {
            code: _clip(said(description, lang), COMMAND_DESCRIPTION_MAX) for lang, code in DISCORD_LOCALES.items()
        },
    }


def _choice(label: str, value: str | int) -> dict[str, Any]:
    return {
        "name": _clip(said(label, SOURCE), CHOICE_NAME_MAX),
        "name_localizations": {
            code: _clip(said(label, lang), CHOICE_NAME_MAX) for lang, code in DISCORD_LOCALES.items()
        },
        "value": value,
    }


def _option(o: Option) -> dict[str, Any]:
    d: dict[str, Any] = {"type": OPTION_TYPES[o.kind], **_named(o.name, o.description, "option")}
    if o.required:
        d["required"] = True
    if o.choices:
        d["choices"] = [_choice(n, v) for n, v in o.choices]
    if o.min_value is not None:
        d["min_value"] = o.min_value
    if o.max_value is not None:
        d["max_value"] = o.max_value
    if o.kind == Kind.STRING and o.max_length != 6000:
        d["max_length"] = o.max_length
    if o.channel_types:
        d["channel_types"] = list(o.channel_types)
    if o.autocomplete is not None:
        d["autocomplete"] = True
    return d


def definitions(commands: list[Command], groups: dict[str, tuple[str, int | None]]) -> list[dict[str, Any]]:
    """Bulk-registration JSON: one entry per top-level command; subcommands folded into their group. Every
    name, description and choice carries its translations (DISCORD_LOCALES).

    `groups` maps a group name to (description, default_member_permissions)."""
    out: dict[str, dict[str, Any]] = {}
    for c in sorted(commands, key=lambda c: c.path):
        if "discord" not in c.platforms:
            continue
        if c.group is None:
            d: dict[str, Any] = {"type": 1, **_named(c.name, c.description, "command")}
            if c.options:
                d["options"] = [_option(o) for o in c.options]
            if c.permission:
                d["default_member_permissions"] = str(c.permission[0])
            d["contexts"] = [0] if c.guild_only else [0, 1, 2]
            out[c.name] = d
            continue
        description, perms = groups[c.group]
        group = out.setdefault(
            c.group,
            {
                "type": 1,
                **_named(c.group, description, "command"),
                "options": [],
                **({"default_member_permissions": str(perms)} if perms is not None else {}),
                "contexts": [0],
            },
        )
        sub: dict[str, Any] = {"type": 1, **_named(c.name, c.description, "command")}
        if c.options:
            sub["options"] = [_option(o) for o in c.options]
        group["options"].append(sub)
    return [out[name] for name in sorted(out)]
