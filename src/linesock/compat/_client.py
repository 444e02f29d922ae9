"""The socket-oneline compatible client, on linesock's client core.

The protocol (the ``ping`` check on connecting, framing, invalid lines,
the close) is :class:`~linesock.ClientConnection`'s, as for linesock's own
clients; this module keeps the old interface around it: nothing raises,
every failure is logged, and ``recv()`` returns ``''`` when nothing came.
"""

from __future__ import annotations

import logging
import socket
import time

from .._client_protocol import (
    NEED_DATA,
    ClientConnection,
    ClientState,
    NeedData,
    answer_timeout,
    check_command,
)
from .._config import ClientConfig
from .._errors import RemoteProtocolError
from .._framing import InvalidLine
from .._wire import DISCONNECT, SHUTDOWN
from ._endpoint import (
    CLOSE_WAIT,
    ENCODING,
    NETWORK_TIMEOUT,
    READ_SIZE,
    InfoLogger,
    OnelineEndpoint,
    clip,
    os_reason,
)


class OnelineClient(OnelineEndpoint):
    """A client with the interface of ``socket_oneline.OnelineClient``.

    Set ``ip_address`` and ``ip_port`` (as properties or through
    :meth:`init`), :meth:`connect`, then :meth:`send` commands and
    :meth:`recv` answers, and end with :meth:`disconnect` or
    :meth:`shutdown`.  Nothing raises on a dead connection: it is logged and
    :attr:`connected` turns false.  Like the old client, one instance is
    meant for one thread.
    """

    def __init__(self) -> None:
        """Create a client; nothing is sent until :meth:`connect`."""
        super().__init__("oneline compat client")
        self._sock: socket.socket | None = None
        self._connection: ClientConnection | None = None

    @property
    def connected(self) -> bool:
        """True from a successful :meth:`connect` until the connection ends."""
        return self._sock is not None

    def init(
        self,
        ip_address: str | None = None,
        ip_port: int | None = None,
        logger: InfoLogger | None = None,
        verbose: bool | None = None,
    ) -> bool:
        """Set the parameters (None keeps a value); True if address and port are set."""
        self._apply(ip_address, ip_port, logger, verbose)
        return not self._missing("connect", ip_address=self._ip_address, ip_port=self._ip_port)

    def connect(self) -> bool:
        """Connect and check the server with ``ping``; True if it answered ``pong``.

        A connection still open is ended with ``disconnect`` first.  Never
        raises for a connection failure: it is logged and False returned.
        """
        if self._sock is not None:
            self.disconnect()
        address, port = self._ip_address, self._ip_port
        missing = self._missing("connect", ip_address=address, ip_port=port)
        if missing or address is None or port is None:
            return False
        connection = ClientConnection(ClientConfig(address, port, encoding=ENCODING))
        try:
            sock = socket.create_connection((address, port), timeout=NETWORK_TIMEOUT)
        except (OSError, OverflowError) as exc:
            self._problem(f"cannot connect to {connection.where}: {os_reason(exc)}", logging.INFO)
            return False
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock, self._connection = sock, connection
        if self._handshake(connection):
            self._log(f"connected to {connection.where}")
            return True
        self._close()
        return False

    def send(self, cmd: str) -> None:
        """Send one command; a command holding CR or LF is logged and not sent.

        Such a command would reach the server as two commands.  On a dead
        connection the failure is logged and :attr:`connected` turns false.
        Like the old client, a non-``str`` is sent as ``str(cmd)``.
        """
        text = str(cmd)
        try:
            check_command(text)
        except ValueError:
            self._problem(
                f"a command cannot hold CR or LF (the server would read several); "
                f"not sent: {clip(repr(text))}"
            )
            return
        self._send_line(text)

    def recv(self, timeout: float = 3) -> str:
        """Return the next answer line, or ``''`` if none came within *timeout* seconds.

        Also ``''`` when the server has closed the connection (then
        :attr:`connected` is false).  A partial line that arrived in time is
        kept for the next call, not returned cut short.  An undecodable line
        comes back decoded with U+FFFD for each bad byte.
        """
        line = self._next_line(timeout)
        if line is None:
            return ""
        if isinstance(line, InvalidLine):
            if line.reason == "overlong":
                self._problem(f"dropped an answer of {line.size} bytes: too long")
                return ""
            self._problem("the answer was not valid UTF-8; bad bytes became U+FFFD")
            return line.data.decode(ENCODING, "replace")
        self._log(f"rx: {clip(line)}")
        return line

    def disconnect(self) -> None:
        """Ask the server to end this session, wait (briefly) until it has, and close."""
        self._end_session(DISCONNECT)

    def shutdown(self) -> None:
        """Ask the server to shut down, wait (briefly) until it has closed, and close."""
        self._end_session(SHUTDOWN)

    def term(self) -> None:
        """End the connection, if any, with ``disconnect``."""
        self._end_session(DISCONNECT)

    # -- internals ------------------------------------------------------------

    def _handshake(self, connection: ClientConnection) -> bool:
        """Check the server with the connection's handshake; log why not if it fails."""
        step: bytes | NeedData | None = connection.start()
        deadline = time.monotonic() + NETWORK_TIMEOUT
        try:
            while step is not None:
                if step is NEED_DATA:
                    if not self._receive(deadline):
                        if self._sock is not None:  # else the failure is logged already
                            timeout = answer_timeout(NETWORK_TIMEOUT)
                            self._problem(str(connection.handshake_error(timeout)), logging.INFO)
                        return False
                elif not self._send_bytes(step, step.decode(ENCODING).rstrip("\n")):
                    return False
                step = connection.handshake_step()
        except ConnectionError as exc:  # the server's answer was not pong
            self._problem(str(exc), logging.INFO)
            return False
        return True

    def _send_line(self, text: str) -> bool:
        """Send *text* and its LF; on failure log, close and return False."""
        connection = self._connection
        if self._sock is None or connection is None:
            self._problem(f"not connected; not sent: {clip(text)}")
            return False
        try:
            data = connection.send(text)
        except UnicodeEncodeError as exc:
            self._problem(f"cannot encode the command ({exc}); not sent: {clip(repr(text))}")
            return False
        except ConnectionError as exc:  # the server closed
            self._problem(f"{exc}; not sent: {clip(text)}")
            self._close()
            return False
        return self._send_bytes(data, text)

    def _send_bytes(self, data: bytes, shown: str) -> bool:
        """Send *data* (logged as *shown*); on failure log, close and return False."""
        sock = self._sock
        if sock is None:
            return False
        try:
            sock.settimeout(NETWORK_TIMEOUT)
            sock.sendall(data)
        except OSError as exc:
            self._problem(f"send failed ({os_reason(exc)}); disconnected")
            self._close()
            return False
        self._log(f"tx: {clip(shown)}")
        return True

    def _next_line(self, timeout: float) -> str | InvalidLine | None:
        """The next framed line, or None on timeout or when the connection ended."""
        deadline = time.monotonic() + timeout
        connection = self._connection
        while True:
            if self._sock is None or connection is None:
                self._problem("not connected; nothing to receive", logging.INFO)
                return None
            try:
                line = connection.next_line()
            except RemoteProtocolError as exc:
                return exc.line
            except ConnectionError:
                self._problem("the server closed the connection", logging.INFO)
                self._close()
                return None
            if line is not NEED_DATA:
                return line
            if not self._receive(deadline):
                return None

    def _receive(self, deadline: float) -> bool:
        """Read once, waiting until *deadline* at most; False on timeout or failure."""
        sock, connection = self._sock, self._connection
        if sock is None or connection is None:
            return False
        try:
            # A timeout of 0 makes this one non-blocking read.
            sock.settimeout(max(0.0, deadline - time.monotonic()))
            data = sock.recv(READ_SIZE)
        except (TimeoutError, BlockingIOError):
            return False
        except OSError as exc:
            self._problem(f"receive failed ({os_reason(exc)}); disconnected")
            self._close()
            return False
        connection.receive_data(data)
        return True

    def _end_session(self, command: str) -> None:
        """Send *command*, wait for the server to close, then close."""
        sock, connection = self._sock, self._connection
        if sock is None or connection is None:
            self._log(f"{command}: already disconnected")
            return
        if self._send_bytes(connection.close_request(command), command):
            _wait_for_close(sock, connection)
            self._close()
        self._log(f"{command}: disconnected")

    def _close(self) -> None:
        """Close the socket and forget any unread answers."""
        sock, self._sock, self._connection = self._sock, None, None
        if sock is not None:
            sock.close()


def _wait_for_close(sock: socket.socket, connection: ClientConnection) -> None:
    """Half-close *sock* and read (the connection drops it) until the server closes, for a while.

    Closing with unread answers in the buffer would reset the connection,
    which the old server does not survive; waiting for its close avoids that.
    """
    deadline = time.monotonic() + CLOSE_WAIT
    try:
        sock.shutdown(socket.SHUT_WR)
        while connection.state is not ClientState.CLOSED:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            sock.settimeout(left)
            connection.receive_data(sock.recv(READ_SIZE))
    except OSError:
        pass
