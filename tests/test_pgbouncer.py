"""Every function works unchanged behind a transaction-mode pooler (Debian's PgBouncer), as a deployed fleet
reaches a managed Postgres: per-transaction limits, and prepared statements off as an old PgBouncer needs."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg
import pytest

from devtools.server import create_app
from devtools.wsgi_server import RunningServer
from tests.conftest import encode, interaction, sign
from ttfd.core import db
from ttfd.core.settings import get_settings
from ttfd.ui.reply import GENERIC_ERROR

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def pgbouncer(pg_admin: str) -> Iterator[tuple[str, int]]:
    """PgBouncer in transaction mode in front of the test server: (host, port)."""
    if not Path(PGBOUNCER).exists():
        pytest.skip("PgBouncer is not installed (Debian package 'pgbouncer'); make test installs it as root")
    target = psycopg.conninfo.conninfo_to_dict(pg_admin)
    # Not under pytest's private temp dir: as root, PgBouncer runs as the postgres user, who must reach it.
    tmp = tempfile.TemporaryDirectory(prefix="ttfd-pgbouncer-")
    work = Path(tmp.name)
    work.chmod(0o777)
    port = _free_port()
    (work / "users.txt").write_text(f'"{target.get("user", "postgres")}" ""\n')
    (work / "pgbouncer.ini").write_text(
        f"""[databases]
* = host={target.get("host", "127.0.0.1")} port={target.get("port", 5432)}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {work}/users.txt
pool_mode = transaction
default_pool_size = 6
max_client_conn = 400
logfile = {work}/pgbouncer.log
pidfile = {work}/pgbouncer.pid
"""
    )
    as_user = ["-u", "postgres"] if os.geteuid() == 0 else []  # PgBouncer refuses to run as root
    proc = subprocess.Popen([PGBOUNCER, *as_user, str(work / "pgbouncer.ini")], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else "pgbouncer exited"
            assert time.monotonic() < deadline, "pgbouncer did not start"
            time.sleep(0.05)
    yield "127.0.0.1", port
    proc.terminate()
    proc.wait(10)
    tmp.cleanup()


@pytest.fixture
def via_pooler(pgbouncer, fresh_db, app_env, monkeypatch) -> str:
    """The functions under test reach this test's database through PgBouncer only."""
    host, port = pgbouncer
    info = psycopg.conninfo.conninfo_to_dict(fresh_db)
    url = psycopg.conninfo.make_conninfo("", **{**info, "host": host, "port": str(port)})
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("TTFD_PREPARED_STATEMENTS", "off")  # PgBouncer 1.18 predates max_prepared_statements
    get_settings.cache_clear()
    db.close_pool()
    return url


def test_limits_are_per_transaction_behind_the_pooler(via_pooler) -> None:
    assert db.run(lambda c: c.execute("SHOW statement_timeout").fetchone(), timeout_s=2.5) == {
        "statement_timeout": "2500ms"
    }
    with pytest.raises(db.Unavailable):
        db.run(lambda c: c.execute("SELECT pg_sleep(2)"), timeout_s=0.5)
    # The next transaction on the same server connection has its own limit, not a leftover.
    assert db.run(lambda c: c.execute("SHOW statement_timeout").fetchone())["statement_timeout"] == "15s"


def test_discord_fleet_traffic_through_the_pooler(via_pooler, fresh_db, tmp_path) -> None:
    """The run that failed before: /profile ×10 and /daily ×2 for 20 users, 8 at a time."""
    server = RunningServer(create_app(tmp_path))
    try:
        work = [(u, cmd) for u in range(20) for cmd in ["/profile"] * 10 + ["/daily"] * 2]

        def send(item: tuple[int, str]) -> dict:
            body = encode(interaction(item[1], user=7000 + item[0]))
            r = httpx.post(f"{server.url}/discord/interactions", content=body, headers=sign(body), timeout=30)
            assert r.status_code == 200
            return dict(r.json()["data"])

        with ThreadPoolExecutor(max_workers=8) as pool:
            replies = list(pool.map(send, work))
    finally:
        server.stop()
    assert not [r for r in replies if GENERIC_ERROR in str(r) or "busy" in str(r)]
    assert sum("+100 coins" in str(r.get("content")) for r in replies) == 20
    with psycopg.connect(fresh_db) as c:
        assert c.execute("SELECT count(*), sum(coins) FROM unified_users").fetchone() == (20, 3000)  # + Day one


def test_telegram_and_site_through_the_pooler(via_pooler, fresh_db, tmp_path) -> None:
    from tests.test_bursts import burst, tg

    server = RunningServer(create_app(tmp_path))
    try:
        texts = [r.json()["text"] for r in burst(30, tg, server.url, "/daily", 8123)]
        board = httpx.get(f"{server.url}/api/leaderboard?board=coins&page=1")
    finally:
        server.stop()
    assert sum("+100 coins" in t for t in texts) == 1 and sum("already claimed" in t for t in texts) == 29
    assert board.status_code == 200 and board.json()["entries"][0]["value"] == 150  # + Day one
