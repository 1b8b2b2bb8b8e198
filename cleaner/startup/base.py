"""Common types of the startup manager."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

CATEGORIES = ("logon", "services", "scheduled")

# (argv, stdin text) -> (exit code, stdout, stderr). Injected in tests instead of real systemctl/crontab.
Runner = Callable[[list[str], str | None], tuple[int, str, str]]


def run_command(argv: list[str], input_text: str | None = None) -> tuple[int, str, str]:
    """Run a fixed argv (no shell) and return (code, stdout, stderr); a missing program gives 127."""
    try:
        proc = subprocess.run(argv, input=input_text, capture_output=True, text=True, timeout=30, check=False)
    except FileNotFoundError:
        return 127, "", f"{argv[0]}: not found"
    except (OSError, subprocess.SubprocessError) as exc:
        return 126, "", str(exc)
    return proc.returncode, proc.stdout, proc.stderr


class StartupError(Exception):
    """A startup entry cannot be found or toggled."""


@dataclass
class StartupEntry:
    """One program started automatically; ``id`` is stable: 'source:scope:name'."""

    id: str
    name: str
    command: str
    source: str
    scope: str
    category: str  # logon | services | scheduled
    enabled: bool
    location: str
    description: str = ""
    publisher: str = ""
    can_toggle: bool = True

    def to_json(self) -> dict[str, Any]:
        """Stable JSON form."""
        return asdict(self)


class StartupSource(Protocol):
    """One mechanism (XDG autostart, Run keys, ...)."""

    def entries(self) -> list[StartupEntry]:
        """Current entries of this source."""
        ...

    def set_enabled(self, entry: StartupEntry, enabled: bool) -> dict[str, Any]:
        """Enable/disable an entry of this source; returns what changed (for the change log)."""
        ...
