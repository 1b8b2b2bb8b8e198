"""`make lint`'s check that every text a person reads comes from the catalogs: a string literal with words in
it, given to something that shows it (a reply, a field, a button, a refusal, a command's description, …),
must be a catalog message (`_()`, `N_()`, `C_()`), never written inline or glued in an f-string.

Names, ids, emoji and punctuation (" — ", "🛒 ", "\\n") are fine as they are: only a run of two letters
makes a text. A line ending in `# text-ok: <why>` is let through (a URL, a brand, machine output)."""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("ttfd", "functions", "webhooks")
SKIP = ("ttfd/core/i18n.py",)
CATALOG_CALLS = {"_", "N_", "C_", "gettext", "ngettext"}
WORDS = re.compile(r"[^\W\d_]{2,}")
# What shows its arguments to a person: every positional argument, and these keywords.
SHOWN = {
    "say": None,
    "text": None,
    "lines": None,
    "bold": None,
    "italic": None,
    "code": None,
    "link": None,
    "refusal": None,
    "field_": None,
    "Reply": ("title", "body", "footer"),
    "Field": None,
    "Button": ("label",),
    "Choice": ("label", "description"),
    "Select": ("placeholder",),
    "TextInput": ("label", "placeholder"),
    "Modal": ("title",),
    "Group": None,
    "Problem": ("title",),
    "problem": ("title",),
    "html_page": ("title", "message"),
}
# Where a declaration's description is (the command picker, help): by position and keyword.
DESCRIBED = {"Command": 1, "Option": 2, "Group": 1}
ERRORS = re.compile(r"(Error|Input|Forbidden|NotFound|Funds|Cooldown|Changed|Reused|Problem)$")
# Errors whose words reach an operator, a log or a platform's API (400 reasons), never a person's screen.
MACHINE_ERRORS = {
    "ConfigError",
    "InputError",
    "ValueError",
    "TypeError",
    "RuntimeError",
    "KeyError",
    "AssertionError",
    "PermanentJobError",
    "Unavailable",
    "PanelError",  # the 3x-ui adapter's: operators and logs read them, never a member
    "PanelAuthError",
    "LastClientError",
    "ClientNotFound",
    "HTTPError",
    "NotImplementedError",
    "LookupError",
    "OSError",
    "SystemExit",
    "MigrationError",
    "AttributeError",
    "TimeoutError",
    "CLIError",  # the operator CLI's one-line mistakes (its output stays English)
    "SecretsError",  # AWS Secrets Manager's refusals, for the operator and the logs
}


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def _literal_texts(node: ast.AST) -> Iterator[ast.expr]:
    """Literal words inside an expression shown to a person (not inside a catalog call)."""
    if isinstance(node, ast.Call) and _name(node.func) in CATALOG_CALLS:
        return
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and WORDS.search(node.value):
        yield node
    elif isinstance(node, ast.JoinedStr):
        if any(isinstance(v, ast.Constant) and WORDS.search(str(v.value)) for v in node.values):
            yield node
    elif isinstance(node, ast.Tuple | ast.List | ast.BinOp | ast.IfExp | ast.BoolOp | ast.Starred):
        for child in ast.iter_child_nodes(node):
            if isinstance(node, ast.IfExp) and child is node.test:
                continue
            yield from _literal_texts(child)


def _shown_args(call: ast.Call) -> Iterator[ast.expr]:
    name = _name(call.func)
    if name in DESCRIBED:
        position = DESCRIBED[name]
        if len(call.args) > position:
            yield call.args[position]
        yield from (k.value for k in call.keywords if k.arg == "description")
    if name in SHOWN:
        keywords = SHOWN[name]
        if keywords is None or name in ("Field", "Group"):
            yield from call.args if name not in ("Group",) else ()
        elif call.args:
            yield call.args[0]
        yield from (k.value for k in call.keywords if keywords is None or k.arg in keywords)
    elif ERRORS.search(name) and name[:1].isupper() and name not in MACHINE_ERRORS:
        yield from call.args[:1]
        yield from (k.value for k in call.keywords if k.arg in ("message", "title"))


def problems(path: Path) -> Iterator[str]:
    source = path.read_text()
    lines = source.splitlines()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        for arg in _shown_args(node):
            for found in _literal_texts(arg):
                line = lines[found.lineno - 1] if found.lineno <= len(lines) else ""
                if "# text-ok" in line:
                    continue
                shown = ast.unparse(found)[:70]
                yield f"{path.relative_to(ROOT)}:{found.lineno}: text outside the catalogs: {shown}"


def main() -> int:
    found = [
        p
        for source in SOURCES
        for path in sorted((ROOT / source).rglob("*.py"))
        if str(path.relative_to(ROOT)) not in SKIP
        for p in problems(path)
    ]
    for p in found:
        print(p, file=sys.stderr)
    if found:
        print(f"{len(found)} texts outside the catalogs: wrap them in _() (ttfd.core.i18n)", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
