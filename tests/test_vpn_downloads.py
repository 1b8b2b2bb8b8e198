"""Bounded downloads of a payment screenshot (ttfd/clients/downloads.py) over real HTTP on 127.0.0.1: the fake
Discord CDN (devtools/fake_cdn.py: signed, expiring URLs) and the fake Telegram's getFile and file route
(devtools/fake_telegram_files.py). Only allowed hosts, at most the cap, expired uploads said plainly, the bot
token in no error and no log line."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from devtools import fake_telegram_files
from devtools.fake_cdn import FakeCdn
from devtools.fake_cdn import create_app as cdn_app
from devtools.fake_telegram import TelegramState
from devtools.fake_telegram import create_app as telegram_app
from devtools.wsgi_server import RunningServer
from ttfd.clients import downloads
from ttfd.clients.downloads import UploadExpired, UploadRefused, UploadTooLarge, allowed, parse_hosts
from ttfd.clients.http import HTTPError
from ttfd.clients.telegram import TelegramAPI
from ttfd.core.errors import BadInput

PNG = b"\x89PNG\r\n\x1a\n" + b"picture bytes" * 100
TOKEN = "7000000009:AAFilesTestTOKENfilesTESTtokenFILES00"
MB = 1024 * 1024


@pytest.fixture(scope="module")
def cdn() -> Iterator[FakeCdn]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    fake = FakeCdn()
    server = RunningServer(cdn_app(fake))
    fake.base_url = server.url
    yield fake
    server.stop()


@pytest.fixture
def hosts(cdn: FakeCdn) -> downloads.Hosts:
    """What the local stack sets: Discord's hosts plus the fake's host:port."""
    return parse_hosts(f"cdn.discordapp.com, media.discordapp.net, {cdn.base_url.removeprefix('http://')}")


def _served(cdn: FakeCdn) -> int:
    return len(cdn.served)


# --- Discord ---------------------------------------------------------------------------------------------------


def test_an_attachment_is_copied_with_its_declared_type(cdn: FakeCdn, hosts: downloads.Hosts) -> None:
    url = cdn.put("receipt.png", PNG, "image/png")
    assert "ex=" in url and "is=" in url and "hm=" in url
    got = downloads.discord_attachment(url, len(PNG), hosts=hosts, content_type="image/png", filename="receipt.png")
    assert (got.data, got.content_type, got.filename) == (PNG, "image/png", "receipt.png")
    # The setting's text works as well as the parsed list; without a declared type, the server's header.
    text = f"cdn.discordapp.com,{cdn.base_url.removeprefix('http://')}"
    assert downloads.discord_attachment(url, hosts=text).content_type == "image/png"


def test_hosts_come_from_the_settings_by_default(cdn: FakeCdn, monkeypatch: pytest.MonkeyPatch) -> None:
    from ttfd.core.settings import get_settings

    url = cdn.put("receipt.png", PNG, "image/png")
    monkeypatch.delenv("DISCORD_CDN_HOSTS", raising=False)
    get_settings.cache_clear()
    with pytest.raises(UploadRefused):  # the default list is Discord's own hosts only
        downloads.discord_attachment(url)
    monkeypatch.setenv("DISCORD_CDN_HOSTS", f"cdn.discordapp.com,{cdn.base_url.removeprefix('http://')}")
    get_settings.cache_clear()
    try:
        assert downloads.discord_attachment(url).data == PNG
    finally:
        monkeypatch.delenv("DISCORD_CDN_HOSTS")
        get_settings.cache_clear()


def test_only_listed_hosts_are_fetched(cdn: FakeCdn, hosts: downloads.Hosts) -> None:
    url = cdn.put("receipt.png", PNG, "image/png")
    port = int(cdn.base_url.rsplit(":", 1)[1])
    path = url.split(str(port), 1)[1]
    before = _served(cdn)
    for bad in (
        f"http://127.0.0.1:{port + 1}{path}",  # another port
        f"http://localhost:{port}{path}",  # the same machine by another name
        f"http://2130706433:{port}{path}",  # 127.0.0.1 as a number
        f"http://0x7f.0.0.1:{port}{path}",
        f"http://[::1]:{port}{path}",
        f"http://cdn.discordapp.com@127.0.0.1:{port}{path}",  # userinfo
        f"http://127.0.0.1:{port}@evil.example{path}",
        f"ftp://127.0.0.1:{port}{path}",
        f"http://127.0.0.1:{port}\\@evil.example{path}",
        f" http://127.0.0.1:{port}{path}",
        "https://evil.example/attachments/1/2/receipt.png",
        "javascript:alert(1)",
        "",
    ):
        with pytest.raises(UploadRefused) as caught:
            downloads.discord_attachment(bad, hosts=hosts)
        assert isinstance(caught.value, BadInput) and "not a Discord upload" in caught.value.message
    assert _served(cdn) == before  # none of them was requested


def test_the_allow_list_compares_host_and_port_exactly() -> None:
    hosts = parse_hosts("cdn.discordapp.com,media.discordapp.net,127.0.0.1:8080")
    assert allowed("https://cdn.discordapp.com/attachments/1/2/a.png?ex=1&is=2&hm=3&", hosts)
    assert allowed("https://CDN.DiscordApp.com/attachments/1/2/a.png", hosts)  # hosts are case-blind
    assert allowed("https://media.discordapp.net/ephemeral-attachments/1/2/a.png", hosts)
    assert allowed("http://127.0.0.1:8080/a.png", hosts) and allowed("https://127.0.0.1:8080/a.png", hosts)
    for bad in (
        "http://cdn.discordapp.com/a.png",  # http only for entries with a port (the local fakes)
        "https://cdn.discordapp.com:8443/a.png",  # a port the entry does not name
        "https://cdn.discordapp.com./a.png",  # a trailing dot is another name
        "https://cdn.discordapp.com.evil.example/a.png",
        "https://evilcdn.discordapp.com/a.png",
        "https://user:pw@cdn.discordapp.com/a.png",
        "https://cdn.discordapp.com%2eevil.example/a.png",
        "https://cdn.discordapp.com\t/a.png",
        "https://cdn.discordаpp.com/a.png",  # a Cyrillic "а"
        "http://127.0.0.1:8081/a.png",
        "http://127.0.0.1/a.png",
        "//cdn.discordapp.com/a.png",
        "cdn.discordapp.com/a.png",
    ):
        assert allowed(bad, hosts) is None, bad
    with pytest.raises(ValueError):
        parse_hosts("https://cdn.discordapp.com")
    with pytest.raises(ValueError):
        parse_hosts("cdn.discordapp.com:http")
    assert parse_hosts(" , cdn.discordapp.com ,") == frozenset({("cdn.discordapp.com", None)})


def test_a_redirect_to_another_host_is_refused(cdn: FakeCdn, hosts: downloads.Hosts) -> None:
    elsewhere = cdn.put_redirect("receipt.png", "http://127.0.0.2:9/steal")
    with pytest.raises(UploadRefused):
        downloads.discord_attachment(elsewhere, hosts=hosts)
    target = cdn.put("receipt.png", PNG, "image/png")
    here = cdn.put_redirect("receipt.png", target)  # to an allowed host: followed
    assert downloads.discord_attachment(here, hosts=hosts).data == PNG
    loop = cdn.put_redirect("receipt.png", here)
    chain = cdn.put_redirect("receipt.png", loop)
    with pytest.raises(UploadRefused):  # more hops than MAX_REDIRECTS
        downloads.discord_attachment(cdn.put_redirect("r.png", chain), hosts=hosts)


def test_an_expired_or_tampered_url_says_send_it_again(cdn: FakeCdn, hosts: downloads.Hosts) -> None:
    url = cdn.put("receipt.png", PNG, "image/png")
    tampered = url.replace("hm=", "hm=0")
    with pytest.raises(UploadExpired) as caught:
        downloads.discord_attachment(tampered, hosts=hosts)
    assert "send the screenshot again" in caught.value.message
    later = cdn.clock
    cdn.clock = lambda: later() + 25 * 3600  # past `ex`
    try:
        with pytest.raises(UploadExpired):
            downloads.discord_attachment(url, hosts=hosts)
    finally:
        cdn.clock = later
    assert downloads.discord_attachment(url, hosts=hosts).data == PNG


def test_a_declared_size_over_the_cap_is_refused_without_a_request(cdn: FakeCdn, hosts: downloads.Hosts) -> None:
    url = cdn.put("receipt.png", PNG, "image/png")
    before = _served(cdn)
    with pytest.raises(UploadTooLarge) as caught:
        downloads.discord_attachment(url, 40 * MB, hosts=hosts)
    assert "at most 10 MB" in caught.value.message
    assert _served(cdn) == before


def test_a_huge_body_is_cut_off_at_the_cap(cdn: FakeCdn, hosts: downloads.Hosts) -> None:
    for declare in (True, False):  # with its Content-Length, or chunked (only counting finds the size)
        url = cdn.put_huge("big.png", 40 * MB, declare=declare)
        started = time.monotonic()
        with pytest.raises(UploadTooLarge):
            downloads.discord_attachment(url, hosts=hosts)
        assert time.monotonic() - started < 5
    small_cap = cdn.put("receipt.png", PNG, "image/png")
    with pytest.raises(UploadTooLarge):
        downloads.discord_attachment(small_cap, hosts=hosts, max_bytes=len(PNG) - 1)
    assert downloads.discord_attachment(small_cap, hosts=hosts, max_bytes=len(PNG)).data == PNG


def test_a_lying_content_length_never_yields_more_than_it_says(cdn: FakeCdn, hosts: downloads.Hosts) -> None:
    short = cdn.put("receipt.png", PNG, "image/png", content_length=100)
    assert downloads.discord_attachment(short, hosts=hosts).data == PNG[:100]  # then refused as a picture
    long = cdn.put("receipt.png", PNG, "image/png", content_length=len(PNG) + 500)
    with pytest.raises(HTTPError) as caught:  # the body ended early: a network error, worth a retry
        downloads.discord_attachment(long, hosts=hosts)
    assert caught.value.retryable
    over = cdn.put("receipt.png", PNG, "image/png", content_length=40 * MB)
    with pytest.raises(UploadTooLarge):
        downloads.discord_attachment(over, hosts=hosts)


def test_an_unreachable_cdn_is_a_retryable_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    with pytest.raises(HTTPError) as caught:
        downloads.discord_attachment(f"http://127.0.0.1:{port}/a.png", hosts=parse_hosts(f"127.0.0.1:{port}"))
    assert caught.value.status == 0 and caught.value.retryable


# --- Telegram ----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def telegram() -> Iterator[tuple[TelegramState, TelegramAPI]]:
    state = TelegramState(token=TOKEN)
    server = RunningServer(telegram_app(state))
    yield state, TelegramAPI(server.url, TOKEN, httpx.Client(timeout=5))
    server.stop()


def test_a_telegram_file_is_fetched_by_its_id(telegram: tuple[TelegramState, TelegramAPI]) -> None:
    state, api = telegram
    file_id = fake_telegram_files.add_file(state, PNG)
    got = downloads.telegram_file(file_id, api=api)
    assert got.data == PNG and got.content_type is None  # a photo: no name, no type; the name from its path
    assert got.filename is not None and got.filename.endswith(".jpg")
    named = downloads.telegram_file(file_id, file_name="receipt.png", mime_type="image/png", api=api)
    assert (named.filename, named.content_type) == ("receipt.png", "image/png")
    assert state.calls_of("getFile")[-1] == {"file_id": file_id}


def test_a_telegram_file_over_the_cap_is_refused(telegram: tuple[TelegramState, TelegramAPI]) -> None:
    state, api = telegram
    file_id = fake_telegram_files.add_file(state, PNG)
    with pytest.raises(UploadTooLarge):  # the message's own file_size: no call at all
        downloads.telegram_file(file_id, file_size=40 * MB, api=api)
    big = fake_telegram_files.add_file(state, PNG, file_size=25_000_000)
    with pytest.raises(UploadTooLarge):  # getFile: "file is too big" (over the 20 MB a bot may download)
        downloads.telegram_file(big, api=api)
    reported = fake_telegram_files.add_file(state, PNG, file_size=15 * MB)
    with pytest.raises(UploadTooLarge):  # getFile's file_size over our cap
        downloads.telegram_file(reported, api=api)
    lying = fake_telegram_files.add_file(state, PNG * 20, file_size=10)
    with pytest.raises(UploadTooLarge):  # getFile said small, the body is not: the stream is cut
        downloads.telegram_file(lying, api=api, max_bytes=len(PNG) * 10)


def test_an_unknown_telegram_file_says_send_it_again_and_never_shows_the_token(
    telegram: tuple[TelegramState, TelegramAPI], caplog: pytest.LogCaptureFixture
) -> None:
    state, api = telegram
    caplog.set_level(logging.DEBUG)
    with pytest.raises(UploadExpired) as expired:
        downloads.telegram_file("AgACno-such-file", api=api)
    # A file Telegram lists but cannot serve (the file route answers 404).
    gone = fake_telegram_files.add_file(state, PNG)
    fake_telegram_files.files(state)[gone]["data"] = None
    with pytest.raises(UploadExpired):
        downloads.telegram_file(gone, api=api)
    # The server going away mid-way: a network error, retryable, without the URL.
    dead = TelegramAPI("http://127.0.0.1:9", TOKEN, httpx.Client(timeout=1))
    with pytest.raises(HTTPError) as network:
        downloads.telegram_file("AgAC", api=dead)
    assert network.value.retryable
    secret = TOKEN.split(":")[1]
    for text in (str(expired.value), expired.value.message, str(network.value), caplog.text):
        assert secret not in text


def test_the_fake_takes_files_over_http_for_the_cli(telegram: tuple[TelegramState, TelegramAPI]) -> None:
    _state, api = telegram
    base = api._url.rsplit("/bot", 1)[0]
    answer = httpx.post(f"{base}/_dev/files", params={"file_id": "AgACfromCLI"}, content=PNG).json()
    assert answer == {"file_id": "AgACfromCLI"}
    assert downloads.telegram_file("AgACfromCLI", api=api).data == PNG
