"""`make site` output without a browser: pages in both languages, hashed assets, embedded config, CSP-safe
markup, labels."""

from __future__ import annotations

import hashlib
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from static_site.build import HERE, OPENAPI, SiteConfig, build

PAGES = ("index", "login", "me", "u", "settings", "customize", "leaderboard", "shop", "link", "404")
CONFIG = SiteConfig(
    telegram_bot="ttfd_test_bot",
    discord_invite_url="https://discord.gg/ttfd-example",
    dev_telegram_login="/_fake/telegram/_dev/login-widget",
)  # DEFAULT_LOCALE ru, as deployed: Russian pages at /, English under /en/
LANGS = {"": "ru", "en/": "en"}  # where each language's pages are, relative to dist


class Page(HTMLParser):
    """The bits of a page the checks need: every start tag with its attributes, and script bodies."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._script: dict[str, str | None] | None = None
        self._text: list[str] = []
        self._label_depth = 0
        self.wrapped_ids: set[str] = set()  # controls nested inside a <label>
        self.unlabelled_wrapped = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag == "label":
            self._label_depth += 1
        elif tag in ("input", "select", "textarea") and self._label_depth and a.get("id"):
            self.wrapped_ids.add(a["id"] or "")
        if tag == "script":
            self._script, self._text = a, []

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self._label_depth -= 1
        if tag == "script" and self._script is not None:
            self.scripts.append((self._script, "".join(self._text)))
            self._script = None

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._text.append(data)

    def find(self, tag: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags if t == tag]

    def by_id(self, element_id: str) -> tuple[str, dict[str, str | None]]:
        found = [(t, a) for t, a in self.tags if a.get("id") == element_id]
        assert len(found) == 1, f"#{element_id}: {len(found)} elements"
        return found[0]


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site") / "dist"
    build(out, CONFIG)
    return out


def parse(dist: Path, page: str) -> Page:
    parser = Page()
    parser.feed((dist / f"{page}.html").read_text(encoding="utf-8"))
    return parser


def every_page() -> list[str]:
    """Every built page, as "page" (the default language, at /) and "en/page"."""
    return [f"{prefix}{page}" for prefix in LANGS for page in PAGES]


def test_every_page_is_built_with_its_page_name_in_each_language(dist: Path) -> None:
    for prefix, lang in LANGS.items():
        assert sorted(p.stem for p in (dist / prefix).glob("*.html")) == sorted(PAGES)
        for page in PAGES:
            html = parse(dist, f"{prefix}{page}")
            (body,) = html.find("body")
            assert body["data-page"] == page
            (root,) = html.find("html")
            assert root["lang"] == lang, f"{prefix}{page}"


def test_pages_link_within_their_language_and_switch_to_the_other(dist: Path) -> None:
    for prefix, lang in LANGS.items():
        other = "en" if lang == "ru" else "ru"
        for page in PAGES:
            html = parse(dist, f"{prefix}{page}")
            own = [
                a["href"]
                for a in html.find("a")
                if (a.get("href") or "").startswith("/")
                and not (a.get("href") or "").startswith(("/auth/", "/api/", "/openapi.yaml"))
                and "lang-link" not in (a.get("class") or "")
            ]
            assert own, page
            for href in own:
                assert (href or "").startswith("/en/") == (lang == "en"), f"{prefix}{page}: {href}"
            (switch,) = [a for a in html.find("a") if "lang-link" in (a.get("class") or "")]
            assert switch["hreflang"] == other and switch["lang"] == other and switch["data-lang"] == other
            assert (switch["href"] or "").startswith("/en/") == (other == "en"), f"{prefix}{page}"
    assert parse(dist, "en/login").by_id("login-discord")[1]["href"] == "/auth/discord/login?next=/en/me"
    assert parse(dist, "login").by_id("login-discord")[1]["href"] == "/auth/discord/login?next=/me"
    assert parse(dist, "index").by_id("lang-en")[1]["href"] == "/en/"
    assert parse(dist, "en/index").by_id("lang-ru")[1]["href"] == "/"
    assert parse(dist, "en/shop").by_id("lang-ru")[1]["href"] == "/shop"


def test_each_language_gets_its_own_messages_script(dist: Path) -> None:
    scripts = {}
    for prefix, lang in LANGS.items():
        srcs = [a["src"] for a in parse(dist, f"{prefix}index").find("script") if a.get("src")]
        (messages,) = [s for s in srcs if s and "/messages-" in s]
        assert f"/messages-{lang}." in messages and srcs.index(messages) < len(srcs) - 1  # before app.js
        scripts[lang] = (dist / (messages or "").lstrip("/")).read_text(encoding="utf-8")
    assert 'lang: "ru"' in scripts["ru"] and '"Sold out": "Распродано"' in scripts["ru"]
    assert "n % 10 == 1 && n % 100 != 11 ? 0" in scripts["ru"]  # Russian plural forms
    assert 'lang: "en"' in scripts["en"] and "messages: {}" in scripts["en"]


def test_assets_are_content_hashed_and_every_reference_resolves(dist: Path) -> None:
    built = {p.name for p in (dist / "assets").iterdir()}
    for source in (HERE / "assets").iterdir():
        digest = hashlib.sha256(source.read_bytes()).hexdigest()[:10]
        assert f"{source.stem}.{digest}{source.suffix}" in built
    for page in every_page():
        html = parse(dist, page)
        refs = [a["href"] for a in html.find("link") if a.get("rel") in ("stylesheet", "icon")]
        refs += [a["src"] for a in html.find("script") if a.get("src")]
        assert any(r and r.endswith(".css") for r in refs) and any(r and r.endswith(".js") for r in refs), page
        for ref in refs:
            assert ref and re.fullmatch(r"/assets/[\w-]+\.[0-9a-f]{10}\.\w+", ref), ref
            assert (dist / ref.lstrip("/")).is_file(), ref


def test_the_config_is_embedded_as_json_in_every_page(dist: Path) -> None:
    for page in every_page():
        configs = [text for attrs, text in parse(dist, page).scripts if attrs.get("id") == "ttfd-config"]
        assert len(configs) == 1, page
        assert json.loads(configs[0]) == {
            "telegram_bot": "ttfd_test_bot",
            "discord_invite_url": "https://discord.gg/ttfd-example",
            "dev_telegram_login": "/_fake/telegram/_dev/login-widget",
            "default_locale": "ru",
            "locales": ["ru", "en"],
        }


def test_config_from_env_and_defaults(tmp_path: Path) -> None:
    env = {
        "TELEGRAM_BOT_USERNAME": "@some_bot",
        "DISCORD_INVITE_URL": " https://discord.gg/x ",
        "SITE_DEV_TELEGRAM_LOGIN": "",
    }
    assert SiteConfig.from_env(env) == SiteConfig("some_bot", "https://discord.gg/x", None, "ru")
    assert SiteConfig.from_env({}) == SiteConfig(None, None, None)
    assert SiteConfig.from_env({"DEFAULT_LOCALE": "en"}).default_locale == "en"
    with pytest.raises(ValueError, match="DEFAULT_LOCALE"):
        SiteConfig(default_locale="de")
    build(tmp_path / "bare", SiteConfig(default_locale="en"))  # English at /, Russian under /ru/
    assert (tmp_path / "bare" / "ru" / "link.html").is_file() and not (tmp_path / "bare" / "en").exists()
    html = parse(tmp_path / "bare", "link")
    (text,) = [t for a, t in html.scripts if a.get("id") == "ttfd-config"]
    assert json.loads(text) == {
        "telegram_bot": None,
        "discord_invite_url": None,
        "dev_telegram_login": None,
        "default_locale": "en",
        "locales": ["ru", "en"],
    }
    assert html.find("html")[0]["lang"] == "en" and parse(tmp_path / "bare", "ru/link").find("html")[0]["lang"] == "ru"
    assert not [a for _, a in html.tags if a.get("id", "") and str(a.get("id")).startswith("dev-tg")]
    home = parse(tmp_path / "bare", "index")
    assert not [a for a in home.find("a") if a.get("id") in ("discord-link", "telegram-link")]


def test_config_links_render_when_configured(dist: Path) -> None:
    home = parse(dist, "index")
    assert home.by_id("discord-link")[1]["href"] == "https://discord.gg/ttfd-example"
    assert home.by_id("telegram-link")[1]["href"] == "https://t.me/ttfd_test_bot"
    link = parse(dist, "link")
    for element_id in ("dev-tg-id", "dev-tg-name", "dev-tg-login", "link-code-btn", "link-code", "tg-status"):
        link.by_id(element_id)


def test_csp_is_strict_and_pages_have_no_inline_code_or_styles(dist: Path) -> None:
    for page in every_page():
        html = parse(dist, page)
        (csp,) = [a["content"] for a in html.find("meta") if a.get("http-equiv") == "Content-Security-Policy"]
        assert csp and "style-src 'self';" in csp, page
        if page.rpartition("/")[2] in ("login", "link"):  # Telegram's Login Widget: its script and its frame
            assert "script-src 'self' https://telegram.org;" in csp and "frame-src https://oauth.telegram.org;" in csp
        else:
            assert "script-src 'self';" in csp and "frame-src 'none';" in csp, page
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        for attrs, text in html.scripts:
            if attrs.get("type") == "application/json":
                continue
            assert attrs.get("src") and not text.strip(), f"{page}: inline <script>"
        assert not html.find("style"), f"{page}: <style> element"
        for tag, attrs in html.tags:
            assert "style" not in attrs, f"{page}: style attribute on <{tag}>"
            handlers = [k for k in attrs if k.startswith("on")]
            assert not handlers, f"{page}: inline handler {handlers} on <{tag}>"
            for key in ("href", "src", "action"):
                assert not (attrs.get(key) or "").strip().lower().startswith("javascript:"), page


def test_every_form_control_has_a_label(dist: Path) -> None:
    for page in every_page():
        html = parse(dist, page)
        label_for = {a.get("for") for a in html.find("label")}
        for tag, attrs in html.tags:
            if tag not in ("input", "select", "textarea") or attrs.get("type") == "hidden":
                continue
            control_id = attrs.get("id")
            labelled = (
                (control_id and (control_id in label_for or control_id in html.wrapped_ids))
                or attrs.get("aria-label")
                or attrs.get("aria-labelledby")
            )
            assert labelled, f"{page}: <{tag} id={control_id}> has no label"


def test_ids_are_unique_and_the_briefed_ones_exist(dist: Path) -> None:
    expected = {
        "login": ["login-discord", "login-error"],
        "me": ["profile-name", "profile-bio", "rank-card", "level-progress", "profile-music", "public-link"],
        "u": ["profile-name", "profile-private", "profile-error", "rank-card"],
        "shop": ["shop-items", "shop-balance", "shop-anon", "shop-error"],
        "settings": ["show_stats", "notifications", "save-settings", "status"],
        "link": ["link-code-btn", "redeem-form", "redeem-code", "redeem-btn", "redeem-status"],
        "customize": [
            "theme",
            "primary_color",
            "background_image",
            "music_url",
            "bio",
            "bio-count",
            "save-customize",
            "status",
            "preview",
        ],
        "leaderboard": ["tab-xp", "tab-week", "tab-coins", "lb-table", "lb-prev", "lb-next", "lb-page", "lb-mine"],
    }
    for page in PAGES:
        html = parse(dist, page)
        ids = [a["id"] for _, a in html.tags if a.get("id")]
        assert len(ids) == len(set(ids)), f"{page}: duplicate ids"
        for element_id in ("main", "logout", "login-link", *expected.get(page, [])):
            html.by_id(element_id)
    settings = parse(dist, "settings")
    for box in ("show_stats", "notifications"):
        assert settings.by_id(box)[1]["type"] == "checkbox"
    assert "show_email" not in {a.get("id") for _, a in settings.tags}  # no email is collected: nothing to show
    customize = parse(dist, "customize")
    assert customize.by_id("primary_color")[1]["type"] == "color"
    assert customize.by_id("background_image")[1]["type"] == "url"
    assert customize.by_id("bio")[1]["maxlength"] == "500"
    board = parse(dist, "leaderboard")
    assert [board.by_id(f"tab-{b}")[1]["role"] for b in ("xp", "week", "coins")] == ["tab"] * 3


def test_nav_marks_the_current_page(dist: Path) -> None:
    for page, href in (("index", "/"), ("leaderboard", "/leaderboard"), ("me", "/me"), ("link", "/link")):
        current = [a["href"] for a in parse(dist, page).find("a") if a.get("aria-current") == "page"]
        assert current == [href], page
        current = [a["href"] for a in parse(dist, f"en/{page}").find("a") if a.get("aria-current") == "page"]
        assert current == [f"/en{href}" if href != "/" else "/en/"], page


def test_images_have_alt_text(dist: Path) -> None:
    for page in every_page():
        for attrs in parse(dist, page).find("img"):
            assert attrs.get("alt") is not None, page


def test_openapi_contract_is_copied(dist: Path) -> None:
    assert (dist / "openapi.yaml").read_bytes() == OPENAPI.read_bytes()


def test_hosts_get_the_headers_a_meta_tag_cannot_set(dist: Path) -> None:
    from static_site.build import SECURITY_HEADERS

    text = (dist / "_headers").read_text()
    assert text.startswith("/*\n")
    for name, value in SECURITY_HEADERS.items():
        assert f"  {name}: {value}\n" in text
