"""The website in Russian and English without a browser: every text of the templates and app.js is in the
site's catalog (and none is written outside it), the script's plural rule is the catalog's, and the site's
functions answer refusals in the reader's language — the account's choice, else the `lang` cookie, else
Accept-Language, else DEFAULT_LOCALE."""

from __future__ import annotations

import gettext
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlencode

import pytest

from devtools import catalogs
from static_site.build import HERE, SiteConfig, build, script_messages
from tests.site_helpers import set_cookies, widget_payload
from tests.test_site_functions import call, site  # noqa: F401 (the fixture)
from tests.test_site_telegram_login import logged_in, tg_login
from ttfd.core import db, users

SITE = next(o for o in catalogs.owners() if o.path == HERE)
TEMPLATES = sorted((HERE / "templates").glob("*.html"))
APP_JS = HERE / "assets" / "app.js"
# Names that read the same in every language (brands, the API), allowed outside the catalog.
NAMES = {"TTFD", "Discord", "Telegram", "API"}
WORD = re.compile(r"[^\W\d_]{2,}")
SHOWN_ATTRIBUTES = ("alt", "title", "placeholder", "aria-label", "label")


def _ids() -> set[str]:
    found: set[str] = set()
    for message in catalogs.extract(SITE):
        if message.id:
            found.update([message.id] if isinstance(message.id, str) else message.id)
    return found


def test_the_site_is_a_catalog_owner_and_nothing_is_missing() -> None:
    assert (HERE / "locale" / "ru.po").is_file()
    assert list(catalogs.problems(SITE)) == []
    auth = next(o for o in catalogs.owners() if o.name == "ttfd/features/auth")
    assert list(catalogs.problems(auth)) == []


class _Text(HTMLParser):
    """Text nodes and shown attributes of a template whose catalog parts were taken out."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        a = dict(attrs)
        for name in SHOWN_ATTRIBUTES:
            if a.get(name):
                self.found.append(str(a[name]))
        if tag == "meta" and a.get("name") == "description" and a.get("content"):
            self.found.append(str(a["content"]))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.found.append(data.strip())


def untranslated(source: str) -> list[str]:
    """Words a reader would see that no {% trans %} or {{ _() }} carries (names and URLs aside)."""
    s = re.sub(r"\{#.*?#\}", " ", source, flags=re.S)
    s = re.sub(r"\{%-?\s*trans\b.*?%\}.*?\{%-?\s*endtrans\s*-?%\}", " ", s, flags=re.S)
    s = re.sub(r"\{\{.*?\}\}", " ", s, flags=re.S)
    s = re.sub(r"\{%.*?%\}", " ", s, flags=re.S)
    parser = _Text()
    parser.feed(s)
    out = []
    for text in parser.found:
        if text.startswith(("http://", "https://")):
            continue
        words = [w for w in WORD.findall(text) if w not in NAMES]
        if words:
            out.append(text)
    return out


def test_no_text_in_the_templates_is_left_outside_the_catalog() -> None:
    found = {t.name: untranslated(t.read_text(encoding="utf-8")) for t in TEMPLATES}
    assert {k: v for k, v in found.items() if v} == {}


def test_the_scan_would_catch_an_untranslated_text() -> None:
    assert untranslated('<p class="x">Hello there</p>') == ["Hello there"]
    assert untranslated('<img alt="A picture">') == ["A picture"]
    assert untranslated('<p>{% trans %}Hello <b>there</b>{% endtrans %} {{ _("Hi") }} TTFD 404</p>') == []


def _js_source_without_comments() -> str:
    source = APP_JS.read_text(encoding="utf-8")
    source = re.sub(r"/\*.*?\*/", " ", source, flags=re.S)
    return re.sub(r"(?m)^\s*//.*$|\s//\s.*$", " ", source)


def test_every_text_app_js_says_is_in_the_catalog() -> None:
    """Babel reads `_('…')` and `N_('…', '…', n)` calls; one it cannot see (say, inside a template literal's
    ${…}) would stay English: every such call in the source must be one it extracted."""
    ids = _ids()
    calls = re.findall(r"\bN?_\(\s*(['\"])((?:\\.|(?!\1).)*)\1", _js_source_without_comments())
    assert len(calls) > 100
    missed = [text for _quote, text in calls if text.replace("\\'", "'").replace('\\"', '"') not in ids]
    assert missed == []


def _words(text: str) -> list[str]:
    """The words of a text a reader would need translated (not names, not /commands or their options)."""
    text = re.sub(r"/[a-z]+(?: [a-z]+:)?", " ", text)
    return [w for w in WORD.findall(text) if w not in NAMES]


def test_app_js_shows_no_text_of_its_own() -> None:
    """A literal with words given to something a person reads (textContent, a status line, a refusal, an
    error page of the profile) must go through _()."""
    sinks = (
        r"textContent\s*=\s*",
        r"setText\([^,()]+,\s*",
        r"setStatus\([^,()]+,\s*",
        r"profileError\(\s*",
        r"message\(\s*",
        r"setCustomValidity\(\s*",
        r"alert\(\s*",
        r"ApiError\(\s*\d+,\s*",
        r"document\.title\s*=\s*",
        r"\.alt\s*=\s*",
        r"setAttribute\('aria-(?:label|valuetext)',\s*",
    )
    source = _js_source_without_comments()
    found = [
        m.group(0)
        for sink in sinks
        for m in re.finditer(sink + r"(['\"`])(?P<text>(?:\\.|(?!\1).)*)\1", source)
        if _words(re.sub(r"\$\{[^}]*\}", "", m.group("text")))
    ]
    assert found == []


def test_the_scripts_plural_rule_is_the_catalogs() -> None:
    """messages-ru.js carries Plural-Forms as a function; it picks the same form as gettext for every n."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    data = script_messages("ru")
    assert data["messages"]["Sold out"] == "Распродано"
    assert data["messages"]["{n} coin"] == ["{n} монета", "{n} монеты", "{n} монет"]
    rule = gettext.c2py(data["plural"])
    from static_site.build import _messages_js

    numbers = [*range(230), 1001, 1011, 1021, 1111]
    js = _messages_js("ru") + f"console.log(JSON.stringify({numbers}.map(window.TTFD_I18N.plural)));"
    out = subprocess.run([node, "-e", "var window = {};" + js], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == [rule(n) for n in numbers]
    assert [rule(n) for n in (1, 3, 5, 21, 0, 11, 12, 22, 25)] == [0, 1, 2, 0, 2, 2, 2, 1, 2]


def test_only_the_scripts_texts_go_to_the_script() -> None:
    said = script_messages("ru")["messages"]
    assert "Member since {date}" in said and "Page not found" not in said  # a template's text is built in
    assert script_messages("en") == {"lang": "en", "plural": "n != 1", "messages": {}}


def test_the_built_pages_say_their_language(tmp_path: Path) -> None:
    build(tmp_path, SiteConfig(telegram_bot="ttfd_test_bot"))
    ru, en = (tmp_path / "shop.html").read_text(), (tmp_path / "en" / "shop.html").read_text()
    assert '<html lang="ru">' in ru and "<title>Магазин — TTFD</title>" in ru and "Загружаем магазин…" in ru
    assert '<html lang="en">' in en and "<title>Shop — TTFD</title>" in en and "Loading the shop…" in en
    login = (tmp_path / "login.html").read_text()
    assert "Войти через Discord" in login and 'id="tg-login"' in login
    assert "Открыть @ttfd_test_bot в Telegram" in (tmp_path / "index.html").read_text()


# --- the functions speak the reader's language ---------------------------------------------------------------


def test_a_refusal_follows_accept_language(site) -> None:  # noqa: F811
    resp = call(site, "api_me", headers={"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.5"})
    assert resp.status_code == 401
    assert resp.get_json()["title"] == "Сначала войди." and resp.headers["Content-Language"] == "ru"
    english = call(site, "api_me", headers={"Accept-Language": "de-DE, en-GB;q=0.8, ru;q=0.1"})
    assert english.get_json()["title"] == "Log in first." and english.headers["Content-Language"] == "en"
    assert call(site, "api_me").get_json()["title"] == "Log in first."  # DEFAULT_LOCALE (the suite's: en)


def test_the_lang_cookie_wins_over_accept_language(site) -> None:  # noqa: F811
    client = site("api_me")
    client.set_cookie("lang", "ru")
    resp = client.get("/", headers={"Accept-Language": "en-US,en"})
    assert resp.get_json()["title"] == "Сначала войди."
    client.set_cookie("lang", "xx")  # not a language we speak: the next hint decides
    assert client.get("/", headers={"Accept-Language": "ru"}).get_json()["title"] == "Сначала войди."


def test_the_accounts_language_wins_over_the_cookie(site, fresh_db) -> None:  # noqa: F811
    login = logged_in(tg_login(site, widget_payload(9100, "Лена")))
    with db.transaction() as conn:
        conn.execute("UPDATE unified_users SET language = 'ru' WHERE telegram_id = 9100")
    client = site("api_me")
    client.set_cookie("ttfd_session", login.session)
    client.set_cookie("csrf_token", login.csrf)
    client.set_cookie("lang", "en")
    refused = client.patch("/", json={"bio": "x"}, headers={"Accept-Language": "en"})  # no CSRF header
    assert refused.status_code == 403
    assert refused.get_json()["title"] == (
        "Заголовка X-CSRF-Token нет или он неверный — обнови страницу и попробуй снова."
    )


def test_the_settings_api_keeps_the_language(site, fresh_db) -> None:  # noqa: F811
    login = logged_in(tg_login(site, widget_payload(9200, "Ёжик")))
    me = call(site, "api_me", login=login).get_json()
    assert me["language"] is None
    assert call(site, "api_me", "PATCH", login=login, json={"language": "ru"}).get_json()["language"] == "ru"
    with db.transaction() as conn:
        assert users.find_user(conn, "telegram", 9200).language == "ru"  # the bots speak it too
    bad = call(site, "api_me", "PATCH", login=login, json={"language": "de"})
    assert bad.status_code == 400 and "language" in bad.get_json()["title"]
    assert call(site, "api_me", "PATCH", login=login, json={"language": None}).get_json()["language"] is None


def test_domain_refusals_and_own_texts_are_said_in_russian(site, fresh_db) -> None:  # noqa: F811
    login = logged_in(tg_login(site, widget_payload(9300, "Алёна")))
    ru = {"Accept-Language": "ru"}
    # A write sent twice with one Idempotency-Key but another body
    key = {"Idempotency-Key": "same-key-twice-1", **ru}
    call(site, "api_me", "PATCH", login=login, json={"bio": "раз"}, headers=key)
    reused = call(site, "api_me", "PATCH", login=login, json={"bio": "два"}, headers=key)
    assert reused.status_code == 422 and "уже использован для другого запроса" in reused.get_json()["title"]
    wrong = call(site, "api_leaderboard", "DELETE", headers=ru)
    assert wrong.status_code == 405 and wrong.get_json()["title"] == "Этот адрес принимает только GET."
    big = call(site, "api_me", "PATCH", login=login, data=b"x" * ((1 << 20) + 1), headers=ru)
    assert big.status_code == 413 and big.get_json()["title"] == "Тело запроса больше 1\xa0048\xa0576 байт."


def test_login_refusal_pages_are_in_the_readers_language(site, fresh_db) -> None:  # noqa: F811
    fields = widget_payload(9400, "Eve")
    page = tg_login(site, fields, cookie="someone-elses-nonce-0123456789", headers={"Accept-Language": "ru"})
    body = page.get_data(as_text=True)
    assert page.status_code == 400 and '<html lang="ru">' in body and "Ссылка для входа устарела" in body
    assert 'href="/ru/login"' in body and "Вернуться ко входу" in body  # the Russian pages (DEFAULT_LOCALE en)
    english = tg_login(site, fields, cookie="someone-elses-nonce-0123456789")
    assert '<html lang="en">' in english.get_data(as_text=True) and 'href="/login"' in english.get_data(as_text=True)


def test_a_cancelled_discord_login_returns_to_the_login_page_of_its_language(site, app_env) -> None:  # noqa: F811
    start = call(site, "auth_discord_login", query_string={"next": "/ru/shop"})
    state = re.search(r"state=([^&]+)", start.headers["Location"]).group(1)  # type: ignore[union-attr]
    client = site("auth_discord_callback")
    client.set_cookie("ttfd_oauth", set_cookies(start)["ttfd_oauth"].value)
    resp = client.get("/?" + urlencode({"error": "access_denied", "state": state}))
    assert resp.status_code == 302 and resp.headers["Location"] == "/ru/login?error=denied"


def test_the_dev_server_serves_both_languages(tmp_path: Path) -> None:
    """`make run` as a static host would: /en/… pages, /en/u/<ref>, and each language's 404 page."""
    from devtools.server import create_app

    build(tmp_path, SiteConfig())
    client = create_app(tmp_path).test_client()
    for path, lang in (("/", "ru"), ("/me", "ru"), ("/u/nova", "ru"), ("/en/", "en"), ("/en/me", "en")):
        resp = client.get(path)
        assert resp.status_code == 200 and f'<html lang="{lang}">' in resp.get_data(as_text=True), path
    assert 'data-page="u"' in client.get("/en/u/nova").get_data(as_text=True)
    for path, lang in (("/nope", "ru"), ("/en/nope", "en"), ("/xx/u/1", "ru")):
        resp = client.get(path)
        assert resp.status_code == 404 and f'<html lang="{lang}">' in resp.get_data(as_text=True), path
