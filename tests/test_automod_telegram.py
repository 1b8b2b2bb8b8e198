"""Automod holes on Telegram, through the real webhook: group messages that start with "/" (an unknown
command, another bot's, one of ours) pass the policy before anything else and are counted for floods; text
folded against invisible and look-alike characters (Russian too); links hidden behind words (text_link),
marked by Telegram (url, UTF-16 offsets) and bare domains in allow mode; hostile shapes answered without
a crash."""

from __future__ import annotations

import json
import logging
import random
from typing import Any

import pytest
from functions_framework import create_app

from devtools import fake_discord_automod as fake_automod
from tests.conftest import run_schedule
from tests.test_automod import GROUP, TG_HEADERS, _cases, _deleted, _policy, _rows, _tg, _tg_update
from ttfd.core import db
from ttfd.features.automod import service

REMOVED = "message removed: "
WORD, INVITE, LINK = "that word isn't allowed here", "invite links aren't allowed here", "links to that site"


@pytest.fixture
def telegram(app_env: Any, caplog: pytest.LogCaptureFixture) -> Any:
    """The Telegram function; whatever a test sends, nothing may be logged as a crash."""
    fake_automod.reset(app_env.discord)
    yield create_app("telegram_webhook", "main.py").test_client()
    crashes = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert crashes == [], [r.getMessage() for r in crashes]


@pytest.fixture
def named_bot(app_env: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The bot knows its username (as deployed), so `/cmd@other_bot` is told apart from `/cmd@ttfd_test_bot`."""
    from webhooks.telegram import runtime

    monkeypatch.setenv("TELEGRAM_BOT_USERNAME", "ttfd_test_bot")
    runtime._bot.cache_clear()
    runtime._dispatcher.cache_clear()
    yield
    monkeypatch.delenv("TELEGRAM_BOT_USERNAME")
    runtime._bot.cache_clear()
    runtime._dispatcher.cache_clear()


def _post(client: Any, update: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    resp = client.post("/", data=json.dumps(update), headers=TG_HEADERS)
    assert "Traceback" not in resp.get_data(as_text=True)
    return resp.status_code, dict(resp.get_json(silent=True) or {})


def _with_entities(app_env: Any, text: str, entities: list[dict[str, Any]], user: int = 7) -> dict[str, Any]:
    """A group message carrying Telegram's entities (registered on the fake, so it can be deleted)."""
    update = _tg_update(text, user)
    update["message"]["entities"] = entities
    app_env.telegram.add_message(GROUP, update["message"]["message_id"], user, text)
    return update


def _caption(app_env: Any, caption: str, user: int = 7, entities: list[dict[str, Any]] | None = None) -> dict:
    """A photo with a caption in the group (no text: what a command filter reads is the caption)."""
    update = _tg_update("", user)
    msg = update["message"]
    del msg["text"]
    msg["photo"] = [{"file_id": "p1", "file_unique_id": "u1", "width": 90, "height": 90}]
    msg["caption"] = caption
    if caption.startswith("/"):
        msg["caption_entities"] = [{"type": "bot_command", "offset": 0, "length": len(caption.split()[0])}]
    if entities:
        msg["caption_entities"] = [*msg.get("caption_entities", []), *entities]
    app_env.telegram.add_message(GROUP, msg["message_id"], user, caption)
    return update


def _daily_claims(url: str, telegram_id: int) -> int:
    rows = _rows(
        url,
        "SELECT count(*) FROM daily_claims d JOIN unified_users u ON u.id = d.user_id WHERE u.telegram_id = %s",
        telegram_id,
    )
    return int(rows[0][0])


# --- hole 3: a group message starting with "/" -----------------------------------------------------------


def test_the_issues_slash_messages_are_deleted_warned_and_one_case_each(telegram, app_env, fresh_db) -> None:
    _policy("telegram", GROUP, bad_words=("so bad",), block_invites=True)
    sent = {
        "/xyz so bad spam": WORD,  # an unknown command: a plain group message
        "/help discord.gg/abc": INVITE,  # a command of ours: the guard sees it before /help runs
        "/start@other_bot so bad": WORD,  # without a known username, routed as our /start: still guarded
    }
    ids = []
    for n, (text, says) in enumerate(sent.items(), start=1):
        update = _tg_update(text, 7)
        ids.append(update["message"]["message_id"])
        reply = _tg(telegram, app_env, text, update=update)
        assert reply.get("method") == "sendMessage" and REMOVED + says in reply["text"], (text, reply)
        assert f"(warning {n}, case #{n})" in reply["text"]
        assert "TTFD commands" not in reply["text"] and "Chatting here" not in reply["text"]  # no command ran
    assert run_schedule("run_jobs").get_json()["dead"] == 0
    assert _deleted(app_env) == sorted(ids)
    assert [(c[0], c[1], c[2], c[4]) for c in _cases(fresh_db)] == [(n, "warn", 7, "automod") for n in (1, 2, 3)]


def test_another_bots_command_is_a_plain_group_message(telegram, app_env, fresh_db, named_bot) -> None:
    _policy("telegram", GROUP, bad_words=("so bad",))
    reply = _tg(telegram, app_env, "/start@other_bot so bad")
    assert REMOVED + WORD in reply["text"] and "case #1" in reply["text"]
    # Clean, it is chat like any other: no answer, counted by activity (not our /start, which answers).
    assert _tg(telegram, app_env, "/start@other_bot hello", user=8) == {}
    assert _rows(fresh_db, "SELECT messages_sent FROM unified_users WHERE telegram_id = 8") == [(1,)]
    ours = _tg(telegram, app_env, "/start@ttfd_test_bot", user=8)
    assert "Chatting here earns XP" in ours["text"]
    assert _rows(fresh_db, "SELECT messages_sent FROM unified_users WHERE telegram_id = 8") == [(1,)]
    assert len(_cases(fresh_db)) == 1


def test_flood_counting_includes_slash_messages(telegram, app_env, fresh_db) -> None:
    _policy("telegram", GROUP, flood_limit=3, flood_window_s=60)
    texts = ["/daily", "/xyz", "/top", "/start@other_bot hi", "/", "hello"]
    replies = [_tg(telegram, app_env, t, user=21) for t in texts]
    flooded = ["too many messages too fast" in r.get("text", "") for r in replies]
    assert flooded == [False, False, False, True, True, True], replies
    assert "+" in replies[0]["text"] and "coins" in replies[0]["text"]  # /daily ran (clean, under the limit)
    with db.transaction() as conn:
        assert service.counters(conn, GROUP, 21) == {"flood": 6}
    assert [c[3] for c in _cases(fresh_db)] == ["automod: flood"] * 3


def test_a_refused_command_is_still_counted(telegram, app_env, fresh_db) -> None:
    """A command's refusal — raised by the command (not enough coins) or before it (bad options) — rolls back
    the command, not the guard's counting: spamming refused commands is still a flood."""
    _policy("telegram", GROUP, flood_limit=4, flood_window_s=60, repeat_limit=2)
    broke = _tg(telegram, app_env, "/coinflip 5000 heads", user=22)
    first = _tg(telegram, app_env, "/daily", user=22)
    again = _tg(telegram, app_env, "/daily", user=22)
    bad = _tg(telegram, app_env, "/coinflip lots", user=22)
    assert "Not enough coins" in broke["text"] and "coins" in first["text"]
    assert "already claimed today" in again["text"]
    assert "whole number" in bad["text"] and "Usage: /coinflip" in bad["text"]
    with db.transaction() as conn:
        assert service.counters(conn, GROUP, 22) == {"flood": 4, "repeat": 1}
    again = _tg(telegram, app_env, "/coinflip 5000 heads", user=22)
    assert "too many messages too fast" in again["text"]
    assert _daily_claims(fresh_db, 22) == 1 and len(_cases(fresh_db)) == 1
    # A redelivery of the refused update answers the same and counts nothing more.
    update = _tg_update("/coinflip 5000 tails", 22)
    with db.transaction() as conn:
        conn.execute("DELETE FROM automod_counters")
    first_answer = _tg(telegram, app_env, "", update=update)
    assert _tg(telegram, app_env, "", update=update) == first_answer and "Not enough coins" in first_answer["text"]
    with db.transaction() as conn:
        assert service.counters(conn, GROUP, 22) == {"flood": 1, "repeat": 1}


def test_a_clean_daily_in_a_group_with_a_policy_still_works(telegram, app_env, fresh_db) -> None:
    _policy("telegram", GROUP, bad_words=("so bad",), block_invites=True, caps_percent=70)
    update = _tg_update("/daily", 23)
    reply = _tg(telegram, app_env, "/daily", update=update)
    assert "coins" in reply["text"] and "Streak" in reply["text"] and REMOVED not in reply["text"]
    assert _tg(telegram, app_env, "/daily", update=update) == reply  # a redelivery: the stored answer
    assert _daily_claims(fresh_db, 23) == 1 and _cases(fresh_db) == []
    # A command of ours is not chat: activity does not count it.
    assert _rows(fresh_db, "SELECT messages_sent FROM unified_users WHERE telegram_id = 23") == [(0,)]


def test_a_command_to_this_bot_with_a_bad_word_is_taken_and_does_not_run(telegram, app_env, fresh_db) -> None:
    _policy("telegram", GROUP, bad_words=("so bad",))
    app_env.telegram.chat_members[(GROUP, 24)] = {"status": "administrator"}
    for text in ("/daily so bad", "/coinflip so bad", "/automod_set words so bad, worse", "/top so bad"):
        reply = _tg(telegram, app_env, text, user=24)
        assert REMOVED + WORD in reply["text"], (text, reply)
    assert _daily_claims(fresh_db, 24) == 0  # /daily did not run
    assert _rows(fresh_db, "SELECT count(*) FROM jobs WHERE kind = 'ui.deferred'") == [(0,)]  # nor /automod_set
    assert _rows(fresh_db, "SELECT bad_words FROM automod_policies") == [(["so bad"],)]
    assert len(_cases(fresh_db)) == 4


def test_a_redelivered_offending_command_opens_no_second_case(telegram, app_env, fresh_db) -> None:
    _policy("telegram", GROUP, bad_words=("so bad",), flood_limit=10)
    for text in ("/daily so bad", "/xyz so bad"):
        update = _tg_update(text, 25)
        first = _tg(telegram, app_env, text, update=update)
        again = _tg(telegram, app_env, text, update=update)
        assert first == again and REMOVED in first["text"]
    assert [c[0] for c in _cases(fresh_db)] == [1, 2]
    assert _rows(fresh_db, "SELECT count(*) FROM jobs WHERE kind = 'automod.delete'") == [(2,)]
    with db.transaction() as conn:
        assert service.counters(conn, GROUP, 25) == {"flood": 2}  # each update counted once


def test_read_only_commands_stay_read_only_in_private_chats_only(telegram, app_env, fresh_db) -> None:
    """A group command takes the claimed path (automod writes); a private one still skips the claim."""
    from devtools.simulate import telegram_update

    _tg(telegram, app_env, "/daily", user=26)  # the account exists, so a read needs no write first
    private = telegram_update("/top", user=26, update_id=990001)
    status, reply = _post(telegram, private)
    assert status == 200 and "text" in reply
    status, reply = _post(telegram, telegram_update("/top", user=26, chat=GROUP, update_id=990002))
    assert status == 200 and "text" in reply
    keys = [k for (k,) in _rows(fresh_db, "SELECT key FROM idempotency_keys WHERE key LIKE 'tg:%%:99000_'")]
    assert keys == [k for k in keys if k.endswith(":990002")] and len(keys) == 1


# --- hole 4: invisible and look-alike characters ----------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "so b\u200bad",  # zero-width space
        "so b\u00adad",  # soft hyphen
        "so \uff42\uff41\uff44",  # fullwidth
        "SO B\u2060AD",  # word joiner, capitals
        "so b\u0430d",  # Cyrillic а
        "so b\u0301ad",  # a stray combining mark
        "so b\u3164ad",  # Hangul filler
        "so \U0001d41b\U0001d41a\U0001d41d",  # mathematical bold
        "s\u200co b\ufeffad",  # zero-width non-joiner, BOM
    ],
)
def test_invisible_and_look_alike_characters_do_not_hide_a_bad_word(telegram, app_env, fresh_db, text) -> None:
    _policy("telegram", GROUP, bad_words=("so bad",))
    assert REMOVED + WORD in _tg(telegram, app_env, text)["text"]


def test_invisible_and_look_alike_characters_do_not_hide_an_invite(telegram, app_env, fresh_db) -> None:
    _policy("telegram", GROUP, block_invites=True)
    for text in (
        "discord.gg\u200b/abc",
        "\uff44\uff49\uff53\uff43\uff4f\uff52\uff44\uff0e\uff47\uff47\uff0f\uff41\uff42\uff43",  # fullwidth
        "dis\u0441ord.gg/abc",  # Cyrillic с
        "t\u200d.me/+AbCdEf",
        "discord\u3002gg/abc",  # ideographic full stop
    ):
        assert REMOVED + INVITE in _tg(telegram, app_env, text)["text"], text


def test_a_russian_bad_word_matches_russian_text_however_it_is_written(telegram, app_env, fresh_db) -> None:
    _policy("telegram", GROUP, bad_words=("плохо", "спам*"))
    for text in (
        "это плохо",
        "это пл\u006fхо",  # a Latin o
        "это п\u200bлохо",  # a zero-width space
        "ЭТО ПЛОХО",
        "это плох\u043e\u0301",  # a stress mark
        "спамеры тут",
    ):
        assert REMOVED + WORD in _tg(telegram, app_env, text)["text"], text
    for text in ("Привет всем! Как дела? Всё хорошо.", "плохой день", "неплохо", "вот и всё, т.е. ничего"):
        assert _tg(telegram, app_env, text) == {}, text


def test_a_latin_bad_word_matches_a_cyrillic_mix(telegram, app_env, fresh_db) -> None:
    _policy("telegram", GROUP, bad_words=("scam",))
    assert REMOVED + WORD in _tg(telegram, app_env, "\u0455\u0441\u0430m here")["text"]  # ѕ с а: Cyrillic
    assert _tg(telegram, app_env, "вот это сам") == {}  # Russian "сам" is not "scam"


def test_the_repeat_check_sees_through_invisible_characters(telegram, app_env, fresh_db) -> None:
    _policy("telegram", GROUP, repeat_limit=2, repeat_window_s=60)
    replies = [_tg(telegram, app_env, t, user=30) for t in ("buy now", "buy\u200b now", "\uff42uy now")]
    assert [REMOVED in r.get("text", "") for r in replies] == [False, False, True]
    assert "the same message again" in replies[2]["text"]


def test_capitals_are_counted_on_the_text_as_written(telegram, app_env, fresh_db) -> None:
    _policy("telegram", GROUP, caps_percent=70, caps_min_len=10)
    assert "don't shout" in _tg(telegram, app_env, "ПОЧЕМУ ВСЕ МОЛЧАТ")["text"]
    assert _tg(telegram, app_env, "Почему все молчат, друзья?") == {}


# --- links: hidden behind words, marked by Telegram, bare domains in allow mode --------------------------


def test_a_text_link_is_checked(telegram, app_env, fresh_db) -> None:
    _policy("telegram", GROUP, block_invites=True, link_mode="deny", links=("evil.com",))
    invite = _with_entities(
        app_env, "click here", [{"type": "text_link", "offset": 6, "length": 4, "url": "https://discord.gg/abc"}]
    )
    assert REMOVED + INVITE in _tg(telegram, app_env, "click here", update=invite)["text"]
    denied = _with_entities(
        app_env, "see this", [{"type": "text_link", "offset": 4, "length": 4, "url": "https://www.sub.evil.com/x"}]
    )
    assert REMOVED + LINK in _tg(telegram, app_env, "see this", update=denied)["text"]
    fine = _with_entities(
        app_env, "see this", [{"type": "text_link", "offset": 0, "length": 3, "url": "https://ok.org"}]
    )
    assert _tg(telegram, app_env, "see this", update=fine) == {}
    user_link = _with_entities(
        app_env, "hey you", [{"type": "text_link", "offset": 4, "length": 3, "url": "tg://user?id=5"}]
    )
    assert _tg(telegram, app_env, "hey you", update=user_link) == {}
    # In a caption too, and on a command of ours (the guard gets the links as well).
    hidden = {"type": "text_link", "offset": 0, "length": 5, "url": "https://evil.com"}
    status, reply = _post(telegram, _caption(app_env, "photo of the day", entities=[hidden]))
    assert status == 200 and REMOVED + LINK in reply["text"]
    command = _with_entities(
        app_env,
        "/help me",
        [
            {"type": "bot_command", "offset": 0, "length": 5},
            {"type": "text_link", "offset": 6, "length": 2, "url": "https://evil.com"},
        ],
    )
    assert REMOVED + LINK in _tg(telegram, app_env, "/help me", update=command)["text"]
    assert len(_cases(fresh_db)) == 4


def test_allow_mode_catches_bare_domains_but_not_words_with_dots(telegram, app_env, fresh_db) -> None:
    _policy("telegram", GROUP, link_mode="allow", links=("example.com",))
    for text in ("visit evil.com", "go to EVIL.XYZ now", "see ｅｖｉｌ．ｃｏｍ", "https://example.com@evil.com/x"):
        assert "only links to example.com are allowed here" in _tg(telegram, app_env, text)["text"], text
    clean = [
        "see example.com/docs or docs.example.com",
        "open file.txt and readme.md",
        "v1.2 is out, 3.14 too",
        "e.g. this, i.e. that",
        "write me at a@b.com",
        "Привет всем! Как дела? Всё хорошо.",
        "вот и всё, т.е. ничего",
    ]
    for text in clean:
        assert _tg(telegram, app_env, text) == {}, text


def test_a_url_entity_counts_whatever_its_domain_utf16_offsets(telegram, app_env, fresh_db) -> None:
    """Telegram marks `evil.lk` a link (a real TLD not in the built-in list): its offset counts UTF-16 units,
    so after four emoji (two units each) it is 9, where the Python string has it at 5."""
    _policy("telegram", GROUP, link_mode="allow", links=("example.com",))
    text = "😀😀😀😀 evil.lk"
    assert _tg(telegram, app_env, text) == {}  # unmarked: not a known TLD
    marked = _with_entities(app_env, text, [{"type": "url", "offset": 9, "length": 7}])
    assert "only links to example.com" in _tg(telegram, app_env, text, update=marked)["text"]
    ok = _with_entities(app_env, "😀 docs.example.com", [{"type": "url", "offset": 3, "length": 16}])
    assert _tg(telegram, app_env, "😀 docs.example.com", update=ok) == {}


def test_links_cut_entities_by_utf16_units() -> None:
    from aiogram.types import Message

    from webhooks.telegram.routing import links

    def message(text: str, entities: list[dict[str, Any]]) -> Message:
        return Message.model_validate(
            {
                "message_id": 1,
                "date": 0,
                "chat": {"id": GROUP, "type": "supergroup"},
                "text": text,
                "entities": entities,
            }
        )

    text = "😀 a 👍🏽 evil.com и ещё t.me/x"
    assert links(message(text, [{"type": "url", "offset": 10, "length": 8}])) == ("evil.com",)
    assert links(message(text, [{"type": "url", "offset": 25, "length": 6}])) == ("t.me/x",)
    assert links(message(text, [{"type": "text_link", "offset": 0, "length": 2, "url": "https://x.io"}])) == (
        "https://x.io",
    )
    # Hostile offsets: out of range, negative, through a surrogate pair — never an exception.
    odd = [
        {"type": "url", "offset": 999, "length": 5},
        {"type": "url", "offset": -3, "length": 2},
        {"type": "url", "offset": 1, "length": 1},
    ]
    assert links(message(text, odd)) == ("😀", "\ufffd")


# --- attacks on the work itself: no 5xx, no traceback ----------------------------------------------------


def test_hostile_shapes_are_answered_without_a_crash(telegram, app_env, fresh_db) -> None:
    _policy("telegram", GROUP, bad_words=("so bad", "плохо"), block_invites=True, flood_limit=50, repeat_limit=20)
    zero_width = "so b" + "\u200b" * 4090 + "ad"
    assert len(zero_width) == 4096
    assert REMOVED + WORD in _tg(telegram, app_env, zero_width)["text"]
    assert REMOVED + WORD in _tg(telegram, app_env, "\u200b" * 2000 + "пл\u200bохо" + "\u2060" * 2000)["text"]
    assert _tg(telegram, app_env, "\u200b" * 4096) == {}  # nothing visible, nothing wrong
    assert _tg(telegram, app_env, "ab" * 2048) == {}
    for text in ("/", "/@", "/ ", "/@ so bad", "//so bad", "/\u200b"):
        update = _tg_update(text, 31)
        status, reply = _post(telegram, update)
        assert status == 200, text
        if "so bad" in text:
            assert REMOVED + WORD in reply["text"], text
    # NUL bytes and lone surrogates, as raw JSON: scrubbed at the edge, then read.
    for raw in ('"so b\\u0000ad"', '"so bad \\ud800"', '"\\udfff/xyz so bad"', '"/daily \\ud83d"'):
        update = _tg_update("x", 32)
        body = json.dumps(update).replace('"text": "x"', f'"text": {raw}')
        resp = telegram.post("/", data=body, headers=TG_HEADERS)
        assert resp.status_code == 200 and "Traceback" not in resp.get_data(as_text=True), raw
        if "so b" in raw:
            assert REMOVED + WORD in (resp.get_json() or {}).get("text", ""), raw


def test_captions_starting_with_a_slash(telegram, app_env, fresh_db) -> None:
    _policy("telegram", GROUP, bad_words=("so bad",))
    status, reply = _post(telegram, _caption(app_env, "/xyz so bad"))
    assert status == 200 and REMOVED + WORD in reply["text"]
    status, reply = _post(telegram, _caption(app_env, "/daily so bad"))  # a caption can be a command of ours
    assert status == 200 and REMOVED + WORD in reply["text"]
    status, reply = _post(telegram, _caption(app_env, "/daily", user=33))
    assert status == 200 and "coins" in reply["text"]
    status, reply = _post(telegram, _caption(app_env, "/", user=33))
    assert status == 200 and reply == {}
    assert len(_cases(fresh_db)) == 2


def test_normalize_is_the_same_for_words_and_messages() -> None:
    n = service.normalize
    assert n("so b\u200bad") == n("SO BAD") == n("ｓｏ ｂａｄ") == "so bad"
    assert n("плохо") == n("ПЛОХО") == n("пл\u006fхо") == n("п\u200bлохо")
    assert n("й") == n("и\u0306") == n("и\u200b\u0306")  # composed across what is not drawn
    assert n("ёлка") == n("елка")
    assert n("a\x00b\x07c\nd") == "abc\nd"
    assert n("\ud800x") == "\ud800x"  # a lone surrogate passes through (the edge replaces them anyway)
    policy = service.Policy("telegram", -1, bad_words=("\u200b", "ok"))  # a word of only invisible characters
    assert service.content_offence(policy, "anything at all") is None
    assert service.content_offence(policy, "it is OK") is not None


def test_the_compiled_words_match_as_each_word_alone_would() -> None:
    """The words are compiled into one trie-shaped regex: it must find exactly what the words one by one do."""
    import re

    def alone(word: str, text: str) -> bool:
        core = re.escape(" ".join(word.strip("*").split())).replace(r"\ ", r"\s+")
        head = "" if word.startswith("*") else r"(?<!\w)"
        tail = "" if word.endswith("*") else r"(?!\w)"
        return re.search(head + core + tail, text) is not None

    rng = random.Random(7)
    alphabet = "ab c-+.ж"
    for _ in range(300):
        words = []
        for _ in range(rng.randint(1, 6)):
            core = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 4))).strip() or "a"
            words.append(rng.choice(("", "*")) + core + rng.choice(("", "*")))
        words = [" ".join(w.split()) for w in words]
        text = "".join(rng.choice(alphabet + "  ") for _ in range(rng.randint(0, 30)))
        compiled = service._words_re(tuple(words))
        assert compiled is not None
        assert (compiled.search(text) is not None) == any(alone(w, text) for w in words), (words, text)


# --- edits: "hello", then edited into spam --------------------------------------------------------------------


def test_a_message_edited_into_spam_is_taken_and_not_counted_twice(telegram, app_env, fresh_db) -> None:
    _policy("telegram", GROUP, bad_words=("bad",), block_invites=True, flood_limit=2, flood_window_s=60)
    sent = _tg_update("hello there", 7)
    _tg(telegram, app_env, "hello there", update=sent)  # clean: counted once for floods
    assert _cases(fresh_db) == []
    edit = {"update_id": random.randrange(1, 2**31), "edited_message": {**sent["message"], "text": "so bad"}}
    edit["edited_message"]["edit_date"] = edit["edited_message"]["date"] + 5
    status, body = _post(telegram, edit)
    assert status == 200 and REMOVED + WORD in body["text"]
    run_schedule("run_jobs")
    assert sent["message"]["message_id"] in _deleted(app_env)
    assert [c[1] for c in _cases(fresh_db)] == ["warn"]
    # An edit is not a new message: the flood counter still holds the one message.
    fine = {"update_id": random.randrange(1, 2**31), "edited_message": {**sent["message"], "text": "hello again"}}
    assert _post(telegram, fine) == (200, {})
    with db.transaction() as conn:
        assert service.counters(conn, GROUP, 7) == {"flood": 1}
    assert len(_cases(fresh_db)) == 1
    # Redelivered, the edit warns once; an edit in a private chat is nothing to us.
    assert _post(telegram, edit)[0] == 200 and len(_cases(fresh_db)) == 1
    private = _tg_update("so bad", 7, chat=7)
    assert _post(telegram, {"update_id": random.randrange(1, 2**31), "edited_message": private["message"]}) == (200, {})


# --- a second attack: where links really go, invites written as a browser still follows them ------------------


ALLOW = service.Policy("telegram", GROUP, link_mode="allow", links=("example.com",))
INVITES = service.Policy("telegram", GROUP, block_invites=True)
DENY = service.Policy("telegram", GROUP, link_mode="deny", links=("evil.com", "spam.foo"))


@pytest.mark.parametrize(
    ("text", "urls"),
    [
        ("https://ex\u0430mple.com", ()),  # a Cyrillic а: xn--exmple-4nf.com, another site
        ("see this", ("https://ex\u0430mple.com/login",)),
        ("see this", ("https://\u0435xample.com",)),
        ("http://1.1.1.1/", ()),
        ("http://192.168.1.1/x", ()),
        ("http://3232235777/", ()),
        ("http://[::1]/x", ()),
        ("пример.рф", ()),
        ("evil.xn--p1ai", ()),
        ("see this", ("http://192.168.1.1/",)),
        ("see this", ("tg://resolve?domain=spam_channel",)),
    ],
)
def test_allow_mode_judges_where_a_link_really_goes(text: str, urls: tuple[str, ...]) -> None:
    offence = service.content_offence(ALLOW, text, urls)
    assert offence is not None and offence.code == "link", (text, urls)


@pytest.mark.parametrize(
    ("text", "urls"),
    [("https://example.com/x", ()), ("www.example.com and sub.example.com", ()), ("hey", ("tg://user?id=5",))],
)
def test_allow_mode_lets_the_allowed_site_through(text: str, urls: tuple[str, ...]) -> None:
    assert service.content_offence(ALLOW, text, urls) is None


@pytest.mark.parametrize(
    "text",
    [
        "https://discord.com/../invite/abc",
        "https://discord.com:443/invite/abc",
        "https://discord.gg/%61bc",
        "https://discord.com/invite/%61bc",
        "https://discord.gg\\abc",
        "https://discord.gg./abc",
        "https://discord.com//invite/abc",
        "HTTPS://DISCORD.GG/ABC",
    ],
)
def test_invites_are_read_as_a_browser_follows_them(text: str) -> None:
    offence = service.content_offence(INVITES, text)
    assert offence is not None and offence.code == "invite", text


@pytest.mark.parametrize("text", ["so ba\u0301d", "so bàd", "so bád", "so b\u0301ad", "so BÁD"])
def test_accents_do_not_hide_a_bad_word(text: str) -> None:
    offence = service.content_offence(service.Policy("telegram", GROUP, bad_words=("bad",)), text)
    assert offence is not None and offence.code == "bad_word", text


def test_a_look_alike_of_a_denied_site_is_denied_and_any_bare_name_counts() -> None:
    for text in ("\u0435vil.com", "go to spam.foo now", "https://sub.evil.com:8080/x"):
        offence = service.content_offence(DENY, text)
        assert offence is not None and offence.code == "link", text
    assert service.content_offence(DENY, "fine.org and file.txt") is None
