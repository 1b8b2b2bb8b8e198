"""'Send to trash' through send2trash, with the freedesktop trash location re-read for every run."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable


def trash_function() -> Callable[[str], None]:
    """Return a callable that moves one path to the desktop trash."""
    from send2trash import send2trash as _s2t

    send2trash: Callable[[str], None] = _s2t
    if sys.platform.startswith(("win", "darwin")):
        return send2trash
    try:
        plat: object = importlib.import_module("send2trash.plat_other")
    except ImportError:  # pragma: no cover - send2trash picked another backend
        return send2trash
    # send2trash computes the home trash once at import; HOME/XDG_DATA_HOME may have changed since
    # (tests, or a GUI started with another environment), so refresh it before every run.
    xdg = os.path.expanduser(os.environb.get(b"XDG_DATA_HOME", b"~/.local/share"))
    setattr(plat, "XDG_DATA_HOME", xdg)  # noqa: B010 - module globals, not attributes we own
    setattr(plat, "HOMETRASH_B", os.path.join(xdg, b"Trash"))  # noqa: B010
    setattr(plat, "HOMETRASH", os.fsdecode(os.path.join(xdg, b"Trash")))  # noqa: B010
    fn: Callable[[str], None] = getattr(plat, "send2trash")  # noqa: B009
    return fn
