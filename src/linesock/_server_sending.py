"""How the threaded server sends to its client: at once when it can, bounded when it lags.

Design notes
------------
Answers go out with a non-blocking ``send`` first, which succeeds at once
for any client that reads; only a client that stops reading takes the slow
path, which waits for room at most ``write_timeout`` (and sees a ``stop()``
within ``STOP_POLL``).  Answers pushed from another thread (``Server.push``,
the compat layer's ``send``) take a write lock that exists only from the
first such push on: until then the serving thread sends without one,
announcing each unlocked send in ``_sending`` so that the first pusher can
wait for it to finish.  :class:`ConnectionSender` is the base of
:class:`~linesock._server_connection.ServedConnection`, which holds the rest.
"""

from __future__ import annotations

import math
import selectors
import socket
import ssl
import threading
import time
from typing import Final

from ._config import ServerConfig

__all__ = ["DONTWAIT", "STOP_POLL", "ConnectionSender", "WriteTimeout"]

#: Lets ``send`` fail at once instead of blocking where the platform has it.
DONTWAIT: Final = getattr(socket, "MSG_DONTWAIT", 0)
#: How often a send to a lagging client looks whether stop() was called.
STOP_POLL: Final = 0.1
# How often a first pusher looks again whether the serving thread's
# unlocked send is over (it is a non-blocking send, unless the client lags).
_PUSH_POLL: Final = 0.001


class WriteTimeout(Exception):
    """A client did not take its answers within ``write_timeout``."""


class ConnectionSender:
    """The sending half of one threaded client connection (see the module)."""

    # Set by ServedConnection's __init__.
    sock: socket.socket
    _config: ServerConfig
    _push_lock: threading.Lock | None
    _sending: bool
    _stop_deadline: float

    def push(self, data: bytes) -> None:
        """Send *data* from a thread other than the serving one, between the server's sends."""
        if self._push_lock is None:
            self._push_lock = threading.Lock()
        with self._push_lock:
            deadline = time.monotonic() + (self._config.write_timeout or 60.0)
            while self._sending and time.monotonic() < deadline:
                time.sleep(_PUSH_POLL)
            self._send_all(data)

    def send(self, data: bytes) -> None:
        """Send all of *data* from the serving thread, under the push lock once there is one."""
        lock = self._push_lock
        if lock is None:
            self._sending = True
            try:
                if self._push_lock is None:  # looked at again, after announcing the send
                    self._send_all(data)
                    return
            finally:
                self._sending = False
            lock = self._push_lock
        with lock:
            self._send_all(data)

    def _send_all(self, data: bytes) -> None:
        """Send all of *data*, waiting at most ``write_timeout`` for a client that lags."""
        client = self.sock
        if isinstance(client, ssl.SSLSocket):
            # TLS sockets take no send flags: a blocking send with a timeout.
            client.settimeout(self._config.write_timeout)
            try:
                client.sendall(data)
            except TimeoutError as exc:
                raise WriteTimeout from exc
            finally:
                client.settimeout(None)
            return
        try:
            sent = client.send(data, DONTWAIT)
        except BlockingIOError:
            sent = 0
        if sent != len(data):
            self._send_rest(data, sent)

    def _send_rest(self, data: bytes, sent: int) -> None:
        """Send *data* after its first *sent* bytes, to a client that lags.

        Waits for room at most ``write_timeout`` in all, then raises ``WriteTimeout``.
        """
        client = self.sock
        timeout = self._config.write_timeout
        deadline = math.inf if timeout is None else time.monotonic() + timeout
        remaining = memoryview(data)[sent:]
        with selectors.DefaultSelector() as selector:
            selector.register(client, selectors.EVENT_WRITE)
            while remaining:
                # Waits are cut short so that a stop() meanwhile is seen within STOP_POLL.
                left = min(deadline, self._stop_deadline) - time.monotonic()
                if left <= 0:
                    raise WriteTimeout
                if not selector.select(min(left, STOP_POLL)):
                    continue
                try:
                    remaining = remaining[client.send(remaining, DONTWAIT) :]
                except BlockingIOError:
                    continue
