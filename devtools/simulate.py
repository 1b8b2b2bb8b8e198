"""Simulators: sign and send real-shaped Discord interactions / Telegram updates to a running server, then show
what the bot sent later (deferred edits, DMs, moderation calls), as the local fakes recorded it."""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import random
import re
import shlex
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from nacl.signing import SigningKey

DISCORD_EPOCH_MS = 1420070400000
DEFAULT_LOCALE, DEFAULT_LANG = "en-US", "en"
PING, COMMAND, COMPONENT, AUTOCOMPLETE, MODAL = 1, 2, 3, 4, 5
BUTTON, SELECT, TEXT_INPUT = 2, 3, 4


class Usage(ValueError):
    """What the simulator was asked makes no sense (an unknown command or option, a menu without that option)."""


def snowflake(now_ms: int | None = None) -> int:
    """A Discord-style id for 'now' (timestamp in the high bits, randomness below)."""
    ms = now_ms if now_ms is not None else int(time.time() * 1000)
    return ((ms - DISCORD_EPOCH_MS) << 22) | random.getrandbits(22)


def names(user: int) -> tuple[str, str]:
    """(username, display name) a simulated person sends: a demo player's own (so simulating as Mira never
    renames her), else user<id> / User <id>."""
    from devtools.demo import player

    found = player(user)
    return (found.username, found.name) if found else (f"user{user}", f"User {user}")


def language_of(user: int) -> str | None:
    """The language a demo player's platform says they read (None: not a demo player, or English)."""
    from devtools.demo import player

    found = player(user)
    return found.language if found else None


def discord_locale(given: str | None, user: int) -> str:
    """Discord's locale for the interaction: as given (`ru`, `en` meaning en-US), else the demo player's,
    else en-US."""
    picked = given or language_of(user) or DEFAULT_LOCALE
    return {"en": "en-US"}.get(picked, picked)


def telegram_language(given: str | None, user: int) -> str:
    """Telegram's language_code: as given (`en-US` read as `en`), else the demo player's, else en."""
    return (given or language_of(user) or DEFAULT_LANG).split("-")[0].lower()


# --- Discord payloads ----------------------------------------------------------------------------------------


def _coerce(value: str, option_type: int) -> Any:
    if option_type in (4,):
        return int(value)
    if option_type == 10:
        return float(value)
    if option_type == 5:
        return value.lower() in ("1", "true", "yes", "on")
    if option_type in (6, 7, 8, 9):
        return value.strip("<@!&#>")
    return value


def parse_command(text: str, definitions: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """'/setup rank-role rank:F role:123' → (data.options tree, resolved) using the command definitions."""
    try:
        words = shlex.split(text.strip().lstrip("/"))
    except ValueError as exc:  # an unclosed quote
        raise Usage(f"{exc} in {text!r}; quote an option with spaces whole: '/buy \"item:Golden frame\"'") from None
    if not words:
        raise Usage("empty command")
    name, rest = words[0], words[1:]
    spec = next((d for d in definitions if d["name"] == name), None)
    if spec is None:
        raise Usage(f"unknown command /{name}; known: {', '.join(d['name'] for d in definitions)}")
    option_specs = spec.get("options", [])
    wrapper: dict[str, Any] | None = None
    if option_specs and option_specs[0]["type"] == 1:
        if not rest or rest[0] in (":",) or ":" in rest[0]:
            raise Usage(f"/{name} needs a subcommand: {', '.join(o['name'] for o in option_specs)}")
        sub = next((o for o in option_specs if o["name"] == rest[0]), None)
        if sub is None:
            raise Usage(f"unknown subcommand {rest[0]!r}")
        wrapper = {"name": sub["name"], "type": 1, "options": []}
        option_specs, rest = sub.get("options", []), rest[1:]
    options: list[dict[str, Any]] = []
    resolved: dict[str, dict[str, Any]] = {}
    types = {o["name"]: o["type"] for o in option_specs}
    for i, word in enumerate(rest):
        key, sep, value = word.partition(":")
        if not sep:  # positional: the i-th option
            if i >= len(option_specs):
                raise Usage(f"/{name} takes no more options than {len(option_specs)}: {word!r}")
            key, value = option_specs[i]["name"], word
        if key not in types:
            raise Usage(f"unknown option {key!r}; /{name} takes {', '.join(types) or 'none'}")
        try:
            v = _coerce(value, types[key])
        except ValueError:
            raise Usage(f"option {key!r} takes a number, not {value!r}") from None
        options.append({"name": key, "type": types[key], "value": v})
        # Discord resolves every picked user, role and channel into data.resolved.
        if types[key] == 6:
            resolved.setdefault("users", {})[str(v)] = _resolved_user(int(v))
        elif types[key] == 8:
            resolved.setdefault("roles", {})[str(v)] = {
                "id": str(v),
                "name": f"role {v}",
                "permissions": "0",
                "managed": False,
                "position": 1,
            }
        elif types[key] == 7:
            resolved.setdefault("channels", {})[str(v)] = {"id": str(v), "name": f"channel-{v}", "type": 0}
    if wrapper is not None:
        wrapper["options"] = options
        options = [wrapper]
    return {"name": name, "type": 1, "options": options}, resolved


def _resolved_user(user: int) -> dict[str, Any]:
    from devtools.demo import player

    found = player(user)
    if found is None:
        return {"id": str(user), "username": f"user{user}", "global_name": None}
    return {"id": str(user), "username": found.username, "global_name": found.name}


def dress(resolved: dict[str, Any], guild: dict[str, Any]) -> dict[str, Any]:
    """Resolved roles and channels as the (fake) server has them: names, permissions and positions."""
    roles = {str(r["id"]): r for r in guild.get("guild_roles", [])}
    for rid, entry in resolved.get("roles", {}).items():
        if rid in roles:
            entry.update({k: roles[rid][k] for k in ("name", "permissions", "position", "managed") if k in roles[rid]})
    channels = guild.get("channels", {})
    for cid, entry in resolved.get("channels", {}).items():
        if cid in channels:
            entry["name"] = channels[cid]
    return resolved


def discord_payload(
    *,
    app_id: str,
    user: int,
    guild: int | None,
    name: str | None = None,
    data: dict[str, Any],
    interaction_type: int = COMMAND,
    permissions: int = 0,
    message: dict[str, Any] | None = None,
    locale: str = DEFAULT_LOCALE,
    guild_locale: str | None = None,
    roles: list[str] | tuple[str, ...] = (),
    channel: int | None = None,
) -> dict[str, Any]:
    """A guild (member.user) or DM (user) interaction as Discord sends it. `locale` is the person's Discord
    language and, unless `guild_locale` says otherwise, the server's too; `channel` where it happens (else the
    guild's channel guild + 1)."""
    username, display = names(user)
    duser = {
        "id": str(user),
        "username": name or username,
        "global_name": (name or display).title(),
        "discriminator": "0",
        "avatar": None,
    }
    body: dict[str, Any] = {
        "id": str(snowflake()),
        "application_id": app_id,
        "type": interaction_type,
        "data": data,
        "token": f"tok{random.getrandbits(64):x}",
        "version": 1,
        "locale": locale,
        "app_permissions": str((1 << 41) - 1),
        "entitlements": [],
    }
    if guild:
        body.update(
            guild_id=str(guild),
            channel_id=str(channel or guild + 1),
            context=0,
            guild_locale=guild_locale or locale,
            member={
                "user": duser,
                "roles": [str(r) for r in roles],
                "permissions": str(permissions),
                "nick": None,
                "joined_at": "2025-01-01T00:00:00+00:00",
                "deaf": False,
                "mute": False,
            },
        )
    else:
        body.update(user=duser, channel_id=str(user + 7), context=1)
    if message is not None:
        body["message"] = message
    return body


def button_data(custom_id: str) -> dict[str, Any]:
    """`data` of a button press (interaction type 3)."""
    return {"custom_id": custom_id, "component_type": BUTTON}


def select_data(custom_id: str, values: list[str]) -> dict[str, Any]:
    """`data` of a string select (interaction type 3): the picked options' values."""
    return {"custom_id": custom_id, "component_type": SELECT, "values": list(values)}


def modal_data(custom_id: str, fields: dict[str, str]) -> dict[str, Any]:
    """`data` of a modal submit (interaction type 5): one action row per text input, as Discord sends them."""
    return {
        "custom_id": custom_id,
        "components": [
            {"type": 1, "components": [{"type": TEXT_INPUT, "custom_id": name, "value": value}]}
            for name, value in fields.items()
        ],
    }


def component_message(flags: int = 0) -> dict[str, Any]:
    """The message a pressed component sits on (Discord sends it with a component interaction)."""
    return {"id": str(snowflake()), "content": "", "flags": flags}


def sign(seed_hex: str, body: bytes, timestamp: str | None = None) -> dict[str, str]:
    """The two signature headers Discord sends."""
    ts = timestamp or str(int(time.time()))
    sig = SigningKey(bytes.fromhex(seed_hex)).sign(ts.encode() + body).signature.hex()
    return {"X-Signature-Ed25519": sig, "X-Signature-Timestamp": ts, "Content-Type": "application/json"}


# --- Telegram updates ----------------------------------------------------------------------------------------


def telegram_user(user: int, *, name: str | None = None, language: str = DEFAULT_LANG) -> dict[str, Any]:
    username, display = names(user)
    return {
        "id": user,
        "is_bot": False,
        "first_name": name or display,
        "username": username,
        "language_code": language,
    }


def telegram_chat(chat: int | None, sender: dict[str, Any], title: str | None = None) -> dict[str, Any]:
    if chat and chat < 0:
        return {"id": chat, "type": "supergroup", "title": title or _group_title(chat)}
    return {"id": sender["id"], "type": "private", "first_name": sender["first_name"], "username": sender["username"]}


def _group_title(chat: int) -> str:
    from devtools import demo

    return demo.GROUP_TITLE if chat == demo.GROUP_ID else "Dev group"


def telegram_update(
    text: str | None,
    *,
    user: int,
    chat: int | None = None,
    callback: str | None = None,
    update_id: int | None = None,
    name: str | None = None,
    language: str = DEFAULT_LANG,
    message_id: int | None = None,
    reply_to: dict[str, Any] | None = None,
    callback_message: dict[str, Any] | None = None,
    photo: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A message update (private chat unless `chat` is a group id < 0) or a callback_query (pressed on
    `callback_message`, the bot's message that carries the button, when known). `reply_to`: the message this
    one answers (a member's, for /warn as a reply). `photo` (see `photo_sizes`): a photo, `text` its caption."""
    sender = telegram_user(user, name=name, language=language)
    chat_obj = telegram_chat(chat, sender)
    now = int(time.time())
    uid = update_id if update_id is not None else int(time.time() * 1000) % 2**31
    message: dict[str, Any] = {
        "message_id": message_id if message_id is not None else random.randint(1, 10**6),
        "from": sender,
        "chat": chat_obj,
        "date": now,
    }
    if callback is not None:
        bot_msg = callback_message or {
            **message,
            "from": {"id": 1, "is_bot": True, "first_name": "TTFD"},
            "text": "menu",
        }
        return {
            "update_id": uid,
            "callback_query": {
                "id": str(random.getrandbits(63)),
                "from": sender,
                "message": bot_msg,
                "chat_instance": "-1",
                "data": callback,
            },
        }
    said, marks = ("caption", "caption_entities") if photo is not None else ("text", "entities")
    if photo is not None:
        message["photo"] = photo
    if text or photo is None:  # a photo without a caption has no caption field at all
        message[said] = text or ""
    if text and text.startswith("/"):  # entity offsets and lengths count UTF-16 code units
        message[marks] = [{"type": "bot_command", "offset": 0, "length": _utf16_len(text.split()[0])}]
    if reply_to is not None:
        message["reply_to_message"] = reply_to
    return {"update_id": uid, "message": message}


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


THUMB_SIDE = 320  # Telegram's smallest photo size ("s") fits in 90 px, the next ("m") in 320: the list has both


def picture_size(data: bytes) -> tuple[int, int]:
    """A picture's width and height (Pillow reads the header only); a file that is not one is refused, as
    Telegram refuses to send it as a photo."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as img:
            width, height = img.size
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise Usage(f"--photo needs a picture (PNG, JPEG, WebP…): {type(exc).__name__}") from None
    return int(width), int(height)


def photo_file_id(data: bytes, size: str = "y") -> tuple[str, str]:
    """A deterministic (file_id, file_unique_id) for these bytes at one size ("s" the thumbnail, "y" the full
    one), shaped like Telegram's (base64url, a photo's id starting AgAC). The same picture always gets the same
    ids, so a payment proof sent twice looks the same twice."""
    digest = hashlib.sha256(data).digest()
    tag = hashlib.sha256(digest + size.encode()).digest()
    file_id = "AgAC" + base64.urlsafe_b64encode(tag + digest[:24]).decode().rstrip("=")
    return file_id, "AQAD" + base64.urlsafe_b64encode(tag[:12]).decode().rstrip("=")


def photo_sizes(data: bytes, file_id: str | None = None) -> list[dict[str, Any]]:
    """The `photo` of a message as Telegram sends it: PhotoSizes smallest first, here a thumbnail and the full
    picture. `file_id`: the full size's id where the fake Telegram holds the bytes (in process:
    devtools.fake_telegram_files.add_file(state, data)); else one derived from their sha256."""
    width, height = picture_size(data)
    scale = min(1.0, THUMB_SIDE / max(width, height, 1))
    thumb_id, thumb_unique = photo_file_id(data, "m")
    full_id, full_unique = photo_file_id(data, "y")
    return [
        {
            "file_id": thumb_id,
            "file_unique_id": thumb_unique,
            "width": max(1, round(width * scale)),
            "height": max(1, round(height * scale)),
            "file_size": max(1, round(len(data) * scale * scale)),  # about what a re-encoded thumbnail weighs
        },
        {
            "file_id": file_id or full_id,
            "file_unique_id": full_unique,
            "width": width,
            "height": height,
            "file_size": len(data),
        },
    ]


def bot_message(
    callback: str, *, user: int, chat: int | None, bot: int, message_id: int | None = None
) -> dict[str, Any]:
    """A message of the bot's with a button carrying `callback` (for a press on a message the fake never saw)."""
    return {
        "message_id": message_id or random.randint(1, 10**6),
        "from": {"id": bot, "is_bot": True, "first_name": "TTFD", "username": "ttfd_dev_bot"},
        "chat": telegram_chat(chat, telegram_user(user)),
        "date": int(time.time()),
        "text": "…",
        "reply_markup": {"inline_keyboard": [[{"text": "…", "callback_data": callback}]]},
    }


def member_message(user: int, chat: int, text: str, *, language: str = DEFAULT_LANG) -> dict[str, Any]:
    """A group member's earlier message (what `/warn` and friends reply to)."""
    sender = telegram_user(user, language=language)
    return {
        "message_id": random.randint(1, 10**6),
        "from": sender,
        "chat": telegram_chat(chat, sender),
        "date": int(time.time()) - 30,
        "text": text,
    }


def join_request_update(
    chat: int, *, user: int, language: str = DEFAULT_LANG, title: str | None = None, update_id: int | None = None
) -> dict[str, Any]:
    """Someone asks to join a group that approves new members (a `chat_join_request` update)."""
    sender = telegram_user(user, language=language)
    return {
        "update_id": update_id if update_id is not None else int(time.time() * 1000) % 2**31,
        "chat_join_request": {
            "chat": telegram_chat(chat, sender, title),
            "from": sender,
            "user_chat_id": user,  # a private chat's id is the user's id
            "date": int(time.time()),
        },
    }


# --- transport -----------------------------------------------------------------------------------------------


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    """POST and decode the JSON reply."""
    resp = httpx.post(url, content=body, headers=headers, timeout=30)
    try:
        return resp.status_code, resp.json()
    except ValueError:
        return resp.status_code, resp.text


def explain(exc: httpx.HTTPError, base: str) -> str:
    """One line for a failed request: a refused connection says what to start."""
    if isinstance(exc, httpx.ConnectError):
        return f"Nothing answers at {base} — is `make run` running? Set TTFD_URL or --url for another address."
    where = getattr(getattr(exc, "request", None), "url", None) if _has_request(exc) else None
    detail = str(exc) or type(exc).__name__
    return f"simulate: {type(exc).__name__} talking to {where or base}: {detail}"


def _has_request(exc: httpx.HTTPError) -> bool:
    try:
        exc.request  # noqa: B018 (raises when the error was made without one)
    except RuntimeError:
        return False
    return True


def pretty(obj: Any) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False)


class Dev:
    """The dev server's helpers (/_fake/dev, only `make run` has them): the fakes' recorded calls, whether
    the jobs are done, and what the fakes must know of the people simulated. Against anything else every
    helper answers None and the simulator only prints the immediate reply."""

    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")
        self.root = f"{self.base}/_fake/dev"
        self.available: bool | None = None

    def probe(self) -> bool:
        """Whether the server has the helpers (asked once; a refused connection raises httpx.ConnectError)."""
        if self.available is None:
            resp = httpx.get(f"{self.root}/idle", timeout=10)
            try:
                self.available = resp.status_code == 200 and "idle" in resp.json()
            except ValueError:
                self.available = False
        return self.available

    def _call(self, method: str, path: str, **kw: Any) -> Any:
        if not self.probe():
            return None
        resp = httpx.request(method, f"{self.root}{path}", timeout=10, **kw)
        resp.raise_for_status()
        return resp.json()

    def cursor(self) -> int | None:
        """The number of the latest recorded call (None: no dev helpers here)."""
        found = self._call("GET", "/idle")
        return None if found is None else int(found["last"])

    def sent(self, after: int) -> list[dict[str, Any]]:
        found = self._call("GET", "/sent", params={"after": after})
        return [] if found is None else list(found["calls"])

    def idle(self) -> dict[str, Any]:
        return dict(self._call("GET", "/idle") or {"idle": True, "last": 0})

    def discord_member(self, guild: int, user: int) -> dict[str, Any] | None:
        username, display = names(user)
        found = self._call(
            "POST", f"/discord/guilds/{guild}/members/{user}", json={"username": username, "global_name": display}
        )
        return found if found and found.get("known") else None

    def discord_attachment(self, data: bytes, filename: str, content_type: str) -> dict[str, Any] | None:
        """The file stored on the fake CDN: the attachment object for data.resolved (None: no dev helpers)."""
        params = {"filename": filename, "content_type": content_type}
        found = self._call("POST", "/discord/attachments", params=params, content=data)
        return dict(found) if found else None

    def telegram_file(self, data: bytes) -> str | None:
        """The file stored at the fake Telegram: its file_id (None: no dev helpers)."""
        found = self._call("POST", "/telegram/files", content=data)
        return str(found["file_id"]) if found else None

    def telegram_message(self, message: dict[str, Any]) -> None:
        self._call("POST", "/telegram/messages", json=message)

    def telegram_button(self, data: str, chat: int | None, message_id: int | None = None) -> dict[str, Any] | None:
        """The bot's message with this button (or with this id), as the fake Telegram holds it."""
        params: dict[str, Any] = {"data": data}
        if chat is not None:
            params["chat_id"] = chat
        if message_id is not None:
            params["message_id"] = message_id
        found = self._call("GET", "/telegram/button", params=params)
        return found.get("message") if found else None

    def telegram_join(self, chat: int, user: int) -> None:
        self._call("POST", "/telegram/join-requests", json={"chat_id": chat, "user_id": user})

    def run_webhook_reply(self, token: str, reply: Any) -> None:
        """Do what Telegram does with a webhook reply that names a method: call it (on the fake)."""
        if not isinstance(reply, dict) or not isinstance(reply.get("method"), str) or self.available is not True:
            return
        params = {k: v for k, v in reply.items() if k != "method"}
        httpx.post(
            f"{self.base}/_fake/telegram/bot{token}/{reply['method']}",
            json=params,
            headers={"X-TTFD-Simulator": "webhook-reply"},
            timeout=10,
        )

    def later(self, after: int, wait_s: float, quiet_s: float = 0.25) -> tuple[list[dict[str, Any]], bool]:
        """The calls recorded after `after`, gathered until the jobs and events are done and nothing new
        arrived for `quiet_s` (at most `wait_s`); and whether it settled in time."""
        calls: list[dict[str, Any]] = []
        deadline = time.monotonic() + wait_s
        cursor, quiet_since = after, time.monotonic()
        while True:
            new = self.sent(cursor)
            if new:
                calls += new
                cursor, quiet_since = int(new[-1]["seq"]), time.monotonic()
            state = self.idle()
            if state.get("idle") and int(state.get("last", 0)) <= cursor and time.monotonic() - quiet_since >= quiet_s:
                return calls, True
            if time.monotonic() >= deadline:
                return calls, False
            time.sleep(0.05)


# --- components seen, so a menu option can be picked by its label ------------------------------------------


def _memory_path() -> Path:
    from devtools import devkeys

    return devkeys.DEV_ENV.parent / "simulate-components.json"


def _memory() -> dict[str, Any]:
    try:
        found = json.loads(_memory_path().read_text())
    except (OSError, ValueError):
        return {"menus": {}, "modals": {}}
    return found if isinstance(found, dict) else {"menus": {}, "modals": {}}


def remember(messages: list[dict[str, Any]]) -> None:
    """Keep the select menus (custom_id → options) and modals (custom_id → text inputs) of these Discord
    messages or responses for the next run's --select/--modal."""
    memory = _memory()
    changed = False
    for msg in messages:
        data = msg.get("data", msg) if isinstance(msg, dict) else {}
        if not isinstance(data, dict):
            continue
        if msg.get("type") == 9 and isinstance(data.get("custom_id"), str):  # a modal response
            memory.setdefault("modals", {})[data["custom_id"]] = [i["custom_id"] for i in _inputs(data)]
            changed = True
        for row in data.get("components") or []:
            for c in row.get("components", []) if isinstance(row, dict) else []:
                if isinstance(c, dict) and c.get("type") == SELECT:
                    memory.setdefault("menus", {})[c["custom_id"]] = [
                        {"label": o.get("label", ""), "value": o.get("value", "")} for o in c.get("options", [])
                    ]
                    changed = True
    if changed:
        for kind in ("menus", "modals"):  # the newest 50 of each
            memory[kind] = dict(list(memory.get(kind, {}).items())[-50:])
        path = _memory_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(memory, ensure_ascii=False))


def _inputs(data: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for row in data.get("components") or []:
        for c in row.get("components", []) if isinstance(row, dict) else []:
            if isinstance(c, dict) and c.get("type") == TEXT_INPUT:
                found.append(c)
    return found


def pick_values(custom_id: str, wanted: list[str]) -> list[str]:
    """Each wanted option as its value: a value as it is, or an option's label (exact, then a unique part of
    one, any case) from the menu last shown with this custom_id."""
    options = _memory().get("menus", {}).get(custom_id, [])
    picked = []
    for w in wanted:
        if not options or any(o["value"] == w for o in options):
            picked.append(w)
            continue
        exact = [o for o in options if o["label"].casefold() == w.casefold()]
        partial = [o for o in options if w.casefold() in o["label"].casefold()]
        chosen = exact or (partial if len(partial) == 1 else [])
        if not chosen:
            labels = ", ".join(repr(o["label"]) for o in options)
            raise Usage(f"menu {custom_id!r} has no option {w!r}; its options: {labels}")
        picked.append(chosen[0]["value"])
    return picked


def modal_fields(custom_id: str, given: list[str]) -> dict[str, str]:
    """`--field name=value` pairs; a bare value fills the modal's only text input (as last shown)."""
    inputs = _memory().get("modals", {}).get(custom_id, [])
    fields: dict[str, str] = {}
    for item in given:
        name, sep, value = item.partition("=")
        if not sep:
            if len(inputs) != 1:
                raise Usage(f"say which field: --field NAME=VALUE (this modal's fields: {inputs or 'unknown'})")
            name, value = inputs[0], item
        fields[name] = value
    return fields


# --- what the bot sent, readable -----------------------------------------------------------------------------

SHOTS = Path(tempfile.gettempdir()) / "ttfd-simulate"
TELEGRAM_READS = {"getme", "getchat", "getchatmember", "getchatadministrators", "getwebhookinfo", "getupdates"}


def save_file(seq: int, f: dict[str, Any]) -> str:
    """Write an uploaded file (base64 in the record) to a temp file; a line saying where and what it is."""
    data = base64.b64decode(f["data"])
    SHOTS.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^\w.-]", "_", f.get("filename") or "file")
    path = SHOTS / f"{seq}-{name}"
    path.write_bytes(data)
    kind = ""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        kind = f"PNG {int.from_bytes(data[16:20], 'big')}×{int.from_bytes(data[20:24], 'big')}, "
    return f"image: {path} ({kind}{len(data):,} bytes)"


def _indent(lines: list[str], pad: str = "    ") -> list[str]:
    return [pad + line if line else "" for line in lines]


def mentions(text: str) -> str:
    """Discord's markup for people, roles, channels and moments as a client shows it: <@&556> → @Verified,
    <#701> → #mod-log, <@42> → @User 42, <t:1767225600:R> → 2026-01-01 00:00 UTC."""
    from devtools import demo

    roles = {str(r): n for r, n, _, _ in demo.ROLES}
    text = re.sub(r"<@&(\d+)>", lambda m: f"@{roles[m.group(1)]}" if m.group(1) in roles else m.group(0), text)
    channels = {str(c): n for c, n in demo.CHANNELS.items()}
    text = re.sub(r"<#(\d+)>", lambda m: f"#{channels[m.group(1)]}" if m.group(1) in channels else m.group(0), text)
    text = re.sub(r"<@!?(\d+)>", lambda m: f"@{names(int(m.group(1)))[1]}", text)
    return re.sub(
        r"<t:(-?\d+)(?::[tTdDfFR])?>", lambda m: time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(int(m.group(1)))), text
    )


def discord_message_lines(msg: dict[str, Any]) -> list[str]:
    """A Discord message body (content, embeds, buttons, menus) as text, with how to press what it offers."""
    out: list[str] = []
    if msg.get("content"):
        out += mentions(str(msg["content"])).splitlines()
    for e in msg.get("embeds") or []:
        if e.get("title"):
            out.append(f"▌{e['title']}")
        if e.get("description"):
            out += [f"▌{line}" for line in mentions(str(e["description"])).splitlines()]
        for f in e.get("fields") or []:
            value = mentions(str(f.get("value", ""))).replace("\n", " / ")
            out.append(f"▌{f.get('name', '')}: {value}")
        if (e.get("footer") or {}).get("text"):
            out.append(f"▌— {e['footer']['text']}")
        if (e.get("image") or {}).get("url") and not str(e["image"]["url"]).startswith("attachment://"):
            out.append(f"▌image: {e['image']['url']}")
    for row in msg.get("components") or []:
        for c in row.get("components", []):
            if c.get("type") == BUTTON and c.get("url"):
                out.append(f"[{c.get('label', '')}] link {c['url']}")
            elif c.get("type") == BUTTON:
                off = " (disabled)" if c.get("disabled") else ""
                out.append(f"[{c.get('label', '')}]{off}  --button {shlex.quote(c.get('custom_id', ''))}")
            elif c.get("type") == SELECT:
                out.append(f"menu «{c.get('placeholder', '')}»  --select {shlex.quote(c.get('custom_id', ''))}")
                out += [f"  · {o.get('label', '')}  --value {shlex.quote(o.get('value', ''))}" for o in c["options"]]
    if int(msg.get("flags") or 0) & 64:
        out.append("(only the person who asked sees it)")
    return out or ["(empty)"]


def discord_response_lines(reply: Any) -> list[str]:
    """The immediate answer to an interaction, readable: a message, a deferral, or a modal to fill in."""
    if not isinstance(reply, dict) or "type" not in reply:
        return []
    kind, data = reply["type"], reply.get("data") or {}
    if kind == 5:
        return ["Deferred (“thinking…”): a job will edit the reply."]
    if kind == 6:
        return ["Deferred update: a job will edit the message."]
    if kind == 9:
        out = [f"A modal opens: «{data.get('title', '')}»"]
        inputs = _inputs(data)
        for i in inputs:
            out.append(f"  field {i['custom_id']!r}: {i.get('label', '')}")
        example = " ".join(f"--field {shlex.quote(i['custom_id'] + '=…')}" for i in inputs)
        out.append(f"submit it with  --modal {shlex.quote(data.get('custom_id', ''))} {example}")
        return out
    if kind in (4, 7):
        verb = "Replied" if kind == 4 else "Updated the message"
        return [f"{verb}:", *_indent(discord_message_lines(data))]
    return []


def _strip_html(text: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def telegram_keyboard_lines(markup: Any) -> list[str]:
    out = []
    for row in (markup or {}).get("inline_keyboard", []) if isinstance(markup, dict) else []:
        for b in row:
            if b.get("url"):
                out.append(f"[{b.get('text', '')}] link {b['url']}")
            elif "callback_data" in b:
                out.append(f"[{b.get('text', '')}]  --callback {shlex.quote(str(b['callback_data']))}")
    return out


def telegram_reply_lines(reply: Any) -> list[str]:
    """A webhook reply (a Bot API method call Telegram runs for us), readable."""
    if not isinstance(reply, dict) or not reply.get("method"):
        return []
    text = _strip_html(str(reply.get("text") or reply.get("caption") or ""))
    where = _chat(reply.get("chat_id"))
    if reply.get("message_id"):
        head = f"{reply['method']} of message {reply['message_id']} in {where}:"
    else:
        head = f"{reply['method']} to {where}:"
    return [head, *_indent([*text.splitlines(), *telegram_keyboard_lines(reply.get("reply_markup"))])]


def _user(uid: Any) -> str:
    try:
        _, display = names(int(uid))
    except (TypeError, ValueError):
        return str(uid)
    return f"{display} ({uid})"


def _chat(chat_id: Any) -> str:
    try:
        cid = int(chat_id)
    except (TypeError, ValueError):
        return str(chat_id)
    return f"group {cid}" if cid < 0 else f"the private chat of {_user(cid)}"


def _channel(cid: str, dms: dict[str, str]) -> str:
    from devtools import demo

    if cid in dms:
        return f"DM to {_user(dms[cid])}"
    name = demo.CHANNELS.get(int(cid)) if cid.isdigit() else None
    return f"#{name} ({cid})" if name else f"channel {cid}"


def _failed(call: dict[str, Any]) -> str:
    status = int(call.get("status") or 0)
    if status < 400:
        return ""
    answer = call.get("answer") or {}
    why = (answer.get("message") or answer.get("description") or "") if isinstance(answer, dict) else ""
    return f"  → refused: {status} {why}".rstrip()


def describe(calls: list[dict[str, Any]], *, token: str | None = None) -> list[str]:
    """What the bot sent the fakes, one entry per call that changed something (reads are left out)."""
    out: list[str] = []
    dms: dict[str, str] = {}
    for call in calls:
        lines = _describe_discord(call, token, dms) if call["api"] == "discord" else _describe_telegram(call)
        if lines:
            out += [f"• {lines[0]}{_failed(call)}", *_indent(lines[1:])]
            if call.get("reason"):
                out.append(f"    (audit log reason: {call['reason']})")
    return out


def _describe_discord(call: dict[str, Any], token: str | None, dms: dict[str, str]) -> list[str]:
    method, path, body = call["method"], call["path"], call.get("body")
    body = body if isinstance(body, dict) else {}
    files = [save_file(call["seq"], f) for f in call.get("files", [])]
    if method == "GET":
        return []
    if method == "POST" and path == "/users/@me/channels":
        answer = call.get("answer") or {}
        if isinstance(answer, dict) and answer.get("id"):
            dms[str(answer["id"])] = str(body.get("recipient_id"))
        return []
    if m := re.fullmatch(r"/webhooks/\d+/([^/]+)(/messages/@original)?", path):
        mine = token is not None and m.group(1) == token
        what = "the reply to this interaction" if mine else "the reply to another interaction"
        head = f"edited {what} (PATCH @original):" if m.group(2) else f"a follow-up to {what}:"
        if m.group(2) and method == "DELETE":
            return [f"deleted {what}"]
        return [head, *discord_message_lines(body), *files]
    if m := re.fullmatch(r"/channels/(\d+)/messages", path):
        where = _channel(m.group(1), dms)
        head = f"{where}:" if where.startswith("DM") else f"posted in {where}:"
        return [head, *discord_message_lines(body), *files]
    if m := re.fullmatch(r"/channels/(\d+)/messages/bulk-delete", path):
        return [f"deleted {len(body.get('messages', []))} messages in {_channel(m.group(1), dms)}"]
    if m := re.fullmatch(r"/channels/(\d+)/messages/(\d+)", path):
        verb = "deleted" if method == "DELETE" else "edited"
        edited = discord_message_lines(body) if method == "PATCH" else []
        return [f"{verb} message {m.group(2)} in {_channel(m.group(1), dms)}", *edited]
    if m := re.fullmatch(r"/guilds/(\d+)/members/(\d+)/roles/(\d+)", path):
        verb = "gave" if method == "PUT" else "took"
        prep = "to" if method == "PUT" else "from"
        return [f"{verb} role {_role(m.group(3))} {prep} {_user(m.group(2))} in server {m.group(1)}"]
    if m := re.fullmatch(r"/guilds/(\d+)/bans/(\d+)", path):
        if method == "DELETE":
            return [f"unbanned {_user(m.group(2))} in server {m.group(1)}"]
        wipe = body.get("delete_message_seconds") or 0
        return [
            f"banned {_user(m.group(2))} in server {m.group(1)}" + (f" (deleting {wipe} s of messages)" if wipe else "")
        ]
    if m := re.fullmatch(r"/guilds/(\d+)/members/(\d+)", path):
        if method == "DELETE":
            return [f"kicked {_user(m.group(2))} from server {m.group(1)}"]
        if "communication_disabled_until" in body:
            until = body["communication_disabled_until"]
            return [
                f"timed out {_user(m.group(2))} until {until}" if until else f"lifted {_user(m.group(2))}'s timeout"
            ]
    if m := re.fullmatch(r"/guilds/(\d+)/auto-moderation/rules(?:/(\d+))?", path):
        verb = {"POST": "created", "PATCH": "updated", "DELETE": "deleted"}.get(method, method)
        name = body.get("name") or m.group(2) or ""
        return [f"AutoMod: {verb} rule {name!r} in server {m.group(1)}"]
    return [f"{method} {path}", *files]


def _role(rid: str) -> str:
    from devtools import demo

    name = next((n for r, n, _, _ in demo.ROLES if str(r) == rid), None)
    return f"@{name} ({rid})" if name else rid


def _describe_telegram(call: dict[str, Any]) -> list[str]:
    method, p = call["path"], call.get("body") or {}
    lower = method.lower()
    if lower in TELEGRAM_READS:
        return []
    answer = call.get("answer") or {}
    result = answer.get("result") if isinstance(answer, dict) else None
    mid = result.get("message_id") if isinstance(result, dict) else None
    if call.get("by_simulator"):
        return [f"(Telegram ran the webhook reply: {method} → message {mid} in {_chat(p.get('chat_id'))})"]
    if lower in ("sendmessage", "sendphoto", "editmessagetext", "editmessagecaption", "editmessagereplymarkup"):
        text = _strip_html(str(p.get("text") or p.get("caption") or ""))
        where = _chat(p.get("chat_id"))
        if lower.startswith("edit"):
            head = f"{method} of message {p.get('message_id')} in {where}:"
        else:
            head = f"{method} to {where}" + (f" → message {mid}:" if mid else ":")
        files = [save_file(call["seq"], f) for f in call.get("files", [])]
        return [head, *text.splitlines(), *files, *telegram_keyboard_lines(p.get("reply_markup"))]
    if lower == "answercallbackquery":
        return [f"alert to whoever pressed: {p['text']}"] if p.get("text") else []
    if lower == "deletemessage":
        return [f"deleted message {p.get('message_id')} in {_chat(p.get('chat_id'))}"]
    if lower in ("banchatmember", "unbanchatmember", "restrictchatmember"):
        until = int(p.get("until_date") or 0)
        tail = f" until {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(until))}" if until else ""
        perms = p.get("permissions")
        if lower == "restrictchatmember" and isinstance(perms, dict):
            method = (
                "restrictChatMember (muted)"
                if perms.get("can_send_messages") is False
                else "restrictChatMember (unmuted)"
            )
        return [f"{method}: {_user(p.get('user_id'))} in {_chat(p.get('chat_id'))}{tail}"]
    if lower in ("approvechatjoinrequest", "declinechatjoinrequest"):
        verb = "approved" if lower.startswith("approve") else "declined"
        return [f"{verb} the join request of {_user(p.get('user_id'))} to {_chat(p.get('chat_id'))}"]
    shown = ", ".join(f"{k}={v}" for k, v in p.items() if not isinstance(v, dict | list))
    return [f"{method} {shown}".rstrip()]
