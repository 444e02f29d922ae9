"""The protocol's vocabulary: every literal of the Oneline protocol, in one place.

docs/protocol.md is the contract; this module names its words so that the
server core, the client core, the router, replay and the command line all
spell them the same way.
"""

from __future__ import annotations

from enum import Enum
from typing import Final

__all__ = [
    "AUTH_PREFIX",
    "BUILT_INS",
    "BUSY",
    "DISCONNECT",
    "INVALID",
    "OK",
    "PING",
    "PONG",
    "SHUTDOWN",
    "UNAUTHORIZED",
    "Closing",
    "EndReason",
]

#: The liveness check; answered :data:`PONG`.
PING: Final = "ping"
#: The answer to :data:`PING`.
PONG: Final = "pong"
#: Ends the client's session; the server serves the next client.
DISCONNECT: Final = "disconnect"
#: Ends the session and stops the server (unless remote shutdown is off).
SHUTDOWN: Final = "shutdown"
#: The default answer to a line that cannot be decoded, or is too long.
INVALID: Final = "invalid"
#: A client presents its token as ``auth TOKEN``, its first command.
AUTH_PREFIX: Final = "auth "
#: The answer to a good ``auth``.
OK: Final = "ok"
#: The answer to a bad or missing ``auth``, before the server closes.
UNAUTHORIZED: Final = "unauthorized"
#: What a client that connects while another is served receives (``busy="refuse"``).
BUSY: Final = "busy"
#: The commands the server answers itself; they never reach the handler.
BUILT_INS: Final = frozenset({PING, DISCONNECT, SHUTDOWN})


class Closing(Enum):
    """Why a session ends at the client's request (what :attr:`Session.closing` holds)."""

    DISCONNECT = "disconnect"
    """The client sent ``disconnect``: close this connection, serve the next."""
    SHUTDOWN = "shutdown"
    """The client sent ``shutdown``: close this connection and stop the server."""
    REFUSED = "refused"
    """The client failed ``auth``, or spoke HTTP: close without serving it."""
    STOP = "stop"
    """The handler raised ``SystemExit`` or ``KeyboardInterrupt``: stop the server."""
    DROP = "drop"
    """A ``drop`` fault: close after the earlier answers, serve the next client."""
    RESET = "reset"
    """A ``drop reset`` fault: reset the connection (RST), serve the next client."""

    # Members are singletons compared by identity: hashed by it too, in C,
    # where Enum's hash of the name is a Python call (each session looks some up).
    __hash__ = object.__hash__

    @property
    def stops_server(self) -> bool:
        """Whether the server stops serving once this session has closed."""
        return self is Closing.SHUTDOWN or self is Closing.STOP


class EndReason(Enum):
    """Why a session ended, as logs and transcripts say it (the value is the text)."""

    CLIENT_CLOSED = "the client closed the connection"
    DISCONNECT = "the client sent disconnect"
    SHUTDOWN = "the client sent shutdown"
    REFUSED = "the client was refused"
    HANDLER_STOP = "the handler asked the server to stop"
    IDLE = "the client was idle for idle_timeout"
    AUTH_TIMEOUT = "the client did not authenticate within auth_timeout"
    WRITE_TIMEOUT = "the client took no answers for write_timeout"
    SERVER_STOPPING = "the server is stopping"
    CONNECTION_ERROR = "connection error"
    TLS_FAILED = "the TLS handshake failed"
    FAULT_DROP = "a drop fault closed the connection"
    FAULT_RESET = "a drop fault reset the connection"
    KICKED = "the session was kicked"

    __hash__ = object.__hash__  # as Closing's

    @classmethod
    def of(cls, closing: Closing) -> EndReason:
        """The end reason of a session that the client asked to close."""
        return _CLOSING_ENDS[closing]


_CLOSING_ENDS: Final = {
    Closing.DISCONNECT: EndReason.DISCONNECT,
    Closing.SHUTDOWN: EndReason.SHUTDOWN,
    Closing.REFUSED: EndReason.REFUSED,
    Closing.STOP: EndReason.HANDLER_STOP,
    Closing.DROP: EndReason.FAULT_DROP,
    Closing.RESET: EndReason.FAULT_RESET,
}
