"""Migration runner guarantees and serverless.yml ↔ main.py consistency."""

from __future__ import annotations

import shutil
from pathlib import Path

import psycopg
import pytest

from ttfd.core import db

ROOT = Path(__file__).resolve().parent.parent


def test_migrations_apply_once_and_record_checksums(fresh_db) -> None:
    assert db.migrate(fresh_db) == []  # the template already has everything
    with psycopg.connect(fresh_db) as c:
        rows = c.execute("SELECT version, name, length(checksum) FROM schema_migrations").fetchall()
    assert rows[0] == (1, "foundation", 64)


def test_edited_migration_is_refused(fresh_db, tmp_path) -> None:
    sql_dir = tmp_path / "sql"
    shutil.copytree(db.SQL_DIR, sql_dir)
    first = sorted(sql_dir.glob("*.sql"))[0]
    first.write_text(first.read_text() + "\n-- sneaky edit\n")
    with pytest.raises(db.MigrationError, match="edited after it was applied"):
        db.migrate(fresh_db, sql_dir)


def test_new_migration_applies_in_a_transaction(fresh_db, tmp_path) -> None:
    sql_dir = tmp_path / "sql"
    shutil.copytree(db.SQL_DIR, sql_dir)
    (sql_dir / "9998_ok.sql").write_text("CREATE TABLE t_ok (id int);")
    (sql_dir / "9999_broken.sql").write_text("CREATE TABLE t_broken (id int); SELECT nonsense_fn();")
    with pytest.raises(psycopg.errors.UndefinedFunction):
        db.migrate(fresh_db, sql_dir)
    with psycopg.connect(fresh_db) as c:
        versions = [r[0] for r in c.execute("SELECT version FROM schema_migrations ORDER BY 1")]
        broken = c.execute("SELECT to_regclass('t_broken')").fetchone()[0]
    assert versions[-1] == 9998 and broken is None


def test_misnamed_migration_is_an_error(tmp_path) -> None:
    (tmp_path / "add_stuff.sql").write_text("SELECT 1")
    with pytest.raises(db.MigrationError, match=r"NNNN_name\.sql"):
        db.discover(tmp_path)


def test_database_selection_prefers_env(monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://example/elsewhere")
    chosen = db.select_database()
    assert chosen.url == "postgresql://example/elsewhere" and "DATABASE_URL" in chosen.source


def test_embedded_server_starts_without_root_and_migrates(tmp_path) -> None:
    import os
    import pwd

    server = db.embedded_server(tmp_path / "pg")
    admin = server.get_uri("postgres")
    db.ensure_database(admin, "ttfd")
    url = db.with_dbname(admin, "ttfd")
    assert db.migrate(url) == [p.name for p in sorted(db.SQL_DIR.glob("*.sql"))]
    with psycopg.connect(url) as c:
        assert c.execute("SELECT count(*) FROM ranks").fetchone()[0] == 20
        assert c.execute("SHOW server_version").fetchone()[0].startswith("16")
    owner = pwd.getpwuid((tmp_path / "pg" / "PG_VERSION").stat().st_uid).pw_name
    server.cleanup()
    assert owner != "root" or os.geteuid() != 0
