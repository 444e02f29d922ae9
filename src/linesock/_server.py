"""The threaded server: one thread, one client at a time, blocking sockets.

Design notes
------------
The serving thread alternates between two waits.  Between clients it waits
in a selector on the listening socket and on one end of a socket pair;
``stop()`` writes to the other end, so stopping never waits on a poll
interval.  With a client it hands over to
:class:`~linesock._server_connection.ServedConnection`, which reads,
answers and writes until the session ends.  What a session's beginning and
end mean is decided in :class:`~linesock._lifecycle.ServerCore`, shared
with the asyncio front end; the protocol itself is the sans-IO
:class:`~linesock.Session`.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, Final

from ._closer import LingeringCloser
from ._config import DEFAULT_HOST, Handler, ServerConfig, ServerStats
from ._control import ControlPort, start_control_port
from ._gate import ThreadedGate
from ._lifecycle import ServedSession, ServerCore
from ._net import (
    ACCEPT_ENDS_ON_SHUTDOWN,
    ACCEPT_ERROR_PAUSE,
    TCP_FAMILIES,
    format_peer,
    listen_on,
    set_nodelay,
    warn_if_exposed,
)
from ._server_api import SharedServerAPI
from ._server_connection import ServedConnection
from ._waiting import WaitingRoom

__all__ = ["Server"]

logger: Final = logging.getLogger("linesock")

# One read takes at most this much.  Large enough that a burst of pipelined
# commands is framed in few batches, small enough to stay in the CPU caches.
READ_SIZE: Final = 256 * 1024


class Server(SharedServerAPI):
    """A Oneline TCP server that serves one client at a time on its own thread.

    Use ``start()``/``stop()`` (or ``with Server(...)``) to run it in the
    background, or ``serve_forever()`` to serve in the calling thread.
    Clients that connect while one is served wait in the kernel's backlog and
    are served in arrival order.

    Callers use: :meth:`start`, :meth:`serve_forever`, :meth:`stop`,
    :meth:`wait_stopped`, :meth:`push`, :meth:`kick`, :attr:`faults`,
    :attr:`port`, :attr:`address`, :attr:`is_running`, :attr:`serving_client`,
    :attr:`stats`, :attr:`thread`.

    Args:
        handler: called with each command (a ``str``) on the serving thread;
            returns the answer: a ``str``, an iterable of ``str``, ``None``
            for no answer, or a ``concurrent.futures.Future`` of one of these.
        host: the address to listen on (default: loopback only).
        port: the TCP port; 0 lets the OS choose one, read it from :attr:`port`.
        **options: any field of :class:`~linesock.ServerConfig`.
    """

    _HOW_TO_LISTEN = "call start() or listen()"

    def __init__(
        self, handler: Handler, host: str = DEFAULT_HOST, port: int = 0, **options: Any
    ) -> None:
        """Configure a server; nothing is bound until :meth:`listen` or :meth:`start`."""
        self.handler: Final = handler
        self.host: Final = host
        self.config: Final = ServerConfig(**options)
        self._core = ServerCore(handler, self.config)
        self.stats: Final[ServerStats] = self._core.stats
        self._requested_port = port
        self._listener: socket.socket | None = None
        self._tcp = True  # whether the listener (and so each client) speaks TCP
        # Whether clients are taken by a blocking accept, which stop() ends by
        # shutting the listener down (a gate's selector would see that as an error).
        self._blocking_accept = ACCEPT_ENDS_ON_SHUTDOWN and not WaitingRoom.needed(self.config)
        self._family, self._proto = int(socket.AF_INET), 0  # the listener's, for accepted sockets
        self._address: tuple[str, int] | None = None
        self._wake_reader: socket.socket | None = None
        self._wake_writer: socket.socket | None = None
        self._lock = threading.Lock()
        self._connection: ServedConnection | None = None
        self._gate: ThreadedGate | None = None
        self._stopping = threading.Event()
        self._serving_thread: threading.Thread | None = None
        self._background_thread: threading.Thread | None = None
        self._finished = threading.Event()
        # The one read buffer, reused by every session (one is served at a
        # time): no 256 KiB allocation, nor its page faults, per client.
        self._buffer = bytearray(READ_SIZE)
        self._closer = LingeringCloser()
        self._control: ControlPort | None = None

    # -- what callers use -------------------------------------------------

    @property
    def is_running(self) -> bool:
        """True from :meth:`listen` until the server has stopped serving."""
        return self._listener is not None and not self._finished.is_set()

    @property
    def serving_client(self) -> bool:
        """True while a client's session is being served (from accept to close)."""
        return self._connection is not None

    @property
    def thread(self) -> threading.Thread | None:
        """The thread :meth:`start` serves on (None before it, or with ``serve_forever``)."""
        return self._background_thread

    def listen(self) -> None:
        """Bind and listen now, so clients can queue; ``start``/``serve_forever`` call it.

        Raises:
            TranscriptError: the transcript, given as a path, cannot be opened.
            OSError: the address cannot be bound.
        """
        with self._lock:
            if self._stopping.is_set():
                raise RuntimeError("a stopped Server cannot be restarted; create a new one")
            self._listen_locked()

    def _listen_locked(self) -> None:
        """Create the listening socket unless there is one; the caller holds the lock."""
        if self._listener is not None:
            return
        self._core.open()
        try:
            listener = listen_on(self.host, self._requested_port, self.config.backlog)
        except BaseException:
            self._core.close()
            raise
        try:
            self._control = start_control_port(self, listener.getsockname()[0])
        except BaseException:
            listener.close()
            self._core.close()
            raise
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._listener = listener
        self._tcp = listener.family in TCP_FAMILIES
        self._family, self._proto = int(listener.family), listener.proto
        host, port = listener.getsockname()[:2]
        self._address = (host, port)
        logger.info("listening on %s:%d", host, port)
        warn_if_exposed(host, self.config)

    def start(self) -> None:
        """Listen and serve on a background thread; returns once clients can connect."""
        self.listen()
        thread = threading.Thread(target=self.serve_forever, name="linesock-server", daemon=True)
        self._background_thread = thread
        thread.start()

    def serve_forever(self) -> None:
        """Serve clients one after another until ``stop()`` or a client's ``shutdown``.

        Returns at once if ``stop()`` came first.
        """
        with self._lock:
            if self._stopping.is_set():
                return
            self._listen_locked()
            self._serving_thread = threading.current_thread()
        listener, wake_reader = self._listener, self._wake_reader
        assert listener is not None and wake_reader is not None
        try:
            if WaitingRoom.needed(self.config):
                self._serve_through_gate(listener)
            else:
                self._serve_from_the_backlog(listener, wake_reader)
        finally:
            self._close_listener()
            self._finished.set()

    def _serve_from_the_backlog(self, listener: socket.socket, wake: socket.socket) -> None:
        """Accept a client only when free: the others wait in the kernel's listen queue.

        On Linux the wait is one blocking accept per client, as the plainest
        server has: ``stop()`` shuts the listener down, which ends it.
        Elsewhere it is a selector on the listener and the wake-up socket,
        after an accept that often finds the next client queued already.
        """
        with contextlib.ExitStack() as stack:
            wait: Callable[[], object] | None = None
            if self._blocking_accept:
                listener.setblocking(True)
            else:
                selector = stack.enter_context(selectors.DefaultSelector())
                selector.register(listener, selectors.EVENT_READ)
                selector.register(wake, selectors.EVENT_READ)
                wait = selector.select
            while not self._stopping.is_set():
                self._core.prepare()
                accepted = self._accept(listener)
                if accepted is None:
                    if wait is not None:
                        wait()
                    continue
                served = self._serve(*accepted)
                if served is not None and served.stops_server():
                    return

    def _serve_through_gate(self, listener: socket.socket) -> None:
        """Serve the clients a gate accepts at once, under ``busy="refuse"`` or ``max_wait``."""
        gate = ThreadedGate(listener, self._core, self._closer)
        with self._lock:
            # Started under the lock: a stop() that finds the gate finds it
            # running (stopping one not started yet closed its wake-up pair
            # under the thread about to use it).
            self._gate = gate
            gate.start()
        try:
            while not self._stopping.is_set():
                self._core.prepare()
                waiting = gate.next_client()
                if waiting is None:
                    return
                served = self._serve(waiting.sock, waiting.peer, on_release=gate.session_done)
                if served is not None and served.stops_server():
                    return
        finally:
            gate.stop()

    def stop(self, timeout: float | None = None) -> None:
        """Stop serving: close the current client, stop listening, wait for the thread.

        Safe from any thread, from a handler too (it then returns at once and
        the server stops after answering the current batch).  *timeout* bounds
        the wait for the serving thread.
        """
        with self._lock:
            self._stopping.set()
            if self._wake_writer is not None:
                with contextlib.suppress(OSError):  # already stopped: the pair is closed
                    self._wake_writer.send(b"x")
            if self._blocking_accept and self._listener is not None:
                with contextlib.suppress(OSError):  # already closed
                    self._listener.shutdown(socket.SHUT_RD)
            never_served = self._serving_thread is None
            on_serving_thread = threading.current_thread() is self._serving_thread
            connection = self._connection
            if connection is not None and on_serving_thread:
                connection.stop_after_this_read()  # a handler: this batch is the last
            elif connection is not None:
                connection.stop()
            gate = self._gate
        if gate is not None:
            gate.stop()
        if never_served:
            # Never served: just release the port.
            self._close_listener()
            self._finished.set()
        elif not on_serving_thread:
            self._finished.wait(timeout)

    def kick(self) -> bool:
        """End the current client's session now (a plain close); False if none is served.

        The next waiting client is served.  Safe from any thread.
        """
        with self._lock:
            connection = self._connection
        if connection is None:
            return False
        self._core.record_change("kick")
        connection.kick()
        return True

    def wait_stopped(self, timeout: float | None = None) -> bool:
        """Wait until the server has stopped serving (at most *timeout*); True if it has."""
        return self._finished.wait(timeout)

    def push(self, answer: object) -> bool:
        """Send *answer* (a line, or several) to the current client; False if there is none.

        The answer is checked and encoded as a handler's is.  From a handler
        (on the serving thread) its lines join the answers of the batch being
        answered, in command order.  From any other thread they are sent at
        once, between the serving thread's sends; the server takes a write
        lock for its sends only from the first such push on.
        """
        with self._lock:
            connection = self._connection
        if connection is None:
            return False
        data = connection.served.session.push(answer)
        if not data:
            return True
        try:
            if threading.current_thread() is self._serving_thread:
                connection.send(data)
            else:
                connection.push(data)
        except OSError as exc:
            logger.info("could not send to the client: %s", exc)
            return False
        return True

    def __enter__(self) -> Server:
        """Start serving in the background."""
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop serving."""
        self.stop()

    def __repr__(self) -> str:
        """Show where the server listens."""
        where = f"{self._address[0]}:{self._address[1]}" if self._address else "not listening"
        return f"<linesock.Server {where} running={self.is_running}>"

    # -- the serving thread ---------------------------------------------

    def _accept(self, listener: socket.socket) -> tuple[socket.socket, str] | None:
        """Take the next client from the kernel's queue (None if it went away, or on an error)."""
        try:
            # socket.accept() without its wrapper, which reads the listener's
            # family and type back as enum members: once per client.
            fd, peer = listener._accept()  # type: ignore[attr-defined]
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return None
        except OSError as exc:
            if self._stopping.is_set():
                return None  # stop() shut the listener down
            logger.error("accept failed: %s", exc)
            self._finished.wait(ACCEPT_ERROR_PAUSE)
            return None
        client = socket.socket(self._family, socket.SOCK_STREAM, self._proto, fd)
        if client.gettimeout() is not None:  # only under socket.setdefaulttimeout()
            client.setblocking(True)
        return client, format_peer(peer)

    def _serve(
        self,
        client: socket.socket,
        peer: str,
        on_release: Callable[[], None] | None = None,
    ) -> ServedSession | None:
        """Serve the client at *peer*; return its session (None if the server was stopping).

        *on_release* is called once the session has ended, before the client
        can see its connection close.
        """
        set_nodelay(client, self._tcp)
        with self._lock:
            if self._stopping.is_set():
                client.close()
                if on_release is not None:
                    on_release()
                return None
            served = self._core.begin(peer)
            connection = ServedConnection(
                served,
                client,
                config=self.config,
                buffer=self._buffer,
                stopping=self._stopping,
                closer=self._closer,
                tcp=self._tcp,
            )
            connection.on_release = on_release
            self._connection = connection
        try:
            connection.serve()
        finally:
            with self._lock:
                self._connection = None
        return served

    def _close_listener(self) -> None:
        """Stop listening, release the wake-up socket pair and the transcript."""
        with self._lock:
            for sock in (self._listener, self._wake_reader, self._wake_writer):
                if sock is not None:
                    sock.close()
        if self._control is not None:
            self._control.stop()
        self._closer.shutdown()
        self._core.close()
        logger.info("stopped listening")
