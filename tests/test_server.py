"""linesock.Server's API: life cycle, threads, deferred answers, limits, logs and counters."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from handlers import protocol_handler
from linesock import (
    Answer,
    InvalidLine,
    LinesockError,
    Server,
    ServerConfig,
    TranscriptError,
    aio,
    read_transcript,
)
from linesock._net import warn_if_exposed
from wire import WAIT, connect, converse, read_exactly, read_until_eof, wait_until


@pytest.fixture
def server() -> Iterator[Server]:
    """A threaded server with the protocol handler on a free port."""
    with Server(protocol_handler) as running:
        yield running


def open_fds() -> int:
    """How many file descriptors this process holds."""
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.srs("SRS-036", "SRS-041")
def test_start_returns_once_clients_can_connect() -> None:
    """Right after start() a client is served, with no sleep in between."""
    server = Server(protocol_handler)
    server.start()
    try:
        assert server.is_running
        assert converse(server.port, b"ping\ndisconnect\n") == b"pong\n"
    finally:
        server.stop()
    assert not server.is_running


@pytest.mark.srs("SRS-001", "SRS-041", "SRS-042")
def test_the_default_address_is_loopback() -> None:
    """Server() listens on 127.0.0.1 unless told otherwise."""
    with Server(protocol_handler) as server:
        assert server.address == ("127.0.0.1", server.port)
        assert repr(server) == f"<linesock.Server 127.0.0.1:{server.port} running=True>"


@pytest.mark.srs("SRS-042")
def test_port_before_listening_is_an_error() -> None:
    """Asking for the port of a server that does not listen yet raises RuntimeError."""
    with pytest.raises(RuntimeError, match="not listening yet"):
        _ = Server(protocol_handler).port


@pytest.mark.srs("SRS-021", "SRS-037")
def test_serve_forever_returns_after_a_client_shutdown() -> None:
    """serve_forever() blocks the calling thread until a client sends shutdown."""
    server = Server(protocol_handler)
    server.listen()
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    assert converse(server.port, b"echo x\nshutdown\n") == b"x\n"
    thread.join(WAIT)
    assert not thread.is_alive()
    assert not server.is_running


@pytest.mark.srs("SRS-038")
def test_stop_from_another_thread_ends_a_connected_session() -> None:
    """stop() closes the current client's connection and waits for the server to end."""
    server = Server(protocol_handler)
    server.start()
    with connect(server.port) as sock:
        sock.sendall(b"ping\n")
        assert read_exactly(sock, 5) == b"pong\n"
        server.stop(timeout=WAIT)
        assert not server.is_running
        assert read_until_eof(sock) == b""


@pytest.mark.srs("SRS-038")
@pytest.mark.parametrize("busy", ["queue", "refuse"])
def test_stop_while_waiting_for_a_client_logs_no_error(
    busy: str, caplog: pytest.LogCaptureFixture
) -> None:
    """stop() ends the wait for the next client (a blocking accept, the gate's selector) quietly."""
    caplog.set_level(logging.INFO, logger="linesock")
    for _ in range(100):  # a stop racing the gate's start showed in about 1 stop in 150
        server = Server(protocol_handler, busy=busy)
        server.start()
        server.stop(timeout=WAIT)
        assert server.wait_stopped(0)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


@pytest.mark.srs("SRS-039")
def test_stop_from_inside_a_handler_answers_then_stops() -> None:
    """A handler may call stop(): its answer still goes out, then the server stops."""
    holder: list[Server] = []

    def handler(command: str) -> str:
        holder[0].stop()
        return f"stopping after {command}"

    server = Server(handler)
    holder.append(server)
    server.start()
    with connect(server.port) as sock:
        sock.sendall(b"bye\n")
        assert read_until_eof(sock) == b"stopping after bye\n"
    assert server.wait_stopped(WAIT)


@pytest.mark.srs("SRS-040")
def test_stop_is_idempotent_and_works_before_start() -> None:
    """stop() on a never-started or already-stopped server does nothing harmful."""
    Server(protocol_handler).stop()
    server = Server(protocol_handler)
    server.start()
    server.stop()
    server.stop()
    assert not server.is_running


@pytest.mark.srs("SRS-040")
def test_a_stopped_server_cannot_be_restarted() -> None:
    """Servers are single-use; restarting says to create a new one."""
    server = Server(protocol_handler)
    server.start()
    server.stop()
    with pytest.raises(RuntimeError, match="create a new one"):
        server.start()


@pytest.mark.srs("SRS-041", "SRS-080")
def test_a_hundred_start_stop_cycles_on_one_port_never_hit_address_in_use() -> None:
    """A new server can take the port of one that just stopped, after real sessions."""
    first = Server(protocol_handler)
    first.start()
    port = first.port
    converse(port, b"ping\ndisconnect\n")
    first.stop()
    for _ in range(100):
        with Server(protocol_handler, port=port) as server:
            assert converse(port, b"ping\ndisconnect\n") == b"pong\n"
        assert not server.is_running


@pytest.mark.srs("SRS-043")
def test_future_answers_go_out_in_command_order() -> None:
    """A handler may return a Future resolved on another thread; order is kept."""
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=2)

    def slowly() -> str:
        time.sleep(0.1)
        return "slow done"

    def failing() -> str:
        raise ZeroDivisionError

    def handler(command: str) -> Answer | concurrent.futures.Future[str]:
        if command == "slow":
            return pool.submit(slowly)
        if command == "fails":
            return pool.submit(failing)
        return f"fast {command}"

    try:
        with Server(handler) as server:
            script = b"slow\nfast1\nfails\nfast2\ndisconnect\n"
            assert converse(server.port, script) == b"slow done\nfast fast1\nfast fast2\n"
            assert server.stats.handler_errors == 1
    finally:
        pool.shutdown()


def test_an_awaitable_answer_is_refused_by_the_threaded_server(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An async handler on the threaded server answers nothing and logs why."""

    async def handler(command: str) -> str:
        return command

    with Server(handler) as server:
        assert converse(server.port, b"x\nping\ndisconnect\n") == b"pong\n"
    assert "cannot await" in caplog.text


@pytest.mark.srs("SRS-026", "SRS-046")
def test_a_raising_handler_is_logged_with_its_traceback(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    """The handler's exception and traceback reach the `linesock` logger."""
    with caplog.at_level(logging.ERROR, logger="linesock"):
        assert converse(server.port, b"raise\nping\ndisconnect\n") == b"pong\n"
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.name == "linesock"
    assert record.getMessage() == "handler raised on command raise"
    assert record.exc_info is not None
    assert "the test asked the handler to fail" in caplog.text


@pytest.mark.srs("SRS-017")
def test_an_answer_with_lf_is_logged_as_a_programming_error(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    """The dropped answer is reported with the command that produced it."""
    with caplog.at_level(logging.ERROR, logger="linesock"):
        converse(server.port, b"lf\ndisconnect\n")
    assert "handler answered with a line holding LF: two\\nlines (command lf); dropped" in (
        caplog.text
    )


@pytest.mark.srs("SRS-017")
@pytest.mark.parametrize(
    ("answer", "problem"),
    [(b"bytes", "returned bytes, not str"), ([1], "answered with int, not str"), (3.5, "float")],
)
def test_answers_that_are_not_text_are_dropped_and_logged(
    answer: object, problem: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Only str lines go on the wire; anything else is a logged programming error."""
    with Server(lambda command: answer) as server:
        assert converse(server.port, b"x\nping\ndisconnect\n") == b"pong\n"
        assert server.stats.handler_errors == 1
    assert problem in caplog.text


@pytest.mark.srs("SRS-012", "SRS-045")
def test_a_custom_invalid_hook_answers_invalid_lines() -> None:
    """on_invalid decides the answer to undecodable and overlong lines."""

    def on_invalid(line: InvalidLine) -> str:
        return f"bad {line.reason} {line.size}"

    with Server(protocol_handler, on_invalid=on_invalid, max_line_bytes=12) as server:
        script = b"\xff\n1234567890123\nping\ndisconnect\n"
        assert converse(server.port, script) == b"bad undecodable 1\nbad overlong 13\npong\n"
        assert (server.stats.invalid_lines, server.stats.overlong_lines) == (1, 1)


@pytest.mark.srs("SRS-045")
def test_stats_count_sessions_commands_and_errors(server: Server) -> None:
    """The counters follow what the server saw."""
    converse(server.port, b"echo a\n\xff\nraise\ndisconnect\n")
    converse(server.port, b"ping\ndisconnect\n")
    stats = server.stats
    assert (stats.sessions, stats.commands, stats.invalid_lines, stats.handler_errors) == (
        2,
        6,
        1,
        1,
    )


@pytest.mark.srs("SRS-077")
def test_a_thousand_vanishing_clients_leak_no_file_descriptors(server: Server) -> None:
    """Clients that connect and vanish, even mid-line, leave no descriptor behind."""
    converse(server.port, b"ping\ndisconnect\n")
    assert wait_until(lambda: not server.serving_client)
    before = open_fds()
    for number in range(1000):
        sock = connect(server.port)
        if number % 2:
            sock.sendall(b"echo half a li")
        sock.close()
    assert converse(server.port, b"ping\ndisconnect\n") == b"pong\n"
    assert wait_until(lambda: open_fds() <= before), f"{open_fds()} fds open, {before} before"
    assert server.stats.sessions == 1002


@pytest.mark.srs("SRS-032", "SRS-045")
def test_idle_timeout_disconnects_a_silent_client_and_serves_the_next() -> None:
    """A client silent for idle_timeout is disconnected so the next one is served."""
    with Server(protocol_handler, idle_timeout=0.2) as server:
        with connect(server.port) as silent, connect(server.port) as waiting:
            waiting.sendall(b"echo served\ndisconnect\n")
            assert read_until_eof(silent) == b""
            assert read_until_eof(waiting) == b"served\n"
        assert server.stats.idle_disconnects == 1


@pytest.mark.srs("SRS-034", "SRS-035")
def test_a_client_that_never_reads_is_dropped_after_write_timeout() -> None:
    """Back-pressure: the server stops reading a client that does not read, then drops it."""
    big = "x" * 65536

    with Server(lambda command: big, write_timeout=0.3) as server:
        hog = connect(server.port)
        hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        try:
            deadline = time.monotonic() + WAIT
            hog.settimeout(0.05)
            with pytest.raises(OSError):  # the server stops reading: our sends block
                while time.monotonic() < deadline:
                    hog.send(b"give\n" * 1000)
            assert converse(server.port, b"ping\ndisconnect\n") == b"pong\n"
            assert server.stats.write_timeouts == 1
        finally:
            hog.close()


@pytest.mark.srs("SRS-013", "SRS-044")
@pytest.mark.parametrize(
    ("option", "message"),
    [
        ({"idle_timeout": 0}, "idle_timeout must be a positive"),
        ({"write_timeout": float("inf")}, "write_timeout must be a positive"),
        ({"max_line_bytes": 0}, "at least 1"),
        ({"encoding": "utf-16"}, "not ASCII-compatible"),
        ({"backlog": 0}, "backlog must be at least 1"),
    ],
)
def test_impossible_options_are_refused_at_construction(
    option: dict[str, Any], message: str
) -> None:
    """Bad settings raise ValueError with the reason, before anything is bound."""
    with pytest.raises(ValueError, match=message):
        Server(protocol_handler, **option)


@pytest.mark.srs("SRS-044")
def test_an_unknown_option_is_a_type_error() -> None:
    """A misspelled option is not silently ignored."""
    with pytest.raises(TypeError, match="max_line_byte"):
        Server(protocol_handler, max_line_byte=5)


@pytest.mark.srs("SRS-072")
def test_http_refusal_can_be_turned_off() -> None:
    """With reject_http=False a first line like HTTP reaches the handler."""
    with Server(protocol_handler, reject_http=False) as server:
        assert converse(server.port, b"GET / HTTP/1.1\ndisconnect\n") == b"ack:GET / HTTP/1.1\n"


@pytest.mark.srs("SRS-072")
def test_the_http_warning_is_logged_at_most_once_a_minute(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    """A flood of HTTP clients gives one warning line, not one per client."""
    with caplog.at_level(logging.WARNING, logger="linesock"):
        for _ in range(5):
            assert converse(server.port, b"GET / HTTP/1.1\r\n\r\n") == b""
    warnings = [r for r in caplog.records if "spoke HTTP" in r.getMessage()]
    assert len(warnings) == 1
    assert server.stats.http_refusals == 5


@pytest.mark.srs("SRS-069")
def test_the_token_never_appears_in_logs_or_repr(caplog: pytest.LogCaptureFixture) -> None:
    """Neither a failed nor a good auth writes the token anywhere."""
    with (
        caplog.at_level(logging.DEBUG, logger="linesock"),
        Server(protocol_handler, token="hunter2") as server,
    ):
        converse(server.port, b"auth hunter2\ndisconnect\n")
        converse(server.port, b"auth hunter3\n")
        assert "hunter2" not in repr(server.config)
    assert "hunter" not in caplog.text
    assert "failed to authenticate" in caplog.text


@pytest.mark.srs("SRS-070")
@pytest.mark.parametrize("token", ["", "two words", "line\nbreak"])
def test_a_token_that_cannot_be_sent_as_one_word_is_refused(token: str) -> None:
    """The token must fit `auth TOKEN` on one line."""
    with pytest.raises(ValueError, match="token must be"):
        Server(protocol_handler, token=token)


@pytest.mark.srs("SRS-074")
@pytest.mark.parametrize(
    ("address", "options", "warned"),
    [
        ("0.0.0.0", {}, True),
        ("::", {}, True),
        ("0.0.0.0", {"token": "t"}, False),
        ("127.0.0.1", {}, False),
        ("127.0.0.2", {}, False),
        ("::1", {}, False),
    ],
    ids=["any-plain", "any6-plain", "any-token", "loopback", "loopback-2", "ipv6-loopback"],
)
def test_an_address_beyond_loopback_without_tls_or_token_is_warned_about(
    address: str, options: dict[str, Any], warned: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """The exposure check warns for non-loopback addresses unless a token or TLS guards them."""
    with caplog.at_level(logging.WARNING, logger="linesock"):
        warn_if_exposed(address, ServerConfig(**options))
    assert ("not a loopback address" in caplog.text) is warned


@pytest.mark.srs("SRS-074")
def test_listening_on_loopback_logs_no_exposure_warning(caplog: pytest.LogCaptureFixture) -> None:
    """The server runs the exposure check when it listens; loopback stays quiet."""
    with caplog.at_level(logging.INFO, logger="linesock"), Server(protocol_handler) as server:
        pass
    assert f"listening on 127.0.0.1:{server.port}" in caplog.text
    assert "not a loopback address" not in caplog.text


def test_stop_between_listen_and_serve_forever_makes_serve_forever_return() -> None:
    """A stop() that comes before serve_forever() starts wins: serving returns at once."""
    server = Server(protocol_handler)
    server.listen()
    server.stop()
    server.serve_forever()
    assert not server.is_running
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=WAIT).close()


def test_stop_right_after_start_never_hangs() -> None:
    """start() then an immediate stop(), many times over, always ends the serving thread."""
    for _ in range(200):
        server = Server(protocol_handler)
        server.start()
        server.stop(timeout=WAIT)
        assert server.wait_stopped(0)
        thread = server.thread
        assert thread is not None
        thread.join(WAIT)
        assert not thread.is_alive()


# -- configuration as data, and answers pushed later ----------------------------


@pytest.mark.srs("SRS-155")
def test_a_transcript_path_is_opened_when_the_server_listens(tmp_path: Path) -> None:
    """The config opens nothing; listen() opens the transcript and start() serves into it."""
    path = tmp_path / "rig.jsonl"
    config = ServerConfig(transcript=path)
    assert config.transcript == path
    assert not path.exists()
    server = Server(protocol_handler, transcript=path)
    assert not path.exists()
    with server:
        assert path.exists()
        assert converse(server.port, b"echo a\ndisconnect\n") == b"a\n"
    assert [record.get("command") for record in read_transcript(path)][1:3] == [
        "echo a",
        "disconnect",
    ]


@pytest.mark.srs("SRS-155")
def test_a_transcript_that_cannot_be_opened_fails_listen_naming_the_file(tmp_path: Path) -> None:
    """TranscriptError is a LinesockError and an OSError, names the file, and binds no port."""
    path = tmp_path / "missing" / "rig.jsonl"
    server = Server(protocol_handler, port=0, transcript=path)
    with pytest.raises(TranscriptError) as raised:
        server.listen()
    assert isinstance(raised.value, LinesockError)
    assert isinstance(raised.value, OSError)
    assert str(raised.value) == f"cannot open the transcript {path}: No such file or directory"
    assert not server.is_running


@pytest.mark.srs("SRS-155")
def test_the_asyncio_server_opens_its_transcript_when_it_listens(tmp_path: Path) -> None:
    """start_server raises the same TranscriptError for a transcript it cannot open."""
    path = tmp_path / "missing" / "rig.jsonl"

    async def main() -> None:
        with pytest.raises(TranscriptError, match="cannot open the transcript"):
            await aio.start_server(protocol_handler, transcript=path)

    asyncio.run(main())


@pytest.mark.srs("SRS-156")
def test_answers_pushed_from_a_handler_keep_command_order() -> None:
    """Pushed lines join the batch: a pipelined ping after the command is answered after it."""
    pushing: list[Server] = []

    def handler(command: str) -> None:
        pushing[0].push(f"ANS {command}")
        pushing[0].push([f"more {command}"])

    with Server(handler) as server:
        pushing.append(server)
        answered = converse(server.port, b"a\nping\nb\nping\ndisconnect\n")
    assert answered == b"ANS a\nmore a\npong\nANS b\nmore b\npong\n"


@pytest.mark.srs("SRS-156")
def test_an_answer_pushed_from_another_thread_is_checked_and_sent() -> None:
    """From another thread: sent at once, between the server's own sends; LF lines dropped."""
    ready = threading.Event()
    with Server(protocol_handler) as server:
        assert not server.push("nobody listens")
        with connect(server.port) as client:
            client.sendall(b"ping\n")
            assert read_exactly(client, 5) == b"pong\n"
            assert wait_until(lambda: server.serving_client)
            pusher = threading.Thread(
                target=lambda: ready.set() if server.push(["later", "two\nlines"]) else None
            )
            pusher.start()
            pusher.join(WAIT)
            assert ready.is_set()
            assert read_exactly(client, 6) == b"later\n"
            client.sendall(b"echo after\ndisconnect\n")
            assert read_until_eof(client) == b"after\n"
    assert server.stats.handler_errors == 1
