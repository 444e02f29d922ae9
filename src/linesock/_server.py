"""The threaded server: one thread, one client at a time, blocking sockets.

Design notes
------------
The serving thread alternates between two waits.  Between clients it waits
in a selector on the listening socket and on one end of a socket pair;
``stop()`` writes to the other end, so stopping never waits on a poll
interval.  With a client it sits in a blocking ``recv_into`` on one reused
buffer (no fresh allocation per read); ``stop()`` wakes it by shutting that
socket down.  Answers go out with a non-blocking ``send`` first, which
succeeds at once for any client that reads; only a client that stops
reading takes the slow path, which waits for room at most ``write_timeout``.
While the server writes it does not read, so a client that does not read its
answers cannot make the server buffer more than one batch of them
(back-pressure).  Everything that is protocol lives in
:class:`~linesock._protocol.Session`, shared with the asyncio front end.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import inspect
import logging
import selectors
import socket
import ssl
import threading
import time
from types import TracebackType
from typing import Any, Final

from ._protocol import (
    Closing,
    Handler,
    ServerConfig,
    ServerStats,
    Session,
    close_owned_transcript,
    warn_if_exposed,
)

__all__ = ["Server"]

logger: Final = logging.getLogger("linesock")

# One read takes at most this much.  Large enough that a burst of pipelined
# commands is framed in few batches, small enough to stay in the CPU caches.
READ_SIZE: Final = 256 * 1024
# Lets ``send`` fail at once instead of blocking where the platform has it.
_DONTWAIT: Final = getattr(socket, "MSG_DONTWAIT", 0)
# After ``disconnect`` the server waits this long (at most) for the client to
# close its side, discarding what it still sends, so that closing with unread
# data does not reset the connection before the client has read its answers.
_LINGER_SECONDS: Final = 1.0
# A TLS client must finish its handshake within this many seconds.
_TLS_HANDSHAKE_TIMEOUT: Final = 10.0
# After a failed ``accept`` (out of file descriptors, say) the server pauses
# this long instead of spinning on the error.
_ACCEPT_ERROR_PAUSE: Final = 0.1


class _WriteTimeout(Exception):
    """A client did not take its answers within ``write_timeout``."""


class Server:
    """A Oneline TCP server that serves one client at a time on its own thread.

    Use ``start()``/``stop()`` (or ``with Server(...)``) to run it in the
    background, or ``serve_forever()`` to serve in the calling thread.
    Clients that connect while one is served wait in the kernel's backlog and
    are served in arrival order.

    Callers use: :meth:`start`, :meth:`serve_forever`, :meth:`stop`,
    :attr:`port`, :attr:`address`, :attr:`is_running`, :attr:`stats`.

    Args:
        handler: called with each command (a ``str``) on the serving thread;
            returns the answer: a ``str``, an iterable of ``str``, ``None``
            for no answer, or a ``concurrent.futures.Future`` of one of these.
        host: the address to listen on (default: loopback only).
        port: the TCP port; 0 lets the OS choose one, read it from :attr:`port`.
        **options: any field of :class:`~linesock.ServerConfig`.
    """

    def __init__(
        self, handler: Handler, host: str = "127.0.0.1", port: int = 0, **options: Any
    ) -> None:
        """Configure a server; nothing is bound until :meth:`listen` or :meth:`start`."""
        self.handler: Final = handler
        self.host: Final = host
        self.config: Final = ServerConfig(**options)
        self.stats: Final = ServerStats()
        self._requested_port = port
        self._listener: socket.socket | None = None
        self._address: tuple[str, int] | None = None
        self._wake_reader: socket.socket | None = None
        self._wake_writer: socket.socket | None = None
        self._lock = threading.Lock()
        # Held for each write to the client, so writes from other threads
        # (the compat layer's send) never interleave with the serving thread's.
        self._write_lock = threading.Lock()
        self._client: socket.socket | None = None
        self._deferred_done: threading.Event | None = None
        self._stop_requested = False
        self._serving_thread: threading.Thread | None = None
        self._background_thread: threading.Thread | None = None
        self._finished = threading.Event()
        # The one read buffer, reused by every session (one is served at a
        # time): no 256 KiB allocation, nor its page faults, per client.
        self._buffer = bytearray(READ_SIZE)

    # -- what callers use -------------------------------------------------

    @property
    def port(self) -> int:
        """The port the server listens on (the real one when it was created with 0)."""
        return self.address[1]

    @property
    def address(self) -> tuple[str, int]:
        """The ``(host, port)`` the server listens (or, once stopped, listened) on."""
        if self._address is None:
            raise RuntimeError("the server is not listening yet; call start() or listen()")
        return self._address

    @property
    def is_running(self) -> bool:
        """True from :meth:`listen` until the server has stopped serving."""
        return self._listener is not None and not self._finished.is_set()

    def listen(self) -> None:
        """Bind and listen now, so clients can queue; ``start``/``serve_forever`` call it."""
        with self._lock:
            if self._stop_requested:
                raise RuntimeError("a stopped Server cannot be restarted; create a new one")
            self._listen_locked()

    def _listen_locked(self) -> None:
        """Create the listening socket unless there is one; the caller holds the lock."""
        if self._listener is not None:
            return
        family, _, _, _, sockaddr = socket.getaddrinfo(
            _lookup_name(self.host),
            self._requested_port,
            type=socket.SOCK_STREAM,
            flags=socket.AI_PASSIVE,
        )[0]
        listener = socket.create_server(
            sockaddr, family=family, backlog=self.config.backlog, reuse_port=False
        )
        listener.setblocking(False)
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._listener = listener
        host, port = listener.getsockname()[:2]
        self._address = (host, port)
        logger.info("listening on %s:%d", *self.address)
        warn_if_exposed(self.address[0], self.config)

    def start(self) -> None:
        """Listen and serve on a background thread; returns once clients can connect."""
        self.listen()
        thread = threading.Thread(target=self.serve_forever, name="linesock-server", daemon=True)
        self._background_thread = thread
        thread.start()

    def serve_forever(self) -> None:
        """Serve clients one after another until ``stop()`` or a client's ``shutdown``.

        Returns at once if ``stop()`` came first.
        """
        with self._lock:
            if self._stop_requested:
                return
            self._listen_locked()
            self._serving_thread = threading.current_thread()
        listener, wake_reader = self._listener, self._wake_reader
        assert listener is not None and wake_reader is not None
        try:
            with selectors.DefaultSelector() as selector:
                selector.register(listener, selectors.EVENT_READ)
                selector.register(wake_reader, selectors.EVENT_READ)
                while not self._stop_requested:
                    if not any(key.fileobj is listener for key, _ in selector.select()):
                        continue
                    accepted = self._accept(listener)
                    if accepted is not None and self._serve_client(*accepted) is Closing.SHUTDOWN:
                        logger.info("shutdown requested by the client")
                        break
        finally:
            self._close_listener()
            self._finished.set()

    def stop(self, timeout: float | None = None) -> None:
        """Stop serving: close the current client, stop listening, wait for the thread.

        Safe from any thread, from a handler too (it then returns at once and
        the server stops after answering the current batch).  *timeout* bounds
        the wait for the serving thread.
        """
        with self._lock:
            self._stop_requested = True
            if self._wake_writer is not None:
                with contextlib.suppress(OSError):  # already stopped: the pair is closed
                    self._wake_writer.send(b"x")
            never_served = self._serving_thread is None
            on_serving_thread = threading.current_thread() is self._serving_thread
            if self._client is not None and not on_serving_thread:
                _shutdown_quietly(self._client)
            if self._deferred_done is not None:
                self._deferred_done.set()
        if never_served:
            # Never served: just release the port.
            self._close_listener()
            self._finished.set()
        elif not on_serving_thread:
            self._finished.wait(timeout)

    def __enter__(self) -> Server:
        """Start serving in the background."""
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop serving."""
        self.stop()

    def __repr__(self) -> str:
        """Show where the server listens."""
        where = f"{self._address[0]}:{self._address[1]}" if self._address else "not listening"
        return f"<linesock.Server {where} running={self.is_running}>"

    # -- the serving thread ---------------------------------------------

    def _accept(self, listener: socket.socket) -> tuple[socket.socket, str] | None:
        """Take the next client (and its address) from the backlog, or None if it went away."""
        try:
            client, peer = listener.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return None
        except OSError as exc:
            logger.error("accept failed: %s", exc)
            self._finished.wait(_ACCEPT_ERROR_PAUSE)
            return None
        if client.gettimeout() is not None:  # only under socket.setdefaulttimeout()
            client.setblocking(True)
        if client.family in (socket.AF_INET, socket.AF_INET6):
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        where = _format_peer(peer)
        logger.info("client connected from %s", where)
        return client, where

    def _serve_client(self, client: socket.socket, peer: str) -> Closing | None:
        """Serve the client at *peer* until it leaves; return how it asked to end, if it did."""
        with self._lock:
            if self._stop_requested:
                client.close()
                return None
            self._client = client
        self.stats.sessions += 1
        session = Session(self.handler, self.config, self.stats, peer)
        ended = "the client closed the connection"
        try:
            if self.config.ssl_context is not None:
                client = self._start_tls(client, self.config.ssl_context)
            ended = self._converse(client, session)
        except _WriteTimeout:
            self.stats.write_timeouts += 1
            ended = f"the client took no answers for {self.config.write_timeout} s"
        except OSError as exc:
            ended = f"connection error: {exc}"
        finally:
            with self._lock:
                self._client = None
            if session.closing is not None:
                _linger_and_close(client, self._buffer)
            else:
                client.close()
        logger.info("client session ended: %s", ended)
        session.end(ended)
        return session.closing

    def _start_tls(self, client: socket.socket, context: ssl.SSLContext) -> ssl.SSLSocket:
        """Wrap the client in TLS and shake hands within ``_TLS_HANDSHAKE_TIMEOUT``."""
        tls = context.wrap_socket(client, server_side=True, do_handshake_on_connect=False)
        with self._lock:
            self._client = tls
        try:
            tls.settimeout(_TLS_HANDSHAKE_TIMEOUT)
            tls.do_handshake()
            tls.settimeout(None)
        except OSError:
            tls.close()
            raise
        return tls

    def _converse(self, client: socket.socket, session: Session) -> str:
        """Read, answer and write until the session ends; return why it ended."""
        buffer = self._buffer
        idle_timeout = self.config.idle_timeout
        # An epoll object per session costs two system calls: only with a timeout.
        idle_selector = None
        if idle_timeout is not None:
            idle_selector = selectors.DefaultSelector()
            idle_selector.register(client, selectors.EVENT_READ)
        # This loop runs once per read, once per round trip of a ping-pong
        # client: the common case (plain TCP, the send takes everything) is
        # written out here rather than in calls.
        recv_into, send, receive = client.recv_into, client.send, session.receive
        write_lock = self._write_lock
        plain = not isinstance(client, ssl.SSLSocket)
        try:
            while True:
                if (
                    idle_selector is not None
                    and not _has_buffered_input(client)
                    and not idle_selector.select(idle_timeout)
                ):
                    self.stats.idle_disconnects += 1
                    return f"idle for {idle_timeout} s"
                size = recv_into(buffer)
                if size == 0:
                    session.receive_eof()
                    return "the client closed the connection"
                out = receive(buffer, size)
                if out:
                    if plain:
                        with write_lock:
                            try:
                                sent = send(out, _DONTWAIT)
                            except BlockingIOError:
                                sent = 0
                            if sent != len(out):
                                self._send_rest(client, out, sent)
                    else:
                        self._send(client, out)
                while session.pending is not None or session.backlog:
                    if session.pending is not None:
                        out = self._resolve(session)
                    else:
                        out = session.answer_backlog()
                    if out:
                        self._send(client, out)
                if session.closing is not None:
                    return f"the client sent {session.closing.value}"
                if self._stop_requested:
                    return "the server is stopping"
        finally:
            if idle_selector is not None:
                idle_selector.close()

    def _resolve(self, session: Session) -> bytes:
        """Wait for the session's deferred answer (or ``stop()``) and resume with it."""
        deferred = session.pending
        if not isinstance(deferred, concurrent.futures.Future):
            if inspect.iscoroutine(deferred):
                deferred.close()
            return session.resume(
                error=TypeError(
                    "the threaded Server cannot await an answer; return a "
                    "concurrent.futures.Future, or serve with linesock.aio"
                )
            )
        done = threading.Event()
        with self._lock:
            self._deferred_done = done
            if self._stop_requested:
                done.set()
        deferred.add_done_callback(lambda _future: done.set())
        done.wait()
        with self._lock:
            self._deferred_done = None
        if not deferred.done():
            deferred.cancel()
            raise ConnectionAbortedError("the server is stopping")
        error = deferred.exception() if not deferred.cancelled() else None
        if error is not None:
            return session.resume(error=error)
        if deferred.cancelled():
            return session.resume()
        return session.resume(deferred.result())

    def _send_to_client(self, data: bytes) -> bool:
        """Send *data* to the current client from any thread; False if none took it.

        For the compat layer, whose users answer after their callback returned.
        """
        with self._lock:
            client = self._client
        if client is None:
            return False
        try:
            self._send(client, data)
        except (OSError, _WriteTimeout) as exc:
            logger.info("could not send to the client: %s", exc or "write timeout")
            return False
        return True

    def _send(self, client: socket.socket, data: bytes) -> None:
        """Send all of *data*, waiting at most ``write_timeout`` for a client that lags."""
        with self._write_lock:
            self._send_locked(client, data)

    def _send_locked(self, client: socket.socket, data: bytes) -> None:
        """Send all of *data*; the caller holds the write lock."""
        if isinstance(client, ssl.SSLSocket):
            # TLS sockets take no send flags: a blocking send with a timeout.
            client.settimeout(self.config.write_timeout)
            try:
                client.sendall(data)
            except TimeoutError as exc:
                raise _WriteTimeout from exc
            finally:
                client.settimeout(None)
            return
        try:
            sent = client.send(data, _DONTWAIT)
        except BlockingIOError:
            sent = 0
        if sent != len(data):
            self._send_rest(client, data, sent)

    def _send_rest(self, client: socket.socket, data: bytes, sent: int) -> None:
        """Send *data* after its first *sent* bytes, to a client that lags; hold the write lock.

        Waits for room at most ``write_timeout`` in all, then raises ``_WriteTimeout``.
        """
        timeout = self.config.write_timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        remaining = memoryview(data)[sent:]
        with selectors.DefaultSelector() as selector:
            selector.register(client, selectors.EVENT_WRITE)
            while remaining:
                wait = None if deadline is None else max(0.0, deadline - time.monotonic())
                if not selector.select(wait):
                    raise _WriteTimeout
                try:
                    remaining = remaining[client.send(remaining, _DONTWAIT) :]
                except BlockingIOError:
                    continue

    def _close_listener(self) -> None:
        """Stop listening and release the wake-up socket pair."""
        with self._lock:
            for sock in (self._listener, self._wake_reader, self._wake_writer):
                if sock is not None:
                    sock.close()
        close_owned_transcript(self.config)
        logger.info("stopped listening")


def _lookup_name(host: str) -> str | bytes:
    """*host* as ``getaddrinfo`` should get it: ASCII as bytes, so no IDNA codec is loaded.

    Given text, ``getaddrinfo`` encodes it with the IDNA codec, whose first
    use imports ``encodings.idna`` and ``stringprep``: about 2 ms of a
    server's ``start()``.  An address or an ASCII name needs no such
    encoding; only an internationalised name is passed on as text.
    """
    try:
        return host.encode("ascii")
    except UnicodeEncodeError:
        return host


def _has_buffered_input(client: socket.socket) -> bool:
    """Whether TLS has decrypted input waiting that the socket will not signal."""
    return isinstance(client, ssl.SSLSocket) and client.pending() > 0


def _format_peer(peer: Any) -> str:
    """Turn a socket's peer address into ``host:port`` text."""
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer)


def _shutdown_quietly(sock: socket.socket) -> None:
    """Shut a socket down both ways, ignoring a peer that is already gone."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _linger_and_close(client: socket.socket, buffer: bytearray) -> None:
    """Close after a ``disconnect``: send FIN, discard what the client still sends, close.

    Closing a socket with unread input makes the kernel reset the connection,
    which can destroy answers the client has not read yet.  So the server
    half-closes, reads until the client closes too (at most ``_LINGER_SECONDS``),
    and only then closes.  What it discards goes into *buffer*, the reused read
    buffer (``recv(READ_SIZE)`` would allocate 256 KiB per call).
    """
    try:
        client.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + _LINGER_SECONDS
        while (left := deadline - time.monotonic()) > 0:
            client.settimeout(left)
            if not client.recv_into(buffer):
                break
    except OSError:
        pass
    finally:
        client.close()
