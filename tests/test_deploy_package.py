"""The AWS package as `osls package` builds it (offline: osls and its Python requirements plugin from
package.json, a Python 3.12 for pip, no AWS account): it builds without warnings, cfn-lint passes on its
CloudFormation, it holds every function of the manifest with its route or schedule and nothing else, its
bundled requirements are Lambda's python3.12 builds, and its handlers — run by a Python 3.12 from the unpacked
zip alone, one process per function as Lambda runs them, configured with exactly the environment the template
gives each function and reading their secrets from a fake Secrets Manager — answer real Lambda events against
a real Postgres the way functions-framework does, and keep answering 240 concurrent requests through
PgBouncer 1.18 in transaction mode with the default settings."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from functions_framework import create_app

from devtools import simulate
from tests import test_pgbouncer
from tests.aws_fixtures import Aws, aws_fixture, aws_server_fixture  # noqa: F401 (fixtures)
from tests.conftest import APP_ID, PUBLIC_KEY, TG_SECRET, encode, interaction, sign
from tests.lambda_events import body_of, http_event, scheduled_event
from tests.site_helpers import configure_site
from ttfd import deploy
from ttfd.features import REGISTRY
from ttfd.ui.reply import GENERIC_ERROR

ROOT = Path(__file__).resolve().parent.parent
pooler = test_pgbouncer.pgbouncer  # the fixture: Debian's PgBouncer 1.18 in transaction mode, (host, port)
OSLS = ROOT / "node_modules" / ".bin" / "osls"
NODE_MIN = (20, 19)  # osls' engines: ^20.19 || ^22.13 || >=24
STAGE = "prod"
# The plain settings a deploy passes (README, "Deploy"); the template must carry them to every function.
PARAMS = {
    "discordPublicKey": PUBLIC_KEY,
    "discordApplicationId": APP_ID,
    "telegramBotUsername": "ttfd_test_bot",
    "defaultLocale": "en",  # what the functions-framework side of the comparison runs with
}


def node_version() -> tuple[int, int] | None:
    try:
        out = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    major, minor = out.strip().lstrip("v").split(".")[:2]
    return int(major), int(minor)


def python312() -> str | None:
    """Lambda's Python: $TTFD_PYTHON312, python3.12 on PATH or pyenv's (.ci/python312 looks them up)."""
    found = subprocess.run(["bash", str(ROOT / ".ci" / "python312")], capture_output=True, text=True, check=False)
    return found.stdout.strip() if found.returncode == 0 else None


def osls(*args: str, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    """osls offline: no AWS credentials, telemetry and notifications off."""
    env = {
        **os.environ,
        "TTFD_PYTHON312": python312() or "",
        "SLS_TELEMETRY_DISABLED": "1",
        "SLS_NOTIFICATIONS_MODE": "off",
        "AWS_ACCESS_KEY_ID": "",  # prove that no account is needed
        "AWS_SECRET_ACCESS_KEY": "",
    }
    return subprocess.run(
        [str(OSLS), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def needs_osls() -> None:
    if not OSLS.exists():
        pytest.skip("osls is not installed: run `npm ci` (make test does when npm exists)")
    version = node_version()
    if version is None or version < NODE_MIN:
        pytest.skip(f"osls needs Node >= {NODE_MIN[0]}.{NODE_MIN[1]}; found {version}")
    if python312() is None:
        pytest.skip("no Python 3.12 (Lambda's runtime) to build and run the package: see .ci/python312")


_built: list[Path] = []  # one package per session, also for the modules that import the fixture


@pytest.fixture(name="package", scope="session")
def package_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    needs_osls()
    if _built:
        yield _built[0]
        return
    out = tmp_path_factory.mktemp("sls") / "package"
    params = [a for k, v in PARAMS.items() for a in ("--param", f"{k}={v}")]
    started = time.monotonic()
    run = osls("package", "--stage", STAGE, "--package", str(out), *params)
    log = run.stdout + run.stderr
    assert run.returncode == 0, log
    assert "warning" not in log.lower() and "deprecat" not in log.lower(), log
    size = (out / "ttfd.zip").stat().st_size
    print(f"osls package: {time.monotonic() - started:.0f} s, ttfd.zip {size / 1e6:.1f} MB")
    _built.append(out)
    yield out


def template_of(package: Path) -> dict[str, Any]:
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


def _lambdas(package: Path) -> dict[str, dict[str, Any]]:
    """Each function's Lambda properties, by function name."""
    resources = template_of(package)["Resources"]
    return {
        r["Properties"]["Handler"].removeprefix("functions/aws."): r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::Function"
    }


def test_every_function_is_in_the_template_with_its_route_or_schedule(package: Path) -> None:
    resources = template_of(package)["Resources"]
    lambdas = _lambdas(package)
    routes = {r["Properties"]["RouteKey"] for r in resources.values() if r["Type"] == "AWS::ApiGatewayV2::Route"}
    rules = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Events::Rule"]
    assert not any(r["Type"] == "AWS::Lambda::Url" for r in resources.values())
    specs = deploy.manifest(REGISTRY)
    assert set(lambdas) == {s.name for s in specs}
    for spec in specs:
        props = lambdas[spec.name]
        assert props["Runtime"] == "python3.12" and props["MemorySize"] == spec.memory_mb
        assert props["Timeout"] == spec.timeout_s
        env = props["Environment"]["Variables"]
        assert env["TTFD_SECRET_ID"] == ",".join(deploy.secret_name(STAGE, g) for g in spec.secrets_on("aws"))
        assert env["DISCORD_PUBLIC_KEY"] == PUBLIC_KEY and env["TELEGRAM_BOT_USERNAME"] == "ttfd_test_bot"
        assert env["DISCORD_CLIENT_ID"] == env["DISCORD_APPLICATION_ID"] == APP_ID  # the client id defaults to it
        assert env.get("WAKE_FUNCTION") == ("ttfd-prod-run_jobs" if spec.wakes else None), spec.name
        if spec.cron:
            assert any(r["ScheduleExpression"] == deploy.aws_schedule(spec.cron) for r in rules), spec.name
    expected = {f"{'POST' if s.kind == 'http' else 'ANY'} {s.path}" for s in specs if s.path}
    assert routes == expected  # scheduled functions have no route


def pyc_of(source: str) -> str:
    """Where Python 3.12 looks for a source's bytecode: `a/b.py` -> `a/__pycache__/b.cpython-312.pyc`."""
    folder, _, name = source.rpartition("/")
    return f"{folder + '/' if folder else ''}__pycache__/{name.removesuffix('.py')}.cpython-312.pyc"


def test_the_zip_holds_the_functions_and_their_requirements_only(package: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(package / "ttfd.zip") as z:
        names = z.namelist()
        z.extractall(tmp_path)
    tops = {n.split("/", 1)[0] for n in names}
    for banned in ("devtools", "tests", "bench", "cleaner", "static_site", "sql", "node_modules", ".ttfd", ".env"):
        assert banned not in tops, banned
    assert "deploy" not in tops  # the deploy plugin and the Google Cloud script are tooling
    assert not [n for n in names if re.search(r"\.(key|env)$|dev\.env", n)]
    assert not [n for n in names if b"PRIVATE KEY-----" in (tmp_path / n).read_bytes()]  # CA bundles are fine
    # pip's compiled requirements come along, built by Python 3.12 for Lambda's; ours is compiled from the zip's
    # own sources at packaging (devtools/bytecode.py), never taken from a working tree's __pycache__: exactly one
    # unchecked-hash .pyc per source, holding that source's hash as Python 3.12 computes it.
    compiled = {m[1] for n in names if (m := re.search(r"\.(cpython-\d+)(?:\.opt-\d)?\.pyc$", n))}
    assert compiled == {"cpython-312"}, compiled
    mine = ("main.py", "__pycache__/main.", "ttfd/", "functions/", "webhooks/")
    sources = sorted(n for n in names if n.endswith(".py") and n.startswith(mine))
    ours = {n for n in names if n.endswith(".pyc") and n.startswith(mine)}
    assert ours == {pyc_of(n) for n in sources}, sorted(ours ^ {pyc_of(n) for n in sources})
    py = python312()
    assert py is not None
    hash_of = (
        "import sys, importlib.util as u; [print(u.source_hash(open(p, 'rb').read()).hex()) for p in sys.argv[1:]]"
    )
    run = subprocess.run([py, "-c", hash_of, *sources], cwd=tmp_path, capture_output=True, text=True, check=True)
    for source, want in zip(sources, run.stdout.split(), strict=True):
        header = (tmp_path / pyc_of(source)).read_bytes()[:16]
        assert int.from_bytes(header[4:8], "little") == 0b01, source  # hash-based, the source never checked
        assert header[8:16].hex() == want, source
    # Lambda's python3.12 runs on Amazon Linux 2023 (glibc 2.34): no extension may need a newer glibc.
    wheels = [p.read_text() for p in tmp_path.glob("*.dist-info/WHEEL")]
    tags = {t.split(": ", 1)[1] for w in wheels for t in w.splitlines() if t.startswith("Tag: ")}
    too_new = [t for t in tags if (m := re.search(r"manylinux_2_(\d+)", t)) and int(m[1]) > 34]
    assert not too_new and any("cp312" in t or "abi3" in t for t in tags), tags
    assert {"main.py", "functions/aws.py", "webhooks/telegram/webhook.py", "ttfd/features/__init__.py"} <= set(names)
    dev_env = ROOT / ".ttfd" / "dev.env"  # the dev keys on this machine must not have leaked into it
    secrets = (
        [line.split("=", 1)[1] for line in dev_env.read_text().splitlines() if "=" in line] if dev_env.exists() else []
    )
    for path in tmp_path.rglob("*.py"):
        text = path.read_text(errors="replace")
        assert not any(s and len(s) > 12 and s in text for s in secrets), path


# --- the unpacked handlers, run as Lambda runs them ----------------------------------------------------------


@dataclass
class Unpacked:
    code: Path
    python: str  # a Python 3.12 virtualenv's, with nothing installed
    driver: Path
    lambdas: dict[str, dict[str, Any]]


@pytest.fixture(scope="module")
def unpacked(package: Path, tmp_path_factory: pytest.TempPathFactory) -> Unpacked:
    where = tmp_path_factory.mktemp("lambda")
    with zipfile.ZipFile(package / "ttfd.zip") as z:
        z.extractall(where / "code")
    py = python312()
    assert py is not None
    subprocess.run([py, "-m", "venv", "--without-pip", str(where / "venv")], check=True)
    driver = where / "driver.py"
    driver.write_text((ROOT / "tests" / "lambda_driver.py").read_text())
    return Unpacked(where / "code", str(where / "venv" / "bin" / "python"), driver, _lambdas(package))


def _publish_secrets(aws: Aws, settings: dict[str, str]) -> None:
    """Each group's settings (those this test has) as its own secret, as `deploy aws create-secret` makes them:
    every group, an empty one too (a store without the VPN panel still has the vpn_panel secret)."""
    for group, names in deploy.SECRET_GROUPS.items():
        if "aws" not in deploy.GROUP_CLOUDS.get(group, ("aws",)):
            continue
        aws.state.put(deploy.secret_name(STAGE, group), {n: settings[n] for n in names if settings.get(n)})


def _lambda_env(unpacked: Unpacked, function: str, aws: Aws, extra: dict[str, str]) -> dict[str, str]:
    """What Lambda gives the function: the template's variables (SITE_URL's default resolved), the AWS
    variables (pointing at the fake), and nothing of this process's settings."""
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "DATABASE_URL", "TTFD_SECRET_ID")
        and k not in deploy.SECRETS
        and k not in deploy.PLAIN
        and k not in ("DEFAULT_LOCALE", "DAY_TZ", "TTFD_PREPARED_STATEMENTS", "TTFD_POOL_SIZE")
    }
    template = {k: v for k, v in unpacked.lambdas[function]["Environment"]["Variables"].items() if isinstance(v, str)}
    return {
        **base,
        **template,
        "SITE_URL": "http://localhost",
        "AWS_LAMBDA_FUNCTION_NAME": f"ttfd-{STAGE}-{function}",  # set by Lambda: the site fails closed on it
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": aws.url,
        "AWS_REGION": aws.state.region,
        **extra,
        "PYTHONPATH": str(unpacked.code),
        "PYTHONNOUSERSITE": "1",
    }


@dataclass
class Instance:
    where: dict[str, Any]  # where flask, psycopg and our code came from, the Python version
    answers: list[dict[str, Any]]
    stdout: str  # on Lambda, the log: metric lines (EMF)
    stderr: str


def _invoke(unpacked: Unpacked, function: str, events: list[dict[str, Any]], env: dict[str, str]) -> Instance:
    """One Lambda instance of `function` serving `events` one after another."""
    out = unpacked.driver.parent / f"answers-{uuid.uuid4().hex}.json"
    run = subprocess.run(
        [unpacked.python, str(unpacked.driver), str(out)],
        input=json.dumps([{"function": function, "event": e} for e in events]),
        env=env,
        cwd=unpacked.driver.parent,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-5000:]
    where, *answers = json.loads(out.read_text())
    return Instance(where, answers, run.stdout, run.stderr)


EDGE = {"X-TTFD-Edge": "edge-secret-for-the-package-test"}  # what CloudFront adds to the site's requests


def _settings_of_this_test() -> dict[str, str]:
    return {k: os.environ[k] for k in deploy.SECRETS if os.environ.get(k)} | {
        "ACTIONS_SECRET": "actions-secret-for-the-package-test",
        "EDGE_SECRET": EDGE["X-TTFD-Edge"],
    }


def test_handlers_from_the_unpacked_zip_answer_like_functions_framework(
    unpacked: Unpacked, app_env, fresh_db, aws: Aws, monkeypatch
) -> None:
    configure_site(monkeypatch, app_env)
    settings = _settings_of_this_test()
    _publish_secrets(aws, settings)
    fakes = {k: os.environ[k] for k in ("DISCORD_API_BASE", "TELEGRAM_API_BASE", "DISCORD_OAUTH_BASE")}
    # The functions-framework side below reads the same settings from this process's environment.
    monkeypatch.setenv("ACTIONS_SECRET", settings["ACTIONS_SECRET"])

    ping = encode({"id": "1", "application_id": "1", "type": 1, "token": "t", "version": 1})
    daily = encode(interaction("/daily", user=4242))
    tg_headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
    start = encode(simulate.telegram_update("/start", user=8080, update_id=700001))
    tg_daily = encode(simulate.telegram_update("/daily", user=8080, update_id=700002))
    discord = "POST /discord/interactions"
    calls: dict[str, list[dict[str, Any]]] = {
        "discord_interactions": [
            http_event("POST", "/discord/interactions", headers=sign(ping), body=ping, route=discord),
            http_event("POST", "/discord/interactions", headers=sign(daily), body=daily, route=discord),
        ],
        "telegram_webhook": [
            http_event("POST", "/telegram/webhook", headers=tg_headers, body=start),
            http_event("POST", "/telegram/webhook", headers=tg_headers, body=tg_daily),
        ],
        "api_leaderboard": [
            http_event("GET", "/api/leaderboard", query="board=coins&page=1", headers=EDGE),
            http_event("GET", "/api/leaderboard", query="board=coins&page=1"),  # its own URL, not through the CDN
        ],
        "api_me": [http_event("GET", "/api/me", headers=EDGE)],
        "auth_discord_login": [http_event("GET", "/auth/discord/login", headers=EDGE)],
        **{name: [scheduled_event(f"ttfd-prod-{name}")] for name in REGISTRY.schedules},
    }
    runs = {}
    # One process per function, as Lambda runs them; the players' commands first, then what reads their results.
    first = ["discord_interactions", "telegram_webhook"]
    for phase in (first, [f for f in calls if f not in first]):
        with ThreadPoolExecutor(max_workers=4) as pool:
            done = pool.map(lambda f: _invoke(unpacked, f, calls[f], _lambda_env(unpacked, f, aws, fakes)), phase)
            runs.update(zip(phase, done, strict=True))
    for function, run in runs.items():
        for module in ("flask", "psycopg", "aws"):
            assert run.where[module].startswith(str(unpacked.code)), run.where  # from the package, nothing else
        assert run.where["python"].startswith("3.12."), run.where
        assert run.where["root_handlers_after"] == 1, function  # Lambda's handler adopted, not a second one added
        assert "settings not read" not in run.stderr, (function, run.stderr[-3000:])
        # Every invocation measured in CloudWatch's Embedded Metric Format, on stdout (Lambda's log).
        emf = [json.loads(line) for line in run.stdout.splitlines() if line.startswith('{"_aws"')]
        measured = [m for m in emf if m.get("function") == function and "Invocations" in m]
        assert len(measured) == len(calls[function]), (function, run.stdout[-2000:])
        assert all(m["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "TTFD" for m in emf)
    answers = {f: r.answers for f, r in runs.items()}
    assert aws.state.calls_of("GetSecretValue")  # the settings came from the secrets, read at run time

    assert json.loads(body_of(answers["discord_interactions"][0])) == {"type": 1}
    ff_discord = create_app("discord_interactions", "main.py").test_client()
    on_ff = ff_discord.post("/", data=daily, headers=sign(daily)).get_json()  # a redelivery
    assert json.loads(body_of(answers["discord_interactions"][1])) == on_ff
    ff_tg = create_app("telegram_webhook", "main.py").test_client()
    for answer, body in zip(answers["telegram_webhook"], (start, tg_daily), strict=True):
        assert json.loads(body_of(answer)) == ff_tg.post("/", data=body, headers=tg_headers).get_json()
    board = create_app("api_leaderboard", "main.py").test_client().get("/?board=coins&page=1").get_json()
    assert json.loads(body_of(answers["api_leaderboard"][0])) == board and board["entries"]
    assert answers["api_leaderboard"][1]["statusCode"] == 403
    assert answers["api_me"][0]["statusCode"] == 401
    login = answers["auth_discord_login"][0]
    assert login["statusCode"] == 302 and login["cookies"], login
    for name in REGISTRY.schedules:
        assert "refused" not in answers[name][0] and "unavailable" not in answers[name][0], (name, answers[name])
    with psycopg.connect(fresh_db) as c:
        paid = c.execute("SELECT count(*) FROM daily_claims").fetchone()
    assert paid == (2,)  # one per person: the functions-framework calls were redeliveries


INSTANCES = 24  # Lambda instances of discord_interactions at once, each serving its requests one by one
PER_INSTANCE = 10


def test_240_concurrent_requests_through_pgbouncer_with_the_default_settings(
    unpacked: Unpacked, pooler: tuple[str, int], app_env, fresh_db, aws: Aws
) -> None:
    """What failed 213 times in 240 with prepared statements on: the package's own handlers, each instance
    with its own connection, through PgBouncer 1.18 in transaction mode — and no setting changed."""
    host, port = pooler
    info = psycopg.conninfo.conninfo_to_dict(fresh_db)
    pooled = psycopg.conninfo.make_conninfo("", **{**info, "host": host, "port": str(port)})
    _publish_secrets(aws, {**_settings_of_this_test(), "DATABASE_URL": pooled})
    fakes = {k: os.environ[k] for k in ("DISCORD_API_BASE", "TELEGRAM_API_BASE")}
    route = "POST /discord/interactions"

    def instance(n: int) -> list[dict[str, Any]]:
        events = []
        for i in range(PER_INSTANCE):
            user = 90_000 + n * 100 + i % 5  # five players per instance, each /daily once then /profile
            body = encode(interaction("/daily" if i < 5 else "/profile", user=user))
            events.append(http_event("POST", "/discord/interactions", headers=sign(body), body=body, route=route))
        env = _lambda_env(unpacked, "discord_interactions", aws, fakes)
        assert "TTFD_PREPARED_STATEMENTS" not in env  # the defaults
        return _invoke(unpacked, "discord_interactions", events, env).answers

    with ThreadPoolExecutor(max_workers=INSTANCES) as pool:
        answers = [a for batch in pool.map(instance, range(INSTANCES)) for a in batch]
    assert len(answers) == INSTANCES * PER_INSTANCE == 240
    failed = [
        a
        for a in answers
        if a["statusCode"] != 200 or GENERIC_ERROR in body_of(a).decode() or "busy" in body_of(a).decode().lower()
    ]
    assert not failed, f"{len(failed)} of 240 failed: {failed[:3]}"
    claims = [json.loads(body_of(a))["data"].get("content", "") for a in answers]
    assert sum("+100 coins" in c for c in claims) == INSTANCES * 5
    with psycopg.connect(fresh_db) as c:
        assert c.execute("SELECT count(*) FROM daily_claims").fetchone() == (INSTANCES * 5,)
