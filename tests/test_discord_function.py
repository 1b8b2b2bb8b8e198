"""discord_interactions through functions-framework, as production builds it."""

from __future__ import annotations

import json
import time

import pytest
from functions_framework import create_app
from nacl.signing import SigningKey

from devtools.fake_discord_guilds import add_guild
from tests.conftest import APP_ID, encode, interaction, run_schedule, sign
from ttfd.features import REGISTRY
from ttfd.features.accounts import service as link


@pytest.fixture
def client(app_env):
    return create_app("discord_interactions", "main.py").test_client()


def _post(client, payload, headers=None):
    body = encode(payload)
    return client.post("/", data=body, headers=headers or sign(body))


def _ledger_count(url: str) -> int:
    import psycopg

    with psycopg.connect(url) as c:
        return c.execute("SELECT count(*) FROM ledger").fetchone()[0]


def test_ping_pong(client) -> None:
    resp = _post(client, {"id": "1", "application_id": "2", "type": 1, "token": "t", "version": 1})
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.get_json() == {"type": 1}


@pytest.mark.parametrize(
    "mutate",
    [
        "missing_both",
        "missing_signature",
        "missing_timestamp",
        "not_hex",
        "short_signature",
        "wrong_key",
        "tampered_body",
        "stale_timestamp",
        "future_timestamp",
        "non_numeric_timestamp",
    ],
)
def test_signature_rejections_are_401(client, fresh_db, mutate) -> None:
    payload = interaction("/daily")
    body = encode(payload)
    headers = sign(body)
    if mutate == "missing_both":
        headers = {"Content-Type": "application/json"}
    elif mutate == "missing_signature":
        del headers["X-Signature-Ed25519"]
    elif mutate == "missing_timestamp":
        del headers["X-Signature-Timestamp"]
    elif mutate == "not_hex":
        headers["X-Signature-Ed25519"] = "zz" * 64
    elif mutate == "short_signature":
        headers["X-Signature-Ed25519"] = headers["X-Signature-Ed25519"][:64]
    elif mutate == "wrong_key":
        headers = sign(body, key=SigningKey(b"\x07" * 32))
    elif mutate == "tampered_body":
        body = body.replace(b'"daily"', b'"dailz"')
    elif mutate == "stale_timestamp":
        headers = sign(body, ts=str(int(time.time()) - 301))
    elif mutate == "future_timestamp":
        headers = sign(body, ts=str(int(time.time()) + 301))
    elif mutate == "non_numeric_timestamp":
        headers = sign(body, ts="yesterday")
    resp = client.post("/", data=body, headers=headers)
    assert resp.status_code == 401
    assert _ledger_count(fresh_db) == 0


def test_a_ping_with_bad_signature_is_401(client) -> None:
    body = encode({"id": "1", "application_id": "2", "type": 1, "token": "t", "version": 1})
    headers = sign(body)
    headers["X-Signature-Ed25519"] = "00" * 64
    assert client.post("/", data=body, headers=headers).status_code == 401


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "malformed interaction"),
        (b"[1, 2]", "malformed interaction"),
        (b'{"type": 2}', "id"),
        (b'{"id": "x", "application_id": "1", "type": 2}', "id"),
        (b'{"id": "1", "application_id": "1", "type": 9}', "type"),
        (b'{"id": "1", "application_id": "1", "type": 2, "data": {"name": "daily"}}', "neither member.user nor user"),
    ],
)
def test_malformed_payloads_are_400_with_reason(client, body, reason) -> None:
    resp = client.post("/", data=body, headers=sign(body))
    assert resp.status_code == 400
    assert reason in resp.get_json()["title"]


def test_get_is_405(client) -> None:
    assert client.get("/").status_code == 405


def test_daily_then_replay_returns_same_answer_and_changes_nothing(client, fresh_db) -> None:
    payload = interaction("/daily", iid=123456789012345678)
    first = _post(client, payload)
    assert first.status_code == 200
    assert "+100 coins" in first.get_json()["data"]["content"]
    count = _ledger_count(fresh_db)
    again = _post(client, payload)  # Discord (or an attacker) redelivers the same signed interaction
    assert again.get_json() == first.get_json()
    assert _ledger_count(fresh_db) == count == 3  # coins + xp + the Day one achievement, once


def test_second_daily_same_day_is_ephemeral_with_next_time(client) -> None:
    _post(client, interaction("/daily", guild=None))
    resp = _post(client, interaction("/daily", guild=5)).get_json()
    assert resp["data"]["flags"] == 64
    assert "already claimed" in resp["data"]["content"]
    assert "<t:" in resp["data"]["content"]


def test_profile_embed_and_dm_payload(client) -> None:
    _post(client, interaction("/daily", user=77, guild=None))
    resp = _post(client, interaction("/profile", user=77, guild=None)).get_json()
    assert resp["type"] == 4
    embed = resp["data"]["embeds"][0]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert embed["title"].endswith("rank F-")
    assert fields["Coins"] == "150 coins"  # the daily's 100 + the Day one achievement's 50
    assert fields["Level"].startswith("**0** ▰▰▰▰▰▱▱▱▱▱ 50/100")
    assert fields["Daily streak"] == "1 day 🔥"
    assert "Discord" in fields["Linked"]


def test_profile_of_unknown_user_is_friendly_ephemeral(client) -> None:
    resp = _post(client, interaction("/profile user:999")).get_json()
    assert resp["data"]["flags"] == 64
    assert "has no TTFD profile yet" in resp["data"]["content"]


def test_rank_shows_position(client) -> None:
    _post(client, interaction("/daily", user=1))
    resp = _post(client, interaction("/rank", user=1)).get_json()
    assert "rank **F-**" in resp["data"]["content"] and "#1" in resp["data"]["content"]


def test_leaderboard_paging_buttons(client) -> None:
    for u in range(1, 13):
        _post(client, interaction("/daily", user=1000 + u))
    resp = _post(client, interaction("/leaderboard board:coins", user=1001)).get_json()
    embed = resp["data"]["embeds"][0]
    assert embed["footer"]["text"].startswith("Page 1/2")
    prev, nxt = resp["data"]["components"][0]["components"]
    assert prev["disabled"] and not nxt["disabled"]
    click = interaction("/ping", user=1001)
    click.update(type=3, data={"custom_id": nxt["custom_id"], "component_type": 2}, message={"id": "5"})
    page2 = _post(client, click).get_json()
    assert page2["type"] == 7  # UPDATE_MESSAGE edits the leaderboard in place
    assert page2["data"]["embeds"][0]["footer"]["text"].startswith("Page 2/2")
    assert page2["data"]["embeds"][0]["description"].count("\n") == 1  # 12 players → 2 on page 2


def test_forged_custom_id_is_friendly(client) -> None:
    click = interaction("/ping")
    click.update(type=3, data={"custom_id": "lb:nope:x", "component_type": 2}, message={"id": "5"})
    resp = _post(client, click).get_json()
    assert resp["data"]["flags"] == 64 and "not valid" in resp["data"]["content"]


def test_help_lists_commands_and_subcommands(client) -> None:
    text = _post(client, interaction("/help")).get_json()["data"]["embeds"][0]["description"]
    for name in ("/ping", "/profile", "/rank", "/daily", "/leaderboard", "/link", "/help", "/language"):
        assert f"`{name}" in text
    assert "/setup" not in text and "/ban" not in text  # a member is not shown the moderators' commands
    embed = _post(client, interaction("/help", permissions=1 << 28)).get_json()["data"]["embeds"][0]
    staff = "\n".join(f["value"] for f in embed.get("fields", []) if f["name"] == "For staff")
    assert "`/setup rank-role" in staff and "/ban" not in staff  # Manage Roles: the commands it allows, apart


def _rank_roles_server(app_env) -> None:
    """Server 1, owned by 42 (the default caller), where TTFD's role (10) sits above roles 555 and 556."""
    add_guild(
        app_env.discord,
        1,
        42,
        roles=[(555, "Bronze", 1, 0), (556, "Silver", 2, 0), (777, "Gold", 3, 0), (590, "TTFD", 10, 1 << 28)],
        members={42: [], int(APP_ID): [590]},
    )


def _finished(app_env, payload) -> str:
    """A deferred command's answer, once the job that finishes it ran (it edits @original)."""
    run_schedule("run_jobs")
    return str(app_env.discord.originals[payload["token"]]["content"])


def test_setup_requires_manage_roles_from_bitfield(client, app_env, fresh_db) -> None:
    _rank_roles_server(app_env)
    denied = _post(client, interaction("/setup rank-role rank:F role:555", permissions=1 << 10)).get_json()
    assert denied["data"]["flags"] == 64 and "Manage Roles" in denied["data"]["content"]
    ok = interaction("/setup rank-role rank:F role:555", permissions=1 << 28)
    assert _post(client, ok).get_json() == {"type": 5, "data": {"flags": 64}}  # the roles are checked in a job
    assert "<@&555>" in _finished(app_env, ok)
    admin = interaction("/setup rank-role rank:E role:556", permissions=1 << 3)
    _post(client, admin)
    assert "<@&556>" in _finished(app_env, admin)
    dm = _post(client, interaction("/setup rank-role rank:E role:556", guild=None, permissions=1 << 3)).get_json()
    assert "only works inside a server" in dm["data"]["content"]
    import psycopg

    with psycopg.connect(fresh_db) as c:
        rows = c.execute("SELECT rank_id, role_id FROM guild_rank_roles ORDER BY rank_id").fetchall()
        audits = c.execute("SELECT count(*) FROM audit_logs WHERE action = 'rank_role.set'").fetchone()[0]
    assert rows == [(1, 555), (4, 556)]
    assert audits == 2


def test_unexpected_error_answers_generic_ephemeral_and_writes_nothing(client, fresh_db, monkeypatch) -> None:
    from ttfd.features import daily

    def boom(*a, **k):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(daily, "claim_daily", boom)
    resp = _post(client, interaction("/daily", iid=99))
    assert resp.status_code == 200
    assert resp.get_json()["data"]["flags"] == 64
    assert "database on fire" not in json.dumps(resp.get_json())
    import psycopg

    with psycopg.connect(fresh_db) as c:
        assert c.execute("SELECT count(*) FROM idempotency_keys").fetchone()[0] == 0
        assert c.execute("SELECT count(*) FROM daily_claims").fetchone()[0] == 0


def test_refusal_rolls_back_whole_attempt_and_replays_the_same(client, fresh_db) -> None:
    made = _post(client, interaction("/link", user=300)).get_json()["data"]["content"]
    code = made.split("`")[1]
    own = interaction(f"/link code:{code}", user=300, iid=4242)
    refused = _post(client, own).get_json()
    assert refused["data"]["flags"] == 64 and "already linked" in refused["data"]["content"]
    assert _post(client, own).get_json() == refused  # redelivery: same refusal
    import psycopg

    with psycopg.connect(fresh_db) as c:
        used = c.execute("SELECT used_at FROM link_codes WHERE code = %s", (code,)).fetchone()[0]
    assert used is None  # the refused redeem did not burn the code
    from ttfd.core import db

    with db.transaction() as conn:
        linked = link.redeem_link_code(conn, code, "telegram", 301, REGISTRY.merge_hooks)
    assert linked.user.discord_id == 300 and linked.user.telegram_id == 301


def test_guild_membership_is_learned_from_interactions(client, fresh_db) -> None:
    _post(client, interaction("/ping", user=808, guild=10))  # first contact creates the account
    _post(client, interaction("/ping", user=808, guild=11))  # known account, new guild
    _post(client, interaction("/ping", user=808, guild=None))  # DMs teach nothing
    import psycopg

    with psycopg.connect(fresh_db) as c:
        guilds = [
            r[0]
            for r in c.execute(
                "SELECT guild_id FROM guild_members m JOIN unified_users u ON u.id = m.user_id "
                "WHERE u.discord_id = 808 ORDER BY 1"
            )
        ]
    assert guilds == [10, 11]


def test_rank_role_may_not_carry_moderation_power(client, app_env) -> None:
    _rank_roles_server(app_env)

    def setup(role: dict) -> dict:
        payload = interaction("/setup rank-role rank:F role:777", permissions=1 << 3)
        payload["data"]["resolved"] = {"roles": {"777": {"id": "777", "name": "r", "permissions": "0", **role}}}
        return _post(client, payload).get_json()["data"]

    # Refused at once, before "thinking…", from the role as the interaction resolved it.
    refused = setup({"permissions": str(1 << 3)})
    assert refused["flags"] == 64 and "Administrator" in refused["content"]
    assert "Ban Members" in setup({"permissions": str(1 << 2)})["content"]
    assert "managed" in setup({"managed": True})["content"]
    fine = interaction("/setup rank-role rank:F role:777", permissions=1 << 3)
    fine["data"]["resolved"] = {"roles": {"777": {"id": "777", "name": "r", "permissions": str(1 << 10 | 1 << 11)}}}
    _post(client, fine)
    assert "<@&777>" in _finished(app_env, fine)  # view + send is fine


def test_someone_elses_leaderboard_pages_privately(client) -> None:
    for u in range(1, 13):
        _post(client, interaction("/daily", user=2000 + u))
    board = _post(client, interaction("/leaderboard", user=2001)).get_json()
    nxt = board["data"]["components"][0]["components"][1]["custom_id"]

    def click(user):
        payload = interaction("/ping", user=user)
        payload.update(type=3, data={"custom_id": nxt, "component_type": 2}, message={"id": "5"})
        return _post(client, payload).get_json()

    mine, theirs = click(2001), click(2002)
    assert mine["type"] == 7 and "flags" not in mine["data"]
    assert theirs["type"] == 4 and theirs["data"]["flags"] == 64
    assert theirs["data"]["embeds"][0]["footer"]["text"].startswith("Page 2/2")
