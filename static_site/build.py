"""`make site`: render templates into static_site/dist with content-hashed assets, once per language.

Static hosting cannot negotiate a language, so every page is built in each language (ttfd.core.i18n.LOCALES):
DEFAULT_LOCALE's pages at / (/me, /u/<ref>: the addresses people already share), every other language
under its own prefix (/en/me). Each page is `<html lang>`-marked and links within its own language; the
header's switch leads to the same page in the other one, and app.js follows the reader's saved choice
(the `lang` cookie, or their account's language) before the page is drawn. Texts come from
static_site/locale/<lang>.po (`python -m devtools catalogs update` extracts them from the templates and
app.js); app.js gets its strings, and the language's plural rule, from a generated messages.<lang>.js.
"""

from __future__ import annotations

import gettext
import hashlib
import io
import json
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from ttfd.core.i18n import LOCALES, SOURCE

HERE = Path(__file__).resolve().parent
DIST = HERE / "dist"
LOCALE_DIR = HERE / "locale"
OPENAPI = HERE.parent / "functions" / "site" / "openapi.yaml"
# Headers the static host must send with every page: a <meta> CSP cannot forbid framing (clickjacking).
SECURITY_HEADERS = {
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}
# Each language by its own name: what the switch shows (a reader looks for their language's name).
LANGUAGE_NAMES = {"ru": "Русский", "en": "English"}
# A plural rule from a catalog's Plural-Forms goes into the generated script: only arithmetic on n.
_PLURAL_EXPR = re.compile(r"[n0-9%=!<>&|?:() ]+")


@dataclass(frozen=True)
class SiteConfig:
    """Build-time settings rendered into every page (`<script type="application/json" id="ttfd-config">`)."""

    telegram_bot: str | None = None  # bot username (no @): the Login Widget and the t.me link
    discord_invite_url: str | None = None
    dev_telegram_login: str | None = None  # dev only: the fake Telegram's login page (and signed fields)
    default_locale: str = "ru"  # DEFAULT_LOCALE: the language at / (the functions read the same variable)

    def __post_init__(self) -> None:
        if self.default_locale not in LOCALES:
            raise ValueError(f"DEFAULT_LOCALE must be one of {', '.join(LOCALES)}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SiteConfig:
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        bot = get("TELEGRAM_BOT_USERNAME")
        return cls(
            telegram_bot=bot.removeprefix("@") if bot else None,
            discord_invite_url=get("DISCORD_INVITE_URL"),
            dev_telegram_login=get("SITE_DEV_TELEGRAM_LOGIN"),
            default_locale=get("DEFAULT_LOCALE") or "ru",
        )

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "locales": list(LOCALES)}

    def prefix(self, locale: str) -> str:
        """Where `locale`'s pages live: "" for the default language, "/en" for another."""
        return "" if locale == self.default_locale else f"/{locale}"


def catalog(locale: str) -> gettext.NullTranslations:
    """The site's texts in `locale` (English, the source, is the texts themselves)."""
    po = LOCALE_DIR / f"{locale}.po"
    if locale == SOURCE or not po.exists():
        return gettext.NullTranslations()
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po.open("rb") as f:
        messages = read_po(f, locale=locale)
    out = io.BytesIO()
    write_mo(out, messages, use_fuzzy=False)
    return gettext.GNUTranslations(io.BytesIO(out.getvalue()))


def script_messages(locale: str) -> dict[str, Any]:
    """What app.js says, in `locale`: {"lang", "plural" (the Plural-Forms expression), "messages"}.

    A message is keyed by its English id (`context\\x04id` with a context); a plural one is the list of the
    language's forms. Only texts from assets/ (app.js) go in: the templates are rendered at build time."""
    po = LOCALE_DIR / f"{locale}.po"
    if locale == SOURCE or not po.exists():
        return {"lang": locale, "plural": "n != 1", "messages": {}}
    from babel.messages.pofile import read_po

    with po.open("rb") as f:
        messages = read_po(f, locale=locale)
    plural = messages.plural_expr
    if not _PLURAL_EXPR.fullmatch(plural):
        raise ValueError(f"{po}: Plural-Forms is not a plain expression of n: {plural!r}")
    said: dict[str, Any] = {}
    for m in messages:
        if not m.id or m.fuzzy or not any("assets/" in str(f) for f, _line in m.locations):
            continue
        ident = m.id if isinstance(m.id, str) else m.id[0]
        key = f"{m.context}\x04{ident}" if m.context else ident
        if isinstance(m.string, tuple | list):
            if all(m.string):
                said[key] = list(m.string)
        elif m.string:
            said[key] = m.string
    return {"lang": locale, "plural": plural, "messages": said}


def _messages_js(locale: str) -> str:
    data = script_messages(locale)
    body = json.dumps(data["messages"], ensure_ascii=False, sort_keys=True, indent=0)
    return (
        f"/* Generated by static_site/build.py from static_site/locale/{locale}.po: do not edit. */\n"
        f"window.TTFD_I18N = {{lang: {json.dumps(locale)}, "
        f"plural: function (n) {{ return Number({data['plural']}); }},\n"
        f"messages: {body}}};\n"
    )


def _hashed(out: Path, name: str, data: bytes) -> str:
    """Write an asset under a name holding its content hash (cached forever); returns its URL."""
    stem, dot, suffix = name.rpartition(".")
    hashed = f"{stem}.{hashlib.sha256(data).hexdigest()[:10]}{dot}{suffix}"
    (out / "assets" / hashed).write_bytes(data)
    return f"/assets/{hashed}"


def page_path(page: str) -> str:
    """A page's address without its language prefix."""
    return {"index": "/", "404": "/", "u": "/u/"}.get(page, f"/{page}")


def build(out: Path = DIST, config: SiteConfig | None = None) -> list[Path]:
    """Render every page in every language; assets are copied under a name containing their hash."""
    if config is None:
        config = SiteConfig.from_env()
    if out.exists():
        shutil.rmtree(out)
    (out / "assets").mkdir(parents=True)
    asset_urls: dict[str, str] = {}
    for asset in sorted((HERE / "assets").iterdir()):
        if asset.is_file():
            asset_urls[asset.name] = _hashed(out, asset.name, asset.read_bytes())
    written = []
    for locale in LOCALES:
        prefix = config.prefix(locale)

        def url(path: str, prefix: str = prefix) -> str:
            """A page of the site in this build's language."""
            return f"{prefix}{path}" if prefix and path != "/" else (f"{prefix}/" if prefix else path)

        env = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            extensions=["jinja2.ext.i18n"],
        )
        env.policies["ext.i18n.trimmed"] = True  # as `catalogs update` extracts them
        env.install_gettext_translations(catalog(locale), newstyle=True)  # type: ignore[attr-defined]
        env.globals["C_"] = env.globals["pgettext"]  # a text with a context for the translator (a menu label)
        env.globals.update(
            asset=asset_urls.__getitem__,
            config=config,
            config_json=config.as_json(),
            lang=locale,
            url=url,
            languages=[(code, LANGUAGE_NAMES.get(code, code)) for code in LOCALES],
            messages_js=_hashed(out, f"messages-{locale}.js", _messages_js(locale).encode()),
        )
        target_dir = out / prefix.lstrip("/") if prefix else out
        target_dir.mkdir(parents=True, exist_ok=True)
        for name in env.list_templates(filter_func=lambda n: not n.startswith("_") and n.endswith(".html")):
            page = name.removesuffix(".html")
            others = [
                (code, LANGUAGE_NAMES.get(code, code), config.prefix(code) + page_path(page))
                for code in LOCALES
                if code != locale
            ]
            target = target_dir / name
            target.write_text(env.get_template(name).render(page=page, other_languages=others), encoding="utf-8")
            written.append(target)
    if OPENAPI.exists():
        shutil.copyfile(OPENAPI, out / "openapi.yaml")
        written.append(out / "openapi.yaml")
    # The `_headers` file format (Netlify, Cloudflare Pages); other hosts take the same headers in their config.
    headers = out / "_headers"
    headers.write_text("/*\n" + "".join(f"  {k}: {v}\n" for k, v in SECURITY_HEADERS.items()), encoding="utf-8")
    written.append(headers)
    return written


if __name__ == "__main__":
    for path in build():
        print(path.relative_to(HERE.parent))
