"""``linesock serve --control-port``: the line it prints; ``send``, ``shell``, ``nc`` on it.

Every server is a real ``linesock serve`` subprocess, waited for by its
``listening on`` and ``control on`` lines, never by sleeping; the main
port is driven by raw sockets (a fault would hit a linesock client's
handshake ``ping`` too).
"""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from linesock import cli
from linesock.cli._serve import ServeSettings
from support import WAIT, connect, free_port, read_exactly, read_until_eof

TESTS = Path(__file__).resolve().parent
LISTENING = re.compile(r"linesock: listening on (?P<host>\S+):(?P<port>\d+)(?P<device>.*)\n")
CONTROL = re.compile(r"linesock: control on (?P<host>\S+):(?P<port>\d+)(?P<device>.*)\n")


def linesock_command(*args: str) -> list[str]:
    """The command line that runs ``linesock`` with *args* in this interpreter."""
    return [sys.executable, "-m", "linesock", *args]


def environment() -> dict[str, str]:
    """This process's environment without a token for the CLI to pick up."""
    return {name: value for name, value in os.environ.items() if name != "LINESOCK_TOKEN"}


def run_cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``linesock ARGS`` to its end and capture its output."""
    return subprocess.run(
        linesock_command(*args),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
        cwd=TESTS,
        env=environment(),
    )


def read_line(process: subprocess.Popen[bytes]) -> str:
    """One line of *process*'s stdout within WAIT, reading nothing past it."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    data = b""
    deadline = time.monotonic() + WAIT
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while not data.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                raise AssertionError(f"no complete line within {WAIT} s, got {data!r}")
            byte = os.read(fd, 1)
            if not byte:
                raise AssertionError(f"stdout closed after {data!r}")
            data += byte
    return data.decode()


@dataclass
class Served:
    """A ``linesock serve`` process and the lines it printed."""

    process: subprocess.Popen[bytes]
    lines: list[str]

    def port(self, index: int = 0) -> int:
        """The main port of the *index*-th server announced."""
        match = LISTENING.fullmatch(self.lines[2 * index])
        assert match, self.lines
        return int(match["port"])

    def control_port(self, index: int = 0) -> int:
        """The control port of the *index*-th server announced."""
        match = CONTROL.fullmatch(self.lines[2 * index + 1])
        assert match, self.lines
        return int(match["port"])

    def stop(self) -> tuple[int, str]:
        """SIGTERM, and the exit code and stderr."""
        self.process.terminate()
        _, stderr = self.process.communicate(timeout=WAIT)
        return self.process.returncode, stderr.decode()


@contextlib.contextmanager
def serving(*args: str, lines: int = 2) -> Iterator[Served]:
    """``linesock serve ARGS`` until it printed *lines* lines; killed at the end if need be."""
    process = subprocess.Popen(
        linesock_command("serve", *args),
        cwd=TESTS,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,
        env=environment(),
    )
    try:
        yield Served(process, [read_line(process) for _ in range(lines)])
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=WAIT)


def ipv6_loopback_available() -> bool:
    """Whether a socket can bind to ::1 here."""
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


# -- serve --control-port -------------------------------------------------------------


@pytest.mark.srs("SRS-229")
def test_the_flag_is_the_control_port_server_option() -> None:
    """``--control-port P`` reaches the server as ``control_port``; a bad port is a usage error."""
    parser = cli.build_parser()
    given = ServeSettings.from_namespace(parser.parse_args(["serve", "--control-port", "0"]))
    assert given.server_options == {"control_port": 0}
    refused = run_cli("serve", "--control-port", "65536")
    assert refused.returncode == cli.EXIT_USAGE
    assert "--control-port: 65536 is not between 0 and 65535" in refused.stderr


@pytest.mark.srs("SRS-229")
@pytest.mark.parametrize(
    "loop", [[], ["--loop", "asyncio"], ["--loop", "uvloop"]], ids=["threaded", "asyncio", "uvloop"]
)
def test_serve_prints_the_control_line_right_after_the_listening_line(loop: list[str]) -> None:
    """``linesock: control on 127.0.0.1:PORT``, the real port, whatever ``--host`` says."""
    if loop[1:] == ["uvloop"]:
        pytest.importorskip("uvloop")
    with serving("--host", "0.0.0.0", "--port", "0", "--control-port", "0", *loop) as served:
        listening = LISTENING.fullmatch(served.lines[0])
        control = CONTROL.fullmatch(served.lines[1])
        assert listening and listening["host"] == "0.0.0.0"
        assert control and control["host"] == "127.0.0.1" and control["device"] == ""
        port = served.control_port()
        assert port != 0
        with connect(port) as sock:
            sock.sendall(b"faults\n")
            assert read_exactly(sock, 5) == b"none\n"
        code, _ = served.stop()
    assert code == cli.EXIT_OK
    with pytest.raises(ConnectionRefusedError):
        connect(port).close()


@pytest.mark.srs("SRS-229")
@pytest.mark.skipif(not ipv6_loopback_available(), reason="no IPv6 loopback here")
def test_beside_an_ipv6_server_the_control_port_is_on_ipv6_loopback() -> None:
    """``--host ::1``: the control line shows ``[::1]:PORT``."""
    with serving("--host", "::1", "--port", "0", "--control-port", "0") as served:
        control = CONTROL.fullmatch(served.lines[1])
        assert control and control["host"] == "[::1]"
        with connect(served.control_port(), "::1") as sock:
            sock.sendall(b"kick\n")
            assert read_exactly(sock, 3) == b"ok\n"


@pytest.mark.srs("SRS-229")
def test_a_control_port_in_use_exits_1_naming_it() -> None:
    """The control port's own address and reason, not the main one's; nothing is left serving."""
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        main_port = free_port()
        result = run_cli("serve", "--port", str(main_port), "--control-port", str(port))
    assert result.returncode == cli.EXIT_ERROR
    assert result.stdout == ""
    assert result.stderr == (
        f"linesock: cannot open the control port on 127.0.0.1:{port}: Address already in use\n"
    )


# -- send, shell, nc --------------------------------------------------------------------


@pytest.mark.srs("SRS-229")
def test_send_drives_the_control_port_one_quoted_command_per_argument() -> None:
    """Each argument is one control line: quote the whole command, and a TEXT inside it."""
    with serving("handlers:protocol_handler", "--port", "0", "--control-port", "0") as served:
        control = str(served.control_port())
        with connect(served.port()) as client:
            client.sendall(b"echo a\n")
            assert read_exactly(client, 2) == b"a\n"
            result = run_cli(
                "send", "--port", control, "fault error 'E1 bad' count 1 match 'echo *'", "faults"
            )
            assert (result.returncode, result.stderr) == (cli.EXIT_OK, "")
            assert result.stdout == "ok\nerror 'E1 bad' count 1 match 'echo *'\n"
            client.sendall(b"echo b\necho c\n")
            assert read_exactly(client, 9) == b"E1 bad\nc\n"
            kicked = run_cli("send", "--port", control, "kick")
            assert kicked.stdout == "ok\n"
            assert read_until_eof(client) == b""


@pytest.mark.srs("SRS-229")
def test_unquoted_words_are_separate_commands() -> None:
    """``send fault delay 500`` sends three lines: the pitfall docs/control.md warns of."""
    with serving("--port", "0", "--control-port", "0") as served:
        result = run_cli("send", "--port", str(served.control_port()), "fault", "delay", "500")
    assert result.returncode == cli.EXIT_OK
    assert result.stdout.splitlines()[1:] == [
        "error unknown command 'delay'",
        "error unknown command '500'",
    ]
    assert result.stdout.startswith("error fault: ")


@pytest.mark.srs("SRS-229")
def test_shell_reads_control_commands_from_stdin() -> None:
    """Piped into ``linesock shell``, each line is a control command; only answers are printed."""
    with serving("--port", "0", "--control-port", "0") as served:
        result = run_cli(
            "shell",
            "--port",
            str(served.control_port()),
            stdin='fault silence count 2 match "MEAS *"\nfaults\nclear\nfaults\n',
        )
    assert (result.returncode, result.stderr) == (cli.EXIT_OK, "")
    assert result.stdout == "ok\nsilence count 2 match 'MEAS *'\nok\nnone\n"


@pytest.mark.srs("SRS-229")
@pytest.mark.skipif(shutil.which("nc") is None, reason="no nc here")
def test_nc_drives_the_control_port() -> None:
    """The recipe: the commands, then ``disconnect``, piped into ``nc 127.0.0.1 PORT``."""
    with serving("--port", "0", "--control-port", "0") as served:
        result = subprocess.run(
            ["nc", "127.0.0.1", str(served.control_port())],
            input="fault delay 250 count 1\nfaults\ndisconnect\n",
            capture_output=True,
            text=True,
            timeout=WAIT,
            check=False,
        )
    assert result.stdout == "ok\ndelay 250 count 1\n"


@pytest.mark.srs("SRS-229", "SRS-227")
def test_with_a_token_send_authenticates_on_the_control_port_too(tmp_path: Path) -> None:
    """``--token-file`` on both: the control port takes the main server's token."""
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    with serving("--port", "0", "--control-port", "0", "--token-file", str(token), "-v") as served:
        control = str(served.control_port())
        refused = run_cli("send", "--port", control, "faults")
        allowed = run_cli("send", "--port", control, "--token-file", str(token), "faults")
        code, stderr = served.stop()
    assert refused.returncode == cli.EXIT_ERROR
    assert allowed.stdout == "none\n"
    assert code == cli.EXIT_OK
    assert "control port: a client failed to authenticate" in stderr
    assert "s3cret" not in stderr


# -- device files ---------------------------------------------------------------------


@pytest.mark.srs("SRS-229")
def test_several_devices_take_control_port_0_each_and_refuse_another(tmp_path: Path) -> None:
    """Each device gets a control port of its own (its line names the device); P != 0 is refused."""
    pytest.importorskip("pyvisa_sim", reason="serving device files needs pyvisa-sim")
    text = (TESTS / "devices" / "bench.yaml").read_text()
    for port in (15025, 15026, 15027):
        text = text.replace(f"::{port}::SOCKET", f"::{free_port()}::SOCKET")
    (tmp_path / "bench.yaml").write_text(text)
    refused = run_cli("serve", str(tmp_path / "bench.yaml"), "--control-port", "5002")
    assert refused.returncode == cli.EXIT_USAGE
    assert refused.stderr == (
        "linesock: --control-port with several devices: give 0 (each device gets a control "
        "port of its own) or serve one of them with --device\n"
    )
    with serving(str(tmp_path / "bench.yaml"), "--control-port", "0", lines=6) as served:
        devices = [CONTROL.fullmatch(line) for line in served.lines[1::2]]
        assert [match["device"] for match in devices if match] == [
            " (device psu)",
            " (device dmm)",
            " (device psu)",
        ]
        with connect(served.control_port(0)) as sock:
            sock.sendall(b"set voltage 7.5\n")
            assert read_exactly(sock, 3) == b"ok\n"
        with connect(served.port(0)) as sock:
            sock.sendall(b"VOLT?\n")
            assert read_exactly(sock, 5) == b"7.50\n"
        with connect(served.control_port(2)) as sock:  # the other psu keeps its own state
            sock.sendall(b"get voltage\n")
            assert read_exactly(sock, 4) == b"0.0\n"
        with connect(served.control_port(1)) as sock:  # the dmm (CRLF) has no property
            sock.sendall(b"state\n")
            assert read_exactly(sock, 5) == b"none\n"
