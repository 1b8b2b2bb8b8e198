"""Bounded downloads of what a member uploaded: a Discord attachment from Discord's CDN, a Telegram file by id.

Both read at most `max_bytes` (a declared size above it is refused before any request; a body that runs past
it is cut off mid-stream, so a 40 MB answer costs ~10 MB of memory at most), within connect/read timeouts
and an overall deadline (a server dribbling a byte every few seconds cannot hold a function for long).

Discord (protocols.md §8): attachment URLs are signed (`ex`/`is`/`hm`) and expire — a slash command's upload
has an undocumented, short life — so the bytes are copied while the interaction is handled. Only hosts named
in the setting `DISCORD_CDN_HOSTS` are fetched: entries `host` (https only) or `host:port` (https or http: the
local fakes), compared exactly with the URL's host and port, lower-case, after httpx parsed it the way it
will connect; no userinfo, no redirect to another host. Anything else is refused without a request.

Telegram (§3): getFile gives a `file_path` under `<base>/file/bot<token>/`; the base and token are the Bot
API client's own (ttfd.clients.telegram). Bots may download files up to 20 MB; ours stops at `max_bytes`.
The token is in that URL, so no error or log line here quotes a URL, and httpx's own request logging is
already turned down (ttfd.clients.http).

Errors: what the member can act on is a BadInput with words to show (`UploadExpired`, `UploadTooLarge`,
`UploadRefused`); a network failure or a 5xx is an `HTTPError` (retryable) from ttfd.clients.http.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import httpx

from ttfd.clients.http import HTTPError
from ttfd.core.errors import BadInput
from ttfd.core.i18n import _

if TYPE_CHECKING:
    from ttfd.clients.telegram import TelegramAPI
    from ttfd.ui.commands import FileRef

MAX_BYTES: Final = 10 * 1024 * 1024  # the proof limit (ttfd.features.vpn.proof.MAX_BYTES): callers pass theirs
TIMEOUT: Final = httpx.Timeout(10.0, connect=3.0)
DEADLINE_S: Final = 30.0  # the whole download, however the server paces it
MAX_REDIRECTS: Final = 2
_CHUNK: Final = 64 * 1024
_HEADERS: Final = {"Accept-Encoding": "identity"}  # the bytes as stored: nothing to inflate
_FILE_PATH = re.compile(r"[A-Za-z0-9_\-][A-Za-z0-9_.\-/]{0,255}")  # what Telegram's file_path looks like


@dataclass(frozen=True)
class Download:
    data: bytes
    content_type: str | None  # as declared by the platform (the attachment's, or the server's header)
    filename: str | None


class UploadRefused(BadInput):
    """Not a file we may fetch (a URL off Discord's CDN), or one the platform no longer has."""


class UploadExpired(UploadRefused):
    """The platform no longer serves it (an expired signed URL, a deleted file): the member sends it again."""


class UploadTooLarge(UploadRefused):
    """Declared or found to be over the limit."""


def _expired() -> UploadExpired:
    return UploadExpired(_("The upload expired before it could be saved: send the screenshot again."))


def _too_large(max_bytes: int) -> UploadTooLarge:
    return UploadTooLarge(_("That file is too large: at most {max} MB.", max=max_bytes // (1024 * 1024)))


# --- the host allow list -----------------------------------------------------------------------------------

Hosts = frozenset[tuple[str, int | None]]  # (host, port or None)


def parse_hosts(setting: str) -> Hosts:
    """`DISCORD_CDN_HOSTS` as (host, port or None) pairs; an entry that is not a plain host[:port] is an error."""
    out: set[tuple[str, int | None]] = set()
    for raw in setting.split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        host, sep, port = entry.rpartition(":") if ":" in entry else (entry, "", "")
        if not re.fullmatch(r"[a-z0-9]([a-z0-9.-]*[a-z0-9])?", host) or (sep and not port.isdigit()):
            raise ValueError(f"DISCORD_CDN_HOSTS entry {raw.strip()!r} is not host or host:port")
        out.add((host, int(port) if sep else None))
    return frozenset(out)


def cdn_hosts(setting: str | Hosts | None = None) -> Hosts:
    """The allow list: given (the setting's text, or parsed), else from the settings (DISCORD_CDN_HOSTS)."""
    if setting is None:
        from ttfd.core.settings import get_settings

        setting = get_settings().discord_cdn_hosts
    return parse_hosts(setting) if isinstance(setting, str) else setting


def allowed(url: str, hosts: Hosts) -> httpx.URL | None:
    """The URL, parsed as httpx will fetch it, if it is on an allowed host; else None.

    `host` entries allow https on the default port only; `host:port` entries allow that port over https or
    http. No userinfo (`https://cdn.discordapp.com@evil/`), no control characters or spaces, and the host is
    compared as a whole (`cdn.discordapp.com.evil`, an IP for a listed name, a trailing dot: all refused)."""
    if not url.isascii() or any(c.isspace() or ord(c) < 0x20 or c == "\\" for c in url):
        return None
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError):
        return None
    if parsed.scheme not in ("https", "http") or parsed.userinfo or not parsed.host:
        return None
    host = parsed.host.lower()
    port = parsed.port  # None when the URL names no port (httpx drops the scheme's default)
    if port is None:
        return parsed if parsed.scheme == "https" and (host, None) in hosts else None
    return parsed if (host, port) in hosts else None


# --- streaming with a cap ----------------------------------------------------------------------------------


@contextmanager
def _client(client: httpx.Client | None) -> Iterator[httpx.Client]:
    if client is not None:
        yield client
        return
    with httpx.Client(timeout=TIMEOUT, follow_redirects=False, trust_env=False) as own:
        yield own


def _read_capped(resp: httpx.Response, max_bytes: int, deadline: float) -> bytes:
    length = resp.headers.get("Content-Length")
    if length is not None and length.isdigit() and int(length) > max_bytes:
        raise _too_large(max_bytes)
    chunks: list[bytes] = []
    total = 0
    for chunk in resp.iter_raw(_CHUNK):  # raw: a gzip bomb is not inflated (and the CDN sends images as is)
        total += len(chunk)
        if total > max_bytes:
            raise _too_large(max_bytes)
        if time.monotonic() > deadline:
            raise HTTPError(0, "download too slow: deadline passed")
        chunks.append(chunk)
    return b"".join(chunks)


def _network(exc: Exception) -> HTTPError:
    # Never str(exc): httpx messages may quote the URL, and a Telegram file URL holds the bot token.
    return HTTPError(0, f"network error: {type(exc).__name__}")


def discord_attachment(
    url: str,
    size: int | None = None,
    *,
    content_type: str | None = None,
    filename: str | None = None,
    max_bytes: int = MAX_BYTES,
    hosts: str | Hosts | None = None,
    client: httpx.Client | None = None,
) -> Download:
    """A Discord attachment's bytes (`url`, `size`, `content_type`, `filename` as the attachment object gives
    them; `hosts`: DISCORD_CDN_HOSTS' text or parsed, else read from the settings), or UploadRefused,
    UploadExpired, UploadTooLarge, or HTTPError (network, 5xx: worth a retry)."""
    allow = cdn_hosts(hosts)
    if size is not None and size > max_bytes:
        raise _too_large(max_bytes)
    target = allowed(url, allow)
    if target is None:
        raise UploadRefused(_("That file is not a Discord upload: attach the screenshot to the command."))
    deadline = time.monotonic() + DEADLINE_S
    with _client(client) as http:
        for _hop in range(MAX_REDIRECTS + 1):
            try:
                with http.stream("GET", target, headers=_HEADERS, follow_redirects=False, timeout=TIMEOUT) as resp:
                    if resp.is_redirect:
                        location = resp.headers.get("Location", "")
                        following = allowed(str(target.join(location)), allow) if location else None
                        if following is None:
                            raise UploadRefused(
                                _("That file is not a Discord upload: attach the screenshot to the command.")
                            )
                        target = following
                        continue
                    if resp.status_code in (403, 404, 410):
                        raise _expired()  # Discord answers an expired or bad signature with 404
                    if resp.status_code >= 400:
                        raise HTTPError(resp.status_code, "the CDN refused the download")
                    data = _read_capped(resp, max_bytes, deadline)
                    declared = content_type or resp.headers.get("Content-Type")
                    return Download(data, declared, filename)
            except httpx.TransportError as exc:
                raise _network(exc) from None
    raise UploadRefused(_("That file is not a Discord upload: attach the screenshot to the command."))


def _file_base(api: TelegramAPI) -> str:
    """`<base>/file/bot<token>/` from the Bot API client's own `<base>/bot<token>/` (one place holds both)."""
    method_url: str = api._url  # the client keeps base and token together: reused, not rebuilt from settings
    base, sep, token = method_url.rstrip("/").rpartition("/bot")
    if not sep:
        raise ValueError("unexpected Bot API URL shape")
    return f"{base}/file/bot{token}/"


def telegram_file(
    file_id: str,
    *,
    file_name: str | None = None,
    mime_type: str | None = None,
    file_size: int | None = None,
    max_bytes: int = MAX_BYTES,
    api: TelegramAPI | None = None,
) -> Download:
    """A Telegram file's bytes by `file_id` (getFile, then the file URL), with the Document/PhotoSize's own
    `file_name`, `mime_type` and `file_size` when the message gave them (a photo has no name or type)."""
    from ttfd.clients import telegram

    if file_size is not None and file_size > max_bytes:
        raise _too_large(max_bytes)
    bot = api or telegram.shared()
    try:
        info = bot.call("getFile", retries=1, file_id=file_id)
    except HTTPError as exc:
        if exc.status == 400 and "too big" in exc.message.lower():
            raise _too_large(max_bytes) from None
        if exc.status in (400, 404):
            raise _expired() from None  # "wrong file_id" / "file is temporarily unavailable"
        raise
    path = info.get("file_path") if isinstance(info, dict) else None
    if not isinstance(path, str) or not _FILE_PATH.fullmatch(path) or ".." in path.split("/"):
        raise _expired()  # no path: Telegram cannot serve it now
    declared_size = info.get("file_size")
    if isinstance(declared_size, int) and declared_size > max_bytes:
        raise _too_large(max_bytes)
    deadline = time.monotonic() + DEADLINE_S
    try:
        url = _file_base(bot) + path
        with bot.client.stream("GET", url, headers=_HEADERS, follow_redirects=False, timeout=TIMEOUT) as resp:
            if resp.status_code in (400, 403, 404, 410):
                raise _expired()
            if resp.status_code >= 300:
                raise HTTPError(resp.status_code, "the Bot API refused the file download")
            data = _read_capped(resp, max_bytes, deadline)
    except httpx.TransportError as exc:
        raise _network(exc) from None
    name = file_name or path.rsplit("/", 1)[-1]
    return Download(data, mime_type, name)


def fetch(picture: FileRef, *, hosts: str | Hosts | None, max_bytes: int = MAX_BYTES) -> Download:
    """The bytes of a file someone sent with a command, from where their platform keeps it: Discord's CDN (only
    from `hosts`) or Telegram's getFile."""
    if picture.platform == "telegram":
        return telegram_file(
            picture.file_id,
            file_name=picture.filename or None,
            mime_type=picture.content_type or None,
            file_size=picture.size or None,
            max_bytes=max_bytes,
        )
    return discord_attachment(picture.url, picture.size, hosts=hosts, max_bytes=max_bytes)
