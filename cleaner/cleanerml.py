"""Reader for BleachBit's CleanerML format: the 'delete' action subset, everything else skipped."""

from __future__ import annotations

import itertools
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from functools import partial

from cleaner.platforms import Env
from cleaner.rules import SEARCH_KINDS, AppGuard, Category, Rule

_ACTION_ATTRS = {"command", "search", "path", "regex", "nregex", "wholeregex", "nwholeregex", "os"}
_KNOWN_CLEANER_CHILDREN = {"label", "description", "running", "var", "option", "localizations"}
_VAR_RX = re.compile(r"\$\$(\w+)\$\$")


@dataclass
class CleanerMLResult:
    """Categories read from a directory plus what was skipped and why."""

    categories: list[Category] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def os_matches(spec: str | None, os_name: str) -> bool:
    """CleanerML 'os' attribute: linux, windows, darwin, bsd, unix (any non-Windows)."""
    if not spec:
        return True
    spec = spec.strip().lower()
    if spec == "unix":
        return os_name != "windows"
    return spec == os_name


def _text(el: ET.Element | None) -> str:
    return (el.text or "").strip() if el is not None else ""


def _allowed_root(search: str, path: str) -> str:
    """Confine each action to the narrowest directory it can possibly touch."""
    if search in ("walk.files", "walk.all"):
        return path
    if search in ("walk.top", "file"):
        return os.path.dirname(path)
    # glob: the longest leading part without wildcards
    parts = path.split(os.sep)
    fixed: list[str] = []
    for part in parts[:-1]:
        if any(c in part for c in "*?["):
            break
        fixed.append(part)
    return os.sep.join(fixed) or os.sep


def load_file(path: str, env: Env) -> CleanerMLResult:
    """Parse one CleanerML file into categories named '<cleaner id>.<option id>'."""
    res = CleanerMLResult()
    fname = os.path.basename(path)
    try:
        # The user points us at their own rule files; expat does not fetch external entities.
        root = ET.parse(path).getroot()  # noqa: S314
    except (ET.ParseError, OSError) as exc:
        res.skipped.append(f"{fname}: unreadable ({exc})")
        return res
    if root.tag != "cleaner":
        res.skipped.append(f"{fname}: root element <{root.tag}> is not <cleaner>, skipped")
        return res
    cid = root.get("id") or os.path.splitext(fname)[0]
    if not os_matches(root.get("os"), env.os_name):
        res.skipped.append(f"{cid}: not for {env.os_name}, skipped")
        return res
    label = _text(root.find("label")) or cid
    for child in root:
        if child.tag not in _KNOWN_CLEANER_CHILDREN:
            res.skipped.append(f"{cid}: <{child.tag}> unsupported, skipped")
    variables: dict[str, list[str]] = {}
    for var in root.findall("var"):
        name = var.get("name")
        if not name:
            continue
        values = [_text(v) for v in var.findall("value") if os_matches(v.get("os"), env.os_name) and _text(v)]
        variables.setdefault(name, []).extend(values)
    procs: list[str] = []
    locks: list[str] = []
    for run in root.findall("running"):
        kind = run.get("type", "exe")
        value = _text(run)
        if not value or not os_matches(run.get("os"), env.os_name):
            continue
        if kind == "exe":
            procs.append(value.removesuffix(".exe"))
        elif kind == "pathname":
            locks.append(env.expand(value))
        else:
            res.skipped.append(f"{cid}: <running type={kind!r}> unsupported, skipped")
    guard = AppGuard(label, tuple(procs), tuple(locks)) if (procs or locks) else None

    for opt in root.findall("option"):
        oid = opt.get("id")
        if not oid:
            res.skipped.append(f"{cid}: option without id, skipped")
            continue
        name = f"{cid}.{oid}"
        rules: list[Rule] = []
        notes: list[str] = []
        for act in opt:
            if act.tag in ("label", "description", "warning"):
                continue
            if act.tag != "action":
                notes.append(f"{name}: <{act.tag}> unsupported, skipped")
                continue
            cmd = act.get("command", "")
            search = act.get("search", "")
            extra = set(act.attrib) - _ACTION_ATTRS
            if cmd != "delete":
                notes.append(f"{name}: action command={cmd!r} unsupported, skipped")
                continue
            if search not in SEARCH_KINDS:
                notes.append(f"{name}: search={search!r} unsupported, skipped")
                continue
            if extra:
                notes.append(f"{name}: attributes {', '.join(sorted(extra))} unsupported, action skipped")
                continue
            if not os_matches(act.get("os"), env.os_name):
                continue
            raw = act.get("path", "")
            if not raw:
                notes.append(f"{name}: action without path, skipped")
                continue
            for path in _expand_vars(raw, variables, notes, name):
                p = os.path.normpath(env.expand(path))
                if not os.path.isabs(p):
                    notes.append(f"{name}: path {p!r} is not absolute after expansion, skipped")
                    continue
                rules.append(
                    Rule(
                        label=f"{name} {search} {p}",
                        search=search,
                        path=p,
                        allowed_root=_allowed_root(search, p),
                        regex=act.get("regex"),
                        nregex=act.get("nregex"),
                        wholeregex=act.get("wholeregex"),
                        nwholeregex=act.get("nwholeregex"),
                    )
                )
        res.skipped.extend(notes)
        olabel = _text(opt.find("label")) or oid
        res.categories.append(
            Category(
                name=name,
                label=f"{label}: {olabel}",
                description=_text(opt.find("description")),
                rules=tuple(rules),
                opt_in=True,  # third-party rules run only when named
                warning=_text(opt.find("warning")),
                guard=guard,
                notes=tuple(notes),
            )
        )
    return res


def _expand_vars(path: str, variables: dict[str, list[str]], notes: list[str], name: str, depth: int = 0) -> list[str]:
    """Expand $$var$$ (each value of a multi-value var gives its own path; values may use other vars)."""
    names = _VAR_RX.findall(path)
    if names and depth > 8:
        notes.append(f"{name}: variables nest too deep in {path!r}, skipped")
        return []
    if not names:
        return [path]
    missing = [n for n in names if not variables.get(n)]
    if missing:
        notes.append(f"{name}: undefined variable(s) {', '.join(missing)} in {path!r}, skipped")
        return []
    uniq = list(dict.fromkeys(names))
    out = []
    for combo in itertools.product(*(variables[n] for n in uniq)):
        mapping = dict(zip(uniq, combo, strict=True))
        out.extend(_expand_vars(_VAR_RX.sub(partial(_var_value, mapping), path), variables, notes, name, depth + 1))
    return out


def _var_value(mapping: dict[str, str], m: re.Match[str]) -> str:
    return mapping[m.group(1)]


def load_dir(directory: str, env: Env) -> CleanerMLResult:
    """Read every *.xml CleanerML file of a directory (sorted, non-recursive)."""
    res = CleanerMLResult()
    try:
        names = sorted(n for n in os.listdir(directory) if n.lower().endswith(".xml"))
    except OSError as exc:
        res.skipped.append(f"{directory}: cannot read directory ({exc.strerror})")
        return res
    for n in names:
        one = load_file(os.path.join(directory, n), env)
        res.categories.extend(one.categories)
        res.skipped.extend(one.skipped)
    return res
