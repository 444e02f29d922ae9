"""Which build of linesock's core the tests run against: pure Python, or compiled with mypyc.

tools/compile_core.py (``./do_install --compiled``) names the compiled
modules and builds them; this module asks the interpreter which of them
it imported as extension modules.
"""

from __future__ import annotations

import importlib
import importlib.util
import sysconfig
from pathlib import Path
from types import ModuleType

_TOOL = Path(__file__).resolve().parents[2] / "tools" / "compile_core.py"


def compile_tool() -> ModuleType:
    """tools/compile_core.py, imported (it is a script, not a package module)."""
    spec = importlib.util.spec_from_file_location("compile_core", _TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def core_modules() -> tuple[str, ...]:
    """The modules of linesock that the compiled build compiles (``_framing``, ...)."""
    return tuple(str(name) for name in compile_tool().COMPILED_MODULES)


def compiled_modules() -> list[str]:
    """Those of :func:`core_modules` that this interpreter imported as extension modules."""
    suffix = str(sysconfig.get_config_var("EXT_SUFFIX"))
    return [
        name
        for name in core_modules()
        if str(importlib.import_module(f"linesock.{name}").__file__).endswith(suffix)
    ]


def core_build() -> str:
    """``compiled`` when every core module is compiled, ``pure`` when none is, else ``mixed``."""
    compiled = compiled_modules()
    if not compiled:
        return "pure"
    return "compiled" if len(compiled) == len(core_modules()) else "mixed"
