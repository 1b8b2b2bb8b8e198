"""A reply in neutral terms; ttfd.render turns it into a Discord message or a Telegram one."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from ttfd.core import failures
from ttfd.core.failures import Failure, Kind
from ttfd.core.i18n import Msg, listing, localize, said
from ttfd.ui.actions import Action
from ttfd.ui.text import Part, Text, text

Style = Literal["primary", "secondary", "success", "danger"]
# How a failure (ttfd.core.failures.classify) begins in a chat; its words are the failure's own.
ICONS = {Kind.REFUSED: "⚠️ ", Kind.TRANSIENT: "⏳ ", Kind.PERMANENT: "😵 ", Kind.BUG: "😵 "}


def _marked(kind: Kind, words: str) -> Msg:
    """The failure's words after its icon, still said in the reader's language."""
    return listing((ICONS[kind], words), separator="")


# What a chat shows when our code failed (logged once, with its traceback) …
GENERIC_ERROR = _marked(Kind.BUG, failures.GENERIC)
# … and when the database could not serve in time (Discord never redelivers: it is told at once).
BUSY = _marked(Kind.TRANSIENT, failures.BUSY)


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
    return Reply(body=(ICONS[Kind.REFUSED], message), private=True)


def failed(failure: Failure) -> Reply:
    """How any failure reads in a chat: its icon and its words, seen only by whoever asked."""
    if failure.kind is Kind.REFUSED:
        return refusal(failure.words)
    return Reply(body=(_marked(failure.kind, failure.words),), private=True)


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
