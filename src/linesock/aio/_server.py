"""The asyncio server: one client at a time, served by an ``asyncio.Protocol``.

Design notes
------------
One session at a time.  The server does its own accept loop on a
non-blocking listening socket: ``loop.sock_accept`` takes one client, hands
it to ``loop.connect_accepted_socket`` with a fresh :class:`_SessionProtocol`,
and does not accept again until that connection is lost.  Clients that
connect meanwhile wait in the kernel's backlog (``backlog`` of them), with
whatever they already sent waiting in their socket buffers, and are accepted
in arrival order, exactly as with the threaded server.  ``loop.create_server``
would accept every client at once; holding them paused in user space instead
would cost a file descriptor and a protocol object each, and a flood of
connections would then be the server's problem rather than the kernel's.

Per read, not per line, answers in command order, back-pressure: see
:mod:`linesock.aio._connection`, which serves each client.

Handlers run on the event loop.  A plain function that blocks (``time.sleep``,
a slow instrument call) blocks the loop for that long; write it as ``async
def``, or hand the work to a thread and return a ``concurrent.futures.Future``.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Final

from .._closer import LingeringCloser
from .._config import DEFAULT_HOST, Handler, ServerConfig, ServerStats
from .._control import STOP_TIMEOUT, ControlPort, start_control_port
from .._gate import turn_away
from .._lifecycle import ServedSession, ServerCore
from .._net import (
    ACCEPT_ERROR_PAUSE,
    LINGER_SECONDS,
    create_listener,
    format_peer,
    lookup_name,
    set_nodelay,
    warn_if_exposed,
)
from .._server_api import SharedServerAPI
from .._waiting import WaitingRoom
from .._wire import EndReason
from ._connection import SessionProtocol

__all__ = ["AsyncServer", "start_server"]

logger: Final = logging.getLogger("linesock")


async def start_server(
    handler: Handler, host: str = DEFAULT_HOST, port: int = 0, **options: Any
) -> AsyncServer:
    """Listen on *host*:*port* and start serving clients on the running event loop.

    Returns once clients can connect.  Use ``await server.serve_forever()``
    to wait until it stops (``close()``, or a client's ``shutdown``).

    Args:
        handler: called on the event loop with each command (a ``str``);
            returns the answer (a ``str``, an iterable of ``str``, or ``None``),
            or an awaitable or ``concurrent.futures.Future`` of one.  An
            ``async def`` function works as is.
        host: the address to listen on (default: loopback only).
        port: the TCP port; 0 lets the OS choose one, read it from
            :attr:`AsyncServer.port`.
        **options: any field of :class:`~linesock.ServerConfig`.
    """
    server = AsyncServer(handler, ServerConfig(**options))
    await server.listen(host, port)
    return server


class AsyncServer(SharedServerAPI):
    """A Oneline server on an asyncio event loop, shaped like ``asyncio.Server``.

    Create it with :func:`start_server`.  Callers use: :attr:`port`,
    :attr:`address`, :attr:`stats`, :attr:`faults`, :meth:`kick`,
    :meth:`is_serving`, :attr:`is_running`,
    :meth:`serve_forever`, :meth:`close`, :meth:`wait_closed`, and
    ``async with server:`` (closes and waits at the end).  Unlike
    ``asyncio.Server.close``, :meth:`close` also ends the current client's
    session, as the threaded server's ``stop`` does.
    """

    _HOW_TO_LISTEN = "create it with start_server()"

    def __init__(self, handler: Handler, config: ServerConfig) -> None:
        """Hold the settings; :func:`start_server` binds and starts serving."""
        self.handler: Final = handler
        self.config: Final = config
        self._core = ServerCore(handler, config)
        self.stats: Final[ServerStats] = self._core.stats
        self._loop = asyncio.get_running_loop()
        self._address: tuple[str, int] | None = None
        self._accept_task: asyncio.Task[None] | None = None
        self._connection: SessionProtocol | None = None
        self._lingering: set[SessionProtocol] = set()
        self._closer = LingeringCloser()
        self._closed = False
        self._stopped = self._loop.create_future()
        self._serving_forever = False
        self._control: ControlPort | None = None

    def is_serving(self) -> bool:
        """True while the server accepts clients, until it is closed."""
        return self._accept_task is not None and not self._closed

    @property
    def is_running(self) -> bool:
        """True from :func:`start_server` until the server has stopped (listener closed)."""
        return self._accept_task is not None and not self._stopped.done()

    async def serve_forever(self) -> None:
        """Serve until :meth:`close` or a client's ``shutdown``, then return.

        If the task running it is cancelled, the server is closed.
        """
        if self._serving_forever:
            raise RuntimeError("serve_forever() is already running")
        self._serving_forever = True
        try:
            await asyncio.shield(self._stopped)
        except asyncio.CancelledError:
            self.close()
            raise
        finally:
            self._serving_forever = False
        await self.wait_closed()

    def close(self) -> None:
        """Stop accepting clients and end the current session; the listener closes soon.

        Await :meth:`wait_closed` to know when everything is released.
        """
        if self._closed:
            return
        self._closed = True
        task = self._accept_task
        if task is not None and task is not asyncio.current_task(self._loop):
            task.cancel()
        if self._connection is not None:
            # Soon, not now: a handler that closes its server gets its batch's
            # answers written first.
            self._loop.call_soon(self._connection.end, EndReason.SERVER_STOPPING)

    def kick(self) -> bool:
        """End the current client's session now (a plain close); False if none is served.

        The next waiting client is served.  Safe from any thread: from another
        than the loop's, the session ends as soon as the loop runs.
        """
        connection = self._connection
        if connection is None:
            return False
        self._core.record_change("kick")
        try:
            on_loop = asyncio.get_running_loop() is self._loop
        except RuntimeError:
            on_loop = False
        if on_loop:
            connection.kick()
        else:
            self._loop.call_soon_threadsafe(connection.kick)
        return True

    async def wait_closed(self) -> None:
        """Wait until the server is closed, its listener and current connection released."""
        if self._accept_task is not None:
            await asyncio.wait({self._accept_task})
        if self._control is not None and not self._control.wait(0):
            # The control port is a threaded server: wait for it off the loop.
            await self._loop.run_in_executor(None, self._control.wait, STOP_TIMEOUT)

    async def __aenter__(self) -> AsyncServer:
        """Return the server, already serving."""
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close the server and wait until it is closed."""
        self.close()
        await self.wait_closed()

    def __repr__(self) -> str:
        """Show where the server listens."""
        where = f"{self._address[0]}:{self._address[1]}" if self._address else "not listening"
        return f"<linesock.aio.AsyncServer {where} serving={self.is_serving()}>"

    # -- the accept loop ----------------------------------------------------

    async def listen(self, host: str = DEFAULT_HOST, port: int = 0) -> None:
        """Bind, listen and start the accept loop (:func:`start_server` calls it).

        Raises:
            TranscriptError: the transcript, given as a path, cannot be opened.
            OSError: the address cannot be bound.
        """
        if self._accept_task is not None or self._closed:
            raise RuntimeError("the server is already listening, or was closed")
        self._core.open()
        try:
            await self._bind(host, port)
        except BaseException:
            self._core.close()
            raise

    async def _bind(self, host: str, port: int) -> None:
        """Bind the listener and start the accept loop."""
        try:
            # An address needs no resolver: answered at once, without the
            # executor thread (and its start-up) that loop.getaddrinfo uses.
            infos = socket.getaddrinfo(
                lookup_name(host),
                port,
                type=socket.SOCK_STREAM,
                flags=socket.AI_PASSIVE | socket.AI_NUMERICHOST,
            )
        except socket.gaierror:  # a name: resolve it without blocking the loop
            infos = await self._loop.getaddrinfo(
                host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
            )
        family, _, _, _, sockaddr = infos[0]
        listener = create_listener(sockaddr, family, self.config.backlog)
        bound_host, bound_port = listener.getsockname()[:2]
        try:
            self._control = start_control_port(self, bound_host)
        except BaseException:
            listener.close()
            raise
        self._address = (bound_host, bound_port)
        logger.info("listening on %s:%d", bound_host, bound_port)
        warn_if_exposed(bound_host, self.config)
        self._accept_task = self._loop.create_task(self._accept_loop(listener))
        # A callback, not the task's ``finally``: a task cancelled before it
        # first ran never runs its body, and the listener must close anyway.
        self._accept_task.add_done_callback(lambda _task: self._stop_listening(listener))

    def _stop_listening(self, listener: socket.socket) -> None:
        """Close the listener once the accept loop is over; serve_forever then returns."""
        listener.close()
        if self._control is not None:
            self._control.stop(timeout=0)  # on the loop: wait_closed waits for it
        self._closer.shutdown(wait=False)  # on the loop: never block it
        self._core.close()
        logger.info("stopped listening")
        if not self._stopped.done():
            self._stopped.set_result(None)

    async def _accept_loop(self, listener: socket.socket) -> None:
        """Accept and serve one client after another until closed or shut down."""
        try:
            if WaitingRoom.needed(self.config):
                await self._serve_through_gate(listener)
            else:
                while not self._closed:
                    self._core.prepare()
                    accepted = await self._accept(listener)
                    if accepted is not None:
                        served = await self._serve(*accepted)
                        if served.stops_server():
                            self.close()
        finally:
            connection = self._connection
            if connection is not None:  # closed while serving: let the session end
                connection.end(EndReason.SERVER_STOPPING)
                await asyncio.wait({connection.lost}, timeout=2 * LINGER_SECONDS)
            if self._lingering:
                lost = {protocol.lost for protocol in self._lingering}
                await asyncio.wait(lost, timeout=2 * LINGER_SECONDS)

    async def _accept(self, listener: socket.socket) -> tuple[socket.socket, str] | None:
        """Take the next client from the kernel's queue (None if it went away, or on an error)."""
        try:
            client, peer = await self._loop.sock_accept(listener)
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return None
        except OSError as exc:
            logger.error("accept failed: %s", exc)
            await asyncio.sleep(ACCEPT_ERROR_PAUSE)
            return None
        return client, format_peer(peer)

    async def _serve_through_gate(self, listener: socket.socket) -> None:
        """Serve the clients a gate task accepts at once (``busy="refuse"``, ``max_wait``)."""
        room = WaitingRoom(self.config)
        arrived = asyncio.Event()
        gate = self._loop.create_task(self._gate(listener, room, arrived))
        try:
            while not self._closed:
                self._core.prepare()
                waiting = room.take()
                if waiting is None:
                    arrived.clear()
                    await arrived.wait()
                    continue
                served = await self._serve(waiting.sock, waiting.peer, on_release=room.done)
                if served.stops_server():
                    self.close()
        finally:
            gate.cancel()
            for waiting in room.close_all():
                waiting.sock.close()

    async def _gate(
        self, listener: socket.socket, room: WaitingRoom, arrived: asyncio.Event
    ) -> None:
        """Accept every client at once: let it wait, turn it away, or close it at max_wait."""
        while True:
            deadline = room.next_deadline()
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                accepted = await asyncio.wait_for(self._accept(listener), timeout)
            except asyncio.TimeoutError:
                accepted = None
            now = time.monotonic()
            if accepted is not None:
                client, peer = accepted
                if room.arrive(client, peer, now):
                    arrived.set()
                else:
                    self._core.turned_away(peer)
                    turn_away(client, self.config, self._closer)
            for gone in room.expired(now):
                self._core.turned_away(gone.peer, now - gone.arrived)
                self._closer.close(gone.sock)

    async def _serve(
        self, client: socket.socket, peer: str, on_release: Callable[[], None] | None = None
    ) -> ServedSession:
        """Serve the client at *peer* until it is released; return its session.

        *on_release* is called once the session has ended, before the client
        can see its connection close.
        """
        client.setblocking(False)
        set_nodelay(client)
        served = self._core.begin(peer)
        protocol = SessionProtocol(served, self.config, self._loop)
        protocol.on_release = on_release
        self._connection = protocol
        tls = self.config.ssl_context
        try:
            await self._loop.connect_accepted_socket(
                lambda: protocol,
                client,
                ssl=tls,
                ssl_handshake_timeout=None if tls is None else self.config.handshake_deadline,
            )
        except (OSError, asyncio.TimeoutError) as exc:
            # The client left, or failed the TLS handshake, before it was served.
            client.close()
            self._connection = None
            reason = EndReason.CONNECTION_ERROR if tls is None else EndReason.TLS_FAILED
            served.end(reason, str(exc) or type(exc).__name__)
            if on_release is not None:
                on_release()
            return served
        # Shielded: if the accept loop is cancelled, its cleanup still waits for this.
        await asyncio.shield(protocol.released)
        self._connection = None
        if not protocol.lost.done():  # it lingers: the accept loop waits for it at the end
            self._lingering.add(protocol)
            protocol.lost.add_done_callback(lambda _lost: self._lingering.discard(protocol))
        return served
