"""The threaded server's gate: accepts every client at once when the busy policy needs it.

With ``busy="refuse"`` or ``max_wait`` (see :mod:`linesock._waiting`), a
thread of its own accepts clients while the serving thread serves: it puts
each in the waiting room, answers ``busy`` to those the room refuses, and
closes those that waited too long.  The serving thread takes the next client
from :meth:`ThreadedGate.next_client`.  Without such a policy there is no
gate: the serving thread accepts from the kernel's queue itself.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import threading
import time
from typing import Final

from ._closer import LingeringCloser
from ._config import ServerConfig
from ._delimited import ANSWER_TERMINATORS
from ._lifecycle import ServerCore
from ._net import ACCEPT_ERROR_PAUSE, format_peer
from ._waiting import Waiting, WaitingRoom
from ._wire import BUSY

__all__ = ["ThreadedGate", "turn_away"]

logger: Final = logging.getLogger("linesock")

_DONTWAIT: Final = getattr(socket, "MSG_DONTWAIT", 0)


def turn_away(sock: socket.socket, config: ServerConfig, closer: LingeringCloser) -> None:
    """Send the single line ``busy`` (if the socket takes it at once) and close, lingering."""
    line = (BUSY + ANSWER_TERMINATORS[config.answer_terminator]).encode()
    with contextlib.suppress(OSError):
        sock.send(line, _DONTWAIT)
    closer.close(sock)


class ThreadedGate:
    """Accepts clients on a thread of its own into a :class:`WaitingRoom`."""

    def __init__(self, listener: socket.socket, core: ServerCore, closer: LingeringCloser) -> None:
        """Watch *listener* for clients once :meth:`start` is called."""
        self._listener: Final = listener
        self._core: Final = core
        self._closer: Final = closer
        self._room: Final = WaitingRoom(core.config)
        self._changed = threading.Condition()
        self._stopping = False
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._thread = threading.Thread(target=self._run, name="linesock-gate", daemon=True)

    def start(self) -> None:
        """Start accepting."""
        self._thread.start()

    def next_client(self) -> Waiting | None:
        """Wait for the next client to serve; None once the gate is stopping."""
        with self._changed:
            while not self._stopping:
                waiting = self._room.take()
                if waiting is not None:
                    return waiting
                self._changed.wait()
        return None

    def session_done(self) -> None:
        """The client last handed out has left: the next one may be let in."""
        with self._changed:
            self._room.done()

    def stop(self) -> None:
        """Stop accepting, close every waiting client, end the thread.

        Safe from several threads at once: each call returns once the
        gate's thread has ended, so a caller may close the listener then.
        """
        with self._changed:
            first = not self._stopping
            self._stopping = True
            self._changed.notify_all()
            waiting = self._room.close_all() if first else []
        if first:
            with contextlib.suppress(OSError):
                self._wake_writer.send(b"x")
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()
        if not first:
            return
        for client in waiting:
            client.sock.close()
        self._wake_reader.close()
        self._wake_writer.close()

    def _run(self) -> None:
        """Accept, admit or refuse, and expire, until stopped."""
        with selectors.DefaultSelector() as selector:
            selector.register(self._listener, selectors.EVENT_READ)
            selector.register(self._wake_reader, selectors.EVENT_READ)
            while True:
                with self._changed:
                    if self._stopping:
                        return
                    deadline = self._room.next_deadline()
                timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
                if any(key.fileobj is self._listener for key, _ in selector.select(timeout)):
                    self._accept()
                self._expire()

    def _accept(self) -> None:
        """Take one client from the kernel; let it wait, or turn it away."""
        try:
            client, address = self._listener.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return
        except OSError as exc:
            logger.error("accept failed: %s", exc)
            time.sleep(ACCEPT_ERROR_PAUSE)  # out of descriptors, say: do not spin
            return
        client.setblocking(True)
        peer = format_peer(address)
        with self._changed:
            admitted = self._room.arrive(client, peer, time.monotonic())
            self._changed.notify_all()
        if not admitted:
            self._core.turned_away(peer)
            turn_away(client, self._core.config, self._closer)

    def _expire(self) -> None:
        """Close the clients that waited ``max_wait`` without being served."""
        now = time.monotonic()
        with self._changed:
            gone = self._room.expired(now)
        for client in gone:
            self._core.turned_away(client.peer, now - client.arrived)
            self._closer.close(client.sock)
