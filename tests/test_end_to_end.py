"""Through a real HTTP server on 127.0.0.1: concurrency guarantees and the simulators."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg

from devtools import devkeys, simulate
from tests.conftest import APP_ID, PUBLIC_KEY, SIGNING_KEY, TG_SECRET, encode, interaction, sign
from ttfd.core import db, ledger, users


def _one(url: str, sql: str, *args):
    with psycopg.connect(url) as c:
        return c.execute(sql, args).fetchone()


def test_fifty_concurrent_dailies_pay_exactly_once(local_server, fresh_db) -> None:
    payloads = [interaction("/daily", user=4242, guild=1 + i % 3) for i in range(50)]

    def send(p):
        body = encode(p)
        return httpx.post(f"{local_server}/discord/interactions", content=body, headers=sign(body), timeout=30)

    with ThreadPoolExecutor(max_workers=50) as pool:
        replies = list(pool.map(send, payloads))
    assert all(r.status_code == 200 for r in replies)
    texts = [r.json()["data"]["content"] for r in replies]
    assert sum("+100 coins" in t for t in texts) == 1
    assert sum("already claimed" in t for t in texts) == 49
    assert _one(fresh_db, "SELECT coins, xp FROM unified_users WHERE discord_id = 4242") == (150, 50)  # + Day one
    assert _one(fresh_db, "SELECT count(*) FROM daily_claims")[0] == 1


def test_same_interaction_delivered_concurrently_applies_once(local_server, fresh_db) -> None:
    body = encode(interaction("/daily", user=5151, iid=777000111222333444))

    def send(_):
        return httpx.post(f"{local_server}/discord/interactions", content=body, headers=sign(body), timeout=30).json()

    with ThreadPoolExecutor(max_workers=10) as pool:
        replies = list(pool.map(send, range(10)))
    assert all(r == replies[0] for r in replies)
    assert _one(fresh_db, "SELECT count(*) FROM ledger")[0] == 3  # coins, XP, Day one


def test_sixty_four_concurrent_grants_sum_exactly(fresh_db) -> None:
    with db.transaction() as conn:
        uid = users.ensure_user(conn, "discord", 6464).id

    def grant(i: int) -> None:
        db.run(lambda c: ledger.grant(c, uid, "xp", i + 1, reason="t", platform="discord", source_key=f"g{i}"))

    with ThreadPoolExecutor(max_workers=64) as pool:
        list(pool.map(grant, range(64)))
    expected = sum(range(1, 65))
    assert _one(fresh_db, "SELECT xp FROM unified_users WHERE id = %s", uid) == (expected,)
    assert _one(fresh_db, "SELECT sum(xp) FROM xp_season WHERE user_id = %s", uid) == (expected,)
    assert _one(fresh_db, "SELECT sum(delta), max(balance_after) FROM ledger WHERE user_id = %s", uid) == (
        expected,
        expected,
    )
    assert _one(fresh_db, "SELECT xp FROM xp_weekly WHERE user_id = %s", uid)[0] == expected


def test_histogram_stays_exact_under_concurrency(fresh_db) -> None:
    with db.transaction() as conn:
        ids = [users.ensure_user(conn, "telegram", 9000 + i).id for i in range(16)]

    def churn(i: int) -> None:
        for step in range(8):
            db.run(
                lambda c, s=step: ledger.grant(
                    c, ids[i], "coins", (i + 1) * 7 * (s + 1), reason="t", platform="telegram", source_key=f"h{i}:{s}"
                )
            )

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(churn, range(16)))
    with psycopg.connect(fresh_db) as c:
        hist = dict(c.execute("SELECT bucket, n FROM lb_buckets WHERE board = 'coins' AND n > 0").fetchall())
        truth = dict(
            c.execute(
                "SELECT lb_bucket(coins), count(*) FROM unified_users WHERE merged_into IS NULL GROUP BY 1"
            ).fetchall()
        )
    assert hist == truth


def test_simulators_against_running_server(local_server, fresh_db, tmp_path, monkeypatch, capsys) -> None:
    from devtools.cli import main as cli

    env = tmp_path / "dev.env"
    env.write_text(
        f"DISCORD_SIGNING_SEED={bytes(SIGNING_KEY).hex()}\nDISCORD_PUBLIC_KEY={PUBLIC_KEY}\n"
        f"DISCORD_APPLICATION_ID={APP_ID}\nTELEGRAM_WEBHOOK_SECRET={TG_SECRET}\n"
    )
    monkeypatch.setattr(devkeys, "DEV_ENV", env)
    assert cli(["simulate", "discord", "/daily", "--user", "42", "--guild", "1", "--url", local_server]) == 0
    out = capsys.readouterr().out
    assert out.startswith("HTTP 200") and "+100 coins" in out
    assert cli(["simulate", "telegram", "/link", "--user", "7", "--url", local_server]) == 0
    code = json.loads(capsys.readouterr().out.split("\n", 1)[1])["text"].split("<code>")[1].split("</code>")[0]
    assert cli(["simulate", "discord", f"/link code:{code}", "--user", "42", "--url", local_server]) == 0
    assert "merged" in capsys.readouterr().out
    assert _one(fresh_db, "SELECT count(*) FROM unified_users WHERE discord_id = 42 AND telegram_id = 7")[0] == 1
    site = httpx.get(f"{local_server}/")
    assert site.status_code == 200 and "TTFD" in site.text


def test_snowflake_encodes_time() -> None:
    sf = simulate.snowflake(1767225600000)
    assert (sf >> 22) + simulate.DISCORD_EPOCH_MS == 1767225600000


def test_dev_keys_are_created_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "dev.env"
    first = devkeys.load_or_create(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert devkeys.load_or_create(path) == first
    from nacl.signing import SigningKey

    assert (
        SigningKey(bytes.fromhex(first["DISCORD_SIGNING_SEED"])).verify_key.encode().hex()
        == first["DISCORD_PUBLIC_KEY"]
    )
