"""A pytest plugin for testing linesock handlers over real sockets.

Installing linesock registers it (the ``pytest11`` entry point ``linesock``);
there is nothing to import.  Name your handler and ask for a connected
client::

    import pytest
    import linesock
    from rig import commands

    pytestmark = pytest.mark.linesock(handler=commands)


    def test_set_then_get(linesock_client: linesock.Client) -> None:
        assert linesock_client.request("set 1 2.5") == ["ok"]
        assert linesock_client.request("get 1") == ["2.5"]

The fixtures (all function-scoped):

* ``linesock_handler``: the handler to serve.  Name it with the marker
  ``@pytest.mark.linesock(handler=...)`` (on the test, its class, or its
  module's ``pytestmark``), or override the fixture; with neither, the test
  fails with a message saying so.
* ``linesock_server_kind``: ``"threaded"`` (:class:`linesock.Server`) or
  ``"asyncio"`` (:func:`linesock.aio.start_server` on an event loop in a
  thread of its own): the marker's ``kind=``, else the ini option
  ``linesock_server_kind`` (``"threaded"`` unless set).  Override or
  parametrize the fixture to choose otherwise.
* ``linesock_server_options``: keyword options for the server (any
  :class:`linesock.ServerConfig` field): the marker's other keywords, else
  none.
* ``linesock_server``: a :class:`RunningServer` serving the handler on a free
  port of 127.0.0.1: ``linesock_server.faults`` injects faults into the
  served session (docs/faults.md), ``linesock_server.kick()`` ends it, and
  with the option ``control_port=0`` ``linesock_server.control_port`` is its
  control port (docs/control.md).
* ``linesock_client``: a :class:`linesock.Client` connected to it (it sends
  the ``token`` option, if any, for you).
* ``linesock_serve``: a factory, ``linesock_serve(handler, kind=None,
  **options) -> RunningServer``, for tests that need several servers or
  their own options.

A pyvisa-sim device file is served with the marker
``@pytest.mark.linesock(device_file="devices/rig.yaml", device="psu")``
(a relative path is relative to the test's module): ``linesock_handler`` is
then that device (:mod:`linesock.sim`), loaded once per test run and reset
to the file's state before each test, and the servers take its
terminators, as :func:`start_test_server` does for any
:class:`~linesock.sim.SimulatedDevice`.

Every server a test started is stopped when the test ends, whether it passed
or failed, its faults cleared first: the listening port is closed and the
serving thread (or event loop thread) has ended before the next test runs.
A server that does not stop within ``STOP_TIMEOUT`` (a handler blocked
forever) makes the teardown fail with an error that says so.
:func:`start_test_server` does the same outside pytest's fixtures.
docs/testing.md has a complete example.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final, Protocol, cast

import pytest

from ._client import Client
from ._config import Handler
from ._test_servers import (
    KINDS,
    START_TIMEOUT,
    STOP_TIMEOUT,
    RunningServer,
    ServerKind,
    start_server,
    start_test_server,
)
from .sim import SimulatedDevice, load_device

__all__ = [
    "KINDS",
    "START_TIMEOUT",
    "STOP_TIMEOUT",
    "RunningServer",
    "ServeFactory",
    "ServerKind",
    "start_server",
    "start_test_server",
]

_INI_KIND: Final = "linesock_server_kind"
_MARKER: Final = "linesock"
# The marker's keywords that choose the handler rather than a server option.
_HANDLER_KEYWORDS: Final = ("handler", "kind", "device_file", "device")
# The devices the marker's device_file loaded, by (path, device), for the test run.
_LOADED_DEVICES: Final = pytest.StashKey[dict[tuple[Path, str | None], SimulatedDevice]]()


class ServeFactory(Protocol):
    """The type of the ``linesock_serve`` fixture, for annotating tests that use it."""

    def __call__(
        self, handler: Handler, kind: ServerKind | None = None, **options: Any
    ) -> RunningServer:
        """Serve *handler* until the test ends (kind: ``linesock_server_kind`` unless given)."""


# -- the pytest plugin ----------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    """Declare the ini option that picks the default server kind."""
    parser.addini(
        _INI_KIND,
        "the server the linesock fixtures start: threaded (default) or asyncio",
        default="threaded",
    )


def pytest_configure(config: pytest.Config) -> None:
    """Declare the ``linesock`` marker (so ``--strict-markers`` knows it)."""
    config.addinivalue_line(
        "markers",
        f"{_MARKER}(handler=..., kind=..., device_file=..., device=..., **options): the "
        "handler (or pyvisa-sim device), server kind and server options the linesock "
        "fixtures use for the marked tests",
    )


def _marked(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The keywords of the ``linesock`` markers on the test, its class and module; closest wins."""
    merged: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers(_MARKER))):
        if marker.args:
            pytest.fail(
                f"@pytest.mark.{_MARKER} takes keywords only (handler=..., kind=..., and "
                f"server options); got {marker}",
                pytrace=False,
            )
        merged.update(marker.kwargs)
    return merged


@pytest.fixture
def linesock_handler(request: pytest.FixtureRequest) -> Handler:
    """The handler the linesock fixtures serve: the ``linesock`` marker's ``handler``, or override.

    Mark a test, a class or a module (``pytestmark``) with
    ``@pytest.mark.linesock(handler=...)``, or define a fixture of this name
    that returns the handler (a fresh one per test, if it keeps state).
    ``device_file=`` (and ``device=``, the device's name) serves a pyvisa-sim
    device instead, reset to the file's state for each test.
    """
    marked = _marked(request)
    if "device_file" in marked:
        return _marked_device(request, marked["device_file"], marked.get("device"))
    handler = marked.get("handler")
    if handler is None:
        pytest.fail(
            "the linesock fixtures serve the handler the linesock_handler fixture returns: "
            "mark the test with @pytest.mark.linesock(handler=...), or define a fixture "
            "named linesock_handler (in the test module or a conftest.py) that returns it",
            pytrace=False,
        )
    if not callable(handler):
        pytest.fail(
            f"@pytest.mark.{_MARKER}(handler=...) got {handler!r}, which is not callable",
            pytrace=False,
        )
    return cast("Handler", handler)


def _marked_device(
    request: pytest.FixtureRequest, device_file: str | Path, device: str | None
) -> SimulatedDevice:
    """The marker's pyvisa-sim device, loaded once per test run, reset for this test."""
    path = Path(device_file)
    if not path.is_absolute():
        path = request.path.parent / path
    loaded = request.config.stash.setdefault(_LOADED_DEVICES, {})
    key = (path.resolve(), device)
    if key in loaded:
        loaded[key].reset()
    else:
        loaded[key] = load_device(path, device)
    return loaded[key]


@pytest.fixture
def linesock_server_kind(request: pytest.FixtureRequest) -> ServerKind:
    """The server kind the fixtures start: the marker's ``kind``, else the ini option's."""
    marked = _marked(request)
    kind = marked.get("kind", request.config.getini(_INI_KIND))
    if kind not in KINDS:
        where = "the linesock marker's kind" if "kind" in marked else f"the ini option {_INI_KIND}"
        pytest.fail(f"{where} is {kind!r}; use one of {', '.join(KINDS)}", pytrace=False)
    return cast("ServerKind", kind)


@pytest.fixture
def linesock_server_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Options for the server ``linesock_server`` starts: the marker's other keywords, if any."""
    marked = _marked(request)
    return {name: value for name, value in marked.items() if name not in _HANDLER_KEYWORDS}


@pytest.fixture
def linesock_serve(linesock_server_kind: ServerKind) -> Iterator[ServeFactory]:
    """A factory that serves a handler until the test ends: ``serve(handler, kind, **options)``."""
    started: list[RunningServer] = []

    def serve(handler: Handler, kind: ServerKind | None = None, **options: Any) -> RunningServer:
        running = start_test_server(handler, kind or linesock_server_kind, **options)
        started.append(running)
        return running

    yield serve
    failures: list[RuntimeError] = []
    for running in reversed(started):
        running.faults.clear()  # no fault outlives its test, whatever the server's scope
        try:
            running.stop()
        except RuntimeError as exc:
            failures.append(exc)
    if failures:
        raise failures[0]


@pytest.fixture
def linesock_server(
    linesock_serve: ServeFactory,
    linesock_handler: Handler,
    linesock_server_options: dict[str, Any],
) -> RunningServer:
    """A server of ``linesock_server_kind`` serving ``linesock_handler`` on a free loopback port."""
    return linesock_serve(linesock_handler, **linesock_server_options)


@pytest.fixture
def linesock_client(linesock_server: RunningServer) -> Iterator[Client]:
    """A :class:`linesock.Client` connected to ``linesock_server``; closed when the test ends."""
    config = linesock_server.config
    if config.terminator != "lf" or config.answer_terminator == "cr":
        pytest.fail(
            f"linesock.Client speaks LF, and this server ends commands with "
            f"{config.terminator.upper()} and answers with {config.answer_terminator.upper()}: "
            "talk to linesock_server.port with a client that speaks them (PyVISA's "
            "TCPIP0::127.0.0.1::PORT::SOCKET, say)",
            pytrace=False,
        )
    client = linesock_server.connect()
    try:
        yield client
    finally:
        with contextlib.suppress(OSError):
            client.close()
