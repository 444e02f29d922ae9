"""The session's path for a read of plain commands: checks per slice of commands, not per command.

Design notes
------------
Most reads of a pipelining client hold many short commands, none of them a
built-in, each answered with one line.  For such a read (the session has
looked at its bytes: no ``ping``, ``disconnect`` or ``shutdown`` in them,
no invalid line, no fault active) the handler is called in a loop that
does nothing else: each result is kept as it is.  What the general loop
checks per command is then checked once per slice, in C: one join (which
fails on anything but text), one count of LFs (an answer holding LF makes
it too high), and the join's length (the output bound).

A slice whose results are not all plain lines, one that a handler pushed
into, raised in, or deferred, streamed or answered oddly in, is answered
result by result, exactly as the general loop would; the handler is never
called again.  The loop stops at the first result that may defer or
stream (anything but a ``str``, ``None`` or a ``list``), and at the first
exception, so commands behind a deferred answer are not run before it.

The output bound: the answers of one slice are computed before their size
is known, so a read's answers may pass ``OUTPUT_CHUNK`` by one slice's.  A
slice is 32 commands at first, then as many as the answers so far predict
fit in what is left of ``OUTPUT_CHUNK`` (at most ``MAX_SLICE``).
"""

from __future__ import annotations

import functools
from typing import Final

from ._answers import encode_lines, sendable
from ._framing import InvalidLine
from ._session_faults import SessionFaultPath
from ._session_paths import OUTPUT_CHUNK, is_deferred
from ._wire import PING

__all__ = [
    "MAX_SLICE",
    "MIN_PLAIN_BATCH",
    "Failed",
    "Pushed",
    "SessionPlainPath",
    "spells_built_ins_in_ascii",
]

#: The most commands the plain path calls before it looks at their answers.
MAX_SLICE: Final = 1024
#: The first slice of a read, before any answer's length is known.
_FIRST_SLICE: Final = 32
#: A read with fewer commands takes the general loop: the scan would not pay.
MIN_PLAIN_BATCH: Final = 16
#: ... and so does one whose lines are longer than this on average (bytes):
#: the scan for built-ins reads every byte, the loop it spares costs per line.
MAX_PLAIN_LINE: Final = 64


@functools.lru_cache(maxsize=32)
def spells_built_ins_in_ascii(encoding: str) -> bool:
    """Whether *encoding* writes the built-ins as ASCII does, so a scan of bytes finds them."""
    return "ping disconnect shutdown".encode(encoding, "replace") == b"ping disconnect shutdown"


class Failed:
    """The handler raised: what ``_call_each`` keeps in the command's result slot."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error: Final = error


class Pushed:
    """Lines a handler pushed (``Session.push``) while it ran: they precede its result."""

    __slots__ = ("lines",)

    def __init__(self, lines: list[str]) -> None:
        self.lines: Final = lines


class SessionPlainPath(SessionFaultPath):
    """The plain-commands path of :class:`~linesock.Session` (see the module)."""

    __slots__ = ()

    def _is_plain(self, data: bytes | bytearray, size: int, lines: list[str | InvalidLine]) -> bool:
        """Whether a read's *lines* (all text: its first *size* bytes) may take the plain path.

        Many short lines, no fault active, and no built-in among them:
        only the first line can hold bytes of an earlier read, so it is
        compared; the others are looked for in the read's bytes (one C scan
        each, at well under a nanosecond a byte).
        """
        if not self._plain_scan or self._active_faults or size > MAX_PLAIN_LINE * len(lines):
            return False
        first = lines[0]
        if first == "ping" or first == "disconnect" or first == "shutdown":  # noqa: PLR1714
            return False
        find = data.find
        return find(b"ping", 0, size) < 0 and (
            find(b"disconnect", 0, size) < 0 and find(b"shutdown", 0, size) < 0
        )

    def _settle_one(
        self, line: str, result: object, pushed: list[object], sentinel: bool = False
    ) -> bytes:
        """Answer a read of one command whose *result* is not one plain line, or was pushed to.

        ``Session.receive`` calls the handler itself for a read of one
        command (the shortest path: a client waiting for each answer) and
        encodes a plain line at once; anything else is settled here as in a
        slice.  *pushed* holds what the handler pushed while it ran.  With
        *sentinel*, a ``ping`` followed the command in the read: it is
        answered after it, or queued or dropped as the slice loop would.
        """
        pushed.append(result)
        parts: list[str] = []
        rest: list[str | InvalidLine] = [PING] if sentinel else []
        self._answer_results([line], pushed, parts, [], rest)  # type: ignore[arg-type]  # str only
        wire = self._finish_plain(parts, [])
        if sentinel and self.closing is None and self.pending is None and self._stream is None:
            wire += self._answer(rest, True)
        return wire

    def _answer_plain(self, lines: list[str]) -> bytes:
        """Answer a read of plain commands, slice by slice; queue what the bound leaves."""
        parts: list[str] = []  # each slice's answers, joined
        records: list[tuple[list[str], list[str], list[int] | range]] = []
        size = 0
        begin = 0
        step = _FIRST_SLICE
        count = len(lines)
        while begin < count:
            chunk = lines[begin : begin + step]
            begin += step
            answered = self._answer_slice(chunk, parts, records)
            size += sum(map(len, parts[-answered:])) + answered if answered else 0
            if self.closing is not None:
                self._drop_unrun(lines[begin:])
                break
            if self.pending is not None or self._stream is not None or size > OUTPUT_CHUNK:
                self._queue[len(self._queue) :] = lines[begin:]
                break
            step = MAX_SLICE if not size else (OUTPUT_CHUNK - size) * begin // size
            step = max(_FIRST_SLICE, min(MAX_SLICE, step))
        return self._finish_plain(parts, records)

    def _answer_slice(
        self,
        chunk: list[str],
        parts: list[str],
        records: list[tuple[list[str], list[str], list[int] | range]],
    ) -> int:
        """Answer *chunk* into *parts*; return how many parts it added.

        Stops early when the session must (it closed, a deferred answer or a
        stream is pending): the commands of *chunk* not run are queued or
        dropped here.
        """
        added = 0
        at = 0
        while at < len(chunk):
            segment = chunk[at:] if at else chunk
            results: list[object] = []
            self._pushes = 0
            self._results = results
            called = self._call_each(segment, results)
            self._results = None
            pushed = self._pushes
            ran = segment[:called] if called < len(segment) else segment
            at += called
            text = None if pushed else self._joined(results)
            if text is not None:
                parts.append(text)
                added += 1
                if self._record:
                    records.append((ran, results, range(called)))  # type: ignore[arg-type]
                continue
            added += self._answer_results(ran, results, parts, records, chunk[at:])
            if self.closing is not None or self.pending is not None or self._stream is not None:
                return added
        return added

    def _answer_results(
        self,
        lines: list[str],
        results: list[object],
        parts: list[str],
        records: list[tuple[list[str], list[str], list[int] | range]],
        rest: list[str] | None = None,
    ) -> int:
        """Settle *results* one by one into one more part (if they answered); return 0 or 1."""
        out: list[str] = []
        starts: list[int] = []
        self._settle(lines, results, out, starts, [] if rest is None else rest)
        if self._record and starts:
            records.append((lines, out, starts))
        if out:
            parts.append(self._eol.join(out))
            return 1
        return 0

    def _call_each(self, lines: list[str], results: list[object]) -> int:
        """Call the handler with each of *lines* in turn; return how many it was called with.

        Each result is appended to *results* as it is.  Stops after a result
        that must be settled alone (it may defer or stream: anything but a
        ``str``, ``None`` or a ``list``) and after one that raised.
        """
        handler = self.handler
        append = results.append
        try:
            for line in lines:
                result = handler(line)
                append(result)
                if type(result) is not str and result is not None and type(result) is not list:
                    break
        except BaseException as exc:
            append(Failed(exc))
        return len(results) - self._pushes

    def _joined(self, results: list[object]) -> str | None:
        """*results* joined by the answer terminator if each is one plain line, else None."""
        try:
            text = self._eol.join(results)  # type: ignore[arg-type]
        except TypeError:  # None, a list, a deferred answer, a failure: not plain
            return None
        # Each terminator holds one LF: more than the joins have means an answer holds one.
        return text if text.count("\n") == len(results) - 1 else None

    def _settle(
        self,
        lines: list[str],
        results: list[object],
        out: list[str],
        starts: list[int],
        rest: list[str],
    ) -> None:
        """Answer *lines* from their *results* one by one, as the general loop does.

        *rest*, the commands after them in the slice, is queued or dropped
        when the session must stop.
        """
        size = 0
        index = 0
        started = False
        for item in results:
            if not started:
                starts.append(len(out))
                started = True
            if type(item) is Pushed:
                out += item.lines
                continue
            started = False
            line = lines[index]
            index += 1
            if type(item) is Failed:
                self._out = out  # a wrong later token answers here, then closes
                self._failed(line, item.error)
                self._out = None
            elif type(item) is str and "\n" not in item:
                out.append(item)
                size += len(item) + 1
            elif item is None:
                continue
            elif is_deferred(item):
                starts.pop()  # reported once it is answered
                self._defer(item, line, rest)
                return
            else:
                budget = None if self._record else OUTPUT_CHUNK - size
                size += self._add(out, item, line, budget)
            if self.closing is not None:
                self._drop_unrun(rest)
                return
            if self._stream is not None:
                self._queue = list(rest)
                return

    def _finish_plain(
        self,
        parts: list[str],
        records: list[tuple[list[str], list[str], list[int] | range]],
    ) -> bytes:
        """Encode the answers of a plain read and report the records of what was sent."""
        eol = self._eol
        if not parts and not records:
            return b""
        parts.append("")
        try:
            wire = eol.join(parts).encode(self._encoding) if len(parts) > 1 else b""
        except UnicodeEncodeError:  # an answer the encoding cannot carry: dropped, reported
            del parts[-1]
            out = [line for part in parts for line in part.split(eol)]
            wire = encode_lines(out, self._encoding, eol, self._bad_answer)
            records = [
                (lines, *sendable(answers, list(starts), self._encoding, eol))
                for lines, answers, starts in records
            ]
        for lines, answers, starts in records:
            self._observer.commands(lines, answers, starts)
        return wire
