"""The control port from Python: where it listens, its settings, its life, its logs, compat.

In-process servers only (the threaded Server and linesock.aio), since these
are promises of the API; tests/test_control.py covers the wire on every
front end, tests/test_cli_control.py the command line.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
from collections.abc import Callable

import pytest

from linesock import Client, ControlPort, Server, ServerConfig, aio
from linesock._control import ControlPortError
from linesock.aio import AsyncServer
from linesock.compat import OnelineServer
from support import WAIT, connect, read_exactly, read_until_eof, start_loop_thread


def echo(command: str) -> str:
    """Answer each command with itself."""
    return command


def refuses_connections(address: tuple[str, int]) -> bool:
    """Whether nothing listens at *address* any more."""
    try:
        socket.create_connection(address, timeout=WAIT).close()
    except ConnectionRefusedError:
        return True
    return False


def ask(address: tuple[str, int], command: str) -> list[str]:
    """One command to the control port at *address*, on a connection of its own."""
    with Client(address[0], address[1], WAIT) as client:
        return client.request(command)


def serve_async(host: str, **options: object) -> tuple[AsyncServer, Callable[[], None]]:
    """An AsyncServer of *echo* on its own loop thread, and how to stop it."""
    found: list[AsyncServer] = []

    async def main(ready: Callable[[], None]) -> None:
        server = await aio.start_server(echo, host, 0, **options)
        found.append(server)
        ready()
        await server.serve_forever()

    loop_thread = start_loop_thread(asyncio.new_event_loop, main)
    return found[0], lambda: loop_thread.stop(found[0].close)


# -- where it listens ----------------------------------------------------------------


@pytest.mark.srs("SRS-219")
@pytest.mark.parametrize(("host", "loopback"), [("0.0.0.0", "127.0.0.1"), ("::1", "::1")])
def test_the_control_port_listens_on_loopback_whatever_the_host(host: str, loopback: str) -> None:
    """127.0.0.1 beside an IPv4 server, even one on every interface; ::1 beside an IPv6 one."""
    with Server(echo, host, 0, control_port=0, token="t0ken") as server:
        address = server.control_address
        assert address is not None
        assert address[0] == loopback
        with Client(*address, WAIT, token="t0ken") as client:
            assert client.request("faults") == ["none"]


@pytest.mark.srs("SRS-219")
@pytest.mark.parametrize(("host", "loopback"), [("0.0.0.0", "127.0.0.1"), ("::1", "::1")])
def test_the_asyncio_servers_control_port_listens_on_loopback(host: str, loopback: str) -> None:
    """The same for linesock.aio: the control port is a threaded server beside the loop."""
    server, stop = serve_async(host, control_port=0, token="t0ken")
    try:
        address = server.control_address
        assert address is not None
        assert address[0] == loopback
        with Client(*address, WAIT, token="t0ken") as client:
            assert client.request("kick") == ["ok"]
    finally:
        stop()
    assert refuses_connections(address)


@pytest.mark.srs("SRS-219")
@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.7", "::", "localhost", "example.com", ""])
def test_a_control_host_beyond_loopback_is_refused(host: str) -> None:
    """ControlPort takes a loopback address only: anything else is a ValueError, nothing bound."""
    server = Server(echo)
    with pytest.raises(ValueError, match="loopback only"):
        ControlPort(server, 0, host)


@pytest.mark.srs("SRS-219")
@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1"])
def test_a_control_port_of_your_own_on_a_loopback_host(host: str) -> None:
    """ControlPort serves beside a server of your own and stops on stop(), idempotently."""
    with Server(echo) as server:
        control = ControlPort(server, 0, host)
        control.start()
        try:
            assert control.address[0] == host
            assert ask(control.address, "fault silence count 1") == ["ok"]
            assert server.faults.describe() == ["silence count 1"]
            assert control.stats.sessions == 1
            assert repr(control) == (
                f"<linesock.ControlPort {host}:{control.address[1]} running=True>"
            )
        finally:
            control.stop()
            control.stop()
        assert control.wait(0)
        assert repr(control) == "<linesock.ControlPort not listening running=False>"
        assert refuses_connections(control.address)


@pytest.mark.srs("SRS-219")
@pytest.mark.parametrize("port", [-1, 65536, True, 1.5, "5002"])
def test_a_control_port_number_out_of_range_is_refused(port: object) -> None:
    """ServerConfig refuses a control_port that is not a whole number from 0 to 65535."""
    with pytest.raises(ValueError, match="control_port must be a port from 0 to 65535 or None"):
        ServerConfig(control_port=port)  # type: ignore[arg-type]


@pytest.mark.srs("SRS-219")
def test_no_control_port_unless_asked_for() -> None:
    """Without control_port the server opens no second port: control_address is None."""
    with Server(echo) as server:
        assert server.control_address is None
    assert ServerConfig().control_port is None


# -- its life ------------------------------------------------------------------------


@pytest.mark.srs("SRS-219")
def test_the_control_port_stops_with_the_server() -> None:
    """stop() closes the control port, a control client's session included."""
    server = Server(echo, control_port=0)
    server.start()
    address = server.control_address
    assert address is not None
    with connect(address[1]) as control:
        control.sendall(b"faults\n")
        assert read_exactly(control, 5) == b"none\n"
        server.stop(WAIT)
        assert read_until_eof(control) == b""
    assert refuses_connections(address)


@pytest.mark.srs("SRS-219")
def test_the_control_port_stops_when_a_client_shuts_the_server_down() -> None:
    """A client's ``shutdown`` on the main port stops the control port too."""
    server = Server(echo, control_port=0)
    server.start()
    address = server.control_address
    assert address is not None
    with connect(server.port) as client:
        client.sendall(b"shutdown\n")
        assert read_until_eof(client) == b""
    assert server.wait_stopped(WAIT)
    assert refuses_connections(address)


@pytest.mark.srs("SRS-219")
def test_a_control_port_that_cannot_listen_fails_the_start_and_frees_the_main_port() -> None:
    """A taken control port is a ControlPortError (an OSError) naming it; nothing is left bound."""
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        server = Server(echo, control_port=port)
        with pytest.raises(ControlPortError) as failed:
            server.start()
        assert isinstance(failed.value, OSError)
        assert failed.value.address == ("127.0.0.1", port)
        assert str(failed.value).startswith(f"cannot open the control port on 127.0.0.1:{port}: ")
        assert not server.is_running
        server.stop()


@pytest.mark.srs("SRS-219")
def test_an_asyncio_control_port_that_cannot_listen_fails_start_server() -> None:
    """start_server raises the ControlPortError; the main listener is closed again."""
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]

        async def start() -> None:
            await aio.start_server(echo, "127.0.0.1", 0, control_port=port)

        with pytest.raises(ControlPortError):
            asyncio.run(start())


# -- its logs ------------------------------------------------------------------------


@pytest.mark.srs("SRS-232")
def test_the_control_ports_own_log_lines_are_prefixed(caplog: pytest.LogCaptureFixture) -> None:
    """Its listening and its clients say ``control port:``; what it changes says ``control:``."""
    caplog.set_level(logging.INFO, logger="linesock")
    with Server(echo, control_port=0) as server:
        address = server.control_address
        assert address is not None
        assert ask(address, "fault error E1 count 1") == ["ok"]
        assert ask(address, "clear") == ["ok"]
    messages = [record.getMessage() for record in caplog.records]
    control = [
        re.sub(r" from \S+$", " from PEER", message)
        for message in messages
        if message.startswith("control")
    ]
    assert control == [
        f"control port: listening on {address[0]}:{address[1]}",
        "control port: client connected from PEER",
        "control: fault error E1 count 1",
        "control port: client session ended: the client sent disconnect",
        "control port: client connected from PEER",
        "control: clear",
        "control port: client session ended: the client sent disconnect",
        "control port: stopped listening",
    ]
    assert f"listening on {server.address[0]}:{server.port}" in messages


# -- compat --------------------------------------------------------------------------


@pytest.mark.srs("SRS-231")
def test_compat_exposes_the_faults_and_kick_of_its_server() -> None:
    """OnelineServer.faults is its running server's; kick ends the connected client's session."""
    oneline = OnelineServer()
    with pytest.raises(RuntimeError, match="never started"):
        _ = oneline.faults
    assert not oneline.kick()
    assert oneline.start(
        ip_address="127.0.0.1", ip_port=0, callback=lambda cmd, bad: oneline.send(f"ack:{cmd}")
    )
    try:
        port = oneline.ip_port
        assert port is not None
        oneline.faults.error("E1", count=1)
        with connect(port) as client:
            client.sendall(b"a\nb\n")
            assert read_exactly(client, 9) == b"E1\nack:b\n"
            assert oneline.kick()
            assert read_until_eof(client) == b""
    finally:
        oneline.term()
