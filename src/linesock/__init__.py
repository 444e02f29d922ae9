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
* :class:`LineFramer` and :class:`Session`: the sans-IO protocol core every
  front end drives, and :class:`ClientConnection` its client-side twin, for
  those who build their own transport.
"""

from ._client import DEFAULT_PORT, Client, ClientSettings, ProtocolError
from ._client_protocol import NEED_DATA, ClientConnection, ClientState, NeedData
from ._config import ClientConfig
from ._errors import (
    AuthenticationError,
    LinesockError,
    NoServerError,
    NotConnectedError,
    RemoteProtocolError,
)
from ._framing import DEFAULT_MAX_LINE_BYTES, InvalidLine, LineFramer
from ._protocol import (
    DEFAULT_WRITE_TIMEOUT,
    Answer,
    Closing,
    Handler,
    InvalidHandler,
    ServerConfig,
    ServerStats,
    Session,
)
from ._replay import AnswerDifference, ReplayReport, replay
from ._routing import CommandError, Commands
from ._server import Server
from ._transcript import Transcript, read_transcript
from ._version import __version__

__all__ = [
    "DEFAULT_MAX_LINE_BYTES",
    "DEFAULT_PORT",
    "DEFAULT_WRITE_TIMEOUT",
    "NEED_DATA",
    "Answer",
    "AnswerDifference",
    "AuthenticationError",
    "Client",
    "ClientConfig",
    "ClientConnection",
    "ClientSettings",
    "ClientState",
    "Closing",
    "CommandError",
    "Commands",
    "Handler",
    "InvalidHandler",
    "InvalidLine",
    "LineFramer",
    "LinesockError",
    "NeedData",
    "NoServerError",
    "NotConnectedError",
    "ProtocolError",
    "RemoteProtocolError",
    "ReplayReport",
    "Server",
    "ServerConfig",
    "ServerStats",
    "Session",
    "Transcript",
    "__version__",
    "read_transcript",
    "replay",
]
