"""The servers the pytest plugin starts: :func:`start_test_server` and :class:`RunningServer`.

Kept apart from :mod:`linesock.testing` (the fixtures and the marker), which
re-exports every public name here.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, Final, Literal

from . import aio
from ._client import Client
from ._config import Handler, ServerConfig, ServerStats
from ._faults import Faults
from ._server import Server
from .sim import SimulatedDevice

__all__ = [
    "KINDS",
    "START_TIMEOUT",
    "STOP_TIMEOUT",
    "RunningServer",
    "ServerKind",
    "start_server",
    "start_test_server",
]

#: How a server is run: :class:`linesock.Server`, or linesock.aio on its own loop thread.
ServerKind = Literal["threaded", "asyncio"]
#: Every server kind, in the order tests parametrised over all of them run.
KINDS: Final[tuple[ServerKind, ...]] = ("threaded", "asyncio")
#: Seconds a server may take to listen; a slow CI machine needs far less.
START_TIMEOUT: Final = 10.0
#: Seconds a server may take to stop; only a handler that blocks takes longer.
STOP_TIMEOUT: Final = 10.0


class RunningServer:
    """A server started for a test: where it listens, its counters, and how to stop it.

    Use :attr:`port` (or :attr:`address`) to connect, :meth:`connect` for a
    connected :class:`~linesock.Client`, :attr:`stats` for the server's
    counters, :attr:`faults` to inject faults into the served session,
    :meth:`kick` to end it, :attr:`control_port` (with the ``control_port``
    option) for its control port, and :meth:`stop` to stop it before the
    test ends (the fixtures stop it anyway).  ``with start_test_server(...)
    as running:`` stops it at the end of the block.
    """

    def __init__(
        self,
        kind: ServerKind,
        address: tuple[str, int],
        stats: ServerStats,
        token: str | None,
        stop: Callable[[float], bool],
        *,
        config: ServerConfig | None = None,
        faults: Faults | None = None,
        kick: Callable[[], bool] | None = None,
        control_address: tuple[str, int] | None = None,
    ) -> None:
        """Describe a server already listening; *stop* stops it, True if it stopped in time."""
        self.kind: Final = kind
        self.address: Final = address
        self.stats: Final = stats
        #: The faults injected into the served session (``server.faults``);
        #: the fixtures clear them when the test ends.
        self.faults: Final = Faults() if faults is None else faults
        #: Where the control port listens (the ``control_port`` option); None without one.
        self.control_address: Final = control_address
        self._kick = kick
        #: The server's settings (its terminators, say); the defaults if not given.
        self.config: Final = ServerConfig() if config is None else config
        self._token = token
        self._stop = stop
        self._lock = threading.Lock()
        self._stopped = False

    @property
    def host(self) -> str:
        """The address the server listens on (127.0.0.1 unless given another)."""
        return self.address[0]

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return self.address[1]

    @property
    def control_port(self) -> int | None:
        """The port of the control port (the ``control_port`` option, 0 for a free one), or None."""
        return None if self.control_address is None else self.control_address[1]

    def kick(self) -> bool:
        """End the served client's session now (a plain close); False if none is served."""
        return self._kick is not None and self._kick()

    @property
    def is_stopped(self) -> bool:
        """True once :meth:`stop` has stopped the server."""
        return self._stopped

    def connect(self, **client_options: Any) -> Client:
        """Return a :class:`~linesock.Client` connected to this server; close it when done.

        *client_options* go to :class:`~linesock.Client` (``timeout``, say);
        the server's ``token``, if it has one, is passed unless given.
        """
        client_options.setdefault("token", self._token)
        client = Client(self.host, self.port, **client_options)
        client.connect()
        return client

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop the server and wait until it has stopped (idempotent).

        Raises:
            RuntimeError: it still runs after *timeout* seconds (a handler
                blocked in a call that never returns, for instance).
        """
        with self._lock:
            if self._stopped:
                return
            if not self._stop(timeout):
                raise RuntimeError(
                    f"the {self.kind} linesock server on port {self.port} did not stop "
                    f"within {timeout:g} s; is a handler blocked?"
                )
            self._stopped = True

    def __enter__(self) -> RunningServer:
        """Return the running server."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop the server."""
        self.stop()

    def __repr__(self) -> str:
        """Show the kind and where it listens."""
        state = "stopped" if self._stopped else "running"
        return f"<linesock.testing.RunningServer {self.kind} {self.host}:{self.port} {state}>"


def start_test_server(
    handler: Handler, kind: ServerKind = "threaded", *, host: str = "127.0.0.1", **options: Any
) -> RunningServer:
    """Serve *handler* on a free port in the background; returns once clients can connect.

    Args:
        handler: the handler to serve (a function, a :class:`~linesock.Commands`...).
        kind: ``"threaded"`` for :class:`linesock.Server`; ``"asyncio"`` for
            :func:`linesock.aio.start_server`, run on a new event loop in a
            thread of its own (``async def`` handlers need it).
        host: the address to listen on.
        **options: any field of :class:`linesock.ServerConfig`.  A
            :class:`~linesock.sim.SimulatedDevice` is served with the
            terminators of its eom unless they are given.
    """
    if isinstance(handler, SimulatedDevice):
        options = {**handler.server_options, **options}
    if kind == "threaded":
        return _start_threaded(handler, host, options)
    if kind == "asyncio":
        return _start_asyncio(handler, host, options)
    raise ValueError(f"unknown linesock server kind {kind!r}; use one of {', '.join(KINDS)}")


#: The 0.1.0 name of :func:`start_test_server` (it clashed with ``aio.start_server``).
start_server = start_test_server


def _start_threaded(handler: Handler, host: str, options: dict[str, Any]) -> RunningServer:
    """Start a :class:`linesock.Server` on its background thread."""
    server = Server(handler, host, 0, **options)
    server.start()

    def stop(timeout: float) -> bool:
        server.stop(timeout)
        return not server.is_running

    return RunningServer(
        "threaded",
        server.address,
        server.stats,
        server.config.token,
        stop,
        config=server.config,
        faults=server.faults,
        kick=server.kick,
        control_address=server.control_address,
    )


def _start_asyncio(handler: Handler, host: str, options: dict[str, Any]) -> RunningServer:
    """Start :func:`linesock.aio.start_server` on a new event loop run by a new thread."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="linesock-testing-loop", daemon=True)
    thread.start()
    starting = asyncio.run_coroutine_threadsafe(aio.start_server(handler, host, 0, **options), loop)
    try:
        server = starting.result(START_TIMEOUT)
    except BaseException:
        starting.cancel()
        _end_loop(loop, thread, START_TIMEOUT)
        raise

    async def close() -> None:
        server.close()
        await server.wait_closed()
        # Whatever the handler left behind (a deferred answer the closed
        # session never awaited) would otherwise be destroyed while pending.
        leftover = asyncio.all_tasks() - {asyncio.current_task()}
        for task in leftover:
            task.cancel()
        await asyncio.gather(*leftover, return_exceptions=True)

    closing: list[concurrent.futures.Future[None]] = []  # one close, however often stop is called

    def stop(timeout: float) -> bool:
        if loop.is_closed():
            return True
        if not closing:
            closing.append(asyncio.run_coroutine_threadsafe(close(), loop))
        try:
            closing[0].result(timeout)
        except concurrent.futures.TimeoutError:  # not the builtin TimeoutError before 3.11
            return False
        return _end_loop(loop, thread, timeout)

    return RunningServer(
        "asyncio",
        server.address,
        server.stats,
        server.config.token,
        stop,
        config=server.config,
        faults=server.faults,
        kick=server.kick,
        control_address=server.control_address,
    )


def _end_loop(loop: asyncio.AbstractEventLoop, thread: threading.Thread, timeout: float) -> bool:
    """Stop the loop, join its thread and close it; False if the thread did not end in time."""
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout)
    if thread.is_alive():
        return False
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.close()
    return True
