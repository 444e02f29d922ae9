"""The Oneline protocol rules for one client session: bytes in, bytes and reports out.

Design notes
------------
A :class:`Session` sits between a transport and the user's handler.  The
transport hands it the bytes it read (``receive``) and writes back the bytes
it returns; the session frames them with :class:`~linesock.LineFramer`,
answers the built-in commands, calls the handler for the rest, turns
answers into wire bytes, and says when the connection must close
(``closing``).  The threaded server, the asyncio server and the compat layer
all drive this one class, so every front end answers alike.

Sans-IO, like h11's ``Connection``: no clock, no file, no log, no state
outside itself; what happened it tells a :class:`SessionObserver`.  A
deferred answer (a ``Future``, an awaitable) is left in ``pending`` with the
commands behind it queued, so answers always go out in command order.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from ._access import AuthGuard
from ._answers import encode_lines
from ._config import Handler, ServerConfig, ServerStats
from ._delimited import ANSWER_TERMINATORS, create_framer
from ._faults import Faults, Hold
from ._framing import BUILT_IN_DECODERS, InvalidLine
from ._observer import SessionObserver
from ._session_paths import OUTPUT_CHUNK, is_deferred
from ._session_plain import (
    MIN_PLAIN_BATCH,
    Failed,
    Pushed,
    SessionPlainPath,
    spells_built_ins_in_ascii,
)
from ._wire import DISCONNECT, PONG, Closing

__all__ = ["OUTPUT_CHUNK", "Session", "SessionObserver"]


_LF_BYTE: Final = 0x0A


class Session(SessionPlainPath):
    """The protocol state of one client connection; feed it bytes, send what it returns.

    A transport calls :meth:`receive` with each read and writes out the bytes
    it returns, then checks :attr:`pending` (a deferred answer to wait for and
    pass to :meth:`resume`), :attr:`has_queued` (commands held back until the
    answers so far are sent: call :meth:`answer_queued`) and :attr:`closing`
    (the client asked to end, or was refused); when :attr:`settled` is true
    after a read, there is nothing to check.

    Args:
        handler: called with each command; returns the answer.
        config: the server settings the session follows.
        stats: counters to add to (a fresh :class:`~linesock.ServerStats` if omitted).
        observer: told what happened (nothing is reported if omitted).
        record: report each answered batch to ``observer.commands``.
        faults: the faults to inject into this session (its server's).
    """

    __slots__ = ()  # the base holds them all

    def __init__(
        self,
        handler: Handler,
        config: ServerConfig,
        stats: ServerStats | None = None,
        observer: SessionObserver | None = None,
        *,
        record: bool = False,
        faults: Faults | None = None,
    ) -> None:
        """Start a session that answers with *handler* under *config*."""
        self.config = config
        # With a token, a later "auth ..." line is the server's, never the handler's.
        self.handler = handler if config.token is None else AuthGuard(handler, config.token)
        self.stats = ServerStats() if stats is None else stats
        self.framer = create_framer(
            config.terminator, max_line_bytes=config.max_line_bytes, encoding=config.encoding
        )
        self._observer = SessionObserver() if observer is None else observer
        self._encoding = config.encoding
        self._eol = ANSWER_TERMINATORS[config.answer_terminator]
        # The batch-wide join is safe only when no answer can end a line early.
        self._join_whole = self._eol != "\r"
        self._record = record
        #: Why the session must end, once the client asked to (or was refused).
        self.closing: Closing | None = None
        #: The deferred answer being waited for, if any.
        self.pending: object | None = None
        #: True when the last :meth:`receive` left nothing to do but send
        #: what it returned: no deferred answer, nothing queued, not closing.
        #: (False says only "look": at :attr:`pending`, :attr:`has_queued`
        #: and :attr:`closing`.)  One attribute for a transport to test per read.
        self.settled = False
        self._queue: list[str | InvalidLine] = []
        # A streamed (iterator) answer with lines still to send, and its command.
        self._stream: tuple[Iterator[object], str] | None = None
        #: The ``SystemExit`` or ``KeyboardInterrupt`` a handler raised, if one did.
        self.handler_exit: BaseException | None = None
        self._deferred_line: str | InvalidLine | None = None
        # The answer lines of the batch being answered: :meth:`push` joins them.
        self._out: list[str] | None = None
        self._check_first_line = config.token is not None or config.reject_http
        self._shutdown: Final = (
            Closing.SHUTDOWN if config.allow_remote_shutdown else Closing.DISCONNECT
        )
        self._faults = faults
        # Looked at once per read: true while any fault is active.
        self._active_faults = () if faults is None else faults.active
        self._hold_after: Hold | None = None
        self._results: list[object] | None = None
        self._pushes = 0
        # The plain path needs the whole-batch join, and the built-ins' bytes
        # to be their ASCII spelling (so a scan of the read finds them).
        self._plain_scan = self._join_whole and spells_built_ins_in_ascii(config.encoding)
        # A read of one command may skip the batch loop (a recorder needs the loop).
        self._simple = self._join_whole and not record
        self._pong = (PONG + self._eol).encode(self._encoding)
        # receive() may split a short read itself: the LF framer (whose
        # whole_read_limit is not 0) in an encoding bytes.decode knows.
        self._quick = self.framer.encoding in BUILT_IN_DECODERS

    def receive(  # noqa: C901 - the per-read path, written out (see the shortest path below)
        self, data: bytes | bytearray, size: int | None = None
    ) -> bytes:
        """Take bytes from the client; return the answers to send now.

        Commands that follow a deferred answer wait in a queue until
        :meth:`resume`; those after ``disconnect`` or ``shutdown`` are never
        run.  With *size*, *data* is a read buffer the transport reuses, whose
        first *size* bytes are new (see :meth:`LineFramer.feed_buffer
        <linesock.LineFramer.feed_buffer>`): nothing of it is kept.
        """
        self.settled = False
        if self.closing is not None:
            return b""
        if size is None:
            size = len(data)
        framer = self.framer
        lines: list[str | InvalidLine] | None = None
        if self._quick and 0 < size <= framer.whole_read_limit and data[size - 1] == _LF_BYTE:
            # A short read of whole lines (one command, say): what the framer
            # would return (see its whole_read_limit), without a call to it.
            try:
                text = data[:size].decode(self._encoding)
            except UnicodeDecodeError:
                pass  # the framer tells the bad lines from the good
            else:
                # The CR rule, on the text (in the quick encodings only the
                # byte 13 decodes to "\r"; a str search costs a sixth of a
                # bounded bytearray.find): one CR right before each LF goes.
                if "\r" in text:
                    text = text.replace("\r\n", "\n")
                split = text.split("\n")
                split.pop()  # the empty string after the final LF
                lines = split  # type: ignore[assignment]  # str only
                all_text = True
        if lines is None:
            lines = framer.feed_buffer(data, size)
            if not lines:
                return b""
            all_text = not framer.had_invalid
        count = len(lines)
        self.stats.commands += count
        if self.pending is not None or self._queue:
            self._queue += lines
            return b""
        if self._check_first_line:
            self._check_first_line = False
            refused_or_authenticated = self._first_batch(lines)
            if refused_or_authenticated is not None:
                return refused_or_authenticated
        # Past this, one command, or a request of linesock's clients: one
        # command and the ping sentinel (count is 2 then).
        if (count != 1 or not all_text or not self._simple or self._active_faults) and (
            count != 2  # the command and its sentinel
            or lines[1] != "ping"
            or not all_text
            or not self._simple
            or self._active_faults
        ):
            if all_text and count >= MIN_PLAIN_BATCH and self._is_plain(data, size, lines):
                return self._answer_plain(lines)  # type: ignore[arg-type]  # text: all_text
            return self._answer(lines, all_text)
        line: str = lines[0]  # type: ignore[assignment]  # text: all_text
        # One command (and maybe its sentinel), with no recorder and no
        # fault: the shortest path, written out here because it runs once
        # per round trip (see docs/performance.md).  Any result but a plain
        # line or None is settled the general way.
        if line == "ping":
            self.settled = True
            return self._pong * count
        if line == "disconnect" or line == "shutdown":  # noqa: PLR1714 - see _run
            self.closing = Closing.DISCONNECT if line == DISCONNECT else self._shutdown
            self._drop_unrun(lines[1:])  # the sentinel, if any, and a partial line
            return b""
        pushed: list[object] = []
        self._results = pushed  # what push() adds while the handler runs
        try:
            result = self.handler(line)
        except BaseException as exc:
            result = Failed(exc)
        self._results = None
        if not pushed:
            if type(result) is str and "\n" not in result:
                try:
                    out = (result + self._eol).encode(self._encoding)
                except UnicodeEncodeError:
                    pass  # dropped and reported by _settle_one
                else:
                    self.settled = True
                    return out if count == 1 else out + self._pong
            elif result is None:
                self.settled = True
                return b"" if count == 1 else self._pong
        return self._settle_one(line, result, pushed, sentinel=count == 2)

    def receive_eof(self) -> int:
        """Note that the client will send no more; return the bytes of an unfinished line lost."""
        return self.framer.feed_eof()

    @property
    def has_queued(self) -> bool:
        """True when received commands wait to be answered by :meth:`answer_queued`.

        A session stops answering once a batch's answers reach
        ``OUTPUT_CHUNK`` characters, so that a client pipelining commands with
        long answers cannot make the server hold more than about that much
        output for it.  The transport sends what it got, then calls
        :meth:`answer_queued` (once the client has taken it, for an asyncio
        transport that pauses on a full buffer).
        """
        return self.pending is None and (bool(self._queue) or self._stream is not None)

    def answer_queued(self) -> bytes:
        """Answer the next chunk of the commands waiting in the queue."""
        if self.pending is not None:
            return b""
        if self._stream is not None:
            out: list[str] = []
            self._continue_stream(out)
            if not self.has_queued_stream and self._queue and self.closing is None:
                queued, self._queue = self._queue, []
                return self._encode(out) + self._answer(queued)
            return self._encode(out) if out else b""
        queued, self._queue = self._queue, []
        return self._answer(queued)

    @property
    def awaiting_auth(self) -> bool:
        """True while a token is required and the client has not sent its first line."""
        return self._check_first_line and self.config.token is not None

    def resume(self, result: object = None, error: BaseException | None = None) -> bytes:
        """Finish the pending deferred answer and go on with the queued commands.

        Pass the deferred answer's *result*, or the *error* it raised; after
        a fault's :class:`~linesock.Hold`, pass nothing.
        """
        if type(self.pending) is Hold:
            self.pending = None
            return self.answer_queued() if self.has_queued and self.closing is None else b""
        self.pending = None
        out: list[str] = []
        command = self._deferred_line if isinstance(self._deferred_line, str) else ""
        if error is not None:
            self._failed(command, error)
        else:
            self._add(out, result, command)
        if self.closing is not None:  # the deferred answer raised SystemExit
            self._drop_unrun(())
        if self._record and self._deferred_line is not None:
            self._observer.commands([self._deferred_line], out, [0])
        self._deferred_line = None
        encoded = self._encode(out) if out else b""
        if self._hold_after is not None:  # a delay or slow fault waited for this answer
            self.pending = self._held(encoded)
            return b""
        return encoded + self.answer_queued() if self._queue else encoded

    def push(self, answer: object) -> bytes:
        """Answer outside the handler's return value; return the bytes to send, if any.

        The answer is checked and encoded like a handler's.  Called while the
        handler runs (from within it), the lines join that batch's answers in
        command order and nothing is returned; called later, the encoded
        lines are returned for the transport to send at once.
        """
        results = self._results
        if results is not None:  # the plain path: kept in place, in command order
            pushed: list[str] = []
            self._add(pushed, answer, "")
            results.append(Pushed(pushed))
            self._pushes += 1
            return b""
        out = self._out
        if out is not None:
            self._add(out, answer, "")
            return b""
        lines: list[str] = []
        self._add(lines, answer, "")
        return self._encode(lines) if lines else b""

    # -- the batch loop ----------------------------------------------------

    def _answer(self, lines: list[str | InvalidLine], all_text: bool = False) -> bytes:
        """Answer *lines* in order until they run out, one defers or closes, or output fills.

        Commands left over when the answers reach ``OUTPUT_CHUNK`` characters,
        or after a deferred answer, wait in the queue.  *all_text* says that
        every line is a ``str`` (the framer saw no invalid one), which spares
        a type check per line.
        """
        if self._active_faults:
            return self._answer_faulted(lines, all_text)
        if self._record:
            return self._answer_recorded(lines, all_text)
        out: list[str] = []
        self._out = out
        self._run(lines, out, all_text)
        self._out = None
        if not out:
            return b""
        if self._join_whole:  # _encode's common case, written out: it runs once per read
            out.append("")
            try:
                return self._eol.join(out).encode(self._encoding)
            except UnicodeEncodeError:
                del out[-1]
        return encode_lines(out, self._encoding, self._eol, self._bad_answer)

    def _run(  # noqa: C901 - the one hot loop, written out (see its docstring)
        self,
        lines: list[str | InvalidLine],
        out: list[str],
        all_text: bool,
        size: int = 0,
        starts: list[int] | None = None,
    ) -> int:
        """Answer *lines* into *out*, which holds *size* characters; return its new size.

        With *starts* (a recorder listens), where each command's answers
        start in *out* is appended to it.  The loop that runs once per
        command: it holds only what each command needs, and no call or
        allocation that a batch could do once; each branch that is rare
        calls out.
        """
        append = out.append
        handler = self.handler
        remaining = iter(lines)
        for line in remaining:
            if starts is not None:
                starts.append(len(out))
            if not all_text and isinstance(line, InvalidLine):
                size += self._add(out, self._answer_invalid(line), "")
                if self.closing is not None:  # on_invalid raised SystemExit
                    self._drop_unrun(remaining)
                    return size
            # The built-ins (_wire's PING, DISCONNECT, SHUTDOWN) are spelt out:
            # a constant costs less than a global per command.  They are
            # compared, not looked up: == looks at the length first, where a
            # hash would read all of a 64 KiB line.
            elif line == "ping":
                append("pong")
                size += 5
            elif line == "disconnect" or line == "shutdown":  # noqa: PLR1714 - see above
                self.closing = Closing.DISCONNECT if line == DISCONNECT else self._shutdown
                self._drop_unrun(remaining)
                return size
            else:
                try:
                    result = handler(line)  # type: ignore[arg-type]  # a str: see all_text
                except BaseException as exc:
                    self._failed(line, exc)  # type: ignore[arg-type]
                    if self.closing is not None:  # SystemExit, KeyboardInterrupt: stop
                        self._drop_unrun(remaining)
                        return size
                    continue
                if type(result) is str and "\n" not in result:
                    append(result)
                    size += len(result) + 1
                elif result is not None:
                    if is_deferred(result):
                        self._defer(result, line, remaining)
                        return size
                    # A transcript records an iterator answer whole: no streaming then.
                    budget = None if self._record else OUTPUT_CHUNK - size
                    size += self._add(out, result, line, budget)  # type: ignore[arg-type]
                    if self.closing is not None:
                        self._drop_unrun(remaining)
                        return size
                    if self._stream is not None:
                        self._queue = list(remaining)
                        return size
            if size > OUTPUT_CHUNK:
                self._queue = list(remaining)
                return size
        return size
