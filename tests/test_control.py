"""The control port on the wire: every command and its errors, on every front end.

Each test runs once per front end of the ``serve`` fixture (threaded,
asyncio, uvloop, and ``linesock serve --control-port 0`` in a process),
driving the control port with a :class:`linesock.Client` and the main port
with raw sockets, whose every command a fault could hit.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import handlers
from frontends import RunningServer
from linesock import Client, ServerStats, parse_fault
from linesock._control import HELP
from support import WAIT, connect, nothing_arrives, read_exactly, read_until_eof

Serve = Callable[..., RunningServer]


@pytest.fixture(autouse=True)
def fresh_settings() -> Iterator[None]:
    """The in-process ``settings`` handler starts each test with its first values."""
    handlers.settings.reset()
    yield
    handlers.settings.reset()


@contextmanager
def controlling(running: RunningServer, token: str | None = None) -> Iterator[Client]:
    """A client connected to *running*'s control port."""
    assert running.control_port is not None, "the server was started without control_port"
    with Client("127.0.0.1", running.control_port, WAIT, token=token) as client:
        yield client


def ask(sock: socket.socket, command: str, answer: bytes) -> None:
    """Send *command* on the raw socket; require exactly *answer* back."""
    sock.sendall(command.encode() + b"\n")
    assert read_exactly(sock, len(answer)) == answer


def fault_error(words: str) -> str:
    """The error line the control port answers for a fault parse_fault refuses."""
    with pytest.raises(ValueError) as refused:
        parse_fault(shlex.split(words))
    return f"error fault: {refused.value}"


# -- commands and their errors ------------------------------------------------------


@pytest.mark.srs("SRS-220")
def test_help_lists_every_command_with_its_syntax(serve: Serve) -> None:
    """``help`` answers one line per command, each starting with the command and its syntax."""
    running = serve(control_port=0)
    with controlling(running) as control:
        assert control.request("help") == list(HELP)
    names = [line.split()[0] for line in HELP]
    assert names == [
        "fault",
        "faults",
        "clear",
        "kick",
        "stats",
        "state",
        "get",
        "set",
        "reset",
        "help",
        "ping",
        "disconnect",
    ]


@pytest.mark.srs("SRS-220")
@pytest.mark.parametrize(
    ("line", "answer"),
    [
        ("fault 'delay", "error invalid quoting: no closing quotation"),
        ('fault error "E1', "error invalid quoting: no closing quotation"),
        ("", "error empty command"),
        ("nosuch 1", "error unknown command 'nosuch'"),
        ("FAULTS", "error unknown command 'FAULTS'"),
        ("faults now", "error faults: expected no arguments, got 1"),
        ("kick now", "error kick: expected no arguments, got 1"),
        ("get", "error get: expected 1 argument, got 0"),
        ("set volts", "error set: expected 2 arguments, got 1"),
        ("set a b c", "error set: expected 2 arguments, got 3"),
    ],
)
def test_a_malformed_or_unknown_control_line_is_one_error_line(
    serve: Serve, line: str, answer: str
) -> None:
    """Quoting that does not close, an unknown command, wrong arguments: one ``error `` line."""
    running = serve(control_port=0)
    with controlling(running) as control:
        assert control.request(line) == [answer]
        assert control.request("faults") == ["none"]  # the session goes on, nothing changed


@pytest.mark.srs("SRS-221", "SRS-220")
def test_fault_faults_and_clear(serve: Serve) -> None:
    """Faults are listed as given (quotes read as a shell does), oldest first, until cleared."""
    running = serve(control_port=0)
    with controlling(running) as control:
        assert control.request("faults") == ["none"]
        assert control.request("fault delay 500 count 1 match VOLT?") == ["ok"]
        assert control.request("fault error \"E1 bad\" match 'MEAS *'") == ["ok"]
        assert control.request("fault drop reset") == ["ok"]
        assert control.request("fault slow 100 count 2") == ["ok"]
        assert control.request("faults") == [
            "delay 500 count 1 match VOLT?",
            "error 'E1 bad' match 'MEAS *'",
            "drop reset",
            "slow 100 count 2",
        ]
        assert control.request("clear") == ["ok"]
        assert control.request("faults") == ["none"]
        assert control.request("clear") == ["ok"]  # with none: ok all the same


@pytest.mark.srs("SRS-221")
@pytest.mark.parametrize(
    "words",
    [
        "fault",
        "fault bogus",
        "fault delay",
        "fault delay soon",
        "fault delay 500 count 0",
        "fault delay 500 count",
        "fault slow 0",
        "fault error",
        "fault silence match ''",
        "fault garbage sometimes",
    ],
)
def test_a_fault_that_cannot_be_read_is_refused_with_the_reason(serve: Serve, words: str) -> None:
    """A fault parse_fault refuses answers ``error fault: `` and its reason; none is added."""
    running = serve(control_port=0)
    expected = fault_error(words.removeprefix("fault").strip())
    with controlling(running) as control:
        assert control.request(words) == [expected]
        assert control.request("faults") == ["none"]


@pytest.mark.srs("SRS-224")
def test_stats_answers_the_main_servers_counters_in_field_order(serve: Serve) -> None:
    """One ``name value`` line per ServerStats field: the main server's, not the control port's."""
    running = serve(control_port=0)
    with connect(running.port) as client:
        ask(client, "echo a", b"a\n")
        client.sendall(b"\xff\n")
        assert read_exactly(client, 8) == b"invalid\n"
        with controlling(running) as control:
            lines = control.request("stats")
    counted = {"sessions": 1, "commands": 2, "invalid_lines": 1}
    assert lines == [
        f"{field.name} {counted.get(field.name, 0)}" for field in dataclasses.fields(ServerStats)
    ]


# -- while a client holds the main slot ----------------------------------------------


@pytest.mark.srs("SRS-222")
def test_a_fault_injected_while_a_client_is_served_hits_its_next_command(serve: Serve) -> None:
    """The control port answers while the main slot is held; the client's next command gets E1."""
    running = serve(control_port=0)
    with connect(running.port) as client:
        ask(client, "echo a", b"a\n")
        with controlling(running) as control:
            assert control.request("fault error E1 count 1") == ["ok"]
            ask(client, "echo b", b"E1\n")
            ask(client, "echo c", b"c\n")
            assert control.request("faults") == ["none"]


@pytest.mark.srs("SRS-222")
def test_a_matching_fault_waits_for_its_command(serve: Serve) -> None:
    """Only a matching command uses the fault up: the others are answered as ever."""
    running = serve(control_port=0)
    with connect(running.port) as client:
        ask(client, "echo a", b"a\n")
        with controlling(running) as control:
            assert control.request("fault error 'E2 no' count 1 match 'echo b*'") == ["ok"]
            ask(client, "echo a", b"a\n")
            ask(client, "echo bee", b"E2 no\n")
            ask(client, "echo bee", b"bee\n")


@pytest.mark.srs("SRS-223")
def test_kick_frees_the_slot_at_once(serve: Serve) -> None:
    """The kicked client reads EOF without a line; the client waiting behind it is served."""
    running = serve(control_port=0)
    with controlling(running) as control:
        assert control.request("kick") == ["ok"]  # no client yet: ok all the same
        with connect(running.port) as first, connect(running.port) as second:
            ask(first, "echo a", b"a\n")
            second.sendall(b"echo waiting\n")
            assert nothing_arrives(second, 0.05)
            assert control.request("kick") == ["ok"]
            assert read_until_eof(first) == b""
            assert read_exactly(second, 8) == b"waiting\n"
            ask(second, "echo b", b"b\n")


@pytest.mark.srs("SRS-219")
def test_control_clients_are_served_one_at_a_time(serve: Serve) -> None:
    """A second control client waits until the first leaves, as on the main port."""
    running = serve(control_port=0)
    assert running.control_port is not None
    with controlling(running) as control, connect(running.control_port) as waiting:
        waiting.sendall(b"faults\n")
        assert nothing_arrives(waiting, 0.05)
        assert control.request("faults") == ["none"]
        control.disconnect()
        assert read_exactly(waiting, 5) == b"none\n"


@pytest.mark.srs("SRS-219")
def test_shutdown_on_the_control_port_ends_only_the_control_session(serve: Serve) -> None:
    """``shutdown`` there is a ``disconnect``: the main server and its control port go on."""
    running = serve(control_port=0)
    assert running.control_port is not None
    with connect(running.control_port) as control:
        control.sendall(b"shutdown\n")
        assert read_until_eof(control) == b""
    with controlling(running) as control:
        assert control.request("faults") == ["none"]
    with connect(running.port) as client:
        ask(client, "echo still", b"still\n")


# -- state -------------------------------------------------------------------------


@pytest.mark.srs("SRS-225")
def test_state_get_set_and_reset_on_a_handler_with_state(serve: Serve) -> None:
    """The handler sees what ``set`` stores; ``reset`` gives the first values back."""
    running = serve("settings", control_port=0)
    with controlling(running) as control, connect(running.port) as client:
        assert control.request("state") == ["volts 0.0", "output false", "label 'bench 1'"]
        assert control.request("get label") == ["'bench 1'"]
        assert control.request("set volts 3.5") == ["ok"]
        assert control.request("set output on") == ["ok"]
        assert control.request("set label 'rig 2'") == ["ok"]
        assert control.request("state") == ["volts 3.5", "output true", "label 'rig 2'"]
        ask(client, "volts", b"3.5\n")
        ask(client, "label", b"rig 2\n")
        assert control.request("reset") == ["ok"]
        assert control.request("state") == ["volts 0.0", "output false", "label 'bench 1'"]
        ask(client, "volts", b"0.0\n")


@pytest.mark.srs("SRS-225")
@pytest.mark.parametrize(
    ("line", "answer"),
    [
        ("get nope", "error get: no state 'nope' (the command state lists them)"),
        ("set nope 1", "error set: no state 'nope' (the command state lists them)"),
        ("set volts high", "error set: volts: invalid float 'high'"),
        ("set output maybe", "error set: output: invalid bool 'maybe'"),
    ],
)
def test_a_set_the_state_cannot_take_is_refused(serve: Serve, line: str, answer: str) -> None:
    """Names not exposed and values that do not convert are refused; nothing changes."""
    running = serve("settings", control_port=0)
    with controlling(running) as control:
        assert control.request(line) == [answer]
        assert control.request("state") == ["volts 0.0", "output false", "label 'bench 1'"]


@pytest.mark.srs("SRS-225")
def test_a_handler_without_state_exposes_none(serve: Serve) -> None:
    """A plain function handler: ``state`` is ``none``, and get, set and reset are refused."""
    running = serve(control_port=0)
    with controlling(running) as control:
        assert control.request("state") == ["none"]
        assert control.request("get x") == [
            "error get: no state 'x' (the command state lists them)"
        ]
        assert control.request("set x 1") == [
            "error set: no state 'x' (the command state lists them)"
        ]
        assert control.request("reset") == ["error reset: the handler has no reset()"]


# -- the token, the transcript -------------------------------------------------------


@pytest.mark.srs("SRS-227")
@pytest.mark.parametrize("first", [b"faults\n", b"auth wrong\n", b"ping\n"])
def test_with_a_token_the_control_port_wants_auth_first(serve: Serve, first: bytes) -> None:
    """Anything but ``auth TOKEN`` first is answered ``unauthorized`` and the port closes."""
    running = serve(control_port=0, token="s3cret")
    assert running.control_port is not None
    with connect(running.control_port) as control:
        control.sendall(first + b"fault error E1\n")
        assert read_until_eof(control) == b"unauthorized\n"
    with connect(running.control_port) as control:
        control.sendall(b"auth s3cret\nfaults\n")
        assert read_exactly(control, 8) == b"ok\nnone\n"


@pytest.mark.srs("SRS-227", "SRS-228")
def test_the_transcript_records_set_and_reset_and_never_the_token(
    serve: Serve, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """``control`` records for set and reset, in the served session; no token anywhere."""
    transcript = tmp_path / "session.jsonl"
    caplog.set_level("DEBUG", logger="linesock")
    running = serve(
        "settings", control_port=0, token="s3cret", transcript=str(transcript), log_commands=True
    )
    with controlling(running, token="s3cret") as control:
        assert control.request("set volts 2.5") == ["ok"]  # no client: session 0
        with connect(running.port) as client:
            ask(client, "auth s3cret", b"ok\n")
            ask(client, "volts", b"2.5\n")
            assert control.request("set label 'rig 2'") == ["ok"]
            assert control.request("reset") == ["ok"]
            ask(client, "label", b"bench 1\n")
    running.stop()
    records = [json.loads(line) for line in transcript.read_text().splitlines()]
    controls = [
        {key: value for key, value in record.items() if key != "t"}
        for record in records
        if record.get("event") == "control"
    ]
    assert controls == [
        {"session": 0, "event": "control", "action": "set", "name": "volts", "value": "2.5"},
        {"session": 1, "event": "control", "action": "set", "name": "label", "value": "'rig 2'"},
        {"session": 1, "event": "control", "action": "reset"},
    ]
    assert "s3cret" not in transcript.read_text()
    assert "s3cret" not in caplog.text
    assert all("s3cret" not in output for output in running.output)
