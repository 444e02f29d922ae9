"""The sans-IO LineFramer: bytes in, decoded lines out, with a bounded buffer."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linesock import InvalidLine, LineFramer


def feed_in_pieces(framer: LineFramer, data: bytes, cuts: list[int]) -> list[str | InvalidLine]:
    """Feed *data* split at the given cut points; return every line produced."""
    lines: list[str | InvalidLine] = []
    start = 0
    for cut in [*sorted(set(cuts)), len(data)]:
        lines += framer.feed(data[start:cut])
        start = cut
    return lines


@pytest.mark.srs("SRS-006")
def test_complete_lines_come_out_decoded_without_their_lf() -> None:
    """Each LF ends one command; the command is the text before it."""
    assert LineFramer().feed(b"ping\nset volt 3.3\n") == ["ping", "set volt 3.3"]


@pytest.mark.srs("SRS-009")
def test_an_unterminated_tail_is_kept_for_the_next_feed() -> None:
    """Bytes after the last LF wait for the rest of their line."""
    framer = LineFramer()
    assert framer.feed(b"pi") == []
    assert framer.buffered == 2
    assert framer.feed(b"ng\nse") == ["ping"]
    assert framer.feed(b"t\n") == ["set"]
    assert framer.buffered == 0


@pytest.mark.srs("SRS-006", "SRS-007", "SRS-008")
@pytest.mark.parametrize(
    ("data", "lines"),
    [
        (b"a\r\n", ["a"]),
        (b"a\r\r\n", ["a\r"]),
        (b"a\rb\n", ["a\rb"]),
        (b"\r\n", [""]),
        (b"\r", []),
        (b"\n\n", ["", ""]),
    ],
)
def test_exactly_one_cr_before_lf_is_dropped(data: bytes, lines: list[str]) -> None:
    """The CR of CRLF goes; any other CR is part of the command."""
    assert LineFramer().feed(data) == lines


@pytest.mark.srs("SRS-007")
def test_a_cr_and_lf_split_across_feeds_still_drop_the_cr() -> None:
    """CR at the end of one read and LF at the start of the next make one CRLF."""
    framer = LineFramer()
    assert framer.feed(b"cmd\r") == []
    assert framer.feed(b"\n") == ["cmd"]


@pytest.mark.srs("SRS-009")
def test_a_character_split_across_feeds_arrives_whole() -> None:
    """A multi-byte UTF-8 character cut between reads is joined before decoding."""
    framer = LineFramer()
    assert framer.feed(b"caf\xc3") == []
    assert framer.feed(b"\xa9\n") == ["café"]


@pytest.mark.srs("SRS-011")
def test_an_undecodable_line_becomes_an_invalid_line_with_its_bytes() -> None:
    """Invalid UTF-8 yields InvalidLine('undecodable') and the neighbours decode normally."""
    assert LineFramer().feed(b"ok\n\xff\xfe\r\nfine\n") == [
        "ok",
        InvalidLine("undecodable", b"\xff\xfe", 3),
        "fine",
    ]


@pytest.mark.srs("SRS-029")
@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"x" * 7 + b"\n", ["x" * 7]),
        (b"x" * 8 + b"\n", ["x" * 8]),
        (b"x" * 9 + b"\n", [InvalidLine("overlong", b"x" * 9, 9)]),
        (b"x" * 8 + b"\r\n", [InvalidLine("overlong", b"x" * 8 + b"\r", 9)]),
        (b"x" * 7 + b"\r\n", ["x" * 7]),
    ],
    ids=["limit-1", "limit", "limit+1", "limit+cr", "limit-1+cr"],
)
def test_the_limit_counts_every_byte_before_lf_cr_included(
    data: bytes, expected: list[str | InvalidLine]
) -> None:
    """max_line_bytes is the longest legal line, counting a CR; one more byte is overlong."""
    framer = LineFramer(max_line_bytes=8)
    assert framer.feed(data) == expected
    fed_bytewise = feed_in_pieces(LineFramer(max_line_bytes=8), data, list(range(len(data))))
    assert fed_bytewise == expected


@pytest.mark.srs("SRS-029")
def test_the_limit_holds_for_a_multibyte_line_in_a_large_batch() -> None:
    """Byte length, not character count, decides: 3 'é' are 6 bytes."""
    framer = LineFramer(max_line_bytes=5)
    batch = "éé\n".encode() + "ééé\n".encode() + b"abcde\n" * 3
    assert framer.feed(batch) == [
        "éé",
        InvalidLine("overlong", "ééé".encode(), 6),
        "abcde",
        "abcde",
        "abcde",
    ]


@pytest.mark.srs("SRS-030")
def test_an_overlong_line_is_discarded_while_it_streams_in() -> None:
    """The framer never holds more than the limit of a line that has no LF yet."""
    framer = LineFramer(max_line_bytes=1000)
    for _ in range(1000):
        assert framer.feed(b"z" * 4096) == []
        assert framer.buffered <= 1000
    lines = framer.feed(b"z\nnext\n")
    assert lines == [InvalidLine("overlong", b"z" * 128, 4096 * 1000 + 1), "next"]
    assert framer.buffered == 0


@pytest.mark.srs("SRS-024")
def test_feed_eof_drops_the_unfinished_line_and_says_how_much() -> None:
    """At EOF an unterminated tail is never a command."""
    framer = LineFramer()
    framer.feed(b"ping\nshutdown")
    assert framer.feed_eof() == 8
    assert framer.feed(b"ping\n") == ["ping"]
    assert framer.feed_eof() == 0


@pytest.mark.srs("SRS-024")
def test_feed_eof_counts_a_discarded_overlong_tail() -> None:
    """The bytes of an overlong line cut by EOF count as lost, and the framer resets."""
    framer = LineFramer(max_line_bytes=4)
    framer.feed(b"123456789")
    assert framer.feed_eof() == 9
    assert framer.feed(b"ok\n") == ["ok"]


@pytest.mark.srs("SRS-013")
@pytest.mark.parametrize("encoding", ["latin-1", "ascii", "cp1252"])
def test_other_ascii_compatible_encodings_are_honoured(encoding: str) -> None:
    """The encoding option decides how lines are decoded."""
    framer = LineFramer(encoding=encoding)
    assert framer.feed("abc\n".encode(encoding)) == ["abc"]
    if encoding == "ascii":
        assert framer.feed(b"\xe9\n") == [InvalidLine("undecodable", b"\xe9", 1)]
    else:
        assert framer.feed(b"\xe9\n") == ["é"]


@pytest.mark.srs("SRS-013")
def test_an_encoding_that_is_not_ascii_compatible_is_refused() -> None:
    """UTF-16 does not encode LF as 0x0A, so framing on LF cannot work."""
    with pytest.raises(ValueError, match="not ASCII-compatible"):
        LineFramer(encoding="utf-16")


def test_a_limit_below_one_is_refused() -> None:
    """A line limit must allow at least one byte."""
    with pytest.raises(ValueError, match="at least 1"):
        LineFramer(max_line_bytes=0)


@pytest.mark.srs("SRS-085")
def test_feeding_a_long_line_one_byte_at_a_time_stays_linear() -> None:
    """A 200 KiB line fed bytewise completes quickly (no quadratic re-copying)."""
    framer = LineFramer()
    piece = b"w"
    for _ in range(200 * 1024):
        framer.feed(piece)
    assert framer.feed(b"\n") == ["w" * 200 * 1024]


# -- properties ------------------------------------------------------------------

# Streams rich in the bytes that matter: LF, CR, UTF-8 lead and continuation bytes.
stream_bytes = st.lists(
    st.one_of(
        st.sampled_from([b"\n", b"\r", b"\r\n", b"\xc3", b"\xa9", b"\xe2\x82\xac", b"\xff"]),
        st.binary(max_size=12),
    ),
    max_size=40,
).map(b"".join)


def reference_lines(data: bytes, limit: int) -> list[str | InvalidLine]:
    """The rules of docs/protocol.md written as plainly as possible."""
    result: list[str | InvalidLine] = []
    *complete, _tail = data.split(b"\n")
    for raw in complete:
        if len(raw) > limit:
            result.append(InvalidLine("overlong", raw[:128], len(raw)))
            continue
        body = raw[:-1] if raw.endswith(b"\r") else raw
        try:
            result.append(body.decode("utf-8"))
        except UnicodeDecodeError:
            result.append(InvalidLine("undecodable", body, len(raw)))
    return result


@pytest.mark.srs("SRS-009", "SRS-082")
@settings(max_examples=400, deadline=None)
@given(
    data=stream_bytes,
    cuts=st.lists(st.integers(min_value=0, max_value=600)),
    limit=st.integers(1, 20),
)
def test_any_split_of_a_stream_gives_the_lines_of_the_whole(
    data: bytes, cuts: list[int], limit: int
) -> None:
    """Feeding a stream whole or in any pieces gives exactly the rule-book's lines."""
    expected = reference_lines(data, limit)
    assert LineFramer(max_line_bytes=limit).feed(data) == expected
    cuts = [cut for cut in cuts if cut <= len(data)]
    assert feed_in_pieces(LineFramer(max_line_bytes=limit), data, cuts) == expected


@pytest.mark.srs("SRS-030", "SRS-083")
@settings(max_examples=200, deadline=None)
@given(data=stream_bytes, limit=st.integers(1, 20))
def test_the_buffer_never_exceeds_the_limit(data: bytes, limit: int) -> None:
    """Whatever arrives, the framer holds at most max_line_bytes of an unfinished line."""
    framer = LineFramer(max_line_bytes=limit)
    for index in range(len(data)):
        framer.feed(data[index : index + 1])
        assert framer.buffered <= max(limit, 128)


@pytest.mark.srs("SRS-006")
def test_whole_read_limit_is_zero_exactly_while_a_line_is_unfinished() -> None:
    """The limit a session trusts to take a read itself: 0 from an unfinished line to its LF."""
    framer = LineFramer(max_line_bytes=100)
    assert framer.whole_read_limit == 101
    assert framer.feed(b"ec") == []
    assert framer.whole_read_limit == 0
    assert framer.feed(b"ho\nse") == ["echo"]
    assert framer.whole_read_limit == 0
    assert framer.feed(b"t\n") == ["set"]
    assert framer.whole_read_limit == 101
    assert framer.feed(b"x" * 150) == []
    assert framer.whole_read_limit == 0
    framer.feed_eof()
    assert framer.whole_read_limit == 101
    assert LineFramer(max_line_bytes=10_000).whole_read_limit == 4096
