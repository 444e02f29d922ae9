"""What both server front ends do with sockets: bind, name a peer, warn when exposed.

The constants here bound the waits that hold the server's single slot
outside the protocol itself (see docs/reliability.md).
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import logging
import socket
import struct
import sys
import termios
from typing import Any, Final

from ._config import ServerConfig

__all__ = [
    "ACCEPT_ENDS_ON_SHUTDOWN",
    "ACCEPT_ERROR_PAUSE",
    "LINGER_SECONDS",
    "QUICK_ACK",
    "STOP_GRACE",
    "TCP_FAMILIES",
    "TRICKLE_STEP",
    "ack_now",
    "create_listener",
    "format_peer",
    "listen_on",
    "lookup_name",
    "nothing_queued",
    "reset_on_close",
    "set_nodelay",
    "warn_if_exposed",
]

logger: Final = logging.getLogger("linesock")

#: The address families that speak TCP (a Unix socket takes no TCP options).
TCP_FAMILIES: Final = frozenset({socket.AF_INET, socket.AF_INET6})
#: ``TCP_QUICKACK`` where the platform has it (Linux), else None.
QUICK_ACK: Final[int | None] = getattr(socket, "TCP_QUICKACK", None)
#: After ``disconnect`` (or a refusal) the server waits this long, at most,
#: for the client to close its side, discarding what it still sends, so that
#: closing with unread data does not reset the connection before the client
#: has read its answers.
LINGER_SECONDS: Final = 1.0
#: How long a stopping server still gives a session's answers to go out (and
#: a deferred answer, or one being computed on the event loop, to arrive)
#: before it cuts the connection.
STOP_GRACE: Final = 1.0
#: After a failed ``accept`` (out of file descriptors, say) the server pauses
#: this long instead of spinning on the error.
ACCEPT_ERROR_PAUSE: Final = 0.1
#: Whether shutting a listening socket down ends an ``accept`` blocked on it
#: (Linux: it raises EINVAL); elsewhere the threaded server waits in a selector.
ACCEPT_ENDS_ON_SHUTDOWN: Final = sys.platform == "linux"
#: A ``slow`` fault sends its answer in pieces of this many seconds' worth.
TRICKLE_STEP: Final = 0.02
# SIOCOUTQ (Linux): the bytes of a TCP socket's send queue not yet acknowledged.
_OUTQ: Final[int | None] = getattr(termios, "TIOCOUTQ", None) if sys.platform == "linux" else None
# FIONREAD: the bytes received on a socket and not read yet.
_INQ: Final[int | None] = getattr(termios, "FIONREAD", None)
# An int of 0, as the ioctls above read and write it.
_NO_BYTES: Final = bytes(4)
# What the ioctls above are given: a bytearray, which fcntl.ioctl copies and
# never writes when told not to.  Given bytes, it first fails to take them as
# a writable buffer and formats the error it then drops: ~0.8 us a call.
_IOCTL_ARGUMENT: Final = bytearray(4)
# SO_LINGER on with a zero timeout: close() then resets the connection.
_RESET_ON_CLOSE: Final = struct.pack("ii", 1, 0)


def lookup_name(host: str) -> str | bytes:
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


def create_listener(sockaddr: Any, family: int, backlog: int) -> socket.socket:
    """A non-blocking listening socket bound to *sockaddr*."""
    listener = socket.create_server(sockaddr, family=family, backlog=backlog, reuse_port=False)
    listener.setblocking(False)
    return listener


def listen_on(host: str, port: int, backlog: int) -> socket.socket:
    """A non-blocking listening socket on the first address *host* names (resolved here)."""
    family, _, _, _, sockaddr = socket.getaddrinfo(
        lookup_name(host), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    return create_listener(sockaddr, family, backlog)


def format_peer(peer: Any) -> str:
    """Turn a socket's peer address into ``host:port`` text."""
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer)


def set_nodelay(sock: socket.socket, tcp: bool | None = None) -> None:
    """Turn Nagle's algorithm off on a TCP socket: every answer goes out at once.

    *tcp* says whether it is one, when the caller knows (reading the family
    back makes an enum member each time).
    """
    if sock.family in TCP_FAMILIES if tcp is None else tcp:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def nothing_queued(sock: socket.socket) -> bool:
    """True when the kernel holds nothing of *sock*'s: every byte sent acknowledged, none unread.

    False where that is unknown (the unacknowledged count is Linux's).
    Unlike a ``recv`` that peeks, it raises nothing when nothing is there.
    """
    if _OUTQ is None or _INQ is None:
        return False
    fd = sock.fileno()
    try:
        return (
            fcntl.ioctl(fd, _OUTQ, _IOCTL_ARGUMENT, False) == _NO_BYTES
            and fcntl.ioctl(fd, _INQ, _IOCTL_ARGUMENT, False) == _NO_BYTES
        )
    except OSError:
        return False


def reset_on_close(sock: Any) -> None:
    """Make closing *sock* reset the connection (RST) instead of a FIN: ``drop reset``.

    *sock* may be an asyncio transport's socket wrapper: it takes ``setsockopt``.
    """
    with contextlib.suppress(OSError):  # the peer is already gone: closing is all there is
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET_ON_CLOSE)


def ack_now(sock: socket.socket) -> None:
    """Have the kernel acknowledge what it received at once, not ~40 ms later (Linux).

    A client that leaves Nagle's algorithm on (pyvisa-py does) holds its
    next write until the last one is acknowledged; the kernel delays that
    ACK hoping to carry it on an answer.  After a read whose commands
    produced no answer (a setter), nothing will carry it: ``TCP_QUICKACK``
    sends it now.  It is a one-shot flag, so it is set after each such read.
    Elsewhere (no ``TCP_QUICKACK``) this does nothing.
    """
    if QUICK_ACK is not None and sock.family in TCP_FAMILIES:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, QUICK_ACK, 1)


def warn_if_exposed(address: str, config: ServerConfig) -> None:
    """Log a warning when a server listens beyond loopback with neither TLS nor a token."""
    try:
        loopback = ipaddress.ip_address(address.split("%", maxsplit=1)[0]).is_loopback
    except ValueError:
        loopback = False
    if not loopback and config.ssl_context is None and config.token is None:
        logger.warning(
            "listening on %s, which is not a loopback address, without TLS or a token: "
            "anyone who can reach this port can drive the handler",
            address,
        )
