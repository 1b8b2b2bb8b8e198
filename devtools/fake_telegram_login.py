"""The fake Telegram's Login Widget (dev only, not a Bot API route), under the fake's `/_dev/login-widget`:

- `GET ?auth_url=<our return address>`: the page the widget's popup would show — pick a demo Telegram player
  or type an id, press *Log in* (or *Cancel*) — mirroring the fake Discord's authorize page;
- `POST` (that form): back to `auth_url` with the Login Widget's fields (id, first_name, username,
  auth_date, hash) signed with this bot's token exactly as Telegram signs them — the widget's redirect mode;
- `GET ?id=&first_name=[&username=]`: those signed fields as JSON (the link page's dev form).
"""

from __future__ import annotations

import html
import json
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from flask import Flask, Response, request

from devtools import demo

if TYPE_CHECKING:
    from devtools.fake_telegram import TelegramState


def demo_players() -> list[tuple[int, str, str]]:
    """(telegram id, username, name) of the demo players who live on Telegram."""
    return [(p.ext, p.username, p.name) for p in demo.DEMO if p.platform == "telegram"]


def signed_fields(token: str, user_id: int, first_name: str, username: str | None = None) -> dict[str, Any]:
    """What the widget hands back after a person signs in, signed with the bot's token."""
    from ttfd.features.auth.telegram_login import sign

    fields: dict[str, Any] = {"id": user_id, "first_name": first_name}
    if username:
        fields["username"] = username
    fields["auth_date"] = int(time.time())
    fields["hash"] = sign(fields, token)
    return fields


def _same_site(auth_url: str) -> bool:
    """Only back to the site that asked (a path, or this server's own origin): no open redirect."""
    parts = urlsplit(auth_url)
    if not parts.scheme and not parts.netloc:
        return auth_url.startswith("/") and not auth_url.startswith("//")
    return parts.scheme in ("http", "https") and parts.netloc == request.host


def _page(auth_url: str, bot: str, back: str, error: str = "") -> Response:
    options = "".join(
        f'<option value="{ext}">{html.escape(name)} (@{html.escape(username)})</option>'
        for ext, username, name in demo_players()
    )
    alert = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Log in · fake Telegram</title>
<style>body{{font:16px system-ui;background:#17212b;color:#f5f5f5;display:grid;place-items:center;min-height:100vh;
margin:0}}form{{background:#232e3c;padding:2rem;border-radius:12px;width:min(22rem,88vw)}}select,input,button{{
font:inherit;width:100%;margin:.3rem 0 1rem;padding:.5rem;box-sizing:border-box}}button{{background:#2aabee;
color:#fff;border:0;border-radius:8px}}button.secondary{{background:#4e5058}}.error{{color:#ff8a80}}
label{{display:block}}</style></head><body><form method="post">
<h1>Fake Telegram</h1><p>A website wants you to log in with Telegram through the bot
<code>@{html.escape(bot)}</code>. Local development only.</p>{alert}
<input type="hidden" name="auth_url" value="{html.escape(auth_url)}">
<input type="hidden" name="back" value="{html.escape(back)}">
<label for="player">Log in as a demo player</label>
<select id="player" name="player"><option value="">— or type an id below —</option>{options}</select>
<label for="tg_id">Telegram user id</label><input id="tg_id" name="id" inputmode="numeric" autocomplete="off">
<label for="first_name">First name</label><input id="first_name" name="first_name" autocomplete="off">
<label for="username">Username (optional)</label><input id="username" name="username" autocomplete="off">
<button id="authorize" name="action" value="authorize">Log in</button>
<button id="cancel" class="secondary" name="action" value="cancel">Cancel</button></form></body></html>"""
    return Response(page, 400 if error else 200, mimetype="text/html")


def register(app: Flask, state: TelegramState, prefix: str = "") -> None:
    """Mount the fake login page on the fake Telegram's app."""

    @app.route(f"{prefix}/_dev/login-widget", methods=["GET", "POST"])
    def login_widget() -> Response:
        from devtools.fake_wire import tg_err

        bot = request.values.get("bot") or "ttfd_dev_bot"
        auth_url = request.values.get("auth_url", "")
        if request.method == "GET" and not auth_url:  # the signed fields as JSON (the link page's dev form)
            if not str(request.args.get("id", "")).isdigit() or not request.args.get("first_name"):
                return tg_err(400, "Bad Request: id and first_name are required")
            fields = signed_fields(
                state.token, int(request.args["id"]), request.args["first_name"], request.args.get("username")
            )
            resp = Response(json.dumps(fields), 200, mimetype="application/json")
            resp.headers["Cache-Control"] = "no-store"
            return resp
        if not _same_site(auth_url):
            return Response("<h1>Invalid auth_url</h1>", 400, mimetype="text/html")
        back = request.values.get("back") or request.referrer or "/"
        back = back if _same_site(back) else "/"
        if request.method == "GET":
            return _page(auth_url, bot, back)
        if request.values.get("action") == "cancel":  # the widget's popup just closes: back where the person was
            return Response(status=302, headers={"Location": back})
        known = {str(ext): (username, name) for ext, username, name in demo_players()}
        chosen = request.values.get("player", "")
        if chosen in known:
            user_id, (username, first_name) = int(chosen), known[chosen]
        else:
            raw = request.values.get("id", "").strip()
            first_name = request.values.get("first_name", "").strip()
            username = request.values.get("username", "").strip().removeprefix("@")
            if not raw.isdigit() or not 0 < int(raw) < 2**63 or not first_name:
                return _page(auth_url, bot, back, "Pick a demo player, or type a Telegram id and a first name.")
            user_id = int(raw)
        fields = signed_fields(state.token, user_id, first_name, username or None)
        sep = "&" if "?" in auth_url else "?"
        return Response(status=302, headers={"Location": f"{auth_url}{sep}{urlencode(fields)}"})
