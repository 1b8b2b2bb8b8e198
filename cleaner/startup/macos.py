"""macOS startup sources: LaunchAgents (user and system) and LaunchDaemons."""

from __future__ import annotations

import os
import plistlib
from typing import Any

from cleaner.i18n import _
from cleaner.platforms import Env
from cleaner.startup.base import Runner, StartupEntry, StartupError, run_command


class LaunchAgents:
    """~/Library/LaunchAgents (edited in place) and /Library/LaunchAgents|LaunchDaemons (via launchctl)."""

    def __init__(self, env: Env, runner: Runner = run_command, uid: int | None = None) -> None:
        self.env = env
        self.runner = runner
        self.uid = uid if uid is not None else (os.getuid() if hasattr(os, "getuid") else 501)
        self.dirs = [
            ("user", "logon", os.path.join(env.home, "Library", "LaunchAgents")),
            ("system", "logon", env.sys_path("/Library/LaunchAgents")),
            ("system", "services", env.sys_path("/Library/LaunchDaemons")),
        ]
        self.note = ""

    def _disabled_overrides(self, domain: str) -> dict[str, bool]:
        """launchctl print-disabled: the override database that wins over the plist's Disabled key."""
        code, out, _err = self.runner(["launchctl", "print-disabled", domain], None)
        res: dict[str, bool] = {}
        if code != 0:
            return res
        for line in out.splitlines():
            if "=>" in line:
                label, _sep, state = line.partition("=>")
                res[label.strip().strip('"')] = state.strip() in ("true", "disabled")
        return res

    def entries(self) -> list[StartupEntry]:
        """One entry per readable plist."""
        out: list[StartupEntry] = []
        overrides: dict[str, dict[str, bool]] = {}
        for scope, category, d in self.dirs:
            try:
                names = sorted(n for n in os.listdir(d) if n.endswith(".plist"))
            except OSError:
                continue
            domain = "system" if category == "services" else f"gui/{self.uid}"
            for n in names:
                path = os.path.join(d, n)
                try:
                    with open(path, "rb") as fh:
                        data = plistlib.load(fh)
                except (OSError, plistlib.InvalidFileException, ValueError):
                    continue
                if not isinstance(data, dict):
                    continue
                label = str(data.get("Label") or n.removesuffix(".plist"))
                args = data.get("ProgramArguments") or ([data["Program"]] if data.get("Program") else [])
                enabled = not bool(data.get("Disabled", False))
                if scope == "system":
                    if domain not in overrides:
                        overrides[domain] = self._disabled_overrides(domain)
                    if label in overrides[domain]:
                        enabled = not overrides[domain][label]
                out.append(
                    StartupEntry(
                        id=f"launchd:{scope if category == 'logon' else 'daemon'}:{label}",
                        name=label,
                        command=" ".join(str(a) for a in args),
                        source="launchd",
                        scope=scope,
                        category=category,
                        enabled=enabled,
                        location=path,
                        publisher=label.split(".")[1] if label.count(".") >= 2 else "",
                    )
                )
        return out

    def set_enabled(self, entry: StartupEntry, enabled: bool) -> dict[str, Any]:
        """User agents: the plist's Disabled key; system ones: launchctl enable|disable."""
        if entry.scope == "user":
            with open(entry.location, "rb") as fh:
                raw = fh.read()
            data = plistlib.loads(raw)
            before = data.get("Disabled")
            if enabled:
                data.pop("Disabled", None)
            else:
                data["Disabled"] = True
            tmp = entry.location + ".ttfd-tmp"
            with open(tmp, "wb") as fh:
                plistlib.dump(data, fh)
            os.replace(tmp, entry.location)
            return {"file": entry.location, "before_disabled": before}
        domain = "system" if entry.category == "services" else f"gui/{self.uid}"
        target = f"{domain}/{entry.name}"
        code, out, err = self.runner(["launchctl", "enable" if enabled else "disable", target], None)
        if code != 0:
            raise StartupError(_("launchctl failed: {detail}", detail=(err or out).strip()))
        return {"target": target}
