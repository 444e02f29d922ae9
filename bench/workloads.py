"""The one client that drives every server: each workload, bounded in count and time.

Every function connects to 127.0.0.1 only, does a bounded amount of work,
ends the session the way the server's dialect asks (``disconnect`` for the
Oneline servers: socket-oneline spins forever on a bare close), and returns
what it measured.  The client side is plain sockets with one reused receive
buffer, so that it costs the same against every server and stays well below
the fastest one.
"""

from __future__ import annotations

import contextlib
import importlib.util
import selectors
import socket
import struct
import sys
import time
from dataclasses import dataclass
from typing import Final

from linesock import Client

# One read of answers takes at most this much.
_READ_SIZE: Final = 256 * 1024
# One send of a pipelined burst gives the kernel at most this much at a time.
_SEND_SIZE: Final = 1024 * 1024
# The longest a single blocking wait may take before the run counts as failed.
_IO_TIMEOUT: Final = 10.0
# _IO_TIMEOUT as the struct timeval of SO_RCVTIMEO and SO_SNDTIMEO (Linux's).
_KERNEL_WAIT: Final = (
    struct.pack("@ll", int(_IO_TIMEOUT), 0) if sys.platform.startswith("linux") else None
)
# A pipelined burst during which nothing moves for this long has failed.
_STALL_TIMEOUT: Final = 5.0
# Exchanges before the timed ones, to warm caches and connections up.
_WARM_UP: Final = 50
# How often the loops that run for a time budget look at the clock.
_CLOCK_EVERY: Final = 64
# Write-then-query pairs before the timed ones.  Few: against a server that
# lets the ACK wait, each pair costs a delayed ACK (~40 ms); the first pair of a
# connection is quick anyway (Linux starts it in quick-ACK mode), so two more
# show the steady state.
_PAIR_WARM_UP: Final = 3


class WorkloadError(Exception):
    """A workload could not finish (the server closed, stalled or answered wrongly)."""


@dataclass(frozen=True)
class Dialect:
    """How the client speaks to one kind of server.

    Attributes:
        short: one short command, LF included, answered by ``short_lines`` lines.
        big: a short command answered with about 1 KiB, by ``big_lines`` lines.
        ping: the round trip of the session-churn workload, answered by one line.
        quit: ends the session; the server closes after it.
        long_lines: whether the server takes 64 KiB lines.
        silent: a setter, LF included, that the server answers with nothing at
            all (``None`` when it has none: redis answers every command).
    """

    short: bytes = b"read x\n"
    short_lines: int = 1
    big: bytes = b"big\n"
    big_lines: int = 1
    ping: bytes = b"ping\n"
    quit: bytes = b"disconnect\n"
    long_lines: bool = True
    silent: bytes | None = b"set x\n"


#: Every Oneline server: linesock's, the peers', the raw reference.
ONELINE: Final = Dialect()
#: redis-server's inline commands; ``GET big`` answers ``$1023`` and the value.
REDIS: Final = Dialect(
    short=b"PING\n",
    big=b"GET big\n",
    big_lines=2,
    ping=b"PING\n",
    quit=b"QUIT\n",
    long_lines=False,
    silent=None,
)


@dataclass(frozen=True)
class Rate:
    """What a workload that runs for a time budget measured."""

    per_second: float
    """Exchanges (or sessions) per second in the timed part."""
    work: int
    """Exchanges (or sessions) done in all, the warm-up included: the server's CPU divisor."""


@dataclass(frozen=True)
class Burst:
    """What one pipelined burst measured."""

    commands: int
    seconds: float
    sent_bytes: int
    received_bytes: int


def connect(port: int) -> socket.socket:
    """Open a connection to 127.0.0.1:*port* with Nagle off and bounded waits.

    On Linux the socket stays blocking and the kernel bounds each wait
    (``SO_RCVTIMEO``, ``SO_SNDTIMEO``), as ``linesock.Client`` does: a
    Python timeout would ``poll()`` before every call, a cost the fastest
    plain-Python client does not pay.
    """
    sock = socket.create_connection(("127.0.0.1", port), timeout=_IO_TIMEOUT)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if _KERNEL_WAIT is not None:
        sock.settimeout(None)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _KERNEL_WAIT)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, _KERNEL_WAIT)
    return sock


def finish(sock: socket.socket, dialect: Dialect) -> None:
    """End the session politely: send the quit command and read until the server closes."""
    buffer = bytearray(4096)
    try:
        sock.setblocking(True)
        sock.settimeout(_IO_TIMEOUT)
        sock.sendall(dialect.quit)
        deadline = time.monotonic() + _IO_TIMEOUT
        while sock.recv_into(buffer) and time.monotonic() < deadline:
            pass
    except OSError as exc:
        raise WorkloadError(f"the session did not end cleanly: {exc}") from exc
    finally:
        sock.close()


def _exchange(
    sock: socket.socket, payload: bytes, lines: int, buffer: bytearray, count: int
) -> None:
    """Send *payload* and read *lines* answer lines, *count* times in a row."""
    sendall, recv_into = sock.sendall, sock.recv_into
    for _ in range(count):
        sendall(payload)
        seen = 0
        while seen < lines:
            size = recv_into(buffer)
            if not size:
                raise WorkloadError("the server closed the connection")
            seen += buffer.count(b"\n", 0, size)


def _exchange_decoding(sock: socket.socket, payload: bytes, lines: int, count: int) -> None:
    """:func:`_exchange`, taking the answers as text lines, as a client that returns them must."""
    sendall, recv = sock.sendall, sock.recv
    for _ in range(count):
        sendall(payload)
        data = recv(_READ_SIZE)
        while data.count(b"\n") < lines:
            more = recv(_READ_SIZE)
            if not more:
                raise WorkloadError("the server closed the connection")
            data += more
        answers = data.decode().split("\n")
        answers.pop()  # the empty string after the last LF


def round_trips(
    port: int,
    dialect: Dialect,
    *,
    payload: bytes,
    lines: int,
    budget: float,
    max_count: int,
    decode: bool = False,
) -> Rate:
    """Send *payload*, wait for its *lines* answer lines, repeat; return exchanges per second.

    Runs *max_count* exchanges or until *budget* seconds have passed,
    whichever comes first, after a short warm-up.  With *decode*, each
    answer is read as ``bytes``, decoded and split into lines; else the LFs
    are counted in one reused buffer.
    """
    sock = connect(port)
    buffer = bytearray(_READ_SIZE)

    def exchange(count: int) -> None:
        if decode:
            _exchange_decoding(sock, payload, lines, count)
        else:
            _exchange(sock, payload, lines, buffer, count)

    try:
        exchange(_WARM_UP)
        done = 0
        began = time.perf_counter()
        deadline = began + budget
        while done < max_count:
            step = min(_CLOCK_EVERY, max_count - done)
            exchange(step)
            done += step
            if time.perf_counter() >= deadline:
                break
        elapsed = time.perf_counter() - began
    except OSError as exc:
        sock.close()
        raise WorkloadError(str(exc)) from exc
    finish(sock, dialect)
    return Rate(done / elapsed, done + _WARM_UP)


def write_then_query(
    port: int, dialect: Dialect, *, silent: bytes, budget: float, max_count: int
) -> Rate:
    """A client that leaves Nagle on writes *silent*, then the short query, and reads its answer.

    Pairs per second, as an instrument script does them (a setter, then a
    query): the two writes are two ``sendall`` calls on a socket without
    ``TCP_NODELAY``, as pyvisa-py's are, so the query leaves only once the
    setter is acknowledged.  The clock is read after every pair: against a
    server that delays that ACK, a pair takes ~40 ms.
    """
    sock = socket.create_connection(("127.0.0.1", port), timeout=_IO_TIMEOUT)  # Nagle left on
    buffer = bytearray(_READ_SIZE)
    query, lines = dialect.short, dialect.short_lines
    try:
        for _ in range(_PAIR_WARM_UP):
            sock.sendall(silent)
            _exchange(sock, query, lines, buffer, 1)
        done = 0
        began = time.perf_counter()
        deadline = began + budget
        while done < max_count:
            sock.sendall(silent)
            _exchange(sock, query, lines, buffer, 1)
            done += 1
            if time.perf_counter() >= deadline:
                break
        elapsed = time.perf_counter() - began
    except OSError as exc:
        sock.close()
        raise WorkloadError(str(exc)) from exc
    finish(sock, dialect)
    return Rate(done / elapsed, done + _PAIR_WARM_UP)


def pyvisa_missing() -> str | None:
    """Why the PyVISA workload cannot run here, or None when PyVISA and pyvisa-py are installed."""
    for module in ("pyvisa", "pyvisa_py"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (the dev extra has it: ./do_install)"
    return None


def pyvisa_write_then_query(
    port: int, dialect: Dialect, *, silent: bytes, budget: float, max_count: int
) -> Rate:
    """:func:`write_then_query` with PyVISA's pure-Python backend as the client.

    A ``TCPIP0::127.0.0.1::PORT::SOCKET`` resource of pyvisa-py (``@py``),
    LF-terminated both ways, doing ``write(setter)`` then ``query(command)``:
    what every instrument script does, with pyvisa-py's own cost on top and
    Nagle on (pyvisa-py cannot turn ``TCP_NODELAY`` on).  Needs both
    installed (see :func:`pyvisa_missing`).
    """
    import pyvisa  # noqa: PLC0415 - only this workload needs it, and it is optional

    setter, query = silent.decode().rstrip("\n"), dialect.short.decode().rstrip("\n")
    manager = pyvisa.ResourceManager("@py")
    resource = manager.open_resource(
        f"TCPIP0::127.0.0.1::{port}::SOCKET",
        read_termination="\n",
        write_termination="\n",
        timeout=int(_IO_TIMEOUT * 1000),
    )
    assert isinstance(resource, pyvisa.resources.MessageBasedResource)
    try:
        for _ in range(_PAIR_WARM_UP):
            resource.write(setter)
            resource.query(query)
        done = 0
        began = time.perf_counter()
        deadline = began + budget
        while done < max_count:
            resource.write(setter)
            resource.query(query)
            done += 1
            if time.perf_counter() >= deadline:
                break
        elapsed = time.perf_counter() - began
        resource.write(dialect.quit.decode().rstrip("\n"))
    except (OSError, pyvisa.errors.VisaIOError) as exc:
        raise WorkloadError(str(exc)) from exc
    finally:
        resource.close()
        manager.close()
    return Rate(done / elapsed, done + _PAIR_WARM_UP)


def client_requests(port: int, *, budget: float, max_count: int) -> Rate:
    """``linesock.Client.request`` round trips per second (each is the command plus ``ping``)."""
    command = ONELINE.short.decode().rstrip("\n")
    with Client(port=port, timeout=_IO_TIMEOUT) as client:
        request = client.request
        for _ in range(_WARM_UP):
            request(command)
        done = 0
        began = time.perf_counter()
        deadline = began + budget
        while done < max_count:
            step = min(_CLOCK_EVERY, max_count - done)
            for _ in range(step):
                request(command)
            done += step
            if time.perf_counter() >= deadline:
                break
        elapsed = time.perf_counter() - began
    return Rate(done / elapsed, done + _WARM_UP)


def pipelined(port: int, dialect: Dialect, *, payload: bytes, lines: int, timeout: float) -> Burst:
    """Write *payload* as fast as the server takes it while reading its *lines* answer lines.

    Timing starts before the first byte is sent and stops when the last
    answer line has arrived.
    """
    sock = connect(port)
    sock.setblocking(False)
    buffer = bytearray(_READ_SIZE)
    view = memoryview(payload)
    total = len(payload)
    sent = seen = received = 0
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)
            began = time.perf_counter()
            deadline = began + timeout
            while seen < lines:
                left = deadline - time.perf_counter()
                if left <= 0:
                    raise WorkloadError(f"timed out after {timeout} s ({seen} of {lines} lines)")
                ready = selector.select(min(left, _STALL_TIMEOUT))
                if not ready:
                    raise WorkloadError(
                        f"stalled: nothing moved for {_STALL_TIMEOUT} s ({seen} of {lines} lines)"
                    )
                for _, events in ready:
                    if events & selectors.EVENT_WRITE:
                        with contextlib.suppress(BlockingIOError):
                            sent += sock.send(view[sent : sent + _SEND_SIZE])
                        if sent == total:
                            selector.modify(sock, selectors.EVENT_READ)
                    if events & selectors.EVENT_READ:
                        try:
                            size = sock.recv_into(buffer)
                        except BlockingIOError:
                            continue
                        if not size:
                            raise WorkloadError("the server closed the connection")
                        received += size
                        seen += buffer.count(b"\n", 0, size)
            elapsed = time.perf_counter() - began
    except (OSError, WorkloadError) as exc:
        sock.close()
        raise WorkloadError(str(exc)) from exc
    finish(sock, dialect)
    return Burst(lines, elapsed, total, received)


def churn(port: int, dialect: Dialect, *, budget: float, max_count: int) -> Rate:
    """Connect, ping, disconnect, over and over; return sessions per second."""
    buffer = bytearray(4096)
    done = 0
    began = time.perf_counter()
    deadline = began + budget
    try:
        while done < max_count:
            with connect(port) as sock:
                sock.sendall(dialect.ping)
                if not sock.recv_into(buffer):
                    raise WorkloadError("the server closed before answering ping")
                sock.sendall(dialect.quit)
                while sock.recv_into(buffer):
                    pass
            done += 1
            if done % 16 == 0 and time.perf_counter() >= deadline:
                break
    except OSError as exc:
        raise WorkloadError(str(exc)) from exc
    return Rate(done / (time.perf_counter() - began), done)
