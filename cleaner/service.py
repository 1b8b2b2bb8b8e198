"""The one engine facade used by both CLI and GUI: categories, scan (preview) and apply (+ report)."""

from __future__ import annotations

from collections.abc import Callable

from cleaner.categories import builtin_categories, temp_dirs, user_dirs
from cleaner.i18n import _
from cleaner.platforms import Env
from cleaner.rules import Category
from cleaner.safety import Protector, RunningChecker, keep_list
from cleaner.scan import Progress, ScanResult, scan
from cleaner.storage import Storage

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time (start-up time counts)
if TYPE_CHECKING:
    import threading
    from typing import Any


class UnknownCategory(ValueError):
    """A category name that is neither built in nor from the CleanerML directory."""


class Cleaner:
    """Holds the machine description, storage and optional CleanerML directory."""

    def __init__(
        self,
        env: Env | None = None,
        storage: Storage | None = None,
        cleanerml_dir: str | None = None,
        *,
        mounts: set[str] | None = None,
        running: RunningChecker | None = None,
    ) -> None:
        self.env = env or Env.current()
        self.storage = storage or Storage()
        self.cleanerml_dir = cleanerml_dir
        self.mounts = mounts
        self.running = running
        self.skipped: list[str] = []

    def categories(self) -> list[Category]:
        """Built-in categories, then every CleanerML option as '<cleaner>.<option>'."""
        cats = builtin_categories(self.env, self.storage.settings())
        self.skipped = []
        if self.cleanerml_dir:
            from cleaner.cleanerml import load_dir  # XML only when asked for: start-up time counts

            res = load_dir(self.cleanerml_dir, self.env)
            cats.extend(res.categories)
            self.skipped = res.skipped
        return cats

    def resolve(self, names: list[str]) -> list[Category]:
        """Categories by name, in the order given; 'all' means every non-opt-in built-in one."""
        cats = self.categories()
        by_name = {c.name: c for c in cats}
        out: list[Category] = []
        for raw in names:
            name = raw.strip()
            if not name:
                continue
            if name == "all":
                picked = [c for c in cats if not c.opt_in]
            elif name in by_name:
                picked = [by_name[name]]
            else:
                raise UnknownCategory(
                    _("unknown category {name}; known: {known}", name=repr(name), known=", ".join(by_name))
                )
            out.extend(c for c in picked if c not in out)
        if not out:
            raise UnknownCategory(_("no category given"))
        return out

    def protector(self) -> Protector:
        """Built-in keep list plus the user's exclusions (read fresh every time)."""
        d = user_dirs(self.env)
        patterns = keep_list(self.env, d["cache"], temp_dirs(self.env)) + self.storage.exclusions()
        return Protector(patterns, self.env)

    def scan(
        self,
        names: list[str],
        *,
        force: bool = False,
        progress: Callable[[Progress], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> ScanResult:
        """Preview: what apply would delete."""
        cats = self.resolve(names)
        return scan(
            self.env,
            cats,
            self.protector(),
            force=force,
            running=self.running or RunningChecker(self.env),
            mounts=self.mounts,
            progress=progress,
            cancel=cancel,
        )

    def apply(
        self,
        preview: ScanResult,
        *,
        trash: bool = False,
        progress: Callable[[int, int], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> tuple[dict[str, Any], str]:
        """Delete exactly the preview's entries, save the report and return (report, report path)."""
        from cleaner.apply import apply as apply_preview  # only commands that delete pay for its imports

        report = apply_preview(
            self.env,
            preview,
            self.protector(),
            trash=trash,
            mounts=self.mounts,
            progress=progress,
            cancel=cancel,
        )
        report["preview"] = {"total_bytes": preview.total_bytes, "total_items": preview.total_items}
        report["refused"] = {n: c.refused for n, c in preview.categories.items() if c.refused}
        path = self.storage.save_report(report)
        return report, path
