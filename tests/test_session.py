"""The protocol core in memory: each rule of docs/protocol.md that ``Session`` decides.

No socket, no server, no event loop: like h11's and Twisted's protocol tests,
a test builds a :class:`~linesock.Session` (through ``session_rig``), feeds
it bytes and asserts the exact bytes it returns, what the recording
observer was told, what the handler was called with, and the
:class:`~linesock.ServerStats` counters.

Every rule is fed each of the ways (the ``@every_way`` mark): whole; one
byte at a time; with trailing bytes after it in the same read (a pipelined
``ping`` and an unfinished line); and in small pieces through one reused
read buffer (``receive(buffer, size)``), whose stale bytes must never be
read.  A test states the answers once; the way only adds what the trailing
``ping`` is owed (``way.then()``).  This module holds the framing, decoding
and limit rules, the sans-IO check and the packetisation property;
answers and built-ins, access, and the flow (deferred answers, output
chunking, ``push``, the recorder) have their own ``test_session_*`` modules.
"""

from __future__ import annotations

import builtins
import io
import logging
import os
import sys
import time
from typing import Any, Final

import pytest

from linesock import InvalidLine
from session_rig import (
    PONG,
    Rig,
    Way,
    drain,
    every_way,
    feed_in_pieces,
    feed_through_buffer,
    make_rig,
)

pytestmark = pytest.mark.srs("SRS-157")


# -- rule 3: a command is the bytes up to LF, less one CR -----------------------


@pytest.mark.srs("SRS-006")
@every_way
def test_lf_ends_a_command_and_is_not_part_of_it(way: Way) -> None:
    """Each LF ends one command, which is every byte before it."""
    rig = make_rig()
    assert way.feed(rig.session, b"a\nset volt 3.3\n") == b"ack:a\nack:set volt 3.3\n" + way.then()
    assert rig.handler.calls == ["a", "set volt 3.3"]


@pytest.mark.srs("SRS-006", "SRS-007")
@every_way
@pytest.mark.parametrize(
    ("line", "command"),
    [
        (b"a\r", "a"),
        (b"a\r\r", "a\r"),
        (b"a\rb\r", "a\rb"),
        (b"\ra", "\ra"),
        (b"a\rb", "a\rb"),
    ],
)
def test_one_cr_right_before_lf_is_dropped_and_any_other_cr_kept(
    way: Way, line: bytes, command: str
) -> None:
    """Only the CR that ends a line before its LF goes; a second or inner CR is the command's."""
    rig = make_rig()
    assert way.feed(rig.session, line + b"\n") == f"ack:{command}\n".encode() + way.then()
    assert rig.handler.calls == [command]


@pytest.mark.srs("SRS-006")
@every_way
def test_nul_tab_and_other_control_bytes_are_part_of_the_command(way: Way) -> None:
    """NUL, tab, escape and DEL bytes reach the handler untouched."""
    rig = make_rig()
    command = "a\x00b\tc\x01\x1b[0m\x7f"
    assert way.feed(rig.session, command.encode() + b"\n") == f"ack:{command}\n".encode() + (
        way.then()
    )
    assert rig.handler.calls == [command]


@pytest.mark.srs("SRS-008")
@every_way
def test_an_empty_line_is_a_command(way: Way) -> None:
    """An LF alone, and a CRLF alone, each give the handler the empty string."""
    rig = make_rig()
    assert way.feed(rig.session, b"\n\r\n") == b"ack:\nack:\n" + way.then()
    assert rig.handler.calls == ["", ""]


@pytest.mark.srs("SRS-024")
@pytest.mark.parametrize("piece", [100, 1], ids=["whole", "byte_by_byte"])
@pytest.mark.parametrize(
    ("script", "answers", "lost"),
    [(b"shutdown", b"", 8), (b"ping\nshut", PONG, 4), (b"ping\r", b"", 5)],
)
def test_an_unterminated_last_line_is_never_a_command(
    piece: int, script: bytes, answers: bytes, lost: int
) -> None:
    """Bytes after the last LF are never run, and EOF reports how many were lost."""
    rig = make_rig()
    assert feed_in_pieces(rig.session, script, piece) == answers
    assert rig.session.closing is None
    assert rig.session.receive_eof() == lost
    assert rig.handler.calls == []


@pytest.mark.srs("SRS-025")
@every_way
def test_every_complete_command_is_answered_before_eof(way: Way) -> None:
    """Complete commands are answered as they arrive; EOF loses only an unfinished line."""
    rig = make_rig()
    assert way.feed(rig.session, b"echo a\nlines 2\n") == b"a\nline 1\nline 2\n" + way.then()
    assert rig.session.receive_eof() == way.lost_at_eof


@pytest.mark.srs("SRS-016")
def test_a_session_says_nothing_unprompted() -> None:
    """An empty read or a partial line gets no bytes back."""
    rig = make_rig()
    assert rig.session.receive(b"") == b""
    assert rig.session.receive(b"pin") == b""
    assert rig.handler.calls == []
    assert rig.observer.calls == []


# -- rule 4: strict UTF-8 --------------------------------------------------------


@pytest.mark.srs("SRS-009", "SRS-010")
@every_way
def test_multi_byte_characters_reach_the_handler_whole(way: Way) -> None:
    """Two-, three- and four-byte characters, however split, arrive as one character."""
    rig = make_rig()
    command = "café ✓ 😀"
    assert way.feed(rig.session, command.encode() + b"\n") == f"ack:{command}\n".encode() + (
        way.then()
    )
    assert rig.handler.calls == [command]


@pytest.mark.srs("SRS-011")
@every_way
@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"\x80abc", id="stray_continuation"),
        pytest.param(b"caf\xe9", id="latin_1"),
        pytest.param(b"\xc0\xaf", id="overlong_form"),
        pytest.param(b"\xed\xa0\x80", id="surrogate"),
        pytest.param(b"\xf4\x90\x80\x80", id="past_u10ffff"),
        pytest.param(b"\xe2\x82", id="truncated"),
    ],
)
def test_an_undecodable_line_is_answered_invalid_and_never_reaches_the_handler(
    way: Way, raw: bytes
) -> None:
    """A line that is not UTF-8 is answered ``invalid``, reported, counted; the session goes on."""
    rig = make_rig()
    script = b"echo before\n" + raw + b"\necho after\n"
    assert way.feed(rig.session, script) == b"before\ninvalid\nafter\n" + way.then()
    assert rig.handler.calls == ["echo before", "echo after"]
    assert rig.observer.calls == [("invalid_line", InvalidLine("undecodable", raw, len(raw)))]
    assert (rig.stats.invalid_lines, rig.stats.overlong_lines) == (1, 0)


@pytest.mark.srs("SRS-011", "SRS-012")
@every_way
def test_the_on_invalid_hook_answers_instead_of_invalid(way: Way) -> None:
    """``on_invalid`` gets the line (bytes less the CR, size with it); its answer goes out."""
    rig = make_rig(on_invalid=lambda line: [f"bad {line.reason} {line.size}", repr(line.data)])
    assert way.feed(rig.session, b"\xff\xfe\r\nping\n") == (
        b"bad undecodable 3\nb'\\xff\\xfe'\npong\n" + way.then()
    )
    assert rig.observer.calls == [("invalid_line", InvalidLine("undecodable", b"\xff\xfe", 3))]


def _raise_on_invalid(line: InvalidLine) -> object:
    raise LookupError(line.reason)


@pytest.mark.srs("SRS-012", "SRS-026")
@every_way
def test_an_on_invalid_hook_that_raises_answers_nothing_and_is_reported(way: Way) -> None:
    """A failing ``on_invalid`` is reported like a failing handler; the session goes on."""
    rig = make_rig(on_invalid=_raise_on_invalid)
    assert way.feed(rig.session, b"\xff\nping\n") == PONG + way.then()
    assert rig.observer.calls == [
        ("invalid_line", InvalidLine("undecodable", b"\xff", 1)),
        ("handler_failed", "<invalid line>", "LookupError('undecodable')"),
    ]
    assert rig.stats.handler_errors == 1


@pytest.mark.srs("SRS-013")
@every_way
def test_the_encoding_option_decodes_commands_and_encodes_answers(way: Way) -> None:
    """With ``encoding="latin-1"`` the byte 0xE9 is ``é`` both ways."""
    rig = make_rig(encoding="latin-1")
    assert way.feed(rig.session, b"caf\xe9\n") == b"ack:caf\xe9\n" + way.then()
    assert rig.handler.calls == ["café"]


# -- limits: max_line_bytes --------------------------------------------------------


@pytest.mark.srs("SRS-029")
@every_way
@pytest.mark.parametrize(
    ("line", "answer"),
    [
        pytest.param(b"a" * 7, b"ack:aaaaaaa\n", id="limit_minus_1"),
        pytest.param(b"a" * 8, b"ack:aaaaaaaa\n", id="limit"),
        pytest.param(b"a" * 9, b"invalid\n", id="limit_plus_1"),
        pytest.param(b"a" * 7 + b"\r", b"ack:aaaaaaa\n", id="limit_with_cr"),
        pytest.param(b"a" * 8 + b"\r", b"invalid\n", id="limit_plus_cr"),
        pytest.param("éééé".encode(), "ack:éééé\n".encode(), id="limit_in_two_byte_chars"),
        pytest.param("éééé!".encode(), b"invalid\n", id="limit_plus_1_in_two_byte_chars"),
    ],
)
def test_the_line_limit_counts_every_byte_before_lf_a_cr_included(
    way: Way, line: bytes, answer: bytes
) -> None:
    """A line of ``max_line_bytes`` bytes, CR included, is a command; one byte more is invalid."""
    rig = make_rig(max_line_bytes=8)
    assert way.feed(rig.session, line + b"\nping\n") == answer + PONG + way.then()
    overlong = answer == b"invalid\n"
    assert rig.stats.overlong_lines == int(overlong)
    assert rig.observer.calls == (
        [("invalid_line", InvalidLine("overlong", line, len(line)))] if overlong else []
    )


@pytest.mark.srs("SRS-012", "SRS-029", "SRS-030")
@every_way
def test_an_overlong_line_is_reported_as_overlong_with_its_prefix_and_size(way: Way) -> None:
    """A 291-byte line over an 8-byte limit reaches ``on_invalid`` as overlong, 128 bytes kept."""
    seen: list[InvalidLine] = []

    def on_invalid(line: InvalidLine) -> str:
        seen.append(line)
        return "too long"

    rig = make_rig(max_line_bytes=8, on_invalid=on_invalid)
    line = bytes(range(32, 127)) * 3 + b"12345\r"
    assert len(line) == 291
    assert way.feed(rig.session, line + b"\nping\n") == b"too long\npong\n" + way.then()
    expected = InvalidLine("overlong", line[:128], 291)
    assert seen == [expected]
    assert rig.observer.calls == [("invalid_line", expected)]
    assert (rig.stats.overlong_lines, rig.stats.invalid_lines) == (1, 0)
    assert rig.handler.calls == []


@pytest.mark.srs("SRS-030")
def test_an_overlong_line_streaming_in_is_skipped_and_answered_invalid_once() -> None:
    """While an overlong line streams in nothing is answered and at most 128 bytes are held."""
    rig = make_rig(max_line_bytes=8)
    assert rig.session.receive(b"x" * 100) == b""
    for _ in range(50):
        assert rig.session.receive(b"y" * 1000) == b""
        assert rig.session.framer.buffered <= 128
    assert rig.session.receive(b"z\nping\n") == b"invalid\npong\n"
    assert rig.observer.calls == [
        ("invalid_line", InvalidLine("overlong", b"x" * 100 + b"y" * 28, 50_101))
    ]
    assert rig.stats.overlong_lines == 1


@pytest.mark.srs("SRS-024", "SRS-030")
def test_eof_in_an_overlong_line_reports_every_byte_lost() -> None:
    """EOF in the middle of a skipped overlong line counts all of its bytes, kept or not."""
    rig = make_rig(max_line_bytes=8)
    assert feed_in_pieces(rig.session, b"ping\n" + b"q" * 5000, 7) == PONG
    assert rig.session.receive_eof() == 5000
    assert rig.observer.calls == []


@pytest.mark.srs("SRS-007", "SRS-029")
@pytest.mark.parametrize(
    ("head", "answer"),
    [
        pytest.param(b"a" * 8, b"ack:aaaaaaaa\n", id="limit"),
        pytest.param(b"a" * 7 + b"\r", b"ack:aaaaaaa\n", id="limit_with_cr"),
        pytest.param(b"a" * 8 + b"\r", b"invalid\n", id="limit_plus_cr"),
    ],
)
def test_an_lf_that_arrives_alone_after_a_line_at_the_limit_ends_it(
    head: bytes, answer: bytes
) -> None:
    """Twisted's case: the line fills the limit in one read and its LF comes in the next."""
    rig = make_rig(max_line_bytes=8)
    assert rig.session.receive(head) == b""
    assert rig.session.receive(b"\n") == answer
    assert rig.session.receive(b"ping\n") == PONG


@pytest.mark.srs("SRS-031")
@every_way
def test_built_in_commands_count_toward_the_line_limit(way: Way) -> None:
    """Under a 3-byte limit ``ping`` and ``disconnect`` are overlong lines, not built-ins."""
    rig = make_rig(max_line_bytes=3)
    assert way.feed(rig.session, b"ping\ndisconnect\nabc\n") == (
        b"invalid\ninvalid\nack:abc\n" + way.then(b"invalid\n")
    )
    assert rig.session.closing is None
    assert rig.stats.overlong_lines == 2 + way.trails


# -- the core is sans-IO ----------------------------------------------------------------


def _forbidden(*args: object, **kwargs: object) -> object:
    raise AssertionError("the protocol core did I/O or read the clock")


def test_the_core_opens_nothing_reads_no_clock_and_logs_nothing(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A session through every kind of event touches no file, socket, clock or logger."""
    caplog.set_level(logging.DEBUG)
    rig = make_rig(record=True, max_line_bytes=16, token="s3cret")
    script = b"auth s3cret\nping\nraise\nlf\n\xff\n" + b"a" * 40 + b"\nlater\necho q\n"
    with monkeypatch.context() as patch:
        for module, name in [
            (builtins, "open"),
            (io, "open"),
            (os, "open"),
            (time, "time"),
            (time, "time_ns"),
            (time, "monotonic"),
            (time, "monotonic_ns"),
            (time, "perf_counter"),
            (sys.modules["socket"], "socket"),
        ]:
            patch.setattr(module, name, _forbidden)
        out = rig.session.receive(script)
        out += rig.session.resume("done")
        out += rig.session.receive(b"disconnect\n")
        rig.session.receive_eof()
    assert out == b"ok\npong\ninvalid\ninvalid\ndone\nq\n"
    assert caplog.records == []


# -- packetisation never changes anything -------------------------------------------------

#: Scripts whose every observable outcome must not depend on how they are split.
SCRIPTS: Final[dict[str, tuple[bytes, dict[str, Any]]]] = {
    "framing": (b"a\r\nb\r\r\n\n\x00\t\r\nping\nPING\nunfinished", {}),
    "utf8": ("café\n✓😀\r\n".encode() + b"\xe2\x82\n\xff\r\nok\n", {}),
    "limits": (
        b"a" * 8 + b"\n" + b"b" * 7 + b"\r\n" + b"c" * 200 + b"\r\nping\n",
        {"max_line_bytes": 8},
    ),
    "answers": (b"lines 3\nsilent\nlf\nmixed\nbytes\ngenfail 1\nraise\necho\n", {}),
    "disconnect": (b"echo 1\nping\ndisconnect\necho never\n", {}),
    "token": (b"auth s3cret\r\necho in\nauth s3cret\n", {"token": "s3cret"}),
    "refused": (b"ping\necho never\n", {"token": "s3cret"}),
    "http": (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", {}),
    "long_answers": (b"big 100000\n" * 4 + b"ping\n", {}),
}


def _outcome(rig: Rig, out: bytes) -> tuple[object, ...]:
    """Everything a script's run shows, but the split of the recorded batches."""
    return (
        out,
        rig.observer.told(),
        rig.observer.answered(),
        rig.handler.calls,
        rig.session.closing,
        rig.session.receive_eof(),
        rig.stats.commands,
        rig.stats.invalid_lines,
        rig.stats.overlong_lines,
        rig.stats.handler_errors,
    )


@pytest.mark.srs("SRS-009")
@pytest.mark.parametrize("through_buffer", [False, True], ids=["reads", "read_buffer"])
@pytest.mark.parametrize("piece", range(1, 10))
@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_every_read_size_gives_the_outcome_of_the_whole_feed(
    name: str, piece: int, through_buffer: bool
) -> None:
    """Fed in reads of 1 to 9 bytes, a script gets the bytes, reports and calls it gets whole."""
    script, options = SCRIPTS[name]
    whole = make_rig(record=True, **options)
    expected = _outcome(whole, drain(whole.session, whole.session.receive(script)))
    rig = make_rig(record=True, **options)
    out = b""
    for start in range(0, len(script), piece):
        read = script[start : start + piece]
        if through_buffer:
            out += drain(rig.session, feed_through_buffer(rig.session, read, piece))
        else:
            out += drain(rig.session, rig.session.receive(read))
    assert _outcome(rig, out) == expected
