"""The registry is the one list: everything derived from it, or checked against it here, names what is
missing. And the layering rules: the domain imports no HTTP framework and never the entrypoints; no cycles."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path

import yaml

import main
from ttfd.cli import discord_definitions
from ttfd.core.db import SQL_DIR
from ttfd.features import FEATURES, REGISTRY

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("ttfd", "functions", "webhooks", "devtools", "cleaner", "static_site", "bench")


def test_main_py_exposes_exactly_the_registrys_functions() -> None:
    exposed = {n for n, f in inspect.getmembers(main, inspect.isfunction) if f.__module__ == "main"}
    missing, extra = set(REGISTRY.functions) - exposed, exposed - set(REGISTRY.functions)
    assert not missing, f"main.py lacks {sorted(missing)}: run `make manifests`"
    assert not extra, f"main.py has functions no feature declares: {sorted(extra)}: run `make manifests`"


def test_every_site_route_is_in_the_openapi_document() -> None:
    doc = yaml.safe_load((ROOT / "functions" / "site" / "openapi.yaml").read_text())
    operations = {op["operationId"] for ops in doc["paths"].values() for op in ops.values()}
    for name, route in REGISTRY.routes.items():
        assert any(op == name or op.startswith(f"{name}_") for op in operations), f"openapi.yaml lacks {name}"
        assert route.path.replace("<ref>", "{ref}") in doc["paths"], f"openapi.yaml lacks the path {route.path}"


def test_every_job_kind_resolves_to_a_handler() -> None:
    for kind in REGISTRY.job_kinds:
        handler = REGISTRY.job_handler(kind)
        assert callable(handler), kind
        assert list(inspect.signature(handler).parameters)[:2] == ["job", "payload"], kind


def test_a_feature_package_never_shadows_its_own_imports() -> None:
    # Importing ttfd.features.x.jobs sets attribute `jobs` on the package: it would replace an imported
    # `jobs` module in the package's namespace (a real bug this test now keeps out).
    for feature in FEATURES:
        package = importlib.import_module(f"ttfd.features.{feature.name}")
        folder = Path(package.__file__ or "").parent
        submodules = {p.stem for p in folder.glob("*.py") if p.stem != "__init__"}
        tree = ast.parse((folder / "__init__.py").read_text())
        imported = {
            a.asname or a.name.split(".")[-1]
            for n in ast.walk(tree)
            if isinstance(n, ast.ImportFrom)
            for a in n.names
            if n.module and not n.module.startswith(f"ttfd.features.{feature.name}")
        }
        assert not (submodules & imported), f"{feature.name}: submodule named like an import: {submodules & imported}"


def test_commands_are_valid_on_both_platforms() -> None:
    for d in discord_definitions():
        assert re.fullmatch(r"[a-z0-9_-]{1,32}", d["name"]) and 1 <= len(d["description"]) <= 100, d["name"]
        assert len(d.get("options", [])) <= 25
        for o in d.get("options", []):
            assert re.fullmatch(r"[a-z0-9_-]{1,32}", o["name"]) and len(o["description"]) <= 100
    for name, command in REGISTRY.telegram_commands.items():
        assert re.fullmatch(r"[a-z0-9_]{1,32}", name), name
        assert 1 <= len(command.description) <= 256
    groups = {c.group for c in REGISTRY.commands.values() if c.group}
    assert groups <= set(REGISTRY.groups), f"command groups without a Group: {groups - set(REGISTRY.groups)}"


def test_every_migration_belongs_to_one_feature() -> None:
    owned = [m for f in FEATURES for m in f.migrations]
    on_disk = sorted(p.name for p in SQL_DIR.glob("*.sql"))
    assert sorted(owned) == on_disk, "each sql/ file is declared by exactly one feature's migrations"


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "dist" in path.parts or "build" in path.parts:
                continue
            rel = path.relative_to(ROOT).with_suffix("")
            parts = list(rel.parts[:-1]) if rel.name == "__init__" else list(rel.parts)
            found[".".join(parts)] = path
    found["main"] = ROOT / "main.py"
    return found


def _type_checking_only(tree: ast.Module) -> set[int]:
    """Line numbers of imports under `if TYPE_CHECKING:` (for the type checker only, never run)."""
    lines = set()
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            lines |= {n.lineno for n in ast.walk(node) if isinstance(n, ast.Import | ast.ImportFrom)}
    return lines


def _imports(path: Path, module: str, known: dict[str, Path]) -> set[str]:
    """Project modules a file imports anywhere in it (lazy imports inside functions count too)."""
    tree = ast.parse(path.read_text())
    skip = _type_checking_only(tree)
    out: set[str] = set()
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module
            if node.level:
                base = ".".join([*module.split(".")[: -node.level], node.module])
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        for t in targets:
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != module:
                out.add(t)
    return out


def test_layers_point_one_way_and_nothing_imports_itself_back() -> None:
    known = _modules()
    graph = {m: _imports(p, m, known) for m, p in known.items()}
    for m, deps in graph.items():
        if m.startswith(("webhooks", "functions")):  # the entrypoint packages stand side by side
            other = "functions" if m.startswith("webhooks") else "webhooks"
            assert not {d for d in deps if d.startswith(other)}, f"{m} imports the other entrypoints' package"
        if m.startswith("ttfd"):
            bad = {d for d in deps if d.split(".")[0] in ("functions", "webhooks", "devtools", "main")}
            assert not bad, f"{m} (domain) imports entrypoints/tools: {bad}"
            src = known[m].read_text()
            for framework in ("flask", "aiogram", "werkzeug", "functions_framework"):
                assert not re.search(rf"^(from|import) {framework}\b", src, re.M), f"{m} imports {framework}"
    # no cycle between two modules (and none longer): depth-first search over module-level imports
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for d in sorted(graph.get(m, ())):
            # a package's __init__ importing its own submodules is how packages are built, not a cycle
            if d.startswith(m + ".") or m.startswith(d + "."):
                continue
            if state.get(d) == 1:
                cycle = [*stack[stack.index(d) :], d]
                raise AssertionError("import cycle: " + " → ".join(cycle))
            if d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_functions_holds_deployable_entrypoints_only() -> None:
    # Local tools (dev server, fakes, simulators, CLI) live in devtools/, which the deploy leaves out.
    names = {p.relative_to(ROOT / "functions").as_posix() for p in (ROOT / "functions").rglob("*.py")}
    assert names == {
        "__init__.py",
        "aws.py",
        "http.py",
        "scheduled.py",
        "discord/__init__.py",
        "discord/events.py",
        "discord/interactions.py",
        "discord/verify.py",
        "site/__init__.py",
    }
