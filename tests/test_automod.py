"""Automod through the real functions: policies set and refused (nothing changed), the Discord sync against
the fake's AutoMod rules (shapes, idempotent, exactly the changed rules, drift, 403 and rule-count refusals),
and Telegram group messages checked as they arrive (deleted, warned, one case per offence, counters under a
concurrent burst, redeliveries, exemptions, clean messages still paid XP)."""

from __future__ import annotations

import json
import random
import threading
from typing import Any

import httpx
import psycopg
import pytest
from functions_framework import create_app

from devtools import fake_discord_automod as fake_automod
from devtools.simulate import telegram_update
from tests.conftest import TG_SECRET, encode, interaction, run_schedule, sign
from ttfd.core import db
from ttfd.features.automod import service

TG_HEADERS = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
MANAGE_GUILD = 1 << 5
GUILD = 1
GROUP = -1009876543210
WRITES = ("POST", "PATCH", "DELETE")


@pytest.fixture
def clients(app_env):
    fake_automod.reset(app_env.discord)
    yield (
        create_app("discord_interactions", "main.py").test_client(),
        create_app("telegram_webhook", "main.py").test_client(),
    )
    fake_automod.reset(app_env.discord)


def _rows(url: str, query: str, *args: Any) -> list[tuple]:
    with psycopg.connect(url) as c:
        return c.execute(query, args).fetchall()


def _discord(client: Any, command: str, user: int = 42, permissions: int = MANAGE_GUILD) -> tuple[dict, str]:
    """Send a command; (its immediate answer, the interaction token whose @original a deferred job edits)."""
    body = encode(interaction(command, user=user, guild=GUILD, permissions=permissions))
    answer = client.post("/", data=body, headers=sign(body)).get_json()
    return dict(answer), json.loads(body)["token"]


def _text(message: Any) -> str:
    return json.dumps(message, ensure_ascii=False)


def _automod_calls(app_env: Any, methods: tuple[str, ...] = ("GET", *WRITES)) -> list[tuple[str, str]]:
    return [(m, p) for m, p, _ in app_env.discord.calls if "/auto-moderation/" in p and m in methods]


def _tg_update(text: str, user: int, chat: int = GROUP, **kw: Any) -> dict:
    update = telegram_update(text, user=user, chat=chat, update_id=random.randrange(1, 2**31), **kw)
    update["message"]["message_id"] = random.randrange(1, 2**31)
    return update


def _tg(client: Any, app_env: Any, text: str, user: int = 7, chat: int = GROUP, update: dict | None = None) -> dict:
    """A group message as Telegram delivers it (also registered on the fake, so it can be deleted)."""
    update = update or _tg_update(text, user, chat)
    msg = update["message"]
    app_env.telegram.add_message(chat, msg["message_id"], user, text)
    resp = client.post("/", data=json.dumps(update), headers=TG_HEADERS)
    assert resp.status_code == 200
    return dict(resp.get_json() or {})


def _policy(scope: str, scope_id: int, **changes: Any) -> service.Policy:
    with db.transaction() as conn:
        return service.update(conn, scope, scope_id, changes, None)  # type: ignore[arg-type]


def _cases(url: str, chat: int = GROUP) -> list[tuple]:
    return _rows(
        url,
        "SELECT number, action, target_id, reason, source FROM mod_cases WHERE scope_id = %s ORDER BY number",
        chat,
    )


def _deleted(app_env: Any) -> list[int]:
    return sorted(int(p["message_id"]) for p in app_env.telegram.calls_of("deleteMessage"))


# --- Telegram: every offence deleted, warned, one case each -------------------------------------------------


def test_each_kind_of_offence_is_deleted_warned_and_one_case(clients, app_env, fresh_db) -> None:
    _, telegram = clients
    _policy(
        "telegram",
        GROUP,
        bad_words=("darn", "spam*", "*bad word*"),
        block_invites=True,
        link_mode="deny",
        links=("evil.com",),
        mention_limit=3,
        caps_percent=70,
    )
    offending = {
        "oh darn it": "that word isn't allowed here",
        "spammy stuff": "that word isn't allowed here",
        "a  REALLYBAD WORDS here": "that word isn't allowed here",
        "join discord.gg/abc123 now": "invite links aren't allowed here",
        "and https://t.me/+AbCdEf123 too": "invite links aren't allowed here",
        "see https://www.sub.evil.com/x": "links to that site aren't allowed here",
        "@alice @bobby @carol @danny hi": "too many mentions",
        "WHY IS EVERYONE SO QUIET": "please don't shout",
    }
    ids = []
    for n, (message, says) in enumerate(offending.items(), start=1):
        update = _tg_update(message, 7)
        reply = _tg(telegram, app_env, message, update=update)
        ids.append(update["message"]["message_id"])
        assert reply["method"] == "sendMessage" and "message removed: " + says in reply["text"], reply
        assert f"(warning {n}, case #{n})" in reply["text"]
        assert "tg://user?id=7" in reply["text"]  # the sender is named (the message itself is going away)
    clean = ["darning socks is fine", "no links at good.com", "Normal Sentence With Some Caps", "evil.community"]
    for message in clean:
        assert _tg(telegram, app_env, message) == {}, message
    assert run_schedule("run_jobs").get_json()["dead"] == 0
    assert _deleted(app_env) == sorted(ids)
    assert all((GROUP, i) not in app_env.telegram.messages for i in ids)
    got = _cases(fresh_db)
    assert [c[0] for c in got] == list(range(1, len(offending) + 1))  # gap-free
    assert {c[1:3] for c in got} == {("warn", 7)} and {c[4] for c in got} == {"automod"}
    assert got[0][3] == "automod: bad word" and got[3][3] == "automod: invite"
    # Offending messages earn nothing; the clean ones are counted (activity runs after automod).
    assert _rows(fresh_db, "SELECT messages_sent FROM unified_users WHERE telegram_id = 7") == [(len(clean),)]
    assert _rows(fresh_db, "SELECT count(*) FROM ledger WHERE reason = 'message'") == [(1,)]  # 60 s cooldown


def test_repeats_and_counters(clients, app_env, fresh_db) -> None:
    _, telegram = clients
    _policy("telegram", GROUP, repeat_limit=2, repeat_window_s=60)
    replies = [_tg(telegram, app_env, "Buy   now", user=8) for _ in range(2)]
    replies += [_tg(telegram, app_env, "buy now", user=8) for _ in range(2)]  # the same, case and spaces aside
    replies.append(_tg(telegram, app_env, "something else", user=8))
    replies.append(_tg(telegram, app_env, "buy now", user=9))  # someone else's run is their own
    assert [("message removed" in r.get("text", "")) for r in replies] == [False, False, True, True, False, False]
    assert "the same message again" in replies[2]["text"]
    with db.transaction() as conn:
        assert service.counters(conn, GROUP, 8) == {"repeat": 1}
        assert service.counters(conn, GROUP, 9) == {"repeat": 1}
    assert [c[0] for c in _cases(fresh_db)] == [1, 2]


def test_a_concurrent_flood_burst_removes_exactly_the_messages_over_the_limit(app_env, local_server, fresh_db) -> None:
    fake_automod.reset(app_env.discord)
    _policy("telegram", GROUP, flood_limit=5, flood_window_s=30)
    updates = [_tg_update(f"message number {n}", 11) for n in range(10)]
    for u in updates:
        app_env.telegram.add_message(GROUP, u["message"]["message_id"], 11, u["message"]["text"])
    start = threading.Barrier(len(updates))
    answers: list[dict] = [{} for _ in updates]

    def send(n: int) -> None:
        start.wait()
        r = httpx.post(f"{local_server}/telegram/webhook", json=updates[n], headers=TG_HEADERS, timeout=60)
        assert r.status_code == 200
        answers[n] = r.json() or {}

    threads = [threading.Thread(target=send, args=(n,)) for n in range(len(updates))]
    [t.start() for t in threads]
    [t.join() for t in threads]
    warned = [a for a in answers if "message removed" in a.get("text", "")]
    assert len(warned) == 5, answers
    assert all("too many messages too fast (at most 5 in 30 s)" in a["text"] for a in warned)
    cases = _cases(fresh_db)
    assert [c[0] for c in cases] == [1, 2, 3, 4, 5] and {c[3] for c in cases} == {"automod: flood"}
    assert sorted(int(a["text"].split("warning ")[1].split(",")[0]) for a in warned) == [1, 2, 3, 4, 5]
    with db.transaction() as conn:
        assert service.counters(conn, GROUP, 11) == {"flood": 10}
    run_schedule("run_jobs")
    removed = {u["message"]["message_id"] for u, a in zip(updates, answers, strict=True) if a in warned}
    assert set(_deleted(app_env)) == removed and len(removed) == 5
    assert _rows(fresh_db, "SELECT messages_sent FROM unified_users WHERE telegram_id = 11") == [(5,)]


def test_a_redelivered_update_warns_once(clients, app_env, fresh_db) -> None:
    _, telegram = clients
    _policy("telegram", GROUP, bad_words=("darn",))
    update = _tg_update("darn", 7)
    first = _tg(telegram, app_env, "darn", update=update)
    again = _tg(telegram, app_env, "darn", update=update)
    assert first == again and "case #1" in first["text"]
    assert len(_cases(fresh_db)) == 1
    assert _rows(fresh_db, "SELECT count(*) FROM jobs WHERE kind = 'automod.delete'") == [(1,)]
    run_schedule("run_jobs")
    run_schedule("run_jobs")
    assert len(app_env.telegram.calls_of("deleteMessage")) == 1


def test_exempt_people_other_chats_and_a_disabled_policy_are_left_alone(clients, app_env, fresh_db) -> None:
    _, telegram = clients
    _policy("telegram", GROUP, bad_words=("darn",), exempt_users=(12,))
    assert _tg(telegram, app_env, "darn", user=12) == {}
    assert _tg(telegram, app_env, "darn", user=7, chat=-1005555) == {}  # no policy in that group
    _policy("telegram", GROUP, enabled=False)
    assert _tg(telegram, app_env, "darn", user=7) == {}
    assert _cases(fresh_db) == [] and _rows(fresh_db, "SELECT count(*) FROM jobs WHERE kind LIKE 'automod%%'") == [(0,)]
    assert _rows(fresh_db, "SELECT sum(messages_sent) FROM unified_users") == [(3,)]


def test_a_deleted_message_already_gone_is_fine(clients, app_env, fresh_db) -> None:
    _, telegram = clients
    _policy("telegram", GROUP, bad_words=("darn",))
    update = _tg_update("darn", 7)
    _tg(telegram, app_env, "darn", update=update)
    app_env.telegram.messages.pop((GROUP, update["message"]["message_id"]))  # an admin was quicker
    assert run_schedule("run_jobs").get_json() == {"done": 1, "retried": 0, "dead": 0}


def test_telegram_admins_set_the_policy_others_are_refused(clients, app_env, fresh_db) -> None:
    _, telegram = clients
    app_env.telegram.chat_members[(GROUP, 50)] = {"status": "administrator"}
    app_env.telegram.chat_members[(GROUP, 51)] = {"status": "member"}
    _tg(telegram, app_env, "/automod_set words darn, heck*", user=51)
    run_schedule("run_jobs")
    assert "Only this group's admins" in app_env.telegram.calls_of("editMessageText")[-1]["text"]
    assert _rows(fresh_db, "SELECT count(*) FROM automod_policies") == [(0,)]

    _tg(telegram, app_env, "/automod_set words darn, heck*", user=50)
    _tg(telegram, app_env, "/automod_set flood 5", user=50)
    _tg(telegram, app_env, "/automod_set words fo*o", user=50)
    run_schedule("run_jobs")
    edits = [e["text"] for e in app_env.telegram.calls_of("editMessageText")[-3:]]
    assert "Automod updated" in edits[0] and "darn, heck*" in edits[0]
    assert "more than 5 in 10 s" in edits[1]
    assert "* only at its start or end" in edits[2]
    assert _rows(fresh_db, "SELECT bad_words, flood_limit, updated_by FROM automod_policies") == [
        (["darn", "heck*"], 5, 50)
    ]
    shown = _tg(telegram, app_env, "/automod_show", user=51)
    assert "darn, heck*" in shown["text"] and "Flood" in shown["text"]
    assert "message removed" in _tg(telegram, app_env, "Heckling again", user=51)["text"]


# --- Discord: the policy, its refusals, the sync --------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ("bad_words:" + ",".join(f"w{n}" for n in range(1001)), "At most 1,000 bad words"),
        ("bad_words:" + "x" * 61, "at most 60 characters"),
        ('"bad_words:ok, fo*o"', "* only at its start or end"),
        ("bad_words:***", "* only at its start or end"),
        ('"links:not a domain" link_mode:deny', "is not a domain"),
        ("link_mode:deny", "needs domains"),
        ("exempt_roles:" + ",".join(str(1000 + n) for n in range(21)), "at most 20 roles"),
        ("exempt_channels:12,abc", "is not an id"),
        (
            "links:"
            + ",".join(f"a{n:03d}-very-long-domain-name-here.example.com" for n in range(100))
            + " link_mode:deny",
            "Deny fewer domains",
        ),
    ],
)
def test_refusals_say_why_and_change_nothing(clients, app_env, fresh_db, options, says) -> None:
    discord, _ = clients
    _discord(discord, "/automod set bad_words:keep")
    before = _rows(fresh_db, "SELECT * FROM automod_policies"), _rows(fresh_db, "SELECT count(*) FROM jobs")
    answer, _ = _discord(discord, f"/automod set {options}")
    assert answer["type"] == 4 and answer["data"]["flags"] == 64 and says in answer["data"]["content"], answer
    assert (_rows(fresh_db, "SELECT * FROM automod_policies"), _rows(fresh_db, "SELECT count(*) FROM jobs")) == before


def test_set_needs_manage_server(clients, app_env, fresh_db) -> None:
    discord, _ = clients
    answer, _ = _discord(discord, "/automod set bad_words:darn", permissions=0)
    assert "Manage Server" in answer["data"]["content"]
    assert _rows(fresh_db, "SELECT count(*) FROM automod_policies") == [(0,)]


def _full_policy(discord: Any) -> dict:
    answer, _ = _discord(
        discord,
        '/automod set "bad_words:darn, spam*, *heck*" block_invites:true link_mode:deny "links:evil.com, bad.org" '
        'mention_limit:5 alert_channel:700 "exempt_roles:<@&501>, 502" exempt_channels:600',
    )
    return answer


def test_sync_creates_the_rules_with_discords_shapes_and_twice_changes_nothing(clients, app_env, fresh_db) -> None:
    discord, _ = clients
    answer = _full_policy(discord)
    assert "Automod updated" in _text(answer) and "Telegram groups only" in _text(answer)
    assert run_schedule("run_jobs").get_json()["done"] == 1
    rules = {r["name"]: r for r in fake_automod.rules(app_env.discord, GUILD).values()}
    assert set(rules) == {"TTFD: bad words", "TTFD: invite links", "TTFD: links", "TTFD: mention spam"}
    words = rules["TTFD: bad words"]
    assert words["trigger_type"] == 1 and words["event_type"] == 1 and words["enabled"] is True
    assert words["trigger_metadata"] == {
        "keyword_filter": ["darn", "spam*", "*heck*"],
        "regex_patterns": [],
        "allow_list": [],
    }
    assert words["actions"] == [
        {"type": 1, "metadata": {"custom_message": "That word isn't allowed here."}},
        {"type": 2, "metadata": {"channel_id": "700"}},
    ]
    assert words["exempt_roles"] == ["501", "502"] and words["exempt_channels"] == ["600"]
    assert "discord\\.gg" in rules["TTFD: invite links"]["trigger_metadata"]["regex_patterns"][0]
    assert "evil\\.com|bad\\.org" in rules["TTFD: links"]["trigger_metadata"]["regex_patterns"][0]
    assert rules["TTFD: mention spam"]["trigger_type"] == 5
    assert rules["TTFD: mention spam"]["trigger_metadata"]["mention_total_limit"] == 5
    assert [m for m, _ in _automod_calls(app_env, WRITES)] == ["POST"] * 4
    assert {r for _, p, r in app_env.discord.audit_reasons if "/auto-moderation/" in p} == {"TTFD automod sync"}
    assert len(_rows(fresh_db, "SELECT * FROM automod_rules WHERE guild_id = 1")) == 4
    assert _rows(fresh_db, "SELECT synced_at IS NOT NULL, sync_error FROM automod_policies") == [(True, None)]

    app_env.discord.calls.clear()
    first, token = _discord(discord, "/automod sync")
    assert first["type"] == 5
    run_schedule("run_jobs")
    assert "already match" in _text(app_env.discord.originals[token])
    assert _automod_calls(app_env, WRITES) == []  # a second sync writes nothing
    assert _automod_calls(app_env) == [("GET", "/guilds/1/auto-moderation/rules")]
    shown, _ = _discord(discord, "/automod show")
    assert "Discord AutoMod rules match" in _text(shown) and "Telegram groups only" in _text(shown)


def test_a_changed_policy_updates_and_deletes_exactly_the_changed_rules(clients, app_env, fresh_db) -> None:
    discord, _ = clients
    _full_policy(discord)
    run_schedule("run_jobs")
    ids = {r["name"]: r["id"] for r in fake_automod.rules(app_env.discord, GUILD).values()}
    app_env.discord.calls.clear()
    _discord(discord, '/automod set "bad_words:darn, gosh" mention_limit:0')
    run_schedule("run_jobs")
    writes = _automod_calls(app_env, WRITES)
    assert sorted(writes) == sorted(
        [
            ("PATCH", f"/guilds/1/auto-moderation/rules/{ids['TTFD: bad words']}"),
            ("DELETE", f"/guilds/1/auto-moderation/rules/{ids['TTFD: mention spam']}"),
        ]
    )
    rules = {r["name"]: r for r in fake_automod.rules(app_env.discord, GUILD).values()}
    assert rules["TTFD: bad words"]["trigger_metadata"]["keyword_filter"] == ["darn", "gosh"]
    assert "TTFD: mention spam" not in rules
    assert _rows(fresh_db, "SELECT slot FROM automod_rules ORDER BY slot") == [("invites",), ("links",), ("words",)]

    # Someone deletes a rule and edits another by hand in Discord: the next sync puts both back, only those.
    guild = fake_automod.rules(app_env.discord, GUILD)
    del guild[ids["TTFD: invite links"]]
    guild[ids["TTFD: links"]]["enabled"] = False
    app_env.discord.calls.clear()
    _, token = _discord(discord, "/automod sync")
    run_schedule("run_jobs")
    assert "Created: invite links; updated: links; deleted: none" in _text(app_env.discord.originals[token])
    assert sorted(m for m, _ in _automod_calls(app_env, WRITES)) == ["PATCH", "POST"]


def test_a_403_on_sync_is_said_clearly_and_nothing_is_recorded(clients, app_env, fresh_db) -> None:
    discord, _ = clients
    fake_automod.forbid(app_env.discord, GUILD)
    _full_policy(discord)
    assert run_schedule("run_jobs").get_json() == {"done": 1, "retried": 0, "dead": 0}  # not retried: permanent
    _, token = _discord(discord, "/automod sync")
    run_schedule("run_jobs")
    said = _text(app_env.discord.originals[token])
    assert "TTFD needs the Manage Server permission" in said and "Missing Permissions" in said
    assert _rows(fresh_db, "SELECT count(*) FROM automod_rules") == [(0,)]
    assert _rows(fresh_db, "SELECT synced_at, sync_error LIKE 'Discord refused%%' FROM automod_policies") == [
        (None, True)
    ]
    assert _automod_calls(app_env, WRITES) == [] and fake_automod.rules(app_env.discord, GUILD) == {}
    shown, _ = _discord(discord, "/automod show")
    assert "last sync refused" in _text(shown)
    fake_automod.forbid(app_env.discord, GUILD, False)  # the permission is given: the next sync catches up
    _, token = _discord(discord, "/automod sync")
    run_schedule("run_jobs")
    assert "Created: bad words, invite links, links, mention spam" in _text(app_env.discord.originals[token])
    assert _rows(fresh_db, "SELECT synced_at IS NOT NULL, sync_error FROM automod_policies") == [(True, None)]


def test_rules_people_made_count_against_discords_limits(clients, app_env, fresh_db) -> None:
    discord, _ = clients
    guild = fake_automod.rules(app_env.discord, GUILD)
    for n in range(5):
        guild[str(n + 1)] = {"id": str(n + 1), "name": f"Mine {n}", "trigger_type": 1, "trigger_metadata": {}}
    _full_policy(discord)  # needs three keyword rules: 5 + 3 > 6
    app_env.discord.calls.clear()
    _, token = _discord(discord, "/automod sync")
    run_schedule("run_jobs")
    said = _text(app_env.discord.originals[token])
    assert "Discord allows 6 keyword rules per server; this server has 5 of its own and the policy needs 3" in said
    assert _automod_calls(app_env, WRITES) == [] and len(guild) == 5


def test_the_fake_refuses_what_discord_refuses(app_env) -> None:
    fake_automod.reset(app_env.discord)
    url = f"{app_env.discord_url}/guilds/5/auto-moderation/rules"
    headers = {"Authorization": "Bot test-bot-token"}
    base = {"name": "r", "event_type": 1, "trigger_type": 1, "actions": [{"type": 1}], "enabled": True}

    def post(**kw: Any) -> httpx.Response:
        return httpx.post(url, json={**base, **kw}, headers=headers)

    too_many = post(trigger_metadata={"keyword_filter": [f"w{n}" for n in range(1001)]})
    assert too_many.status_code == 400 and too_many.json()["code"] == 50035
    assert "keyword_filter" in too_many.json()["errors"]["trigger_metadata"]
    assert post(trigger_metadata={"regex_patterns": ["(?!x)y"]}).json()["errors"]["trigger_metadata"]
    assert post(trigger_type=3, actions=[{"type": 3, "metadata": {"duration_seconds": 60}}]).status_code == 400
    made = [post(name=f"k{n}", trigger_metadata={"keyword_filter": ["a"]}) for n in range(7)]
    assert [r.status_code for r in made] == [200] * 6 + [400]
    assert "AUTO_MODERATION_MAX_RULES_OF_TYPE_EXCEEDED" in made[6].text
    rid = made[0].json()["id"]
    assert httpx.patch(f"{url}/{rid}", json={"trigger_type": 5}, headers=headers).status_code == 400
    assert httpx.delete(f"{url}/{rid}", headers=headers).status_code == 204
    assert httpx.get(f"{url}/{rid}", headers=headers).json()["code"] == 10066
    assert httpx.get(url, headers={}).status_code == 401
    fake_automod.reset(app_env.discord)


def test_link_user_info_does_not_hide_the_host() -> None:
    from ttfd.features.automod.service import Policy, content_offence

    deny = Policy(scope="telegram", scope_id=-1, link_mode="deny", links=("evil.com",))
    assert content_offence(deny, "look https://user@evil.com/login") is not None
    assert content_offence(deny, "see example.com") is None
    allow = Policy(scope="telegram", scope_id=-1, link_mode="allow", links=("example.com",))
    assert content_offence(allow, "https://example.com@evil.com/x") is not None
    assert content_offence(allow, "https://example.com/x") is None
