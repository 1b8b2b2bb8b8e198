"""Every function works unchanged behind a transaction-mode pooler (Debian's PgBouncer 1.18), as a deployed fleet
reaches a managed Postgres: per-transaction limits, and no named prepared statements unless asked for.

Both modes are run through the pooler with the same 240 concurrent Discord interactions (the real functions, on
the dev server, signed with the test key): with the defaults none fails; with TTFD_PREPARED_STATEMENTS=on some
do ("prepared statement … does not exist" / "already exists": a statement prepared on one server connection is
looked for on another), which is why 'on' is opt-in. The same traffic with 'on' straight to Postgres works.
The failure needs concurrency: one request at a time a smoke test passes either way."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from devtools.server import create_app
from devtools.wsgi_server import RunningServer
from tests.conftest import encode, interaction, sign
from ttfd.core import db, failures
from ttfd.core.errors import ConfigError
from ttfd.core.settings import get_settings

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


def _through(url: str, pgbouncer: tuple[str, int]) -> str:
    host, port = pgbouncer
    info = psycopg.conninfo.conninfo_to_dict(url)
    return psycopg.conninfo.make_conninfo("", **{**info, "host": host, "port": str(port)})


@pytest.fixture
def via_pooler(pgbouncer, fresh_db, app_env, monkeypatch) -> str:
    """The functions under test reach this test's database through PgBouncer only, with the default settings."""
    url = _through(fresh_db, pgbouncer)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.delenv("TTFD_PREPARED_STATEMENTS", raising=False)  # the default is what is tested
    monkeypatch.delenv("TTFD_POOL_SIZE", raising=False)
    get_settings.cache_clear()
    db.close_pool()
    yield url
    db.close_pool()


def test_limits_are_per_transaction_behind_the_pooler(via_pooler) -> None:
    assert db.run(lambda c: c.execute("SHOW statement_timeout").fetchone(), timeout_s=2.5) == {
        "statement_timeout": "2500ms"
    }
    with pytest.raises(db.Unavailable):
        db.run(lambda c: c.execute("SELECT pg_sleep(2)"), timeout_s=0.5)
    # The next transaction on the same server connection has its own limit, not a leftover.
    assert db.run(lambda c: c.execute("SHOW statement_timeout").fetchone())["statement_timeout"] == "15s"


USERS, PROFILES, DAILIES = 20, 10, 2  # 20 people × (10 /profile + 2 /daily) = 240 interactions
FAILED = (str(failures.GENERIC), str(failures.BUSY))


@dataclass
class Fleet:
    replies: list[dict[str, Any]]
    failed: int


def _fleet(tmp_path: Path, first_user: int) -> Fleet:
    """240 signed interactions, 12 at a time, into the dev server (the functions a deployment runs); a reply
    that is not 200 or says we failed counts as a failure."""
    server = RunningServer(create_app(tmp_path))
    work = [(u, cmd) for u in range(USERS) for cmd in ["/profile"] * PROFILES + ["/daily"] * DAILIES]

    def send(item: tuple[int, str]) -> dict[str, Any] | None:
        body = encode(interaction(item[1], user=first_user + item[0]))
        r = httpx.post(f"{server.url}/discord/interactions", content=body, headers=sign(body), timeout=30)
        data = r.json().get("data", {}) if r.status_code == 200 else None
        return None if data is None or any(f in str(data) for f in FAILED) else dict(data)

    try:
        with ThreadPoolExecutor(max_workers=12) as pool:
            answers = list(pool.map(send, work))
    finally:
        server.stop()
    replies = [a for a in answers if a is not None]
    return Fleet(replies, len(work) - len(replies))


def test_discord_fleet_traffic_through_the_pooler(via_pooler, fresh_db, tmp_path) -> None:
    """The run that failed before, with the defaults: 240 concurrent interactions, none failed."""
    fleet = _fleet(tmp_path, 7000)
    print(f"\nPgBouncer 1.18, transaction mode, defaults: {fleet.failed} of {USERS * (PROFILES + DAILIES)} failed")
    assert fleet.failed == 0
    assert sum("+100 coins" in str(r.get("content")) for r in fleet.replies) == USERS
    with psycopg.connect(fresh_db) as c:
        assert c.execute("SELECT count(*), sum(coins) FROM unified_users").fetchone() == (USERS, 3000)  # + Day one


def test_prepared_statements_on_fail_behind_an_old_pooler(via_pooler, tmp_path, monkeypatch, caplog) -> None:
    """Why 'on' is not the default: PgBouncer 1.18 does not track named statements, so under concurrency a
    request finds its statement missing on the server connection it got (or another client's under its name)."""
    monkeypatch.setenv("TTFD_PREPARED_STATEMENTS", "on")
    db.close_pool()
    fleet = _fleet(tmp_path, 7100)
    print(f"\nPgBouncer 1.18, transaction mode, TTFD_PREPARED_STATEMENTS=on: {fleet.failed} of 240 failed")
    assert fleet.failed > 0
    assert re.search(r'prepared statement "_pg3_\d+" (does not|already) exists?', caplog.text)  # for that reason


def test_prepared_statements_on_work_against_postgres_itself(fresh_db, app_env, tmp_path, monkeypatch) -> None:
    """'on' is for a direct connection (or a pooler that tracks prepared statements): the same traffic, none failed."""
    monkeypatch.setenv("TTFD_PREPARED_STATEMENTS", "on")
    monkeypatch.delenv("TTFD_POOL_SIZE", raising=False)
    db.close_pool()
    try:
        fleet = _fleet(tmp_path, 7200)
        prepared = db.run(lambda c: c.execute("SELECT count(*) AS n FROM pg_prepared_statements").fetchone())
    finally:
        db.close_pool()
    print(f"\nPostgres directly, TTFD_PREPARED_STATEMENTS=on: {fleet.failed} of 240 failed")
    assert fleet.failed == 0
    assert prepared["n"] > 0  # really prepared by name, not quietly off


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


# --- the settings -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"), [(None, False), ("", False), ("off", False), (" OFF ", False), ("on", True)]
)
def test_prepared_statements_are_off_unless_asked_for(monkeypatch, raw, expected) -> None:
    if raw is None:
        monkeypatch.delenv("TTFD_PREPARED_STATEMENTS", raising=False)
    else:
        monkeypatch.setenv("TTFD_PREPARED_STATEMENTS", raw)
    assert db.prepared_statements() is expected


@pytest.mark.parametrize(("raw", "expected"), [(None, 8), ("", 8), ("1", 1), (" 4 ", 4), ("100", 100)])
def test_pool_size(monkeypatch, raw, expected) -> None:
    if raw is None:
        monkeypatch.delenv("TTFD_POOL_SIZE", raising=False)
    else:
        monkeypatch.setenv("TTFD_POOL_SIZE", raw)
    assert db.pool_size() == expected


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("TTFD_PREPARED_STATEMENTS", "yes"),
        ("TTFD_PREPARED_STATEMENTS", "1"),
        ("TTFD_PREPARED_STATEMENTS", "true"),
        ("TTFD_POOL_SIZE", "0"),
        ("TTFD_POOL_SIZE", "-1"),
        ("TTFD_POOL_SIZE", "101"),
        ("TTFD_POOL_SIZE", "eight"),
        ("TTFD_POOL_SIZE", "4.5"),
        ("TTFD_POOL_SIZE", "\uff14"),  # a full-width 4: a digit to str.isdigit, not a number to a person
    ],
)
def test_a_bad_pool_setting_is_refused_naming_the_variable(fresh_db, monkeypatch, name, raw) -> None:
    """Loudly, at the first use of the database, naming the variable — not a pool that quietly does
    something else."""
    monkeypatch.setenv(name, raw)
    get_settings.cache_clear()
    db.close_pool()
    with pytest.raises(ConfigError, match=name):
        db.run(lambda c: c.execute("SELECT 1").fetchone())
    assert db._pool is None  # nothing half-built is left to be used by the next request


# --- the README's sizing example is the manifest's ----------------------------------------------------------


def _sizing_table() -> tuple[str, int, int]:
    """The README's worked example, computed from the deploy manifest: each function's instance limit
    (reserved concurrency on AWS, --max-instances on Google Cloud) times its pool size, summed."""
    from ttfd import deploy
    from ttfd.features import REGISTRY

    specs = deploy.manifest(REGISTRY)
    assert all(s.reserved is not None for s in specs), "a function without a limit: the sum is unbounded"
    groups: dict[str, list[int]] = {}
    for s in specs:
        assert s.reserved is not None
        if s.kind == "http" or s.name == "run_jobs":
            label = f"`{s.name}`"
        elif s.kind == "site":
            label = f"site functions, {s.reserved} each"
        else:
            label = f"other schedules, {s.reserved} each"
        groups.setdefault(label, []).append(s.reserved)
    aws, gcp = _lambda_pool_size(), deploy.GCP_POOL_SIZE
    rows = [
        f"| functions | instances at most | Lambda clients (× {aws}) | Cloud Run clients (× {gcp}) |",
        "|---|---|---|---|",
    ]
    for label, limits in groups.items():
        n = sum(limits)
        what = label if len(limits) == 1 else f"{len(limits)} {label}"
        rows.append(f"| {what} | {n} | {n * aws} | {n * gcp} |")
    total = sum(s.reserved or 0 for s in specs)
    rows.append(f"| **all {len(specs)}** | **{total}** | **{total * aws}** | **{total * gcp}** |")
    return "\n".join(rows), total * aws, total * gcp


def _lambda_pool_size() -> int:
    """TTFD_POOL_SIZE as serverless.yml gives every Lambda."""
    template = (Path(__file__).resolve().parents[1] / "serverless.yml").read_text()
    found = re.findall(r"^\s+TTFD_POOL_SIZE:\s*[\"']?(\d+)", template, re.MULTILINE)
    assert len(found) == 1, "serverless.yml should set TTFD_POOL_SIZE once, for every function"
    return int(found[0])


def test_the_readme_sizing_example_is_the_manifests() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("### Database poolers and pool size", 1)[-1].split("\n## ", 1)[0]
    table, on_aws, on_gcp = _sizing_table()
    assert table in section, f"README's pool sizing table is out of date; the manifest's is:\n{table}"
    assert f"on AWS up to {on_aws} clients" in section and f"on Google Cloud, {on_gcp}" in section
