"""One client of the asyncio server: an ``asyncio.Protocol`` that drives its session.

Design notes
------------
Per read, not per line.  ``data_received`` hands the whole read to
:meth:`Session.receive <linesock.Session.receive>` and writes all of its
answers with one ``transport.write``; nothing is awaited on this path.

Deferred answers keep their order.  When the session holds a pending
answer (an awaitable, or a ``concurrent.futures.Future`` wrapped with
``asyncio.wrap_future``), one task awaits it, passes the outcome to
``Session.resume`` (which answers the commands queued behind it, up to the
next deferred one), writes, and repeats while one is pending.  Meanwhile
the protocol reads on only until ``_MAX_HELD_BYTES`` of commands wait in the
session's queue, then pauses reading until the task is done: enough to
notice a client that resets or half-closes, while memory stays bounded.

Back-pressure.  The session answers a long batch in chunks (about
``OUTPUT_CHUNK`` characters each, keeping the rest of the commands queued);
the protocol asks for the next chunk only while the transport's write
buffer is under its high-water mark, and stops reading while it is over.
If the buffer stays over the mark for ``write_timeout``, the connection is
aborted and the next client is served.

What a session's beginning and end mean (counting, logging, the
transcript) is decided in :mod:`linesock._lifecycle`, shared with the
threaded server; this class only moves bytes and keeps the timers.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import socket
from collections.abc import Awaitable, Callable
from typing import Final, cast

from .._config import ServerConfig
from .._faults import Hold
from .._lifecycle import ServedSession
from .._net import LINGER_SECONDS, QUICK_ACK, STOP_GRACE, TRICKLE_STEP, ack_now, reset_on_close
from .._wire import Closing, EndReason

__all__ = ["SessionProtocol"]

# While an answer is pending the server reads on, queueing commands, until
# this many bytes wait: enough to see a client that leaves (EOF, reset)
# without holding more than about one read of commands in memory.
_MAX_HELD_BYTES: Final = 64 * 1024


class SessionProtocol(asyncio.Protocol):
    """Drives one :class:`~linesock.Session` over one transport."""

    transport: asyncio.Transport
    """The client's connection, from ``connection_made`` on."""

    def __init__(
        self, served: ServedSession, config: ServerConfig, loop: asyncio.AbstractEventLoop
    ) -> None:
        """Serve the client of *served* under *config* on *loop*."""
        self.served: Final = served
        self.session: Final = served.session
        self._loop: Final = loop
        self._config: Final = config
        self._idle_timeout: Final = config.idle_timeout
        #: Resolves once the connection is lost.
        self.lost: asyncio.Future[None] = loop.create_future()
        #: Resolves once the session is over for the server: the connection may
        #: still linger (after ``disconnect``), but the next client can be served.
        self.released: asyncio.Future[None] = loop.create_future()
        #: Called when the session is released, before the client can see the close.
        self.on_release: Callable[[], None] | None = None
        self._made = False
        self._reason = EndReason.CLIENT_CLOSED
        self._detail = ""
        self._deferred_task: asyncio.Task[None] | None = None
        self._held_bytes = 0  # read while an answer was pending
        self._write_paused = False
        self._eof = False
        self._ending = False
        self._reading = True
        self._last_input = 0.0
        self._idle_timer: asyncio.TimerHandle | None = None
        self._write_timer: asyncio.TimerHandle | None = None
        self._end_timer: asyncio.TimerHandle | None = None
        self._auth_timer: asyncio.TimerHandle | None = None
        self._sock: socket.socket | None = None

    # -- asyncio's calls ----------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Start the session (and the idle and authentication clocks)."""
        self.transport = cast("asyncio.Transport", transport)
        self._sock = transport.get_extra_info("socket")
        self._made = True
        auth_timeout = self._config.auth_timeout
        if self.session.awaiting_auth and auth_timeout is not None:
            self._auth_timer = self._loop.call_later(auth_timeout, self._auth_check)
        if self._idle_timeout is not None:
            self._last_input = self._loop.time()
            self._idle_timer = self._loop.call_at(
                self._last_input + self._idle_timeout, self._idle_check
            )

    def data_received(self, data: bytes) -> None:
        """Answer every complete command in *data* with one write."""
        if self._idle_timeout is None:
            self._handle(data)
        else:
            self._note_input(data)

    def _note_input(self, data: bytes) -> None:
        """Handle *data* with the idle clock on: only a complete command restarts it."""
        commands = self.session.stats.commands
        self._handle(data)
        if self.session.stats.commands != commands:
            self._last_input = self._loop.time()

    def _handle(self, data: bytes) -> None:
        """Answer every complete command in *data* (``data_received`` without the clock)."""
        session = self.session
        if self._deferred_task is not None:
            # An answer is pending: the session queues these commands.  Reading
            # goes on a little, so that a client that leaves is noticed.
            session.receive(data)
            self._held_bytes += len(data)
            if self._held_bytes > _MAX_HELD_BYTES:
                self._update_reading()
            return
        out = session.receive(data)
        if out:
            self.transport.write(out)
        elif QUICK_ACK is not None and self._sock is not None:
            # No answer to carry the ACK: send it now (see linesock._net.ack_now).
            ack_now(self._sock)
        if not session.settled and (
            session.pending is not None or session.closing is not None or session.has_queued
        ):
            self._continue_after_write()

    def eof_received(self) -> bool:
        """Drop an unfinished line; keep the connection open while answers are still due."""
        self._eof = True
        self._reading = False  # a transport reads no more after EOF
        self.session.receive_eof()
        # False: the transport closes once every answer is written, so a
        # client that half-closed still gets all of them, then EOF.
        return self._deferred_task is not None or self.session.has_queued

    def pause_writing(self) -> None:
        """The client lags: stop reading from it, and start the write timeout."""
        self._write_paused = True
        self._update_reading()
        timeout = self._config.write_timeout
        if timeout is not None and self._write_timer is None:
            self._write_timer = self._loop.call_later(timeout, self._write_timed_out)

    def resume_writing(self) -> None:
        """The client caught up: answer the commands that waited, and read again."""
        self._write_paused = False
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None
        self._last_input = self._loop.time()
        if self._deferred_task is None:
            self._continue_after_write()
        self._update_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop every timer and task, log why the session ended, and free the slot."""
        for timer in (self._idle_timer, self._write_timer, self._end_timer, self._auth_timer):
            if timer is not None:
                timer.cancel()
        if self._deferred_task is not None:
            self._deferred_task.cancel()
        pending = self.session.pending
        if inspect.iscoroutine(pending) and inspect.getcoroutinestate(pending) == "CORO_CREATED":
            pending.close()  # never started: closing it avoids "never awaited"
        elif isinstance(pending, (asyncio.Future, concurrent.futures.Future)):
            pending.cancel()
        if exc is not None and not self._ending:
            self._reason, self._detail = EndReason.CONNECTION_ERROR, str(exc)
        self._release()
        self.lost.set_result(None)

    def _release(self) -> None:
        """End the session for the server (logged, recorded): the next client may be served."""
        if self.released.done():
            return
        if self._reason is EndReason.CLIENT_CLOSED:
            self._reason = self.served.ended_by_client()
        self.served.end(self._reason, self._detail)
        if self.on_release is not None:
            self.on_release()  # now, before the loop can accept anyone: the slot is free
        self.released.set_result(None)

    # -- answering ------------------------------------------------------------

    def _continue_after_write(self) -> None:
        """Go on after a write: answer what waits, then await, end, or close after EOF.

        Queued commands (the session answers in chunks) are answered while the
        client takes the answers; then a deferred answer is awaited, or the
        session ends (``disconnect``/``shutdown``), or, after the client's EOF
        with nothing left to answer, the connection closes.
        """
        session = self.session
        transport = self.transport
        while session.has_queued and not self._write_paused:
            out = session.answer_queued()
            if out:
                transport.write(out)
        if session.pending is not None:
            if self._deferred_task is None:
                self._held_bytes = 0
                self._deferred_task = self._loop.create_task(self._finish_deferred())
        elif session.closing is not None:
            if not self._ending:
                self._end_session()
        elif self._eof and not session.has_queued and not transport.is_closing():
            transport.close()  # the client half-closed: all its answers are written

    async def _finish_deferred(self) -> None:
        """Await each pending answer in turn and write the answers it releases, in order."""
        session = self.session
        transport = self.transport
        while (pending := session.pending) is not None:
            out = await self._resolve(pending)
            if transport.is_closing():
                return
            if out:
                transport.write(out)
            while session.has_queued and not self._write_paused:
                out = session.answer_queued()
                if out:
                    transport.write(out)
        self._deferred_task = None
        if self._ending:  # the server is stopping: the answers are out, now close
            self._close_bounded()
            return
        self._last_input = self._loop.time()
        self._continue_after_write()
        self._update_reading()

    async def _resolve(self, pending: object) -> bytes:
        """Await the pending answer and resume the session with it (or with its error)."""
        session = self.session
        if type(pending) is Hold:
            await self._carry_out(pending)
            return session.resume()
        try:
            if isinstance(pending, concurrent.futures.Future):
                result = await asyncio.wrap_future(pending)
            else:
                result = await cast("Awaitable[object]", pending)
        except asyncio.CancelledError:
            if self.lost.done() or self.transport.is_closing():
                raise  # the session is over
            return session.resume()  # the answer itself was cancelled: there is none
        except BaseException as exc:  # the handler's error, reported by the session
            return session.resume(error=exc)
        return session.resume(result)

    async def _carry_out(self, hold: Hold) -> None:
        """Wait a fault's delay, then write its bytes (trickled at its rate, if it has one)."""
        loop, transport = self._loop, self.transport
        start = loop.time()
        for due, piece in hold.pieces(TRICKLE_STEP):
            left = start + due - loop.time()
            if left > 0:
                await asyncio.sleep(left)
            if transport.is_closing():
                return
            transport.write(piece)

    # -- ending the session ---------------------------------------------------

    def kick(self) -> None:
        """End the session now, from the server's side: no more answers, a plain close."""
        if not self._made or self.lost.done() or self.released.done():
            return
        self._reason, self._ending = EndReason.KICKED, True
        self._close_bounded()
        if self._deferred_task is not None:
            self._deferred_task.cancel()
        self._release()

    def end(self, reason: EndReason) -> None:
        """End the session from the server's side: close, and abort if it lingers."""
        if not self._made or self.lost.done():
            return
        if not self._ending:
            self._reason = reason
            self._ending = True
        if self._deferred_task is not None:
            # An answer is still being computed: it goes out first, then the
            # close (_finish_deferred), within STOP_GRACE.
            self._abort_later(STOP_GRACE)
            return
        self._close_bounded()

    def _close_bounded(self) -> None:
        """Close once the answers are written; abort if that takes over ``LINGER_SECONDS``.

        A TLS transport's close waits for the client's close_notify, which a
        client that vanished never sends: the abort bounds that wait too.
        """
        self.transport.close()
        self._abort_later(LINGER_SECONDS)

    def _close_quiet_client(self) -> None:
        """Close a client whose time ran out (idle, no auth): on TLS, abort at once.

        It is the client's turn, so every answer is written: there is nothing
        to flush, and a TLS close would wait for a close_notify that a
        stalled client never sends.
        """
        transport = self.transport
        if transport.get_extra_info("sslcontext") is not None and not (
            transport.get_write_buffer_size()
        ):
            transport.abort()
        else:
            self._close_bounded()

    def _abort_later(self, delay: float) -> None:
        """Abort the connection in *delay* seconds unless it is lost by then."""
        if self._end_timer is not None:
            self._end_timer.cancel()
        self._end_timer = self._loop.call_later(delay, self.transport.abort)

    def _end_session(self) -> None:
        """The client sent ``disconnect`` or ``shutdown``, was refused, or a drop fault hit.

        After ``drop reset`` the connection is reset at once.

        Closing at once with unread client input would reset the connection,
        so the server sends FIN after the answers and discards what the client
        still sends until it closes too (at most ``LINGER_SECONDS``).
        """
        transport = self.transport
        self._ending = True
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        if self.session.closing is Closing.RESET:
            if self._sock is not None:
                reset_on_close(self._sock)
            transport.abort()
            return
        reports = self.served.reports
        delay, reports.refusal_delay = reports.refusal_delay, 0.0
        if delay:  # the price of a wrong token: the slot stays held a while
            self._pause_reading_now()
            self._end_timer = self._loop.call_later(delay, self._end_session)
            return
        if self._eof or not transport.can_write_eof():  # TLS cannot half-close
            self._close_bounded()
        else:
            transport.write_eof()
            self._end_timer = self._loop.call_later(LINGER_SECONDS, self._close_bounded)
            self._update_reading()
        self._release()  # the linger goes on off the serving path

    # -- reading and timers -----------------------------------------------------

    def _update_reading(self) -> None:
        """Read while the client has the turn: its answers taken, no long queue, not at EOF."""
        transport = self.transport
        if self._eof or transport.is_closing():
            return
        busy = self._write_paused or (
            self._deferred_task is not None and self._held_bytes > _MAX_HELD_BYTES
        )
        want = self._ending or not busy  # while ending, what arrives is discarded
        if want != self._reading:
            self._reading = want
            if want:
                transport.resume_reading()
            else:
                transport.pause_reading()

    def _pause_reading_now(self) -> None:
        """Stop reading from the client (until the connection closes)."""
        if self._reading and not self._eof and not self.transport.is_closing():
            self._reading = False
            self.transport.pause_reading()

    def _idle_check(self) -> None:
        """End the session if the client has been silent for ``idle_timeout``."""
        timeout = self._idle_timeout
        assert timeout is not None
        if self._ending or self.transport.is_closing():
            return
        now = self._loop.time()
        if self._deferred_task is not None or self._write_paused:
            self._last_input = now  # the server has the turn, not the client
        deadline = self._last_input + timeout
        if now < deadline:
            self._idle_timer = self._loop.call_at(deadline, self._idle_check)
            return
        self._reason, self._detail = EndReason.IDLE, f"{timeout} s"
        self._ending = True
        self._close_quiet_client()

    def _auth_check(self) -> None:
        """Close the session if the client has not authenticated within ``auth_timeout``."""
        if self._ending or self.transport.is_closing() or not self.session.awaiting_auth:
            return
        self._reason, self._detail = EndReason.AUTH_TIMEOUT, f"{self._config.auth_timeout} s"
        self._ending = True
        self._close_quiet_client()

    def _write_timed_out(self) -> None:
        """The client took no answers for ``write_timeout``: abort the connection."""
        transport = self.transport
        self._reason = EndReason.WRITE_TIMEOUT
        self._detail = (
            f"{self._config.write_timeout} s, {transport.get_write_buffer_size()} bytes unsent"
        )
        self._ending = True
        transport.abort()
