"""Profiles in both languages: /profile, /rank and /card answer in Russian when the person's platform says
Russian (Discord's `locale`, Telegram's `language_code`) and in English when it says English; the rank card is
drawn in the asker's language, on Discord, on Telegram and on the site (`?lang=`); the card's font ships with
the code (serverless.yml and .gcloudignore keep it)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from functions_framework import create_app

from devtools.simulate import telegram_update
from tests.conftest import TG_SECRET, encode, interaction, run_schedule, sign
from tests.site_helpers import configure_site
from ttfd.core import db, ledger, users
from ttfd.features.profiles import rank_card, views

ROOT = Path(__file__).resolve().parent.parent
TG_HEADERS = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": TG_SECRET}


def _discord_payload(command: str, user: int, locale: str) -> dict[str, Any]:
    payload = interaction(command, user=user)
    payload["locale"] = locale
    return payload


def _discord(command: str, user: int, locale: str) -> dict[str, Any]:
    body = encode(_discord_payload(command, user, locale))
    client = create_app("discord_interactions", "main.py").test_client()
    return dict(client.post("/", data=body, headers=sign(body)).get_json()["data"])


def _telegram_update(command: str, user: int, language: str, update_id: int) -> dict[str, Any]:
    update = telegram_update(command, user=user, update_id=update_id)
    update["message"]["from"]["language_code"] = language
    return update


def _telegram(command: str, user: int, language: str, update_id: int) -> str:
    client = create_app("telegram_webhook", "main.py").test_client()
    update = _telegram_update(command, user, language, update_id)
    return str(client.post("/", data=json.dumps(update), headers=TG_HEADERS).get_json()["text"])


def _player(platform: str, ext: int, *, xp: int = 0, coins: int = 0, streak: int = 0, games: tuple[int, int] = (0, 0)):
    """A player with exactly these numbers (whatever achievement rewards reaching them paid out)."""
    with db.transaction() as conn:
        u = users.ensure_user(conn, platform, ext, f"user{ext}", f"User {ext}")
        conn.execute(
            "UPDATE unified_users SET daily_streak = %s, games_won = %s, games_played = %s WHERE id = %s",
            (streak, games[0], games[1], u.id),
        )
        for step in range(6):
            now = users.get_user(conn, u.id)
            if (now.xp, now.coins) == (xp, coins):
                break
            for currency, want, have in (("xp", xp, now.xp), ("coins", coins, now.coins)):
                key = f"{currency}:{ext}:{step}"
                ledger.grant(conn, u.id, currency, want - have, reason="t", platform=platform, source_key=key)
        now = users.get_user(conn, u.id)
        assert (now.xp, now.coins) == (xp, coins)
        return now


def _fields(embed: dict[str, Any]) -> dict[str, str]:
    return {f["name"]: f["value"] for f in embed["fields"]}


# --- /profile -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "coins", "days"),
    [
        (1, "1 монета", "1 день 🔥"),
        (3, "3 монеты", "3 дня 🔥"),
        (5, "5 монет", "5 дней 🔥"),
        (21, "21 монета", "21 день 🔥"),
        (12_345, "12\xa0345 монет", "12\xa0345 дней 🔥"),
    ],
)
def test_profile_answers_in_russian_on_discord(app_env, fresh_db, n: int, coins: str, days: str) -> None:
    _player("discord", 811, xp=1_234, coins=n, streak=n, games=(2, 3))
    embed = _discord("/profile", 811, "ru")["embeds"][0]
    assert embed["title"] == "User 811 — ранг F"
    fields = _fields(embed)
    assert fields["Монеты"] == coins
    assert fields["Серия /daily"] == days
    assert fields["Уровень"] == "**5** ▰▰▱▱▱▱▱▱▱▱ 84/475 XP до уровня 6"
    assert fields["Опыт"] == "1\xa0234 XP (#1)"
    assert fields["Игры"] == "выиграно 2 из 3"
    assert fields["За неделю"] == "1\xa0234 XP"
    assert fields["Следующий ранг"] == "391 XP до ранга F+"
    assert fields["Привязано"] == "🎮 Discord"


def test_profile_stays_english_for_en_us(app_env, fresh_db) -> None:
    _player("discord", 811, xp=1_234, coins=5, streak=1, games=(2, 3))
    embed = _discord("/profile", 811, "en-US")["embeds"][0]
    assert embed["title"] == "User 811 — rank F"
    fields = _fields(embed)
    assert fields["Coins"] == "5 coins" and fields["Daily streak"] == "1 day 🔥"
    assert fields["Level"] == "**5** ▰▰▱▱▱▱▱▱▱▱ 84/475 XP to level 6"
    assert fields["XP"] == "1,234 XP (#1)" and fields["Games"] == "2 of 3 won" and fields["This week"] == "1,234 XP"
    assert fields["Next rank"] == "391 XP to F+" and fields["Linked"] == "🎮 Discord"


def test_profile_answers_in_russian_on_telegram(app_env, fresh_db) -> None:
    text = _telegram("/profile", 812, "ru", 1)
    assert text.startswith("<b>User 812 — ранг F-</b>\n\n<b>Уровень</b>: <b>0</b> ▱▱▱▱▱▱▱▱▱▱ 0/100 XP до уровня 1\n")
    for line in (
        "<b>Опыт</b>: 0 XP (пока не в таблице лидеров)",
        "<b>Монеты</b>: 0 монет",
        "<b>Серия /daily</b>: 0 дней 🔥",
        "<b>Следующий ранг</b>: 475 XP до ранга F",
        "<b>Привязано</b>: ✈️ Telegram",
    ):
        assert line in text.split("\n"), (line, text)
    english = _telegram("/profile", 813, "en", 2)
    assert english.startswith("<b>User 813 — rank F-</b>") and "<b>Coins</b>: 0 coins" in english


def test_a_hidden_player_and_a_missing_one_are_told_in_russian(app_env, fresh_db) -> None:
    shy = _player("discord", 821, coins=900)
    with db.transaction() as conn:
        conn.execute("UPDATE unified_users SET show_stats = false WHERE id = %s", (shy.id,))
    other = _discord("/profile user:821", 822, "ru")["embeds"][0]
    assert other["title"] == "Скрытый игрок" and other["description"] == "🔒 Этот игрок скрыл свою статистику."
    assert _discord("/rank user:821", 822, "ru")["embeds"][0]["title"] == "Скрытый игрок"
    assert _discord("/profile user:821", 822, "en-US")["embeds"][0]["title"] == "Hidden player"
    missing = _discord("/profile user:999", 822, "ru")["content"]
    assert missing == "⚠️ У игрока **user999** пока нет профиля TTFD."  # Discord's username for them
    assert _discord("/profile user:999", 822, "en-US")["content"] == "⚠️ **user999** has no TTFD profile yet."


# --- /rank --------------------------------------------------------------------------------------------------


def test_rank_answers_in_russian_and_english(app_env, fresh_db) -> None:
    _player("discord", 831, xp=1_234)
    assert _discord("/rank", 831, "ru")["content"] == (
        "**User 831** · ранг **F** · уровень **5** · #1\n▰▰▱▱▱▱▱▱▱▱ 84/475 XP до уровня 6"
    )
    assert _discord("/rank", 831, "en-US")["content"] == (
        "**User 831** · rank **F** · level **5** · #1\n▰▰▱▱▱▱▱▱▱▱ 84/475 XP to level 6"
    )
    assert _telegram("/rank", 832, "ru", 3) == (
        "<b>User 832</b> · ранг <b>F-</b> · уровень <b>0</b> · пока не в таблице лидеров\n"
        "▱▱▱▱▱▱▱▱▱▱ 0/100 XP до уровня 1"
    )
    assert _telegram("/rank", 833, "en", 4) == (
        "<b>User 833</b> · rank <b>F-</b> · level <b>0</b> · not on the leaderboard yet\n▱▱▱▱▱▱▱▱▱▱ 0/100 XP to level 1"
    )


# --- /card: the job draws the card in the asker's language ------------------------------------------------------


@pytest.fixture
def drawn_locales(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The language of every card drawn."""
    seen: list[str] = []
    real = views.card_png

    def spy(data: rank_card.CardData) -> bytes:
        seen.append(data.locale)
        return real(data)

    monkeypatch.setattr(views, "card_png", spy)
    return seen


@pytest.mark.parametrize(
    ("locale", "lang", "title", "body"),
    [
        ("ru", "ru", "🪪 User 841 — карточка ранга", "Ранг **F-** · уровень 0"),
        ("en-US", "en", "🪪 User 841 — rank card", "Rank **F-** · level 0"),
    ],
)
def test_card_on_discord_is_titled_and_drawn_in_the_askers_language(
    app_env, fresh_db, drawn_locales: list[str], locale: str, lang: str, title: str, body: str
) -> None:
    payload = _discord_payload("/card", 841, locale)
    raw = encode(payload)
    client = create_app("discord_interactions", "main.py").test_client()
    assert client.post("/", data=raw, headers=sign(raw)).get_json()["type"] == 5
    assert run_schedule("run_jobs").get_json()["done"] == 1
    embed = app_env.discord.originals[payload["token"]]["embeds"][0]
    assert embed["title"] == title and embed["description"] == body
    assert drawn_locales == [lang]


def test_card_on_telegram_is_captioned_and_drawn_in_russian(app_env, fresh_db, drawn_locales: list[str]) -> None:
    client = create_app("telegram_webhook", "main.py").test_client()
    client.post("/", data=json.dumps(_telegram_update("/card", 842, "ru", 5)), headers=TG_HEADERS)
    assert run_schedule("run_jobs").get_json()["done"] == 1
    (photo,) = app_env.telegram.calls_of("sendPhoto")
    assert "🪪 User 842 — карточка ранга" in photo["caption"] and "Ранг <b>F-</b> · уровень 0" in photo["caption"]
    assert drawn_locales == ["ru"]


def test_the_sites_card_is_drawn_in_the_language_its_url_asks_for(app_env, fresh_db, monkeypatch) -> None:
    configure_site(monkeypatch, app_env)
    who = _player("discord", 851, xp=1_234, coins=21)
    site = create_app("api_profile", "main.py").test_client()
    ru = site.get(f"/{who.id}/card.png", query_string={"lang": "ru"})
    en = site.get(f"/{who.id}/card.png", query_string={"lang": "en"})
    default = site.get(f"/{who.id}/card.png")  # the deployment's DEFAULT_LOCALE (the suite's: en)
    odd = site.get(f"/{who.id}/card.png", query_string={"lang": "xx-<script>"})
    assert ru.status_code == en.status_code == default.status_code == odd.status_code == 200
    assert ru.data != en.data and default.data == en.data == odd.data
    assert ru.headers["ETag"] != en.headers["ETag"] and ru.headers["ETag"].endswith('-ru"')
    with db.transaction() as conn:
        data, _version = views.card_data(conn, who.id, locale="ru")
    assert ru.data == rank_card.render_card(data)
    again = site.get(f"/{who.id}/card.png?lang=ru", headers={"If-None-Match": ru.headers["ETag"]})
    assert again.status_code == 304
    assert site.get(f"/{who.id}/card.png?lang=en", headers={"If-None-Match": ru.headers["ETag"]}).status_code == 200


# --- the font goes where the code goes ------------------------------------------------------------------------


def _glob(pattern: str) -> re.Pattern[str]:
    """A serverless.yml package pattern (globs, `**` crossing folders) as a regex over a repo-relative path."""
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def _packaged(path: str, patterns: list[str]) -> bool:
    kept = False
    for p in patterns:  # in order: the last pattern that matches decides
        negated = p.startswith("!")
        if _glob(p.removeprefix("!")).fullmatch(path):
            kept = not negated
    return kept


def _package_patterns() -> list[str]:
    """serverless.yml's package.patterns (read as YAML that keeps CloudFormation's !Sub/!Ref tags as text)."""

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    doc = yaml.load((ROOT / "serverless.yml").read_text(), Loader=Loader)  # noqa: S506 - a SafeLoader
    return list(doc["package"]["patterns"])


def test_the_bundled_fonts_and_their_licence_are_deployed() -> None:
    files = sorted(p.relative_to(ROOT).as_posix() for p in rank_card.FONTS.iterdir())
    assert files == [
        "ttfd/features/profiles/fonts/DejaVuSans-Bold.ttf",
        "ttfd/features/profiles/fonts/DejaVuSans.ttf",
        "ttfd/features/profiles/fonts/LICENSE",
    ]
    patterns = _package_patterns()
    assert all(_packaged(f, patterns) for f in files), patterns  # AWS: the zip holds them
    assert not _packaged("tests/test_rank_card.py", patterns)  # (the matcher does say no)
    ignored = [
        line.strip()
        for line in (ROOT / ".gcloudignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for f in files:  # Google Cloud: nothing in .gcloudignore leaves them out
        parts = f.split("/")
        for rule in ignored:
            rule = rule.rstrip("/")
            hit = any(_glob(rule).fullmatch("/".join(parts[:k])) for k in range(1, len(parts) + 1))
            hit = hit or _glob(rule).fullmatch(parts[-1])
            assert not hit, (f, rule)
