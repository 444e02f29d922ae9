"""Every server front end, started the same way, so one protocol suite covers them all.

A starter takes the name of a handler in ``tests/handlers.py`` and server
options (:class:`linesock.ServerConfig` fields) and returns a
:class:`RunningServer` once the server is listening; a starter given an
option its front end cannot take skips the test, saying which.
``conftest.py`` parametrises the ``serve`` fixture over :data:`FRONT_ENDS`;
the protocol suite (tests/test_protocol.py) adds :data:`COMPAT`, the
socket-oneline compatible server, through :func:`serve_fixture`.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import handlers
from linesock import Faults, Server, ServerStats, aio
from linesock.aio import AsyncServer
from linesock.compat import OnelineServer
from support import start_loop_thread, wait_until

TESTS_DIR = Path(__file__).resolve().parent
#: How long a starter waits for a server to listen, and a stop for it to end.
START_TIMEOUT = 20.0


@dataclass
class RunningServer:
    """A listening server of some front end, as the protocol suite sees it."""

    front_end: str
    host: str
    port: int
    stop: Callable[[], None]
    """Stop the server (idempotent); the fixture calls it at teardown."""
    wait_stopped: Callable[[float], bool]
    """Wait at most the given seconds for the server to stop serving; True if it did."""
    cpu_seconds: Callable[[], float]
    """CPU time the server's serving thread (or process) has used so far."""
    stats: ServerStats | None = None
    """The server's counters, for in-process front ends."""
    control_port: int | None = None
    """The port of the server's control port (option ``control_port``), or None without one."""
    rss_bytes: Callable[[], int] = field(default=lambda: rss_bytes(Path("/proc/self/status")))
    """Resident memory of the process the server runs in."""
    fd_count: Callable[[], int] = field(default=lambda: len(os.listdir("/proc/self/fd")))
    """File descriptors open in the process the server runs in."""
    output: list[str] = field(default_factory=list)
    """What a server process wrote to stderr, once it stopped."""
    exit_code: int | None = None
    """A server process's exit status, once it stopped."""
    faults: Faults | None = None
    """The server's fault registry, for in-process front ends."""
    kick: Callable[[], bool] | None = None
    """End the served client's session (``server.kick``), for in-process front ends."""

    def counters(self) -> ServerStats | None:
        """The server's counters; None only for the front ends of :data:`NO_COUNTERS`.

        So a test's ``if (stats := running.counters()) is not None:`` check
        runs wherever counters exist, and cannot lose them unnoticed.
        """
        if self.front_end in NO_COUNTERS:
            assert self.stats is None, f"{self.front_end} has counters now: check them"
            return None
        assert self.stats is not None, f"the {self.front_end} front end lost its counters"
        return self.stats


#: The front ends whose counters a test cannot read, and why.
NO_COUNTERS: dict[str, str] = {
    "cli": "the server runs in another process",
    "compat": "OnelineServer has no stats (socket-oneline had none)",
}


def thread_cpu_seconds(native_id: int) -> float:
    """CPU seconds (user + system) used by one thread of this process."""
    return _cpu_from_stat(Path(f"/proc/self/task/{native_id}/stat"))


def rss_bytes(status: Path) -> int:
    """Resident set size from a /proc status file, in bytes."""
    for line in status.read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS in {status}")


def _cpu_from_stat(path: Path) -> float:
    """Read utime + stime from a /proc stat file, in seconds."""
    fields = path.read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def start_threaded(handler_name: str, **options: Any) -> RunningServer:
    """Start ``linesock.Server`` in this process, on its background thread."""
    server = Server(getattr(handlers, handler_name), port=0, **options)
    serving = _new_thread(server.start)
    return RunningServer(
        front_end="threaded",
        host="127.0.0.1",
        port=server.port,
        control_port=control_port_of(server),
        stop=lambda: server.stop(timeout=START_TIMEOUT),
        wait_stopped=lambda timeout: wait_until(lambda: not server.is_running, timeout),
        cpu_seconds=lambda: thread_cpu_seconds(serving),
        stats=server.stats,
        faults=server.faults,
        kick=server.kick,
    )


def _new_thread(start: Callable[[], object]) -> int:
    """Call *start*, which starts one serving thread; return that thread's OS id.

    The threads of the server's own helpers (its gate, its lingering closer)
    are not the serving thread.
    """
    before = set(threading.enumerate())
    start()
    helpers = ("linesock-gate", "linesock-closer", "linesock-control")
    started = [
        thread
        for thread in threading.enumerate()
        if thread not in before and thread.name not in helpers
    ]
    assert len(started) == 1, f"expected the server to start one thread, it started {started}"
    native_id = started[0].native_id
    assert native_id is not None
    return native_id


def control_port_of(server: Server | AsyncServer) -> int | None:
    """The port of *server*'s control port, or None without one."""
    address = server.control_address
    return None if address is None else address[1]


def start_asyncio(handler_name: str, **options: Any) -> RunningServer:
    """Start ``linesock.aio`` on asyncio's own event loop, in a thread of this process."""
    return start_asyncio_on(asyncio.new_event_loop, handler_name, front_end="asyncio", **options)


def start_uvloop(handler_name: str, **options: Any) -> RunningServer:
    """Start ``linesock.aio`` on a uvloop event loop in a thread; skip if uvloop is missing."""
    try:
        import uvloop  # noqa: PLC0415 (an optional dependency: only this front end needs it)
    except ImportError:
        pytest.skip("uvloop is not installed (the dev extra and linesock[uvloop] have it)")
    return start_asyncio_on(uvloop.new_event_loop, handler_name, front_end="uvloop", **options)


def start_asyncio_on(
    loop_factory: Callable[[], asyncio.AbstractEventLoop],
    handler_name: str,
    front_end: str = "asyncio",
    **options: Any,
) -> RunningServer:
    """Start ``linesock.aio.start_server`` on a new loop from *loop_factory*, in a thread.

    Anything the loop reports to its exception handler (a protocol callback
    that raised, a task whose exception nobody retrieved) fails ``stop()``.
    """
    servers: list[AsyncServer] = []

    async def serve(ready: Callable[[], None]) -> None:
        server = await aio.start_server(getattr(handlers, handler_name), port=0, **options)
        servers.append(server)
        ready()
        await server.serve_forever()

    loop_thread = start_loop_thread(loop_factory, serve, name=f"linesock-{front_end}-test")
    server = servers[0]
    native_id = loop_thread.thread.native_id
    assert native_id is not None
    return RunningServer(
        front_end=front_end,
        host=server.address[0],
        port=server.port,
        control_port=control_port_of(server),
        stop=lambda: loop_thread.stop(server.close, START_TIMEOUT),
        wait_stopped=loop_thread.finished.wait,
        cpu_seconds=lambda: thread_cpu_seconds(native_id),
        stats=server.stats,
        faults=server.faults,
        kick=server.kick,
    )


# Options the CLI takes as flags, and how.  ``token`` is given through a
# file (``--token-file``); ``ssl_context``, an object, has no flag: the CLI's
# own tests cover the TLS flags, which name certificate files.
_CLI_FLAGS: dict[str, str] = {
    "max_line_bytes": "--max-line-bytes",
    "idle_timeout": "--idle-timeout",
    "write_timeout": "--write-timeout",
    "transcript": "--transcript",
    "terminator": "--terminator",
    "answer_terminator": "--answer-terminator",
    "auth_timeout": "--auth-timeout",
    "tls_handshake_timeout": "--tls-handshake-timeout",
    "busy": "--busy",
    "max_wait": "--max-wait",
    "control_port": "--control-port",
}


def start_cli(handler_name: str, **options: Any) -> RunningServer:
    """Start ``linesock serve handlers:NAME`` as a process; wait for its listening line.

    The threaded server only: a second CLI front end on ``--loop asyncio``
    would add a process per protocol test (about a minute to ``./do_ver``);
    tests/test_cli_loop.py covers ``--loop`` instead.
    """
    args = [sys.executable, "-m", "linesock", "serve", f"handlers:{handler_name}", "--port", "0"]
    for name, value in options.items():
        if name == "allow_remote_shutdown" and value is False:
            args.append("--no-remote-shutdown")
        elif name == "log_commands" and value is True:
            args.append("--log-commands")
        elif name in _CLI_FLAGS:
            args += [_CLI_FLAGS[name], str(value)]
        elif name != "token":
            pytest.skip(f"the CLI has no flag for the option {name}")
    token_directory = None
    if "token" in options:
        # The server reads the file before it listens; it is removed below.
        token_directory = tempfile.TemporaryDirectory(prefix="linesock-token-")
        token_file = Path(token_directory.name) / "token"
        token_file.write_text(f"{options['token']}\n")
        args += ["--token-file", str(token_file)]
    environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
    environment.pop("LINESOCK_TOKEN", None)  # only the options given here apply
    process = subprocess.Popen(
        args,
        cwd=TESTS_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )
    try:
        line = _read_listening_line(process)
    finally:
        if token_directory is not None:
            token_directory.cleanup()
    match = re.search(r"listening on (\S+):(\d+)$", line.strip())
    control = None
    if match is not None and "control_port" in options:
        # The control line comes right after the listening line.
        control = re.search(r"^linesock: control on \S+:(\d+)$", _read_listening_line(process))
    if match is None or ("control_port" in options and control is None):
        process.kill()
        _, err = process.communicate(timeout=START_TIMEOUT)
        raise AssertionError(f"linesock serve did not start: {line!r} {err}")
    running = RunningServer(
        front_end="cli",
        host=match[1],
        port=int(match[2]),
        control_port=None if control is None else int(control[1]),
        stop=lambda: _stop_process(process, running),
        wait_stopped=lambda timeout: _wait_process(process, running, timeout),
        cpu_seconds=lambda: _cpu_from_stat(Path(f"/proc/{process.pid}/stat")),
        rss_bytes=lambda: rss_bytes(Path(f"/proc/{process.pid}/status")),
        fd_count=lambda: len(os.listdir(f"/proc/{process.pid}/fd")),
    )
    return running


def _read_listening_line(process: subprocess.Popen[str]) -> str:
    """The first line the server prints, read with a time limit."""
    result: list[str] = []
    reader = threading.Thread(target=lambda: result.append(process.stdout.readline()))  # type: ignore[union-attr]
    reader.start()
    reader.join(START_TIMEOUT)
    return result[0] if result else ""


def _wait_process(process: subprocess.Popen[str], running: RunningServer, timeout: float) -> bool:
    """Wait for the server process to exit; keep its stderr."""
    try:
        _, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        return False
    running.output.append(err)
    running.exit_code = process.returncode
    return True


def _stop_process(process: subprocess.Popen[str], running: RunningServer) -> None:
    """Stop the server process with SIGTERM (it exits 0), or kill it if it hangs."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        if not _wait_process(process, running, START_TIMEOUT):
            process.kill()
            process.communicate()
    else:
        process.communicate()


# -- compat: the socket-oneline compatible server ------------------------------


def start_compat(handler_name: str, **options: Any) -> RunningServer:
    """Start ``linesock.compat.OnelineServer`` with the handler adapted to its callback.

    OnelineServer calls ``callback(cmd, is_invalid)`` and the callback answers
    with ``server.send(line)``; :func:`compat_callback` turns a handler of
    tests/handlers.py into such a callback.  ``start()`` takes only an
    address, a port and the callback, so any server option skips the test.
    """
    if options:
        pytest.skip(
            f"OnelineServer takes no {', '.join(sorted(options))} option: its start() has "
            "only ip_address, ip_port, callback, logger and verbose, as socket-oneline 1.2.0's"
        )
    server = OnelineServer()
    callback = compat_callback(server, getattr(handlers, handler_name))
    started: list[bool] = []
    serving = _new_thread(
        lambda: started.append(server.start(ip_address="127.0.0.1", ip_port=0, callback=callback))
    )
    assert started == [True], "OnelineServer.start() failed (the reason is logged)"
    port = server.ip_port
    assert port is not None

    def stop() -> None:
        server.term()
        assert wait_until(lambda: not server.is_running, START_TIMEOUT), "compat did not stop"

    return RunningServer(
        front_end="compat",
        host="127.0.0.1",
        port=port,
        stop=stop,
        wait_stopped=lambda timeout: wait_until(lambda: not server.is_running, timeout),
        cpu_seconds=lambda: thread_cpu_seconds(serving),
    )


def compat_callback(
    server: OnelineServer, handler: Callable[[str], object]
) -> Callable[[str, bool], None]:
    """Adapt *handler* to OnelineServer's ``callback(cmd, is_invalid)``, answering by send().

    A command's answer is sent line by line (``None`` sends nothing; a line
    holding LF is refused by send(), which the suite expects).  An invalid
    line reaches the callback instead of being answered by the server, so
    the callback answers ``invalid``, as the other front ends' default
    ``on_invalid`` does.  A deferred answer (a Future or an awaitable) has
    no place in compat's interface and fails the command.
    """

    def callback(command: str, is_invalid: bool) -> None:
        if is_invalid:
            server.send("invalid")
            return
        answer = handler(command)
        if answer is None:
            return
        if isinstance(answer, str):
            server.send(answer)
        elif isinstance(answer, list | tuple):
            for line in answer:
                server.send(line)
        else:
            raise TypeError(f"compat cannot send a {type(answer).__name__} answer")

    return callback


#: The protocol suite's extra front end (tests/test_protocol.py), by name.
COMPAT: dict[str, Callable[..., RunningServer]] = {"compat": start_compat}


# -- the fixture -----------------------------------------------------------------


def serve_fixture(front_ends: dict[str, Callable[..., RunningServer]]) -> Any:
    """A ``serve`` fixture parametrised over *front_ends*: each test runs once per front end.

    The test calls it as ``serve()`` for the protocol handler, or
    ``serve("name", **options)`` for another handler of tests/handlers.py or
    other server options; every server it started is stopped after the test.
    ``conftest.py`` defines ``serve`` with it; a test module may override
    ``serve`` with its own set of front ends.
    """

    @pytest.fixture(params=list(front_ends), name="serve")
    def serve(request: pytest.FixtureRequest) -> Iterator[Callable[..., RunningServer]]:
        """Start servers of one front end (each test runs once per front end); stop them after."""
        started: list[RunningServer] = []

        def start(handler_name: str = "protocol_handler", **options: Any) -> RunningServer:
            running = front_ends[request.param](handler_name, **options)
            started.append(running)
            return running

        yield start
        for running in started:
            running.stop()

    return serve


#: Every front end, by name, for the ``serve`` fixture.
FRONT_ENDS: dict[str, Callable[..., RunningServer]] = {
    "threaded": start_threaded,
    "asyncio": start_asyncio,
    "uvloop": start_uvloop,
    "cli": start_cli,
}
