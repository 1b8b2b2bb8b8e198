"""`make site`: render templates into static_site/dist with content-hashed assets."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

HERE = Path(__file__).resolve().parent
DIST = HERE / "dist"
OPENAPI = HERE.parent / "functions" / "site" / "openapi.yaml"
# Headers the static host must send with every page: a <meta> CSP cannot forbid framing (clickjacking).
SECURITY_HEADERS = {
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
}


@dataclass(frozen=True)
class SiteConfig:
    """Build-time settings rendered into every page (`<script type="application/json" id="ttfd-config">`)."""

    telegram_bot: str | None = None  # bot username (no @): the Login Widget and the t.me link
    discord_invite_url: str | None = None
    dev_telegram_login: str | None = None  # dev only: a URL returning signed Login Widget fields

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
        )

    def as_json(self) -> dict[str, str | None]:
        return asdict(self)


def build(out: Path = DIST, config: SiteConfig | None = None) -> list[Path]:
    """Render every page; assets are copied under a name containing their hash (cache forever)."""
    if config is None:
        config = SiteConfig.from_env()
    if out.exists():
        shutil.rmtree(out)
    (out / "assets").mkdir(parents=True)
    asset_urls: dict[str, str] = {}
    for asset in sorted((HERE / "assets").iterdir()):
        if not asset.is_file():
            continue
        digest = hashlib.sha256(asset.read_bytes()).hexdigest()[:10]
        hashed = f"{asset.stem}.{digest}{asset.suffix}"
        shutil.copyfile(asset, out / "assets" / hashed)
        asset_urls[asset.name] = f"/assets/{hashed}"
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["asset"] = asset_urls.__getitem__
    env.globals["config"] = config
    env.globals["config_json"] = config.as_json()
    written = []
    for name in env.list_templates(filter_func=lambda n: not n.startswith("_") and n.endswith(".html")):
        target = out / name
        page = name.removesuffix(".html")
        target.write_text(env.get_template(name).render(page=page), encoding="utf-8")
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
