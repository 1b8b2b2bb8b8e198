"""`make site`: render templates into static_site/dist with content-hashed assets."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

HERE = Path(__file__).resolve().parent
DIST = HERE / "dist"


def build(out: Path = DIST) -> list[Path]:
    """Render every page; assets are copied under a name containing their hash (cache forever)."""
    if out.exists():
        shutil.rmtree(out)
    (out / "assets").mkdir(parents=True)
    asset_urls: dict[str, str] = {}
    for asset in sorted((HERE / "assets").iterdir()):
        digest = hashlib.sha256(asset.read_bytes()).hexdigest()[:10]
        hashed = f"{asset.stem}.{digest}{asset.suffix}"
        shutil.copyfile(asset, out / "assets" / hashed)
        asset_urls[asset.name] = f"/assets/{hashed}"
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape())
    env.globals["asset"] = asset_urls.__getitem__
    written = []
    for name in env.list_templates(filter_func=lambda n: not n.startswith("_")):
        target = out / name
        target.write_text(env.get_template(name).render(), encoding="utf-8")
        written.append(target)
    return written


if __name__ == "__main__":
    for path in build():
        print(path.relative_to(HERE.parent))
