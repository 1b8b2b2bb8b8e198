"""Picks the startup sources of the described OS and records every toggle."""

from __future__ import annotations

from typing import Any

from cleaner.i18n import _
from cleaner.platforms import Env
from cleaner.startup.base import CATEGORIES, Runner, StartupEntry, StartupError, StartupSource, run_command
from cleaner.startup.linux import CronReboot, SystemdUser, XdgAutostart
from cleaner.startup.macos import LaunchAgents
from cleaner.startup.windows import Registry, WindowsStartup
from cleaner.storage import Storage


class StartupManager:
    """List entries of every source and toggle them by stable id."""

    def __init__(
        self,
        env: Env,
        storage: Storage,
        runner: Runner = run_command,
        registry: Registry | None = None,
    ) -> None:
        self.storage = storage
        self.sources: list[StartupSource]
        if env.os_name == "windows":
            self.sources = [WindowsStartup(env, registry)]
        elif env.os_name == "darwin":
            self.sources = [LaunchAgents(env, runner)]
        else:
            self.sources = [XdgAutostart(env), SystemdUser(runner), CronReboot(runner)]

    def notes(self) -> list[str]:
        """Why a source gave no entries (e.g. no user systemd), after entries() ran."""
        return [n for s in self.sources if (n := getattr(s, "note", ""))]

    def entries(self, category: str = "all") -> list[StartupEntry]:
        """Entries of one category (logon, services, scheduled) or all."""
        if category != "all" and category not in CATEGORIES:
            raise StartupError(
                _("unknown startup category {category} (logon, services, scheduled, all)", category=repr(category))
            )
        out = [e for _, e in self._indexed()]
        return [e for e in out if category == "all" or e.category == category]

    def _indexed(self) -> list[tuple[StartupSource, StartupEntry]]:
        return [(s, e) for s in self.sources for e in s.entries()]

    def set_enabled(self, entry_id: str, enabled: bool) -> dict[str, Any]:
        """Enable or disable one entry; the change is appended to the startup change log."""
        for source, entry in self._indexed():
            if entry.id != entry_id:
                continue
            if not entry.can_toggle:
                raise StartupError(_("{id} cannot be toggled", id=entry_id))
            if entry.enabled == enabled:
                return {"id": entry_id, "changed": False, "enabled": enabled}
            detail = source.set_enabled(entry, enabled)
            record = {
                "id": entry_id,
                "changed": True,
                "enabled": enabled,
                "was_enabled": entry.enabled,
                "detail": detail,
            }
            self.storage.log_startup_change(record)
            return record
        raise StartupError(_("no startup entry with id {id}", id=repr(entry_id)))
