"""Typed actions carried by buttons and select menus, packed as `prefix:field:field[:mac]`.

One packing for both platforms, so the tighter limit rules: Telegram's callback_data holds 64 bytes
(Discord's custom_id 100 characters). Actions that carry authority (whose board to page, which duel to
accept) are `signed`: a MAC keyed by a server secret, so a client cannot forge or alter one.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import typing
from typing import Any, ClassVar, Literal, Self, get_args, get_origin

from ttfd.core.errors import BadInput
from ttfd.core.i18n import _

MAX_BYTES = 64
STALE = _("This button is not valid any more.")


@dataclasses.dataclass(frozen=True)
class Action:
    """Subclasses are frozen dataclasses of int, str and Literal fields, with a unique `prefix`."""

    prefix: ClassVar[str]
    signed: ClassVar[bool] = False

    def pack(self) -> str:
        """The wire form; raises ValueError if a field holds ':' or the result is too long."""
        parts = [self.prefix]
        for f in dataclasses.fields(self):
            value = str(getattr(self, f.name))
            if ":" in value:
                raise ValueError(f"action field {f.name} may not contain ':'")
            parts.append(value)
        packed = ":".join(parts)
        if self.signed:
            packed += ":" + _mac(packed)
        if len(packed.encode()) > MAX_BYTES:
            raise ValueError(f"action {packed!r} is {len(packed.encode())} bytes; buttons hold {MAX_BYTES}")
        return packed

    @classmethod
    def unpack(cls, packed: str) -> Self:
        """Parse and check a packed action; anything wrong with it is BadInput (a stale or forged button)."""
        parts = packed.split(":")
        if cls.signed:
            body, mac = ":".join(parts[:-1]), parts[-1]
            if not hmac.compare_digest(_mac(body).encode(), mac.encode()):
                raise BadInput(STALE)
            parts = parts[:-1]
        types = _field_types(cls)
        if parts[0] != cls.prefix or len(parts) - 1 != len(types):
            raise BadInput(STALE)
        values: dict[str, Any] = {}
        for (name, kind), raw in zip(types.items(), parts[1:], strict=True):
            values[name] = _parse(kind, raw)
        return cls(**values)


_FIELD_TYPES: dict[type, dict[str, Any]] = {}


def _field_types(cls: type) -> dict[str, Any]:
    if cls not in _FIELD_TYPES:
        hints = typing.get_type_hints(cls)
        _FIELD_TYPES[cls] = {f.name: hints[f.name] for f in dataclasses.fields(cls)}
    return _FIELD_TYPES[cls]


def _parse(kind: Any, raw: str) -> Any:
    if kind is int:
        body = raw[1:] if raw.startswith("-") else raw
        if not (body.isascii() and body.isdigit()) or len(body) > 19 or not -(2**63) <= int(raw) < 2**63:
            raise BadInput(STALE)
        return int(raw)
    if get_origin(kind) is Literal:
        if raw not in get_args(kind):
            raise BadInput(STALE)
        return raw
    if kind is str:
        return raw
    raise TypeError(f"unsupported action field type {kind!r}")


def prefix_of(packed: str) -> str:
    """The prefix that says which action type (and handler) a packed action belongs to."""
    return packed.split(":", 1)[0]


def _mac(body: str) -> str:
    from ttfd.core.settings import get_settings

    digest = hmac.new(get_settings().action_key, body.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:9]).decode()  # 72 bits, 12 characters
