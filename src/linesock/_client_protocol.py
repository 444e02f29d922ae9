"""The client side of the Oneline protocol, without I/O: bytes in, answers out.

Design notes
------------
:class:`ClientConnection` is the client's twin of the server's
:class:`~linesock.Session`, in the manner of h11's ``Connection``: it never
touches a socket, a clock or an event loop.  The front end that owns the I/O
(:class:`~linesock.Client`, :class:`~linesock.aio.AsyncClient`,
:class:`~linesock.compat.OnelineClient`) asks it for the bytes to send, hands
it the bytes that arrive (:meth:`~ClientConnection.receive_data`, ``b""`` at
the end), and pulls what they mean (the next line, a request's answers, the
next handshake step) or :data:`NEED_DATA`.  The protocol's decisions are
made here once; the front ends move bytes and wait, each in one place.  One
connection object serves one TCP connection: a front end makes a fresh one
for every ``connect()``, so nothing late from an old connection reaches a
new one.

The rules (docs/protocol.md is the contract):

* The handshake: ``auth TOKEN`` when a token is set, answered ``ok``, then
  ``ping``, answered ``pong``; one after the other, not pipelined, since a
  server that refuses the token closes at once, and a ``ping`` already on
  its way would turn that close into a reset that loses the ``unauthorized``.
* A request is the command followed by ``ping``; its answers are the lines
  before the first ``pong``.  ``request("ping")`` is answered by that pong.
* Lines are framed by the servers' :class:`~linesock.LineFramer`; an invalid
  one raises :class:`~linesock.RemoteProtocolError` when it is pulled.
* Closing: ``disconnect`` or ``shutdown``, then every line is dropped until
  the server closes.

Speed: a request's answers usually come in one read, whole lines up to the
pong.  :meth:`ClientConnection.receive_answers` splits such a read itself
(one ``decode``, one ``split``, one ``list.index``: no Python work per line)
while the connection is ``settled``; anything else goes through the framer
and the buffer of lines, which give the same result.
"""

from __future__ import annotations

from typing import Final

from ._client_states import (
    CLOSING_COMMANDS,
    NEED_DATA,
    ClientState,
    ConnectionBase,
    NeedData,
    answer_timeout,
    check_command,
    not_connected,
    send_timeout,
)
from ._config import ClientConfig
from ._delimited import create_framer
from ._errors import (
    AuthenticationError,
    RemoteProtocolError,
)
from ._framing import InvalidLine, LineFramer
from ._wire import AUTH_PREFIX, DISCONNECT, OK, PING, PONG, UNAUTHORIZED

__all__ = [
    "CLOSING_COMMANDS",
    "NEED_DATA",
    "ClientConnection",
    "ClientState",
    "NeedData",
    "answer_timeout",
    "check_command",
    "not_connected",
    "send_timeout",
]


_IDLE: Final = ClientState.IDLE
_READY: Final = ClientState.READY
_CLOSING: Final = ClientState.CLOSING
_CLOSED: Final = ClientState.CLOSED
_SPECIAL_REQUESTS: Final = CLOSING_COMMANDS | {PING}
_AUTH: Final = AUTH_PREFIX.rstrip()
_LF_BYTE: Final = 0x0A
_CR_BYTE: Final = 0x0D  # an int: ``13 in data`` is a plain memchr
# What ends each command the client sends, by the server's command terminator
# ("any" accepts LF, so LF it is).
_COMMAND_ENDS: Final = {"lf": "\n", "cr": "\r", "crlf": "\r\n", "any": "\n"}


class ClientConnection(ConnectionBase):
    r"""One client connection's protocol state: what to send, and what came.

    >>> connection = ClientConnection(ClientConfig(port=5001))
    >>> connection.start()
    b'ping\n'
    >>> connection.receive_data(b"pong\n")
    >>> connection.handshake_step() is None  # connected
    True
    >>> connection.request("read x")
    b'read x\nping\n'
    >>> connection.receive_data(b"1.5\npong\n")
    >>> connection.next_answers()
    ['1.5']

    Every method that pulls raises, rather than return, what ends the wait:
    :class:`~linesock.RemoteProtocolError` for an invalid line,
    ``ConnectionError`` once the server closed and nothing is left to read,
    :class:`~linesock.NotConnectedError` before :meth:`start`.
    """

    # Slots: each request reads and sets a dozen of these; ~0.2 us a request.
    __slots__ = (
        "_direct_max",
        "_encoding",
        "_ended",
        "_eol",
        "_feed",
        "_lf_framer",
        "_request_end",
        "_token",
        "settled",
    )

    def __init__(self, config: ClientConfig) -> None:
        """Prepare a connection with *config*'s encoding, line limit and token."""
        self._framer = create_framer(
            config.answer_terminator, max_line_bytes=config.max_line_bytes, encoding=config.encoding
        )
        self._feed: Final = self._framer.feed
        self._encoding: Final = self._framer.encoding
        # receive_answers() splits a read itself where LineFramer would do just
        # that (LF ends a line, strict decoding, the length limit): whole lines,
        # no CR (one before an LF is dropped), none too long, nothing held.
        self._lf_framer: Final = isinstance(self._framer, LineFramer)
        self._direct_max: Final = config.max_line_bytes + 1
        #: True only while the connection is READY and nothing that came waits
        #: to be pulled, not even part of a line: a request's answers can then
        #: only come in later reads, so a front end may skip
        #: :meth:`next_answers` before reading.  False tells nothing; read-only.
        self.settled = False
        self._token: Final = config.token
        self._eol: Final = _COMMAND_ENDS[config.terminator]
        self._request_end: Final = self._eol + PING + self._eol
        self._max_answers = config.max_answer_lines
        self.where = f"{config.host}:{config.port}"
        self._state = _IDLE
        self._ended = False  # the server closed: at once, even before start()
        self._handshake_step = PING
        self._lines = []
        self._next = 0
        self._clean = True
        self._collected = []
        self._sentinel_answers = 0

    @property
    def state(self) -> ClientState:
        """Where the connection is in its life."""
        return self._state

    @property
    def line_overlong(self) -> bool:
        """True once the line coming is past ``max_line_bytes``: the next pull raises."""
        return self._framer.discarding

    @property
    def buffered_lines(self) -> int:
        """How many complete lines came that no pull has taken yet."""
        return len(self._lines) - self._next

    def __repr__(self) -> str:
        """Show the server's address and the state."""
        return f"<linesock.ClientConnection {self.where} {self._state.value}>"

    # -- the handshake ----------------------------------------------------

    def start(self) -> bytes:
        """Begin the handshake; return its first bytes (``auth TOKEN`` or ``ping``)."""
        if self._state is not _IDLE:
            raise RuntimeError("a ClientConnection is started once; make a new one")
        if self._token is not None:
            self._state = _CLOSED if self._ended else ClientState.AUTHENTICATING
            self._handshake_step = _AUTH
            return self._line(AUTH_PREFIX + self._token)
        self._state = _CLOSED if self._ended else ClientState.CHECKING
        return self._line(PING)

    def handshake_step(self) -> bytes | NeedData | None:
        """Take the server's reply to the last handshake line.

        Returns the bytes to send next (the ``ping`` after a good ``auth``),
        ``None`` once the server answered ``pong`` (the state is then
        :attr:`ClientState.READY`), or :data:`NEED_DATA`.

        Raises:
            AuthenticationError: the server refused the token, or answered
                the ``ping`` with ``unauthorized`` (it requires a token).
            ConnectionError: the server answered ``ping`` with something
                else, sent an invalid line, or closed the connection.
        """
        if self._state is _READY:
            return None
        try:
            line = self.next_line()  # the server may have closed after its reply
        except (RemoteProtocolError, ConnectionError) as exc:
            raise self.handshake_error(exc) from exc
        if line is NEED_DATA:
            return NEED_DATA
        if self._handshake_step == _AUTH:  # not the state: it is CLOSED if the server closed
            if line != OK:
                raise AuthenticationError(f"the server at {self.where} refused the token ({line})")
            self._handshake_step = PING
            self._advance(ClientState.CHECKING)
            return self._line(PING)
        if line != PONG:
            error = AuthenticationError if line == UNAUTHORIZED else ConnectionError
            raise error(f"the server at {self.where} answered ping with {line!r}")
        self._advance(_READY)
        return None

    # -- what to send -----------------------------------------------------

    def send(self, command: str) -> bytes:
        """Return the bytes of one command line.

        Raises ``ValueError`` if *command* holds CR or LF (it would reach the
        server as two commands), and the connection's error when it is not
        :attr:`ClientState.READY`.
        """
        check_command(command)
        if self._state is not _READY:
            raise self._unusable()
        return self._line(command)

    def request(self, command: str) -> bytes:
        """Return the bytes of *command* and its ``ping`` sentinel; pull with :meth:`next_answers`.

        ``request("ping")`` is the sentinel alone.  ``disconnect`` and
        ``shutdown`` are refused with ``ValueError``: they end the session,
        through :meth:`close_request`.
        """
        if "\n" in command or "\r" in command:
            check_command(command)  # raises
        if self._state is not _READY:
            raise self._unusable()
        if self._collected:
            self._collected = []
        if command in _SPECIAL_REQUESTS:
            if command != PING:
                raise ValueError(f"{command!r} ends the session: use close_request()")
            self._sentinel_answers = 1
            return self._line(PING)
        self._sentinel_answers = 0
        return (command + self._request_end).encode(self._encoding)

    def close_request(self, command: str = DISCONNECT) -> bytes:
        """Return the bytes of ``disconnect`` (or ``shutdown``), which end the session.

        Then wait for :attr:`ClientState.CLOSED`: from now on every line
        that arrives is dropped until the server closes.  When the server
        has already closed, there is nothing to send: ``b""``.
        """
        if command not in CLOSING_COMMANDS:
            raise ValueError(f"a session is closed with disconnect or shutdown, not {command!r}")
        if self._state is _CLOSED:
            return b""
        if self._state is not _READY:
            raise self._unusable()
        self._state = _CLOSING
        self.settled = False
        self._next = len(self._lines)
        return self._line(command)

    # -- what came ----------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Take bytes the server sent; ``b""`` means it closed the connection."""
        self.settled = False
        if not data or self._state is _CLOSING:
            self._receive_eof_or_drop(data)
            return
        batch = self._feed(data)
        if not batch:
            return
        if self._next == len(self._lines):
            self._lines = batch
            self._next = 0
            self._clean = not self._framer.had_invalid
        else:
            self._lines += batch
            if self._framer.had_invalid:
                self._clean = False

    def receive_answers(self, data: bytes) -> list[str] | NeedData:
        """:meth:`receive_data`, then :meth:`next_answers`: a request's read, in one call.

        The result (or the error) is always the two calls'.  The common read,
        whole lines while the connection is :attr:`settled`, is split right
        here, as the framer would; when the ``pong`` ends it, its lines are
        the answers, never buffered.
        """
        if (
            (self.settled or (self._lf_framer and self._settle()))
            and 0 < len(data) <= self._direct_max
            and data[-1] == _LF_BYTE
            and _CR_BYTE not in data
        ):
            try:
                lines = data.decode(self._encoding).split("\n")
            except UnicodeDecodeError:
                pass  # the framer tells the bad lines from the good
            else:
                lines.pop()  # the empty string after the final LF
                last = len(lines) - 1
                if lines[last] == PONG and lines.index(PONG) == last <= self._max_answers:
                    if not self._sentinel_answers:
                        lines.pop()
                    return lines
                self.settled = False
                self._lines = lines  # type: ignore[assignment]  # one list, str only
                self._next = 0
                self._clean = True
                return self.next_answers()
        self.receive_data(data)
        return self.next_answers()

    def next_line(self) -> str | NeedData:
        """The next answer line, or :data:`NEED_DATA`."""
        lines = self._lines
        index = self._next
        if index == len(lines):
            return self._need_data()
        line = lines[index]
        self._next = index + 1
        if isinstance(line, InvalidLine):
            raise RemoteProtocolError(line)
        return line

    def next_answers(self) -> list[str] | NeedData:
        """Every answer to the last :meth:`request` (possibly none), or :data:`NEED_DATA`.

        The answers are the lines up to the sentinel's ``pong``; so a
        handler that itself answers ``pong`` ends the list early.  An
        invalid line raises :class:`~linesock.RemoteProtocolError`, and the
        answers before it are dropped.
        """
        lines = self._lines
        start = self._next
        if start == len(lines):
            return NEED_DATA if self._state is _READY else self._need_data()
        if not self._clean:
            return self._scan_answers()
        try:
            end = lines.index(PONG, start)
        except ValueError:
            self._collected += lines[start:]  # type: ignore[arg-type]  # clean: all str
            self._next = len(lines)
            self._check_answer_count(len(self._collected))
            return self._need_data()
        self._check_answer_count(end - start + len(self._collected))
        answers: list[str] = lines[start : end + self._sentinel_answers]  # type: ignore[assignment]
        self._next = end + 1
        if self._collected:
            answers[:0] = self._collected
            self._collected = []
        return answers

    # -- internals ----------------------------------------------------------

    def _settle(self) -> bool:
        """Set :attr:`settled` afresh, dropping the lines all pulled; return it."""
        settled = (
            self._state is _READY
            and self._next == len(self._lines)
            and not self._collected
            and not self._framer.buffered
            and not self._framer.discarding
        )
        if settled:
            self._lines = []
            self._next = 0
        self.settled = settled
        return settled

    def _receive_eof_or_drop(self, data: bytes) -> None:
        """Note the end of the stream (``b""``); drop anything else (the session is closing)."""
        if not data:
            self._framer.feed_eof()
            self._ended = True
            if self._state is not _IDLE:
                self._state = _CLOSED

    def _advance(self, state: ClientState) -> None:
        """Move on to *state*, unless the server closed meanwhile (that stays CLOSED)."""
        if self._state is not _CLOSED:
            self._state = state

    def _line(self, text: str) -> bytes:
        """Encode *text* as one outgoing line."""
        return (text + self._eol).encode(self._encoding)
