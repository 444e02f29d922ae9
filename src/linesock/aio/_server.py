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

Per read, not per line.  ``data_received`` hands the whole read to
:meth:`Session.receive <linesock.Session.receive>` and writes all of its
answers with one ``transport.write``; nothing is awaited on this path.

Deferred answers keep their order.  When the session holds a pending
answer (an awaitable, or a ``concurrent.futures.Future`` wrapped with
``asyncio.wrap_future``), one task awaits it, passes the outcome to
``Session.resume`` (which answers the commands queued behind it, up to the
next deferred one), writes, and repeats while one is pending.  Meanwhile
the protocol reads on only until ``_MAX_HELD_BYTES`` of commands wait in the
session's queue, then pauses reading until the task is done: enough to
notice a client that resets or half-closes, while memory stays bounded.
The session never answers a command before the one ahead of it, so the
wire order is the command order.  A deferred answer that never completes
holds the session (as with the threaded server): bound slow work yourself,
with ``asyncio.wait_for`` for instance.

Back-pressure.  The session answers a long batch in chunks (about
``OUTPUT_CHUNK`` characters each, keeping the rest of the commands queued);
the protocol asks for the next chunk only while the transport's write
buffer is under its high-water mark, and stops reading while it is over.
So a client that does not read its answers makes the server hold at most
the mark plus one chunk (plus one command's answer); if the buffer stays
over the mark for ``write_timeout``, the connection is aborted and the next
client is served.

Handlers run on the event loop.  A plain function that blocks (``time.sleep``,
a slow instrument call) blocks the loop for that long; write it as ``async
def``, or hand the work to a thread and return a ``concurrent.futures.Future``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import logging
import socket
from collections.abc import Awaitable
from types import TracebackType
from typing import Any, Final, cast

from .._protocol import (
    Closing,
    Handler,
    ServerConfig,
    ServerStats,
    Session,
    close_owned_transcript,
    warn_if_exposed,
)
from .._server import _format_peer, _lookup_name

__all__ = ["AsyncServer", "start_server"]

logger: Final = logging.getLogger("linesock")

# After ``disconnect`` the server half-closes, then waits this long (at most)
# for the client to close too, discarding what it still sends: closing with
# unread input would reset the connection and could destroy answers the
# client has not read yet.  Also the grace a stopping server gives a client
# to take its last answers before the connection is aborted.
_LINGER_SECONDS: Final = 1.0
# While an answer is pending the server reads on, queueing commands, until
# this many bytes wait: enough to see a client that leaves (EOF, reset)
# without holding more than about one read of commands in memory.
_MAX_HELD_BYTES: Final = 64 * 1024
# A TLS client must finish its handshake within this many seconds.
_TLS_HANDSHAKE_TIMEOUT: Final = 10.0
# After a failed accept (out of file descriptors, say) the server pauses
# this long instead of spinning on the error.
_ACCEPT_ERROR_PAUSE: Final = 0.1


async def start_server(
    handler: Handler, host: str = "127.0.0.1", port: int = 0, **options: Any
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
    await server._listen(host, port)
    return server


class AsyncServer:
    """A Oneline server on an asyncio event loop, shaped like ``asyncio.Server``.

    Create it with :func:`start_server`.  Callers use: :attr:`port`,
    :attr:`address`, :attr:`stats`, :meth:`is_serving`, :attr:`is_running`,
    :meth:`serve_forever`, :meth:`close`, :meth:`wait_closed`, and
    ``async with server:`` (closes and waits at the end).  Unlike
    ``asyncio.Server.close``, :meth:`close` also ends the current client's
    session, as the threaded server's ``stop`` does.
    """

    def __init__(self, handler: Handler, config: ServerConfig) -> None:
        """Hold the settings; :func:`start_server` binds and starts serving."""
        self.handler: Final = handler
        self.config: Final = config
        self.stats: Final = ServerStats()
        self._loop = asyncio.get_running_loop()
        self._address: tuple[str, int] | None = None
        self._accept_task: asyncio.Task[None] | None = None
        self._connection: _SessionProtocol | None = None
        self._closed = False
        self._stopped = self._loop.create_future()
        self._serving_forever = False

    @property
    def port(self) -> int:
        """The port the server listens on (the real one when it was created with 0)."""
        return self.address[1]

    @property
    def address(self) -> tuple[str, int]:
        """The ``(host, port)`` the server listens on."""
        if self._address is None:
            raise RuntimeError("the server is not listening; create it with start_server()")
        return self._address

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
            self._connection.end("the server is stopping")

    async def wait_closed(self) -> None:
        """Wait until the server is closed, its listener and current connection released."""
        if self._accept_task is not None:
            await asyncio.wait({self._accept_task})

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

    async def _listen(self, host: str, port: int) -> None:
        """Bind, listen and start the accept loop."""
        try:
            # An address needs no resolver: answered at once, without the
            # executor thread (and its start-up) that loop.getaddrinfo uses.
            infos = socket.getaddrinfo(
                _lookup_name(host),
                port,
                type=socket.SOCK_STREAM,
                flags=socket.AI_PASSIVE | socket.AI_NUMERICHOST,
            )
        except socket.gaierror:  # a name: resolve it without blocking the loop
            infos = await self._loop.getaddrinfo(
                host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
            )
        family, _, _, _, sockaddr = infos[0]
        listener = socket.create_server(
            sockaddr, family=family, backlog=self.config.backlog, reuse_port=False
        )
        listener.setblocking(False)
        bound_host, bound_port = listener.getsockname()[:2]
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
        close_owned_transcript(self.config)
        logger.info("stopped listening")
        if not self._stopped.done():
            self._stopped.set_result(None)

    async def _accept_loop(self, listener: socket.socket) -> None:
        """Accept and serve one client after another until closed or shut down."""
        loop = self._loop
        try:
            while not self._closed:
                try:
                    client, peer = await loop.sock_accept(listener)
                except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                    continue
                except OSError as exc:
                    logger.error("accept failed: %s", exc)
                    await asyncio.sleep(_ACCEPT_ERROR_PAUSE)
                    continue
                where = _format_peer(peer)
                logger.info("client connected from %s", where)
                if await self._serve(client, where) is Closing.SHUTDOWN:
                    logger.info("shutdown requested by the client")
                    self.close()
        finally:
            connection = self._connection
            if connection is not None:  # closed while serving: let the session end
                connection.end("the server is stopping")
                await asyncio.wait({connection.lost}, timeout=2 * _LINGER_SECONDS)

    async def _serve(self, client: socket.socket, peer: str) -> Closing | None:
        """Serve the client at *peer* until its connection is lost; return how it ended."""
        client.setblocking(False)
        if client.family in (socket.AF_INET, socket.AF_INET6):
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.stats.sessions += 1
        protocol = _SessionProtocol(self, peer)
        self._connection = protocol
        tls = self.config.ssl_context
        try:
            await self._loop.connect_accepted_socket(
                lambda: protocol,
                client,
                ssl=tls,
                ssl_handshake_timeout=None if tls is None else _TLS_HANDSHAKE_TIMEOUT,
            )
        except (OSError, asyncio.TimeoutError) as exc:
            # The client left, or failed the TLS handshake, before it was served.
            logger.info("client session ended: connection error: %s", exc or "timeout")
            client.close()
            self._connection = None
            return None
        # Shielded: if the accept loop is cancelled, its cleanup still waits for this.
        closing = await asyncio.shield(protocol.lost)
        self._connection = None
        return closing


class _SessionProtocol(asyncio.Protocol):
    """Drives one :class:`~linesock.Session` over one transport."""

    transport: asyncio.Transport
    """The client's connection, from ``connection_made`` on."""

    def __init__(self, server: AsyncServer, peer: str) -> None:
        """Serve the client at *peer* for *server*."""
        self._server = server
        self._loop = server._loop
        self._config = server.config
        self._idle_timeout = server.config.idle_timeout
        self.session = Session(server.handler, server.config, server.stats, peer)
        #: Resolves with how the client asked to end (or None) once the connection is lost.
        self.lost: asyncio.Future[Closing | None] = self._loop.create_future()
        self._made = False
        self._reason = "the client closed the connection"
        self._deferred_task: asyncio.Task[None] | None = None
        self._held_bytes = 0  # read while an answer was pending
        self._write_paused = False
        self._eof = False
        self._ending = False
        self._reading = True
        self._last_input = 0.0
        self._idle_timer: asyncio.TimerHandle | None = None
        self._write_timer: asyncio.TimerHandle | None = None
        self._end_timer: asyncio.TimerHandle | None = None

    # -- asyncio's calls ----------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Start the session (and the idle clock)."""
        self.transport = cast("asyncio.Transport", transport)
        self._made = True
        if self._idle_timeout is not None:
            self._last_input = self._loop.time()
            self._idle_timer = self._loop.call_at(
                self._last_input + self._idle_timeout, self._idle_check
            )

    def data_received(self, data: bytes) -> None:
        """Answer every complete command in *data* with one write."""
        if self._idle_timeout is not None:
            self._last_input = self._loop.time()
        session = self.session
        if self._deferred_task is not None:
            # An answer is pending: the session queues these commands.  Reading
            # goes on a little, so that a client that leaves is noticed.
            session.receive(data)
            self._held_bytes += len(data)
            if self._held_bytes > _MAX_HELD_BYTES:
                self._update_reading()
            return
        out = session.receive(data)
        if out:
            self.transport.write(out)
        if session.pending is not None or session.closing is not None or session.backlog:
            self._go_on()

    def eof_received(self) -> bool:
        """Drop an unfinished line; keep the connection open while answers are still due."""
        self._eof = True
        self._reading = False  # a transport reads no more after EOF
        self.session.receive_eof()
        # False: the transport closes once every answer is written, so a
        # client that half-closed still gets all of them, then EOF.
        return self._deferred_task is not None or self.session.backlog

    def pause_writing(self) -> None:
        """The client lags: stop reading from it, and start the write timeout."""
        self._write_paused = True
        self._update_reading()
        timeout = self._config.write_timeout
        if timeout is not None and self._write_timer is None:
            self._write_timer = self._loop.call_later(timeout, self._write_timed_out)

    def resume_writing(self) -> None:
        """The client caught up: answer the commands that waited, and read again."""
        self._write_paused = False
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None
        self._last_input = self._loop.time()
        if self._deferred_task is None:
            self._go_on()
        self._update_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop every timer and task, log why the session ended, and free the slot."""
        for timer in (self._idle_timer, self._write_timer, self._end_timer):
            if timer is not None:
                timer.cancel()
        if self._deferred_task is not None:
            self._deferred_task.cancel()
        pending = self.session.pending
        if inspect.iscoroutine(pending) and inspect.getcoroutinestate(pending) == "CORO_CREATED":
            pending.close()  # never started: closing it avoids "never awaited"
        elif isinstance(pending, (asyncio.Future, concurrent.futures.Future)):
            pending.cancel()
        if exc is not None and not self._ending:
            self._reason = f"connection error: {exc}"
        logger.info("client session ended: %s", self._reason)
        self.session.end(self._reason)
        self.lost.set_result(self.session.closing)

    # -- answering ------------------------------------------------------------

    def _go_on(self) -> None:
        """Go on after a write: answer what waits, then await, end, or close after EOF.

        Queued commands (the session answers in chunks) are answered while the
        client takes the answers; then a deferred answer is awaited, or the
        session ends (``disconnect``/``shutdown``), or, after the client's EOF
        with nothing left to answer, the connection closes.
        """
        session = self.session
        transport = self.transport
        while session.backlog and not self._write_paused:
            out = session.answer_backlog()
            if out:
                transport.write(out)
        if session.pending is not None:
            if self._deferred_task is None:
                self._held_bytes = 0
                self._deferred_task = self._loop.create_task(self._finish_deferred())
        elif session.closing is not None:
            if not self._ending:
                self._end_session()
        elif self._eof and not session.backlog and not transport.is_closing():
            transport.close()  # the client half-closed: all its answers are written

    async def _finish_deferred(self) -> None:
        """Await each pending answer in turn and write the answers it releases, in order."""
        session = self.session
        transport = self.transport
        while (pending := session.pending) is not None:
            try:
                if isinstance(pending, concurrent.futures.Future):
                    result = await asyncio.wrap_future(pending)
                else:
                    result = await cast("Awaitable[object]", pending)
            except asyncio.CancelledError:
                if self.lost.done() or transport.is_closing():
                    raise  # the session is over
                out = session.resume()  # the answer itself was cancelled: there is none
            except Exception as exc:
                out = session.resume(error=exc)
            else:
                out = session.resume(result)
            if transport.is_closing():
                return
            if out:
                transport.write(out)
            while session.backlog and not self._write_paused:
                out = session.answer_backlog()
                if out:
                    transport.write(out)
        self._deferred_task = None
        self._last_input = self._loop.time()
        self._go_on()
        self._update_reading()

    # -- ending the session ---------------------------------------------------

    def end(self, reason: str) -> None:
        """End the session from the server's side: close, and abort if it lingers."""
        if not self._made or self.lost.done():
            return
        if not self._ending:
            self._reason = reason
            self._ending = True
        self.transport.close()
        if self._end_timer is not None:
            self._end_timer.cancel()
        self._end_timer = self._loop.call_later(_LINGER_SECONDS, self.transport.abort)

    def _end_session(self) -> None:
        """The client sent ``disconnect`` or ``shutdown``, or was refused: flush and close.

        Closing at once with unread client input would reset the connection,
        so the server sends FIN after the answers and discards what the client
        still sends until it closes too (at most ``_LINGER_SECONDS``).
        """
        transport = self.transport
        closing = self.session.closing
        assert closing is not None
        self._ending = True
        if closing is Closing.REFUSED:
            self._reason = "the client was refused"
        else:
            self._reason = f"the client sent {closing.value}"
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        if self._eof or not transport.can_write_eof():  # TLS cannot half-close
            transport.close()
            return
        transport.write_eof()
        self._end_timer = self._loop.call_later(_LINGER_SECONDS, transport.close)
        self._update_reading()

    # -- reading and timers -----------------------------------------------------

    def _update_reading(self) -> None:
        """Read while the client has the turn: its answers taken, no long queue, not at EOF."""
        transport = self.transport
        if self._eof or transport.is_closing():
            return
        busy = self._write_paused or (
            self._deferred_task is not None and self._held_bytes > _MAX_HELD_BYTES
        )
        want = self._ending or not busy  # while ending, what arrives is discarded
        if want != self._reading:
            self._reading = want
            if want:
                transport.resume_reading()
            else:
                transport.pause_reading()

    def _idle_check(self) -> None:
        """End the session if the client has been silent for ``idle_timeout``."""
        timeout = self._idle_timeout
        assert timeout is not None
        if self._ending or self.transport.is_closing():
            return
        now = self._loop.time()
        if self._deferred_task is not None or self._write_paused:
            self._last_input = now  # the server has the turn, not the client
        deadline = self._last_input + timeout
        if now < deadline:
            self._idle_timer = self._loop.call_at(deadline, self._idle_check)
            return
        self._server.stats.idle_disconnects += 1
        self._reason = f"idle for {timeout} s"
        self._ending = True
        self.transport.close()

    def _write_timed_out(self) -> None:
        """The client took no answers for ``write_timeout``: abort the connection."""
        transport = self.transport
        self._server.stats.write_timeouts += 1
        self._reason = (
            f"the client took no answers for {self._config.write_timeout} s "
            f"({transport.get_write_buffer_size()} bytes unsent)"
        )
        self._ending = True
        transport.abort()
