"""A faithful-enough Discord REST v10 fake: commands, member roles, interaction webhooks, 429s and errors.

Shapes follow docs/PROTOCOLS.md: bot auth `Authorization: Bot <token>`, 204 for role PUT/DELETE,
bulk PUT replaces all commands, 429 carries `retry_after` in the body and `Retry-After` in headers.
"""

from __future__ import annotations

import html
import itertools
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

from flask import Flask, Response, request

from devtools import fake_discord_automod, fake_discord_channels, fake_discord_guilds
from devtools.fake_wire import discord_error as _error


@dataclass
class Failure:
    method: str
    path_re: str
    status: int
    body: dict[str, Any]
    headers: dict[str, str]
    times: int


@dataclass
class DiscordState:
    token: str
    commands: dict[tuple[str, str | None], list[dict[str, Any]]] = field(default_factory=dict)
    member_roles: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    originals: dict[str, dict[str, Any]] = field(default_factory=dict)
    channel_messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    calls: list[tuple[str, str, Any]] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    # OAuth2 provider: client_id → secret, people who can log in, codes and tokens handed out
    oauth_clients: dict[str, str] = field(default_factory=dict)
    oauth_redirect_uris: dict[str, set[str]] = field(default_factory=dict)  # client_id → registered redirects
    oauth_users: dict[str, dict[str, Any]] = field(default_factory=dict)
    oauth_guilds: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    oauth_codes: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # code → (client, redirect, user)
    oauth_tokens: dict[str, str] = field(default_factory=dict)  # access token → user id
    # Servers (devtools/fake_discord_guilds.py): guild id → {"owner_id", "roles": {id: role}, "members": {user
    # id: member}, "bans": {user id: ban}}; a member's roles live in member_roles like the role routes'.
    guilds: dict[str, dict[str, Any]] = field(default_factory=dict)
    bot_user_id: str = "1100000000000000001"  # the bot's user id (the application's id, as on Discord)
    dm_channels: dict[str, str] = field(default_factory=dict)  # user id → DM channel id
    closed_dms: set[str] = field(default_factory=set)  # users whose DMs are closed to the bot (403 50007)
    audit_reasons: list[tuple[str, str, str]] = field(default_factory=list)  # (method, path, X-Audit-Log-Reason)

    def add_oauth_user(
        self, user_id: int, username: str, global_name: str | None = None, guilds: tuple[int, ...] = ()
    ) -> None:
        """Someone who can log in at the fake authorize page (and the guilds /users/@me/guilds lists)."""
        self.oauth_users[str(user_id)] = {
            "id": str(user_id),
            "username": username,
            "discriminator": "0",
            "global_name": global_name,
            "avatar": None,
        }
        self.oauth_guilds[str(user_id)] = [
            {"id": str(g), "name": f"Guild {g}", "icon": None, "owner": False, "permissions": "0", "features": []}
            for g in guilds
        ]

    def fail_next(
        self,
        method: str,
        path_re: str,
        status: int,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Make the next `times` matching requests answer `status` (e.g. a 429 or a 403)."""
        self.failures.append(Failure(method, path_re, status, body or {}, headers or {}, times))

    def rate_limit_next(self, method: str, path_re: str, retry_after: float = 0.05, times: int = 1) -> None:
        """Queue a realistic 429 (per-route bucket) for matching requests."""
        body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": False}
        headers = {
            "Retry-After": str(max(1, round(retry_after))),
            "X-RateLimit-Scope": "user",
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset-After": str(retry_after),
            "X-RateLimit-Bucket": "fakebucket",
        }
        self.fail_next(method, path_re, 429, body, headers, times)

    def add_message(
        self, channel_id: int, author: dict[str, Any], content: str, at: float | None = None, **extra: Any
    ) -> dict[str, Any]:
        """Someone posts in a channel (what the gateway-less poller will find); `at` is a unix time."""
        ts = at if at is not None else time.time()
        ms = int(ts * 1000)
        msg_id = ((ms - 1420070400000) << 22) | (next(self.ids) & 0x3FFFFF)
        iso = datetime.fromtimestamp(ms / 1000, UTC).isoformat()
        msg = {
            "id": str(msg_id),
            "channel_id": str(channel_id),
            "type": 0,
            "content": content,
            "author": author,
            "timestamp": iso,
            **extra,
        }
        with self.lock:
            self.channel_messages.setdefault(str(channel_id), []).append(msg)
        return msg

    def calls_to(self, method: str, path_re: str) -> list[tuple[str, str, Any]]:
        return [c for c in self.calls if c[0] == method and re.fullmatch(path_re, c[1])]


# More routes live in devtools/fake_discord_*.py (servers and members, AutoMod): each `extend` registers its
# routes on the app, under the prefix, against the shared state.
EXTENSIONS = (fake_discord_guilds.extend, fake_discord_automod.extend, fake_discord_channels.extend)


def create_app(state: DiscordState, prefix: str = "/api/v10") -> Flask:
    """The fake as a Flask app; mount it at any prefix (the dev server uses /_fake/discord/api/v10)."""
    app = Flask("fake_discord")

    @app.before_request
    def _check() -> Response | None:
        path = request.path.removeprefix(prefix)
        body = request.get_json(silent=True)
        with state.lock:
            state.calls.append((request.method, path, body))
            if reason := request.headers.get("X-Audit-Log-Reason"):  # URL-encoded UTF-8, as Discord takes it
                state.audit_reasons.append((request.method, path, unquote(reason)))
            for f in state.failures:
                if f.times > 0 and f.method == request.method and re.fullmatch(f.path_re, path):
                    f.times -= 1
                    return Response(json.dumps(f.body), f.status, headers=f.headers, mimetype="application/json")
        # Interaction webhooks need no auth; OAuth routes check client credentials or a Bearer token themselves.
        public = path.startswith(("/webhooks/", "/_dev/", "/oauth2/", "/users/@me"))
        if not public and request.headers.get("Authorization") != f"Bot {state.token}":
            return _error(401, 0, "401: Unauthorized")
        return None

    def _commands(app_id: str, guild_id: str | None) -> Response:
        key = (app_id, guild_id)
        if request.method == "GET":
            return Response(json.dumps(state.commands.get(key, [])), 200, mimetype="application/json")
        body = request.get_json(silent=True)
        if not isinstance(body, list):
            return _error(400, 50035, "Invalid Form Body")
        stored = []
        for cmd in body:
            if not re.fullmatch(r"[-_'\w]{1,32}", cmd.get("name", "")) or cmd["name"] != cmd["name"].lower():
                return _error(400, 50035, "Invalid Form Body")
            if not 1 <= len(cmd.get("description", "")) <= 100:
                return _error(400, 50035, "Invalid Form Body")
            stored.append(
                {
                    **cmd,
                    "id": str(next(state.ids)),
                    "application_id": app_id,
                    "version": "1",
                    **({"guild_id": guild_id} if guild_id else {}),
                    "nsfw": False,
                    "default_member_permissions": cmd.get("default_member_permissions"),
                }
            )
        with state.lock:
            state.commands[key] = stored
        return Response(json.dumps(stored), 200, mimetype="application/json")

    @app.route(f"{prefix}/applications/<app_id>/commands", methods=["GET", "PUT"])
    def global_commands(app_id: str) -> Response:
        return _commands(app_id, None)

    @app.route(f"{prefix}/applications/<app_id>/guilds/<guild_id>/commands", methods=["GET", "PUT"])
    def guild_commands(app_id: str, guild_id: str) -> Response:
        return _commands(app_id, guild_id)

    @app.route(f"{prefix}/guilds/<guild_id>/members/<user_id>/roles/<role_id>", methods=["PUT", "DELETE"])
    def member_role(guild_id: str, user_id: str, role_id: str) -> Response:
        if (refused := fake_discord_guilds.role_refusal(state, guild_id, user_id, role_id)) is not None:
            return refused
        with state.lock:
            roles = state.member_roles.setdefault((guild_id, user_id), set())
            if request.method == "PUT":
                roles.add(role_id)
            else:
                roles.discard(role_id)
        return Response(status=204)

    @app.route(f"{prefix}/webhooks/<app_id>/<token>/messages/@original", methods=["GET", "PATCH", "DELETE"])
    def original(app_id: str, token: str) -> Response:
        if request.method == "DELETE":
            state.originals.pop(token, None)
            return Response(status=204)
        if request.method == "PATCH":
            if request.mimetype == "multipart/form-data":  # payload_json beside files[n], as Discord takes uploads
                try:
                    body = json.loads(request.form.get("payload_json", "{}"))
                except ValueError:
                    return _error(400, 50109, "The request body contains invalid JSON.")
                body["attachments"] = [
                    {
                        "id": str(next(state.ids)),
                        "filename": f.filename,
                        "size": len(f.read()),
                        "content_type": f.mimetype,
                    }
                    for f in request.files.values()
                ]
            else:
                body = request.get_json(silent=True) or {}
            if len(str(body.get("content", ""))) > 2000:
                return _error(400, 50035, "Invalid Form Body")
            msg = {"id": str(next(state.ids)), "timestamp": time.time(), **body}
            state.originals[token] = msg
        if token not in state.originals:
            return _error(404, 10008, "Unknown Message")
        return Response(json.dumps(state.originals[token]), 200, mimetype="application/json")

    @app.get(f"{prefix}/channels/<channel_id>/messages")
    def messages(channel_id: str) -> Response:
        try:
            limit = int(request.args.get("limit", 50))
            after = int(request.args.get("after", 0))
            before = int(request.args.get("before", 0))
        except ValueError:
            return _error(400, 50035, "Invalid Form Body")
        if not 1 <= limit <= 100:
            return _error(400, 50035, "Invalid Form Body")
        if channel_id not in state.channel_messages:
            return _error(404, 10003, "Unknown Channel")
        ordered = sorted(state.channel_messages[channel_id], key=lambda m: int(m["id"]))
        if "after" in request.args:  # the oldest `limit` after it
            page = [m for m in ordered if int(m["id"]) > after][:limit]
        else:  # the newest `limit` (before a message, if given)
            page = [m for m in ordered if not before or int(m["id"]) < before][-limit:]
        return Response(json.dumps(page[::-1]), 200, mimetype="application/json")  # newest first

    @app.post(f"{prefix}/_dev/channels/<channel_id>/say")
    def say(channel_id: str) -> Response:
        """Dev only (not a Discord route): a member posts a message, for `simulate discord --say`."""
        body = request.get_json(silent=True) or {}
        author = body.get("author") or {}
        if not author.get("id") or not isinstance(body.get("content"), str):
            return _error(400, 50035, "Invalid Form Body")
        return Response(
            json.dumps(state.add_message(int(channel_id), author, body["content"])), 200, mimetype="application/json"
        )

    # --- OAuth2 (protocols.md §2 "OAuth2"): authorize page, token exchange, /users/@me[/guilds] ---------

    @app.route("/oauth2/authorize", methods=["GET", "POST"])
    def authorize() -> Response:
        """The consent page: pick who to log in as (dev), or cancel; then back to redirect_uri."""
        args = request.values
        client_id, redirect_uri, state_param = (
            args.get("client_id", ""),
            args.get("redirect_uri", ""),
            args.get("state"),
        )
        if args.get("response_type") != "code" or client_id not in state.oauth_clients or not redirect_uri:
            return Response("<h1>Invalid OAuth2 request</h1>", 400, mimetype="text/html")
        if redirect_uri not in state.oauth_redirect_uris.get(client_id, set()):  # Discord checks the portal's list
            return Response("<h1>Invalid OAuth2 redirect_uri</h1>", 400, mimetype="text/html")
        sep = "&" if "?" in redirect_uri else "?"
        tail = f"&state={quote(state_param)}" if state_param else ""
        if request.method == "POST":
            if args.get("action") == "cancel":
                return Response(
                    status=302,
                    headers={"Location": f"{redirect_uri}{sep}error=access_denied&error_description=cancelled{tail}"},
                )
            user_id = args.get("user_id", "")
            if user_id not in state.oauth_users:
                if not user_id.isdigit():
                    return Response("<h1>Pick a user</h1>", 400, mimetype="text/html")
                state.add_oauth_user(int(user_id), args.get("username") or f"user{user_id}", args.get("username"))
            code = secrets.token_urlsafe(16)
            with state.lock:
                state.oauth_codes[code] = (client_id, redirect_uri, user_id)
            return Response(status=302, headers={"Location": f"{redirect_uri}{sep}code={code}{tail}"})
        hidden = "".join(
            f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">' for k, v in args.items()
        )
        options = "".join(
            f'<option value="{html.escape(u["id"])}">{html.escape(u["global_name"] or u["username"])}'
            f" (@{html.escape(u['username'])})</option>"
            for u in state.oauth_users.values()
        )
        page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Authorize · fake Discord</title>
<style>body{{font:16px system-ui;background:#313338;color:#f2f3f5;display:grid;place-items:center;min-height:100vh;
margin:0}}form{{background:#2b2d31;padding:2rem;border-radius:8px;width:22rem}}select,input,button{{font:inherit;
width:100%;margin:.3rem 0 1rem;padding:.5rem;box-sizing:border-box}}button{{background:#5865f2;color:#fff;border:0;
border-radius:4px}}button.secondary{{background:#4e5058}}</style></head><body><form method="post">
<h1>Fake Discord</h1><p>An application wants to know who you are and which servers you are in
(<code>{html.escape(args.get("scope", ""))}</code>). Local development only.</p>{hidden}
<label for="user_id">Log in as</label><select id="user_id" name="user_id">{options}</select>
<button id="authorize" name="action" value="authorize">Authorize</button>
<button id="cancel" class="secondary" name="action" value="cancel">Cancel</button></form></body></html>"""
        return Response(page, 200, mimetype="text/html")

    def _client_credentials() -> tuple[str, str] | None:
        if request.authorization and request.authorization.type == "basic":
            return request.authorization.username or "", request.authorization.password or ""
        if "client_id" in request.form:
            return request.form["client_id"], request.form.get("client_secret", "")
        return None

    def _oauth_error(status: int, error: str, description: str) -> Response:
        body = {"error": error, "error_description": description}
        return Response(json.dumps(body), status, mimetype="application/json")

    @app.post(f"{prefix}/oauth2/token")
    def token() -> Response:
        creds = _client_credentials()
        if creds is None or state.oauth_clients.get(creds[0]) != creds[1]:
            return _oauth_error(401, "invalid_client", "Invalid client")
        if request.form.get("grant_type") != "authorization_code":
            return _oauth_error(400, "unsupported_grant_type", "Unsupported grant type")
        with state.lock:
            issued = state.oauth_codes.pop(request.form.get("code", ""), None)  # a code works once
        if issued is None or issued[0] != creds[0]:
            return _oauth_error(400, "invalid_grant", 'Invalid "code" in request.')
        if issued[1] != request.form.get("redirect_uri"):
            return _oauth_error(400, "invalid_grant", 'Invalid "redirect_uri" in request.')
        access = secrets.token_urlsafe(24)
        state.oauth_tokens[access] = issued[2]
        body = {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": 604800,
            "refresh_token": secrets.token_urlsafe(24),
            "scope": "identify guilds",
        }
        return Response(json.dumps(body), 200, mimetype="application/json")

    def _bearer_user() -> str | None:
        auth = request.headers.get("Authorization", "")
        return state.oauth_tokens.get(auth.removeprefix("Bearer ")) if auth.startswith("Bearer ") else None

    @app.get(f"{prefix}/users/@me")
    def me() -> Response:
        user_id = _bearer_user()
        if user_id is None:
            return _error(401, 0, "401: Unauthorized")
        return Response(json.dumps(state.oauth_users[user_id]), 200, mimetype="application/json")

    @app.get(f"{prefix}/users/@me/guilds")
    def my_guilds() -> Response:
        user_id = _bearer_user()
        if user_id is None:
            return _error(401, 0, "401: Unauthorized")
        return Response(json.dumps(state.oauth_guilds.get(user_id, [])), 200, mimetype="application/json")

    @app.errorhandler(404)
    def not_found(_: Exception) -> Response:
        return _error(404, 0, "404: Not Found")

    @app.errorhandler(405)
    def not_allowed(_: Exception) -> Response:
        return _error(405, 0, "405: Method Not Allowed")

    for extend in EXTENSIONS:
        extend(app, state, prefix)
    return app
