"""The build of the core in use: pure Python by default, compiled with mypyc as an option.

``./do_install --compiled`` compiles the hot modules (tools/compile_core.py);
the same suites must pass on either build.  ``LINESOCK_BUILD`` (``pure`` or
``compiled``) names the build a run means to test: ./do_ver sets ``pure``,
CI's compiled run ``compiled``, so neither can pass on the other build.
"""

from __future__ import annotations

import ast
import os

import pytest

from support import core_build
from support.compiled import compile_tool, compiled_modules, core_modules


def test_the_core_is_wholly_pure_or_wholly_compiled() -> None:
    """Either every core module is compiled or none is: a partial build tests neither."""
    assert core_build() in {"pure", "compiled"}, f"compiled: {compiled_modules()}"


def test_the_build_in_use_is_the_one_the_run_asked_for() -> None:
    """With LINESOCK_BUILD set, the core is of that build."""
    expected = os.environ.get("LINESOCK_BUILD")
    if expected is None:
        pytest.skip("LINESOCK_BUILD is not set: this run asked for no build in particular")
    hint = "./do_install --compiled" if expected == "compiled" else "./do_install"
    assert core_build() == expected, f"the core is {core_build()}; {hint} makes it {expected}"


def test_a_compiled_core_matches_its_sources() -> None:
    """A compiled module is never older than its source: an edit since the build fails here."""
    state = compile_tool().status()
    assert state != "stale", (
        "the compiled core was built from other sources than these; rebuild it with "
        "./do_install --compiled, or go back to pure Python with ./do_install"
    )


def test_the_compiled_modules_chain_no_exception_with_from() -> None:
    """No ``raise ... from ...`` in a compiled module: mypyc's build drops the cause.

    (mypyc 2.4.1: the exception raised has no ``__cause__``.)  The rest of
    linesock chains freely; these modules must stay the same on both builds.
    """
    package = compile_tool().PACKAGE
    chained = [
        f"{name}.py:{node.lineno}"
        for name in core_modules()
        for node in ast.walk(ast.parse((package / f"{name}.py").read_text(encoding="utf-8")))
        if isinstance(node, ast.Raise) and node.cause is not None
    ]
    assert not chained, f"raise ... from in compiled modules: {chained}"
