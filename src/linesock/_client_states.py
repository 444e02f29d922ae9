"""The client core's vocabulary: its states, NEED_DATA, and the errors its front ends raise.

Kept apart from :mod:`linesock._client_protocol` so that each stays short;
that module re-exports every name here.  :class:`ConnectionBase`, the base
of :class:`~linesock.ClientConnection`, words every error it raises or hands
its front ends, and gathers a request's answers the slow way.
"""

from __future__ import annotations

import ssl
from enum import Enum
from typing import Final

from ._config import ClientConfig
from ._delimited import Framer
from ._errors import AnswerLimitError, NoServerError, NotConnectedError, RemoteProtocolError
from ._framing import InvalidLine
from ._wire import DISCONNECT, PONG, SHUTDOWN

__all__ = [
    "CLOSING_COMMANDS",
    "NEED_DATA",
    "ClientSettingsView",
    "ClientState",
    "ConnectionBase",
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


class ConnectionBase:
    """The base of ClientConnection: its errors, each naming the server, and its slow paths.

    Its subclass sets every attribute declared here.
    """

    __slots__ = (
        "_clean",
        "_collected",
        "_framer",
        "_handshake_step",
        "_lines",
        "_max_answers",
        "_next",
        "_sentinel_answers",
        "_state",
        "where",
    )

    # Lines not pulled yet: ``_lines[_next:]``; ``_clean``: none is invalid.
    _lines: list[str | InvalidLine]
    _next: int
    _clean: bool
    _collected: list[str]  # a request's answers from earlier reads
    _sentinel_answers: int  # 1 when the pong is the answer (request("ping"))
    _framer: Framer
    _handshake_step: str
    _max_answers: int
    _state: ClientState
    where: str
    """``host:port``, as every error message names the server."""

    def handshake_error(self, cause: BaseException) -> ConnectionError:
        """The error for a handshake that *cause* (a timeout, a reset...) cut short."""
        return ConnectionError(
            f"the server at {self.where} did not answer {self._handshake_step}: {cause}"
        )

    def closed_error(self) -> ConnectionError:
        """The error for a connection the server closed."""
        return ConnectionError(f"the server at {self.where} closed the connection")

    def connect_error(self, cause: BaseException) -> NoServerError:
        """The error for a connection that nothing accepted (*cause* says why)."""
        return NoServerError(f"no server accepts connections at {self.where}: {cause}")

    def tls_error(self, cause: BaseException) -> NoServerError:
        """The error for a TLS handshake that failed (*cause* says why)."""
        return NoServerError(f"TLS handshake with {self.where} failed: {cause}")

    def _scan_answers(self) -> list[str] | NeedData:
        """:meth:`next_answers` line by line, for buffered lines that include invalid ones."""
        lines = self._lines
        start = self._next
        for index in range(start, len(lines)):
            line = lines[index]
            if isinstance(line, InvalidLine):
                self._next = index + 1
                self._collected = []
                raise RemoteProtocolError(line)
            if line == PONG:
                answers: list[str] = self._collected
                answers += lines[start : index + self._sentinel_answers]  # type: ignore[arg-type]
                self._collected = []
                self._next = index + 1
                return answers
        self._collected += lines[start:]  # type: ignore[arg-type]  # none is invalid
        self._next = len(lines)
        self._check_answer_count(len(self._collected))
        return self._need_data()

    def _check_answer_count(self, count: int) -> None:
        """Raise ``AnswerLimitError`` once a request's answers pass ``max_answer_lines``."""
        if count > self._max_answers:
            self._collected = []
            raise AnswerLimitError(
                f"the server at {self.where} sent more than {self._max_answers} answer lines "
                "without the pong that ends them (max_answer_lines)"
            )

    def _need_data(self) -> NeedData:
        """:data:`NEED_DATA`, unless no more data can come: then the reason, raised.

        A line already longer than ``max_line_bytes`` raises at once, before
        its end comes: it can only be an overlong line.
        """
        if self._framer.discarding:
            raise RemoteProtocolError(InvalidLine("overlong", b"", self._framer.max_line_bytes + 1))
        if self._state is ClientState.CLOSED:
            raise self.closed_error()
        if self._state is ClientState.IDLE:
            raise not_connected()
        return NEED_DATA

    def _unusable(self) -> ConnectionError:
        """Why nothing can be sent in the current state."""
        if self._state is ClientState.CLOSED:
            return self.closed_error()
        return not_connected()


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
