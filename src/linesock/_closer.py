"""Lingering closes off the serving path: half-close, drain what the client still sends, close.

Design notes
------------
Closing a socket that still has unread input makes the kernel reset the
connection, which can destroy answers the client has not read yet.  So after
``disconnect`` (or a refusal, or a stop) the server half-closes, reads and
discards until the client closes too, and only then closes; bounded by
``LINGER_SECONDS``.  A client that keeps its socket open after
``disconnect`` would hold the single slot for that whole second if the
serving thread did this itself, so it hands the socket to a
:class:`LingeringCloser`: one thread, started on first use, that drains
every lingering socket in one selector and closes each at its client's EOF
or its deadline.  The next client is served at once.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import ssl
import threading
import time
from typing import Final

from ._net import LINGER_SECONDS

__all__ = ["LingeringCloser"]

# What a draining read takes at most; what it reads is thrown away.
_DRAIN_SIZE: Final = 64 * 1024


class LingeringCloser:
    """Closes connections the lingering way on a thread of its own.

    :meth:`close` hands a socket over (its answers already sent);
    :meth:`shutdown` waits for every lingering socket to close, at most
    ``LINGER_SECONDS``, then closes what is left and ends the thread.
    """

    def __init__(self) -> None:
        """Create the closer; its selector and thread start with the first socket handed over."""
        self._lock = threading.Lock()
        self._deadlines: dict[socket.socket, float] = {}
        self._thread: threading.Thread | None = None
        self._idle = threading.Condition(self._lock)
        self._stopping = False
        self._buffer = bytearray(_DRAIN_SIZE)

    @property
    def lingering(self) -> int:
        """How many connections are waiting for their client to close."""
        with self._lock:
            return len(self._deadlines)

    def close(self, sock: socket.socket) -> None:
        """Half-close *sock* now and close it once its client has closed (or in a second)."""
        if isinstance(sock, ssl.SSLSocket):
            # Only bytes are drained from here on: no TLS record needs reading.
            sock = socket.socket(fileno=sock.detach())
        with self._lock:
            if self._stopping:
                sock.close()
                return
            if self._thread is None:
                self._start()
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_WR)  # only now: the client may act on this EOF
            try:
                sock.setblocking(False)
                self._selector.register(sock, selectors.EVENT_READ)
            except (OSError, ValueError):  # the peer is gone, or the socket already closed
                sock.close()
                return
            self._deadlines[sock] = time.monotonic() + LINGER_SECONDS
        self._wake()

    def _start(self) -> None:
        """Create the selector, its wake-up pair and the thread; the caller holds the lock."""
        self._selector = selectors.DefaultSelector()
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_reader.setblocking(False)
        self._selector.register(self._wake_reader, selectors.EVENT_READ)
        self._thread = threading.Thread(target=self._run, name="linesock-closer", daemon=True)
        self._thread.start()

    def shutdown(self, *, wait: bool = True) -> None:
        """Wait (at most ``LINGER_SECONDS``, if *wait*) for lingering sockets; close all; stop."""
        with self._lock:
            if self._stopping:
                return
            if wait:
                self._idle.wait_for(lambda: not self._deadlines, LINGER_SECONDS)
            self._stopping = True
            thread = self._thread
        if thread is None:
            return
        self._wake()
        thread.join()
        with self._lock:
            for sock in list(self._deadlines):
                self._forget(sock)
            self._selector.close()
        self._wake_reader.close()
        self._wake_writer.close()

    def _wake(self) -> None:
        """Make the thread look at its sockets again."""
        with contextlib.suppress(OSError):
            self._wake_writer.send(b"x")

    def _run(self) -> None:
        """Drain every lingering socket; close each at its client's EOF or at its deadline."""
        while True:
            with self._lock:
                if self._stopping:
                    return
                nearest = min(self._deadlines.values(), default=None)
            timeout = None if nearest is None else max(0.0, nearest - time.monotonic())
            for key, _ in self._selector.select(timeout):
                if key.fileobj is self._wake_reader:
                    with contextlib.suppress(OSError):
                        self._wake_reader.recv(4096)
                else:
                    self._drain(key.fileobj)  # type: ignore[arg-type]
            self._close_expired()

    def _drain(self, sock: socket.socket) -> None:
        """Read and discard; close the socket at EOF or on an error."""
        try:
            done = sock.recv_into(self._buffer) == 0
        except BlockingIOError:
            return
        except OSError:
            done = True
        if done:
            with self._lock:
                self._forget(sock)

    def _close_expired(self) -> None:
        """Close the sockets whose client did not close within ``LINGER_SECONDS``."""
        now = time.monotonic()
        with self._lock:
            for sock, deadline in list(self._deadlines.items()):
                if deadline <= now:
                    self._forget(sock)

    def _forget(self, sock: socket.socket) -> None:
        """Unregister and close *sock*; the caller holds the lock."""
        if self._deadlines.pop(sock, None) is not None:
            with contextlib.suppress(KeyError, ValueError):
                self._selector.unregister(sock)
            sock.close()
            if not self._deadlines:
                self._idle.notify_all()
