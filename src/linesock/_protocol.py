"""The Oneline protocol rules for one client session, without any I/O.

Design notes
------------
A :class:`Session` sits between a transport and the user's handler.  The
transport hands it the bytes it read (``receive``) and writes back the bytes
it returns; the session frames them with :class:`~linesock.LineFramer`,
answers the built-in commands, calls the handler for the rest, turns
answers into wire bytes, and says when the connection must close
(``closing``).  The threaded server, the asyncio server and the compat layer
all drive this one class, so every front end answers alike.

Deferred answers: a handler may return a ``concurrent.futures.Future`` or
an awaitable instead of an answer.  The session then stops, leaves it in
``pending``, and queues whatever commands follow; the transport waits for it
in its own way and calls ``resume`` with the outcome.  Answers therefore
always go out in command order.

Speed: a batch of complete commands is answered with one ``join`` and one
``encode``; per command there is one dictionary look-up for the built-ins
and one handler call.
"""

from __future__ import annotations

import concurrent.futures
import hmac
import inspect
import ipaddress
import logging
import math
import os
import re
import ssl
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Final, TypeAlias

from ._framing import DEFAULT_MAX_LINE_BYTES, InvalidLine, LineFramer
from ._transcript import Transcript

__all__ = [
    "DEFAULT_WRITE_TIMEOUT",
    "Answer",
    "Closing",
    "Handler",
    "InvalidHandler",
    "ServerConfig",
    "ServerStats",
    "Session",
    "close_owned_transcript",
    "excerpt",
    "warn_if_exposed",
]

logger: Final = logging.getLogger("linesock")

#: What a handler returns: one line, several lines, or no answer at all.
Answer: TypeAlias = "str | Iterable[str] | None"
#: The user's command handler: called with each command, returns its answer
#: (or a ``concurrent.futures.Future`` / awaitable whose result is the answer).
Handler: TypeAlias = Callable[[str], object]
#: Called with each invalid line; returns its answer (default: ``invalid``).
InvalidHandler: TypeAlias = Callable[[InvalidLine], object]

#: How long a server waits for a client to take its answers before it gives
#: up on the session.  A minute is far beyond any live client's hiccup, yet
#: frees the only slot from a client that stopped reading.
DEFAULT_WRITE_TIMEOUT: Final = 60.0

#: A session answers in pieces of about this many characters: once a batch's
#: answers reach it, the remaining commands wait until the transport has sent
#: them.  So a client that pipelines commands with long answers, and perhaps
#: never reads, makes the server hold at most about this much output (plus
#: one command's answer), however many commands one read brought.
OUTPUT_CHUNK: Final = 256 * 1024

# The longest piece of client data that goes into a log line.
_EXCERPT_BYTES: Final = 128


class Closing(Enum):
    """Why a session ends at the client's request."""

    DISCONNECT = "disconnect"
    """The client sent ``disconnect``: close this connection, serve the next."""
    SHUTDOWN = "shutdown"
    """The client sent ``shutdown``: close this connection and stop the server."""
    REFUSED = "refused"
    """The client failed ``auth``, or spoke HTTP: close without serving it."""


def answer_invalid(line: InvalidLine) -> str:
    """Answer an undecodable or overlong line: the default ``on_invalid`` hook."""
    return "invalid"


@dataclass(frozen=True)
class ServerConfig:
    """Every server setting in one place; the servers take these as keyword options.

    Attributes:
        encoding: how commands are decoded and answers encoded (ASCII-compatible).
        max_line_bytes: the longest command, in bytes before its LF, CR included;
            a longer one is skipped as it streams in and answered like an
            undecodable one.
        idle_timeout: seconds a client may stay silent before it is
            disconnected; ``None`` waits forever.
        write_timeout: seconds an answer may wait for a client that does not
            read before the session is ended; ``None`` waits forever.
        on_invalid: answers an invalid line (default: the line ``invalid``).
        allow_remote_shutdown: when false, a client's ``shutdown`` only ends its
            own session, like ``disconnect``.
        backlog: how many clients the kernel holds while one is served.
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
            :class:`~linesock.Transcript`, or a path, which is then opened here
            and closed by the server when it stops.
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
    owns_transcript: bool = field(default=False, init=False, repr=False, compare=False)
    """True when ``transcript`` was given as a path: the server closes it when it stops."""

    def __post_init__(self) -> None:
        """Reject settings that cannot work, with the reason."""
        LineFramer(max_line_bytes=self.max_line_bytes, encoding=self.encoding)
        for name in ("idle_timeout", "write_timeout"):
            value = getattr(self, name)
            if value is not None and not (value > 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a positive number of seconds or None")
        if self.backlog < 1:
            raise ValueError("backlog must be at least 1")
        if self.transcript is not None and not isinstance(self.transcript, Transcript):
            object.__setattr__(self, "transcript", Transcript(self.transcript))
            object.__setattr__(self, "owns_transcript", True)
        if self.token is not None and (not self.token or any(c in self.token for c in " \r\n")):
            raise ValueError("token must be non-empty, without spaces, CR or LF")


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
    http_refusals: int = 0
    """Sessions refused because the first line looked like HTTP."""


# A first line that starts like an HTTP request or header.
# What browsers send: an upper-case method with a path or an HTTP version, or
# a Host header.  Instrument command sets do have `get volt` or `GET VOLT`,
# so a method word alone, or in lower case, is an ordinary command.
_HTTP_FIRST_LINE: Final = re.compile(
    r"[A-Z]+ \S+ HTTP/\d|(?:GET|POST|PUT|DELETE|HEAD|OPTIONS|PATCH|CONNECT|TRACE) /|(?i:host):"
)
# The warning about HTTP clients is logged at most this often, in seconds.
_HTTP_WARNING_INTERVAL: Final = 60.0
_last_http_warning = -math.inf


def close_owned_transcript(config: ServerConfig) -> None:
    """Close the config's transcript if the config opened it (it was given as a path)."""
    if config.owns_transcript and isinstance(config.transcript, Transcript):
        config.transcript.close()


def warn_if_exposed(address: str, config: ServerConfig) -> None:
    """Log a warning when a server listens beyond loopback with neither TLS nor a token."""
    try:
        loopback = ipaddress.ip_address(address.split("%", maxsplit=1)[0]).is_loopback
    except ValueError:
        loopback = False
    if not loopback and config.ssl_context is None and config.token is None:
        logger.warning(
            "listening on %s, which is not a loopback address, without TLS or a token: "
            "anyone who can reach this port can drive the handler",
            address,
        )


def excerpt(data: bytes | str) -> str:
    """Client data made safe for a log line: cut to 128 bytes and escaped."""
    raw = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
    text = repr(raw[:_EXCERPT_BYTES])[2:-1]
    return text + "..." if len(raw) > _EXCERPT_BYTES else text


def _is_deferred(result: object) -> bool:
    """Tell whether a handler's result is a promise of an answer, not the answer."""
    return isinstance(result, concurrent.futures.Future) or inspect.isawaitable(result)


class Session:
    """The protocol state of one client connection; feed it bytes, send what it returns.

    A transport calls :meth:`receive` with each read and writes out the bytes
    it returns, then checks :attr:`pending` (a deferred answer to wait for and
    pass to :meth:`resume`) and :attr:`closing` (the client asked to end).
    """

    __slots__ = (
        "_builtins",
        "_check_first_line",
        "_deferred_line",
        "_queue",
        "_transcript",
        "closing",
        "config",
        "framer",
        "handler",
        "number",
        "pending",
        "stats",
    )

    def __init__(
        self, handler: Handler, config: ServerConfig, stats: ServerStats, peer: str = ""
    ) -> None:
        """Start a session with the client at *peer* that answers with *handler*.

        It runs under *config* and counts in *stats*; its :attr:`number` is
        ``stats.sessions`` (the transport counts the session before creating it).
        """
        self.handler: Final = handler
        self.number: Final = stats.sessions
        transcript = config.transcript
        self._transcript: Final = transcript if isinstance(transcript, Transcript) else None
        self._deferred_line: str | InvalidLine | None = None
        if self._transcript is not None:
            self._transcript.event(self.number, "connect", peer=peer)
        self.config: Final = config
        self.stats: Final = stats
        self.framer: Final = LineFramer(
            max_line_bytes=config.max_line_bytes, encoding=config.encoding
        )
        self.closing: Closing | None = None
        self.pending: object | None = None
        self._queue: list[str | InvalidLine] = []
        self._check_first_line = config.token is not None or config.reject_http
        shutdown = Closing.SHUTDOWN if config.allow_remote_shutdown else Closing.DISCONNECT
        self._builtins: Final = {
            "ping": None,
            "disconnect": Closing.DISCONNECT,
            "shutdown": shutdown,
        }

    def receive(self, data: bytes | bytearray, size: int | None = None) -> bytes:
        """Take bytes from the client; return the answers to send now.

        Commands that follow a deferred answer wait in a queue until
        :meth:`resume`; those after ``disconnect`` or ``shutdown`` are never
        run.  With *size*, *data* is a read buffer the transport reuses, whose
        first *size* bytes are new (see :meth:`LineFramer.feed_buffer
        <linesock.LineFramer.feed_buffer>`): nothing of it is kept.
        """
        if self.closing is not None:
            return b""
        framer = self.framer
        lines = framer.feed(data) if size is None else framer.feed_buffer(data, size)
        if not lines:
            return b""
        self.stats.commands += len(lines)
        if self.pending is not None or self._queue:
            self._queue += lines
            return b""
        if self._check_first_line:
            self._check_first_line = False
            first = lines[0]
            refusal = self._refuse(first)
            if refusal is not None:
                self.closing = Closing.REFUSED
                if self._transcript is not None:
                    reason = "unauthorized" if refusal else "http"
                    self._transcript.event(self.number, "refused", reason=reason)
                return refusal
            if self.config.token is not None:
                if self._transcript is not None:
                    self._transcript.event(self.number, "auth", result="ok")
                return b"ok\n" + self._answer(lines[1:]) if len(lines) > 1 else b"ok\n"
        return self._answer(lines, not self.framer.had_invalid)

    def end(self, reason: str) -> None:
        """Note that the connection ended, and why (for the transcript)."""
        if self._transcript is not None:
            self._transcript.event(self.number, "end", reason=reason)

    @property
    def backlog(self) -> bool:
        """True when received commands wait to be answered by :meth:`answer_backlog`.

        A session stops answering once a batch's answers reach
        ``OUTPUT_CHUNK`` characters, so that a client pipelining commands with
        long answers cannot make the server hold more than about that much
        output for it.  The transport sends what it got, then calls
        :meth:`answer_backlog` (once the client has taken it, for an asyncio
        transport that pauses on a full buffer).
        """
        return self.pending is None and bool(self._queue)

    def answer_backlog(self) -> bytes:
        """Answer the next chunk of the commands waiting in the queue."""
        if self.pending is not None:
            return b""
        queued, self._queue = self._queue, []
        return self._answer(queued)

    def receive_eof(self) -> None:
        """Note that the client will send no more; an unfinished line is dropped."""
        lost = self.framer.feed_eof()
        if lost:
            logger.debug("client closed with %d bytes of an unfinished line: dropped", lost)

    def resume(self, result: object = None, error: BaseException | None = None) -> bytes:
        """Finish the pending deferred answer and go on with the queued commands.

        Pass the deferred answer's *result*, or the *error* it raised.
        """
        self.pending = None
        out: list[str] = []
        if error is not None:
            self._handler_failed(error)
        else:
            self._add_answer(out, result)
        if self._transcript is not None and self._deferred_line is not None:
            self._transcript.commands(self.number, [self._deferred_line], out, [0])
        encoded = self._encode(out) if out else b""
        return encoded + self.answer_backlog() if self._queue else encoded

    def _answer(self, lines: list[str | InvalidLine], all_text: bool = False) -> bytes:
        """Answer *lines* in order until they run out, one defers or closes, or output fills.

        Commands left over when the answers reach ``OUTPUT_CHUNK`` characters,
        or after a deferred answer, wait in the queue.  *all_text* says that
        every line is a ``str`` (the framer saw no invalid one), which spares
        a type check per line.

        This loop runs once per command: it holds only what each command
        needs, and no call or allocation that a batch could do once.
        """
        out: list[str] = []
        append = out.append
        size = 0
        handler = self.handler
        # For the transcript: where each command's answers start in ``out``.
        # While every command answers exactly one line, command i's answers
        # start at i and nothing is tracked; the first command that answers
        # otherwise (0 or 2+ lines, an error, a close) starts the list.
        recording = self._transcript is not None
        starts: list[int] | None = None
        remaining = iter(lines)
        for line in remaining:
            if starts is not None:
                starts.append(len(out))
            if not all_text and isinstance(line, InvalidLine):
                if recording and starts is None:
                    starts = list(range(len(out) + 1))
                size += self._add_answer(out, self._answer_invalid(line))
            # The built-ins are compared, not looked up: == looks at the
            # length first, where a hash would read all of a 64 KiB line.
            elif line == "ping":
                append("pong")
                size += 5
            elif line == "disconnect" or line == "shutdown":  # noqa: PLR1714 - see above
                if recording and starts is None:
                    starts = list(range(len(out) + 1))
                self.closing = self._builtins[line]
                break
            else:
                try:
                    result = handler(line)  # type: ignore[arg-type]  # a str: see all_text
                except Exception as exc:
                    if recording and starts is None:
                        starts = list(range(len(out) + 1))
                    self._handler_failed(exc, line)  # type: ignore[arg-type]
                    continue
                if type(result) is str and "\n" not in result:
                    append(result)
                    size += len(result) + 1
                else:
                    if recording and starts is None:
                        starts = list(range(len(out) + 1))
                    if result is not None:
                        if _is_deferred(result):
                            self.pending = result
                            self._queue = list(remaining)
                            break
                        size += self._add_answer(out, result, line)  # type: ignore[arg-type]
            if size > OUTPUT_CHUNK:
                self._queue = list(remaining)
                break
        if recording:
            self._record(lines, out, range(len(out)) if starts is None else starts)
        return self._encode(out) if out else b""

    def _record(
        self, lines: list[str | InvalidLine], out: list[str], starts: Sequence[int]
    ) -> None:
        """Write a batch to the transcript; a deferred command waits for its answer."""
        assert self._transcript is not None
        if self.pending is not None:
            self._deferred_line = lines[len(starts) - 1]
            starts = starts[:-1]
        if starts:
            self._transcript.commands(self.number, lines, out, starts)

    def _refuse(self, first: str | InvalidLine) -> bytes | None:
        """Check the session's first line; return the refusal to send, if refused."""
        if self.config.reject_http and isinstance(first, str) and _HTTP_FIRST_LINE.match(first):
            global _last_http_warning  # noqa: PLW0603 - one rate limit for the process
            self.stats.http_refusals += 1
            now = time.monotonic()
            if now - _last_http_warning >= _HTTP_WARNING_INTERVAL:
                _last_http_warning = now
                logger.warning(
                    "a client spoke HTTP (%s): connection closed; this port speaks the "
                    "Oneline protocol (warned at most once a minute)",
                    excerpt(first),
                )
            return b""
        token = self.config.token
        if token is None:
            return None
        offered = first[5:] if isinstance(first, str) and first.startswith("auth ") else ""
        if hmac.compare_digest(offered.encode(), token.encode()):
            return None
        self.stats.auth_failures += 1
        logger.warning("a client failed to authenticate: connection closed")
        return b"unauthorized\n"

    def _answer_invalid(self, line: InvalidLine) -> object:
        """Count an invalid line, log it, and ask the ``on_invalid`` hook for its answer."""
        if line.reason == "overlong":
            self.stats.overlong_lines += 1
        else:
            self.stats.invalid_lines += 1
        logger.info("%s line of %d bytes: %s", line.reason, line.size, excerpt(line.data))
        try:
            return self.config.on_invalid(line)
        except Exception as exc:
            self._handler_failed(exc, "<invalid line>")
            return None

    def _add_answer(self, out: list[str], result: object, command: str = "") -> int:
        """Append the lines of a handler's *result* to *out*, dropping any unsendable ones.

        Returns how many characters (LFs included) were added.
        """
        if result is None:
            return 0
        if isinstance(result, str):
            items: Iterable[object] = (result,)
        elif isinstance(result, (bytes, bytearray)) or not isinstance(result, Iterable):
            self._bad_answer(command, f"returned {type(result).__name__}, not str")
            return 0
        else:
            items = result
        size = 0
        try:
            for item in items:
                if not isinstance(item, str):
                    self._bad_answer(command, f"answered with {type(item).__name__}, not str")
                elif "\n" in item:
                    self._bad_answer(command, f"answered with a line holding LF: {excerpt(item)}")
                else:
                    out.append(item)
                    size += len(item) + 1
        except Exception as exc:  # a generator handler that raised midway
            self._handler_failed(exc, command)
        return size

    def _bad_answer(self, command: str, problem: str) -> None:
        """Log an answer that cannot go on the wire; it is dropped."""
        self.stats.handler_errors += 1
        logger.error("handler %s (command %s); dropped", problem, excerpt(command))

    def _handler_failed(self, exc: BaseException, command: str = "<deferred>") -> None:
        """Log a handler that raised; the session goes on."""
        self.stats.handler_errors += 1
        logger.error("handler raised on command %s", excerpt(command), exc_info=exc)

    def _encode(self, out: list[str]) -> bytes:
        """Turn answer lines into wire bytes, one LF after each."""
        out.append("")
        try:
            return "\n".join(out).encode(self.config.encoding)
        except UnicodeEncodeError:
            return self._encode_each(out)

    def _encode_each(self, out: list[str]) -> bytes:
        """Encode line by line, dropping the lines the encoding cannot carry."""
        encoding = self.config.encoding
        wire = bytearray()
        for item in out[:-1]:
            try:
                wire += item.encode(encoding) + b"\n"
            except UnicodeEncodeError:
                self._bad_answer("", f"answered with text {encoding} cannot encode")
        return bytes(wire)
