"""Message catalogs: extract every text from the code (Babel), keep each owner's `locale/<lang>.po` in step,
compile `.mo` files, and check that nothing is left untranslated.

An owner is a package whose texts live beside it: `ttfd` (core, ui, render, web — everything but the
features), each `ttfd/features/<name>`, the site (`static_site`: templates and app.js strings) and the Cleaner
(`cleaner`). `python -m devtools catalogs update` adds new texts to every `.po` (a translator fills them in),
drops the ones no code says any more and compiles; `check` fails naming every text missing in a language,
fuzzy or stale; `compile` only writes the `.mo` files (what `make` does before running anything).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from ttfd.core.i18n import translated_only

ROOT = Path(__file__).resolve().parent.parent
LANGUAGES = ("ru",)  # English is the source: its texts are the catalog ids
KEYWORDS = {"_": None, "N_": (1, 2), "C_": ((1, "c"), 2), "gettext": None, "ngettext": (1, 2)}
HEADER = "TTFD"


@dataclass(frozen=True)
class Owner:
    """A package and the files its texts are extracted from (paths relative to the package)."""

    path: Path
    methods: tuple[tuple[str, str], ...] = (("**.py", "python"),)
    skip: tuple[str, ...] = ()  # sub-directories that are owners of their own
    also: tuple[Path, ...] = ()  # more directories whose texts this owner's catalog holds

    @property
    def name(self) -> str:
        return str(self.path.relative_to(ROOT))


def owners() -> list[Owner]:
    features = sorted(p for p in (ROOT / "ttfd" / "features").iterdir() if (p / "__init__.py").exists())
    # The entrypoints' few texts (a refusal of a malformed interaction) are said through ttfd's catalog.
    core = Owner(ROOT / "ttfd", skip=("features",), also=(ROOT / "functions", ROOT / "webhooks"))
    found = [core, *(Owner(p) for p in features)]
    site = ROOT / "static_site"
    if (site / "locale").is_dir():
        methods = (("**.py", "python"), ("templates/**.html", "jinja2"), ("assets/**.js", "javascript"))
        found.append(Owner(site, methods))
    cleaner = ROOT / "cleaner"
    if (cleaner / "locale").is_dir():
        found.append(Owner(cleaner))
    return found


def extract(owner: Owner) -> Catalog:
    """Every text the owner's code says, with where it says it."""
    catalog = Catalog(project=HEADER, charset="utf-8")

    def skip(dirname: str) -> bool:
        path = Path(dirname).resolve()
        return any(path.is_relative_to(owner.path / sub) for sub in owner.skip)

    options = {"jinja2": {"extensions": "jinja2.ext.i18n", "trimmed": "true"}}
    for directory in (owner.path, *owner.also):
        for filename, lineno, message, comments, context in extract_from_dir(
            str(directory),
            method_map=list(owner.methods),
            options_map={pattern: options.get(method, {}) for pattern, method in owner.methods},
            keywords=KEYWORDS,
            comment_tags=("TRANSLATORS:",),
            directory_filter=lambda d: "__pycache__" not in d and "locale" not in Path(d).parts and not skip(d),
        ):
            where = str((directory / filename).relative_to(owner.path.parent))
            catalog.add(message, None, [(where, lineno)], auto_comments=comments, context=context)
    if owner.path == NAMES_OWNER:
        for (name, context), comment in command_names().items():
            catalog.add(name, None, [], auto_comments=[comment], context=context)
    return catalog


# Discord shows commands, subcommand groups and options under names of their own in each language
# (`name_localizations`). No code writes those names as `_()` — a feature declares `Command("daily", …)` — so
# the catalog of the general feature (the commands' own: help, /language) holds one entry per name of every
# feature in the registry: msgctxt "command" for a command, group or subcommand, "option" for an option. The
# registration says them with `Msg(name, context="command").in_(locale)`; usage lines and refusals name
# options the same way.
NAMES_OWNER = ROOT / "ttfd" / "features" / "general"
NAME_RULES = "Lowercase, no spaces (letters, digits, - or _), at most 32; unique among its neighbours"


def command_names() -> dict[tuple[str, str], str]:
    """(name, context) → a translator's comment saying where it is shown: every Discord command, group and
    subcommand name and every option name in the registry."""
    from ttfd.features import REGISTRY

    used: dict[tuple[str, str], list[str]] = {}
    for group in REGISTRY.groups.values():
        used.setdefault((group.name, "command"), []).append(f"/{group.name} …")
    for c in sorted(REGISTRY.commands.values(), key=lambda c: c.path):
        if "discord" in c.platforms:
            used.setdefault((c.name, "command"), []).append(f"/{c.path}")
        for o in c.options:
            used.setdefault((o.name, "option"), []).append(f"/{c.path} {o.name}")
    out: dict[tuple[str, str], str] = {}
    for (name, context), where in sorted(used.items()):
        shown = ", ".join(where[:4]) + (f" and {len(where) - 4} more" if len(where) > 4 else "")
        what = "Discord command name" if context == "command" else "Option name (Discord, usage lines, refusals)"
        out[(name, context)] = f"{what}: {shown}. {NAME_RULES}."
    return out


def po_path(owner: Owner, language: str) -> Path:
    return owner.path / "locale" / f"{language}.po"


def load(path: Path, language: str) -> Catalog:
    if not path.exists():
        return Catalog(locale=language, project=HEADER, charset="utf-8")
    with path.open("rb") as f:
        return read_po(f, locale=language)


STABLE = datetime(2026, 1, 1, tzinfo=UTC)  # dates in a .po header would change the file on every update


def save(catalog: Catalog, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    catalog.fuzzy = False
    catalog.header_comment = f"# {catalog.locale_identifier} texts of {path.resolve().relative_to(ROOT).parent.parent}."
    catalog.creation_date = catalog.revision_date = STABLE
    catalog.last_translator = catalog.language_team = "TTFD"
    catalog.version = "1"
    catalog.msgid_bugs_address = ""
    out = BytesIO()
    write_po(out, catalog, width=120, omit_header=False, sort_output=False, include_previous=False)
    if not path.exists() or path.read_bytes() != out.getvalue():
        path.write_bytes(out.getvalue())


def compile_mo(path: Path, language: str) -> None:
    """The .mo beside a .po (rewritten only when the .po is newer)."""
    mo = path.with_suffix(".mo")
    if mo.exists() and mo.stat().st_mtime >= path.stat().st_mtime:
        return
    out = BytesIO()
    write_mo(out, translated_only(load(path, language)), use_fuzzy=False)
    mo.write_bytes(out.getvalue())


def update(owner: Owner) -> None:
    template = extract(owner)
    if not len(template) and not any(po_path(owner, lang).exists() for lang in LANGUAGES):
        return  # an owner with no texts needs no catalog
    for language in LANGUAGES:
        path = po_path(owner, language)
        catalog = load(path, language)
        catalog.update(template, no_fuzzy_matching=True)
        catalog.obsolete.clear()  # texts no code says any more are gone; git keeps their history
        save(catalog, path)
        compile_mo(path, language)


def problems(owner: Owner) -> Iterator[str]:
    """What is wrong with an owner's catalogs: a text not in them, one with no translation or a fuzzy one,
    one no code says any more."""
    template = extract(owner)
    for language in LANGUAGES:
        path = po_path(owner, language)
        catalog = load(path, language)
        rel = path.relative_to(ROOT)
        for message in template:
            if not message.id:
                continue
            found = catalog.get(message.id, message.context)
            where = ", ".join(f"{f}:{n}" for f, n in message.locations[:2])
            ident = message.id if isinstance(message.id, str) else message.id[0]
            if found is None:
                yield f"{rel}: not in the catalog: {ident!r} ({where})"
            elif found.fuzzy:
                yield f"{rel}: fuzzy: {ident!r}"
            elif not found.string or (isinstance(found.string, tuple) and not all(found.string)):
                yield f"{rel}: not translated: {ident!r} ({where})"
        said = {(m.id if isinstance(m.id, str) else m.id[0], m.context) for m in template if m.id}
        for message in catalog:
            ident = message.id if isinstance(message.id, str) else message.id[0]
            if message.id and (ident, message.context) not in said:
                yield f"{rel}: no code says {ident!r} any more (run: python -m devtools catalogs update)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools catalogs", description=__doc__)
    parser.add_argument("action", choices=("update", "check", "compile"))
    args = parser.parse_args(argv)
    if args.action == "update":
        for owner in owners():
            update(owner)
        return 0
    if args.action == "compile":
        for owner in owners():
            for language in LANGUAGES:
                if (path := po_path(owner, language)).exists():
                    compile_mo(path, language)
        return 0
    found = [p for owner in owners() for p in problems(owner)]
    for p in found:
        print(p, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
