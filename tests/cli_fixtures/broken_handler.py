"""A handler module whose own import fails: it needs a module that does not exist.

``linesock serve broken_handler:handler`` must show this module's traceback,
not claim that ``broken_handler`` itself is missing.
"""

from __future__ import annotations

import importlib

importlib.import_module("linesock_test_missing_dependency")


def handler(command: str) -> str:
    """Never reached."""
    return command
