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
    ids = "ttfd/${sls:stage}/database,ttfd/${sls:stage}/edge,ttfd/${sls:stage}/session"
    assert fn["environment"] == {"TTFD_SECRET_ID": ids, "WAKE_FUNCTION": "${self:service}-${sls:stage}-run_jobs"}
    assert doc["resources"]["Resources"][fn["role"]]["Type"] == "AWS::IAM::Role"
    assert fn["role"] == "ApiGuestbookRole"
    # Its own throttling bucket, the site's.
    throttle = doc["resources"]["extensions"]["HttpApiStage"]["Properties"]["RouteSettings"]["ANY /api/guestbook"]
    assert throttle["ThrottlingRateLimit"] == "${param:apiRate, 50}"

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
    assert "\n  old:" not in once and once.count(manifests.BEGIN_FUNCTIONS) == 1
    assert once.index(manifests.BEGIN_ROLES) < once.index(manifests.BEGIN_ALARMS) < once.index("    Bucket:")
    assert once.startswith("service: x\n") and "      Type: AWS::S3::Bucket\n" in once
    doc = yaml.load(once, Loader=_CfnLoader)  # noqa: S506 (CloudFormation tags)
    assert set(doc["resources"]) == {"Resources", "extensions"} and "ThrottlesAlarm" in doc["resources"]["Resources"]
    assert manifests.serverless_yml(REGISTRY, once) == once
    with pytest.raises(ValueError, match="one"):
        manifests.serverless_yml(REGISTRY, once + manifests.END_FUNCTIONS + "\n")


def test_every_function_states_its_limit() -> None:
    for spec in deploy.manifest(REGISTRY):
        assert spec.reserved is not None or spec.reserved_reason, spec.name
    assert deploy.gcp_account("auth_discord_callback") == "ttfd-auth-discord-callback"
    with pytest.raises(ValueError):
        deploy.gcp_account("a_function_name_far_too_long_for_gcp")


def _route_keys() -> set[str]:
    """The HTTP API's routes, as serverless.yml's functions declare them."""
    functions = yaml.load((ROOT / "serverless.yml").read_text(), Loader=_CfnLoader)["functions"]  # noqa: S506
    return {e["httpApi"] for f in functions.values() for e in f["events"] if "httpApi" in e}


def test_every_route_has_its_own_throttling_and_the_webhooks_the_most() -> None:
    """Per-route buckets, one per route the API has (no more, no fewer): anonymous site traffic, however
    much, cannot use up what Discord's and Telegram's webhooks get."""
    doc = yaml.load((ROOT / "serverless.yml").read_text(), Loader=_CfnLoader)  # noqa: S506
    stage = doc["resources"]["extensions"]["HttpApiStage"]["Properties"]
    routes = stage["RouteSettings"]
    assert set(routes) == _route_keys()

    def limits(settings: dict[str, Any]) -> tuple[int, int]:
        # "${param:name, default}": the default, as a deploy without that parameter uses it
        rate, burst = (
            int(settings[k].rsplit(",", 1)[1].strip(" }")) for k in ("ThrottlingRateLimit", "ThrottlingBurstLimit")
        )
        assert settings["DetailedMetricsEnabled"] is False  # a route's settings replace the default ones
        return rate, burst

    webhooks = {limits(routes[k]) for k in ("POST /discord/interactions", "POST /telegram/webhook")}
    assert webhooks == {(500, 1000)}
    site = [limits(v) for k, v in routes.items() if k.startswith(("ANY /api/", "ANY /auth/"))]
    assert site and max(site) < min(webhooks)
    assert limits(routes["ANY /health"]) < min(site)
    assert limits(stage["DefaultRouteSettings"]) == (50, 100)
    for key, spec in ((s.route_key, s) for s in deploy.manifest(REGISTRY) if s.route_key):
        rate_param = deploy.THROTTLES[spec.throttle or "site"][0]
        assert routes[key]["ThrottlingRateLimit"].startswith(f"${{param:{rate_param},"), key


def test_woken_and_waking_functions() -> None:
    """run_jobs' wake-ups and ticks are dropped after a minute when throttled (not kept for six hours); only
    the functions that may queue work name run_jobs and may invoke it; only webhooks' throttles alarm."""
    doc = yaml.load((ROOT / "serverless.yml").read_text(), Loader=_CfnLoader)  # noqa: S506
    functions, resources = doc["functions"], doc["resources"]["Resources"]
    specs = {s.name: s for s in deploy.manifest(REGISTRY)}
    for name, spec in specs.items():
        fn = functions[name]
        assert fn.get("maximumEventAge") == (60 if spec.kind == "scheduled" else None), name
        assert ("WAKE_FUNCTION" in fn["environment"]) == spec.wakes, name
    assert 60 <= deploy.MAX_EVENT_AGE_S <= 21600  # osls' (and Lambda's) bounds
    assert specs["discord_interactions"].wakes and specs["telegram_webhook"].wakes and specs["api_shop_buy"].wakes
    assert specs["auth_discord_callback"].wakes  # a login may create an account
    assert not specs["health"].wakes and not specs["api_leaderboard"].wakes and not specs["run_jobs"].wakes
    alarm = resources["ThrottlesAlarm"]["Properties"]
    watched = [m["MetricStat"]["Metric"]["Dimensions"][0]["Value"] for m in alarm["Metrics"] if "MetricStat" in m]
    assert watched == [
        "${self:service}-${sls:stage}-discord_interactions",
        "${self:service}-${sls:stage}-telegram_webhook",
    ]
    assert [m["Expression"] for m in alarm["Metrics"] if m.get("ReturnData")] == ["SUM(METRICS())"]


def test_health_reads_only_what_it_needs() -> None:
    health = next(s for s in deploy.manifest(REGISTRY) if s.name == "health")
    assert health.secrets == ("database", "edge", "health") and not health.wakes
    assert set(deploy.SECRET_GROUPS["edge"]) == {"EDGE_SECRET", "EDGE_SECRET_PREVIOUS"}
    assert set(deploy.SECRET_GROUPS["session"]) == {"SESSION_SECRET", "SESSION_SECRET_PREVIOUS"}
    assert "site" not in deploy.SECRET_GROUPS
