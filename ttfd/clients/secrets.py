"""AWS Secrets Manager over its JSON 1.1 API, signed with SigV4 (ttfd.clients.aws_sigv4): GetSecretValue for
the functions' settings at run time, CreateSecret / PutSecretValue / DescribeSecret for the operator's CLI.

The standard library's http.client rather than boto3 or httpx: a function that needs nothing else from
either (a Discord command, a site read) would otherwise import one just to read its settings at cold start.
Measured here (first import in a fresh process): botocore.session 150 ms before a client is even made, httpx
104 ms, this module with http.client and ssl 37 ms. One keep-alive connection per process, so a refresh a
minute later usually costs one round trip (1.6 ms against the local fake).

Credentials: the standard variables (what Lambda gives a function: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_SESSION_TOKEN); for the operator's CLI also a profile's static keys in the shared credentials file
(AWS_PROFILE, else "default"). SSO and assume-role profiles are not read: export them first with
`eval "$(aws configure export-credentials --profile NAME --format env)"`.

A secret's value is a JSON object of strings (setting name → value), as `python -m ttfd deploy aws
create-secret` writes it. Errors name the secret and AWS's error code, never a value.
"""

from __future__ import annotations

import http.client
import io
import json
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from ttfd.clients.aws_sigv4 import Credentials, sign

SERVICE = "secretsmanager"
ENDPOINT_ENVS = ("AWS_ENDPOINT_URL_SECRETS_MANAGER", "AWS_ENDPOINT_URL")  # botocore's names, for local fakes
MAX_SECRET_BYTES = 65_536  # Secrets Manager's own limit for a value
MAX_RESPONSE_BYTES = 1_048_576  # an answer (the value JSON-escaped, plus metadata) is far below this


class SecretsError(Exception):
    """Secrets Manager refused or could not be reached; `code` is AWS's error code (or the transport's)."""

    def __init__(self, code: str, message: str, status: int = 0) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code, self.message, self.status = code, message, status

    @property
    def transient(self) -> bool:
        """Worth trying again later: throttled, AWS's side, or the network."""
        return self.status == 0 or self.status >= 500 or self.code in ("ThrottlingException", "RequestTimeout")


@dataclass(frozen=True)
class Secret:
    """One version of a secret: its settings and which version they are."""

    arn: str
    name: str
    version_id: str
    values: dict[str, str] = field(repr=False)


def parse_values(text: str, what: str = "the secret") -> dict[str, str]:
    """A secret's value: a JSON object whose values are strings (the error never quotes the text)."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        raise ValueError(f"{what} is not JSON (a JSON object of setting name → string)") from None
    if not isinstance(data, dict):
        raise ValueError(f"{what} must be a JSON object of setting name → string")
    bad = sorted(k for k, v in data.items() if not isinstance(v, str))
    if bad:
        raise ValueError(f"{what}: the values of {', '.join(bad)} must be strings")
    return data


def default_endpoint(region: str) -> str:
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"https://{SERVICE}.{region}.{suffix}"


def region_of(secret_id: str) -> str | None:
    """The region in a secret's ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>)."""
    parts = secret_id.split(":")
    return parts[3] if len(parts) >= 7 and parts[0] == "arn" and parts[2] == SERVICE and parts[3] else None


class SecretsManager:
    """A client for one region and one set of credentials; safe to share between threads."""

    def __init__(self, region: str, credentials: Credentials, endpoint: str | None = None) -> None:
        url = urlsplit(endpoint or default_endpoint(region))
        if url.scheme not in ("http", "https") or not url.hostname or url.path not in ("", "/"):
            raise ValueError(f"not a Secrets Manager endpoint: {endpoint!r}")
        self.region, self.credentials = region, credentials
        self._https = url.scheme == "https"
        self._host, self._port = url.hostname, url.port
        self._host_header = url.netloc
        self._conn: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()
        self._tls: ssl.SSLContext | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str], region: str | None = None) -> SecretsManager:
        """Region, credentials and endpoint from the standard variables (what Lambda gives a function), else
        from the shared AWS files' profile (an operator's machine)."""
        creds = Credentials.from_env(env)
        region = region or env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
        profile: dict[str, str] = {} if creds is not None and region else _profile(env)  # never on Lambda
        region = region or profile.get("region")
        if not region:
            raise SecretsError("NoRegion", "no AWS region: set AWS_REGION or pass --region")
        if creds is None and profile.get("aws_access_key_id") and profile.get("aws_secret_access_key"):
            creds = Credentials(
                profile["aws_access_key_id"], profile["aws_secret_access_key"], profile.get("aws_session_token")
            )
        if creds is None:
            raise SecretsError(
                "NoCredentials",
                "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE with static keys)",
            )
        endpoint = next((env[e] for e in ENDPOINT_ENVS if env.get(e)), None)
        return cls(region, creds, endpoint)

    # --- the API -----------------------------------------------------------------------------------------

    def get(self, secret_id: str, timeout_s: float = 3.0) -> Secret:
        """The secret's current version (AWSCURRENT)."""
        out = self.call("GetSecretValue", {"SecretId": secret_id}, timeout_s)
        if "SecretString" not in out:
            raise SecretsError("NotAString", f"{secret_id} holds a binary value; TTFD reads a JSON string")
        values = parse_values(out["SecretString"], secret_id)
        return Secret(out.get("ARN", ""), out.get("Name", ""), out.get("VersionId", ""), values)

    def create(self, name: str, values: Mapping[str, str], description: str = "", timeout_s: float = 10.0) -> Secret:
        payload = {"Name": name, "SecretString": _encode(values), "Description": description}
        out = self.call("CreateSecret", payload, timeout_s)
        return Secret(out.get("ARN", ""), out.get("Name", name), out.get("VersionId", ""), dict(values))

    def put(self, secret_id: str, values: Mapping[str, str], timeout_s: float = 10.0) -> Secret:
        out = self.call("PutSecretValue", {"SecretId": secret_id, "SecretString": _encode(values)}, timeout_s)
        return Secret(out.get("ARN", ""), out.get("Name", secret_id), out.get("VersionId", ""), dict(values))

    def describe(self, secret_id: str, timeout_s: float = 10.0) -> dict[str, Any]:
        return self.call("DescribeSecret", {"SecretId": secret_id}, timeout_s)

    # --- the wire ----------------------------------------------------------------------------------------

    def call(self, action: str, payload: Mapping[str, Any], timeout_s: float) -> dict[str, Any]:
        """One JSON 1.1 call within `timeout_s` in all. A kept-alive connection the endpoint has meanwhile
        closed is replaced once (within the same deadline) — a frozen Lambda instance finds them so."""
        body = json.dumps(payload, separators=(",", ":")).encode()
        deadline = time.monotonic() + timeout_s
        with self._lock:
            for attempt in (1, 2):
                reused = self._conn is not None
                try:
                    status, data = self._send(action, body, deadline)
                    break
                except (OSError, http.client.HTTPException) as exc:
                    self._close()
                    if attempt == 2 or not reused or deadline - time.monotonic() < 0.05:
                        raise SecretsError(type(exc).__name__, str(exc) or "no answer") from None
        return _answer(status, data)

    def _send(self, action: str, body: bytes, deadline: float) -> tuple[int, bytes]:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no time left")
        if self._conn is None:
            if self._https:
                if self._tls is None:
                    self._tls = ssl.create_default_context()
                self._conn = http.client.HTTPSConnection(self._host, self._port, timeout=left, context=self._tls)
            else:
                self._conn = http.client.HTTPConnection(self._host, self._port, timeout=left)
        conn = self._conn
        conn.timeout = left
        if conn.sock is not None:
            conn.sock.settimeout(left)
        # Each wait on the socket gets only what is left of the deadline: a trickling answer (a byte now and
        # then, each within a per-read timeout) cannot hold the caller past it.
        conn.response_class = lambda sock, *a, **kw: _DeadlineResponse(sock, deadline, *a, **kw)  # type: ignore[assignment]
        headers = {"content-type": "application/x-amz-json-1.1", "x-amz-target": f"{SERVICE}.{action}"}
        if self.credentials.token:
            headers["x-amz-security-token"] = self.credentials.token
        signed = sign(
            "POST",
            self._host_header,
            "/",
            headers,
            body,
            service=SERVICE,
            region=self.region,
            access_key=self.credentials.access_key,
            secret_key=self.credentials.secret_key,
            now=datetime.now(UTC),
        )
        conn.request("POST", "/", body=body, headers=signed)
        resp = conn.getresponse()
        if resp.length is not None and resp.length > MAX_RESPONSE_BYTES:
            raise http.client.HTTPException(f"response too large ({resp.length} bytes)")
        data = resp.read(MAX_RESPONSE_BYTES + 1)
        if len(data) > MAX_RESPONSE_BYTES:
            raise http.client.HTTPException(f"response too large (over {MAX_RESPONSE_BYTES} bytes)")
        if resp.will_close or not resp.isclosed():  # not read to its end: the connection cannot be reused
            self._close()
        return resp.status, data

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def close(self) -> None:
        with self._lock:
            self._close()


class _DeadlineReader(io.RawIOBase):
    """The socket's file (http.client's), each read waiting at most until `deadline` (time.monotonic())."""

    def __init__(self, raw: Any, sock: socket.socket, deadline: float) -> None:
        super().__init__()
        self._raw, self._sock, self._deadline = raw, sock, deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no complete answer before the deadline")
        self._sock.settimeout(left)
        n: int = self._raw.readinto(buffer)
        return n

    def close(self) -> None:
        self._raw.close()  # the socket's file holds it open while the answer is read
        super().close()


class _DeadlineResponse(http.client.HTTPResponse):
    def __init__(self, sock: socket.socket, deadline: float, *args: Any, **kwargs: Any) -> None:
        super().__init__(sock, *args, **kwargs)
        self.fp = io.BufferedReader(_DeadlineReader(self.fp.detach(), sock, deadline))


def _profile(env: Mapping[str, str]) -> dict[str, str]:
    """The profile's keys (credentials file) and region (config file); empty when there are no such files."""
    import configparser
    from pathlib import Path

    name = env.get("AWS_PROFILE") or env.get("AWS_DEFAULT_PROFILE") or "default"
    home = Path(env.get("HOME") or "~").expanduser()
    out: dict[str, str] = {}
    for path, section in (
        (env.get("AWS_CONFIG_FILE") or home / ".aws" / "config", name if name == "default" else f"profile {name}"),
        (env.get("AWS_SHARED_CREDENTIALS_FILE") or home / ".aws" / "credentials", name),
    ):
        parser = configparser.RawConfigParser()
        try:
            parser.read(path)
        except configparser.Error as exc:
            raise SecretsError("BadProfile", f"{path} cannot be read: {type(exc).__name__}") from None
        if parser.has_section(section):
            out.update({k: v.strip() for k, v in parser.items(section) if v.strip()})
    return out


def _encode(values: Mapping[str, str]) -> str:
    bad = sorted(k for k, v in values.items() if not isinstance(v, str))
    if bad:
        raise ValueError(f"the values of {', '.join(bad)} must be strings")
    text = json.dumps(dict(values), indent=1, ensure_ascii=False)
    if len(text.encode()) > MAX_SECRET_BYTES:
        raise ValueError(f"the settings are larger than Secrets Manager's {MAX_SECRET_BYTES} bytes")
    return text


def _answer(status: int, data: bytes) -> dict[str, Any]:
    try:
        out = json.loads(data) if data else {}
    except ValueError:
        out = {}
    if not isinstance(out, dict):
        out = {}
    if status == 200:
        return out
    code = str(out.get("__type") or f"HTTP{status}").rsplit("#", 1)[-1]
    message = str(out.get("Message") or out.get("message") or "")[:300]
    raise SecretsError(code, message, status)
