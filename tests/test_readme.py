"""The README's runnable examples run, and print what their comments say they print."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
# A python block that is a whole program: it prints, and says what in a comment.
PROGRAMS = [
    block
    for block in re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
    if re.search(r"print\(.*\)\s*# ", block)
]


def expected_output(program: str) -> list[str]:
    """The values the program's print lines announce in their comments (up to a colon)."""
    return [
        comment.split(":")[0].strip() for comment in re.findall(r"print\(.*\)\s*#\s*(.*)", program)
    ]


def test_the_readme_has_a_threaded_and_an_asyncio_program() -> None:
    """Both API families are shown as runnable programs."""
    assert any("linesock.Server(" in program for program in PROGRAMS)
    assert any("linesock.aio.start_server(" in program for program in PROGRAMS)


@pytest.mark.parametrize("program", PROGRAMS, ids=lambda p: p.split("\n", 1)[0][:30])
def test_a_readme_program_prints_what_it_promises(program: str, tmp_path: Path) -> None:
    """Run the example as a script; each printed line equals its comment."""
    script = tmp_path / "example.py"
    script.write_text(program)
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == expected_output(program)
