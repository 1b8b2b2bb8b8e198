"""Fill translations into a catalog from a Python dict (used while writing the first Russian texts):
`python -m devtools.translate ttfd/locale/ru.po texts.json` sets msgstr for every id given."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from devtools.catalogs import load, save


def main(argv: list[str]) -> int:
    po, source = Path(argv[0]), Path(argv[1])
    catalog = load(po, po.stem)
    given = json.loads(source.read_text())
    missing = []
    for key, value in given.items():
        context, _, ident = key.rpartition("\x04")
        message = catalog.get(ident, context or None)
        if message is None:
            missing.append(ident)
            continue
        message.string = tuple(value) if isinstance(value, list) else value
        message.flags.discard("fuzzy")
    save(catalog, po)
    for m in missing:
        print(f"not in {po}: {m!r}", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
