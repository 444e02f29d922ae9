"""Raw-socket helpers for tests that check the exact bytes on the wire."""

from __future__ import annotations

import socket
import time

from .waiting import WAIT


def connect(port: int, host: str = "127.0.0.1") -> socket.socket:
    """A raw TCP connection to the server, with every wait bounded by WAIT."""
    sock = socket.create_connection((host, port), timeout=WAIT)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_exactly(sock: socket.socket, size: int) -> bytes:
    """Read exactly *size* bytes; fail the test if the connection ends or stalls first."""
    data = bytearray()
    deadline = time.monotonic() + WAIT
    while len(data) < size:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise AssertionError(f"connection closed after {bytes(data)!r}, wanted {size} bytes")
        data += chunk
    return bytes(data)


def read_until_eof(sock: socket.socket) -> bytes:
    """Read everything the server sends until it closes the connection (at most WAIT)."""
    data = bytearray()
    deadline = time.monotonic() + WAIT
    while True:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            return bytes(data)
        data += chunk


def converse(port: int, data: bytes, host: str = "127.0.0.1") -> bytes:
    """Send *data* on a new connection and return all the server sends until it closes."""
    with connect(port, host) as sock:
        sock.sendall(data)
        return read_until_eof(sock)


def nothing_arrives(sock: socket.socket, within: float) -> bool:
    """True if the server sends nothing on *sock* for *within* seconds.

    The one kind of wait a test cannot avoid: showing that something does
    not happen.  Keep *within* short.
    """
    sock.settimeout(within)
    try:
        sock.recv(1, socket.MSG_PEEK)
    except TimeoutError:
        return True
    return False  # an answer, or EOF
