"""``linesock serve --loop asyncio|uvloop``: the asyncio server behind the same command line.

Each test runs the server as a real process on loopback, with the helpers of
``test_cli`` (every wait bounded, no sleeps).
"""

from __future__ import annotations

import dataclasses
import errno
import os
import re
import signal
import socket
import sys
from pathlib import Path

import pytest
import trustme

import linesock
from linesock.cli import EXIT_ERROR, main
from test_cli import (
    Finished,
    connect,
    read_exactly,
    read_stderr_until,
    read_until_closed,
    run_cli,
    serving,
)

LOOPS = ["asyncio", "uvloop"]
STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"


@pytest.fixture(params=LOOPS)
def loop(request: pytest.FixtureRequest) -> str:
    """The name of an event loop for ``--loop`` (uvloop's tests skip where it is missing)."""
    name: str = request.param
    if name == "uvloop":
        pytest.importorskip("uvloop")
    return name


@pytest.mark.srs("SRS-114", "SRS-129")
@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGINT])
def test_serve_on_an_event_loop_stops_cleanly_on_a_signal(loop: str, signal_number: int) -> None:
    """SIGTERM and SIGINT close the asyncio server, a client connected: exit 0, no output."""
    with (
        serving("cli_handler:handler", "--port", "0", "--loop", loop) as server,
        connect(server.port) as sock,
    ):
        sock.sendall(b"ping\n")
        assert read_exactly(sock, 5) == b"pong\n"  # the server is in the session now
        finished = server.signal(signal_number)
        assert read_until_closed(sock) == b""
    assert finished == Finished(0, "", "")


@pytest.mark.srs("SRS-121", "SRS-129")
def test_serve_on_an_event_loop_logs_its_counters_at_exit(loop: str) -> None:
    """``-v`` logs the same lines as the threaded path, the counters last."""
    with serving("cli_handler:handler", "--port", "0", "--loop", loop, "-v") as server:
        with connect(server.port) as sock:
            sock.sendall(b"quiet\ndisconnect\n")
            assert read_until_closed(sock) == b""
        finished = server.signal(signal.SIGTERM)
    assert (finished.returncode, finished.stdout) == (0, "")
    messages = re.findall(rf"^{STAMP} (\w+) linesock: (.*)$", finished.stderr, re.MULTILINE)
    assert len(messages) == len(finished.stderr.splitlines())
    counters = {field.name: 0 for field in dataclasses.fields(linesock.ServerStats)}
    counters.update(sessions=1, commands=2)
    stats = " ".join(f"{name}={value}" for name, value in counters.items())
    assert messages[0] == ("INFO", f"listening on 127.0.0.1:{server.port}")
    assert messages[-1] == ("INFO", f"stopped; {stats}")
    # The session may end (the client's close) after the signal: no order between them.
    between = messages[1:-1]
    connected = [message for message in between if message[1].startswith("client connected")]
    assert len(connected) == 1
    assert re.fullmatch(r"client connected from 127\.0\.0\.1:\d+", connected[0][1])
    assert sorted(message for message in between if message not in connected) == [
        ("INFO", "SIGTERM received: stopping"),
        ("INFO", "client session ended: the client sent disconnect"),
        ("INFO", "stopped listening"),
    ]


@pytest.mark.srs("SRS-129")
def test_a_second_signal_exits_at_once_when_a_handler_blocks_the_loop(loop: str) -> None:
    """A plain handler that never returns blocks the loop; a second stop signal still exits 1."""
    with (
        serving("cli_handler:handler", "--port", "0", "--loop", loop) as server,
        connect(server.port) as sock,
    ):
        sock.sendall(b"hang\n")
        read_stderr_until(server.process, "hanging\n")
        # Two different signals: two of one kind sent back to back may merge into one.
        server.process.send_signal(signal.SIGTERM)
        finished = server.signal(signal.SIGINT)
    # Both may be handled at one check, in signal-number order: either one is the second.
    assert (finished.returncode, finished.stdout) == (1, "")
    assert finished.stderr in {
        "linesock: second SIGINT: exiting now\n",
        "linesock: second SIGTERM: exiting now\n",
    }


@pytest.mark.srs("SRS-119", "SRS-127", "SRS-128", "SRS-129")
def test_serve_on_an_event_loop_takes_the_same_options(loop: str, tmp_path: Path) -> None:
    """TLS, the token and the server options reach the asyncio server as the threaded one."""
    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1")
    ca, cert, key = tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem"
    authority.cert_pem.write_to_path(str(ca))
    certificate.cert_chain_pems[0].write_to_path(str(cert))
    certificate.private_key_pem.write_to_path(str(key))
    token = tmp_path / "token"
    token.write_text("loop-token\n")
    flags = ["--tls-cert", str(cert), "--tls-key", str(key), "--token-file", str(token)]
    flags += ["--max-line-bytes", "16", "--no-remote-shutdown"]  # 'auth loop-token' fits
    with serving("cli_handler:handler", "--port", "0", "--loop", loop, *flags) as server:
        client = ["--port", str(server.port), "--tls-ca", str(ca), "--token-file", str(token)]
        result = run_cli("send", *client, "echo 12345678901", "echo 123456789012", "shutdown")
        assert (result.returncode, result.stdout, result.stderr) == (
            0,
            "12345678901\ninvalid\n",
            "",
        )
        again = run_cli("send", *client, "echo still")  # shutdown only disconnected
        assert (again.returncode, again.stdout, again.stderr) == (0, "still\n", "")
        assert server.signal(signal.SIGTERM) == Finished(0, "", "")


@pytest.mark.srs("SRS-117", "SRS-129")
def test_serve_on_an_event_loop_exits_1_when_the_port_is_in_use(loop: str) -> None:
    """A port already taken gives the threaded path's exit 1 and one-line error."""
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        result = run_cli("serve", "cli_handler:handler", "--port", str(port), "--loop", loop)
    assert (result.returncode, result.stdout, result.stderr) == (
        1,
        "",
        f"linesock: cannot listen on 127.0.0.1:{port}: {os.strerror(errno.EADDRINUSE)}\n",
    )


@pytest.mark.srs("SRS-129")
def test_serve_without_uvloop_installed_says_how_to_get_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--loop uvloop`` where uvloop cannot be imported: exit 1 and the pip command, one line."""
    monkeypatch.setitem(sys.modules, "uvloop", None)  # makes `import uvloop` fail
    assert main(["serve", "--port", "0", "--loop", "uvloop"]) == EXIT_ERROR
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == (
        "",
        "linesock: --loop uvloop needs uvloop, which is not installed: "
        "pip install 'linesock[uvloop]'\n",
    )
