"""PyVISA's terminations against the server's terminators: which settings fit which options.

On the threaded server in this process and on ``linesock serve`` in a
subprocess (``--terminator``, ``--answer-terminator``);
tests/test_terminators.py checks the bytes on every front end.  PyVISA's
defaults for a SOCKET resource are: write CRLF, read none.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from frontends import RunningServer, serve_fixture, start_cli, start_threaded
from visa_sessions import CLOSING_TIMEOUT_MS, assert_read_times_out, open_resource, request

Serve = Callable[..., RunningServer]

serve = serve_fixture({"threaded": start_threaded, "cli": start_cli})

CR, LF, CRLF = "\r", "\n", "\r\n"


@pytest.mark.srs("SRS-192")
@pytest.mark.parametrize(
    ("server_options", "terminations"),
    [
        ({}, {"read_termination": LF}),
        ({}, {"read_termination": LF, "write_termination": LF}),
        ({"terminator": "cr"}, {"read_termination": LF, "write_termination": CR}),
        ({"terminator": "crlf"}, {"read_termination": LF}),
        ({"terminator": "any"}, {"read_termination": LF, "write_termination": CR}),
        ({"terminator": "any"}, {"read_termination": LF, "write_termination": LF}),
        ({"terminator": "any"}, {"read_termination": LF}),
        ({"answer_terminator": "crlf"}, {"read_termination": CRLF, "write_termination": LF}),
        ({"answer_terminator": "cr"}, {"read_termination": CR, "write_termination": LF}),
        ({"terminator": "crlf", "answer_terminator": "crlf"}, {"read_termination": CRLF}),
    ],
    ids=[
        "lf-pyvisa-write-default",
        "lf",
        "cr",
        "crlf-pyvisa-write-default",
        "any-cr",
        "any-lf",
        "any-pyvisa-write-default",
        "answer-crlf",
        "answer-cr",
        "crlf-both-ways",
    ],
)
def test_matching_terminations_query_and_request(
    serve: Serve, server_options: dict[str, str], terminations: dict[str, Any]
) -> None:
    """With the terminations that fit the server's options, queries and the ping recipe work."""
    running = serve(**server_options)
    with open_resource(running.port, **terminations) as instrument:
        assert instrument.query("echo a b") == "a b"
        assert request(instrument, "lines 2") == ["line 1", "line 2"]
        instrument.write("silent")
        assert instrument.query("ping") == "pong"


@pytest.mark.srs("SRS-192")
def test_pyvisa_default_terminations_time_out_until_a_read_termination_is_set(
    serve: Serve,
) -> None:
    """Write CRLF suits the default server, but reading with no termination never ends a read."""
    running = serve()
    with open_resource(running.port, CLOSING_TIMEOUT_MS) as instrument:
        assert instrument.write_termination == CRLF
        assert instrument.read_termination is None
        instrument.write("echo unterminated")
        assert_read_times_out(instrument)
        instrument.read_termination = LF
        assert instrument.query("echo terminated") == "terminated"


@pytest.mark.srs("SRS-192")
def test_reading_crlf_answers_with_lf_leaves_the_cr_on(serve: Serve) -> None:
    """``--answer-terminator crlf`` read with ``read_termination="\\n"``: each answer ends in CR."""
    running = serve(answer_terminator="crlf")
    with open_resource(running.port, read_termination=LF, write_termination=LF) as instrument:
        assert instrument.query("echo a") == "a\r"


@pytest.mark.srs("SRS-192")
def test_writing_crlf_to_a_cr_server_prefixes_the_next_command_with_lf(serve: Serve) -> None:
    """``--terminator cr`` with PyVISA's CRLF: the LF starts the next command, so it goes wrong.

    The first command ends at its CR; the second arrives as ``"\\necho b"``,
    whose echo holds an LF, which the server drops: that query times out.
    """
    running = serve(terminator="cr")
    with open_resource(running.port, CLOSING_TIMEOUT_MS, read_termination=LF) as instrument:
        assert instrument.query("echo a") == "a"
        instrument.write("echo b")
        assert_read_times_out(instrument)
