"""Real clients on the wire: the busy policy, the next client at once, no Nagle stalls.

Over real sockets on every front end (the ``serve`` fixture).  A refused
or expired client's commands never reach the handler: the handler's own
count (the ``count`` verb of tests/cli_fixtures would need a process; here
``echo`` answers show what ran) and the server's counters say so.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable

import pytest

from frontends import RunningServer
from support import WAIT, connect, converse, nothing_arrives, read_exactly, read_until_eof

Serve = Callable[..., RunningServer]


def served(port: int, word: str) -> bytes:
    """A whole session that echoes *word*: what it got back."""
    return converse(port, f"echo {word}\ndisconnect\n".encode())


# -- the busy policy ----------------------------------------------------------------


@pytest.mark.srs("SRS-180")
def test_refuse_answers_busy_and_closes_a_second_client_whose_commands_never_run(
    serve: Serve,
) -> None:
    """With busy=refuse, a client arriving while one is served reads ``busy``, then EOF."""
    running = serve(busy="refuse")
    with connect(running.port) as first:
        first.sendall(b"ping\n")
        assert read_exactly(first, 5) == b"pong\n"
        assert converse(running.port, b"echo never\nshutdown\n") == b"busy\n"
        first.sendall(b"echo still served\ndisconnect\n")
        assert read_until_eof(first) == b"still served\n"
    assert served(running.port, "next") == b"next\n"
    if (stats := running.counters()) is not None:
        assert (stats.busy_refusals, stats.sessions) == (1, 2)


@pytest.mark.srs("SRS-180")
def test_refuse_ends_busy_with_the_answer_terminator(serve: Serve) -> None:
    """The ``busy`` line ends like every answer: with CRLF under answer_terminator=crlf."""
    running = serve(busy="refuse", answer_terminator="crlf")
    with connect(running.port) as first:
        first.sendall(b"ping\n")
        assert read_exactly(first, 6) == b"pong\r\n"
        assert converse(running.port, b"ping\n") == b"busy\r\n"


@pytest.mark.srs("SRS-181")
def test_max_wait_closes_a_client_that_waited_too_long_without_running_its_commands(
    serve: Serve,
) -> None:
    """With max_wait, a waiting client is closed after it, silently; its commands never run."""
    running = serve(max_wait=0.5)
    with connect(running.port) as first:
        first.sendall(b"ping\n")
        assert read_exactly(first, 5) == b"pong\n"
        started = time.monotonic()
        assert converse(running.port, b"echo never\nshutdown\n") == b""
        waited = time.monotonic() - started
        first.sendall(b"echo first\ndisconnect\n")
        assert read_until_eof(first) == b"first\n"
    assert 0.45 < waited < 0.5 + 1.0
    assert served(running.port, "next") == b"next\n"
    if (stats := running.counters()) is not None:
        assert (stats.wait_expiries, stats.sessions) == (1, 2)


@pytest.mark.srs("SRS-181")
def test_with_max_wait_clients_served_in_time_keep_their_order(serve: Serve) -> None:
    """Waiting clients inside max_wait are served in arrival order, none of their commands lost."""
    running = serve(max_wait=5.0)
    with (
        connect(running.port) as first,
        connect(running.port) as second,
        connect(running.port) as third,
    ):
        second.sendall(b"echo second\ndisconnect\n")
        third.sendall(b"echo third\ndisconnect\n")
        first.sendall(b"echo first\ndisconnect\n")
        assert read_until_eof(first) == b"first\n"
        assert read_until_eof(second) == b"second\n"
        assert read_until_eof(third) == b"third\n"


@pytest.mark.srs("SRS-180", "SRS-181")
def test_the_default_queue_keeps_a_second_client_waiting_and_runs_its_commands(
    serve: Serve,
) -> None:
    """busy=queue: the second client gets nothing while the first is served, then its answers."""
    running = serve()
    with connect(running.port) as first, connect(running.port) as second:
        first.sendall(b"ping\n")
        assert read_exactly(first, 5) == b"pong\n"
        second.sendall(b"echo waited\ndisconnect\n")
        assert nothing_arrives(second, 0.2)
        first.sendall(b"disconnect\n")
        assert read_until_eof(second) == b"waited\n"


@pytest.mark.srs("SRS-180")
@pytest.mark.parametrize("options", [{"busy": "crowd"}, {"max_wait": 0}, {"max_wait": -1.0}])
def test_an_unknown_policy_or_an_impossible_wait_is_refused(options: dict[str, object]) -> None:
    """busy must be queue or refuse; max_wait a positive number of seconds."""
    from linesock import ServerConfig  # noqa: PLC0415

    with pytest.raises(ValueError, match=r"busy|max_wait"):
        ServerConfig(**options)  # type: ignore[arg-type]


# -- the next client at once after disconnect -------------------------------------------


@pytest.mark.srs("SRS-182")
def test_after_disconnect_the_next_client_is_served_while_the_leaver_keeps_its_socket(
    serve: Serve,
) -> None:
    """The leaver reads all 2,000 answers; the next client's ping is answered meanwhile."""
    running = serve()
    with connect(running.port) as leaving, connect(running.port) as next_client:
        leaving.sendall(b"echo a\n" * 2000 + b"disconnect\n")
        next_client.sendall(b"ping\n")
        started = time.monotonic()
        assert read_exactly(next_client, 5) == b"pong\n"
        answered_after = time.monotonic() - started
        assert read_until_eof(leaving) == b"a\n" * 2000
        next_client.sendall(b"disconnect\n")
        assert read_until_eof(next_client) == b""
    assert answered_after < 0.5  # the linger takes up to 1 s: it is not on the path


@pytest.mark.srs("SRS-182")
def test_a_leaver_that_writes_after_disconnect_still_reads_every_answer(serve: Serve) -> None:
    """What the server never reads must not reset the answers still on their way.

    The leaver's small receive buffer keeps most of the answers in the
    server's send queue while it writes more after ``disconnect``.  Were the
    connection closed with that input unread, or before it arrived, it would
    be reset, and the kernel would drop every answer still queued.
    """
    running = serve()
    expected = b"".join(b"line %d\n" % number for number in range(1, 100_001))
    with socket.socket() as leaving:
        leaving.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        leaving.settimeout(WAIT)
        leaving.connect(("127.0.0.1", running.port))
        leaving.sendall(b"lines 100000\ndisconnect\n")
        first = read_exactly(leaving, 7)  # answering: both commands were read
        leaving.sendall(b"echo never run\n" * 100)
        assert first + read_until_eof(leaving) == expected


# -- no Nagle stall ------------------------------------------------------------------------


def nagle_client(port: int) -> socket.socket:
    """A client that leaves Nagle's algorithm on, as pyvisa-py does."""
    return socket.create_connection(("127.0.0.1", port), timeout=WAIT)


@pytest.mark.srs("SRS-183")
def test_a_silent_setter_then_a_query_is_not_stalled_by_a_delayed_ack(serve: Serve) -> None:
    """50 (answerless write, query) pairs from a Nagle client: well under 50 x 40 ms."""
    running = serve()
    with nagle_client(running.port) as client:
        started = time.monotonic()
        for number in range(50):
            client.sendall(b"silent\n")
            client.sendall(f"echo {number}\n".encode())
            expected = f"{number}\n".encode()
            assert read_exactly(client, len(expected)) == expected
        took = time.monotonic() - started
        client.sendall(b"disconnect\n")
        assert read_until_eof(client) == b""
    assert took < 1.0  # a generous bound: 0.1.0 took about 2 s (41.7 ms a pair)


# -- see the conversation ----------------------------------------------------------------


@pytest.mark.srs("SRS-184")
def test_log_commands_logs_each_command_and_its_answers_but_never_a_token(
    serve: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    """log_commands: one line per command with its answers, escaped; auth lines hide the token."""
    running = serve(log_commands=True, token="s3cret")
    with caplog.at_level(logging.INFO, logger="linesock"):
        script = b"auth s3cret\nlines 2\nsilent\n\xff\nauth s3cret\nping\ndisconnect\n"
        assert converse(running.port, script) == b"ok\nline 1\nline 2\ninvalid\nok\npong\n"
        running.stop()
    text = running.output[0] if running.front_end == "cli" else caplog.text
    assert "s3cret" not in text
    assert "session 1: lines 2 -> line 1 | line 2" in text
    assert "session 1: silent -> (no answer)" in text
    assert "session 1: <undecodable line> -> invalid" in text
    assert "session 1: auth (token not shown) -> ok" in text
    assert "session 1: ping -> pong" in text
