"""``NamedTuple`` for the engine's records, without importing ``typing`` when a command runs.

Type checkers see ``typing.NamedTuple`` itself. At run time the same class syntax builds a plain
``collections.namedtuple`` (fields, defaults, methods and docstring as ``typing.NamedTuple`` gives them):
importing ``typing`` and turning every annotation into a ``ForwardRef`` is a measurable share of a command's
start-up, and nothing here reads the annotations at run time (they stay as the strings they are written as).
"""

from __future__ import annotations

import collections

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (type checkers take it as true)
if TYPE_CHECKING:
    from typing import NamedTuple as NamedTuple
else:
    # What typing.NamedTuple refuses to let a class body override, and what it does not copy.
    _PROHIBITED = frozenset(
        {"__new__", "__init__", "__slots__", "__getnewargs__", "_fields", "_field_defaults"}
        | {"_make", "_replace", "_asdict", "_source"}
    )
    _SPECIAL = frozenset({"__module__", "__name__", "__annotations__"})

    class _NamedTupleMeta(type):
        def __new__(mcs, name, bases, ns):
            if not bases:  # NamedTuple itself
                return super().__new__(mcs, name, bases, ns)
            if bases != (NamedTuple,):
                raise TypeError("can only inherit from a NamedTuple type")  # text-ok: typing's words
            annotations = ns.get("__annotations__", {})
            fields = list(annotations)
            defaults = []
            for field in fields:
                if field in ns:
                    defaults.append(ns[field])
                elif defaults:
                    msg = f"Non-default namedtuple field {field} cannot follow default field(s)"  # text-ok: typing's
                    raise TypeError(msg)
            cls = collections.namedtuple(name, fields, defaults=defaults, module=ns["__module__"])
            cls.__annotations__ = cls.__new__.__annotations__ = dict(annotations)
            for key, value in ns.items():
                if key in _PROHIBITED:
                    raise AttributeError("Cannot overwrite NamedTuple attribute " + key)  # text-ok: typing's words
                if key not in _SPECIAL and key not in fields:
                    setattr(cls, key, value)
            return cls

    class NamedTuple(metaclass=_NamedTupleMeta):
        """Base of a record class: ``class Rule(NamedTuple): label: str; path: str = ""``."""
