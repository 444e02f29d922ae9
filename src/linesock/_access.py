"""The first-line gate: who may talk to the handler at all.

Design notes
------------
A session's first complete line decides whether it is served.  With a
token configured it must be ``auth TOKEN`` (compared in constant time);
with ``reject_http`` on, a line that starts like a browser's request is
refused, so a web page that posts to the port cannot drive the rig.  This
module only decides; it keeps no state, reads no clock and logs nothing:
the server's lifecycle logs refusals (rate-limited) and counts them.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable
from enum import Enum
from typing import Final

from ._framing import InvalidLine
from ._wire import AUTH_PREFIX, OK

__all__ = ["AuthGuard", "Refusal", "WrongToken", "check_first_line", "looks_like_http"]


class Refusal(Enum):
    """Why a session was refused at its first line (the transcript's ``reason``)."""

    UNAUTHORIZED = "unauthorized"
    """A token is required and the first line was not ``auth`` with it."""
    HTTP = "http"
    """The first line looked like an HTTP request or header."""


# What browsers send: an upper-case method with a path or an HTTP version, or
# a Host header.  Instrument command sets do have `get volt` or `GET VOLT`,
# so a method word alone, or in lower case, is an ordinary command.
_HTTP_FIRST_LINE: Final = re.compile(
    r"[A-Z]+ \S+ HTTP/\d|(?:GET|POST|PUT|DELETE|HEAD|OPTIONS|PATCH|CONNECT|TRACE) /|(?i:host):"
)


def looks_like_http(line: str) -> bool:
    """Tell whether *line* starts like an HTTP request line or a ``Host:`` header."""
    return _HTTP_FIRST_LINE.match(line) is not None


def check_first_line(
    first: str | InvalidLine, token: str | None, reject_http: bool
) -> Refusal | None:
    """Decide on a session's first line: the reason to refuse it, or None to serve it."""
    if reject_http and isinstance(first, str) and looks_like_http(first):
        return Refusal.HTTP
    if token is None:
        return None
    offered = ""
    if isinstance(first, str) and first.startswith(AUTH_PREFIX):
        offered = first[len(AUTH_PREFIX) :]
    if hmac.compare_digest(offered.encode(), token.encode()):
        return None
    return Refusal.UNAUTHORIZED


class WrongToken(BaseException):
    """Raised by :class:`AuthGuard` for a later ``auth`` line with a wrong token.

    A ``BaseException``, so no handler's ``except Exception`` can swallow it:
    the session turns it into ``unauthorized`` and a refusal.
    """


class AuthGuard:
    """A handler wrapper: after authentication, ``auth`` lines are the server's, not the handler's.

    The right token again is answered ``ok``; a wrong one raises
    :class:`WrongToken`.  Anything else goes to the handler.
    """

    __slots__ = ("_handler", "_token")

    def __init__(self, handler: Callable[[str], object], token: str) -> None:
        """Guard *handler* with *token*."""
        self._handler = handler
        self._token = token.encode()

    def __call__(self, command: str) -> object:
        """Answer an ``auth`` line; pass anything else to the handler."""
        if not command.startswith(AUTH_PREFIX):
            return self._handler(command)
        if hmac.compare_digest(command[len(AUTH_PREFIX) :].encode(), self._token):
            return OK
        raise WrongToken
