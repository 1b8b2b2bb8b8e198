"""Property-based fuzzing of every inbound surface, authenticated as the real senders are: Discord with valid
Ed25519 signatures, Telegram with the secret, the site with a session and its CSRF token.

For any input: no 5xx, no crash in the log, never the generic "something went wrong", and a refused
request (4xx, or a ⚠️ refusal) changes no row. `FUZZ_EXAMPLES` raises the count (`make fuzz`)."""

from __future__ import annotations

import logging
import os
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devtools import simulate
from tests.conftest import APP_ID
from tests.hostile import Surfaces, fingerprint, surfaces
from ttfd.cli import discord_definitions
from ttfd.ui.reply import GENERIC_ERROR

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "120"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=os.environ.get("FUZZ_EXAMPLES") is None,  # CI runs the same cases; `make fuzz` explores
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

NASTY = st.sampled_from(
    [
        "",
        "\x00",
        "a\x00b",
        "\ud800",
        "\udfff\ud800",
        "\u202e",
        "\n2026-01-01 INFO forged",
        "A" * 7000,
        "1e5",
        "-7",
        "9" * 40,
        "<b>bold</b>",
        "**md**",
        "`",
        "@everyone",
        "../../etc/passwd",
        "%00",
        "'; DROP TABLE ledger; --",
    ]
)
TEXT = st.one_of(NASTY, st.text(st.characters(exclude_categories=()), max_size=40))
SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    TEXT,
)
JSONISH = st.recursive(
    SCALAR,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)
ID = st.one_of(st.integers(min_value=1, max_value=2**40), st.integers(), st.just(2**63), TEXT)


@pytest.fixture
def s(app_env, fresh_db, monkeypatch, tmp_path) -> Surfaces:
    return surfaces(app_env, monkeypatch, tmp_path, fresh_db)


def _crashes(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


def _check(s: Surfaces, caplog: pytest.LogCaptureFixture, send: Any, refused: Any) -> None:
    caplog.clear()
    before = fingerprint(s.url)
    resp = send()
    assert resp.status_code < 500, resp.data[:300]
    assert GENERIC_ERROR.encode() not in resp.data
    assert _crashes(caplog) == []
    if refused(resp):
        after = fingerprint(s.url)
        after.pop("sessions", None), before.pop("sessions", None)  # last-seen times move on every request
        assert after == before


# --- Discord ----------------------------------------------------------------------------------------

DEFINITIONS = discord_definitions()
COMMAND_NAMES = [d["name"] for d in DEFINITIONS]


@st.composite
def option_lists(draw: st.DrawFn, specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    chosen = draw(st.lists(st.sampled_from(specs), max_size=4)) if specs else []
    out = []
    for spec in chosen:
        if spec["type"] in (1, 2):
            out.append(
                {"name": spec["name"], "type": spec["type"], "options": draw(option_lists(spec.get("options", [])))}
            )
            continue
        value = draw(st.one_of(JSONISH, st.sampled_from([c["value"] for c in spec.get("choices", [])] or [None])))
        out.append(
            {"name": spec["name"], "type": draw(st.sampled_from([spec["type"], spec["type"], 3, 4, 6])), "value": value}
        )
    if draw(st.booleans()):
        out.append({"name": draw(TEXT), "type": draw(st.integers(0, 12)), "value": draw(JSONISH)})
    return out


@st.composite
def interactions(draw: st.DrawFn) -> dict[str, Any]:
    name = draw(st.one_of(st.sampled_from(COMMAND_NAMES), TEXT))
    spec = next((d for d in DEFINITIONS if d["name"] == name), {"options": []})
    kind = draw(st.sampled_from([2, 2, 2, 3]))
    data: dict[str, Any] = {"name": name, "type": 1, "options": draw(option_lists(spec.get("options", [])))}
    if kind == 3:
        data = {
            "custom_id": draw(st.one_of(TEXT, st.just("lb:xp:1:42"), st.just("lb:coins:99999:-1:AAAA"))),
            "component_type": 2,
        }
    if draw(st.booleans()):
        data["resolved"] = draw(st.dictionaries(st.sampled_from(["users", "roles", "channels"]), JSONISH, max_size=2))
    override = None
    if draw(st.integers(0, 9)) == 0:  # now and then, ids of the wrong shape where Discord puts snowflakes
        override = (draw(st.sampled_from(["id", "guild_id", "application_id", "channel_id"])), draw(ID))
    return {
        "kind": kind,
        "user": draw(st.integers(1, 50)),
        "guild": draw(st.one_of(st.none(), st.integers(1, 3))),
        "data": data,
        "permissions": draw(st.sampled_from([0, 1 << 3, 1 << 28, 1 << 5])),
        "override": override,
    }


def _interaction(spec: dict[str, Any]) -> dict[str, Any]:
    """The payload as Discord would send it (built outside the strategy: it draws random snowflakes)."""
    body = simulate.discord_payload(
        app_id=APP_ID,
        user=spec["user"],
        guild=spec["guild"],
        data=spec["data"],
        interaction_type=spec["kind"],
        permissions=spec["permissions"],
    )
    if spec["override"]:
        body[spec["override"][0]] = spec["override"][1]
    return body


@FUZZ
@given(payload=interactions())
def test_discord_fuzz(s, caplog, payload) -> None:
    def refused(resp: Any) -> bool:
        if resp.status_code >= 400:
            return True
        content = (resp.get_json().get("data") or {}).get("content") or ""
        return content.startswith("⚠️")

    _check(s, caplog, lambda: s.discord(_interaction(payload)), refused)


# --- Telegram ---------------------------------------------------------------------------------------

COMMANDS = ["/start", "/help", "/profile", "/daily", "/top", "/link", "/nope", "hello", ""]


@st.composite
def updates(draw: st.DrawFn) -> dict[str, Any]:
    text = draw(st.sampled_from(COMMANDS)) + draw(st.one_of(st.just(""), TEXT.map(lambda t: " " + t)))
    callback = draw(
        st.one_of(st.none(), TEXT, st.sampled_from(["menu:daily", "top:week:3", "top:xp:-1", "top:gold:0"]))
    )
    spec: dict[str, Any] = {
        "text": text if callback is None else None,
        "user": draw(st.integers(1, 50)),
        "chat": draw(st.one_of(st.none(), st.just(-100123))),
        "callback": callback,
        "update_id": draw(st.integers(0, 2**31)),
        "sender": None,
        "extra": None,
    }
    if draw(st.integers(0, 4)) == 0:
        spec["sender"] = (draw(st.sampled_from(["first_name", "last_name", "username", "id", "is_bot"])), draw(JSONISH))
    if draw(st.integers(0, 9)) == 0:
        spec["extra"] = (draw(TEXT), draw(JSONISH))
    return spec


def _update(spec: dict[str, Any]) -> dict[str, Any]:
    update = simulate.telegram_update(
        spec["text"], user=spec["user"], chat=spec["chat"], callback=spec["callback"], update_id=spec["update_id"]
    )
    if spec["sender"]:
        (update.get("message") or update["callback_query"])["from"][spec["sender"][0]] = spec["sender"][1]
    if spec["extra"]:
        update[spec["extra"][0]] = spec["extra"][1]
    return update


@FUZZ
@given(update=updates())
def test_telegram_fuzz(s, caplog, update) -> None:
    def refused(resp: Any) -> bool:
        return resp.status_code >= 400 or str((resp.get_json() or {}).get("text", "")).startswith("⚠️")

    _check(s, caplog, lambda: s.telegram(_update(update)), refused)


# --- website ----------------------------------------------------------------------------------------

SETTINGS = [
    "theme",
    "primary_color",
    "background_image",
    "music_url",
    "bio",
    "show_email",
    "show_stats",
    "notifications",
]


@st.composite
def site_requests(draw: st.DrawFn) -> tuple[str, str, Any]:
    which = draw(st.integers(0, 5))
    if which == 0:
        body = draw(st.one_of(st.dictionaries(st.sampled_from(SETTINGS), JSONISH, min_size=1, max_size=3), JSONISH))
        return "PATCH", "/api/me", body
    if which == 1:
        return "POST", "/auth/telegram", draw(st.one_of(st.dictionaries(TEXT, JSONISH, max_size=4), JSONISH))
    if which == 2:  # any bytes a client can put in a path, percent-encoded as it must send them
        ref = draw(st.one_of(TEXT, st.integers().map(str))).encode("utf-8", "surrogatepass")
        return "GET", "/api/profile/" + quote(ref, safe=""), None
    if which == 3:
        return "GET", f"/api/profile/{draw(st.integers(0, 2**70))}/card.png", None
    if which == 4:
        query = {"board": draw(TEXT), "page": draw(st.one_of(TEXT, st.integers().map(str)))}
        return (
            "GET",
            "/api/leaderboard?" + urlencode({k: v.encode("utf-8", "surrogatepass") for k, v in query.items()}),
            None,
        )
    return "POST", "/api/link-code", None


@FUZZ
@given(request=site_requests())
def test_site_fuzz(s, caplog, request) -> None:
    method, path, body = request
    _check(s, caplog, lambda: s.site(method, path, body), lambda resp: resp.status_code >= 400)
