"""linesock.Client: clear errors, no ambiguous empty answers, and the closing handshakes."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from handlers import protocol_handler
from linesock import Client, ClientSettings, ProtocolError, Server
from linesock.aio import AsyncClient
from wire import WAIT, read_exactly


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


def serve_by_hand(
    listener: socket.socket, answer_ping: bytes, then: bytes = b""
) -> threading.Thread:
    """Accept one client, answer its first ping with *answer_ping*, send *then*, close."""

    def run() -> None:
        connection, _ = listener.accept()
        with connection:
            assert read_exactly(connection, 5) == b"ping\n"
            connection.sendall(answer_ping)
            if then:
                connection.recv(100)
                connection.sendall(then)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.srs("SRS-047")
def test_connect_checks_the_server_with_ping(server: Server) -> None:
    """connect() succeeds only after the server answered pong."""
    client = Client(port=server.port)
    states = [client.connected]
    client.connect()
    states.append(client.connected)
    assert states == [False, True]
    assert server.stats.commands == 1
    client.disconnect()
    assert not client.connected


@pytest.mark.srs("SRS-048")
def test_connect_without_a_server_raises_a_clear_connection_error() -> None:
    """No listener: ConnectionError naming the address."""
    port = free_port()
    with pytest.raises(ConnectionError, match=f"no server accepts connections at 127.0.0.1:{port}"):
        Client(port=port, timeout=2).connect()


@pytest.mark.srs("SRS-048")
def test_connect_to_something_that_does_not_answer_pong_fails(fake_server: socket.socket) -> None:
    """A peer that answers ping with anything else is not a Oneline server."""
    thread = serve_by_hand(fake_server, b"hello\n")
    port = fake_server.getsockname()[1]
    with pytest.raises(ConnectionError, match="answered ping with 'hello'"):
        Client(port=port, timeout=2).connect()
    thread.join(WAIT)


@pytest.mark.srs("SRS-052")
def test_request_returns_every_answer_line(server: Server) -> None:
    """request() collects all lines of one command's answer, or none."""
    with Client(port=server.port) as client:
        assert client.request("lines 3") == ["line 1", "line 2", "line 3"]
        assert client.request("silent") == []
        assert client.request("echo") == [""]
        assert client.request("echo ünï") == ["ünï"]


@pytest.mark.srs("SRS-053")
def test_send_and_recv_exchange_single_lines(server: Server) -> None:
    """send() writes one line; recv() returns one answer line."""
    with Client(port=server.port) as client:
        client.send("lines 2")
        assert [client.recv(), client.recv()] == ["line 1", "line 2"]


@pytest.mark.srs("SRS-049")
def test_recv_with_nothing_to_read_raises_timeout_error(server: Server) -> None:
    """A wait that runs out raises TimeoutError, never returns an empty string."""
    with Client(port=server.port) as client:
        client.send("silent")
        with pytest.raises(TimeoutError):
            client.recv(timeout=0.2)
        assert client.request("echo still usable") == ["still usable"]


@pytest.mark.srs("SRS-051")
@pytest.mark.parametrize("command", ["a\nb", "a\rb", "a\r\n", "\n"])
def test_a_command_holding_cr_or_lf_is_refused_before_sending(server: Server, command: str) -> None:
    """CR or LF in a command raises ValueError and nothing reaches the server."""
    with Client(port=server.port) as client:
        with pytest.raises(ValueError, match="cannot hold CR or LF"):
            client.send(command)
        with pytest.raises(ValueError, match="cannot hold CR or LF"):
            client.request(command)
        assert client.request("echo clean") == ["clean"]
    assert server.stats.commands == 1 + 2 + 1  # connect's ping, request's echo + ping, exit


@pytest.mark.srs("SRS-050")
def test_eof_from_the_server_is_a_connection_error(fake_server: socket.socket) -> None:
    """When the server closes, recv() raises ConnectionError instead of returning ''."""
    thread = serve_by_hand(fake_server, b"pong\n", then=b"partial answer without lf")
    with Client(port=fake_server.getsockname()[1]) as client:
        client.send("anything")
        with pytest.raises(ConnectionError, match="closed the connection"):
            client.recv()
    thread.join(WAIT)


@pytest.mark.srs("SRS-058")
def test_an_undecodable_answer_raises_protocol_error(fake_server: socket.socket) -> None:
    """A server line that is not UTF-8 raises ProtocolError carrying the raw bytes."""
    thread = serve_by_hand(fake_server, b"pong\n", then=b"\xff\xfe\n")
    with Client(port=fake_server.getsockname()[1]) as client:
        client.send("anything")
        with pytest.raises(ProtocolError) as caught:
            client.recv()
        assert caught.value.line.data == b"\xff\xfe"
    thread.join(WAIT)


@pytest.mark.srs("SRS-054")
def test_ping_tells_whether_the_server_answers(server: Server) -> None:
    """ping() is True while the server answers, False once it is gone."""
    client = Client(port=server.port, timeout=2)
    client.connect()
    assert client.ping()
    server.stop()
    assert not client.ping()
    client.close()


@pytest.mark.srs("SRS-055")
def test_disconnect_waits_until_the_server_closed_the_session(server: Server) -> None:
    """After disconnect() returns, the next client is served at once."""
    first = Client(port=server.port)
    first.connect()
    first.disconnect()
    with Client(port=server.port, timeout=2) as second:
        assert second.request("echo next") == ["next"]


@pytest.mark.srs("SRS-056")
def test_shutdown_stops_the_server_and_the_context_exit_sends_nothing_more(server: Server) -> None:
    """shutdown() stops the server; leaving the with block after it does not fail."""
    with Client(port=server.port) as client:
        client.shutdown()
        assert not client.connected
    assert server._finished.wait(WAIT)
    assert not server.is_running


@pytest.mark.srs("SRS-054", "SRS-059")
def test_using_a_client_that_is_not_connected_raises_connection_error() -> None:
    """send/recv before connect() raise ConnectionError, saying so."""
    client = Client(port=free_port())
    with pytest.raises(ConnectionError, match="not connected"):
        client.send("ping")
    with pytest.raises(ConnectionError, match="not connected"):
        client.recv()
    assert not client.ping()


@pytest.mark.srs("SRS-060")
def test_localhost_reaches_a_server_on_either_loopback(server: Server) -> None:
    """The name localhost finds the server whether it resolves to ::1 or 127.0.0.1 first."""
    with Client("localhost", server.port) as client:
        assert client.request("echo via localhost") == ["via localhost"]


def test_repr_shows_where_and_whether_connected(server: Server) -> None:
    """repr() names the address and the connection state."""
    client = Client(port=server.port)
    assert repr(client) == f"<linesock.Client 127.0.0.1:{server.port} connected=False>"


@pytest.mark.parametrize(
    ("option", "message"),
    [({"max_line_bytes": 0}, "at least 1"), ({"encoding": "utf-16"}, "not ASCII-compatible")],
)
def test_both_clients_check_their_settings_when_created(
    option: dict[str, Any], message: str
) -> None:
    """Client and AsyncClient hold one ClientConfig, which refuses bad settings at once."""
    for client_class in (Client, AsyncClient):
        with pytest.raises(ValueError, match=message):
            client_class(port=1, **option)
        assert client_class(port=1).config == ClientSettings(port=1)
