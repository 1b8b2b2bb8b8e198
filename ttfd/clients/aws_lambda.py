"""Start a Lambda function without waiting for it: the Invoke API with `X-Amz-Invocation-Type: Event`
(answers 202 once queued), signed with Signature Version 4 from the execution role's credentials in the
environment. A few lines of SigV4 instead of boto3: importing botocore costs a cold start ~0.3 s, and this is
the one AWS call the functions make. tests/test_wake.py checks the signature against botocore's signer."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from ttfd.clients.http import HTTPError

SERVICE = "lambda"
_NAME = re.compile(r"[A-Za-z0-9_-]{1,140}")


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def sign(
    method: str,
    url: httpx.URL,
    headers: dict[str, str],
    body: bytes,
    *,
    region: str,
    access_key: str,
    secret_key: str,
    now: datetime,
) -> dict[str, str]:
    """The request's headers plus x-amz-date and Authorization (SigV4). `headers` are all signed; their
    names must be lower-case. Paths must need no percent-encoding (checked by the caller)."""
    stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    signed = {**headers, "host": url.netloc.decode(), "x-amz-date": stamp}
    names = sorted(signed)
    canonical = "\n".join(
        [
            method,
            url.path,
            "",  # no query string
            "".join(f"{k}:{' '.join(signed[k].split())}\n" for k in names),
            ";".join(names),
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = f"{day}/{region}/{SERVICE}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{secret_key}".encode(), day), region), SERVICE), "aws4_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    auth = f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={';'.join(names)}, Signature={signature}"
    return {**signed, "authorization": auth}


def invoke_async(function: str, payload: dict[str, Any], env: Mapping[str, str], timeout_s: float = 2.0) -> None:
    """Queue one asynchronous invocation of `function` (a name in this account and region)."""
    if not _NAME.fullmatch(function):
        raise ValueError(f"not a Lambda function name: {function!r}")
    region = env["AWS_REGION"]
    base = env.get("AWS_ENDPOINT_URL_LAMBDA") or f"https://lambda.{region}.amazonaws.com"
    url = httpx.URL(f"{base.rstrip('/')}/2015-03-31/functions/{function}/invocations")
    body = json.dumps(payload).encode()
    headers = {"content-type": "application/json", "x-amz-invocation-type": "Event"}
    if token := env.get("AWS_SESSION_TOKEN"):
        headers["x-amz-security-token"] = token
    signed = sign(
        "POST",
        url,
        headers,
        body,
        region=region,
        access_key=env["AWS_ACCESS_KEY_ID"],
        secret_key=env["AWS_SECRET_ACCESS_KEY"],
        now=datetime.now(UTC),
    )
    resp = httpx.post(url, content=body, headers=signed, timeout=timeout_s)
    if resp.status_code != 202:
        raise HTTPError(resp.status_code, resp.text[:200])
