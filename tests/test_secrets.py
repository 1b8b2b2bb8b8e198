"""Settings read at run time from AWS Secrets Manager (a real HTTP fake that checks every request's SigV4 with
botocore's signer): a rotated setting takes effect without a redeploy, through the Lambda handlers with
Lambda-shaped events; failures keep the last good settings and never log a value; the site fails closed on
AWS without an EDGE_SECRET; SESSION_SECRET and EDGE_SECRET rotate with an overlap."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row

from devtools.fake_aws import TEST_ACCESS_KEY, TEST_SECRET_KEY, expected_signature
from functions import aws as functions
from tests.aws_fixtures import Aws, aws_fixture, aws_server_fixture, secret_of  # noqa: F401 (fixtures by name)
from tests.conftest import TEMPLATE
from tests.lambda_events import Context, body_of, cookies_of, http_event, scheduled_event
from ttfd.cli import main as cli
from ttfd.clients.aws_sigv4 import Credentials, sign
from ttfd.clients.secrets import SecretsError, SecretsManager
from ttfd.core import db, ledger, users
from ttfd.core import settings as settings_module
from ttfd.core.settings import DEFAULT_TTL_S, RETRY_S, get_settings
from ttfd.web import session_signer, sessions

SITE = "ttfd/test/site"
EDGE, EDGE2 = "edge-one-0123456789", "edge-two-0123456789"
SESSION_OLD, SESSION_NEW = "session-old-0123456789abcdef", "session-new-0123456789abcdef"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def lam(app_env: Any, aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Aws:
    """A Lambda function's environment: its secret's name instead of its values."""
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "ttfd-test-api")
    monkeypatch.setenv("TTFD_SECRET_ID", SITE)
    get_settings.cache_clear()
    return aws


def _board(edge: str | None = None, function: str = "api_leaderboard") -> dict[str, Any]:
    headers = {"X-TTFD-Edge": edge} if edge is not None else {}
    answer: dict[str, Any] = getattr(functions, function)(
        http_event("GET", "/api/leaderboard", headers=headers), Context()
    )
    return answer


def _no_values_logged(caplog: pytest.LogCaptureFixture, *values: str) -> None:
    text = caplog.text + "".join(str(r.args) for r in caplog.records)
    for value in values:
        assert value not in text
    assert all(r.exc_info is None for r in caplog.records) and "Traceback" not in caplog.text


# --- the signer and the fake ------------------------------------------------------------------------------


def test_our_signature_is_botocores_and_the_published_vector() -> None:
    # AWS's SigV4 test suite, post-vanilla: POST / to example.amazonaws.com, service "service", us-east-1.
    stamp = datetime(2015, 8, 30, 12, 36, 0, tzinfo=UTC)
    vector = sign("POST", "example.amazonaws.com", "/", {}, b"", service="service", region="us-east-1",
                  access_key="AKIDEXAMPLE", secret_key=TEST_SECRET_KEY, now=stamp)  # fmt: skip
    assert vector["authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"
    )
    body = b'{"SecretId":"ttfd/prod/site"}'
    headers = {
        "content-type": "application/x-amz-json-1.1",
        "x-amz-target": "secretsmanager.GetSecretValue",
        "x-amz-security-token": "token-example",
    }
    now = datetime(2026, 12, 2, 8, 30, 5, tzinfo=UTC)
    ours = sign("POST", "secretsmanager.eu-central-1.amazonaws.com", "/", headers, body, service="secretsmanager",
                region="eu-central-1", access_key=TEST_ACCESS_KEY, secret_key=TEST_SECRET_KEY, now=now)  # fmt: skip
    signed = {k: v for k, v in ours.items() if k != "authorization"}
    reference = expected_signature(
        "POST",
        "https://secretsmanager.eu-central-1.amazonaws.com/",
        signed,
        body,
        "20261202T083005Z",
        access_key=TEST_ACCESS_KEY,
        secret_key=TEST_SECRET_KEY,
        token="token-example",
        region="eu-central-1",
        service="secretsmanager",
    )
    assert ours["authorization"].endswith(f"Signature={reference}")
    with pytest.raises(ValueError, match="percent-encoding"):
        sign("GET", "h", "/a b", {}, b"", service="s", region="r", access_key="a", secret_key="b", now=now)


def test_the_fake_refuses_as_aws_does(aws: Aws) -> None:
    good = SecretsManager(aws.state.region, Credentials(TEST_ACCESS_KEY, TEST_SECRET_KEY), aws.url)
    created = good.create(SITE, {"EDGE_SECRET": EDGE})
    refusals = {
        "InvalidSignatureException": Credentials(TEST_ACCESS_KEY, "not-the-secret-key"),
        "UnrecognizedClientException": Credentials("AKIDUNKNOWN", TEST_SECRET_KEY),
    }
    for code, creds in refusals.items():
        with pytest.raises(SecretsError) as refused:
            SecretsManager(aws.state.region, creds, aws.url).get(SITE)
        assert (refused.value.code, refused.value.status, refused.value.transient) == (code, 400, False)
    with pytest.raises(SecretsError, match="scoped to a valid region"):
        SecretsManager("us-east-1", Credentials(TEST_ACCESS_KEY, TEST_SECRET_KEY), aws.url).get(SITE)
    with pytest.raises(SecretsError) as missing:
        good.get("ttfd/test/none")
    assert missing.value.code == "ResourceNotFoundException" and not missing.value.transient
    with pytest.raises(SecretsError, match="ResourceExistsException"):
        good.create(SITE, {})
    aws.state.fail_next("throttle")
    with pytest.raises(SecretsError) as throttled:
        good.get(SITE)
    assert throttled.value.code == "ThrottlingException" and throttled.value.transient
    # versions: a new value is AWSCURRENT, the one it replaced AWSPREVIOUS; the ARN finds it as the name does
    second = good.put(created.arn, {"EDGE_SECRET": EDGE2})
    stages = good.describe(SITE)["VersionIdsToStages"]
    assert stages == {created.version_id: ["AWSPREVIOUS"], second.version_id: ["AWSCURRENT"]}
    assert good.get(created.arn).values == {"EDGE_SECRET": EDGE2}
    previous = good.call("GetSecretValue", {"SecretId": SITE, "VersionStage": "AWSPREVIOUS"}, 3.0)
    assert json.loads(previous["SecretString"]) == {"EDGE_SECRET": EDGE}


# --- rotation through the Lambda handlers ----------------------------------------------------------------


def test_a_rotated_edge_secret_applies_after_the_ttl_without_a_redeploy(lam: Aws, caplog) -> None:
    caplog.set_level(logging.INFO)
    lam.state.put(SITE, {"EDGE_SECRET": EDGE, "SESSION_SECRET": SESSION_OLD})
    assert _board(EDGE)["statusCode"] == 200
    assert _board(EDGE2)["statusCode"] == 403 and _board()["statusCode"] == 403
    lam.state.put(SITE, {"EDGE_SECRET": EDGE2, "SESSION_SECRET": SESSION_OLD})  # the operator rotates it
    lam.clock.advance(59)
    assert _board(EDGE)["statusCode"] == 200  # within the TTL: the version read at cold start
    assert len(lam.state.calls_of("GetSecretValue")) == 1
    lam.clock.advance(2)
    assert _board(EDGE2)["statusCode"] == 200  # the first request after the TTL re-reads and uses it
    assert _board(EDGE)["statusCode"] == 403  # the old value is refused (no EDGE_SECRET_PREVIOUS)
    assert len(lam.state.calls_of("GetSecretValue")) == 2
    assert "changed: EDGE_SECRET" in caplog.text
    _no_values_logged(caplog, EDGE, EDGE2, SESSION_OLD)


def test_a_rotated_database_url_moves_the_pool(lam: Aws, fresh_db: str, pg_admin: str) -> None:
    first = conninfo_to_dict(fresh_db)["dbname"]
    other = f"{first}_b"
    db.ensure_database(pg_admin, other, template=TEMPLATE)
    other_url = db.with_dbname(pg_admin, other)
    try:
        with psycopg.connect(other_url, row_factory=dict_row) as conn:
            u = users.ensure_user(conn, "discord", 4242, "moved", "Moved")
            ledger.grant(conn, u.id, "xp", 50, reason="t", platform="discord", source_key="moved")
        os.environ.pop("DATABASE_URL")  # the function's own variable would win over the secret
        lam.state.put(SITE, {"EDGE_SECRET": EDGE, "DATABASE_URL": fresh_db})
        assert json.loads(body_of(_board(EDGE)))["total"] == 0
        lam.state.put(SITE, {"EDGE_SECRET": EDGE, "DATABASE_URL": other_url})
        lam.clock.advance(61)
        assert json.loads(body_of(_board(EDGE)))["total"] == 1  # the pool was rebuilt on the new URL
        with psycopg.connect(pg_admin) as admin:
            held = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (first,),
            ).fetchone()
        assert held == (0,)  # the old pool's connections are closed
    finally:
        db.close_pool()
        with psycopg.connect(pg_admin, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{other}" WITH (FORCE)')


def test_the_rotation_reaches_requests_within_the_ttl_on_a_real_clock(lam: Aws, monkeypatch) -> None:
    monkeypatch.setattr(get_settings, "clock", time.monotonic)
    monkeypatch.setenv("TTFD_SECRET_TTL_S", "5")  # the shortest allowed; 60 s by default
    lam.state.put(SITE, {"EDGE_SECRET": EDGE})
    assert _board(EDGE)["statusCode"] == 200  # read now: the worst case is a rotation just after a read
    started = time.monotonic()
    lam.state.put(SITE, {"EDGE_SECRET": EDGE2})
    while _board(EDGE2)["statusCode"] != 200:
        assert time.monotonic() - started < 7, "the rotated value never arrived"
        time.sleep(0.05)
    took = time.monotonic() - started
    print(f"rotated EDGE_SECRET served after {took:.2f} s with TTFD_SECRET_TTL_S=5")
    assert 4.5 <= took <= 6.0  # the TTL, plus at most one request (and a loaded machine)


def test_cold_start_without_the_secret_answers_503_and_skips_the_tick(lam: Aws, caplog) -> None:
    lam.state.down = "500"
    started = time.monotonic()
    answer = _board(EDGE)
    assert answer["statusCode"] == 503 and answer["headers"]["retry-after"] == "5"
    assert functions.run_jobs(scheduled_event(), Context()) == {"unavailable": "settings"}
    assert time.monotonic() - started < 2  # transient errors: one retry, not a 3 s wait
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2 and all("InternalServiceError" in r.getMessage() for r in errors)
    _no_values_logged(caplog)
    lam.state.down = None  # Secrets Manager is back: the next request reads it
    lam.state.put(SITE, {"EDGE_SECRET": EDGE})
    assert _board(EDGE)["statusCode"] == 200


def test_a_failed_refresh_keeps_the_last_good_settings_and_retries_later(lam: Aws, caplog) -> None:
    lam.state.put(SITE, {"EDGE_SECRET": EDGE, "SESSION_SECRET": SESSION_OLD})
    assert _board(EDGE)["statusCode"] == 200
    lam.state.put(SITE, {"EDGE_SECRET": EDGE2, "SESSION_SECRET": SESSION_OLD})
    lam.state.down = "500"
    lam.clock.advance(61)
    hits = lam.state.hits
    assert _board(EDGE)["statusCode"] == 200  # served on the last good settings
    assert lam.state.hits == hits + 1  # one try within the request's budget
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "keeping the settings read 61 s ago" in errors[0].getMessage()
    for _ in range(3):
        assert _board(EDGE)["statusCode"] == 200
    assert lam.state.hits == hits + 1 and len([r for r in caplog.records if r.levelno == logging.ERROR]) == 1
    lam.state.down = None
    lam.clock.advance(RETRY_S)
    assert _board(EDGE2)["statusCode"] == 200 and _board(EDGE)["statusCode"] == 403
    _no_values_logged(caplog, EDGE, EDGE2, SESSION_OLD)


def test_a_hanging_secrets_manager_delays_a_request_at_most_the_refresh_budget(lam: Aws, caplog) -> None:
    lam.state.put(SITE, {"EDGE_SECRET": EDGE})
    assert _board(EDGE)["statusCode"] == 200
    lam.state.fail_next("hang")
    lam.clock.advance(61)
    started = time.monotonic()
    assert _board(EDGE)["statusCode"] == 200
    assert time.monotonic() - started < 0.9  # REFRESH_BUDGET_S = 0.5, then the last good settings
    assert "TimeoutError" in caplog.text or "timed out" in caplog.text


@pytest.mark.parametrize(
    ("bad", "named"),
    [
        ({"DAY_TZ": "Mars/Olympus_Mons"}, "DAY_TZ"),
        ({"TELEGRAM_WEBHOOK_SECRET": "has spaces & symbols!"}, "TELEGRAM_WEBHOOK_SECRET"),
        ({"SESSION_TTL_S": "forever"}, "SESSION_TTL_S"),
        # A feature section's setting, checked before it is applied; repr() would double the backslash.
        ({"HEALTH_MAX_JOB_WAIT_S": "tok_SECRETVALUE\\x"}, "HEALTH_MAX_JOB_WAIT_S"),
    ],
)
def test_an_invalid_new_version_is_refused_and_the_last_good_kept(lam: Aws, caplog, monkeypatch, bad, named) -> None:
    for key in bad:  # app_env sets some on the "function", where they would win over the secret
        monkeypatch.delenv(key, raising=False)
    lam.state.put(SITE, {"EDGE_SECRET": EDGE})
    assert _board(EDGE)["statusCode"] == 200
    lam.state.put(SITE, {"EDGE_SECRET": EDGE2, **bad})
    for _ in range(2):  # the ERROR is said once per bad version, not at every TTL
        lam.clock.advance(61)
        assert _board(EDGE)["statusCode"] == 200 and _board(EDGE2)["statusCode"] == 403
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and named in errors[0] and "keeping the last good settings" in errors[0]
    _no_values_logged(caplog, EDGE, EDGE2, *bad.values(), *(repr(v)[1:-1] for v in bad.values()))
    assert "SECRETVALUE" not in caplog.text
    lam.state.put(SITE, {"EDGE_SECRET": EDGE2})  # fixed: applied at the next refresh
    lam.clock.advance(61)
    assert _board(EDGE2)["statusCode"] == 200


def _errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]


@pytest.mark.parametrize(
    "name",
    [
        "LD_PRELOAD",
        "AWS_ENDPOINT_URL_LAMBDA",
        "AWS_ACCESS_KEY_ID",
        "HTTPS_PROXY",
        "https_proxy",
        "PYTHONWARNINGS",
        "SSL_CERT_FILE",
        "TTFD_SECRET_TTL_S",
        "TTFD_SECRET_ID",
        "TTFD_METRICS",
        "WAKE_FUNCTION",
        "DISCORD_API_BASE",
        "TELEGRAM_API_BASE",
        "DISCORD_OAUTH_BASE",
        "SOMETHING_ELSE",
    ],
)
def test_a_secret_sets_only_ttfds_settings(lam: Aws, caplog, name) -> None:
    lam.state.put(SITE, {"EDGE_SECRET": EDGE})
    assert _board(EDGE)["statusCode"] == 200
    before = dict(os.environ)
    lam.state.put(SITE, {"EDGE_SECRET": EDGE2, name: "planted-value-0123"})
    lam.clock.advance(61)
    assert _board(EDGE)["statusCode"] == 200 and _board(EDGE2)["statusCode"] == 403  # the last good version
    assert dict(os.environ) == before  # nothing of the refused version reached the environment
    (error,) = _errors(caplog)
    assert name in error and ("does not take from a secret" in error or "not environment variables" in error)
    _no_values_logged(caplog, "planted-value-0123", EDGE, EDGE2)


def test_a_secret_may_set_feature_sections_and_the_pool_knobs(lam: Aws, monkeypatch) -> None:
    from ttfd.features.health.checks import HealthSettings

    monkeypatch.delenv("TTFD_POOL_SIZE", raising=False)
    lam.state.put(SITE, {"EDGE_SECRET": EDGE, "HEALTH_MAX_JOB_WAIT_S": "900", "TTFD_POOL_SIZE": "2"})
    assert _board(EDGE)["statusCode"] == 200
    assert get_settings().section(HealthSettings).max_job_wait_s == 900 and os.environ["TTFD_POOL_SIZE"] == "2"
    assert {"HEALTH_MAX_JOB_WAIT_S", "TTFD_POOL_SIZE"} <= get_settings.from_secret


def test_the_ttl_is_the_functions_own_and_a_bad_one_never_fails_a_request(lam: Aws, monkeypatch, caplog) -> None:
    monkeypatch.setenv("TTFD_SECRET_TTL_S", "abc")  # a typo on the function
    lam.state.put(SITE, {"EDGE_SECRET": EDGE})
    assert _board(EDGE)["statusCode"] == 200  # the cold start reads the secret despite it
    lam.state.put(SITE, {"EDGE_SECRET": EDGE2})
    lam.clock.advance(DEFAULT_TTL_S - 1)
    assert _board(EDGE)["statusCode"] == 200
    lam.clock.advance(2)
    assert _board(EDGE2)["statusCode"] == 200  # the default TTL applies
    errors = _errors(caplog)
    assert len(errors) == 1 and "TTFD_SECRET_TTL_S" in errors[0] and "using 60 s" in errors[0]


@pytest.mark.parametrize("bad", ["e2\x00x", "e2\ud800"])
def test_a_value_no_environment_can_hold_is_refused(lam: Aws, caplog, bad) -> None:
    lam.state.put(SITE, {"EDGE_SECRET": EDGE, "SESSION_SECRET": SESSION_OLD})
    assert _board(EDGE)["statusCode"] == 200
    before = dict(os.environ)
    lam.state.put(SITE, {"DISCORD_CLIENT_SECRET": "c1", "SESSION_SECRET": SESSION_NEW, "EDGE_SECRET": bad,
                         "SITE_URL": "https://z.example"})  # fmt: skip
    lam.clock.advance(61)
    assert _board(EDGE)["statusCode"] == 200
    assert dict(os.environ) == before and get_settings().session_secret == SESSION_OLD
    (error,) = _errors(caplog)
    assert "EDGE_SECRET" in error and "NUL" in error
    lam.state.put(SITE, {"EDGE_SECRET": EDGE2, "SESSION_SECRET": SESSION_NEW})  # fixed: applied next time
    lam.clock.advance(61)
    assert _board(EDGE2)["statusCode"] == 200 and get_settings().session_secret == SESSION_NEW


def test_applying_a_version_is_all_or_nothing(lam: Aws, caplog, monkeypatch) -> None:
    lam.state.put(SITE, {"EDGE_SECRET": EDGE, "SESSION_SECRET": SESSION_OLD})
    assert _board(EDGE)["statusCode"] == 200
    before = dict(os.environ)
    # Past the checks (as if one were missed), the environment itself refuses a value half-way through.
    monkeypatch.setattr(settings_module, "check_values", lambda values, where="": None)
    lam.state.put(SITE, {"SESSION_SECRET": SESSION_NEW, "EDGE_SECRET": "e2\x00x", "SITE_URL": "https://z.example"})
    lam.clock.advance(61)
    assert _board(EDGE)["statusCode"] == 200
    assert dict(os.environ) == before and get_settings().session_secret == SESSION_OLD
    (error,) = _errors(caplog)
    assert "keeping the last good settings" in error
    _no_values_logged(caplog, EDGE, SESSION_OLD, SESSION_NEW)


def test_a_cold_start_on_a_value_no_environment_can_hold_answers_500(lam: Aws, caplog) -> None:
    lam.state.put(SITE, {"EDGE_SECRET": "e1\x00"})
    answer = _board("e1")
    assert answer["statusCode"] == 500
    assert functions.run_jobs(scheduled_event(), Context()) == {"unavailable": "settings"}
    assert all("EDGE_SECRET" in e for e in _errors(caplog))
    _no_values_logged(caplog)


@pytest.mark.parametrize("dropped", ["EDGE_SECRET", "SESSION_SECRET", "ACTIONS_SECRET"])
def test_a_version_that_drops_a_needed_setting_is_refused(lam: Aws, caplog, dropped) -> None:
    good = {"EDGE_SECRET": EDGE, "SESSION_SECRET": SESSION_OLD, "ACTIONS_SECRET": "actions-0123456789"}
    lam.state.put(SITE, good)
    assert _board(EDGE)["statusCode"] == 200
    lam.state.put(SITE, {k: v for k, v in good.items() if k != dropped} | {"SITE_URL": "https://z.example"})
    lam.clock.advance(61)
    assert _board(EDGE)["statusCode"] == 200 and os.environ[dropped] == good[dropped]
    (error,) = _errors(caplog)
    assert f"drops {dropped}" in error
    _no_values_logged(caplog, *good.values())


def test_a_database_url_libpq_cannot_read_is_refused_without_quoting_it(lam: Aws, caplog, fresh_db) -> None:
    os.environ.pop("DATABASE_URL")
    lam.state.put(SITE, {"EDGE_SECRET": EDGE, "DATABASE_URL": fresh_db})
    assert _board(EDGE)["statusCode"] == 200
    broken = "postgresql://ttfd:S3cret Passw0rd@127.0.0.1:5432/ttfd"
    lam.state.put(SITE, {"EDGE_SECRET": EDGE2, "DATABASE_URL": broken})
    lam.clock.advance(61)
    assert _board(EDGE)["statusCode"] == 200 and os.environ["DATABASE_URL"] == fresh_db
    (error,) = _errors(caplog)
    assert "DATABASE_URL" in error and "S3cret" not in caplog.text


def test_the_pools_connection_errors_do_not_quote_the_connection_string(caplog) -> None:
    logging.getLogger("psycopg.pool").warning(
        "error connecting in %r: %s", "ttfd", 'unexpected spaces found in "S3cret Passw0rd", use %20 instead'
    )
    assert "error connecting in 'ttfd'" in caplog.text and "S3cret" not in caplog.text


def test_a_trickling_answer_delays_a_request_at_most_the_refresh_budget(lam: Aws, caplog) -> None:
    lam.state.put(SITE, {"EDGE_SECRET": EDGE})
    assert _board(EDGE)["statusCode"] == 200
    lam.state.put(SITE, {"EDGE_SECRET": EDGE2})
    lam.state.trickle_s = 0.05  # a byte every 50 ms: every read well within its timeout, the answer ~10 s
    lam.state.fail_next("trickle")
    lam.clock.advance(61)
    started = time.monotonic()
    assert _board(EDGE)["statusCode"] == 200  # on the last good settings
    took = time.monotonic() - started
    print(f"a trickling Secrets Manager held the request {took * 1000:.0f} ms (REFRESH_BUDGET_S = 0.5)")
    assert took < 0.9
    assert "could not re-read" in caplog.text
    lam.clock.advance(RETRY_S)
    assert _board(EDGE2)["statusCode"] == 200  # the next try, on a new connection, reads it


def test_an_answer_larger_than_any_secret_is_refused(aws: Aws) -> None:
    client = SecretsManager(aws.state.region, Credentials(TEST_ACCESS_KEY, TEST_SECRET_KEY), aws.url)
    aws.state.put(SITE, {"EDGE_SECRET": EDGE})
    aws.state.fail_next("oversize")
    with pytest.raises(SecretsError, match="response too large"):
        client.get(SITE)
    assert client.get(SITE).values == {"EDGE_SECRET": EDGE}  # a new connection, a normal answer


def test_variables_set_on_the_function_win_and_secrets_merge_in_order(lam: Aws, monkeypatch) -> None:
    monkeypatch.setenv("EDGE_SECRET", EDGE)
    monkeypatch.setenv("TTFD_SECRET_ID", f"{SITE},ttfd/test/extra")
    lam.state.put(SITE, {"EDGE_SECRET": EDGE2, "SESSION_SECRET": SESSION_OLD, "SITE_URL": "https://first"})
    lam.state.put("ttfd/test/extra", {"SITE_URL": "https://second"})
    get_settings.cache_clear()
    assert _board(EDGE)["statusCode"] == 200 and _board(EDGE2)["statusCode"] == 403
    s = get_settings()
    assert (s.site_url, s.session_secret) == ("https://second", SESSION_OLD)
    assert get_settings.shadowed == {"EDGE_SECRET"} and get_settings.from_secret == {"SESSION_SECRET", "SITE_URL"}
    assert len(get_settings.versions) == 2
    get_settings.cache_clear()  # takes back only what the secret put there
    assert os.environ["EDGE_SECRET"] == EDGE and "SESSION_SECRET" not in os.environ


def test_one_read_however_many_threads_start_at_once(aws: Aws, monkeypatch) -> None:
    monkeypatch.setenv("TTFD_SECRET_ID", SITE)
    aws.state.put(SITE, {"EDGE_SECRET": EDGE})
    seen: list[object] = []
    gate = threading.Barrier(8)

    def first() -> None:
        gate.wait()
        seen.append(get_settings())

    threads = [threading.Thread(target=first) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 8 and len({id(s) for s in seen}) == 1
    assert aws.state.calls_of("GetSecretValue") == [SITE]


# --- the edge and the session key ----------------------------------------------------------------------


def test_the_site_fails_closed_on_lambda_without_an_edge_secret(app_env, monkeypatch, caplog) -> None:
    monkeypatch.delenv("EDGE_SECRET", raising=False)
    monkeypatch.delenv("TTFD_SECRET_ID", raising=False)
    get_settings.cache_clear()
    assert _board()["statusCode"] == 200  # locally (and on Google Cloud) there is no such edge
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "ttfd-test-api")
    answer = _board("anything")
    assert answer["statusCode"] == 503 and json.loads(body_of(answer))["status"] == 503
    assert "EDGE_SECRET is not set" in caplog.text
    monkeypatch.setenv("EDGE_SECRET", EDGE2)
    monkeypatch.setenv("EDGE_SECRET_PREVIOUS", EDGE)
    get_settings.cache_clear()
    assert _board("wrong")["statusCode"] == 403 and _board()["statusCode"] == 403
    assert _board(EDGE2)["statusCode"] == 200 and _board(EDGE)["statusCode"] == 200


def test_session_secret_rotates_with_an_overlap(lam: Aws, fresh_db, capsys, monkeypatch) -> None:
    # The groups' secrets, as the deploy names them: the CLI writes the one that keeps SESSION_SECRET.
    edge, session = secret_of("EDGE_SECRET", "test"), secret_of("SESSION_SECRET", "test")
    monkeypatch.setenv("TTFD_SECRET_ID", ",".join(dict.fromkeys((edge, session))))
    get_settings.cache_clear()
    lam.state.put(edge, {"EDGE_SECRET": EDGE})
    lam.state.put(session, {"SESSION_SECRET": SESSION_OLD})
    with db.transaction() as conn:
        u = users.ensure_user(conn, "discord", 4343, "kept", "Kept")
        made = sessions.create(conn, u.id, sessions.Policy(3600, 3600, 3600), "test")
    old_cookie = session_signer(SESSION_OLD).sign(made.token).decode()

    def me(cookie: str) -> dict[str, Any]:
        event = http_event("GET", "/api/me", headers={"X-TTFD-Edge": EDGE}, cookies={"ttfd_session": cookie})
        answer: dict[str, Any] = functions.api_me(event, Context())
        return answer

    assert me(old_cookie)["statusCode"] == 200
    # The operator's rotation: the new key signs, the old one is kept as SESSION_SECRET_PREVIOUS.
    assert cli(["deploy", "aws", "put-setting", "SESSION_SECRET", SESSION_NEW, "--stage", "test"]) == 0
    assert "kept as SESSION_SECRET_PREVIOUS" in capsys.readouterr().out
    assert lam.state.current(session)["SESSION_SECRET_PREVIOUS"] == SESSION_OLD
    lam.clock.advance(61)
    with db.transaction() as conn:  # this session's token is due for rotation: its cookie is issued anew
        conn.execute("UPDATE sessions SET rotated_at = now() - interval '2 hours' WHERE id = %s", (made.session.id,))
    answer = me(old_cookie)
    assert answer["statusCode"] == 200
    reissued = cookies_of(answer)["ttfd_session"]
    assert session_signer(SESSION_NEW).unsign(reissued) and not session_signer(SESSION_OLD).validate(reissued)
    assert cli(["deploy", "aws", "put-setting", "SESSION_SECRET_PREVIOUS", "", "--stage", "test"]) == 0
    lam.clock.advance(61)
    assert me(reissued)["statusCode"] == 200
    with db.transaction() as conn:
        fresh = sessions.create(conn, u.id, sessions.Policy(3600, 3600, 3600), "test")
    assert me(session_signer(SESSION_OLD).sign(fresh.token).decode())["statusCode"] == 401  # the old key is gone


# --- what importing costs ----------------------------------------------------------------------------------


def test_settings_import_no_http_library_and_the_secret_client_only_with_a_secret(aws: Aws) -> None:
    probe = (
        "import sys, time; t = time.perf_counter(); from ttfd.core.settings import get_settings; get_settings();"
        " print(round((time.perf_counter() - t) * 1000)); print(sorted(m for m in"
        " ('httpx', 'botocore', 'boto3', 'ttfd.clients.secrets') if m in sys.modules))"
    )
    env = {k: v for k, v in os.environ.items() if k != "TTFD_SECRET_ID"}
    plain = subprocess.run([sys.executable, "-c", probe], env=env, cwd=ROOT, capture_output=True, text=True)
    assert plain.returncode == 0, plain.stderr
    assert plain.stdout.splitlines()[1] == "[]"
    aws.state.put(SITE, {"EDGE_SECRET": EDGE})
    read = subprocess.run(
        [sys.executable, "-c", probe], env={**env, "TTFD_SECRET_ID": SITE}, cwd=ROOT, capture_output=True, text=True
    )
    assert read.returncode == 0, read.stderr
    ms, loaded = read.stdout.splitlines()
    assert loaded == "['ttfd.clients.secrets']"
    print(f"settings with a secret read over HTTP: {ms} ms in a fresh process (imports and one GetSecretValue)")
