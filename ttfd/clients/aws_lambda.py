"""Start a Lambda function without waiting for it: the Invoke API with `X-Amz-Invocation-Type: Event`
(answers 202 once queued), signed with Signature Version 4 (ttfd.clients.aws_sigv4, checked against botocore's
signer) from the execution role's credentials in the environment. No boto3: importing botocore costs a cold
start ~0.3 s, more than the call.

The call is made while a reply waits (ttfd.core.wake bounds how long), so it goes through one keep-alive client
per process: after an instance's first wake-up the TLS connection to the Lambda endpoint is reused, and a
wake-up costs one round trip instead of a TCP and TLS handshake each time."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from ttfd.clients.aws_sigv4 import Credentials, sign
from ttfd.clients.http import HTTPError

SERVICE = "lambda"
_NAME = re.compile(r"[A-Za-z0-9_-]{1,140}")
TIMEOUT_S = 0.5  # per phase (connect, write, read, waiting for a pooled connection); the caller bounds the total
CONNECT_TIMEOUT_S = 0.25  # in-region endpoint: a TCP + TLS handshake takes ~10–30 ms
# Below the idle time after which the endpoint or a NAT drops a silent connection (~60 s and 350 s): an expired
# connection is closed here rather than found dead when a reply is waiting on it.
KEEPALIVE_S = 50.0
_client: httpx.Client | None = None
_client_lock = threading.Lock()


def client() -> httpx.Client:
    """The process's keep-alive client for the Invoke API (made on first use: a function that never wakes
    anything never loads a TLS context)."""
    global _client
    if _client is None:
        with _client_lock:
            if _client is None:
                _client = httpx.Client(
                    timeout=httpx.Timeout(TIMEOUT_S, connect=CONNECT_TIMEOUT_S),
                    limits=httpx.Limits(max_connections=4, max_keepalive_connections=2, keepalive_expiry=KEEPALIVE_S),
                )
    return _client


def close_client() -> None:
    """Drop the keep-alive client (tests; the next call makes a new one)."""
    global _client
    with _client_lock:
        if _client is not None:
            _client.close()
            _client = None


def invoke_async(function: str, payload: dict[str, Any], env: Mapping[str, str], timeout_s: float = TIMEOUT_S) -> None:
    """Queue one asynchronous invocation of `function` (a name in this account and region). One attempt, no
    retry; `timeout_s` bounds each phase of it (connect at most CONNECT_TIMEOUT_S)."""
    if not _NAME.fullmatch(function):
        raise ValueError(f"not a Lambda function name: {function!r}")
    region = env["AWS_REGION"]
    credentials = Credentials.from_env(env)
    if credentials is None:
        raise ValueError("no AWS credentials in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)")
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    base = env.get("AWS_ENDPOINT_URL_LAMBDA") or f"https://{SERVICE}.{region}.{suffix}"
    url = httpx.URL(f"{base.rstrip('/')}/2015-03-31/functions/{function}/invocations")
    body = json.dumps(payload).encode()
    headers = {"content-type": "application/json", "x-amz-invocation-type": "Event"}
    if credentials.token:
        headers["x-amz-security-token"] = credentials.token
    signed = sign(
        "POST",
        url.netloc.decode(),
        url.path,
        headers,
        body,
        service=SERVICE,
        region=region,
        access_key=credentials.access_key,
        secret_key=credentials.secret_key,
        now=datetime.now(UTC),
    )
    timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, CONNECT_TIMEOUT_S))
    resp = client().post(url, content=body, headers=signed, timeout=timeout)
    if resp.status_code != 202:
        # AWS's error type only: a signature error's message can quote the canonical request, token included.
        raise HTTPError(resp.status_code, _error_type(resp))


def _error_type(resp: httpx.Response) -> str:
    kind = resp.headers.get("x-amzn-errortype", "").split(":", 1)[0]
    if not kind:
        try:
            body = resp.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            kind = str(body.get("Type") or body.get("__type") or "")
    return kind[:100] or "no error type given"
