"""The operator CLI reads the functions' settings (--env-file, --secret), invites the Discord bot with the
permissions the features use, points Telegram at the webhook, and keeps the deployed secrets — against the
fake Secrets Manager, Discord and Telegram; every mistake is one line and exit code 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from devtools.fake_aws import TEST_ACCESS_KEY, TEST_SECRET_KEY
from tests.aws_fixtures import Aws, aws_fixture, aws_server_fixture, secret_of  # noqa: F401 (fixtures by name)
from tests.conftest import APP_ID, TG_TOKEN
from ttfd import deploy
from ttfd.cli import BOT_PERMISSIONS, CLIError, invite_url, parse_env_file
from ttfd.cli import main as cli
from ttfd.ui.commands import PERMISSION_NAMES

ROOT = Path(__file__).resolve().parent.parent
# What an operator's shell may hold that the CLI must not see in these runs.
_SCRUBBED = ("AWS_", "TTFD_SECRET", "DISCORD_", "TELEGRAM_", "SESSION_", "EDGE_", "SCHEDULER_", "ACTIONS_")


def run(args: list[str], env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m ttfd …` in a fresh process, as an operator runs it."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED) and k != "DATABASE_URL"}
    return subprocess.run(
        [sys.executable, "-m", "ttfd", *args],
        env={**base, **env},
        cwd=ROOT,
        input=stdin or "",
        capture_output=True,
        text=True,
        timeout=60,
    )


def one_line_error(done: subprocess.CompletedProcess[str], *words: str) -> None:
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in done.stderr, done.stderr
    for w in words:
        assert w in lines[0], lines[0]


def aws_env(aws: Aws) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": aws.url,
        "AWS_ACCESS_KEY_ID": TEST_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": TEST_SECRET_KEY,
    }


@pytest.fixture
def restored_environ() -> Any:
    """In-process runs change os.environ (--env-file); put it back."""
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)
    from ttfd.core.settings import get_settings

    get_settings.cache_clear()


# --- --env-file --------------------------------------------------------------------------------------------


def test_env_files_are_read_as_data_not_by_a_shell() -> None:
    text = """
# a comment
export A=plain value   # trailing comment
B='single $HOME \\n kept'
C="double \\"quoted\\" \\\\ line\\nbreak"
D="spans
two lines"
E=
F=a#b
G = spaced
H="$(rm -rf /)"
"""
    assert parse_env_file(text) == {
        "A": "plain value",
        "B": "single $HOME \\n kept",
        "C": 'double "quoted" \\ line\nbreak',
        "D": "spans\ntwo lines",
        "E": "",
        "F": "a#b",
        "G": "spaced",
        "H": "$(rm -rf /)",
    }
    for bad, where in (("not a setting", "f:1"), ("X='open", "f:1"), ("OK=1\n1X=2", "f:2"), ("Y='a' b", "f:1")):
        with pytest.raises(CLIError, match=where):
            parse_env_file(bad, "f")


# --- discord invite ----------------------------------------------------------------------------------------


def test_discord_invite_names_every_permission_it_asks_for(tmp_path, restored_environ, capsys) -> None:
    env_file = tmp_path / "prod.env"
    env_file.write_text(f"DISCORD_APPLICATION_ID={APP_ID}\n")
    assert cli(["--env-file", str(env_file), "discord", "invite"]) == 0
    out = capsys.readouterr().out.splitlines()
    url = urlsplit(out[0])
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert (url.scheme, url.netloc, url.path) == ("https", "discord.com", "/oauth2/authorize")
    assert query == {"client_id": APP_ID, "scope": "bot applications.commands", "permissions": "1099780156454"}
    assert "scope=bot+applications.commands" in out[0]
    total = 0
    for bit, name, _why in BOT_PERMISSIONS:
        assert bit & (bit - 1) == 0 and not total & bit  # one bit each, none twice
        total |= bit
        assert any(line.strip().startswith(f"{name} ") and f"({bit})" in line for line in out), name
    assert total == 1099780156454
    # The bits the moderation features check on the invoker are the ones the bot asks for itself.
    named = {str(m) for b, m in PERMISSION_NAMES.items() if b in (1 << 1, 1 << 2, 1 << 13, 1 << 28)}
    assert named == {"Kick Members", "Ban Members", "Manage Messages", "Manage Roles"}
    assert "guild_id=5" in invite_url(APP_ID, "5") and "disable_guild_select=true" in invite_url(APP_ID, "5")


def test_discord_invite_without_an_application_id_is_one_line() -> None:
    one_line_error(run(["discord", "invite"], {}), "DISCORD_APPLICATION_ID")


# --- telegram set-webhook ------------------------------------------------------------------------------------


def test_set_webhook_defaults_to_the_functions_concurrency_and_reminds_of_privacy(app_env, capsys) -> None:
    assert cli(["telegram", "set-webhook", "--url", "https://example.test/telegram/webhook"]) == 0
    (call,) = app_env.telegram.calls_of("setWebhook")
    assert call["max_connections"] == deploy.TELEGRAM_MAX_CONNECTIONS
    out = capsys.readouterr().out
    assert "/setprivacy" in out and "Disable" in out


def test_set_webhook_refuses_a_secret_telegram_would_refuse(tmp_path) -> None:
    env_file = tmp_path / "bad.env"
    env_file.write_text(f"TELEGRAM_BOT_TOKEN={TG_TOKEN}\nTELEGRAM_WEBHOOK_SECRET='no spaces allowed'\n")
    done = run(["--env-file", str(env_file), "telegram", "set-webhook", "--url", "https://x.test/telegram/webhook"], {})
    one_line_error(done, "TELEGRAM_WEBHOOK_SECRET", "A-Z, a-z, 0-9, _ or -")
    assert "no spaces allowed" not in done.stderr
    one_line_error(run(["telegram", "set-webhook", "--url", "http://x.test/hook"], {}), "https://")


# --- deploy aws create-secret / put-setting, and --secret --------------------------------------------------------


def test_create_secret_then_every_command_reads_the_deployed_settings(aws: Aws, app_env, tmp_path) -> None:
    env_file = tmp_path / "prod.env"
    env_file.write_text(
        "DATABASE_URL=postgresql://u:p@db.example/ttfd\n"
        "DISCORD_BOT_TOKEN=discord-token-from-file\n"
        f"TELEGRAM_BOT_TOKEN={TG_TOKEN}\n"
        "SITE_URL=https://ttfd.example\n"
        "UNRELATED=1\n"
    )
    created = run(["deploy", "aws", "create-secret", "--stage", "prod", "--region", aws.state.region,
                   "--from-env-file", str(env_file)], aws_env(aws))  # fmt: skip
    assert created.returncode == 0, created.stderr
    aws_groups = [g for g in deploy.SECRET_GROUPS if "aws" in deploy.GROUP_CLOUDS.get(g, ("aws",))]
    assert sorted(aws.state.secrets) == sorted(deploy.secret_name("prod", g) for g in aws_groups)
    site = {
        k: v for key in ("EDGE_SECRET", "SESSION_SECRET") for k, v in aws.state.current(secret_of(key, "prod")).items()
    }
    assert set(site) == {"SESSION_SECRET", "EDGE_SECRET"} and len(site["EDGE_SECRET"]) >= 43
    assert aws.state.current("ttfd/prod/discord") == {"DISCORD_BOT_TOKEN": "discord-token-from-file"}
    hook = aws.state.current("ttfd/prod/telegram_webhook")["TELEGRAM_WEBHOOK_SECRET"]
    stored = [v for name in aws.state.secrets for v in aws.state.current(name).values()]
    for value in stored:  # names and versions are printed, values never
        assert value not in created.stdout and value not in created.stderr
    assert "generated SESSION_SECRET" in created.stdout and "generated EDGE_SECRET" in created.stdout
    assert "NOT SET DISCORD_CLIENT_SECRET" in created.stdout
    assert "not stored (no secret holds them): UNRELATED" in created.stdout
    assert "plain settings, given to the deploy as parameters, not stored: SITE_URL" in created.stdout

    again = run(["deploy", "aws", "create-secret", "--stage", "prod", "--from-env-file", str(env_file)],
                {**aws_env(aws), "AWS_REGION": aws.state.region})  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert again.stdout.count(": unchanged") == len(aws_groups)  # generated keys are kept, not made anew
    assert aws.state.current("ttfd/prod/telegram_webhook")["TELEGRAM_WEBHOOK_SECRET"] == hook

    # The operator's commands read the same settings: set-webhook sends the secret's TELEGRAM_WEBHOOK_SECRET.
    local = tmp_path / "local.env"
    local.write_text(f"TELEGRAM_API_BASE={app_env.telegram_url}\n")
    for key in ("TELEGRAM_WEBHOOK_SECRET", "TELEGRAM_BOT_TOKEN"):
        os.environ.pop(key)  # app_env's; the subprocess gets none anyway
    done = run(["--env-file", str(local), "--secret", "ttfd/prod/*", "--region", aws.state.region, "telegram",
                "set-webhook", "--url", "https://ttfd.example/telegram/webhook"], aws_env(aws))  # fmt: skip
    assert done.returncode == 0, done.stderr
    (call,) = app_env.telegram.calls_of("setWebhook")
    assert call["secret_token"] == hook and call["max_connections"] == deploy.TELEGRAM_MAX_CONNECTIONS
    assert done.stderr.startswith("settings: ") and hook not in done.stderr + done.stdout
    # The shell's own variable wins over the secret, as a function's own does, and the CLI says so.
    shadowed = run(["--secret", "ttfd/prod/discord", "--region", aws.state.region, "discord", "invite"],
                   {**aws_env(aws), "DISCORD_BOT_TOKEN": "mine", "DISCORD_APPLICATION_ID": APP_ID})  # fmt: skip
    assert shadowed.returncode == 0 and "your environment overrides DISCORD_BOT_TOKEN" in shadowed.stderr


def test_put_setting_rotates_the_edge_secret_with_an_overlap(aws: Aws) -> None:
    edge, session = secret_of("EDGE_SECRET", "prod"), secret_of("SESSION_SECRET", "prod")
    aws.state.put(edge, {"EDGE_SECRET": "old-edge-value-0123"})
    aws.state.put(session, {"SESSION_SECRET": "s" * 40})
    env = {**aws_env(aws), "AWS_REGION": aws.state.region}
    done = run(["deploy", "aws", "put-setting", "EDGE_SECRET", "--stage", "prod"], env, stdin="new-edge-value-4567\n")
    assert done.returncode == 0, done.stderr
    current = aws.state.current(edge)
    assert current["EDGE_SECRET"] == "new-edge-value-4567"
    assert current["EDGE_SECRET_PREVIOUS"] == "old-edge-value-0123"
    stages = aws.state.secrets[edge].staged("AWSCURRENT")
    assert stages is not None and f"VersionId: {stages.version_id}" in done.stdout
    assert f"--param edgeSecretVersion={stages.version_id}" in done.stdout
    assert "put-setting EDGE_SECRET_PREVIOUS ''" in done.stdout
    assert "new-edge" not in done.stdout + done.stderr and "old-edge" not in done.stdout + done.stderr
    ended = run(["deploy", "aws", "put-setting", "EDGE_SECRET_PREVIOUS", "", "--stage", "prod"], env)
    assert ended.returncode == 0 and "EDGE_SECRET_PREVIOUS cleared" in ended.stdout
    assert "EDGE_SECRET_PREVIOUS" not in aws.state.current(edge)
    made = run(["deploy", "aws", "put-setting", "SESSION_SECRET", "--generate", "--stage", "prod"], env)
    assert made.returncode == 0, made.stderr
    after = aws.state.current(session)
    assert after["SESSION_SECRET_PREVIOUS"] == "s" * 40 and len(after["SESSION_SECRET"]) >= 43
    assert after["SESSION_SECRET"] not in made.stdout


def test_operator_mistakes_are_one_line_with_exit_code_2(aws: Aws, tmp_path) -> None:
    env = {**aws_env(aws), "AWS_REGION": aws.state.region}
    one_line_error(run(["deploy", "aws", "put-setting", "SITE_URL", "--stage", "prod"], env, "x"), "not a secret")
    one_line_error(run(["deploy", "aws", "put-setting", "NOPE", "--stage", "prod"], env, "x"), "EDGE_SECRET")
    one_line_error(run(["deploy", "aws", "put-setting", "DISCORD_BOT_TOKEN", "--stage", "none"], env, "x"),
                   "ttfd/none/discord does not exist", "create-secret")  # fmt: skip
    one_line_error(run(["deploy", "aws", "put-setting", "EDGE_SECRET", "--stage", "prod"], env, ""), "no value")
    one_line_error(
        run(["deploy", "aws", "put-setting", "TELEGRAM_WEBHOOK_SECRET", "--stage", "prod"], env, "has space"),
        "TELEGRAM_WEBHOOK_SECRET",
    )
    one_line_error(run(["--secret", "ttfd/gone/x", "discord", "invite"], env), "ResourceNotFoundException")
    one_line_error(run(["--env-file", str(tmp_path / "missing.env"), "migrate"], {}), "missing.env")
    (tmp_path / "broken.env").write_text("GOOD=1\nthis is not dotenv\n")
    one_line_error(run(["--env-file", str(tmp_path / "broken.env"), "migrate"], {}), "broken.env:2")
    no_keys = {"AWS_ENDPOINT_URL_SECRETS_MANAGER": aws.url, "HOME": str(tmp_path)}
    one_line_error(run(["deploy", "aws", "create-secret", "--stage", "p", "--region", "eu-central-1"], no_keys),
                   "no AWS credentials")  # fmt: skip
    one_line_error(run(["deploy", "aws", "create-secret", "--stage", "p"], {**aws_env(aws), "HOME": str(tmp_path)}),
                   "no AWS region")  # fmt: skip
    wrong = {**env, "AWS_SECRET_ACCESS_KEY": "not-it"}
    one_line_error(run(["deploy", "aws", "create-secret", "--stage", "p"], wrong), "InvalidSignatureException")


def test_a_profile_with_static_keys_is_enough(aws: Aws, tmp_path) -> None:
    (tmp_path / "credentials").write_text(
        f"[ops]\naws_access_key_id = {TEST_ACCESS_KEY}\naws_secret_access_key = {TEST_SECRET_KEY}\n"
    )
    (tmp_path / "config").write_text(f"[profile ops]\nregion = {aws.state.region}\n")
    env = {
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": aws.url,
        "AWS_PROFILE": "ops",
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
    }
    done = run(["deploy", "aws", "put-setting", "DISCORD_BOT_TOKEN", "--stage", "prod"], env, "t")
    one_line_error(done, "ttfd/prod/discord does not exist")  # signed and answered: the keys were used
    aws.state.put("ttfd/prod/discord", {})
    assert run(["deploy", "aws", "put-setting", "DISCORD_BOT_TOKEN", "--stage", "prod"], env, "t").returncode == 0
    assert aws.state.current("ttfd/prod/discord") == {"DISCORD_BOT_TOKEN": "t"}


# --- what the review found: rotations that would drop a value in use, clears, input no command can use ----------


def test_a_second_rotation_waits_for_the_first_to_end(aws: Aws) -> None:
    edge = secret_of("EDGE_SECRET", "prod")
    aws.state.put(edge, {"EDGE_SECRET": "edge-one-0123456789"})
    env = {**aws_env(aws), "AWS_REGION": aws.state.region}
    first = run(["deploy", "aws", "put-setting", "EDGE_SECRET", "--stage", "prod"], env, "edge-two-0123456789")
    assert first.returncode == 0, first.stderr
    # CloudFront may still send edge-one: a second rotation would drop it and refuse every /api call.
    again = run(["deploy", "aws", "put-setting", "EDGE_SECRET", "--generate", "--stage", "prod"], env)
    one_line_error(again, "EDGE_SECRET_PREVIOUS is still set", "finish the previous rotation first", "--force")
    assert aws.state.current(edge) == {
        "EDGE_SECRET": "edge-two-0123456789",
        "EDGE_SECRET_PREVIOUS": "edge-one-0123456789",
    }
    forced = run(
        ["deploy", "aws", "put-setting", "EDGE_SECRET", "--stage", "prod", "--force"], env, "edge-three-012345"
    )
    assert forced.returncode == 0, forced.stderr
    assert aws.state.current(edge)["EDGE_SECRET_PREVIOUS"] == "edge-two-0123456789"
    # create-secret rotates the same way, and refuses the same way (before it writes anything)
    source = {"EDGE_SECRET": "edge-four-0123456", "PATH": os.environ["PATH"]}
    writes = len(aws.state.calls_of("PutSecretValue")) + len(aws.state.calls_of("CreateSecret"))
    one_line_error(
        run(["deploy", "aws", "create-secret", "--stage", "prod"], {**env, **source}), "EDGE_SECRET_PREVIOUS"
    )
    assert len(aws.state.calls_of("PutSecretValue")) + len(aws.state.calls_of("CreateSecret")) == writes


def test_only_a_previous_value_is_cleared_without_force(aws: Aws) -> None:
    database = secret_of("DATABASE_URL", "prod")
    aws.state.put(database, {"DATABASE_URL": "postgresql://u@db.example/ttfd"})
    env = {**aws_env(aws), "AWS_REGION": aws.state.region}
    one_line_error(run(["deploy", "aws", "put-setting", "DATABASE_URL", "", "--stage", "prod"], env), "--force")
    assert aws.state.current(database) == {"DATABASE_URL": "postgresql://u@db.example/ttfd"}
    forced = run(["deploy", "aws", "put-setting", "DATABASE_URL", "", "--stage", "prod", "--force"], env)
    assert forced.returncode == 0 and aws.state.current(database) == {}


def test_input_no_command_can_use_is_one_line(aws: Aws, tmp_path) -> None:
    session = secret_of("SESSION_SECRET", "prod")
    env = {**aws_env(aws), "AWS_REGION": aws.state.region}
    stored = aws.state.secrets
    aws.state.put(session, {"SESSION_SECRET": "s" * 40})
    with aws.state.lock:  # what a console edit can leave: not JSON, or JSON nested past any parser
        aws.state._new_version(stored[session], "not json {", None)
    one_line_error(run(["deploy", "aws", "put-setting", "SESSION_SECRET", "--stage", "prod"], env, "abc"), "not JSON")
    with aws.state.lock:
        aws.state._new_version(stored[session], "[" * 100_000 + "]" * 100_000, None)
    one_line_error(run(["deploy", "aws", "put-setting", "SESSION_SECRET", "--stage", "prod"], env, "abc"), "not JSON")
    aws.state.put(session, {"SESSION_SECRET": "s" * 40})
    bad_endpoint = {**env, "AWS_ENDPOINT_URL_SECRETS_MANAGER": "ftp://nope"}
    one_line_error(run(["deploy", "aws", "put-setting", "SESSION_SECRET", "--stage", "prod"], bad_endpoint, "a"),
                   "not a Secrets Manager endpoint")  # fmt: skip
    # Not UTF-8 on stdin (the C locale reads it as lone surrogates): refused, nothing written.
    latin1 = subprocess.run(
        [sys.executable, "-m", "ttfd", "deploy", "aws", "put-setting", "SESSION_SECRET", "--stage", "prod", "--force"],
        env={**{k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED)}, **env, "LC_ALL": "C",
             "PYTHONUTF8": "0", "PYTHONIOENCODING": ""},
        cwd=ROOT, input=b"caf\xe9-0123456789", capture_output=True, timeout=60,
    )  # fmt: skip
    assert latin1.returncode == 2 and latin1.stderr.decode().startswith("error: "), latin1.stderr
    assert "Traceback" not in latin1.stderr.decode() and aws.state.current(session) == {"SESSION_SECRET": "s" * 40}


def test_create_secret_checks_every_group_before_the_first_write(aws: Aws, tmp_path) -> None:
    env = {**aws_env(aws), "AWS_REGION": aws.state.region}
    cases = {
        "big.env": ("DATABASE_URL=postgresql://u@db.example/ttfd\nSESSION_SECRET=" + "A" * 70_000 + "\n", "65536"),
        "nul.env": ("DATABASE_URL=postgresql://u@db.example/ttfd\nSESSION_SECRET=ab\x00cd\n", "SESSION_SECRET"),
        "url.env": ("DATABASE_URL=postgresql://ttfd:S3cret Passw0rd@db.example/ttfd\n", "DATABASE_URL"),
    }
    for name, (text, named) in cases.items():
        (tmp_path / name).write_text(text)
        done = run(["deploy", "aws", "create-secret", "--stage", "prod", "--from-env-file", str(tmp_path / name)], env)
        one_line_error(done, named)
        assert "S3cret" not in done.stderr and "AAAAAAAA" not in done.stderr
    assert aws.state.secrets == {} and not aws.state.calls_of("PutSecretValue")  # nothing written, no group


def test_env_files_from_other_editors() -> None:
    text = "\ufeffA=1\r\nexport\tB=two\r\nC='x\x0by\u2028z'\r\n"
    assert parse_env_file(text.removeprefix("\ufeff")) == {"A": "1", "B": "two", "C": "x\x0by\u2028z"}


def test_env_file_with_a_byte_order_mark_and_crlf(tmp_path, restored_environ, capsys) -> None:
    env_file = tmp_path / "windows.env"
    env_file.write_bytes(f"\ufeffDISCORD_APPLICATION_ID={APP_ID}\r\nexport\tDEFAULT_LOCALE=en\r\n".encode())
    assert cli(["--env-file", str(env_file), "discord", "invite"]) == 0
    assert f"client_id={APP_ID}&" in capsys.readouterr().out and os.environ["DEFAULT_LOCALE"] == "en"
