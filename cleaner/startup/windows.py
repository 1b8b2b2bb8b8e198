"""Windows startup sources: Run/RunOnce keys, Startup folders and the StartupApproved values.

Registry access goes through a small backend so the logic runs on Linux against a fake registry;
``winreg`` is only imported on Windows.
"""

from __future__ import annotations

import importlib
import os
import struct
import time
from typing import Any, Protocol

from cleaner.i18n import _
from cleaner.platforms import Env
from cleaner.startup.base import StartupEntry, StartupError

REG_SZ = 1
REG_EXPAND_SZ = 2
REG_BINARY = 3

CV = r"Software\Microsoft\Windows\CurrentVersion"
CV32 = r"Software\WOW6432Node\Microsoft\Windows\CurrentVersion"
APPROVED = CV + r"\Explorer\StartupApproved"


class Registry(Protocol):
    """The registry operations the startup manager needs."""

    def values(self, hive: str, key: str) -> list[tuple[str, Any, int]]:
        """(name, data, type) of every value of a key; empty when the key does not exist."""
        ...

    def get(self, hive: str, key: str, name: str) -> tuple[Any, int] | None:
        """One value, or None."""
        ...

    def set(self, hive: str, key: str, name: str, data: Any, vtype: int) -> None:
        """Create the key if needed and set a value."""
        ...

    def delete(self, hive: str, key: str, name: str) -> None:
        """Delete a value if present."""
        ...


class FakeRegistry:
    """In-memory registry: {(hive, key lower-cased): {name: (data, type)}}; used by tests."""

    def __init__(self, data: dict[tuple[str, str], dict[str, tuple[Any, int]]] | None = None) -> None:
        self.data: dict[tuple[str, str], dict[str, tuple[Any, int]]] = {}
        for (hive, key), vals in (data or {}).items():
            self.data[(hive.upper(), key.lower())] = dict(vals)

    def values(self, hive: str, key: str) -> list[tuple[str, Any, int]]:
        """See Registry."""
        return [(n, d, t) for n, (d, t) in self.data.get((hive.upper(), key.lower()), {}).items()]

    def get(self, hive: str, key: str, name: str) -> tuple[Any, int] | None:
        """See Registry."""
        return self.data.get((hive.upper(), key.lower()), {}).get(name)

    def set(self, hive: str, key: str, name: str, data: Any, vtype: int) -> None:
        """See Registry."""
        self.data.setdefault((hive.upper(), key.lower()), {})[name] = (data, vtype)

    def delete(self, hive: str, key: str, name: str) -> None:
        """See Registry."""
        self.data.get((hive.upper(), key.lower()), {}).pop(name, None)


class WinregRegistry:  # pragma: no cover - exercised on Windows only
    """The real registry through ``winreg``."""

    def __init__(self) -> None:
        # import_module keeps mypy (run on Linux) from checking winreg's Windows-only attributes
        winreg: Any = importlib.import_module("winreg")
        self._w = winreg
        self._hives = {"HKCU": winreg.HKEY_CURRENT_USER, "HKLM": winreg.HKEY_LOCAL_MACHINE}

    def values(self, hive: str, key: str) -> list[tuple[str, Any, int]]:
        """See Registry."""
        w = self._w
        try:
            with w.OpenKey(self._hives[hive], key, 0, w.KEY_READ | w.KEY_WOW64_64KEY) as k:
                out: list[tuple[str, Any, int]] = []
                i = 0
                while True:
                    try:
                        name, data, vtype = w.EnumValue(k, i)
                    except OSError:
                        return out
                    out.append((name, data, vtype))
                    i += 1
        except OSError:
            return []

    def get(self, hive: str, key: str, name: str) -> tuple[Any, int] | None:
        """See Registry."""
        w = self._w
        try:
            with w.OpenKey(self._hives[hive], key, 0, w.KEY_READ | w.KEY_WOW64_64KEY) as k:
                data, vtype = w.QueryValueEx(k, name)
                return data, vtype
        except OSError:
            return None

    def set(self, hive: str, key: str, name: str, data: Any, vtype: int) -> None:
        """See Registry."""
        w = self._w
        with w.CreateKeyEx(self._hives[hive], key, 0, w.KEY_SET_VALUE | w.KEY_WOW64_64KEY) as k:
            w.SetValueEx(k, name, 0, vtype, data)

    def delete(self, hive: str, key: str, name: str) -> None:
        """See Registry."""
        w = self._w
        try:
            with w.OpenKey(self._hives[hive], key, 0, w.KEY_SET_VALUE | w.KEY_WOW64_64KEY) as k:
                w.DeleteValue(k, name)
        except OSError:
            pass


# source id, hive, key, StartupApproved sub-key (None: RunOnce entries run once and cannot be approved)
_RUN_KEYS: tuple[tuple[str, str, str, str | None], ...] = (
    ("run", "HKCU", CV + r"\Run", "Run"),
    ("run", "HKLM", CV + r"\Run", "Run"),
    ("run32", "HKLM", CV32 + r"\Run", "Run32"),
    ("runonce", "HKCU", CV + r"\RunOnce", None),
    ("runonce", "HKLM", CV + r"\RunOnce", None),
    ("runonce32", "HKLM", CV32 + r"\RunOnce", None),
)


def approved_enabled(data: Any) -> bool:
    """StartupApproved: first byte even (02, 06) means enabled, odd (03, 07) disabled."""
    if not isinstance(data, bytes | bytearray) or not data:
        return True
    return data[0] % 2 == 0


def approved_value(enabled: bool, now: float | None = None) -> bytes:
    """12-byte value Task Manager writes: flag dword, then FILETIME of the change when disabled."""
    if enabled:
        return b"\x02" + b"\x00" * 11
    filetime = int(((now if now is not None else time.time()) + 11644473600) * 10_000_000)
    return struct.pack("<IQ", 3, filetime)


class WindowsStartup:
    """Run keys and Startup folders, with enable/disable through StartupApproved (like Task Manager)."""

    def __init__(self, env: Env, registry: Registry | None = None) -> None:
        self.env = env
        self.reg: Registry = registry if registry is not None else WinregRegistry()
        appdata = env.get("APPDATA") or os.path.join(env.home, "AppData", "Roaming")
        progdata = env.get("PROGRAMDATA") or env.get("ProgramData") or env.sys_path("/ProgramData")
        sm = os.path.join("Microsoft", "Windows", "Start Menu", "Programs")
        self.folders = {
            "user": (os.path.join(appdata, sm, "Startup"), "HKCU"),
            "common": (os.path.join(progdata, sm, "StartUp"), "HKLM"),
        }
        self.note = ""

    def entries(self) -> list[StartupEntry]:
        """Every Run/RunOnce value and Startup folder item."""
        out: list[StartupEntry] = []
        for source, hive, key, approved in _RUN_KEYS:
            for name, data, _vtype in self.reg.values(hive, key):
                if not name:
                    continue  # the key's (Default) value is not an entry
                enabled = True
                if approved:
                    val = self.reg.get(hive, APPROVED + "\\" + approved, name)
                    enabled = approved_enabled(val[0]) if val else True
                out.append(
                    StartupEntry(
                        id=f"{source}:{hive.lower()}:{name}",
                        name=name,
                        command=str(data),
                        source=source,
                        scope=hive.lower(),
                        category="logon",
                        enabled=enabled,
                        location=f"{hive}\\{key}",
                        can_toggle=approved is not None,
                    )
                )
        for scope, (folder, hive) in self.folders.items():
            try:
                names = sorted(n for n in os.listdir(folder) if n.lower() != "desktop.ini")
            except OSError:
                continue
            for n in names:
                val = self.reg.get(hive, APPROVED + r"\StartupFolder", n)
                out.append(
                    StartupEntry(
                        id=f"startupfolder:{scope}:{n}",
                        name=os.path.splitext(n)[0],
                        command=os.path.join(folder, n),
                        source="startupfolder",
                        scope=scope,
                        category="logon",
                        enabled=approved_enabled(val[0]) if val else True,
                        location=folder,
                    )
                )
        return out

    def set_enabled(self, entry: StartupEntry, enabled: bool) -> dict[str, Any]:
        """Write the StartupApproved value; the Run value / shortcut itself is never removed."""
        source, scope, name = entry.id.split(":", 2)
        if source.startswith("runonce"):
            raise StartupError(_("RunOnce entries run once and cannot be disabled; remove them instead"))
        if source == "startupfolder":
            hive, sub = self.folders[scope][1], "StartupFolder"
        else:
            hive, sub = scope.upper(), ("Run32" if source == "run32" else "Run")
        key = APPROVED + "\\" + sub
        before = self.reg.get(hive, key, name)
        self.reg.set(hive, key, name, approved_value(enabled), REG_BINARY)
        return {"key": f"{hive}\\{key}", "value": name, "before": before[0].hex() if before else None}
