"""Shared pytest configuration: the --run-slow switch behind ./do_ver --slow, and ``serve``."""

from __future__ import annotations

import pytest

from frontends import FRONT_ENDS, serve_fixture
from support import core_build

# The requirements traceability report of ./do_ver (see tests/traceability.py).
pytest_plugins = ["traceability"]


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add --run-slow, which ./do_ver --slow passes to include the tests marked slow."""
    parser.addoption(
        "--run-slow",
        action="store_true",
        default=False,
        help="also run the tests marked slow (long soak and huge-input tests)",
    )


#: How the header of a run names each build of the core.
_BUILDS = {
    "pure": "pure Python",
    "compiled": "compiled with mypyc (./do_install --compiled)",
    "mixed": "partly compiled (rebuild with ./do_install --compiled)",
}


def pytest_report_header() -> str:
    """Say which build of the core the run tests."""
    return f"linesock core: {_BUILDS[core_build()]}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the tests marked slow unless --run-slow was given."""
    if config.getoption("--run-slow"):
        return
    skip_slow = pytest.mark.skip(reason="slow test: run with ./do_ver --slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)


#: ``serve``: each test that takes it runs once per front end of FRONT_ENDS
#: (tests/frontends.py has the details; test_protocol.py adds compat).
serve = serve_fixture(FRONT_ENDS)
