"""Injected faults on the wire: what a raw socket client sees, on every in-process front end.

Each test runs once per front end of the ``serve`` fixture whose server is
in this process (threaded, asyncio, uvloop): they inject through
``server.faults``.  The command-line server takes faults through its
control port (tests/test_control*.py).  The ``tally`` handler shows which
commands a fault kept from running.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import handlers
from frontends import RunningServer
from linesock import GARBAGE, Faults, Server, replay
from support import connect, nothing_arrives, read_exactly, read_until_eof, wait_until

Serve = Callable[..., RunningServer]


@pytest.fixture(autouse=True)
def _fresh_tally() -> None:
    """Each test's tally starts empty (the in-process handler's list is shared)."""
    handlers.TALLY.clear()


def faults_of(running: RunningServer) -> Faults:
    """The running server's faults; the CLI front end skips (see the module)."""
    if running.faults is None:
        pytest.skip(f"the {running.front_end} server takes faults on its control port")
    return running.faults


def kick_of(running: RunningServer) -> Callable[[], bool]:
    """The running server's ``kick``; the CLI front end skips (see the module)."""
    if running.kick is None:
        pytest.skip(f"the {running.front_end} server is kicked from its control port")
    return running.kick


def ask(sock: socket.socket, command: str, answer: bytes) -> None:
    """Send *command*; require exactly *answer* back."""
    sock.sendall(command.encode() + b"\n")
    assert read_exactly(sock, len(answer)) == answer


@pytest.mark.srs("SRS-207")
def test_a_delayed_answer_comes_late_and_the_answers_behind_it_keep_their_order(
    serve: Serve,
) -> None:
    """``delay``: the command runs, its answer goes out that late, later ones wait behind it."""
    running = serve("tally")
    faults = faults_of(running)
    faults.delay(0.3, count=1, match="echo b")
    with connect(running.port) as sock:
        sent = time.monotonic()
        sock.sendall(b"echo a\necho b\necho c\nping\n")
        assert read_exactly(sock, 2) == b"a\n"
        assert time.monotonic() - sent < 0.3
        assert read_exactly(sock, 9) == b"b\nc\npong\n"
        assert time.monotonic() - sent >= 0.3
        ask(sock, "tally?", b"echo a|echo b|echo c\n")
        ask(sock, "echo b", b"b\n")  # the count is used up
    assert faults.describe() == []


@pytest.mark.srs("SRS-208")
def test_a_silenced_command_is_neither_run_nor_answered(serve: Serve) -> None:
    """``silence``: the instrument never heard the command; the next ones are answered."""
    running = serve("tally")
    faults_of(running).silence(count=1, match="echo b")
    with connect(running.port) as sock:
        sock.sendall(b"echo a\necho b\n")
        assert read_exactly(sock, 2) == b"a\n"
        assert nothing_arrives(sock, 0.1)
        ask(sock, "echo c", b"c\n")
        ask(sock, "tally?", b"echo a|echo c\n")


@pytest.mark.srs("SRS-209")
def test_a_drop_sends_the_earlier_answers_then_closes_and_the_next_client_is_served(
    serve: Serve,
) -> None:
    """``drop``: answers to earlier commands, then a clean close; the next client is served."""
    running = serve("tally")
    faults_of(running).drop(count=1, match="echo b")
    with connect(running.port) as sock:
        sock.sendall(b"echo a\necho b\necho c\n")
        assert read_until_eof(sock) == b"a\n"
    with connect(running.port) as sock:
        ask(sock, "tally?", b"echo a\n")
        ask(sock, "echo b", b"b\n")


@pytest.mark.srs("SRS-209")
def test_a_drop_with_reset_resets_the_connection(serve: Serve) -> None:
    """``drop reset``: the client's next read fails with a reset, not an end of file."""
    running = serve("tally")
    faults_of(running).drop(reset=True, count=1, match="echo b")
    with connect(running.port) as sock:
        ask(sock, "echo a", b"a\n")
        sock.sendall(b"echo b\n")
        with pytest.raises(ConnectionResetError):
            read_until_eof(sock)
    with connect(running.port) as sock:
        ask(sock, "tally?", b"echo a\n")
    if (stats := running.counters()) is not None:
        assert stats.faults == 1


@pytest.mark.srs("SRS-210")
def test_an_error_fault_answers_its_text_instead_of_running_the_command(serve: Serve) -> None:
    """``error TEXT``: the answer is TEXT; the command does not run."""
    running = serve("tally")
    faults_of(running).error('-113,"Undefined header"', count=1, match="echo b")
    with connect(running.port) as sock:
        sock.sendall(b"echo a\necho b\necho c\n")
        expected = b'a\n-113,"Undefined header"\nc\n'
        assert read_exactly(sock, len(expected)) == expected
        ask(sock, "tally?", b"echo a|echo c\n")


@pytest.mark.srs("SRS-211")
def test_a_garbage_fault_answers_one_line_of_bytes_invalid_in_utf_8(serve: Serve) -> None:
    """``garbage``: one line of invalid bytes in the answer's place; the session goes on."""
    running = serve("tally")
    faults_of(running).garbage(count=1, match="echo b")
    with connect(running.port) as sock:
        sock.sendall(b"echo a\necho b\necho c\n")
        answers = read_exactly(sock, 2 + len(GARBAGE) + 1 + 2)
        assert answers == b"a\n" + GARBAGE + b"\nc\n"
        with pytest.raises(UnicodeDecodeError):
            GARBAGE.decode("utf-8")
        ask(sock, "tally?", b"echo a|echo c\n")


@pytest.mark.srs("SRS-212")
def test_a_slow_answer_trickles_out_at_the_rate(serve: Serve) -> None:
    """``slow BPS``: the answer arrives in pieces, taking about its size over the rate."""
    running = serve("tally")
    faults_of(running).slow(400, count=1, match="big*")
    with connect(running.port) as sock:
        sent = time.monotonic()
        sock.sendall(b"big 99\nping\n")
        pieces = []
        received = 0
        while received < 105:
            piece = sock.recv(105 - received)
            assert piece, "the server closed mid-answer"
            pieces.append(piece)
            received += len(piece)
        # 100 bytes at 400 B/s: the last piece goes out about 0.24 s after the first.
        assert time.monotonic() - sent >= 0.2
        assert b"".join(pieces) == b"x" * 99 + b"\npong\n"
        assert len(pieces) > 5
        ask(sock, "big 3", b"xxx\n")


@pytest.mark.srs("SRS-213")
def test_the_oldest_matching_fault_applies_and_only_matching_commands_use_counts(
    serve: Serve,
) -> None:
    """Several faults: the oldest that matches applies; a count is used only by its matches."""
    running = serve("tally")
    faults = faults_of(running)
    faults.error("first", count=2, match="echo *")
    faults.error("second")
    with connect(running.port) as sock:
        sock.sendall(b"ping\necho a\nack\necho b\necho c\n")
        expected = b"second\nfirst\nsecond\nfirst\nsecond\n"
        assert read_exactly(sock, len(expected)) == expected
        assert faults.describe() == ["error second"]
        faults.clear()
        ask(sock, "echo d", b"d\n")


@pytest.mark.srs("SRS-213")
def test_disconnect_and_shutdown_never_take_a_fault(serve: Serve) -> None:
    """A fault matching everything leaves ``disconnect`` (and ``shutdown``) alone."""
    running = serve("tally")
    faults = faults_of(running)
    faults.error("E", count=5)
    with connect(running.port) as sock:
        sock.sendall(b"disconnect\n")
        assert read_until_eof(sock) == b""
    assert faults.describe() == ["error E count 5"]


@pytest.mark.srs("SRS-214")
def test_faults_belong_to_the_server_and_apply_to_the_next_client(serve: Serve) -> None:
    """A fault set with no client waits for the next one; ``describe`` shows the count left."""
    running = serve("tally")
    faults = faults_of(running)
    faults.error("E", count=3, match="echo x")
    with connect(running.port) as sock:
        ask(sock, "echo x", b"E\n")
        ask(sock, "disconnect", b"")
    assert faults.describe() == ["error E count 2 match 'echo x'"]
    with connect(running.port) as sock:
        ask(sock, "echo x", b"E\n")


@pytest.mark.srs("SRS-214")
def test_faults_apply_after_auth(serve: Serve) -> None:
    """With a token, ``auth`` is the server's: the first fault hits the command after it."""
    running = serve("tally", token="s3cret")
    faults_of(running).error("E", count=1)
    with connect(running.port) as sock:
        sock.sendall(b"auth s3cret\nping\nping\n")
        assert read_exactly(sock, 10) == b"ok\nE\npong\n"


@pytest.mark.srs("SRS-215")
def test_a_kicked_client_sees_a_plain_close_and_the_waiting_one_is_served(serve: Serve) -> None:
    """``kick``: the served client reads end of file, no line; the next client is served."""
    running = serve("tally")
    kick = kick_of(running)
    with connect(running.port) as first, connect(running.port) as second:
        ask(first, "ping", b"pong\n")
        second.sendall(b"echo next\n")
        assert kick()
        assert read_until_eof(first) == b""
        assert read_exactly(second, 5) == b"next\n"
    if (stats := running.counters()) is not None:
        assert wait_until(lambda: stats.sessions == 2)


@pytest.mark.srs("SRS-215")
def test_a_kick_cuts_a_delay_short(serve: Serve) -> None:
    """A kick during a long delay ends the session at once: the held answer is not sent."""
    running = serve("tally")
    faults_of(running).delay(60, count=1)
    kick = kick_of(running)
    with connect(running.port) as sock:
        sock.sendall(b"echo late\n")
        assert nothing_arrives(sock, 0.05)
        kicked = time.monotonic()
        assert kick()
        assert read_until_eof(sock) == b""
        assert time.monotonic() - kicked < 5
    with connect(running.port) as sock:
        ask(sock, "ping", b"pong\n")


@pytest.mark.srs("SRS-215")
def test_kick_with_no_client_is_false(serve: Serve) -> None:
    """With no client served there is nothing to kick."""
    running = serve("tally")
    assert kick_of(running)() is False


@pytest.mark.srs("SRS-216")
def test_the_transcript_tells_injected_faults_from_real_answers(
    serve: Serve, tmp_path: Path
) -> None:
    """Each fault added, each clear, each fault applied and each kick is a transcript record."""
    path = tmp_path / "session.jsonl"
    running = serve("tally", transcript=str(path))
    faults = faults_of(running)
    faults.error("E1", count=1, match="VOLT?")
    with connect(running.port) as sock:
        ask(sock, "VOLT?", b"E1\n")
        ask(sock, "ping", b"pong\n")
        faults.clear()
        assert kick_of(running)()
        assert read_until_eof(sock) == b""
    running.stop()
    records = [json.loads(line) for line in path.read_text().splitlines()]
    for record in records:
        del record["t"]
    assert records == [
        {
            "session": 0,
            "event": "control",
            "action": "fault",
            "fault": "error E1 count 1 match VOLT?",
        },
        {"session": 1, "event": "connect", "peer": records[1]["peer"]},
        {"session": 1, "event": "fault", "fault": "error"}
        | {"action": "error E1", "command": "VOLT?"},
        {"session": 1, "command": "VOLT?", "answers": ["E1"]},
        {"session": 1, "command": "ping", "answers": ["pong"]},
        {"session": 1, "event": "control", "action": "kick"},
        {"session": 1, "event": "end", "reason": "the session was kicked"},
    ]


@pytest.mark.srs("SRS-216")
def test_replay_skips_the_commands_a_fault_hit(tmp_path: Path) -> None:
    """A replay compares the handler's answers only: faulted commands are skipped."""
    path = tmp_path / "rig.jsonl"
    with Server(handlers.protocol_handler, transcript=str(path)) as server:
        server.faults.error("E1", count=1, match="echo b")
        server.faults.delay(0.01, count=1, match="echo c")
        with connect(server.port) as sock:
            sock.sendall(b"echo a\necho b\necho c\necho b\ndisconnect\n")
            assert read_until_eof(sock) == b"a\nE1\nc\nb\n"
    with Server(handlers.protocol_handler) as server:
        report = replay(path, port=server.port)
    assert report.matched
    assert (report.commands, report.skipped) == (3, 1)


@pytest.mark.srs("SRS-215")
def test_stopping_the_server_cuts_a_long_delay_short(serve: Serve) -> None:
    """A stop during an hour's delay ends the session within the stop grace, not the hour."""
    running = serve("tally")
    faults_of(running).delay(3600, count=1)
    with connect(running.port) as sock:
        sock.sendall(b"echo late\n")
        assert nothing_arrives(sock, 0.05)
        stopping = time.monotonic()
        running.stop()
        assert running.wait_stopped(5)
        assert time.monotonic() - stopping < 5
        assert read_until_eof(sock) == b""
