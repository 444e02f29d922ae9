"""``linesock serve FILE.yaml``: which devices it serves, where, and how it refuses a file.

Every server here is a real ``linesock serve`` subprocess, waited for by
its ``listening on`` lines; the ports a device file names are written, free,
into a temporary copy of it.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pyvisa_sim", reason="serving device files needs pyvisa-sim")
pytest.importorskip("pyvisa_py", reason="the clients are PyVISA's @py backend")

from linesock.cli._serve_devices import ServedDevice, device_server_options, is_device_file
from linesock.sim import load_device
from sim_reference import (
    DEFAULT_YAML,
    DEVICES,
    WAIT,
    linesock_command,
    serve_file,
    socket_exchange,
    socket_session,
)
from support import connect, free_port

pytestmark = pytest.mark.srs("SRS-205")

LF = load_device(DEVICES / "bench.yaml", "psu").terminators
CRLF = load_device(DEVICES / "bench.yaml", "dmm").terminators


def with_free_ports(source: Path, target: Path, ports: list[int]) -> list[int]:
    """Copy the device file *source* to *target*, its socket ports replaced by free ones."""
    text = source.read_text()
    free = []
    for port in ports:
        free.append(free_port())
        text = text.replace(f"::{port}::SOCKET", f"::{free[-1]}::SOCKET")
    target.write_text(text)
    return free


def run_serve(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run ``linesock serve ARGS`` to its end (for the refusals)."""
    return subprocess.run(
        linesock_command("serve", *args), check=False, capture_output=True, text=True, timeout=WAIT
    )


def test_a_yaml_suffix_names_a_device_file() -> None:
    """The handler argument is a device file when it ends in .yaml or .yml, in any case."""
    assert [is_device_file(s) for s in ("a.yaml", "b.YML", "rig:handler", "yaml:x")] == [
        True,
        True,
        False,
        False,
    ]


def test_with_device_the_plain_listening_line_is_printed(tmp_path: Path) -> None:
    """``--device NAME --port 0`` prints the usual line and serves that device."""
    with serve_file(DEFAULT_YAML, "--device", "device 1", "--port", "0") as served:
        assert served.lines == [f"linesock: listening on 127.0.0.1:{served.port}\n"]
        with socket_session(served.port, LF) as session:
            assert socket_exchange(session, "?IDN") == ["LSG Serial #1234"]
        served.process.send_signal(signal.SIGTERM)
        assert served.finish() == (0, "")


def test_without_device_the_socket_resource_is_served_on_its_port(tmp_path: Path) -> None:
    """pyvisa-sim's default.yaml serves its one TCPIP SOCKET device on that resource's port."""
    (port,) = with_free_ports(DEFAULT_YAML, tmp_path / "default.yaml", [10001])
    with serve_file(tmp_path / "default.yaml") as served:
        assert served.lines == [f"linesock: listening on 127.0.0.1:{port} (device device 1)\n"]
        with socket_session(port, LF) as session:
            assert socket_exchange(session, "!FREQ 12.50;?FREQ") == ["OK", "12.50"]


def test_several_devices_each_on_its_port_with_its_own_state(tmp_path: Path) -> None:
    """Each socket resource is a device of its own, on its port; settings outlive sessions."""
    psu_1, dmm, psu_2 = with_free_ports(
        DEVICES / "bench.yaml", tmp_path / "bench.yaml", [15025, 15026, 15027]
    )
    with serve_file(tmp_path / "bench.yaml", devices=3) as served:
        assert served.ports == {"psu": [psu_1, psu_2], "dmm": [dmm]}
        with socket_session(psu_1, LF) as session:
            assert socket_exchange(session, "VOLT 7.5") == []
        with socket_session(psu_1, LF) as session:
            assert socket_exchange(session, "VOLT?") == ["7.50"]
        with socket_session(psu_2, LF) as session:
            assert socket_exchange(session, "VOLT?;*IDN?") == ["0.00", "linesock,PSU,0001,1.0"]
        with socket_session(dmm, CRLF) as session:
            assert socket_exchange(session, "*IDN?") == ["linesock,DMM,0001,1.0"]
            assert re.fullmatch(r"\d\.\d{4}", socket_exchange(session, "READ?")[0])
        served.process.send_signal(signal.SIGINT)
        assert served.finish() == (0, "")
    for port in (psu_1, dmm, psu_2):
        with pytest.raises(ConnectionRefusedError):
            connect(port).close()


def test_a_shutdown_to_one_device_stops_them_all(tmp_path: Path) -> None:
    """A client's ``shutdown`` stops ``linesock serve``, every device with it."""
    ports = with_free_ports(DEVICES / "bench.yaml", tmp_path / "bench.yaml", [15025, 15026, 15027])
    with serve_file(tmp_path / "bench.yaml", "-v", devices=3) as served:
        with connect(ports[1]) as sock:
            sock.sendall(b"shutdown\r\n")
            assert sock.recv(100) == b""
        code, stderr = served.finish()
    assert code == 0
    assert stderr.count("stopped (device ") == 3


def test_several_devices_write_a_transcript_each(tmp_path: Path) -> None:
    """``--transcript rig.jsonl`` with several devices writes rig.PORT.jsonl for each."""
    ports = with_free_ports(DEVICES / "bench.yaml", tmp_path / "bench.yaml", [15025, 15026, 15027])
    transcript = tmp_path / "rig.jsonl"
    with serve_file(tmp_path / "bench.yaml", "--transcript", transcript, devices=3) as served:
        with socket_session(ports[1], CRLF) as session:
            socket_exchange(session, "*IDN?")
        served.process.send_signal(signal.SIGTERM)
        assert served.finish() == (0, "")
    text = (tmp_path / f"rig.{ports[1]}.jsonl").read_text()
    records = [json.loads(line) for line in text.splitlines()]
    assert {"command": "*IDN?", "answers": ["linesock,DMM,0001,1.0"]}.items() <= records[1].items()
    assert sorted(path.name for path in tmp_path.glob("rig.*.jsonl")) == sorted(
        f"rig.{port}.jsonl" for port in ports
    )


def test_a_port_in_use_stops_every_device_before_serving(tmp_path: Path) -> None:
    """When one device cannot listen, ``serve`` exits 1 and no other device is left listening."""
    ports = with_free_ports(DEVICES / "bench.yaml", tmp_path / "bench.yaml", [15025, 15026, 15027])
    with socket.create_server(("127.0.0.1", ports[2])):
        done = run_serve(tmp_path / "bench.yaml")
    assert done.returncode == 1
    assert done.stdout == ""
    assert (
        done.stderr == f"linesock: cannot listen on 127.0.0.1:{ports[2]}: Address already in use\n"
    )


def test_one_device_serves_on_an_event_loop(tmp_path: Path) -> None:
    """``--device`` takes ``--loop asyncio`` like any handler."""
    args = ["--device", "crlf", "--port", "0", "--loop", "asyncio"]
    with (
        serve_file(DEVICES / "eoms.yaml", *args) as served,
        socket_session(served.port, CRLF) as session,
    ):
        assert socket_exchange(session, "ID,LEVEL?") == ["CRLF DEVICE", "5"]


def test_command_line_options_win_over_the_eom() -> None:
    """The server options given on the command line override the device's terminators."""
    device = load_device(DEVICES / "eoms.yaml", "cr")
    served = ServedDevice(device, 0, None)
    assert device_server_options(served, {"terminator": "any"}, several=False) == {
        "terminator": "any",
        "answer_terminator": "cr",
    }


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ["NO_SOCKET", "--port", "0"],
            2,
            "{path} maps no device to a TCPIP::HOST::PORT::SOCKET resource; serve one of its "
            "devices ('cr', 'crlf', 'mixed', 'bare') with --device NAME",
        ),
        (
            [DEFAULT_YAML, "--device", "device 9"],
            2,
            "{path} has no device 'device 9'; its devices are 'device 1', 'device 2', "
            "'device 3', 'device 4', 'device 5'",
        ),
        (
            [DEFAULT_YAML, "--port", "0"],
            2,
            "--port goes with --device: without it each device listens on the port of its "
            "TCPIP SOCKET resource",
        ),
        (
            [DEFAULT_YAML, "--loop", "asyncio"],
            2,
            "--loop serves one device: name it with --device (several devices are served on "
            "threaded servers)",
        ),
        (
            ["tests.cli_fixtures.cli_handler:handler", "--device", "x"],
            2,
            "--device names a device of a pyvisa-sim file (FILE.yaml), not of the handler "
            "'tests.cli_fixtures.cli_handler:handler'",
        ),
        (
            ["missing.yaml"],
            3,
            "cannot read the device file missing.yaml: No such file or directory",
        ),
    ],
    ids=["no-socket", "unknown-device", "port", "loop", "not-a-file", "missing"],
)
def test_a_command_line_that_does_not_fit_the_file_is_refused(
    tmp_path: Path, args: list[str | Path], code: int, message: str
) -> None:
    """Each refusal is one line on stderr, with its exit code, before anything listens."""
    no_socket = tmp_path / "eoms.yaml"
    no_socket.write_text(
        re.sub(
            r"  TCPIP::\S+::SOCKET:\n    device: crlf\n", "", (DEVICES / "eoms.yaml").read_text()
        )
    )
    args = [no_socket if arg == "NO_SOCKET" else arg for arg in args]
    done = run_serve(*args)
    path = args[0]
    assert (done.returncode, done.stdout) == (code, "")
    assert done.stderr == f"linesock: {message.format(path=path)}\n"


def test_without_pyvisa_sim_serve_names_the_extra() -> None:
    """Without pyvisa-sim, ``serve FILE.yaml`` exits 1 with the pip command."""
    code = (
        "import sys; sys.modules['pyvisa_sim'] = None; from linesock.cli import main; "
        f"sys.exit(main(['serve', {str(DEFAULT_YAML)!r}]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=WAIT
    )
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (
        "linesock: serving a pyvisa-sim device file needs pyvisa-sim, which is not installed: "
        "pip install 'linesock[sim]'\n"
    )
