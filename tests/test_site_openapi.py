"""The OpenAPI document of the website functions, checked by schemathesis against the running app."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, settings

import main
from devtools.server import create_app
from devtools.wsgi_server import RunningServer
from tests.site_helpers import configure_site, login_over_http
from ttfd.core import db, ledger, users
from ttfd.core.ledger import utc_now
from ttfd.features import REGISTRY
from ttfd.features.health import runs

SPEC = Path(__file__).resolve().parent.parent / "functions" / "site" / "openapi.yaml"
schema = schemathesis.openapi.from_path(str(SPEC))
LOGIN: dict[str, str] = {}  # the live fixture's cookies, handed to schemathesis through its auth hook


@schema.auth(refresh_interval=None)
class SiteAuth:
    """The session cookie and CSRF header as schemathesis' auth, so its auth checks can strip them."""

    def get(self, case, ctx):
        return dict(LOGIN)

    def set(self, case, data, ctx):
        if not data:  # collection time: no login yet
            return
        case.cookies = {**(case.cookies or {}), "ttfd_session": data["ttfd_session"]}
        case.headers = {**(case.headers or {}), "X-CSRF-Token": data["csrf_token"]}


@pytest.fixture
def live(app_env, monkeypatch, tmp_path):
    """The local server with every site function mounted, a logged-in session and a few players."""
    running = RunningServer(create_app(tmp_path))
    configure_site(monkeypatch, app_env, site_url=running.url)
    monkeypatch.setenv("AUTH_RATE_LIMIT", "100000")
    from ttfd.core.settings import get_settings

    get_settings.cache_clear()
    with db.transaction() as conn:
        for i in range(15):
            user = users.ensure_user(conn, "telegram", 100 + i, f"player{i}", f"Player {i}")
            ledger.grant(conn, user.id, "xp", 500 + i, reason="t", platform="telegram", source_key=f"s{i}")
    for name in REGISTRY.schedules:  # every schedule just ran: /health answers 200 however late this test runs
        runs.record(name, utc_now(), None)
    app_env.discord.add_oauth_user(4242, "tester", "Tester")
    LOGIN.update(login_over_http(running.url, app_env, 4242))
    yield running.url
    LOGIN.clear()
    running.stop()


def test_every_function_is_documented_and_mounted() -> None:
    doc = yaml.safe_load(SPEC.read_text())
    documented = {op["operationId"] for ops in doc["paths"].values() for op in ops.values()}
    # each entrypoint has at least one documented operation, and mounted paths match the document
    for name in REGISTRY.routes:
        assert any(op == name or op.startswith(f"{name}_") for op in documented), name
        assert hasattr(main, name)
    paths = {r.path.replace("<ref>", "{ref}") for r in REGISTRY.routes.values()}
    assert paths <= set(doc["paths"])


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_api_conforms_to_its_openapi_document(case, live) -> None:
    response = case.call(base_url=live, allow_redirects=False)
    # Schema-valid input can still be refused on purpose (an unknown OAuth state, a URL that is not https),
    # so "positive data must be accepted" does not apply; every other check does.
    case.validate_response(response, excluded_checks=[schemathesis.checks.positive_data_acceptance])
