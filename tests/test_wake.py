"""Waking the worker after a commit: on AWS, a request that queued work (a deferred reply, a rank-up's events)
invokes run_jobs asynchronously, so `/card` is finished in seconds rather than at the next minute's tick.

The Invoke API here is a real HTTP server that checks each request's Signature Version 4 with botocore's
signer (the reference implementation) and answers like Lambda: 202 for an Event invocation, 403
InvalidSignatureException otherwise.

A wake-up may not hold a reply: it reuses one keep-alive connection, waits at most its budget (0.5 s, less
when the request is already late) whatever the endpoint does — answers 202, hangs, refuses (500, 403), resets
the connection, or its name does not resolve — and a burst wakes run_jobs at most once per instance per second,
with nothing lost: a skipped wake-up is owed and sent by the instance's next request. Time bounds here are
correctness bounds (well inside Discord's 3 s); what a wake-up costs is measured by `make bench BENCH=wake`."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import random
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import psycopg
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from flask import Flask, Response, request

from devtools import simulate
from functions import aws
from functions.discord.events import TIMEOUT_S
from tests.conftest import TG_SECRET, encode, interaction, sign
from tests.lambda_events import Context, body_of, http_event
from ttfd.clients import aws_lambda, aws_sigv4
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
    ours = aws_sigv4.sign(
        "POST",
        url.netloc.decode(),
        url.path,
        headers,
        body,
        service="lambda",
        region="eu-central-1",
        access_key=KEY,
        secret_key=SECRET,
        now=now,
    )
    signed = {k: v for k, v in ours.items() if k != "authorization"}
    assert ours["authorization"] == _botocore_authorization("POST", str(url), signed, body, "20261202T083005Z")


@dataclass
class FakeLambda:
    invocations: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    fail_with: int | None = None
    clients: set[str] = field(default_factory=set)  # the TCP connections (peer ports) invocations came on
    arrived: list[float] = field(default_factory=list)  # time.monotonic() of each accepted invocation


def _lambda_app(state: FakeLambda) -> Flask:
    app = Flask("fake-lambda")

    @app.post("/2015-03-31/functions/<name>/invocations")
    def invoke(name: str) -> Response:
        state.clients.add(str(request.environ.get("REMOTE_PORT")))
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
        state.arrived.append(time.monotonic())
        return Response(b"", 202)

    return app


class KeepAliveServer:
    """The fake's Flask app behind an HTTP/1.1 server that keeps connections open as AWS's endpoints do
    (werkzeug's development server closes every one, which would hide whether the client reuses them)."""

    def __init__(self, app: Flask) -> None:
        client = app.test_client()
        server = self
        self.drop_after_answer = False  # close each connection once answered, without saying so (an idle drop)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                resp = client.post(
                    self.path,
                    data=body,
                    headers=dict(self.headers.items()),
                    base_url=f"http://{self.headers['Host']}",
                    environ_base={"REMOTE_PORT": str(self.client_address[1])},
                )
                payload = resp.get_data()
                self.send_response(resp.status_code)
                for k, v in resp.headers.items():
                    if k.lower() not in ("content-length", "connection"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                self.close_connection = server.drop_after_answer

            def log_message(self, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def shutdown_request(self, request: Any) -> None:
                super().shutdown_request(request)
                server.closed += 1

        self.closed = 0  # connections this side has closed
        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def lambda_server(app_env, monkeypatch) -> Iterator[tuple[FakeLambda, KeepAliveServer]]:
    state = FakeLambda()
    server = KeepAliveServer(_lambda_app(state))
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
    wake.reset()
    aws_lambda.close_client()
    yield state, server
    wake.reset()
    aws_lambda.close_client()
    server.stop()


@pytest.fixture
def fake_lambda(lambda_server) -> FakeLambda:
    return lambda_server[0]


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
    # AWS's error type is logged, never its message (a signature error's can quote the canonical request).
    assert ("InvalidSignatureException" if status == 403 else "HTTP 500: Service") in caplog.text
    assert "signature mismatch" not in caplog.text
    assert aws.run_jobs({"source": "aws.events", "detail-type": "Scheduled Event"}, Context())["done"] == 1


def test_only_a_function_name_is_invoked() -> None:
    with pytest.raises(ValueError):
        aws_lambda.invoke_async("../../other", {}, {"AWS_REGION": "eu-central-1"})


# --- a wake-up never holds a reply -------------------------------------------------------------------------


def test_wake_ups_reuse_one_keep_alive_connection(app_env, fake_lambda, monkeypatch) -> None:
    """Twenty wake-ups in a row (coalescing switched off to send each): one TCP connection (one TLS handshake
    on AWS), reused by all of them."""
    monkeypatch.setattr(wake, "MIN_INTERVAL_S", 0.0)
    for _ in range(20):
        wake.mark()
        assert wake.after_request()
    assert len(fake_lambda.invocations) == 20
    assert len(fake_lambda.clients) == 1


def test_a_dropped_keep_alive_connection_is_replaced(app_env, lambda_server, monkeypatch) -> None:
    """The endpoint (or a NAT) closes an idle connection without a word: the next wake-up opens a new one
    rather than failing on the dead one."""
    fake, server = lambda_server
    server.drop_after_answer = True
    monkeypatch.setattr(wake, "MIN_INTERVAL_S", 0.0)
    for n in range(1, 4):
        wake.mark()
        assert wake.after_request()
        deadline = time.monotonic() + 5
        while server.closed < n and time.monotonic() < deadline:  # idle until the endpoint has dropped it
            time.sleep(0.01)
    assert len(fake.invocations) == 3 and len(fake.clients) == 3


@dataclass
class RudeEndpoint:
    """An Invoke API that accepts connections and then hangs (reads, never answers) or resets them (RST)."""

    reset: bool
    accepted: int = 0
    url: str = ""
    _listener: socket.socket | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> RudeEndpoint:
        self._listener = listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        listener.settimeout(0.05)
        held: list[socket.socket] = []

        def serve() -> None:
            while not self._stop.is_set():
                try:
                    conn, _ = listener.accept()
                except OSError:
                    continue
                self.accepted += 1
                if self.reset:
                    conn.settimeout(1)
                    with contextlib.suppress(OSError):
                        conn.recv(65536)  # the request arrived; the answer is a reset
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    conn.close()
                else:
                    held.append(conn)
            for c in held:
                c.close()

        threading.Thread(target=serve, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._listener is not None:
            self._listener.close()


def test_a_hanging_invoke_api_cannot_hold_the_reply(app_env, fresh_db, fake_lambda, monkeypatch, caplog) -> None:
    with RudeEndpoint(reset=False) as hung:
        monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", hung.url)
        t0 = time.perf_counter()
        answered, _ = _discord("/card")
        took = time.perf_counter() - t0
        assert json.loads(body_of(answered)) == {"type": 5, "data": {}}
        assert "answering without waiting" in caplog.text
        # A request while that one still hangs does not try again (nor wait): it is owed.
        wake.mark()
        assert not wake.after_request()
        assert hung.accepted == 1 and wake._waker.owed
        # Alone, a wake-up into the hanging endpoint returns at its budget.
        wake.reset()
        wake.mark()
        t1 = time.perf_counter()
        assert not wake.after_request()
        alone = time.perf_counter() - t1
    print(
        f"\nhung Invoke API: /card answered in {took * 1000:.0f} ms; a wake-up alone returned in {alone * 1000:.0f} ms"
    )
    assert 0.45 <= alone < 1.5
    assert took < 2.5  # Discord's 3 s with room for the trip back
    # The work is done anyway, by the minute's tick.
    assert aws.run_jobs({"source": "aws.events", "detail-type": "Scheduled Event"}, Context())["done"] == 1


def test_a_reset_connection_cannot_hold_the_reply(app_env, fresh_db, fake_lambda, monkeypatch, caplog) -> None:
    with RudeEndpoint(reset=True) as rude:
        monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", rude.url)
        t0 = time.perf_counter()
        answered, _ = _discord("/card")
        took = time.perf_counter() - t0
    assert json.loads(body_of(answered)) == {"type": 5, "data": {}}
    assert rude.accepted == 1 and took < 2.5
    assert "could not wake ttfd-prod-run_jobs" in caplog.text and wake._waker.owed
    assert aws.run_jobs({"source": "aws.events", "detail-type": "Scheduled Event"}, Context())["done"] == 1


def test_a_hanging_name_lookup_cannot_hold_the_reply(app_env, fake_lambda, monkeypatch) -> None:
    """DNS is outside httpx's timeouts (getaddrinfo blocks): the budget still holds, since the call runs on
    the wake-up thread and the request only waits for it."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", "http://lambda.invalid")
    real = socket.getaddrinfo

    def slow(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "lambda.invalid":
            time.sleep(3)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", slow)
    wake.mark()
    t0 = time.perf_counter()
    assert not wake.after_request()
    assert time.perf_counter() - t0 < 1.5


def test_a_late_request_skips_the_wake_up_and_the_next_one_sends_it(
    app_env, fresh_db, fake_lambda, monkeypatch
) -> None:
    body = encode(interaction("/card", user=77))
    event = http_event("POST", "/discord/interactions", headers=sign(body), body=body)
    event["requestContext"]["timeEpoch"] = int((time.time() - 2.47) * 1000)  # API Gateway got it 2.47 s ago
    answered = aws.discord_interactions(event, Context())
    assert json.loads(body_of(answered)) == {"type": 5, "data": {}}
    assert fake_lambda.invocations == []  # not even tried: no time left to wait for an answer
    assert wake._waker.owed
    # The instance's next request sends the owed wake-up though it queued nothing itself.
    _discord("/help", user=78)
    assert fake_lambda.invocations == [("ttfd-prod-run_jobs", wake.WAKE_PAYLOAD)]
    assert aws.run_jobs(wake.WAKE_PAYLOAD, Context())["run_jobs"]["done"] == 1


def test_the_budget_follows_the_request_age(app_env, monkeypatch) -> None:
    """The reply should leave 2.5 s after API Gateway got the request (Discord gives up at 3 s): the wake-up
    gets 0.5 s or what is left of that, whatever dispatch took before it."""
    app = Flask("t")
    now_ms = time.time() * 1000
    for age_s, expected in [(0.1, 0.5), (2.0, 0.5), (2.2, 0.3), (2.6, -0.1), (-5, 0.5), (10_000, 0.5)]:
        env = {"apig_wsgi.request_context": {"timeEpoch": int(now_ms - age_s * 1000)}}
        with app.test_request_context("/", environ_base=env):
            assert abs(wake.budget_s() - expected) < 0.05, age_s
            if 0 <= age_s < 3600:  # the wake-up never takes the reply past 2.5 s, nor a late one any later
                assert age_s + max(wake.budget_s(), 0) <= max(age_s, wake.REPLY_BUDGET_S) + 0.05
    with app.test_request_context("/", environ_base={"apig_wsgi.request_context": {"requestTimeEpoch": now_ms - 2200}}):
        assert abs(wake.budget_s() - 0.3) < 0.05  # REST API's name for it
    for junk in [None, "123", True, {"timeEpoch": "1"}, {"timeEpoch": True}]:
        with app.test_request_context("/", environ_base={"apig_wsgi.request_context": junk}):
            assert wake.budget_s() == wake.WAKE_BUDGET_S
    assert wake.budget_s() == wake.WAKE_BUDGET_S  # outside a request
    assert TIMEOUT_S + wake.WAKE_BUDGET_S < 3.0


def test_a_burst_wakes_once_per_second_per_instance(app_env, fresh_db, fake_lambda) -> None:
    """Twenty deferred /card in a row on one instance: one wake-up per second at most, the jobs all done by
    the runs it started, and the last request's owed wake-up sent by the instance's next request."""
    t0 = time.monotonic()
    for user in range(20):
        answered, _ = _discord("/card", user=900 + user)
        assert json.loads(body_of(answered)) == {"type": 5, "data": {}}
    elapsed = time.monotonic() - t0
    woken = len(fake_lambda.invocations)
    assert 1 <= woken <= int(elapsed / wake.MIN_INTERVAL_S) + 1
    time.sleep(wake.MIN_INTERVAL_S)
    _discord("/help", user=999)
    assert len(fake_lambda.invocations) == woken + 1  # the owed one
    assert aws.run_jobs(wake.WAKE_PAYLOAD, Context())["run_jobs"]["done"] == 20


def test_fifty_threads_at_once_wake_once(app_env, fake_lambda) -> None:
    """Threads of one instance (Cloud Run, the dev server) finishing together: one invocation."""
    barrier = threading.Barrier(50)
    results: list[bool] = []

    def request() -> None:
        wake.mark()
        barrier.wait(5)
        results.append(wake.after_request())

    threads = [threading.Thread(target=request) for _ in range(50)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sum(results) == 1 and len(fake_lambda.invocations) == 1
    assert wake._waker.owed  # what the other 49 queued is not forgotten


def test_a_burst_from_threads_sends_at_most_one_wake_up_per_interval(app_env, fake_lambda) -> None:
    """Fifty requests from threads spread over ~2.5 s: invocations at least an interval apart, as many as
    the intervals the burst spans."""
    rng = random.Random(19)
    starts = sorted(rng.uniform(0, 2.5) for _ in range(50))
    aws_lambda.client()  # made already, as after an instance's first wake-up: arrivals are then as sent
    t0 = time.monotonic()

    def request(at: float) -> None:
        time.sleep(max(0.0, t0 + at - time.monotonic()))
        wake.mark()
        wake.after_request()

    with ThreadPoolExecutor(max_workers=50) as pool:
        list(pool.map(request, starts))
    elapsed = time.monotonic() - t0
    arrived = fake_lambda.arrived
    assert 1 <= len(arrived) <= int(elapsed / wake.MIN_INTERVAL_S) + 1
    assert all(b - a >= wake.MIN_INTERVAL_S * 0.8 for a, b in itertools.pairwise(arrived))


def test_a_failed_wake_up_is_owed_not_retried_inside_the_request(app_env, fake_lambda, monkeypatch) -> None:
    fake_lambda.fail_with = 500
    wake.mark()
    assert not wake.after_request()
    assert wake._waker.owed
    fake_lambda.fail_with = None
    assert not wake.after_request()  # within the interval: not yet
    monkeypatch.setattr(wake, "MIN_INTERVAL_S", 0.0)
    assert wake.after_request()  # the next request pays it, though it queued nothing
    assert not wake.after_request()  # and only once
    assert fake_lambda.invocations == [("ttfd-prod-run_jobs", wake.WAKE_PAYLOAD)]


def test_failures_back_off(app_env, fake_lambda, monkeypatch) -> None:
    """A failing Invoke API is tried after 1, 2, 4 … s (at most 30), not every second; one success resets it."""
    fake_lambda.fail_with = 500
    waker = wake._waker
    assert waker.interval() == wake.MIN_INTERVAL_S
    for failures in range(1, 8):
        waker.last = -float("inf")  # the interval has passed
        wake.mark()
        assert not wake.after_request()
        assert waker.failures == failures
        assert waker.interval() == min(wake.MAX_INTERVAL_S, 2.0**failures)
    waker.last = time.monotonic() - 20  # 20 s ago: within the 30 s back-off, so not yet
    assert not wake.after_request() and waker.owed
    fake_lambda.fail_with = None
    waker.last = -float("inf")
    assert wake.after_request()  # the owed one
    assert waker.failures == 0 and waker.interval() == wake.MIN_INTERVAL_S


def test_a_broken_waker_never_costs_the_reply(app_env, fresh_db, fake_lambda, monkeypatch, caplog) -> None:
    def broken(*args: Any, **kwargs: Any) -> float:
        raise RuntimeError("a bug in the wake-up")

    monkeypatch.setattr(wake, "budget_s", broken)
    answered, _ = _discord("/card")
    assert json.loads(body_of(answered)) == {"type": 5, "data": {}}
    assert "waking ttfd-prod-run_jobs failed" in caplog.text


def test_without_a_wake_function_nothing_is_owed(app_env, monkeypatch) -> None:
    monkeypatch.delenv("WAKE_FUNCTION", raising=False)
    wake.reset()
    wake.mark()
    assert not wake.after_request() and not wake._waker.owed


def test_a_stuck_call_is_given_up_and_counted_once(app_env, fake_lambda, monkeypatch, caplog) -> None:
    """A call hanging below the client's own timeouts (STUCK_S after it started) no longer holds every later
    wake-up back: it is counted as a failure, logged once, and the next one runs on a fresh worker thread."""
    release = threading.Event()
    real = aws_lambda.invoke_async
    calls: list[str] = []

    def first_hangs(function: str, *args: Any, **kwargs: Any) -> None:
        calls.append(function)
        if len(calls) == 1:
            release.wait(30)
            raise httpx.ReadTimeout("stuck below the client's timeouts")
        real(function, *args, **kwargs)

    monkeypatch.setattr(aws_lambda, "invoke_async", first_hangs)
    waker = wake._waker
    try:
        wake.mark()
        assert not wake.after_request()  # the budget ends; the call hangs on
        stuck = waker.in_flight
        assert stuck is not None
        wake.mark()
        assert not wake.after_request() and waker.owed  # in flight and not yet stuck: coalesced behind it
        assert len(calls) == 1
        waker.last = time.monotonic() - wake.STUCK_S - 1  # it started that long ago
        fake_lambda.fail_with = 500
        assert not wake.after_request()  # owed: the stuck call is given up and this one runs, and fails
        assert len(calls) == 2 and waker.failures == 2  # the stuck call counted, then this failure
        assert caplog.text.count("giving it up") == 1
        fake_lambda.fail_with = None
        waker.last = -float("inf")
        assert wake.after_request()
        assert waker.failures == 0 and fake_lambda.invocations == [("ttfd-prod-run_jobs", wake.WAKE_PAYLOAD)]
    finally:
        release.set()
    assert isinstance(stuck.exception(timeout=5), httpx.ReadTimeout)
    time.sleep(0.05)  # its done-callbacks run just after
    assert waker.failures == 0 and not waker.owed  # the abandoned call ending at last changed nothing


def test_the_invoke_client_is_loaded_at_import_where_a_function_wakes() -> None:
    """The first wake-up's budget goes to the call, not to importing httpx and making a TLS context."""
    probe = (
        "import sys, ttfd.core.wake\n"
        "m = sys.modules.get('ttfd.clients.aws_lambda')\n"
        "print('httpx' in sys.modules, m is not None and m._client is not None)"
    )
    env = {k: v for k, v in os.environ.items() if k != "WAKE_FUNCTION"}
    cold = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True)
    warm = subprocess.run(
        [sys.executable, "-c", probe],
        env={**env, "WAKE_FUNCTION": "ttfd-prod-run_jobs"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert cold.stdout.split() == ["False", "False"]  # a function that wakes nothing loads nothing for it
    assert warm.stdout.split() == ["True", "True"]
