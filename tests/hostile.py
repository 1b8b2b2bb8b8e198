"""Shared by the hostile-input tests: every function on one local app, a logged-in site session, and a
fingerprint of the database to prove a refused request changed nothing."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import psycopg
from functions_framework import create_app as ff_app
from psycopg import sql

from devtools.server import create_app
from tests.conftest import TG_SECRET, encode, sign
from tests.site_helpers import configure_site, login_via_functions

TG_HEADERS = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
# Written by every request that is refused after its signature checked out (its key and the answer kept
# for redeliveries) or counted (rate limits): not changes a refusal made to anyone's data.
BOOKKEEPING = frozenset({"idempotency_keys", "rate_limits", "schema_migrations"})


@dataclass
class Surfaces:
    client: Any  # a Flask test client of the whole local app
    session: str
    csrf: str
    url: str

    def discord(self, payload: dict[str, Any] | bytes, headers: dict[str, str] | None = None) -> Any:
        body = payload if isinstance(payload, bytes) else encode(payload)
        return self.client.post("/discord/interactions", data=body, headers=headers or sign(body))

    def telegram(self, update: dict[str, Any] | bytes) -> Any:
        body = update if isinstance(update, bytes) else json.dumps(update).encode()
        return self.client.post("/telegram/webhook", data=body, headers=TG_HEADERS)

    def site(self, method: str, path: str, body: Any = None, raw: bytes | None = None) -> Any:
        self.client.set_cookie("ttfd_session", self.session)
        self.client.set_cookie("csrf_token", self.csrf)
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        headers = {"X-CSRF-Token": self.csrf}
        if data is not None:
            headers["Content-Type"] = "application/json"
        return self.client.open(path, method=method, data=data, headers=headers)


def surfaces(app_env: Any, monkeypatch: Any, tmp_path: Any, url: str, user_id: int = 555) -> Surfaces:
    configure_site(monkeypatch, app_env)
    app_env.discord.add_oauth_user(user_id, "hostile", "Hostile Tester", guilds=(1,))
    login = login_via_functions(lambda name: ff_app(name, "main.py").test_client(), app_env, user_id)
    return Surfaces(create_app(tmp_path).test_client(), login.session, login.csrf, url)


def fingerprint(url: str) -> dict[str, tuple[int, int]]:
    """(row count, order-independent hash of the rows) of every table but the bookkeeping ones."""
    with psycopg.connect(url) as c:
        tables = [
            r[0]
            for r in c.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1").fetchall()
            if r[0] not in BOOKKEEPING
        ]
        out: dict[str, tuple[int, int]] = {}
        for t in tables:
            q = sql.SQL("SELECT count(*), coalesce(sum(hashtext(t::text)::bigint), 0) FROM {} t").format(
                sql.Identifier(t)
            )
            row = c.execute(q).fetchone()
            assert row is not None
            out[t] = (int(row[0]), int(row[1]))
        return out
