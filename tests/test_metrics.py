"""Metrics: one line per command through the real Discord function, in CloudWatch Embedded Metric Format (AWS),
as a structured log line (Google Cloud) and as a readable log line (elsewhere); function invocations measured;
a broken stdout never fails a request."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Response
from functions_framework import create_app

from tests.conftest import encode, interaction, run_schedule, sign
from ttfd.core import db, jobs, metrics

EMF_UNITS = {"Count", "Milliseconds", "Seconds"}  # the ones we use, all in CloudWatch's list


@pytest.fixture
def sink(monkeypatch) -> Iterator[Any]:
    """Choose the metrics sink for this test (TTFD_METRICS), as a fresh process would."""

    def use(name: str) -> None:
        monkeypatch.setenv("TTFD_METRICS", name)
        metrics.reset()

    yield use
    monkeypatch.delenv("TTFD_METRICS", raising=False)
    metrics.reset()


@pytest.fixture
def discord(app_env) -> Any:
    return create_app("discord_interactions", "main.py").test_client()


def _post(client: Any, command: str, **kw: Any) -> Any:
    body = encode(interaction(command, **kw))
    resp = client.post("/", data=body, headers=sign(body))
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp


def _json_lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def assert_valid_emf(doc: dict[str, Any]) -> None:
    """The rules of the Embedded Metric Format specification that CloudWatch enforces."""
    aws = doc["_aws"]
    assert isinstance(aws["Timestamp"], int) and abs(aws["Timestamp"] / 1000 - time.time()) < 60
    directives = aws["CloudWatchMetrics"]
    assert isinstance(directives, list) and directives
    for d in directives:
        assert d["Namespace"] == "TTFD"
        assert 1 <= len(d["Metrics"]) <= 100
        for dimension_set in d["Dimensions"]:
            assert 1 <= len(dimension_set) <= 30
            for key in dimension_set:  # each dimension a top-level string member
                assert isinstance(doc[key], str) and 1 <= len(doc[key]) <= 1024
        for m in d["Metrics"]:
            assert set(m) <= {"Name", "Unit", "StorageResolution"}
            assert m["Unit"] in EMF_UNITS
            value = doc[m["Name"]]  # each metric a top-level number
            assert isinstance(value, int | float) and not isinstance(value, bool)


def test_commands_emit_emf_per_command(discord, sink, capsys) -> None:
    sink("emf")
    capsys.readouterr()
    _post(discord, "/daily", user=501)
    _post(discord, "/leaderboard", user=501)
    _post(discord, "/dice bet:50", user=502)  # no coins: refused with words, still a 200 to Discord
    lines = _json_lines(capsys.readouterr().out)
    for doc in lines:
        assert_valid_emf(doc)
    commands = [d for d in lines if d["ttfd_metric"] == "command"]
    assert [(d["command"], d["platform"], d["outcome"]) for d in commands] == [
        ("daily", "discord", "ok"),
        ("leaderboard", "discord", "ok"),
        ("dice", "discord", "refused"),
    ]
    for d in commands:
        directive = d["_aws"]["CloudWatchMetrics"][0]
        assert directive["Dimensions"] == [["command"], ["platform", "outcome"]]
        assert directive["Metrics"] == [
            {"Name": "Commands", "Unit": "Count"},
            {"Name": "CommandLatency", "Unit": "Milliseconds"},
        ]
        assert d["Commands"] == 1 and d["CommandLatency"] > 0
        assert d["function"] == "discord_interactions"  # measured inside the function's invocation
    # The function set: once per invocation, by function.
    invocations = [d for d in lines if d["ttfd_metric"] == "function"]
    assert [d["function"] for d in invocations] == ["discord_interactions"] * 3
    for d in invocations:
        directive = d["_aws"]["CloudWatchMetrics"][0]
        assert directive["Dimensions"] == [["function"], ["outcome"]]
        assert [m["Name"] for m in directive["Metrics"]] == ["Invocations", "Errors", "Latency", "ColdStart"]
        assert d["Invocations"] == 1 and d["Errors"] == 0 and d["status"] == 200 and d["outcome"] == "ok"
    assert [d["ColdStart"] for d in invocations] == [1, 0, 0]


def test_commands_as_gcp_structured_log_lines(discord, sink, capsys) -> None:
    sink("gcp")
    capsys.readouterr()
    _post(discord, "/daily", user=601)
    lines = _json_lines(capsys.readouterr().out)
    (command,) = [d for d in lines if d["ttfd_metric"] == "command"]
    assert command["severity"] == "INFO"
    assert command["message"].startswith("metric command command=daily platform=discord outcome=ok")
    assert command["Commands"] == 1 and command["CommandLatency"] > 0
    assert "_aws" not in command


def test_commands_as_readable_log_lines(discord, sink, caplog, capsys) -> None:
    sink("log")
    caplog.set_level(logging.INFO, logger="ttfd.metrics")
    _post(discord, "/daily", user=701)
    assert not _json_lines(capsys.readouterr().out)
    said = [r.getMessage() for r in caplog.records if r.name == "ttfd.metrics"]
    (command,) = [m for m in said if m.startswith("metric command ")]
    assert "command=daily platform=discord outcome=ok" in command
    assert "Commands=1 CommandLatency=" in command
    # One record per invocation: the command's set, then the function's.
    assert " | metric function function=discord_interactions outcome=ok status=200" in command


def test_a_broken_stdout_never_fails_a_request(discord, sink, monkeypatch) -> None:
    sink("emf")
    closed = io.StringIO()
    closed.close()
    monkeypatch.setattr("sys.stdout", closed)
    resp = _post(discord, "/daily", user=801)
    assert "+100 coins" in resp.get_json()["data"]["content"]


def test_an_invocation_writes_its_lines_at_once(discord, sink, monkeypatch) -> None:
    """A command's line waits for its invocation's own line: one write and one flush per request."""
    sink("emf")
    writes: list[str] = []

    class Stdout(io.StringIO):
        def write(self, text: str) -> int:
            writes.append(text)
            return len(text)

    monkeypatch.setattr("sys.stdout", Stdout())
    _post(discord, "/daily", user=811)
    (written,) = writes
    docs = _json_lines(written)
    assert [d["ttfd_metric"] for d in docs] == ["command", "function"] and written.endswith("}\n")
    for doc in docs:
        assert_valid_emf(doc)


def test_measured_functions_errors_and_cold_start(sink, capsys) -> None:
    sink("emf")

    @metrics.measured
    def api_thing(status: int) -> Response:
        if status == 0:
            raise RuntimeError("a bug")
        return Response("", status=status)

    capsys.readouterr()
    api_thing(200)
    api_thing(404)
    api_thing(503)
    with pytest.raises(RuntimeError):
        api_thing(0)
    lines = _json_lines(capsys.readouterr().out)
    for doc in lines:
        assert_valid_emf(doc)
    assert [(d["function"], d["outcome"], d["Errors"], d["ColdStart"]) for d in lines] == [
        ("api_thing", "ok", 0, 1),
        ("api_thing", "refused", 0, 0),
        ("api_thing", "busy", 0, 0),
        ("api_thing", "error", 1, 0),
    ]
    assert [d.get("status") for d in lines] == [200, 404, 503, None]


def test_run_jobs_emits_the_jobs_set(app_env, sink, capsys) -> None:
    sink("emf")
    db.run(lambda c: jobs.enqueue(c, "no.such.kind", {}, max_attempts=1))
    db.run(lambda c: jobs.enqueue(c, "no.such.kind.later", {}, delay_s=3600))
    capsys.readouterr()
    assert run_schedule("run_jobs").get_json() == {"done": 0, "retried": 0, "dead": 1}
    lines = _json_lines(capsys.readouterr().out)
    for doc in lines:
        assert_valid_emf(doc)
    (jobs_set,) = [d for d in lines if d["ttfd_metric"] == "jobs"]
    directive = jobs_set["_aws"]["CloudWatchMetrics"][0]
    assert directive["Dimensions"] == [["function"]] and jobs_set["function"] == "run_jobs"
    assert {m["Name"]: m["Unit"] for m in directive["Metrics"]} == {
        "JobsDone": "Count",
        "JobsRetried": "Count",
        "JobsDead": "Count",
        "JobsDue": "Count",
        "OldestDueJobAge": "Seconds",
        "DeadJobsRecent": "Count",
    }
    assert (jobs_set["JobsDead"], jobs_set["JobsDue"], jobs_set["DeadJobsRecent"]) == (1, 0, 1)
    (schedule,) = [d for d in lines if d["ttfd_metric"] == "schedule"]
    assert schedule["schedule"] == "run_jobs"
    assert (schedule["ScheduleSuccess"], schedule["ScheduleFailures"]) == (1, 0)
    assert schedule["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["schedule"]]


def test_dimension_values_cannot_be_chosen_by_a_caller() -> None:
    assert metrics._dimension("daily") == "daily"
    assert metrics._dimension("x" * 65) == "other"
    assert metrics._dimension('evil"\n{') == "other"


def test_a_button_is_named_by_its_registered_prefix_only(discord, sink, capsys) -> None:
    """A custom_id is chosen by whoever sends it: only an action prefix the registry knows becomes a dimension
    value (each one its own CloudWatch metric), anything else is "button:other"."""
    sink("emf")
    board = _post(discord, "/leaderboard board:coins", user=801).get_json()
    real = board["data"]["components"][0]["components"][0]["custom_id"]  # a page button, signed
    capsys.readouterr()
    for custom_id in (real, "lb:nope:x", "zz9:forged", "Q" * 40):
        click = interaction("/ping", user=801)
        click.update(type=3, data={"custom_id": custom_id, "component_type": 2}, message={"id": "5"})
        resp = discord.post("/", data=encode(click), headers=sign(encode(click)))
        assert resp.status_code == 200
    commands = [d for d in _json_lines(capsys.readouterr().out) if d["ttfd_metric"] == "command"]
    assert [d["command"] for d in commands] == ["button:lb", "button:lb", "button:other", "button:other"]
    assert metrics._command_name(type("E", (), {"action": "lb:1"})(), None) == "button:other"  # no registry
