"""An in-memory rig for the protocol core: a Session, a recording observer, a handler.

The ``test_session*`` modules build a :class:`~linesock.Session` with
:func:`make_rig`, feed it bytes one of the :data:`WAYS` and assert the exact
bytes it returns, what the :class:`Recorder` was told, what the
:class:`Instrument` handler was called with, and the counters.  Nothing here
opens a socket.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import pytest

from linesock import (
    Closing,
    Fault,
    Faults,
    Hold,
    InvalidLine,
    Refusal,
    ServerConfig,
    ServerStats,
    Session,
    SessionObserver,
)

#: The unfinished line the trailing way leaves after a script: never a command.
UNFINISHED: Final = b"unfinished"
#: What the trailing way sends after a script, in the same read.
TRAILING: Final = b"ping\n" + UNFINISHED
#: The answer of a pipelined ``ping``.
PONG: Final = b"pong\n"


# The answers that do not depend on the command's argument.
_FIXED_ANSWERS: dict[str, object] = {
    "silent": None,
    "lf": "two\nlines",
    "mixed": ["a", 7, "b\nc", None, "d"],
    "bytes": b"raw",
    "bytearray": bytearray(b"raw"),
    "number": 42,
    "accent": "é",
}


class Recorder(SessionObserver):
    """An observer that notes every call, so a test can assert exactly what it was told."""

    def __init__(self) -> None:
        self.calls: list[tuple[object, ...]] = []
        self.errors: list[BaseException] = []

    def commands(
        self, lines: Sequence[str | InvalidLine], answers: Sequence[str], starts: Sequence[int]
    ) -> None:
        self.calls.append(("commands", list(lines), list(answers), list(starts)))

    def invalid_line(self, line: InvalidLine) -> None:
        self.calls.append(("invalid_line", line))

    def handler_failed(self, command: str, error: BaseException) -> None:
        self.errors.append(error)
        self.calls.append(("handler_failed", command, repr(error)))

    def bad_answer(self, command: str, problem: str) -> None:
        self.calls.append(("bad_answer", command, problem))

    def authenticated(self) -> None:
        self.calls.append(("authenticated",))

    def refused(self, refusal: Refusal, first: str | InvalidLine) -> None:
        self.calls.append(("refused", refusal, first))

    def fault(self, fault: Fault, command: str) -> None:
        self.calls.append(("fault", str(fault), command))

    def told(self) -> list[tuple[object, ...]]:
        """Every call but ``commands``: what a session reports whether it records or not."""
        return [call for call in self.calls if call[0] != "commands"]

    def answered(self) -> list[tuple[str | InvalidLine, list[str]]]:
        """Each answered line with its answers, over every reported batch, batches aside."""
        result: list[tuple[str | InvalidLine, list[str]]] = []
        for call in self.calls:
            if call[0] != "commands":
                continue
            _, lines, answers, starts = call
            assert isinstance(lines, list) and isinstance(answers, list)
            assert isinstance(starts, list)
            ends = [*starts[1:], len(answers)]
            result += [
                (lines[i], answers[start:end])
                for i, (start, end) in enumerate(zip(starts, ends, strict=True))
            ]
        return result


async def _answer_later(answer: str) -> str:
    """The coroutine an ``async def`` handler returns (never awaited here)."""
    return answer


class Instrument:
    """A handler that notes each command and answers by its first word.

    ``echo TEXT``: TEXT; ``lines N``: ``line 1`` ... ``line N``; ``gen N``: a
    generator of ``g1`` ... ``gN``; ``genfail N``: the same, then it raises;
    ``silent``: None; ``raise``: raises; ``quit``: raises ``SystemExit(3)``;
    ``lf``: a line holding LF; ``mixed``: a list with good lines, an int, an
    LF line and None; ``bytes``,
    ``bytearray``, ``number``: answers of those types; ``accent``: ``é``;
    ``big N``: N ``x``; ``later``: a ``concurrent.futures.Future`` (kept in
    :attr:`futures`); ``coro TEXT``: an un-awaited coroutine of TEXT (kept in
    :attr:`coroutines`); ``push TEXT``: pushes TEXT, then answers ``after
    push``; anything else: ``ack:`` and the command.
    """

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.futures: list[concurrent.futures.Future[object]] = []
        self.coroutines: list[Coroutine[Any, Any, str]] = []
        self.session: Session | None = None

    def __call__(self, command: str) -> object:
        self.calls.append(command)
        verb, _, rest = command.partition(" ")
        if verb in _FIXED_ANSWERS:
            return _FIXED_ANSWERS[verb]
        if verb == "echo":
            return rest
        if verb == "lines":
            return [f"line {number}" for number in range(1, int(rest) + 1)]
        if verb in ("gen", "genfail"):
            return self._generate(int(rest), fail=verb == "genfail")
        if verb == "raise":
            raise RuntimeError(f"boom: {command}")
        if verb == "quit":
            raise SystemExit(3)
        if verb == "big":
            return "x" * int(rest)
        return self._deferred_or_pushed(verb, rest, command)

    def _deferred_or_pushed(self, verb: str, rest: str, command: str) -> object:
        if verb == "later":
            future: concurrent.futures.Future[object] = concurrent.futures.Future()
            self.futures.append(future)
            return future
        if verb == "coro":
            coroutine = _answer_later(rest)
            self.coroutines.append(coroutine)
            return coroutine
        if verb == "push":
            assert self.session is not None
            assert self.session.push(rest) == b""
            return "after push"
        return f"ack:{command}"

    @staticmethod
    def _generate(count: int, *, fail: bool) -> Iterator[str]:
        for number in range(1, count + 1):
            yield f"g{number}"
        if fail:
            raise ValueError("midway")

    def close(self) -> None:
        """Close the coroutines nobody awaited, so none warns."""
        for coroutine in self.coroutines:
            coroutine.close()


@dataclass
class Rig:
    """A session with its recording observer, its handler and its counters."""

    session: Session
    handler: Instrument
    observer: Recorder
    stats: ServerStats = field(init=False)

    def __post_init__(self) -> None:
        self.stats = self.session.stats

    # Read the session's state through calls: mypy keeps an attribute narrowed
    # across the session calls that change it, and would call the next check
    # unreachable.

    def pending(self) -> object | None:
        """The deferred answer the session waits for, if any."""
        return self.session.pending

    def has_queued(self) -> bool:
        """Whether commands wait behind the output chunk."""
        return self.session.has_queued

    def closing(self) -> Closing | None:
        """Why the session is closing, if it is."""
        return self.session.closing


def make_rig(
    *,
    record: bool = False,
    stats: ServerStats | None = None,
    faults: Faults | None = None,
    **options: Any,
) -> Rig:
    """A fresh session answering with an :class:`Instrument`, under these ServerConfig options."""
    handler = Instrument()
    observer = Recorder()
    session = Session(
        handler, ServerConfig(**options), stats, observer, record=record, faults=faults
    )
    handler.session = session
    return Rig(session, handler, observer)


@dataclass(frozen=True)
class Way:
    """One way of handing a script to a session."""

    name: str

    def feed(self, session: Session, script: bytes) -> bytes:
        """Feed *script* this way; return everything the session answered, concatenated."""
        if self.name == "whole":
            return session.receive(script)
        if self.name == "byte_by_byte":
            return b"".join(session.receive(script[i : i + 1]) for i in range(len(script)))
        if self.name == "with_trailing_bytes":
            return session.receive(script + TRAILING)
        assert self.name == "through_a_read_buffer"
        return feed_through_buffer(session, script, 3)

    @property
    def trails(self) -> bool:
        """Whether this way sends :data:`TRAILING` after the script, in the same read."""
        return self.name == "with_trailing_bytes"

    def then(self, answer: bytes = PONG) -> bytes:
        """What the trailing ``ping`` is owed after the script: *answer*, in the trailing way."""
        return answer if self.trails else b""

    @property
    def lost_at_eof(self) -> int:
        """The bytes of an unfinished line this way leaves after a script of whole lines."""
        return len(UNFINISHED) if self.trails else 0

    def __str__(self) -> str:
        return self.name


WAYS: Final = [
    Way("whole"),
    Way("byte_by_byte"),
    Way("with_trailing_bytes"),
    Way("through_a_read_buffer"),
]
#: Feed the test's script each of the ways (the test takes ``way: Way``).
every_way: Final = pytest.mark.parametrize("way", WAYS, ids=str)


def feed_through_buffer(session: Session, script: bytes, piece: int) -> bytes:
    """Feed *script* in pieces of *piece* bytes through one reused buffer full of stale LFs."""
    buffer = bytearray(b"\n" * 16)
    out = b""
    for start in range(0, len(script), piece):
        chunk = script[start : start + piece]
        buffer[:] = chunk + b"\n" * (len(buffer) - len(chunk))
        out += session.receive(buffer, len(chunk))
    return out


def feed_in_pieces(session: Session, script: bytes, piece: int) -> bytes:
    """Feed *script* in reads of *piece* bytes; return the answers, concatenated."""
    return b"".join(
        session.receive(script[start : start + piece]) for start in range(0, len(script), piece)
    )


def drain(session: Session, first: bytes) -> bytes:
    """*first*, then every answer the session queued behind the output chunk."""
    out = first
    while session.has_queued:
        out += session.answer_queued()
    return out


def carry_out(session: Session, out: bytes, holds: list[Hold] | None = None) -> bytes:
    """What a transport sends after *out*: every fault's hold carried out at once, in order.

    Each :class:`~linesock.Hold` met is appended to *holds*; queued commands
    are answered as a transport would.
    """
    for _ in range(10_000):
        pending = session.pending
        if isinstance(pending, Hold):
            if holds is not None:
                holds.append(pending)
            out += pending.data + session.resume()
        elif pending is None and session.has_queued:
            out += session.answer_queued()
        else:
            return out
    raise AssertionError("the session never stopped answering")
