"""What people type on Telegram, where options are words after the command: the words a choice is known by in
every language (`/coinflip 50 орёл`), and the refusals of what cannot be read (webhooks/telegram/routing.py
parses; the texts live here, in this feature's catalog, with the rest of the commands' words)."""

from __future__ import annotations

from ttfd.core.i18n import LOCALES, Msg, _, said
from ttfd.ui.commands import Option

QUOTE_OPEN = _("A quote is not closed.")
PICK_SOMEONE = _("Reply to their message (or tap their name) to pick someone.")


def too_much(extra: str) -> Msg:
    return _("Too much after the command: {extra}", extra=extra)


def send_picture(command: str) -> Msg:
    """A command that takes a picture, sent as a plain text: how to send it (Telegram has no file option)."""
    return _("Send the picture as a photo with /{command} as its caption.", command=command)


def not_a_picture(command: str) -> Msg:
    """A command that takes a picture, as the caption of another kind of file (a PDF, a video)."""
    return _(
        "That file is not a picture. Send a photo (or an image file) with /{command} as its caption.", command=command
    )


def fold(word: str) -> str:
    """A typed word as it is compared: case folded, ё read as е, spaces squeezed."""
    return " ".join(word.casefold().replace("ё", "е").split())


def choice(option: Option, word: str) -> str | int | None:
    """The value of the choice `word` names: its value (`heads`) or its label in any language we speak
    (`Heads`, `орёл`, `ОРЕЛ`); None when it names none."""
    wanted = fold(word)
    for _label, value in option.choices:
        if fold(str(value)) == wanted:
            return value
    for label, value in option.choices:
        if any(fold(said(label, locale)) == wanted for locale in LOCALES):
            return value
    return None
