"""The files that list the registry's functions are written from it (`make manifests`, devtools/manifests.py):
the committed ones equal what the registry gives, and a new site route needs nothing but its feature."""

from __future__ import annotations

import difflib
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from devtools import manifests
from tests.test_deploy import _CfnLoader
from ttfd import deploy
from ttfd.cli import discord_definitions
from ttfd.features import FEATURES, REGISTRY
from ttfd.registry import Feature, Registry
from ttfd.web import Route, WebRequest, WebResponse, json_response

ROOT = Path(__file__).resolve().parent.parent


def test_the_committed_manifests_equal_what_the_registry_gives() -> None:
    for path, text in manifests.outputs(REGISTRY).items():
        committed = path.read_text() if path.exists() else ""
        if committed != text:
            diff = "".join(
                list(difflib.unified_diff(committed.splitlines(True), text.splitlines(True), "committed", "registry"))[
                    :40
                ]
            )
            pytest.fail(f"{path.relative_to(ROOT)} differs from the registry: run `make manifests`\n{diff}")
    assert manifests.main(["--check"]) == 0


def test_the_command_list_is_what_discord_is_sent() -> None:
    listed = [n for n in (ROOT / "tests" / "commands.txt").read_text().split("\n") if n and not n.startswith("#")]
    assert listed == [d["name"] for d in discord_definitions()]


def _guestbook(conn: Any, request: WebRequest) -> WebResponse:
    return json_response({"entries": []})


GUESTBOOK = Feature(
    name="guestbook",
    summary="a guest book on the website",
    routes=(Route("api_guestbook", "/api/guestbook", {"GET": _guestbook, "POST": _guestbook}, summary="sign it"),),
)


def _only_added(before: str, after: str) -> list[str]:
    """The lines `after` adds to `before`; fails if it changes or removes any."""
    added, old, new = [], before.splitlines(), after.splitlines()
    for op, a1, a2, b1, b2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        assert op in ("equal", "insert"), f"{op}: {old[a1:a2]} → {new[b1:b2]}"
        if op == "insert":
            added += new[b1:b2]
    return added


def test_a_new_site_route_touches_only_its_feature(tmp_path) -> None:
    """A feature with one new route, and nothing else edited: every manifest gains its function (main.py's
    wrapper, the Lambda and its role, the OpenAPI path, the gcloud deploy) and keeps everything else."""
    shutil.copy(ROOT / "serverless.yml", tmp_path / "serverless.yml")
    bigger = Registry((*FEATURES, GUESTBOOK))
    old, new = manifests.outputs(REGISTRY, tmp_path), manifests.outputs(bigger, tmp_path)
    added = {path.relative_to(tmp_path).as_posix(): _only_added(old[path], new[path]) for path in old}

    assert "def api_guestbook(request: Request) -> Response:" in added["main.py"]
    assert '    return handle("api_guestbook", request)' in added["main.py"]
    namespace: dict[str, Any] = {}
    exec(compile(new[tmp_path / "main.py"], "main.py", "exec"), namespace)  # noqa: S102 (our own output)
    assert callable(namespace["api_guestbook"]) and namespace["api_guestbook"].__name__ == "api_guestbook"

    doc = yaml.load(new[tmp_path / "serverless.yml"], Loader=_CfnLoader)  # noqa: S506 (CloudFormation tags)
    fn = doc["functions"]["api_guestbook"]
    assert fn["events"] == [{"httpApi": "ANY /api/guestbook"}] and fn["reservedConcurrency"] == 5
    assert fn["environment"]["TTFD_SECRET_ID"] == "ttfd/${sls:stage}/database,ttfd/${sls:stage}/site"
    assert doc["resources"]["Resources"][fn["role"]]["Type"] == "AWS::IAM::Role"
    assert fn["role"] == "ApiGuestbookRole"

    api = yaml.safe_load(new[tmp_path / "functions/site/openapi.yaml"])["paths"]["/api/guestbook"]
    assert api["get"]["operationId"] == "api_guestbook" and api["post"]["operationId"] == "api_guestbook_post"
    assert api["post"]["security"] == [{"session": [], "csrf": []}]
    assert {"401", "403", "405", "500", "503"} <= set(api["post"]["responses"])

    gcp = "\n".join(added["deploy/gcp.sh"])
    assert "gcloud functions deploy api_guestbook " in gcp and "--max-instances=5 " in gcp
    assert "ensure_account ttfd-api-guestbook " in gcp and "--ingress-settings=internal-and-gclb" in gcp
    assert added["tests/commands.txt"] == []  # no command: the list stays as it is
    assert bash_syntax_ok(new[tmp_path / "deploy/gcp.sh"])


def bash_syntax_ok(script: str) -> bool:
    return subprocess.run(["bash", "-n"], input=script, text=True, check=False).returncode == 0


def test_a_feature_documents_its_route_in_its_own_openapi_part() -> None:
    part = {
        "paths": {"/api/guestbook": {"get": {"operationId": "api_guestbook", "summary": "read it"}}},
        "schemas": {"GuestbookEntry": {"type": "object"}},
    }
    bigger = Registry((*FEATURES, GUESTBOOK))
    doc = manifests.openapi_doc(bigger, lambda f: part if f is GUESTBOOK else manifests.feature_openapi(f))
    ops = doc["paths"]["/api/guestbook"]
    assert ops["get"]["summary"] == "read it" and "post" in ops  # the undocumented method still listed
    assert "GuestbookEntry" in doc["components"]["schemas"]
    with pytest.raises(ValueError, match="no route serves"):
        manifests.openapi_doc(bigger, lambda f: {"paths": {"/api/elsewhere": {"get": {}}}} if f is GUESTBOOK else {})
    with pytest.raises(ValueError, match="does not take"):
        manifests.openapi_doc(bigger, lambda f: {"paths": {"/api/guestbook": {"delete": {}}}} if f is GUESTBOOK else {})


def test_markers_are_placed_once_where_they_belong() -> None:
    bare = (
        "service: x\nfunctions:\n  old:\n    handler: a.b\n\n  # a comment\n  other:\n    handler: c.d\n"
        "resources:\n  Resources:\n    Bucket:\n      Type: AWS::S3::Bucket\n"
    )
    once = manifests.serverless_yml(REGISTRY, bare)
    assert "old:" not in once and once.count(manifests.BEGIN_FUNCTIONS) == 1
    assert once.index(manifests.BEGIN_ROLES) < once.index("    Bucket:")
    assert once.startswith("service: x\n") and once.endswith("      Type: AWS::S3::Bucket\n")
    assert manifests.serverless_yml(REGISTRY, once) == once
    with pytest.raises(ValueError, match="one"):
        manifests.serverless_yml(REGISTRY, once + manifests.END_FUNCTIONS + "\n")


def test_every_function_states_its_limit() -> None:
    for spec in deploy.manifest(REGISTRY):
        assert spec.reserved is not None or spec.reserved_reason, spec.name
    assert deploy.gcp_account("auth_discord_callback") == "ttfd-auth-discord-callback"
    with pytest.raises(ValueError):
        deploy.gcp_account("a_function_name_far_too_long_for_gcp")
