"""Built-in categories (temp, cache, browsers, apps, custom) for Linux, Windows and macOS."""

from __future__ import annotations

import os
from collections.abc import Mapping

from cleaner.i18n import Msg, _
from cleaner.platforms import Env
from cleaner.records import NamedTuple
from cleaner.rules import AppGuard, Category, Rule

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing at run time (start-up time counts)
if TYPE_CHECKING:
    from typing import Any

BUILTIN_NAMES = ("temp", "cache", "browsers", "apps", "custom")
OPT_IN_NAMES = ("browsers.history", "browsers.cookies", "browsers.passwords")

DEFAULT_SETTINGS: dict[str, Any] = {
    "temp_min_age_hours": 24.0,
    "logs_min_age_days": 30.0,
    "custom_paths": [],
}


class Browser(NamedTuple):
    """Where one browser keeps its profiles and caches on the described machine."""

    key: str
    label: str
    chromium: bool
    config_dir: str
    cache_dir: str | None
    guard: AppGuard


_PROCESSES = {
    "chrome": ("chrome", "google-chrome", "google-chrome-stable", "google chrome"),
    "chromium": ("chromium", "chromium-browser"),
    "edge": ("msedge", "microsoft-edge", "microsoft-edge-stable", "microsoft edge"),
    "brave": ("brave", "brave-browser", "brave browser"),
    "vivaldi": ("vivaldi", "vivaldi-bin"),
    "opera": ("opera",),
    "firefox": ("firefox", "firefox-esr", "firefox-bin"),
}
_LABELS = {
    "chrome": "Google Chrome",
    "chromium": "Chromium",
    "edge": "Microsoft Edge",
    "brave": "Brave",
    "vivaldi": "Vivaldi",
    "opera": "Opera",
    "firefox": "Firefox",
}


def user_dirs(env: Env) -> dict[str, str]:
    """The per-user base directories the rules are built from."""
    h = env.home
    if env.os_name == "windows":
        local = env.get("LOCALAPPDATA") or os.path.join(h, "AppData", "Local")
        roaming = env.get("APPDATA") or os.path.join(h, "AppData", "Roaming")
        return {"cache": local, "config": roaming, "data": local, "state": local, "local": local}
    if env.os_name == "darwin":
        lib = os.path.join(h, "Library")
        sup = os.path.join(lib, "Application Support")
        return {"cache": os.path.join(lib, "Caches"), "config": sup, "data": sup, "state": sup, "local": sup}
    return {
        "cache": env.xdg("XDG_CACHE_HOME", ".cache"),
        "config": env.xdg("XDG_CONFIG_HOME", ".config"),
        "data": env.xdg("XDG_DATA_HOME", os.path.join(".local", "share")),
        "state": env.xdg("XDG_STATE_HOME", os.path.join(".local", "state")),
        "local": env.xdg("XDG_DATA_HOME", os.path.join(".local", "share")),
    }


def temp_dirs(env: Env) -> list[str]:
    """System and user temp directories (existing or not), without duplicates."""
    cands: list[str] = []
    if env.os_name == "windows":
        cands += [env.get("TEMP"), env.get("TMP"), os.path.join(user_dirs(env)["local"], "Temp")]
        sysroot = env.get("SystemRoot") or env.get("SYSTEMROOT")
        if sysroot:
            cands.append(os.path.join(sysroot, "Temp"))
    elif env.os_name == "darwin":
        cands += [env.get("TMPDIR"), env.sys_path("/private/tmp"), env.sys_path("/private/var/tmp")]
    else:
        cands += [env.get("TMPDIR"), env.sys_path("/tmp"), env.sys_path("/var/tmp")]  # noqa: S108 - we clean them
    out: list[str] = []
    for c in cands:
        if c:
            n = os.path.normpath(c)
            if n not in out:
                out.append(n)
    return out


def browsers(env: Env) -> list[Browser]:
    """Browser locations for the described OS."""
    h = env.home
    d = user_dirs(env)
    if env.os_name == "windows":
        loc, roam = d["local"], d["config"]
        table: dict[str, tuple[str, str | None]] = {
            "chrome": (os.path.join(loc, "Google", "Chrome", "User Data"), None),
            "chromium": (os.path.join(loc, "Chromium", "User Data"), None),
            "edge": (os.path.join(loc, "Microsoft", "Edge", "User Data"), None),
            "brave": (os.path.join(loc, "BraveSoftware", "Brave-Browser", "User Data"), None),
            "vivaldi": (os.path.join(loc, "Vivaldi", "User Data"), None),
            "opera": (
                os.path.join(roam, "Opera Software", "Opera Stable"),
                os.path.join(loc, "Opera Software", "Opera Stable"),
            ),
            "firefox": (
                os.path.join(roam, "Mozilla", "Firefox", "Profiles"),
                os.path.join(loc, "Mozilla", "Firefox", "Profiles"),
            ),
        }
    elif env.os_name == "darwin":
        sup, cache = d["config"], d["cache"]
        table = {
            "chrome": (os.path.join(sup, "Google", "Chrome"), os.path.join(cache, "Google", "Chrome")),
            "chromium": (os.path.join(sup, "Chromium"), os.path.join(cache, "Chromium")),
            "edge": (os.path.join(sup, "Microsoft Edge"), os.path.join(cache, "Microsoft Edge")),
            "brave": (
                os.path.join(sup, "BraveSoftware", "Brave-Browser"),
                os.path.join(cache, "BraveSoftware", "Brave-Browser"),
            ),
            "vivaldi": (os.path.join(sup, "Vivaldi"), os.path.join(cache, "Vivaldi")),
            "opera": (
                os.path.join(sup, "com.operasoftware.Opera"),
                os.path.join(cache, "com.operasoftware.Opera"),
            ),
            "firefox": (os.path.join(sup, "Firefox", "Profiles"), os.path.join(cache, "Firefox", "Profiles")),
        }
    else:
        cfg, cache = d["config"], d["cache"]
        table = {
            "chrome": (os.path.join(cfg, "google-chrome"), os.path.join(cache, "google-chrome")),
            "chromium": (os.path.join(cfg, "chromium"), os.path.join(cache, "chromium")),
            "edge": (os.path.join(cfg, "microsoft-edge"), os.path.join(cache, "microsoft-edge")),
            "brave": (
                os.path.join(cfg, "BraveSoftware", "Brave-Browser"),
                os.path.join(cache, "BraveSoftware", "Brave-Browser"),
            ),
            "vivaldi": (os.path.join(cfg, "vivaldi"), os.path.join(cache, "vivaldi")),
            "opera": (os.path.join(cfg, "opera"), os.path.join(cache, "opera")),
            "firefox": (os.path.join(h, ".mozilla", "firefox"), os.path.join(cache, "mozilla", "firefox")),
        }
    out = []
    for key, (cfg_dir, cache_dir) in table.items():
        chromium = key != "firefox"
        if chromium:
            locks: tuple[str, ...] = (
                os.path.join(cfg_dir, "SingletonLock"),
                os.path.join(cfg_dir, "lockfile"),
            )
        else:
            locks = (os.path.join(cfg_dir, "*", "lock"),)  # Firefox: dangling symlink while running
        guard = AppGuard(_LABELS[key], _PROCESSES[key], locks)
        out.append(Browser(key, _LABELS[key], chromium, cfg_dir, cache_dir, guard))
    return out


def browser_profiles(b: Browser) -> list[str]:
    """Profile directories of a browser (Chromium: dirs with 'Preferences'; Firefox: with 'prefs.js')."""
    marker = "Preferences" if b.chromium else "prefs.js"
    out: list[str] = []
    if os.path.isfile(os.path.join(b.config_dir, marker)) and not os.path.islink(b.config_dir):
        out.append(b.config_dir)  # Opera keeps a single profile in the top directory
    try:
        with os.scandir(b.config_dir) as it:
            for e in it:
                if e.is_dir(follow_symlinks=False) and os.path.isfile(os.path.join(e.path, marker)):
                    out.append(e.path)
    except OSError:
        pass
    return sorted(out)


_CHROMIUM_PROFILE_CACHES = (
    "Cache",
    "Code Cache",
    "GPUCache",
    "DawnCache",
    "DawnGraphiteCache",
    "DawnWebGPUCache",
    "Media Cache",
    "Application Cache",
    os.path.join("Service Worker", "CacheStorage"),
    os.path.join("Service Worker", "ScriptCache"),
)
_CHROMIUM_TOP_CACHES = ("GrShaderCache", "ShaderCache", "GraphiteDawnCache")
_FIREFOX_PROFILE_CACHES = ("cache2", "startupCache", "shader-cache", "jumpListCache", "thumbnails")

_PRIVACY_FILES: dict[str, dict[bool, tuple[str, ...]]] = {
    "history": {
        True: (
            "History",
            "History-journal",
            "Visited Links",
            "Top Sites",
            "Top Sites-journal",
            "Shortcuts",
            "Shortcuts-journal",
            "Network Action Predictor",
            "Network Action Predictor-journal",
        ),
        # places.sqlite also holds bookmarks, so Firefox history is limited to form/session history.
        False: ("formhistory.sqlite", "sessionstore.jsonlz4", "sessionstore-backups"),
    },
    "cookies": {
        True: (
            "Cookies",
            "Cookies-journal",
            os.path.join("Network", "Cookies"),
            os.path.join("Network", "Cookies-journal"),
        ),
        False: ("cookies.sqlite", "cookies.sqlite-wal", "cookies.sqlite-shm"),
    },
    "passwords": {
        True: (
            "Login Data",
            "Login Data-journal",
            "Login Data For Account",
            "Login Data For Account-journal",
        ),
        False: ("logins.json", "logins-backup.json"),
    },
}


def _browser_cache_rules(env: Env) -> list[Rule]:
    rules: list[Rule] = []
    for b in browsers(env):
        if b.cache_dir:
            if b.chromium or env.os_name != "windows":
                label = _("{browser} cache", browser=b.label)
                rules.append(Rule(label, "walk.all", b.cache_dir, b.cache_dir, guard=b.guard))
            else:
                for prof_cache in _subdirs(b.cache_dir):  # Firefox on Windows: Local\...\Profiles\<p>
                    label = _("{browser} cache", browser=b.label)
                    rules.append(Rule(label, "walk.all", prof_cache, prof_cache, guard=b.guard))
        for prof in browser_profiles(b):
            names = _CHROMIUM_PROFILE_CACHES if b.chromium else _FIREFOX_PROFILE_CACHES
            for n in names:
                p = os.path.join(prof, n)
                label = _("{browser} cache ({profile})", browser=b.label, profile=os.path.basename(prof))
                rules.append(Rule(label, "walk.all", p, p, guard=b.guard))
        if b.chromium:
            for n in _CHROMIUM_TOP_CACHES:
                p = os.path.join(b.config_dir, n)
                rules.append(Rule(_("{browser} shader cache", browser=b.label), "walk.all", p, p, guard=b.guard))
    return rules


def _privacy_rules(env: Env, what: str) -> list[Rule]:
    rules: list[Rule] = []
    for b in browsers(env):
        for prof in browser_profiles(b):
            profile = os.path.basename(prof)
            label = {
                "history": _("{browser} history ({profile})", browser=b.label, profile=profile),
                "cookies": _("{browser} cookies ({profile})", browser=b.label, profile=profile),
                "passwords": _("{browser} passwords ({profile})", browser=b.label, profile=profile),
            }[what]
            for n in _PRIVACY_FILES[what][b.chromium]:
                p = os.path.join(prof, n)
                search = "walk.top" if n == "sessionstore-backups" else "file"
                rules.append(Rule(label, search, p, prof, guard=b.guard))
    return rules


def _subdirs(path: str) -> list[str]:
    try:
        with os.scandir(path) as it:
            return sorted(e.path for e in it if e.is_dir(follow_symlinks=False))
    except OSError:
        return []


def builtin_categories(env: Env, settings: Mapping[str, Any] | None = None) -> list[Category]:
    """All built-in categories for the described machine, opt-in privacy ones last."""
    s = {**DEFAULT_SETTINGS, **(settings or {})}
    d = user_dirs(env)
    h = env.home
    temp_age = float(s["temp_min_age_hours"]) * 3600
    log_age = float(s["logs_min_age_days"]) * 86400
    bs = browsers(env)

    temp = Category(
        "temp",
        _("Temporary files"),
        _(
            "Files in system and user temp dirs older than {hours} h (only your own files).",
            hours=float(s["temp_min_age_hours"]),
        ),
        tuple(
            Rule(_("temp {path}", path=t), "walk.all", t, t, min_age_s=temp_age, own_files_only=True)
            for t in temp_dirs(env)
        ),
    )

    cache_rules: list[Rule] = []
    # Browser caches inside the user cache dir belong to the browser: left alone while it runs.
    guarded = tuple((b.cache_dir, b.guard) for b in bs if b.cache_dir and b.cache_dir.startswith(d["cache"] + os.sep))
    if env.os_name == "windows":
        inet = os.path.join(d["local"], "Microsoft", "Windows", "INetCache")
        cache_rules.append(Rule(_("Internet cache"), "walk.all", inet, inet))
        explorer = os.path.join(d["local"], "Microsoft", "Windows", "Explorer")
        cache_rules.append(Rule(_("thumbnails"), "glob", os.path.join(explorer, "thumbcache_*.db"), explorer))
    else:
        cache_rules.append(Rule(_("user cache"), "walk.all", d["cache"], d["cache"], guarded_subdirs=guarded))
        if env.os_name == "linux":
            thumbs = os.path.join(d["cache"], "thumbnails")
            cache_rules.append(Rule(_("thumbnails"), "walk.all", thumbs, thumbs))
            legacy = os.path.join(h, ".thumbnails")
            cache_rules.append(Rule(_("thumbnails (legacy)"), "walk.all", legacy, legacy))
    cache = Category("cache", _("Caches"), _("The user cache directory and thumbnails."), tuple(cache_rules))

    browsers_cat = Category(
        "browsers",
        _("Browser caches"),
        _("Caches of Chrome, Chromium, Firefox, Edge, Brave, Vivaldi and Opera, per profile."),
        tuple(_browser_cache_rules(env)),
    )

    apps_rules: list[Rule] = []
    if env.os_name == "windows":
        loc = d["local"]
        pip, npm, yarn = (
            os.path.join(loc, "pip", "Cache"),
            os.path.join(loc, "npm-cache", "_cacache"),
            os.path.join(loc, "Yarn", "Cache"),
        )
        logs = os.path.join(loc, "CrashDumps")
        trash = None
    elif env.os_name == "darwin":
        pip = os.path.join(d["cache"], "pip")
        npm = os.path.join(h, ".npm", "_cacache")
        yarn = os.path.join(d["cache"], "Yarn")
        logs = os.path.join(h, "Library", "Logs")
        trash = os.path.join(h, ".Trash")
    else:
        pip = os.path.join(d["cache"], "pip")
        npm = os.path.join(h, ".npm", "_cacache")
        yarn = os.path.join(d["cache"], "yarn")
        logs = d["state"]
        trash = os.path.join(d["data"], "Trash")
    apps_rules += [
        Rule(_("{app} cache", app="pip"), "walk.all", pip, pip, guard=AppGuard("pip", ("pip", "pip3"))),
        Rule(_("{app} cache", app="npm"), "walk.all", npm, npm, guard=AppGuard("npm", ("npm",))),
        Rule(_("{app} cache", app="yarn"), "walk.all", yarn, yarn, guard=AppGuard("yarn", ("yarn",))),
    ]
    cargo = os.path.join(env.get("CARGO_HOME") or os.path.join(h, ".cargo"), "registry", "cache")
    apps_rules.append(
        Rule(_("{app} cache", app="cargo"), "walk.all", cargo, cargo, guard=AppGuard("cargo", ("cargo",)))
    )
    log_rx = r"\.(log|old|dmp)(\.\d+)?(\.gz|\.xz)?$" if env.os_name != "darwin" else r"\.(log|diag|ips)(\.\d+)?(\.gz)?$"
    apps_rules.append(Rule(_("old logs"), "walk.files", logs, logs, regex=log_rx, min_age_s=log_age))
    if env.os_name == "linux":
        apps_rules.append(Rule(_("old X session log"), "file", os.path.join(h, ".xsession-errors.old"), h))
    apps_notes: tuple[str, ...] = ()
    if trash:
        for sub in ("files", "info", "expunged") if env.os_name == "linux" else ("",):
            p = os.path.join(trash, sub) if sub else trash
            apps_rules.append(Rule(_("trash"), "walk.all", p, p, never_trash=True))
    else:
        apps_notes = (_("The Windows Recycle Bin is not emptied by this version."),)
    apps = Category(
        "apps",
        _("Applications"),
        _("pip, npm, yarn and cargo caches, old logs and the desktop trash."),
        tuple(apps_rules),
        notes=apps_notes,
    )

    custom_rules = []
    for raw in s.get("custom_paths") or []:
        p = os.path.normpath(env.expand(str(raw)))
        if os.path.isdir(p) and not os.path.islink(p):
            custom_rules.append(Rule(_("custom {path}", path=p), "walk.all", p, p))
        else:
            custom_rules.append(Rule(_("custom {path}", path=p), "file", p, os.path.dirname(p)))
    custom = Category("custom", _("Custom paths"), _("Paths you added (settings: custom_paths)."), tuple(custom_rules))

    cats = [temp, cache, browsers_cat, apps, custom]
    for what, label, description, data in _PRIVACY_TEXTS:
        cats.append(
            Category(
                f"browsers.{what}",
                label,
                description,
                tuple(_privacy_rules(env, what)),
                opt_in=True,
                warning=privacy_warning(data),
            )
        )
    return cats


def privacy_warning(what: Msg) -> Msg:
    """The warning of an opt-in browser category."""
    return _(
        "Deletes personal browser data ({what}); you will be signed out or lose saved data. "
        "Only runs when asked for by name.",
        what=what,
    )


# (name, label, description, the data it deletes as the warning names it)
_PRIVACY_TEXTS = (
    ("history", _("Browser history"), _("Browser history for every profile."), _("history")),
    ("cookies", _("Browser cookies"), _("Browser cookies for every profile."), _("cookies")),
    ("passwords", _("Browser passwords"), _("Browser passwords for every profile."), _("saved passwords")),
)
