"""Settings as plain data: what a server and a client are told, and their defaults.

Design notes
------------
Like uvicorn's ``Config``, these classes only hold and check values; nothing
here opens a file or a socket.  A transcript given as a path stays a path
until the server that was given it starts listening, so the error for a
file that cannot be opened comes from the server, naming the file.
:class:`ServerStats` is the one mutable class: the counters a server keeps.
"""

from __future__ import annotations

import math
import os
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Literal, TypeAlias

from ._delimited import ANSWER_TERMINATORS, AnswerTerminator, CommandTerminator, create_framer
from ._framing import DEFAULT_MAX_LINE_BYTES, InvalidLine
from ._wire import INVALID

if TYPE_CHECKING:
    from ._transcript import Transcript

__all__ = [
    "DEFAULT_AUTH_TIMEOUT",
    "DEFAULT_HOST",
    "DEFAULT_MAX_ANSWER_LINES",
    "DEFAULT_PORT",
    "DEFAULT_TIMEOUT",
    "DEFAULT_TLS_HANDSHAKE_TIMEOUT",
    "DEFAULT_WRITE_TIMEOUT",
    "ClientConfig",
    "Handler",
    "InvalidHandler",
    "ServerConfig",
    "ServerStats",
    "answer_invalid",
]

#: Where servers listen and clients connect unless told otherwise: loopback only.
DEFAULT_HOST: Final = "127.0.0.1"
#: The port the command line uses when none is given, for server and client alike.
DEFAULT_PORT: Final = 5001
#: How long a client waits for an answer unless told otherwise, in seconds.
DEFAULT_TIMEOUT: Final = 5.0
#: How long a server waits for a client to take its answers before it gives
#: up on the session.  A minute is far beyond any live client's hiccup, yet
#: frees the only slot from a client that stopped reading.
DEFAULT_WRITE_TIMEOUT: Final = 60.0

#: The most answer lines a client's ``request()`` accepts unless told otherwise.
DEFAULT_MAX_ANSWER_LINES: Final = 100_000
#: How long a client that must present a token may take to do so, unless told.
DEFAULT_AUTH_TIMEOUT: Final = 10.0
#: How long a TLS client may take to complete its handshake, unless told.
DEFAULT_TLS_HANDSHAKE_TIMEOUT: Final = 5.0

# The highest TCP port number.
_MAX_PORT: Final = 65535

#: The user's command handler: called with each command, returns its answer
#: (or a ``concurrent.futures.Future`` / awaitable whose result is the answer).
Handler: TypeAlias = Callable[[str], object]
#: Called with each invalid line; returns its answer (default: ``invalid``).
InvalidHandler: TypeAlias = Callable[[InvalidLine], object]


def answer_invalid(line: InvalidLine) -> str:
    """Answer an undecodable or overlong line: the default ``on_invalid`` hook."""
    return INVALID


def _check_framing(
    terminator: str, answer_terminator: str, max_line_bytes: int, encoding: str
) -> None:
    """Reject an unknown terminator, an impossible line limit or an unusable encoding."""
    create_framer(terminator, max_line_bytes=max_line_bytes, encoding=encoding)
    if answer_terminator not in ANSWER_TERMINATORS:
        raise ValueError(f"answer_terminator must be lf, crlf or cr, not {answer_terminator!r}")


def _check_token(token: str | None) -> None:
    """Reject a token that cannot travel as one word of one line."""
    if token is not None and (not token or any(c in token for c in " \r\n")):
        raise ValueError("token must be non-empty, without spaces, CR or LF")


def _check_seconds(name: str, value: float | None) -> None:
    """Reject a timeout that is neither None nor a positive, finite number."""
    if value is not None and not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a positive number of seconds or None")


@dataclass(frozen=True)
class ServerConfig:
    """Every server setting in one place; the servers take these as keyword options.

    Attributes:
        encoding: how commands are decoded and answers encoded (ASCII-compatible).
        max_line_bytes: the longest command, in bytes before its LF, CR included;
            a longer one is skipped as it streams in and answered like an
            undecodable one.
        idle_timeout: seconds a client may go without sending a complete
            command before it is disconnected (bytes without an LF do not
            count; a TLS record that stalls halfway neither); ``None`` waits
            forever.  It also caps ``tls_handshake_timeout``.
        write_timeout: seconds an answer may wait for a client that does not
            read before the session is ended; ``None`` waits forever.
        on_invalid: answers an invalid line (default: the line ``invalid``).
        allow_remote_shutdown: when false, a client's ``shutdown`` only ends its
            own session, like ``disconnect``.
        backlog: how many clients the kernel holds while one is served (the
            listen queue).
        token: when set, a client's first command must be ``auth TOKEN``
            (answered ``ok``); anything else is answered ``unauthorized`` and
            the connection closed.  Never logged, nor shown by ``repr``.
        reject_http: close, without calling the handler, a connection whose
            first line looks like HTTP (``GET / HTTP/1.1``, ``POST /x``,
            ``Host: ...``), so a browser tricked into posting to the port cannot
            drive the rig.  ``get volt`` or ``GET VOLT`` are ordinary commands.
        ssl_context: serve TLS with this server-side context (plain TCP when
            ``None``); give it a CA to verify client certificates for mutual TLS.
        transcript: record every session (connect, each command and its
            answers, invalid lines, the end) as JSON lines: a
            :class:`~linesock.Transcript`, or a path, which the server opens
            when it starts listening and closes when it stops.
        terminator: what ends a command: ``"lf"`` (one CR right before the LF
            is dropped), ``"cr"``, ``"crlf"``, or ``"any"`` of CR, LF and CRLF.
        answer_terminator: what ends each answer line: ``"lf"``, ``"crlf"``
            or ``"cr"``.
        auth_timeout: with a token, seconds a client has from connecting to
            authenticate before it is closed; ``None`` waits forever.
        tls_handshake_timeout: seconds a TLS client has to complete its
            handshake (at most ``idle_timeout``, when that is set).
        busy: what becomes of a client that connects while another is
            served: ``"queue"`` (it waits, in arrival order) or ``"refuse"``
            (it receives the single line ``busy`` and is closed at once).
        max_wait: with ``"queue"``, seconds a client may wait without being
            served before it is closed; ``None`` waits forever.  None of a
            refused or expired client's commands ever runs.
        log_commands: log each command and its answers (INFO, escaped and
            cut short; never a token), like Redis's MONITOR.
        control_port: open a control port on this port (0: one the OS
            chooses) beside the server, on loopback only: a second Oneline
            port that injects faults, kicks the client, reads the counters
            and the handler's state (docs/control.md); ``None``: none.
    """

    encoding: str = "utf-8"
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    idle_timeout: float | None = None
    write_timeout: float | None = DEFAULT_WRITE_TIMEOUT
    on_invalid: InvalidHandler = answer_invalid
    allow_remote_shutdown: bool = True
    backlog: int = 64
    token: str | None = field(default=None, repr=False)
    reject_http: bool = True
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False)
    transcript: Transcript | str | os.PathLike[str] | None = field(default=None, repr=False)
    terminator: CommandTerminator = "lf"
    answer_terminator: AnswerTerminator = "lf"
    auth_timeout: float | None = DEFAULT_AUTH_TIMEOUT
    tls_handshake_timeout: float = DEFAULT_TLS_HANDSHAKE_TIMEOUT
    busy: Literal["queue", "refuse"] = "queue"
    max_wait: float | None = None
    log_commands: bool = False
    control_port: int | None = None

    def __post_init__(self) -> None:
        """Reject settings that cannot work, with the reason."""
        _check_framing(self.terminator, self.answer_terminator, self.max_line_bytes, self.encoding)
        _check_seconds("idle_timeout", self.idle_timeout)
        _check_seconds("write_timeout", self.write_timeout)
        _check_seconds("auth_timeout", self.auth_timeout)
        _check_seconds("tls_handshake_timeout", self.tls_handshake_timeout)
        _check_seconds("max_wait", self.max_wait)
        if self.busy not in ("queue", "refuse"):
            raise ValueError(f"busy must be queue or refuse, not {self.busy!r}")
        if self.backlog < 1:
            raise ValueError("backlog must be at least 1")
        _check_token(self.token)
        port = self.control_port
        if port is not None and (type(port) is not int or not 0 <= port <= _MAX_PORT):
            raise ValueError(f"control_port must be a port from 0 to {_MAX_PORT} or None")

    @property
    def handshake_deadline(self) -> float:
        """The seconds a TLS handshake may take: its timeout, capped by ``idle_timeout``."""
        if self.idle_timeout is None:
            return self.tls_handshake_timeout
        return min(self.tls_handshake_timeout, self.idle_timeout)


@dataclass
class ServerStats:
    """Counters a server keeps over its life, readable at any time."""

    sessions: int = 0
    """Client connections served."""
    commands: int = 0
    """Complete lines received, built-ins and invalid lines included."""
    invalid_lines: int = 0
    """Lines that could not be decoded."""
    overlong_lines: int = 0
    """Lines longer than ``max_line_bytes``."""
    handler_errors: int = 0
    """Handler calls that raised, or answered with something unsendable."""
    idle_disconnects: int = 0
    """Sessions ended by ``idle_timeout``."""
    write_timeouts: int = 0
    """Sessions ended because the client did not take its answers in time."""
    auth_failures: int = 0
    """Sessions refused because the first command was not ``auth`` with the token."""
    auth_timeouts: int = 0
    """Sessions closed because the client did not authenticate within ``auth_timeout``."""
    busy_refusals: int = 0
    """Clients answered ``busy`` and closed because another was served (``busy="refuse"``)."""
    wait_expiries: int = 0
    """Clients closed after waiting ``max_wait`` without being served."""
    http_refusals: int = 0
    """Sessions refused because the first line looked like HTTP."""
    faults: int = 0
    """Commands an injected fault was applied to (see :class:`~linesock.Faults`)."""


@dataclass(frozen=True)
class ClientConfig:
    """Where a client connects and how: the settings every linesock client takes.

    Attributes:
        host: the server's name or address; every address it resolves to is
            tried in turn, so ``localhost`` works for IPv4 and IPv6 servers.
        port: the server's TCP port.
        timeout: seconds to wait for the connection and for each answer (the
            asyncio client also bounds a wait for a lagging server to take
            what it sent).
        encoding: how commands are encoded and answers decoded.
        max_line_bytes: the longest answer line accepted.
        ssl_context: speak TLS with this client-side context (plain TCP when
            ``None``); the certificate is checked against *server_hostname*.
        server_hostname: the name the server's certificate must carry
            (default: *host*).
        token: when the server requires one, sent as ``auth TOKEN`` on
            connecting, before anything else.  Never shown by ``repr``.
        terminator: what ends each command the client sends: the server's
            ``terminator`` (``"lf"``, ``"cr"``, ``"crlf"``; ``"any"`` sends LF).
        answer_terminator: what ends each answer line: the server's
            ``answer_terminator`` (``"lf"``, ``"crlf"`` or ``"cr"``).
        max_answer_lines: the most answer lines one ``request()`` accepts;
            past it the request raises :class:`~linesock.AnswerLimitError`,
            so a server that never sends the ``pong`` cannot fill memory.
    """

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    timeout: float = DEFAULT_TIMEOUT
    encoding: str = "utf-8"
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False)
    server_hostname: str | None = None
    token: str | None = field(default=None, repr=False)
    terminator: CommandTerminator = "lf"
    answer_terminator: AnswerTerminator = "lf"
    max_answer_lines: int = DEFAULT_MAX_ANSWER_LINES

    def __post_init__(self) -> None:
        """Reject settings that cannot work, and default the certificate name to the host."""
        _check_framing(self.terminator, self.answer_terminator, self.max_line_bytes, self.encoding)
        timeout: object = self.timeout
        if not (isinstance(timeout, int | float) and timeout > 0 and math.isfinite(timeout)):
            raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
        if self.max_answer_lines < 1:
            raise ValueError("max_answer_lines must be at least 1")
        if self.server_hostname is None:
            object.__setattr__(self, "server_hostname", self.host)
        _check_token(self.token)
