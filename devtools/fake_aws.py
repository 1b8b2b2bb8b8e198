"""An AWS Secrets Manager fake: the JSON 1.1 API (`POST /`, `X-Amz-Target: secretsmanager.<Action>`) for
GetSecretValue, CreateSecret, PutSecretValue, DescribeSecret and UpdateSecret, served on 127.0.0.1.

Every request's Signature Version 4 is checked as AWS checks it: the signature is recomputed from the request
with botocore's signer (the reference implementation, not ours) and the known key pair, the credential scope
must name this region and service, the date must be within 5 minutes, a temporary key needs its session
token. Refusals are AWS's: status 400 and `{"__type": …, "message": …}` (UnrecognizedClientException,
InvalidSignatureException, ResourceNotFoundException, ResourceExistsException, ThrottlingException, …).

Secrets keep versions as AWS does: each new value is a version (a VersionId) labelled AWSCURRENT, the one it
replaces AWSPREVIOUS. Tests inject faults (`fail_next("throttle" | "500" | "hang" | "trickle" |
"oversize")`, or `down`).

`python -m devtools.fake_aws [--port 4566]` serves one for trying the operator CLI by hand; it prints the
variables to export. `verify_sigv4` is usable by any other AWS fake.
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, request

TEST_ACCESS_KEY = "AKIDEXAMPLE"
TEST_SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"  # noqa: S105 (AWS's documented example key)
ACCOUNT = "123456789012"
SERVICE = "secretsmanager"
MAX_SKEW_S = 300  # AWS refuses a request signed more than 5 minutes away from its clock
_NAME = re.compile(r"[A-Za-z0-9/_+=.@-]{1,512}")
_AUTH = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/,\s]+)/(?P<day>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request,"
    r"\s*SignedHeaders=(?P<signed>[a-z0-9;-]+),\s*Signature=(?P<signature>[0-9a-f]{64})"
)
NOT_FOUND = "Secrets Manager can't find the specified secret."
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access"
    " Key and signing method. Consult the service documentation for details."
)


class AwsError(Exception):
    """An AWS refusal: its status, error code (`__type`) and message."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


@dataclass
class Version:
    version_id: str
    text: str = field(repr=False)
    stages: list[str]
    created: float
    token: str | None = None  # the ClientRequestToken it was made with (idempotency)


@dataclass
class StoredSecret:
    name: str
    arn: str
    description: str
    created: float
    changed: float
    versions: dict[str, Version] = field(default_factory=dict)

    def staged(self, stage: str) -> Version | None:
        return next((v for v in self.versions.values() if stage in v.stages), None)


@dataclass
class AwsState:
    region: str = "eu-central-1"
    # access key → (secret key, the session token it needs or None)
    keys: dict[str, tuple[str, str | None]] = field(default_factory=lambda: {TEST_ACCESS_KEY: (TEST_SECRET_KEY, None)})
    secrets: dict[str, StoredSecret] = field(default_factory=dict)
    calls: list[tuple[str, str]] = field(default_factory=list)  # (action, SecretId or Name); never a value
    hits: int = 0  # every request that arrived, faults and refusals included
    faults: list[str] = field(default_factory=list)
    down: str | None = None  # a fault answered to every request until cleared
    hang_s: float = 5.0
    trickle_s: float = 0.02  # "trickle": the answer's body a byte at a time, this long apart
    lock: threading.Lock = field(default_factory=threading.Lock)
    released: threading.Event = field(default_factory=threading.Event)  # ends every hang at once

    def fail_next(self, kind: str, times: int = 1) -> None:
        """The next `times` requests fail: "throttle" (400 ThrottlingException), "500" (InternalServiceError),
        "hang" (no answer for `hang_s`), "trickle" (the right answer, its body a byte every `trickle_s`: each
        read gets something well within any per-read timeout, the whole takes seconds) or "oversize" (the
        right answer padded to 2 MB, as a broken proxy might send)."""
        if kind not in ("throttle", "500", "hang", "trickle", "oversize"):
            raise ValueError(f"unknown fault {kind!r}")
        with self.lock:
            self.faults.extend([kind] * times)

    def reset(self) -> None:
        with self.lock:
            self.secrets.clear()
            self.calls.clear()
            self.hits = 0
            self.faults.clear()
            self.down = None
            self.released.set()
            self.released = threading.Event()

    def calls_of(self, action: str) -> list[str]:
        return [target for a, target in self.calls if a == action]

    # --- what tests set and read directly (no signature) ---------------------------------------------------

    def put(self, name: str, values: dict[str, str], description: str = "") -> str:
        """Store a new version of secret `name` (created if absent) as the operator would; its VersionId."""
        with self.lock:
            stored = self.secrets.get(name) or self._create(name, description)
            return self._new_version(stored, json.dumps(values), None).version_id

    def current(self, name: str) -> dict[str, str]:
        with self.lock:
            version = self.secrets[name].staged("AWSCURRENT")
            assert version is not None
            values: dict[str, str] = json.loads(version.text)
            return values

    def arn(self, name: str) -> str:
        return self.secrets[name].arn

    # --- inside the lock -----------------------------------------------------------------------------------

    def _create(self, name: str, description: str) -> StoredSecret:
        if not _NAME.fullmatch(name):
            raise AwsError(
                "ValidationException",
                "Invalid name. Must be a valid name containing alphanumeric "
                "characters, or any of the following: -/_+=.@!",
            )
        if name in self.secrets:
            raise AwsError("ResourceExistsException", f"The operation failed because the secret {name} already exists.")
        suffix = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(6))
        now = time.time()
        arn = f"arn:aws:secretsmanager:{self.region}:{ACCOUNT}:secret:{name}-{suffix}"
        stored = self.secrets[name] = StoredSecret(name, arn, description, now, now)
        return stored

    def _new_version(self, stored: StoredSecret, text: str, token: str | None) -> Version:
        if token is not None and token in stored.versions:
            same = stored.versions[token]
            if same.text != text:
                raise AwsError(
                    "ResourceExistsException",
                    "You can't modify an existing version, you can only create a new version.",
                )
            return same
        for v in stored.versions.values():  # AWSCURRENT moves to the new one; the old current is AWSPREVIOUS
            v.stages = [s for s in v.stages if s != "AWSPREVIOUS"]
            if "AWSCURRENT" in v.stages:
                v.stages = [s for s in v.stages if s != "AWSCURRENT"] + ["AWSPREVIOUS"]
        version = Version(token or str(uuid.uuid4()), text, ["AWSCURRENT"], time.time(), token)
        stored.versions[version.version_id] = version
        stored.changed = version.created
        return version

    def find(self, secret_id: str) -> StoredSecret:
        """By name or by ARN (the full one, or without its random suffix, as AWS accepts)."""
        if secret_id in self.secrets:
            return self.secrets[secret_id]
        for stored in self.secrets.values():
            if secret_id in (stored.arn, stored.arn.rsplit("-", 1)[0]):
                return stored
        raise AwsError("ResourceNotFoundException", NOT_FOUND)


# --- SigV4, checked with the reference signer ---------------------------------------------------------------


def expected_signature(
    method: str,
    url: str,
    signed_headers: dict[str, str],
    body: bytes,
    stamp: str,
    *,
    access_key: str,
    secret_key: str,
    token: str | None,
    region: str,
    service: str,
) -> str:
    """The Signature botocore computes for this request (only `signed_headers` signed) at `stamp`."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    req = AWSRequest(method=method, url=url, data=body, headers=signed_headers)
    req.context["timestamp"] = stamp
    auth = SigV4Auth(Credentials(access_key, secret_key, token), service, region)
    canonical = auth.canonical_request(req)
    signature: str = auth.signature(auth.string_to_sign(req, canonical), req)
    return signature


def verify_sigv4(
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes,
    *,
    keys: dict[str, tuple[str, str | None]],
    region: str,
    service: str,
    now: float | None = None,
) -> str:
    """The access key that signed this request, or AwsError as AWS would refuse it. `headers` has the
    request's headers (any case)."""
    lower = {k.lower(): v for k, v in headers.items()}
    auth = lower.get("authorization", "")
    m = _AUTH.fullmatch(auth.strip())
    if m is None:
        raise AwsError(
            "IncompleteSignatureException",
            "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters.",
        )
    if m["key"] not in keys:
        raise AwsError("UnrecognizedClientException", "The security token included in the request is invalid.")
    secret_key, token = keys[m["key"]]
    if token is not None and lower.get("x-amz-security-token") != token:
        raise AwsError("UnrecognizedClientException", "The security token included in the request is invalid.")
    if m["service"] != service:
        raise AwsError("InvalidSignatureException", f"Credential should be scoped to correct service: '{service}'.")
    if m["region"] != region:
        raise AwsError(
            "InvalidSignatureException", f"Credential should be scoped to a valid region, not '{m['region']}'."
        )
    stamp = lower.get("x-amz-date", "")
    try:
        signed_at = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        raise AwsError("IncompleteSignatureException", "Missing or malformed X-Amz-Date.") from None
    if abs((time.time() if now is None else now) - signed_at) > MAX_SKEW_S or not stamp.startswith(m["day"]):
        raise AwsError("InvalidSignatureException", f"Signature expired: {stamp} is out of the 5 minute window.")
    names = m["signed"].split(";")
    if "host" not in names:
        raise AwsError("InvalidSignatureException", "'Host' must be a 'SignedHeader' in the AWS Authorization.")
    signed = {n: lower.get(n, "") for n in names}
    expected = expected_signature(
        method,
        url,
        signed,
        body,
        stamp,
        access_key=m["key"],
        secret_key=secret_key,
        token=token,
        region=region,
        service=service,
    )
    if not secrets.compare_digest(expected, m["signature"]):
        raise AwsError("InvalidSignatureException", SIGNATURE_MISMATCH)
    return m["key"]


# --- the API --------------------------------------------------------------------------------------------


def _error(exc: AwsError) -> Response:
    body = {"__type": exc.code, "message": exc.message}
    return Response(json.dumps(body), exc.status, content_type="application/x-amz-json-1.1")


def _version_out(stored: StoredSecret, v: Version) -> dict[str, Any]:
    return {"ARN": stored.arn, "Name": stored.name, "VersionId": v.version_id, "VersionStages": list(v.stages)}


def _secret_string(payload: dict[str, Any]) -> str:
    text = payload.get("SecretString")
    if not isinstance(text, str):
        raise AwsError("InvalidParameterException", "You must provide either SecretString or SecretBinary.")
    if len(text.encode()) > 65_536:
        raise AwsError("ValidationException", "Member must have length less than or equal to 65536")
    return text


def _get(state: AwsState, payload: dict[str, Any]) -> dict[str, Any]:
    stored = state.find(str(payload.get("SecretId", "")))
    if version_id := payload.get("VersionId"):
        version = stored.versions.get(version_id)
        missing = f"for VersionId: {version_id}"
    else:
        stage = payload.get("VersionStage") or "AWSCURRENT"
        version = stored.staged(stage)
        missing = f"for staging label: {stage}"
    if version is None:
        raise AwsError("ResourceNotFoundException", f"Secrets Manager can't find the specified secret value {missing}")
    return _version_out(stored, version) | {"SecretString": version.text, "CreatedDate": version.created}


def _create_secret(state: AwsState, payload: dict[str, Any]) -> dict[str, Any]:
    stored = state._create(str(payload.get("Name", "")), str(payload.get("Description", "")))
    out: dict[str, Any] = {"ARN": stored.arn, "Name": stored.name}
    if "SecretString" in payload:
        version = state._new_version(stored, _secret_string(payload), payload.get("ClientRequestToken"))
        out["VersionId"] = version.version_id
    return out


def _put(state: AwsState, payload: dict[str, Any]) -> dict[str, Any]:
    stored = state.find(str(payload.get("SecretId", "")))
    version = state._new_version(stored, _secret_string(payload), payload.get("ClientRequestToken"))
    return _version_out(stored, version)


def _update(state: AwsState, payload: dict[str, Any]) -> dict[str, Any]:
    stored = state.find(str(payload.get("SecretId", "")))
    if "Description" in payload:
        stored.description = str(payload["Description"])
        stored.changed = time.time()
    out: dict[str, Any] = {"ARN": stored.arn, "Name": stored.name}
    if "SecretString" in payload:
        version = state._new_version(stored, _secret_string(payload), payload.get("ClientRequestToken"))
        out["VersionId"] = version.version_id
    return out


def _describe(state: AwsState, payload: dict[str, Any]) -> dict[str, Any]:
    stored = state.find(str(payload.get("SecretId", "")))
    return {
        "ARN": stored.arn,
        "Name": stored.name,
        "Description": stored.description,
        "CreatedDate": stored.created,
        "LastChangedDate": stored.changed,
        "VersionIdsToStages": {v.version_id: list(v.stages) for v in stored.versions.values() if v.stages},
    }


ACTIONS = {
    "GetSecretValue": _get,
    "CreateSecret": _create_secret,
    "PutSecretValue": _put,
    "UpdateSecret": _update,
    "DescribeSecret": _describe,
}


def create_app(state: AwsState) -> Flask:
    app = Flask("fake-aws")

    @app.post("/")
    def api() -> Response:
        with state.lock:
            state.hits += 1
            fault = state.down or (state.faults.pop(0) if state.faults else None)
            released = state.released
        if fault == "hang":
            released.wait(state.hang_s)
            return Response(b"", 504)
        body = request.get_data()
        target = request.headers.get("X-Amz-Target", "")
        try:
            verify_sigv4(
                request.method,
                request.url,
                dict(request.headers),
                body,
                keys=state.keys,
                region=state.region,
                service=SERVICE,
            )
            if fault == "throttle":
                raise AwsError("ThrottlingException", "Rate exceeded")
            if fault == "500":
                raise AwsError("InternalServiceError", "An error occurred on the server side.", 500)
            service, _, action = target.partition(".")
            if service != SERVICE or action not in ACTIONS:
                raise AwsError("UnknownOperationException", "")
            if not request.headers.get("Content-Type", "").startswith("application/x-amz-json-1.1"):
                raise AwsError("SerializationException", "Start of structure or map found where not expected.")
            try:
                payload = json.loads(body or b"{}")
            except ValueError:
                raise AwsError("SerializationException", "The request body is not JSON.") from None
            if not isinstance(payload, dict):
                raise AwsError("SerializationException", "Start of list found where not expected.")
            with state.lock:
                state.calls.append((action, str(payload.get("SecretId") or payload.get("Name") or "")))
                out = ACTIONS[action](state, payload)
        except AwsError as exc:
            return _error(exc)
        headers = {"x-amzn-RequestId": str(uuid.uuid4())}
        if fault == "oversize":
            out["Padding"] = "x" * 2_000_000
        data = json.dumps(out).encode()
        if fault == "trickle":
            pause = state.trickle_s

            def drip() -> Iterator[bytes]:
                for i in range(len(data)):
                    if released.wait(pause):
                        return  # the test is over: stop short (the client sees a cut answer)
                    yield data[i : i + 1]

            headers["Content-Length"] = str(len(data))
            return Response(drip(), 200, headers=headers, content_type="application/x-amz-json-1.1")
        return Response(data, 200, headers=headers, content_type="application/x-amz-json-1.1")

    return app


def main() -> None:
    """Serve a fake Secrets Manager for trying `python -m ttfd --secret …` by hand."""
    from devtools.wsgi_server import RunningServer

    p = argparse.ArgumentParser(prog="python -m devtools.fake_aws", description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, default=4566)
    p.add_argument("--region", default="eu-central-1")
    args = p.parse_args()
    server = RunningServer(create_app(AwsState(region=args.region)), port=args.port)
    print(
        f"fake Secrets Manager on {server.url}; in another shell:\n"
        f"  export AWS_ENDPOINT_URL_SECRETS_MANAGER={server.url} AWS_REGION={args.region}"
        f" AWS_ACCESS_KEY_ID={TEST_ACCESS_KEY} AWS_SECRET_ACCESS_KEY={TEST_SECRET_KEY}",
        flush=True,
    )
    try:
        server.thread.join()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
