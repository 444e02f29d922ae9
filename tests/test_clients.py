"""The clients' contract, once for all: linesock.Client and linesock.aio.AsyncClient.

Every test runs for the blocking :class:`linesock.Client` and for
:class:`linesock.aio.AsyncClient` on asyncio's loop and on uvloop's (skipped
when uvloop is missing).  The asyncio client runs on an event loop in a
thread of its own, behind :class:`ThreadedAsyncClient`, a small adapter that
gives it the blocking client's calls; so one test body states what both
clients do.  Real sockets on 127.0.0.1, against a real threaded
:class:`linesock.Server` or a peer played by hand.  The client's protocol
rules themselves are checked in memory by tests/test_client_protocol.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from types import TracebackType
from typing import Any, Protocol, TypeVar

import pytest
import trustme

from handlers import protocol_handler
from linesock import (
    AnswerLimitError,
    AuthenticationError,
    Client,
    ClientConfig,
    ClientSettings,
    NoServerError,
    NotConnectedError,
    ProtocolError,
    Server,
)
from linesock import _client as client_module
from linesock.aio import AsyncClient
from wire import WAIT, converse, read_exactly, wait_until

T = TypeVar("T")


class AnyClient(Protocol):
    """What the tests use of a client: the blocking Client's calls."""

    @property
    def config(self) -> ClientConfig: ...
    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def timeout(self) -> float: ...
    @property
    def encoding(self) -> str: ...
    @property
    def max_line_bytes(self) -> int: ...
    @property
    def ssl_context(self) -> ssl.SSLContext | None: ...
    @property
    def server_hostname(self) -> str | None: ...
    @property
    def connected(self) -> bool: ...
    def connect(self) -> None: ...
    def send(self, command: str) -> None: ...
    def recv(self, timeout: float | None = None) -> str: ...
    def request(self, command: str) -> list[str]: ...
    def ping(self) -> bool: ...
    def disconnect(self) -> None: ...
    def shutdown(self) -> None: ...
    def close(self) -> None: ...
    def __enter__(self) -> AnyClient: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...


class LoopThread:
    """An event loop running in a thread of its own; fails the test on anything it reports."""

    def __init__(self, new_loop: Callable[[], asyncio.AbstractEventLoop]) -> None:
        """Start the loop, and return once it runs."""
        self.loop = new_loop()
        self.reported: list[dict[str, Any]] = []
        self.loop.set_exception_handler(lambda _loop, context: self.reported.append(context))
        running = threading.Event()
        self.loop.call_soon(running.set)
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        assert running.wait(WAIT)

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run *coroutine* on the loop and return its result (or raise its exception)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(3 * WAIT)

    def stop(self) -> None:
        """Stop the loop and close it; assert it reported nothing and left no task running."""
        leftover = self.run(_other_tasks())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(WAIT)
        self.loop.close()
        assert not self.reported, f"the event loop reported: {self.reported}"
        assert not leftover, f"tasks still running after the test: {leftover}"


async def _other_tasks() -> set[asyncio.Task[Any]]:
    """The tasks of the running loop other than the caller."""
    return asyncio.all_tasks() - {asyncio.current_task()}


class ThreadedAsyncClient:
    """An :class:`AsyncClient` called like a :class:`Client`: each call awaited on a loop thread."""

    def __init__(self, loop: LoopThread, **options: Any) -> None:
        """Make the AsyncClient with *options*; nothing is sent yet."""
        self._loop = loop
        self.client = AsyncClient(**options)

    @property
    def config(self) -> ClientConfig:
        """The client's settings."""
        return self.client.config

    @property
    def host(self) -> str:
        """The server's host."""
        return self.client.host

    @property
    def port(self) -> int:
        """The server's port."""
        return self.client.port

    @property
    def timeout(self) -> float:
        """The client's timeout."""
        return self.client.timeout

    @property
    def encoding(self) -> str:
        """The client's encoding."""
        return self.client.encoding

    @property
    def max_line_bytes(self) -> int:
        """The client's longest answer line."""
        return self.client.max_line_bytes

    @property
    def ssl_context(self) -> ssl.SSLContext | None:
        """The client's TLS context."""
        return self.client.ssl_context

    @property
    def server_hostname(self) -> str | None:
        """The name the server's certificate must carry."""
        return self.client.server_hostname

    @property
    def connected(self) -> bool:
        """Whether the client is connected."""
        return self.client.connected

    def connect(self) -> None:
        """AsyncClient.connect()."""
        self._loop.run(self.client.connect())

    def send(self, command: str) -> None:
        """AsyncClient.send()."""
        self._loop.run(self.client.send(command))

    def recv(self, timeout: float | None = None) -> str:
        """AsyncClient.recv()."""
        return self._loop.run(self.client.recv(timeout))

    def request(self, command: str) -> list[str]:
        """AsyncClient.request()."""
        return self._loop.run(self.client.request(command))

    def ping(self) -> bool:
        """AsyncClient.ping()."""
        return self._loop.run(self.client.ping())

    def disconnect(self) -> None:
        """AsyncClient.disconnect()."""
        self._loop.run(self.client.disconnect())

    def shutdown(self) -> None:
        """AsyncClient.shutdown()."""
        self._loop.run(self.client.shutdown())

    def close(self) -> None:
        """AsyncClient.close()."""
        self._loop.run(self.client.close())

    def __enter__(self) -> ThreadedAsyncClient:
        """``async with``: AsyncClient.__aenter__()."""
        self._loop.run(self.client.__aenter__())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """AsyncClient.__aexit__()."""
        self._loop.run(self.client.__aexit__(exc_type, exc, traceback))

    def __repr__(self) -> str:
        """The AsyncClient's repr."""
        return repr(self.client)


class MakeClient:
    """Makes clients of one kind (the fixture's parameter); closes them all at teardown."""

    def __init__(self, kind: str, loop: LoopThread | None) -> None:
        """Make clients of *kind*: ``Client``, or ``AsyncClient`` on *loop*."""
        self.kind = kind
        self._loop = loop
        self.made: list[AnyClient] = []

    @property
    def repr_name(self) -> str:
        """The name the client's repr shows."""
        return "linesock.Client" if self._loop is None else "linesock.aio.AsyncClient"

    def __call__(self, **options: Any) -> AnyClient:
        """A client with *options* (Client's arguments), not connected."""
        client: AnyClient
        if self._loop is None:
            client = Client(**options)
        else:
            client = ThreadedAsyncClient(self._loop, **options)
        self.made.append(client)
        return client


@pytest.fixture(params=["Client", "AsyncClient", "AsyncClient-uvloop"])
def make_client(request: pytest.FixtureRequest) -> Iterator[MakeClient]:
    """Makes clients of each kind in turn: blocking, asyncio, asyncio on uvloop."""
    if request.param == "Client":
        maker = MakeClient(request.param, None)
        yield maker
        for client in maker.made:
            client.close()
        return
    new_loop: Callable[[], asyncio.AbstractEventLoop] = asyncio.new_event_loop
    if request.param.endswith("uvloop"):
        new_loop = pytest.importorskip("uvloop", reason="uvloop is not installed").new_event_loop
    loop = LoopThread(new_loop)
    maker = MakeClient(request.param, loop)
    try:
        yield maker
        for client in maker.made:
            client.close()
    finally:
        loop.stop()


@pytest.fixture
def server() -> Iterator[Server]:
    """A threaded server with the protocol handler on a free port."""
    with Server(protocol_handler) as running:
        yield running


@pytest.fixture
def fake_server() -> Iterator[socket.socket]:
    """A listening socket a test answers by hand, to play a misbehaving server."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(WAIT)
        yield listener


@contextlib.contextmanager
def serving_by_hand(
    listener: socket.socket, answer_ping: bytes, then: bytes = b"", *, stall: bool = False
) -> Iterator[threading.Event]:
    """Accept one client, answer its ping with *answer_ping*; then send *then* and close.

    With *stall*, read nothing more until the yielded event is set.  The
    thread is joined when the block ends.
    """
    release = threading.Event()

    def run() -> None:
        connection, _ = listener.accept()
        with connection:
            assert read_exactly(connection, 5) == b"ping\n"
            connection.sendall(answer_ping)
            if stall:
                release.wait(WAIT)
            elif then:
                connection.recv(100)
                connection.sendall(then)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield release
    finally:
        release.set()
        thread.join(WAIT)


def closed_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def is_connected(client: AnyClient) -> bool:
    """Read ``client.connected`` afresh (a type checker would keep its narrowed value)."""
    return client.connected


# -- connecting ------------------------------------------------------------------


@pytest.mark.srs("SRS-047", "SRS-093", "SRS-189")
def test_connect_checks_the_server_with_ping(make_client: MakeClient, server: Server) -> None:
    """connect() succeeds only after the server answered pong; disconnect() ends it."""
    client = make_client(port=server.port)
    assert not is_connected(client)
    client.connect()
    assert is_connected(client)
    assert server.stats.commands == 1
    client.disconnect()
    assert not is_connected(client)


@pytest.mark.srs("SRS-048", "SRS-095", "SRS-188")
def test_connect_without_a_server_raises_no_server_error(make_client: MakeClient) -> None:
    """No listener: NoServerError (a ConnectionError) naming the address."""
    port = closed_port()
    with pytest.raises(
        NoServerError, match=f"^no server accepts connections at 127.0.0.1:{port}: "
    ):
        make_client(port=port, timeout=WAIT).connect()


@pytest.mark.srs("SRS-048")
def test_a_peer_that_does_not_answer_pong_is_refused(
    make_client: MakeClient, fake_server: socket.socket
) -> None:
    """A peer answering ping with anything else is not a Oneline server: ConnectionError."""
    client = make_client(port=fake_server.getsockname()[1], timeout=WAIT)
    with serving_by_hand(fake_server, b"hello\n"), pytest.raises(ConnectionError) as caught:
        client.connect()
    assert type(caught.value) is ConnectionError
    assert str(caught.value) == f"the server at 127.0.0.1:{client.port} answered ping with 'hello'"
    assert not is_connected(client)


@pytest.mark.srs("SRS-062", "SRS-067", "SRS-093", "SRS-188")
def test_tls_and_the_token_are_checked_and_refusals_are_typed(make_client: MakeClient) -> None:
    """TLS and a token: served; a wrong or no token: AuthenticationError; bad TLS: NoServerError."""
    authority = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1", "localhost").configure_cert(server_context)
    trusting = ssl.create_default_context()
    authority.configure_trust(trusting)
    with Server(protocol_handler, ssl_context=server_context, token="rig-42") as server:
        where = f"127.0.0.1:{server.port}"
        with make_client(port=server.port, ssl_context=trusting, token="rig-42") as client:
            assert client.request("lines 2") == ["line 1", "line 2"]
        refusals = [
            ({"token": "wrong"}, f"the server at {where} refused the token (unauthorized)"),
            ({}, f"the server at {where} answered ping with 'unauthorized'"),
        ]
        for options, message in refusals:
            refused = make_client(port=server.port, ssl_context=trusting, **options)
            with pytest.raises(AuthenticationError) as caught:
                refused.connect()
            assert str(caught.value) == message
            assert not is_connected(refused)
        stranger = make_client(port=server.port, ssl_context=ssl.create_default_context())
        with pytest.raises(NoServerError, match=f"^TLS handshake with {where} failed: "):
            stranger.connect()
        assert server.stats.auth_failures == 2


@pytest.mark.srs("SRS-060")
def test_localhost_reaches_a_server_on_either_loopback(
    make_client: MakeClient, server: Server
) -> None:
    """The name localhost finds the server whether it resolves to ::1 or 127.0.0.1 first."""
    with make_client(host="localhost", port=server.port) as client:
        assert client.request("echo via localhost") == ["via localhost"]


@pytest.mark.srs("SRS-057", "SRS-093")
def test_with_connects_then_disconnects_so_the_next_client_is_served(
    make_client: MakeClient, server: Server
) -> None:
    """The with block connects, then disconnects on exit: the next client is served at once."""
    client = make_client(port=server.port)
    with client:
        assert is_connected(client)
        assert client.request("echo in") == ["in"]
    assert not is_connected(client)
    assert converse(server.port, b"ping\ndisconnect\n") == b"pong\n"
    assert server.stats.sessions == 2


def test_a_client_connects_again_after_it_disconnected(
    make_client: MakeClient, server: Server
) -> None:
    """connect() after disconnect() starts afresh; connect() when connected starts a new session."""
    client = make_client(port=server.port)
    client.connect()
    client.send("echo unread")
    client.disconnect()
    client.connect()
    assert client.request("echo again") == ["again"]
    client.connect()
    assert client.request("echo third") == ["third"]
    client.disconnect()
    assert server.stats.sessions == 3


# -- commands and answers ------------------------------------------------------------


@pytest.mark.srs("SRS-052", "SRS-093")
def test_request_returns_every_answer_line(make_client: MakeClient, server: Server) -> None:
    """request() collects all lines of one command's answer, or none."""
    with make_client(port=server.port) as client:
        assert client.request("lines 3") == ["line 1", "line 2", "line 3"]
        assert client.request("silent") == []
        assert client.request("echo") == [""]
        assert client.request("echo ünï") == ["ünï"]
    assert server.stats.commands == 1 + 4 * 2 + 1  # connect's ping, 4 requests + pings, exit


@pytest.mark.srs("SRS-052", "SRS-093")
def test_a_large_answer_comes_whole_and_in_order(make_client: MakeClient, server: Server) -> None:
    """An answer of 100,000 lines (1.1 MB, far beyond any read) arrives whole, in order."""
    with make_client(port=server.port) as client:
        assert client.request("lines 100000") == [f"line {n}" for n in range(1, 100_001)]


@pytest.mark.srs("SRS-052", "SRS-055", "SRS-056", "SRS-093")
def test_request_handles_the_built_in_commands(make_client: MakeClient, server: Server) -> None:
    """request('ping') is ['pong']; 'disconnect' and 'shutdown' end the session and return []."""
    client = make_client(port=server.port)
    client.connect()
    assert client.request("ping") == ["pong"]
    assert client.request("disconnect") == []
    assert not is_connected(client)
    client.connect()
    assert client.request("shutdown") == []
    assert not is_connected(client)
    assert wait_until(lambda: not server.is_running)


@pytest.mark.srs("SRS-053", "SRS-093")
def test_send_and_recv_exchange_single_lines(make_client: MakeClient, server: Server) -> None:
    """send() writes one line, recv() returns one; unread answers come first in a request."""
    with make_client(port=server.port) as client:
        client.send("lines 2")
        assert [client.recv(), client.recv()] == ["line 1", "line 2"]
        client.send("echo a")
        assert client.request("lines 2") == ["a", "line 1", "line 2"]


@pytest.mark.srs("SRS-049", "SRS-094")
def test_a_wait_that_runs_out_raises_timeout_error_and_loses_nothing(
    make_client: MakeClient,
) -> None:
    """recv() and request() raise TimeoutError when nothing came in time; later answers stay."""
    release = threading.Event()

    def handler(command: str) -> str:
        release.wait(WAIT)
        return f"released {command}"

    with Server(handler) as server, make_client(port=server.port, timeout=0.2) as client:
        client.send("late")
        with pytest.raises(TimeoutError, match=r"^no answer within 0\.05 s$"):
            client.recv(timeout=0.05)
        with pytest.raises(TimeoutError, match=r"^no answer within 0\.2 s$"):
            client.request("again")
        release.set()
        assert [client.recv(), client.recv(), client.recv()] == [
            "released late",
            "released again",
            "pong",
        ]
        assert client.request("still usable") == ["released still usable"]


@pytest.mark.srs("SRS-051", "SRS-095")
@pytest.mark.parametrize("command", ["a\nb", "a\rb", "a\r\n", "\n"])
def test_a_command_holding_cr_or_lf_is_refused_before_sending(
    make_client: MakeClient, server: Server, command: str
) -> None:
    """CR or LF in a command raises ValueError and nothing reaches the server."""
    with make_client(port=server.port) as client:
        with pytest.raises(ValueError, match="cannot hold CR or LF"):
            client.send(command)
        with pytest.raises(ValueError, match="cannot hold CR or LF"):
            client.request(command)
        assert client.request("echo clean") == ["clean"]
    assert server.stats.commands == 1 + 2 + 1  # connect's ping, request's echo + ping, exit


@pytest.mark.srs("SRS-058", "SRS-095")
def test_an_undecodable_answer_raises_protocol_error(
    make_client: MakeClient, fake_server: socket.socket
) -> None:
    """A line that is not UTF-8 raises ProtocolError carrying the raw bytes; the next one reads."""
    client = make_client(port=fake_server.getsockname()[1])
    with serving_by_hand(fake_server, b"pong\n", then=b"\xff\xfe\nfine\n"), client:
        client.send("anything")
        with pytest.raises(ProtocolError, match="undecodable line of 2 bytes") as caught:
            client.recv()
        assert caught.value.line.data == b"\xff\xfe"
        assert client.recv() == "fine"


@pytest.mark.srs("SRS-093")
def test_send_to_a_server_that_reads_nothing_raises_timeout_error(
    make_client: MakeClient, fake_server: socket.socket
) -> None:
    """send() waits while the server takes no data, and raises TimeoutError after the timeout."""
    client = make_client(port=fake_server.getsockname()[1], timeout=0.5)
    with serving_by_hand(fake_server, b"pong\n", stall=True):
        client.connect()
        command = "x" * 60_000
        sent = 0
        with pytest.raises(TimeoutError, match=r"^the server took no data within 0\.5 s$"):
            while sent < 10_000:  # far beyond what the socket buffers hold
                client.send(command)
                sent += 1
        assert 10 < sent < 10_000
        client.close()


@pytest.mark.srs("SRS-093")
@pytest.mark.parametrize("method", ["send", "request"])
def test_a_send_the_server_drains_slowly_has_one_deadline(
    make_client: MakeClient, fake_server: socket.socket, method: str
) -> None:
    """A server taking 1 KiB every 20 ms: a long send raises TimeoutError after the timeout.

    A request's send too, though a short one is a single ``send`` call.
    """
    stop = threading.Event()

    def slow_reader() -> None:
        connection, _ = fake_server.accept()
        with connection:
            assert read_exactly(connection, 5) == b"ping\n"
            connection.sendall(b"pong\n")
            with contextlib.suppress(OSError):
                while not stop.wait(0.02) and connection.recv(1024):
                    pass

    # A small receive buffer (which also stops its growth): the send cannot
    # vanish into the buffers, which on Linux hold up to 4 + 32 MiB.
    fake_server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    thread = threading.Thread(target=slow_reader, daemon=True)
    thread.start()
    try:
        client = make_client(port=fake_server.getsockname()[1], timeout=0.5)
        client.connect()
        started = time.monotonic()
        with pytest.raises(TimeoutError, match=r"^the server took no data within 0\.5 s$"):
            getattr(client, method)("x" * 16_000_000)  # 800 s at that pace
        assert time.monotonic() - started < 0.5 + 1.0
        client.close()
    finally:
        stop.set()
        thread.join(WAIT)


@pytest.mark.srs("SRS-185")
@pytest.mark.parametrize("kernel_waits", [True, False], ids=["kernel waits", "Python timeout"])
def test_a_long_send_the_server_takes_in_time_goes_through_whole(
    monkeypatch: pytest.MonkeyPatch, kernel_waits: bool
) -> None:
    """A command far beyond the socket buffers, read as it comes: sent whole, then answered.

    With a Python timeout (TLS, or not Linux) each ``send`` takes what the
    buffers hold and the rest follows within the same deadline; with the
    kernel's waits one ``send`` blocks until all is taken.
    """
    if kernel_waits and not client_module._KERNEL_WAITS:
        pytest.skip("the kernel bounds the client's waits on Linux only")
    monkeypatch.setattr(client_module, "_KERNEL_WAITS", kernel_waits)
    with (
        Server(protocol_handler, max_line_bytes=1024) as server,
        Client(port=server.port, timeout=WAIT) as client,
    ):
        assert client._kernel_waits is kernel_waits
        assert client.request("x" * 16_000_000) == ["invalid"]  # overlong, streamed past
        assert client.request("echo after") == ["after"]


@pytest.mark.srs("SRS-185")
@pytest.mark.parametrize("wait", [1e-9, 4e-7, 0.25, 2.5, 1.9999999])
def test_a_kernel_wait_is_never_taken_for_no_wait(wait: float) -> None:
    """On Linux a client's wait is SO_RCVTIMEO and SO_SNDTIMEO, never (0, 0): that waits forever.

    Each is at least the wait asked for and at most one clock tick of the
    kernel more (which keeps them in ticks).
    """
    if not client_module._KERNEL_WAITS:
        pytest.skip("the kernel bounds the client's waits on Linux only")
    with socket.socket() as sock:
        client_module._set_kernel_wait(sock, wait)
        for option in (socket.SO_RCVTIMEO, socket.SO_SNDTIMEO):
            whole, micro = struct.unpack("@ll", sock.getsockopt(socket.SOL_SOCKET, option, 16))
            assert (whole, micro) != (0, 0)
            assert wait <= whole + micro / 1e6 < max(wait, 1e-6) + 0.02


# -- the end of the connection ------------------------------------------------------


@pytest.mark.srs("SRS-050", "SRS-094")
def test_after_the_server_closed_recv_and_send_raise_connection_error(
    make_client: MakeClient, server: Server
) -> None:
    """Answers sent before the server closed are read first; then recv() and send() raise."""
    with make_client(port=server.port) as client:
        client.send("echo last")
        client.send("disconnect")
        assert client.recv() == "last"
        closed = f"^the server at 127.0.0.1:{server.port} closed the connection$"
        with pytest.raises(ConnectionError, match=closed):
            client.recv()
        with pytest.raises(ConnectionError, match=closed):
            client.send("ping")


@pytest.mark.srs("SRS-050")
def test_eof_in_the_middle_of_a_line_is_a_connection_error(
    make_client: MakeClient, fake_server: socket.socket
) -> None:
    """A server that closes after half a line makes recv() raise ConnectionError, not return it."""
    client = make_client(port=fake_server.getsockname()[1])
    with serving_by_hand(fake_server, b"pong\n", then=b"partial answer without lf"), client:
        client.send("anything")
        with pytest.raises(ConnectionError, match="closed the connection"):
            client.recv()


@pytest.mark.srs("SRS-054", "SRS-093")
def test_ping_tells_whether_the_server_answers(make_client: MakeClient, server: Server) -> None:
    """ping() is True while the server answers, False once it is gone."""
    client = make_client(port=server.port, timeout=2)
    client.connect()
    client.send("echo unread")
    assert client.ping()  # the unread answer before the pong is dropped
    assert client.request("echo next") == ["next"]
    server.stop()
    assert not client.ping()


@pytest.mark.srs("SRS-055", "SRS-093")
def test_disconnect_waits_until_the_server_closed_the_session(
    make_client: MakeClient, server: Server
) -> None:
    """After disconnect() returns, the next client is served at once."""
    first = make_client(port=server.port)
    first.connect()
    first.send("lines 1000")  # answers the disconnect must not trip on
    first.disconnect()
    with make_client(port=server.port, timeout=2) as second:
        assert second.request("echo next") == ["next"]


@pytest.mark.srs("SRS-056", "SRS-093")
def test_shutdown_stops_the_server_and_the_with_exit_sends_nothing_more(
    make_client: MakeClient, server: Server
) -> None:
    """shutdown() stops the server; leaving the with block after it does not fail."""
    with make_client(port=server.port) as client:
        client.shutdown()
        assert not is_connected(client)
    assert wait_until(lambda: not server.is_running)


@pytest.mark.srs("SRS-054", "SRS-059", "SRS-188")
def test_a_client_that_is_not_connected_raises_not_connected_error(
    make_client: MakeClient, server: Server
) -> None:
    """send, recv and request before connect() or after close() raise NotConnectedError."""
    client = make_client(port=server.port)
    for _ in range(2):
        for use in (lambda: client.send("ping"), client.recv, lambda: client.request("echo")):
            with pytest.raises(NotConnectedError, match=r"^the client is not connected; call"):
                use()
        assert not client.ping()
        client.connect()
        client.close()
    client.disconnect()  # nothing to end: does nothing
    assert not is_connected(client)


# -- settings -----------------------------------------------------------------------


def test_the_settings_are_a_client_config_readable_on_the_client(
    make_client: MakeClient, server: Server
) -> None:
    """The client keeps its arguments as a ClientConfig (ClientSettings is its old name)."""
    context = ssl.create_default_context()
    options: dict[str, Any] = {
        "port": server.port,
        "timeout": 2.5,
        "encoding": "latin-1",
        "max_line_bytes": 80,
        "ssl_context": context,
        "token": "t0k3n",
    }
    client = make_client(**options)
    assert client.config == ClientConfig(**options)
    assert ClientSettings is ClientConfig
    settings = (client.host, client.port, client.timeout, client.encoding, client.max_line_bytes)
    assert settings == ("127.0.0.1", server.port, 2.5, "latin-1", 80)
    assert (client.ssl_context, client.server_hostname) == (context, "127.0.0.1")
    assert "t0k3n" not in repr(client.config)
    assert repr(client) == f"<{make_client.repr_name} 127.0.0.1:{server.port} connected=False>"


@pytest.mark.srs("SRS-234")
@pytest.mark.parametrize(
    ("option", "message"),
    [
        ({"max_line_bytes": 0}, "at least 1"),
        ({"encoding": "utf-16"}, "not ASCII-compatible"),
        ({"token": "two words"}, "without spaces"),
        ({"timeout": 0}, "^timeout must be a positive number of seconds, not 0$"),
        ({"timeout": -1.5}, "^timeout must be a positive number of seconds, not -1.5$"),
        ({"timeout": float("inf")}, "^timeout must be a positive number of seconds, not inf$"),
        ({"timeout": float("nan")}, "^timeout must be a positive number of seconds, not nan$"),
        ({"timeout": None}, "^timeout must be a positive number of seconds, not None$"),
    ],
)
def test_bad_settings_are_refused_when_the_client_is_made(
    make_client: MakeClient, option: dict[str, Any], message: str
) -> None:
    """A setting that cannot work raises ValueError at once, before any connection."""
    with pytest.raises(ValueError, match=message):
        make_client(port=1, **option)


# -- deadlines and bounds (one wait per answer, however the server trickles) --------


def trickling_peer(listener: socket.socket, payload: bytes, stop: threading.Event) -> None:
    """Answer the handshake's ping, then send *payload* one byte every 50 ms until *stop*."""
    connection, _ = listener.accept()
    with connection:
        assert read_exactly(connection, 5) == b"ping\n"
        connection.sendall(b"pong\n")
        connection.recv(100)
        for byte in payload:  # bounded by the payload's length
            if stop.wait(0.05):
                return
            with contextlib.suppress(OSError):
                connection.sendall(bytes([byte]))


@pytest.mark.srs("SRS-185")
@pytest.mark.parametrize("call", ["recv", "request"])
def test_the_timeout_is_one_deadline_per_answer_not_per_read(
    make_client: MakeClient, fake_server: socket.socket, call: str
) -> None:
    """A server trickling a byte every 50 ms without LF: TimeoutError after the timeout."""
    stop = threading.Event()
    thread = threading.Thread(
        target=trickling_peer, args=(fake_server, b"x" * 200, stop), daemon=True
    )
    thread.start()
    try:
        client = make_client(port=fake_server.getsockname()[1], timeout=0.5)
        client.connect()
        client.send("go")
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            client.recv() if call == "recv" else client.request("go")
        assert time.monotonic() - started < 0.5 + 0.5
    finally:
        stop.set()
        thread.join(WAIT)


@pytest.mark.srs("SRS-185")
def test_an_endless_answer_is_cut_at_max_answer_lines(
    make_client: MakeClient, fake_server: socket.socket
) -> None:
    """A server that answers line after line, never pong: AnswerLimitError, memory bounded."""

    def endless() -> None:
        connection, _ = fake_server.accept()
        with connection:
            assert read_exactly(connection, 5) == b"ping\n"
            connection.sendall(b"pong\n")
            connection.recv(100)
            with contextlib.suppress(OSError):
                for _ in range(100):  # at most 100 x 1,000 lines
                    connection.sendall(b"more\n" * 1000)

    thread = threading.Thread(target=endless, daemon=True)
    thread.start()
    client = make_client(port=fake_server.getsockname()[1], max_answer_lines=5000)
    client.connect()
    with pytest.raises(AnswerLimitError, match="more than 5000 answer lines"):
        client.request("go")
    client.close()
    thread.join(WAIT)


@pytest.mark.srs("SRS-185")
def test_an_answer_line_past_max_line_bytes_raises_before_its_end(
    make_client: MakeClient, fake_server: socket.socket
) -> None:
    """A line that is already longer than max_line_bytes raises ProtocolError without its LF."""
    stop = threading.Event()
    thread = threading.Thread(
        target=trickling_peer, args=(fake_server, b"y" * 400, stop), daemon=True
    )
    thread.start()
    try:
        client = make_client(port=fake_server.getsockname()[1], timeout=5, max_line_bytes=8)
        client.connect()
        client.send("go")
        started = time.monotonic()
        with pytest.raises(ProtocolError):
            client.recv()
        assert time.monotonic() - started < 2.0
    finally:
        stop.set()
        thread.join(WAIT)


@pytest.mark.srs("SRS-186")
@pytest.mark.parametrize(
    ("terminator", "answer_terminator"), [("cr", "cr"), ("crlf", "crlf"), ("cr", "crlf")]
)
def test_the_clients_speak_the_servers_terminators(
    make_client: MakeClient, terminator: str, answer_terminator: str
) -> None:
    """A client told the server's terminators connects, requests and disconnects."""
    options = {"terminator": terminator, "answer_terminator": answer_terminator}
    with Server(protocol_handler, **options) as server:  # type: ignore[arg-type]
        client = make_client(port=server.port, **options)
        client.connect()
        assert client.request("lines 2") == ["line 1", "line 2"]
        assert client.request("echo a") == ["a"]
        client.disconnect()
