"""A served pyvisa-sim device: its state across sessions, its resets, its terminators, the fixture.

The answers themselves are checked against pyvisa-sim in test_sim_reference.py;
these tests pin what a TCP server adds: state that outlives a connection,
``*RST`` and ``reset()``, the built-in commands, the framing of each eom,
the errors of a file that cannot be served, and the pytest plugin's
``device_file`` marker.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pyvisa_sim", reason="serving device files needs pyvisa-sim")

import linesock
from linesock.sim import (
    DeviceFile,
    DeviceFileError,
    SimulatedDevice,
    SimulatorNotInstalledError,
    load_device,
)
from linesock.testing import RunningServer, ServeFactory, start_test_server
from sim_reference import DEFAULT_YAML, DEVICES
from support import connect, read_exactly

pytest_plugins = ["pytester"]

SUPPLY = DEVICES / "supply.yaml"
EOMS = DEVICES / "eoms.yaml"


@pytest.fixture
def supply() -> SimulatedDevice:
    """The supply of tests/devices/supply.yaml, as loaded."""
    return load_device(SUPPLY)


@pytest.mark.srs("SRS-198")
def test_state_lasts_across_sessions(linesock_serve: ServeFactory, supply: SimulatedDevice) -> None:
    """A setting made in one session reads back in the next, as on an instrument."""
    running = linesock_serve(supply)
    with running.connect() as client:
        assert client.request("VOLT 4.5;MODE CC") == ["OK"]
        client.send("disconnect")
    with running.connect() as client:
        assert client.request("VOLT?;MODE?") == ["4.500", "CC"]


@pytest.mark.srs("SRS-199")
def test_rst_restores_the_settings_but_keeps_the_error_records(supply: SimulatedDevice) -> None:
    """``*RST`` (a dialogue of the file) resets the properties; registers and queues stay."""
    assert supply("VOLT 12.0;CURR 2.0;bogus") == ["OK", "ERR UNKNOWN"]
    assert supply("*RST") == []
    assert supply("VOLT?;CURR?") == ["0.000", "0.100"]
    assert supply("*ESR?;SYST:ERR?;SYST:ERR?") == ["32", '-100,"Command error"', '0,"No error"']


@pytest.mark.srs("SRS-199")
def test_rst_within_a_message_resets_before_the_parts_after_it(supply: SimulatedDevice) -> None:
    """The parts after ``*RST`` in one message see the file's settings."""
    assert supply("VOLT 3.0;VOLT?;*RST;VOLT?") == ["3.000", "0.000"]


@pytest.mark.srs("SRS-199")
def test_reset_returns_everything_to_the_file(supply: SimulatedDevice) -> None:
    """``reset()`` restores properties, status registers and error queues alike."""
    supply("VOLT 12.0;bogus")
    supply.reset()
    assert supply("VOLT?;*ESR?;SYST:ERR?") == ["0.000", "0", '0,"No error"']


@pytest.mark.srs("SRS-199")
def test_rst_is_only_a_reset_where_the_file_defines_it() -> None:
    """A device without a ``*RST`` dialogue answers it as any unknown command, and keeps state."""
    device = load_device(EOMS, "cr")
    assert device("GAIN 7") == ["OK"]
    assert device("*RST") == ["?"]
    assert device("GAIN?") == ["7"]


@pytest.mark.srs("SRS-199")
def test_channel_settings_reset_too() -> None:
    """``*RST`` and ``reset()`` reset every channel's properties."""
    scope = load_device(DEVICES / "channels.yaml", "scope")
    scope("CH 1:SCALE 2.000")
    scope.reset()
    assert scope("CH 1:SCALE?") == ["+1.000E+00"]


@pytest.mark.srs("SRS-200")
def test_each_device_made_has_its_own_state() -> None:
    """Two devices of one file share nothing, as @sim gives each resource its own copy."""
    device_file = DeviceFile(DEVICES / "bench.yaml")
    first = device_file.resource("TCPIP::localhost::15025::SOCKET")
    second = device_file.resource("TCPIP::localhost::15027::SOCKET")
    first("VOLT 5.0")
    assert (first("VOLT?"), second("VOLT?")) == (["5.00"], ["0.00"])


@pytest.mark.srs("SRS-200")
def test_channel_ids_come_from_the_first_resource_of_the_device() -> None:
    """``device(name)`` takes the channel ids of the first resource mapped to it."""
    device_file = DeviceFile(DEVICES / "channels.yaml")
    assert device_file.device("scope")("CH 3:SCALE?") == ["ERROR"]
    assert device_file.resource("TCPIP::localhost::5041::SOCKET")("CH 3:SCALE?") == ["+1.000E+00"]


@pytest.mark.srs("SRS-201")
@pytest.mark.parametrize(
    ("device", "request_bytes", "answer_bytes"),
    [
        ("cr", b"ID\rGAIN?\r", b"CR DEVICE\r1\r"),
        ("crlf", b"ID\r\nLEVEL?\r\n", b"CRLF DEVICE\r\n5\r\n"),
        ("mixed", b"ID\nID;ID\n", b"MIXED DEVICE\r\nno delimiter: one command\r\n"),
        ("bare", b"ID\nQUIET\nID\n", b"BARE DEVICE\nBARE DEVICE\n"),
    ],
)
def test_the_eom_sets_the_bytes_on_the_wire(
    linesock_serve: ServeFactory, device: str, request_bytes: bytes, answer_bytes: bytes
) -> None:
    """Commands end, and answers are ended, as the device's eom says (LF/LF without one)."""
    running = linesock_serve(load_device(EOMS, device))
    with connect(running.port) as sock:
        sock.sendall(request_bytes)
        assert read_exactly(sock, len(answer_bytes)) == answer_bytes


@pytest.mark.srs("SRS-201")
def test_answers_are_utf8_and_an_answer_holding_the_eom_is_its_lines(
    linesock_serve: ServeFactory, supply: SimulatedDevice
) -> None:
    """Non-ASCII answers go out as UTF-8; an LF inside an LF device's answer ends a line."""
    running = linesock_serve(supply)
    with connect(running.port) as sock:
        sock.sendall(b"GREETING?\nBANNER?\n")
        expected = "grüße, ½ µA\nline one\nline two\n".encode()
        assert read_exactly(sock, len(expected)) == expected


@pytest.mark.srs("SRS-202")
def test_the_built_in_commands_stay_active(
    linesock_serve: ServeFactory, supply: SimulatedDevice
) -> None:
    """``ping`` is answered by the server; ``disconnect`` and ``shutdown`` work as anywhere."""
    running = linesock_serve(supply)
    with connect(running.port) as sock:
        sock.sendall(b"ping\n*IDN?\ndisconnect\n*IDN?\n")
        expected = b"pong\nlinesock,SUPPLY,0001,1.0\n"
        assert read_exactly(sock, len(expected)) == expected
        assert sock.recv(100) == b""
    with connect(running.port) as sock:
        sock.sendall(b"shutdown\n")
        assert sock.recv(100) == b""
    running.stop()


def test_a_device_that_raises_answers_what_came_before(caplog: pytest.LogCaptureFixture) -> None:
    """Where pyvisa-sim raises, the error is logged and the message's later parts are not run."""
    device = load_device(DEFAULT_YAML, "device 5")
    assert device(":SYST:ERR?;:BAD:SCAN:INSIDE?;:SYST:ERR?") == ["0, No Error"]
    (record,) = caplog.records
    assert record.levelname == "ERROR"
    assert "device 5" in record.getMessage()


@pytest.mark.srs("SRS-203")
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("spec: '1.1'\ndevices: [", "is not valid YAML (line 2)"),
        ("devices: {}\n", "is not a pyvisa-sim device file: The file does not specify a spec"),
        ("spec: '9.0'\ndevices: {}\n", "is not a pyvisa-sim device file: The spec version"),
        (
            "spec: '1.0'\ndevices:\n  d:\n    eom:\n      ASRL INSTR: {q: ';', r: '\\n'}\n",
            "the ASRL INSTR eom of the device 'd' has q: ';'; a linesock server ends lines",
        ),
        (
            "spec: '1.0'\ndevices:\n  d:\n    properties:\n      p: {specs: {type: list}}\n",
            "pyvisa-sim cannot build the device 'd': In device d, malformed property p",
        ),
    ],
    ids=["yaml", "no-spec", "newer-spec", "eom", "property"],
)
def test_a_file_that_cannot_be_served_is_refused_in_one_line(
    tmp_path: Path, text: str, message: str
) -> None:
    """Each problem of a file is one DeviceFileError line that names the file and the cause."""
    path = tmp_path / "rig.yaml"
    path.write_text(text)
    with pytest.raises(DeviceFileError) as raised:
        load_device(path)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_load_device_needs_a_name_when_the_file_has_several() -> None:
    """Without a name, a file of several devices is refused, naming them."""
    with pytest.raises(DeviceFileError, match=r"defines 5 devices \('device 1', 'device 2'"):
        load_device(DEFAULT_YAML)
    with pytest.raises(DeviceFileError, match="has no device 'nope'; its devices are 'cr'"):
        load_device(EOMS, "nope")


@pytest.mark.srs("SRS-203")
def test_without_pyvisa_sim_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading a file without pyvisa-sim says which extra to install."""
    monkeypatch.setitem(sys.modules, "pyvisa_sim", None)
    with pytest.raises(SimulatorNotInstalledError, match=r"pip install 'linesock\[sim\]'$"):
        load_device(SUPPLY)


@pytest.mark.srs("SRS-203")
def test_plain_linesock_does_not_import_pyvisa_sim() -> None:
    """Importing linesock, its CLI, its plugin and linesock.sim leaves pyvisa-sim unimported."""
    code = (
        "import sys, linesock, linesock.sim, linesock.cli, linesock.testing; "
        "print(sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('pyvisa_sim', 'pyvisa', 'yaml')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30, check=True)
    assert done.stdout == b"[]\n"


def test_start_test_server_takes_the_device_terminators() -> None:
    """A SimulatedDevice is served with its eom's terminators unless told otherwise."""
    device = load_device(EOMS, "cr")
    with start_test_server(device) as running:
        assert (running.config.terminator, running.config.answer_terminator) == ("cr", "cr")
    with start_test_server(device, "asyncio", terminator="any") as running:
        assert (running.config.terminator, running.config.answer_terminator) == ("any", "cr")


# -- the pytest plugin -------------------------------------------------------------

PLUGIN_EXAMPLE = """
import pytest

pytestmark = pytest.mark.linesock(device_file="devices/supply.yaml")


def test_a_setting_changes(linesock_client):
    assert linesock_client.request("VOLT 9.5;VOLT?") == ["9.500"]
    assert linesock_client.request("bogus") == ["ERR UNKNOWN"]


def test_the_next_test_starts_from_the_file(linesock_client):
    assert linesock_client.request("VOLT?;*ESR?") == ["0.000", "0"]


@pytest.mark.linesock(device_file="devices/eoms.yaml", device="cr")
def test_a_cr_device_is_served_with_its_terminators(linesock_server, linesock_handler):
    assert linesock_server.config.terminator == "cr"
    assert linesock_handler.name == "cr"


@pytest.mark.linesock(device_file="devices/eoms.yaml", device="cr")
def test_the_client_fixture_refuses_a_cr_device(linesock_client):
    pass
"""


@pytest.mark.srs("SRS-204")
def test_the_marker_serves_a_device_file_reset_for_each_test(pytester: pytest.Pytester) -> None:
    """``device_file=`` serves the device with its terminators, from the file's state each test."""
    devices = pytester.mkdir("devices")
    for name in ("supply.yaml", "eoms.yaml"):
        (devices / name).write_bytes((DEVICES / name).read_bytes())
    pytester.makepyfile(test_rig=PLUGIN_EXAMPLE)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(
        ["*linesock.Client speaks LF, and this server ends commands with CR*"]
    )


@pytest.mark.linesock(device_file="devices/supply.yaml")
def test_the_marker_path_is_relative_to_the_test_module(
    linesock_server: RunningServer, linesock_client: linesock.Client
) -> None:
    """The marker's relative path is found next to this module, and the client talks to it."""
    assert linesock_client.request("*IDN?") == ["linesock,SUPPLY,0001,1.0"]
    assert linesock_server.config.answer_terminator == "lf"


@pytest.mark.srs("SRS-203")
@pytest.mark.parametrize(
    ("text", "call", "message"),
    [
        ("spec: '1.1'\ndevices: [a]\n", "file", "'devices' and 'resources' must be mappings"),
        (
            "spec: '1.1'\ndevices:\n  d: {eom: [x]}\n",
            "device",
            "the eom of the device 'd' is not a mapping",
        ),
        (
            "spec: '1.1'\ndevices:\n  d:\n    eom:\n      ASRL INSTR: {q: '\\n'}\n",
            "device",
            "the ASRL INSTR eom of the device 'd' needs both q and r",
        ),
        ("spec: '1.1'\ndevices:\n  d: [x]\n", "device", "the device 'd' is not a mapping"),
        (
            "spec: '1.1'\ndevices: {}\nresources:\n  ASRL1::INSTR: {}\n",
            "resource",
            "the resource ASRL1::INSTR names no device",
        ),
        (
            "spec: '1.1'\ndevices: {}\nresources:\n  ASRL1::INSTR: {device: d}\n",
            "resource",
            "the device 'd' of ASRL1::INSTR cannot be loaded: 'd'",
        ),
        ("spec: '1.1'\ndevices: {}\n", "resource", "has no resource 'ASRL1::INSTR'"),
    ],
    ids=["devices", "eom", "eom-half", "device", "no-device", "missing-device", "no-resource"],
)
def test_the_parts_of_a_file_are_checked(
    tmp_path: Path, text: str, call: str, message: str
) -> None:
    """A part of a file that is not what the format says is a DeviceFileError naming it."""
    path = tmp_path / "rig.yaml"
    path.write_text(text)
    with pytest.raises(DeviceFileError) as raised:
        device_file = DeviceFile(path)
        if call == "device":
            device_file.device("d")
        elif call == "resource":
            device_file.resource("ASRL1::INSTR")
    assert message in str(raised.value)


def test_a_device_shows_its_name_and_terminators() -> None:
    """The repr names the device and its framing."""
    assert repr(load_device(EOMS, "mixed")) == "<linesock.sim.SimulatedDevice 'mixed' lf/crlf>"
    assert load_device(EOMS, "mixed").terminators.source == "GPIB INSTR"
