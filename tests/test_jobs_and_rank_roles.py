"""Rank-up → events → jobs → Discord roles / Telegram message, against the fake APIs over real HTTP."""

from __future__ import annotations

import threading

import psycopg
from functions_framework import create_app

from devtools.fake_discord_guilds import add_guild
from tests.conftest import APP_ID, SCHEDULER_HEADERS, encode, interaction, run_schedule, sign
from ttfd.core import db, jobs, ledger, users
from ttfd.features import FEATURES, REGISTRY
from ttfd.features.accounts import service as link
from ttfd.features.ranks import service as rank_service
from ttfd.registry import Feature, Registry


def _post(client, payload):
    body = encode(payload)
    return client.post("/", data=body, headers=sign(body))


def _run_schedules() -> None:
    for target in ("process_events", "run_jobs"):
        assert run_schedule(target).status_code == 200


def test_plan_rank_roles() -> None:
    mapping = {1: 11, 2: 12, 4: 14}
    assert rank_service.plan_rank_roles(mapping, 2) == (12, [11])
    assert rank_service.plan_rank_roles(mapping, 4) == (14, [11, 12])
    assert rank_service.plan_rank_roles(mapping, 3) == (12, [11])  # between mapped ranks: keep the highest reached
    assert rank_service.plan_rank_roles({5: 15}, 3) == (None, [])
    assert rank_service.plan_rank_roles({}, 1) == (None, [])


def test_rank_up_assigns_role_and_messages_telegram(app_env, fresh_db) -> None:
    client = create_app("discord_interactions", "main.py").test_client()
    add_guild(
        app_env.discord,
        1,
        1,
        roles=[(500, "F-", 1, 0), (501, "F", 2, 0), (590, "TTFD", 10, 1 << 28)],
        members={1: [], 42: [], int(APP_ID): [590]},
    )
    for rank, role in (("F-", 500), ("F", 501)):
        payload = interaction(f"/setup rank-role rank:{rank} role:{role}", user=1, permissions=8)
        assert _post(client, payload).get_json()["type"] == 5  # the roles are checked over REST, in a job
        run_schedule("run_jobs")
        assert f"<@&{role}>" in app_env.discord.originals[payload["token"]]["content"]
    _post(client, interaction("/ping", user=42, guild=1))  # user 42 is now known in guild 1
    with db.transaction() as conn:
        user = users.find_user(conn, "discord", 42)
        conn.execute("UPDATE unified_users SET telegram_id = 4242 WHERE id = %s", (user.id,))
        ledger.grant(conn, user.id, "xp", 480, reason="test", platform="discord", source_key="t:1")
    # a 429 on the first role call is retried after retry_after without failing the job
    app_env.discord.rate_limit_next("PUT", r"/guilds/1/members/42/roles/501", retry_after=0.05)
    _run_schedules()
    assert app_env.discord.member_roles[("1", "42")] == {"501"}
    puts = app_env.discord.calls_to("PUT", r"/guilds/1/members/42/roles/501")
    assert len(puts) == 2  # the 429, then the success
    assert app_env.discord.calls_to("DELETE", r"/guilds/1/members/42/roles/500")
    sent = app_env.telegram.calls_of("sendMessage")
    assert len(sent) == 1 and sent[0]["chat_id"] == 4242 and "rank F" in sent[0]["text"]
    with psycopg.connect(fresh_db) as c:
        statuses = c.execute("SELECT kind, status, attempts FROM jobs ORDER BY id").fetchall()
        pending = c.execute("SELECT count(*) FROM cross_platform_events WHERE NOT processed").fetchone()[0]
    assert statuses == [
        ("ui.deferred", "done", 1),  # the two /setup rank-role commands
        ("ui.deferred", "done", 1),
        ("discord.rank_roles", "done", 1),
        ("telegram.send", "done", 1),
    ]
    assert pending == 0
    _run_schedules()  # nothing runs twice
    assert len(app_env.telegram.calls_of("sendMessage")) == 1


def test_long_429_reschedules_and_permanent_403_goes_dead(app_env, fresh_db) -> None:
    add_guild(
        app_env.discord,
        1,
        1,
        roles=[(3, "Three", 1, 0), (6, "Six", 2, 0), (590, "TTFD", 10, 1 << 28)],
        members={2: [], 5: [], int(APP_ID): [590]},
    )
    with db.transaction() as conn:
        j1 = jobs.enqueue(conn, "discord.rank_roles", {"guild_id": 1, "discord_id": 2, "add": 3, "remove": []})
        j2 = jobs.enqueue(conn, "discord.rank_roles", {"guild_id": 1, "discord_id": 5, "add": 6, "remove": []})
    app_env.discord.rate_limit_next("PUT", r"/guilds/1/members/2/roles/3", retry_after=120)
    app_env.discord.fail_next(
        "PUT", r"/guilds/1/members/5/roles/6", 403, {"message": "Missing Permissions", "code": 50013}
    )
    stats = jobs.run_due(REGISTRY)
    assert stats.as_dict() == {"done": 0, "retried": 1, "dead": 1}
    with psycopg.connect(fresh_db) as c:
        rows = {
            r[0]: r[1:]
            for r in c.execute(
                "SELECT id, status, attempts, last_error, run_at > now() + interval '100 seconds' FROM jobs"
            )
        }
    assert rows[j1][0] == "pending" and rows[j1][1] == 1 and rows[j1][3] is True  # honours retry_after
    assert rows[j2][0] == "dead" and "Missing Permissions" in rows[j2][2]


CALLS: list[dict] = []
SEEN: list[int] = []
SEEN_LOCK = threading.Lock()


def flaky(job, payload) -> None:
    CALLS.append(payload)
    raise RuntimeError("still broken")


def count(job, payload) -> None:
    with SEEN_LOCK:
        SEEN.append(payload["i"])


# Job handlers are declared by features: these tests add one of their own to the real registry.
TEST_REGISTRY = Registry(
    (*FEATURES, Feature("test-jobs", "", jobs={"test.flaky": f"{__name__}:flaky", "test.count": f"{__name__}:count"}))
)


def test_job_dies_after_max_attempts_keeping_error(fresh_db) -> None:
    calls = CALLS
    calls.clear()
    with db.transaction() as conn:
        job = jobs.enqueue(conn, "test.flaky", {"n": 1}, max_attempts=3)
    for _ in range(3):
        jobs.run_due(TEST_REGISTRY)
        with db.transaction() as conn:
            conn.execute("UPDATE jobs SET run_at = now() WHERE id = %s", (job,))
    with psycopg.connect(fresh_db) as c:
        status, attempts, error = c.execute(
            "SELECT status, attempts, last_error FROM jobs WHERE id = %s", (job,)
        ).fetchone()
    assert (status, attempts) == ("dead", 3) and "still broken" in error and len(calls) == 3


def test_skip_locked_workers_never_run_a_job_twice(fresh_db) -> None:
    seen = SEEN
    seen.clear()
    with db.transaction() as conn:
        for i in range(40):
            jobs.enqueue(conn, "test.count", {"i": i})
    workers = [threading.Thread(target=jobs.run_due, args=(TEST_REGISTRY, 40)) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert sorted(seen) == list(range(40))


def test_enqueue_dedupe_key(conn) -> None:
    assert jobs.enqueue(conn, "x", {}, dedupe_key="same") is not None
    assert jobs.enqueue(conn, "x", {}, dedupe_key="same") is None


def test_cleanup_purges_expired_and_runs_once_per_hour(app_env, fresh_db) -> None:
    with db.transaction() as conn:
        conn.execute("INSERT INTO idempotency_keys (key, expires_at) VALUES ('old', now() - interval '1 minute')")
        u = users.ensure_user(conn, "discord", 1)
        code = link.create_link_code(conn, u.id, "discord", 600)
        conn.execute("UPDATE link_codes SET expires_at = now() - interval '2 days' WHERE code = %s", (code.code,))
    client = create_app("cleanup", "main.py").test_client()
    first = client.post("/", headers=SCHEDULER_HEADERS).get_json()
    assert first == {
        "idempotency_keys": 1,
        "link_codes": 1,
        "jobs": 0,
        "events": 0,
        "sessions": 0,
        "rate_limits": 0,
        "api_cache": 0,
        "automod_counters": 0,
        "verification": 0,
        "vpn_proofs": 0,
        "vpn_sessions": 0,
    }
    assert client.post("/", headers=SCHEDULER_HEADERS).get_json() == {"skipped": True}


def test_deleted_role_is_skipped_and_departed_member_ends_the_job(app_env, fresh_db) -> None:
    # Role 3 was deleted and member 5 left the server: the fake answers as Discord does.
    add_guild(
        app_env.discord,
        1,
        1,
        roles=[(4, "Four", 1, 0), (6, "Six", 2, 0), (7, "Seven", 3, 0), (590, "TTFD", 10, 1 << 28)],
        members={2: [4], int(APP_ID): [590]},
    )
    with db.transaction() as conn:
        gone_role = jobs.enqueue(conn, "discord.rank_roles", {"guild_id": 1, "discord_id": 2, "add": 3, "remove": [4]})
        left = jobs.enqueue(conn, "discord.rank_roles", {"guild_id": 1, "discord_id": 5, "add": 6, "remove": [7]})
    assert jobs.run_due(REGISTRY).as_dict() == {"done": 2, "retried": 0, "dead": 0}
    assert not app_env.discord.calls_to("PUT", r"/guilds/1/members/2/roles/3")  # known gone: not even asked
    assert app_env.discord.calls_to("DELETE", r"/guilds/1/members/2/roles/4")  # went on after the missing role
    assert not app_env.discord.calls_to("DELETE", r"/guilds/1/members/5/roles/7")  # member left: stop
    assert gone_role and left
