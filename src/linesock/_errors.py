"""The errors linesock raises, under one base class.

Design notes
------------
h11 splits its errors into the ones the caller caused and the ones the
peer caused; linesock does the same under :class:`LinesockError`.  The
client errors that mean "the connection cannot be used" also derive from
``ConnectionError`` (and so from ``OSError``), so code written against
0.1.0, which raised plain ``ConnectionError``, keeps working, while a caller
can now tell a refused token from a missing server by type alone.
"""

from __future__ import annotations

from typing import Final

from ._framing import InvalidLine

__all__ = [
    "AnswerLimitError",
    "AuthenticationError",
    "LinesockError",
    "NoServerError",
    "NotConnectedError",
    "ProtocolError",
    "RemoteProtocolError",
    "TranscriptError",
]


class LinesockError(Exception):
    """The base class of every error linesock raises of its own."""


class RemoteProtocolError(LinesockError):
    """The peer sent a line that is not a valid answer (undecodable or overlong).

    ``line`` is the :class:`~linesock.InvalidLine` that the framer made of it.
    """

    def __init__(self, line: InvalidLine) -> None:
        """Wrap the offending *line*."""
        super().__init__(f"the server sent an {line.reason} line of {line.size} bytes")
        self.line: Final = line


#: The 0.1.0 name of :class:`RemoteProtocolError`, kept as an alias.
ProtocolError = RemoteProtocolError


class AnswerLimitError(LinesockError):
    """A request's answer ran past the client's ``max_answer_lines`` without its ``pong``."""


class NoServerError(LinesockError, ConnectionError):
    """No server accepted the connection, or the TLS handshake with it failed."""


class AuthenticationError(LinesockError, ConnectionError):
    """The server refused the client's token (it answered ``auth`` with something else)."""


class NotConnectedError(LinesockError, ConnectionError):
    """The client is not connected: call ``connect()`` first (or again)."""


class TranscriptError(LinesockError, OSError):
    """A transcript file cannot be opened or written; the message names the file."""
