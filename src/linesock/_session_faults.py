"""The session's path while a fault is active: each command under the first fault it matches.

:class:`SessionFaultPath` is a base of :class:`~linesock.Session`.  With no
fault active a session never comes here (one list truth test per read); with
one, a read is answered a command at a time, and a fault that needs a clock
or raw bytes (delay, slow, garbage) becomes the session's pending
:class:`~linesock.Hold`, which the transport carries out before it calls
``resume()``.  See docs/faults.md.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Final

from ._faults import GARBAGE, Fault, FaultKind, Hold
from ._framing import InvalidLine
from ._session_paths import OUTPUT_CHUNK, SessionRarePaths
from ._wire import AUTH_PREFIX, DISCONNECT, SHUTDOWN, Closing

__all__ = ["SessionFaultPath"]

# The faults that hold the session's output for the transport to carry out.
_HOLDING: Final = frozenset({FaultKind.DELAY, FaultKind.SLOW, FaultKind.GARBAGE})


class SessionFaultPath(SessionRarePaths):
    """The injected-faults path of :class:`~linesock.Session` (see the module)."""

    __slots__ = ()

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
