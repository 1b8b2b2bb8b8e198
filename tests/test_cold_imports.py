"""What a cold instance imports, pinned: each case starts a fresh Python, builds the function the way
functions-framework serves it, answers one real request against the test database and lists sys.modules.

A Discord PING (the endpoint validation, often a cold instance's first request) loads the signature check and
the JSON reader only; a first /profile and a site profile load no Telegram, picture, HTTP-client, pydantic or
Babel-catalog code, and of the features only those the routing table names for the request (ttfd.routing);
and the project's own modules on each path equal the allowlists below, so a new import on a cold path shows
here as a diff to accept or avoid. Sets, not times: `make bench` times cold starts.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import APP_ID, encode, interaction, sign

ROOT = Path(__file__).resolve().parent.parent

# Run in a fresh interpreter: create the app, answer one request, print the status and every loaded module.
PROBE = """
import json, sys
from functions_framework import create_app
target, method, path, body, headers = json.loads(sys.stdin.read())
resp = create_app(target, "main.py").test_client().open(path, method=method, data=body.encode(), headers=headers)
print(json.dumps({"status": resp.status_code, "body": resp.get_data(as_text=True), "modules": sorted(sys.modules)}))
"""

# Never on these paths (top-level packages): the Telegram framework, Pillow, the HTTP client, pydantic, Babel.
HEAVY = {"aiogram", "PIL", "httpx", "pydantic", "babel"}
NO_DATABASE = {"psycopg", "psycopg_pool", "psycopg_binary"}

CORE = {"main", "ttfd", "ttfd.core", "ttfd.core.errors", "ttfd.core.failures", "ttfd.core.i18n", "ttfd.core.inputs"}
CORE |= {"ttfd.core.logs", "ttfd.core.metrics", "ttfd.core.settings", "ttfd.ui", "ttfd.ui.text"}
PING_MODULES = CORE | {
    "functions",
    "functions.discord",
    "functions.discord.interactions",
    "functions.discord.verify",
    "functions.http",
}
# What answering from the database loads besides CORE: the core services, the registry and the routing table
# (ttfd.features.lazy), which imports only the features the request needs.
DATABASE_PATH = {
    "ttfd.core.audit",
    "ttfd.core.db",
    "ttfd.core.idempotency",
    "ttfd.core.jobs",
    "ttfd.core.ledger",
    "ttfd.core.ratelimit",
    "ttfd.core.users",
    "ttfd.core.wake",
    "ttfd.features",
    "ttfd.features.lazy",
    "ttfd.features.routes",
    "ttfd.registry",
    "ttfd.routing",
    "ttfd.ui.actions",
    "ttfd.ui.commands",
    "ttfd.ui.profile",
    "ttfd.ui.reply",
    "ttfd.web",
    "ttfd.web.sessions",
}
# /profile: the feature declaring it and those contributing its fields (ttfd.features.routes: profile_fields).
PROFILE_FEATURES = {
    "ttfd.features.achievements",
    "ttfd.features.achievements.service",
    "ttfd.features.profiles",
    "ttfd.features.profiles.service",
    "ttfd.features.profiles.views",
    "ttfd.features.reputation",
    "ttfd.features.reputation.service",
    "ttfd.features.seasons",
    "ttfd.features.seasons.service",
}
PROFILE_MODULES = PING_MODULES | DATABASE_PATH | PROFILE_FEATURES
PROFILE_MODULES |= {
    "functions.discord.events",
    "ttfd.core.inbound",
    "ttfd.render",
    "ttfd.render.discord",
    "ttfd.ui.dispatch",
}
# The site's profile: its route's feature and those adding a section to it (profile_sections: games, the shop,
# whose package needs the guild helpers).
# (Reputation adds no section: its count is a column of the account, which the profile reads anyway.)
SITE_PROFILE_MODULES = CORE | DATABASE_PATH | PROFILE_FEATURES | {"functions", "functions.site"}
SITE_PROFILE_MODULES -= {"ttfd.features.reputation", "ttfd.features.reputation.service"}
SITE_PROFILE_MODULES |= {
    "ttfd.core.apicache",
    "ttfd.features.games",
    "ttfd.features.games.service",
    "ttfd.features.shop",
    "ttfd.features.shop.service",
    "ttfd.ui.guild",
    "ttfd.ui.permissions",
}
# Features nothing on those paths asks for: importing one would mean the routing table is not used.
NOT_ASKED = ("verification", "moderation", "automod", "activity", "auth", "accounts", "general", "daily", "ranks")
UNRELATED = {f"ttfd.features.{name}" for name in (*NOT_ASKED, "health", "platform", "leaderboards")}


def cold(target: str, method: str = "GET", path: str = "/", body: bytes = b"", headers: Any = None) -> dict[str, Any]:
    """One request answered by a fresh process serving `target`: its status, body and sorted modules."""
    request = json.dumps([target, method, path, body.decode(), headers or {}])
    done = subprocess.run(
        [sys.executable, "-c", PROBE], input=request, capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert done.returncode == 0, done.stderr
    answer: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return answer


def discord(payload: dict[str, Any]) -> dict[str, Any]:
    body = encode(payload)
    return cold("discord_interactions", "POST", "/", body, sign(body))


def ours(modules: list[str]) -> set[str]:
    return {m for m in modules if m.split(".")[0] in ("main", "ttfd", "functions", "webhooks")}


def tops(modules: list[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def diff(found: set[str], allowed: set[str]) -> dict[str, list[str]]:
    """What a failing comparison prints: modules new on the path, and allowed ones it no longer loads."""
    return {"new": sorted(found - allowed), "gone": sorted(allowed - found)}


@pytest.fixture
def env(app_env: Any) -> None:
    """The test database and the functions' settings, in os.environ for the child process to inherit."""


@pytest.mark.usefixtures("env")
def test_a_cold_ping_loads_the_signature_check_only() -> None:
    ping = discord({"id": "1", "application_id": APP_ID, "type": 1, "token": "t", "version": 1})
    assert ping["status"] == 200 and json.loads(ping["body"]) == {"type": 1}, ping["body"]
    assert not tops(ping["modules"]) & (HEAVY | NO_DATABASE)
    found = ours(ping["modules"])
    assert found == PING_MODULES, diff(found, PING_MODULES)


@pytest.mark.usefixtures("env")
def test_a_cold_profile_loads_its_path_and_no_heavy_module() -> None:
    profile = discord(interaction("/profile", user=42))
    assert profile["status"] == 200 and "User 42 — rank" in profile["body"], profile["body"]
    assert not tops(profile["modules"]) & HEAVY
    found = ours(profile["modules"])
    assert not found & (UNRELATED | {"ttfd.features.shop", "ttfd.features.games"}), sorted(found & UNRELATED)
    assert found == PROFILE_MODULES, diff(found, PROFILE_MODULES)


@pytest.mark.usefixtures("env")
def test_a_cold_site_profile_loads_its_path_and_no_heavy_module() -> None:
    assert discord(interaction("/profile", user=42))["status"] == 200  # an account to show
    site = cold("api_profile", "GET", "/api/profile/user42")
    assert site["status"] == 200 and json.loads(site["body"])["username"] == "user42", site["body"]
    assert not tops(site["modules"]) & HEAVY
    found = ours(site["modules"])
    assert not found & UNRELATED, sorted(found & UNRELATED)
    assert found == SITE_PROFILE_MODULES, diff(found, SITE_PROFILE_MODULES)
