"""Bad input, faults and load: nothing a client does takes a server down or makes it leak.

Every test runs against each server front end.  The figures these tests
bound are recorded in docs/reliability.md.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import pytest

from frontends import RunningServer
from support import (
    WAIT,
    connect,
    converse,
    nothing_arrives,
    read_exactly,
    read_until_eof,
    wait_until,
)

Serve = Callable[..., RunningServer]
MiB = 1024 * 1024


@pytest.mark.srs("SRS-030", "SRS-076")
@pytest.mark.parametrize(
    "total",
    [
        pytest.param(64 * MiB, id="64MiB"),
        pytest.param(1024 * MiB, id="1GiB", marks=pytest.mark.slow),
    ],
)
def test_a_huge_line_without_lf_keeps_server_memory_bounded(serve: Serve, total: int) -> None:
    """Streaming a line far over the limit never grows the server by more than 3x the limit."""
    limit = 1 * MiB
    running = serve(max_line_bytes=limit)
    baseline = running.rss_bytes()
    peak = baseline
    chunk = b"A" * MiB
    with connect(running.port) as sock:
        for sent in range(total // MiB):
            sock.sendall(chunk)
            if sent % 16 == 0:
                peak = max(peak, running.rss_bytes())
        sock.sendall(b"\necho alive\n")
        assert read_exactly(sock, 14) == b"invalid\nalive\n"
        peak = max(peak, running.rss_bytes())
    growth = peak - baseline
    assert growth < 3 * limit + 32 * MiB, f"server grew by {growth / MiB:.1f} MiB"
    if (stats := running.counters()) is not None:
        assert stats.overlong_lines == 1


@pytest.mark.srs("SRS-078")
def test_a_client_that_resets_in_the_middle_of_a_long_answer_does_not_hurt(
    serve: Serve,
) -> None:
    """A reset while the server is still writing ends that session only."""
    running = serve()
    for _ in range(3):
        sock = connect(running.port)
        sock.sendall(b"lines 200000\n")
        assert read_exactly(sock, 7) == b"line 1\n"
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        sock.close()
    assert converse(running.port, b"ping\ndisconnect\n") == b"pong\n"


@pytest.mark.srs("SRS-033")
def test_a_client_trickling_a_line_it_never_ends_is_idle(serve: Serve) -> None:
    """idle_timeout counts time without a complete command: a trickle without LF is cut off."""
    running = serve(idle_timeout=0.5)
    with connect(running.port) as sock:
        sock.sendall(b"echo first\n")
        assert read_exactly(sock, 6) == b"first\n"
        started = time.monotonic()
        ended = False
        for byte in b"echo a line that never ends" * 4:  # one byte every 50 ms: at most 5.4 s
            try:
                sock.sendall(bytes([byte]))
            except OSError:  # reset: the server is gone already
                ended = True
                break
            if not nothing_arrives(sock, 0.05):
                ended = read_until_eof(sock) == b""
                break
        elapsed = time.monotonic() - started
    assert ended, "the trickling client was never disconnected"
    assert 0.45 < elapsed < 0.5 + 1.0


@pytest.mark.srs("SRS-033")
def test_a_handler_slower_than_the_idle_timeout_still_answers(serve: Serve) -> None:
    """The idle clock stops while the client waits for an answer."""
    running = serve(idle_timeout=0.2)
    assert converse(running.port, b"sleep 0.5\necho after\ndisconnect\n") == b"slept\nafter\n"


@pytest.mark.srs("SRS-032")
def test_a_silent_client_is_disconnected_after_idle_timeout(serve: Serve) -> None:
    """A client that sends nothing is closed after idle_timeout, freeing the slot."""
    running = serve(idle_timeout=0.2)
    with connect(running.port) as silent, connect(running.port) as next_client:
        next_client.sendall(b"echo next\ndisconnect\n")
        started = time.monotonic()
        assert read_until_eof(silent) == b""
        assert time.monotonic() - started < WAIT
        assert read_until_eof(next_client) == b"next\n"
    if (stats := running.counters()) is not None:
        assert stats.idle_disconnects == 1


@pytest.mark.srs("SRS-077")
def test_a_thousand_clients_connecting_and_vanishing_leak_no_descriptors(serve: Serve) -> None:
    """1,000 clients that vanish (some mid-line) leave the server's descriptor count as it was."""
    running = serve()
    assert converse(running.port, b"ping\ndisconnect\n") == b"pong\n"
    before = running.fd_count()
    for number in range(1000):
        sock = connect(running.port)
        if number % 2:
            sock.sendall(b"echo half")
        sock.close()
    assert converse(running.port, b"ping\ndisconnect\n") == b"pong\n"
    assert wait_until(lambda: running.fd_count() <= before), (
        f"{running.fd_count()} descriptors open, {before} before"
    )


@pytest.mark.srs("SRS-081")
@pytest.mark.parametrize(
    ("sessions", "commands"),
    [pytest.param(40, 500, id="short"), pytest.param(400, 5000, id="long", marks=pytest.mark.slow)],
)
def test_soak_every_answer_arrives_exactly_once_in_order(
    serve: Serve, sessions: int, commands: int
) -> None:
    """Many sessions in sequence, each pipelining commands: every answer once, in order."""
    running = serve()
    deadline = time.monotonic() + 240
    for session in range(sessions):
        assert time.monotonic() < deadline, f"soak ran out of time at session {session}"
        script = b"".join(b"echo %d.%d\n" % (session, n) for n in range(commands))
        with connect(running.port) as sock:
            half = len(script) // 2
            sock.sendall(script[:half])
            sock.sendall(script[half:] + b"disconnect\n")
            answers = read_until_eof(sock).split(b"\n")
        assert answers.pop() == b""
        assert answers == [b"%d.%d" % (session, n) for n in range(commands)]
    if (stats := running.counters()) is not None:
        assert stats.sessions == sessions
        assert stats.commands == sessions * (commands + 1)


@pytest.mark.srs("SRS-034", "SRS-035")
def test_a_client_that_never_reads_long_answers_cannot_grow_server_memory(serve: Serve) -> None:
    """Commands whose answers are 1000x their size, never read: memory stays flat, then freed."""
    running = serve(write_timeout=1.0)
    baseline = running.rss_bytes()
    hog = connect(running.port)
    hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    hog.settimeout(0.2)
    sent = 0
    deadline = time.monotonic() + WAIT
    try:
        with pytest.raises(OSError):  # the server stops reading, so our sends block
            while time.monotonic() < deadline:
                sent += hog.send(b"lines 1000\n" * 100)
        growth = running.rss_bytes() - baseline
        assert growth < 32 * MiB, f"server grew by {growth / MiB:.1f} MiB"
        assert converse(running.port, b"ping\ndisconnect\n") == b"pong\n"
    finally:
        hog.close()
    if (stats := running.counters()) is not None:
        assert stats.write_timeouts == 1
