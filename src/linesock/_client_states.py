"""The client core's vocabulary: its states, NEED_DATA, and the errors its front ends raise.

Kept apart from :mod:`linesock._client_protocol` so that each stays short;
that module re-exports every name here.
"""

from __future__ import annotations

import ssl
from enum import Enum
from typing import Final

from ._config import ClientConfig
from ._errors import NotConnectedError
from ._wire import DISCONNECT, SHUTDOWN

__all__ = [
    "CLOSING_COMMANDS",
    "NEED_DATA",
    "ClientSettingsView",
    "ClientState",
    "NeedData",
    "answer_timeout",
    "check_command",
    "not_connected",
    "send_timeout",
]

#: The commands that end a session: sent by ``ClientConnection.close_request``.
CLOSING_COMMANDS: Final = frozenset({DISCONNECT, SHUTDOWN})


class NeedData(Enum):
    """The type of :data:`NEED_DATA`."""

    NEED_DATA = "need data"


#: What a pull returns when the bytes so far do not complete it: read more,
#: hand them to :meth:`ClientConnection.receive_data`, and pull again.
NEED_DATA: Final = NeedData.NEED_DATA


class ClientState(Enum):
    """Where a :class:`ClientConnection` is in its life."""

    IDLE = "idle"
    """Not started: nothing may be sent (:class:`~linesock.NotConnectedError`)."""
    AUTHENTICATING = "authenticating"
    """``auth TOKEN`` was sent; waiting for ``ok``."""
    CHECKING = "checking"
    """The handshake's ``ping`` was sent; waiting for ``pong``."""
    READY = "ready"
    """Connected: commands and requests may be sent."""
    CLOSING = "closing"
    """``disconnect`` or ``shutdown`` was sent; waiting for the server to close."""
    CLOSED = "closed"
    """The server closed; lines that came before stay readable."""


def check_command(command: str) -> str:
    """Return *command* if it can travel as one line; raise ``ValueError`` if not."""
    if "\n" in command or "\r" in command:
        raise ValueError(f"a command cannot hold CR or LF: {command!r}")
    return command


def not_connected() -> NotConnectedError:
    """The error for using a client that is not connected."""
    return NotConnectedError("the client is not connected; call connect()")


def answer_timeout(timeout: float) -> TimeoutError:
    """The error for a wait of *timeout* seconds in which no answer came."""
    return TimeoutError(f"no answer within {timeout} s")


def send_timeout(timeout: float) -> TimeoutError:
    """The error for a server that took none of what was sent within *timeout* seconds."""
    return TimeoutError(f"the server took no data within {timeout} s")


class ClientSettingsView:
    """The settings of a client's :class:`~linesock.ClientConfig`, readable on the client."""

    config: ClientConfig
    """Where the client connects and how."""

    @property
    def host(self) -> str:
        """The server's name or address."""
        return self.config.host

    @property
    def port(self) -> int:
        """The server's TCP port."""
        return self.config.port

    @property
    def timeout(self) -> float:
        """Seconds to wait for the connection, and for each whole answer."""
        return self.config.timeout

    @property
    def encoding(self) -> str:
        """How commands are encoded and answers decoded."""
        return self.config.encoding

    @property
    def max_line_bytes(self) -> int:
        """The longest answer line accepted."""
        return self.config.max_line_bytes

    @property
    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context, or None for plain TCP."""
        return self.config.ssl_context

    @property
    def server_hostname(self) -> str | None:
        """The name the server's certificate must carry."""
        return self.config.server_hostname
