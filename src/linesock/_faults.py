"""Faults a server injects into the served session: late, missing, wrong or garbled answers.

Design notes
------------
A simulator that only answers correctly tests only the happy path; these
provoke the unhappy ones real instruments take.  :class:`Faults` belongs to
a server (``server.faults``), not to a session: a fault set while no client
is connected applies to the next one, and lasts until its count is used up
or :meth:`Faults.clear`.  Each command of the served client (after
``auth``; ``ping`` included, ``disconnect`` and ``shutdown`` never) is
looked up in the faults in the order they were added; the first that
matches applies, and only it uses up its count.

The session core has no clock and does no I/O, so a fault that needs
either (``delay``, ``slow``, ``garbage``) becomes a :class:`Hold`: the
session's ``pending`` value, which the transport carries out (wait, send
at a rate) before it calls ``Session.resume()``, exactly like a deferred
answer.  Answers therefore never reorder.

Cost: nothing while no fault is active.  The session looks at the list of
active faults once per read (a list's truth value); only then does it take
the per-command path that looks each command up.

The registry is thread-safe: a test, the control port's thread and the
serving thread may use it at once.
"""

from __future__ import annotations

import enum
import fnmatch
import math
import shlex
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Final

__all__ = ["GARBAGE", "MAX_DELAY", "Fault", "FaultKind", "Faults", "Hold", "parse_fault"]

#: The line a ``garbage`` fault answers with: bytes that are valid in
#: neither UTF-8 nor ASCII (followed by the answer terminator).
GARBAGE: Final = b"\xff\xfe\xc3\x28\x80"
#: The longest ``delay``, in seconds: a wait that holds the slot is bounded.
MAX_DELAY: Final = 3600.0
# Characters after which a value needs shell quoting to read back as itself.
_NEEDS_QUOTES: Final = frozenset(" \t\r\n\"'\\")


class FaultKind(enum.Enum):
    """What a fault does to the commands it matches (the value is its control-port word)."""

    DELAY = "delay"
    """The command runs; its answer, and every later one, goes out late."""
    SILENCE = "silence"
    """The command is not run and not answered: the instrument never heard it."""
    DROP = "drop"
    """The command is not run: the server sends the earlier answers, then closes."""
    ERROR = "error"
    """The command is not run; it is answered with the fault's text."""
    GARBAGE = "garbage"
    """The command is not run; it is answered with one line of :data:`GARBAGE`."""
    SLOW = "slow"
    """The command runs; its answer trickles out at the fault's bytes per second."""


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault as given: what it does, to which commands, how many times.

    Attributes:
        kind: what it does.
        seconds: ``delay``: how late the answer goes out.
        text: ``error``: the answer instead of the command's.
        bytes_per_second: ``slow``: the rate the answer goes out at.
        reset: ``drop``: close with a TCP reset instead of a clean close.
        count: how many matching commands it applies to (None: until cleared).
        match: a shell-style pattern (``fnmatch``, case-sensitive) the whole
            command must match; None matches every command.
    """

    kind: FaultKind
    seconds: float = 0.0
    text: str = ""
    bytes_per_second: float = 0.0
    reset: bool = False
    count: int | None = None
    match: str | None = None

    def __post_init__(self) -> None:
        """Refuse values no fault can carry out (``ValueError`` saying which)."""
        if not 0 <= self.seconds <= MAX_DELAY or math.isnan(self.seconds):
            raise ValueError(f"a delay must be from 0 to {MAX_DELAY:g} s, not {self.seconds!r}")
        if self.kind is FaultKind.SLOW and not (
            self.bytes_per_second > 0 and math.isfinite(self.bytes_per_second)
        ):
            raise ValueError(f"a rate must be above 0 bytes/s, not {self.bytes_per_second!r}")
        if "\n" in self.text or "\r" in self.text:
            raise ValueError("an error text must be one line: no CR or LF in it")
        if self.count is not None and (type(self.count) is not int or self.count < 1):
            raise ValueError(f"a count must be a whole number from 1, not {self.count!r}")
        if self.match == "":
            raise ValueError("a match pattern must not be empty")

    def matches(self, command: str) -> bool:
        """Whether this fault applies to *command* (its count aside)."""
        return self.match is None or fnmatch.fnmatchcase(command, self.match)

    @property
    def action(self) -> str:
        """What the fault does, as the control port takes it, without count or match."""
        kind = self.kind
        if kind is FaultKind.DELAY:
            return f"delay {self.seconds * 1000:g}"
        if kind is FaultKind.ERROR:
            return f"error {_quote(self.text)}"
        if kind is FaultKind.SLOW:
            return f"slow {self.bytes_per_second:g}"
        if kind is FaultKind.DROP and self.reset:
            return "drop reset"
        return str(kind.value)

    def describe(self, count: int | None = None) -> str:
        """The fault the way the control port takes it, with *count* left (default: its own)."""
        left = self.count if count is None else count
        words = [self.action]
        if left is not None:
            words.append(f"count {left}")
        if self.match is not None:
            words.append(f"match {_quote(self.match)}")
        return " ".join(words)

    def __str__(self) -> str:
        """The fault the way the control port takes it (``delay 500 count 1 match VOLT?``)."""
        return self.describe()


@dataclass(frozen=True, slots=True)
class Hold:
    """What a fault asks the transport to do before the session goes on.

    A :class:`~linesock.Session` whose ``pending`` is a ``Hold`` waits for its
    transport: wait :attr:`delay` seconds, send :attr:`data` (at
    :attr:`bytes_per_second` when set, else at once), then call
    ``session.resume()`` with no argument.
    """

    data: bytes
    """The answer bytes to send after the delay."""
    delay: float = 0.0
    """Seconds to wait before sending."""
    bytes_per_second: float | None = None
    """The rate to trickle :attr:`data` out at; None sends it at once."""

    def pieces(self, step: float) -> Iterator[tuple[float, bytes]]:
        """The data in the pieces to send, each with its due time in seconds from now.

        At once after the delay, or, with a rate, in pieces of *step*
        seconds' worth (at least a byte) spaced at that rate.  Empty data
        gives no piece (and no wait).
        """
        rate = self.bytes_per_second
        data = self.data
        size = len(data) if rate is None else max(1, int(rate * step))
        for offset in range(0, len(data), size):
            due = self.delay if rate is None else self.delay + offset / rate
            yield due, data[offset : offset + size]


class _Active:
    """An active fault and how many more commands it applies to (None: until cleared)."""

    __slots__ = ("fault", "left")

    def __init__(self, fault: Fault) -> None:
        self.fault: Final = fault
        self.left = fault.count


def _quote(value: str) -> str:
    """*value* as one shell word: bare when it reads back as itself, else quoted."""
    if value and _NEEDS_QUOTES.isdisjoint(value):
        return value
    return shlex.quote(value)


class Faults:
    """The faults a server injects into its served client's session (``server.faults``).

    Add one with :meth:`delay`, :meth:`silence`, :meth:`drop`, :meth:`error`,
    :meth:`garbage` or :meth:`slow` (each takes ``count=`` and ``match=``
    and returns the :class:`Fault`), list them with :meth:`describe`, remove
    them all with :meth:`clear`.  Safe from any thread, while a client is
    served.

    Args:
        on_change: called with ``("fault", description)`` for each fault
            added and ``("clear", "")`` on a clear that removed some: the
            servers log and record these.
    """

    def __init__(self, on_change: Callable[[str, str], None] | None = None) -> None:
        """Start with no fault."""
        self._lock: Final = threading.Lock()
        # In the order added.  Sessions read this list's truth value once per
        # read to know whether to look at all, so it is never rebound.
        self.active: Final[list[_Active]] = []
        self._on_change = on_change

    def add(self, fault: Fault) -> Fault:
        """Inject *fault* after those already active; return it."""
        with self._lock:
            self.active.append(_Active(fault))
        if self._on_change is not None:
            self._on_change("fault", str(fault))
        return fault

    def delay(self, seconds: float, *, count: int | None = None, match: str | None = None) -> Fault:
        """Answer matching commands *seconds* late (each runs at once; answers keep order)."""
        return self.add(Fault(FaultKind.DELAY, seconds=seconds, count=count, match=match))

    def silence(self, *, count: int | None = None, match: str | None = None) -> Fault:
        """Neither run nor answer matching commands."""
        return self.add(Fault(FaultKind.SILENCE, count=count, match=match))

    def drop(
        self, *, reset: bool = False, count: int | None = None, match: str | None = None
    ) -> Fault:
        """Close the connection at a matching command, after the earlier answers (*reset*: RST)."""
        return self.add(Fault(FaultKind.DROP, reset=reset, count=count, match=match))

    def error(self, text: str, *, count: int | None = None, match: str | None = None) -> Fault:
        """Answer matching commands with *text* instead of running them."""
        return self.add(Fault(FaultKind.ERROR, text=text, count=count, match=match))

    def garbage(self, *, count: int | None = None, match: str | None = None) -> Fault:
        """Answer matching commands with one line of bytes invalid in UTF-8 and ASCII."""
        return self.add(Fault(FaultKind.GARBAGE, count=count, match=match))

    def slow(
        self, bytes_per_second: float, *, count: int | None = None, match: str | None = None
    ) -> Fault:
        """Send the answers of matching commands at *bytes_per_second*."""
        return self.add(
            Fault(FaultKind.SLOW, bytes_per_second=bytes_per_second, count=count, match=match)
        )

    def clear(self) -> None:
        """Remove every fault."""
        with self._lock:
            had = bool(self.active)
            self.active.clear()
        if had and self._on_change is not None:
            self._on_change("clear", "")

    def describe(self) -> list[str]:
        """One line per active fault, as the control port takes it, with the count left."""
        with self._lock:
            return [entry.fault.describe(entry.left) for entry in self.active]

    def __iter__(self) -> Iterator[Fault]:
        """The active faults, oldest first (a snapshot)."""
        with self._lock:
            return iter([entry.fault for entry in self.active])

    def __len__(self) -> int:
        """How many faults are active."""
        return len(self.active)

    def __bool__(self) -> bool:
        """Whether any fault is active."""
        return bool(self.active)

    def take(self, command: str) -> Fault | None:
        """The oldest fault matching *command*, its count used up by one; None if none matches."""
        with self._lock:
            for index, entry in enumerate(self.active):
                if entry.fault.matches(command):
                    if entry.left is not None:
                        entry.left -= 1
                        if not entry.left:
                            del self.active[index]
                    return entry.fault
        return None


def parse_fault(words: Sequence[str]) -> Fault:
    """Read a fault as the control port takes it, split into words (``ValueError`` if bad).

    ``delay MS``, ``silence``, ``drop [reset]``, ``error TEXT``, ``garbage``,
    ``slow BYTES_PER_S``, each followed by optional ``count N`` and
    ``match GLOB``, in either order.
    """
    if not words:
        raise ValueError("which fault? delay, silence, drop, error, garbage or slow")
    try:
        kind = FaultKind(words[0])
    except ValueError:
        raise ValueError(
            f"unknown fault {words[0]!r}: delay, silence, drop, error, garbage or slow"
        ) from None
    rest = list(words[1:])
    values: dict[str, object] = {}
    if kind in (FaultKind.DELAY, FaultKind.SLOW, FaultKind.ERROR):
        if not rest or (kind is not FaultKind.ERROR and rest[0] in ("count", "match")):
            raise ValueError(f"{kind.value} needs a value: {_USAGE[kind]}")
        value = rest.pop(0)
        if kind is FaultKind.DELAY:
            values["seconds"] = _number(value, "MS") / 1000
        elif kind is FaultKind.SLOW:
            values["bytes_per_second"] = _number(value, "BYTES_PER_S")
        else:
            values["text"] = value
    elif kind is FaultKind.DROP and rest[:1] == ["reset"]:
        values["reset"] = True
        rest.pop(0)
    while rest:
        option = rest.pop(0)
        if option not in ("count", "match") or not rest or option in values:
            raise ValueError(f"expected count N or match GLOB, got {option!r}: {_USAGE[kind]}")
        value = rest.pop(0)
        values[option] = value if option == "match" else _whole(value)
    return Fault(kind, **values)  # type: ignore[arg-type]


_USAGE: Final = {
    FaultKind.DELAY: "delay MS [count N] [match GLOB]",
    FaultKind.SILENCE: "silence [count N] [match GLOB]",
    FaultKind.DROP: "drop [reset] [count N] [match GLOB]",
    FaultKind.ERROR: "error TEXT [count N] [match GLOB]",
    FaultKind.GARBAGE: "garbage [count N] [match GLOB]",
    FaultKind.SLOW: "slow BYTES_PER_S [count N] [match GLOB]",
}


def _number(text: str, name: str) -> float:
    """*text* as a finite number (``ValueError`` naming *name* if it is not one)."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name} must be a number, not {text!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, not {text!r}")
    return value


def _whole(text: str) -> int:
    """*text* as a whole number of 1 or more (``ValueError`` if it is not one)."""
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"count must be a whole number from 1, not {text!r}")
    return int(text)
