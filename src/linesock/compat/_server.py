"""The socket-oneline compatible server, on the threaded :class:`linesock.Server`."""

from __future__ import annotations

import socket
import threading

from .._faults import Faults
from .._framing import InvalidLine
from .._server import Server
from ._endpoint import (
    ENCODING,
    TERM_WAIT,
    InfoLogger,
    OnelineCallback,
    OnelineEndpoint,
    clip,
    os_reason,
)


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


class OnelineServer(OnelineEndpoint):
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
                previous.stop(TERM_WAIT)
            host = _listen_host(address)
            server = Server(self._on_command, host=host, port=port, on_invalid=self._on_invalid)
            try:
                server.start()
            except (OSError, OverflowError) as exc:
                server.stop()  # releases its wake-up sockets
                self._problem(f"cannot listen on {address}:{port}: {os_reason(exc)}")
                return False
            self._server = server
            self._ip_port = server.port
        self._log(f"listening on {host}:{server.port}")
        return True

    @property
    def faults(self) -> Faults:
        """The faults of the running server (see :class:`linesock.Faults`); a new one per start.

        Raises:
            RuntimeError: the server was never started.
        """
        server = self._server
        if server is None:
            raise RuntimeError("the server was never started: start() it first")
        return server.faults

    def kick(self) -> bool:
        """End the connected client's session now (a plain close); False if none is connected."""
        server = self._server
        return server is not None and server.kick()

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
                f"dropped: {clip(repr(text))}"
            )
            return
        server = self._server
        if server is None:
            self._problem(f"the server was never started; dropped: {clip(text)}")
            return
        try:
            text.encode(ENCODING)
        except UnicodeEncodeError as exc:
            self._problem(f"cannot encode the response ({exc}); dropped: {clip(repr(text))}")
            return
        if server.push(text):
            self._log(f"tx: {clip(text)}")
        else:
            self._problem(f"no client connected; dropped: {clip(text)}")

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
        server.stop(TERM_WAIT)
        if server.is_running:
            self._log("the server stops once the current callback returns")
        else:
            self._log("terminated")

    def _on_command(self, command: str) -> None:
        """Hand a command to the callback; the callback answers with send()."""
        self._log(f"rx: {clip(command)}")
        callback = self._callback
        if callback is None:
            self._problem(f"callback is not set; command ignored: {clip(command)}")
            return
        callback(command, False)

    def _on_invalid(self, line: InvalidLine) -> None:
        """Hand an undecodable or overlong line to the callback, as is_invalid=True."""
        text = line.data.decode(ENCODING, "replace")
        if line.reason == "overlong":
            self._log(f"rx overlong line of {line.size} bytes; passing on its start")
        else:
            self._log(f"rx undecodable line: {clip(text)}")
        callback = self._callback
        if callback is None:
            self._problem("callback is not set; invalid line ignored")
            return
        callback(text, True)
