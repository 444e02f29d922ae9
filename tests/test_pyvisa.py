"""PyVISA (pyvisa-py, ``@py``) as the client of every front end: queries, setters, timing, token.

Each test runs once per front end of the ``serve`` fixture, ``linesock
serve`` in a subprocess included; the resource is
``TCPIP0::127.0.0.1::PORT::SOCKET`` with LF terminations both ways, as
docs/pyvisa.md tells users to open it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

import linesock
from frontends import RunningServer
from visa_sessions import CLOSING_TIMEOUT_MS, assert_read_times_out, open_lf

pyvisa = pytest.importorskip("pyvisa", reason="the PyVISA tests need pyvisa and pyvisa-py")
sessions = pytest.importorskip("pyvisa_py.sessions", reason="the PyVISA tests need pyvisa-py")

from pyvisa import constants  # noqa: E402 (after the skip: only with pyvisa installed)

Serve = Callable[..., RunningServer]

#: The write-then-query pairs of the timing test, and the bound on all of them:
#: with a delayed ACK each pair takes ~40 ms (2 s for 50); without one, ~0.2 ms.
PAIRS = 50
PAIRS_BOUND_SECONDS = 1.0


@pytest.mark.srs("SRS-190")
def test_query_reads_the_one_line_answer(serve: Serve) -> None:
    """``query()`` writes the command and reads its one answer line, built-ins included."""
    running = serve()
    with open_lf(running.port) as instrument:
        assert instrument.query("echo hello world") == "hello world"
        assert instrument.query("ping") == "pong"
        assert instrument.query("*IDN?") == "ack:*IDN?"
        assert instrument.query("echo") == ""


@pytest.mark.srs("SRS-190")
def test_a_silent_setter_is_a_write_and_the_next_query_reads_its_own_answer(
    serve: Serve,
) -> None:
    """A command that answers nothing is sent with ``write()``; the next query stays in step."""
    running = serve()
    with open_lf(running.port) as instrument:
        instrument.write("silent")
        instrument.write("silent")
        assert instrument.query("echo after two setters") == "after two setters"
    if (stats := running.counters()) is not None:
        assert stats.commands == 3


@pytest.mark.srs("SRS-191")
def test_write_then_query_pairs_are_not_held_up_by_delayed_acks(serve: Serve) -> None:
    """pyvisa-py leaves Nagle on, yet 50 setter-then-query pairs take well under 50 delayed ACKs.

    Without the server's prompt ACK after the answerless setter, each
    query waits ~40 ms to leave; the figure itself is ``./do_bench``'s
    (write, then query, PyVISA), this bound only tells the two cases apart.
    """
    running = serve()
    with open_lf(running.port) as instrument:
        assert instrument.get_visa_attribute(constants.ResourceAttribute.tcpip_nodelay) == (
            constants.VisaBoolean.false
        )
        instrument.write("silent")
        assert instrument.query("echo warm") == "warm"
        began = time.perf_counter()
        for number in range(PAIRS):
            instrument.write("silent")
            assert instrument.query(f"echo {number}") == str(number)
        elapsed = time.perf_counter() - began
    assert elapsed < PAIRS_BOUND_SECONDS, f"{PAIRS} pairs took {elapsed:.3f} s"


def test_pyvisa_py_cannot_turn_nagle_off() -> None:
    """Setting ``VI_ATTR_TCPIP_NODELAY`` fails in pyvisa-py 0.8: the reason the server must ACK."""
    with (
        linesock.Server(lambda command: None) as server,
        open_lf(server.port) as instrument,
        pytest.raises(sessions.UnknownAttribute, match="VI_ATTR_TCPIP_NODELAY"),
    ):
        instrument.set_visa_attribute(
            constants.ResourceAttribute.tcpip_nodelay, constants.VisaBoolean.true
        )


@pytest.mark.srs("SRS-190")
def test_closing_and_opening_the_resource_again_starts_a_new_session(serve: Serve) -> None:
    """A script that closes its resource and opens it again is served again, at once."""
    running = serve()
    for attempt in range(3):
        with open_lf(running.port) as instrument:
            assert instrument.query(f"echo session {attempt}") == f"session {attempt}"
    if (stats := running.counters()) is not None:
        assert stats.sessions == 3


@pytest.mark.srs("SRS-190")
def test_the_token_is_the_first_write_and_is_answered_ok(serve: Serve) -> None:
    """With a token, ``query("auth TOKEN")`` is answered ``ok``, then the session is as usual."""
    running = serve(token="s3cret-token")
    with open_lf(running.port) as instrument:
        assert instrument.query("auth s3cret-token") == "ok"
        assert instrument.query("echo authenticated") == "authenticated"


@pytest.mark.srs("SRS-190")
def test_a_wrong_or_missing_token_is_answered_unauthorized_then_closed(serve: Serve) -> None:
    """``unauthorized``, then the connection is closed: pyvisa-py's next read times out."""
    running = serve(token="s3cret-token")
    for first in ("auth wrong-token", "echo no token"):
        with open_lf(running.port, CLOSING_TIMEOUT_MS) as instrument:
            assert instrument.query(first) == "unauthorized"
            assert_read_times_out(instrument)
    if (stats := running.counters()) is not None:
        assert stats.auth_failures == 2


def test_pyvisa_is_the_version_the_suite_was_written_for() -> None:
    """The behaviours pinned here (and in docs/pyvisa.md) are PyVISA 1.16's and pyvisa-py 0.8's."""
    from importlib.metadata import version  # noqa: PLC0415

    assert pyvisa.__version__.startswith("1.16")
    assert version("pyvisa-py").startswith("0.8")
