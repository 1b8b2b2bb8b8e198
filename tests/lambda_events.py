"""Lambda events as AWS sends them: API Gateway HTTP API payload 2.0 (also a Function URL's shape) and the
EventBridge "Scheduled Event"; plus reading a payload-2.0 answer back."""

from __future__ import annotations

import base64
import time
import uuid
from typing import Any


def http_event(
    method: str,
    path: str,
    *,
    query: str = "",
    headers: dict[str, str] | None = None,
    cookies: dict[str, str] | None = None,
    body: bytes = b"",
    route: str | None = None,
    source_ip: str = "203.0.113.9",
) -> dict[str, Any]:
    """An HTTP API (payload format 2.0) event: lower-case headers, cookies in their own list, the body as text
    when it is UTF-8 and base64 otherwise."""
    hdrs = {k.lower(): v for k, v in (headers or {}).items()}
    hdrs.setdefault("host", "abc123.execute-api.eu-central-1.amazonaws.com")
    hdrs.setdefault("x-forwarded-proto", "https")
    hdrs.setdefault("x-forwarded-for", source_ip)
    if body:
        hdrs.setdefault("content-length", str(len(body)))
    try:
        text, b64 = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, b64 = base64.b64encode(body).decode(), True
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route or f"ANY {path}",
        "rawPath": path,
        "rawQueryString": query,
        "headers": hdrs,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": hdrs["host"],
            "domainPrefix": "abc123",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": hdrs.get("user-agent", "test"),
            },
            "requestId": uuid.uuid4().hex,
            "routeKey": route or f"ANY {path}",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": b64,
    }
    if text:
        event["body"] = text
    if cookies:
        event["cookies"] = [f"{k}={v}" for k, v in cookies.items()]
    if query:
        event["queryStringParameters"] = dict(p.split("=", 1) if "=" in p else (p, "") for p in query.split("&"))
    return event


def scheduled_event(rule: str = "ttfd-prod-run_jobs") -> dict[str, Any]:
    """What EventBridge hands a function on a schedule."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": "eu-central-1",
        "resources": [f"arn:aws:events:eu-central-1:123456789012:rule/{rule}"],
        "detail": {},
    }


def body_of(response: dict[str, Any]) -> bytes:
    raw = response.get("body", "")
    return base64.b64decode(raw) if response.get("isBase64Encoded") else raw.encode()


def cookies_of(response: dict[str, Any]) -> dict[str, str]:
    """name → value of every Set-Cookie in a payload-2.0 answer."""
    out = {}
    for c in response.get("cookies", []):
        name, _, rest = c.partition("=")
        out[name] = rest.split(";", 1)[0]
    return out


class Context:
    """The bits of Lambda's context object anything might read."""

    function_name = "ttfd-prod-test"
    aws_request_id = "req-1"
    memory_limit_in_mb = 512

    def get_remaining_time_in_millis(self) -> int:
        return 10_000
