"""Tests of the ``linesock`` command line, run as real subprocesses over real sockets.

Every wait is bounded by ``WAIT``; a server subprocess is awaited by reading
its ``listening on`` line, never by sleeping, and is killed in teardown
whatever happened.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import linesock
from cli_fixtures import cli_handler
from linesock import cli
from linesock.cli import EXIT_ERROR, EXIT_HANDLER_IMPORT, EXIT_OK, EXIT_USAGE, main
from linesock.cli._serve import ServeSettings

FIXTURES = Path(__file__).parent / "cli_fixtures"
# The bound on every wait for a subprocess or a socket, in seconds.
WAIT = 10.0
LISTENING = re.compile(r"linesock: listening on (?P<host>.+):(?P<port>\d+)\n")


def linesock_command(*args: str) -> list[str]:
    """The command line that runs ``linesock`` with *args* in this interpreter."""
    return [sys.executable, "-m", "linesock", *args]


def cli_environment(**variables: str) -> dict[str, str]:
    """This process's environment without ``LINESOCK_TOKEN``, plus *variables*."""
    environment = {name: value for name, value in os.environ.items() if name != "LINESOCK_TOKEN"}
    return {**environment, **variables}


def run_cli(
    *args: str,
    stdin: str | None = None,
    cwd: Path = FIXTURES,
    environment: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``linesock`` with *args* to completion and capture its output."""
    return subprocess.run(
        linesock_command(*args),
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
        env=cli_environment() if environment is None else environment,
    )


@dataclass
class Finished:
    """How a ``linesock serve`` subprocess ended."""

    returncode: int
    stdout: str
    stderr: str


class ServeProcess:
    """A running ``linesock serve`` subprocess and the address it reported."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        """Wrap *process*; call :meth:`wait_listening` before using the address."""
        self.process = process
        self.listening_line = ""
        self.host = ""
        self.port = 0

    def wait_listening(self) -> None:
        """Read the ``listening on`` line, failing with the server's stderr if it never comes."""
        try:
            self.listening_line = read_line(self.process, WAIT)
        except AssertionError as exc:
            self.process.kill()
            _, stderr = self.process.communicate(timeout=WAIT)
            raise AssertionError(f"{exc}; server stderr: {stderr.decode()!r}") from None
        match = LISTENING.fullmatch(self.listening_line)
        assert match, self.listening_line
        self.host = match["host"].strip("[]")
        self.port = int(match["port"])

    def finish(self) -> Finished:
        """Wait for the server to exit by itself and return how it ended."""
        stdout, stderr = self.process.communicate(timeout=WAIT)
        return Finished(self.process.returncode, stdout.decode(), stderr.decode())

    def signal(self, number: int) -> Finished:
        """Send signal *number* and wait for the server to exit."""
        self.process.send_signal(number)
        return self.finish()


def read_line(process: subprocess.Popen[bytes], timeout: float, *, stderr: bool = False) -> str:
    """Read one line from *process*'s stdout (or stderr) within *timeout*, leaving the rest."""
    stream = process.stderr if stderr else process.stdout
    assert stream is not None
    fd = stream.fileno()
    data = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while not data.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                raise AssertionError(f"no complete line within {timeout} s, got {data!r}")
            byte = os.read(fd, 1)  # one byte at a time: nothing past the line is consumed
            if not byte:
                raise AssertionError(f"stdout closed after {data!r}")
            data += byte
    return data.decode()


@contextlib.contextmanager
def serving(
    *args: str, cwd: Path = FIXTURES, environment: dict[str, str] | None = None
) -> Iterator[ServeProcess]:
    """Start ``linesock serve ARGS`` and wait until it listens; kill it in teardown."""
    process = subprocess.Popen(
        linesock_command("serve", *args),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,
        env=cli_environment() if environment is None else environment,
    )
    try:
        server = ServeProcess(process)
        server.wait_listening()
        yield server
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=WAIT)


def connect(port: int, host: str = "127.0.0.1") -> socket.socket:
    """A raw TCP connection to the server, with every read bounded by ``WAIT``."""
    sock = socket.create_connection((host, port), timeout=WAIT)
    sock.settimeout(WAIT)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def read_exactly(sock: socket.socket, size: int) -> bytes:
    """The next *size* bytes from the server."""
    received = b""
    while len(received) < size:
        chunk = sock.recv(size - len(received))
        assert chunk, f"the server closed after {received!r}"
        received += chunk
    return received


def unused_port() -> int:
    """A port nothing listens on (bound and released just now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def ipv6_loopback_available() -> bool:
    """Tell whether a socket can bind to ::1 here."""
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@dataclass
class BackgroundServer:
    """A threaded ``linesock.Server`` serving in a thread the test can join."""

    server: linesock.Server
    thread: threading.Thread

    @property
    def port(self) -> str:
        """The port, as a command-line argument."""
        return str(self.server.port)

    def wait_stopped(self) -> bool:
        """Wait (bounded) for ``serve_forever`` to return; True if it did."""
        self.thread.join(WAIT)
        return not self.thread.is_alive() and not self.server.is_running


@contextlib.contextmanager
def background_server(
    handler: Callable[[str], object], **options: Any
) -> Iterator[BackgroundServer]:
    """Serve *handler* (with server *options*) on a free loopback port in a thread."""
    server = linesock.Server(handler, **options)
    server.listen()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield BackgroundServer(server, thread)
    finally:
        server.stop(WAIT)


@pytest.fixture
def test_server() -> Iterator[BackgroundServer]:
    """A threaded server of the CLI tests' handler module."""
    with background_server(cli_handler.handler) as server:
        yield server


# -- --version and usage ------------------------------------------------------


@pytest.mark.srs("SRS-126", "SRS-136")
def test_version_prints_the_package_version() -> None:
    """``linesock --version`` prints ``linesock X.Y.Z`` and exits 0."""
    result = run_cli("--version")
    assert (result.returncode, result.stdout, result.stderr) == (
        0,
        f"linesock {linesock.__version__}\n",
        "",
    )


@pytest.mark.srs("SRS-126")
def test_console_script_runs_main() -> None:
    """The installed ``linesock`` script is wired to the same command line."""
    script = shutil.which("linesock", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("the linesock console script is not installed next to this interpreter")
    result = subprocess.run(
        [script, "--version"], capture_output=True, text=True, timeout=WAIT, check=False
    )
    assert (result.returncode, result.stdout) == (0, f"linesock {linesock.__version__}\n")


@pytest.mark.srs("SRS-136")
def test_main_returns_zero_for_version(capsys: pytest.CaptureFixture[str]) -> None:
    """Called in-process, ``main(["--version"])`` returns 0 instead of exiting."""
    assert main(["--version"]) == EXIT_OK
    assert capsys.readouterr().out == f"linesock {linesock.__version__}\n"


@pytest.mark.srs("SRS-117")
def test_exit_codes_have_their_documented_values() -> None:
    """The named exit codes are 0, 1, 2 and 3."""
    assert (EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_HANDLER_IMPORT) == (0, 1, 2, 3)


@pytest.mark.srs("SRS-117", "SRS-118")
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "the following arguments are required: COMMAND"),
        (["serve", "--port", "70000"], "argument --port: 70000 is not between 0 and 65535"),
        (["serve", "--port", "http"], "argument --port: 'http' is not a port number"),
        (["serve", "--max-line-bytes", "0"], "argument --max-line-bytes: 0 is not at least 1"),
        (
            ["serve", "--idle-timeout", "-1"],
            "argument --idle-timeout: -1 is not a positive number of seconds",
        ),
        (
            ["serve", "--write-timeout", "soon"],
            "argument --write-timeout: 'soon' is not a number of seconds",
        ),
        (["send"], "the following arguments are required: COMMAND"),
        (["send", "a\nb"], "a command cannot hold CR or LF: 'a\\nb'"),
        (["send", "--timeout", "0", "ping"], "argument --timeout: 0 is not a positive number"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["serve", "--loop", "trio"], "argument --loop: invalid choice: 'trio'"),
        (["replay"], "the following arguments are required: FILE"),
    ],
)
def test_usage_errors_exit_2_with_the_reason(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A wrong command line returns 2 and says what is wrong on stderr."""
    assert main(argv) == EXIT_USAGE
    captured = capsys.readouterr()
    assert captured.out == ""
    assert message in captured.err


@pytest.mark.srs("SRS-118")
@pytest.mark.parametrize("closing", ["disconnect", "shutdown"])
def test_send_refuses_a_closing_command_before_the_last(
    closing: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``disconnect``/``shutdown`` must be the last command of ``send`` (nothing is sent)."""
    assert main(["send", "--port", str(unused_port()), closing, "ping"]) == EXIT_USAGE
    assert capsys.readouterr().err == (
        f"linesock: {closing!r} ends the session, so it can only be the last command\n"
    )


@pytest.mark.srs("SRS-119", "SRS-152")
def test_server_flags_map_to_server_config_fields() -> None:
    """Only the server flags given reach the Server, under their ServerConfig names."""
    parser = cli.build_parser()
    given = parser.parse_args(
        [
            "serve",
            "--max-line-bytes",
            "64",
            "--idle-timeout",
            "2.5",
            "--write-timeout",
            "none",
            "--no-remote-shutdown",
            "--transcript",
            "rig.jsonl",
        ]
    )
    assert ServeSettings.from_namespace(given).server_options == {
        "max_line_bytes": 64,
        "idle_timeout": 2.5,
        "write_timeout": None,
        "allow_remote_shutdown": False,
        "transcript": "rig.jsonl",
    }
    assert ServeSettings.from_namespace(parser.parse_args(["serve"])).server_options == {}


# -- serve ---------------------------------------------------------------------


@pytest.mark.srs("SRS-111", "SRS-113", "SRS-129")
@pytest.mark.parametrize(
    "loop", [[], ["--loop", "asyncio"], ["--loop", "uvloop"]], ids=["threaded", "asyncio", "uvloop"]
)
def test_serve_answers_a_raw_socket_as_the_protocol_says(loop: list[str]) -> None:
    """``serve module:handler`` (on any server) announces its port and answers per the protocol."""
    if "uvloop" in loop:
        pytest.importorskip("uvloop")
    with serving("cli_handler:handler", "--port", "0", *loop) as server:
        assert server.listening_line == f"linesock: listening on 127.0.0.1:{server.port}\n"
        with connect(server.port) as sock:
            sock.sendall(b"echo hi\r\nping\ncount 2\nquiet\n\xff\xfe\necho caf\xc3\xa9\n")
            expected = b"hi\npong\n1\n2\ninvalid\ncaf\xc3\xa9\n"
            assert read_exactly(sock, len(expected)) == expected
            sock.sendall(b"disconnect\n")
            assert read_until_closed(sock) == b""
        with connect(server.port) as sock:
            sock.sendall(b"echo second client\nshutdown\n")
            assert read_until_closed(sock) == b"second client\n"
        finished = server.finish()
    assert finished == Finished(0, "", "")


@pytest.mark.srs("SRS-111")
def test_serve_handler_given_as_object_attribute() -> None:
    """``module:obj.method`` serves the method."""
    with serving("cli_handler:app.handle", "--port", "0") as server:
        with connect(server.port) as sock:
            sock.sendall(b"anything\nshutdown\n")
            assert read_until_closed(sock) == b"app got anything\n"
        assert server.finish().returncode == 0


@pytest.mark.srs("SRS-112")
def test_serve_without_handler_serves_the_sample() -> None:
    """With no handler argument, ``serve`` answers as the sample power supply."""
    with serving("--port", "0") as server:
        with connect(server.port) as sock:
            sock.sendall(b"idn\nset volt 1\nget volt\nshutdown\n")
            assert read_until_closed(sock) == b"linesock,PSU-1,SIM-0001,1.0\nok\n1.000\n"
        assert server.finish().returncode == 0


@pytest.mark.srs("SRS-114")
@pytest.mark.parametrize("signal_number", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.parametrize("with_client", [False, True], ids=["idle", "client-connected"])
def test_serve_stops_cleanly_on_a_signal(signal_number: int, with_client: bool) -> None:
    """SIGTERM and SIGINT stop ``serve`` with exit 0 and no traceback, a client connected or not."""
    with serving("cli_handler:handler", "--port", "0") as server, contextlib.ExitStack() as stack:
        if with_client:
            sock = stack.enter_context(connect(server.port))
            sock.sendall(b"ping\n")
            assert read_exactly(sock, 5) == b"pong\n"  # the server is in the session now
        finished = server.signal(signal_number)
        if with_client:
            assert read_until_closed(sock) == b""
    assert finished == Finished(0, "", "")


def test_second_signal_exits_at_once_when_a_handler_hangs() -> None:
    """While a handler never returns, a first SIGTERM cannot stop; a second exits with 1."""
    with (
        serving("cli_handler:handler", "--port", "0", "-v") as server,
        connect(server.port) as sock,
    ):
        sock.sendall(b"hang\n")
        read_stderr_until(server.process, "hanging\n")
        server.process.send_signal(signal.SIGTERM)
        # Signals of one kind sent back to back may merge: wait for the first to land.
        read_stderr_until(server.process, " INFO linesock: SIGTERM received: stopping\n")
        finished = server.signal(signal.SIGTERM)
    assert finished == Finished(1, "", "linesock: second SIGTERM: exiting now\n")


def read_stderr_until(process: subprocess.Popen[bytes], ending: str) -> None:
    """Read *process*'s stderr line by line until one ends with *ending*, within ``WAIT``."""
    deadline = time.monotonic() + WAIT
    while not read_line(process, deadline - time.monotonic(), stderr=True).endswith(ending):
        pass


@pytest.mark.srs("SRS-121")
def test_serve_verbose_logs_to_stderr_in_the_documented_format() -> None:
    """``-v`` logs the listening address, the session and the stop reason at INFO."""
    with serving("cli_handler:handler", "--port", "0", "-v") as server:
        with connect(server.port) as sock:
            sock.sendall(b"quiet\ndisconnect\n")
            assert read_until_closed(sock) == b""
        finished = server.signal(signal.SIGTERM)
    assert finished.returncode == 0
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"
    messages = re.findall(rf"^{stamp} (\w+) linesock: (.*)$", finished.stderr, re.MULTILINE)
    assert len(messages) == len(finished.stderr.splitlines())
    assert messages[0] == ("INFO", f"listening on 127.0.0.1:{server.port}")
    assert ("INFO", "client session ended: the client sent disconnect") in messages
    assert ("INFO", "SIGTERM received: stopping") in messages
    counters = {field.name: 0 for field in dataclasses.fields(linesock.ServerStats)}
    counters.update(sessions=1, commands=2)
    stats = " ".join(f"{name}={value}" for name, value in counters.items())
    assert messages[-1] == ("INFO", f"stopped; {stats}")


@pytest.mark.srs("SRS-119")
def test_serve_passes_server_options_on() -> None:
    """--max-line-bytes, --no-remote-shutdown and --idle-timeout reach the server."""
    with serving(
        "cli_handler:handler",
        "--port",
        "0",
        "--max-line-bytes",
        "8",
        "--no-remote-shutdown",
        "--idle-timeout",
        "0.2",
    ) as server:
        with connect(server.port) as sock:
            sock.sendall(b"echo 123\necho 1234\nshutdown\n")
            assert read_until_closed(sock) == b"123\ninvalid\n"
        with connect(server.port) as sock:  # still serving: shutdown only disconnected
            started = time.monotonic()
            assert read_until_closed(sock) == b""  # silent past the idle timeout
            assert time.monotonic() - started >= 0.2
        assert server.signal(signal.SIGTERM) == Finished(0, "", "")


@pytest.mark.srs("SRS-113", "SRS-120")
def test_serve_on_ipv6_loopback() -> None:
    """``--host ::1`` listens on IPv6 and prints the address in brackets."""
    if not ipv6_loopback_available():
        pytest.skip("no IPv6 loopback (::1) on this machine")
    with serving("cli_handler:handler", "--host", "::1", "--port", "0") as server:
        assert server.listening_line == f"linesock: listening on [::1]:{server.port}\n"
        with connect(server.port, host="::1") as sock:
            sock.sendall(b"echo six\nshutdown\n")
            assert read_until_closed(sock) == b"six\n"
        assert server.finish() == Finished(0, "", "")


@pytest.mark.srs("SRS-117")
def test_serve_exits_1_when_the_port_is_in_use() -> None:
    """A port already taken gives exit 1 and a one-line error, no traceback."""
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        result = run_cli("serve", "cli_handler:handler", "--port", str(port))
    assert (result.returncode, result.stdout, result.stderr) == (
        1,
        "",
        f"linesock: cannot listen on 127.0.0.1:{port}: {os.strerror(errno.EADDRINUSE)}\n",
    )


@pytest.mark.srs("SRS-115", "SRS-117")
@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "cli_handler",
            "handler 'cli_handler' must be given as 'module:attribute', "
            "e.g. 'mymodule:handler': it has no ':'",
        ),
        (
            "no_such_handler_module:handler",
            "cannot import handler 'no_such_handler_module:handler': no module named "
            f"'no_such_handler_module'; the current directory is {FIXTURES} "
            f"and sys.path[0] is {FIXTURES}",
        ),
        (
            "cli_handler:handle",
            "cannot import handler 'cli_handler:handle': 'cli_handler' has no attribute "
            "'handle'; did you mean 'handler'?",
        ),
        (
            "cli_handler:not_callable",
            "handler 'cli_handler:not_callable' is a int, not a callable; a handler is "
            "called with each command (a str) and returns its answer",
        ),
    ],
)
def test_serve_exits_3_for_a_handler_that_cannot_be_imported(spec: str, message: str) -> None:
    """A bad handler string gives exit 3 and the importer's message on one line."""
    result = run_cli("serve", spec, "--port", "0")
    assert (result.returncode, result.stdout, result.stderr) == (3, "", f"linesock: {message}\n")


@pytest.mark.srs("SRS-116")
def test_serve_shows_the_traceback_of_a_handler_module_that_fails() -> None:
    """A module that fails while importing shows its own traceback and exits 3."""
    result = run_cli("serve", "broken_handler:handler", "--port", "0")
    assert (result.returncode, result.stdout) == (3, "")
    lines = result.stderr.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert 'broken_handler.py", line' in result.stderr
    assert "ModuleNotFoundError: No module named 'linesock_test_missing_dependency'" in lines
    assert lines[-1] == (
        "linesock: importing the handler 'broken_handler:handler' failed (traceback above)"
    )


# -- send ----------------------------------------------------------------------


@pytest.mark.srs("SRS-122")
def test_send_prints_the_answers_of_each_command(test_server: BackgroundServer) -> None:
    """``send`` prints every answer line, in command order, and leaves the server running."""
    result = run_cli(
        "send", "--port", test_server.port, "echo hello", "count 3", "quiet", "ping", "echo"
    )
    assert (result.returncode, result.stdout, result.stderr) == (
        0,
        "hello\n1\n2\n3\npong\n\n",
        "",
    )
    assert test_server.server.is_running
    assert run_cli("send", "--port", test_server.port, "echo again").stdout == "again\n"


@pytest.mark.srs("SRS-122")
def test_send_shutdown_stops_the_server(test_server: BackgroundServer) -> None:
    """A last command ``shutdown`` is sent as such and stops the server."""
    result = run_cli("send", "--port", test_server.port, "echo bye", "shutdown")
    assert (result.returncode, result.stdout, result.stderr) == (0, "bye\n", "")
    assert test_server.wait_stopped()


@pytest.mark.srs("SRS-122")
def test_send_disconnect_leaves_the_server_running(test_server: BackgroundServer) -> None:
    """A last command ``disconnect`` ends the session; the server serves the next client."""
    result = run_cli("send", "--port", test_server.port, "echo one", "disconnect")
    assert (result.returncode, result.stdout, result.stderr) == (0, "one\n", "")
    assert run_cli("send", "--port", test_server.port, "echo two").stdout == "two\n"


@pytest.mark.srs("SRS-117", "SRS-123")
def test_send_without_a_server_exits_1_with_one_line() -> None:
    """No server at the address: exit 1 and a one-line error naming it."""
    port = unused_port()
    result = run_cli("send", "--port", str(port), "ping")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.startswith(
        f"linesock: no server accepts connections at 127.0.0.1:{port}: "
    )
    assert result.stderr.count("\n") == 1


@pytest.mark.srs("SRS-123")
@pytest.mark.parametrize(
    ("command", "stdin"), [(["send", "block"], None), (["shell"], "block\necho never\n")]
)
def test_no_answer_within_the_timeout_exits_1(command: list[str], stdin: str | None) -> None:
    """``send`` and ``shell`` give up on an answer after --timeout with exit 1 and say so."""
    release = threading.Event()

    def slow_handler(command: str) -> str:
        release.wait(WAIT)
        return "late"

    with background_server(slow_handler) as server:
        try:
            result = run_cli(*command, "--port", server.port, "--timeout", "0.3", stdin=stdin)
        finally:
            release.set()
    assert (result.returncode, result.stdout, result.stderr) == (
        1,
        "",
        "linesock: no answer to 'block' within 0.3 s\n",
    )


# -- shell ---------------------------------------------------------------------


@pytest.mark.srs("SRS-124")
def test_shell_with_piped_input_prints_only_answers(test_server: BackgroundServer) -> None:
    """Without a terminal there is no prompt: stdout holds the answers alone."""
    script = "echo hello\n\ncount 2\nquiet\nping\nquit\necho not sent\n"
    result = run_cli("shell", "--port", test_server.port, stdin=script)
    assert (result.returncode, result.stdout, result.stderr) == (0, "hello\n1\n2\npong\n", "")
    assert test_server.server.is_running


@pytest.mark.srs("SRS-124")
def test_shell_disconnects_at_end_of_input(test_server: BackgroundServer) -> None:
    """EOF ends the shell with a disconnect, so the next client is served at once."""
    result = run_cli("shell", "--port", test_server.port, stdin="echo a\necho b")
    assert (result.returncode, result.stdout, result.stderr) == (0, "a\nb\n", "")
    assert run_cli("send", "--port", test_server.port, "echo next").stdout == "next\n"


@pytest.mark.srs("SRS-124")
def test_shell_accepts_crlf_input(test_server: BackgroundServer) -> None:
    """Lines ending in CRLF are sent without the CR."""
    result = run_cli("shell", "--port", test_server.port, stdin="echo dos\r\nexit\r\n")
    assert (result.returncode, result.stdout, result.stderr) == (0, "dos\n", "")


@pytest.mark.srs("SRS-124")
def test_shell_shutdown_stops_the_server(test_server: BackgroundServer) -> None:
    """``shutdown`` typed in the shell stops the server and ends the shell with 0."""
    result = run_cli("shell", "--port", test_server.port, stdin="echo last\nshutdown\necho never\n")
    assert (result.returncode, result.stdout, result.stderr) == (0, "last\n", "")
    assert test_server.wait_stopped()


@pytest.mark.srs("SRS-123")
def test_shell_without_a_server_exits_1() -> None:
    """No server at the address: the shell exits 1 with a one-line error."""
    result = run_cli("shell", "--port", str(unused_port()), stdin="ping\n")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.startswith("linesock: no server accepts connections at 127.0.0.1:")
    assert result.stderr.count("\n") == 1


@pytest.mark.srs("SRS-124")
def test_shell_on_a_terminal_prompts_and_keeps_history(
    test_server: BackgroundServer, tmp_path: Path
) -> None:
    """On a terminal the shell shows ``linesock HOST:PORT> `` and saves its history."""
    pty = pytest.importorskip("pty")
    controller, terminal = pty.openpty()
    environment = {**os.environ, "HOME": str(tmp_path), "TERM": "dumb"}
    process = subprocess.Popen(
        linesock_command("shell", "--port", test_server.port),
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env=environment,
        close_fds=True,
    )
    os.close(terminal)
    prompt = f"linesock 127.0.0.1:{test_server.port}> "
    try:
        screen = read_terminal_until(controller, prompt)
        assert screen.startswith(f"connected to 127.0.0.1:{test_server.port}; ")
        os.write(controller, b"echo typed\n")
        screen = read_terminal_until(controller, prompt)
        assert "typed\r\n" in screen
        os.write(controller, b"quit\n")
        assert process.wait(WAIT) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(WAIT)
        os.close(controller)
    history = (tmp_path / ".linesock_history").read_text()
    assert history.splitlines()[-2:] == ["echo typed", "quit"]


def read_terminal_until(controller: int, expected: str) -> str:
    """Read what the terminal shows until *expected* appears, within ``WAIT``."""
    shown = b""
    deadline = time.monotonic() + WAIT
    with selectors.DefaultSelector() as selector:
        selector.register(controller, selectors.EVENT_READ)
        while expected.encode() not in shown:
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                raise AssertionError(f"{expected!r} not shown within {WAIT} s: {shown!r}")
            shown += os.read(controller, 4096)
    return shown.decode()


# -- demo ----------------------------------------------------------------------

DEMO_TRANSCRIPT = """\
server: serving the sample power supply (linesock.sample) on 127.0.0.1:PORT

client 1: connected (connect() checked the server with ping)
-> ping
<- pong
-> idn
<- linesock,PSU-1,SIM-0001,1.0
-> set volt 5
<- ok
-> set curr 0.2
<- ok
-> output on
<- ok
-> measure
<- 2.000 V 0.200 A CC
-> disconnect
client 1: disconnected; the server is free for the next client

client 2: connected (connect() checked the server with ping)
-> measure
<- 2.000 V 0.200 A CC
-> set volt 1.5
<- ok
-> measure
<- 1.500 V 0.150 A CV
-> status
<- output on
<- volt 1.500 V
<- curr 0.200 A
<- load 10.000 ohm
<- mode CV
-> volt 9
<- error unknown command 'volt'
-> disconnect
client 2: disconnected; the server is free for the next client

client 3: connected (connect() checked the server with ping)
-> *IDN?
<- linesock,PSU-1,SIM-0001,1.0
-> VOLT 3.3
   (no answer)
-> VOLT?;MEAS:CURR?
<- +3.300000E+00;+2.000000E-01
-> VOLT 99
   (no answer)
-> SYST:ERR?
<- -222,"Data out of range"
-> shutdown
client 3: the server closed the connection and stops listening
server: stopped (is_running=False)
"""


@pytest.mark.srs("SRS-125", "SRS-178")
def test_demo_prints_the_whole_exchange_and_exits_0() -> None:
    """``demo`` plays its three client sessions, shows every command and answer, and stops."""
    result = run_cli("demo")
    assert (result.returncode, result.stderr) == (0, "")
    assert re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", result.stdout) == DEMO_TRANSCRIPT


@pytest.mark.srs("SRS-117")
def test_demo_on_a_port_in_use_exits_1() -> None:
    """``demo --port P`` with P taken exits 1 with a one-line error."""
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        result = run_cli("demo", "--port", str(port))
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        f"linesock: cannot listen on 127.0.0.1:{port}: {os.strerror(errno.EADDRINUSE)}\n"
    )


@pytest.mark.srs("SRS-125")
def test_demo_in_process_on_a_chosen_port(capsys: pytest.CaptureFixture[str]) -> None:
    """``main(["demo", "--port", P])`` serves on P and returns 0."""
    port = unused_port()
    assert main(["demo", "--port", str(port)]) == EXIT_OK
    out = capsys.readouterr().out
    assert out.startswith(
        f"server: serving the sample power supply (linesock.sample) on 127.0.0.1:{port}\n"
    )
    assert out.endswith("server: stopped (is_running=False)\n")
