"""The protocol core in memory: answers, built-in commands, a raising handler, pipelining, stats.

docs/protocol.md rules 5, 6, 8 and 9, fed to a ``Session`` every way (see
``session_rig``): the exact bytes returned, what the observer was told, what
the handler was called with, and the counters.
"""

from __future__ import annotations

from typing import Any

import pytest

from linesock import Closing, ServerStats
from session_rig import PONG, Way, every_way, feed_in_pieces, make_rig

pytestmark = pytest.mark.srs("SRS-157")


# -- rule 5: answers -------------------------------------------------------------


@pytest.mark.srs("SRS-014")
@every_way
def test_an_answer_is_a_str_an_iterable_of_str_or_none(way: Way) -> None:
    """A str is one line, a list one line per item (none for an empty one), None no line."""
    rig = make_rig()
    script = b"echo one\nlines 3\nlines 0\nsilent\necho\ngen 2\n"
    assert way.feed(rig.session, script) == (
        b"one\nline 1\nline 2\nline 3\n\ng1\ng2\n" + way.then()
    )
    assert rig.observer.calls == []


@pytest.mark.srs("SRS-017")
@every_way
def test_an_answer_line_holding_lf_is_dropped_and_reported_never_split(way: Way) -> None:
    """A line holding LF goes nowhere; the drop is reported and counted."""
    rig = make_rig()
    assert way.feed(rig.session, b"lf\nping\n") == PONG + way.then()
    assert rig.observer.calls == [
        ("bad_answer", "lf", "answered with a line holding LF: two\\nlines")
    ]
    assert rig.stats.handler_errors == 1


@pytest.mark.srs("SRS-014", "SRS-017")
@every_way
def test_unsendable_items_of_an_answer_are_dropped_and_the_rest_kept(way: Way) -> None:
    """In a list answer, a non-str item and an LF line are dropped, each reported, in order."""
    rig = make_rig()
    assert way.feed(rig.session, b"mixed\n") == b"a\nd\n" + way.then()
    assert rig.observer.calls == [
        ("bad_answer", "mixed", "answered with int, not str"),
        ("bad_answer", "mixed", "answered with a line holding LF: b\\nc"),
        ("bad_answer", "mixed", "answered with NoneType, not str"),
    ]
    assert rig.stats.handler_errors == 3


@pytest.mark.srs("SRS-017")
@every_way
@pytest.mark.parametrize("command", ["bytes", "bytearray", "number"])
def test_an_answer_that_is_not_text_is_refused_whole(way: Way, command: str) -> None:
    """Bytes are not an iterable of lines, nor is an int: no line goes out, the drop is reported."""
    rig = make_rig()
    assert way.feed(rig.session, f"{command}\nping\n".encode()) == PONG + way.then()
    kind = {"bytes": "bytes", "bytearray": "bytearray", "number": "int"}[command]
    assert rig.observer.calls == [("bad_answer", command, f"returned {kind}, not str")]
    assert rig.stats.handler_errors == 1


@pytest.mark.srs("SRS-014", "SRS-026")
@every_way
def test_a_generator_answer_that_raises_midway_keeps_the_lines_before(way: Way) -> None:
    """The lines a generator yielded before it raised go out; the error is reported."""
    rig = make_rig()
    assert way.feed(rig.session, b"genfail 2\nping\n") == b"g1\ng2\npong\n" + way.then()
    assert rig.observer.calls == [("handler_failed", "genfail 2", "ValueError('midway')")]
    assert rig.stats.handler_errors == 1


@pytest.mark.srs("SRS-013", "SRS-017")
@every_way
def test_an_answer_the_encoding_cannot_carry_is_dropped_and_reported(way: Way) -> None:
    """Under ``encoding="ascii"`` an ``é`` answer is dropped; its neighbours go out."""
    rig = make_rig(encoding="ascii")
    assert way.feed(rig.session, b"echo a\naccent\necho b\n") == b"a\nb\n" + way.then()
    assert rig.observer.calls == [("bad_answer", "", "answered with text ascii cannot encode")]
    assert rig.stats.handler_errors == 1


# -- rule 6: built-in commands ------------------------------------------------------


@pytest.mark.srs("SRS-018")
@every_way
def test_ping_is_answered_pong_without_the_handler(way: Way) -> None:
    """``ping`` and ``ping`` with CRLF are answered ``pong``; the handler is never called."""
    rig = make_rig()
    assert way.feed(rig.session, b"ping\nping\r\n") == PONG * 2 + way.then()
    assert rig.handler.calls == []


@pytest.mark.srs("SRS-019")
@every_way
def test_built_ins_match_only_the_exact_case_sensitive_line(way: Way) -> None:
    """``PING``, ``ping `` or ``Disconnect`` are the handler's commands, not built-ins."""
    rig = make_rig()
    commands = ["PING", "ping ", " ping", "Disconnect", "SHUTDOWN", "shutdown now", "ping\r"]
    script = b"".join(command.encode() + b"\r\n" for command in commands)
    assert way.feed(rig.session, script) == (
        b"".join(f"ack:{command}\n".encode() for command in commands) + way.then()
    )
    assert rig.handler.calls == commands
    assert rig.session.closing is None


@pytest.mark.srs("SRS-020", "SRS-021", "SRS-022", "SRS-073")
@every_way
@pytest.mark.parametrize(
    ("command", "remote_shutdown", "closing"),
    [
        ("disconnect", True, Closing.DISCONNECT),
        ("shutdown", True, Closing.SHUTDOWN),
        ("shutdown", False, Closing.DISCONNECT),
        ("disconnect", False, Closing.DISCONNECT),
    ],
)
def test_a_closing_command_sends_earlier_answers_and_later_lines_never_run(
    way: Way, command: str, remote_shutdown: bool, closing: Closing
) -> None:
    """Earlier answers go out; lines after the closing one, even in its read, never run."""
    rig = make_rig(allow_remote_shutdown=remote_shutdown)
    script = f"echo a\nping\n{command}\necho never\n\xff\nraise\n".encode()
    assert way.feed(rig.session, script) == b"a\npong\n"
    assert rig.session.closing is closing
    assert rig.handler.calls == ["echo a"]
    assert rig.observer.calls == []


@pytest.mark.srs("SRS-022")
@pytest.mark.parametrize("closing_line", [b"disconnect\n", b"shutdown\n", b"auth bad\n"])
def test_a_closed_session_answers_nothing_more(closing_line: bytes) -> None:
    """Once a session is closing, every later read gets b"" and nothing runs or is queued."""
    rig = make_rig(token="s3cret") if closing_line == b"auth bad\n" else make_rig()
    rig.session.receive(closing_line)
    assert rig.session.closing is not None
    for data in (b"ping\n", b"echo x\n", b"\xff\n", b"later\n", b"x" * 10 + b"\n"):
        assert rig.session.receive(data) == b""
    assert not rig.session.has_queued
    assert rig.session.answer_queued() == b""
    assert rig.session.pending is None
    assert rig.handler.calls == []
    assert [call[0] for call in rig.observer.calls] in ([], ["refused"])


# -- rule 8: a handler that raises ---------------------------------------------------


@pytest.mark.srs("SRS-026")
@every_way
def test_a_raising_handler_answers_nothing_and_the_session_goes_on(way: Way) -> None:
    """The command that raised gets no line; the error is reported; ``ping`` around it works."""
    rig = make_rig()
    script = b"ping\nraise\nping\necho after\n"
    assert way.feed(rig.session, script) == b"pong\npong\nafter\n" + way.then()
    assert rig.observer.calls == [("handler_failed", "raise", "RuntimeError('boom: raise')")]
    assert rig.handler.calls == ["raise", "echo after"]
    assert rig.stats.handler_errors == 1
    assert rig.session.closing is None


# -- rule 9: pipelining --------------------------------------------------------------


@pytest.mark.srs("SRS-015", "SRS-027")
@every_way
def test_pipelined_commands_are_each_answered_once_in_order_before_disconnect(
    way: Way,
) -> None:
    """A hundred commands of one write, then ``disconnect``: a hundred answers, in order."""
    rig = make_rig()
    script = b"".join(b"echo %d\n" % number for number in range(100)) + b"disconnect\n"
    assert way.feed(rig.session, script) == b"".join(b"%d\n" % number for number in range(100))
    assert rig.session.closing is Closing.DISCONNECT
    assert len(rig.handler.calls) == 100


@pytest.mark.srs("SRS-086")
@every_way
def test_every_single_byte_value_alone_on_a_line_gets_exactly_one_answer(way: Way) -> None:
    """ASCII bytes are commands (a lone CR is the empty one); bytes 0x80-0xFF are invalid."""
    rig = make_rig()
    values = [value for value in range(256) if value != 0x0A]
    script = b"".join(bytes([value]) + b"\n" for value in values)

    def answer(value: int) -> bytes:
        if value >= 0x80:
            return b"invalid\n"
        return b"ack:\n" if value == 0x0D else b"ack:" + bytes([value]) + b"\n"

    assert way.feed(rig.session, script) == b"".join(map(answer, values)) + way.then()
    assert rig.stats.invalid_lines == 128


@pytest.mark.srs("SRS-086")
@every_way
def test_thousands_of_empty_lines_are_thousands_of_commands(way: Way) -> None:
    """Five thousand LFs give five thousand empty commands and answers."""
    rig = make_rig()
    assert way.feed(rig.session, b"\n" * 5000) == b"ack:\n" * 5000 + way.then()
    assert rig.handler.calls == [""] * 5000


# -- stats -----------------------------------------------------------------------------


@pytest.mark.srs("SRS-045")
@every_way
def test_the_stats_count_commands_invalid_and_overlong_lines_exactly(way: Way) -> None:
    """Every complete line is a command; undecodable, overlong and failed ones are counted apart."""
    stats = ServerStats(sessions=3, commands=10)
    rig = make_rig(max_line_bytes=8, stats=stats)
    script = b"ping\n\xff\n" + b"a" * 9 + b"\nraise\nlf\n\n"
    way.feed(rig.session, script)
    assert rig.stats is stats
    assert stats == ServerStats(
        sessions=3,
        commands=10 + 6 + way.trails,
        invalid_lines=1,
        overlong_lines=1,
        handler_errors=2,
    )


@pytest.mark.srs("SRS-009", "SRS-045")
@pytest.mark.parametrize("piece", [1, 4])
@pytest.mark.parametrize(
    ("script", "options"),
    [
        (b"ping\ndisconnect\nping\necho never\n", {}),
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", {}),
        (b"auth wrong\nping\nping\n", {"token": "s3cret"}),
    ],
    ids=["disconnect", "http", "token"],
)
def test_what_a_closed_session_counts_does_not_depend_on_how_the_bytes_were_split(
    script: bytes, options: dict[str, Any], piece: int
) -> None:
    """Fed whole or in small reads, a session counts the same commands and lost bytes."""
    whole = make_rig(**options)
    whole.session.receive(script)
    split = make_rig(**options)
    feed_in_pieces(split.session, script, piece)
    assert (split.stats.commands, split.session.receive_eof()) == (
        whole.stats.commands,
        whole.session.receive_eof(),
    )
