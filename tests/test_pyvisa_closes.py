"""What each server-side close looks like to pyvisa-py, and the busy policy as PyVISA sees it.

pyvisa-py cannot tell a closed connection from a quiet one: every read
after the server closed times out (``VisaIOError``, ``VI_ERROR_TMO``) only
once the resource's timeout has passed, and the first write after the
close still goes out; the write after the one the server reset raises
``BrokenPipeError``.  While the server lingers over a close (up to 1 s
after ``disconnect``, reading what still comes), writes go out too.  Each
test runs on every front end of the ``serve`` fixture.

The busy policy (``busy=``, ``max_wait=``) is being merged: its tests skip
while :class:`linesock.ServerConfig` has no ``busy`` field, and run once it
lands.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

import linesock
from frontends import RunningServer
from visa_sessions import (
    CLOSING_TIMEOUT_MS,
    assert_read_times_out,
    open_lf,
    refused_write,
)

Serve = Callable[..., RunningServer]


def needs_busy_policy() -> None:
    """Skip the test until ``ServerConfig`` has the busy policy's ``busy`` field."""
    if "busy" not in {field.name for field in dataclasses.fields(linesock.ServerConfig)}:
        pytest.skip("busy policy not merged yet")


@pytest.mark.srs("SRS-194")
def test_after_disconnect_the_answers_before_it_arrive_then_reads_time_out(serve: Serve) -> None:
    """``disconnect``: every earlier answer, then silence; writes fail once the server lets go."""
    running = serve()
    with open_lf(running.port, CLOSING_TIMEOUT_MS) as instrument:
        instrument.write("lines 2\ndisconnect")
        assert instrument.read() == "line 1"
        assert instrument.read() == "line 2"
        assert_read_times_out(instrument)
        assert isinstance(refused_write(instrument), BrokenPipeError)
        with open_lf(running.port) as next_instrument:
            assert next_instrument.query("echo next") == "next"


@pytest.mark.srs("SRS-194")
def test_an_idle_timeout_looks_like_a_read_timeout_then_a_broken_pipe(serve: Serve) -> None:
    """``idle_timeout``: the server closes a quiet resource; its reads time out, its writes fail."""
    running = serve(idle_timeout=0.2)
    with open_lf(running.port, CLOSING_TIMEOUT_MS) as instrument:
        assert instrument.query("ping") == "pong"
        assert_read_times_out(instrument)
        assert isinstance(refused_write(instrument), BrokenPipeError)
    if (stats := running.counters()) is not None:
        assert stats.idle_disconnects == 1


@pytest.mark.srs("SRS-194")
def test_a_server_stop_looks_like_a_read_timeout_then_a_broken_pipe(serve: Serve) -> None:
    """The server stops (``stop()``, SIGTERM): reads time out, the second write fails."""
    running = serve()
    with open_lf(running.port, CLOSING_TIMEOUT_MS) as instrument:
        assert instrument.query("ping") == "pong"
        running.stop()
        assert running.wait_stopped(10.0)
        assert_read_times_out(instrument)
        assert isinstance(refused_write(instrument), BrokenPipeError)


@pytest.mark.srs("SRS-195")
def test_a_second_resource_waits_its_turn_by_default(serve: Serve) -> None:
    """Today's policy (queue): a second resource's query is answered once the first one closes."""
    running = serve()
    with open_lf(running.port) as first, open_lf(running.port) as second:
        assert first.query("ping") == "pong"
        second.write("echo waited")
        assert first.query("echo first") == "first"
        first.write("disconnect")
        assert second.read() == "waited"


@pytest.mark.srs("SRS-195")
def test_with_busy_queue_a_second_resource_waits_its_turn(serve: Serve) -> None:
    """``busy="queue"`` spelled out: the second resource is served when the first leaves."""
    needs_busy_policy()
    running = serve(busy="queue")
    with open_lf(running.port) as first, open_lf(running.port) as second:
        assert first.query("ping") == "pong"
        second.write("echo waited")
        first.write("disconnect")
        assert second.read() == "waited"


@pytest.mark.srs("SRS-195")
def test_with_busy_refuse_a_second_resource_reads_busy_then_is_closed(serve: Serve) -> None:
    """``busy="refuse"``: the second resource's query reads ``busy``, its command never runs."""
    needs_busy_policy()
    running = serve(busy="refuse")
    with open_lf(running.port) as first:
        assert first.query("ping") == "pong"
        with open_lf(running.port, CLOSING_TIMEOUT_MS) as second:
            assert second.query("echo from the second") == "busy"
            assert_read_times_out(second)
            assert isinstance(refused_write(second), BrokenPipeError)
        assert first.query("echo still served") == "still served"
    if (stats := running.counters()) is not None:
        assert stats.commands == 2


@pytest.mark.srs("SRS-195")
def test_with_max_wait_a_waiting_resource_is_closed_unserved(serve: Serve) -> None:
    """``max_wait``: a resource still waiting after it is closed; its command never runs."""
    needs_busy_policy()
    running = serve(max_wait=0.3)
    with open_lf(running.port) as first:
        assert first.query("ping") == "pong"
        with open_lf(running.port, CLOSING_TIMEOUT_MS) as second:
            second.write("echo from the second")
            assert_read_times_out(second)
            assert isinstance(refused_write(second), BrokenPipeError)
        assert first.query("echo still served") == "still served"
    if (stats := running.counters()) is not None:
        assert stats.commands == 2
