"""One client of the threaded server: read, answer, write, wait, close.

Design notes
------------
The serving thread sits in a blocking ``recv_into`` on one reused buffer
(no fresh allocation per read); ``Server.stop()`` wakes it by shutting the
socket down.  How answers go out (at once, or bounded by ``write_timeout``
for a client that lags, and under a lock once another thread pushes) is
:mod:`linesock._server_sending`.  While the server writes it does not read,
so a client that does not read its answers cannot make the server buffer
more than one chunk of them (back-pressure).  Everything that is protocol
lives in the session; what a beginning or an end means lives in
:mod:`linesock._lifecycle`.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import inspect
import math
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import Final

from ._closer import LingeringCloser
from ._config import ServerConfig
from ._faults import Hold
from ._lifecycle import ServedSession
from ._net import (
    QUICK_ACK,
    STOP_GRACE,
    TRICKLE_STEP,
    ack_now,
    nothing_queued,
    reset_on_close,
)
from ._server_sending import DONTWAIT, ConnectionSender, WriteTimeout
from ._wire import Closing, EndReason

__all__ = ["ServedConnection", "WriteTimeout"]

_TCP: Final = socket.IPPROTO_TCP
# How long the serving thread waits for a leaving client to close before the
# lingering thread takes over: a loopback client closes within ~0.1 ms.
QUICK_LINGER: Final = 0.005


# What the serving thread sees when ``stop()`` shuts the client's socket down.
_CUT_BY_STOP: Final = frozenset({EndReason.CLIENT_CLOSED, EndReason.CONNECTION_ERROR})


class ServedConnection(ConnectionSender):
    """The threaded server's side of one client connection.

    Args:
        served: the session's lifecycle and protocol state.
        client: the accepted socket (blocking).
        config: the server's settings.
        buffer: the server's reused read buffer.
        stopping: tells whether the server was asked to stop.
        closer: closes the connection the lingering way, off the serving path.
        tcp: whether the client speaks TCP (not a Unix socket): TCP options apply.
    """

    def __init__(
        self,
        served: ServedSession,
        client: socket.socket,
        *,
        config: ServerConfig,
        buffer: bytearray,
        stopping: threading.Event,
        closer: LingeringCloser,
        tcp: bool = True,
    ) -> None:
        """Take over the accepted *client*; nothing is read until :meth:`serve`."""
        self._tcp: Final = tcp
        self.served: Final = served
        self.sock = client
        self._config = config
        self._buffer: Final = buffer
        self._stopping: Final = stopping
        self._closer: Final = closer
        # Set by stop() and kick() to cut a wait short (a deferred answer, a
        # fault's hold); made by the first such wait: an Event costs ~10 us.
        self._wake: threading.Event | None = None
        self._kicked = False
        self._push_lock: threading.Lock | None = None
        self._sending = False
        self._stop_deadline = math.inf  # set by stop(): when waits for the client end
        # Set by stop() and stop_after_this_read(): looked at once per read,
        # where the server's Event would cost a call.
        self._stop_asked = False
        #: Called when the session ends, before the client can see the close.
        self.on_release: Callable[[], None] | None = None

    def serve(self) -> None:
        """Serve the client until the session ends, then close the connection."""
        served = self.served
        reason, detail = EndReason.CLIENT_CLOSED, ""
        try:
            if self._config.ssl_context is not None:
                reason = EndReason.TLS_FAILED
                self._start_tls(self._config.ssl_context)
            reason = self._converse()
        except WriteTimeout:
            if time.monotonic() >= self._stop_deadline:
                reason, detail = EndReason.SERVER_STOPPING, "answers still unsent were cut"
            else:
                reason, detail = EndReason.WRITE_TIMEOUT, f"{self._config.write_timeout} s"
        except OSError as exc:
            if reason is not EndReason.TLS_FAILED:
                reason = EndReason.CONNECTION_ERROR
            detail = str(exc) or type(exc).__name__
        finally:
            self._close()
        if reason is EndReason.CLIENT_CLOSED:
            reason = served.ended_by_client()
        if self._kicked:
            reason, detail = EndReason.KICKED, ""
        elif self._stop_asked and reason in _CUT_BY_STOP:
            reason = EndReason.SERVER_STOPPING  # stop() shut the socket: that was no client
        served.end(reason, detail)

    def _close(self) -> None:
        """Free the slot and close: the lingering way if the client asked to end, or on a stop."""
        served = self.served
        if served.reports.refusal_delay:
            self._stopping.wait(served.reports.refusal_delay)  # the price of a wrong token
        if self.on_release is not None:
            self.on_release()  # before the client can see its close: the slot is free
        if served.session.closing is Closing.RESET:
            reset_on_close(self.sock)
            self.sock.close()
        elif served.lingers or self._stop_asked or self._kicked:
            if not self._closed_after_a_short_linger():
                self._closer.close(self.sock)  # off the serving path: see _closer
        else:
            self.sock.close()

    def _closed_after_a_short_linger(self) -> bool:
        """Half-close and wait ``QUICK_LINGER`` for the client's close; True if it came.

        Most clients close as soon as they read the server's FIN: closing
        them here costs what the lingering thread would, without the hand-off.
        One that has taken every answer (the kernel says none is unacknowledged)
        and sent nothing more is closed at once: with nothing unread, a close
        cannot reset the connection, and nothing of ours is left to lose.
        One that keeps its socket open goes to the closer, and the slot is
        free ``QUICK_LINGER`` later.
        """
        sock = self.sock
        if isinstance(sock, ssl.SSLSocket):
            return False
        if nothing_queued(sock):
            sock.close()  # every answer taken, nothing unread: a plain FIN
            return True
        try:
            sock.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + QUICK_LINGER
            while (left := deadline - time.monotonic()) > 0:
                sock.settimeout(left)
                if not sock.recv_into(self._buffer):
                    sock.close()
                    return True
        except TimeoutError:
            sock.settimeout(None)
            return False
        except OSError:
            sock.close()
            return True
        sock.settimeout(None)
        return False

    def stop(self) -> None:
        """End the session from another thread, sending the answers already computed first.

        Reading stops at once (the serving thread's ``recv`` returns); a
        command still running is answered; answers still going out to a
        client that lags get ``STOP_GRACE`` more seconds, then the
        connection is cut.  A deferred answer gets as long to arrive.
        """
        self._stop_deadline = time.monotonic() + STOP_GRACE
        self._stop_asked = True
        with contextlib.suppress(OSError):  # the peer is already gone
            self.sock.shutdown(socket.SHUT_RD)
        if self._wake is not None:
            self._wake.set()

    def stop_after_this_read(self) -> None:
        """End the session once the read being answered is (``Server.stop()`` from a handler)."""
        self._stop_asked = True

    def kick(self) -> None:
        """End the session at once from another thread: no more answers, a plain close.

        The serving thread's read or send fails at once, a wait for a
        deferred answer or a fault's hold is cut short, and the slot is free.
        """
        self._kicked = True
        with contextlib.suppress(OSError):  # the peer is already gone
            self.sock.shutdown(socket.SHUT_RDWR)
        if self._wake is not None:
            self._wake.set()

    # -- the serving thread ---------------------------------------------

    def _start_tls(self, context: ssl.SSLContext) -> None:
        """Wrap the client in TLS and shake hands within the handshake timeout."""
        tls = context.wrap_socket(self.sock, server_side=True, do_handshake_on_connect=False)
        self.sock = tls
        tls.settimeout(self._config.handshake_deadline)
        tls.do_handshake()
        tls.settimeout(None)

    def _converse(self) -> EndReason:
        """Read, answer and write until the session ends; return why it ended."""
        config = self._config
        if config.idle_timeout is not None or (
            config.token is not None and self.served.session.awaiting_auth
        ):
            reason = self._converse_timed()
            if reason is not None:
                return reason
        return self._converse_untimed()

    def _converse_untimed(self) -> EndReason:  # noqa: C901 - the hot loop, written out
        """The conversation with no deadline: one blocking read after another.

        This loop runs once per read, once per round trip of a ping-pong
        client: the common case (plain TCP, the send takes everything) is
        written out here rather than in calls.
        """
        client, buffer, session = self.sock, self._buffer, self.served.session
        recv_into, send, receive = client.recv_into, client.send, session.receive
        plain = not isinstance(client, ssl.SSLSocket)
        quick_ack = QUICK_ACK if self._tcp else None
        try:
            while True:
                size = recv_into(buffer)
                if size == 0:
                    return EndReason.CLIENT_CLOSED
                out = receive(buffer, size)
                if out:
                    # Announce the send before looking for the push lock: see the module.
                    self._sending = True
                    if plain and self._push_lock is None:
                        try:
                            sent = send(out, DONTWAIT)
                        except BlockingIOError:
                            sent = 0
                        if sent != len(out):
                            self._send_rest(out, sent)
                        self._sending = False
                    else:
                        self._sending = False
                        self.send(out)
                elif quick_ack is not None and session.closing is None:
                    # No answer to carry the ACK: send it now, or a client that
                    # leaves Nagle on waits ~40 ms to send its next command.
                    client.setsockopt(_TCP, quick_ack, 1)
                if not session.settled:
                    if session.pending is not None or session.has_queued:
                        self._answer_the_rest()
                    if session.closing is not None:
                        return EndReason.CLIENT_CLOSED  # the served session tells which
                if self._stop_asked:
                    return EndReason.SERVER_STOPPING
        finally:
            self._sending = False

    def _converse_timed(self) -> EndReason | None:
        """The conversation while a deadline runs: ``idle_timeout``, or ``auth_timeout``.

        ``idle_timeout`` counts from the last complete command (bytes that
        trickle in without an LF do not reset it); ``auth_timeout`` from the
        connection, until the client has authenticated.  Each read waits at
        most until the nearer deadline, TLS records included (a blocking
        TLS read with a timeout has one deadline for the whole record).
        Returns None when no deadline is left to run (authenticated, and no
        idle timeout): the untimed loop goes on.
        """
        client, buffer, session = self.sock, self._buffer, self.served.session
        stats = session.stats
        idle_timeout = self._config.idle_timeout
        auth_deadline = math.inf
        if session.awaiting_auth and self._config.auth_timeout is not None:
            auth_deadline = time.monotonic() + self._config.auth_timeout
        last_command = time.monotonic()
        try:
            while idle_timeout is not None or session.awaiting_auth:
                idle_deadline = math.inf if idle_timeout is None else last_command + idle_timeout
                deadline = min(idle_deadline, auth_deadline if session.awaiting_auth else math.inf)
                left = deadline - time.monotonic()
                if left <= 0:
                    return EndReason.IDLE if deadline == idle_deadline else EndReason.AUTH_TIMEOUT
                client.settimeout(None if deadline == math.inf else left)
                try:
                    size = client.recv_into(buffer)
                except TimeoutError:
                    continue  # the deadline decides, at the top
                if size == 0:
                    return EndReason.CLIENT_CLOSED
                before = stats.commands
                ended = self._answer(session.receive(buffer, size))
                if ended is not None:
                    return ended
                if stats.commands != before:
                    last_command = time.monotonic()
        finally:
            client.settimeout(None)
        return None

    def _answer(self, out: bytes) -> EndReason | None:
        """Send the answers of a read and those they release; say if the session ended."""
        session = self.served.session
        if out:
            self.send(out)
        else:
            ack_now(self.sock)
        if session.pending is not None or session.has_queued:
            self._answer_the_rest()
        if session.closing is not None:
            return EndReason.CLIENT_CLOSED  # the served session tells which
        if self._stopping.is_set():
            return EndReason.SERVER_STOPPING
        return None

    def _answer_the_rest(self) -> None:
        """Wait for deferred answers and answer queued commands until none is left."""
        session = self.served.session
        while session.pending is not None or session.has_queued:
            out = self._resolve() if session.pending is not None else session.answer_queued()
            if out:
                self.send(out)

    def _resolve(self) -> bytes:
        """Wait for the session's deferred answer (or ``stop()``) and resume with it."""
        session = self.served.session
        deferred = session.pending
        if type(deferred) is Hold:
            self._carry_out(deferred)
            return session.resume()
        if not isinstance(deferred, concurrent.futures.Future):
            if inspect.iscoroutine(deferred):
                deferred.close()
            return session.resume(
                error=TypeError(
                    "the threaded Server cannot await an answer; return a "
                    "concurrent.futures.Future, or serve with linesock.aio"
                )
            )
        done = self._wake_event()
        deferred.add_done_callback(lambda _future: done.set())
        done.wait()
        done.clear()
        if not deferred.done() and self._stopping.is_set():
            deferred_done = threading.Event()  # stop() woke us: give the answer its grace
            deferred.add_done_callback(lambda _future: deferred_done.set())
            deferred_done.wait(max(0.0, self._stop_deadline - time.monotonic()))
        if not deferred.done():
            deferred.cancel()
            raise ConnectionAbortedError("the server is stopping")
        if deferred.cancelled():
            return session.resume()
        error = deferred.exception()
        if error is not None:
            return session.resume(error=error)
        return session.resume(deferred.result())

    def _wake_event(self) -> threading.Event:
        """The event stop() and kick() set, made on first use; set if either came already."""
        wake = self._wake
        if wake is None:
            wake = self._wake = threading.Event()
        if self._stopping.is_set() or self._kicked:
            wake.set()  # stop() or kick() came before the event existed, or was cleared
        return wake

    def _carry_out(self, hold: Hold) -> None:
        """Wait a fault's delay, then send its bytes (trickled at its rate, if it has one).

        A ``stop()`` or ``kick()`` cuts the wait short; the held answer is not sent.
        """
        wake = self._wake_event()
        start = time.monotonic()
        for due, piece in hold.pieces(TRICKLE_STEP):
            left = start + due - time.monotonic()
            if left > 0 and wake.wait(left):
                raise ConnectionAbortedError("the session ended during a fault's hold")
            self.send(piece)
