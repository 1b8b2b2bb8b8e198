"""Data model of what may be cleaned: categories made of rules, each confined to an allowed root.

Immutable records are NamedTuples rather than dataclasses: creating dataclasses (and importing
``dataclasses``, which pulls in ``inspect``) is a measurable share of every command's start-up.
"""

from __future__ import annotations

from cleaner.records import NamedTuple

SEARCH_KINDS = ("file", "glob", "walk.files", "walk.all", "walk.top")
# What a rule does to what it finds. 'delete' removes it; the others work on regular files found by a
# 'file' or 'glob' search: 'truncate' empties, 'shred' overwrites then deletes, and the edits change
# a file in place ('json' removes a key, 'ini' a section or parameter, 'sqlite.vacuum' compacts).
ACTIONS = ("delete", "truncate", "shred", "json", "ini", "sqlite.vacuum")
EDIT_ACTIONS = ("json", "ini", "sqlite.vacuum")


class AppGuard(NamedTuple):
    """An application whose files must not be touched while it runs (process names or lock files)."""

    name: str
    processes: tuple[str, ...] = ()
    lock_files: tuple[str, ...] = ()  # absolute paths or globs; existence (even as a dangling link) means running


class Rule(NamedTuple):
    """One search: which entries under ``path`` are candidates, never leaving ``allowed_root``."""

    label: str
    search: str  # one of SEARCH_KINDS
    path: str  # directory for walk.*, file for 'file', pattern for 'glob'
    allowed_root: str
    regex: str | None = None  # on the entry's basename
    nregex: str | None = None
    wholeregex: str | None = None  # on the full path
    nwholeregex: str | None = None
    min_age_s: float = 0.0  # only files whose mtime is older than this
    own_files_only: bool = False  # shared dirs like /tmp: never touch other users' files
    guard: AppGuard | None = None
    # Sub-directories that belong to an app: pruned from this rule while that app runs.
    guarded_subdirs: tuple[tuple[str, AppGuard], ...] = ()
    never_trash: bool = False  # the desktop trash itself is deleted, not moved back into the trash
    object_type: str = ""  # CleanerML type="f" (regular files only) or "d" (directories only)
    action: str = "delete"  # one of ACTIONS
    action_args: tuple[tuple[str, str], ...] = ()  # json: address; ini: section, parameter


class Category(NamedTuple):
    """A named set of rules the user can pick (e.g. 'cache' or 'thumbnails.cache')."""

    name: str
    label: str
    description: str
    rules: tuple[Rule, ...]
    opt_in: bool = False  # only when asked for by name, never in 'all'
    warning: str = ""
    guard: AppGuard | None = None  # refuses the whole category while running
    notes: tuple[str, ...] = ()  # e.g. unsupported CleanerML actions skipped
    refused_actions: tuple[str, ...] = ()  # CleanerML actions deliberately never run, with the reason
