"""LineFramer.feed_buffer and the long-line path frame exactly as feed() always did.

The threaded server decodes straight out of its reused read buffer
(``feed_buffer``), joins only the line an earlier read began, and decodes
long lines one by one; each of these must give the same lines, invalid
ones included, as feeding the same bytes to ``feed``, however they are cut.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import linesock._framing as framing_module
from linesock import InvalidLine, LineFramer

PIECES = [
    b"ping",
    b"read x",
    b"caf\xc3\xa9",
    b"\xff\xfe",
    b"a\r",
    b"\r",
    b"",
    b"\xe2\x9c",
    b"\x93",
    b"y" * 5000,
    b"z\r" * 3000,
    b"\xc3" + b"q" * 4500,
]

streams = st.lists(st.tuples(st.sampled_from(PIECES), st.booleans()), min_size=1, max_size=25).map(
    lambda parts: b"".join(piece + (b"\n" if ends else b"") for piece, ends in parts)
)
cut_sizes = st.lists(st.sampled_from([1, 2, 3, 7, 50, 1000, 4097, 9000]), min_size=1)


def frame_both(
    data: bytes, sizes: list[int], max_line_bytes: int, encoding: str
) -> tuple[list[str | InvalidLine], list[str | InvalidLine]]:
    """Frame *data* cut into reads of *sizes* (cycled) with feed and with feed_buffer."""
    by_feed = LineFramer(max_line_bytes=max_line_bytes, encoding=encoding)
    by_buffer = LineFramer(max_line_bytes=max_line_bytes, encoding=encoding)
    buffer = bytearray(10_000)
    fed: list[str | InvalidLine] = []
    buffered: list[str | InvalidLine] = []
    start = 0
    index = 0
    while start < len(data):
        read = data[start : start + sizes[index % len(sizes)]]
        start += len(read)
        index += 1
        fed += by_feed.feed(read)
        buffer[: len(read)] = read
        buffer[len(read) : len(read) + 3] = b"\n\r\n"  # stale bytes past the read
        buffered += by_buffer.feed_buffer(buffer, len(read))
        assert by_feed.had_invalid == by_buffer.had_invalid
    assert by_feed.feed_eof() == by_buffer.feed_eof()
    return fed, buffered


def reference_lines(data: bytes, max_line_bytes: int, encoding: str) -> list[str | InvalidLine]:
    """The lines of *data* by the protocol's rules, computed line by line."""
    lines: list[str | InvalidLine] = []
    for raw in data.split(b"\n")[:-1]:
        if len(raw) > max_line_bytes:
            lines.append(InvalidLine("overlong", raw[:128], len(raw)))
            continue
        body = raw[:-1] if raw.endswith(b"\r") else raw
        try:
            lines.append(body.decode(encoding))
        except UnicodeDecodeError:
            lines.append(InvalidLine("undecodable", body, len(raw)))
    return lines


@pytest.mark.srs("SRS-006", "SRS-007", "SRS-008", "SRS-009")
@settings(max_examples=300, deadline=None)
@given(
    data=streams,
    sizes=cut_sizes,
    max_line_bytes=st.sampled_from([1, 3, 8, 50, 4200, 6000, 1 << 20]),
    encoding=st.sampled_from(["utf-8", "latin-1", "cp1252"]),
)
def test_feed_buffer_frames_like_feed_and_like_the_rules(
    data: bytes, sizes: list[int], max_line_bytes: int, encoding: str
) -> None:
    """feed_buffer and feed give the rules' lines for any cut, limit and encoding."""
    fed, buffered = frame_both(data, sizes, max_line_bytes, encoding)
    assert fed == buffered == reference_lines(data, max_line_bytes, encoding)


@pytest.mark.srs("SRS-006", "SRS-007", "SRS-008", "SRS-009")
@pytest.mark.parametrize(("join_limit", "long_line"), [(0, 0), (5, 3), (100, 4096)])
@settings(max_examples=100, deadline=None)
@given(data=streams, sizes=cut_sizes, max_line_bytes=st.sampled_from([3, 50, 6000, 1 << 20]))
def test_every_decoding_path_gives_the_same_lines(
    join_limit: int, long_line: int, data: bytes, sizes: list[int], max_line_bytes: int
) -> None:
    """Joining whole reads or only the first line, batch or line-by-line decoding: same lines."""
    saved = framing_module._JOIN_LIMIT, framing_module._LONG_LINE
    framing_module._JOIN_LIMIT, framing_module._LONG_LINE = join_limit, long_line  # type: ignore[misc]
    try:
        fed, buffered = frame_both(data, sizes, max_line_bytes, "utf-8")
    finally:
        framing_module._JOIN_LIMIT, framing_module._LONG_LINE = saved  # type: ignore[misc]
    assert fed == buffered == reference_lines(data, max_line_bytes, "utf-8")
