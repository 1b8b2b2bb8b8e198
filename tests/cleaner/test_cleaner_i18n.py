"""The Cleaner speaks Russian and English: every text a person reads is in the catalog (an AST scan of cleaner/),
the catalog is complete, plurals follow each language, the language is chosen as gettext does, human output
is translated and --json output is the same whatever the language."""

from __future__ import annotations

import argparse
import ast
import io
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cleaner_fixtures import FixtureHome

from cleaner import i18n
from cleaner.cli import argparse_texts, main
from cleaner.i18n import C_, N_, Msg, Size, _, say

REPO = Path(__file__).resolve().parents[2]
CLEANER = REPO / "cleaner"

# --- every text a person reads is in the catalog: an AST scan of cleaner/*.py ---------------------------------

CATALOG_CALLS = {"_", "N_", "C_", "gettext", "ngettext"}
WORDS = re.compile(r"[^\W\d_]{2,}")  # a text has a run of two letters; ids, paths and punctuation do not count
# Calls that show their arguments to a person: (positional arguments shown, keywords shown). None: all of them.
SHOWN: dict[str, tuple[int | None, tuple[str, ...]]] = {
    "print": (None, ()),  # the CLI's human output
    "p": (None, ()),  # App.p: a line of human output
    "_lines": (None, ()),
    "title": (1, ()),  # a window's title
    "show": (1, ()),  # the chart's title
    "set": (1, ()),  # a StringVar shown in a label (the status bar)
    "confirm": (2, ()),
    "showinfo": (2, ()),
    "showwarning": (2, ()),
    "showerror": (2, ()),
    "askyesno": (2, ()),
    "askokcancel": (2, ()),
    "askquestion": (2, ()),
    "add_argument": (0, ("help", "metavar")),  # argparse help texts
    "add_parser": (0, ("help", "description", "epilog")),
    "add_subparsers": (0, ("title", "description", "help", "metavar")),
    "add_argument_group": (2, ()),
    "ArgumentParser": (0, ("description", "epilog")),
    "_Parser": (0, ("description", "epilog")),
    "Category": (0, ("label", "description", "warning", "notes")),  # its label and description: see below
    "Rule": (1, ("label",)),  # a rule's label appears in notes
}
# Any call's keywords that Tk shows: a widget's text, a tree row's cells, a combo box's choices.
SHOWN_KEYWORDS = ("text", "values", "label")
# Category(name, label, description, ...): positions 1 and 2 are shown.
POSITIONS = {"Category": (1, 2)}
# Exceptions whose message reaches a person (the CLI's error line, the window's status bar).
ERRORS = re.compile(r"(Error|Refused|Category|_Skip)$")
MACHINE_ERRORS = {"ValueError", "TypeError", "RuntimeError", "KeyError", "AssertionError", "JSONDecodeError"}
# Lists whose items are shown (notes, refusals and skips of a scan or a CleanerML file).
SHOWN_LISTS = {"notes", "refused", "skipped", "errors"}
SKIP = {"i18n.py"}  # the catalog machinery itself (month names, AM/PM are built there)


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
    elif isinstance(node, ast.Tuple | ast.List | ast.BinOp | ast.IfExp | ast.BoolOp | ast.Starred | ast.Dict):
        for child in ast.iter_child_nodes(node):
            if isinstance(node, ast.IfExp) and child is node.test:
                continue
            if isinstance(node, ast.Dict) and child in node.keys:
                continue
            yield from _literal_texts(child)


def _shown_args(call: ast.Call) -> Iterator[ast.expr]:
    name = _name(call.func)
    yield from (k.value for k in call.keywords if k.arg in SHOWN_KEYWORDS)
    if name in SHOWN:
        count, keywords = SHOWN[name]
        positions = POSITIONS.get(name)
        if positions is not None:
            yield from (call.args[i] for i in positions if i < len(call.args))
        else:
            yield from call.args if count is None else call.args[:count]
        yield from (k.value for k in call.keywords if k.arg in keywords)
    elif name == "append" and isinstance(call.func, ast.Attribute) and _name(call.func.value) in SHOWN_LISTS:
        yield from call.args
    elif ERRORS.search(name) and name[:1] in "_ABCDEFGHIJKLMNOPQRSTUVWXYZ" and name not in MACHINE_ERRORS:
        yield from call.args[:1]


def _shown_values(tree: ast.AST) -> Iterator[ast.expr]:
    """Everything shown: call arguments, plus `x.note = ...` (a startup source's note)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield from _shown_args(node)
        elif isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Attribute) and t.attr == "note" for t in node.targets
        ):
            yield node.value


def untranslated(source: str, where: str) -> list[str]:
    """Texts a person reads that are written inline instead of coming from the catalog. A line ending in
    `# text-ok: <why>` is let through (a brand name)."""
    lines = source.splitlines()
    found = []
    for value in _shown_values(ast.parse(source)):
        for node in _literal_texts(value):
            if "# text-ok" in lines[node.lineno - 1]:
                continue
            found.append(f"{where}:{node.lineno}: {ast.unparse(node)[:80]}")
    return found


def cleaner_sources() -> list[Path]:
    return sorted(p for p in CLEANER.rglob("*.py") if p.name not in SKIP)


def test_every_text_a_person_reads_is_in_the_catalog() -> None:
    found = [f for path in cleaner_sources() for f in untranslated(path.read_text(), str(path.relative_to(REPO)))]
    assert not found, "texts outside the catalog (wrap them in _(), N_() or C_()):\n" + "\n".join(found)


@pytest.mark.parametrize(
    "code",
    [
        'ttk.Label(root, text="Hello world")',
        'ttk.Button(bar, text=f"Clean {n} files")',
        'tree.heading("#0", text="Category")',
        'tree.insert("", "end", values=("yes", "no"))',
        'self.status.set("Scanning now")',
        'messagebox.askyesno("Clean", "Really delete?")',
        'print(f"error: {message}", file=sys.stderr)',
        'self.p("no reports yet")',
        'sp.add_argument("--yes", help="really delete")',
        'sub.add_parser("status", help="disk usage")',
        'raise StorageError(f"cannot read {path}")',
        'raise _Skip("already gone")',
        'res.notes.append(f"{rule.label}: skipped, {problem}")',
        'Category("temp", "Temporary files", "Old files.", ())',
        'Rule(f"{b.label} cache", "walk.all", p, p)',
        'self.note = f"crontab unavailable: {err}"',
        'root.title("Cleaning report")',
    ],
)
def test_the_scan_finds_inline_texts(code: str) -> None:
    assert untranslated(code, "x.py"), code

    class Wrap(ast.NodeTransformer):  # every literal with words, put in _()
        def visit_Constant(self, node: ast.Constant) -> ast.AST:
            if isinstance(node.value, str) and WORDS.search(node.value):
                return ast.Call(ast.Name("_"), [node], [])
            return node

        def visit_JoinedStr(self, node: ast.JoinedStr) -> ast.AST:
            return ast.Call(ast.Name("_"), [node], [])

    wrapped = ast.unparse(Wrap().visit(ast.parse(code)))
    assert not untranslated(wrapped, "x.py"), wrapped


def test_the_scan_lets_through_ids_paths_and_marked_lines() -> None:
    ok = [
        'tree.insert("", "end", values=(human(n), ""))',
        'self.p(f"    {human(ent[1]):>10}  {what}{ent[0]}")',
        'ttk.Label(header, text="TTFD Cleaner")  # text-ok: the name',
        'res.errors.append(f"{path}: {exc.strerror}")',
        'sp.add_argument("--max-items", metavar="N", help=_("paths listed"))',
        'self.tree.column("size", width=100)',
    ]
    for code in ok:
        assert not untranslated(code, "x.py"), code


# --- the catalog --------------------------------------------------------------------------------------------


def _cleaner_owner() -> Any:
    from devtools.catalogs import owners

    return next(o for o in owners() if o.name == "cleaner")


def test_catalog_check_is_clean_for_the_cleaner() -> None:
    """What `python -m devtools catalogs check` says about cleaner/: every text translated, none stale."""
    from devtools.catalogs import problems

    assert list(problems(_cleaner_owner())) == []


def _fields(text: str) -> set[str]:
    return set(re.findall(r"\{(\w+)", text)) | set(re.findall(r"%(?:\(\w+\))?[sdr]", text))


# Values a text is given besides the ones its English names (the 24-hour clock's hour, for languages that use it).
EXTRA_VALUES = {"{hour12}:{minute} {am_pm}": {"hour"}}


def test_translations_keep_the_values_of_their_text() -> None:
    """A translation may leave a value out (the Russian time has no AM/PM) but never names one the text does not
    have, and keeps every %-value argparse fills in (or formatting would fail)."""
    from devtools.catalogs import load, po_path

    catalog = load(po_path(_cleaner_owner(), "ru"), "ru")
    for message in catalog:
        if not message.id:
            continue
        ids = [str(i) for i in (message.id if isinstance(message.id, tuple | list) else (message.id,))]
        strings = [str(t) for t in (message.string if isinstance(message.string, tuple | list) else (message.string,))]
        known = set().union(*(_fields(i) for i in ids)) | EXTRA_VALUES.get(ids[0], set())
        for s in strings:
            assert _fields(s) <= known, (message.id, s)
            percent = {f for f in known if f.startswith("%")}
            assert percent <= _fields(s), (message.id, s)


def test_argparse_texts_are_argparse_s_own() -> None:
    """The argparse texts we translate are the ones this Python's argparse asks for (so none goes stale)."""
    source = Path(argparse.__file__).read_text()
    for text in argparse_texts():
        assert repr(text) in source or json.dumps(text) in source, text


# --- plurals, numbers, sizes, dates -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "ru", "en"),
    [
        (1, "1 файл", "1 file"),
        (3, "3 файла", "3 files"),
        (5, "5 файлов", "5 files"),
        (11, "11 файлов", "11 files"),
        (21, "21 файл", "21 files"),
        (22, "22 файла", "22 files"),
        (111, "111 файлов", "111 files"),
        (1001, "1\u00a0001 файл", "1,001 files"),
    ],
)
def test_plural_forms(n: int, ru: str, en: str) -> None:
    msg = N_("{n} file", "{n} files", n)
    assert say(msg, "ru") == ru
    assert say(msg, "en") == en == msg  # the Msg itself is the English text


def test_numbers_sizes_and_dates_per_language() -> None:
    assert i18n.number(1234567, "en") == "1,234,567"
    assert i18n.number(1234567, "ru") == "1\u00a0234\u00a0567"
    assert i18n.number(0.5, "ru") == "0,5" and i18n.number(24.0, "en") == "24"
    assert i18n.size(1536 * 1024, "en") == "1.5 MiB"
    assert i18n.size(1536 * 1024, "ru") == "1,5\u00a0МБ"
    assert i18n.size(512, "ru") == "512\u00a0Б" and i18n.size(5 * 1024**3, "en") == "5.0 GiB"
    assert i18n.seconds(0.123, "ru") == "0,12 с" and i18n.seconds(0.123, "en") == "0.12 s"
    moment = datetime(2026, 1, 5, 14, 3)  # naive: local time already
    assert i18n.moment(moment, "en") == "Jan 5, 2026, 2:03 PM"
    assert i18n.moment(moment, "ru") == "5 янв. 2026 г., 14:03"
    assert i18n.moment(moment, "ru", with_time=False) == "5 янв. 2026 г."
    # a value said inside a text follows the language too
    freed = _("Freed {size}", size=Size(1536 * 1024))
    assert freed == "Freed 1.5 MiB" and say(freed, "ru") == "Освобождено 1,5\u00a0МБ"
    # an aware moment (a report's UTC time) is shown in the computer's time zone
    aware = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
    assert i18n.moment(aware, "en") == i18n.moment(aware.astimezone().replace(tzinfo=None), "en")


def test_a_msg_is_english_for_machines_and_said_for_people() -> None:
    why = _("{app} is running (process {process}, pid {pid})", app="Firefox", process="firefox", pid="1234")
    assert why == "Firefox is running (process firefox, pid 1234)"
    assert json.loads(json.dumps({"refused": [why]})) == {"refused": ["Firefox is running (process firefox, pid 1234)"]}
    assert say(why, "ru") == "Firefox запущен (процесс firefox, pid 1234)"
    again = pickle.loads(pickle.dumps(why))  # noqa: S301 - our own bytes
    assert isinstance(again, Msg) and say(again, "ru") == say(why, "ru")
    # a nested message is said in the same language
    warning = _(
        "Deletes personal browser data ({what}); you will be signed out or lose saved data. "
        "Only runs when asked for by name.",
        what=_("cookies"),
    )
    assert "файлы cookie" in say(warning, "ru")
    # a context tells two same English words apart
    assert say(C_("tab", "Startup"), "ru") == "Автозагрузка"
    assert say(C_("button", "Clean…"), "ru") == "Очистить…"


def test_plain_english_saved_earlier_is_said_again() -> None:
    """A report read back from disk holds plain English reasons: they are found in the catalog again."""
    assert say("modified since the preview", "ru") == "изменён после анализа"
    assert say("/mnt/usb is a mount point", "ru") == "/mnt/usb — точка монтирования"
    assert say("Firefox is running (process firefox, pid 12)", "ru") == "Firefox запущен (процесс firefox, pid 12)"
    assert say("Permission denied", "ru") == "Permission denied"  # not ours: as it is
    assert say("/home/ann/file.txt", "ru") == "/home/ann/file.txt"
    assert say("modified since the preview", "en") == "modified since the preview"


def test_skip_reasons_of_worker_processes_come_back_as_text(tmp_path: Path) -> None:
    """Forked deleters send reasons through marshal, which takes plain str: they arrive as English text and are
    said again from the catalog."""
    import marshal

    reason = _("{path} is on another file system", path="/mnt/x")
    sent = marshal.loads(marshal.dumps([{"path": "/mnt/x/a", "reason": str(reason)}]))  # noqa: S302 - ours
    assert type(sent[0]["reason"]) is str
    assert say(sent[0]["reason"], "ru") == say(reason, "ru") == "/mnt/x на другой файловой системе"


# --- the catalog file: .mo when current, else the .po compiled in memory --------------------------------------


def test_catalog_loading(tmp_path: Path) -> None:
    po = tmp_path / "ru.po"
    shutil.copy(CLEANER / "locale" / "ru.po", po)
    mo = tmp_path / "ru.mo"
    assert not mo.exists()
    from_po = i18n.compiled(str(po))  # no .mo (a fresh checkout): compiled with Babel
    assert from_po is not None and b"\xd0\x9e\xd1\x87\xd0\xb8\xd1\x81\xd1\x82\xd0\xba\xd0\xb0" in from_po  # Очистка
    mo.write_bytes(b"stale")
    os.utime(mo, (1, 1))  # older than the .po: compiled again, not read
    assert i18n.compiled(str(po)) == from_po
    mo.write_bytes(from_po)
    assert i18n.compiled(str(po)) == from_po  # a current .mo is read as it is
    po.unlink()  # the executable carries the .mo only
    assert i18n.compiled(str(po)) == from_po
    mo.unlink()
    assert i18n.compiled(str(po)) is None  # no catalog at all: English


# --- whose language -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "wanted", "expected"),
    [
        ({"LANG": "ru_RU.UTF-8"}, None, "ru"),
        ({"LANG": "en_US.UTF-8"}, None, "en"),
        ({"LANG": "ru_RU.UTF-8"}, "en", "en"),  # --lang wins
        ({"LANG": "en_US.UTF-8"}, "ru", "ru"),
        ({"LANG": "ru_RU.UTF-8", "LC_ALL": "C"}, None, "en"),  # LC_ALL beats LANG; C speaks English
        ({"LANG": "C.UTF-8", "LC_MESSAGES": "ru_RU.UTF-8"}, None, "ru"),
        ({"LANGUAGE": "de:ru", "LANG": "de_DE.UTF-8"}, None, "ru"),  # the first language we speak in the list
        ({"LANGUAGE": "", "LANG": "ru_RU"}, None, "ru"),  # an empty variable does not count
        ({"LANGUAGE": "de", "LANG": "ru_RU.UTF-8"}, None, "en"),  # gettext: LANGUAGE decides when set
        ({"LANG": "ru-RU"}, "de", "ru"),  # a --lang we do not speak: the environment
    ],
)
def test_choosing_the_language(env: dict[str, str], wanted: str | None, expected: str) -> None:
    assert i18n.choose(wanted, env) == expected


def test_the_desktop_language_where_the_environment_says_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(i18n, "system_language", lambda platform=None: "ru")
    assert i18n.choose(None, {}) == "ru"
    monkeypatch.setattr(i18n, "system_language", lambda platform=None: None)
    assert i18n.choose(None, {}) == "en"


def test_system_language_on_macos_and_windows(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import ctypes
    import plistlib
    from types import SimpleNamespace

    prefs = tmp_path / "Library" / "Preferences"
    prefs.mkdir(parents=True)
    (prefs / ".GlobalPreferences.plist").write_bytes(
        plistlib.dumps({"AppleLanguages": ["ru-RU", "en-US"]}, fmt=plistlib.FMT_BINARY)
    )
    monkeypatch.setenv("HOME", str(tmp_path))
    assert i18n.system_language("darwin") == "ru"
    kernel32 = SimpleNamespace(GetUserDefaultUILanguage=lambda: 0x0419)  # ru-RU
    monkeypatch.setattr(ctypes, "windll", SimpleNamespace(kernel32=kernel32), raising=False)
    assert i18n.system_language("win32") == "ru"
    assert i18n.system_language("linux") is None


# --- the command line in both languages ---------------------------------------------------------------------


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def _custom_dir(tmp_path: Path, files: int) -> Path:
    d = tmp_path / f"junk{files}"
    d.mkdir()
    for i in range(files):
        (d / f"f{i}.tmp").write_bytes(b"x" * 100)
    return d


@pytest.mark.parametrize(
    ("files", "ru", "en"),
    [
        (1, "1 файл, 0 папок", "1 file, 0 folders"),
        (3, "3 файла", "3 files"),
        (5, "5 файлов", "5 files"),
        (21, "21 файл,", "21 files"),
    ],
)
def test_cli_counts_in_both_languages(
    fx: FixtureHome, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: int, ru: str, en: str
) -> None:
    d = _custom_dir(tmp_path, files)
    assert run("custom-paths", "add", str(d))[0] == 0
    code, out, _ = run("scan-cleaning", "--categories", "custom", "--max-items", "0")
    assert code == 0 and en in out and "total" in out
    code, out, _ = run("scan-cleaning", "--categories", "custom", "--max-items", "0", "--lang", "ru")
    assert code == 0 and ru in out and "итого" in out
    monkeypatch.setenv("LANG", "ru_RU.UTF-8")  # the environment, as gettext reads it
    code, out, _ = run("scan-cleaning", "--categories", "custom", "--max-items", "0")
    assert code == 0 and ru in out
    element = {1: "1 элемент", 3: "3 элемента", 5: "5 элементов", 21: "21 элемент"}[files]
    assert element in out


def test_cli_human_output_in_russian(fx: FixtureHome, monkeypatch: pytest.MonkeyPatch) -> None:
    root = str(fx.root)
    monkeypatch.setenv("LANG", "ru_RU.UTF-8")
    code, out, _ = run("status", "--root", root)
    assert code == 0 and "Можно освободить:" in out and "Диск:" in out and "КБ" in out
    code, out, _ = run("list-categories")
    assert "Временные файлы" in out and "(только по запросу)" in out and "внимание: Удаляет личные данные" in out
    code, out, err = run("apply-cleaning", "--categories", "temp", "--root", root)
    assert code == 3 and "запустите ещё раз с --yes" in err
    code, out, _ = run("apply-cleaning", "--categories", "temp", "--root", root, "--yes")
    assert code == 0 and re.search(r"удален[оа]? \d+ элемент", out) and "отчёт: " in out
    code, out, _ = run("reports")
    assert code == 0 and "освобождено" in out and re.search(r"\d+ \w+\.? \d{4} г\., \d\d:\d\d", out)
    code, out, _ = run("exclusions", "list")
    assert out.strip() == "исключений нет"
    code, _, err = run("exclusions", "remove", "/never/added")
    assert code == 1 and err.strip() == "ошибка: нет в исключениях: /never/added"
    code, _, err = run("scan-cleaning", "--categories", "nope")
    assert code == 2 and "неизвестная категория 'nope'" in err
    code, _, err = run("toggle-startup", "--id", "xdg:user:missing.desktop", "--enable", "--root", root)
    assert code == 1 and "нет записи автозагрузки с id" in err
    code, _, err = run("scan-startup", "--category", "x")
    assert code == 2 and "недопустимое значение: 'x'" in err


def test_cli_help_in_russian(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("LANG", "ru_RU.UTF-8")
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("использование: ttfd-cleaner")
    assert "показать эту справку и выйти" in text and "параметры:" in text and "КОМАНДА" in text
    assert "открыть окно программы" in text
    assert main(["scan-cleaning", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert "имена через запятую (по умолчанию: temp,cache,browsers,apps,custom)" in text
    assert main(["--lang", "en", "--help"]) == 0
    assert "show this help message and exit" in capsys.readouterr().out


def _comparable(data: Any) -> Any:
    """The data without timings and report ids, which differ from run to run."""
    if isinstance(data, dict):
        return {k: _comparable(v) for k, v in data.items() if k not in ("duration_s", "id", "started", "finished")}
    if isinstance(data, list):
        return [_comparable(v) for v in data]
    return data


@pytest.mark.parametrize(
    "argv",
    [
        ["list-categories"],
        ["scan-cleaning", "--categories", "temp,cache,browsers,apps", "--max-items", "-1"],
        ["scan-cleaning", "--categories", "nope"],
        ["exclusions", "remove", "/never/added"],
        ["scan-startup", "--category", "bogus"],
        ["frobnicate"],
        ["apply-cleaning", "--categories", "temp"],
    ],
)
def test_json_is_the_same_whatever_the_language(
    fx: FixtureHome, monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    root = ["--root", str(fx.root)] if argv[0] in ("scan-cleaning", "apply-cleaning") else []
    english = run(*argv, *root, "--json")
    monkeypatch.setenv("LANG", "ru_RU.UTF-8")
    russian_env = run(*argv, *root, "--json")
    russian_flag = run(*argv, *root, "--json", "--lang", "ru")
    assert english[0] == russian_env[0] == russian_flag[0]
    data = [_comparable(json.loads(r[1])) for r in (english, russian_env, russian_flag)]
    assert data[0] == data[1] == data[2]
    assert not re.search("[а-яё]", english[1] + russian_env[1] + russian_flag[1], re.I)


def test_module_entry_point_speaks_the_environment_s_language(iso_env: Path) -> None:
    env = {**os.environ, "LANG": "ru_RU.UTF-8"}
    r = subprocess.run(
        [sys.executable, "-m", "cleaner", "exclusions", "list"], capture_output=True, text=True, cwd=REPO, env=env
    )
    assert r.returncode == 0 and r.stdout.strip() == "исключений нет"
    r = subprocess.run(
        [sys.executable, "-m", "cleaner", "frobnicate"], capture_output=True, text=True, cwd=REPO, env=env
    )
    assert r.returncode == 2 and "недопустимое значение: 'frobnicate'" in r.stderr


def test_progress_bar_in_russian() -> None:
    from cleaner.cli import ProgressBar
    from cleaner.scan import Progress

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    i18n.use("ru")
    stream = Tty()
    bar = ProgressBar(stream, enabled=True)
    bar.scan(Progress("cache", 1234, 5 * 1024**2, 1, 2))
    bar.apply(10, 10)
    text = stream.getvalue()
    assert "50,0% cache" in text and "1\u00a0234 элемента" in text and "5,0\u00a0МБ" in text
    assert "удаление 10/10" in text
