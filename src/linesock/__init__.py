"""linesock: the Oneline line protocol over TCP, done right.

A server takes one client at a time and one command per LF-terminated line,
and answers each command with zero or more lines.  Built-in commands:
``ping`` (answered ``pong``), ``disconnect`` and ``shutdown``; a line that
cannot be decoded is answered ``invalid``.  See docs/protocol.md.

The public surface:

* :class:`Server`: the threaded server; :class:`ServerConfig` lists its
  options and :class:`ServerStats` its counters.
* :class:`Client`: the blocking client.
* :class:`Commands`: a handler that routes each command to a typed function
  (see docs/routing.md); :class:`CommandError` refuses a request from one.
* :class:`Transcript` and :func:`read_transcript`: session records as JSON
  lines (``transcript=`` on either server), and :func:`replay`, which sends
  a transcript's commands to a server and reports the answers that differ
  (see docs/transcripts.md).
* :class:`LineFramer` and :class:`Session`: the sans-IO protocol core every
  front end drives, for those who build their own transport.
"""

from ._client import DEFAULT_PORT, Client, ClientSettings, ProtocolError
from ._credentials import create_client_ssl_context, create_server_ssl_context, read_token
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
    "Answer",
    "AnswerDifference",
    "Client",
    "ClientSettings",
    "Closing",
    "CommandError",
    "Commands",
    "Handler",
    "InvalidHandler",
    "InvalidLine",
    "LineFramer",
    "ProtocolError",
    "ReplayReport",
    "Server",
    "ServerConfig",
    "ServerStats",
    "Session",
    "Transcript",
    "__version__",
    "create_client_ssl_context",
    "create_server_ssl_context",
    "read_token",
    "read_transcript",
    "replay",
]
