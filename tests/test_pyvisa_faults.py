"""What each injected fault looks like to a pyvisa-py script (docs/faults.md's table).

Each test runs once per in-process front end of the ``serve`` fixture
(threaded, asyncio, uvloop), injecting through ``server.faults``; the
resource is ``TCPIP0::127.0.0.1::PORT::SOCKET`` with LF terminations.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from frontends import RunningServer
from linesock import Faults
from visa_sessions import (
    CLOSING_TIMEOUT_MS,
    assert_read_times_out,
    open_lf,
    refused_write,
    resynchronise,
)

pytest.importorskip("pyvisa", reason="the PyVISA tests need pyvisa and pyvisa-py")
pytest.importorskip("pyvisa_py", reason="the PyVISA tests need the pyvisa-py backend (@py)")

Serve = Callable[..., RunningServer]


def faults_of(running: RunningServer) -> Faults:
    """The running server's faults; the CLI front end skips (its faults: the control port)."""
    if running.faults is None:
        pytest.skip(f"the {running.front_end} server takes faults on its control port")
    return running.faults


@pytest.mark.srs("SRS-207")
def test_a_delay_within_the_timeout_is_a_slow_query(serve: Serve) -> None:
    """A delay shorter than the resource's timeout: ``query()`` just takes that long."""
    running = serve()
    faults_of(running).delay(0.2, count=1, match="MEAS*")
    with open_lf(running.port) as instrument:
        started = time.monotonic()
        assert instrument.query("MEAS:VOLT?") == "ack:MEAS:VOLT?"
        assert time.monotonic() - started >= 0.2
        assert instrument.query("echo next") == "next"


@pytest.mark.srs("SRS-207")
def test_a_delay_past_the_timeout_times_out_then_the_late_answer_is_stale(serve: Serve) -> None:
    """Past the timeout: ``VI_ERROR_TMO``, and the late answer then waits to be read."""
    running = serve()
    faults_of(running).delay(0.6, count=1, match="MEAS*")
    with open_lf(running.port, CLOSING_TIMEOUT_MS) as instrument:
        instrument.write("MEAS:VOLT?")
        assert_read_times_out(instrument)
        instrument.timeout = 5000
        assert resynchronise(instrument) == ["ack:MEAS:VOLT?"]
        assert instrument.query("echo in step") == "in step"


@pytest.mark.srs("SRS-208")
def test_silence_times_out_and_leaves_the_resource_in_step(serve: Serve) -> None:
    """``silence``: the query times out; nothing is owed, so the next query reads its own."""
    running = serve()
    faults_of(running).silence(count=1, match="MEAS*")
    with open_lf(running.port, CLOSING_TIMEOUT_MS) as instrument:
        instrument.write("MEAS:VOLT?")
        assert_read_times_out(instrument)
        assert instrument.query("echo next") == "next"


@pytest.mark.srs("SRS-209")
def test_a_drop_times_out_then_writes_fail(serve: Serve) -> None:
    """``drop``: pyvisa-py cannot tell the close from silence; then a write raises."""
    running = serve()
    faults_of(running).drop(count=1, match="MEAS*")
    with open_lf(running.port, CLOSING_TIMEOUT_MS) as instrument:
        assert instrument.query("echo before") == "before"
        instrument.write("MEAS:VOLT?")
        assert_read_times_out(instrument)
        assert isinstance(refused_write(instrument), BrokenPipeError)
    with open_lf(running.port) as instrument:
        assert instrument.query("ping") == "pong"


@pytest.mark.srs("SRS-210")
def test_an_error_fault_is_the_answer_query_returns(serve: Serve) -> None:
    """``error TEXT``: ``query()`` returns TEXT."""
    running = serve()
    faults_of(running).error('-350,"Queue overflow"', count=1)
    with open_lf(running.port) as instrument:
        assert instrument.query("MEAS:VOLT?") == '-350,"Queue overflow"'
        assert instrument.query("MEAS:VOLT?") == "ack:MEAS:VOLT?"


@pytest.mark.srs("SRS-211")
def test_garbage_fails_the_decoding_of_the_answer_and_the_next_query_is_in_step(
    serve: Serve,
) -> None:
    """``garbage``: ``query()`` raises ``UnicodeDecodeError`` (ASCII); the line was consumed."""
    running = serve()
    faults_of(running).garbage(count=1)
    with open_lf(running.port) as instrument:
        with pytest.raises(UnicodeDecodeError):
            instrument.query("MEAS:VOLT?")
        assert instrument.query("echo next") == "next"


@pytest.mark.srs("SRS-212")
def test_a_slow_answer_arrives_whole_and_late(serve: Serve) -> None:
    """``slow``: pyvisa-py reads to the terminator, so the answer is whole, only late."""
    running = serve()
    faults_of(running).slow(500, count=1)
    with open_lf(running.port) as instrument:
        started = time.monotonic()
        assert instrument.query("big 150") == "x" * 150
        assert time.monotonic() - started >= 0.25
