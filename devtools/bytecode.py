"""Our own bytecode into a built AWS package: `python3.12 -m devtools.bytecode <zip> <version>` (the osls plugin
deploy/osls-operations.js runs it once the package's zip holds its sources and requirements).

Lambda's code directory is read-only, so a package without .pyc compiles every imported module on every cold
start (about 100 ms for the Discord function). Each of our .py files in the zip (main.py, functions/, webhooks/,
ttfd/) gets its `__pycache__/<name>.cpython-312.pyc`, compiled here from the zip's own text — never a working
tree's __pycache__, which may be stale or another Python's — as an unchecked-hash pyc: it records the source's
hash and the importer trusts it without reading the source again, which is right for files that never change
after packaging. The Python running this must be the runtime's (`version`, "3.12"): bytecode is per minor.
"""

from __future__ import annotations

import importlib.util
import py_compile
import sys
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

OURS = ("main.py", "functions/", "webhooks/", "ttfd/")


def cached_name(source: str) -> str:
    """The zip path of a source's bytecode, as this Python's importer looks for it."""
    return PurePosixPath(importlib.util.cache_from_source(source)).as_posix()


def add_bytecode(package: Path) -> int:
    """Compile every one of our sources inside `package` (a zip) and add its .pyc; the count added."""
    with zipfile.ZipFile(package) as z:
        names = set(z.namelist())
        sources = {n: z.read(n) for n in sorted(names) if n.endswith(".py") and n.startswith(OURS)}
    added = 0
    with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(package, "a", zipfile.ZIP_DEFLATED) as z:
        for name, text in sources.items():
            target = cached_name(name)
            if target in names:
                raise SystemExit(f"{package} already holds {target}: built from a stale __pycache__?")
            src, pyc = Path(tmp) / "src.py", Path(tmp) / "out.pyc"
            src.write_bytes(text)
            py_compile.compile(
                str(src),
                cfile=str(pyc),
                dfile=name,
                doraise=True,
                invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
            )
            info = zipfile.ZipInfo(target, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, pyc.read_bytes())
            added += 1
    return added


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m devtools.bytecode <package.zip> <runtime version, e.g. 3.12>", file=sys.stderr)
        return 2
    package, version = Path(argv[0]), argv[1]
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    if running != version:
        print(f"bytecode for python{version} needs that Python; this is {running}", file=sys.stderr)
        return 1
    print(f"{add_bytecode(package)} modules compiled into {package}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
