"""Verification through the real functions: /setup verification posts a panel on the fake Discord; Verify
gives the role once (also pressed twice at once); the captcha (a code in a picture, typed into a modal)
counts wrong answers and locks out after the last try; presses are rate-limited; forged, stale, foreign and
malformed submits change nothing. Role checks and the captcha's attacks: test_verification_hardening.py.
Telegram join requests get a captcha in private, are approved when solved, declined after the last wrong
pick, when the applicant cannot be messaged, or (once, however often the schedule runs) when time is up."""

from __future__ import annotations

import json
import random
import threading
from typing import Any

import psycopg
import pytest
from functions_framework import create_app

from devtools import fake_telegram_joins
from devtools.fake_discord_guilds import add_guild
from devtools.simulate import discord_payload, telegram_update
from tests.conftest import APP_ID, TG_SECRET, encode, interaction, run_schedule, sign
from ttfd.core import db
from ttfd.features.verification import service

TG_HEADERS = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
MANAGE_ROLES, KICK_MEMBERS = 1 << 28, 1 << 1
GUILD, ROLE, OWNER, BOT = 1, 555, 900, int(APP_ID)
# The server on the fake Discord: (role id, name, position, permissions) and who holds which role. The bot's
# highest role (Shiny, 11) is a plain one; its Manage Roles comes from Bot (10), as on many real servers.
ADMIN, NO_PERMS, HELPER = 1, 2, 3  # Manage Roles high up; no role at all; Manage Roles low down (top: Crew, 6)
ROLES = [
    (ROLE, "Verified", 2, 0),
    (564, "Kicker", 3, KICK_MEMBERS),
    (562, "Helper", 4, MANAGE_ROLES),
    (565, "Booster", 5, 0),  # managed (add_server)
    (566, "Crew", 6, 0),
    (567, "Senior", 7, 0),
    (560, "Admin", 8, MANAGE_ROLES),
    (561, "Bot", 10, MANAGE_ROLES),
    (569, "Shiny", 11, 0),
    (563, "High", 12, 0),
]
MEMBERS = {
    ADMIN: [560],
    NO_PERMS: [],
    HELPER: [562, 566],
    OWNER: [],
    BOT: [561, 569],
    **{u: [] for u in range(40, 80)},
}


def add_server(discord) -> None:
    """Guild 1 as Discord would have it (its roles, members and the bot), so role checks and PUTs see it."""
    add_guild(discord, GUILD, OWNER, ROLES, MEMBERS)
    discord.guilds[str(GUILD)]["roles"]["565"]["managed"] = True  # a booster role: Discord's own


@pytest.fixture
def clients(app_env):
    fake_telegram_joins.joins(app_env.telegram).pending.clear()
    fake_telegram_joins.joins(app_env.telegram).decisions.clear()
    add_server(app_env.discord)
    yield (
        create_app("discord_interactions", "main.py").test_client(),
        create_app("telegram_webhook", "main.py").test_client(),
    )
    app_env.discord.guilds.pop(str(GUILD), None)  # the fake outlives the test: other files' guild 1 is theirs


def _post(client, payload: dict[str, Any]) -> dict[str, Any]:
    body = encode(payload)
    resp = client.post("/", data=body, headers=sign(body))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return dict(resp.get_json())


def _one(url: str, query: str, *args: Any) -> Any:
    with psycopg.connect(url) as c:
        return c.execute(query, args).fetchone()


def _setup(client, fakes, channel: int, *, captcha: bool = False, role: int = ROLE) -> str:
    """/setup verification, its job run; the posted panel's Verify custom_id."""
    cmd = f"/setup verification channel:{channel} role:{role}" + (" captcha:true" if captcha else "")
    payload = interaction(cmd, user=1, permissions=MANAGE_ROLES)
    assert _post(client, payload)["type"] == 5  # deferred: the job posts the panel
    assert run_schedule("run_jobs").status_code == 200
    done = fakes.discord.originals[payload["token"]]
    assert "Verification panel posted in <#" in done["content"], done
    panel = fakes.discord.channel_messages[str(channel)][-1]
    assert panel["embeds"][0]["title"] == "✅ Verification" and f"<@&{role}>" in panel["embeds"][0]["description"]
    button = panel["components"][0]["components"][0]
    assert button["label"] == "Verify"
    return str(button["custom_id"])


def _press_payload(custom_id: str, user: int, roles: tuple[int, ...] = (), guild: int = GUILD) -> dict[str, Any]:
    payload = discord_payload(
        app_id=APP_ID,
        user=user,
        guild=guild,
        data={"custom_id": custom_id, "component_type": 2},
        interaction_type=3,
        message={"id": "1", "content": ""},
    )
    if guild:
        payload["member"]["roles"] = [str(r) for r in roles]
    return payload


def _press(client, custom_id: str, user: int, roles: tuple[int, ...] = (), guild: int = GUILD) -> dict[str, Any]:
    return _post(client, _press_payload(custom_id, user, roles, guild))


def _picture(client, fakes, custom_id: str, user: int) -> dict[str, Any]:
    """Verify pressed on a captcha panel: the private answer, once the job drew the code into it."""
    payload = _press_payload(custom_id, user)
    first = _post(client, payload)
    assert first["type"] == 4 and first["data"]["flags"] == 64 and "drawing a code" in first["data"]["content"], first
    assert run_schedule("run_jobs").status_code == 200
    return dict(fakes.discord.originals[payload["token"]])


def _enter_id(picture: dict[str, Any]) -> str:
    button = picture["components"][0]["components"][0]
    assert button["label"] == "Enter the code"
    return str(button["custom_id"])


def _modal(client, fakes, custom_id: str, user: int) -> dict[str, Any]:
    """Verify, then Enter the code: the modal (type 9)."""
    opened = _press(client, _enter_id(_picture(client, fakes, custom_id, user)), user)
    assert opened["type"] == 9, opened
    return opened


def _submit(client, custom_id: str, user: int, value: Any = None, components: Any = None) -> dict[str, Any]:
    rows = components or [{"type": 1, "components": [{"type": 4, "custom_id": "answer", "value": value}]}]
    payload = discord_payload(
        app_id=APP_ID, user=user, guild=GUILD, data={"custom_id": custom_id, "components": rows}, interaction_type=5
    )
    return _post(client, payload)


def _answer_of(url: str, modal: dict[str, Any]) -> str:
    challenge = modal["data"]["custom_id"].split(":")[1]
    return str(_one(url, "SELECT answer FROM verification_challenges WHERE id = %s", challenge)[0])


def _grants(fakes, user: int, role: int = ROLE) -> int:
    return len(fakes.discord.calls_to("PUT", rf"/guilds/{GUILD}/members/{user}/roles/{role}"))


def _state(url: str) -> tuple:
    """What a refusal must leave alone."""
    return _one(
        url,
        """SELECT (SELECT count(*) FROM verification_challenges WHERE status <> 'open'),
                  (SELECT count(*) FROM verification_grants), (SELECT count(*) FROM jobs)""",
    )


# --- Discord ----------------------------------------------------------------------------------------------


def test_setup_posts_panel_and_verify_grants_the_role_once(clients, app_env, fresh_db) -> None:
    discord, _ = clients
    fakes = app_env
    # Who may set it up, and which roles: refused before anything is stored or posted.
    no_perm = _post(discord, interaction(f"/setup verification channel:701 role:{ROLE}", user=2))
    assert no_perm["type"] == 4 and "Manage Roles" in no_perm["data"]["content"]
    custom_id = _setup(discord, fakes, 701)
    assert fakes.discord.calls_to("POST", r"/channels/701/messages")
    assert _one(fresh_db, "SELECT channel_id, role_id, captcha, message_id IS NOT NULL FROM verification_panels") == (
        701,
        ROLE,
        False,
        True,
    )

    press = _press_payload(custom_id, 42)
    answer = _post(discord, press)
    assert answer["type"] == 4 and answer["data"]["flags"] == 64 and "Giving you" in answer["data"]["content"]
    assert run_schedule("run_jobs").status_code == 200
    assert str(ROLE) in fakes.discord.member_roles[(str(GUILD), "42")] and _grants(fakes, 42) == 1
    assert any("Verification panel" in reason for _, _, reason in fakes.discord.audit_reasons)
    assert "You are verified" in fakes.discord.originals[press["token"]]["content"]
    # Pressed again by someone who has the role now (Discord sends the member's roles): told, nothing queued.
    again = _press(discord, custom_id, user=42, roles=(ROLE,))
    assert "already verified" in again["data"]["content"]
    assert run_schedule("run_jobs").status_code == 200
    assert _grants(fakes, 42) == 1


def test_two_presses_at_once_grant_once(clients, app_env, fresh_db) -> None:
    discord, _ = clients
    custom_id = _setup(discord, app_env, 702)
    app = create_app("discord_interactions", "main.py")
    start = threading.Barrier(2)
    out: list[str] = ["", ""]

    def press(n: int) -> None:
        start.wait()
        out[n] = _press(app.test_client(), custom_id, user=43)["data"]["content"]

    threads = [threading.Thread(target=press, args=(n,)) for n in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sorted("on its way" in o for o in out) == [False, True], out
    assert run_schedule("run_jobs").status_code == 200
    assert _grants(app_env, 43) == 1
    assert _one(fresh_db, "SELECT status FROM verification_grants WHERE discord_id = 43") == ("granted",)


def test_role_discord_refuses_is_reported_and_can_be_tried_again(clients, app_env, fresh_db) -> None:
    discord, _ = clients
    custom_id = _setup(discord, app_env, 703)
    app_env.discord.fail_next(
        "PUT", rf"/guilds/{GUILD}/members/44/roles/{ROLE}", 403, {"message": "Missing Permissions", "code": 50013}
    )
    press = _press_payload(custom_id, 44)
    _post(discord, press)
    assert run_schedule("run_jobs").status_code == 200
    assert "could not give you" in app_env.discord.originals[press["token"]]["content"]
    assert _one(fresh_db, "SELECT status FROM verification_grants WHERE discord_id = 44") == ("failed",)
    assert "Giving you" in _press(discord, custom_id, user=44)["data"]["content"]  # fixed by an admin: again
    assert run_schedule("run_jobs").status_code == 200
    assert str(ROLE) in app_env.discord.member_roles[(str(GUILD), "44")]


def test_setup_refuses_risky_roles_and_channels_it_cannot_post_in(clients, app_env, fresh_db) -> None:
    discord, _ = clients
    app_env.discord.fail_next("POST", r"/channels/704/messages", 403, {"message": "Missing Access", "code": 50001})
    payload = interaction(f"/setup verification channel:704 role:{ROLE}", user=1, permissions=MANAGE_ROLES)
    _post(discord, payload)
    run_schedule("run_jobs")
    assert "cannot post in that channel" in app_env.discord.originals[payload["token"]]["content"]
    assert _one(fresh_db, "SELECT count(*) FROM verification_panels") == (0,)  # rolled back with the refusal
    payload = interaction(f"/setup verification channel:704 role:{GUILD}", user=1, permissions=MANAGE_ROLES)
    refused = _post(discord, payload)  # refused at once, before "thinking…"
    assert refused["type"] == 4 and "@everyone" in refused["data"]["content"]
    assert _one(fresh_db, "SELECT count(*) FROM verification_panels") == (0,)


def test_captcha_wrong_answers_count_then_lock_out_and_right_answer_grants(clients, app_env, fresh_db) -> None:
    discord, _ = clients
    custom_id = _setup(discord, app_env, 705, captcha=True)
    picture = _picture(discord, app_env, custom_id, user=45)
    assert picture["embeds"][0]["image"]["url"] == "attachment://code.png"
    assert picture["attachments"][0]["content_type"] == "image/png"
    modal = _press(discord, _enter_id(picture), 45)
    assert modal["type"] == 9, modal
    field = modal["data"]["components"][0]["components"][0]
    assert modal["data"]["title"] == "Verification" and field["type"] == 4 and field["custom_id"] == "answer"
    assert field["label"] == "The code in the picture" and field["max_length"] == 10
    answer = _answer_of(fresh_db, modal)
    assert len(answer) == 5 and set(answer) <= set(service.ALPHABET)
    prefix, challenge, _mac = modal["data"]["custom_id"].split(":")
    assert prefix == "vfa" and len(challenge) == 24  # only a random id: the code stays in Postgres

    wrong = _submit(discord, modal["data"]["custom_id"], 45, "AAAAA" if answer != "AAAAA" else "CCCCC")
    assert "not right" in wrong["data"]["content"] and "2 tries left" in wrong["data"]["content"]
    # The same code cannot be answered twice, nor its modal opened again.
    twice = _submit(discord, modal["data"]["custom_id"], 45, answer)
    assert "answered this code already" in twice["data"]["content"]
    assert "answered this code already" in _press(discord, _enter_id(picture), 45)["data"]["content"]

    right = _modal(discord, app_env, custom_id, user=45)
    code = _answer_of(fresh_db, right)
    ok = _submit(discord, right["data"]["custom_id"], 45, f" {code[:2].lower()} {code[2:]} ")  # any case, spaces
    assert "Correct" in ok["data"]["content"] and ok["data"]["flags"] == 64
    run_schedule("run_jobs")
    assert _grants(app_env, 45) == 1

    # Someone else fails three times: locked out, with no new code, until the window passes.
    for n in range(3):
        m = _modal(discord, app_env, custom_id, user=46)
        reply = _submit(discord, m["data"]["custom_id"], 46, "0")
        assert ("last try" in reply["data"]["content"]) == (n == 2)
    locked = _press(discord, custom_id, user=46)
    assert locked["type"] == 4 and "Too many wrong answers. Try again in 10 minutes" in locked["data"]["content"]
    assert _one(fresh_db, "SELECT count(*) FROM verification_challenges WHERE discord_id = 46") == (3,)
    with db.transaction() as conn:  # the window passes
        conn.execute("UPDATE verification_challenges SET answered_at = answered_at - interval '11 minutes'")
    assert "Enter the code" in json.dumps(_picture(discord, app_env, custom_id, user=46))
    assert _grants(app_env, 46) == 0


def test_presses_are_rate_limited_per_person(clients, app_env, fresh_db) -> None:
    discord, _ = clients
    custom_id = _setup(discord, app_env, 706, captcha=True)
    answers = [_press(discord, custom_id, user=47)["data"]["content"] for _ in range(6)]
    assert ["drawing a code" in a for a in answers] == [True] * 5 + [False]
    assert "Slow down" in answers[-1]
    assert _one(fresh_db, "SELECT count(*) FROM verification_challenges WHERE discord_id = 47") == (5,)
    assert "drawing a code" in _press(discord, custom_id, user=48)["data"]["content"]  # someone else: not slowed


def test_hostile_submits_are_refused_and_change_nothing(clients, app_env, fresh_db) -> None:
    discord, _ = clients
    custom_id = _setup(discord, app_env, 707, captcha=True)
    modal = _modal(discord, app_env, custom_id, user=49)
    cid = modal["data"]["custom_id"]
    before = _state(fresh_db)
    challenge = cid.split(":")[1]
    forged = f"vfa:{challenge[:-1]}{'A' if challenge[-1] != 'A' else 'B'}:{cid.split(':')[2]}"
    cases = {
        "forged id": _submit(discord, forged, 49, "1"),
        "unsigned": _submit(discord, f"vfa:{challenge}", 49, "1"),
        "someone else's": _submit(discord, cid, 50, "1"),
        "huge answer": _submit(discord, cid, 49, "9" * 4000),
        "wrong field": _submit(
            discord, cid, 49, components=[{"type": 1, "components": [{"type": 4, "custom_id": "x", "value": "1"}]}]
        ),
        "unknown prefix": _submit(discord, "zzz:1", 49, "1"),
    }
    for name, reply in cases.items():
        assert reply["type"] == 4 and reply["data"]["flags"] == 64, name
        assert reply["data"]["content"].startswith("⚠️"), (name, reply)
    assert "someone else's" in cases["someone else's"]["data"]["content"]
    assert "far too long" in cases["huge answer"]["data"]["content"]
    # Shapes Discord never sends are malformed: 400, nothing parsed.
    for rows in (
        [{"type": 1, "components": [{"type": 4, "custom_id": "answer", "value": 12}]}],
        [{"type": 1, "components": [{"type": 4, "custom_id": "answer", "value": "9" * 4001}]}],
        [{"type": 1, "components": [{"type": 2, "custom_id": "answer"}]}],
        "rows",
        [{"type": 1, "components": []}] * 6,
    ):
        payload = discord_payload(
            app_id=APP_ID, user=49, guild=GUILD, data={"custom_id": cid, "components": rows}, interaction_type=5
        )
        body = encode(payload)
        assert discord.post("/", data=body, headers=sign(body)).status_code == 400
    # The newer modal shape (a label holding the input) is read too: the real code still works.
    label = [{"type": 18, "component": {"type": 4, "custom_id": "answer", "value": _answer_of(fresh_db, modal)}}]
    assert _state(fresh_db) == before
    assert "Correct" in _submit(discord, cid, 49, components=label)["data"]["content"]
    # A Verify press outside a server, or in a server without a panel.
    assert "only works in a Discord server" in _press(discord, custom_id, user=49, guild=0)["data"]["content"]
    assert "not set up" in _press(discord, custom_id, user=49, guild=99)["data"]["content"]


# --- Telegram ---------------------------------------------------------------------------------------------


def _join(client, fakes, chat: int, user: int) -> dict[str, Any]:
    update = fake_telegram_joins.request_to_join(fakes.telegram, chat, user, update_id=random.randrange(1, 2**31))
    resp = client.post("/", data=json.dumps(update), headers=TG_HEADERS)
    assert resp.status_code == 200 and resp.get_json() == {}
    assert run_schedule("run_jobs").status_code == 200
    return update


def _captcha(fakes, user: int) -> tuple[dict[str, str], str]:
    """The captcha sent to `user` in private: its buttons (emoji → callback data) and the name asked for."""
    return _keys([c for c in fakes.telegram.calls_of("sendMessage") if int(c["chat_id"]) == user][-1])


def _keys(last: dict[str, Any]) -> tuple[dict[str, str], str]:
    keys = {b["text"]: b["callback_data"] for row in last["reply_markup"]["inline_keyboard"] for b in row}
    asked = last["text"].split("tap the <b>")[1].split("</b>")[0]
    return keys, asked


def _tap(client, data: str, user: int) -> dict[str, Any]:
    update = telegram_update(None, user=user, callback=data, update_id=random.randrange(1, 2**31))
    return dict(client.post("/", data=json.dumps(update), headers=TG_HEADERS).get_json())


def _emoji(name: str) -> str:
    return next(e for e, n in service.PICTURES if n == name)


def test_join_request_captcha_solved_is_approved_once(clients, app_env, fresh_db) -> None:
    _, telegram = clients
    fakes = app_env
    update = _join(telegram, fakes, -100500, 7001)
    keys, asked = _captcha(fakes, 7001)
    assert len(keys) == 6 and "Dev group" in fakes.telegram.calls_of("sendMessage")[-1]["text"]
    # The same update redelivered: no second request, no second message.
    telegram.post("/", data=json.dumps(update), headers=TG_HEADERS)
    run_schedule("run_jobs")
    assert len([c for c in fakes.telegram.calls_of("sendMessage") if int(c["chat_id"]) == 7001]) == 1
    assert _tap(telegram, keys[_emoji(asked)], 7002) == {}  # someone else's tap: an alert
    assert "someone else's" in json.dumps(fakes.telegram.calls_of("answerCallbackQuery")[-1], ensure_ascii=False)
    done = _tap(telegram, keys[_emoji(asked)], 7001)
    assert done["method"] == "editMessageText" and "approved" in done["text"]
    assert _tap(telegram, keys[_emoji(asked)], 7001) == {}  # pressed again: decided already
    run_schedule("run_jobs")
    joins = fake_telegram_joins.joins(fakes.telegram)
    assert joins.decisions == [("approve", -100500, 7001)]
    assert _one(fresh_db, "SELECT status, reason FROM verification_join_requests") == ("approved", "solved")
    assert run_schedule("verification_expire").get_json() == {"declined": 0}


def test_wrong_picks_draw_a_new_captcha_then_decline(clients, app_env, fresh_db) -> None:
    _, telegram = clients
    _join(telegram, app_env, -100501, 7003)
    first_keys, asked = _captcha(app_env, 7003)
    wrong = next(data for emoji, data in first_keys.items() if emoji != _emoji(asked))
    again = _tap(telegram, wrong, 7003)
    assert "2 tries left" in again["text"] and again["method"] == "editMessageText"
    assert _tap(telegram, first_keys[_emoji(asked)], 7003) == {}  # the old captcha's buttons are stale now
    assert "not valid any more" in json.dumps(app_env.telegram.calls_of("answerCallbackQuery")[-1])
    keys, asked = _keys(again)
    again = _tap(telegram, next(d for e, d in keys.items() if e != _emoji(asked)), 7003)
    assert "1 try left" in again["text"]
    keys, asked = _keys(again)
    last = _tap(telegram, next(d for e, d in keys.items() if e != _emoji(asked)), 7003)
    assert "declined" in last["text"] and not last.get("reply_markup", {}).get("inline_keyboard")
    run_schedule("run_jobs")
    assert fake_telegram_joins.joins(app_env.telegram).decisions == [("decline", -100501, 7003)]
    assert _one(fresh_db, "SELECT status, reason, attempts FROM verification_join_requests") == (
        "declined",
        "failed",
        3,
    )


def test_unsolved_request_is_declined_once_by_the_schedule(clients, app_env, fresh_db) -> None:
    _, telegram = clients
    _join(telegram, app_env, -100502, 7004)
    keys, asked = _captcha(app_env, 7004)
    assert run_schedule("verification_expire").get_json() == {"declined": 0}  # not yet
    with db.transaction() as conn:
        conn.execute("UPDATE verification_join_requests SET expires_at = now() - interval '1 second'")
    results = [run_schedule("verification_expire").get_json() for _ in range(2)]
    assert results == [{"declined": 1}, {"declined": 0}]
    run_schedule("run_jobs")
    run_schedule("run_jobs")
    assert fake_telegram_joins.joins(app_env.telegram).decisions == [("decline", -100502, 7004)]
    assert any("Time is up" in c["text"] for c in app_env.telegram.calls_of("editMessageText"))
    assert _tap(telegram, keys[_emoji(asked)], 7004) == {}  # too late to solve it
    assert _one(fresh_db, "SELECT status, reason FROM verification_join_requests") == ("declined", "timeout")


def test_applicant_the_bot_cannot_message_is_declined_and_an_admin_decision_is_respected(
    clients, app_env, fresh_db
) -> None:
    _, telegram = clients
    fake_telegram_joins.refuse_dm(app_env.telegram)
    _join(telegram, app_env, -100503, 7005)
    run_schedule("run_jobs")
    joins = fake_telegram_joins.joins(app_env.telegram)
    assert joins.decisions == [("decline", -100503, 7005)]
    assert _one(fresh_db, "SELECT status, reason FROM verification_join_requests") == ("declined", "unreachable")
    # An admin approved this one by hand before it timed out: Telegram says the request is gone; logged, done.
    _join(telegram, app_env, -100503, 7006)
    joins.pending.discard((-100503, 7006))
    with db.transaction() as conn:
        conn.execute("UPDATE verification_join_requests SET expires_at = now() WHERE telegram_id = 7006")
    assert run_schedule("verification_expire").get_json() == {"declined": 1}
    run_schedule("run_jobs")
    assert _one(fresh_db, "SELECT count(*) FROM jobs WHERE status <> 'done'") == (0,)
    assert len(joins.decisions) == 1


def test_forged_join_picks_change_nothing(clients, app_env, fresh_db) -> None:
    _, telegram = clients
    _join(telegram, app_env, -100504, 7007)
    keys, asked = _captcha(app_env, 7007)
    good = keys[_emoji(asked)]
    prefix, request, rnd, pick, mac = good.split(":")
    for forged in (
        f"{prefix}:{request}:{rnd}:{(int(pick) + 1) % 6}:{mac}",
        f"{prefix}:{request}:{rnd}:{pick}",
        "vjp:" + "9" * 60,
    ):
        assert _tap(telegram, forged, 7007) == {}
        assert "not valid" in json.dumps(app_env.telegram.calls_of("answerCallbackQuery")[-1], ensure_ascii=False)
    assert _one(fresh_db, "SELECT status, attempts, round FROM verification_join_requests") == ("pending", 0, 1)
    assert "approved" in _tap(telegram, good, 7007)["text"]
