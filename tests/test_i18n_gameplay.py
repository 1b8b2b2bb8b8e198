"""The gameplay features (daily, games, leaderboards, ranks, achievements, seasons, accounts, activity) answer in
the reader's language: Russian when Discord's interaction says `locale: "ru"` or Telegram's `language_code` is
"ru", English with en-US / en, and a person's own choice (`unified_users.language`) over what their platform
says. Notices queued for Telegram are said when queued, in the recipient's language."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from functions_framework import create_app

from devtools.simulate import telegram_update
from tests.conftest import TG_SECRET, encode, interaction, run_schedule, sign
from ttfd.core import db, i18n, ledger, users
from ttfd.core.errors import BadInput
from ttfd.core.settings import get_settings
from ttfd.features import daily
from ttfd.features.games import service as games

TG_HEADERS = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": TG_SECRET}
MONTHS_RU = (
    "Январь",
    "Февраль",
    "Март",
    "Апрель",
    "Май",
    "Июнь",
    "Июль",
    "Август",
    "Сентябрь",
    "Октябрь",
    "Ноябрь",
    "Декабрь",
)
NBSP = "\xa0"  # Russian groups thousands with a no-break space: 10 000


@pytest.fixture
def clients(app_env, monkeypatch):
    monkeypatch.setenv("GAMES_COOLDOWN_S", "0")
    get_settings.cache_clear()
    return (
        create_app("discord_interactions", "main.py").test_client(),
        create_app("telegram_webhook", "main.py").test_client(),
    )


def _discord(client, command: str, user: int, locale: str = "ru", **kw: Any) -> dict[str, Any]:
    body = encode(interaction(command, user=user, locale=locale, **kw))
    resp = client.post("/", data=body, headers=sign(body))
    assert resp.status_code == 200
    return dict(resp.get_json()["data"])


def _said(data: dict[str, Any]) -> str:
    """Everything a Discord message shows as text: content, embed titles, descriptions, fields, footers."""
    parts = [data.get("content") or ""]
    for e in data.get("embeds", []):
        parts += [e.get("title", ""), e.get("description", ""), (e.get("footer") or {}).get("text", "")]
        parts += [f"{f['name']}: {f['value']}" for f in e.get("fields", [])]
    return "\n".join(parts)


def _telegram(client, text: str, user: int, language: str = "ru", **kw: Any) -> str:
    update = telegram_update(text, user=user, update_id=random.randrange(1, 2**31), language=language, **kw)
    resp = client.post("/", data=json.dumps(update), headers=TG_HEADERS)
    assert resp.status_code == 200
    return str(resp.get_json().get("text", ""))


def _q(url: str, query: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as c:
        return c.execute(query, args).fetchall()


def _set(url: str, query: str, *args: Any) -> None:
    with psycopg.connect(url) as c:
        c.execute(query, args)


def _fund(discord_id: int, coins: int = 100) -> int:
    with db.transaction() as conn:
        u = users.ensure_user(conn, "discord", discord_id, f"p{discord_id}", "Player")
        ledger.grant(conn, u.id, "coins", coins, reason="t", platform="discord", source_key=f"fund:{u.id}")
        return u.id


# --- /daily ---------------------------------------------------------------------------------------------------


def test_daily_in_russian_first_claim_and_already_claimed(clients, fresh_db, monkeypatch) -> None:
    discord, telegram = clients
    first = _said(_discord(discord, "/daily", 501))
    assert "💰 +100 монет, +50 XP. Серия: **1** 🔥" in first
    assert "Следующая награда — <t:" in first
    assert "🏅 Новое достижение: **📅 День первый** — +50 монет" in first
    again = _said(_discord(discord, "/daily", 501))
    assert "⏳ Сегодняшняя награда уже у тебя. Следующая — <t:" in again
    assert again.endswith("Серия: 1 🔥")
    # The same in English for en-US, asked before DAY_TZ changes: from 21:00 UTC Moscow's day is already the next.
    assert "⏳ You already claimed today. Next claim <t:" in _said(_discord(discord, "/daily", 501, "en-US"))
    # Telegram shows the next claim in words, in DAY_TZ (Moscow's midnight here).
    monkeypatch.setenv("DAY_TZ", "Europe/Moscow")
    get_settings.cache_clear()
    tg = _telegram(telegram, "/daily", 502)
    assert "💰 +100 монет, +50 XP. Серия: <b>1</b> 🔥" in tg
    assert "Следующая награда — через " in tg and "(00:00 MSK)" in tg
    # And in English for en.
    tg_en = _telegram(telegram, "/daily", 502, "en")
    assert "⏳ You already claimed today. Next claim in " in tg_en and "(00:00 MSK)" in tg_en


@pytest.mark.parametrize(
    ("freezes", "russian", "english"),
    [
        (1, "+101 монета, +50 XP. Серия: **4** 🔥\n🧊 Серию спасла 1 заморозка.", "🧊 1 streak freeze kept"),
        (3, "+103 монеты, +50 XP. Серия: **4** 🔥\n🧊 Серию спасли 3 заморозки.", "🧊 3 streak freezes kept"),
        (5, "+105 монет, +50 XP. Серия: **4** 🔥\n🧊 Серию спасли 5 заморозок.", "🧊 5 streak freezes kept"),
        (21, "+121 монета, +50 XP. Серия: **4** 🔥\n🧊 Серию спасла 21 заморозка.", "🧊 21 streak freezes kept"),
    ],
)
def test_daily_streak_freezes_take_russian_plural_forms(clients, fresh_db, monkeypatch, freezes, russian, english):
    discord, _ = clients

    def claimed(conn, s, user_id, platform, now, tz=None) -> daily.DailyResult:
        return daily.DailyResult(True, user_id, 4, 100 + freezes, 50, False, now + timedelta(hours=3), None, freezes)

    monkeypatch.setattr(daily, "claim_daily", claimed)
    assert russian in _said(_discord(discord, "/daily", 510 + freezes))
    assert english in _said(_discord(discord, "/daily", 510 + freezes, "en-US"))


# --- games ----------------------------------------------------------------------------------------------------


def test_a_bet_outside_the_limits_is_refused_with_the_real_range(clients, fresh_db) -> None:
    discord, telegram = clients
    _fund(520)
    ru = _said(_discord(discord, "/coinflip bet:5 side:heads", 520))
    assert f"10{NBSP}000" in ru and "10" in ru and "9" + NBSP + "007" not in ru  # not ±2^53
    assert "between 10 and 10,000" in _said(_discord(discord, "/coinflip bet:20000 side:heads", 520, "en-US"))
    assert f"10{NBSP}000" in _telegram(telegram, "/coinflip 5 heads", 521)
    # The house's own check says the same range, in Russian too.
    with pytest.raises(BadInput) as refused:
        games.check_bet(5, games.GamesSettings())
    assert refused.value.message.in_("ru") == f"Ставка — от 10 до 10{NBSP}000 монет."
    assert _q(fresh_db, "SELECT count(*) FROM games") == [(0,)]


def test_coinflip_and_rps_results_in_russian(clients, fresh_db, monkeypatch) -> None:
    discord, telegram = clients
    _fund(530)
    monkeypatch.setattr(games.secrets, "choice", lambda seq: "heads" if "heads" in seq else seq[-1])
    won = _said(_discord(discord, "/coinflip bet:50 side:heads", 530))
    assert "🪙 Выпало: **Орёл**. **Победа!** +47 монет. Баланс: 172 монеты." in won
    assert "🏅 Новое достижение: **🎲 Новичкам везёт** — +25 монет · +10 XP" in won
    lost = _said(_discord(discord, "/coinflip bet:40 side:tails", 530))
    assert "🪙 Выпало: **Орёл**. **Проигрыш.** Минус 40 монет. Баланс: 132 монеты." in lost
    english = _said(_discord(discord, "/coinflip bet:11 side:heads", 530, "en-US"))
    assert "🪙 The coin shows **Heads**. **You won!** +10 coins. Balance: 142 coins." in english
    # Telegram: the bet first, as in every game; the hands by their Russian names.
    with db.transaction() as conn:
        u = users.ensure_user(conn, "telegram", 531, "t", "T")
        ledger.grant(conn, u.id, "coins", 100, reason="t", platform="telegram", source_key="fund:tg531")
    rps = _telegram(telegram, "/rps 30 rock", 531)  # the house shows scissors (the last hand)
    assert "🪨 Камень против ✂️ <b>Ножницы</b>. <b>Победа!</b> +28 монет. Баланс: 153 монеты." in rps


# --- profiles, ranks, boards, achievements ----------------------------------------------------------------------


def test_profile_rank_leaderboard_and_achievements_in_russian(clients, fresh_db) -> None:
    discord, telegram = clients
    _discord(discord, "/daily", 540)  # 150 coins (the daily and Day one), 50 XP
    profile = _discord(discord, "/profile", 540)
    shown = _said(profile)
    now = datetime.now(UTC)
    assert f"Сезон: {MONTHS_RU[now.month - 1]} {now.year}: 50 XP (#1) · закончится <t:" in shown
    assert "Достижения (1/13): 📅" in shown and "ранг F-" in shown
    rank = _said(_discord(discord, "/rank", 540))
    assert "ранг" in rank and "уровень" in rank
    board = _discord(discord, "/leaderboard board:coins", 540)
    said = _said(board)
    assert "🏆 Монеты" in said and "🥇 **User 540**" in said and "— 150 монет" in said
    assert "Стр. 1/1 · Ты: #1, 150 монет" in said
    labels = [b["label"] for row in board["components"] for b in row["components"]]
    assert labels == ["◀ Назад", "Дальше ▶", "Опыт за всё время", "Опыт за неделю", "Опыт за сезон", "Монеты"]
    assert "Ты: #1, 50 XP" in _said(_discord(discord, "/leaderboard board:week", 540))
    mine = _said(_discord(discord, "/achievements", 540))
    assert "🏅 Твои достижения — 1/13" in mine
    assert "📅 **День первый** — Забери первую ежедневную награду." in mine
    assert "🔒 В ударе — Продержи серию ежедневных наград 7 дней. (+200 монет · +50 XP)" in mine
    assert "🔒 ??? — секретное достижение" in mine
    assert "🏅 Your achievements — 1/13" in _said(_discord(discord, "/achievements", 540, "en-US"))
    top = _telegram(telegram, "/top", 541)
    assert "<b>🏆 Опыт за всё время</b>" in top and "Тебя пока нет в этом рейтинге" in top


def test_a_persons_own_choice_wins_over_the_platforms_language(clients, fresh_db) -> None:
    discord, telegram = clients
    _discord(discord, "/ping", 550, "en-US")
    _telegram(telegram, "/start", 551, "ru")
    _set(fresh_db, "UPDATE unified_users SET language = 'ru' WHERE discord_id = 550")
    _set(fresh_db, "UPDATE unified_users SET language = 'en' WHERE telegram_id = 551")
    assert "💰 +100 монет, +50 XP" in _said(_discord(discord, "/daily", 550, "en-US"))
    assert "💰 +100 coins, +50 XP" in _telegram(telegram, "/daily", 551, "ru")


# --- /link ------------------------------------------------------------------------------------------------------


def test_link_replies_in_russian_with_what_was_taken_back(clients, fresh_db) -> None:
    discord, telegram = clients
    _discord(discord, "/daily", 560)
    _telegram(telegram, "/daily", 561)
    made = _telegram(telegram, "/link", 561)
    code = made.split("<code>")[1].split("</code>")[0]
    assert made.startswith("🔗 Твой код привязки: <code>")
    assert f"Отправь /link {code} на Discord-сервере TTFD" in made and "в течение 10 минут. Код одноразовый." in made
    reply = _said(_discord(discord, f"/link code:{code}", 560))
    assert "✅ Готово! Два твоих аккаунта объединены: опыт, монеты и статистика сложены." in reply
    assert (
        "↩️ Одному человеку платят один раз, поэтому мы забрали обратно: 1 ежедневная награда за день, когда её "
        "получили оба аккаунта; 1 награда за достижение, полученная обоими аккаунтами (150 монет и 50 XP)."
    ) in reply
    # A new identity joining (no merge), in English and in Russian.
    fresh = _said(_discord(discord, "/link", 562, "en-US"))
    code = fresh.split("`")[1]
    assert "to the TTFD Telegram bot" in fresh and "within 10 minutes. It works once." in fresh
    assert "✅ Готово! Твой аккаунт Telegram теперь привязан к общему профилю TTFD." in _telegram(
        telegram, f"/link {code}", 563
    )
    refused = _said(_discord(discord, "/link code:NOPE2NOPE3", 564))
    assert "Код привязки неверный, просрочен или уже использован. Получи новый через /link." in refused


# --- notices queued for Telegram --------------------------------------------------------------------------------


def _queued_texts(url: str) -> list[str]:
    rows = _q(url, "SELECT payload FROM jobs WHERE kind = 'telegram.send' ORDER BY id")
    return [str(r[0]["text"]) for r in rows]


def test_rank_up_and_achievement_notices_are_said_in_the_recipients_language(app_env, fresh_db) -> None:
    with db.transaction() as conn:
        ru = users.ensure_user(conn, "telegram", 570, "ru", "Ru").id
        en = users.ensure_user(conn, "telegram", 571, "en", "En").id
        conn.execute("UPDATE unified_users SET language = 'ru' WHERE id = %s", (ru,))
        for uid in (ru, en):
            ledger.grant(conn, uid, "xp", 480, reason="test", platform="discord", source_key=f"t:{uid}")
            conn.execute("SELECT achievement_unlock(%s, 'first_win', 'discord')", (uid,))
    assert run_schedule("process_events").status_code == 200
    texts = _queued_texts(fresh_db)
    assert "🎉 Новый ранг! Теперь у тебя F (был F-). Так держать!" in texts
    assert "🏅 Новое достижение: 🎲 Новичкам везёт (+25 монет · +10 XP)" in texts
    assert "🎉 Rank up! You are now rank F (was F-). Keep going!" in texts  # DEFAULT_LOCALE (en in the suite)
    assert "🏅 Achievement unlocked: 🎲 Beginner's luck (+25 coins · +10 XP)" in texts
    assert len(texts) == 4


# --- the catalog table and the texts people read ----------------------------------------------------------------


def test_every_achievement_has_its_words_in_the_catalogs_and_they_match_the_table(conn) -> None:
    from ttfd.features.achievements.service import TEXTS

    rows = conn.execute("SELECT code, name, description FROM achievements ORDER BY sort_order").fetchall()
    assert {r["code"] for r in rows} == set(TEXTS)
    for r in rows:
        name, description = TEXTS[r["code"]]
        assert (name, description) == (r["name"], r["description"])  # English: the table's words
        assert name.in_("ru") != name and description.in_("ru") != description  # translated
    assert i18n.number(10_000, "ru") == f"10{NBSP}000"


def test_season_names_in_the_readers_language() -> None:
    from ttfd.features.seasons.service import season_name, shown_name

    may, june = datetime(2026, 5, 1, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC)
    assert season_name(may, june) == "May 2026" and shown_name(may, june, "May 2026") == "May 2026"
    assert i18n.said(shown_name(may, june, "May 2026"), "ru") == "Май 2026"
    fortnight = shown_name(may, may + timedelta(days=14))
    assert fortnight == "May 1, 2026 – May 14, 2026" and i18n.said(fortnight, "ru").startswith("1 мая 2026")
    assert shown_name(may, june, "Spring cup") == "Spring cup"  # a name someone gave it stays as it is
