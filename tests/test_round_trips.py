"""Round trips to Postgres per chat command, pinned (issue 20): every read command is the caller's identify
plus one statement whatever features add to it (/profile's achievements and season line read in the same
statement as its positions), and a first contact is created with its guild in one statement. Counted as
psycopg's network waits, as `make bench` counts them; times are the bench's business, not this test's."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from functions_framework import create_app

from tests.conftest import encode, interaction, sign
from ttfd.core import db

READS = {"/ping": 1, "/profile": 2, "/rank": 2, "/leaderboard": 2, "/shop": 2, "/inventory": 2}


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    seen = [0]
    original = psycopg.Connection.wait

    def wait(self: psycopg.Connection[Any], *args: Any, **kwargs: Any) -> Any:
        seen[0] += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(psycopg.Connection, "wait", wait)
    yield seen


def _answer(client: Any, command: str, user: int = 4242) -> dict[str, Any]:
    body = encode(interaction(command, user=user))
    resp = client.post("/", data=body, headers=sign(body))
    assert resp.status_code == 200
    answer: dict[str, Any] = resp.get_json()
    return answer


def test_read_commands_are_identify_plus_one_statement(app_env: Any, waits: list[int]) -> None:
    client = create_app("discord_interactions", "main.py").test_client()
    with db.transaction() as conn:  # something to list in /shop and to own in /inventory; a running season
        conn.execute("INSERT INTO shop_items (name, price, kind) VALUES ('Sticker', 5, 'cosmetic')")
    _answer(client, "/daily")  # first contact: the account, its guild, an achievement for /profile
    _answer(client, "/buy item:Sticker")
    for command, expected in READS.items():
        _answer(client, command)  # warm: the pool's connection, ranks, catalogs
        waits[0] = 0
        answer = _answer(client, command)
        assert answer["type"] == 4 and "error" not in str(answer).lower()
        assert waits[0] == expected, f"{command}: {waits[0]} round trips, expected {expected}"


def test_a_first_contact_is_created_with_its_guild_in_one_statement(app_env: Any, waits: list[int]) -> None:
    client = create_app("discord_interactions", "main.py").test_client()
    _answer(client, "/ping", user=1)  # warm the pool
    waits[0] = 0
    _answer(client, "/ping", user=777)  # new person: identify finds nobody, then the write path
    # identify; BEGIN; claim (+ find); create account with its membership; store the answer; COMMIT
    assert waits[0] == 6
    with db.transaction() as conn:
        row = conn.execute(
            "SELECT count(*) AS n FROM guild_members m JOIN unified_users u ON u.id = m.user_id"
            " WHERE u.discord_id = 777 AND m.guild_id = 1"
        ).fetchone()
    assert row is not None and row["n"] == 1
