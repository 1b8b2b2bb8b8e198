"""The simulators against the dev server as `make run` serves it (functions, site, fake Discord and Telegram
with the demo server and group, the scheduler): their payloads, and what they show the bot sent later."""

from __future__ import annotations

import json
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from devtools import simulate
from tests.conftest import APP_ID, PUBLIC_KEY, SIGNING_KEY, TG_SECRET, TG_TOKEN
from tests.fakes import RunningServer
from ttfd.core import db
from ttfd.core.settings import get_settings


@pytest.fixture
def dev_server(app_env, tmp_path, monkeypatch) -> Iterator[SimpleNamespace]:
    """`make run` on a free port: every function, a one-page site, the fakes (demo server and group) and the
    scheduler, with dev keys the simulator reads and the demo players seeded."""
    from devtools import demo, devkeys, server
    from ttfd.clients import discord_rest, telegram

    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<h1>TTFD</h1>")
    dev = server.build(site)
    running = RunningServer(dev.wsgi)
    monkeypatch.setenv("DISCORD_API_BASE", f"{running.url}{server.FAKE_DISCORD_PREFIX}/api/v10")
    monkeypatch.setenv("TELEGRAM_API_BASE", f"{running.url}{server.FAKE_TELEGRAM_PREFIX}")
    get_settings.cache_clear()
    discord_rest.shared.cache_clear()
    telegram.shared.cache_clear()
    env = tmp_path / "dev.env"
    env.write_text(
        f"DISCORD_SIGNING_SEED={bytes(SIGNING_KEY).hex()}\nDISCORD_PUBLIC_KEY={PUBLIC_KEY}\n"
        f"DISCORD_APPLICATION_ID={APP_ID}\nTELEGRAM_WEBHOOK_SECRET={TG_SECRET}\nTELEGRAM_BOT_TOKEN={TG_TOKEN}\n"
    )
    monkeypatch.setattr(devkeys, "DEV_ENV", env)
    monkeypatch.setattr(simulate, "SHOTS", tmp_path / "shots")
    with db.transaction() as conn:
        demo.seed(conn)
    dev.scheduler.pipeline()  # the demo players' rank-ups, as `make run` does once it listens
    dev.scheduler.start()
    yield SimpleNamespace(url=running.url, dev=dev)
    dev.scheduler.stop()
    dev.scheduler.thread.join(timeout=10)
    running.stop()
    discord_rest.shared.cache_clear()
    telegram.shared.cache_clear()


def run(capsys: pytest.CaptureFixture[str], url: str, *argv: str) -> tuple[int, str, str]:
    from devtools.cli import main as cli

    code = cli(["simulate", *argv, "--url", url])
    out = capsys.readouterr()
    return code, out.out, out.err


def _capture(monkeypatch: pytest.MonkeyPatch, tmp_path) -> list[tuple[str, dict[str, Any], dict[str, str]]]:
    """Run the simulator without a server: nothing but the payloads it would POST (no dev helpers)."""
    from devtools import devkeys

    devkeys.load_or_create(tmp_path / "dev.env")
    monkeypatch.setattr(devkeys, "DEV_ENV", tmp_path / "dev.env")
    sent: list[tuple[str, dict[str, Any], dict[str, str]]] = []

    def fake_post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
        sent.append((url, json.loads(body), headers))
        return 200, {"type": 4, "data": {"content": "ok"}} if "discord" in url else {}

    monkeypatch.setattr(simulate, "post", fake_post)
    monkeypatch.setattr(simulate.Dev, "probe", lambda self: False)
    return sent


def test_the_locale_flags_reach_the_payloads(monkeypatch, tmp_path, capsys) -> None:
    from devtools.cli import main as cli

    sent = _capture(monkeypatch, tmp_path)
    assert cli(["simulate", "discord", "/daily", "--user", "42", "--guild", "1", "--locale", "ru"]) == 0
    assert cli(["simulate", "discord", "/daily", "--user", "42", "--guild", "1"]) == 0
    assert cli(["simulate", "discord", "/daily", "--user", "42"]) == 0
    assert cli(["simulate", "discord", "/daily", "--user", "900008", "--guild", "1"]) == 0  # Дмитрий reads Russian
    assert cli(["simulate", "telegram", "/start", "--user", "7", "--lang", "ru"]) == 0
    assert cli(["simulate", "telegram", "/start", "--user", "7"]) == 0
    assert cli(["simulate", "telegram", "/start", "--user", "900009"]) == 0  # Алёна too
    assert cli(["simulate", "telegram", "/start", "--user", "900009", "--lang", "en-US"]) == 0
    discord = [p for url, p, _ in sent if url.endswith("/discord/interactions")]
    telegram = [p for url, p, _ in sent if url.endswith("/telegram/webhook")]
    assert [(p["locale"], p.get("guild_locale")) for p in discord] == [
        ("ru", "ru"),
        ("en-US", "en-US"),
        ("en-US", None),
        ("ru", "ru"),
    ]
    assert [p["message"]["from"]["language_code"] for p in telegram] == ["ru", "en", "ru", "en"]
    assert telegram[2]["message"]["from"]["first_name"] == "Алёна"
    # The builders themselves default to English, as the test-suite's payloads expect.
    assert simulate.discord_payload(app_id="1", user=900008, guild=1, data={})["locale"] == "en-US"
    assert simulate.telegram_update("/start", user=900009)["message"]["from"]["language_code"] == "en"


def test_select_and_modal_payloads_are_the_shapes_discord_sends(monkeypatch, tmp_path, capsys) -> None:
    from devtools.cli import main as cli
    from functions.discord.events import parse

    sent = _capture(monkeypatch, tmp_path)
    menu = {
        "type": 4,
        "data": {
            "components": [
                {
                    "type": 1,
                    "components": [
                        {
                            "type": 3,
                            "custom_id": "shop:menu",
                            "options": [
                                {"label": "Golden frame", "value": "shop:4"},
                                {"label": "Founder badge", "value": "shop:3"},
                            ],
                        }
                    ],
                }
            ]
        },
    }
    simulate.remember([menu])  # as a /shop reply shown by the previous run
    base = ["simulate", "discord", "--user", "42", "--guild", "1"]
    assert cli([*base, "--select", "shop:menu", "--value", "Golden frame"]) == 0
    assert cli([*base, "--select", "shop:menu", "--value", "shop:3"]) == 0
    assert cli([*base, "--select", "shop:menu", "--value", "founder"]) == 0  # a unique part of a label
    assert cli([*base, "--select", "shop:menu", "--value", "Silver frame"]) == 2
    assert "no option 'Silver frame'" in capsys.readouterr().err
    assert cli([*base, "--modal", "vfa:abc:sig", "--field", "answer=K7Q2P"]) == 0
    assert cli([*base, "--modal", "vfa:abc:sig"]) == 2
    picks = [p for _, p, _ in sent[:3]]
    for p, value in zip(picks, ("shop:4", "shop:3", "shop:3"), strict=True):
        assert p["type"] == 3 and p["member"]["user"]["id"] == "42" and "message" in p
        assert p["data"] == {"custom_id": "shop:menu", "component_type": 3, "values": [value]}
        assert parse(p).action == value and parse(p).component
    modal = sent[3][1]
    assert modal["type"] == 5
    assert modal["data"] == {
        "custom_id": "vfa:abc:sig",
        "components": [{"type": 1, "components": [{"type": 4, "custom_id": "answer", "value": "K7Q2P"}]}],
    }
    event = parse(modal)
    assert event.action == "vfa:abc:sig" and event.inputs == {"answer": "K7Q2P"}


def test_a_modal_shown_once_takes_a_bare_value(monkeypatch, tmp_path, capsys) -> None:
    from devtools.cli import main as cli

    sent = _capture(monkeypatch, tmp_path)
    shown = {
        "type": 9,
        "data": {
            "custom_id": "vfa:x:y",
            "title": "Verification",
            "components": [{"type": 1, "components": [{"type": 4, "custom_id": "answer", "label": "Code"}]}],
        },
    }
    simulate.remember([shown])
    assert "--modal vfa:x:y --field 'answer=…'" in "\n".join(simulate.discord_response_lines(shown))
    assert cli(["simulate", "discord", "--modal", "vfa:x:y", "--field", "k7q2p", "--guild", "1"]) == 0
    assert sent[0][1]["data"]["components"][0]["components"][0] == {"type": 4, "custom_id": "answer", "value": "k7q2p"}


def test_a_refused_connection_is_explained(tmp_path, monkeypatch, capsys) -> None:
    from devtools import devkeys
    from devtools.cli import main as cli

    devkeys.load_or_create(tmp_path / "dev.env")
    monkeypatch.setattr(devkeys, "DEV_ENV", tmp_path / "dev.env")
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    for argv in (
        ["discord", "/daily", "--user", "42", "--guild", "1"],
        ["telegram", "/start", "--user", "7"],
        ["discord", "--say", "hello", "--user", "42"],
    ):
        monkeypatch.delenv("DISCORD_API_BASE", raising=False)
        assert cli(["simulate", *argv, "--url", url]) == 1
        out = capsys.readouterr()
        assert out.err == (
            f"Nothing answers at {url} — is `make run` running? Set TTFD_URL or --url for another address.\n"
        )
        assert "Traceback" not in out.out
    monkeypatch.setenv("PORT", str(port))  # make run's PORT is where the simulator looks by default
    monkeypatch.delenv("TTFD_URL", raising=False)
    assert cli(["simulate", "telegram", "/start"]) == 1
    assert f"Nothing answers at http://127.0.0.1:{port} " in capsys.readouterr().err


def test_another_transport_error_is_one_line(tmp_path, monkeypatch, capsys) -> None:
    """A server that hangs up without answering: one line naming what went wrong, no traceback."""
    from devtools import devkeys
    from devtools.cli import main as cli

    devkeys.load_or_create(tmp_path / "dev.env")
    monkeypatch.setattr(devkeys, "DEV_ENV", tmp_path / "dev.env")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]

    def hang_up() -> None:
        for _ in range(3):
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.recv(65536)
            conn.close()

    thread = threading.Thread(target=hang_up, daemon=True)
    thread.start()
    try:
        assert cli(["simulate", "telegram", "/start", "--url", f"http://127.0.0.1:{port}"]) == 1
    finally:
        listener.close()
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("simulate: RemoteProtocolError") and "Traceback" not in err


# --- against the dev server ------------------------------------------------------------------------------------


def _image(out: str) -> Path:
    found = re.search(r"image: (\S+) \(PNG (\d+)×(\d+)", out)
    assert found, out
    path = Path(found.group(1))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return path


def test_a_deferred_discord_command_shows_what_the_job_sent(dev_server, capsys) -> None:
    code, out, err = run(capsys, dev_server.url, "discord", "/card", "--user", "42")
    assert code == 0, err
    head, later = out.split("\n\nThen the bot sent:\n")
    assert head == "HTTP 200\nDeferred (“thinking…”): a job will edit the reply."
    assert later.startswith("• edited the reply to this interaction (PATCH @original):\n")
    assert "rank card" in later
    _image(later)
    # The raw answer is still there on request.
    code, out, _ = run(capsys, dev_server.url, "discord", "/card", "--user", "42", "--json", "--wait", "0")
    assert json.loads(out.split("\n", 1)[1]) == {"type": 5, "data": {}}


def test_a_telegram_command_that_sends_later_shows_it(dev_server, capsys) -> None:
    code, out, err = run(capsys, dev_server.url, "telegram", "/card", "--user", "7")
    assert code == 0, err
    head, later = out.split("\n\nThen the bot sent:\n")
    assert head == "HTTP 200\n(no message in the webhook answer)"
    working, photo, done = later.split("\n• ")
    assert re.fullmatch(
        r"• sendMessage to the private chat of User 7 \(7\) → message \d+:\n    ⏳ Working on it…", working
    )
    assert photo.startswith("sendPhoto to the private chat of User 7 (7)") and "rank card" in photo
    _image(photo)
    assert done.startswith("editMessageText of message ")


def test_a_reply_carries_its_buttons_and_a_press_edits_the_real_message(dev_server, capsys) -> None:
    code, out, _ = run(capsys, dev_server.url, "telegram", "/top", "--user", "900009")
    assert code == 0
    assert re.search(r"[а-яё]", out.splitlines()[2], re.IGNORECASE), out  # Алёна reads Russian by default
    coins = re.search(r"\[[^\]]+\]  --callback (lb:coins:\S+)", out)
    assert coins, out
    assert "(Telegram ran the webhook reply: sendMessage → message" in out
    code, out, _ = run(capsys, dev_server.url, "telegram", "--callback", coins.group(1), "--user", "900009")
    assert code == 0
    assert re.match(r"HTTP 200\neditMessageText of message \d+ in the private chat of Алёна \(900009\):", out)
    assert "refused" not in out  # the fake knew the message the button was on, so the edit landed
    code, out, _ = run(capsys, dev_server.url, "telegram", "/top", "--user", "900009", "--lang", "en")
    assert "XP" in out.splitlines()[2] and not re.search(r"[а-яё]", out.splitlines()[2], re.IGNORECASE)


def test_what_the_bot_sent_reads_as_a_person_would_see_it(tmp_path, monkeypatch) -> None:
    import base64

    monkeypatch.setattr(simulate, "SHOTS", tmp_path)
    png = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + (300).to_bytes(4, "big") + (100).to_bytes(4, "big") + b"rest"
    calls = [
        {
            "seq": 7,
            "api": "discord",
            "method": "PATCH",
            "path": f"/webhooks/{APP_ID}/tok1/messages/@original",
            "status": 200,
            "body": {
                "embeds": [{"title": "🧩 Verification", "description": "Get <@&556> before <t:1767225600:R>."}],
                "components": [
                    {"type": 1, "components": [{"type": 2, "label": "Enter the code", "custom_id": "vfe:a:b"}]}
                ],
                "flags": 64,
            },
            "files": [{"filename": "code.png", "data": base64.b64encode(png).decode()}],
        },
        {"seq": 8, "api": "discord", "method": "GET", "path": "/guilds/1", "status": 200, "body": None},
        {
            "seq": 9,
            "api": "discord",
            "method": "PUT",
            "path": "/guilds/1/members/42/roles/556",
            "status": 403,
            "body": None,
            "answer": {"message": "Missing Permissions", "code": 50013},
            "reason": "Verification panel: member 42 verified",
        },
        {
            "seq": 10,
            "api": "telegram",
            "method": "POST",
            "path": "restrictChatMember",
            "status": 200,
            "body": {
                "chat_id": -100123,
                "user_id": 900010,
                "until_date": 1767225600,
                "permissions": {"can_send_messages": False},
            },
        },
        {
            "seq": 11,
            "api": "telegram",
            "method": "POST",
            "path": "answerCallbackQuery",
            "status": 200,
            "body": {"text": "Not yours."},
        },
        {"seq": 12, "api": "telegram", "method": "POST", "path": "getChatMember", "status": 200, "body": {}},
    ]
    lines = simulate.describe(calls, token="tok1")
    assert lines == [
        "• edited the reply to this interaction (PATCH @original):",
        "    ▌🧩 Verification",
        "    ▌Get @Verified before 2026-01-01 00:00 UTC.",
        "    [Enter the code]  --button vfe:a:b",
        "    (only the person who asked sees it)",
        f"    image: {tmp_path / '7-code.png'} (PNG 300×100, {len(png)} bytes)",
        "• gave role @Verified (556) to User 42 (42) in server 1  → refused: 403 Missing Permissions",
        "    (audit log reason: Verification panel: member 42 verified)",
        "• restrictChatMember (muted): Ёжик (900010) in group -100123 until 2026-01-01 00:00:00 UTC",
        "• alert to whoever pressed: Not yours.",
    ]
    assert (tmp_path / "7-code.png").read_bytes() == png
