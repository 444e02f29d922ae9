"""``linesock send`` and ``serve`` with other terminators; ``send``'s one deadline per answer."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from support import WAIT, read_exactly
from test_cli import run_cli, serving


@pytest.mark.srs("SRS-160", "SRS-186")
def test_send_speaks_the_terminators_serve_was_given() -> None:
    """serve --terminator cr --answer-terminator crlf, and send told the same, agree."""
    flags = ("--terminator", "cr", "--answer-terminator", "crlf")
    with serving("cli_handler:handler", "--port", "0", *flags) as server:
        result = run_cli("send", "--port", str(server.port), *flags, "echo a", "count 2")
        assert (result.returncode, result.stdout) == (0, "a\n1\n2\n")


@pytest.mark.srs("SRS-185")
def test_send_gives_up_after_one_deadline_however_the_server_trickles() -> None:
    """A server trickling bytes without LF: exit 1 after --timeout, with the command named."""
    stop = threading.Event()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(WAIT)

        def trickle() -> None:
            connection, _ = listener.accept()
            with connection:
                assert read_exactly(connection, 5) == b"ping\n"
                connection.sendall(b"pong\n")
                for _ in range(100):  # one byte every 50 ms, 5 s at most
                    if stop.wait(0.05):
                        return
                    try:
                        connection.sendall(b"x")
                    except OSError:
                        return

        thread = threading.Thread(target=trickle, daemon=True)
        thread.start()
        started = time.monotonic()
        port = str(listener.getsockname()[1])
        result = run_cli("send", "--port", port, "--timeout", "1", "slow")
        took = time.monotonic() - started
        stop.set()
        thread.join(WAIT)
    assert result.returncode == 1
    assert result.stderr == "linesock: no answer to 'slow' within 1 s\n"
    assert took < 1 + 3  # the deadline, plus the interpreter's start
