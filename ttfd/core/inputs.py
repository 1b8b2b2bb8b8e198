"""Rules every inbound value passes at the edge, before it reaches the domain or Postgres.

Postgres refuses NUL in text and bigints past 2^63; UTF-8 cannot encode a lone surrogate (JSON's
"\\ud800" decodes to one); Python's json recurses once per nesting level; bidi controls let a name or
a URL display as something it is not. Each of those is answered here with a clear refusal (or, for
names a platform gives us, a cleaned copy), never a 500 further in.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_JSON_DEPTH = 32
MAX_BODY_BYTES = 1 << 20
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1


def snowflake(value: Any) -> int | None:
    """A Discord snowflake (decimal string or int) as an int, or None if it is not one: positive, fits a
    Postgres bigint, ASCII digits only."""
    raw = str(value) if type(value) in (int, str) else ""
    if not (0 < len(raw) <= 19 and raw.isascii() and raw.isdigit()):
        return None
    n = int(raw)
    return n if 0 < n <= INT64_MAX else None


# Embeddings, overrides and isolates reorder what follows them (U+202E makes "gpj.exe" read "exe.jpg").
_BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f]")  # C0 controls and DEL, except \t and \n
_BIDI = re.compile(f"[{_BIDI_CONTROLS}]")
_UNSAFE_IN_NAME = re.compile(f"[\x00-\x1f\x7f\ud800-\udfff{_BIDI_CONTROLS}]")
_UNSAFE_IN_TEXT = re.compile(f"[\x00-\x09\x0b-\x1f\x7f{_BIDI_CONTROLS}]")


class InputError(ValueError):
    """Malformed input: the sender gets 400 with this reason and nothing changes."""


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InputError("numbers must be finite")
    return value


def _no_constant(name: str) -> Any:
    raise InputError(f"{name} is not valid JSON")


def _int(text: str) -> int:
    # Checked before converting: Python refuses past 4,300 digits with a message about its own limits.
    if len(text.lstrip("-")) > 19:
        raise InputError("a number is out of range")
    return int(text)


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # {"item_id": 8, "item_id": 7} means two things at once; a parser would silently keep the last.
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise InputError(f"the key {key[:40]!r} appears twice")
        out[key] = value
    return out


def load_json(body: bytes | str, *, max_depth: int = MAX_JSON_DEPTH, max_bytes: int = MAX_BODY_BYTES) -> Any:
    """Parse JSON with bounded size and nesting, integers that fit Postgres' bigint and finite floats."""
    if len(body) > max_bytes:
        raise InputError(f"the body is larger than {max_bytes} bytes")
    try:
        value = json.loads(
            body, parse_float=_finite, parse_int=_int, parse_constant=_no_constant, object_pairs_hook=_object
        )
    except InputError:
        raise
    except RecursionError:
        raise InputError(f"JSON nested deeper than {max_depth} levels") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})") from None
    except (ValueError, UnicodeDecodeError):  # bad UTF-8
        raise InputError("not valid JSON (it is not UTF-8 text)") from None
    check_shape(value, max_depth)
    return value


def check_shape(value: Any, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Refuse nesting past max_depth and integers outside signed 64 bits (iteratively: no recursion)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > max_depth:
                raise InputError(f"JSON nested deeper than {max_depth} levels")
            stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
        elif isinstance(node, int) and not isinstance(node, bool) and not INT64_MIN <= node <= INT64_MAX:
            raise InputError("a number is out of range")


def text_problem(value: str, *, multiline: bool = False) -> str | None:
    """Why `value` may not be stored or shown to others as it is, or None if it may."""
    if "\x00" in value:
        return "must not contain NUL characters"
    if _LONE_SURROGATE.search(value):
        return "must be valid Unicode (it contains a lone surrogate)"
    if _CONTROL.search(value) or (not multiline and ("\n" in value or "\t" in value)):
        return "must not contain control characters"
    if _BIDI.search(value):
        return "must not contain bidirectional control characters"
    return None


def clean_name(value: str | None, max_len: int = 100) -> str | None:
    """A platform-given name made safe to store and show: no controls, lone surrogates or bidi
    controls (we cannot refuse someone's Telegram or Discord name, so we clean it). Empty → None."""
    if value is None:
        return None
    cleaned = _UNSAFE_IN_NAME.sub("", value).strip()[:max_len]
    return cleaned or None


def safe_text(value: str) -> str:
    """Text we compose from user input, made storable and displayable: controls (but newlines) and bidi
    controls dropped, lone surrogates shown as U+FFFD."""
    return _LONE_SURROGATE.sub("\ufffd", _UNSAFE_IN_TEXT.sub("", value))


def scrub(value: Any) -> Any:
    """A copy of parsed JSON whose strings hold no NUL or lone surrogate (free text a platform relays,
    such as a Telegram message, which must be read rather than refused)."""
    if isinstance(value, str):
        if "\x00" in value or _LONE_SURROGATE.search(value):
            return _LONE_SURROGATE.sub("\ufffd", value.replace("\x00", ""))
        return value
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value
