"""Reader for BleachBit's CleanerML format: file actions (delete, truncate, shred, json, ini, sqlite.vacuum).

Actions that run system commands or edit application databases in app-specific ways are refused per
option with the reason (see REFUSED), never executed.
"""

from __future__ import annotations

import glob
import itertools
import os
import re
import xml.etree.ElementTree as ET
from functools import partial

from cleaner.i18n import _
from cleaner.platforms import Env
from cleaner.rules import ACTIONS, SEARCH_KINDS, AppGuard, Category, Rule

_ACTION_ATTRS = {"command", "search", "path", "regex", "nregex", "wholeregex", "nwholeregex", "os", "type"}
_ACTION_ARGS = {"json": ("address",), "ini": ("section", "parameter")}
# Commands of BleachBit's shipped cleaners that TTFD deliberately does not run, and why.
_SYSTEM = _("runs a system package or journal command as root; TTFD only cleans your files")
_APP_DB = _("edits an application's database or XML in an app-specific way TTFD does not implement")
REFUSED = {
    "apt.autoclean": _SYSTEM,
    "apt.autoremove": _SYSTEM,
    "apt.clean": _SYSTEM,
    "dnf.autoremove": _SYSTEM,
    "dnf.clean_all": _SYSTEM,
    "yum.clean_all": _SYSTEM,
    "journald.clean": _SYSTEM,
    "chrome.autofill": _APP_DB,
    "chrome.databases_db": _APP_DB,
    "chrome.favicons": _APP_DB,
    "chrome.history": _APP_DB,
    "chrome.keywords": _APP_DB,
    "mozilla.favicons": _APP_DB,
    "mozilla.url.history": _APP_DB,
    "office_registrymodifications": _APP_DB,
    "xml": _APP_DB,
    "process": _("runs an arbitrary external command"),
    "winreg": _("edits the Windows registry"),
    "win.shell.change.notify": _("calls a Windows shell API"),
}
_KNOWN_CLEANER_CHILDREN = {"label", "description", "running", "var", "option", "localizations"}
_VAR_RX = re.compile(r"\$\$([\w.-]+?)\$\$")  # names such as Cache-Profile


class CleanerMLResult:
    """Categories read from a directory plus what was skipped and why."""

    def __init__(self) -> None:
        self.categories: list[Category] = []
        self.skipped: list[str] = []


def os_matches(spec: str | None, os_name: str) -> bool:
    """CleanerML 'os' attribute: linux, windows, darwin, bsd, unix (any non-Windows)."""
    if not spec:
        return True
    spec = spec.strip().lower()
    if spec == "unix":
        return os_name != "windows"
    return spec == os_name


def bleachbit_env(env: Env) -> Env:
    """``env`` with the variables BleachBit defines at start-up filled in where they are unset or empty.

    BleachBit (``bleachbit/__init__.py``, ``Windows.setup_environment``) sets the XDG base dirs on every
    POSIX system and a few shell folders on Windows, and its CleanerML files rely on that.
    """
    h = env.home
    if env.os_name == "windows":
        sep = "\\"
        local = env.var("LOCALAPPDATA") or sep.join((h, "AppData", "Local"))
        defaults = {
            "commonappdata": env.var("ProgramData") or env.var("ALLUSERSPROFILE") or "C:\\ProgramData",
            "documents": sep.join((h, "Documents")),
            "localappdata": local,
            "music": sep.join((h, "Music")),
            "pictures": sep.join((h, "Pictures")),
            "video": sep.join((h, "Videos")),
            "LocalAppDataLow": sep.join((h, "AppData", "LocalLow")),
            "cd": os.getcwd(),
        }
    else:
        defaults = {
            "XDG_DATA_HOME": os.path.join(h, ".local", "share"),
            "XDG_CONFIG_HOME": os.path.join(h, ".config"),
            "XDG_CACHE_HOME": os.path.join(h, ".cache"),
        }
    environ = dict(env.environ)
    for name, value in defaults.items():
        if not env.var(name):
            environ[name] = value
    return env._replace(environ=environ)


def _text(el: ET.Element | None) -> str:
    return (el.text or "").strip() if el is not None else ""


def _allowed_root(search: str, path: str) -> str:
    """Confine each action to the narrowest directory it can possibly touch."""
    magic = glob.has_magic(path) and search != "file"  # BleachBit globs the path of every search but 'file'
    if search in ("walk.files", "walk.all") and not magic:
        return path
    if search == "file" or (search == "walk.top" and not magic):
        return os.path.dirname(path)
    # glob, and walks of a pattern: the longest leading part without wildcards
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
        res.skipped.append(_("{file}: unreadable ({error})", file=fname, error=str(exc)))
        return res
    if root.tag != "cleaner":
        res.skipped.append(_("{file}: root element <{tag}> is not <cleaner>, skipped", file=fname, tag=root.tag))
        return res
    cid = root.get("id") or os.path.splitext(fname)[0]
    if not os_matches(root.get("os"), env.os_name):
        res.skipped.append(_("{cleaner}: not for {os}, skipped", cleaner=cid, os=env.os_name))
        return res
    env = bleachbit_env(env)
    label = _text(root.find("label")) or cid
    for child in root:
        if child.tag not in _KNOWN_CLEANER_CHILDREN:
            res.skipped.append(_("{name}: <{tag}> unsupported, skipped", name=cid, tag=child.tag))
    variables: dict[str, list[str]] = {}
    for var in root.findall("var"):
        name = var.get("name")
        if not name:
            continue
        values: list[str] = []
        for v in var.findall("value"):
            if not os_matches(v.get("os"), env.os_name) or not _text(v):
                continue
            if v.get("search") == "glob":  # BleachBit globs these once, on reading, with a trailing separator
                values.extend(sorted(glob.glob(os.path.join(env.expand(_text(v)), ""))))
            else:
                values.append(_text(v))
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
            res.skipped.append(_("{cleaner}: <running type={kind}> unsupported, skipped", cleaner=cid, kind=repr(kind)))
    guard = AppGuard(label, tuple(procs), tuple(locks)) if (procs or locks) else None

    for opt in root.findall("option"):
        oid = opt.get("id")
        if not oid:
            res.skipped.append(_("{cleaner}: option without id, skipped", cleaner=cid))
            continue
        name = f"{cid}.{oid}"
        rules: list[Rule] = []
        notes: list[str] = []
        refused: list[str] = []
        for act in opt:
            if act.tag in ("label", "description", "warning"):
                continue
            if act.tag != "action":
                notes.append(_("{name}: <{tag}> unsupported, skipped", name=name, tag=act.tag))
                continue
            if not os_matches(act.get("os"), env.os_name):
                continue
            rules.extend(_action_rules(act, name, env, variables, notes, refused))
        notes.extend(refused)
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
                refused_actions=tuple(refused),
            )
        )
    return res


def _action_rules(
    act: ET.Element, name: str, env: Env, variables: dict[str, list[str]], notes: list[str], refused: list[str]
) -> list[Rule]:
    """The rules of one <action> (one per expanded path); what cannot be run goes to notes or refused."""
    cmd = act.get("command", "")
    search = act.get("search", "")
    if cmd in REFUSED:
        refused.append(
            _("{name}: action command={command} refused ({why})", name=name, command=repr(cmd), why=REFUSED[cmd])
        )
        return []
    if cmd not in ACTIONS:
        notes.append(_("{name}: action command={command} unsupported, skipped", name=name, command=repr(cmd)))
        return []
    if search not in SEARCH_KINDS:
        notes.append(_("{name}: search={search} unsupported, skipped", name=name, search=repr(search)))
        return []
    if cmd != "delete" and search not in ("file", "glob"):
        notes.append(
            _(
                "{name}: action command={command} with search={search} unsupported, skipped",
                name=name,
                command=repr(cmd),
                search=repr(search),
            )
        )
        return []
    arg_names = _ACTION_ARGS.get(cmd, ())
    extra = set(act.attrib) - _ACTION_ATTRS - set(arg_names)
    if extra:
        notes.append(
            _(
                "{name}: attributes {attributes} unsupported, action skipped",
                name=name,
                attributes=", ".join(sorted(extra)),
            )
        )
        return []
    object_type = act.get("type", "")
    if object_type not in ("", "f", "d"):
        notes.append(_("{name}: type={type} unsupported, action skipped", name=name, type=repr(object_type)))
        return []
    args = tuple((a, act.get(a, "")) for a in arg_names if act.get(a))
    if cmd == "json" and not args:
        notes.append(_("{name}: json action without address, skipped", name=name))
        return []
    if cmd == "ini" and not act.get("section"):
        notes.append(_("{name}: ini action without section, skipped", name=name))
        return []
    raw = act.get("path", "")
    if not raw:
        notes.append(_("{name}: action without path, skipped", name=name))
        return []
    rules: list[Rule] = []
    for path in _expand_vars(raw, variables, notes, name):
        missing: list[str] = []
        p = os.path.normpath(env.expand(path, missing))
        if missing:
            unset = ", ".join(f"${v}" for v in dict.fromkeys(missing))
            notes.append(
                _("{name}: {variables} has no value, path {path} skipped", name=name, variables=unset, path=repr(raw))
            )
            continue
        if not os.path.isabs(p):
            notes.append(_("{name}: path {path} is not absolute after expansion, skipped", name=name, path=repr(p)))
            continue
        rules.append(
            Rule(
                label=f"{name} {search} {p}" if cmd == "delete" else f"{name} {cmd} {search} {p}",
                search=search,
                path=p,
                allowed_root=_allowed_root(search, p),
                regex=act.get("regex"),
                nregex=act.get("nregex"),
                wholeregex=act.get("wholeregex"),
                nwholeregex=act.get("nwholeregex"),
                object_type=object_type,
                action=cmd,
                action_args=args,
            )
        )
    return rules


def _expand_vars(path: str, variables: dict[str, list[str]], notes: list[str], name: str, depth: int = 0) -> list[str]:
    """Expand $$var$$ (each value of a multi-value var gives its own path; values may use other vars)."""
    names = _VAR_RX.findall(path)
    if names and depth > 8:
        notes.append(_("{name}: variables nest too deep in {path}, skipped", name=name, path=repr(path)))
        return []
    if not names:
        return [path]
    missing = [n for n in names if not variables.get(n)]
    if missing:
        notes.append(
            _(
                "{name}: undefined variable(s) {variables} in {path}, skipped",
                name=name,
                variables=", ".join(missing),
                path=repr(path),
            )
        )
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
        res.skipped.append(_("{path}: cannot read directory ({error})", path=directory, error=str(exc.strerror)))
        return res
    for n in names:
        one = load_file(os.path.join(directory, n), env)
        res.categories.extend(one.categories)
        res.skipped.extend(one.skipped)
    return res
