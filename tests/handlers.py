"""Handlers the protocol suite serves, importable as ``handlers:NAME`` by ``linesock serve``.

``protocol_handler`` answers in ways that let a test see exactly what the
server received and did:

* ``echo TEXT``: answers TEXT (an empty TEXT gives an empty line);
* ``lines N``: answers ``line 1`` ... ``line N``;
* ``silent``: no answer at all;
* ``raise``: raises, to show a failing handler leaves the session alive;
* ``lf``: answers one string holding LF, a programming error the server drops;
* ``sleep S``: sleeps S seconds, then answers ``slept``;
* ``big N``: one line of N ``x``;
* ``stream N``: a generator of N lines ``s1`` ... ``sN``;
* ``exit N``, ``interrupt``, ``generatorexit``, ``baseexception``: raise
  ``SystemExit(N)``, ``KeyboardInterrupt``, ``GeneratorExit``, a bare
  ``BaseException``;
* anything else: ``ack:`` followed by the command exactly as received.

``tally`` answers like ``protocol_handler`` and notes each command it runs;
``tally?`` answers the commands run since the last ``tally?``, joined by
``|`` (so a test sees which commands a fault kept from running).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from linesock import Answer, Commands

#: What the raising verbs raise.
RAISED: dict[str, type[BaseException]] = {
    "interrupt": KeyboardInterrupt,
    "generatorexit": GeneratorExit,
    "baseexception": BaseException,
}


def _stream(count: int) -> Iterator[str]:
    for number in range(1, count + 1):
        yield f"s{number}"


#: ``settings``: a handler with state for the control port (tests/test_control*.py):
#: ``volts`` answers the state's volts, ``label`` its label; ``reset`` restores them.
settings = Commands(state={"volts": 0.0, "output": False, "label": "bench 1"})


@settings.command()
def volts() -> str:
    """The volts the state holds."""
    return repr(settings.state["volts"])


@settings.command()
def label() -> str:
    """The label the state holds."""
    return str(settings.state["label"])


def protocol_handler(command: str) -> Answer:
    """Answer the protocol suite's commands (see the module docstring)."""
    verb, _, rest = command.partition(" ")
    if verb == "echo":
        return rest
    if verb == "lines":
        return [f"line {number}" for number in range(1, int(rest) + 1)]
    if verb == "silent":
        return None
    if verb == "raise":
        raise RuntimeError("the test asked the handler to fail")
    if verb == "lf":
        return "two\nlines"
    if verb == "sleep":
        time.sleep(float(rest))
        return "slept"
    return _more(verb, rest, command)


def _more(verb: str, rest: str, command: str) -> Answer:
    """The verbs for long answers and for handlers that raise what is not an Exception."""
    if verb == "big":
        return "x" * int(rest)
    if verb == "stream":
        return _stream(int(rest))
    if verb == "exit":
        raise SystemExit(int(rest))
    if verb in RAISED:
        raise RAISED[verb]("the test asked the handler to raise this")
    return f"ack:{command}"


#: The commands ``tally`` ran since the last ``tally?`` (tests clear it first).
TALLY: list[str] = []


def tally(command: str) -> Answer:
    """Note each command run, then answer it as ``protocol_handler`` does; see the module."""
    if command == "tally?":
        ran = "|".join(TALLY)
        TALLY.clear()
        return ran
    TALLY.append(command)
    return protocol_handler(command)
