"""Other terminators: commands ended by CR, CRLF or any of them; answers ended by CRLF or CR.

Over real sockets on every front end (the ``serve`` fixture), and the
delimited framer in memory against a plain reference split, fed in every
way a stream can be cut.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from frontends import RunningServer
from linesock import InvalidLine, ServerConfig
from linesock._delimited import DelimitedFramer, create_framer
from wire import connect, converse, read_exactly

Serve = Callable[..., RunningServer]


@pytest.mark.srs("SRS-160")
@pytest.mark.parametrize(
    ("terminator", "script", "answers"),
    [
        # "ping\nping" is one command: its answer holds LF and is dropped.
        ("cr", b"echo a\rping\nping\rping\rdisconnect\r", b"a\npong\n"),
        (
            "crlf",
            b"echo a\r\nping\rping\r\nping\nping\r\nping\r\ndisconnect\r\n",
            b"a\nack:ping\rping\npong\n",
        ),
        ("any", b"echo a\recho b\necho c\r\n\nping\rdisconnect\n", b"a\nb\nc\nack:\npong\n"),
        ("lf", b"echo a\r\necho b\r\r\nping\ndisconnect\n", b"a\nb\r\npong\n"),
    ],
    ids=["cr", "crlf", "any", "lf"],
)
def test_commands_end_at_the_chosen_terminator(
    serve: Serve, terminator: str, script: bytes, answers: bytes
) -> None:
    """Each terminator ends commands where it says, and nowhere else."""
    running = serve(terminator=terminator)
    assert converse(running.port, script) == answers


@pytest.mark.srs("SRS-160")
@pytest.mark.parametrize(
    ("answer_terminator", "answers"),
    [("crlf", b"line 1\r\nline 2\r\npong\r\n"), ("cr", b"line 1\rline 2\rpong\r")],
    ids=["crlf", "cr"],
)
def test_answers_end_with_the_chosen_terminator(
    serve: Serve, answer_terminator: str, answers: bytes
) -> None:
    """Every answer line, built-ins included, ends with the answer terminator."""
    running = serve(answer_terminator=answer_terminator)
    assert converse(running.port, b"lines 2\nping\ndisconnect\n") == answers


@pytest.mark.srs("SRS-160")
def test_a_crlf_split_between_reads_ends_one_line_with_any(serve: Serve) -> None:
    """With ``any``, CR at the end of one segment and LF at the start of the next are one end."""
    running = serve(terminator="any")
    with connect(running.port) as client:
        client.sendall(b"echo a\r")
        assert read_exactly(client, 2) == b"a\n"
        client.sendall(b"\necho b\n")
        assert read_exactly(client, 2) == b"b\n"
        client.sendall(b"ping\n")
        assert read_exactly(client, 5) == b"pong\n"


@pytest.mark.srs("SRS-160")
def test_the_line_limit_and_invalid_lines_hold_for_every_terminator(serve: Serve) -> None:
    """limit, limit+1 and undecodable lines are answered as with LF."""
    running = serve(terminator="cr", max_line_bytes=10)
    script = b"echo 12345\recho 123456\r\xff\rping\rdisconnect\r"
    assert converse(running.port, script) == b"12345\ninvalid\ninvalid\npong\n"


@pytest.mark.srs("SRS-160")
def test_an_answer_holding_cr_is_dropped_when_cr_ends_answers(serve: Serve) -> None:
    """With answers ended by CR, a CR inside one would split it: it is dropped instead."""
    running = serve(answer_terminator="cr")
    assert converse(running.port, b"echo a\rb\necho c\nping\ndisconnect\n") == b"c\rpong\r"


@pytest.mark.srs("SRS-160")
@pytest.mark.parametrize(
    "options",
    [{"terminator": "lfcr"}, {"terminator": "LF"}, {"answer_terminator": "any"}],
)
def test_an_unknown_terminator_is_refused_at_construction(options: dict[str, str]) -> None:
    """A terminator that does not exist is a ValueError that lists the ones that do."""
    with pytest.raises(ValueError, match="terminator must be"):
        ServerConfig(**options)  # type: ignore[arg-type]


# -- the delimited framer in memory ------------------------------------------


def reference_split(terminator: str, data: bytes, limit: int) -> list[object]:
    """What a whole stream frames to: a plain split, then the limit and strict UTF-8."""
    pattern = {"cr": rb"\r", "crlf": rb"\r\n", "any": rb"\r\n|\r|\n"}[terminator]
    lines: list[object] = []
    for part in re.split(pattern, data)[:-1]:
        if len(part) > limit:
            lines.append(("overlong", len(part)))
            continue
        try:
            lines.append(part.decode())
        except UnicodeDecodeError:
            lines.append(("undecodable", len(part)))
    return lines


def plain(lines: list[str | InvalidLine]) -> list[object]:
    """Lines with each invalid one reduced to its reason and size (its data checked)."""
    for line in lines:
        if isinstance(line, InvalidLine):
            assert len(line.data) == min(line.size, 128)
    return [line if isinstance(line, str) else (line.reason, line.size) for line in lines]


@pytest.mark.srs("SRS-160")
@settings(max_examples=400, deadline=None)
@given(
    terminator=st.sampled_from(["cr", "crlf", "any"]),
    pieces=st.lists(
        st.sampled_from([b"a", b"\r", b"\n", b"\xff", b"\xc3\xa9", b"bb"]), max_size=40
    ),
    cuts=st.lists(st.integers(min_value=1, max_value=7), min_size=1, max_size=40),
    limit=st.sampled_from([1, 2, 3, 5, 200]),
)
def test_the_delimited_framer_frames_like_a_split_however_the_stream_is_cut(
    terminator: str, pieces: list[bytes], cuts: list[int], limit: int
) -> None:
    """Fed in any cuts, the framer gives a whole split's lines and holds at most the limit."""
    data = b"".join(pieces)
    framer = DelimitedFramer(terminator, max_line_bytes=limit)  # type: ignore[arg-type]
    lines: list[object] = []
    position, cut = 0, 0
    while position < len(data):
        size = cuts[cut % len(cuts)]
        lines += plain(framer.feed(data[position : position + size]))
        position, cut = position + size, cut + 1
        assert framer.buffered <= max(limit, 128) + 1
    assert lines == reference_split(terminator, data, limit)


@pytest.mark.srs("SRS-160")
def test_the_default_terminator_keeps_the_tuned_lf_framer() -> None:
    """``lf`` is LineFramer, whose one-CR rule is unchanged; the others are delimited."""
    assert type(create_framer("lf")).__name__ == "LineFramer"
    assert create_framer("lf").feed(b"a\r\n") == ["a"]
    assert create_framer("crlf").feed(b"a\r\nb\n\r\n") == ["a", "b\n"]
    assert create_framer("any").feed_eof() == 0
