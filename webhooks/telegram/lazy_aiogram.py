"""Import aiogram with its pydantic models built on first use instead of all at import.

aiogram.types ends by calling model_rebuild() on ~300 models, which costs ~3 s of the ~3.5 s import on
these machines and dominated the Telegram function's cold start. Its models already declare
defer_build=True; here we record the namespace aiogram passes to those eager rebuilds and skip them,
then hand that namespace to pydantic's own on-first-use rebuild. An update then builds only the models
it touches (~80 ms for a message). Pinned versions: aiogram 3.31, pydantic 2.13 (tests cover every
model we validate). Set TTFD_AIOGRAM_EAGER=1 to import aiogram the normal way.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from pydantic import BaseModel

_namespace: dict[str, Any] = {}


def _is_aiogram(cls: type) -> bool:
    return cls.__module__.startswith("aiogram.")


def install() -> None:
    """Patch BaseModel.model_rebuild for aiogram models, then import aiogram (idempotent)."""
    if "aiogram.types" in sys.modules or os.environ.get("TTFD_AIOGRAM_EAGER") == "1":
        return
    original = BaseModel.model_rebuild.__func__  # type: ignore[attr-defined]

    def model_rebuild(
        cls: type[BaseModel],
        *,
        force: bool = False,
        raise_errors: bool = True,
        _parent_namespace_depth: int = 2,
        _types_namespace: Any = None,
    ) -> bool | None:
        if _is_aiogram(cls):
            if _types_namespace is not None and not force:
                _namespace.update(_types_namespace)  # aiogram's eager rebuild: remember, build later
                return None
            _types_namespace = _types_namespace or _namespace
        result: bool | None = original(
            cls,
            force=force,
            raise_errors=raise_errors,
            _parent_namespace_depth=_parent_namespace_depth,
            _types_namespace=_types_namespace,
        )
        return result

    BaseModel.model_rebuild = classmethod(model_rebuild)  # type: ignore[assignment,method-assign]
    import aiogram.methods
    import aiogram.types  # noqa: F401
