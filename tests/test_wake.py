"""Waking the worker after a commit: on AWS, a request that queued work (a deferred reply, a rank-up's events)
invokes run_jobs asynchronously, so `/card` is finished in seconds rather than at the next minute's tick.

The Invoke API here is a real HTTP server that checks each request's Signature Version 4 with botocore's
signer (the reference implementation) and answers like Lambda: 202 for an Event invocation, 403
InvalidSignatureException otherwise."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import psycopg
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from flask import Flask, Response, request

from devtools import simulate
from devtools.wsgi_server import RunningServer
from functions import aws
from tests.conftest import TG_SECRET, encode, interaction, sign
from tests.lambda_events import Context, body_of, http_event
from ttfd.clients import aws_lambda
from ttfd.core import wake

KEY, SECRET, TOKEN = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token-example"


def _botocore_authorization(method: str, url: str, headers: dict[str, str], body: bytes, stamp: str) -> str:
    """What botocore's SigV4 signer writes for this request at this time (only `headers` are signed)."""
    req = AWSRequest(method=method, url=url, data=body, headers=headers)
    req.context["timestamp"] = stamp
    auth = SigV4Auth(Credentials(KEY, SECRET, TOKEN), "lambda", "eu-central-1")
    canonical = auth.canonical_request(req)
    signature = auth.signature(auth.string_to_sign(req, canonical), req)
    signed = ";".join(sorted(k.lower() for k in headers))
    scope = f"{stamp[:8]}/eu-central-1/lambda/aws4_request"
    return f"AWS4-HMAC-SHA256 Credential={KEY}/{scope}, SignedHeaders={signed}, Signature={signature}"


def test_our_signature_is_botocores() -> None:
    url = httpx.URL("https://lambda.eu-central-1.amazonaws.com/2015-03-31/functions/ttfd-prod-run_jobs/invocations")
    body = b'{"source": "ttfd.wake"}'
    headers = {"content-type": "application/json", "x-amz-invocation-type": "Event", "x-amz-security-token": TOKEN}
    now = datetime(2026, 12, 2, 8, 30, 5, tzinfo=UTC)
    ours = aws_lambda.sign(
        "POST", url, headers, body, region="eu-central-1", access_key=KEY, secret_key=SECRET, now=now
    )
    signed = {k: v for k, v in ours.items() if k != "authorization"}
    assert ours["authorization"] == _botocore_authorization("POST", str(url), signed, body, "20261202T083005Z")


@dataclass
class FakeLambda:
    invocations: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    fail_with: int | None = None


def _lambda_app(state: FakeLambda) -> Flask:
    app = Flask("fake-lambda")

    @app.post("/2015-03-31/functions/<name>/invocations")
    def invoke(name: str) -> Response:
        auth = request.headers.get("Authorization", "")
        signed_names = auth.split("SignedHeaders=", 1)[-1].split(",", 1)[0].split(";")
        signed = {k: request.headers.get(k, "") for k in signed_names}
        body = request.get_data()
        expected = _botocore_authorization("POST", request.url, signed, body, request.headers.get("X-Amz-Date", ""))
        if auth != expected or request.headers.get("X-Amz-Security-Token") != TOKEN:
            return Response(
                json.dumps({"Type": "User", "message": "signature mismatch"}),
                403,
                headers={"X-Amzn-ErrorType": "InvalidSignatureException"},
            )
        if state.fail_with:
            return Response(json.dumps({"Type": "Service", "message": "down"}), state.fail_with)
        if request.headers.get("X-Amz-Invocation-Type") != "Event":
            return Response(json.dumps({"message": "this fake only queues Event invocations"}), 400)
        state.invocations.append((name, json.loads(body)))
        return Response(b"", 202)

    return app


@pytest.fixture
def fake_lambda(app_env, monkeypatch) -> Iterator[FakeLambda]:
    state = FakeLambda()
    server = RunningServer(_lambda_app(state))
    for k, v in {
        "WAKE_FUNCTION": "ttfd-prod-run_jobs",
        "AWS_REGION": "eu-central-1",
        "AWS_ACCESS_KEY_ID": KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_SESSION_TOKEN": TOKEN,
        "AWS_ENDPOINT_URL_LAMBDA": server.url,
    }.items():
        monkeypatch.setenv(k, v)
    wake.take()
    yield state
    server.stop()


def _discord(command: str, user: int = 42) -> tuple[dict[str, Any], bytes]:
    body = encode(interaction(command, user=user))
    event = http_event("POST", "/discord/interactions", headers=sign(body), body=body)
    return aws.discord_interactions(event, Context()), body


def test_a_deferred_card_is_finished_by_the_woken_worker(app_env, fresh_db, fake_lambda) -> None:
    answered, body = _discord("/card")
    assert json.loads(body_of(answered)) == {"type": 5, "data": {}}
    assert fake_lambda.invocations == [("ttfd-prod-run_jobs", wake.WAKE_PAYLOAD)]
    # What Lambda then runs: the same handler EventBridge calls, given the wake-up payload.
    ran = aws.run_jobs(fake_lambda.invocations[0][1], Context())
    assert ran["run_jobs"]["done"] == 1 and "process_events" in ran
    edited = app_env.discord.originals[json.loads(body)["token"]]
    assert edited["attachments"][0]["filename"] == "card.png"


def test_nothing_queued_wakes_nothing(app_env, fresh_db, fake_lambda) -> None:
    _discord("/help")
    _discord("/profile")
    assert fake_lambda.invocations == []


def test_a_rank_up_wakes_the_worker_for_its_events(app_env, fresh_db, fake_lambda) -> None:
    _discord("/help", user=4343)  # the account exists, with no XP
    fake_lambda.invocations.clear()
    with psycopg.connect(fresh_db) as c:  # 5 XP short of rank F (475): the daily's 50 XP ranks up
        c.execute("UPDATE unified_users SET xp = 470 WHERE discord_id = 4343")
    _discord("/daily", user=4343)
    assert fake_lambda.invocations == [("ttfd-prod-run_jobs", wake.WAKE_PAYLOAD)]
    ran = aws.run_jobs(wake.WAKE_PAYLOAD, Context())
    assert ran["process_events"]["processed"] >= 1


def test_a_telegram_deferral_wakes_after_its_working_message(app_env, fresh_db, fake_lambda) -> None:
    headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
    update = encode(simulate.telegram_update("/card", user=7, update_id=5151))
    resp = aws.telegram_webhook(http_event("POST", "/telegram/webhook", headers=headers, body=update), Context())
    assert resp["statusCode"] == 200
    assert [m for m in app_env.telegram.calls_of("sendMessage") if "Working" in json.dumps(m)]
    assert fake_lambda.invocations == [("ttfd-prod-run_jobs", wake.WAKE_PAYLOAD)]
    assert aws.run_jobs(wake.WAKE_PAYLOAD, Context())["run_jobs"]["done"] == 1
    assert app_env.telegram.calls_of("sendPhoto")


@pytest.mark.parametrize("status", [500, 403])
def test_a_failed_wake_up_only_delays_the_work(app_env, fresh_db, fake_lambda, monkeypatch, status, caplog) -> None:
    if status == 403:
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-key")
    else:
        fake_lambda.fail_with = status
    answered, _ = _discord("/card")
    assert json.loads(body_of(answered)) == {"type": 5, "data": {}}  # Discord still gets its answer
    assert fake_lambda.invocations == []
    assert "could not wake ttfd-prod-run_jobs" in caplog.text and SECRET not in caplog.text
    assert aws.run_jobs({"source": "aws.events", "detail-type": "Scheduled Event"}, Context())["done"] == 1


def test_only_a_function_name_is_invoked() -> None:
    with pytest.raises(ValueError):
        aws_lambda.invoke_async("../../other", {}, {"AWS_REGION": "eu-central-1"})
