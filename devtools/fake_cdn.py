"""A fake Discord CDN (protocols.md §8): uploads served under signed, expiring URLs, plus the awkward answers a
real download must survive.

`cdn.put(filename, data, content_type)` stores bytes and returns their URL —
`<base>/ephemeral-attachments/<channel>/<id>/<filename>?ex=<hex>&is=<hex>&hm=<hex>&` with `ex` = now + 24 h and
`hm` an HMAC over the path and both times, as Discord signs them. The URL answers 404 ("This content is no
longer available.") after `ex` or with a wrong `hm`, like Discord's. Also: `put_huge` (a body of any size made
on the fly, never held in memory), `content_length=` (a Content-Length that lies), `put_redirect` (a 302 to
anywhere). `base_url` is where the app is served (set it once the server runs); the dev stack lists that
host:port in DISCORD_CDN_HOSTS.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import quote

from flask import Flask, Response, request

DAY_S = 24 * 3600
GONE = "This content is no longer available."


@dataclass
class Stored:
    content_type: str
    data: bytes = b""
    huge: int | None = None  # a generated body of this many bytes instead of `data`
    content_length: int | None = None  # the header to send when it should lie
    location: str | None = None  # a redirect instead of a body
    expires: int = 0


@dataclass
class FakeCdn:
    base_url: str = "http://127.0.0.1"
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(16))
    files: dict[str, Stored] = field(default_factory=dict)  # path → what it serves
    served: list[str] = field(default_factory=list)  # paths requested, in order
    clock: Callable[[], float] = time.time  # a test moves time forward by replacing it
    lock: threading.Lock = field(default_factory=threading.Lock)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1180000000000000000))

    def sign(self, path: str, expires: int, issued: int) -> str:
        message = f"{path}|{expires:x}|{issued:x}".encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()

    def _add(self, filename: str, stored: Stored, ttl_s: int) -> str:
        issued = int(self.clock())
        stored.expires = issued + ttl_s
        with self.lock:
            path = f"/ephemeral-attachments/{next(self.ids)}/{next(self.ids)}/{quote(filename, safe='')}"
            self.files[path] = stored
        query = f"ex={stored.expires:x}&is={issued:x}&hm={self.sign(path, stored.expires, issued)}&"
        return f"{self.base_url.rstrip('/')}{path}?{query}"

    def put(
        self,
        filename: str,
        data: bytes,
        content_type: str,
        *,
        ttl_s: int = DAY_S,
        content_length: int | None = None,
    ) -> str:
        """Store an upload; its signed URL (valid `ttl_s`). `content_length` sends that header instead of the
        true length."""
        return self._add(filename, Stored(content_type, data, content_length=content_length), ttl_s)

    def put_huge(self, filename: str, size: int, content_type: str = "image/png", *, declare: bool = True) -> str:
        """A body of `size` bytes (a PNG signature, then zeros) streamed as it is sent; `declare`: with its
        Content-Length (else chunked, so only counting the bytes finds the size)."""
        return self._add(filename, Stored(content_type, huge=size, content_length=size if declare else None), DAY_S)

    def put_redirect(self, filename: str, location: str) -> str:
        """A URL that answers 302 to `location`."""
        return self._add(filename, Stored("text/plain", location=location), DAY_S)


def _huge(size: int) -> Iterator[bytes]:
    head = b"\x89PNG\r\n\x1a\n"
    yield head
    left, block = size - len(head), bytes(64 * 1024)
    while left > 0:
        yield block[: min(left, len(block))]
        left -= len(block)


def create_app(cdn: FakeCdn) -> Flask:
    app = Flask("fake_cdn")

    @app.route("/ephemeral-attachments/<a>/<b>/<name>", methods=["GET", "HEAD"])
    @app.route("/attachments/<a>/<b>/<name>", methods=["GET", "HEAD"])
    def serve(a: str, b: str, name: str) -> Response:
        path = request.path
        with cdn.lock:
            cdn.served.append(path)
            stored = cdn.files.get(path)
        try:
            expires, issued = int(request.args.get("ex", ""), 16), int(request.args.get("is", ""), 16)
        except ValueError:
            return Response(GONE, 404, mimetype="text/plain")
        signature = request.args.get("hm", "")
        good = hmac.compare_digest(signature, cdn.sign(path, expires, issued))
        if stored is None or not good or expires != stored.expires or cdn.clock() > expires:
            return Response(GONE, 404, mimetype="text/plain")
        if stored.location is not None:
            return Response("", 302, headers={"Location": stored.location})
        if stored.huge is not None:
            resp = Response(_huge(stored.huge), 200, mimetype=stored.content_type, direct_passthrough=True)
        else:
            resp = Response(stored.data, 200, mimetype=stored.content_type)
        if stored.content_length is not None:
            resp.headers["Content-Length"] = str(stored.content_length)
        elif stored.huge is not None:
            resp.headers.pop("Content-Length", None)
        resp.headers["Cache-Control"] = "public, max-age=31536000"
        return resp

    return app
