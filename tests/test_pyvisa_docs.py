"""docs/pyvisa.md's programs run, and print what their comments say they print.

Every python block of the page is a program: it runs as a script, and each
line it prints must equal the comment of its print call (all of it after
``# ``).  A program that uses the busy policy (``busy=``, ``max_wait=``)
skips while :class:`linesock.ServerConfig` has no ``busy`` field.  The
page's recipes are also the ones the PyVISA tests use (tests/visa_sessions.py).
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

import linesock
import visa_sessions

pytestmark = pytest.mark.srs("SRS-196")

PAGE = Path(__file__).resolve().parent.parent / "docs" / "pyvisa.md"
BLOCK = re.compile(r"^## ([^\n]+)$|^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)
WAIT = 60


def programs() -> dict[str, str]:
    """The page's python blocks, named by their section (and a number after the first)."""
    found: dict[str, str] = {}
    section = "top"
    for match in BLOCK.finditer(PAGE.read_text()):
        heading, code = match.groups()
        if heading is not None:
            section = re.sub(r"[^a-z0-9]+", "-", heading.lower()).strip("-")
            continue
        name = section
        number = 2
        while name in found:
            name = f"{section}-{number}"
            number += 1
        found[name] = code
    return found


PROGRAMS = programs()


def expected_output(program: str) -> list[str]:
    """What the program's print lines announce in their comments."""
    return re.findall(r"^\s*print\(.*\)\s+# (.*)$", program, re.MULTILINE)


def test_the_page_has_a_program_for_each_part_of_the_recipe() -> None:
    """The resource, terminations, multi-line answers, resync, token, closes and busy policy."""
    assert list(PROGRAMS) == [
        "the-resource",
        "terminations",
        "answers-of-several-lines",
        "getting-back-in-step",
        "the-token",
        "when-the-server-closes-the-connection",
        "a-second-client-while-one-is-served",
    ]
    assert all(expected_output(program) for program in PROGRAMS.values())


@pytest.mark.parametrize("name", list(PROGRAMS))
def test_a_program_prints_what_it_promises(name: str, tmp_path: Path) -> None:
    """Run the example as a script; each printed line equals its comment."""
    program = PROGRAMS[name]
    busy_fields = {"busy", "max_wait"} & {f.name for f in dataclasses.fields(linesock.ServerConfig)}
    if re.search(r"\b(busy|max_wait)=", program) and not busy_fields:
        pytest.skip("busy policy not merged yet")
    script = tmp_path / "example.py"
    script.write_text(program)
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == expected_output(program)


def function_body(source: str, name: str) -> list[str]:
    """The statements of function *name* in *source*, its docstring left out, as ``ast`` dumps."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return [ast.dump(statement) for statement in node.body[1:]]
    raise AssertionError(f"no function {name} in the source")


@pytest.mark.parametrize("name", ["request", "resynchronise"])
def test_the_tests_use_the_pages_recipes(name: str) -> None:
    """``request`` and ``resynchronise`` do on the page what the tests' copies do."""
    tests_copy = function_body(inspect.getsource(visa_sessions), name)
    pages = [function_body(p, name) for p in PROGRAMS.values() if f"def {name}(" in p]
    assert pages == [tests_copy]
