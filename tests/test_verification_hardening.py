"""Verification against the attacks that found holes in it: roles handed out past Discord's own rules (at
setup: the invoker's and the bot's highest role and Manage Roles, managed and dangerous roles; at the grant:
a role moved above the bot or given power since), and captcha tries outrun by held modals or answers sent at
once. The captcha is a code in a picture: a real PNG whose code no text carries, typed into a modal that a
button opens; forged buttons, odd answers and the same interaction twice change nothing they should not."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from functions_framework import create_app
from PIL import Image

from tests.conftest import APP_ID, encode, interaction, run_schedule, sign
from tests.test_verification import (
    ADMIN,
    GUILD,
    HELPER,
    MANAGE_ROLES,
    NO_PERMS,
    OWNER,
    ROLE,
    _answer_of,
    _enter_id,
    _grants,
    _modal,
    _one,
    _picture,
    _post,
    _press,
    _press_payload,
    _setup,
    _submit,
    add_server,
)
from ttfd.clients import discord_rest
from ttfd.core import db, users
from ttfd.core.errors import DomainError
from ttfd.core.settings import get_settings
from ttfd.features.verification import VerifyAnswer, on_answer
from ttfd.ui.commands import Ctx, PlatformUser
from ttfd.ui.text import plain

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TRIES = 3  # VERIFY_CAPTCHA_TRIES' default
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def discord(app_env, caplog):
    """The interactions function, with guild 1 on the fake Discord; and afterwards, nothing logged as an error
    (a crash is answered 200 with an apology: the status alone would not show it)."""
    add_server(app_env.discord)
    yield create_app("discord_interactions", "main.py").test_client()
    app_env.discord.guilds.pop(str(GUILD), None)
    assert [r.getMessage() for r in caplog.get_records("call") if r.levelno >= logging.ERROR] == []


def _wrong(code: str) -> str:
    return "AAAAA" if code != "AAAAA" else "CCCCC"


def _statuses(url: str, user: int) -> dict[str, int]:
    with psycopg.connect(url) as c:
        rows = c.execute(
            "SELECT status, count(*) FROM verification_challenges WHERE discord_id = %s GROUP BY status", (user,)
        ).fetchall()
    return {status: n for status, n in rows}


# --- the captcha's tries ------------------------------------------------------------------------------------


def test_five_held_modals_cannot_outrun_the_limit(discord, app_env, fresh_db) -> None:
    """Verify pressed five times holds five codes and modals; three wrong answers lock the person out, and a
    right answer in the fourth is refused then: no role. The fifth modal cannot even be opened again."""
    custom_id = _setup(discord, app_env, 720, captcha=True)
    pictures = [_picture(discord, app_env, custom_id, user=60) for _ in range(5)]
    modals = [_press(discord, _enter_id(p), 60) for p in pictures]
    assert [m["type"] for m in modals] == [9] * 5
    for n, modal in enumerate(modals[:3]):
        reply = _submit(discord, modal["data"]["custom_id"], 60, _wrong(_answer_of(fresh_db, modal)))
        assert ("last try" in reply["data"]["content"]) == (n == 2), reply
    fourth = modals[3]
    late = _submit(discord, fourth["data"]["custom_id"], 60, _answer_of(fresh_db, fourth))
    assert late["data"]["content"] == "⚠️ Too many wrong answers. Try again in 10 minutes.", late
    assert "Too many wrong answers" in _press(discord, _enter_id(pictures[4]), 60)["data"]["content"]
    assert run_schedule("run_jobs").status_code == 200
    assert _grants(app_env, 60) == 0
    assert _one(fresh_db, "SELECT count(*) FROM verification_grants") == (0,)
    assert _statuses(fresh_db, 60) == {"failed": 3, "open": 2}
    # The held codes died with the last try: once the window passes, they are expired, not a way back in.
    with db.transaction() as conn:
        conn.execute("UPDATE verification_challenges SET answered_at = answered_at - interval '11 minutes'")
    after = _submit(discord, fourth["data"]["custom_id"], 60, _answer_of(fresh_db, fourth))
    assert "expired" in after["data"]["content"]


def _held_until_all_wait(url: str, start: list[threading.Thread], waiters: int) -> None:
    """Hold a SHARE lock on the challenges, start the threads, and let go once `waiters` of them wait on a lock:
    each answer then stops at its write, after it counted the wrong answers committed before it."""
    with psycopg.connect(url) as holder, psycopg.connect(url, autocommit=True) as watch:
        holder.execute("LOCK TABLE verification_challenges IN SHARE MODE")
        [t.start() for t in start]
        deadline = time.monotonic() + 1.5  # the functions' statement timeout is 2 s
        waiting = 0
        while waiting < waiters and time.monotonic() < deadline:
            waiting = watch.execute(  # autocommit: pg_stat_activity is a snapshot within a transaction
                """SELECT count(*) FROM pg_stat_activity
                   WHERE datname = current_database() AND wait_event_type = 'Lock'"""
            ).fetchone()[0]
        assert waiting == waiters, waiting
    [t.join() for t in start]


def test_answers_sent_at_once_are_decided_one_after_another(discord, app_env, fresh_db) -> None:
    """Five wrong answers of one person arrive together, each held at its write: exactly three count, the
    other two are refused (without the per-person order all five would count none before them)."""
    custom_id = _setup(discord, app_env, 721, captcha=True)
    modals = [_modal(discord, app_env, custom_id, user=61) for _ in range(5)]
    wrong = [_wrong(_answer_of(fresh_db, m)) for m in modals]
    app = create_app("discord_interactions", "main.py")
    out: list[dict[str, Any]] = [{} for _ in modals]

    def answer(n: int) -> None:
        out[n] = _submit(app.test_client(), modals[n]["data"]["custom_id"], 61, wrong[n])

    _held_until_all_wait(fresh_db, [threading.Thread(target=answer, args=(n,)) for n in range(5)], 5)
    texts = sorted(o["data"]["content"] for o in out)
    assert sum("Too many wrong answers" in t for t in texts) == 2, texts
    assert sum("not right" in t for t in texts) == 3, texts
    assert _statuses(fresh_db, 61) == {"failed": TRIES, "open": 2}


def test_the_answer_handler_itself_takes_one_answer_of_a_person_at_a_time(discord, app_env, fresh_db) -> None:
    """The same, below the interaction path: inbound.begin happens to lock the person's guild_members row too,
    so this calls the handler in bare transactions to show verification's own lock does the ordering."""
    custom_id = _setup(discord, app_env, 725, captcha=True)
    modals = [_modal(discord, app_env, custom_id, user=69) for _ in range(5)]
    wrong = [_wrong(_answer_of(fresh_db, m)) for m in modals]
    actions = [VerifyAnswer.unpack(m["data"]["custom_id"]) for m in modals]
    with db.transaction() as conn:
        account = users.find_user(conn, "discord", 69)
    assert account is not None
    out: list[str] = ["" for _ in modals]

    def answer(n: int) -> None:
        try:
            with db.transaction() as conn:
                ctx = Ctx(
                    conn=conn,
                    settings=get_settings(),
                    platform="discord",
                    user=account,
                    caller=PlatformUser("discord", 69, None, None),
                    key=f"test:{n}",
                    now=datetime.now(UTC),
                    guild_id=GUILD,
                    inputs={"answer": wrong[n]},
                )
                out[n] = plain(on_answer(ctx, actions[n]).body)
        except DomainError as exc:
            out[n] = exc.message

    _held_until_all_wait(fresh_db, [threading.Thread(target=answer, args=(n,)) for n in range(5)], 5)
    assert sum("Too many wrong answers" in o for o in out) == 2, out
    assert _statuses(fresh_db, 69) == {"failed": TRIES, "open": 2}


# --- the picture and its modal ------------------------------------------------------------------------------


def test_the_picture_is_a_png_whose_code_is_in_no_text(discord, app_env, fresh_db, monkeypatch) -> None:
    sent: list[Any] = []
    real = discord_rest.DiscordREST.edit_original

    def keep(self: Any, application_id: str, token: str, message: dict[str, Any], file: Any = None) -> Any:
        sent.append(file)
        return real(self, application_id, token, message, file)

    monkeypatch.setattr(discord_rest.DiscordREST, "edit_original", keep)
    custom_id = _setup(discord, app_env, 722, captcha=True)
    press = _press_payload(custom_id, 62)
    first = _post(discord, press)
    assert run_schedule("run_jobs").status_code == 200
    picture = app_env.discord.originals[press["token"]]
    png = sent[-1]
    assert png.name == "code.png" and png.mime == "image/png" and png.data.startswith(PNG_SIGNATURE)
    image = Image.open(io.BytesIO(png.data))
    image.verify()  # a whole, valid PNG (verify() checks the chunks' CRCs)
    assert Image.open(io.BytesIO(png.data)).size == (300, 100)
    assert picture["attachments"][0]["size"] == len(png.data)
    modal = _press(discord, _enter_id(picture), 62)
    code = _answer_of(fresh_db, modal)
    everything = json.dumps([first, picture, modal]) + json.dumps(
        _one(fresh_db, "SELECT payload FROM jobs WHERE kind = 'verification.code'")[0]
    )
    for seen in (everything, everything.upper()):
        assert code not in seen  # only the picture shows it; the job carried the challenge id alone
    # Each picture is drawn anew, also for the same code: no two alike to learn from.
    from ttfd.features.verification import captcha

    assert captcha.draw(code) != captcha.draw(code)


def test_enter_the_code_opens_the_modal_and_a_right_code_grants_once(discord, app_env, fresh_db) -> None:
    custom_id = _setup(discord, app_env, 723, captcha=True)
    picture = _picture(discord, app_env, custom_id, user=63)
    assert picture["embeds"][0]["title"] == "🧩 Verification" and "<t:" in picture["embeds"][0]["description"]
    enter = _enter_id(picture)
    assert enter.startswith("vfe:") and len(enter.split(":")) == 3  # signed
    modal = _press(discord, enter, 63)
    assert modal["type"] == 9 and modal["data"]["title"] == "Verification"
    again = _press(discord, enter, 63)  # opened again (closed by mistake): the same form
    assert again["type"] == 9 and again["data"]["custom_id"] == modal["data"]["custom_id"]
    code = _answer_of(fresh_db, modal)
    rows = [{"type": 1, "components": [{"type": 4, "custom_id": "answer", "value": code.lower()}]}]
    payload = _submit_payload(modal["data"]["custom_id"], 63, rows)
    body = encode(payload)
    answers = [discord.post("/", data=body, headers=sign(body)).get_json() for _ in range(2)]
    assert answers[0] == answers[1] and "Correct" in answers[0]["data"]["content"]  # the same interaction twice
    assert "answered this code already" in _press(discord, enter, 63)["data"]["content"]
    assert run_schedule("run_jobs").status_code == 200
    assert _grants(app_env, 63) == 1
    assert str(ROLE) in app_env.discord.member_roles[(str(GUILD), "63")]
    assert _one(fresh_db, "SELECT status FROM verification_grants WHERE discord_id = 63") == ("granted",)


def _submit_payload(custom_id: str, user: int, rows: Any) -> dict[str, Any]:
    from devtools.simulate import discord_payload

    return discord_payload(
        app_id=APP_ID, user=user, guild=GUILD, data={"custom_id": custom_id, "components": rows}, interaction_type=5
    )


def test_forged_buttons_odd_answers_and_bursts_change_nothing(discord, app_env, fresh_db) -> None:
    custom_id = _setup(discord, app_env, 724, captcha=True)
    enters = [_enter_id(_picture(discord, app_env, custom_id, user=64)) for _ in range(3)]
    prefix, challenge, mac = enters[0].split(":")
    other = _enter_id(_picture(discord, app_env, custom_id, user=65))
    for forged, why in (
        (f"{prefix}:{challenge[:-1]}{'A' if challenge[-1] != 'A' else 'B'}:{mac}", "not valid any more"),
        (f"{prefix}:{challenge}", "not valid any more"),
        (f"vfa:{challenge}:{mac}", "not valid any more"),  # the button's MAC on the modal's prefix
        (f"{prefix}:{challenge}:{mac}:x", "not valid any more"),
        (f"{prefix}:{challenge[:-1]}\x00:{mac}", "not valid any more"),
        (f"{prefix}:{'A' * 70}:{mac}", "not valid any more"),  # 100 characters, Discord's most
        (other, "someone else's"),
    ):
        reply = _press(discord, forged, 64)
        assert reply["type"] == 4 and why in reply["data"]["content"], (forged, reply)
    # Answers Discord may carry: NUL and control characters, another script, only spaces. Each is an answer
    # (wrong, counted), never a crash.
    replies = [
        _submit(discord, _press(discord, enter, 64)["data"]["custom_id"], 64, odd)["data"]["content"]
        for enter, odd in zip(enters, ("\x00\x00\x00\x00\x00", "кодик", "   "), strict=True)
    ]
    assert ["not right" in r for r in replies] == [True] * 3 and "last try" in replies[-1], replies
    assert _statuses(fresh_db, 64) == {"failed": 3}
    # A burst of presses by one person: five codes, then Slow down; nothing else is drawn.
    burst = [_press(discord, custom_id, user=66)["data"]["content"] for _ in range(12)]
    assert sum("drawing a code" in b for b in burst) == 5 and all("Slow down" in b for b in burst[5:])
    assert _one(fresh_db, "SELECT count(*) FROM verification_challenges WHERE discord_id = 66") == (5,)
    assert run_schedule("run_jobs").status_code == 200
    assert _one(fresh_db, "SELECT count(*) FROM jobs WHERE status <> 'done'") == (0,)


# --- roles past Discord's rules ---------------------------------------------------------------------------


def _configure(client: Any, app_env: Any, user: int, role: int, channel: int) -> str:
    """/setup verification by `user` (Discord says they have Manage Roles here); its job run; what it said."""
    payload = interaction(
        f"/setup verification channel:{channel} role:{role} captcha:true", user=user, permissions=MANAGE_ROLES
    )
    assert _post(client, payload)["type"] == 5
    assert run_schedule("run_jobs").status_code == 200
    return str(app_env.discord.originals[payload["token"]]["content"])


@pytest.mark.parametrize(
    ("who", "role", "change", "why"),
    [
        (NO_PERMS, ROLE, None, "You need the Manage Roles permission to hand out roles."),
        (HELPER, 566, None, "@Crew is the same as or above your highest role"),  # at the invoker's highest
        (HELPER, 567, None, "@Senior is the same as or above your highest role"),  # above it
        (OWNER, 569, None, "@Shiny is the same as or above my highest role"),  # at the bot's highest
        (OWNER, 563, None, "@High is the same as or above my highest role"),  # above it
        (ADMIN, ROLE, "bot without Manage Roles", "I need the Manage Roles permission to give roles"),
        (OWNER, 565, None, "managed by an integration"),
        (OWNER, 564, None, "may not grant Kick Members"),
        (ADMIN, 12345, None, "That role does not exist in this server any more."),
    ],
)
def test_setup_refuses_roles_past_discords_rules(
    discord,
    app_env,
    fresh_db,
    who: int,
    role: int,
    change: str | None,
    why: str,
) -> None:
    if change == "bot without Manage Roles":
        app_env.discord.guilds[str(GUILD)]["roles"]["561"]["permissions"] = "0"
    said = _configure(discord, app_env, who, role, 730)
    assert said.startswith("⚠️") and why in said, said
    assert _one(fresh_db, "SELECT count(*) FROM verification_panels") == (0,)
    assert app_env.discord.calls_to("POST", r"/channels/730/messages") == []


def test_the_owner_may_configure_any_role_below_the_bot(discord, app_env, fresh_db) -> None:
    said = _configure(discord, app_env, OWNER, 567, 731)  # above every other member's role, below the bot's
    assert "Verification panel posted in <#731>" in said, said
    assert _one(fresh_db, "SELECT role_id, set_by FROM verification_panels") == (567, OWNER)
    # And an admin may configure one below their own highest role.
    assert "panel posted" in _configure(discord, app_env, HELPER, ROLE, 732)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ("moved above the bot", "@Verified is the same as or above my highest role"),
        ("given Ban Members", "may not grant Ban Members"),
        ("managed now", "managed by an integration"),
        ("deleted", "That role does not exist in this server any more."),
    ],
)
def test_grant_is_refused_when_the_role_changed_since(discord, app_env, fresh_db, change: str, why: str) -> None:
    """The check runs again when the role is given: the server as Discord has it then (once the 30 s cache of
    the setup's look has passed) decides; the person is told why and nothing is PUT."""
    custom_id = _setup(discord, app_env, 733)
    role = app_env.discord.guilds[str(GUILD)]["roles"][str(ROLE)]
    if change == "moved above the bot":
        role["position"] = 13
    elif change == "given Ban Members":
        role["permissions"] = str(1 << 2)
    elif change == "managed now":
        role["managed"] = True
    else:
        del app_env.discord.guilds[str(GUILD)]["roles"][str(ROLE)]
    with db.transaction() as conn:
        conn.execute("DELETE FROM api_cache")  # the 30 s pass
    press = _press_payload(custom_id, 67)
    assert "Giving you" in _post(discord, press)["data"]["content"]
    assert run_schedule("run_jobs").status_code == 200
    told = app_env.discord.originals[press["token"]]["content"]
    assert told.startswith("⚠️ I could not give you <@&555>.") and why in told, told
    assert told.endswith("Please tell a moderator."), told
    assert _grants(app_env, 67) == 0
    assert _one(fresh_db, "SELECT status FROM verification_grants WHERE discord_id = 67") == ("failed",)


def test_a_role_moved_within_the_cache_window_is_not_given(discord, app_env, fresh_db) -> None:
    """Moved above the bot seconds after the setup looked (its look is cached for 30 s): the grant asks Discord
    afresh, refuses without even trying, and the person is told."""
    custom_id = _setup(discord, app_env, 734)
    app_env.discord.guilds[str(GUILD)]["roles"][str(ROLE)]["position"] = 13
    press = _press_payload(custom_id, 68)
    _post(discord, press)
    assert run_schedule("run_jobs").status_code == 200
    told = app_env.discord.originals[press["token"]]["content"]
    assert "could not give you" in told and "above my highest role" in told, told
    assert not app_env.discord.calls_to("PUT", rf"/guilds/{GUILD}/members/68/roles/{ROLE}")
    assert str(ROLE) not in app_env.discord.member_roles.get((str(GUILD), "68"), set())
    assert _one(fresh_db, "SELECT status FROM verification_grants WHERE discord_id = 68") == ("failed",)


def test_discord_refusing_a_grant_is_told_too(discord, app_env, fresh_db) -> None:
    """Our look allows it and Discord still refuses (403 50013): the person is told that."""
    custom_id = _setup(discord, app_env, 735)
    app_env.discord.fail_next(
        "PUT", rf"/guilds/{GUILD}/members/69/roles/{ROLE}", 403, {"message": "Missing Permissions", "code": 50013}
    )
    press = _press_payload(custom_id, 69)
    _post(discord, press)
    assert run_schedule("run_jobs").status_code == 200
    told = app_env.discord.originals[press["token"]]["content"]
    assert "could not give you" in told and "Discord refused" in told, told
    assert _one(fresh_db, "SELECT status FROM verification_grants WHERE discord_id = 69") == ("failed",)


def test_the_interactions_function_does_not_load_pillow() -> None:
    """The picture is drawn in a job: the interaction path (answered within 3 s, cold starts counted) never
    imports Pillow (~30–60 ms cold) nor the captcha module."""
    probe = (
        "import sys, functions.discord.events, ttfd.features.verification;"
        "print(sorted(m for m in ('PIL', 'ttfd.features.verification.captcha') if m in sys.modules))"
    )
    found = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    assert found.stdout.strip() == "[]", found
