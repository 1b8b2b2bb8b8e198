"""Log lines that cannot be forged: control characters in messages are escaped, tracebacks are indented.

Paths, names and payload fragments end up in log messages; a "\\n" in one would otherwise start a line
that looks like our own. Every entrypoint's process logs through `setup()`.
"""

from __future__ import annotations

import logging
import re
import sys

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def escape(text: str) -> str:
    """Control characters (newlines included) as visible escapes, so one record is one line."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


class SafeFormatter(logging.Formatter):
    """The message on one escaped line; a traceback below it, every line indented, so nothing in it can
    pass for a record of its own."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape(record.message)
        return super().formatMessage(record)

    def formatException(self, ei: logging._SysExcInfoType) -> str:
        return _indent(super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return _indent(super().formatStack(stack_info))


def _indent(block: str) -> str:
    return "\n".join("    " + _CONTROL.sub(lambda m: escape(m.group()), line) for line in block.splitlines())


FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is at the time (test runners swap it), like logging's last resort."""

    _ttfd = True

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> object:
        return sys.stderr

    @stream.setter
    def stream(self, _: object) -> None:
        pass


def setup(level: int = logging.INFO) -> None:
    """Route the root logger through SafeFormatter on stderr (idempotent; handlers others added, such as
    pytest's capture, stay as they are)."""
    root = logging.getLogger()
    if not any(getattr(h, "_ttfd", False) for h in root.handlers):
        root.addHandler(_Stderr())
    for h in root.handlers:
        if getattr(h, "_ttfd", False):
            h.setFormatter(SafeFormatter(FORMAT))
    root.setLevel(level)
    logging.getLogger("aiogram.event").setLevel(logging.WARNING)  # a line per update otherwise
