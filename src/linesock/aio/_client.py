"""The asyncio client: the blocking :class:`~linesock.Client`, awaitable.

Design notes
------------
The protocol is :class:`~linesock.ClientConnection`'s, as for the blocking
client; a ``ClientStream`` (the ``asyncio.Protocol``) feeds it every read
and holds the back-pressure both ways.  :meth:`AsyncClient._wait` is the one
place that waits for data.  A ``recv`` that times out or is cancelled loses
nothing: a line that comes later stays queued in the connection for the next
call.  Like the blocking client it never returns an empty string to mean
"nothing came": a wait that runs out raises ``TimeoutError`` and a server
that closed raises ``ConnectionError``.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from types import TracebackType
from typing import Final, TypeVar

from .._client_protocol import (
    CLOSING_COMMANDS,
    NEED_DATA,
    ClientConnection,
    ClientState,
    NeedData,
    not_connected,
)
from .._client_states import ClientSettingsView
from .._config import (
    DEFAULT_HOST,
    DEFAULT_MAX_ANSWER_LINES,
    DEFAULT_PORT,
    DEFAULT_TIMEOUT,
    ClientConfig,
)
from .._delimited import AnswerTerminator, CommandTerminator
from .._errors import ProtocolError
from .._framing import DEFAULT_MAX_LINE_BYTES
from .._wire import DISCONNECT, PING, SHUTDOWN
from ._client_stream import ClientStream

__all__ = ["AsyncClient", "connect"]

logger: Final = logging.getLogger("linesock")

_Pulled = TypeVar("_Pulled")


async def connect(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    timeout: float = DEFAULT_TIMEOUT,
    *,
    encoding: str = "utf-8",
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    ssl_context: ssl.SSLContext | None = None,
    server_hostname: str | None = None,
    token: str | None = None,
    terminator: CommandTerminator = "lf",
    answer_terminator: AnswerTerminator = "lf",
    max_answer_lines: int = DEFAULT_MAX_ANSWER_LINES,
) -> AsyncClient:
    """Connect to a Oneline server, check it with ``ping``, and return the client.

    ``async with await connect(port=p) as client:`` disconnects at the end.
    The arguments are those of :class:`AsyncClient`.

    Raises:
        NoServerError: no server accepted the connection, or the TLS
            handshake failed.
        AuthenticationError: the server refused the token (or wants one).
        ConnectionError: the server did not answer ``pong`` within the timeout.
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
        terminator=terminator,
        answer_terminator=answer_terminator,
        max_answer_lines=max_answer_lines,
    )
    await client.connect()
    return client


class AsyncClient(ClientSettingsView):
    """An asyncio Oneline client: :class:`~linesock.Client`, with ``await``.

    ``async with AsyncClient(port=p) as client:`` connects (checking the
    server with ``ping``) and disconnects at the end, unless the client sent
    ``shutdown``; :func:`connect` does the same in one call.  One task at a
    time may wait in :meth:`recv`.  The arguments are the fields of
    :class:`~linesock.ClientConfig`, which the client keeps as :attr:`config`.
    """

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        timeout: float = DEFAULT_TIMEOUT,
        *,
        encoding: str = "utf-8",
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        token: str | None = None,
        terminator: CommandTerminator = "lf",
        answer_terminator: AnswerTerminator = "lf",
        max_answer_lines: int = DEFAULT_MAX_ANSWER_LINES,
    ) -> None:
        """Configure a client (raising ``ValueError`` for bad settings); connect() connects."""
        #: Where the client connects and how.
        self.config = ClientConfig(
            host,
            port,
            timeout,
            encoding=encoding,
            max_line_bytes=max_line_bytes,
            ssl_context=ssl_context,
            server_hostname=server_hostname,
            token=token,
            terminator=terminator,
            answer_terminator=answer_terminator,
            max_answer_lines=max_answer_lines,
        )
        self._connection = ClientConnection(self.config)
        self._protocol: ClientStream | None = None
        self._shut_down = False

    @property
    def connected(self) -> bool:
        """True between a successful :meth:`connect` and the end of the connection."""
        return self._protocol is not None

    async def connect(self) -> None:
        """Connect, authenticate if a token was given, and check the server with ``ping``.

        Raises:
            NoServerError: no server accepted the connection, or the TLS
                handshake failed.
            AuthenticationError: the server refused the token (or wants one).
            ConnectionError: the server did not answer ``pong`` within the
                timeout.
        """
        await self.close()
        config, connection = self.config, self._connection
        protocol = ClientStream(connection)
        tls = config.ssl_context
        try:
            await asyncio.wait_for(
                asyncio.get_running_loop().create_connection(
                    lambda: protocol,
                    config.host,
                    config.port,
                    ssl=tls,
                    server_hostname=None if tls is None else config.server_hostname,
                ),
                config.timeout,
            )
        except ssl.SSLError as exc:
            raise connection.tls_error(exc) from exc
        except (OSError, asyncio.TimeoutError) as exc:
            raise connection.connect_error(exc) from exc
        self._protocol = protocol
        self._shut_down = False
        try:
            await self._handshake()
        except Exception:
            await self.close()
            raise
        logger.debug("connected to %s", connection.where)

    async def send(self, command: str) -> None:
        """Send one command (without its LF); raise ``ValueError`` if it holds CR or LF."""
        await self._write(self._connection.send(command))

    async def recv(self, timeout: float | None = None) -> str:
        """Return the next answer line, waiting at most *timeout* (default: the client's).

        Raises:
            TimeoutError: no complete line came in time.
            ConnectionError: the server closed the connection.
            NotConnectedError: the client is not connected.
            ProtocolError: the line was undecodable or overlong.
        """
        connection = self._connection
        return await self._wait(connection.next_line, self.timeout if timeout is None else timeout)

    async def request(self, command: str) -> list[str]:
        """Send *command* and return all its answers (possibly none).

        The command goes out with ``ping`` in one write, and answers are read
        up to the ``pong``; so a handler that itself answers ``pong`` ends the
        list early.  The built-ins are handled as such: ``request("ping")``
        returns ``["pong"]``, and ``disconnect`` or ``shutdown`` end the
        session and return ``[]``.
        """
        if command in CLOSING_COMMANDS:
            await (self.disconnect() if command == DISCONNECT else self.shutdown())
            return []
        connection = self._connection
        await self._write(connection.request(command))
        return await self._wait(connection.next_answers, self.config.timeout)

    async def ping(self) -> bool:
        """Tell whether the server answers ``ping`` within the timeout.

        Answers still unread before the ``pong`` are discarded.
        """
        try:
            await self.request(PING)
        except (OSError, ProtocolError):
            return False
        return True

    async def disconnect(self) -> None:
        """Ask the server to end this session, wait until it has, and close."""
        await self._end_with(DISCONNECT)

    async def shutdown(self) -> None:
        """Ask the server to shut down, wait until it closed this session, and close."""
        await self._end_with(SHUTDOWN)
        self._shut_down = True

    async def close(self) -> None:
        """Close the connection without a word to the server."""
        protocol, self._protocol = self._protocol, None
        if self._connection.state is not ClientState.IDLE:
            self._connection = ClientConnection(self.config)
        if protocol is None:
            return
        protocol.transport.close()
        # Closing flushes what is still unsent; a server that takes nothing
        # gets the connection aborted after the timeout.
        done, _ = await asyncio.wait({protocol.closed}, timeout=self.config.timeout)
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

    async def _handshake(self) -> None:
        """Send the connection's handshake lines and take the replies, until connected."""
        connection = self._connection
        step: bytes | NeedData | None = connection.start()
        deadline = 0.0
        while step is not None:
            try:
                if step is NEED_DATA:
                    await self._receive(deadline, self.config.timeout)
                else:
                    await self._write(step)
                    deadline = asyncio.get_running_loop().time() + self.config.timeout
            except OSError as exc:
                raise connection.handshake_error(exc) from exc
            step = connection.handshake_step()

    async def _end_with(self, command: str) -> None:
        """Send a closing command, then read (and drop) until the server closes."""
        if self._protocol is None:
            return
        connection = self._connection
        try:
            data = connection.close_request(command)
            if data:  # else the server closed already
                await self._write(data)
            deadline = asyncio.get_running_loop().time() + self.config.timeout
            while connection.state is not ClientState.CLOSED:
                await self._receive(deadline, self.config.timeout)
        except ConnectionError:
            pass  # a reset: the server closed as well
        except OSError as exc:
            logger.debug("while waiting for the server to close: %s", exc)
        finally:
            await self.close()

    async def _write(self, data: bytes) -> None:
        """Send *data* whole, waiting while the server lags."""
        protocol = self._protocol
        if protocol is None:
            raise not_connected()
        protocol.write(data)
        await protocol.drain(self.config.timeout)

    async def _wait(self, pull: Callable[[], _Pulled | NeedData], timeout: float) -> _Pulled:
        """Return what *pull* gives once enough data came, waiting at most *timeout* for it."""
        result = pull()
        if result is NEED_DATA:
            deadline = asyncio.get_running_loop().time() + timeout
            while result is NEED_DATA:
                await self._receive(deadline, timeout)
                result = pull()
        protocol = self._protocol
        if protocol is not None:
            protocol.lines_taken()
        return result

    async def _receive(self, deadline: float, timeout: float) -> None:
        """Wait until more lines (or the end) came, at most until *deadline*; see ClientStream."""
        protocol = self._protocol
        if protocol is None:
            raise not_connected()
        await protocol.wait_for_lines(deadline, timeout)
