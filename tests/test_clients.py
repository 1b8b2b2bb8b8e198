"""Outgoing HTTP clients against the fake servers: retries, 429 handling, typed errors, no token leaks."""

from __future__ import annotations

import logging
import socket
import threading

import httpx
import pytest

from tests.conftest import BOT_TOKEN, TG_TOKEN
from ttfd.clients.discord_rest import DiscordREST
from ttfd.clients.http import Forbidden, HTTPError, NotFoundError, RateLimited, send
from ttfd.clients.telegram import TelegramAPI


def test_discord_5xx_is_retried_then_succeeds(fakes) -> None:
    fakes.discord.fail_next("PUT", r"/guilds/1/members/2/roles/3", 502, {"message": "Bad Gateway", "code": 0})
    DiscordREST(fakes.discord_url, BOT_TOKEN).add_member_role(1, 2, 3)
    assert len(fakes.discord.calls_to("PUT", r"/guilds/1/members/2/roles/3")) == 2
    assert fakes.discord.member_roles[("1", "2")] == {"3"}


def test_discord_errors_are_typed(fakes) -> None:
    rest = DiscordREST(fakes.discord_url, BOT_TOKEN)
    fakes.discord.fail_next("PUT", r".*", 403, {"message": "Missing Permissions", "code": 50013})
    with pytest.raises(Forbidden) as forbidden:
        rest.add_member_role(1, 2, 3)
    assert forbidden.value.code == 50013 and not forbidden.value.retryable
    fakes.discord.fail_next("DELETE", r".*", 404, {"message": "Unknown Member", "code": 10007})
    with pytest.raises(NotFoundError):
        rest.remove_member_role(1, 2, 3)
    with pytest.raises(HTTPError) as unauthorized:
        DiscordREST(fakes.discord_url, "wrong").add_member_role(1, 2, 3)
    assert unauthorized.value.status == 401


def test_long_429_raises_with_retry_after(fakes) -> None:
    fakes.discord.rate_limit_next("PUT", r".*", retry_after=64.57)
    with pytest.raises(RateLimited) as limited:
        DiscordREST(fakes.discord_url, BOT_TOKEN).add_member_role(1, 2, 3)
    assert limited.value.retry_after == pytest.approx(64.57) and limited.value.retryable


def test_telegram_429_uses_parameters_retry_after(fakes) -> None:
    fakes.telegram.fail_next("sendMessage", 429, "Too Many Requests: retry after 0", retry_after=0)
    result = TelegramAPI(fakes.telegram_url, TG_TOKEN).send_message(5, "hi")
    assert result["text"] == "hi" and len(fakes.telegram.calls_of("sendMessage")) == 2
    fakes.telegram.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")
    with pytest.raises(Forbidden, match="blocked"):
        TelegramAPI(fakes.telegram_url, TG_TOKEN).send_message(5, "hi")


def test_post_that_may_have_arrived_is_not_repeated() -> None:
    """A read timeout on POST could mean the message was sent: never send it twice."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    accepted: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            accepted.append(conn)  # read nothing, answer nothing

    threading.Thread(target=accept, daemon=True).start()
    url = f"http://127.0.0.1:{server.getsockname()[1]}/x"
    client = httpx.Client(timeout=httpx.Timeout(0.2))
    with pytest.raises(HTTPError, match="network error"):
        send(client, "POST", url, lambda r: ("", None, None), sleep=lambda s: None)
    assert len(accepted) == 1
    with pytest.raises(HTTPError):
        send(client, "GET", url, lambda r: ("", None, None), sleep=lambda s: None)
    assert len(accepted) == 1 + 4  # idempotent GET: first try + 3 retries
    server.close()


def test_telegram_token_never_reaches_logs(fakes, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    TelegramAPI(fakes.telegram_url, TG_TOKEN).send_message(5, "hi")
    assert TG_TOKEN not in caplog.text
