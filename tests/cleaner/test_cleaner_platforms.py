"""Windows and macOS locations exercised on Linux against a fake root."""

from __future__ import annotations

from pathlib import Path

import pytest

from cleaner.categories import browser_profiles, browsers, builtin_categories, temp_dirs
from cleaner.platforms import Env
from cleaner.safety import Protector, RunningChecker, is_protected_root
from cleaner.scan import scan


def _w(p: Path, data: bytes = b"x") -> None:
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)


def win_env(tmp_path: Path) -> Env:
    root = tmp_path / "C"
    user = root / "Users" / "ann"
    env = {
        "LOCALAPPDATA": str(user / "AppData" / "Local"),
        "APPDATA": str(user / "AppData" / "Roaming"),
        "TEMP": str(user / "AppData" / "Local" / "Temp"),
        "SystemRoot": str(root / "Windows"),
        "PROGRAMDATA": str(root / "ProgramData"),
    }
    return Env("windows", str(user), env, str(root))


def test_windows_locations(tmp_path: Path) -> None:
    env = win_env(tmp_path)
    local = Path(env.environ["LOCALAPPDATA"])
    roaming = Path(env.environ["APPDATA"])
    _w(local / "Google" / "Chrome" / "User Data" / "Default" / "Preferences", b"{}")
    _w(local / "Google" / "Chrome" / "User Data" / "Default" / "Cache" / "Cache_Data" / "f_1")
    _w(local / "Google" / "Chrome" / "User Data" / "Default" / "History", b"h")
    _w(local / "Microsoft" / "Edge" / "User Data" / "Profile 2" / "Preferences", b"{}")
    _w(local / "Microsoft" / "Edge" / "User Data" / "Profile 2" / "Code Cache" / "js" / "x")
    _w(roaming / "Mozilla" / "Firefox" / "Profiles" / "q.default" / "prefs.js", b"//")
    _w(local / "Mozilla" / "Firefox" / "Profiles" / "q.default" / "cache2" / "entries" / "e")
    _w(roaming / "Opera Software" / "Opera Stable" / "Preferences", b"{}")
    _w(local / "Opera Software" / "Opera Stable" / "Cache" / "o")
    _w(local / "Temp" / "t.tmp")
    _w(local / "pip" / "Cache" / "http" / "p")
    _w(local / "npm-cache" / "_cacache" / "n")
    _w(local / "Microsoft" / "Windows" / "INetCache" / "IE" / "i")
    _w(local / "Microsoft" / "Windows" / "Explorer" / "thumbcache_256.db")
    _w(local / "Microsoft" / "Windows" / "Explorer" / "keep.db")
    assert temp_dirs(env)[0] == str(local / "Temp")
    assert str(Path(env.root) / "Windows" / "Temp") in temp_dirs(env)
    chrome = next(b for b in browsers(env) if b.key == "chrome")
    assert browser_profiles(chrome) == [str(local / "Google" / "Chrome" / "User Data" / "Default")]
    opera = next(b for b in browsers(env) if b.key == "opera")
    assert browser_profiles(opera) == [str(roaming / "Opera Software" / "Opera Stable")]

    cats = [
        c for c in builtin_categories(env, {"temp_min_age_hours": 0}) if c.name in ("temp", "cache", "browsers", "apps")
    ]
    res = scan(env, cats, Protector([]), running=RunningChecker(env, dict), mounts=set())
    found = {e[0] for c in res.categories.values() for e in c.iter_entries()}
    assert str(local / "Google" / "Chrome" / "User Data" / "Default" / "Cache" / "Cache_Data" / "f_1") in found
    assert str(local / "Microsoft" / "Edge" / "User Data" / "Profile 2" / "Code Cache" / "js" / "x") in found
    assert str(local / "Mozilla" / "Firefox" / "Profiles" / "q.default" / "cache2" / "entries" / "e") in found
    assert str(local / "Opera Software" / "Opera Stable" / "Cache" / "o") in found
    assert str(local / "Temp" / "t.tmp") in found
    assert str(local / "pip" / "Cache" / "http" / "p") in found
    assert str(local / "npm-cache" / "_cacache" / "n") in found
    assert str(local / "Microsoft" / "Windows" / "INetCache" / "IE" / "i") in found
    assert str(local / "Microsoft" / "Windows" / "Explorer" / "thumbcache_256.db") in found
    assert str(local / "Microsoft" / "Windows" / "Explorer" / "keep.db") not in found
    assert not any(p.endswith("History") for p in found)
    assert "Recycle Bin" in " ".join(res.categories["apps"].notes)


def test_macos_locations(tmp_path: Path) -> None:
    root = tmp_path / "mac"
    home = root / "Users" / "bob"
    env = Env("darwin", str(home), {"TMPDIR": str(root / "private" / "var" / "folders" / "xy" / "T")}, str(root))
    lib = home / "Library"
    _w(lib / "Caches" / "com.apple.Safari" / "c")
    _w(lib / "Caches" / "pip" / "p")
    _w(lib / "Application Support" / "Google" / "Chrome" / "Default" / "Preferences", b"{}")
    _w(lib / "Application Support" / "Google" / "Chrome" / "Default" / "GPUCache" / "g")
    _w(lib / "Caches" / "Google" / "Chrome" / "Default" / "Cache" / "x")
    _w(lib / "Application Support" / "Firefox" / "Profiles" / "z.default" / "prefs.js", b"//")
    _w(lib / "Caches" / "Firefox" / "Profiles" / "z.default" / "cache2" / "e")
    _w(home / ".Trash" / "old.pdf")
    _w(root / "private" / "tmp" / "t")
    assert str(root / "private" / "tmp") in temp_dirs(env)
    cats = [
        c for c in builtin_categories(env, {"temp_min_age_hours": 0}) if c.name in ("temp", "cache", "browsers", "apps")
    ]
    res = scan(env, cats, Protector([]), running=RunningChecker(env, dict), mounts=set())
    found = {e[0] for c in res.categories.values() for e in c.iter_entries()}
    assert str(lib / "Caches" / "com.apple.Safari" / "c") in found
    assert str(lib / "Application Support" / "Google" / "Chrome" / "Default" / "GPUCache" / "g") in found
    assert str(lib / "Caches" / "Firefox" / "Profiles" / "z.default" / "cache2" / "e") in found
    assert str(home / ".Trash" / "old.pdf") in found
    assert str(root / "private" / "tmp" / "t") in found
    # counted once: pip and browser caches live inside ~/Library/Caches, claimed by 'cache'
    entries = [e[0] for c in res.categories.values() for e in c.iter_entries()]
    assert len(entries) == len(set(entries))


def test_protected_roots_with_a_fake_root(tmp_path: Path) -> None:
    env = Env("linux", str(tmp_path / "home"), {}, str(tmp_path / "root"))
    assert is_protected_root("/", env)  # the real root stays protected when a fake root is set
    assert is_protected_root("/usr", env)
    assert is_protected_root(str(tmp_path / "root" / "etc"), env)
    assert is_protected_root(str(tmp_path / "home"), env)
    assert not is_protected_root(str(tmp_path / "home" / ".cache"), env)
    assert is_protected_root("C:\\", Env("windows", "C:\\Users\\a", {}, "C:\\"))


def test_env_expansion() -> None:
    env = Env("windows", "/h", {"APPDATA": "/h/roam", "X": "1"})
    assert env.expand("~/a") == "/h/a"
    assert env.expand("%APPDATA%/z") == "/h/roam/z"
    assert env.expand("$X/${X}/$NOPE") == "1/1/$NOPE"


def test_storage_dirs_match_platformdirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import platformdirs

    from cleaner.storage import APP_NAME, user_dir

    monkeypatch.setenv("HOME", str(tmp_path))
    for env in (
        {},
        {"XDG_CONFIG_HOME": str(tmp_path / "c"), "XDG_DATA_HOME": str(tmp_path / "d")},
        {"XDG_DATA_HOME": " "},
    ):
        monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
        monkeypatch.delenv("XDG_DATA_HOME", raising=False)
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        assert user_dir("config") == platformdirs.user_config_dir(APP_NAME, appauthor=False)
        assert user_dir("data") == platformdirs.user_data_dir(APP_NAME, appauthor=False)
