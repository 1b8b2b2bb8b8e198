"""Deploying: serverless.yml against the registry's manifest, the Lambda adapter giving the answers
functions-framework gives, scheduled functions refusing unauthenticated callers, the Google Cloud script,
and (tests/test_deploy_package.py) the real `serverless package` output."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from functions_framework import create_app

from devtools import simulate
from functions import aws
from tests.conftest import SCHEDULER_HEADERS, TG_SECRET, encode, interaction, run_schedule, sign
from tests.lambda_events import Context, body_of, cookies_of, http_event, scheduled_event
from tests.site_helpers import authorize_at_fake, configure_site
from ttfd import deploy
from ttfd.core import db, jobs
from ttfd.features import REGISTRY

ROOT = Path(__file__).resolve().parent.parent


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (!Ref, !Sub, !GetAtt …) read as plain values."""


_CfnLoader.add_multi_constructor(
    "!",
    lambda loader, suffix, node: (
        loader.construct_sequence(node)
        if isinstance(node, yaml.SequenceNode)
        else loader.construct_mapping(node)
        if isinstance(node, yaml.MappingNode)
        else loader.construct_scalar(node)
    ),
)


def _serverless() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.load((ROOT / "serverless.yml").read_text(), Loader=_CfnLoader)  # noqa: S506
    return doc


# --- the manifest and serverless.yml ------------------------------------------------------------------


def test_serverless_yml_deploys_exactly_the_manifest() -> None:
    functions = _serverless()["functions"]
    specs = {s.name: s for s in deploy.manifest(REGISTRY)}
    assert set(functions) == set(specs), f"missing {set(specs) - set(functions)}, extra {set(functions) - set(specs)}"
    for name, spec in specs.items():
        fn = functions[name]
        assert fn["handler"] == f"functions/aws.{name}", name
        assert (fn["memorySize"], fn["timeout"]) == (spec.memory_mb, spec.timeout_s), f"{name}: size differs"
        events = fn.get("events", [])
        if spec.kind == "scheduled":
            assert events == [{"schedule": deploy.aws_schedule(spec.cron or "")}], f"{name}: schedule differs"
            assert fn["maximumRetryAttempts"] == 0, f"{name}: the next tick catches up, no retries"
        else:
            method = "POST" if spec.kind == "http" else "ANY"
            assert events == [{"httpApi": f"{method} {spec.path}"}], f"{name}: route differs"


def test_every_function_has_reserved_concurrency_its_secrets_and_its_own_role() -> None:
    doc = _serverless()
    functions, resources = doc["functions"], doc["resources"]["Resources"]
    specs = deploy.manifest(REGISTRY)
    for spec in specs:
        fn = functions[spec.name]
        assert fn["reservedConcurrency"] == spec.reserved, spec.name
        # Names, read at run time: never the values (no resolve:secretsmanager in any environment).
        ids = fn["environment"]["TTFD_SECRET_ID"].split(",")
        assert ids == [f"ttfd/${{sls:stage}}/{g}" for g in spec.secrets_on("aws")], spec.name
        assert "resolve:" not in json.dumps(fn)
        statements = resources[fn["role"]]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        allowed = {a for st in statements for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])}
        assert allowed == {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"} | {
            "secretsmanager:GetSecretValue"
        } | ({"lambda:InvokeFunction"} if spec.wakes else set()), spec.name
        read = next(st["Resource"] for st in statements if st["Action"] == "secretsmanager:GetSecretValue")
        assert [r.rsplit("/", 1)[1] for r in read] == [f"{g}-??????" for g in spec.secrets_on("aws")], spec.name
        logs = next(st["Resource"] for st in statements if "logs:PutLogEvents" in st["Action"])
        assert all(f"-{spec.name}:*" in r for r in logs), spec.name
    assert functions["telegram_webhook"]["reservedConcurrency"] == deploy.TELEGRAM_MAX_CONNECTIONS
    assert functions["run_jobs"]["reservedConcurrency"] == 2
    assert {s.reserved for s in specs if s.kind == "scheduled" and s.name != "run_jobs"} == {1}
    assert functions["discord_interactions"]["provisionedConcurrency"] == "${param:discordWarm}"
    assert functions["telegram_webhook"]["provisionedConcurrency"] == "${param:telegramWarm}"
    # Every secret a function reads belongs to a group, and every group is read by some function.
    assert {g for s in specs for g in s.secrets} == set(deploy.SECRET_GROUPS)
    assert deploy.secret_name("prod", "edge") == "ttfd/prod/edge"
    with pytest.raises(ValueError):
        deploy.secret_name("prod", "nope")


def test_the_package_holds_only_what_runs() -> None:
    patterns = _serverless()["package"]["patterns"]
    assert patterns[0] == "!**"  # nothing unless listed
    included = {p for p in patterns if not p.startswith("!")}
    assert included == {"main.py", "functions/**", "webhooks/**", "ttfd/**"}


def test_no_secret_is_written_in_serverless_yml() -> None:
    env = _serverless()["provider"]["environment"]
    assert "TTFD_CONFIG" not in env  # settings are read at run time, each function its own (TTFD_SECRET_ID)
    assert "WAKE_FUNCTION" not in env  # only the functions that may queue work name run_jobs (and may invoke it)
    assert "iam" not in _serverless()["provider"]  # each function has its own role
    text = (ROOT / "serverless.yml").read_text()
    for name in deploy.SECRETS:  # no secret setting is given a value here
        assert not re.search(rf"^\s*{name}\s*:", text, re.MULTILINE), name


def test_eventbridge_schedules() -> None:
    assert deploy.aws_schedule("* * * * *") == "rate(1 minute)"
    assert deploy.aws_schedule("17 * * * *") == "cron(17 * * * ? *)"
    assert deploy.aws_schedule("0 4 1 * *") == "cron(0 4 1 * ? *)"
    with pytest.raises(ValueError):
        deploy.aws_schedule("0 4 * * 1")


def test_the_site_paths_function_knows_every_page() -> None:
    code = _serverless()["resources"]["Resources"]["SitePaths"]["Properties"]["FunctionCode"]
    pages = json.loads(re.search(r"var PAGES = (\[.*?\]);", code).group(1))  # type: ignore[union-attr]
    templates = {p.stem for p in (ROOT / "static_site" / "templates").glob("*.html") if not p.stem.startswith("_")}
    assert set(pages) == templates - {"404"}


def test_aws_requirements_pin_what_requirements_txt_pins() -> None:
    def pins(name: str) -> dict[str, str]:
        lines = (ROOT / name).read_text().splitlines()
        found = (re.match(r"([A-Za-z0-9_.\[\]-]+)==([^\s#]+)", line) for line in lines)
        return {m[1].lower(): m[2] for m in found if m}

    aws_pins, main_pins = pins("requirements-aws.txt"), pins("requirements.txt")
    assert {k: main_pins.get(k) for k in aws_pins} == aws_pins


def test_the_google_cloud_script_deploys_every_function_and_schedule() -> None:
    script = deploy.gcp_script(REGISTRY)
    assert subprocess.run(["bash", "-n"], input=script, text=True, check=False).returncode == 0
    assert script.split("\n")[:1] == ["#!/usr/bin/env bash"] and "\nset -euo pipefail\n" in script
    assert "artifactregistry.googleapis.com" in script and "gcloud services enable" in script
    for spec in deploy.manifest(REGISTRY):
        block = script.split(f"\n# {spec.name}\n", 1)[1].split("\n\n", 1)[0]
        account = deploy.gcp_account(spec.name)
        assert f"--entry-point={spec.name} " in block and "--gen2" in block and "--runtime=python312" in block
        assert '--project="$PROJECT" --region="$REGION"' in block and '--env-vars-file="$ENV_FILE"' in block
        assert ("--no-allow-unauthenticated" in block) == (spec.kind == "scheduled"), spec.name
        assert ("--ingress-settings=internal-and-gclb" in block) == (spec.kind == "site"), spec.name
        assert f"--max-instances={spec.reserved} " in block, spec.name
        assert f'--service-account="{account}@$PROJECT.iam.gserviceaccount.com"' in block
        assert f"ensure_account {account} " in block
        # Exactly its own settings, each its own secret, readable by its own account only.
        secrets = re.search(r"--set-secrets=(\S+)", block).group(1).split(",")  # type: ignore[union-attr]
        settings = spec.settings_on("gcp")
        assert secrets == [f"{s}={deploy.gcp_secret(s)}:latest" for s in settings], spec.name
        granted = re.findall(rf"^grant_secret {account} (\S+)$", block, re.MULTILINE)
        assert granted == [deploy.gcp_secret(s) for s in settings], spec.name
        assert not set(settings) & set(deploy.AWS_ONLY)
        if spec.cron:
            assert f"--schedule='{spec.cron}'" in block and "--oidc-service-account-email" in block
            # Safe to run again: the job is updated when it exists, created when it does not.
            assert f"gcloud scheduler jobs describe ttfd-{spec.name} " in block
            assert f"gcloud scheduler jobs update http ttfd-{spec.name} " in block and "--update-headers=" in block
            assert f"gcloud scheduler jobs create http ttfd-{spec.name} " in block and "--headers=" in block
            assert "SCHEDULER_SECRET=" in block
    assert "DISCORD_BOT_TOKEN=ttfd-discord-bot-token:latest" in script
    assert "google-cloudfunctions" not in (ROOT / "serverless.yml").read_text()
    ignored = (ROOT / ".gcloudignore").read_text().split()
    assert {"devtools/", "tests/", "bench/", "cleaner/", "node_modules/", ".venv/", ".ttfd/"} <= set(ignored)


def test_the_google_cloud_script_runs_against_a_recording_gcloud(tmp_path) -> None:
    """The committed script under bash with a gcloud that records its calls: a first run creates the
    accounts and scheduler jobs, a rerun (everything exists) updates instead of failing under set -e."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls"
    state = tmp_path / "exists"
    (bin_dir / "gcloud").write_text(
        "#!/usr/bin/env bash\n"
        f'echo "$*" >> {log}\n'
        'for arg in "$@"; do\n'  # what a function's plain environment would be
        '  case "$arg" in --env-vars-file=*)\n'
        '    file="${arg#--env-vars-file=}"\n'
        f'    cat "$file" > {tmp_path}/env.yaml; echo "$file" > {tmp_path}/env.path\n'
        "  esac\n"
        "done\n"
        'case "$*" in\n'
        '  "functions describe"*) echo https://fn.example ;;\n'
        '  "secrets versions access"*) echo sched-secret ;;\n'
        f'  "iam service-accounts describe"*|"scheduler jobs describe"*) [ -e {state} ] || exit 1 ;;\n'
        "esac\n"
        "exit 0\n"
    )
    (bin_dir / "gcloud").chmod(0o755)
    # A value with a comma, a space, a quote and an = stays one value: no variable can be added through it.
    odd = "TTFD, the bot's name=x,FORWARDED_HOPS=9"
    plain = {**dict.fromkeys(deploy.PLAIN, "x"), "TELEGRAM_BOT_USERNAME": odd}
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "TMPDIR": str(tmp_path), "PROJECT": "p1", **plain}
    script = ROOT / "deploy" / "gcp.sh"

    def run() -> list[str]:
        log.write_text("")
        done = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        return log.read_text().splitlines()

    first = run()
    written = yaml.safe_load((tmp_path / "env.yaml").read_text())
    assert written == {**plain, "DEFAULT_LOCALE": "ru", "DAY_TZ": "UTC", "FORWARDED_HOPS": "2", "TTFD_POOL_SIZE": "4"}
    assert not Path((tmp_path / "env.path").read_text().strip()).exists()  # the script's temporary file is gone
    schedules = len(REGISTRY.schedules)
    assert sum(c.startswith("scheduler jobs create http") for c in first) == schedules
    assert sum(c.startswith("iam service-accounts create") for c in first) == len(REGISTRY.functions) + 1
    state.write_text("")
    again = run()
    assert sum(c.startswith("scheduler jobs update http") for c in again) == schedules
    assert not any(c.startswith(("scheduler jobs create", "iam service-accounts create")) for c in again)
    missing = subprocess.run(["bash", str(script)], env={**env, "PROJECT": ""}, capture_output=True, text=True)
    assert missing.returncode != 0 and "set PROJECT" in missing.stderr
    two_lines = subprocess.run(
        ["bash", str(script)], env={**env, "SITE_URL": "https://a\nB=c"}, capture_output=True, text=True
    )
    assert two_lines.returncode != 0 and "SITE_URL must be one line" in two_lines.stderr
    with pytest.raises(ValueError, match="allowed"):
        deploy.gcp_script(REGISTRY, project='p"; rm -rf ~; "')


def test_the_operator_cli_prints_both_clouds(capsys) -> None:
    from ttfd.cli import main

    assert main(["deploy", "gcp", "--print"]) == 0
    assert capsys.readouterr().out == (ROOT / "deploy" / "gcp.sh").read_text()
    assert main(["deploy", "gcp", "--print", "--project", "p", "--scheduler-account", "s@p.iam"]) == 0
    out = capsys.readouterr().out
    assert 'PROJECT="${PROJECT:-p}"' in out and 'SCHEDULER_SA="${SCHEDULER_SA:-s@p.iam}"' in out


# --- scheduled functions over HTTP ----------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"X-TTFD-Scheduler-Secret": "wrong"}, {"X-TTFD-Scheduler-Secret": ""}])
def test_scheduled_functions_refuse_callers_without_the_secret(app_env, fresh_db, headers) -> None:
    with db.transaction() as conn:
        jobs.enqueue(conn, "telegram.send", {"chat_id": 1, "text": "hi"})
    for name in REGISTRY.schedules:
        resp = create_app(name, "main.py").test_client().post("/", headers=headers)
        assert resp.status_code == 401 and resp.mimetype == "application/problem+json", name
    assert _count(fresh_db, "SELECT count(*) FROM jobs WHERE status = 'pending'") == 1  # nothing ran
    assert run_schedule("run_jobs").get_json()["done"] == 1


def test_scheduled_functions_refuse_everyone_when_no_secret_is_configured(app_env, monkeypatch) -> None:
    from ttfd.core.settings import get_settings

    monkeypatch.delenv("SCHEDULER_SECRET")
    get_settings.cache_clear()
    assert create_app("cleanup", "main.py").test_client().post("/", headers=SCHEDULER_HEADERS).status_code == 401


def test_the_dev_scheduler_sends_the_secret(app_env, fresh_db, tmp_path) -> None:
    from devtools.server import create_app as dev_app
    from devtools.server import fire_in_process

    with db.transaction() as conn:
        jobs.enqueue(conn, "telegram.send", {"chat_id": 1, "text": "hi"})
    fire_in_process(dev_app(tmp_path))("run_jobs")
    assert _count(fresh_db, "SELECT count(*) FROM jobs WHERE status = 'done'") == 1


def _count(url: str, query: str) -> int:
    with psycopg.connect(url) as c:
        row = c.execute(query).fetchone()
        assert row is not None
        return int(row[0])


# --- the Lambda adapter gives functions-framework's answers ----------------------------------------------


def _lambda(name: str, event: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = getattr(aws, name)(event, Context())
    return response


def _ff(name: str) -> Any:
    return create_app(name, "main.py").test_client()


def test_every_function_has_a_lambda_handler() -> None:
    for name in REGISTRY.functions:
        assert callable(getattr(aws, name)), name
    with pytest.raises(AttributeError):
        aws.not_a_function  # noqa: B018


def test_discord_on_lambda_answers_as_on_functions_framework(app_env, fresh_db) -> None:
    ping = encode({"id": "1", "application_id": "1", "type": 1, "token": "t", "version": 1})
    route = "POST /discord/interactions"
    got = _lambda(
        "discord_interactions", http_event("POST", "/discord/interactions", headers=sign(ping), body=ping, route=route)
    )
    assert got["statusCode"] == 200 and json.loads(body_of(got)) == {"type": 1}
    for command in ("/help", "/daily", "/coinflip bet:100000000 side:heads"):
        body = encode(interaction(command, user=77))
        event = http_event("POST", "/discord/interactions", headers=sign(body), body=body, route=route)
        on_lambda = json.loads(body_of(_lambda("discord_interactions", event)))
        on_ff = _ff("discord_interactions").post("/", data=body, headers=sign(body)).get_json()  # a redelivery
        assert on_lambda == on_ff, command
    assert _count(fresh_db, "SELECT count(*) FROM daily_claims") == 1  # the redelivery paid nothing
    forged = http_event("POST", "/discord/interactions", headers=sign(ping, ts="1"), body=ping, route=route)
    assert _lambda("discord_interactions", forged)["statusCode"] == 401


def test_telegram_on_lambda_answers_as_on_functions_framework(app_env, fresh_db) -> None:
    headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
    for n, text in enumerate(("/start", "/daily", "/coinflip 10 heads")):
        body = encode(simulate.telegram_update(text, user=9001, update_id=600_000 + n))
        event = http_event("POST", "/telegram/webhook", headers=headers, body=body, route="POST /telegram/webhook")
        got = _lambda("telegram_webhook", event)
        again = _ff("telegram_webhook").post("/", data=body, headers=headers)
        assert got["statusCode"] == again.status_code == 200
        assert json.loads(body_of(got)) == again.get_json(), text
    assert _count(fresh_db, "SELECT count(*) FROM games") == 1
    wrong = http_event(
        "POST", "/telegram/webhook", headers={**headers, "X-Telegram-Bot-Api-Secret-Token": "x"}, body=body
    )
    assert _lambda("telegram_webhook", wrong)["statusCode"] == 401


def test_a_website_visit_through_lambda(app_env, fresh_db, monkeypatch) -> None:
    configure_site(monkeypatch, app_env, site_url="https://ttfd.example")
    start = _lambda("auth_discord_login", http_event("GET", "/auth/discord/login", query="next=/me"))
    assert start["statusCode"] == 302
    nonce = cookies_of(start)["ttfd_oauth"]
    back = authorize_at_fake(start["headers"]["location"], app_env.discord_url, 555020)
    query = back.split("?", 1)[1]
    done = _lambda(
        "auth_discord_callback", http_event("GET", "/auth/discord/callback", query=query, cookies={"ttfd_oauth": nonce})
    )
    assert done["statusCode"] == 302 and done["headers"]["location"] == "/me"
    jar = cookies_of(done)
    session = {"ttfd_session": jar["ttfd_session"], "csrf_token": jar["csrf_token"]}
    me = _lambda("api_me", http_event("GET", "/api/me", cookies=session))
    assert me["statusCode"] == 200 and json.loads(body_of(me))["stats"]["xp"] == 0
    origin = {"Origin": "https://ttfd.example", "Content-Type": "application/json"}
    patch = json.dumps({"bio": "from Lambda"}).encode()
    refused = _lambda("api_me", http_event("PATCH", "/api/me", cookies=session, headers=origin, body=patch))
    assert refused["statusCode"] == 403  # no CSRF header
    ok = _lambda(
        "api_me",
        http_event(
            "PATCH", "/api/me", cookies=session, headers={**origin, "X-CSRF-Token": session["csrf_token"]}, body=patch
        ),
    )
    assert ok["statusCode"] == 200 and json.loads(body_of(ok))["appearance"]["bio"] == "from Lambda"
    uid = json.loads(body_of(ok))["id"]
    card = _lambda("api_profile", http_event("GET", f"/api/profile/{uid}/card.png", route="ANY /api/profile/{ref+}"))
    assert card["statusCode"] == 200 and card["isBase64Encoded"] and body_of(card).startswith(b"\x89PNG")
    assert body_of(card) == _ff("api_profile").get(f"/api/profile/{uid}/card.png").data
    missing = _lambda("api_profile", http_event("GET", "/api/profile/nobody-here", route="ANY /api/profile/{ref+}"))
    assert missing["statusCode"] == 404 and missing["headers"]["content-type"] == "application/problem+json"
    wrong = _lambda("api_leaderboard", http_event("DELETE", "/api/leaderboard"))
    assert wrong["statusCode"] == 405 and wrong["headers"]["allow"] == "GET"
    board = _lambda("api_leaderboard", http_event("GET", "/api/leaderboard", query="board=xp&page=1"))
    assert json.loads(body_of(board)) == _ff("api_leaderboard").get("/api/leaderboard?board=xp&page=1").get_json()


def test_schedules_on_lambda_run_only_for_eventbridge(app_env, fresh_db) -> None:
    with db.transaction() as conn:
        jobs.enqueue(conn, "telegram.send", {"chat_id": 1, "text": "hi"})
    assert "refused" in _lambda("run_jobs", {"source": "someone", "detail-type": "Scheduled Event"})
    assert "refused" in _lambda("run_jobs", http_event("POST", "/run_jobs"))
    assert _count(fresh_db, "SELECT count(*) FROM jobs WHERE status = 'pending'") == 1
    assert _lambda("run_jobs", scheduled_event())["done"] == 1
    assert set(_lambda("cleanup", scheduled_event())) >= {"idempotency_keys", "sessions"}


def test_with_an_edge_secret_the_site_serves_only_requests_through_the_cdn(app_env, monkeypatch) -> None:
    from ttfd.core.settings import get_settings

    monkeypatch.setenv("EDGE_SECRET", "edge-secret-0123456789")
    get_settings.cache_clear()
    direct = _lambda("api_leaderboard", http_event("GET", "/api/leaderboard"))
    assert direct["statusCode"] == 403
    forged = _lambda("auth_discord_login", http_event("GET", "/auth/discord/login", headers={"X-TTFD-Edge": "guess"}))
    assert forged["statusCode"] == 403
    via_cdn = http_event("GET", "/api/leaderboard", headers={"X-TTFD-Edge": "edge-secret-0123456789"})
    assert _lambda("api_leaderboard", via_cdn)["statusCode"] == 200
    cloudfront = _serverless()["resources"]["Resources"]["Site"]["Properties"]["DistributionConfig"]
    origin = next(o for o in cloudfront["Origins"] if o["Id"] == "functions")
    [header] = origin["OriginCustomHeaders"]
    assert header["HeaderName"] == "X-TTFD-Edge"
    # The edge group's secret, which the site's functions read at run time (deploy.SECRET_GROUPS).
    site = deploy.secret_name("${sls:stage}", "edge")
    values = header["HeaderValue"] if isinstance(header["HeaderValue"], list) else [header["HeaderValue"]]
    resolved = [v for v in values if isinstance(v, str) and v.startswith("{{resolve:")]
    assert resolved and all(
        v.startswith(f"{{{{resolve:secretsmanager:{site}:SecretString:EDGE_SECRET") for v in resolved
    )
