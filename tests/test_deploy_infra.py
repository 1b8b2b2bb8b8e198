"""What the AWS template holds besides the functions, read from the package `osls package` builds (the
fixture of tests/test_deploy_package.py, built once per session): settings referenced, never copied; limits
(reserved concurrency, HTTP API throttling); alarms of every kind, one per schedule; what is kept on deletion;
CloudFront's 404s (its function run here by Node); the edge header by secret version. Also the deploy tooling
around it: the required parameters, the lock file against the pins, Node's version in CI."""

from __future__ import annotations

import fnmatch
import itertools
import json
import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from croniter import croniter

from tests.test_deploy_package import (  # noqa: F401 (package_fixture: the package, built once per session)
    NODE_MIN,
    PARAMS,
    needs_osls,
    osls,
    package_fixture,
    template_of,
)
from ttfd import deploy
from ttfd.features import REGISTRY

ROOT = Path(__file__).resolve().parent.parent


def _resources(package: Path, kind: str) -> dict[str, dict[str, Any]]:
    return {k: r for k, r in template_of(package)["Resources"].items() if r["Type"] == kind}


def _functions(package: Path) -> dict[str, dict[str, Any]]:
    """Lambda properties by function name."""
    return {
        r["Properties"]["Handler"].removeprefix("functions/aws."): r["Properties"]
        for r in _resources(package, "AWS::Lambda::Function").values()
    }


def test_no_function_environment_holds_a_secret(package: Path) -> None:
    for name, props in _functions(package).items():
        env = json.dumps(props["Environment"])
        assert "resolve:secretsmanager" not in env and "resolve:ssm" not in env, name
        assert not set(props["Environment"]["Variables"]) & set(deploy.SECRETS), name
        assert props["Runtime"] == "python3.12", name


def test_every_function_has_reserved_concurrency_or_a_stated_reason(package: Path) -> None:
    functions = _functions(package)
    for spec in deploy.manifest(REGISTRY):
        reserved = functions[spec.name].get("ReservedConcurrentExecutions")
        if spec.reserved is None:
            assert reserved is None and spec.reserved_reason.strip(), spec.name
        else:
            assert reserved == spec.reserved > 0, spec.name
    assert functions["telegram_webhook"]["ReservedConcurrentExecutions"] <= deploy.TELEGRAM_MAX_CONNECTIONS


def test_the_http_api_is_throttled_per_route_and_the_webhooks_have_their_own(package: Path) -> None:
    (stage,) = _resources(package, "AWS::ApiGatewayV2::Stage").values()
    settings = stage["Properties"]["DefaultRouteSettings"]
    assert settings["ThrottlingRateLimit"] == 50 and settings["ThrottlingBurstLimit"] == 100  # the defaults
    # AWS::ApiGatewayV2::Stage RouteSettings: a map from route key to that route's settings, one per route.
    routes = {r["Properties"]["RouteKey"]: k for k, r in _resources(package, "AWS::ApiGatewayV2::Route").items()}
    per_route = stage["Properties"]["RouteSettings"]
    assert set(per_route) == set(routes)
    for key in ("POST /discord/interactions", "POST /telegram/webhook"):
        assert (per_route[key]["ThrottlingRateLimit"], per_route[key]["ThrottlingBurstLimit"]) == (500, 1000)
    assert (per_route["ANY /api/me"]["ThrottlingRateLimit"], per_route["ANY /health"]["ThrottlingRateLimit"]) == (50, 5)
    assert all(s["DetailedMetricsEnabled"] is False for s in per_route.values())
    # API Gateway refuses settings for a route it does not have yet: the stage waits for every one.
    assert set(routes.values()) <= set(stage["DependsOn"])


def test_throttled_asynchronous_invocations_are_dropped_after_a_minute(package: Path) -> None:
    configs = {
        r["Properties"]["FunctionName"]["Ref"]: r["Properties"]
        for r in _resources(package, "AWS::Lambda::EventInvokeConfig").values()
    }
    lambdas = {
        r["Properties"]["Handler"].removeprefix("functions/aws."): k
        for k, r in _resources(package, "AWS::Lambda::Function").items()
    }
    for name in REGISTRY.schedules:
        config = configs[lambdas[name]]
        assert (config["MaximumEventAgeInSeconds"], config["MaximumRetryAttempts"]) == (60, 0), name


def _alarms(package: Path) -> dict[str, dict[str, Any]]:
    return {k: a["Properties"] for k, a in _resources(package, "AWS::CloudWatch::Alarm").items()}


def test_alarms_of_every_kind(package: Path) -> None:
    alarms = _alarms(package)
    errors = alarms["FunctionErrorsAlarm"]["Metrics"][0]
    assert errors["Expression"] == "SELECT SUM(Errors) FROM SCHEMA(TTFD, function)" and errors["ReturnData"]
    assert (alarms["LambdaErrorsAlarm"]["Namespace"], alarms["LambdaErrorsAlarm"]["MetricName"]) == (
        "AWS/Lambda",
        "Errors",
    )
    throttles = [m["MetricStat"]["Metric"] for m in alarms["ThrottlesAlarm"]["Metrics"] if "MetricStat" in m]
    assert {(m["MetricName"], m["Dimensions"][0]["Value"]) for m in throttles} == {
        ("Throttles", "ttfd-prod-discord_interactions"),
        ("Throttles", "ttfd-prod-telegram_webhook"),
    }  # run_jobs' and the schedules' throttles are expected: not an alarm
    dead = alarms["DeadJobsAlarm"]
    assert (dead["Namespace"], dead["MetricName"], dead["Dimensions"]) == (
        "TTFD",
        "DeadJobsRecent",
        [{"Name": "function", "Value": "run_jobs"}],
    )
    for props in alarms.values():
        assert props["ComparisonOperator"] in ("GreaterThanThreshold", "LessThanThreshold")
        # Notifications only when an address was given: the topic and every action hang on one condition.
        assert props["AlarmActions"] == {"Fn::If": ["HasAlarmEmail", [{"Ref": "AlarmTopic"}], {"Ref": "AWS::NoValue"}]}
    (topic,) = _resources(package, "AWS::SNS::Topic").values()
    assert topic["Condition"] == "HasAlarmEmail"


def _interval_s(cron: str) -> int:
    """The shortest gap between two runs of a five-field cron, over its next hundred runs."""
    it = croniter(cron, datetime(2026, 1, 1, tzinfo=UTC))
    runs = [it.get_next(float) for _ in range(100)]
    return int(min(b - a for a, b in itertools.pairwise(runs)))


def test_one_stale_schedule_alarm_per_schedule(package: Path) -> None:
    stale = {
        a["Dimensions"][0]["Value"]: a for a in _alarms(package).values() if a.get("MetricName") == "ScheduleSuccess"
    }
    assert set(stale) == set(REGISTRY.schedules)
    for name, alarm in stale.items():
        assert alarm["Namespace"] == "TTFD" and alarm["Dimensions"] == [{"Name": "schedule", "Value": name}]
        assert (alarm["Statistic"], alarm["ComparisonOperator"], alarm["Threshold"]) == ("Sum", "LessThanThreshold", 1)
        assert alarm["TreatMissingData"] == "breaching"  # a schedule that stopped sends nothing at all
        window = alarm["Period"] * alarm["EvaluationPeriods"]
        interval = _interval_s(REGISTRY.schedules[name].cron)
        assert window >= max(600, 3 * min(interval, 86_400)), name  # a skipped tick or two is no alarm
        assert alarm["Period"] <= 86_400 and alarm["Period"] % 60 == 0, name


def test_what_is_kept_when_the_stack_goes(package: Path) -> None:
    resources = template_of(package)["Resources"]
    kept = [resources["SiteBucket"], *_resources(package, "AWS::Logs::LogGroup").values()]
    assert len(kept) > len(REGISTRY.functions)  # the bucket and a log group per function
    for resource in kept:
        assert resource["DeletionPolicy"] == resource["UpdateReplacePolicy"] == "Retain"


def test_cloudfront_errors_are_not_cached_nor_replaced(package: Path) -> None:
    config = template_of(package)["Resources"]["Site"]["Properties"]["DistributionConfig"]
    responses = {r["ErrorCode"]: r for r in config["CustomErrorResponses"]}
    assert set(responses) == {403, 404} and all(r["ErrorCachingMinTTL"] == 0 for r in responses.values())
    # A ResponsePagePath would answer the API's own 403s and 404s with the HTML page: the function does it.
    assert not any("ResponsePagePath" in r for r in responses.values())
    events = {a["EventType"] for a in config["DefaultCacheBehavior"]["FunctionAssociations"]}
    assert events == {"viewer-request", "viewer-response"}
    outputs = template_of(package)["Outputs"]
    assert outputs["SiteDistributionId"]["Value"] == {"Ref": "Site"}


def test_every_site_function_is_reached_through_cloudfront(package: Path) -> None:
    """A site function's path must go to the functions origin (which adds the edge header), not to S3."""
    config = template_of(package)["Resources"]["Site"]["Properties"]["DistributionConfig"]
    behaviors = [b for b in config["CacheBehaviors"] if b["TargetOriginId"] == "functions"]
    for spec in deploy.manifest(REGISTRY):
        if spec.kind != "site" or spec.path is None:
            continue
        path = re.sub(r"\{\w+\+\}", "some/thing", spec.path)
        assert any(fnmatch.fnmatchcase(path, b["PathPattern"]) for b in behaviors), spec.name


_HARNESS = """
%s
const cases = JSON.parse(require("fs").readFileSync(0, "utf8"));
console.log(JSON.stringify(cases.map(([uri, status]) => {
  const request = { method: "GET", uri: uri, querystring: {}, headers: {}, cookies: {} };
  const routed = handler({ version: "1.0", context: { eventType: "viewer-request" }, request: request }).uri;
  const viewer = { method: "GET", uri: uri, querystring: {}, headers: {}, cookies: {} };
  const response = { statusCode: status, statusDescription: "", headers: {}, cookies: {} };
  const back = { version: "1.0", context: { eventType: "viewer-response" }, request: viewer, response: response };
  const answered = handler(back);
  return [routed, answered.statusCode];
})));
"""


def test_the_site_paths_function_answers_404_for_what_is_not_a_page(package: Path) -> None:
    code = template_of(package)["Resources"]["SitePaths"]["Properties"]["FunctionCode"]
    cases = [
        ("/", 200, "/index.html", 200),
        ("/me", 200, "/me.html", 200),
        ("/ru/shop/", 200, "/ru/shop.html", 200),
        ("/u/someone", 200, "/u.html", 200),
        ("/leaderboard.html", 200, "/leaderboard.html", 200),
        ("/nope", 200, "/404.html", 404),  # S3 serves the 404 page; the answer says 404
        ("/en/nope", 200, "/en/404.html", 404),
        ("/nope.html", 200, "/404.html", 404),
        ("/assets/site.css", 200, "/assets/site.css", 200),
        ("/assets/gone.css", 403, "/assets/gone.css", 404),  # S3's 403 for a missing file
    ]
    run = subprocess.run(
        ["node", "-e", _HARNESS % code],
        input=json.dumps([[uri, status] for uri, status, _, _ in cases]),
        capture_output=True,
        text=True,
        check=False,
    )
    if run.returncode != 0 and "not found" in run.stderr:
        pytest.skip("node is not installed")
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout)
    assert got == [[uri, status] for _, _, uri, status in cases]


def test_the_edge_header_reads_the_edge_secret_by_version() -> None:
    needs_osls()
    params = [a for k, v in {**PARAMS, "edgeSecretVersion": "v-123"}.items() for a in ("--param", f"{k}={v}")]
    run = osls("print", "--format", "json", "--stage", "prod", *params, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    config = json.loads(run.stdout)["resources"]["Resources"]["Site"]["Properties"]["DistributionConfig"]
    (header,) = next(o for o in config["Origins"] if o["Id"] == "functions")["OriginCustomHeaders"]
    secret = "{{resolve:secretsmanager:ttfd/prod/edge:SecretString:EDGE_SECRET"
    assert header == {
        "HeaderName": "X-TTFD-Edge",
        "HeaderValue": {"Fn::If": ["HasEdgeSecretVersion", secret + "::v-123}}", secret + "}}"]},
    }


def test_a_deploy_without_the_required_settings_stops_naming_them() -> None:
    needs_osls()
    run = osls("print", "--stage", "prod", timeout=120)
    assert run.returncode != 0
    out = run.stdout + run.stderr
    for variable in ("DISCORD_PUBLIC_KEY", "DISCORD_APPLICATION_ID", "TELEGRAM_BOT_USERNAME"):
        assert f'"provider.environment.{variable}": Value not found at "param" source' in out, out


# --- requirements and tools ----------------------------------------------------------------------------------


def _pins(name: str) -> dict[str, str]:
    found = (re.match(r"([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^\s#;\\]+)", line) for line in (ROOT / name).open())
    return {m[1].lower().replace("_", "-"): m[2] for m in found if m}


def test_the_lock_pins_what_requirements_pin_with_hashes() -> None:
    lock, aws, main = _pins("requirements-aws.lock"), _pins("requirements-aws.txt"), _pins("requirements.txt")
    assert {k: main.get(k) for k in aws} == aws  # the Lambda list is requirements.txt's subset
    assert {k: lock.get(k) for k in aws} == aws, "requirements-aws.txt changed: run `make lock`"
    shared = set(lock) & set(main)
    assert {k: lock[k] for k in shared} == {k: main[k] for k in shared}  # e.g. jinja2, flask's own dependency
    text = (ROOT / "requirements-aws.lock").read_text()
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2])
    assert len(blocks) == len(lock) and all("--hash=sha256:" in b for b in blocks)
    assert "make lock" in text.split("\n", 2)[1]  # how to regenerate it


def test_the_package_installs_from_the_lock_with_hashes_for_python_312() -> None:
    text = (ROOT / "serverless.yml").read_text()
    assert "fileName: requirements-aws.lock" in text and "--require-hashes" in text
    assert "--python-version=3.12" in text and "--platform=manylinux_2_28_x86_64" in text
    assert re.search(r'^frameworkVersion: ">=3 <5"', text, re.M)
    package_json = json.loads((ROOT / "package.json").read_text())
    assert re.fullmatch(r"4\.\d+\.\d+", package_json["devDependencies"]["osls"])  # pinned exactly
    assert "serverless" not in package_json["devDependencies"]  # the unmaintained v3


def test_ci_checks_node_and_python_312_before_the_tests() -> None:
    system_deps = (ROOT / ".ci" / "system-deps").read_text()
    assert f"{NODE_MIN[0]}.{NODE_MIN[1]}" in system_deps
    assert ".ci/python312" in (ROOT / ".ci" / "run").read_text()


def test_the_python_312_lookup_refuses_what_is_not_one() -> None:
    run = subprocess.run(
        ["bash", str(ROOT / ".ci" / "python312")],
        env={"PATH": "/usr/bin:/bin", "TTFD_PYTHON312": "/bin/true"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert (run.returncode, run.stdout) == (1, "") and "TTFD_PYTHON312=/bin/true is not a Python 3.12" in run.stderr
