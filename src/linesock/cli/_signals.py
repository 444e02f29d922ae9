"""Stopping ``serve`` on SIGINT or SIGTERM, on the threaded server and on an event loop.

Design notes
------------
Like uvicorn's ``capture_signals``, each stopper is a ``with`` block that
installs its handlers on entry and restores the ones it found on exit, and
does nothing outside the main thread (only it can handle signals).  A first
signal stops the server, which then returns from serving as it would after
a client's ``shutdown``: exit 0.  A second signal exits at once with 1, for
a stop stuck in a handler that does not return.

Threaded: :meth:`linesock.Server.serve_forever` runs in the main thread,
and a stop signal starts a short-lived thread that calls
:meth:`~linesock.Server.stop`: from another thread, ``stop()`` also wakes a
serving thread blocked reading from a connected client, which a call from
the signal handler itself (running on the serving thread) would not do.
Event loop: ``loop.add_signal_handler`` closes the server.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeAlias

from ._reporting import EXIT_ERROR

if TYPE_CHECKING:
    import asyncio

    from ..aio import AsyncServer

__all__ = [
    "REOPEN_SIGNAL",
    "STOP_SIGNALS",
    "LoopSignalStopper",
    "StoppableServer",
    "ThreadedSignalStopper",
    "exit_now",
]

#: The signals that stop ``serve``.
STOP_SIGNALS: Final = (signal.SIGINT, signal.SIGTERM)
#: The signal that makes ``serve`` reopen its transcript (the logrotate convention).
REOPEN_SIGNAL: Final = signal.SIGHUP
# Written to the signal watcher's socket to end it; no signal has number 0.
_WATCHER_EXIT: Final = b"\0"
# What signal.signal() returns: the handler it replaced.
_SignalHandler: TypeAlias = "Callable[[int, FrameType | None], Any] | int | None"

logger: Final = logging.getLogger("linesock")


def exit_now(signal_name: str) -> None:
    """Exit at once, on a second stop signal, for a stop stuck in a handler."""
    os.write(2, f"linesock: second {signal_name}: exiting now\n".encode())
    os._exit(EXIT_ERROR)


def _ignore_signal(number: int, frame: FrameType | None) -> None:
    """The Python-level handler of the stop signals: the wake-up socket does the work."""


class StoppableServer(Protocol):
    """What a :class:`ThreadedSignalStopper` stops: a ``linesock.Server``, or several as one."""

    def serve_forever(self) -> None:
        """Serve until stopped."""

    def stop(self, timeout: float | None = None) -> None:
        """Stop serving, from another thread."""

    def reopen_transcript(self) -> None:
        """Reopen the transcript (on SIGHUP)."""


class ThreadedSignalStopper:
    """Stops a threaded server on SIGINT or SIGTERM while in effect (a ``with`` block).

    Python runs signal handlers on the main thread, which here is the serving
    thread, and only between bytecodes: a signal that lands just before the
    thread enters a blocking ``select`` or ``recv`` would wait for that call
    to return, maybe forever.  So the Python-level handlers do nothing, and
    ``signal.set_wakeup_fd`` makes the interpreter write each signal's number
    to a socket that a watcher thread reads at once.  The watcher starts a
    thread that calls ``Server.stop()``.  A signal that arrives before
    serving began cancels serving.
    """

    def __init__(self, server: StoppableServer) -> None:
        """Prepare to stop *server*; the handlers are set on entering the ``with`` block."""
        self.server: Final = server
        self.signal_name: str | None = None
        self._lock = threading.Lock()
        self._serving = False
        self._previous_handlers: dict[int, _SignalHandler] = {}
        self._previous_wakeup_fd = -1
        self._wakeup: tuple[socket.socket, socket.socket] | None = None
        self._watcher: threading.Thread | None = None

    def __enter__(self) -> ThreadedSignalStopper:
        """Install the handlers and the watcher (only the main thread can; elsewhere, nothing)."""
        if threading.current_thread() is not threading.main_thread():
            return self
        reader, writer = self._wakeup = socket.socketpair()
        writer.setblocking(False)  # set_wakeup_fd requires it
        for number in (*STOP_SIGNALS, REOPEN_SIGNAL):
            self._previous_handlers[number] = signal.signal(number, _ignore_signal)
        self._previous_wakeup_fd = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
        self._watcher = threading.Thread(
            target=self._watch, args=(reader,), name="linesock-signals", daemon=True
        )
        self._watcher.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Restore the signal handling found on entry and end the watcher."""
        if self._wakeup is None:
            return
        signal.set_wakeup_fd(self._previous_wakeup_fd)
        for number, handler in self._previous_handlers.items():
            signal.signal(number, handler)
        reader, writer = self._wakeup
        with contextlib.suppress(OSError):
            writer.send(_WATCHER_EXIT)
        if self._watcher is not None:
            self._watcher.join()
        reader.close()
        writer.close()

    def serve_forever(self) -> None:
        """Serve until a signal, ``stop()`` or a client's ``shutdown``."""
        with self._lock:
            self._serving = True  # from here on, a signal stops the server
            cancelled = self.signal_name is not None
        if cancelled:
            logger.info("%s received before serving began: stopping", self.signal_name)
            self.server.stop()
        else:
            self.server.serve_forever()

    def _watch(self, reader: socket.socket) -> None:
        """Read signal numbers from the wake-up socket until told to exit."""
        while True:
            received = reader.recv(64)
            for number in received:
                if number == _WATCHER_EXIT[0]:
                    return
                if number in STOP_SIGNALS:  # not those the handler's code may catch
                    self._on_signal(signal.Signals(number).name)
                elif number == REOPEN_SIGNAL:
                    # Here, on the watcher thread: never inside the signal handler,
                    # which could interrupt a transcript write holding its lock.
                    logger.info("SIGHUP received: reopening the transcript")
                    self.server.reopen_transcript()

    def _on_signal(self, name: str) -> None:
        """Start stopping the server; exit at once on a second signal."""
        with self._lock:
            first = self.signal_name is None
            if first:
                self.signal_name = name
            serving = self._serving
        if not first:
            exit_now(name)
        if serving:
            # stop() waits for serving to end: wait on a thread of its own, so
            # that this one stays free to see a second signal.
            threading.Thread(target=self._stop, name="linesock-stop", daemon=True).start()

    def _stop(self) -> None:
        """Stop the server."""
        logger.info("%s received: stopping", self.signal_name)
        self.server.stop()


class LoopSignalStopper:
    """Closes an asyncio server on SIGINT or SIGTERM while in effect (a ``with`` block on the loop).

    ``loop.add_signal_handler`` makes the event loop call :meth:`_on_signal`,
    woken through its own wake-up socket, so no signal waits for the loop's
    next event.  A handler that blocks the loop (a plain function waiting on
    hardware) keeps that call from ever running, though; so the Python-level
    handler, which the interpreter runs between bytecodes even then, is
    replaced by :meth:`_count`, and a second signal exits at once, as on the
    threaded path.  A signal that arrives before the server exists closes it
    as soon as :meth:`serve` hands it over.
    """

    def __init__(self) -> None:
        """Prepare; the handlers are set on entering the ``with`` block."""
        self.signal_name: str | None = None
        self._signals = 0
        self._server: AsyncServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._previous_handlers: dict[int, _SignalHandler] = {}

    def __enter__(self) -> LoopSignalStopper:
        """Install the handlers on the running loop (in the main thread only)."""
        if threading.current_thread() is not threading.main_thread():
            return self
        import asyncio  # noqa: PLC0415  (only for --loop)

        self._loop = loop = asyncio.get_running_loop()
        for number in STOP_SIGNALS:
            self._previous_handlers[number] = signal.getsignal(number)
            loop.add_signal_handler(number, self._on_signal, number)
            # The loop still learns of the signal through its wake-up socket.
            signal.signal(number, self._count)
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Restore the signal handling found on entry."""
        if self._loop is None:
            return
        for number, handler in self._previous_handlers.items():
            self._loop.remove_signal_handler(number)
            signal.signal(number, handler)

    def serve(self, server: AsyncServer) -> None:
        """Close *server* on a signal from now on; at once if one came already.

        SIGHUP makes it reopen its transcript, on the loop (never inside the
        signal handler, which could interrupt a write holding its lock).
        """
        self._server = server
        if self._loop is not None:
            self._previous_handlers.setdefault(REOPEN_SIGNAL, signal.getsignal(REOPEN_SIGNAL))
            self._loop.add_signal_handler(REOPEN_SIGNAL, self._reopen)
        if self.signal_name is not None:
            logger.info("%s received before serving began: stopping", self.signal_name)
            server.close()

    def _reopen(self) -> None:
        """Reopen the server's transcript (on the loop)."""
        if self._server is not None:
            logger.info("SIGHUP received: reopening the transcript")
            self._server.reopen_transcript()

    def _count(self, number: int, frame: FrameType | None) -> None:
        """Count the stop signals, in the interpreter's handler; exit at once on the second."""
        self._signals += 1
        if self._signals > 1:
            exit_now(signal.Signals(number).name)

    def _on_signal(self, number: int) -> None:
        """Close the server (on the loop, the first signal only)."""
        if self.signal_name is not None:
            return
        self.signal_name = signal.Signals(number).name
        if self._server is not None:
            logger.info("%s received: stopping", self.signal_name)
            self._server.close()
