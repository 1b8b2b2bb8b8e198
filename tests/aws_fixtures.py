"""The fake AWS Secrets Manager (devtools/fake_aws.py) as pytest fixtures: one server per module, emptied for
each test, with this process's AWS variables pointing at it and the settings' clock in the test's hands."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from devtools.fake_aws import TEST_ACCESS_KEY, TEST_SECRET_KEY, AwsState, create_app
from devtools.wsgi_server import RunningServer
from ttfd import deploy
from ttfd.core.settings import get_settings


def secret_of(setting: str, stage: str) -> str:
    """The name of the secret that keeps `setting` on AWS (its group's, from ttfd.deploy.SECRET_GROUPS)."""
    group = next(g for g, names in deploy.SECRET_GROUPS.items() if setting in names)
    return deploy.secret_name(stage, group)


class Clock:
    """CurrentSettings.clock, moved by hand: a TTL passes without waiting for it."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Aws:
    state: AwsState
    url: str
    clock: Clock


@pytest.fixture(name="_aws_server", scope="module")
def aws_server_fixture() -> Iterator[tuple[AwsState, RunningServer]]:
    state = AwsState()
    server = RunningServer(create_app(state))
    yield state, server
    state.released.set()
    server.stop()


@pytest.fixture(name="aws")
def aws_fixture(_aws_server: tuple[AwsState, RunningServer], monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    """The fake Secrets Manager, emptied, with this process's AWS variables pointing at it."""
    state, server = _aws_server
    state.reset()
    for k, v in {
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": server.url,
        "AWS_REGION": state.region,
        "AWS_ACCESS_KEY_ID": TEST_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": TEST_SECRET_KEY,
    }.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    clock = Clock()
    monkeypatch.setattr(get_settings, "clock", clock)
    get_settings.cache_clear()
    yield Aws(state, server.url, clock)
    get_settings.cache_clear()  # takes back what the secret put into os.environ
    state.released.set()
