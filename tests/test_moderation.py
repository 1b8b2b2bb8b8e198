"""Moderation through the real functions against the fake Discord server and the fake Telegram group: every
action a numbered case (also under concurrency), checks and Discord's own refusals that change nothing,
temporary bans ending once, the warning threshold firing once, /clear, the mod log, Telegram replies."""

from __future__ import annotations

import json
import random
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from functions_framework import create_app

from devtools.fake_discord_guilds import add_guild
from devtools.simulate import telegram_update
from tests.conftest import APP_ID, TG_SECRET, encode, interaction, run_schedule, sign
from ttfd.core import db, jobs
from ttfd.features import REGISTRY
from ttfd.features.moderation import cases, parse_duration
from ttfd.features.moderation import jobs as mod_jobs

TG_HEADERS = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
BAN, KICK, MODERATE, MANAGE_MESSAGES = 1 << 2, 1 << 1, 1 << 40, 1 << 13
MOD_PERMS = BAN | KICK | MODERATE | MANAGE_MESSAGES
GUILD, OWNER, MOD, MEMBER, SENIOR, HIGH = 1, 900, 42, 43, 44, 45
BOT = int(APP_ID)
GROUP = -1001234567890


@pytest.fixture
def server(app_env):
    """A server: the owner, a moderator (Mod, position 5), members, someone above the moderator (Senior, 8),
    someone above the bot (High, 20), and the bot (Bot role, 10)."""
    add_guild(
        app_env.discord,
        GUILD,
        OWNER,
        roles=[
            (501, "Mod", 5, MOD_PERMS),
            (502, "Member", 1, 0),
            (503, "Bot", 10, 1 << 3),
            (504, "Senior", 8, 0),
            (505, "High", 20, 0),
        ],
        members={OWNER: [], MOD: [501], MEMBER: [502], SENIOR: [504], HIGH: [505], BOT: [503], 46: [502], 47: [502]},
    )
    return create_app("discord_interactions", "main.py").test_client()


def _run(command: str, client: Any, user: int = MOD, permissions: int = MOD_PERMS, **kw: Any) -> tuple[dict, str]:
    """Send a command; (its immediate answer, the interaction token whose @original a job edits)."""
    payload = interaction(command, user=user, permissions=permissions)
    payload.update({k: str(v) for k, v in kw.items()})  # e.g. the channel it was used in
    body = encode(payload)
    answer = client.post("/", data=body, headers=sign(body)).get_json()
    return answer, json.loads(body)["token"]


def _finish(app_env: Any, token: str) -> dict:
    run_schedule("run_jobs")
    return dict(app_env.discord.originals[token])


def _text(message: dict) -> str:
    return json.dumps(message, ensure_ascii=False)


def _cases(url: str) -> list[tuple]:
    with psycopg.connect(url) as c:
        return c.execute("SELECT number, action, target_id, status, source FROM mod_cases ORDER BY number").fetchall()


def test_ban_dms_first_bans_with_the_audit_reason_and_opens_case_one(server, app_env, fresh_db) -> None:
    first, token = _run('/ban user:43 "reason:spamming links — спам 🙂" delete_messages:1', server)
    assert first["type"] == 5  # deferred: the REST calls run in a job
    done = _finish(app_env, token)
    assert "was banned — case #1" in _text(done)
    assert str(MEMBER) in app_env.discord.guilds["1"]["bans"]
    dm_channel = app_env.discord.dm_channels[str(MEMBER)]
    assert "You were banned" in app_env.discord.channel_messages[dm_channel][0]["content"]
    reasons = [r for m, p, r in app_env.discord.audit_reasons if (m, p) == ("PUT", f"/guilds/1/bans/{MEMBER}")]
    assert len(reasons) == 1 and reasons[0].endswith(": spamming links — спам 🙂")  # URL-encoded on the wire
    assert _cases(fresh_db) == [(1, "ban", MEMBER, "active", "discord")]
    shown, _ = _run("/case show id:1", server)
    assert "Case #1 — ban" in _text(shown) and "spamming links" in _text(shown)


@pytest.mark.parametrize(
    ("command", "user", "permissions", "says"),
    [
        ("/ban user:43", MOD, 0, "You need the Ban Members permission"),
        ("/kick user:43", MOD, BAN, "You need the Kick Members permission"),
        ("/ban user:42", MOD, MOD_PERMS, "You can't ban yourself."),
        ("/ban user:900", MOD, MOD_PERMS, "You can't ban the server owner."),
        (f"/kick user:{BOT}", MOD, MOD_PERMS, "I won't kick myself."),
        ("/kick user:44", MOD, MOD_PERMS, "highest role is the same as or above yours"),
        ("/timeout user:45 duration:10m", OWNER, MOD_PERMS, "move my role higher"),
        ("/timeout user:43 duration:90d", MOD, MOD_PERMS, "from 1 minute to 4 weeks"),
        ("/kick user:999", MOD, MOD_PERMS, "is not in this server"),
    ],
)
def test_every_refusal_says_why_and_changes_nothing(
    server, app_env, fresh_db, command, user, permissions, says
) -> None:
    before = json.dumps(app_env.discord.guilds, sort_keys=True)
    first, token = _run(command, server, user=user, permissions=permissions)
    message = first["data"] if first["type"] == 4 else _finish(app_env, token)  # at once: the permission bit
    assert says in _text(message), _text(message)
    assert _cases(fresh_db) == []
    assert json.dumps(app_env.discord.guilds, sort_keys=True) == before
    assert not [c for c in app_env.discord.calls if c[0] in ("PUT", "PATCH", "DELETE") and "/guilds/" in c[1]]


def test_discords_own_403_becomes_a_sentence_and_no_case(server, app_env, fresh_db) -> None:
    app_env.discord.fail_next("PUT", r"/guilds/1/bans/43", 403, {"message": "Missing Permissions", "code": 50013})
    _, token = _run("/ban user:43", server)
    assert "Discord refused: I'm missing the permission" in _text(_finish(app_env, token))
    assert _cases(fresh_db) == [] and app_env.discord.guilds["1"]["bans"] == {}


def test_a_closed_dm_never_blocks_the_action(server, app_env, fresh_db) -> None:
    app_env.discord.closed_dms.add(str(MEMBER))
    _, token = _run("/kick user:43 reason:bye", server)
    assert "was kicked — case #1" in _text(_finish(app_env, token))
    assert str(MEMBER) not in app_env.discord.guilds["1"]["members"]


def test_timeout_and_untimeout_set_and_clear_the_member_field(server, app_env, fresh_db) -> None:
    _, token = _run("/timeout user:43 duration:2h reason:cool", server)
    assert "was timed out for 2 hours — case #1" in _text(_finish(app_env, token))
    until = app_env.discord.guilds["1"]["members"]["43"]["communication_disabled_until"]
    assert abs(datetime.fromisoformat(until) - datetime.now(UTC) - timedelta(hours=2)) < timedelta(minutes=1)
    _, token = _run("/untimeout user:43", server)
    assert "case #2" in _text(_finish(app_env, token))
    assert app_env.discord.guilds["1"]["members"]["43"]["communication_disabled_until"] is None
    assert _cases(fresh_db) == [
        (1, "timeout", MEMBER, "revoked", "discord"),
        (2, "untimeout", MEMBER, "active", "discord"),
    ]


def test_a_temporary_ban_ends_once_even_when_the_expiry_fires_twice(server, app_env, fresh_db) -> None:
    _, token = _run("/ban user:43 duration:1h", server)
    _finish(app_env, token)
    assert str(MEMBER) in app_env.discord.guilds["1"]["bans"]
    with db.transaction() as conn:
        conn.execute("UPDATE mod_cases SET expires_at = now() - interval '1 second'")
        conn.execute("UPDATE jobs SET run_at = now() WHERE kind = 'moderation.expire'")
        # the scheduler fires twice: a second job for the same case is the same dedupe key (refused) …
        jobs.enqueue(
            conn, cases.EXPIRE_JOB, {"scope": "discord", "scope_id": 1, "number": 1}, dedupe_key="expire:discord:1:1"
        )
    assert run_schedule("run_jobs").get_json()["done"] == 1
    assert app_env.discord.guilds["1"]["bans"] == {}
    unbans = app_env.discord.calls_to("DELETE", r"/guilds/1/bans/43")
    # … and the handler run again directly finds the case ended and calls nothing
    with db.transaction() as conn:
        mod_jobs.expire(
            jobs.JobCtx(conn, None, REGISTRY, 0, 1, False), {"scope": "discord", "scope_id": 1, "number": 1}
        )  # type: ignore[arg-type]
    assert app_env.discord.calls_to("DELETE", r"/guilds/1/bans/43") == unbans and len(unbans) == 1
    assert _cases(fresh_db) == [(1, "ban", MEMBER, "expired", "discord")]
    assert "expired" in _text(_run("/case show id:1", server)[0])


def test_a_temporary_bans_end_does_not_lift_a_later_permanent_ban(server, app_env, fresh_db) -> None:
    _finish(app_env, _run("/ban user:43 duration:1h", server)[1])
    _finish(app_env, _run('/ban user:43 "reason:for good"', server)[1])  # banned again, for good
    with db.transaction() as conn:
        conn.execute("UPDATE mod_cases SET expires_at = now() - interval '1 second' WHERE number = 1")
        conn.execute("UPDATE jobs SET run_at = now() WHERE kind = 'moderation.expire'")
    run_schedule("run_jobs")
    assert str(MEMBER) in app_env.discord.guilds["1"]["bans"]  # still banned
    assert not app_env.discord.calls_to("DELETE", r"/guilds/1/bans/43")
    assert _cases(fresh_db) == [(1, "ban", MEMBER, "expired", "discord"), (2, "ban", MEMBER, "active", "discord")]


def test_twenty_concurrent_warns_number_cases_without_gaps_and_the_threshold_fires_once(
    server, app_env, fresh_db
) -> None:
    _, token = _run("/setup warn-threshold count:5 action:timeout duration:1h", server, permissions=1 << 5)
    assert "Reaching 5 active warnings will time the member out" in _text(_finish(app_env, token))
    tokens = [_run(f"/warn user:43 reason:w{i}", server)[1] for i in range(20)]
    start = threading.Barrier(4)

    def worker() -> None:
        start.wait()
        from ttfd.ui import deferred

        for _ in range(10):
            jobs.run_due(REGISTRY, max_jobs=5, deliver=deferred.deliver)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    run_schedule("run_jobs")
    rows = _cases(fresh_db)
    assert [r[0] for r in rows] == list(range(1, 22))  # 20 warnings + the threshold's own case, no gaps
    assert sum(r[1] == "warn" for r in rows) == 20
    assert [r for r in rows if r[1] == "timeout"] == [
        (next(r[0] for r in rows if r[1] == "timeout"), "timeout", MEMBER, "active", "automod")
    ]
    assert app_env.discord.guilds["1"]["members"]["43"]["communication_disabled_until"] is not None
    assert (
        sum(
            "reached" in _text(app_env.discord.originals[t]) or "follows" in _text(app_env.discord.originals[t])
            for t in tokens
        )
        == 1
    )
    listed, _ = _run("/warnings user:43", server)
    assert "20 active warnings" in _text(listed)


def test_clear_bulk_deletes_recent_messages_and_skips_old_ones(server, app_env, fresh_db) -> None:
    author = {"id": str(MEMBER), "username": "user43"}
    old = time.time() - 20 * 86400
    for i in range(8):
        app_env.discord.add_message(77, author, f"old {i}", at=old + i)
    for i in range(5):
        app_env.discord.add_message(77, author, f"new {i}")
    app_env.discord.add_message(77, {"id": "46", "username": "user46"}, "someone else")
    _, token = _run("/clear count:13 user:43", server, channel_id="77")
    said = _text(_finish(app_env, token))
    assert "Deleted 10 messages" in said and "3 older than 14 days were skipped" in said, said
    left = [m["content"] for m in app_env.discord.channel_messages["77"]]
    assert "someone else" in left and not [t for t in left if t.startswith("new")]
    assert len(app_env.discord.calls_to("POST", r"/channels/77/messages/bulk-delete")) == 1
    assert _cases(fresh_db) == [(1, "clear", MEMBER, "active", "discord")]


def test_every_case_goes_to_the_mod_log(server, app_env, fresh_db) -> None:
    answer, _ = _run("/setup modlog channel:88", server, permissions=1 << 5)
    assert "Every case will be posted" in _text(answer)
    _, token = _run("/warn user:43 reason:rude", server)
    _finish(app_env, token)
    run_schedule("run_jobs")
    posted = app_env.discord.channel_messages["88"]
    assert len(posted) == 1 and "Case #1 — warn" in _text(posted[0]) and "rude" in _text(posted[0])


def test_case_reason_and_delete(server, app_env, fresh_db) -> None:
    _, token = _run("/warn user:43 reason:first", server)
    _finish(app_env, token)
    edited, _ = _run('/case reason id:1 "text:better reason"', server)
    assert "better reason" in _text(edited)
    denied, _ = _run("/case delete id:1", server)
    assert "Administrator permission" in _text(denied)
    gone, _ = _run("/case delete id:1", server, permissions=1 << 3)
    assert "Case #1 deleted" in _text(gone)
    assert _cases(fresh_db) == [(1, "warn", MEMBER, "deleted", "discord")]
    listed, _ = _run("/warnings user:43", server)
    assert "0 active warnings" in _text(listed)


def test_a_threshold_ban_longer_than_28_days_is_refused_clearly(server, app_env, fresh_db) -> None:
    first, _ = _run("/setup warn-threshold count:3 action:ban duration:30d", server, permissions=1 << 5)
    assert first["type"] == 4 and "from 1 minute to 4 weeks" in _text(first)  # refused before "thinking…"
    with psycopg.connect(fresh_db) as c:
        assert c.execute("SELECT count(*) FROM jobs").fetchone() == (0,)  # nothing queued
    _, token = _run("/setup warn-threshold count:3 action:ban duration:7d", server, permissions=1 << 5)
    assert "Reaching 3 active warnings will ban the member for 1 week" in _text(_finish(app_env, token))


@pytest.mark.parametrize(
    "command",
    [
        "/ban user:43 duration:2y",
        "/ban user:43 duration:soon",
        "/timeout user:43 duration:29d",
        "/timeout user:43 duration:5s",
    ],
)
def test_a_bad_duration_is_refused_before_thinking(server, app_env, fresh_db, command) -> None:
    first, _ = _run(command, server)
    assert first["type"] == 4 and first["data"]["flags"] == 64 and "A duration is like 10m" in first["data"]["content"]
    with psycopg.connect(fresh_db) as c:
        assert c.execute("SELECT count(*) FROM jobs").fetchone() == (0,)
    assert app_env.discord.guilds["1"]["bans"] == {}


def test_durations_parse() -> None:
    assert parse_duration("1h30m") == 5400 and parse_duration("2d") == 172800 and parse_duration("10 m") == 600
    assert parse_duration("soon") is None and parse_duration("") is None and parse_duration("5") is None


# --- Telegram groups ---------------------------------------------------------------------------------------


def _tg(client: Any, text: str, user: int, reply_to: int | None = None) -> dict:
    update = telegram_update(text, user=user, chat=GROUP, update_id=random.randrange(1, 2**31))
    if reply_to is not None:
        update["message"]["reply_to_message"] = {
            "message_id": 5,
            "from": {"id": reply_to, "is_bot": False, "first_name": f"U{reply_to}"},
            "chat": update["message"]["chat"],
            "date": int(time.time()),
            "text": "something rude",
        }
    return dict(client.post("/", data=json.dumps(update), headers=TG_HEADERS).get_json())


def _edits(app_env: Any) -> str:
    run_schedule("run_jobs")
    return json.dumps([c["text"] for c in app_env.telegram.calls_of("editMessageText")], ensure_ascii=False)


def test_telegram_admins_ban_mute_unmute_warn_as_replies(app_env, fresh_db) -> None:
    client = create_app("telegram_webhook", "main.py").test_client()
    app_env.telegram.chat_members[(GROUP, 7)] = {"status": "administrator", "can_restrict_members": True}
    app_env.telegram.chat_members[(GROUP, 9)] = {"status": "administrator", "can_restrict_members": False}
    _tg(client, "/mute 10m flooding", 7, reply_to=8)
    assert "was timed out for 10 minutes — case #1" in _edits(app_env)
    assert app_env.telegram.chat_members[(GROUP, 8)]["status"] == "restricted"
    _tg(client, "/unmute", 7, reply_to=8)
    assert "case #2" in _edits(app_env) and app_env.telegram.chat_members[(GROUP, 8)]["status"] == "member"
    _tg(client, "/setup_warn_threshold 2 ban", 7)  # the group's own threshold: 2 warnings → a ban
    assert "Reaching 2 active warnings will ban" in _edits(app_env)
    _tg(client, "/warn be nice", 7, reply_to=8)
    assert "was warned — case #3" in _edits(app_env)
    assert "Active warnings: **1** of 2" in _edits(app_env) or "of 2" in _edits(app_env)
    _tg(client, "/ban spam links", 7, reply_to=8)  # no duration: all of it is the reason
    assert "was banned — case #4" in _edits(app_env)
    assert app_env.telegram.chat_members[(GROUP, 8)]["status"] == "kicked"
    _tg(client, "/cases", 7)
    assert "#4" in _edits(app_env)
    with psycopg.connect(fresh_db) as c:
        reasons = c.execute("SELECT reason FROM mod_cases WHERE action = 'ban'").fetchone()
    assert reasons == ("spam links",)


@pytest.mark.parametrize("text", ["/ban 2y", "/ban 1y spam", "/ban 400d", "/ban ٣d", "/mute ٣m", "/mute 29d"])
def test_a_telegram_duration_out_of_range_is_refused_never_a_permanent_ban(app_env, fresh_db, text) -> None:
    client = create_app("telegram_webhook", "main.py").test_client()
    app_env.telegram.chat_members[(GROUP, 7)] = {"status": "administrator", "can_restrict_members": True}
    reply = _tg(client, text, 7, reply_to=8)
    assert "A duration is like 10m" in reply["text"]  # at once, before "working…"
    run_schedule("run_jobs")
    assert not app_env.telegram.calls_of("banChatMember") and not app_env.telegram.calls_of("restrictChatMember")
    with psycopg.connect(fresh_db) as c:
        assert c.execute("SELECT count(*) FROM mod_cases").fetchone() == (0,)


@pytest.mark.parametrize(
    ("who", "target", "says"),
    [
        (8, 10, "Only this group's administrators can do that."),
        (9, 10, "You need the “Ban users” admin right"),
        (7, 7, "You can't ban yourself."),
        (7, 11, "is an administrator here"),
        (7, 12, "You can't ban the group's owner."),
    ],
)
def test_telegram_refusals_change_nothing(app_env, fresh_db, who, target, says) -> None:
    client = create_app("telegram_webhook", "main.py").test_client()
    members = app_env.telegram.chat_members
    members[(GROUP, 7)] = {"status": "administrator", "can_restrict_members": True}
    members[(GROUP, 9)] = {"status": "administrator", "can_restrict_members": False}
    members[(GROUP, 11)] = {"status": "administrator"}
    members[(GROUP, 12)] = {"status": "creator"}
    _tg(client, "/ban", who, reply_to=target)
    assert says in _edits(app_env)
    assert not app_env.telegram.calls_of("banChatMember") and _cases(fresh_db) == []


def test_telegram_needs_a_reply_to_know_who(app_env, fresh_db) -> None:
    client = create_app("telegram_webhook", "main.py").test_client()
    app_env.telegram.chat_members[(GROUP, 7)] = {"status": "creator"}
    answer = _tg(client, "/warn hello", 7)  # refused at once: nothing queued
    assert "Reply to their message" in answer["text"] and run_schedule("run_jobs").get_json()["done"] == 0
