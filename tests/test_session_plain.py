"""The plain path (many short commands, no built-in) answers exactly as the general loop.

A read of many plain commands is answered with checks per slice instead of
per command (src/linesock/_session_plain.py).  These tests hold it to the
general loop: the same script, fed to a session that may take the plain
path and to one that may not, gives the same bytes, the same reports, the
same handler calls, counters, queue and closing, whatever the handler
answers (text, nothing, lists, LF, unencodable text, pushes, failures,
deferred answers, streams, SystemExit).  Nothing here opens a socket.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linesock import OUTPUT_CHUNK
from session_rig import Rig, carry_out, make_rig

pytestmark = pytest.mark.srs("SRS-218")

# Commands of the rig's Instrument, each answered its own way.
VERBS = st.sampled_from(
    [
        "echo a",
        "echo",
        "silent",
        "lines 3",
        "lines 0",
        "mixed",
        "lf",
        "raise",
        "bytes",
        "number",
        "accent",
        "push pushed",
        "gen 3",
        "genfail 2",
        "big 70000",
        "later",
    ]
)


def twins(**options: object) -> tuple[Rig, Rig]:
    """A session that may take the plain path, and one that never does, alike otherwise.

    Both are past their first line (which is checked for HTTP on its own path).
    """
    plain = make_rig(**options)  # type: ignore[arg-type]
    general = make_rig(**options)  # type: ignore[arg-type]
    general.session._plain_scan = False
    general.session._simple = False
    general.session._quick = False
    for rig in (plain, general):
        assert rig.session.receive(b"ping\n").endswith(b"\n")
    return plain, general


def play(rig: Rig, script: bytes) -> bytes:
    """Feed *script* in one read and answer everything it releases; resolve deferred answers.

    A read that leaves the session ``settled`` must have left nothing to do.
    """
    out = rig.session.receive(script)
    if rig.session.settled:
        assert (rig.pending(), rig.has_queued(), rig.closing()) == (None, False, None)
    out = carry_out(rig.session, out)
    for _ in range(100):
        if rig.pending() is None:
            return out
        rig.handler.futures[-1].set_result("resolved")
        out = carry_out(rig.session, out + rig.session.resume("resolved"))
    raise AssertionError("deferred answers never ended")


def state(rig: Rig) -> dict[str, object]:
    """Everything a session's user can observe, besides its bytes and how records are batched.

    An answer the encoding cannot carry is reported when its batch is
    encoded, and batches end at other places on the two paths: those
    reports are counted, not placed.
    """
    told = rig.observer.told()
    unencodable = [call for call in told if "cannot encode" in str(call)]
    return {
        "calls": rig.handler.calls,
        "answered": rig.observer.answered(),
        "told": [call for call in told if call not in unencodable],
        "unencodable": len(unencodable),
        "stats": dataclasses.asdict(rig.stats),
        "closing": rig.closing(),
        "queued": rig.has_queued(),
    }


@settings(max_examples=300, deadline=None)
@given(
    st.lists(VERBS, min_size=16, max_size=80),
    st.booleans(),
    st.sampled_from(["lf", "crlf"]),
    st.sampled_from(["\n", "\r\n"]),
)
def test_the_plain_path_answers_as_the_general_loop(
    commands: list[str], record: bool, answer_terminator: str, command_end: str
) -> None:
    """Any mix of answers, recorded or not, after LF or CR LF: the same bytes and reports."""
    script = "".join(f"{command}{command_end}" for command in commands).encode()
    plain, general = twins(record=record, answer_terminator=answer_terminator, encoding="ascii")
    assert play(plain, script) == play(general, script)
    assert state(plain) == state(general)


@pytest.mark.srs("SRS-233")
@settings(max_examples=100, deadline=None)
@given(st.lists(VERBS | st.sampled_from(["ping", "quit"]), min_size=1, max_size=12))
def test_reads_of_one_command_answer_as_the_general_loop(commands: list[str]) -> None:
    """A client that sends one command per read (and waits) gets what the general loop gives."""
    plain, general = twins()
    for command in commands:
        script = f"{command}\n".encode()
        assert play(plain, script) == play(general, script)
    assert state(plain) == state(general)


@pytest.mark.srs("SRS-233")
@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        VERBS | st.sampled_from(["ping", "quit", "disconnect", "shutdown"]), min_size=1, max_size=12
    )
)
def test_requests_with_the_ping_sentinel_answer_as_the_general_loop(commands: list[str]) -> None:
    """A command and ``ping`` in one read, as ``Client.request`` sends them: the general loop's."""
    plain, general = twins()
    for command in commands:
        script = f"{command}\nping\n".encode()
        assert play(plain, script) == play(general, script)
    assert state(plain) == state(general)


# One read's bytes, as a client might send them: a command (ended by LF or
# CR LF), or bytes that are not one (other CRs, undecodable, overlong,
# unfinished, two lines).
ODD_READS = st.lists(
    st.sampled_from([b"echo a\n", b"ping\n", b"echo \xc3\xa9\n", b"\xff\n", b"echo\r\n"])
    | st.sampled_from([b"ec", b"ho a\n", b"echo a\necho b\n", b"x" * 300 + b"\n", b"\n"])
    | st.sampled_from([b"disconnect\n", b"shutdown\n", b"later\n", b"push p\n"])
    | st.sampled_from([b"echo a\nping\n", b"later\nping\n", b"shutdown\nping\n", b"ping\nping\n"])
    | st.sampled_from([b"echo a\r\n", b"ping\r\n", b"echo a\r\nping\r\n", b"disconnect\r\n"])
    | st.sampled_from([b"echo a\r\r\n", b"echo a\rb\n", b"\r\n", b"echo \r\n\r\n", b"ec\r"])
    | st.binary(max_size=12),
    min_size=1,
    max_size=10,
)


@pytest.mark.srs("SRS-233")
@settings(max_examples=300, deadline=None)
@given(ODD_READS)
def test_short_reads_of_any_bytes_answer_as_the_general_loop(reads: list[bytes]) -> None:
    """The shortest path takes a read only when it is one whole command; the framer the rest."""
    plain, general = twins(max_line_bytes=256)
    for read in reads:
        assert play(plain, read) == play(general, read)
    assert state(plain) == state(general)
    assert plain.session.framer.buffered == general.session.framer.buffered


@pytest.mark.srs("SRS-233")
def test_a_read_of_one_command_is_settled_at_once() -> None:
    """A plain answer, no answer, ping, alone or with the sentinel, after LF or CR LF: settled."""
    plain, _general = twins()
    for read, answer in [
        (b"echo a\n", b"a\n"),
        (b"silent\n", b""),
        (b"ping\n", b"pong\n"),
        (b"echo a\nping\n", b"a\npong\n"),
        (b"silent\nping\n", b"pong\n"),
        (b"ping\nping\n", b"pong\npong\n"),
        # CR LF peers (nc -C, telnet, PyVISA's default): one CR before each LF goes.
        (b"echo a\r\n", b"a\n"),
        (b"echo a\r\nping\r\n", b"a\npong\n"),
        (b"echo a\r\r\n", b"a\r\n"),
        (b"ping\r\n", b"pong\n"),
    ]:
        assert plain.session.receive(read) == answer
        assert plain.session.settled
    assert plain.session.receive(b"later\nping\n") == b""
    assert not plain.session.settled
    assert plain.session.receive(b"later\n") == b""
    assert not plain.session.settled


@given(st.lists(VERBS, min_size=16, max_size=40), st.integers(0, 39))
def test_a_handler_exit_in_a_plain_read_stops_it_as_the_general_loop(
    commands: list[str], at: int
) -> None:
    """``SystemExit`` mid-read: the answers before it, nothing after, the same counts."""
    commands.insert(min(at, len(commands)), "quit")
    script = "".join(f"{command}\n" for command in commands).encode()
    plain, general = twins()
    assert play(plain, script) == play(general, script)
    assert state(plain) == state(general)


def test_a_plain_read_takes_the_plain_path() -> None:
    """Many short commands with one-line answers: the slice loop, no per-command checks."""
    plain, _general = twins(record=True)
    script = b"echo a\n" * 100
    assert plain.session._is_plain(script, len(script), plain.session.framer.feed(script))
    assert plain.session.receive(script) == b"a\n" * 100
    assert plain.observer.calls[1] == ("commands", ["echo a"] * 32, ["a"] * 32, list(range(32)))


@pytest.mark.parametrize(
    "script",
    [
        b"echo a\n" * 20 + b"ping\n",
        b"ping\n" + b"echo a\n" * 20,
        b"echo a\n" * 20 + b"disconnect\n",
        b"echo shutdown\n" * 20,
        (b"echo " + b"x" * 100 + b"\n") * 20,
    ],
    ids=["ping", "ping-first", "disconnect", "shutdown-inside", "long"],
)
def test_a_read_with_a_built_in_or_few_or_long_lines_takes_the_general_loop(
    script: bytes,
) -> None:
    """A built-in anywhere in the read's bytes, or long lines: no plain path."""
    plain, _general = twins()
    lines = plain.session.framer.feed(script)
    assert not plain.session._is_plain(script, len(script), lines)


def test_the_plain_path_keeps_the_output_bound() -> None:
    """Long answers: a read stops once its answers pass OUTPUT_CHUNK, by one slice at most."""
    plain, general = twins()
    script = b"big 20000\n" * 200
    first = plain.session.receive(script)
    assert OUTPUT_CHUNK < len(first) <= OUTPUT_CHUNK + 32 * 20_001
    assert plain.has_queued()
    assert carry_out(plain.session, first) == play(general, script)
