"""Real SCPI drivers against the sample over TCP: a pymeasure SCPIMixin driver and PyVISA.

Neither peer knows anything of linesock: pymeasure's driver and PyVISA's
``TCPIP0::127.0.0.1::PORT::SOCKET`` resource (pyvisa-py, ``@py``) talk to
the server as they talk to a bench instrument.  One test serves the sample
with ``linesock serve`` in a subprocess, the way a user runs it.
"""

from __future__ import annotations

import os
import re
import selectors
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from linesock.sample import IDENTITY, PowerSupply
from linesock.testing import RunningServer, ServeFactory

pyvisa = pytest.importorskip("pyvisa", reason="the PyVISA tests need pyvisa and pyvisa-py")
pytest.importorskip("pyvisa_py", reason="the PyVISA tests need the pyvisa-py backend (@py)")

pytestmark = pytest.mark.srs("SRS-177")

# The bound on every wait for a server, a subprocess or an answer, in seconds.
WAIT = 10.0
VISA_TIMEOUT_MS = int(WAIT * 1000)


def resource_name(port: int) -> str:
    """The VISA resource of a raw TCP socket instrument on this machine."""
    return f"TCPIP0::127.0.0.1::{port}::SOCKET"


@pytest.fixture
def served(linesock_serve: ServeFactory) -> RunningServer:
    """A fresh sample power supply on the threaded server, on a free port."""
    return linesock_serve(PowerSupply(), "threaded")


@pytest.fixture
def visa(served: RunningServer) -> Iterator[Any]:
    """A PyVISA (@py) session with the served sample, LF-terminated both ways."""
    manager = pyvisa.ResourceManager("@py")
    session = manager.open_resource(
        resource_name(served.port),
        read_termination="\n",
        write_termination="\n",
        timeout=VISA_TIMEOUT_MS,
    )
    yield session
    session.close()
    manager.close()


def test_pyvisa_identifies_sets_reads_and_syncs(visa: Any) -> None:
    """``*IDN?``, a setter then its query, and ``*OPC?``, as a PyVISA script does them."""
    assert visa.query("*IDN?") == IDENTITY
    visa.write("VOLT 3.3")
    assert visa.query("VOLT?") == "+3.300000E+00"
    assert float(visa.query("VOLT?")) == 3.3
    assert visa.query("*OPC?") == "1"
    visa.write("CURR 0.2;OUTP ON")
    assert visa.query_ascii_values("MEAS:VOLT?;CURR?", separator=";") == [2.0, 0.2]


@pytest.mark.parametrize(
    "setter", ["VOLT 4.5", "VOLTAGE 4.5", "volt:lev 4.5", "SOURce:VOLTage:LEVel 4.5", ":Volt 4.5"]
)
def test_pyvisa_short_long_and_lower_case_headers(visa: Any, setter: str) -> None:
    """Short and long headers in any case set the same voltage."""
    visa.write(setter)
    assert visa.query("sour:volt?") == "+4.500000E+00"
    assert visa.query("SOURCE:VOLTAGE:LEVEL?") == "+4.500000E+00"


def test_pyvisa_reads_the_error_of_a_bad_command(visa: Any) -> None:
    """A bad command answers nothing, so the next query's answer is its own: the error."""
    visa.write("VOLT 99")
    visa.write("VOLT:BOGUS 1")
    assert visa.query("SYST:ERR:COUN?") == "2"
    assert visa.query("SYST:ERR?") == '-222,"Data out of range"'
    assert visa.query("SYST:ERR?") == '-113,"Undefined header"'
    assert visa.query("SYST:ERR?") == '0,"No error"'
    assert visa.query("*ESR?") == "48"  # CME and EXE


def test_pyvisa_reset_between_tests(visa: Any) -> None:
    """``*RST;*CLS`` brings back the power-on state and an empty queue, as a fixture would."""
    visa.write("VOLT 12;OUTP ON;VOLT 99")
    visa.write("*RST;*CLS")
    assert visa.query("VOLT?;OUTP?;SYST:ERR?") == '+0.000000E+00;0;0,"No error"'


# -- pymeasure ---------------------------------------------------------------------


def make_driver_class() -> type:
    """A pymeasure SCPIMixin driver for the sample, as a user would write one."""
    instruments = pytest.importorskip("pymeasure.instruments", reason="needs pymeasure")
    validators = pytest.importorskip("pymeasure.instruments.validators", reason="needs pymeasure")
    instrument, scpi_mixin = instruments.Instrument, instruments.SCPIMixin

    class SimulatedSupply(scpi_mixin, instrument):  # type: ignore[misc, valid-type]
        """The linesock sample power supply."""

        def __init__(self, adapter: str, name: str = "linesock sample supply", **kwargs: Any):
            super().__init__(
                adapter,
                name,
                read_termination="\n",
                write_termination="\n",
                visa_library="@py",
                timeout=VISA_TIMEOUT_MS,
                **kwargs,
            )

        voltage_setpoint = instrument.control(
            "SOUR:VOLT?",
            "SOUR:VOLT %g",
            """Control the voltage setpoint in volts (0 to 30).""",
            validator=validators.strict_range,
            values=[0, 30],
        )
        current_limit = instrument.control(
            "CURR?",
            "CURR %g",
            """Control the current limit in amperes (0 to 5).""",
            validator=validators.strict_range,
            values=[0, 5],
        )
        output_enabled = instrument.control(
            "OUTP?",
            "OUTP %d",
            """Control whether the output is on.""",
            validator=validators.strict_discrete_set,
            values={True: 1, False: 0},
            map_values=True,
        )
        voltage = instrument.measurement("MEAS:VOLT?", """Measure the output voltage in volts.""")
        current = instrument.measurement("MEAS:CURR?", """Measure the output current in amperes.""")

    return SimulatedSupply


@pytest.fixture
def driver(served: RunningServer) -> Iterator[Any]:
    """The pymeasure driver connected to the served sample."""
    supply = make_driver_class()(resource_name(served.port))
    yield supply
    supply.adapter.close()


@pytest.mark.srs("SRS-176")
def test_pymeasure_driver_id_and_controls(driver: Any) -> None:
    """``id``, controls set and read back, measurements, ``complete`` and ``status``."""
    assert driver.id == IDENTITY
    driver.voltage_setpoint = 3.3
    assert driver.voltage_setpoint == 3.3
    driver.current_limit = 0.2
    driver.output_enabled = True
    assert driver.output_enabled is True
    assert (driver.voltage, driver.current) == (2.0, 0.2)
    assert driver.complete == "1"
    assert driver.status == "0"


@pytest.mark.srs("SRS-176")
def test_pymeasure_check_errors_returns_the_queued_errors(driver: Any) -> None:
    """``check_errors()`` reads SYST:ERR? until no error and returns what was queued."""
    assert driver.check_errors() == []
    driver.write("VOLT 99")
    driver.write("OUTP MAYBE")
    assert driver.check_errors() == [
        [-222, '"Data out of range"'],
        [-224, '"Illegal parameter value"'],
    ]
    assert driver.check_errors() == []


@pytest.mark.srs("SRS-176")
def test_pymeasure_reset_and_clear(driver: Any) -> None:
    """``reset()`` sends ``*RST`` and ``clear()`` ``*CLS``: power-on settings, no errors."""
    driver.voltage_setpoint = 9
    driver.write("VOLT 99")
    driver.reset()
    driver.clear()
    assert driver.voltage_setpoint == 0
    assert driver.check_errors() == []


# -- linesock serve ----------------------------------------------------------------

LISTENING = re.compile(r"linesock: listening on 127\.0\.0\.1:(\d+)\n")


def read_line(process: subprocess.Popen[bytes], timeout: float) -> str:
    """One line of the process's stdout within *timeout*, read without consuming more."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    data = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while not data.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                raise AssertionError(f"no complete line within {timeout} s, got {data!r}")
            byte = os.read(fd, 1)
            if not byte:
                raise AssertionError(f"stdout closed after {data!r}")
            data += byte
    return data.decode()


@pytest.fixture
def serve_process() -> Iterator[int]:
    """``linesock serve --port 0`` (the sample) in a subprocess; yields its port."""
    process = subprocess.Popen(
        [sys.executable, "-m", "linesock", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        line = read_line(process, WAIT)
        match = LISTENING.fullmatch(line)
        assert match, line
        yield int(match[1])
    finally:
        process.terminate()
        process.communicate(timeout=WAIT)


def test_pyvisa_against_linesock_serve(serve_process: int) -> None:
    """Plain ``linesock serve`` answers a PyVISA script with no handler of the user's own."""
    manager = pyvisa.ResourceManager("@py")
    session = manager.open_resource(
        resource_name(serve_process),
        read_termination="\n",
        write_termination="\n",
        timeout=VISA_TIMEOUT_MS,
    )
    try:
        assert session.query("*IDN?") == IDENTITY
        session.write("*RST;*CLS")
        session.write("Curr 0.5;volt 1")
        assert session.query("VOLTage?;CURRent?") == "+1.000000E+00;+5.000000E-01"
        session.write("OUTP ON;VOLT 50")
        assert session.query("*OPC?") == "1"
        assert session.query("SYST:ERR?") == '-222,"Data out of range"'
        assert session.query("MEAS:CURR?") == "+1.000000E-01"
    finally:
        session.close()
        manager.close()
