"""The AWS package as `serverless package` builds it (offline: Serverless Framework v3 and its Python
requirements plugin from package.json, no AWS account): it builds without warnings, cfn-lint passes on its
CloudFormation, it holds every function of the manifest with its route or schedule and nothing else, and
its handlers — imported in a fresh virtualenv from the unpacked zip alone — answer real Lambda events against
a real Postgres the way functions-framework does."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from functions_framework import create_app

from devtools import simulate
from tests.conftest import TG_SECRET, encode, interaction, sign
from tests.lambda_events import body_of, http_event, scheduled_event
from tests.site_helpers import configure_site
from ttfd import deploy
from ttfd.features import REGISTRY

ROOT = Path(__file__).resolve().parent.parent
SERVERLESS = ROOT / "node_modules" / ".bin" / "serverless"


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    if not SERVERLESS.exists():
        pytest.skip("Serverless Framework is not installed: run `npm ci` (make test does when npm exists)")
    out = tmp_path_factory.mktemp("sls") / "package"
    env = {
        **os.environ,
        "TTFD_PYTHON": sys.executable,
        "SLS_TELEMETRY_DISABLED": "1",
        "SLS_NOTIFICATIONS_MODE": "off",
        "AWS_ACCESS_KEY_ID": "",  # prove that no account is needed
        "AWS_SECRET_ACCESS_KEY": "",
    }
    run = subprocess.run(
        [str(SERVERLESS), "package", "--package", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    log = run.stdout + run.stderr
    assert run.returncode == 0, log
    assert "Warning" not in log and "deprecat" not in log.lower(), log
    yield out


def _template(package: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((package / "cloudformation-template-update-stack.json").read_text())
    return doc


def test_cfn_lint_passes(package: Path) -> None:
    lint = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), str(package / "cloudformation-template-update-stack.json")],
        cwd=ROOT,  # .cfnlintrc
        capture_output=True,
        text=True,
        check=False,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_every_function_is_in_the_template_with_its_route_or_schedule(package: Path) -> None:
    resources = _template(package)["Resources"]
    lambdas = {
        r["Properties"]["Handler"]: r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::Function"
    }
    routes = {r["Properties"]["RouteKey"] for r in resources.values() if r["Type"] == "AWS::ApiGatewayV2::Route"}
    rules = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Events::Rule"]
    assert not any(r["Type"] == "AWS::Lambda::Url" for r in resources.values())
    specs = deploy.manifest(REGISTRY)
    assert set(lambdas) == {f"functions/aws.{s.name}" for s in specs}
    for spec in specs:
        props = lambdas[f"functions/aws.{spec.name}"]
        assert props["Runtime"] == "python3.11" and props["MemorySize"] == spec.memory_mb
        assert props["Timeout"] == spec.timeout_s
        config = props["Environment"]["Variables"]["TTFD_CONFIG"]
        assert config == "{{resolve:secretsmanager:ttfd/prod/config:SecretString}}"
        if spec.cron:
            assert any(r["ScheduleExpression"] == deploy.aws_schedule(spec.cron) for r in rules), spec.name
    assert props["Environment"]["Variables"]["WAKE_FUNCTION"] == "ttfd-prod-run_jobs"
    policies = json.dumps([r for r in resources.values() if r["Type"] == "AWS::IAM::Role"])
    assert '"lambda:InvokeFunction"' in policies and ":function:ttfd-prod-run_jobs" in policies
    expected = {f"{'POST' if s.kind == 'http' else 'ANY'} {s.path}" for s in specs if s.path}
    assert routes == expected  # scheduled functions have no route


def test_the_zip_holds_the_functions_and_their_requirements_only(package: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(package / "ttfd.zip") as z:
        names = z.namelist()
        z.extractall(tmp_path)
    tops = {n.split("/", 1)[0] for n in names}
    for banned in ("devtools", "tests", "bench", "cleaner", "static_site", "sql", "node_modules", ".ttfd", ".env"):
        assert banned not in tops, banned
    assert not [n for n in names if re.search(r"\.(key|env)$|dev\.env", n)]
    assert not [n for n in names if b"PRIVATE KEY-----" in (tmp_path / n).read_bytes()]  # CA bundles are fine
    # pip's compiled requirements may come along; our own bytecode may not (it could be stale).
    assert not [n for n in names if "__pycache__" in n and n.split("/")[0] in ("ttfd", "functions", "webhooks")]
    assert {"main.py", "functions/aws.py", "webhooks/telegram/webhook.py", "ttfd/features/__init__.py"} <= set(names)
    dev_env = ROOT / ".ttfd" / "dev.env"  # the dev keys on this machine must not have leaked into it
    secrets = (
        [line.split("=", 1)[1] for line in dev_env.read_text().splitlines() if "=" in line] if dev_env.exists() else []
    )
    for path in tmp_path.rglob("*.py"):
        text = path.read_text(errors="replace")
        assert not any(s and len(s) > 12 and s in text for s in secrets), path


def test_handlers_from_the_unpacked_zip_answer_like_functions_framework(
    package: Path, tmp_path: Path, app_env, fresh_db, monkeypatch
) -> None:
    configure_site(monkeypatch, app_env)
    code = tmp_path / "code"
    with zipfile.ZipFile(package / "ttfd.zip") as z:
        z.extractall(code)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    shutil.copy(ROOT / "tests" / "lambda_driver.py", tmp_path / "driver.py")

    ping = encode({"id": "1", "application_id": "1", "type": 1, "token": "t", "version": 1})
    daily = encode(interaction("/daily", user=4242))
    tg_headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
    start = encode(simulate.telegram_update("/start", user=8080, update_id=700001))
    tg_daily = encode(simulate.telegram_update("/daily", user=8080, update_id=700002))
    discord = "POST /discord/interactions"
    calls = [
        (
            "discord_interactions",
            http_event("POST", "/discord/interactions", headers=sign(ping), body=ping, route=discord),
        ),
        (
            "discord_interactions",
            http_event("POST", "/discord/interactions", headers=sign(daily), body=daily, route=discord),
        ),
        ("telegram_webhook", http_event("POST", "/telegram/webhook", headers=tg_headers, body=start)),
        ("telegram_webhook", http_event("POST", "/telegram/webhook", headers=tg_headers, body=tg_daily)),
        ("api_leaderboard", http_event("GET", "/api/leaderboard", query="board=coins&page=1")),
        ("api_me", http_event("GET", "/api/me")),
        ("auth_discord_login", http_event("GET", "/auth/discord/login")),
        *[(name, scheduled_event(f"ttfd-prod-{name}")) for name in REGISTRY.schedules],
    ]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    run = subprocess.run(
        [str(venv / "bin" / "python"), str(tmp_path / "driver.py")],
        input=json.dumps([{"function": f, "event": e} for f, e in calls]),
        env={**env, "PYTHONPATH": str(code), "PYTHONNOUSERSITE": "1"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    where, *answers = json.loads(run.stdout)
    for module in ("flask", "psycopg", "aws"):
        assert where[module].startswith(str(code)), where  # imported from the package, nothing else
    assert where["root_handlers_after"] == 1  # Lambda's handler adopted, not a second one added
    by_call = dict(zip(range(len(calls)), answers, strict=True))

    assert json.loads(body_of(by_call[0])) == {"type": 1}
    ff_discord = create_app("discord_interactions", "main.py").test_client()
    assert json.loads(body_of(by_call[1])) == ff_discord.post("/", data=daily, headers=sign(daily)).get_json()
    ff_tg = create_app("telegram_webhook", "main.py").test_client()
    for i, body in ((2, start), (3, tg_daily)):
        assert json.loads(body_of(by_call[i])) == ff_tg.post("/", data=body, headers=tg_headers).get_json()
    board = create_app("api_leaderboard", "main.py").test_client().get("/?board=coins&page=1").get_json()
    assert json.loads(body_of(by_call[4])) == board and board["entries"]
    assert by_call[5]["statusCode"] == 401
    assert by_call[6]["statusCode"] == 302 and by_call[6]["cookies"], (by_call[6], run.stderr[-3000:])
    for i, name in enumerate(REGISTRY.schedules, start=7):
        assert "refused" not in by_call[i] and "unavailable" not in by_call[i], (name, by_call[i])
    with psycopg.connect(fresh_db) as c:
        paid = c.execute("SELECT count(*) FROM daily_claims").fetchone()
    assert paid == (2,)  # one per person: the functions-framework calls were redeliveries
