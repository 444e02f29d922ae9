"""The blocking client: send commands, read answers, with timeouts that say so.

Design notes
------------
The client frames what it reads with the same :class:`~linesock.LineFramer`
as the servers, so an answer split across reads, a CR before the LF or a
multi-byte character cut in two all come out whole.  It never returns an
empty string to mean "nothing came": a wait that runs out raises
``TimeoutError`` and a server that closed raises ``ConnectionError``.
Commands holding CR or LF are refused before anything is sent, since they
would reach the server as two commands.
"""

from __future__ import annotations

import logging
import socket
import ssl
from collections import deque
from types import TracebackType
from typing import Final

from ._config import DEFAULT_PORT, DEFAULT_TIMEOUT
from ._errors import ProtocolError
from ._framing import DEFAULT_MAX_LINE_BYTES, InvalidLine, LineFramer

__all__ = [
    "DEFAULT_PORT",
    "DEFAULT_TIMEOUT",
    "Client",
    "ClientSettings",
    "ProtocolError",
    "check_command",
]

logger: Final = logging.getLogger("linesock")


_READ_SIZE: Final = 64 * 1024


def check_command(command: str) -> str:
    """Return *command* if it can travel as one line; raise ``ValueError`` if not."""
    if "\n" in command or "\r" in command:
        raise ValueError(f"a command cannot hold CR or LF: {command!r}")
    return command


class ClientSettings:
    """Where a client connects and how: the settings :class:`Client` and ``AsyncClient`` share.

    Args:
        host: the server's name or address; every address it resolves to is
            tried in turn, so ``localhost`` works for IPv4 and IPv6 servers.
        port: the server's TCP port.
        timeout: seconds to wait for the connection and for each answer (the
            asyncio client also bounds a wait for a lagging server to take
            what it sent).
        encoding: how commands are encoded and answers decoded.
        max_line_bytes: the longest answer line accepted.
        ssl_context: speak TLS with this client-side context (plain TCP when
            ``None``); the certificate is checked against *server_hostname*.
        server_hostname: the name the server's certificate must carry
            (default: *host*).
        token: when the server requires one, sent as ``auth TOKEN`` by
            ``connect()``, before anything else.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        timeout: float = DEFAULT_TIMEOUT,
        *,
        encoding: str = "utf-8",
        max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        token: str | None = None,
    ) -> None:
        """Configure a client (the settings are checked now); nothing is sent until connect()."""
        LineFramer(max_line_bytes=max_line_bytes, encoding=encoding)  # raises on bad settings
        self.host: Final = host
        self.port: Final = port
        self.timeout: Final = timeout
        self.encoding: Final = encoding
        self.max_line_bytes: Final = max_line_bytes
        self.ssl_context: Final = ssl_context
        self.server_hostname: Final = server_hostname or host
        self._token = token
        self._shut_down = False
        self._start_state()

    def _start_state(self) -> None:
        """Set up the connection state of a client that is not connected yet."""


class Client(ClientSettings):
    """A blocking Oneline client.

    ``with Client(port=p) as client:`` connects (checking the server with
    ``ping``) and disconnects at the end, unless the client sent ``shutdown``.
    The settings are those of :class:`ClientSettings`.
    """

    def _start_state(self) -> None:
        """Set up the framing and socket state of a client not connected yet."""
        self._framer = LineFramer(max_line_bytes=self.max_line_bytes, encoding=self.encoding)
        self._lines: deque[str | InvalidLine] = deque()
        self._sock: socket.socket | None = None
        self._sock_timeout: float | None = None
        self._buffer = bytearray(_READ_SIZE)
        self._view = memoryview(self._buffer)

    @property
    def connected(self) -> bool:
        """True between a successful :meth:`connect` and the end of the connection."""
        return self._sock is not None

    def connect(self) -> None:
        """Connect, authenticate if a token was given, and check the server with ``ping``.

        Raises:
            ConnectionError: no server accepted the connection, the TLS
                handshake failed, the server refused the token, or it did not
                answer ``pong`` within the timeout.
        """
        self.close()
        where = f"{self.host}:{self.port}"
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except OSError as exc:
            raise ConnectionError(f"no server accepts connections at {where}: {exc}") from exc
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.ssl_context is not None:
            try:
                sock = self.ssl_context.wrap_socket(sock, server_hostname=self.server_hostname)
            except OSError as exc:
                sock.close()
                raise ConnectionError(f"TLS handshake with {where} failed: {exc}") from exc
        self._sock = sock
        self._sock_timeout = self.timeout
        self._shut_down = False
        if self._token is not None:
            self._authenticate(where, self._token)
        try:
            answer = self._ping_answer()
        except (OSError, ProtocolError) as exc:
            self.close()
            raise ConnectionError(f"the server at {where} did not answer ping: {exc}") from exc
        if answer != "pong":
            self.close()
            raise ConnectionError(f"the server at {where} answered ping with {answer!r}")
        logger.debug("connected to %s", where)

    def send(self, command: str) -> None:
        """Send one command (without its LF); raise ``ValueError`` if it holds CR or LF."""
        self._write(check_command(command) + "\n")

    def recv(self, timeout: float | None = None) -> str:
        """Return the next answer line, waiting at most *timeout* (default: the client's).

        Raises:
            TimeoutError: no complete line came in time.
            ConnectionError: the server closed the connection.
            ProtocolError: the line was undecodable or overlong.
        """
        line = self._next_line(self.timeout if timeout is None else timeout)
        if isinstance(line, InvalidLine):
            raise ProtocolError(line)
        return line

    def request(self, command: str) -> list[str]:
        """Send *command* and return all its answers (possibly none).

        The command is followed by ``ping``, and answers are read up to the
        ``pong``; so a handler that itself answers ``pong`` ends the list early.
        The built-ins are handled as such: ``request("ping")`` returns
        ``["pong"]``, and ``disconnect`` or ``shutdown`` end the session and
        return ``[]``.
        """
        if command == "ping":
            self._write("ping\n")
            return [self.recv()]
        if command in ("disconnect", "shutdown"):
            self.disconnect() if command == "disconnect" else self.shutdown()
            return []
        self._write(check_command(command) + "\nping\n")
        # recv() inlined: this loop runs once per answer line of every request.
        answers: list[str] = []
        lines = self._lines
        timeout = self.timeout
        while True:
            line = lines.popleft() if lines else self._next_line(timeout)
            if isinstance(line, InvalidLine):
                raise ProtocolError(line)
            if line == "pong":
                return answers
            answers.append(line)

    def ping(self) -> bool:
        """Tell whether the server answers ``ping`` within the timeout.

        Answers still unread before the ``pong`` are discarded.
        """
        try:
            self._write("ping\n")
            while self.recv() != "pong":
                pass
        except (OSError, ProtocolError):
            return False
        return True

    def disconnect(self) -> None:
        """Ask the server to end this session, wait until it has, and close."""
        self._end_with("disconnect")

    def shutdown(self) -> None:
        """Ask the server to shut down, wait until it closed this session, and close."""
        self._end_with("shutdown")
        self._shut_down = True

    def close(self) -> None:
        """Close the connection without a word to the server."""
        sock, self._sock = self._sock, None
        self._lines.clear()
        self._framer.feed_eof()
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
            try:
                self.disconnect()
            except OSError:
                self.close()
        self.close()

    def __repr__(self) -> str:
        """Show where the client connects and whether it is connected."""
        return f"<linesock.Client {self.host}:{self.port} connected={self.connected}>"

    # -- internals --------------------------------------------------------

    def _authenticate(self, where: str, token: str) -> None:
        """Send ``auth TOKEN``; raise ``ConnectionError`` unless the server says ``ok``."""
        try:
            self._write(f"auth {check_command(token)}\n")
            answer = self.recv()
        except (OSError, ProtocolError) as exc:
            self.close()
            raise ConnectionError(f"the server at {where} did not answer auth: {exc}") from exc
        if answer != "ok":
            self.close()
            raise ConnectionError(f"the server at {where} refused the token ({answer})")

    def _ping_answer(self) -> str:
        """Send ``ping`` and return the first answer."""
        self._write("ping\n")
        return self.recv()

    def _end_with(self, command: str) -> None:
        """Send a closing command, then read (and drop) until the server closes."""
        if self._sock is None:
            return
        try:
            self._write(command + "\n")
            while True:
                self._next_line(self.timeout)
        except ConnectionError:
            pass  # the server closed: what we waited for
        except OSError as exc:
            logger.debug("while waiting for the server to close: %s", exc)
        finally:
            self.close()

    def _write(self, text: str) -> None:
        """Send *text* whole."""
        sock = self._sock
        if sock is None:
            sock = self._connected_socket()  # raises
        if self._sock_timeout != self.timeout:
            self._set_timeout(sock, self.timeout)
        sock.sendall(text.encode(self.encoding))

    def _next_line(self, timeout: float) -> str | InvalidLine:
        """Pop the next framed line, reading until one is complete."""
        lines = self._lines
        if lines:
            return lines.popleft()
        sock = self._connected_socket()
        self._set_timeout(sock, timeout)
        buffer = self._buffer
        while True:
            size = sock.recv_into(buffer)
            if size == 0:
                self._framer.feed_eof()
                raise ConnectionError(
                    f"the server at {self.host}:{self.port} closed the connection"
                )
            lines.extend(self._framer.feed(self._view[:size].tobytes()))
            if lines:
                return lines.popleft()

    def _set_timeout(self, sock: socket.socket, timeout: float) -> None:
        """Set the socket's timeout, skipping the system call when it is unchanged."""
        if timeout != self._sock_timeout:
            sock.settimeout(timeout)
            self._sock_timeout = timeout

    def _connected_socket(self) -> socket.socket:
        """The open socket, or ``ConnectionError`` when there is none."""
        if self._sock is None:
            raise ConnectionError("the client is not connected; call connect()")
        return self._sock
