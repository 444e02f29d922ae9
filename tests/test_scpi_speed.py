"""A SCPI query costs within a small factor of a plain Commands query (docs/instruments.md).

The figures themselves depend on the machine; their ratio hardly does, so
the test measures both in the same process, interleaved, and keeps the best
of several rounds of each.  The bound is generous (about 1.2 is measured):
it catches a change that loses the per-spelling cache or adds a slow path,
not noise.
"""

from __future__ import annotations

import timeit

import pytest

import linesock
from linesock import scpi

pytestmark = pytest.mark.srs("SRS-SCPI-10")

ROUNDS = 7
CALLS = 2000
# The highest ratio of SCPI to Commands time allowed.
BOUND = 5.0


def test_a_scpi_query_costs_about_what_a_commands_query_does() -> None:
    """``VOLT?`` on an Instrument and ``get volt`` on Commands: the ratio stays under BOUND."""
    instrument = scpi.Instrument()
    instrument.query("[SOURce]:VOLTage[:LEVel]")(lambda: 3.3)
    commands = linesock.Commands()
    commands.add(lambda name: f"{3.3:.3f}", "get")
    assert instrument("VOLT?") == "+3.300000E+00"
    assert commands("get volt") == "3.300"
    scpi_timer = timeit.Timer(lambda: instrument("VOLT?"))
    commands_timer = timeit.Timer(lambda: commands("get volt"))
    scpi_best = commands_best = float("inf")
    for _ in range(ROUNDS):  # interleaved, so that a busy moment hits both
        scpi_best = min(scpi_best, scpi_timer.timeit(CALLS))
        commands_best = min(commands_best, commands_timer.timeit(CALLS))
    ratio = scpi_best / commands_best
    microseconds = [best / CALLS * 1e6 for best in (scpi_best, commands_best)]
    assert ratio < BOUND, "SCPI {:.2f} us, Commands {:.2f} us".format(*microseconds)
