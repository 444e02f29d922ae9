"""Served pyvisa-sim devices answer as pyvisa-sim answers in process, exchange for exchange.

Each case is a device of a file and a script of messages.  PyVISA's
``@sim`` backend (the reference: pyvisa-sim in process) and PyVISA's ``@py``
backend over TCP, against ``linesock serve FILE.yaml --device NAME`` in a
subprocess and against an in-process ``linesock.Server``, must get the same
answers to every message, with the terminators of the device's eom.  The
files are pyvisa-sim's own ``default.yaml`` and ours in tests/devices/.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from linesock.testing import start_test_server

pytest.importorskip("pyvisa_sim", reason="serving device files needs pyvisa-sim")
pytest.importorskip("pyvisa_py", reason="the TCP reference is PyVISA's @py backend")

import linesock
from linesock.sim import load_device
from sim_reference import (
    DEFAULT_YAML,
    DEVICES,
    Case,
    same_answers,
    serve_file,
    sim_session,
    socket_session,
)
from support import free_port

pytestmark = pytest.mark.srs("SRS-197")

DEFAULT_DEVICE_1 = [
    "?IDN",
    "!CAL",
    "*RST",
    "?FREQ",
    "!FREQ 12.50",
    "?FREQ",
    "!FREQ 0.00",  # out of its specs: its setter's error answer
    "!FREQ 7",  # does not parse as {:.2f}: the device's error
    "?FREQ",
    "?AMP",
    "!AMP 11.00",  # out of its specs, no error answer of its own
    "!AMP 2.50",
    "?AMP",
    "!OFF 3.00",
    "?OFF",
    "?OUT",
    "!OUT 2",  # not a valid value
    "!OUT 1",
    "?OUT",
    "!WVF 3",
    "?WVF",
    "?IDN;?FREQ;!AMP 4.00;?AMP",  # the delimiter
    "?IDN;",
    "?idn",
    " ?IDN",
    "",
    "bogus",
]
DEFAULT_DEVICE_2 = [
    "*IDN?",
    ":VOLT:IMM:AMPL?",
    ":VOLT:IMM:AMPL 2.500",  # a setter without an answer
    ":VOLT:IMM:AMPL?",
    ":VOLT:IMM:AMPL 9.000",  # out of range: no answer, the status register notes it
    "*ESR?",
    "*ESR?",
    ":CURR:IMM:AMPL 3.000;:CURR:IMM:AMPL?",
    "INST?",
    "INST P25V",
    "INST?",
    "INST X25V",
    "OUTP 1",
    "OUTP?",
    "bogus",
    "*ESR?",
    "*RST",
]
DEFAULT_DEVICE_3 = [
    "*IDN?",
    "bogus",  # its own command error answer
    "*ESR?",
    "INST?",
    "INST P25V",  # read only
    "OUTP 1",
    "OUTP?",
    ":VOLT:IMM:AMPL 0.500",
    "*ESR?",
    ":VOLT:IMM:AMPL?",
]
DEFAULT_DEVICE_4 = [
    ":SYST:ERR?",
    "bogus",
    "bogus again",
    ":SYST:ERR?",
    ":SYST:ERR?",
    ":SYST:ERR?",
    ":VOLT:IMM:AMPL 5.000",
    ":VOLT:IMM:AMPL?",
]
DEFAULT_DEVICE_5 = [
    ":READ?",
    ":SCAN?",
    ":VOLT:IMM:AMPL?",
    ":BAD:SCAN:OUTSIDE?",  # pyvisa-sim raises
    ":SYST:ERR?;:BAD:SCAN:INSIDE?;:SYST:ERR?",  # raises after an answer
    ":SYST:ERR?",
    "*RST",
]
SUPPLY = [
    "*IDN?",
    "*OPC?",
    "GREETING?",  # UTF-8
    "BANNER?",  # an answer holding the response eom: two lines
    "VOLT?",
    "VOLT 3.5",
    "VOLT?",
    "VOLT 31.0",
    "SYST:ERR?",
    "SYST:ERR?",
    "*ESR?",
    "*ESR?",
    "CURR 5.0",  # its setter's error answer
    "CURR 1.5",
    "CURR?",
    "OUTP 1",
    "OUTP 7",
    "OUTP?",
    "MODE?",
    "MODE CC",
    "MODE XX",
    "MODE?",
    "LABEL two words",
    "LABEL?",
    "MEAS:NOISE?",
    "MEAS:TEMP?",
    "VOLT 1.0;VOLT?;CURR?;nope;MODE?",
]
SCOPE = [
    "*IDN?",
    "CH 1:SCALE?",
    "CH 2:SCALE 2.500",
    "CH 2:SCALE?",
    "CH 1:SCALE?",
    "CH 3:SCALE?",  # the first resource narrows the ids to 1 and 2
    "CH 1:SCALE 20.000",
    "CH 1:NAME?",
    "CH 2:COUP AC",
    "CH 2:COUP XX",
    "CH 2:COUP?",
    "CH 1:COUP?",
]
METER = [
    "INST?",
    "RANGE?",
    "RANGE 100.0",
    "RANGE?",
    "INST 2",
    "RANGE?",
    "RANGE 2000.0",
    "INST 3",
    "RANGE?",
    "INST 1;RANGE?",
]
EOM_CR = ["ID", "HELLO WORLD", "GAIN?", "GAIN 50", "GAIN?", "GAIN 500", "GAIN 5;GAIN?", "nope"]
EOM_CRLF = ["ID", "LEVEL?", "LEVEL 10", "LEVEL 7", "LEVEL?", "ID,LEVEL?,ID", "A;B", "nope"]
EOM_MIXED = ["ID", "ID;ID", "nope", ""]
EOM_BARE = ["ID", "QUIET", "nope", "ID;QUIET;ID"]

CASES = [
    Case(DEFAULT_YAML, "device 1", "TCPIP::localhost::10001::SOCKET", DEFAULT_DEVICE_1),
    Case(DEFAULT_YAML, "device 2", "ASRL2::INSTR", DEFAULT_DEVICE_2),
    Case(DEFAULT_YAML, "device 3", "ASRL3::INSTR", DEFAULT_DEVICE_3),
    Case(DEFAULT_YAML, "device 4", "ASRL4::INSTR", DEFAULT_DEVICE_4),
    Case(
        DEFAULT_YAML,
        "device 5",
        "ASRL5::INSTR",
        DEFAULT_DEVICE_5,
        frozenset({":READ?", ":SCAN?", ":VOLT:IMM:AMPL?"}),
    ),
    Case(
        DEVICES / "supply.yaml",
        "supply",
        "TCPIP::localhost::5025::SOCKET",
        SUPPLY,
        frozenset({"MEAS:NOISE?", "MEAS:TEMP?"}),
    ),
    Case(DEVICES / "channels.yaml", "scope", "TCPIP::localhost::5040::SOCKET", SCOPE),
    Case(DEVICES / "channels.yaml", "meter", "TCPIP::localhost::5042::SOCKET", METER),
    Case(DEVICES / "eoms.yaml", "cr", "ASRL1::INSTR", EOM_CR),
    Case(DEVICES / "eoms.yaml", "crlf", "TCPIP::localhost::5031::SOCKET", EOM_CRLF),
    Case(DEVICES / "eoms.yaml", "mixed", "GPIB::3::INSTR", EOM_MIXED),
    Case(DEVICES / "eoms.yaml", "bare", "ASRL4::INSTR", EOM_BARE),
]


@contextmanager
def served_in_process(case: Case) -> Iterator[int]:
    """The case's device on an in-process threaded server, with its eom's terminators."""
    device = load_device(case.path, case.device)
    with linesock.Server(device, **device.server_options) as server:
        yield server.port


@contextmanager
def served_on_asyncio(case: Case) -> Iterator[int]:
    """The case's device on the asyncio server (the fixtures' ``start_test_server``)."""
    with start_test_server(load_device(case.path, case.device), "asyncio") as running:
        yield running.port


@contextmanager
def served_by_the_cli(case: Case) -> Iterator[int]:
    """The case's device served by ``linesock serve FILE.yaml --device NAME --port 0``."""
    with serve_file(case.path, "--device", case.device, "--port", "0") as served:
        yield served.port


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
@pytest.mark.parametrize(
    "server",
    [served_in_process, served_on_asyncio, served_by_the_cli],
    ids=["server", "asyncio", "cli"],
)
def test_answers_match_pyvisa_sim_in_process(case: Case, server: object) -> None:
    """Every exchange of the script gets the answers @sim gives, over a real socket."""
    terminators = load_device(case.path, case.device).terminators
    with (
        server(case) as port,  # type: ignore[operator]
        sim_session(case.path, case.sim_resource, terminators) as sim,
        socket_session(port, terminators) as tcp,
    ):
        same_answers(case, sim, tcp)


# The script of each device of bench.yaml, and its messages answered with RANDOM values.
BENCH = {
    "psu": (["*IDN?", "*RST", "VOLT?", "VOLT 4.5", "VOLT?", "VOLT 25.0", "VOLT?", "bogus"], set()),
    "dmm": (["*IDN?", "READ?", "READ?;*IDN?", "bogus"], {"READ?", "READ?;*IDN?"}),
}


@pytest.mark.srs("SRS-205")
def test_several_devices_of_a_file_each_answer_as_their_sim_resource(tmp_path: Path) -> None:
    """``serve bench.yaml`` (no --device): each socket resource answers as @sim's own resource."""
    text = (DEVICES / "bench.yaml").read_text()
    resources = {}
    for port, device in ((15025, "psu"), (15026, "dmm"), (15027, "psu")):
        free = free_port()
        text = text.replace(f"::{port}::SOCKET", f"::{free}::SOCKET")
        resources[free] = device
    path = tmp_path / "bench.yaml"
    path.write_text(text)
    with serve_file(path, devices=3) as served:
        assert sorted(port for ports in served.ports.values() for port in ports) == sorted(
            resources
        )
        for port, device in resources.items():
            script, random = BENCH[device]
            resource = f"TCPIP::localhost::{port}::SOCKET"
            case = Case(path, device, resource, script, frozenset(random))
            terminators = load_device(path, device).terminators
            with (
                sim_session(path, case.sim_resource, terminators) as sim,
                socket_session(port, terminators) as tcp,
            ):
                same_answers(case, sim, tcp)
        served.process.terminate()
        assert served.finish() == (0, "")
