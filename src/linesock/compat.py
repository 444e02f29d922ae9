"""A drop-in replacement for the ``socket-oneline`` 1.2.0 classes, built on linesock.

Code written for ``socket-oneline`` switches by changing one import::

    from linesock.compat import OnelineClient, OnelineServer

How the old calls map onto linesock
-----------------------------------
:class:`OnelineServer` wraps a threaded :class:`linesock.Server`:

* ``start()`` checks its parameters, builds a ``Server`` whose handler calls
  ``callback(cmd, False)`` and answers nothing itself, and whose
  ``on_invalid`` hook calls ``callback(text, True)``; it returns True once
  the port is listening (no sleep) and False, with the reason logged, when a
  parameter is missing or the port cannot be bound.  ``ip_port=0`` lets the
  OS choose a port; ``ip_port`` holds the real one after ``start()``.
* ``send(rsp)`` writes one line to the connected client.  It is thread-safe:
  call it from the callback, or later from any thread (a GUI event loop, a
  worker) while the client is connected.  A response holding LF is refused,
  since it would reach the client as several lines.
* ``term()`` stops the server from any thread; calling it again does nothing.
* ``ping``, ``disconnect`` and ``shutdown`` are answered by linesock's
  protocol core (:class:`linesock.Session`), as the old server did.

:class:`OnelineClient` drives a :class:`linesock.LineFramer` over a plain
socket, so answers are framed exactly as linesock's own client frames them.
``recv()`` keeps the old contract of returning ``''`` when no line comes in
time, and also when the server has closed the connection.

What is different, and why
--------------------------
* Lines are decoded whole, as UTF-8: ``café`` arrives as ``café``.  The old
  server decoded byte by byte, so every non-ASCII character was lost.
* A line the server cannot decode reaches the callback with
  ``is_invalid=True`` and its text decoded with ``errors="replace"`` (each
  bad byte becomes U+FFFD), where the old server silently dropped the bad
  bytes.  The callback sees where the damage is, and still gets the rest.
* A line longer than :data:`linesock.DEFAULT_MAX_LINE_BYTES` is not a
  command: the callback gets ``is_invalid=True`` and the line's first 128
  bytes.  The old server buffered any length in memory.
* One CR right before the LF is dropped (``nc -C`` and telnet work); the
  client no longer strips other whitespace from answers.
* Nothing sleeps or polls, and a client that vanishes without
  ``disconnect`` frees the server at once instead of making it spin.
* A callback that raises is logged and the server goes on serving.
* A first line that looks like HTTP closes the connection without calling
  the callback (linesock's guard against browsers posting to the port);
  both Oneline clients send ``ping`` first, so they never trip it.
* ``localhost`` and other names are bound on IPv4, as before.
* Errors are never silent: with ``verbose`` they go to the given logger (or
  stdout), otherwise to the standard ``logging`` logger ``linesock.compat``.
* ``OnelineClient.send`` refuses a command holding CR or LF (it would reach
  the server as two commands), and ``term()`` says ``disconnect`` before it
  closes, so an old server is never left spinning on a vanished client.

docs/migrating.md has the side-by-side table of old and new calls.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Final, Protocol, TypeAlias

from ._framing import InvalidLine, LineFramer
from ._server import Server
from ._version import __version__

__all__ = ["InfoLogger", "OnelineCallback", "OnelineClient", "OnelineServer"]

#: The callback of an :class:`OnelineServer`: ``callback(cmd, is_invalid)``.
#: Its return value is ignored; it answers through :meth:`OnelineServer.send`.
OnelineCallback: TypeAlias = Callable[[str, bool], object]

_ENCODING: Final = "utf-8"
# The old client waited this long for an answer by default; the compat
# client gives connecting, sending and the ping check the same patience.
_NETWORK_TIMEOUT: Final = 3.0
# How long disconnect() waits for the server to close its side.  Both the
# old server and linesock's close at once, so this only bounds a broken one.
_CLOSE_WAIT: Final = 1.0
# How long term() waits for the serving thread; it only takes longer when a
# callback is still busy, and then the server stops once that callback returns.
_TERM_WAIT: Final = 5.0
# Log lines show at most this many characters of a command or response.
_LOG_CHARS: Final = 200
_READ_SIZE: Final = 64 * 1024

# Where errors go when ``verbose`` is off, so they are never silent.
_fallback_logger: Final = logging.getLogger("linesock.compat")


class InfoLogger(Protocol):
    """What the compat classes need of a ``logger``: an ``info(message)`` method."""

    def info(self, msg: str, /) -> object:
        """Record one log line."""


def _reason(exc: BaseException) -> str:
    """Why a socket call failed, in the operating system's words, for a log line."""
    if isinstance(exc, OSError) and exc.errno is not None and not isinstance(exc, socket.gaierror):
        return os.strerror(exc.errno)
    return str(exc) or type(exc).__name__


def _clip(text: str) -> str:
    """Shorten *text* for a log line."""
    return text if len(text) <= _LOG_CHARS else text[:_LOG_CHARS] + "..."


class _OnelineEndpoint:
    """The settings and the logging that the compat server and client share."""

    def __init__(self, log_prefix: str) -> None:
        """Start with nothing set and logging off."""
        self._log_prefix: Final = log_prefix
        self._ip_address: str | None = None
        self._ip_port: int | None = None
        self._logger: InfoLogger | None = None
        self._verbose = False

    @property
    def version(self) -> str:
        """The version of linesock (not of socket-oneline)."""
        return __version__

    @property
    def ip_address(self) -> str | None:
        """The IP address or host name to listen on or connect to."""
        return self._ip_address

    @ip_address.setter
    def ip_address(self, value: str | None) -> None:
        self._ip_address = value

    @property
    def ip_port(self) -> int | None:
        """The TCP port to listen on or connect to."""
        return self._ip_port

    @ip_port.setter
    def ip_port(self, value: int | None) -> None:
        self._ip_port = value

    @property
    def logger(self) -> InfoLogger | None:
        """Where log lines go when ``verbose`` is true; None prints them to stdout."""
        return self._logger

    @logger.setter
    def logger(self, value: InfoLogger | None) -> None:
        self._logger = value

    @property
    def verbose(self) -> bool:
        """Whether to log what happens; when false only errors are logged (see the module)."""
        return self._verbose

    @verbose.setter
    def verbose(self, value: bool) -> None:
        self._verbose = value

    def _apply(
        self,
        ip_address: str | None,
        ip_port: int | None,
        logger: InfoLogger | None,
        verbose: bool | None,
    ) -> None:
        """Take the parameters given to ``start``/``init``; None keeps the current value."""
        if ip_address is not None:
            self._ip_address = ip_address
        if ip_port is not None:
            self._ip_port = ip_port
        if logger is not None:
            self._logger = logger
        if verbose is not None:
            self._verbose = verbose

    def _missing(self, what: str, **settings: object) -> bool:
        """Log each setting that is None; return True if any was."""
        missing = [name for name, value in settings.items() if value is None]
        for name in missing:
            self._problem(f"cannot {what}: {name} is not set")
        return bool(missing)

    def _log(self, message: str) -> None:
        """Log *message* to the logger (or stdout) when verbose; otherwise do nothing."""
        if not self._verbose:
            return
        line = f"{self._log_prefix}: {message}"
        if self._logger is None:
            print(line, flush=True)
        else:
            self._logger.info(line)

    def _problem(self, message: str, level: int = logging.WARNING) -> None:
        """Log an error: on the verbose channel if verbose, else with :mod:`logging`."""
        if self._verbose:
            self._log(f"error: {message}")
        else:
            _fallback_logger.log(level, "%s: %s", self._log_prefix, message)


def _listen_host(ip_address: str) -> str:
    """The host to bind for *ip_address*, preferring IPv4 as the old server did.

    The old server listened on IPv4 only, so ``localhost`` must not end up
    on ``::1`` where IPv4-only clients cannot reach it.  An empty address
    meant every interface.  An IPv6-only address is passed on as it is.
    """
    if not ip_address:
        return "0.0.0.0"
    try:
        infos = socket.getaddrinfo(ip_address, None, family=socket.AF_INET)
    except (OSError, UnicodeError):
        return ip_address
    return str(infos[0][4][0])


class OnelineServer(_OnelineEndpoint):
    """A server with the interface of ``socket_oneline.OnelineServer``.

    >>> server = OnelineServer()
    >>> server.start(ip_address="127.0.0.1", ip_port=0, callback=lambda cmd, bad: None)
    True
    >>> server.term()

    Set ``ip_address``, ``ip_port`` and ``callback`` (as properties or as
    ``start`` parameters), call :meth:`start`, answer with :meth:`send`,
    stop with :meth:`term`.  The callback runs on the serving thread, one
    command at a time, as ``callback(cmd, is_invalid)``.
    """

    def __init__(self) -> None:
        """Create a server; nothing listens until :meth:`start`."""
        super().__init__("oneline compat server")
        self._callback: OnelineCallback | None = None
        self._server: Server | None = None
        self._lock = threading.Lock()

    @property
    def callback(self) -> OnelineCallback | None:
        """Called as ``callback(cmd, is_invalid)`` for each command that is not built in."""
        return self._callback

    @callback.setter
    def callback(self, value: OnelineCallback | None) -> None:
        self._callback = value

    @property
    def is_running(self) -> bool:
        """True from a successful :meth:`start` until the server has stopped."""
        server = self._server
        return server is not None and server.is_running

    def start(
        self,
        ip_address: str | None = None,
        ip_port: int | None = None,
        callback: OnelineCallback | None = None,
        logger: InfoLogger | None = None,
        verbose: bool | None = None,
    ) -> bool:
        """Listen and serve on a background thread; True once clients can connect.

        Parameters left as None keep the value set before.  Returns False,
        with the reason logged, when ``ip_address``, ``ip_port`` or
        ``callback`` is not set or the port cannot be bound.  ``ip_port=0``
        lets the OS choose; :attr:`ip_port` then holds the real port.  A
        server that is already running is stopped first.
        """
        self._apply(ip_address, ip_port, logger, verbose)
        if callback is not None:
            self._callback = callback
        address, port = self._ip_address, self._ip_port
        missing = self._missing("start", ip_address=address, ip_port=port, callback=self._callback)
        if missing or address is None or port is None:
            return False
        with self._lock:
            previous, self._server = self._server, None
            if previous is not None and previous.is_running:
                self._log("already running: stopping the previous server first")
                previous.stop(_TERM_WAIT)
            host = _listen_host(address)
            server = Server(self._on_command, host=host, port=port, on_invalid=self._on_invalid)
            try:
                server.start()
            except (OSError, OverflowError) as exc:
                server.stop()  # releases its wake-up sockets
                self._problem(f"cannot listen on {address}:{port}: {_reason(exc)}")
                return False
            self._server = server
            self._ip_port = server.port
        self._log(f"listening on {host}:{server.port}")
        return True

    def send(self, rsp: str) -> None:
        """Send *rsp* as one line to the connected client; safe from any thread.

        Call it from the callback or later, from any thread, while the client
        is connected; it goes to whichever client is connected at the time.
        A response holding LF, or sent with no client connected, is logged
        and dropped.  Like the old server, a non-``str`` is sent as ``str(rsp)``.
        """
        text = str(rsp)
        if "\n" in text:
            self._problem(
                f"a response cannot hold LF (the client would read several lines); "
                f"dropped: {_clip(repr(text))}"
            )
            return
        server = self._server
        if server is None:
            self._problem(f"the server was never started; dropped: {_clip(text)}")
            return
        try:
            data = (text + "\n").encode(_ENCODING)
        except UnicodeEncodeError as exc:
            self._problem(f"cannot encode the response ({exc}); dropped: {_clip(repr(text))}")
            return
        if server._send_to_client(data):
            self._log(f"tx: {_clip(text)}")
        else:
            self._problem(f"no client connected; dropped: {_clip(text)}")

    def term(self) -> None:
        """Stop the server: end the client's session and stop listening.

        Safe from any thread, the callback included (the server then stops
        once the callback returns), and safe to call more than once.
        """
        server = self._server
        was_running = server is not None and server.is_running
        if server is None or not was_running:
            self._log("terminate: the server is not running")
            return
        self._log("terminating")
        server.stop(_TERM_WAIT)
        if server.is_running:
            self._log("the server stops once the current callback returns")
        else:
            self._log("terminated")

    def _on_command(self, command: str) -> None:
        """Hand a command to the callback; the callback answers with send()."""
        self._log(f"rx: {_clip(command)}")
        callback = self._callback
        if callback is None:
            self._problem(f"callback is not set; command ignored: {_clip(command)}")
            return
        callback(command, False)

    def _on_invalid(self, line: InvalidLine) -> None:
        """Hand an undecodable or overlong line to the callback, as is_invalid=True."""
        text = line.data.decode(_ENCODING, "replace")
        if line.reason == "overlong":
            self._log(f"rx overlong line of {line.size} bytes; passing on its start")
        else:
            self._log(f"rx undecodable line: {_clip(text)}")
        callback = self._callback
        if callback is None:
            self._problem("callback is not set; invalid line ignored")
            return
        callback(text, True)


class OnelineClient(_OnelineEndpoint):
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
        self._framer = LineFramer(encoding=_ENCODING)
        self._lines: deque[str | InvalidLine] = deque()

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
        where = f"{address}:{port}"
        try:
            sock = socket.create_connection((address, port), timeout=_NETWORK_TIMEOUT)
        except (OSError, OverflowError) as exc:
            self._problem(f"cannot connect to {where}: {_reason(exc)}", logging.INFO)
            return False
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        answer = self._next_line(_NETWORK_TIMEOUT) if self._send_line("ping") else None
        if answer == "pong":
            self._log(f"connected to {where}")
            return True
        self._problem(f"the server at {where} did not answer ping: {answer!r}", logging.INFO)
        self._close()
        return False

    def send(self, cmd: str) -> None:
        """Send one command; a command holding CR or LF is logged and not sent.

        Such a command would reach the server as two commands.  On a dead
        connection the failure is logged and :attr:`connected` turns false.
        Like the old client, a non-``str`` is sent as ``str(cmd)``.
        """
        text = str(cmd)
        if "\n" in text or "\r" in text:
            self._problem(
                f"a command cannot hold CR or LF (the server would read several); "
                f"not sent: {_clip(repr(text))}"
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
            return line.data.decode(_ENCODING, "replace")
        self._log(f"rx: {_clip(line)}")
        return line

    def disconnect(self) -> None:
        """Ask the server to end this session, wait (briefly) until it has, and close."""
        self._end_session("disconnect")

    def shutdown(self) -> None:
        """Ask the server to shut down, wait (briefly) until it has closed, and close."""
        self._end_session("shutdown")

    def term(self) -> None:
        """End the connection, if any, with ``disconnect``."""
        self._end_session("disconnect")

    # -- internals ------------------------------------------------------------

    def _send_line(self, text: str) -> bool:
        """Send *text* and its LF; on failure log, close and return False."""
        sock = self._sock
        if sock is None:
            self._problem(f"not connected; not sent: {_clip(text)}")
            return False
        try:
            data = (text + "\n").encode(_ENCODING)
        except UnicodeEncodeError as exc:
            self._problem(f"cannot encode the command ({exc}); not sent: {_clip(repr(text))}")
            return False
        try:
            sock.settimeout(_NETWORK_TIMEOUT)
            sock.sendall(data)
        except OSError as exc:
            self._problem(f"send failed ({_reason(exc)}); disconnected")
            self._close()
            return False
        self._log(f"tx: {_clip(text)}")
        return True

    def _next_line(self, timeout: float) -> str | InvalidLine | None:
        """The next framed line, or None on timeout or when the connection ended."""
        lines = self._lines
        deadline = time.monotonic() + timeout
        while not lines:
            sock = self._sock
            if sock is None:
                self._problem("not connected; nothing to receive", logging.INFO)
                return None
            try:
                # A timeout of 0 makes this one non-blocking read.
                sock.settimeout(max(0.0, deadline - time.monotonic()))
                data = sock.recv(_READ_SIZE)
            except (TimeoutError, BlockingIOError):
                return None
            except OSError as exc:
                self._problem(f"receive failed ({_reason(exc)}); disconnected")
                self._close()
                return None
            if not data:
                self._problem("the server closed the connection", logging.INFO)
                self._close()
                return None
            lines.extend(self._framer.feed(data))
            if not lines and time.monotonic() >= deadline:
                return None
        return lines.popleft()

    def _end_session(self, command: str) -> None:
        """Send *command*, wait for the server to close, then close."""
        sock = self._sock
        if sock is None:
            self._log(f"{command}: already disconnected")
            return
        if self._send_line(command):
            _wait_for_close(sock)
            self._close()
        self._log(f"{command}: disconnected")

    def _close(self) -> None:
        """Close the socket and forget any unread answers."""
        sock, self._sock = self._sock, None
        self._lines.clear()
        self._framer.feed_eof()
        if sock is not None:
            sock.close()


def _wait_for_close(sock: socket.socket) -> None:
    """Half-close *sock* and read (discarding) until the server closes, for a while.

    Closing with unread answers in the buffer would reset the connection,
    which the old server does not survive; waiting for its close avoids that.
    """
    deadline = time.monotonic() + _CLOSE_WAIT
    try:
        sock.shutdown(socket.SHUT_WR)
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            if not sock.recv(_READ_SIZE):
                return
    except OSError:
        pass
