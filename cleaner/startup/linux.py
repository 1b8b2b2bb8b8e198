"""Linux startup sources: XDG autostart, systemd user units and cron @reboot lines."""

from __future__ import annotations

import hashlib
import os
import shlex
from typing import Any

from cleaner.i18n import _
from cleaner.platforms import Env
from cleaner.startup.base import Runner, StartupEntry, StartupError, run_command

OVERRIDE_MARK = "X-TTFD-Cleaner-Override"
CRON_DISABLED = "#ttfd-disabled# "


def parse_desktop(text: str) -> dict[str, str]:
    """Keys of the [Desktop Entry] group of a .desktop file (unlocalised keys only)."""
    out: dict[str, str] = {}
    group = None
    for line in text.splitlines():
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        if s.startswith("[") and s.endswith("]"):
            group = s[1:-1]
            continue
        if group == "Desktop Entry" and "=" in s:
            k, v = s.split("=", 1)
            out.setdefault(k.strip(), v.strip())
    return out


def set_desktop_keys(text: str, updates: dict[str, str | None]) -> str:
    """Set (or remove, with None) keys in the [Desktop Entry] group, keeping everything else as is."""
    lines = text.splitlines()
    out: list[str] = []
    group = None
    done: set[str] = set()
    insert_at = None
    for line in lines:
        s = line.strip()
        if s.startswith("[") and s.endswith("]"):
            if group == "Desktop Entry" and insert_at is None:
                insert_at = len(out)
            group = s[1:-1]
            out.append(line)
            continue
        if group == "Desktop Entry" and "=" in s and not s.startswith("#"):
            k = s.split("=", 1)[0].strip()
            if k in updates:
                if k not in done and updates[k] is not None:
                    out.append(f"{k}={updates[k]}")
                done.add(k)
                continue
        out.append(line)
    if group == "Desktop Entry" and insert_at is None:
        insert_at = len(out)
    if insert_at is None:
        out = ["[Desktop Entry]", *out]
        insert_at = 1
    missing = [f"{k}={v}" for k, v in updates.items() if v is not None and k not in done]
    out[insert_at:insert_at] = missing
    return "\n".join(out) + "\n"


def _enabled(keys: dict[str, str]) -> bool:
    return (
        keys.get("Hidden", "false").lower() != "true"
        and keys.get("X-GNOME-Autostart-enabled", "true").lower() != "false"
    )


class XdgAutostart:
    """~/.config/autostart (user) over $XDG_CONFIG_DIRS/autostart (system); user files shadow system ones."""

    def __init__(self, env: Env) -> None:
        self.user_dir = os.path.join(env.xdg("XDG_CONFIG_HOME", ".config"), "autostart")
        dirs = env.get("XDG_CONFIG_DIRS") or "/etc/xdg"
        self.system_dirs = [os.path.join(env.sys_path(d), "autostart") for d in dirs.split(":") if d]

    @staticmethod
    def _files(d: str) -> dict[str, str]:
        try:
            return {n: os.path.join(d, n) for n in sorted(os.listdir(d)) if n.endswith(".desktop")}
        except OSError:
            return {}

    @staticmethod
    def _read(path: str) -> str:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()

    def entries(self) -> list[StartupEntry]:
        """System entries (possibly hidden by our override) and user entries."""
        system: dict[str, str] = {}
        for d in reversed(self.system_dirs):  # earlier dirs in XDG_CONFIG_DIRS take precedence
            system.update(self._files(d))
        user = self._files(self.user_dir)
        out: list[StartupEntry] = []
        for name in sorted(set(system) | set(user)):
            upath = user.get(name)
            ukeys = parse_desktop(self._read(upath)) if upath else {}
            if name in system and (upath is None or OVERRIDE_MARK in ukeys):
                keys = parse_desktop(self._read(system[name]))
                enabled = _enabled(ukeys) if upath else _enabled(keys)
                out.append(self._entry(name, "system", keys, enabled, system[name]))
            elif upath:
                out.append(self._entry(name, "user", ukeys, _enabled(ukeys), upath))
        return out

    @staticmethod
    def _entry(name: str, scope: str, keys: dict[str, str], enabled: bool, path: str) -> StartupEntry:
        return StartupEntry(
            id=f"xdg:{scope}:{name}",
            name=keys.get("Name", name.removesuffix(".desktop")),
            command=keys.get("Exec", ""),
            source="xdg",
            scope=scope,
            category="logon",
            enabled=enabled,
            location=path,
            description=keys.get("Comment", ""),
            publisher=keys.get("X-GNOME-Autostart-Publisher", ""),
        )

    def set_enabled(self, entry: StartupEntry, enabled: bool) -> dict[str, Any]:
        """User entries are edited in place; system entries get (or lose) a user override file."""
        name = entry.id.split(":", 2)[2]
        upath = os.path.join(self.user_dir, name)
        before = self._read(upath) if os.path.exists(upath) else None
        if entry.scope == "user":
            assert before is not None
            updates: dict[str, str | None] = {"Hidden": "false" if enabled else "true"}
            if enabled:
                updates["X-GNOME-Autostart-enabled"] = None
            _write(upath, set_desktop_keys(before, updates))
            return {"file": upath, "before": before}
        sys_text = self._read(entry.location)
        if enabled:
            if before is not None:
                os.unlink(upath)  # our override goes away: the system entry applies again
            if not _enabled(parse_desktop(sys_text)):
                _write(
                    upath,
                    set_desktop_keys(
                        sys_text,
                        {"Hidden": "false", "X-GNOME-Autostart-enabled": None, OVERRIDE_MARK: "true"},
                    ),
                )
        else:
            _write(upath, set_desktop_keys(sys_text, {"Hidden": "true", OVERRIDE_MARK: "true"}))
        return {"file": upath, "before": before}


def _write(path: str, text: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".ttfd-tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


class SystemdUser:
    """systemd user services, through ``systemctl --user`` (absent or unreachable: no entries)."""

    def __init__(self, runner: Runner = run_command) -> None:
        self.runner = runner
        self.note = ""

    def entries(self) -> list[StartupEntry]:
        """Enabled and disabled user service units (static/masked ones are not user-toggleable)."""
        code, out, err = self.runner(
            ["systemctl", "--user", "list-unit-files", "--type=service", "--no-legend", "--no-pager"], None
        )
        if code != 0:
            self.note = _("systemd user units unavailable: {detail}", detail=(err or out).strip()[:200])
            return []
        units: dict[str, str] = {}
        for line in out.splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[1] in ("enabled", "disabled") and "@." not in parts[0]:
                units[parts[0]] = parts[1]
        if not units:
            return []
        info: dict[str, dict[str, str]] = {}
        code, out, _err = self.runner(
            [
                "systemctl",
                "--user",
                "show",
                "--no-pager",
                "-p",
                "Id,Description,ExecStart,FragmentPath",
                *units,
            ],
            None,
        )
        if code == 0:
            cur: dict[str, str] = {}
            for line in [*out.splitlines(), ""]:
                if not line.strip():
                    if "Id" in cur:
                        info[cur["Id"]] = cur
                    cur = {}
                    continue
                k, _sep, v = line.partition("=")
                cur[k] = v
        out_entries = []
        for unit, state in units.items():
            i = info.get(unit, {})
            cmd = i.get("ExecStart", "")
            if "argv[]=" in cmd:  # "{ path=/usr/bin/x ; argv[]=/usr/bin/x --flag ; ... }"
                cmd = cmd.split("argv[]=", 1)[1].split(" ;", 1)[0]
            out_entries.append(
                StartupEntry(
                    id=f"systemd:user:{unit}",
                    name=unit.removesuffix(".service"),
                    command=cmd,
                    source="systemd",
                    scope="user",
                    category="services",
                    enabled=state == "enabled",
                    location=i.get("FragmentPath", ""),
                    description=i.get("Description", ""),
                )
            )
        return out_entries

    def set_enabled(self, entry: StartupEntry, enabled: bool) -> dict[str, Any]:
        """systemctl --user enable|disable UNIT."""
        unit = entry.id.split(":", 2)[2]
        code, out, err = self.runner(["systemctl", "--user", "enable" if enabled else "disable", unit], None)
        if code != 0:
            raise StartupError(_("systemctl failed: {detail}", detail=(err or out).strip()))
        return {"unit": unit}


class CronReboot:
    """@reboot lines of the user's crontab; disabling comments the line out with a marker."""

    def __init__(self, runner: Runner = run_command) -> None:
        self.runner = runner
        self.note = ""

    def _crontab(self) -> str | None:
        code, out, err = self.runner(["crontab", "-l"], None)
        if code == 0:
            return out
        if "no crontab" in (err + out).lower():
            return ""
        self.note = _("crontab unavailable: {detail}", detail=(err or out).strip()[:200])
        return None

    @staticmethod
    def _parse(line: str) -> tuple[bool, str] | None:
        s = line.strip()
        enabled = True
        if s.startswith(CRON_DISABLED.strip()):
            s = s[len(CRON_DISABLED.strip()) :].strip()
            enabled = False
        if s.startswith("@reboot"):
            return enabled, s[len("@reboot") :].strip()
        return None

    @staticmethod
    def _id(cmd: str) -> str:
        return "cron:user:" + hashlib.sha1(cmd.encode(), usedforsecurity=False).hexdigest()[:12]

    def entries(self) -> list[StartupEntry]:
        """One entry per @reboot line (enabled or disabled by us)."""
        text = self._crontab()
        if not text:
            return []
        out = []
        for line in text.splitlines():
            parsed = self._parse(line)
            if parsed is None:
                continue
            enabled, cmd = parsed
            try:
                prog = os.path.basename(shlex.split(cmd)[0]) if cmd else ""
            except ValueError:
                prog = cmd.split()[0] if cmd else ""
            out.append(StartupEntry(self._id(cmd), prog or cmd, cmd, "cron", "user", "scheduled", enabled, "crontab"))
        return out

    def set_enabled(self, entry: StartupEntry, enabled: bool) -> dict[str, Any]:
        """Rewrite the crontab with the line (un)commented."""
        text = self._crontab()
        if text is None:
            raise StartupError(self.note)
        lines = text.splitlines()
        for i, line in enumerate(lines):
            parsed = self._parse(line)
            if parsed and self._id(parsed[1]) == entry.id:
                lines[i] = ("" if enabled else CRON_DISABLED) + "@reboot " + parsed[1]
                break
        else:
            raise StartupError(_("{id} is no longer in the crontab", id=entry.id))
        new = "\n".join(lines) + "\n"
        code, out, err = self.runner(["crontab", "-"], new)
        if code != 0:
            raise StartupError(_("crontab failed: {detail}", detail=(err or out).strip()))
        return {"before": text}
