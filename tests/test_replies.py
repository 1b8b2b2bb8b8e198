"""Replies written once, rendered per platform: limits and escaping, deferred replies finished by a job,
privacy on every surface, and one refusal in the same words everywhere."""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from functions_framework import create_app

from devtools.simulate import telegram_update
from tests.conftest import TG_SECRET, encode, interaction, run_schedule, sign
from tests.site_helpers import configure_site, login_via_functions
from ttfd.core import db, ledger, users
from ttfd.features.accounts.service import INVALID_CODE
from ttfd.render import discord, telegram
from ttfd.ui.actions import Action
from ttfd.ui.reply import Button, Field, Reply
from ttfd.ui.text import Person, bold, code, mention, role, when

TG_HEADERS = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": TG_SECRET}


@dataclass(frozen=True)
class Press(Action):
    prefix = "t"
    n: int


# --- renderers -------------------------------------------------------------------------------------


def test_names_cannot_inject_markdown_or_mentions_on_discord() -> None:
    evil = "**@everyone** <@123> `x` [click](https://evil.example) # big\n> quote ~~s~~ ||spoiler||"
    reply = Reply(body=("Hi ", bold(evil), " and ", evil))
    content = discord.message(reply)["content"]
    assert not re.search(r"(?<!\\)<@123>", content) and "\\<@123>" in content
    assert "**@everyone**" not in content.replace("**\\*\\*@everyone\\*\\*", "")
    assert "\\[click\\]" in content and "\\|\\|spoiler\\|\\|" in content and "\n\\> quote" in content
    assert discord.message(reply)["allowed_mentions"] == {"parse": []}  # nothing pings, whatever it says


def test_names_cannot_inject_html_on_telegram() -> None:
    evil = '<b>bold</b> <a href="https://evil.example">x</a> & </code>'
    html = telegram.message_text(Reply(title=evil, body=(evil, bold(evil), code(evil))))
    assert "<b>bold</b>" not in html and "&lt;b&gt;bold&lt;/b&gt;" in html and "&amp;" in html
    assert html.count("<a ") == 0


def test_discord_limits_are_kept() -> None:
    many = tuple(Field(f"f{i}" * 200, ("v" * 2000,)) for i in range(40))
    reply = Reply(title="T" * 500, body=("x" * 9000,), fields=many, footer="F" * 3000)
    embed = discord.message(reply)["embeds"][0]
    assert len(embed["title"]) == 256 and len(embed["footer"]["text"]) == 2048
    assert len(embed["fields"]) <= 25 and all(
        len(f["value"]) <= 1024 and len(f["name"]) <= 256 for f in embed["fields"]
    )
    total = len(embed["title"]) + len(embed["footer"]["text"]) + len(embed.get("description", ""))
    total += sum(len(f["name"]) + len(f["value"]) for f in embed["fields"])
    assert total <= 6000
    plain = discord.message(Reply(body=("y" * 5000,)))["content"]
    assert len(plain) == 2000 and plain.endswith("…")
    row = tuple(Button(f"b{i}", Press(i)) for i in range(8))
    rows = discord.components(Reply(rows=(row,)))
    assert [len(r["components"]) for r in rows] == [5, 3]  # at most 5 buttons a row
    assert all(len(b["custom_id"]) <= 100 for r in rows for b in r["components"])


def test_telegram_limits_are_kept() -> None:
    text = telegram.message_text(Reply(title="T", body=("<&>" * 3000,)))
    visible = (
        text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").replace("<b>", "").replace("</b>", "")
    )
    assert len(visible) <= 4096
    row = tuple(Button(f"b{i}", Press(i)) for i in range(12))
    board = telegram.keyboard(Reply(rows=(row,)))
    assert board is not None and [len(r) for r in board["inline_keyboard"]] == [8, 4]


def test_actions_fit_both_platforms_and_are_checked() -> None:
    @dataclass(frozen=True)
    class Long(Action):
        prefix = "long"
        note: str

    with pytest.raises(ValueError, match="buttons hold 64"):
        Long("x" * 70).pack()
    with pytest.raises(ValueError, match="may not contain ':'"):
        Long("a:b").pack()
    assert Press.unpack(Press(7).pack()) == Press(7)
    for forged in ("t:abc", "t:1:2", "u:1", "t:" + "9" * 30):
        with pytest.raises(Exception, match="not valid any more"):
            Press.unpack(forged)


def test_signed_actions_cannot_be_altered(app_env) -> None:
    from ttfd.features.leaderboards import LeaderboardPage

    packed = LeaderboardPage("xp", 0, 42).pack()
    assert len(packed.encode()) <= 64
    assert LeaderboardPage.unpack(packed).owner == 42
    tampered = packed.replace(":42:", ":43:")
    with pytest.raises(Exception, match="not valid any more"):
        LeaderboardPage.unpack(tampered)


def test_mentions_times_and_roles_render_per_platform() -> None:
    moment = datetime(2030, 1, 1, tzinfo=UTC)
    reply = Reply(body=(mention(Person("Ann", 11, 22)), " ", when(moment), " ", role(5, "Gold")))
    assert discord.message(reply)["content"] == f"<@11> <t:{int(moment.timestamp())}:R> <@&5>"
    html = telegram.message_text(reply)
    assert '<a href="tg://user?id=22">Ann</a>' in html and "years (1 Jan" in html and "00:00 UTC)" in html
    assert "Gold" in html
    soon = telegram.message_text(Reply(body=(when(datetime.now(UTC) + timedelta(minutes=90)),)))
    assert soon.startswith("in 1 hour (") or soon.startswith("in 2 hours (")  # within a day: the time only


# --- deferred replies --------------------------------------------------------------------------------


def _run_jobs() -> dict:
    return dict(run_schedule("run_jobs").get_json())


def test_a_deferred_command_answers_at_once_and_a_job_edits_the_original(app_env, fresh_db) -> None:
    client = create_app("discord_interactions", "main.py").test_client()
    body = encode(interaction("/card", user=42))
    first = client.post("/", data=body, headers=sign(body)).get_json()
    assert first == {"type": 5, "data": {}}  # "thinking…", inside Discord's 3 s
    assert _run_jobs()["done"] == 1
    token = json.loads(body)["token"]
    edited = app_env.discord.originals[token]
    assert (
        "rank card" in edited["embeds"][0]["title"] and edited["embeds"][0]["image"]["url"] == "attachment://card.png"
    )
    assert edited["attachments"][0]["filename"] == "card.png" and edited["attachments"][0]["size"] > 1000
    # The same interaction delivered again answers the same and queues nothing new.
    assert client.post("/", data=body, headers=sign(body)).get_json() == first
    assert _run_jobs()["done"] == 0


def test_a_deferred_refusal_and_a_failure_edit_the_original_with_a_clear_message(
    app_env, fresh_db, monkeypatch
) -> None:
    client = create_app("discord_interactions", "main.py").test_client()
    refused = encode(interaction("/card user:999", user=42))  # nobody has that account
    client.post("/", data=refused, headers=sign(refused))
    assert _run_jobs()["dead"] == 1  # a refusal does not retry
    assert "has no TTFD profile yet" in app_env.discord.originals[json.loads(refused)["token"]]["content"]

    from ttfd.features.profiles import views

    def broken(*a, **k):
        raise RuntimeError("renderer down")

    monkeypatch.setattr(views, "card_png", broken)
    failing = encode(interaction("/card", user=43))
    client.post("/", data=failing, headers=sign(failing))
    with db.transaction() as conn:
        conn.execute("UPDATE jobs SET max_attempts = 1 WHERE status = 'pending'")
    _run_jobs()
    msg = app_env.discord.originals[json.loads(failing)["token"]]["content"]
    assert "That did not work, and nothing was changed" in msg and "renderer down" not in msg


def test_telegram_deferral_sends_working_then_the_job_edits_it(app_env, fresh_db) -> None:
    client = create_app("telegram_webhook", "main.py").test_client()
    update = telegram_update("/card", user=7, update_id=4242)
    assert client.post("/", data=json.dumps(update), headers=TG_HEADERS).get_json() == {}
    (working,) = app_env.telegram.calls_of("sendMessage")
    assert working["text"] == "⏳ Working on it…"
    assert _run_jobs()["done"] == 1
    (photo,) = app_env.telegram.calls_of("sendPhoto")
    assert "rank card" in photo["caption"]
    (edit,) = app_env.telegram.calls_of("editMessageText")
    assert edit["chat_id"] == 7 and edit["text"].startswith("🪪")
    # redelivered: nothing sent twice
    client.post("/", data=json.dumps(update), headers=TG_HEADERS)
    assert len(app_env.telegram.calls_of("sendMessage")) == 1 and _run_jobs()["done"] == 0


# --- privacy and same words everywhere -----------------------------------------------------------------


def _discord(client, command: str, user: int) -> dict:
    body = encode(interaction(command, user=user))
    return dict(client.post("/", data=body, headers=sign(body)).get_json()["data"])


def test_hidden_players_are_hidden_on_discord_and_telegram_but_not_from_themselves(app_env, fresh_db) -> None:
    d = create_app("discord_interactions", "main.py").test_client()
    t = create_app("telegram_webhook", "main.py").test_client()
    with db.transaction() as conn:
        shy = users.ensure_user(conn, "discord", 501, "user501", "User 501")
        ledger.grant(conn, shy.id, "coins", 900, reason="t", platform="discord", source_key="shy")
        conn.execute("UPDATE unified_users SET show_stats = false WHERE id = %s", (shy.id,))
    other = _discord(d, "/profile user:501", 502)["embeds"][0]
    assert other["title"] == "Hidden player" and "private" in other["description"] and "900" not in json.dumps(other)
    assert "Hidden player" in _discord(d, "/rank user:501", 502).get("embeds", [{}])[0].get("title", "")
    board = json.dumps(_discord(d, "/leaderboard board:coins", 502))
    assert "Hidden player" in board and "User 501" not in board
    top = t.post(
        "/",
        data=json.dumps(telegram_update("/top coins", user=503, update_id=random.randrange(2**30))),
        headers=TG_HEADERS,
    ).get_json()["text"]
    assert "Hidden player" in top and "User 501" not in top
    mine = _discord(d, "/profile", 501)["embeds"][0]
    assert mine["title"].startswith("User 501") and "900" in json.dumps(mine)
    assert "User 501" in json.dumps(_discord(d, "/leaderboard board:coins", 501))  # your own row is yours


def test_a_refusal_reads_the_same_on_every_surface(app_env, fresh_db, monkeypatch, tmp_path) -> None:
    d = create_app("discord_interactions", "main.py").test_client()
    t = create_app("telegram_webhook", "main.py").test_client()
    on_discord = _discord(d, "/link code:NOPE2NOPE3", 601)["content"]
    on_telegram = t.post(
        "/", data=json.dumps(telegram_update("/link NOPE2NOPE3", user=602, update_id=99)), headers=TG_HEADERS
    ).get_json()["text"]
    configure_site(monkeypatch, app_env)
    app_env.discord.add_oauth_user(603, "web", "Web")
    login = login_via_functions(lambda n: create_app(n, "main.py").test_client(), app_env, 603)
    site = create_app("api_link_redeem", "main.py").test_client()
    site.set_cookie("ttfd_session", login.session)
    on_site = site.post("/", json={"code": "NOPE2NOPE3"}, headers={"X-CSRF-Token": login.csrf}).get_json()["title"]
    assert on_discord == on_telegram == f"⚠️ {INVALID_CODE}"
    assert on_site == INVALID_CODE
    with psycopg.connect(fresh_db) as c:
        assert c.execute("SELECT count(*) FROM link_codes").fetchone()[0] == 0


def test_an_unknown_board_is_refused_with_the_list(app_env) -> None:
    t = create_app("telegram_webhook", "main.py").test_client()
    text = t.post(
        "/", data=json.dumps(telegram_update("/top gold", user=7, update_id=5)), headers=TG_HEADERS
    ).get_json()["text"]
    assert "must be one of: XP, This week, This season, Coins." in text and "Usage: /top [xp|week|season|coins]" in text


def test_telegram_answers_unknown_commands_and_plain_messages_with_help(app_env) -> None:
    t = create_app("telegram_webhook", "main.py").test_client()
    for text, uid in (("/frobnicate", 1), ("hi there", 2)):
        body = t.post("/", data=json.dumps(telegram_update(text, user=700 + uid, update_id=uid)), headers=TG_HEADERS)
        assert "TTFD commands" in body.get_json()["text"] and "/coinflip" in body.get_json()["text"]
    group = t.post(
        "/", data=json.dumps(telegram_update("/start", user=703, chat=-100777, update_id=3)), headers=TG_HEADERS
    ).get_json()
    assert group["chat_id"] == -100777 and "Chatting here earns XP" in group["text"]
    other_bot = t.post(
        "/", data=json.dumps(telegram_update("/frobnicate", user=704, chat=-100777, update_id=4)), headers=TG_HEADERS
    ).get_json()
    assert other_bot == {}  # in a group, an unknown command may be another bot's


def test_the_simulator_explains_an_unknown_command_and_keeps_demo_names(capsys, tmp_path, monkeypatch) -> None:
    from devtools import devkeys, simulate
    from devtools.cli import main as dev

    monkeypatch.setattr(devkeys, "DEV_ENV", tmp_path / "dev.env")
    devkeys.load_or_create(tmp_path / "dev.env")
    assert dev(["simulate", "discord", "/frobnicate", "--url", "http://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert "unknown command /frobnicate" in err and "Traceback" not in err
    assert simulate.telegram_update("/start", user=900003)["message"]["from"]["first_name"] == "Mira"
