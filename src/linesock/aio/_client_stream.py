"""The ``asyncio.Protocol`` under :class:`~linesock.aio.AsyncClient`: bytes into the client core.

Design notes
------------
:class:`ClientStream` hands every read to the connection's
:class:`~linesock.ClientConnection` and wakes the one task waiting in
:meth:`ClientStream.wait_for_lines` once a line (or the end of the
connection) arrived; partial lines wake nobody.  It also holds both ways of
back-pressure: it stops reading once more than ``_MAX_UNREAD_BYTES`` of
lines wait unread (so a server answering faster than the application reads
fills the kernel's buffers, not this process), and :meth:`ClientStream.drain`
waits while the transport's write buffer is over its high-water mark.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Final, cast

from .._client_protocol import ClientConnection, answer_timeout, send_timeout

__all__ = ["ClientStream"]

# Once this many bytes of complete lines wait unread, the client stops
# reading until the application has taken them all.
_MAX_UNREAD_BYTES: Final = 256 * 1024


class ClientStream(asyncio.Protocol):
    """Hands what the server sends to a :class:`ClientConnection`; wakes the waiting task."""

    transport: asyncio.Transport

    def __init__(self, connection: ClientConnection) -> None:
        """Feed *connection* with the bytes of this transport."""
        self.connection = connection
        #: True once the server closed its side or the connection was lost.
        self.ended = False
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiter: asyncio.Future[None] | None = None
        self._unread_bytes = 0
        self._reading = True
        self._write_paused = False
        self._drain_waiter: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport."""
        self.transport = cast("asyncio.Transport", transport)

    def data_received(self, data: bytes) -> None:
        """Hand *data* on; wake a waiting task; stop reading if too much waits unread."""
        connection = self.connection
        connection.receive_data(data)
        if connection.buffered_lines or connection.line_overlong:
            self._wake()
            self._unread_bytes += len(data)
            if self._unread_bytes > _MAX_UNREAD_BYTES and self._reading:
                self._reading = False
                self.transport.pause_reading()

    def eof_received(self) -> bool:
        """The server closed: tell the connection, and let the transport close."""
        self._end()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        """Wake everyone waiting: no more data will come."""
        self._end()
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)
        self.closed.set_result(None)

    def pause_writing(self) -> None:
        """The server lags: make ``send`` wait."""
        self._write_paused = True

    def resume_writing(self) -> None:
        """The server caught up: let ``send`` go on."""
        self._write_paused = False
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)

    def lines_taken(self) -> None:
        """Resume reading once every line that came was taken."""
        if not self.connection.buffered_lines:
            self._unread_bytes = 0
            if not self._reading and not self.transport.is_closing():
                self._reading = True
                self.transport.resume_reading()

    async def drain(self, timeout: float) -> None:
        """Wait (at most *timeout*) until the write buffer is under its high-water mark.

        Raises ``TimeoutError`` when it is not, ``ConnectionError`` when the
        connection is lost meanwhile.
        """
        if not self._write_paused or self.ended:
            return
        loop = asyncio.get_running_loop()
        waiter = self._drain_waiter = loop.create_future()
        timer = loop.call_later(timeout, _expire, waiter, send_timeout, timeout)
        try:
            await waiter
        finally:
            timer.cancel()
            self._drain_waiter = None
        if self.closed.done():
            raise ConnectionError("the connection was lost while sending")

    def write(self, data: bytes) -> None:
        """Queue *data* for sending; ``ConnectionError`` if the connection is closing."""
        if self.transport.is_closing():
            # Writing to a closed transport raises RuntimeError on uvloop.
            raise self.connection.closed_error()
        self.transport.write(data)

    async def wait_for_lines(self, deadline: float, timeout: float) -> None:
        """Wait until more lines (or the end of the connection) came, at most until *deadline*.

        Raises ``TimeoutError`` saying *timeout*, the wait it was given, when
        the deadline passes first, and ``ConnectionError`` at once when the
        connection has ended (its next pull would raise that too).
        """
        if self.ended:
            raise self.connection.closed_error()  # never wait, nor spin, here
        if self.waiter is not None:
            raise RuntimeError("another task is already waiting in recv()")
        self.lines_taken()  # reading may be paused, and the lines all taken
        loop = asyncio.get_running_loop()
        waiter = self.waiter = loop.create_future()
        timer = loop.call_at(deadline, _expire, waiter, answer_timeout, timeout)
        try:
            await waiter
        finally:
            timer.cancel()
            self.waiter = None

    def _end(self) -> None:
        """No more data will come: tell the connection (once) and wake the waiting task."""
        if not self.ended:
            self.ended = True
            self.connection.receive_data(b"")
        self._wake()

    def _wake(self) -> None:
        """Resolve the waiting task's future, if any."""
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


def _expire(
    waiter: asyncio.Future[None], error: Callable[[float], TimeoutError], timeout: float
) -> None:
    """Fail *waiter* with ``error(timeout)``, unless it is already resolved."""
    if not waiter.done():
        waiter.set_exception(error(timeout))
