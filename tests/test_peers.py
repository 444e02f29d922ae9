"""Peers nobody here wrote drive every server front end through the same conversation.

The conversation covers a built-in, plain and UTF-8 commands, a multi-line
answer, an empty command, a command with no answer and a closing
``disconnect``.  Each peer must see exactly the same answers.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable

import pytest

from frontends import RunningServer
from linesock import Client
from support import converse

Serve = Callable[..., RunningServer]

SCRIPT = ["ping", "echo hello", "echo café ✓", "lines 3", "", "silent", "echo bye"]
ANSWERS = ["pong", "hello", "café ✓", "line 1", "line 2", "line 3", "ack:", "bye"]
#: How many answer lines each command of SCRIPT gets.
ANSWER_COUNTS = [1, 1, 1, 3, 1, 0, 1]


def _openbsd_nc() -> str | None:
    """The path of OpenBSD netcat, or None when this machine lacks it."""
    path = shutil.which("nc")
    if path is None:
        return None
    usage = subprocess.run([path, "-h"], capture_output=True, text=True, timeout=10, check=False)
    return path if "OpenBSD netcat" in usage.stdout + usage.stderr else None


NC = _openbsd_nc()


@pytest.mark.srs("SRS-135")
def test_linesock_client(serve: Serve) -> None:
    """linesock.Client's request() returns each command's answers."""
    running = serve()
    with Client(running.host, running.port) as client:
        answers = [line for command in SCRIPT for line in client.request(command)]
        assert client.request("disconnect") == []
        assert not client.connected
    assert answers == ANSWERS


@pytest.mark.srs("SRS-131")
def test_raw_socket_with_lf(serve: Serve) -> None:
    """A raw socket writing LF-terminated lines gets the exact answer bytes."""
    running = serve()
    script = "".join(f"{command}\n" for command in [*SCRIPT, "disconnect"]).encode()
    assert converse(running.port, script) == "".join(f"{a}\n" for a in ANSWERS).encode()


@pytest.mark.srs("SRS-007", "SRS-132")
def test_telnet_style_crlf(serve: Serve) -> None:
    """A telnet-style peer ending every line with CRLF gets the same answers."""
    running = serve()
    script = "".join(f"{command}\r\n" for command in [*SCRIPT, "disconnect"]).encode()
    assert converse(running.port, script) == "".join(f"{a}\n" for a in ANSWERS).encode()


@pytest.mark.srs("SRS-133")
@pytest.mark.needs_nc
@pytest.mark.skipif(NC is None, reason="OpenBSD netcat (Debian netcat-openbsd) is not installed")
def test_openbsd_netcat_with_crlf(serve: Serve) -> None:
    """`nc -C` (CRLF line endings) gets the same answers and exits when the server closes."""
    running = serve()
    assert NC is not None
    script = "".join(f"{command}\n" for command in [*SCRIPT, "disconnect"])
    result = subprocess.run(
        [NC, "-C", "-w", "10", running.host, str(running.port)],
        input=script.encode(),
        capture_output=True,
        timeout=30,
        check=True,
    )
    assert result.stdout == "".join(f"{a}\n" for a in ANSWERS).encode()


@pytest.mark.srs("SRS-108", "SRS-134")
def test_socket_oneline_client(serve: Serve) -> None:
    """The real socket-oneline 1.2.0 client connects (ping/pong), sends and reads answers."""
    socket_oneline = pytest.importorskip("socket_oneline")
    running = serve()
    client = socket_oneline.OnelineClient()
    assert client.init(ip_address=running.host, ip_port=running.port)
    assert client.connect()
    received = []
    try:
        for command, count in zip(SCRIPT, ANSWER_COUNTS, strict=True):
            client.send(command)
            received += [client.recv(timeout=10) for _ in range(count)]
    finally:
        client.disconnect()
    assert received == ANSWERS
