"""docs/faults.md's programs run: the first prints what its comments say, the second passes.

The first python block is a script: each line it prints must equal the
comment of its print call.  The second is the page's worked example, a
pytest file: it runs under pytest in a fresh process and must pass.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parent.parent / "docs" / "faults.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```$", PAGE.read_text(), re.DOTALL | re.MULTILINE)
WAIT = 60

pytestmark = pytest.mark.srs("SRS-217")


def test_the_page_has_its_two_programs() -> None:
    """The short example, then the worked example."""
    assert len(BLOCKS) == 2
    assert "def test_the_third_reading_times_out" in BLOCKS[1]


def test_the_short_example_prints_what_it_promises(tmp_path: Path) -> None:
    """Run the first block as a script; each printed line equals its comment."""
    script = tmp_path / "example.py"
    script.write_text(BLOCKS[0])
    promised = re.findall(r"^\s*print\(.*\)\s+# (.*)$", BLOCKS[0], re.MULTILINE)
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=WAIT, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == promised


def test_the_worked_example_passes_under_pytest(tmp_path: Path) -> None:
    """The driver-retries example is a pytest file that passes (PyVISA and pyvisa-py needed)."""
    pytest.importorskip("pyvisa_py", reason="the worked example drives pyvisa-py")
    (tmp_path / "test_retry.py").write_text(BLOCKS[1])
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_retry.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
