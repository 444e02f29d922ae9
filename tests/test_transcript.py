"""Session transcripts: every session's record, as JSON lines, on every front end."""

from __future__ import annotations

import concurrent.futures
import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from frontends import RunningServer
from handlers import protocol_handler
from linesock import AnswerDifference, Server, Transcript, read_transcript, replay
from wire import WAIT, connect, converse, read_until_eof

Serve = Callable[..., RunningServer]


def records_without_time(path: Path) -> list[dict[str, object]]:
    """The transcript's records with their timestamps checked and removed."""
    records = list(read_transcript(path))
    now = time.time()
    for record in records:
        stamp = record.pop("t")
        assert isinstance(stamp, float)
        assert now - 600 < stamp <= now
    return records


def test_a_session_is_recorded_command_by_command(serve: Serve, tmp_path: Path) -> None:
    """Connect, each command with its answers, invalid lines, built-ins and the end."""
    path = tmp_path / "rig.jsonl"
    running = serve(transcript=str(path))
    script = b"echo caf\xc3\xa9\nlines 2\nsilent\n\xff\xfe\nping\ndisconnect\n"
    assert converse(running.port, script) == b"caf\xc3\xa9\nline 1\nline 2\ninvalid\npong\n"
    running.stop()
    records = records_without_time(path)
    connect_record = records.pop(0)
    assert connect_record["event"] == "connect"
    assert str(connect_record["peer"]).startswith("127.0.0.1:")
    assert records == [
        {"session": 1, "command": "echo café", "answers": ["café"]},
        {"session": 1, "command": "lines 2", "answers": ["line 1", "line 2"]},
        {"session": 1, "command": "silent", "answers": []},
        {
            "session": 1,
            "invalid": "undecodable",
            "size": 2,
            "data": "\\xff\\xfe",
            "answers": ["invalid"],
        },
        {"session": 1, "command": "ping", "answers": ["pong"]},
        {"session": 1, "command": "disconnect", "answers": []},
        {"session": 1, "event": "end", "reason": "the client sent disconnect"},
    ]


def test_sessions_are_numbered_and_a_vanished_client_is_recorded(
    serve: Serve, tmp_path: Path
) -> None:
    """Each session has its own number; an unfinished line is not a command."""
    path = tmp_path / "rig.jsonl"
    running = serve(transcript=str(path))
    with connect(running.port) as sock:
        sock.sendall(b"echo one\nshutdown")
        sock.shutdown(1)
        assert read_until_eof(sock) == b"one\n"
    assert converse(running.port, b"echo two\ndisconnect\n") == b"two\n"
    running.stop()
    records = records_without_time(path)
    commands = [(r["session"], r["command"]) for r in records if "command" in r]
    assert commands == [(1, "echo one"), (2, "echo two"), (2, "disconnect")]
    assert [(r["session"], r["event"]) for r in records if "event" in r] == [
        (1, "connect"),
        (1, "end"),
        (2, "connect"),
        (2, "end"),
    ]


def test_auth_is_recorded_without_the_token(serve: Serve, tmp_path: Path) -> None:
    """A good auth is an event, a refusal another; the token never reaches the file."""
    path = tmp_path / "rig.jsonl"
    running = serve(transcript=str(path), token="s3cret")
    assert converse(running.port, b"auth s3cret\necho in\ndisconnect\n") == b"ok\nin\n"
    assert converse(running.port, b"auth wrong\n") == b"unauthorized\n"
    assert converse(running.port, b"GET / HTTP/1.1\r\n") == b""
    running.stop()
    text = path.read_text()
    assert "s3cret" not in text
    assert "wrong" not in text
    records = records_without_time(path)
    events = [(r["event"], r.get("result", r.get("reason"))) for r in records if "event" in r]
    assert ("auth", "ok") in events
    assert ("refused", "unauthorized") in events
    assert ("refused", "http") in events


def test_pipelined_batches_record_every_command_once_in_order(serve: Serve, tmp_path: Path) -> None:
    """Thousands of pipelined commands, answered in chunks, give one record each."""
    path = tmp_path / "rig.jsonl"
    running = serve(transcript=str(path))
    count = 5000
    script = b"".join(b"echo %d\n" % n for n in range(count)) + b"lines 3\ndisconnect\n"
    converse(running.port, script)
    running.stop()
    commands = [r for r in records_without_time(path) if "command" in r]
    assert [r["command"] for r in commands[:count]] == [f"echo {n}" for n in range(count)]
    assert [r["answers"] for r in commands[:count]] == [[str(n)] for n in range(count)]
    assert commands[count] == {
        "session": 1,
        "command": "lines 3",
        "answers": ["line 1", "line 2", "line 3"],
    }


def test_a_deferred_answer_is_recorded_with_its_command(tmp_path: Path) -> None:
    """A Future's answer is written under the command that returned it, in order."""
    path = tmp_path / "rig.jsonl"
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)

    def handler(command: str) -> object:
        if command == "later":
            return pool.submit(lambda: "done later")
        return protocol_handler(command)

    try:
        with Server(handler, transcript=str(path)) as server:
            assert converse(server.port, b"later\necho now\ndisconnect\n") == (b"done later\nnow\n")
    finally:
        pool.shutdown()
    commands = [(r["command"], r["answers"]) for r in read_transcript(path) if "command" in r]
    assert commands == [("later", ["done later"]), ("echo now", ["now"]), ("disconnect", [])]


def test_a_transcript_object_is_shared_and_left_open(tmp_path: Path) -> None:
    """A Transcript passed in is the caller's: two servers write to it, neither closes it."""
    path = tmp_path / "rig.jsonl"
    with Transcript(path) as transcript:
        for word in ("first", "second"):
            with Server(protocol_handler, transcript=transcript) as server:
                converse(server.port, f"echo {word}\ndisconnect\n".encode())
        assert transcript.is_open
    commands = [r["command"] for r in read_transcript(path) if "command" in r]
    assert commands == ["echo first", "disconnect", "echo second", "disconnect"]


def test_every_line_of_a_transcript_is_json(tmp_path: Path) -> None:
    """Odd commands (quotes, backslashes, control bytes, non-BMP) stay valid JSON."""
    path = tmp_path / "rig.jsonl"
    odd = 'echo "quoted" \\ back\tslash \x00 nul 🎛'
    with Server(protocol_handler, transcript=str(path)) as server:
        converse(server.port, odd.encode() + b"\ndisconnect\n")
    lines = path.read_text().splitlines()
    parsed = [json.loads(line) for line in lines]
    assert parsed[1]["command"] == odd
    assert parsed[1]["answers"] == [odd[5:]]


def test_a_corrupt_transcript_line_is_reported_with_its_number(tmp_path: Path) -> None:
    """read_transcript names the file and line of a record that is not JSON."""
    path = tmp_path / "bad.jsonl"
    path.write_text('{"t": 1, "session": 1, "event": "connect", "peer": "x"}\nnot json\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:2: not a transcript record"):
        list(read_transcript(path))


def record_session(path: Path, script: bytes) -> bytes:
    """Serve the protocol handler with a transcript at *path*, send *script*, return answers."""
    with Server(protocol_handler, transcript=str(path)) as server:
        return converse(server.port, script)


def test_replaying_against_the_same_handler_matches(tmp_path: Path) -> None:
    """Every recorded answer comes back the same from an identical server."""
    path = tmp_path / "rig.jsonl"
    record_session(path, b"echo a\nlines 3\nsilent\necho caf\xc3\xa9\nping\ndisconnect\n")
    record_session(path, b"echo second session\ndisconnect\n")
    with Server(protocol_handler) as server:
        report = replay(path, port=server.port)
    assert report.matched
    assert (report.sessions, report.commands, report.skipped) == (2, 6, 0)
    assert server.stats.sessions == 2


def test_replaying_against_a_changed_handler_reports_each_difference(tmp_path: Path) -> None:
    """A command answered differently is reported with both answers; the rest match."""
    path = tmp_path / "rig.jsonl"
    record_session(path, b"echo a\nlines 2\necho b\ndisconnect\n")

    def changed(command: str) -> object:
        return ["line 1", "line two"] if command == "lines 2" else protocol_handler(command)

    with Server(changed) as server:
        report = replay(path, port=server.port)
    assert report.differences == [
        AnswerDifference(1, "lines 2", ["line 1", "line 2"], ["line 1", "line two"])
    ]
    assert str(report.differences[0]) == (
        "session 1: 'lines 2': recorded ['line 1', 'line 2'], replayed ['line 1', 'line two']"
    )


def test_replay_skips_invalid_lines_and_shutdown_unless_asked(tmp_path: Path) -> None:
    """Invalid lines are not resent; a recorded shutdown stops the target only on request."""
    path = tmp_path / "rig.jsonl"
    record_session(path, b"\xff\necho x\nshutdown\n")
    with Server(protocol_handler) as server:
        report = replay(path, port=server.port)
        assert report.matched
        assert (report.commands, report.skipped) == (1, 2)
        assert server.is_running
        report = replay(path, port=server.port, include_shutdown=True)
        assert server._finished.wait(WAIT)
    assert report.skipped == 1


def test_replay_without_a_server_raises_connection_error(tmp_path: Path) -> None:
    """No server to replay against is a clear ConnectionError."""
    path = tmp_path / "rig.jsonl"
    record_session(path, b"echo a\ndisconnect\n")
    with Server(protocol_handler) as server:
        port = server.port
    with pytest.raises(ConnectionError, match="no server accepts connections"):
        replay(path, port=port, timeout=2)


def test_each_command_keeps_its_own_answers_in_a_mixed_batch(tmp_path: Path) -> None:
    """One-line answers, then a raising handler, no answer and several: all attributed right."""
    path = tmp_path / "rig.jsonl"
    script = b"echo a\necho b\nraise\necho c\nlines 0\nlines 2\necho d\n\xff\necho e\ndisconnect\n"
    assert record_session(path, script) == b"a\nb\nc\nline 1\nline 2\nd\ninvalid\ne\n"
    recorded = [
        (r.get("command", r.get("invalid")), r["answers"])
        for r in read_transcript(path)
        if "answers" in r
    ]
    assert recorded == [
        ("echo a", ["a"]),
        ("echo b", ["b"]),
        ("raise", []),
        ("echo c", ["c"]),
        ("lines 0", []),
        ("lines 2", ["line 1", "line 2"]),
        ("echo d", ["d"]),
        ("undecodable", ["invalid"]),
        ("echo e", ["e"]),
        ("disconnect", []),
    ]
