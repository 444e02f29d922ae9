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
from dataclasses import replace
from typing import Final

from ._access import Refusal, WrongToken
from ._answers import add_answer
from ._config import Handler, ServerConfig, ServerStats
from ._delimited import Framer
from ._faults import GARBAGE, Fault, FaultKind, Faults, Hold
from ._framing import InvalidLine
from ._observer import SessionObserver
from ._wire import AUTH_PREFIX, DISCONNECT, SHUTDOWN, UNAUTHORIZED, Closing

__all__ = ["OUTPUT_CHUNK", "SessionRarePaths", "is_deferred"]

#: A session answers in pieces of about this many characters: once a batch's
#: answers reach it, the remaining commands wait until the transport has sent
#: them.  So a client that pipelines commands with long answers, and perhaps
#: never reads, makes the server hold at most about this much output (plus
#: one command's answer, or on the plain path one slice's: see
#: ``linesock._session_plain``), however many commands one read brought.
OUTPUT_CHUNK: Final = 256 * 1024
# The faults that hold the session's output for the transport to carry out.
_HOLDING: Final = frozenset({FaultKind.DELAY, FaultKind.SLOW, FaultKind.GARBAGE})


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

    def _finish(self, lines: list[str | InvalidLine], out: list[str], starts: list[int]) -> bytes:
        raise NotImplementedError

    def _answer(self, lines: list[str | InvalidLine], all_text: bool = False) -> bytes:
        raise NotImplementedError

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

    # -- injected faults ---------------------------------------------------

    def _answer_faulted(self, lines: list[str | InvalidLine], all_text: bool) -> bytes:
        """Answer *lines* one at a time, each under the first active fault it matches.

        The path a read takes while any fault is active.  A fault that holds
        the output (delay, slow, garbage) ends the batch: the commands after
        it wait in the queue until the transport has carried out the
        :class:`~linesock.Hold` and called ``resume()``.
        """
        out: list[str] = []
        starts: list[int] = []
        size = 0
        for index, line in enumerate(lines):
            rest = lines[index + 1 :]
            fault = self._fault_for(line)
            if fault is not None and fault.kind in _HOLDING:
                self._out = None
                wire = self._finish(lines[:index], out, starts)
                self._hold(fault, line, all_text)  # type: ignore[arg-type]  # faults skip InvalidLine
                if self.closing is not None:
                    self._drop_unrun(rest)
                else:
                    self._queue = rest
                return wire
            self._out = out
            if fault is None:
                size = self._run([line], out, all_text, size, starts)
            else:
                size += self._apply(fault, line, out, starts)  # type: ignore[arg-type]
            if self.closing is not None:
                self._drop_unrun(rest)
                lines = lines[: index + 1]
                break
            if self.pending is not None or self._stream is not None or size > OUTPUT_CHUNK:
                self._queue = rest
                lines = lines[: index + 1]
                break
        self._out = None
        return self._finish(lines, out, starts)

    def _fault_for(self, line: str | InvalidLine) -> Fault | None:
        """The fault *line* takes (its count used up), or None.

        Invalid lines, ``disconnect``, ``shutdown`` and, with a token, the
        server's own ``auth`` lines never take one.
        """
        if type(line) is not str or line in (DISCONNECT, SHUTDOWN):
            return None
        if self.config.token is not None and line.startswith(AUTH_PREFIX):
            return None
        assert self._faults is not None
        fault = self._faults.take(line)
        if fault is not None:
            self.stats.faults += 1
            self._observer.fault(fault, line)
        return fault

    def _apply(self, fault: Fault, line: str, out: list[str], starts: list[int]) -> int:
        """Answer *line* under *fault* (silence, error, drop) into *out*: it is not run."""
        starts.append(len(out))
        if fault.kind is FaultKind.ERROR:
            return self._add(out, fault.text, line)
        if fault.kind is FaultKind.DROP:
            self.closing = Closing.RESET if fault.reset else Closing.DROP
        return 0

    def _hold(self, fault: Fault, line: str, all_text: bool) -> None:
        """Make *fault*'s :class:`~linesock.Hold` of *line*'s answer the pending value."""
        if fault.kind is FaultKind.GARBAGE:
            if self._record:
                self._observer.commands([line], [], [0])
            self.pending = Hold(GARBAGE + self._eol.encode(self._encoding))
            return
        rate = fault.bytes_per_second if fault.kind is FaultKind.SLOW else None
        self._hold_after = Hold(b"", fault.seconds, rate)
        out: list[str] = []
        starts: list[int] = []
        self._out = out
        self._run([line], out, all_text, 0, starts)
        self._out = None
        if self.pending is not None:  # a deferred answer: held once it comes (resume)
            return
        self.pending = self._held(self._finish([line], out, starts))

    def _held(self, data: bytes) -> Hold:
        """The waiting fault's hold, now that its answer's bytes are known."""
        hold = self._hold_after
        assert hold is not None
        self._hold_after = None
        return replace(hold, data=data)
