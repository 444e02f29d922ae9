"""linesock.compat against the real socket-oneline 1.2.0, and on its own.

Real sockets on 127.0.0.1.  The real socket-oneline server cannot report an
OS-chosen port, so it gets a port found free just before; it spins forever
on a client that vanishes, so every session with it ends with disconnect or
shutdown, and it is always terminated in teardown.
"""

from __future__ import annotations

import errno
import logging
import os
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from socket_oneline import OnelineClient as RealOnelineClient
from socket_oneline import OnelineServer as RealOnelineServer

import linesock
from linesock.compat import OnelineClient, OnelineServer

HOST = "127.0.0.1"
# Bounds every wait in this file; generous, as a loaded CI machine may be slow.
WAIT = 5.0
SERVER_PREFIX = "oneline compat server: "
CLIENT_PREFIX = "oneline compat client: "


class RecordingLogger:
    """A logger that keeps the lines it is given, as socket-oneline users pass one."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, msg: str) -> None:
        self.lines.append(msg)


def free_port() -> int:
    """A TCP port that was free a moment ago (for the server that cannot use port 0)."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
    return port


def wait_until(condition: Callable[[], bool], timeout: float = WAIT) -> bool:
    """Check *condition* until it holds or *timeout* passes; return whether it held."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not condition():
        if time.monotonic() > deadline:
            return False
        pause.wait(0.005)
    return True


def read_line(sock: socket.socket, limit: int = 4096) -> bytes:
    """Read one LF-terminated line (without the LF) from a raw socket."""
    data = bytearray()
    while len(data) < limit:
        byte = sock.recv(1)
        if byte in (b"", b"\n"):
            return bytes(data)
        data += byte
    raise AssertionError(f"no LF within {limit} bytes")


def raw_connection(port: int) -> socket.socket:
    """A plain TCP connection to the server, with every wait bounded."""
    return socket.create_connection((HOST, port), timeout=WAIT)


def connected_client(port: int, logger: RecordingLogger | None = None) -> OnelineClient:
    """A compat client connected to *port*."""
    client = OnelineClient()
    verbose = logger is not None
    assert client.init(ip_address=HOST, ip_port=port, logger=logger, verbose=verbose) is True
    assert client.connect() is True
    return client


# -- fixtures -----------------------------------------------------------------

StartCompat = Callable[[Callable[[OnelineServer, str, bool], None]], OnelineServer]


@pytest.fixture
def compat_servers() -> Iterator[list[OnelineServer]]:
    """Collects compat servers and terminates them all at teardown."""
    servers: list[OnelineServer] = []
    yield servers
    for server in servers:
        server.term()


@pytest.fixture
def start_compat(compat_servers: list[OnelineServer]) -> StartCompat:
    """Start a compat server on an OS-chosen port whose callback also gets the server."""

    def start(answer: Callable[[OnelineServer, str, bool], None]) -> OnelineServer:
        server = OnelineServer()
        compat_servers.append(server)
        ok = server.start(
            ip_address=HOST, ip_port=0, callback=lambda cmd, bad: answer(server, cmd, bad)
        )
        assert ok is True
        return server

    return start


def echo(server: OnelineServer, cmd: str, is_invalid: bool) -> None:
    """A callback that answers each command with how it arrived."""
    server.send(f"{'invalid' if is_invalid else 'ok'}:{cmd}")


@pytest.fixture
def echo_server(start_compat: StartCompat) -> OnelineServer:
    """A compat server answering ``ok:<cmd>`` or ``invalid:<text>``."""
    return start_compat(echo)


@pytest.fixture
def real_servers() -> Iterator[list[RealOnelineServer]]:
    """Collects real socket-oneline servers and terminates them at teardown."""
    servers: list[RealOnelineServer] = []
    yield servers
    for server in servers:
        server.term()


# -- the real socket-oneline client against linesock's servers -----------------


def reference_answers(cmd: str) -> list[str]:
    """The answers both linesock servers give in the cross test."""
    if cmd.startswith("lines "):
        return [f"line {index}" for index in range(1, int(cmd[6:]) + 1)]
    return [f"got {cmd}"]


@pytest.fixture(params=["Server", "OnelineServer"])
def reference_server(
    request: pytest.FixtureRequest, start_compat: StartCompat
) -> Iterator[tuple[int, Callable[[], bool], list[str]]]:
    """A linesock.Server or a compat OnelineServer giving reference_answers.

    Yields its port, a function telling whether it runs, and the list of
    commands its handler received.
    """
    received: list[str] = []
    if request.param == "Server":

        def handler(cmd: str) -> list[str]:
            received.append(cmd)
            return reference_answers(cmd)

        with linesock.Server(handler, host=HOST, port=0) as server:
            yield server.port, lambda: server.is_running, received
    else:

        def callback(compat: OnelineServer, cmd: str, is_invalid: bool) -> None:
            received.append(cmd)
            for answer in reference_answers(cmd):
                compat.send(answer)

        compat = start_compat(callback)
        assert compat.ip_port is not None
        yield compat.ip_port, lambda: compat.is_running, received


@pytest.mark.srs("SRS-108")
def test_real_client_against_linesock_servers(
    reference_server: tuple[int, Callable[[], bool], list[str]],
) -> None:
    """The real socket-oneline client gets one- and multi-line answers, reconnects, shuts down."""
    port, is_running, received = reference_server
    first = RealOnelineClient()
    assert first.init(ip_address=HOST, ip_port=port) is True
    assert first.connect() is True
    first.send("hello")
    assert first.recv() == "got hello"
    first.send("lines 3")
    assert [first.recv(), first.recv(), first.recv()] == ["line 1", "line 2", "line 3"]
    first.disconnect()
    assert first.connected is False

    second = RealOnelineClient()
    assert second.init(ip_address=HOST, ip_port=port) is True
    assert second.connect() is True
    second.send("again")
    assert second.recv() == "got again"
    second.shutdown()
    assert wait_until(lambda: not is_running()) is True
    assert received == ["hello", "lines 3", "again"]


# -- linesock's compat client against the real socket-oneline server -----------


def start_real_server(
    real_servers: list[RealOnelineServer],
    callback: Callable[[RealOnelineServer, str, bool], None],
) -> tuple[RealOnelineServer, OnelineClient]:
    """Start a real server on a free port and connect a compat client to it.

    The real server binds on its own thread after start() returned, so the
    client retries until it is accepted.  A port taken by another process
    between free_port() and that bind makes the server thread give up; then
    the whole start is tried again on another port.
    """
    for _ in range(5):
        real = RealOnelineServer()
        real_servers.append(real)
        port = free_port()
        ok = real.start(
            ip_address=HOST,
            ip_port=port,
            callback=lambda cmd, bad, real=real: callback(real, cmd, bad),
        )
        assert ok is True
        client = OnelineClient()
        assert client.init(ip_address=HOST, ip_port=port) is True

        def accepted(client: OnelineClient = client, real: RealOnelineServer = real) -> bool:
            return client.connect() or not real.is_running

        assert wait_until(accepted) is True
        if client.connected:
            return real, client
    raise AssertionError("the real server never listened")


@pytest.mark.srs("SRS-109")
def test_compat_client_against_real_server(real_servers: list[RealOnelineServer]) -> None:
    """The compat client talks to the real server, reconnects, and shuts it down."""
    received: list[tuple[str, bool]] = []

    def callback(real: RealOnelineServer, cmd: str, is_invalid: bool) -> None:
        received.append((cmd, is_invalid))
        if cmd == "weather":
            real.send("température 20°")
            real.send("vent faible")
        elif cmd != "quiet":
            real.send(f"echo {cmd}")

    real, client = start_real_server(real_servers, callback)
    client.send("status")
    assert client.recv() == "echo status"
    client.send("weather")
    assert [client.recv(), client.recv()] == ["température 20°", "vent faible"]
    client.send("quiet")
    assert client.recv(timeout=0.2) == ""
    client.disconnect()
    assert client.connected is False

    assert client.connect() is True
    client.send("second")
    assert client.recv() == "echo second"
    client.shutdown()
    assert client.connected is False
    assert wait_until(lambda: not real.is_running) is True
    assert received == [
        ("status", False),
        ("weather", False),
        ("quiet", False),
        ("second", False),
    ]


# -- the compat classes used the way socket-oneline's sample uses them --------


@pytest.mark.srs("SRS-102", "SRS-110")
def test_sample_style_session(start_compat: StartCompat) -> None:
    """A callback answering with send serves a client, then a second that shuts it down."""
    calls: list[tuple[str, bool]] = []

    def callback(server: OnelineServer, cmd: str, is_invalid: bool) -> None:
        calls.append((cmd, is_invalid))
        if cmd == "cmd01":
            server.send("ack")
        elif cmd == "cmd02":
            server.send("ack")
            server.send("value 42")
        else:
            server.send("nak")

    server = start_compat(callback)
    assert server.is_running is True
    assert server.ip_port is not None
    first = connected_client(server.ip_port)
    answers = []
    for cmd in ("cmd01", "cmd02", "cmd03"):
        first.send(cmd)
        answers.append(first.recv())
    answers.append(first.recv())
    assert answers == ["ack", "ack", "value 42", "nak"]
    first.disconnect()
    assert first.connected is False

    second = connected_client(server.ip_port)
    second.send("cmd01")
    assert second.recv() == "ack"
    second.shutdown()
    assert wait_until(lambda: not server.is_running) is True
    assert calls == [("cmd01", False), ("cmd02", False), ("cmd03", False), ("cmd01", False)]


# -- send ----------------------------------------------------------------------


@pytest.mark.srs("SRS-102")
def test_send_from_worker_thread_after_callback_returned(start_compat: StartCompat) -> None:
    """A worker thread answers after the callback returned, while the client waits in recv."""
    jobs: queue.Queue[str] = queue.Queue()
    next_command_seen = threading.Event()
    worker_threads: list[int] = []
    serving_threads: list[int] = []

    def callback(server: OnelineServer, cmd: str, is_invalid: bool) -> None:
        serving_threads.append(threading.get_ident())
        if cmd == "mark":
            next_command_seen.set()
        else:
            jobs.put(cmd)

    server = start_compat(callback)

    def worker() -> None:
        worker_threads.append(threading.get_ident())
        job = jobs.get(timeout=WAIT)
        # "mark" is handled after "job": the callback for "job" has returned.
        assert next_command_seen.wait(WAIT) is True
        server.send(f"done {job}")

    thread = threading.Thread(target=worker)
    thread.start()
    try:
        assert server.ip_port is not None
        client = connected_client(server.ip_port)
        client.send("job")
        client.send("mark")
        assert client.recv(timeout=WAIT) == "done job"
        client.disconnect()
    finally:
        thread.join(WAIT)
    assert thread.is_alive() is False
    assert len(set(serving_threads)) == 1
    assert worker_threads[0] not in serving_threads


@pytest.mark.srs("SRS-103")
def test_send_without_client_is_dropped_and_logged(compat_servers: list[OnelineServer]) -> None:
    """send with no client connected, or before start, is logged and dropped, not raised."""
    logger = RecordingLogger()
    server = OnelineServer()
    compat_servers.append(server)
    server.logger = logger
    server.verbose = True
    server.send("too early")
    assert server.start(ip_address=HOST, ip_port=0, callback=lambda cmd, bad: None) is True
    server.send("nobody")
    assert logger.lines == [
        SERVER_PREFIX + "error: the server was never started; dropped: too early",
        f"{SERVER_PREFIX}listening on {HOST}:{server.ip_port}",
        SERVER_PREFIX + "error: no client connected; dropped: nobody",
    ]


@pytest.mark.srs("SRS-103")
def test_send_with_lf_is_dropped(start_compat: StartCompat) -> None:
    """A response holding LF is logged and dropped, so the client never reads it as two lines."""
    logger = RecordingLogger()

    def callback(server: OnelineServer, cmd: str, is_invalid: bool) -> None:
        server.send("two\nlines")
        server.send("one line")

    server = start_compat(callback)
    server.logger = logger
    server.verbose = True
    assert server.ip_port is not None
    client = connected_client(server.ip_port)
    client.send("go")
    assert client.recv() == "one line"
    client.send("ping")
    assert client.recv() == "pong"
    client.disconnect()
    assert logger.lines[:3] == [
        SERVER_PREFIX + "rx: go",
        SERVER_PREFIX + "error: a response cannot hold LF (the client would read several "
        "lines); dropped: 'two\\nlines'",
        SERVER_PREFIX + "tx: one line",
    ]


# -- what reaches the callback --------------------------------------------------


@pytest.mark.srs("SRS-101", "SRS-105")
@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        pytest.param(b"ab\xffcd\n", ("ab\ufffdcd", True), id="undecodable"),
        pytest.param("café\n".encode(), ("café", False), id="utf8-whole"),
        pytest.param(b"cmd\r\n", ("cmd", False), id="cr-dropped"),
        pytest.param(b"\n", ("", False), id="empty"),
        pytest.param(b"a\rb\n", ("a\rb", False), id="inner-cr-kept"),
    ],
)
def test_line_reaches_callback(
    start_compat: StartCompat, wire: bytes, expected: tuple[str, bool]
) -> None:
    """Each line reaches the callback decoded whole; is_invalid is set only for bad bytes."""
    calls: list[tuple[str, bool]] = []

    def callback(server: OnelineServer, cmd: str, is_invalid: bool) -> None:
        calls.append((cmd, is_invalid))
        server.send("seen")

    server = start_compat(callback)
    assert server.ip_port is not None
    with raw_connection(server.ip_port) as sock:
        sock.sendall(wire)
        assert read_line(sock) == b"seen"
        sock.sendall(b"disconnect\n")
        assert read_line(sock) == b""
    assert calls == [expected]


@pytest.mark.srs("SRS-071")
def test_http_first_line_is_turned_away(start_compat: StartCompat) -> None:
    """A connection whose first line looks like HTTP is closed before the callback sees it."""
    calls: list[tuple[str, bool]] = []
    server = start_compat(lambda server, cmd, bad: calls.append((cmd, bad)))
    assert server.ip_port is not None
    with raw_connection(server.ip_port) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nshutdown\n")
        assert read_line(sock) == b""
    client = connected_client(server.ip_port)
    client.send("get temp")
    client.disconnect()
    assert calls == [("get temp", False)]
    assert server.is_running is True


@pytest.mark.srs("SRS-108")
def test_localhost_binds_ipv4_for_the_real_client(compat_servers: list[OnelineServer]) -> None:
    """A host name is bound on IPv4, so the real (IPv4-only) client reaches it."""
    logger = RecordingLogger()
    server = OnelineServer()
    compat_servers.append(server)
    ok = server.start("localhost", 0, lambda cmd, bad: server.send(cmd), logger, verbose=True)
    assert ok is True
    assert logger.lines == [f"{SERVER_PREFIX}listening on 127.0.0.1:{server.ip_port}"]
    real = RealOnelineClient()
    assert real.init(ip_address="localhost", ip_port=server.ip_port) is True
    assert real.connect() is True
    real.send("hi")
    assert real.recv() == "hi"
    real.disconnect()


@pytest.mark.srs("SRS-105")
def test_utf8_round_trip_through_compat_classes(echo_server: OnelineServer) -> None:
    """Non-ASCII text travels whole from the compat client to the callback and back."""
    assert echo_server.ip_port is not None
    client = connected_client(echo_server.ip_port)
    client.send("café ☕ 日本")
    assert client.recv() == "ok:café ☕ 日本"
    client.disconnect()


@pytest.mark.srs("SRS-105")
def test_callback_that_raises_does_not_stop_server(
    start_compat: StartCompat, caplog: pytest.LogCaptureFixture
) -> None:
    """A callback exception is logged and the next command is still served."""

    def callback(server: OnelineServer, cmd: str, is_invalid: bool) -> None:
        if cmd == "boom":
            raise RuntimeError("callback failed")
        server.send(f"fine {cmd}")

    server = start_compat(callback)
    assert server.ip_port is not None
    client = connected_client(server.ip_port)
    with caplog.at_level(logging.ERROR, logger="linesock"):
        client.send("boom")
        client.send("after")
        assert client.recv() == "fine after"
    client.disconnect()
    assert [record.getMessage() for record in caplog.records] == ["handler raised on command boom"]


# -- robustness -----------------------------------------------------------------


@pytest.mark.srs("SRS-105")
def test_vanished_client_neither_stops_nor_spins_the_server(echo_server: OnelineServer) -> None:
    """A client that closes without disconnect leaves the server idle (no CPU spin) and serving."""
    assert echo_server.ip_port is not None
    with raw_connection(echo_server.ip_port) as sock:
        sock.sendall(b"first\n")
        assert read_line(sock) == b"ok:first"
    # Measuring CPU, not waiting for readiness: a spinning server burns ~0.5 s.
    cpu_before = time.process_time()
    threading.Event().wait(0.5)
    assert time.process_time() - cpu_before < 0.2
    assert echo_server.is_running is True
    client = connected_client(echo_server.ip_port)
    client.send("second")
    assert client.recv() == "ok:second"
    client.disconnect()


@pytest.mark.srs("SRS-104")
def test_term_from_callback_and_twice(start_compat: StartCompat) -> None:
    """term() called inside the callback stops the server, and calling it again does nothing."""

    def callback(server: OnelineServer, cmd: str, is_invalid: bool) -> None:
        server.term()

    server = start_compat(callback)
    assert server.ip_port is not None
    client = connected_client(server.ip_port)
    client.send("stop")
    assert client.recv() == ""
    assert client.connected is False
    assert wait_until(lambda: not server.is_running) is True
    server.term()
    assert server.is_running is False


@pytest.mark.srs("SRS-104")
def test_start_again_restarts_on_same_port(echo_server: OnelineServer) -> None:
    """start() on a running server stops it and listens again on the port it had."""
    port = echo_server.ip_port
    assert echo_server.start() is True
    assert echo_server.ip_port == port
    assert echo_server.is_running is True
    assert port is not None
    client = connected_client(port)
    client.send("back")
    assert client.recv() == "ok:back"
    client.disconnect()


# -- start ------------------------------------------------------------------------


@pytest.mark.srs("SRS-100")
@pytest.mark.parametrize("missing", ["ip_address", "ip_port", "callback"])
def test_start_without_parameter_fails_and_logs(missing: str) -> None:
    """start() returns False and logs which parameter is missing."""
    logger = RecordingLogger()
    settings: dict[str, object] = {
        "ip_address": HOST,
        "ip_port": 0,
        "callback": lambda cmd, bad: None,
    }
    del settings[missing]
    server = OnelineServer()
    assert server.start(**settings, logger=logger, verbose=True) is False  # type: ignore[arg-type]
    assert server.is_running is False
    assert logger.lines == [f"{SERVER_PREFIX}error: cannot start: {missing} is not set"]


@pytest.mark.srs("SRS-100")
def test_start_on_busy_port_fails_and_logs() -> None:
    """start() on a port another socket listens on returns False and logs the reason."""
    logger = RecordingLogger()
    with socket.create_server((HOST, 0)) as busy:
        port = busy.getsockname()[1]
        server = OnelineServer()
        ok = server.start(
            ip_address=HOST, ip_port=port, callback=lambda c, b: None, logger=logger, verbose=True
        )
        assert ok is False
        assert server.is_running is False
    reason = os.strerror(errno.EADDRINUSE)
    assert logger.lines == [f"{SERVER_PREFIX}error: cannot listen on {HOST}:{port}: {reason}"]


@pytest.mark.srs("SRS-100")
def test_start_failure_is_logged_when_not_verbose(caplog: pytest.LogCaptureFixture) -> None:
    """Without verbose, the reason start() failed goes to the linesock.compat logger."""
    with socket.create_server((HOST, 0)) as busy, caplog.at_level(logging.WARNING):
        port = busy.getsockname()[1]
        server = OnelineServer()
        assert server.start(ip_address=HOST, ip_port=port, callback=lambda c, b: None) is False
    reason = os.strerror(errno.EADDRINUSE)
    assert [(r.name, r.levelname, r.getMessage()) for r in caplog.records] == [
        (
            "linesock.compat",
            "WARNING",
            f"{SERVER_PREFIX}cannot listen on {HOST}:{port}: {reason}",
        )
    ]


@pytest.mark.srs("SRS-100")
def test_os_chosen_port_is_reported(compat_servers: list[OnelineServer]) -> None:
    """ip_port=0 is replaced by the port the OS chose, where clients connect."""
    server = OnelineServer()
    compat_servers.append(server)
    assert server.start(ip_address=HOST, ip_port=0, callback=lambda c, b: None) is True
    assert server.ip_port not in (None, 0)
    assert server.ip_port is not None
    with raw_connection(server.ip_port) as sock:
        assert sock.getpeername() == (HOST, server.ip_port)
        sock.sendall(b"ping\ndisconnect\n")
        assert read_line(sock) == b"pong"


@pytest.mark.srs("SRS-099")
def test_verbose_without_logger_prints(
    compat_servers: list[OnelineServer], capsys: pytest.CaptureFixture[str]
) -> None:
    """With verbose and no logger, log lines are printed to stdout with the prefix."""
    server = OnelineServer()
    compat_servers.append(server)
    assert server.start(ip_address=HOST, ip_port=0, callback=lambda c, b: None, verbose=True)
    assert capsys.readouterr().out == f"{SERVER_PREFIX}listening on {HOST}:{server.ip_port}\n"


@pytest.mark.srs("SRS-099", "SRS-106")
def test_properties_and_version() -> None:
    """The old properties read back what was set, and version is linesock's."""
    server = OnelineServer()
    client = OnelineClient()
    logger = RecordingLogger()

    def callback(cmd: str, is_invalid: bool) -> None:
        return None

    for endpoint in (server, client):
        assert (endpoint.ip_address, endpoint.ip_port, endpoint.logger) == (None, None, None)
        assert endpoint.verbose is False
        endpoint.ip_address = "localhost"
        endpoint.ip_port = 5001
        endpoint.logger = logger
        endpoint.verbose = True
        assert (endpoint.ip_address, endpoint.ip_port, endpoint.logger) == (
            "localhost",
            5001,
            logger,
        )
        assert endpoint.verbose is True
        assert endpoint.version == linesock.__version__
    assert server.callback is None
    server.callback = callback
    assert server.callback is callback
    assert server.is_running is False
    assert client.connected is False


# -- the compat client on its own ---------------------------------------------------


@pytest.mark.srs("SRS-106")
def test_recv_timeout_returns_empty_within_timeout(start_compat: StartCompat) -> None:
    """recv() returns '' once its timeout passes with no answer, and the client stays connected."""
    server = start_compat(lambda server, cmd, bad: None)
    assert server.ip_port is not None
    client = connected_client(server.ip_port)
    client.send("silence")
    started = time.monotonic()
    assert client.recv(timeout=0.3) == ""
    elapsed = time.monotonic() - started
    assert 0.29 <= elapsed < 1.0
    assert client.connected is True
    assert client.recv(timeout=0) == ""
    client.disconnect()


@pytest.mark.srs("SRS-106")
def test_recv_returns_empty_when_server_closes(echo_server: OnelineServer) -> None:
    """recv() returns '' at once when the server ends the connection, and connected turns false."""
    assert echo_server.ip_port is not None
    client = connected_client(echo_server.ip_port)
    echo_server.term()
    started = time.monotonic()
    assert client.recv(timeout=WAIT) == ""
    assert time.monotonic() - started < WAIT / 2
    assert client.connected is False
    assert client.recv(timeout=0.1) == ""


@pytest.mark.srs("SRS-106")
def test_client_without_server_or_parameters() -> None:
    """init() and connect() return False, not raise, without parameters or server."""
    logger = RecordingLogger()
    client = OnelineClient()
    assert client.init(logger=logger, verbose=True) is False
    assert client.connect() is False
    # A port held by a socket that does not listen: connecting is refused.
    with socket.socket() as closed_port:
        closed_port.bind((HOST, 0))
        port = closed_port.getsockname()[1]
        assert client.init(ip_address=HOST, ip_port=port) is True
        assert client.connect() is False
    assert client.connected is False
    client.send("nobody")
    assert client.recv(timeout=0.1) == ""
    client.disconnect()
    client.term()
    refused = os.strerror(errno.ECONNREFUSED)
    assert logger.lines == [
        CLIENT_PREFIX + "error: cannot connect: ip_address is not set",
        CLIENT_PREFIX + "error: cannot connect: ip_port is not set",
        CLIENT_PREFIX + "error: cannot connect: ip_address is not set",
        CLIENT_PREFIX + "error: cannot connect: ip_port is not set",
        f"{CLIENT_PREFIX}error: cannot connect to {HOST}:{port}: {refused}",
        CLIENT_PREFIX + "error: not connected; not sent: nobody",
        CLIENT_PREFIX + "error: not connected; nothing to receive",
        CLIENT_PREFIX + "disconnect: already disconnected",
        CLIENT_PREFIX + "disconnect: already disconnected",
    ]


@pytest.mark.srs("SRS-107")
def test_client_refuses_command_with_cr_or_lf(echo_server: OnelineServer) -> None:
    """send() logs and drops a command holding CR or LF, so the server never sees it."""
    logger = RecordingLogger()
    assert echo_server.ip_port is not None
    client = connected_client(echo_server.ip_port, logger)
    client.send("two\nparts")
    client.send("cr\rinside")
    client.send("whole")
    assert client.recv() == "ok:whole"
    client.disconnect()
    refusal = (
        CLIENT_PREFIX + "error: a command cannot hold CR or LF (the server would read several)"
    )
    assert logger.lines == [
        CLIENT_PREFIX + "tx: ping",
        f"{CLIENT_PREFIX}connected to {HOST}:{echo_server.ip_port}",
        refusal + "; not sent: 'two\\nparts'",
        refusal + "; not sent: 'cr\\rinside'",
        CLIENT_PREFIX + "tx: whole",
        CLIENT_PREFIX + "rx: ok:whole",
        CLIENT_PREFIX + "tx: disconnect",
        CLIENT_PREFIX + "disconnect: disconnected",
    ]


@pytest.mark.srs("SRS-107")
def test_client_send_on_dead_connection_does_not_raise(
    echo_server: OnelineServer, caplog: pytest.LogCaptureFixture
) -> None:
    """send() to a server that went away logs the failure and marks the client disconnected."""
    assert echo_server.ip_port is not None
    client = connected_client(echo_server.ip_port)
    echo_server.term()
    # The first send after the peer closed may still be buffered by the
    # kernel; a later one fails.  No send may raise.
    for _ in range(20):
        client.send("anyone?")
        if not client.connected:
            break
    assert client.connected is False
    assert caplog.records[-1].getMessage().startswith(CLIENT_PREFIX + "send failed (")


def play_a_server(
    listener: socket.socket, answer_ping: bytes, then: bytes = b""
) -> threading.Thread:
    """Accept one client on *listener*, answer its ping with *answer_ping*, send *then*.

    Then read (and drop) until the client closes, so its close is never a reset.
    """

    def run() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.settimeout(WAIT)
            assert read_line(connection) == b"ping"
            connection.sendall(answer_ping + then)
            while connection.recv(4096):
                pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


@pytest.mark.srs("SRS-106")
def test_connect_to_a_peer_that_does_not_answer_pong_fails_and_logs() -> None:
    """connect() is False, with the reason logged, when the peer answers ping otherwise."""
    logger = RecordingLogger()
    with socket.create_server((HOST, 0)) as listener:
        listener.settimeout(WAIT)
        port = listener.getsockname()[1]
        thread = play_a_server(listener, b"hello\n")
        client = OnelineClient()
        assert client.init(ip_address=HOST, ip_port=port, logger=logger, verbose=True) is True
        assert client.connect() is False
        thread.join(WAIT)
    assert client.connected is False
    assert logger.lines == [
        CLIENT_PREFIX + "tx: ping",
        f"{CLIENT_PREFIX}error: the server at {HOST}:{port} answered ping with 'hello'",
    ]


@pytest.mark.srs("SRS-106", "SRS-107")
def test_invalid_answers_and_unencodable_commands_are_logged_not_raised() -> None:
    """An undecodable answer comes back with U+FFFD, an overlong one as ''; neither raises."""
    logger = RecordingLogger()
    overlong = b"x" * (linesock.DEFAULT_MAX_LINE_BYTES + 1)
    with socket.create_server((HOST, 0)) as listener:
        listener.settimeout(WAIT)
        port = listener.getsockname()[1]
        thread = play_a_server(listener, b"pong\n", b"caf\xe9\n" + overlong + b"\nfine\n")
        client = connected_client(port, logger)
        assert client.recv() == "caf\ufffd"
        assert client.recv() == ""
        assert client.recv() == "fine"
        client.send("\udcff")  # a lone surrogate: UTF-8 cannot encode it
        assert client.connected is True
        client.disconnect()
        thread.join(WAIT)
    assert logger.lines[2:] == [
        CLIENT_PREFIX + "error: the answer was not valid UTF-8; bad bytes became U+FFFD",
        f"{CLIENT_PREFIX}error: dropped an answer of {len(overlong)} bytes: too long",
        CLIENT_PREFIX + "rx: fine",
        CLIENT_PREFIX + "error: cannot encode the command ('utf-8' codec can't encode character "
        "'\\udcff' in position 0: surrogates not allowed); not sent: '\\udcff'",
        CLIENT_PREFIX + "tx: disconnect",
        CLIENT_PREFIX + "disconnect: disconnected",
    ]
