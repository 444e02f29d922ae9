"""What a session does off its hot path: failures, dropped answers, streams, closing.

:class:`SessionRarePaths` is the base of :class:`~linesock.Session`: the
methods here run when something is unusual (an invalid line, a handler that
raised, an answer that cannot be sent, an iterator answer to stream, the
commands a closing session drops).  Kept apart so that ``_protocol`` holds
the session's API and its one hot loop, each module short enough to read.
"""

from __future__ import annotations

import concurrent.futures
import inspect
from collections.abc import Iterable, Iterator, Sequence
from typing import Final

from ._access import Refusal, WrongToken, check_first_line
from ._answers import add_answer, encode_lines, sendable
from ._config import Handler, ServerConfig, ServerStats
from ._delimited import Framer
from ._faults import Faults, Hold
from ._framing import InvalidLine
from ._observer import SessionObserver
from ._wire import AUTH_PREFIX, OK, UNAUTHORIZED, Closing

__all__ = ["OUTPUT_CHUNK", "SessionRarePaths", "is_deferred"]

_REFUSALS: Final = {Refusal.UNAUTHORIZED: UNAUTHORIZED, Refusal.HTTP: None}

#: A session answers in pieces of about this many characters: once a batch's
#: answers reach it, the remaining commands wait until the transport has sent
#: them.  So a client that pipelines commands with long answers, and perhaps
#: never reads, makes the server hold at most about this much output (plus
#: one command's answer, or on the plain path one slice's: see
#: ``linesock._session_plain``), however many commands one read brought.
OUTPUT_CHUNK: Final = 256 * 1024


def is_deferred(result: object) -> bool:
    """Tell whether a handler's result is a promise of an answer, not the answer."""
    return isinstance(result, concurrent.futures.Future) or inspect.isawaitable(result)


class SessionRarePaths:
    """The unusual paths of a session (see the module); :class:`~linesock.Session` has the rest."""

    __slots__ = (
        "_active_faults",
        "_check_first_line",
        "_deferred_line",
        "_encoding",
        "_eol",
        "_faults",
        "_hold_after",
        "_join_whole",
        "_observer",
        "_out",
        "_plain_scan",
        "_pong",
        "_pushes",
        "_queue",
        "_quick",
        "_record",
        "_results",
        "_shutdown",
        "_simple",
        "_stream",
        "closing",
        "config",
        "framer",
        "handler",
        "handler_exit",
        "pending",
        "settled",
        "stats",
    )

    # The state these methods use; Session sets each in its __init__.
    config: ServerConfig
    stats: ServerStats
    framer: Framer
    closing: Closing | None
    pending: object | None
    settled: bool
    handler_exit: BaseException | None
    _observer: SessionObserver
    _queue: list[str | InvalidLine]
    _stream: tuple[Iterator[object], str] | None
    _out: list[str] | None
    _deferred_line: str | InvalidLine | None
    _faults: Faults | None
    _hold_after: Hold | None
    _eol: str
    _encoding: str
    _record: bool
    _results: list[object] | None
    _active_faults: Sequence[object]
    _plain_scan: bool
    _simple: bool
    _join_whole: bool
    _check_first_line: bool
    _pushes: int
    handler: Handler

    # Session's, used by the fault path.  Declared as methods, not under
    # TYPE_CHECKING: mypyc compiles no statement in a class body.
    def _run(
        self,
        lines: list[str | InvalidLine],
        out: list[str],
        all_text: bool,
        size: int = 0,
        starts: list[int] | None = None,
    ) -> int:
        raise NotImplementedError

    def _answer(self, lines: list[str | InvalidLine], all_text: bool = False) -> bytes:
        raise NotImplementedError

    @property
    def has_queued_stream(self) -> bool:
        """True while a streamed (iterator) answer still has lines to send."""
        return self._stream is not None

    # The 0.1.0 names of has_queued and answer_queued, written out: mypyc
    # compiles no alias in a class body.
    @property
    def backlog(self) -> bool:
        """The 0.1.0 name of :attr:`~linesock.Session.has_queued`."""
        return self.has_queued

    def answer_backlog(self) -> bytes:
        """The 0.1.0 name of :meth:`~linesock.Session.answer_queued`."""
        return self.answer_queued()

    @property
    def has_queued(self) -> bool:
        raise NotImplementedError  # Session's

    def answer_queued(self) -> bytes:
        raise NotImplementedError  # Session's

    def _drop_unrun(self, lines: Iterable[str | InvalidLine]) -> None:
        """Forget the commands a closing session will never run, and any partial line.

        They are not counted as received: what a closed session counts must
        not depend on how the client's bytes were split into reads.
        """
        dropped = len(self._queue)
        for _ in lines:
            dropped += 1
        self.stats.commands -= dropped
        self._queue = []
        self.framer.feed_eof()

    def _defer(self, result: object, line: str | InvalidLine, remaining: object) -> None:
        """Hold a deferred answer as pending and queue the commands after it."""
        self.pending = result
        self._deferred_line = line
        self._queue = list(remaining)  # type: ignore[call-overload]

    def _answer_invalid(self, line: InvalidLine) -> object:
        """Count an invalid line, report it, and ask the ``on_invalid`` hook for its answer."""
        if line.reason == "overlong":
            self.stats.overlong_lines += 1
        else:
            self.stats.invalid_lines += 1
        self._observer.invalid_line(line)
        try:
            return self.config.on_invalid(line)
        except BaseException as exc:
            self._failed("<invalid line>", exc)
            return None

    def _add(self, out: list[str], result: object, command: str, budget: int | None = None) -> int:
        """Append a handler's answer lines to *out*; return the characters added.

        With a *budget*, an iterator answer that has more lines after it is
        kept in ``_stream``, to go on with once these are sent.
        """
        size, rest = add_answer(out, result, command, self._bad_answer, self._failed, budget=budget)
        if rest is not None:
            self._stream = (rest, command)
        return size

    def _continue_stream(self, out: list[str]) -> int:
        """Add the next chunk of the streamed answer to *out*; return the characters added."""
        assert self._stream is not None
        rest, command = self._stream
        self._stream = None
        return self._add(out, rest, command, OUTPUT_CHUNK)

    def _bad_answer(self, command: str, problem: str) -> None:
        """Count and report an answer that cannot go on the wire; it is dropped."""
        self.stats.handler_errors += 1
        self._observer.bad_answer(command, problem)

    def _failed(self, command: str, error: BaseException) -> None:
        """Count and report a handler that raised; the session goes on.

        ``SystemExit`` and ``KeyboardInterrupt`` are a handler asking the
        process to stop: the session closes with ``Closing.STOP`` after the
        answers before it, and the server stops.  Anything else raised,
        ``GeneratorExit`` and other ``BaseException`` included, is an error.
        """
        if isinstance(error, WrongToken):
            if self._out is not None:
                self._out.append(UNAUTHORIZED)
            self.closing = Closing.REFUSED
            self.stats.auth_failures += 1
            self._observer.refused(Refusal.UNAUTHORIZED, AUTH_PREFIX.rstrip())
            return
        if isinstance(error, (SystemExit, KeyboardInterrupt)):
            self.handler_exit = error
            self.closing = Closing.STOP
            return
        self.stats.handler_errors += 1
        self._observer.handler_failed(command, error)

    # -- the first line, recorded batches, encoding ---------------------------

    def _first_batch(self, lines: list[str | InvalidLine]) -> bytes | None:
        """Check the session's first line (token, HTTP); None: answer the batch as any other."""
        first = lines[0]
        refusal = check_first_line(first, self.config.token, self.config.reject_http)
        if refusal is not None:
            self.closing = Closing.REFUSED
            if refusal is Refusal.HTTP:
                self.stats.http_refusals += 1
            else:
                self.stats.auth_failures += 1
            self._observer.refused(refusal, first)
            self._drop_unrun(lines[1:])
            line = _REFUSALS[refusal]
            return b"" if line is None else self._encode([line])
        if self.config.token is None:
            return None
        self._observer.authenticated()
        ok = self._encode([OK])
        return ok + self._answer(lines[1:]) if len(lines) > 1 else ok

    def _answer_recorded(self, lines: list[str | InvalidLine], all_text: bool) -> bytes:
        """Answer *lines* noting where each one's answers start, and report the batch."""
        out: list[str] = []
        starts: list[int] = []
        self._out = out
        self._run(lines, out, all_text, 0, starts)
        self._out = None
        return self._finish(lines, out, starts)

    def _finish(self, lines: list[str | InvalidLine], out: list[str], starts: list[int]) -> bytes:
        """Encode a batch's answers and, when recording, report what was sent."""
        if not self._record:
            return self._encode(out) if out else b""
        if self.pending is not None:
            starts.pop()  # the deferred command is reported once it is answered
        if not out:
            wire = b""
        else:
            try:
                wire = self._eol.join([*out, ""]).encode(self._encoding)
            except UnicodeEncodeError:
                wire = b""
            if not wire or not self._join_whole:  # lines were dropped: record what was sent
                wire = encode_lines(out, self._encoding, self._eol, self._bad_answer)
                out, starts = sendable(out, starts, self._encoding, self._eol)
        if starts:
            self._observer.commands(lines, out, starts)
        return wire

    def _encode(self, out: list[str]) -> bytes:
        """Turn answer lines into wire bytes, the answer terminator after each."""
        if self._join_whole:
            out.append("")
            try:
                return self._eol.join(out).encode(self._encoding)
            except UnicodeEncodeError:
                del out[-1]
        return encode_lines(out, self._encoding, self._eol, self._bad_answer)
