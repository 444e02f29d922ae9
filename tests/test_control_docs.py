"""The Python examples of docs/control.md run as written (the console ones: test_cli_control.py)."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

CONTROL_MD = Path(__file__).resolve().parent.parent / "docs" / "control.md"
BLOCKS = [
    textwrap.dedent(block)
    for block in re.findall(r"^ *```python\n(.*?)^ *```", CONTROL_MD.read_text(), re.M | re.S)
]


@pytest.mark.srs("SRS-219", "SRS-225", "SRS-226")
def test_the_python_examples_of_the_control_docs_run() -> None:
    """Each block runs; the Commands example then trips its supply as the text says."""
    assert len(BLOCKS) == 2
    first: dict[str, object] = {}
    exec(compile(BLOCKS[0], "control.md", "exec"), first)
    namespace: dict[str, object] = {}
    exec(compile(BLOCKS[1], "control.md", "exec"), namespace)
    commands = namespace["commands"]
    assert callable(commands)
    assert commands("volts") == "0.000"
    commands.state["tripped"] = True  # type: ignore[attr-defined]
    assert commands("volts") == "error overcurrent"
    commands.reset()  # type: ignore[attr-defined]
    assert commands("volts") == "0.000"
