"""Shared pytest configuration: the --run-slow switch behind ./do_ver --slow."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from frontends import FRONT_ENDS, RunningServer

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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the tests marked slow unless --run-slow was given."""
    if config.getoption("--run-slow"):
        return
    skip_slow = pytest.mark.skip(reason="slow test: run with ./do_ver --slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)


@pytest.fixture(params=sorted(FRONT_ENDS))
def serve(request: pytest.FixtureRequest) -> Iterator[Callable[..., RunningServer]]:
    """Start servers of one front end (each test runs once per front end); stop them after.

    Call it as ``serve()`` for the protocol handler, ``serve("name", **options)``
    for another handler in tests/handlers.py or other server options.
    """
    started: list[RunningServer] = []

    def start(handler_name: str = "protocol_handler", **options: Any) -> RunningServer:
        running = FRONT_ENDS[request.param](handler_name, **options)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()
