"""Build, remove or report the optional compiled core: the hot modules compiled with mypyc.

Usage: ``.venv/bin/python tools/compile_core.py build|clean|status``
(``./do_install --compiled`` runs ``build``, a plain ``./do_install`` runs ``clean``).

The compiled core is an option, never the default: the pure-Python modules
stay the source, and the compiled ones are C extension modules that mypyc
builds from them, placed beside them in ``src/linesock/`` (and mypyc's
shared library of the group in ``src/``).  Python imports an extension
module in preference to the ``.py`` of the same name, so the editable
install of ``./do_install`` picks them up with nothing else to do; ``clean``
removes them and linesock is pure Python again.

* ``build`` compiles :data:`COMPILED_MODULES` with the mypyc of ``.venv``
  (mypy's, pinned in constraints/dev.txt) and the C compiler Python was
  built with, and writes a stamp with the hash of each source.  Where that
  fails (no compiler, no Python headers) it removes what it began, says
  why, and exits 1: linesock then stays pure Python.
* ``clean`` removes the compiled modules and the stamp.
* ``status`` prints ``pure``, ``compiled`` or ``stale`` (a source changed
  since the build: the extension no longer matches it) and exits 1 for
  ``stale``.  tests/test_core_build.py makes the same check in every run.

The generated C and the object files go to ``out/compiled-core/``.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"
PACKAGE = SRC / "linesock"
#: The modules compiled: the framer, the session and what it calls per read.
#: (``_delimited`` and ``_config`` were measured as well: nothing more per
#: read, and they hold public classes users build and extend.)
COMPILED_MODULES = (
    "_framing",
    "_protocol",
    "_session_plain",
    "_session_paths",
    "_session_faults",
    "_answers",
    "_access",
    "_wire",
)
#: mypyc's shared library of the group, a top-level module beside the package
#: (inside it, mypyc gives the modules wrong ``__file__`` paths).
GROUP = "linesock_core"
STAMP = PACKAGE / "_core_build.json"
BUILD_DIR = ROOT / "out" / "compiled-core"


def source_hashes() -> dict[str, str]:
    """The sha256 of each compiled module's source, by module name."""
    return {
        name: hashlib.sha256((PACKAGE / f"{name}.py").read_bytes()).hexdigest()
        for name in COMPILED_MODULES
    }


def compiled_files() -> list[Path]:
    """The extension modules of a compiled build present in the package, and its stamp."""
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    found = [PACKAGE / f"{name}{suffix}" for name in COMPILED_MODULES]
    found += [SRC / f"{GROUP}__mypyc{suffix}", STAMP]
    return [path for path in found if path.exists()]


def status() -> str:
    """``pure``, ``compiled``, or ``stale`` (built from other sources than the current ones)."""
    if not compiled_files():
        return "pure"
    if not STAMP.exists():
        return "stale"
    built = json.loads(STAMP.read_text(encoding="utf-8"))
    return "compiled" if built.get("sources") == source_hashes() else "stale"


def clean() -> None:
    """Remove the compiled modules and the stamp; say so if there were any."""
    removed = compiled_files()
    for path in removed:
        path.unlink()
    if removed:
        print(f"compile_core: removed the compiled core ({len(removed)} files)")


def build() -> int:
    """Compile the core in place; on failure remove what was begun and return 1."""
    clean()
    try:
        from mypyc.build import mypycify  # noqa: PLC0415 - only a build needs it
        from setuptools import setup  # noqa: PLC0415
    except ImportError as exc:
        print(f"compile_core: cannot build the compiled core: {exc}", file=sys.stderr)
        return 1
    hashes = source_hashes()
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    # From src/, so that the paths name the modules and setuptools finds no
    # pyproject.toml of its own to read; mypy reads the project's settings.
    os.chdir(SRC)
    try:
        extensions = mypycify(
            [
                "--config-file",
                str(ROOT / "pyproject.toml"),
                *(f"linesock/{name}.py" for name in COMPILED_MODULES),
            ],
            target_dir=str(BUILD_DIR / "c"),
            group_name=GROUP,
        )
        setup(
            name="linesock-compiled-core",
            ext_modules=extensions,
            script_args=[
                "--quiet",
                "build_ext",
                "--inplace",
                "--build-temp",
                str(BUILD_DIR / "temp"),
            ],
        )
    except (Exception, SystemExit) as exc:  # a compiler missing or failing, mypyc refusing
        clean()
        print(
            f"compile_core: could not build the compiled core: {exc} "
            "(mypyc needs a C compiler and the Python headers: gcc or clang, python3-dev)",
            file=sys.stderr,
        )
        return 1
    finally:
        os.chdir(ROOT)
    if source_hashes() != hashes:  # edited during the build: the result matches neither
        clean()
        print("compile_core: a source changed during the build; run it again", file=sys.stderr)
        return 1
    STAMP.write_text(json.dumps({"sources": hashes}, indent=1) + "\n", encoding="utf-8")
    print(f"compile_core: compiled {', '.join(COMPILED_MODULES)} with mypyc")
    return 0


def main(argv: list[str]) -> int:
    """Run the command *argv* names."""
    command = argv[0] if len(argv) == 1 else ""
    if command == "build":
        return build()
    if command == "clean":
        clean()
        return 0
    if command == "status":
        state = status()
        print(state)
        return 1 if state == "stale" else 0
    print("usage: tools/compile_core.py build|clean|status", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
