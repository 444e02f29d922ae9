"""``linesock serve --transcript FILE`` and ``linesock replay FILE``, over real processes.

The helpers of ``test_cli`` start the processes and bound every wait.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import ssl
from pathlib import Path

import pytest
import trustme

from cli_fixtures import cli_handler
from linesock._errors import TranscriptError
from linesock.cli import EXIT_ERROR, EXIT_USAGE, main
from linesock.cli._reporting import CommandFailed
from linesock.cli._serve import reporting_start_failures
from support import WAIT, wait_until
from test_cli import (
    Finished,
    background_server,
    connect,
    read_until_closed,
    run_cli,
    serving,
    unused_port,
)

# The two sessions recorded for the replay tests, as a raw client sends them.
SESSIONS = (b"echo one\ncount 2\n\xff\ndisconnect\n", b"echo two\nshutdown\n")
ANSWERS = (b"one\n1\n2\ninvalid\n", b"two\n")


def play_sessions(port: int) -> None:
    """Send each of :data:`SESSIONS` on a connection of its own and check the answers."""
    for script, answers in zip(SESSIONS, ANSWERS, strict=True):
        with connect(port) as sock:
            sock.sendall(script)
            assert read_until_closed(sock) == answers


def records_without_time_and_peer(path: Path) -> list[dict[str, object]]:
    """The transcript's records, each with its time removed (and a connect's peer checked)."""
    records: list[dict[str, object]] = []
    for line in path.read_text().splitlines():
        fields = json.loads(line)
        assert isinstance(fields.pop("t"), float)
        if fields.get("event") == "connect":
            assert str(fields.pop("peer")).startswith("127.0.0.1:")
        records.append(fields)
    return records


@pytest.fixture(scope="module")
def transcript(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A transcript of :data:`SESSIONS` recorded by ``linesock serve --transcript``."""
    path = tmp_path_factory.mktemp("transcript") / "rig.jsonl"
    with serving("cli_handler:handler", "--port", "0", "--transcript", str(path)) as server:
        play_sessions(server.port)
        assert server.finish() == Finished(0, "", "")
    return path


# -- serve --transcript ----------------------------------------------------------


@pytest.mark.srs("SRS-152")
@pytest.mark.parametrize("loop", [[], ["--loop", "asyncio"]], ids=["threaded", "asyncio"])
def test_serve_records_every_session_in_the_transcript(loop: list[str], tmp_path: Path) -> None:
    """--transcript gets each session's connect, commands with answers, invalid line and end."""
    path = tmp_path / "rig.jsonl"
    with serving("cli_handler:handler", "--port", "0", "--transcript", str(path), *loop) as server:
        play_sessions(server.port)
        assert server.finish() == Finished(0, "", "")
    assert records_without_time_and_peer(path) == [
        {"session": 1, "event": "connect"},
        {"session": 1, "command": "echo one", "answers": ["one"]},
        {"session": 1, "command": "count 2", "answers": ["1", "2"]},
        {
            "session": 1,
            "invalid": "undecodable",
            "size": 1,
            "data": "\\xff",
            "answers": ["invalid"],
        },
        {"session": 1, "command": "disconnect", "answers": []},
        {"session": 1, "event": "end", "reason": "the client sent disconnect"},
        {"session": 2, "event": "connect"},
        {"session": 2, "command": "echo two", "answers": ["two"]},
        {"session": 2, "command": "shutdown", "answers": []},
        {"session": 2, "event": "end", "reason": "the client sent shutdown"},
    ]


@pytest.mark.srs("SRS-117", "SRS-152")
@pytest.mark.parametrize("loop", [[], ["--loop", "asyncio"]], ids=["threaded", "asyncio"])
def test_serve_with_a_transcript_it_cannot_open_exits_1(
    loop: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A transcript in a missing directory: exit 1 and one line, before listening."""
    path = tmp_path / "no such directory" / "rig.jsonl"
    argv = ["serve", "--port", str(unused_port()), "--transcript", str(path), *loop]
    assert main(argv) == EXIT_ERROR
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == (
        "",
        f"linesock: cannot open the transcript {path}: No such file or directory\n",
    )


@pytest.mark.srs("SRS-117", "SRS-152")
@pytest.mark.parametrize(
    ("error", "code", "message"),
    [
        (
            TranscriptError("cannot open the transcript /x/y.jsonl: Permission denied"),
            EXIT_ERROR,
            "cannot open the transcript /x/y.jsonl: Permission denied",
        ),
        (
            # A file name alone does not make an OSError the transcript's.
            OSError(errno.EADDRINUSE, os.strerror(errno.EADDRINUSE), "/x/y.jsonl"),
            EXIT_ERROR,
            f"cannot listen on [::1]:5001: {os.strerror(errno.EADDRINUSE)}",
        ),
        (ValueError("backlog must be at least 1"), EXIT_USAGE, "backlog must be at least 1"),
    ],
    ids=["transcript", "other-os-error", "impossible-setting"],
)
def test_a_failure_to_start_is_reported_by_its_type(
    error: Exception, code: int, message: str
) -> None:
    """A TranscriptError keeps its own message; any other OSError names the address."""
    with pytest.raises(CommandFailed) as failure, reporting_start_failures("::1", 5001):
        raise error
    assert (failure.value.exit_code, str(failure.value)) == (code, message)


# -- replay --------------------------------------------------------------------


@pytest.mark.srs("SRS-153")
def test_replay_against_the_same_handler_matches(transcript: Path) -> None:
    """Every answer matches: exit 0 and the summary alone; the recorded shutdown is skipped."""
    with background_server(cli_handler.handler) as server:
        result = run_cli("replay", str(transcript), "--port", server.port)
        assert server.server.is_running
    assert (result.returncode, result.stdout, result.stderr) == (
        0,
        "replayed 2 sessions, 3 commands (2 skipped): all answers match\n",
        "",
    )


@pytest.mark.srs("SRS-153")
def test_replay_against_a_changed_handler_prints_the_difference(transcript: Path) -> None:
    """A changed answer: exit 1, the difference line, then the summary."""

    def changed(command: str) -> object:
        return ["1", "2", "3"] if command == "count 2" else cli_handler.handler(command)

    with background_server(changed) as server:
        result = run_cli("replay", str(transcript), "--port", server.port)
    assert (result.returncode, result.stdout, result.stderr) == (
        1,
        "session 1: 'count 2': recorded ['1', '2'], replayed ['1', '2', '3']\n"
        "replayed 2 sessions, 3 commands (2 skipped): 1 differs\n",
        "",
    )


@pytest.mark.srs("SRS-153")
def test_replay_include_shutdown_and_token(transcript: Path, tmp_path: Path) -> None:
    """--include-shutdown sends the recorded shutdown; --token-file authenticates each session."""
    token = tmp_path / "token"
    token.write_text("replay-token\n")
    with background_server(cli_handler.handler, token="replay-token") as server:
        result = run_cli(
            "replay",
            str(transcript),
            "--port",
            server.port,
            "--token-file",
            str(token),
            "--include-shutdown",
        )
        assert server.wait_stopped()
    assert (result.returncode, result.stdout, result.stderr) == (
        0,
        "replayed 2 sessions, 3 commands (1 skipped): all answers match\n",
        "",
    )


@pytest.mark.srs("SRS-117", "SRS-153")
def test_replay_without_a_server_exits_1_with_one_line(transcript: Path) -> None:
    """No server at the address: exit 1 and the connection error on one line."""
    port = unused_port()
    result = run_cli("replay", str(transcript), "--port", str(port))
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.startswith(
        f"linesock: no server accepts connections at 127.0.0.1:{port}: "
    )
    assert result.stderr.count("\n") == 1


@pytest.mark.srs("SRS-117", "SRS-153")
def test_replay_of_a_file_that_is_not_a_transcript_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing file, or one that is not JSON lines, fails with one line before connecting."""
    missing = tmp_path / "missing.jsonl"
    assert main(["replay", str(missing), "--port", str(unused_port())]) == EXIT_ERROR
    assert capsys.readouterr().err == (
        f"linesock: cannot read the transcript {missing}: No such file or directory\n"
    )
    garbage = tmp_path / "notes.txt"
    garbage.write_text("set volt 5\n")
    assert main(["replay", str(garbage), "--port", str(unused_port())]) == EXIT_ERROR
    assert capsys.readouterr().err == (
        f"linesock: {garbage}:1: not a transcript record: Expecting value: line 1 column 1 "
        "(char 0)\n"
    )


@pytest.mark.srs("SRS-118", "SRS-153")
def test_replay_checks_the_certificate_against_the_server_hostname(
    transcript: Path, tmp_path: Path
) -> None:
    """--server-hostname names the certificate's host when --host is an address."""
    authority = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("rig.example").configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    with background_server(cli_handler.handler, ssl_context=context) as server:
        tls = ["--port", server.port, "--tls-ca", str(ca_file)]
        named = run_cli("replay", str(transcript), *tls, "--server-hostname", "rig.example")
        unnamed = run_cli("replay", str(transcript), *tls)
    assert (named.returncode, named.stdout) == (
        0,
        "replayed 2 sessions, 3 commands (2 skipped): all answers match\n",
    )
    assert unnamed.returncode == EXIT_ERROR
    assert "certificate" in unnamed.stderr


@pytest.mark.srs("SRS-165")
@pytest.mark.parametrize("loop", [[], ["--loop", "asyncio"]], ids=["threaded", "asyncio"])
def test_sighup_reopens_the_transcript_after_a_logrotate_rename(
    tmp_path: Path, loop: list[str]
) -> None:
    """Renamed, then SIGHUP: the next session goes to a new file at the transcript's path."""
    path = tmp_path / "rig.jsonl"
    rotated = tmp_path / "rig.jsonl.1"
    with serving("cli_handler:handler", "--port", "0", "--transcript", str(path), *loop) as server:
        with connect(server.port) as sock:
            sock.sendall(b"echo before\ndisconnect\n")
            assert read_until_closed(sock) == b"before\n"
        path.rename(rotated)
        server.process.send_signal(signal.SIGHUP)
        assert wait_until(path.exists), "SIGHUP did not reopen the transcript"
        with connect(server.port) as sock:
            sock.sendall(b"echo after\ndisconnect\n")
            assert read_until_closed(sock) == b"after\n"
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(WAIT) == 0
    old = [r.get("command") for r in records_without_time_and_peer(rotated)]
    new = [r.get("command") for r in records_without_time_and_peer(path)]
    assert "echo before" in old and "echo after" not in old
    assert "echo after" in new and "echo before" not in new
