"""A reply in neutral terms; ttfd.render turns it into a Discord message or a Telegram one."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from ttfd.core.i18n import _, localize, said
from ttfd.ui.actions import Action
from ttfd.ui.text import Part, Text, text

Style = Literal["primary", "secondary", "success", "danger"]
# What anyone is told when our code failed (logged once, with its traceback, never shown).
GENERIC_ERROR = _("😵 Something went wrong on our side. Please try again in a moment.")
# What Discord is told when the database is too busy to answer within its 3 s (it never redelivers).
BUSY = _("⏳ TTFD is very busy right now and did not do that. Nothing changed; please try again in a few seconds.")


@dataclass(frozen=True)
class Field:
    name: str
    value: Text
    inline: bool = True


@dataclass(frozen=True)
class Button:
    """Either carries an action (pressed → its handler) or opens a URL."""

    label: str
    action: Action | None = None
    url: str | None = None
    style: Style = "secondary"
    disabled: bool = False


@dataclass(frozen=True)
class Choice:
    label: str
    action: Action
    description: str | None = None


@dataclass(frozen=True)
class Select:
    """A menu of choices, each carrying its own action."""

    placeholder: str
    choices: tuple[Choice, ...]


@dataclass(frozen=True)
class TextInput:
    """One text field of a modal; its answer arrives under `name` (Ctx.inputs)."""

    name: str
    label: str  # Discord: at most 45 characters
    placeholder: str = ""
    min_length: int = 1
    max_length: int = 100
    long: bool = False  # a paragraph rather than one line


@dataclass(frozen=True)
class Modal:
    """A form that pops up over Discord (answering a command or a button press, never a modal submit);
    submitting it runs the handler of `action` with the fields' text in Ctx.inputs."""

    title: str  # at most 45 characters
    action: Action
    inputs: tuple[TextInput, ...]


@dataclass(frozen=True)
class Attachment:
    """A file shown with the reply (an image is shown inline). Only jobs send files: an immediate answer
    goes back in the HTTP response, which carries no upload."""

    name: str
    data: bytes
    mime: str = "image/png"


@dataclass(frozen=True)
class Reply:
    """`private`: only the person who asked sees it (where the platform can do that); `edit`: replace the
    message whose button was pressed instead of answering with a new one."""

    body: Text = ()
    title: str | None = None
    fields: tuple[Field, ...] = ()
    footer: str | None = None
    color: int | None = None
    image: str | None = None
    rows: tuple[tuple[Button, ...], ...] = ()
    select: Select | None = None
    private: bool = False
    edit: bool = False
    attachment: Attachment | None = None
    modal: Modal | None = None  # Discord only: open this form instead of answering with a message

    @property
    def empty(self) -> bool:
        """Nothing to show (a group message that earned XP is answered with nothing)."""
        return not (self.body or self.title or self.fields or self.rows or self.select or self.attachment or self.modal)


def say(*parts: Part | Text | None, private: bool = False, **kw: object) -> Reply:
    """A reply that is only text."""
    return Reply(body=text(*parts), private=private, **kw)  # type: ignore[arg-type]


def refusal(message: str) -> Reply:
    """How a refusal (DomainError) reads on every platform."""
    return Reply(body=("⚠️ ", message), private=True)


def localized(reply: Reply, locale: str) -> Reply:
    """The reply with every text said in `locale` (ttfd.core.i18n): what the renderers then draw."""

    def button(b: Button) -> Button:
        return replace(b, label=said(b.label, locale))

    select = reply.select
    if select is not None:
        choices = tuple(
            replace(c, label=said(c.label, locale), description=c.description and said(c.description, locale))
            for c in select.choices
        )
        select = Select(said(select.placeholder, locale), choices)
    modal = reply.modal
    if modal is not None:
        inputs = tuple(
            replace(i, label=said(i.label, locale), placeholder=said(i.placeholder, locale)) for i in modal.inputs
        )
        modal = replace(modal, title=said(modal.title, locale), inputs=inputs)
    return replace(
        reply,
        body=localize(reply.body, locale),
        title=reply.title and said(reply.title, locale),
        fields=tuple(Field(said(f.name, locale), localize(f.value, locale), f.inline) for f in reply.fields),
        footer=reply.footer and said(reply.footer, locale),
        rows=tuple(tuple(button(b) for b in row) for row in reply.rows),
        select=select,
        modal=modal,
    )


def field_(name: str, *parts: Part | Text | None, inline: bool = True) -> Field:
    return Field(name, text(*parts), inline)
