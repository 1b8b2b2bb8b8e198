"""Settings, exclusions, reports and the startup change log, under the platformdirs user dirs."""

from __future__ import annotations

import json
import os
import sys

from cleaner.categories import DEFAULT_SETTINGS
from cleaner.i18n import _

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time (start-up time counts)
if TYPE_CHECKING:
    from typing import Any

APP_NAME = "ttfd-cleaner"
_XDG = {"config": ("XDG_CONFIG_HOME", "~/.config"), "data": ("XDG_DATA_HOME", "~/.local/share")}


def user_dir(kind: str) -> str:
    """platformdirs' user config/data dir of the app ('config' or 'data').

    On Linux it is the XDG rule platformdirs applies, computed here: importing platformdirs (pathlib,
    tempfile...) is a noticeable share of a command's start-up. Elsewhere platformdirs decides.
    """
    if sys.platform.startswith("linux"):
        var, default = _XDG[kind]
        base = os.environ.get(var, "")
        return os.path.join(base if base.strip() else os.path.expanduser(default), APP_NAME)
    import platformdirs

    if kind == "config":
        return platformdirs.user_config_dir(APP_NAME, appauthor=False)
    return platformdirs.user_data_dir(APP_NAME, appauthor=False)


def _atomic_write(path: str, text: str) -> None:
    """Write via a temp file + rename so a crash never leaves half a settings file."""
    import tempfile  # only commands that write pay for it (start-up time)

    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=os.path.dirname(path))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class Storage:
    """All persistent state of the Cleaner; paths default to platformdirs (which honour HOME/XDG_*)."""

    def __init__(self, config_dir: str | None = None, data_dir: str | None = None) -> None:
        self.config_dir = config_dir or user_dir("config")
        self.data_dir = data_dir or user_dir("data")

    @property
    def settings_path(self) -> str:
        """settings.json in the config dir."""
        return os.path.join(self.config_dir, "settings.json")

    @property
    def exclusions_path(self) -> str:
        """exclusions.json in the config dir."""
        return os.path.join(self.config_dir, "exclusions.json")

    @property
    def reports_dir(self) -> str:
        """One JSON file per apply."""
        return os.path.join(self.data_dir, "reports")

    @property
    def startup_log_path(self) -> str:
        """JSON lines, one per startup toggle (with what is needed to undo it)."""
        return os.path.join(self.data_dir, "startup-changes.jsonl")

    def _read_json(self, path: str, default: Any) -> Any:
        try:
            with open(path, encoding="utf-8") as fh:
                return json.load(fh)
        except FileNotFoundError:
            return default
        except (OSError, ValueError) as exc:
            raise StorageError(_("cannot read {path}: {error}", path=path, error=str(exc))) from exc

    # settings ---------------------------------------------------------------------------------------

    def settings(self) -> dict[str, Any]:
        """Settings merged over the defaults."""
        data = self._read_json(self.settings_path, {})
        if not isinstance(data, dict):
            raise StorageError(_("{path}: expected a JSON object", path=self.settings_path))
        return {**DEFAULT_SETTINGS, **data}

    def save_settings(self, settings: dict[str, Any]) -> None:
        """Persist settings."""
        _atomic_write(self.settings_path, json.dumps(settings, indent=2, sort_keys=True) + "\n")

    # exclusions --------------------------------------------------------------------------------------

    def exclusions(self) -> list[str]:
        """User exclusions (paths or globs), in insertion order."""
        data = self._read_json(self.exclusions_path, [])
        if not isinstance(data, list) or not all(isinstance(x, str) for x in data):
            raise StorageError(_("{path}: expected a JSON list of strings", path=self.exclusions_path))
        return list(data)

    def add_exclusion(self, pattern: str) -> bool:
        """Add a pattern; False when it was already there."""
        pattern = pattern.strip()
        if not pattern:
            raise StorageError(_("empty exclusion"))
        items = self.exclusions()
        if pattern in items:
            return False
        items.append(pattern)
        _atomic_write(self.exclusions_path, json.dumps(items, indent=2) + "\n")
        return True

    def remove_exclusion(self, pattern: str) -> bool:
        """Remove a pattern; False when it was not there."""
        items = self.exclusions()
        if pattern not in items:
            return False
        items.remove(pattern)
        _atomic_write(self.exclusions_path, json.dumps(items, indent=2) + "\n")
        return True

    # reports -----------------------------------------------------------------------------------------

    def save_report(self, report: dict[str, Any]) -> str:
        """Write one apply report and return its path."""
        path = os.path.join(self.reports_dir, f"{report['id']}.json")
        _atomic_write(path, json.dumps(report, indent=2) + "\n")
        return path

    def reports(self, last: int | None = None) -> list[dict[str, Any]]:
        """Reports, newest first."""
        try:
            names = sorted((n for n in os.listdir(self.reports_dir) if n.endswith(".json")), reverse=True)
        except FileNotFoundError:
            return []
        if last is not None:
            names = names[:last]
        out = []
        for n in names:
            data = self._read_json(os.path.join(self.reports_dir, n), None)
            if isinstance(data, dict):
                out.append(data)
        return out

    # startup log -------------------------------------------------------------------------------------

    def log_startup_change(self, record: dict[str, Any]) -> None:
        """Append one toggle record."""
        from datetime import UTC, datetime

        os.makedirs(self.data_dir, exist_ok=True)
        rec = {"time": datetime.now(UTC).isoformat(), **record}
        with open(self.startup_log_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(rec) + "\n")

    def startup_changes(self) -> list[dict[str, Any]]:
        """All toggle records, oldest first."""
        try:
            with open(self.startup_log_path, encoding="utf-8") as fh:
                return [json.loads(line) for line in fh if line.strip()]
        except FileNotFoundError:
            return []


class StorageError(Exception):
    """A settings/exclusions/report file is unreadable or malformed."""
