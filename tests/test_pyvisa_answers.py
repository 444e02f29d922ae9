"""Answers of zero or several lines through PyVISA: the ping recipe, resynchronising, ``clear()``.

``query()`` reads one line, so a command with several answer lines leaves
the rest for the next reads.  docs/pyvisa.md's recipe sends the command
and ``ping`` in one write and reads to ``pong``; ``clear()`` on a pyvisa-py
SOCKET resource sends nothing to the server: it drops what pyvisa-py holds
and reads and drops whatever arrives until 0.1 s pass without a byte
(``TCPIPSocketSession.clear`` in ``pyvisa_py/tcpip.py``).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Callable

import pytest

from frontends import RunningServer, serve_fixture, start_threaded
from support import WAIT
from visa_sessions import open_lf, request, resynchronise

Serve = Callable[..., RunningServer]

serve = serve_fixture({"threaded": start_threaded})

#: How long pyvisa-py's clear() waits for silence before it returns, in seconds.
CLEAR_QUIET_SECONDS = 0.1


@pytest.mark.srs("SRS-193")
def test_query_reads_one_line_of_a_multi_line_answer_and_falls_out_of_step(serve: Serve) -> None:
    """After ``query("lines 3")`` the next query reads ``line 2``: the answer it gets is stale."""
    running = serve()
    with open_lf(running.port) as instrument:
        assert instrument.query("lines 3") == "line 1"
        assert instrument.query("echo next") == "line 2"
        assert instrument.query("echo after") == "line 3"
        assert instrument.read() == "next"


@pytest.mark.srs("SRS-193")
@pytest.mark.parametrize("count", [0, 1, 3, 500])
def test_the_ping_recipe_reads_every_answer_line(serve: Serve, count: int) -> None:
    """The command and ``ping`` in one write, read to ``pong``: all its lines, none, or one."""
    running = serve()
    with open_lf(running.port) as instrument:
        assert request(instrument, f"lines {count}") == [f"line {n}" for n in range(1, count + 1)]
        assert request(instrument, "silent") == []
        assert instrument.query("echo in step") == "in step"


@pytest.mark.srs("SRS-193")
def test_ping_brings_a_resource_out_of_step_back(serve: Serve) -> None:
    """``ping``, then reading to ``pong``, returns the stale lines and puts the resource in step."""
    running = serve()
    with open_lf(running.port) as instrument:
        assert instrument.query("lines 3") == "line 1"
        instrument.write("sleep 0.2")
        assert resynchronise(instrument) == ["line 2", "line 3", "slept"]
        assert instrument.query("echo in step") == "in step"


@pytest.mark.srs("SRS-193")
def test_clear_drops_unread_lines_once_the_server_is_quiet(serve: Serve) -> None:
    """``clear()`` drops what arrived, returns after 0.1 s without a byte, and sends nothing."""
    running = serve()
    stats = running.counters()
    assert stats is not None
    with open_lf(running.port) as instrument:
        assert instrument.query("lines 3") == "line 1"
        commands = stats.commands
        began = time.perf_counter()
        instrument.clear()
        assert time.perf_counter() - began >= CLEAR_QUIET_SECONDS
        assert stats.commands == commands
        assert instrument.query("echo in step") == "in step"


@pytest.mark.srs("SRS-193")
def test_clear_does_not_wait_for_an_answer_still_to_come(serve: Serve) -> None:
    """An answer that comes after 0.1 s of silence survives ``clear()`` and is read as stale."""
    running = serve()
    with open_lf(running.port) as instrument:
        instrument.write("sleep 0.6")
        instrument.clear()
        assert instrument.query("echo next") == "slept"
        assert resynchronise(instrument) == ["next"]


# The script of the next test: clear() on a resource whose server has gone.
CLEAR_AFTER_CLOSE = textwrap.dedent(
    """
    import pyvisa

    import linesock

    server = linesock.Server(lambda command: None)
    server.start()
    manager = pyvisa.ResourceManager("@py")
    instrument = manager.open_resource(
        f"TCPIP0::127.0.0.1::{server.port}::SOCKET",
        read_termination="\\n",
        write_termination="\\n",
        timeout=1000,
    )
    assert instrument.query("ping") == "pong"
    server.stop()
    print("clearing", flush=True)
    instrument.clear()
    print("cleared", flush=True)
    """
)


@pytest.mark.srs("SRS-193")
def test_clear_on_a_connection_the_server_closed_never_returns() -> None:
    """pyvisa-py's ``clear()`` reads until 0.1 s of silence, and a closed socket is never silent.

    Each read of the closed socket returns at once with nothing, so the
    loop spins forever, whatever the resource's timeout: run in a process
    of its own, which is killed after a second.
    """
    process = subprocess.Popen(
        [sys.executable, "-c", CLEAR_AFTER_CLOSE],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == "clearing\n"
        with pytest.raises(subprocess.TimeoutExpired):
            process.wait(timeout=1.0)
    finally:
        process.kill()
        out, err = process.communicate(timeout=WAIT)
    assert out == "", err
