"""The blocking client: send commands, read answers, with timeouts that say so.

Design notes
------------
The protocol is :class:`~linesock.ClientConnection`'s (the handshake, the
``ping`` sentinel of a request, framing, the close); this module only moves
its bytes over a socket and waits.  It never returns an empty string to mean
"nothing came": a wait that runs out raises ``TimeoutError`` and a server
that closed raises ``ConnectionError``.  Commands holding CR or LF are
refused before anything is sent, since they would reach the server as two
commands.

Speed: :meth:`Client.request` is the hot path, written out in one method.
The wait is set only when it changes: a request whose answer comes in one
read sets nothing, and costs one ``send`` and one ``recv``.  On Linux a
plain TCP socket stays blocking and the kernel bounds each wait
(``SO_RCVTIMEO``, ``SO_SNDTIMEO``): a socket with a Python timeout would
``poll()`` before every ``send`` and ``recv``, two system calls more per
request.  TLS sockets, and other platforms, keep the Python timeout.
"""

from __future__ import annotations

import logging
import socket
import ssl
import struct
import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import Final, TypeVar

from ._client_protocol import (
    CLOSING_COMMANDS,
    NEED_DATA,
    ClientConnection,
    ClientState,
    NeedData,
    answer_timeout,
    check_command,
    not_connected,
    send_timeout,
)
from ._client_states import ClientSettingsView
from ._config import (
    DEFAULT_HOST,
    DEFAULT_MAX_ANSWER_LINES,
    DEFAULT_PORT,
    DEFAULT_TIMEOUT,
    ClientConfig,
)
from ._delimited import AnswerTerminator, CommandTerminator
from ._errors import ProtocolError
from ._framing import DEFAULT_MAX_LINE_BYTES
from ._wire import DISCONNECT, PING, SHUTDOWN

__all__ = [
    "DEFAULT_PORT",
    "DEFAULT_TIMEOUT",
    "Client",
    "ClientSettings",
    "ProtocolError",
    "check_command",
]

logger: Final = logging.getLogger("linesock")

#: The 0.1.0 name of :class:`~linesock.ClientConfig`, kept as an alias (it was
#: the base class of both clients; they now hold one as ``config``).
ClientSettings = ClientConfig

_READ_SIZE: Final = 64 * 1024
_Pulled = TypeVar("_Pulled")
# What a wait that runs out raises: the Python timeout's error, or EAGAIN
# from a blocking socket whose kernel wait ended.
_WAIT_ENDED: Final = (TimeoutError, BlockingIOError)
_monotonic: Final = time.monotonic
# Whether plain TCP sockets wait with SO_RCVTIMEO and SO_SNDTIMEO (a struct
# timeval of two C longs, as on Linux).
_KERNEL_WAITS: Final = sys.platform.startswith("linux")


def _set_kernel_wait(sock: socket.socket, wait: float) -> None:
    """Bound each blocking ``send`` and ``recv`` on *sock* to *wait* seconds (> 0)."""
    whole = int(wait)
    micro = min(999_999, max(0 if whole else 1, round((wait - whole) * 1_000_000)))
    timeval = struct.pack("@ll", whole, micro)  # (0, 0) would mean: wait forever
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)


class Client(ClientSettingsView):
    """A blocking Oneline client.

    ``with Client(port=p) as client:`` connects (checking the server with
    ``ping``) and disconnects at the end, unless the client sent ``shutdown``.
    The arguments are the fields of :class:`~linesock.ClientConfig`, which
    the client keeps as :attr:`config`; the settings are checked now, and
    nothing is sent until :meth:`connect`.
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
        self._timeout: Final = timeout
        self._connection = ClientConnection(self.config)
        self._sock: socket.socket | None = None
        # The socket's timeout now, to skip setting it again.
        self._wait: float | None = None
        # Whether the socket is blocking, its waits bounded by the kernel.
        self._kernel_waits = False
        self._shut_down = False

    @property
    def connected(self) -> bool:
        """True between a successful :meth:`connect` and the end of the connection."""
        return self._sock is not None

    def connect(self) -> None:
        """Connect, authenticate if a token was given, and check the server with ``ping``.

        Raises:
            NoServerError: no server accepted the connection, or the TLS
                handshake failed.
            AuthenticationError: the server refused the token (or wants one).
            ConnectionError: the server did not answer ``pong`` within the
                timeout.
        """
        self.close()
        config, connection = self.config, self._connection
        try:
            sock = socket.create_connection((config.host, config.port), timeout=config.timeout)
        except OSError as exc:
            raise connection.connect_error(exc) from exc
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if config.ssl_context is not None:
            try:
                sock = config.ssl_context.wrap_socket(sock, server_hostname=config.server_hostname)
            except OSError as exc:
                sock.close()
                raise connection.tls_error(exc) from exc
        self._kernel_waits = _KERNEL_WAITS and not isinstance(sock, ssl.SSLSocket)
        if self._kernel_waits:
            sock.settimeout(None)
            _set_kernel_wait(sock, config.timeout)
        self._sock = sock
        self._wait = config.timeout
        self._shut_down = False
        try:
            self._handshake()
        except BaseException:
            self.close()
            raise
        logger.debug("connected to %s", connection.where)

    def send(self, command: str) -> None:
        """Send one command (without its LF); raise ``ValueError`` if it holds CR or LF."""
        self._send(self._connection.send(command))

    def recv(self, timeout: float | None = None) -> str:
        """Return the next answer line, waiting at most *timeout* (default: the client's).

        Raises:
            TimeoutError: no complete line came in time.
            ConnectionError: the server closed the connection.
            NotConnectedError: the client is not connected.
            ProtocolError: the line was undecodable or overlong.
        """
        connection = self._connection
        return self._pull(connection.next_line, self.timeout if timeout is None else timeout)

    def request(self, command: str) -> list[str]:
        """Send *command* and return all its answers (possibly none).

        The command is followed by ``ping``, and answers are read up to the
        ``pong``; so a handler that itself answers ``pong`` ends the list early.
        The built-ins are handled as such: ``request("ping")`` returns
        ``["pong"]``, and ``disconnect`` or ``shutdown`` end the session and
        return ``[]``.
        """
        connection = self._connection
        try:
            data = connection.request(command)
        except (ValueError, ConnectionError):
            # The core refuses the closing commands, as it does any command
            # while not connected: these end the session (or nothing) here.
            if command not in CLOSING_COMMANDS:
                raise
            self.disconnect() if command == DISCONNECT else self.shutdown()
            return []
        sock = self._sock
        if sock is None:
            raise not_connected()
        # _send() and _receive() written out: this runs once per request.
        timeout = self._timeout
        if self._wait != timeout:
            self._set_wait(sock, timeout)
        began = _monotonic()
        try:
            sent = sock.send(data)
        except _WAIT_ENDED:
            raise send_timeout(timeout) from None
        if sent != len(data):
            self._send_rest(sock, data, sent, began)
            began = _monotonic()
        # Settled: nothing came before that could hold the answers.
        answers = NEED_DATA if connection.settled else connection.next_answers()
        if answers is NEED_DATA:
            try:
                data = sock.recv(_READ_SIZE)
            except _WAIT_ENDED:
                raise answer_timeout(timeout) from None
            answers = connection.receive_answers(data)
            if answers is NEED_DATA:
                # One deadline for the whole answer: a server that trickles
                # bytes (or lines, never the pong) cannot stretch it read by read.
                answers = self._pull(connection.next_answers, timeout, began + timeout)
        return answers

    def ping(self) -> bool:
        """Tell whether the server answers ``ping`` within the timeout.

        Answers still unread before the ``pong`` are discarded.
        """
        try:
            self._send(self._connection.request(PING))
            self._pull(self._connection.next_answers, self.timeout)
        except (OSError, ProtocolError):
            return False
        return True

    def disconnect(self) -> None:
        """Ask the server to end this session, wait until it has, and close."""
        self._end_with(DISCONNECT)

    def shutdown(self) -> None:
        """Ask the server to shut down, wait until it closed this session, and close."""
        self._end_with(SHUTDOWN)
        self._shut_down = True

    def close(self) -> None:
        """Close the connection without a word to the server."""
        sock, self._sock = self._sock, None
        if self._connection.state is not ClientState.IDLE:
            self._connection = ClientConnection(self.config)
        if sock is not None:
            sock.close()

    def __enter__(self) -> Client:
        """Connect."""
        self.connect()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Disconnect, unless the session already ended (after ``shutdown``, say)."""
        if self._sock is not None and not self._shut_down:
            self.disconnect()  # never raises: it closes whatever happens
        self.close()

    def __repr__(self) -> str:
        """Show where the client connects and whether it is connected."""
        return f"<linesock.Client {self.host}:{self.port} connected={self.connected}>"

    # -- internals --------------------------------------------------------

    def _handshake(self) -> None:
        """Send the connection's handshake lines and take the replies, until connected."""
        connection = self._connection
        step: bytes | NeedData | None = connection.start()
        while step is not None:
            try:
                if step is NEED_DATA:
                    self._receive(self.config.timeout)
                else:
                    self._send(step)
            except OSError as exc:
                raise connection.handshake_error(exc) from exc
            step = connection.handshake_step()

    def _end_with(self, command: str) -> None:
        """Send a closing command, then read (and drop) until the server closes."""
        if self._sock is None:
            return
        connection = self._connection
        try:
            data = connection.close_request(command)
            if data:  # else the server closed already
                self._send(data)
            while connection.state is not ClientState.CLOSED:
                self._receive(self.config.timeout)
        except ConnectionError:
            pass  # a reset: the server closed as well
        except OSError as exc:
            logger.debug("while waiting for the server to close: %s", exc)
        finally:
            self.close()

    def _pull(
        self, pull: Callable[[], _Pulled | NeedData], timeout: float, deadline: float | None = None
    ) -> _Pulled:
        """Return what *pull* gives once enough data came, reading until one deadline.

        The deadline is *timeout* from now, unless given.
        """
        if deadline is None:
            deadline = _monotonic() + timeout
        while (result := pull()) is NEED_DATA:
            left = deadline - _monotonic()
            if left <= 0:
                raise answer_timeout(timeout)
            self._receive(left, timeout)
        return result

    def _send(self, data: bytes) -> None:
        """Send *data* whole, within the timeout."""
        sock = self._sock
        if sock is None:
            raise not_connected()
        timeout = self._timeout
        if self._wait != timeout:
            self._set_wait(sock, timeout)
        began = _monotonic()
        try:
            sent = sock.send(data)
        except _WAIT_ENDED:
            raise send_timeout(timeout) from None
        if sent != len(data):
            self._send_rest(sock, data, sent, began)

    def _send_rest(self, sock: socket.socket, data: bytes, sent: int, began: float) -> None:
        """Send what one ``send`` left of *data*, within the timeout that began at *began*."""
        timeout = self._timeout
        rest = memoryview(data)[sent:]
        while rest:
            left = began + timeout - _monotonic()
            if left <= 0:
                raise send_timeout(timeout)
            self._set_wait(sock, left)
            try:
                rest = rest[sock.send(rest) :]
            except _WAIT_ENDED:
                raise send_timeout(timeout) from None

    def _receive(self, wait: float, timeout: float | None = None) -> None:
        """Wait at most *wait* for the next read, and hand it to the connection.

        A wait that runs out is reported as the *timeout* it is part of.
        """
        sock = self._sock
        if sock is None:
            raise not_connected()
        if wait != self._wait:
            self._set_wait(sock, wait)
        try:
            data = sock.recv(_READ_SIZE)
        except _WAIT_ENDED:
            raise answer_timeout(wait if timeout is None else timeout) from None
        self._connection.receive_data(data)

    def _set_wait(self, sock: socket.socket, wait: float) -> None:
        """Set the socket's wait to *wait* seconds; remembered, to skip unchanged ones."""
        if self._kernel_waits:
            _set_kernel_wait(sock, wait)
        else:
            sock.settimeout(wait)
        self._wait = wait
