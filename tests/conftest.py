"""Real Postgres for every test: migrate once into a template, then a rolled-back transaction per test
(`conn`) or a fresh database copied from the template for tests that need several connections (`fresh_db`)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from ttfd import db
from ttfd.settings import get_settings

TEMPLATE = f"ttfd_test_tpl_{os.getpid()}"


def _admin_url() -> str:
    if url := os.environ.get("TEST_DATABASE_URL"):
        return url
    if db._answers(db.LOCAL_ADMIN_URL):
        return db.LOCAL_ADMIN_URL
    return db.embedded_admin_url()


def _drop(admin: str, name: str) -> None:
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def pg_admin() -> str:
    """URL of a maintenance database on the test server."""
    return _admin_url()


@pytest.fixture(scope="session")
def template_db(pg_admin: str) -> Iterator[str]:
    """A migrated template database for this test session."""
    _drop(pg_admin, TEMPLATE)
    db.ensure_database(pg_admin, TEMPLATE)
    url = db.with_dbname(pg_admin, TEMPLATE)
    db.migrate(url)
    yield TEMPLATE
    _drop(pg_admin, TEMPLATE)


@pytest.fixture(scope="session")
def session_db(pg_admin: str, template_db: str) -> Iterator[str]:
    """One database shared by transaction-scoped tests."""
    name = f"{template_db}_tx"
    db.ensure_database(pg_admin, name, template=template_db)
    yield db.with_dbname(pg_admin, name)
    _drop(pg_admin, name)


@pytest.fixture
def conn(session_db: str) -> Iterator[db.Conn]:
    """A connection inside a transaction that is rolled back after the test."""
    from psycopg.rows import dict_row

    with psycopg.connect(session_db, row_factory=dict_row) as c:
        yield c
        c.rollback()


@pytest.fixture
def fresh_db(pg_admin: str, template_db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A private database copied from the template; DATABASE_URL points at it for the code under test."""
    name = f"ttfd_t_{uuid.uuid4().hex[:12]}"
    db.ensure_database(pg_admin, name, template=template_db)
    url = db.with_dbname(pg_admin, name)
    monkeypatch.setenv("DATABASE_URL", url)
    db.close_pool()
    get_settings.cache_clear()
    yield url
    db.close_pool()
    get_settings.cache_clear()
    _drop(pg_admin, name)
