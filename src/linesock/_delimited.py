"""Framing for the other command terminators: CR, CRLF, or any of CR, LF and CRLF.

Design notes
------------
Real instruments dictate their terminators, so a simulator must accept what
the driver under test sends.  :class:`~linesock.LineFramer` stays the
framer of the default (LF, one CR before it dropped), tuned for it;
:class:`DelimitedFramer` serves the rest with the same contract: the same
``feed``/``feed_buffer``/``feed_eof`` methods, the same ``InvalidLine``
results, strict decoding, and the same length limit enforced while a line
streams in (the unterminated tail is cut to a 128-byte prefix once it is
over the limit, so memory never grows with the line).

* ``cr``: a line ends at CR; an LF is part of the command.
* ``crlf``: a line ends at CR LF; a lone CR or LF is part of the command.
* ``any``: a line ends at CR, at LF, or at CR LF (which ends one line, not
  two).  A CR at the end of a read ends its line at once; an LF that starts
  the next read is then taken as the rest of that CR LF.

The search for the next terminator resumes where the last one stopped, so
a line that trickles in a byte at a time costs linear time.
"""

from __future__ import annotations

import re
from typing import Final, Literal, Protocol, TypeAlias

from ._framing import DEFAULT_MAX_LINE_BYTES, InvalidLine, LineFramer, line_codec

__all__ = [
    "ANSWER_TERMINATORS",
    "AnswerTerminator",
    "CommandTerminator",
    "DelimitedFramer",
    "Framer",
    "create_framer",
]

#: What ends a command: ``lf`` (the default; one CR before it is dropped),
#: ``cr``, ``crlf`` or ``any`` of CR, LF and CRLF.
CommandTerminator: TypeAlias = Literal["lf", "cr", "crlf", "any"]
#: What ends an answer line.
AnswerTerminator: TypeAlias = Literal["lf", "crlf", "cr"]
#: The bytes each answer terminator puts after a line.
ANSWER_TERMINATORS: Final = {"lf": "\n", "crlf": "\r\n", "cr": "\r"}


class Framer(Protocol):
    """What a session or a client needs of a framer (a LineFramer or a DelimitedFramer)."""

    @property
    def had_invalid(self) -> bool:
        """Whether the lines the last feed returned include an ``InvalidLine``."""

    @property
    def max_line_bytes(self) -> int:
        """The longest line, in bytes before its terminator."""

    @property
    def encoding(self) -> str:
        """The codec's normalised name."""

    @property
    def discarding(self) -> bool:
        """True while an overlong line streams in."""

    @property
    def buffered(self) -> int:
        """How many bytes of an unfinished line the framer holds."""

    @property
    def whole_read_limit(self) -> int:
        """The longest read of whole lines that is one command if it has one LF (0: none)."""

    def feed(self, data: bytes | bytearray) -> list[str | InvalidLine]:
        """Take the next bytes of the stream; return the lines they complete."""

    def feed_buffer(self, buffer: bytes | bytearray, size: int) -> list[str | InvalidLine]:
        """Like ``feed(bytes(buffer[:size]))``, without keeping *buffer*."""

    def feed_eof(self) -> int:
        """Note that the stream ended; return how many unterminated bytes were lost."""


def create_framer(
    terminator: str = "lf",
    *,
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES,
    encoding: str = "utf-8",
) -> Framer:
    """The framer for *terminator*: the tuned LineFramer for ``lf``, else a DelimitedFramer."""
    if terminator == "lf":
        return LineFramer(max_line_bytes=max_line_bytes, encoding=encoding)
    return DelimitedFramer(
        terminator,  # type: ignore[arg-type]  # checked by DelimitedFramer
        max_line_bytes=max_line_bytes,
        encoding=encoding,
    )


_DELIMITERS: Final = {"cr": b"\r", "crlf": b"\r\n"}
_ANY: Final = re.compile(rb"\r\n?|\n")
# How much of an overlong line is kept, for the log line that reports it.
_OVERLONG_PREFIX: Final = 128


class DelimitedFramer:
    r"""Split a byte stream into decoded lines ended by CR, CRLF, or any of CR/LF/CRLF.

    >>> framer = DelimitedFramer("cr")
    >>> framer.feed(b"*IDN?\rVOLT 1\nx\r")
    ['*IDN?', 'VOLT 1\nx']
    >>> DelimitedFramer("any").feed(b"a\r\nb\rc\n")
    ['a', 'b', 'c']
    """

    __slots__ = (
        "_carried_cr",
        "_decode",
        "_delimiter",
        "_discarded",
        "_discarding",
        "_searched",
        "_skip_lf",
        "_tail",
        "encoding",
        "had_invalid",
        "max_line_bytes",
        "terminator",
    )

    def __init__(
        self,
        terminator: Literal["cr", "crlf", "any"],
        *,
        max_line_bytes: int = 1024 * 1024,
        encoding: str = "utf-8",
    ) -> None:
        """Create a framer for *terminator* (``"cr"``, ``"crlf"`` or ``"any"``)."""
        if terminator not in ("cr", "crlf", "any"):
            raise ValueError(f"terminator must be lf, cr, crlf or any, not {terminator!r}")
        if max_line_bytes < 1:
            raise ValueError(f"max_line_bytes must be at least 1, got {max_line_bytes}")
        info = line_codec(encoding)
        self.terminator: Final = terminator
        self.max_line_bytes: Final = max_line_bytes
        self.encoding: Final = info.name
        self._decode = info.decode
        self._delimiter = _DELIMITERS.get(terminator)
        self._tail = bytearray()
        self._searched = 0  # how far into the tail no terminator starts
        self._discarding = False
        self._discarded = 0
        self._skip_lf = False  # "any": the last read ended in CR
        self._carried_cr = False  # "crlf": a skipped overlong read ended in CR
        #: Whether the lines the last feed returned include an InvalidLine.
        self.had_invalid = False

    @property
    def buffered(self) -> int:
        """How many bytes of an unfinished line the framer holds in memory."""
        return len(self._tail)

    @property
    def discarding(self) -> bool:
        """True while an overlong line streams in (it will be an ``InvalidLine``)."""
        return self._discarding

    @property
    def whole_read_limit(self) -> int:
        """Always 0: no read is one command by its LF alone (see ``LineFramer``)."""
        return 0

    def feed_buffer(self, buffer: bytes | bytearray, size: int) -> list[str | InvalidLine]:
        """Like ``feed(bytes(buffer[:size]))``; nothing refers to *buffer* afterwards."""
        return self.feed(memoryview(buffer)[:size])

    def feed(self, data: bytes | bytearray | memoryview) -> list[str | InvalidLine]:
        """Take the next bytes of the stream; return the lines they complete."""
        self.had_invalid = False
        if self._skip_lf and len(data):
            self._skip_lf = False
            if data[0] == 0x0A:
                data = data[1:]
        if self._discarding:
            rest = self._skip_overlong(data)
            if rest is None:
                return []
            data = rest
            lines: list[str | InvalidLine] = [self._finish_overlong()]
            self.had_invalid = True
        else:
            lines = []
        self._tail += data
        lines += self._split()
        return lines

    def feed_eof(self) -> int:
        """Note that the stream ended; return how many unterminated bytes were lost."""
        lost = len(self._tail) + self._discarded
        self._tail.clear()
        self._searched = 0
        self._discarding = False
        self._discarded = 0
        self._skip_lf = False
        self._carried_cr = False
        return lost

    def _split(self) -> list[str | InvalidLine]:
        """Take every complete line out of the tail; cut an overlong unfinished one."""
        tail, lines, start = self._tail, [], 0
        while True:
            found = self._find(tail, max(start, self._searched))
            if found is None:
                break
            end, after = found
            lines.append(self._line(tail, start, end))
            start, self._searched = after, after
        del tail[:start]
        if self.terminator == "crlf" and tail[-1:] == b"\r":
            self._searched = len(tail) - 1  # the CR may be the start of CR LF
        else:
            self._searched = len(tail)
        # "crlf": a CR at the end may be the start of the terminator, not of the line.
        open_cr = self.terminator == "crlf" and tail[-1:] == b"\r"
        if len(tail) - open_cr > self.max_line_bytes:
            if open_cr:
                del tail[-1:]
                self._carried_cr = True
            kept = min(len(tail), _OVERLONG_PREFIX)
            self._discarding = True
            self._discarded = len(tail) - kept
            del tail[kept:]
        return lines

    def _find(self, tail: bytearray, start: int) -> tuple[int, int] | None:
        """Where the next terminator at or after *start* begins, and where it ends."""
        if self._delimiter is not None:
            at = tail.find(self._delimiter, start)
            return None if at < 0 else (at, at + len(self._delimiter))
        match = _ANY.search(tail, start)
        if match is None:
            return None
        if match.group() == b"\r" and match.end() == len(tail):
            self._skip_lf = True  # an LF may follow in the next read
        return match.start(), match.end()

    def _line(self, data: bytearray, start: int, end: int) -> str | InvalidLine:
        """Decode ``data[start:end]``, one line, or report why it cannot be a command."""
        size = end - start
        if size > self.max_line_bytes:
            self.had_invalid = True
            prefix = bytes(data[start : min(end, start + _OVERLONG_PREFIX)])
            return InvalidLine("overlong", prefix, size)
        try:
            return str(self._decode(memoryview(data)[start:end])[0])
        except UnicodeDecodeError:
            self.had_invalid = True
            return InvalidLine("undecodable", bytes(data[start:end]), size)

    def _skip_overlong(self, data: bytes | bytearray | memoryview) -> bytes | None:
        """Skip an overlong line's bytes up to its terminator; return what follows, if any."""
        probe = bytes(data)
        if self._carried_cr:  # "crlf": the last skipped read ended in CR, not yet counted
            self._carried_cr = False
            probe = b"\r" + probe
        found = self._find(bytearray(probe), 0)
        if found is None:
            if self.terminator == "crlf" and probe.endswith(b"\r"):
                self._carried_cr = True  # it may start the CR LF that ends the line
                probe = probe[:-1]
            self._keep_prefix(probe)
            return None
        end, after = found
        self._keep_prefix(probe[:end])
        return probe[after:]

    def _keep_prefix(self, skipped: bytes) -> None:
        """Count the skipped bytes of an overlong line, keeping its first 128 for the log."""
        room = max(0, _OVERLONG_PREFIX - len(self._tail))
        self._tail += skipped[:room]
        self._discarded += max(0, len(skipped) - room)

    def _finish_overlong(self) -> InvalidLine:
        """Report the overlong line just skipped, and reset for the next line."""
        line = InvalidLine("overlong", bytes(self._tail), len(self._tail) + self._discarded)
        self._tail.clear()
        self._searched = 0
        self._discarding = False
        self._discarded = 0
        return line
