"""docs/instruments.md's pyvisa-sim section: its device file, its PyVISA program, its test module.

The section writes its Python blocks as ```` ```py ```` (the SCPI part's
checks read the ```` ```python ```` ones).  A block right after
``<!-- file: NAME -->`` is a file, written to a scratch directory with the
others; the program's print lines must print their comments.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pyvisa_sim", reason="serving device files needs pyvisa-sim")
pytest.importorskip("pyvisa_py", reason="the example drives the device with PyVISA's @py")

from linesock.sim import DeviceFile

pytestmark = pytest.mark.srs("SRS-206")

PAGE = Path(__file__).resolve().parent.parent / "docs" / "instruments.md"
SECTION = PAGE.read_text().partition("\n## Serving a pyvisa-sim device file\n")[2]
BLOCK = re.compile(r"(?:<!-- file: (\S+) -->\n)?```(py|yaml)\n(.*?)```", re.DOTALL)
BLOCKS = BLOCK.findall(SECTION)
FILES = {name: code for name, _, code in BLOCKS if name}
PROGRAMS = [code for name, kind, code in BLOCKS if kind == "py" and not name]
WAIT = 60


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    """A directory holding the section's files."""
    for name, code in FILES.items():
        (tmp_path / name).write_text(code)
    return tmp_path


def test_the_section_has_its_examples() -> None:
    """The device file, the PyVISA program and the test module are all there."""
    assert set(FILES) == {"bench.yaml", "test_bench.py"}
    assert len(PROGRAMS) == 1


def test_the_device_file_is_what_the_section_says(scratch: Path) -> None:
    """bench.yaml maps psu and dmm to ports 5025 and 5026, LF and CR LF."""
    device_file = DeviceFile(scratch / "bench.yaml")
    assert [(r.device, r.port) for r in device_file.socket_resources] == [
        ("psu", 5025),
        ("dmm", 5026),
    ]
    assert device_file.device("dmm").server_options == {
        "terminator": "crlf",
        "answer_terminator": "crlf",
    }


def test_the_pyvisa_program_prints_what_it_promises(scratch: Path) -> None:
    """The program, run next to bench.yaml, prints each line its comments announce."""
    (program,) = PROGRAMS
    (scratch / "example.py").write_text(program)
    result = subprocess.run(
        [sys.executable, "example.py"],
        cwd=scratch,
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    promised = re.findall(r"^\s*print\(.*\)\s+# (.*)$", program, re.MULTILINE)
    assert result.stdout.splitlines() == promised


def test_the_test_module_passes(scratch: Path) -> None:
    """test_bench.py, run by pytest with the linesock plugin, passes both its tests."""
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_bench.py"],
        cwd=scratch,
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
