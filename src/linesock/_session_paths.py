"""What a session does off its hot path: failures, dropped answers, streams, closing.

:class:`SessionRarePaths` is the base of :class:`~linesock.Session`: the
methods here run when something is unusual (an invalid line, a handler that
raised, an answer that cannot be sent, an iterator answer to stream, the
commands a closing session drops).  Kept apart so that ``_protocol`` holds
the session's API and its one hot loop, each module short enough to read.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Final

from ._access import Refusal, WrongToken
from ._answers import add_answer
from ._config import ServerConfig, ServerStats
from ._delimited import Framer
from ._framing import InvalidLine
from ._observer import SessionObserver
from ._wire import AUTH_PREFIX, UNAUTHORIZED, Closing

__all__ = ["OUTPUT_CHUNK", "SessionRarePaths"]

#: A session answers in pieces of about this many characters: once a batch's
#: answers reach it, the remaining commands wait until the transport has sent
#: them.  So a client that pipelines commands with long answers, and perhaps
#: never reads, makes the server hold at most about this much output (plus
#: one command's answer), however many commands one read brought.
OUTPUT_CHUNK: Final = 256 * 1024


class SessionRarePaths:
    """The unusual paths of a session (see the module); :class:`~linesock.Session` has the rest."""

    __slots__ = (
        "_check_first_line",
        "_deferred_line",
        "_encoding",
        "_eol",
        "_join_whole",
        "_observer",
        "_out",
        "_queue",
        "_record",
        "_shutdown",
        "_stream",
        "closing",
        "config",
        "framer",
        "handler",
        "handler_exit",
        "pending",
        "stats",
    )

    # The state these methods use; Session sets each in its __init__.
    config: ServerConfig
    stats: ServerStats
    framer: Framer
    closing: Closing | None
    pending: object | None
    handler_exit: BaseException | None
    _observer: SessionObserver
    _queue: list[str | InvalidLine]
    _stream: tuple[Iterator[object], str] | None
    _out: list[str] | None
    _deferred_line: str | InvalidLine | None

    def _drop_unrun(self, lines: Iterable[str | InvalidLine]) -> None:
        """Forget the commands a closing session will never run, and any partial line.

        They are not counted as received: what a closed session counts must
        not depend on how the client's bytes were split into reads.
        """
        self.stats.commands -= sum(1 for _ in lines) + len(self._queue)
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
