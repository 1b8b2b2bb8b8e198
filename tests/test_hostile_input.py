"""Each hostile input found by attacking a running instance: a clear refusal, never a 500 or a traceback,
nothing changed, and no forged log line."""

from __future__ import annotations

import json
import logging
import time

import pytest

from devtools.simulate import telegram_update
from tests.conftest import encode, interaction, sign
from tests.hostile import fingerprint, surfaces
from ttfd.core import logs
from ttfd.ui.reply import GENERIC_ERROR


@pytest.fixture
def s(app_env, fresh_db, monkeypatch, tmp_path):
    return surfaces(app_env, monkeypatch, tmp_path, fresh_db)


@pytest.fixture(autouse=True)
def no_tracebacks(caplog):
    """Whatever a test sends, nothing may be logged as a crash."""
    yield
    crashes = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert crashes == [], [r.getMessage() for r in crashes]


def deep(n: int) -> str:
    return "[" * n + "]" * n


# --- unauthenticated ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/profile/%00", "/api/profile/%00%0a2026-01-01 INFO forged: line"])
def test_nul_and_newlines_in_a_profile_path(s, path) -> None:
    before = fingerprint(s.url)
    resp = s.client.get(path)
    assert resp.status_code == 400 and resp.get_json()["title"]
    assert fingerprint(s.url) == before


@pytest.mark.parametrize("query", ["state=a%00b&code=c", "state=" + "A" * 30 + "%00&code=c", "state=x&code=%00"])
def test_nul_in_the_oauth_callback(s, query) -> None:
    before = fingerprint(s.url)
    resp = s.client.get(f"/auth/discord/callback?{query}")
    assert resp.status_code == 400 and b"<h1>" in resp.data
    assert fingerprint(s.url) == before


@pytest.mark.parametrize("timestamp", ["9" * 400, "١٧٠٠٠٠٠٠٠٠", "-1", "1e9", " 1700000000"])
def test_absurd_discord_timestamps_are_401(s, timestamp) -> None:
    body = encode(interaction("/daily"))
    headers = sign(body, ts=timestamp) if timestamp.strip().isascii() and timestamp.isdigit() else sign(body)
    headers["X-Signature-Timestamp"] = timestamp
    assert s.discord(body, headers).status_code == 401


def test_a_crash_logs_one_escaped_line(s, monkeypatch, capsys) -> None:
    from ttfd.features.leaderboards import service

    def boom(*args, **kwargs):
        raise RuntimeError("boom\n2026-01-01 00:00:00,000 INFO forged: from the exception")

    logs.setup()
    monkeypatch.setattr(service, "board_page", boom)
    resp = s.client.get("/api/leaderboard?board=xp&page=1&x=%0a2026-01-01%20INFO%20forged")
    assert resp.status_code == 500 and "Traceback" not in resp.get_data(as_text=True)
    err = capsys.readouterr().err
    assert "Traceback" in err  # a crash is logged once, with its traceback indented under it …
    assert all(not line.startswith("2026-01-01") for line in err.splitlines())  # … and nothing forged


def test_log_formatter_escapes_every_control_character() -> None:
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "GET %s", ("/p\x00\n\r\x1b[31mFAKE\u2028",), None)
    line = logs.SafeFormatter("%(message)s").format(record)
    assert line == "GET /p\\x00\\n\\r\\x1b[31mFAKE\\u2028"


# --- signed by Discord ------------------------------------------------------------------------------


def _with_options(command: str, options: list[dict], **kw) -> dict:
    payload = interaction(command, **kw)
    payload["data"]["options"] = options
    return payload


@pytest.mark.parametrize(
    ("command", "options", "says"),
    [
        ("/link", [{"name": "code", "type": 3, "value": 12345}], "must be text"),
        ("/link", [{"name": "code", "type": 3, "value": {"a": 1}}], "must be text"),
        ("/link", [{"name": "code", "type": 3, "value": ["x"]}], "must be text"),
        ("/link", [{"name": "code", "type": 3, "value": True}], "must be text"),
        ("/link", [{"name": "code", "type": 3, "value": "AB\x00CD"}], "NUL"),
        ("/link", [{"name": "code", "type": 3, "value": "\ud800"}], "valid Unicode"),
        ("/link", [{"name": "code", "type": 4, "value": 5}], "wrong type"),
        ("/link", [{"name": "nope", "type": 3, "value": "x"}], "not one this command takes"),
        ("/profile", [{"name": "user", "type": 6, "value": "notanid"}], "not a valid id"),
        ("/profile", [{"name": "user", "type": 6, "value": str(2**63)}], "not a valid id"),
        ("/profile", [{"name": "user", "type": 6, "value": "-5"}], "not a valid id"),
        ("/leaderboard", [{"name": "board", "type": 3, "value": "gold"}], "must be one of"),
    ],
)
def test_option_values_of_the_wrong_kind_are_refused_politely(s, command, options, says) -> None:
    before = fingerprint(s.url)
    reply = s.discord(_with_options(command, options)).get_json()
    assert reply["data"]["flags"] == 64 and says in reply["data"]["content"]
    assert fingerprint(s.url) == before


@pytest.mark.parametrize(
    ("sub", "says"),
    [
        ([{"name": "rank", "type": 3, "value": "F"}, {"name": "role", "type": 8, "value": "-7"}], "valid id"),
        ([{"name": "rank", "type": 3, "value": "F"}, {"name": "role", "type": 8, "value": "1e5"}], "valid id"),
        ([{"name": "rank", "type": 3, "value": "F"}, {"name": "role", "type": 8, "value": "777"}], "permissions"),
        ([{"name": "rank", "type": 3, "value": "F"}], "'role' is required"),
        ([{"name": "channel", "type": 7, "value": "abc"}], "not one this command takes"),
    ],
)
def test_setup_rank_role_refuses_bad_and_unresolved_roles(s, sub, says) -> None:
    payload = interaction("/setup rank-role rank:F role:777", user=1, permissions=1 << 28)
    payload["data"]["options"] = [{"name": "rank-role", "type": 1, "options": sub}]
    payload["data"].pop("resolved", None)  # Discord always resolves the picked role; here it did not
    before = fingerprint(s.url)
    reply = s.discord(payload).get_json()
    assert reply["data"]["flags"] == 64 and says in reply["data"]["content"]
    assert fingerprint(s.url) == before


def test_xp_channel_refuses_a_non_numeric_channel(s) -> None:
    payload = interaction("/setup xp-channel channel:700", user=1, permissions=1 << 5)
    payload["data"]["options"][0]["options"][0]["value"] = "abc"
    assert "valid id" in s.discord(payload).get_json()["data"]["content"]


@pytest.mark.parametrize(
    "change",
    [
        {"id": str(2**63)},
        {"id": "-1"},
        {"guild_id": str(2**64)},
        {"member": {"user": {"id": str(2**63), "username": "x"}, "permissions": "0"}},
        {"member": {"user": {"id": "1", "username": "x"}, "permissions": "0", "roles": ["-3"]}},
    ],
)
def test_ids_out_of_range_are_400(s, change) -> None:
    payload = {**interaction("/daily"), **change}
    before = fingerprint(s.url)
    resp = s.discord(payload)
    assert resp.status_code == 400 and "malformed interaction" in resp.get_json()["title"]
    assert fingerprint(s.url) == before


def test_deeply_nested_json_is_400_everywhere(s) -> None:
    body = ('{"a":' + deep(5000) + "}").encode()
    assert s.discord(body).status_code == 400
    assert s.telegram(body).status_code == 400
    assert s.site("PATCH", "/api/me", raw=body).status_code == 400
    assert s.site("POST", "/auth/telegram", raw=body).status_code == 400
    nested = {"update_id": 1, "x": json.loads(deep(40))}
    assert s.telegram(nested).status_code == 400


def test_names_with_nul_surrogates_and_bidi_are_cleaned(s) -> None:
    update = telegram_update("/start", user=4242)
    update["message"]["from"].update(first_name="Ma\x00l\ud800ory\u202e", last_name=None, username="mal\x00")
    update["message"]["text"] = "/start \x00\ud800"
    reply = s.telegram(update)
    assert reply.status_code == 200 and "Welcome" in reply.get_json()["text"]
    import psycopg

    with psycopg.connect(s.url) as c:
        assert c.execute("SELECT display_name, username FROM unified_users WHERE telegram_id = 4242").fetchone() == (
            "Mal\ufffdory",  # the lone surrogate became a visible replacement character at the edge
            "mal",
        )
    payload = interaction("/rank", user=4343)
    payload["member"]["user"]["global_name"] = "Eve\u202egnp.exe"
    assert s.discord(payload).get_json()["data"]["content"].startswith("**Evegnp.exe**")


def test_telegram_ids_out_of_range_are_400(s) -> None:
    update = telegram_update("/start", user=7)
    update["message"]["from"]["id"] = 2**64
    assert s.telegram(update).status_code == 400
    assert s.telegram({"update_id": -5}).status_code == 400
    assert s.telegram({"update_id": 2**70}).status_code == 400


def test_bad_link_code_on_telegram_is_a_stored_refusal(s) -> None:
    update = telegram_update("/link NOTACODE99", user=7, update_id=31)
    first = s.telegram(update).get_json()
    assert first["text"].startswith("⚠️") and first["text"] != GENERIC_ERROR
    assert s.telegram(update).get_json() == first  # a redelivery answers the same


# --- a logged-in website session -----------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"bio": "\ud800"},
        {"bio": "hi\x00"},
        {"bio": "reads\u202eright to left"},
        {"music_url": "https://example.com/\u202emp3.exe"},
        {"background_image": "https://example.com/\u2066x.png"},
        {"theme": ["dark"]},
        {"show_stats": "false"},
        {"primary_color": "#12345g"},
        {"bio": 7},
        {"nope": 1},
    ],
)
def test_invalid_settings_are_400_and_change_nothing(s, body) -> None:
    before = fingerprint(s.url)
    raw = json.dumps(body).encode()  # json.dumps escapes a lone surrogate as \ud800, as an attacker would
    resp = s.site("PATCH", "/api/me", raw=raw)
    assert resp.status_code == 400 and resp.get_json()["title"]
    after = fingerprint(s.url)
    after.pop("sessions"), before.pop("sessions")  # the session's last-seen time may move
    assert after == before


def test_telegram_login_with_an_id_out_of_range_is_400(s) -> None:
    from tests.site_helpers import widget_payload

    resp = s.site("POST", "/auth/telegram", widget_payload(2**63))
    assert resp.status_code == 400


def test_forwarded_for_is_ignored_by_the_local_server(monkeypatch) -> None:
    from devtools import cli

    env: dict[str, str] = {}
    monkeypatch.setattr(cli.os, "environ", env)
    cli.dev_environment("http://127.0.0.1:8080")
    assert env["FORWARDED_HOPS"] == "0"


def test_replayed_timestamps_far_away_are_refused_quickly(s) -> None:
    body = encode(interaction("/daily"))
    started = time.monotonic()
    assert s.discord(body, sign(body, ts=str(int(time.time()) - 10**9))).status_code == 401
    assert time.monotonic() - started < 1
