"""linesock: the Oneline line protocol over TCP, done right.

A server takes one client at a time and one command per LF-terminated line,
and answers each command with zero or more lines.  Built-in commands:
``ping`` (answered ``pong``), ``disconnect`` and ``shutdown``; a line that
cannot be decoded is answered ``invalid``.  See docs/protocol.md.

The public surface:

* :class:`Server`: the threaded server; :class:`ServerConfig` lists its
  options and :class:`ServerStats` its counters.
* :class:`Client`: the blocking client; :class:`ClientConfig` holds its
  settings (``ClientSettings`` is its 0.1.0 name).  A refused token raises
  :class:`AuthenticationError`, a missing server :class:`NoServerError`, a
  client not connected :class:`NotConnectedError` (all ``ConnectionError``).
* :class:`Commands`: a handler that routes each command to a typed function
  (see docs/routing.md); :class:`CommandError` refuses a request from one.
* :class:`Transcript` and :func:`read_transcript`: session records as JSON
  lines (``transcript=`` on either server), and :func:`replay`, which sends
  a transcript's commands to a server and reports the answers that differ
  (see docs/transcripts.md).
* :class:`ControlPort`: the loopback-only control port (``control_port=``
  on either server, docs/control.md) that injects :class:`Faults`, kicks
  the client and reads and sets what the handler exposes, such as a
  :class:`State`.
* :class:`LineFramer` and :class:`Session`: the sans-IO protocol core every
  front end drives, and :class:`ClientConnection` its client-side twin, for
  those who build their own transport.
"""

from collections.abc import Iterable
from typing import TypeAlias

from ._access import Refusal
from ._client import Client, ClientSettings
from ._client_protocol import NEED_DATA, ClientConnection, ClientState, NeedData
from ._config import (
    DEFAULT_HOST,
    DEFAULT_MAX_ANSWER_LINES,
    DEFAULT_PORT,
    DEFAULT_TIMEOUT,
    DEFAULT_WRITE_TIMEOUT,
    ClientConfig,
    Handler,
    InvalidHandler,
    ServerConfig,
    ServerStats,
)
from ._control import ControlPort
from ._credentials import create_client_ssl_context, create_server_ssl_context, read_token
from ._errors import (
    AnswerLimitError,
    AuthenticationError,
    LinesockError,
    NoServerError,
    NotConnectedError,
    ProtocolError,
    RemoteProtocolError,
    TranscriptError,
)
from ._faults import GARBAGE, Fault, FaultKind, Faults, Hold, parse_fault
from ._framing import DEFAULT_MAX_LINE_BYTES, InvalidLine, LineFramer
from ._protocol import OUTPUT_CHUNK, Session, SessionObserver
from ._replay import AnswerDifference, ReplayReport, replay
from ._routing import CommandError, Commands
from ._server import Server
from ._state import State
from ._transcript import Transcript, read_transcript
from ._version import __version__
from ._wire import Closing, EndReason

#: What a handler returns: one line, several lines, or no answer at all.
Answer: TypeAlias = "str | Iterable[str] | None"

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_MAX_ANSWER_LINES",
    "DEFAULT_MAX_LINE_BYTES",
    "DEFAULT_PORT",
    "DEFAULT_TIMEOUT",
    "DEFAULT_WRITE_TIMEOUT",
    "GARBAGE",
    "NEED_DATA",
    "OUTPUT_CHUNK",
    "Answer",
    "AnswerDifference",
    "AnswerLimitError",
    "AuthenticationError",
    "Client",
    "ClientConfig",
    "ClientConnection",
    "ClientSettings",
    "ClientState",
    "Closing",
    "CommandError",
    "Commands",
    "ControlPort",
    "EndReason",
    "Fault",
    "FaultKind",
    "Faults",
    "Handler",
    "Hold",
    "InvalidHandler",
    "InvalidLine",
    "LineFramer",
    "LinesockError",
    "NeedData",
    "NoServerError",
    "NotConnectedError",
    "ProtocolError",
    "Refusal",
    "RemoteProtocolError",
    "ReplayReport",
    "Server",
    "ServerConfig",
    "ServerStats",
    "Session",
    "SessionObserver",
    "State",
    "Transcript",
    "TranscriptError",
    "__version__",
    "create_client_ssl_context",
    "create_server_ssl_context",
    "parse_fault",
    "read_token",
    "read_transcript",
    "replay",
]
