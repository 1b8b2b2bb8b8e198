"""Where things live on each OS: a small, injectable description of the machine the engine runs against."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from cleaner.records import NamedTuple


def current_os() -> str:
    """Return 'linux', 'windows' or 'darwin' for the running interpreter."""
    if sys.platform.startswith("win"):
        return "windows"
    if sys.platform == "darwin":
        return "darwin"
    return "linux"


class Env(NamedTuple):
    """The machine the engine looks at: OS flavour, home, environment and a root for system paths.

    Tests build one with a fake root so Windows/macOS locations can be exercised on Linux
    without touching the real system.
    """

    os_name: str
    home: str
    environ: Mapping[str, str] = {}  # shared default, never mutated: Env.current() builds its own
    root: str = os.sep

    @classmethod
    def current(cls, root: str | None = None) -> Env:
        """Describe the running machine (HOME is honoured, so tests can redirect it)."""
        return cls(
            os_name=current_os(),
            home=os.path.expanduser("~"),
            environ=dict(os.environ),
            root=os.path.abspath(root) if root else os.sep,
        )

    def sys_path(self, path: str) -> str:
        """Map an absolute system path (e.g. '/tmp') under the configured root."""
        if self.root in ("", os.sep):
            return path
        return os.path.join(self.root, path.lstrip("/\\"))

    def get(self, name: str, default: str = "") -> str:
        """Read an environment variable of the described machine."""
        return self.environ.get(name, default)

    def xdg(self, var: str, default_rel: str) -> str:
        """Resolve an XDG base directory the way the spec says (absolute env value or HOME default)."""
        value = self.environ.get(var, "")
        if value and os.path.isabs(value):
            return value
        return os.path.join(self.home, default_rel)

    def var(self, name: str) -> str | None:
        """One variable's value (None when unset); Windows names are case-insensitive, as there."""
        value = self.environ.get(name)
        if value is None and self.os_name == "windows":
            low = name.lower()
            value = next((v for k, v in self.environ.items() if k.lower() == low), None)
        return value

    def expand(self, path: str, missing: list[str] | None = None) -> str:
        """Expand ~, $VAR, ${VAR} and %VAR% using this machine's environment.

        An unset variable is left as written; its name is appended to ``missing`` when given.
        """
        if path.startswith("~"):
            path = self.home + path[1:]
        out = []
        i = 0
        while i < len(path):
            ch = path[i]
            if ch == "$" and i + 1 < len(path):
                if path[i + 1] == "{":
                    end = path.find("}", i + 2)
                    if end != -1:
                        name = path[i + 2 : end]
                        out.append(self._sub(name, "${" + name + "}", missing))
                        i = end + 1
                        continue
                j = i + 1
                while j < len(path) and (path[j].isalnum() or path[j] == "_"):
                    j += 1
                if j > i + 1:
                    name = path[i + 1 : j]
                    out.append(self._sub(name, "$" + name, missing))
                    i = j
                    continue
            if ch == "%":
                end = path.find("%", i + 1)
                if end > i + 1 and path[i + 1 : end].replace("_", "").isalnum():
                    name = path[i + 1 : end]
                    value = self.var(name)
                    if value is not None:
                        out.append(value)
                        i = end + 1
                        continue
                    if missing is not None and self.os_name == "windows":
                        missing.append(name)
            out.append(ch)
            i += 1
        return "".join(out)

    def _sub(self, name: str, literal: str, missing: list[str] | None) -> str:
        value = self.var(name)
        if value is None:
            if missing is not None:
                missing.append(name)
            return literal
        return value
