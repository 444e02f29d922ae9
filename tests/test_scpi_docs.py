"""docs/instruments.md's examples run, and print what their comments say they print.

The page marks a block that is a file with ``<!-- file: NAME -->`` right
before it; those are written to a scratch directory first.  A python block
whose print lines end in ``# EXPECTED`` is a program: it runs there, and
each printed line must equal its comment (all of it after ``# ``).  The
block written as ``test_psu.py`` is a test module: pytest runs it there.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.srs("SRS-179")

PAGE = Path(__file__).resolve().parent.parent / "docs" / "instruments.md"
BLOCK = re.compile(r"(?:<!-- file: (\S+) -->\n)?```python\n(.*?)```", re.DOTALL)
BLOCKS = BLOCK.findall(PAGE.read_text())
FILES = {name: code for name, code in BLOCKS if name}
PROGRAMS = [code for name, code in BLOCKS if not name and re.search(r"print\(.*\)\s+# ", code)]
# A program that imports one of these needs it installed.
PEERS = ("pyvisa", "pymeasure")
WAIT = 60


def expected_output(program: str) -> list[str]:
    """What the program's print lines announce in their comments."""
    return re.findall(r"^\s*print\(.*\)\s+# (.*)$", program, re.MULTILINE)


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    """A directory holding the page's files."""
    for name, code in FILES.items():
        (tmp_path / name).write_text(code)
    return tmp_path


def test_the_page_has_its_examples() -> None:
    """The worked example, its test module and programs for memory, PyVISA and pymeasure."""
    assert set(FILES) == {"psu.py", "test_psu.py"}
    assert len(PROGRAMS) == 3
    assert any("pyvisa.ResourceManager" in program for program in PROGRAMS)
    assert any("SCPIMixin" in program for program in PROGRAMS)


@pytest.mark.parametrize("program", PROGRAMS, ids=["memory-and-server", "pyvisa", "pymeasure"])
def test_a_program_prints_what_it_promises(program: str, scratch: Path) -> None:
    """Run the example as a script next to psu.py; each printed line equals its comment."""
    for peer in PEERS:
        uses = f"import {peer}" in program or f"from {peer}" in program
        if uses and importlib.util.find_spec(peer) is None:
            pytest.skip(f"this example needs {peer}")
    script = scratch / "example.py"
    script.write_text(program)
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=scratch,
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == expected_output(program)


def test_the_reset_fixture_example_passes(scratch: Path) -> None:
    """The page's test module, run by pytest with the linesock plugin, passes its three tests."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_psu.py"],
        cwd=scratch,
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout
