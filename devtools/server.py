"""`make run`: every function, the site and the API fakes on one port, with the schedules firing.

functions-framework's create_app executes the source file once per target, so this imports main.py once
and mounts each entrypoint itself, handing it the same Flask request functions-framework would.
"""

from __future__ import annotations

import base64
import io
import itertools
import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from flask import Flask, Response, request, send_from_directory
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.routing import BaseConverter
from werkzeug.wrappers import Request

import main
from devtools import demo, fake_discord, fake_telegram
from devtools.scheduler import Scheduler
from functions.http import problem
from functions.scheduled import SECRET_HEADER
from ttfd.core.settings import get_settings
from ttfd.features import REGISTRY

log = logging.getLogger(__name__)
HTTP_FUNCTIONS = {"discord_interactions": "/discord/interactions", "telegram_webhook": "/telegram/webhook"}
# As deployed, a function receives every method and answers 405 (with Allow) to the ones it does not take.
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class _Anything(BaseConverter):
    """Any rest of the path, newlines and odd bytes included: the function decides what is valid."""

    regex = r"[\s\S]+"
    part_isolating = False


FAKE_DISCORD_PREFIX = "/_fake/discord"
FAKE_TELEGRAM_PREFIX = "/_fake/telegram"
FAKE_XUI_PREFIX = "/_fake/xui"  # the 3x-ui panel (its web base path /panel/, the subscription server /sub/)
XUI_BASE_PATH = "/panel/"
FAKE_CDN_PREFIX = "/_fake/cdn"  # Discord's CDN: files sent with commands (`simulate discord … --attach FILE`)


def create_app(site_dir: Path, after_inbound: Callable[[], None] = lambda: None) -> Flask:
    """The functions and the static site under one Flask app."""
    app = Flask("ttfd-local", static_folder=None)
    app.url_map.converters["anything"] = _Anything

    def mount(name: str, path: str, methods: list[str], kick: bool, options: bool = True) -> None:
        fn = getattr(main, name)

        def view(**_: str) -> Response:  # path parameters: the function reads request.path itself
            resp: Response = fn(request)
            if kick:
                after_inbound()
            return resp

        # Site functions answer only their documented methods: anything else is a 405 with an Allow header.
        app.add_url_rule(path, endpoint=name, view_func=view, methods=methods, provide_automatic_options=options)

    for name, path in HTTP_FUNCTIONS.items():
        mount(name, path, ["POST", "GET"], kick=True)
    for name in REGISTRY.schedules:
        mount(name, f"/scheduled/{name}", ["POST", "GET"], kick=False)
    # The website's functions on the paths the site calls (a trailing <ref> takes the rest of the path);
    # any write may emit events or queue jobs, so the scheduler is kicked after each.
    for name, route in REGISTRY.routes.items():
        mount(name, route.path.replace("<ref>", "<anything:ref>"), ALL_METHODS, kick=True, options=False)

    def static(name: str, status: int = 200) -> Response:
        """A file of the built site, with the headers the static host sends in production."""
        from static_site.build import SECURITY_HEADERS

        resp = send_from_directory(site_dir, name)
        resp.status_code = status
        resp.headers.update(SECURITY_HEADERS)
        return resp

    def lang_dir(path: str) -> str:
        """The language prefix a path starts with ("en/" for en/me), "" for the default language's pages."""
        first = path.split("/", 1)[0]
        return f"{first}/" if first and "." not in first and (site_dir / first / "404.html").is_file() else ""

    @app.get("/u/<path:ref>")
    @app.get("/<lang>/u/<path:ref>")
    def public_profile(ref: str, lang: str = "") -> Response:
        """A static host rewrites /u/* (and /<lang>/u/*) to the one profile page, which reads the ref itself."""
        prefix = lang_dir(f"{lang}/") if lang else ""
        if lang and not prefix:
            return static("404.html", 404)
        return static(f"{prefix}u.html")

    @app.get("/")
    @app.get("/<path:path>")
    def site(path: str = "index.html") -> Response:
        if path.startswith(("api/", "auth/")):
            return problem(404, "No such function.")
        target = site_dir / path
        if target.is_dir():
            path = f"{path.rstrip('/')}/index.html"
        elif not target.exists() and (site_dir / f"{path}.html").exists():
            path = f"{path}.html"
        elif not target.exists() and (site_dir / "404.html").exists():  # as static hosts serve 404.html
            return static(f"{lang_dir(path)}404.html", 404)  # in the language of the address
        return static(path)

    return app


def with_fakes(
    app: Flask,
    discord: fake_discord.DiscordState,
    telegram: fake_telegram.TelegramState,
    outbox: Outbox | None = None,
    xui: Any = None,
    cdn: Any = None,
) -> DispatcherMiddleware:
    """Functions + site at /, the Discord and Telegram API fakes under /_fake/… With an `outbox`, what the
    bot sends the fakes is recorded and the simulator's helpers are mounted at /_fake/dev."""
    discord_app: Any = fake_discord.create_app(discord)
    telegram_app: Any = fake_telegram.create_app(telegram)
    mounts: dict[str, Any] = {}
    if outbox is not None:
        discord_app = outbox.wrap("discord", discord_app)
        telegram_app = outbox.wrap("telegram", telegram_app)
        mounts[DEV_PREFIX] = dev_app(outbox, discord, telegram, cdn)
    mounts[FAKE_DISCORD_PREFIX] = discord_app
    mounts[FAKE_TELEGRAM_PREFIX] = telegram_app
    if xui is not None:
        from devtools import fake_xui

        mounts[FAKE_XUI_PREFIX] = fake_xui.create_app(xui)
    if cdn is not None:
        from devtools import fake_cdn

        mounts[FAKE_CDN_PREFIX] = fake_cdn.create_app(cdn)
    return DispatcherMiddleware(app, mounts)


# --- what the bot sent: recorded for `simulate`, which shows it after each interaction or update -------------

DEV_PREFIX = "/_fake/dev"
SIMULATOR_HEADER = "X-TTFD-Simulator"  # set on calls the simulator itself makes (a webhook reply it runs)


class Outbox:
    """Every call the bot made to the fake APIs (method, path, body, uploaded files, the fake's answer),
    numbered, the latest `limit` kept. Read through GET /_fake/dev/sent?after=N."""

    def __init__(self, limit: int = 400) -> None:
        self.calls: deque[dict[str, Any]] = deque(maxlen=limit)
        self.lock = threading.Lock()
        self.seq = itertools.count(1)
        self.last = 0

    def wrap(self, api: str, inner: Any) -> Any:
        """A WSGI app that records each request to `inner` (and its answer) before handing the answer back."""

        def app(environ: dict[str, Any], start_response: Any) -> Any:
            raw = _body(environ)
            seen: dict[str, Any] = {}

            def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
                seen["status"] = int(status.split()[0])
                return start_response(status, headers, exc_info)

            result = inner(environ, start)
            try:
                answer = b"".join(result)
            finally:
                if hasattr(result, "close"):
                    result.close()
            try:
                self.record(api, environ, raw, seen.get("status", 0), answer)
            except Exception:  # recording is a dev aid: never break the fake's answer
                log.exception("could not record a call to the fake %s", api)
            return [answer]

        return app

    def record(self, api: str, environ: dict[str, Any], raw: bytes, status: int, answer: bytes) -> None:
        req = Request({**environ, "wsgi.input": io.BytesIO(raw), "CONTENT_LENGTH": str(len(raw))})
        path = req.path
        entry: dict[str, Any] = {"api": api, "method": req.method, "status": status, "at": time.time()}
        body: Any = None
        if req.is_json:
            body = req.get_json(silent=True)
        elif req.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
            body = {k: _maybe_json(v) for k, v in req.form.items()}
            entry["files"] = [
                {"field": field, "filename": f.filename or field, "mime": f.mimetype, "data": f.read()}
                for field, f in req.files.items()
            ]
        if api == "discord":
            if not path.startswith("/api/v10/") or "/oauth2/" in path or path.startswith("/api/v10/users/@me/guilds"):
                return
            path = path.removeprefix("/api/v10")
            if isinstance(body, dict) and "payload_json" in body:  # an upload: the message beside its files
                body = body["payload_json"]
        else:
            parts = path.strip("/").split("/")
            if len(parts) != 2 or not parts[0].startswith("bot"):
                return
            path = parts[1]  # the Bot API method (the token stays out of the record)
            params = {k: _maybe_json(v) for k, v in req.args.items()}
            body = {**params, **(body if isinstance(body, dict) else {})}
        entry["path"], entry["body"] = path, body
        if environ.get("HTTP_" + SIMULATOR_HEADER.upper().replace("-", "_")):
            entry["by_simulator"] = True
        if reason := req.headers.get("X-Audit-Log-Reason"):
            entry["reason"] = unquote(reason)
        try:
            entry["answer"] = json.loads(answer) if answer else None
        except ValueError:
            entry["answer"] = None
        with self.lock:
            entry["seq"] = self.last = next(self.seq)
            self.calls.append(entry)

    def since(self, after: int) -> list[dict[str, Any]]:
        with self.lock:
            return [c for c in self.calls if c["seq"] > after]


def _body(environ: dict[str, Any]) -> bytes:
    """Read a request's body and put it back for the app behind."""
    stream = environ["wsgi.input"]
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    raw = stream.read(length) if length > 0 else (stream.read() if environ.get("wsgi.input_terminated") else b"")
    environ["wsgi.input"] = io.BytesIO(raw)
    environ["CONTENT_LENGTH"] = str(len(raw))
    return bytes(raw)


def _maybe_json(value: str) -> Any:
    if value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


_IDLE = """
SELECT (SELECT count(*) FROM jobs WHERE status = 'pending' AND run_at <= now() + interval '1 second') AS due,
       (SELECT count(*) FROM cross_platform_events
         WHERE NOT processed AND created_at > now() - interval '5 minutes') AS events
"""


def dev_app(
    outbox: Outbox, discord: fake_discord.DiscordState, telegram: fake_telegram.TelegramState, cdn: Any = None
) -> Flask:
    """Dev-only helpers for `python -m devtools simulate` (mounted at /_fake/dev; nothing deployed has them):
    what the bot sent, whether its jobs are done, and what the fakes need to know about the people the
    simulator plays (a member joining the demo server, a message posted in a group, a join request)."""
    from devtools import fake_discord_guilds, fake_telegram_joins
    from ttfd.core import db

    dev = Flask("ttfd-dev")

    def ok(body: Any, status: int = 200) -> Response:
        return Response(json.dumps(body, ensure_ascii=False), status, mimetype="application/json")

    @dev.get("/sent")
    def sent() -> Response:
        after = request.args.get("after", type=int, default=0)
        calls = []
        for c in outbox.since(after):
            files = [
                {**f, "data": base64.b64encode(f["data"]).decode(), "size": len(f["data"])} for f in c.get("files", [])
            ]
            calls.append({**c, "files": files})
        return ok({"last": outbox.last, "calls": calls})

    @dev.get("/idle")
    def idle() -> Response:
        """Whether the jobs and events a request queued have run (the scheduler's work is done for now)."""
        row = db.read(lambda conn: conn.execute(_IDLE).fetchone()) or {}
        due, events = int(row.get("due", 0)), int(row.get("events", 0))
        return ok({"idle": due == 0 and events == 0, "due_jobs": due, "events": events, "last": outbox.last})

    @dev.post("/discord/guilds/<int:gid>/members/<int:uid>")
    def discord_member(gid: int, uid: int) -> Response:
        """The member who is about to interact: their roles and permissions as Discord would send them. Someone
        not yet in a known server joins it (no roles); a banned one is said to be banned."""
        g = discord.guilds.get(str(gid))
        if g is None:
            return ok({"known": False})
        profile = request.get_json(silent=True) or {}
        banned = str(uid) in g["bans"]
        joined = False if banned else fake_discord_guilds.join(discord, gid, uid, **profile)
        roles = sorted(discord.member_roles.get((str(gid), str(uid)), set()) - {str(gid)}, key=int)
        return ok(
            {
                "known": True,
                "banned": banned,
                "joined": joined,
                "owner": g["owner_id"] == str(uid),
                "roles": roles,
                "permissions": str(fake_discord_guilds.permissions(discord, gid, uid)) if not banned else "0",
                "timed_out_until": g["members"].get(str(uid), {}).get("communication_disabled_until"),
                "guild_roles": list(g["roles"].values()),
                "channels": g.get("channels", {}),
            }
        )

    @dev.post("/telegram/messages")
    def telegram_message() -> Response:
        """A message now in a chat (a member's, which the bot may delete; or a bot message whose button the
        simulator presses, which the bot may edit)."""
        msg = request.get_json(silent=True) or {}
        try:
            key = int(msg["chat"]["id"]), int(msg["message_id"])
        except (KeyError, TypeError, ValueError):
            return ok({"error": "chat.id and message_id are required"}, 400)
        with telegram.lock:
            telegram.messages[key] = msg
        return ok(msg)

    @dev.get("/telegram/button")
    def telegram_button() -> Response:
        """The newest message the bot sent with this callback_data on a button (in this chat, if given), or the
        message with this id."""
        data, chat = request.args.get("data", ""), request.args.get("chat_id", type=int)
        mid = request.args.get("message_id", type=int)
        with telegram.lock:
            found = [
                m
                for (c, m_id), m in telegram.messages.items()
                if (chat is None or c == chat)
                and (m_id == mid if mid is not None else data in _callbacks(m.get("reply_markup")))
            ]
        if not found:
            return ok({"message": None})
        return ok({"message": max(found, key=lambda m: (m.get("date", 0), m["message_id"]))})

    @dev.post("/discord/attachments")
    def discord_attachment() -> Response:
        """A file someone attaches to a command: stored on the fake CDN; the attachment object Discord would put
        in data.resolved (its URL signed and expiring like Discord's)."""
        data = request.get_data()
        name = (request.args.get("filename") or "file")[:100]
        kind = request.args.get("content_type") or "application/octet-stream"
        if cdn is None or not data or len(data) > 25 * 1024 * 1024:
            return ok({"error": "no CDN here, or an empty or too large file"}, 400)
        url = cdn.put(name, data, kind)
        width = height = 0
        try:
            from PIL import Image

            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
        except Exception:  # noqa: S110 - not a picture: Discord sends no dimensions then
            pass
        attachment_id = str(next(discord.ids) + 1_180_000_000_000_000_000)
        found = {
            "id": attachment_id,
            "filename": name,
            "size": len(data),
            "content_type": kind,
            "url": url,
            "proxy_url": url,
            "ephemeral": True,
        }
        if width:
            found.update(width=width, height=height)
        return ok(found)

    @dev.post("/telegram/files")
    def telegram_file() -> Response:
        """A file someone sends the bot (a photo): its file_id, which getFile then serves."""
        from devtools import fake_telegram_files

        data = request.get_data()
        if not data or len(data) > 20 * 1000 * 1000:
            return ok({"error": "an empty or too large file"}, 400)
        return ok({"file_id": fake_telegram_files.add_file(telegram, data)})

    @dev.post("/telegram/join-requests")
    def telegram_join() -> Response:
        """Someone asks to join a group: pending at the fake, so approving or declining it works."""
        body = request.get_json(silent=True) or {}
        fake_telegram_joins.request_to_join(telegram, int(body["chat_id"]), int(body["user_id"]))
        return ok({"pending": True})

    return dev


def _callbacks(markup: Any) -> set[str]:
    rows = markup.get("inline_keyboard", []) if isinstance(markup, dict) else []
    return {str(b.get("callback_data")) for row in rows for b in row if isinstance(b, dict)}


def fire_in_process(app: Flask) -> Callable[[str], bool]:
    """Invoke a scheduled function as Cloud Scheduler would (with the scheduler's secret header), without an
    HTTP hop. Answers whether it queued more work (a job that queued a job, or emitted an event)."""
    from ttfd.core import wake

    def fire(name: str) -> bool:
        wake.take()
        headers = {SECRET_HEADER: get_settings().scheduler_secret or ""}
        with app.test_request_context(f"/scheduled/{name}", method="POST", headers=headers):
            resp = getattr(main, name)(request)
            log.info("schedule %s → %s %s", name, resp.status_code, resp.get_data(as_text=True)[:200])
        return wake.take()

    return fire


@dataclass
class DevServer:
    """Everything `make run` serves on one port: `wsgi` is the app to serve."""

    app: Flask
    wsgi: Any
    discord: fake_discord.DiscordState
    telegram: fake_telegram.TelegramState
    outbox: Outbox
    scheduler: Scheduler
    xui: Any = None  # the fake 3x-ui panel's state (devtools.fake_xui.XuiState)


def build(site_dir: Path) -> DevServer:
    """The functions, the site, the fakes (holding the demo server and group) and the scheduler (not yet
    started), from the environment the CLI prepared (dev keys)."""
    discord = fake_discord.DiscordState(token=os.environ["DISCORD_BOT_TOKEN"])
    if app_id := os.environ.get("DISCORD_APPLICATION_ID"):
        discord.bot_user_id = app_id  # a bot's user id is its application's id
    if client_id := os.environ.get("DISCORD_CLIENT_ID"):
        discord.oauth_clients[client_id] = os.environ.get("DISCORD_CLIENT_SECRET", "")
        site_url = os.environ.get("SITE_URL", "")
        discord.oauth_redirect_uris[client_id] = {f"{site_url}/auth/discord/callback"}
    for user_id, username, display_name in demo.discord_logins():
        discord.add_oauth_user(user_id, username, display_name, guilds=(demo.GUILD_ID,))
    telegram = fake_telegram.TelegramState(token=os.environ["TELEGRAM_BOT_TOKEN"])
    demo.populate_fakes(discord, telegram)
    outbox = Outbox()
    # The lambda reads `scheduler` when a request ends, by which time it exists.
    app = create_app(site_dir, after_inbound=lambda: scheduler.kick())
    scheduler = Scheduler({name: s.cron for name, s in REGISTRY.schedules.items()}, fire_in_process(app))
    from devtools import fake_xui

    # A 3x-ui v3.6 panel with a Reality inbound (the cookie login with CSRF: the harder of its two ways in).
    xui = fake_xui.XuiState.demo("3.6.0", base_path=XUI_BASE_PATH, link_host="vpn.example.com")
    from devtools import fake_cdn

    cdn = fake_cdn.FakeCdn(base_url=os.environ.get("SITE_URL", "http://127.0.0.1:8080") + FAKE_CDN_PREFIX)
    wsgi = with_fakes(app, discord, telegram, outbox, xui, cdn)
    return DevServer(app, wsgi, discord, telegram, outbox, scheduler, xui)


def serve(port: int) -> None:
    """Run until interrupted (assumes settings/env were prepared by the CLI)."""
    from werkzeug.serving import run_simple

    from static_site.build import DIST

    dev = build(DIST)
    dev.scheduler.start()
    # What seeding queued (the demo players' rank-ups) runs once the port answers, so its jobs can reach the
    # fakes and the first simulation shows only what it caused.
    threading.Thread(target=_kick_when_listening, args=(port, dev.scheduler), daemon=True).start()
    log.info("serving on http://127.0.0.1:%s", port)
    run_simple("127.0.0.1", port, dev.wsgi, threaded=True, use_reloader=False)


def _kick_when_listening(port: int, scheduler: Scheduler, timeout_s: float = 30.0) -> None:
    import socket

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.1)
    scheduler.kick()
