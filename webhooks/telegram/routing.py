"""aiogram routers, generated from the registry, that decide what an update is — never doing the work.

Each handler turns the update into a neutral `Event` (which command with which options parsed from the
text, which button, which chat message) and returns it; the webhook then runs it through the one dispatch
path outside the event loop. So no database work ever runs on a loop, and no update's transaction can
wait on another update's progress.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters import Command as CommandFilter
from aiogram.filters import CommandObject
from aiogram.types import CallbackQuery, ChatJoinRequest, Document, Message, PhotoSize, Update, User

from ttfd.core.errors import BadInput, DomainError
from ttfd.core.inbound import Caller
from ttfd.core.inputs import INT64_MAX, text_problem
from ttfd.features.general import typed
from ttfd.registry import Registry
from ttfd.ui.commands import Command, FileRef, Kind, Option, PlatformUser
from ttfd.ui.dispatch import Event

TRUE, FALSE = {"1", "true", "yes", "on", "y"}, {"0", "false", "no", "off", "n"}
# A message that starts with a command: /name or /name@bot (Telegram's own names are at most 32 of [a-z0-9_];
# a longer or odder one typed by hand is still a command nobody knows).
COMMAND_WORD = re.compile(r"/([A-Za-z0-9_]{1,64})(?:@([A-Za-z0-9_]{1,64}))?(?=\s|$)")
# Options that are not words after the command: a USER option is whoever the message replies to, an ATTACHMENT
# option the picture whose caption the command is. Never typed, so `/pay <a file_id>` can never name a file.
UNTYPED = (Kind.USER, Kind.ATTACHMENT)
JPEG = "image/jpeg"  # Telegram re-encodes every photo (not a file sent as a document) to JPEG
FILE_ID_MAX = 256  # Telegram's file_ids are ~70-180 characters of base64url; anything longer is not one


def person(user: User) -> PlatformUser:
    name = " ".join(p for p in (user.first_name, user.last_name) if p) or None
    return PlatformUser("telegram", user.id, user.username, name, user.is_bot)


def replied(message: Message | None) -> User | None:
    """The author of the message this one answers. In a forum topic every message that answers nothing carries
    the topic's opening (a service message by whoever made the topic) as its reply: that answers nobody."""
    answered = message.reply_to_message if message else None
    if answered is None or answered.forum_topic_created is not None:
        return None
    return answered.from_user


def _event(key: str, user: User, msg: Message | None, **kw: Any) -> Event:
    who = person(user)
    chat = msg.chat if msg else None
    reply_to = replied(msg)
    return Event(
        key=key,
        caller=Caller("telegram", who.id, who.username, who.display_name),
        who=who,
        locale=user.language_code,  # what the person's Telegram app speaks (their own choice wins: dispatch)
        chat_id=chat.id if chat else None,
        chat_type=chat.type if chat else None,
        reply_to=person(reply_to) if reply_to else None,
        target={
            "kind": "telegram",
            "chat_id": chat.id if chat else who.id,
            "reply_to_message_id": msg.message_id if msg else None,
        },
        **kw,
    )


def links(message: Message) -> tuple[str, ...]:
    """Where a message's links go, as Telegram marked them: a text_link's hidden target, and the text of a
    url entity. Entity offsets and lengths count UTF-16 code units (an emoji is two), so the text is cut as
    UTF-16; a cut through a surrogate pair reads as U+FFFD rather than failing."""
    found: list[str] = []
    for source, entities in ((message.text, message.entities), (message.caption, message.caption_entities)):
        units: bytes | None = None
        for entity in entities or ():
            if entity.type == "text_link" and entity.url:
                found.append(entity.url)
            elif entity.type == "url" and source:
                units = units if units is not None else source.encode("utf-16-le", "surrogatepass")
                start = max(entity.offset, 0) * 2
                found.append(units[start : start + max(entity.length, 0) * 2].decode("utf-16-le", "replace"))
    return tuple(dict.fromkeys(u for u in found if u))


def parse_options(command: Command, args: str | None, message: Message) -> dict[str, Any]:
    """`/coinflip 50 heads`, `/buy Gold role 2`: options in declared order, quotes group words; a USER
    option is whoever the message replies to (or a tapped name); an ATTACHMENT option is the picture the
    command is the caption of (`args` are then the caption's words). Bad input names the usage."""
    usage = command.usage("telegram")
    try:
        words = shlex.split(args or "")
    except ValueError:
        raise BadInput(typed.QUOTE_OPEN, usage) from None
    words = _choices_in_place(command, words)
    values: dict[str, Any] = {}
    for i, option in enumerate(command.options):
        if option.kind == Kind.USER:
            picked = _picked_user(message)
            if picked is not None:
                values[option.name] = picked
            elif (words and words[0].startswith("@")) or option.required:
                raise BadInput(typed.PICK_SOMEONE, usage)
            continue
        if option.kind == Kind.ATTACHMENT:
            sent = attached_file(message, option, command, usage)
            if sent is not None:
                values[option.name] = sent
            elif option.required:
                raise BadInput(typed.send_picture(command.tg_name), usage)
            continue
        if not words:
            continue
        take = _rest_length(command.options[i + 1 :], words, usage) if option.rest else 1
        word, words = " ".join(words[:take]), words[take:]
        values[option.name] = _typed(option, word, usage)
    if words and command.options:  # (a command without options ignores them: /start carries deep-link data)
        raise BadInput(typed.too_much(" ".join(words)[:60]), usage)
    return values


def _choices_in_place(command: Command, words: list[str]) -> list[str]:
    """`/rps 10 камень` read as `/rps камень 10`: when every option is given and a choice's place holds a word
    naming none of its choices, the word that does name one takes its place (a bet and a side come in either
    order). Words for a `rest` option are free text: left as typed."""
    given = [o for o in command.options if o.kind not in UNTYPED]
    if len(words) != len(given) or any(o.rest for o in given):
        return words
    words = list(words)
    for i, option in enumerate(given):
        if not option.choices or typed.choice(option, words[i]) is not None:
            continue
        for j, other in enumerate(given):
            if j != i and typed.choice(option, words[j]) is not None and not other.choices:
                words[i], words[j] = words[j], words[i]
                break
    return words


def _rest_length(later: tuple[Option, ...], words: list[str], usage: str) -> int:
    """How many words a `rest` option takes: all but the trailing ones the options after it accept."""
    typed = [o for o in later if o.kind not in UNTYPED]
    kept = len(words)
    for option in reversed(typed):
        if kept <= 1:
            break
        try:
            _typed(option, words[kept - 1], usage)
        except BadInput:
            break
        kept -= 1
    return kept


def _picked_user(message: Message) -> PlatformUser | None:
    for entity in message.entities or message.caption_entities or ():
        if entity.type == "text_mention" and entity.user is not None:
            return person(entity.user)
    if (author := replied(message)) is not None:
        return person(author)
    return None


def attached_file(message: Message, option: Option, command: Command, usage: str) -> FileRef | None:
    """The picture a command came with, as Telegram described it (the bytes are fetched later by file_id, by
    the job that checks what they are): the largest size of a photo, or an image sent as a file (a document
    whose mime_type is image/* or unsaid). None when the message carries no file; another kind of file (a PDF,
    a video, a voice message) is refused, as is a file_id that cannot be one."""
    if message.photo:
        return _photo(message.photo, option, usage)
    if message.document is not None:
        return _document(message.document, option, command, usage)
    if message.video or message.animation or message.audio or message.voice:
        raise BadInput(typed.not_a_picture(command.tg_name), usage)
    return None


def _photo(sizes: list[PhotoSize], option: Option, usage: str) -> FileRef:
    # Telegram lists the sizes smallest first; pick by area (then bytes) rather than trust the order, the
    # later of equals (max keeps the first it meets, so the list is read backwards).
    best = max(reversed(sizes), key=lambda p: (_count(p.width) * _count(p.height), _count(p.file_size)))
    file_id = _file_id(best.file_id, option, usage)
    return FileRef("telegram", file_id, "", _count(best.file_size), JPEG, "", _count(best.width), _count(best.height))


def _document(doc: Document, option: Option, command: Command, usage: str) -> FileRef:
    mime = (doc.mime_type or "").strip().lower()
    if mime and (not mime.startswith("image/") or len(mime) > 128 or text_problem(mime)):
        raise BadInput(typed.not_a_picture(command.tg_name), usage)
    name = (doc.file_name or "")[:256]
    name = "" if text_problem(name) else name  # shown to staff: no control or bidi characters (a name is optional)
    return FileRef("telegram", _file_id(doc.file_id, option, usage), name, _count(doc.file_size), mime)


def _file_id(file_id: str, option: Option, usage: str) -> str:
    if not (0 < len(file_id) <= FILE_ID_MAX and file_id.isascii() and file_id.isprintable() and " " not in file_id):
        raise BadInput(option.bad("file").message, usage)
    return file_id


def _count(said: int | None) -> int:
    """A size in bytes or pixels as Telegram said it; 0 when it did not say (or said something impossible)."""
    return said if said is not None and 0 <= said <= INT64_MAX else 0


def _typed(option: Option, word: str, usage: str) -> Any:
    """A word as the option's type; the refusal reads as it does on Discord, plus the usage line. A choice is
    known by its value or its label in any language (`heads`, `Орёл`, `орел`)."""
    if option.choices:
        found = typed.choice(option, word)
        return word if found is None else found  # Option.check names the choices
    if option.kind == Kind.INTEGER:
        digits = word.replace(",", "").replace("_", "")
        if not (digits.removeprefix("-").isascii() and digits.removeprefix("-").isdigit()) or len(digits) > 16:
            raise BadInput(option.bad("integer").message, usage)
        return int(digits)
    if option.kind == Kind.BOOLEAN:
        if word.lower() not in TRUE | FALSE:
            raise BadInput(option.bad("boolean").message, usage)
        return word.lower() in TRUE
    if option.kind == Kind.STRING:
        return word
    raise BadInput(option.bad("telegram").message, usage)


def build(registry: Registry, username: str | None) -> Router:
    """One router: every Telegram command, then buttons, then plain messages (help in private chats)."""
    router = Router(name="ttfd")
    ignore_mention = username is None  # without the bot's username, /cmd@any_bot cannot be told apart
    ours = (username or "").removeprefix("@").lower()

    def key(bot: Bot, update: Update) -> str:
        return f"tg:{bot.id}:{update.update_id}"

    def for_command(cmd: Command) -> Any:
        async def handle(message: Message, command: CommandObject, event_update: Update, bot: Bot) -> Event | None:
            if message.from_user is None or message.from_user.is_bot:
                return None
            event = _event(key(bot, event_update), message.from_user, message, command=cmd)
            if message.chat.type != "private":  # a group: automod reads the whole message before the command
                event.message, event.urls = message.text or message.caption or "", links(message)
            try:
                event.options = parse_options(cmd, command.args, message)
            except DomainError as exc:
                event.problem = exc
            return event

        return handle

    for cmd in registry.telegram_commands.values():
        router.message.register(for_command(cmd), CommandFilter(cmd.tg_name, ignore_mention=ignore_mention))
    help_command = registry.telegram_commands["help"]

    @router.callback_query()
    async def pressed(query: CallbackQuery, event_update: Update, bot: Bot) -> Event | None:
        if query.from_user.is_bot or not query.data:
            return None
        msg = query.message if isinstance(query.message, Message) else None
        event = _event(key(bot, event_update), query.from_user, msg, action=query.data, component=True)
        event.target["callback_query_id"] = query.id
        if msg is not None:
            event.target["message_id"] = msg.message_id
        return event

    @router.chat_join_request()
    async def join_request(request: ChatJoinRequest, event_update: Update, bot: Bot) -> Event | None:
        # Someone asks to join a group that approves new members: a chat "message" of its own chat type,
        # answered (if at all) in the applicant's private chat, which Telegram lets us write to for a while.
        if request.from_user.is_bot:
            return None
        who = person(request.from_user)
        return Event(
            key=key(bot, event_update),
            caller=Caller("telegram", who.id, who.username, who.display_name),
            who=who,
            message="",  # nothing was said; a message event is what the features' message handlers take
            chat_id=request.chat.id,
            chat_type="chat_join_request",
            locale=request.from_user.language_code,
            target={"kind": "telegram", "chat_id": request.user_chat_id, "chat_title": request.chat.title or ""},
        )

    @router.message(F.text | F.caption)
    async def chat(message: Message, event_update: Update, bot: Bot) -> Event | None:
        # Anything that is not a command of ours. In a private chat: the help (what can I do here?), saying
        # first that a command is unknown (/xyz). In a group: a chat message — an unknown command or another
        # bot's (/start@other_bot) included, so automod and activity see it as any other; except an unknown
        # command addressed to us (/xyz@this_bot): the help, saying so, after the guards (automod) pass the
        # message as they do before any command of ours in a group.
        if message.from_user is None or message.from_user.is_bot:
            return None
        k, text = key(bot, event_update), message.text or message.caption or ""
        said = COMMAND_WORD.match(text)  # a photo's caption is a command as a text is
        asked = {"command": said.group(1)} if said else {}
        if message.chat.type == "private":
            return _event(k, message.from_user, message, command=help_command, options=asked)
        if said and said.group(2) and ours and said.group(2).lower() == ours:
            event = _event(k, message.from_user, message, command=help_command, options=asked)
            event.message, event.urls = text, links(message)
            return event
        return _event(k, message.from_user, message, message=text, urls=links(message))

    @router.edited_message(F.text | F.caption)
    async def edited(message: Message, event_update: Update, bot: Bot) -> Event | None:
        # "hello", then edited into spam: the guards (automod) read the new text; nothing else runs for it.
        if message.from_user is None or message.from_user.is_bot or message.chat.type == "private":
            return None
        k, text = key(bot, event_update), message.text or message.caption
        return _event(k, message.from_user, message, message=text, urls=links(message), edited=True)

    return router
