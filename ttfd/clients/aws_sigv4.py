"""AWS Signature Version 4 for the few AWS calls TTFD makes itself (Lambda's Invoke, Secrets Manager's
GetSecretValue): ~30 lines instead of botocore, whose import costs a cold start more than the calls do.
tests/test_wake.py and tests/test_secrets.py check the result against botocore's signer, the reference.

Only what those calls need: no query string, a path of unreserved characters (refused otherwise, so nothing
is ever signed differently from how it is sent), every given header signed."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

_PATH = re.compile(r"/[A-Za-z0-9/_.~-]*")


@dataclass(frozen=True)
class Credentials:
    """An access key, its secret and (for a role's temporary credentials) the session token."""

    access_key: str
    secret_key: str = field(repr=False)
    token: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Credentials | None:
        """The standard variables (a Lambda function's execution role puts all three there); None if absent."""
        key, secret = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
        if not key or not secret:
            return None
        return cls(key, secret, env.get("AWS_SESSION_TOKEN") or None)


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def sign(
    method: str,
    host: str,
    path: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    service: str,
    region: str,
    access_key: str,
    secret_key: str,
    now: datetime,
) -> dict[str, str]:
    """The request's headers plus host, x-amz-date and Authorization. `headers` are all signed; their names
    must be lower-case; `host` is the Host header as sent (with a port when it is not the default)."""
    if not _PATH.fullmatch(path):
        raise ValueError(f"path needs percent-encoding, which this signer does not do: {path!r}")
    if any(k != k.lower() for k in headers):
        raise ValueError("header names must be lower-case")
    stamp, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    signed = {**headers, "host": host, "x-amz-date": stamp}
    names = sorted(signed)
    canonical = "\n".join(
        [
            method,
            path,
            "",  # no query string
            "".join(f"{k}:{' '.join(signed[k].split())}\n" for k in names),
            ";".join(names),
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{secret_key}".encode(), day), region), service), "aws4_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    auth = f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={';'.join(names)}, Signature={signature}"
    return {**signed, "authorization": auth}
