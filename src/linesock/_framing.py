"""The sans-IO line framer: bytes in, commands out.

Design notes
------------
:class:`LineFramer` never touches a socket.  A front end feeds it whatever
bytes arrived (``feed``) and gets back the complete lines they finished, each
already decoded: a ``str`` for a good command, an :class:`InvalidLine` for a
line that cannot be one.  Every server front end (threaded, asyncio, compat)
and both clients drive this one class, so the framing rules and the length
limit behave identically everywhere.

The rules (docs/protocol.md is the contract):

* A line is the bytes up to LF (0x0A), without the LF.  One CR right before
  the LF is dropped, so ``nc -C`` and telnet work.  Any other CR, NUL or
  control byte is part of the command.
* The limit ``max_line_bytes`` counts every byte before the LF, a CR
  included.  A line of exactly that many bytes is fine; one byte more makes
  it overlong.  The limit is enforced while the line is still streaming in:
  once the unterminated tail is over the limit it is thrown away and the
  framer skips to the next LF, so memory stays bounded by the limit plus
  one read, never by the line.
* Decoding is strict: a line that is not valid in the encoding (for UTF-8:
  stray continuation bytes, overlong forms, surrogates, truncated sequences)
  becomes ``InvalidLine(reason="undecodable")``.  Because UTF-8 never uses
  0x0A inside a multi-byte sequence, a character split across two reads is
  simply held in the tail until its line is complete.
* At EOF an unterminated tail is never a command: ``feed_eof`` discards it
  and tells how many bytes were lost.

Speed: the common case, a read that holds only complete, valid lines, costs
one ``split`` and one ``decode`` for the whole batch; per-line work happens
only for lines that need it (a CR to drop, an undecodable line).
"""

from __future__ import annotations

import codecs
import functools
from typing import Final, Literal, NamedTuple

__all__ = [
    "BUILT_IN_DECODERS",
    "DEFAULT_MAX_LINE_BYTES",
    "InvalidLine",
    "LineFramer",
    "line_codec",
]

#: The default longest line, in bytes before the LF (CR included).  One MiB
#: holds any realistic command, a waveform or JSON blob among them, while a
#: peer that never sends LF can make a server hold at most this much (plus
#: one read) per connection.
DEFAULT_MAX_LINE_BYTES: Final = 1024 * 1024

_LF: Final = b"\n"
_CR: Final = b"\r"
# Lines longer than this are decoded one by one rather than as one batch.
_LONG_LINE: Final = 4096
# A read shorter than this is joined whole to the line an earlier read began;
# a longer one is decoded where it lies.
_JOIN_LIMIT: Final = 64 * 1024
# ``13 in data`` is a plain memchr; ``b"\r" in data`` first tries the
# argument as an integer and builds and drops a TypeError, ~0.3 us a read.
_CR_BYTE: Final = 0x0D
_LF_BYTE: Final = 0x0A
# Encodings that ``bytes.decode`` reaches without a codec registry look-up:
# faster than calling the codec's own function, slower for any other encoding.
BUILT_IN_DECODERS: Final = frozenset({"utf-8", "ascii", "iso8859-1"})
# How much of an overlong line is kept, for the log line that reports it.
_OVERLONG_PREFIX: Final = 128


@functools.lru_cache(maxsize=32)
def line_codec(encoding: str) -> codecs.CodecInfo:
    """The codec of *encoding*, checked to write CR and LF as ASCII does (``ValueError`` if not).

    Cached: a server makes a framer per session, and the lookup and the
    check cost more than the rest of a framer's making.
    """
    info = codecs.lookup(encoding)
    if "\r\n".encode(info.name) != b"\r\n":
        raise ValueError(f"encoding {encoding!r} is not ASCII-compatible")
    return info


class InvalidLine(NamedTuple):
    """A complete line that cannot be a command.

    ``reason`` is ``"undecodable"`` (not valid in the framer's encoding) or
    ``"overlong"`` (more than ``max_line_bytes`` before its LF).  ``data``
    holds the raw line for an undecodable one (without the LF and the dropped
    CR) and the first 128 bytes of an overlong one, for logging; ``size`` is
    the line's full length in bytes before the LF.
    """

    reason: Literal["undecodable", "overlong"]
    data: bytes
    size: int


class LineFramer:
    r"""Split a byte stream into decoded lines, enforcing the length limit.

    >>> framer = LineFramer()
    >>> framer.feed(b"ping\r\nset x 1\nhal")
    ['ping', 'set x 1']
    >>> framer.feed(b"f\n")
    ['half']
    """

    __slots__ = (
        "_built_in_decoder",
        "_decode",
        "_discarded",
        "_discarding",
        "_short_batch",
        "_tail",
        "encoding",
        "had_invalid",
        "max_line_bytes",
        "whole_read_limit",
    )

    def __init__(
        self, *, max_line_bytes: int = DEFAULT_MAX_LINE_BYTES, encoding: str = "utf-8"
    ) -> None:
        """Create a framer for lines of at most *max_line_bytes* in *encoding*.

        The encoding must be ASCII-compatible (LF is the byte 0x0A); one that
        is not, such as UTF-16, raises ``ValueError``.
        """
        if max_line_bytes < 1:
            raise ValueError(f"max_line_bytes must be at least 1, got {max_line_bytes}")
        info = line_codec(encoding)
        self.max_line_bytes: Final = max_line_bytes
        self.encoding: Final = info.name
        self._decode = info.decode
        self._built_in_decoder = info.name in BUILT_IN_DECODERS
        # A batch this short holds no line over the limit, and is not long.
        self._short_batch = min(_LONG_LINE, max_line_bytes + 1)
        # The unterminated tail.  A bytearray, so that a line trickling in a
        # byte at a time costs linear time, not quadratic.
        self._tail = bytearray()
        # While an overlong line streams in, its bytes after the kept prefix
        # are skipped up to the next LF; ``_discarded`` counts them so the
        # InvalidLine can say how long the line was.
        self._discarding = False
        self._discarded = 0
        #: Whether the lines the last :meth:`feed` returned include an
        #: :class:`InvalidLine`; when not, every one of them is a ``str`` and a
        #: caller may skip checking each.
        self.had_invalid = False
        #: The longest read of whole lines that is decoded in one piece, or 0
        #: while a line is unfinished (it has bytes of an earlier read).  A
        #: read of at most this many bytes that ends with its only LF, holds
        #: no CR and decodes is one command, as :meth:`feed` would return it:
        #: ``Session`` takes such reads, and those with CRs (applying the CR
        #: rule to the decoded text itself), without feeding the framer.
        self.whole_read_limit = self._short_batch

    @property
    def buffered(self) -> int:
        """How many bytes of an unfinished line the framer holds in memory."""
        return len(self._tail)

    @property
    def discarding(self) -> bool:
        """True while an overlong line streams in (it will be an ``InvalidLine``)."""
        return self._discarding

    def feed(self, data: bytes | bytearray) -> list[str | InvalidLine]:
        """Take the next bytes of the stream; return the lines they complete.

        Lines come back in stream order: a ``str`` for each good command, an
        :class:`InvalidLine` for each undecodable or overlong one
        (:attr:`had_invalid` tells whether there was any).  Bytes after the
        last LF are kept for the next call.
        """
        return self.feed_buffer(data, len(data))

    def feed_buffer(self, buffer: bytes | bytearray, size: int) -> list[str | InvalidLine]:
        """Like ``feed(bytes(buffer[:size]))``, without copying the read.

        For a transport that reads into one reused buffer (``recv_into``).
        Complete lines are decoded straight out of *buffer*; only the line
        that an earlier read began is joined to its start in the framer's
        tail, and only an unfinished last line is copied into it.  Nothing
        refers to *buffer* once this returns.
        """
        if 0 < size <= self.whole_read_limit and buffer[size - 1] == _LF_BYTE:
            # A short read of whole lines, one command say: no line in it is
            # over the limit, and with no CR none needs the CR rule, so it is
            # decoded and split right here.  This runs once per round trip of
            # a ping-pong peer, so no call of its own: see docs/performance.md.
            chunk = buffer if size == len(buffer) else buffer[:size]
            if _CR_BYTE not in chunk:
                try:
                    text = (
                        chunk.decode(self.encoding)
                        if self._built_in_decoder
                        else self._decode(chunk)[0]
                    )
                except UnicodeDecodeError:
                    pass  # _decode_lines tells the bad lines from the good
                else:
                    split = text.split("\n")
                    split.pop()  # the empty string after the final LF
                    self.had_invalid = False
                    return split  # type: ignore[return-value]  # str only: see _decode_lines
            return self._decode_lines(chunk, 0, size)
        return self._feed_pieces(buffer, size)

    def _feed_pieces(self, buffer: bytes | bytearray, size: int) -> list[str | InvalidLine]:
        """:meth:`feed_buffer` for a read that is not short whole lines with nothing before it.

        It may end in an unfinished line, or finish one an earlier read began.
        """
        end = buffer.rfind(_LF, 0, size) + 1
        view = memoryview(buffer)
        if not end:
            self._keep(view[:size])
            self.had_invalid = False
            self.whole_read_limit = 0
            return []
        lines: list[str | InvalidLine]
        if self._tail and not self._discarding and end < _JOIN_LIMIT:
            # A line an earlier read began, and a short read: join them all.
            self._tail += view[:end]
            lines = self._decode_lines(self._tail, 0, len(self._tail))
            del self._tail[:]
        elif self._discarding or self._tail:
            # The first LF ends the line an earlier read began.  Only that line
            # is joined (or skipped), the rest decoded in place: no read-sized
            # copy, whose fresh pages would cost a page fault each.
            start = buffer.find(_LF, 0, end) + 1
            if self._discarding:  # an overlong one: report it once
                self._keep(view[: start - 1])
                first: list[str | InvalidLine] = [self._finish_overlong()]
                invalid = True
            else:
                self._tail += view[:start]
                first = self._decode_lines(self._tail, 0, len(self._tail))
                invalid = self.had_invalid
                del self._tail[:]
            if start < end:
                lines = self._decode_lines(buffer, start, end)
                lines[:0] = first
                self.had_invalid = invalid or self.had_invalid
            else:
                lines = first
                self.had_invalid = invalid
        else:
            lines = self._decode_lines(buffer, 0, end)
        if end < size:
            self._keep(view[end:size])
            self.whole_read_limit = 0
        else:
            self.whole_read_limit = self._short_batch
        return lines

    def feed_eof(self) -> int:
        """Note that the stream ended; return how many unterminated bytes were lost.

        An unfinished last line is never a command.  The framer is reset and
        may be fed a new stream.
        """
        lost = len(self._tail) + self._discarded
        self._tail.clear()
        self._discarding = False
        self.whole_read_limit = self._short_batch
        self._discarded = 0
        return lost

    def _keep(self, data: bytes | bytearray | memoryview) -> None:
        """Hold an unterminated piece of a line, or skip it if the line is overlong."""
        if self._discarding:
            room = _OVERLONG_PREFIX - len(self._tail)
            if room > 0:
                self._tail += data[:room]
            self._discarded += max(0, len(data) - room)
            return
        self._tail += data
        if len(self._tail) > self.max_line_bytes:
            # Keep a short prefix for the log; drop the rest now, so memory
            # stays bounded however long the line grows.
            kept = min(len(self._tail), _OVERLONG_PREFIX)
            self._discarding = True
            self._discarded = len(self._tail) - kept
            del self._tail[kept:]

    def _finish_overlong(self) -> InvalidLine:
        """Report the overlong line being skipped, and reset for the next line."""
        line = InvalidLine("overlong", bytes(self._tail), len(self._tail) + self._discarded)
        self._tail.clear()
        self._discarding = False
        self._discarded = 0
        return line

    def _decode_lines(
        self, data: bytes | bytearray, start: int, end: int
    ) -> list[str | InvalidLine]:
        """Decode ``data[start:end]`` (one or more whole lines, ending in LF) into lines.

        Sets :attr:`had_invalid` for the batch.  Nothing refers to *data*
        afterwards: the framer's tail or a transport's read buffer may be
        passed, and reused.
        """
        whole = start == 0 and end == len(data)
        if _CR_BYTE in data if whole else data.find(_CR_BYTE, start, end) >= 0:
            return self._decode_each(data, start, end)
        if end - start > _LONG_LINE and data.find(_LF, start, end) - start > _LONG_LINE:
            # Long lines are decoded one by one, straight into their strings:
            # no batch-sized text to allocate, fill and split.
            return self._decode_each(data, start, end)
        # The fast path: one decode for the whole batch (LF cannot occur
        # inside a character of an ASCII-compatible encoding).
        try:
            if not whole:
                text = str(memoryview(data)[start:end], self.encoding)
            elif self._built_in_decoder:
                text = data.decode(self.encoding)
            else:
                text = self._decode(data)[0]
        except UnicodeDecodeError:
            return self._decode_each(data, start, end)
        lines = text.split("\n")
        lines.pop()  # the empty string after the final LF
        # str.isascii() is O(1); for ASCII text, characters are bytes.
        limit = self.max_line_bytes
        if end - start <= limit + 1 or (text.isascii() and max(map(len, lines)) <= limit):
            self.had_invalid = False
            # A list of str is a list of lines; typing.cast would cost a call per read.
            return lines  # type: ignore[return-value]
        return self._decode_each(data, start, end)

    def _decode_each(
        self, data: bytes | bytearray, start: int, end: int
    ) -> list[str | InvalidLine]:
        """Decode ``data[start:end]`` line by line: drop a CR before LF, catch bad lines."""
        limit = self.max_line_bytes
        decode = self._decode
        view = memoryview(data)
        result: list[str | InvalidLine] = []
        invalid = False
        while start < end:
            stop = data.find(_LF, start, end)
            size = stop - start
            if size > limit:
                prefix = bytes(view[start : min(stop, start + _OVERLONG_PREFIX)])
                result.append(InvalidLine("overlong", prefix, size))
                invalid = True
            else:
                body_end = stop - 1 if size and data[stop - 1] == _CR_BYTE else stop
                try:
                    result.append(decode(view[start:body_end])[0])
                except UnicodeDecodeError:
                    result.append(InvalidLine("undecodable", bytes(view[start:body_end]), size))
                    invalid = True
            start = stop + 1
        self.had_invalid = invalid
        return result
