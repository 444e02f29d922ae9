"""The asyncio client: the blocking :class:`~linesock.Client`, awaitable.

Design notes
------------
A small ``asyncio.Protocol`` frames every read with the same
:class:`~linesock.LineFramer` as the servers and queues the lines; ``recv``
takes the next one, waiting on a future that the protocol resolves when a
line (or the end of the connection) arrives.  A ``recv`` that times out or
is cancelled loses nothing: a line that comes later stays queued for the
next call.  Like the blocking client it never returns an empty string to
mean "nothing came": a wait that runs out raises ``TimeoutError`` and a
server that closed raises ``ConnectionError``.

Back-pressure both ways: the protocol stops reading once more than
``_MAX_UNREAD_BYTES`` of lines wait unread, so a server that answers faster
than the application reads fills the kernel's buffers, not this process;
and ``send`` waits (at most ``timeout``) while the transport's write buffer
is over its high-water mark.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections import deque
from types import TracebackType
from typing import Final, cast

from .._client import (
    DEFAULT_PORT,
    DEFAULT_TIMEOUT,
    ClientSettings,
    ProtocolError,
    check_command,
)
from .._framing import DEFAULT_MAX_LINE_BYTES, InvalidLine, LineFramer

__all__ = ["AsyncClient", "connect"]

logger: Final = logging.getLogger("linesock")

# Once this many bytes of complete lines wait unread, the client stops
# reading until the application has taken them all.
_MAX_UNREAD_BYTES: Final = 256 * 1024


async def connect(
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    timeout: float = DEFAULT_TIMEOUT,
    *,
    encoding: str = "utf-8",
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    ssl_context: ssl.SSLContext | None = None,
    server_hostname: str | None = None,
    token: str | None = None,
) -> AsyncClient:
    """Connect to a Oneline server, check it with ``ping``, and return the client.

    ``async with await connect(port=p) as client:`` disconnects at the end.
    The arguments are those of :class:`AsyncClient`.

    Raises:
        ConnectionError: no server accepted the connection, the TLS handshake
            failed, the server refused the token, or it did not answer
            ``pong`` within the timeout.
    """
    client = AsyncClient(
        host,
        port,
        timeout,
        encoding=encoding,
        max_line_bytes=max_line_bytes,
        ssl_context=ssl_context,
        server_hostname=server_hostname,
        token=token,
    )
    await client.connect()
    return client


class _ClientProtocol(asyncio.Protocol):
    """Frames what the server sends into a queue of lines for :class:`AsyncClient`."""

    transport: asyncio.Transport

    def __init__(self, framer: LineFramer) -> None:
        """Queue the lines *framer* makes of the server's bytes."""
        self.framer = framer
        self.lines: deque[str | InvalidLine] = deque()
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
        """Frame *data*; wake a waiting ``recv``; stop reading if too much waits unread."""
        lines = self.framer.feed(data)
        if lines:
            self.lines.extend(lines)
            self._wake()
        if self.lines:
            self._unread_bytes += len(data)
            if self._unread_bytes > _MAX_UNREAD_BYTES and self._reading:
                self._reading = False
                self.transport.pause_reading()

    def eof_received(self) -> bool:
        """The server closed: drop an unfinished line and let the transport close."""
        self.framer.feed_eof()
        self.ended = True
        self._wake()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        """Wake everyone waiting: no more lines will come."""
        self.ended = True
        self._wake()
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

    def take_line(self) -> str | InvalidLine | None:
        """The next queued line, or None; reading resumes once the queue is empty."""
        if not self.lines:
            return None
        line = self.lines.popleft()
        if not self.lines:
            self._unread_bytes = 0
            if not self._reading and not self.transport.is_closing():
                self._reading = True
                self.transport.resume_reading()
        return line

    async def drain(self, timeout: float) -> None:
        """Wait (at most *timeout*) until the write buffer is under its high-water mark.

        Raises ``TimeoutError`` when it is not, ``ConnectionError`` when the
        connection is lost meanwhile.
        """
        if not self._write_paused or self.ended:
            return
        loop = asyncio.get_running_loop()
        waiter = self._drain_waiter = loop.create_future()
        timer = loop.call_later(timeout, _expire, waiter, "the server took no data")
        try:
            await waiter
        finally:
            timer.cancel()
            self._drain_waiter = None
        if self.closed.done():
            raise ConnectionError("the connection was lost while sending")

    def _wake(self) -> None:
        """Resolve the waiting ``recv``'s future, if any."""
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


def _expire(waiter: asyncio.Future[None], what: str) -> None:
    """Fail *waiter* with ``TimeoutError``, unless it is already resolved."""
    if not waiter.done():
        waiter.set_exception(TimeoutError(what))


class AsyncClient(ClientSettings):
    """An asyncio Oneline client: :class:`~linesock.Client`, with ``await``.

    ``async with AsyncClient(port=p) as client:`` connects (checking the
    server with ``ping``) and disconnects at the end, unless the client sent
    ``shutdown``; :func:`connect` does the same in one call.  One task at a
    time may wait in :meth:`recv`.  The settings are those of
    :class:`~linesock.ClientSettings`.
    """

    def _start_state(self) -> None:
        """No connection yet."""
        self._protocol: _ClientProtocol | None = None

    @property
    def connected(self) -> bool:
        """True between a successful :meth:`connect` and the end of the connection."""
        return self._protocol is not None

    async def connect(self) -> None:
        """Connect, authenticate if a token was given, and check the server with ``ping``.

        Raises:
            ConnectionError: no server accepted the connection, the TLS
                handshake failed, the server refused the token, or it did not
                answer ``pong`` within the timeout.
        """
        await self.close()
        where = f"{self.host}:{self.port}"
        loop = asyncio.get_running_loop()
        protocol = _ClientProtocol(
            LineFramer(max_line_bytes=self.max_line_bytes, encoding=self.encoding)
        )
        tls = self.ssl_context
        try:
            await asyncio.wait_for(
                loop.create_connection(
                    lambda: protocol,
                    self.host,
                    self.port,
                    ssl=tls,
                    server_hostname=None if tls is None else self.server_hostname,
                ),
                self.timeout,
            )
        except ssl.SSLError as exc:
            raise ConnectionError(f"TLS handshake with {where} failed: {exc}") from exc
        except (OSError, asyncio.TimeoutError) as exc:
            raise ConnectionError(f"no server accepts connections at {where}: {exc}") from exc
        self._protocol = protocol
        self._shut_down = False
        if self._token is not None:
            await self._authenticate(where, self._token)
        try:
            await self._write("ping\n")
            answer = await self.recv()
        except (OSError, ProtocolError) as exc:
            await self.close()
            raise ConnectionError(f"the server at {where} did not answer ping: {exc}") from exc
        if answer != "pong":
            await self.close()
            raise ConnectionError(f"the server at {where} answered ping with {answer!r}")
        logger.debug("connected to %s", where)

    async def send(self, command: str) -> None:
        """Send one command (without its LF); raise ``ValueError`` if it holds CR or LF."""
        await self._write(check_command(command) + "\n")

    async def recv(self, timeout: float | None = None) -> str:
        """Return the next answer line, waiting at most *timeout* (default: the client's).

        Raises:
            TimeoutError: no complete line came in time.
            ConnectionError: the server closed the connection.
            ProtocolError: the line was undecodable or overlong.
        """
        line = await self._next_line(self.timeout if timeout is None else timeout)
        if isinstance(line, InvalidLine):
            raise ProtocolError(line)
        return line

    async def request(self, command: str) -> list[str]:
        """Send *command* and return all its answers (possibly none).

        The command goes out with ``ping`` in one write, and answers are read
        up to the ``pong``; so a handler that itself answers ``pong`` ends the
        list early.  The built-ins are handled as such: ``request("ping")``
        returns ``["pong"]``, and ``disconnect`` or ``shutdown`` end the
        session and return ``[]``.
        """
        if command == "ping":
            await self._write("ping\n")
            return [await self.recv()]
        if command == "disconnect":
            await self.disconnect()
            return []
        if command == "shutdown":
            await self.shutdown()
            return []
        await self._write(check_command(command) + "\nping\n")
        answers = []
        while (answer := await self.recv()) != "pong":
            answers.append(answer)
        return answers

    async def ping(self) -> bool:
        """Tell whether the server answers ``ping`` within the timeout.

        Answers still unread before the ``pong`` are discarded.
        """
        try:
            await self._write("ping\n")
            while await self.recv() != "pong":
                pass
        except (OSError, ProtocolError):
            return False
        return True

    async def disconnect(self) -> None:
        """Ask the server to end this session, wait until it has, and close."""
        await self._end_with("disconnect")

    async def shutdown(self) -> None:
        """Ask the server to shut down, wait until it closed this session, and close."""
        await self._end_with("shutdown")
        self._shut_down = True

    async def close(self) -> None:
        """Close the connection without a word to the server."""
        protocol, self._protocol = self._protocol, None
        if protocol is None:
            return
        protocol.transport.close()
        # Closing flushes what is still unsent; a server that takes nothing
        # gets the connection aborted after the timeout.
        done, _ = await asyncio.wait({protocol.closed}, timeout=self.timeout)
        if not done:
            protocol.transport.abort()
            await protocol.closed

    async def __aenter__(self) -> AsyncClient:
        """Connect, unless already connected."""
        if self._protocol is None:
            await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Disconnect, unless the session already ended (after ``shutdown``, say)."""
        if self._protocol is not None and not self._shut_down:
            await self.disconnect()  # never raises: it closes whatever happens
        await self.close()

    def __repr__(self) -> str:
        """Show where the client connects and whether it is connected."""
        return f"<linesock.aio.AsyncClient {self.host}:{self.port} connected={self.connected}>"

    # -- internals --------------------------------------------------------

    async def _authenticate(self, where: str, token: str) -> None:
        """Send ``auth TOKEN``; raise ``ConnectionError`` unless the server says ``ok``."""
        try:
            await self._write(f"auth {check_command(token)}\n")
            answer = await self.recv()
        except (OSError, ProtocolError) as exc:
            await self.close()
            raise ConnectionError(f"the server at {where} did not answer auth: {exc}") from exc
        if answer != "ok":
            await self.close()
            raise ConnectionError(f"the server at {where} refused the token ({answer})")

    async def _end_with(self, command: str) -> None:
        """Send a closing command, then read (and drop) until the server closes."""
        if self._protocol is None:
            return
        try:
            await self._write(command + "\n")
            while True:
                await self._next_line(self.timeout)
        except ConnectionError:
            pass  # the server closed: what we waited for
        except OSError as exc:
            logger.debug("while waiting for the server to close: %s", exc)
        finally:
            await self.close()

    async def _write(self, text: str) -> None:
        """Send *text* whole, waiting while the server lags."""
        protocol = self._connected_protocol()
        if protocol.ended or protocol.transport.is_closing():
            raise ConnectionError(f"the server at {self.host}:{self.port} closed the connection")
        protocol.transport.write(text.encode(self.encoding))
        await protocol.drain(self.timeout)

    async def _next_line(self, timeout: float) -> str | InvalidLine:
        """Take the next framed line, waiting at most *timeout* for one to arrive."""
        protocol = self._connected_protocol()
        line = protocol.take_line()
        if line is not None:
            return line
        if protocol.waiter is not None:
            raise RuntimeError("another task is already waiting in recv()")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not protocol.ended:
            waiter = protocol.waiter = loop.create_future()
            timer = loop.call_at(deadline, _expire, waiter, f"no answer within {timeout} s")
            try:
                await waiter
            finally:
                timer.cancel()
                protocol.waiter = None
            line = protocol.take_line()
            if line is not None:
                return line
        raise ConnectionError(f"the server at {self.host}:{self.port} closed the connection")

    def _connected_protocol(self) -> _ClientProtocol:
        """The open connection's protocol, or ``ConnectionError`` when there is none."""
        if self._protocol is None:
            raise ConnectionError("the client is not connected; call connect()")
        return self._protocol
