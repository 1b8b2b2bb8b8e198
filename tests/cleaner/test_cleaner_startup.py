"""Startup manager: XDG autostart, systemd user units, cron, Windows registry (fake), macOS LaunchAgents."""

from __future__ import annotations

import plistlib
from pathlib import Path

import pytest
from cleaner_fixtures import FakeRunner

from cleaner.platforms import Env
from cleaner.startup.base import StartupError
from cleaner.startup.linux import OVERRIDE_MARK, parse_desktop
from cleaner.startup.manager import StartupManager
from cleaner.startup.windows import APPROVED, CV, CV32, REG_BINARY, REG_SZ, FakeRegistry, approved_value
from cleaner.storage import Storage

DESKTOP = "[Desktop Entry]\nType=Application\nName={name}\nExec={exe}\nComment={name} helper\n{extra}"


def linux_setup(tmp_path: Path) -> tuple[Env, Path, Path]:
    home = tmp_path / "home"
    root = tmp_path / "root"
    user_dir = home / ".config" / "autostart"
    sys_dir = root / "etc" / "xdg" / "autostart"
    user_dir.mkdir(parents=True)
    sys_dir.mkdir(parents=True)
    (sys_dir / "tracker.desktop").write_text(DESKTOP.format(name="Tracker", exe="tracker3 daemon", extra=""))
    (sys_dir / "orca.desktop").write_text(DESKTOP.format(name="Orca", exe="orca", extra="Hidden=true\n"))
    (sys_dir / "shadowed.desktop").write_text(DESKTOP.format(name="Shadowed", exe="sysver", extra=""))
    (user_dir / "shadowed.desktop").write_text(DESKTOP.format(name="Mine", exe="myver", extra=""))
    (user_dir / "notes.desktop").write_text(
        DESKTOP.format(name="Notes", exe="notes --tray", extra="X-GNOME-Autostart-enabled=false\n")
        + "\n[Desktop Action new]\nName=New\n"
    )
    env = Env("linux", str(home), {"XDG_CONFIG_HOME": str(home / ".config"), "XDG_CONFIG_DIRS": "/etc/xdg"}, str(root))
    return env, user_dir, sys_dir


def test_linux_listing(tmp_path: Path) -> None:
    env, _, _ = linux_setup(tmp_path)
    mgr = StartupManager(env, Storage(str(tmp_path / "c"), str(tmp_path / "d")), runner=FakeRunner())
    entries = {e.id: e for e in mgr.entries()}
    assert set(entries) == {
        "xdg:system:orca.desktop",
        "xdg:system:tracker.desktop",
        "xdg:user:shadowed.desktop",
        "xdg:user:notes.desktop",
        "systemd:user:syncthing.service",
        "systemd:user:backup.service",
        f"cron:user:{entries and next(i for i in entries if i.startswith('cron:')).split(':')[2]}",
    }
    assert entries["xdg:system:tracker.desktop"].enabled
    assert entries["xdg:system:tracker.desktop"].command == "tracker3 daemon"
    assert entries["xdg:system:tracker.desktop"].description == "Tracker helper"
    assert not entries["xdg:system:orca.desktop"].enabled
    assert entries["xdg:user:shadowed.desktop"].command == "myver"
    assert not entries["xdg:user:notes.desktop"].enabled
    sync = entries["systemd:user:syncthing.service"]
    assert sync.enabled and sync.command == "/usr/bin/syncthing.service -x" and sync.category == "services"
    assert not entries["systemd:user:backup.service"].enabled
    cron = next(e for e in entries.values() if e.source == "cron")
    assert cron.command == "/usr/bin/tmux new -d" and cron.name == "tmux" and cron.category == "scheduled"
    assert [e.source for e in mgr.entries("services")] == ["systemd", "systemd"]
    with pytest.raises(StartupError):
        mgr.entries("bogus")


def test_xdg_toggles_are_reversible_and_recorded(tmp_path: Path) -> None:
    env, user_dir, sys_dir = linux_setup(tmp_path)
    storage = Storage(str(tmp_path / "c"), str(tmp_path / "d"))
    mgr = StartupManager(env, storage, runner=FakeRunner())
    sys_before = {p.name: p.read_text() for p in sys_dir.iterdir()}
    # system entry: disabled through a user override with Hidden=true; system file untouched
    rec = mgr.set_enabled("xdg:system:tracker.desktop", False)
    assert rec["changed"] and rec["was_enabled"]
    override = parse_desktop((user_dir / "tracker.desktop").read_text())
    assert override["Hidden"] == "true" and override[OVERRIDE_MARK] == "true"
    assert not {e.id: e for e in mgr.entries()}["xdg:system:tracker.desktop"].enabled
    mgr.set_enabled("xdg:system:tracker.desktop", True)
    assert not (user_dir / "tracker.desktop").exists()
    assert {e.id: e for e in mgr.entries()}["xdg:system:tracker.desktop"].enabled
    # a system entry hidden by the system gets an override with Hidden=false
    mgr.set_enabled("xdg:system:orca.desktop", True)
    assert {e.id: e for e in mgr.entries()}["xdg:system:orca.desktop"].enabled
    mgr.set_enabled("xdg:system:orca.desktop", False)
    assert not {e.id: e for e in mgr.entries()}["xdg:system:orca.desktop"].enabled
    # user entry edited in place, other groups kept
    mgr.set_enabled("xdg:user:notes.desktop", True)
    text = (user_dir / "notes.desktop").read_text()
    assert "Hidden=false" in text and "X-GNOME-Autostart-enabled" not in text and "[Desktop Action new]" in text
    assert {e.id: e for e in mgr.entries()}["xdg:user:notes.desktop"].enabled
    assert mgr.set_enabled("xdg:user:notes.desktop", True)["changed"] is False
    assert {p.name: p.read_text() for p in sys_dir.iterdir()} == sys_before
    log = storage.startup_changes()
    assert [r["id"] for r in log] == [
        "xdg:system:tracker.desktop",
        "xdg:system:tracker.desktop",
        "xdg:system:orca.desktop",
        "xdg:system:orca.desktop",
        "xdg:user:notes.desktop",
    ]
    assert log[-1]["detail"]["before"].count("X-GNOME-Autostart-enabled=false") == 1
    with pytest.raises(StartupError):
        mgr.set_enabled("xdg:user:nope.desktop", True)


def test_systemd_and_cron_toggles(tmp_path: Path) -> None:
    env, _, _ = linux_setup(tmp_path)
    runner = FakeRunner()
    mgr = StartupManager(env, Storage(str(tmp_path / "c"), str(tmp_path / "d")), runner=runner)
    mgr.set_enabled("systemd:user:syncthing.service", False)
    assert ["systemctl", "--user", "disable", "syncthing.service"] in runner.calls
    assert not {e.id: e for e in mgr.entries()}["systemd:user:syncthing.service"].enabled
    cron = next(e for e in mgr.entries() if e.source == "cron")
    mgr.set_enabled(cron.id, False)
    assert "#ttfd-disabled# @reboot /usr/bin/tmux new -d" in runner.crontab
    assert "0 * * * * /bin/true" in runner.crontab
    again = {e.id: e for e in mgr.entries()}[cron.id]  # same stable id while disabled
    assert not again.enabled
    mgr.set_enabled(cron.id, True)
    assert "\n@reboot /usr/bin/tmux new -d\n" in runner.crontab


def test_missing_systemctl_and_crontab_give_notes(tmp_path: Path) -> None:
    env, _, _ = linux_setup(tmp_path)

    def absent(argv: list[str], stdin: str | None) -> tuple[int, str, str]:
        return 127, "", f"{argv[0]}: not found"

    mgr = StartupManager(env, Storage(str(tmp_path / "c"), str(tmp_path / "d")), runner=absent)
    assert {e.source for e in mgr.entries()} == {"xdg"}
    assert len(mgr.notes()) == 2


def test_windows_registry_and_startup_folders(tmp_path: Path) -> None:
    root = tmp_path / "C"
    user = root / "Users" / "ann"
    appdata = user / "AppData" / "Roaming"
    progdata = root / "ProgramData"
    sm = Path("Microsoft") / "Windows" / "Start Menu" / "Programs"
    (appdata / sm / "Startup").mkdir(parents=True)
    (appdata / sm / "Startup" / "Notes.lnk").write_bytes(b"L")
    (appdata / sm / "Startup" / "desktop.ini").write_text("")
    (progdata / sm / "StartUp").mkdir(parents=True)
    (progdata / sm / "StartUp" / "Agent.lnk").write_bytes(b"L")
    reg = FakeRegistry(
        {
            ("HKCU", CV + r"\Run"): {"OneDrive": ('"C:\\OneDrive.exe" /background', REG_SZ), "": ("x", REG_SZ)},
            ("HKLM", CV + r"\Run"): {"SecurityHealth": ("C:\\Windows\\SecurityHealthSystray.exe", REG_SZ)},
            ("HKLM", CV32 + r"\Run"): {"Updater32": ("C:\\x86\\upd.exe", REG_SZ)},
            ("HKCU", CV + r"\RunOnce"): {"Setup": ("setup.exe /finish", REG_SZ)},
            ("HKLM", APPROVED + r"\Run"): {"SecurityHealth": (approved_value(False, 0), REG_BINARY)},
            ("HKLM", APPROVED + r"\StartupFolder"): {"Agent.lnk": (b"\x03" + b"\0" * 11, REG_BINARY)},
        }
    )
    env = Env("windows", str(user), {"APPDATA": str(appdata), "PROGRAMDATA": str(progdata)}, str(root))
    storage = Storage(str(tmp_path / "c"), str(tmp_path / "d"))
    mgr = StartupManager(env, storage, registry=reg)
    entries = {e.id: e for e in mgr.entries()}
    assert set(entries) == {
        "run:hkcu:OneDrive",
        "run:hklm:SecurityHealth",
        "run32:hklm:Updater32",
        "runonce:hkcu:Setup",
        "startupfolder:user:Notes.lnk",
        "startupfolder:common:Agent.lnk",
    }
    assert entries["run:hkcu:OneDrive"].enabled and entries["run:hkcu:OneDrive"].command.startswith('"C:')
    assert not entries["run:hklm:SecurityHealth"].enabled
    assert not entries["startupfolder:common:Agent.lnk"].enabled
    assert entries["startupfolder:user:Notes.lnk"].enabled
    assert not entries["runonce:hkcu:Setup"].can_toggle

    mgr.set_enabled("run:hkcu:OneDrive", False)
    val = reg.get("HKCU", APPROVED + r"\Run", "OneDrive")
    assert val is not None and val[1] == REG_BINARY and len(val[0]) == 12 and val[0][0] == 3
    assert reg.get("HKCU", CV + r"\Run", "OneDrive") is not None  # the Run value itself is kept
    mgr.set_enabled("run32:hklm:Updater32", False)
    assert reg.get("HKLM", APPROVED + r"\Run32", "Updater32") is not None
    mgr.set_enabled("startupfolder:user:Notes.lnk", False)
    mgr.set_enabled("run:hklm:SecurityHealth", True)
    after = {e.id: e for e in mgr.entries()}
    assert not after["run:hkcu:OneDrive"].enabled
    assert not after["run32:hklm:Updater32"].enabled
    assert not after["startupfolder:user:Notes.lnk"].enabled
    assert after["run:hklm:SecurityHealth"].enabled
    mgr.set_enabled("run:hkcu:OneDrive", True)
    assert {e.id: e for e in mgr.entries()}["run:hkcu:OneDrive"].enabled
    with pytest.raises(StartupError):
        mgr.set_enabled("runonce:hkcu:Setup", False)
    log = storage.startup_changes()
    assert log[0]["detail"]["before"] is None and log[3]["detail"]["before"].startswith("03")


def test_macos_launch_agents(tmp_path: Path) -> None:
    root = tmp_path / "mac"
    home = root / "Users" / "bob"
    ua = home / "Library" / "LaunchAgents"
    sa = root / "Library" / "LaunchAgents"
    sd = root / "Library" / "LaunchDaemons"
    for d in (ua, sa, sd):
        d.mkdir(parents=True)
    with open(ua / "com.dropbox.agent.plist", "wb") as fh:
        plistlib.dump({"Label": "com.dropbox.agent", "ProgramArguments": ["/Apps/Dropbox", "-bg"]}, fh)
    with open(sa / "com.vendor.sysagent.plist", "wb") as fh:
        plistlib.dump({"Label": "com.vendor.sysagent", "Program": "/opt/v/agent"}, fh)
    with open(sd / "com.vendor.daemon.plist", "wb") as fh:
        plistlib.dump({"Label": "com.vendor.daemon", "Program": "/opt/v/d", "Disabled": True}, fh)
    (ua / "broken.plist").write_text("not a plist")
    runner = FakeRunner()
    env = Env("darwin", str(home), {}, str(root))
    mgr = StartupManager(env, Storage(str(tmp_path / "c"), str(tmp_path / "d")), runner=runner)
    entries = {e.id: e for e in mgr.entries()}
    assert set(entries) == {
        "launchd:user:com.dropbox.agent",
        "launchd:system:com.vendor.sysagent",
        "launchd:daemon:com.vendor.daemon",
    }
    assert entries["launchd:user:com.dropbox.agent"].command == "/Apps/Dropbox -bg"
    assert entries["launchd:user:com.dropbox.agent"].publisher == "dropbox"
    assert not entries["launchd:system:com.vendor.sysagent"].enabled  # launchctl override database
    assert not entries["launchd:daemon:com.vendor.daemon"].enabled
    assert entries["launchd:daemon:com.vendor.daemon"].category == "services"
    mgr.set_enabled("launchd:user:com.dropbox.agent", False)
    with open(ua / "com.dropbox.agent.plist", "rb") as fh:
        assert plistlib.load(fh)["Disabled"] is True
    mgr.set_enabled("launchd:user:com.dropbox.agent", True)
    with open(ua / "com.dropbox.agent.plist", "rb") as fh:
        assert "Disabled" not in plistlib.load(fh)
    mgr.set_enabled("launchd:system:com.vendor.sysagent", True)
    assert any(c[:2] == ["launchctl", "enable"] and c[2].endswith("/com.vendor.sysagent") for c in runner.calls)
