"""linesock.aio: the AsyncServer, deferred answers, back-pressure, timeouts and uvloop.

The protocol rules themselves are checked for the asyncio server by the
shared suite (tests/test_protocol.py); these tests cover what only the
asyncio front end has.  Each runs its server and clients on one event loop
(asyncio's and, when installed, uvloop's) over real sockets on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import re
import socket
import struct
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, TypeVar

import pytest

import wire
from frontends import start_asyncio
from handlers import protocol_handler
from linesock import ServerStats, aio
from wire import WAIT

T = TypeVar("T")
#: uvloop's clock counts whole milliseconds, and its timers may fire up to one early.
CLOCK_SLACK = 0.002
LoopFactory = Callable[[], asyncio.AbstractEventLoop]


def _uvloop_factory() -> LoopFactory:
    """uvloop's loop factory, or a skip when uvloop is not installed."""
    uvloop = pytest.importorskip("uvloop", reason="uvloop is not installed")
    factory: LoopFactory = uvloop.new_event_loop
    return factory


@pytest.fixture(params=["asyncio", "uvloop"])
def new_loop(request: pytest.FixtureRequest) -> LoopFactory:
    """A factory of event loops: asyncio's own, then uvloop's (skipped if missing)."""
    if request.param == "uvloop":
        return _uvloop_factory()
    return asyncio.new_event_loop


def run(new_loop: LoopFactory, main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run *main* on a fresh loop, bounded in time; fail on anything the loop reports."""
    loop = new_loop()
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        result = loop.run_until_complete(asyncio.wait_for(main(), 3 * WAIT))
        leftover = asyncio.all_tasks(loop)
        for task in leftover:
            task.cancel()
        if leftover:
            loop.run_until_complete(asyncio.wait(leftover))
        loop.run_until_complete(loop.shutdown_asyncgens())
    finally:
        loop.close()
    assert not reported, f"the event loop reported: {reported}"
    assert not leftover, f"tasks still running after the test: {leftover}"
    return result


async def read_until_eof(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes, waiting at most WAIT."""
    return await asyncio.wait_for(reader.read(), WAIT)


@contextlib.asynccontextmanager
async def raw_connection(
    port: int,
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """A raw TCP connection to the server as a stream pair, closed at the end whatever happens."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        yield reader, writer
    finally:
        writer.close()
        try:
            await asyncio.wait_for(writer.wait_closed(), WAIT)
        except (OSError, asyncio.TimeoutError):
            writer.transport.abort()


async def converse(port: int, data: bytes) -> bytes:
    """Send *data* on a new raw connection; return all the server sends until it closes."""
    async with raw_connection(port) as (reader, writer):
        writer.write(data)
        return await read_until_eof(reader)


async def nothing_arrives(reader: asyncio.StreamReader, within: float) -> bool:
    """True if the server sends nothing for *within* seconds (keep it short)."""
    try:
        await asyncio.wait_for(reader.read(1), within)
    except asyncio.TimeoutError:
        return True
    return False


class DeferringHandler:
    """Answers ``slow`` later from the loop, ``thread`` from a worker thread, ``fail`` never.

    ``slow``: an asyncio future the loop resolves after a short delay;
    ``thread``: a ``concurrent.futures.Future`` a worker thread resolves;
    ``async X``: an ``async def`` answer, ``X`` after one loop turn;
    ``fail``: an awaitable that raises; anything else: the protocol handler.
    """

    def __init__(self) -> None:
        """Start the worker thread pool."""
        self.pool = concurrent.futures.ThreadPoolExecutor(1)

    def __call__(self, command: str) -> object:
        """Answer *command* (see the class docstring)."""
        if command == "slow":
            future = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().call_later(0.05, future.set_result, "slow")
            return future
        if command == "thread":
            return self.pool.submit(self._work, "thread")
        if command.startswith("async "):
            return self._after_a_turn(command[6:])
        if command == "fail":
            return self._raise()
        return protocol_handler(command)

    @staticmethod
    def _work(answer: str) -> str:
        threading.Event().wait(0.02)  # some work on the worker thread
        return answer

    async def _after_a_turn(self, answer: str) -> str:
        await asyncio.sleep(0)
        return answer

    async def _raise(self) -> str:
        await asyncio.sleep(0)
        raise RuntimeError("the deferred answer failed")


@pytest.fixture
def deferring() -> Iterator[DeferringHandler]:
    """A DeferringHandler whose worker pool is shut down after the test."""
    handler = DeferringHandler()
    yield handler
    handler.pool.shutdown(wait=True)


async def echo_server(**options: Any) -> aio.AsyncServer:
    """An asyncio server with the protocol handler on a free port."""
    return await aio.start_server(protocol_handler, **options)


# -- the AsyncClient with the AsyncServer ------------------------------------------
# (the AsyncClient's own contract is in tests/test_clients.py, shared with Client)


@pytest.mark.srs("SRS-088", "SRS-093")
def test_client_shutdown_makes_serve_forever_return(new_loop: LoopFactory) -> None:
    """A client's shutdown ends serve_forever() and closes the server."""

    async def main() -> None:
        server = await echo_server()
        serving = asyncio.ensure_future(server.serve_forever())
        async with aio.AsyncClient(port=server.port) as client:
            assert await client.request("echo bye") == ["bye"]
            await client.shutdown()
        await asyncio.wait_for(serving, WAIT)
        assert not server.is_serving()
        assert not server.is_running
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", server.port)

    run(new_loop, main)


@pytest.mark.srs("SRS-098")
def test_the_server_and_client_run_on_uvloop() -> None:
    """On a uvloop event loop, start_server and connect serve a pipelined exchange."""
    new_uvloop = _uvloop_factory()

    async def main() -> None:
        assert type(asyncio.get_running_loop()).__module__.startswith("uvloop")
        async with await echo_server() as server:
            async with aio.AsyncClient(port=server.port) as client:
                await client.send("echo a")
                assert await client.request("lines 2") == ["a", "line 1", "line 2"]
            # connect's ping, echo a, lines 2 and its ping, then the closing disconnect
            assert server.stats.commands == 5

    run(new_uvloop, main)


# -- the AsyncServer's life cycle ---------------------------------------------------


@pytest.mark.srs("SRS-087")
def test_start_server_reports_its_address_and_serves_at_once(new_loop: LoopFactory) -> None:
    """start_server() returns a serving server whose port is the one the OS chose."""

    async def main() -> None:
        server = await aio.start_server(protocol_handler)
        assert server.is_serving()
        assert server.address == ("127.0.0.1", server.port)
        assert repr(server) == f"<linesock.aio.AsyncServer 127.0.0.1:{server.port} serving=True>"
        assert await converse(server.port, b"ping\ndisconnect\n") == b"pong\n"
        server.close()
        await server.wait_closed()
        assert not server.is_serving()
        assert not server.is_running

    run(new_loop, main)


@pytest.mark.srs("SRS-089")
def test_start_server_rejects_unknown_and_impossible_options(new_loop: LoopFactory) -> None:
    """Options are ServerConfig's fields: an unknown one is a TypeError, a bad value ValueError."""

    async def main() -> None:
        with pytest.raises(TypeError, match="colour"):
            await aio.start_server(protocol_handler, colour="red")
        with pytest.raises(ValueError, match="idle_timeout"):
            await aio.start_server(protocol_handler, idle_timeout=-1)

    run(new_loop, main)


@pytest.mark.srs("SRS-088")
def test_close_ends_the_current_session_and_serve_forever_returns(new_loop: LoopFactory) -> None:
    """close() stops listening, closes the connected client, and serve_forever() returns."""

    async def main() -> None:
        server = await echo_server()
        serving = asyncio.ensure_future(server.serve_forever())
        async with raw_connection(server.port) as (reader, writer):
            writer.write(b"ping\n")
            assert await asyncio.wait_for(reader.readexactly(5), WAIT) == b"pong\n"
            server.close()
            assert await read_until_eof(reader) == b""
            await asyncio.wait_for(serving, WAIT)
            assert not server.is_running

    run(new_loop, main)


@pytest.mark.srs("SRS-088")
def test_a_server_closed_at_once_releases_its_port(new_loop: LoopFactory) -> None:
    """close() right after start_server(), before any loop turn, still closes the listener."""

    async def main() -> None:
        server = await echo_server()
        server.close()
        await asyncio.wait_for(server.serve_forever(), WAIT)
        assert not server.is_running
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", server.port)

    run(new_loop, main)


@pytest.mark.srs("SRS-088")
def test_cancelling_serve_forever_closes_the_server(new_loop: LoopFactory) -> None:
    """A cancelled serve_forever() raises CancelledError and leaves the server closed."""

    async def main() -> None:
        server = await echo_server()
        serving = asyncio.ensure_future(server.serve_forever())
        await asyncio.sleep(0)  # let serve_forever start
        serving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await serving
        await server.wait_closed()
        assert not server.is_running

    run(new_loop, main)


# -- one client at a time ---------------------------------------------------------


@pytest.mark.srs("SRS-091")
def test_clients_wait_behind_a_pending_answer_and_are_served_in_arrival_order(
    new_loop: LoopFactory, deferring: DeferringHandler
) -> None:
    """While a session awaits an answer, later clients wait, then are served in order."""

    async def main() -> None:
        async with await aio.start_server(deferring) as server:
            async with contextlib.AsyncExitStack() as connections:
                first = await connections.enter_async_context(raw_connection(server.port))
                first[1].write(b"ping\n")
                assert await asyncio.wait_for(first[0].readexactly(5), WAIT) == b"pong\n"
                waiting = []
                for number in range(3):
                    reader, writer = await connections.enter_async_context(
                        raw_connection(server.port)
                    )
                    writer.write(b"echo %d\nasync x%d\ndisconnect\n" % (number, number))
                    waiting.append(reader)
                first[1].write(b"slow\ndisconnect\n")
                assert await nothing_arrives(waiting[0], within=0.02)
                assert await read_until_eof(first[0]) == b"slow\n"
                for number, reader in enumerate(waiting):
                    assert await read_until_eof(reader) == b"%d\nx%d\n" % (number, number)
            assert server.stats.sessions == 4

    run(new_loop, main)


# -- deferred answers -----------------------------------------------------------------


@pytest.mark.srs("SRS-090")
def test_async_def_handlers_answer_in_command_order(new_loop: LoopFactory) -> None:
    """An `async def` handler's answers come in command order, pipelined or not."""

    async def handler(command: str) -> str | list[str] | None:
        await asyncio.sleep(0.01 if command == "first" else 0)
        if command == "none":
            return None
        return [command, command] if command == "twice" else command

    async def main() -> None:
        async with await aio.start_server(handler) as server:
            script = b"first\ntwice\nnone\nping\nthird\ndisconnect\nnever\n"
            assert await converse(server.port, script) == b"first\ntwice\ntwice\npong\nthird\n"
            assert server.stats.commands == 6  # "never", after disconnect, is not counted

    run(new_loop, main)


@pytest.mark.srs("SRS-091")
@pytest.mark.parametrize(
    ("script", "answers"),
    [
        (b"slow\nfast\nping\n", b"slow\nack:fast\npong\n"),
        (b"thread\nfast\nthread\nping\n", b"thread\nack:fast\nthread\npong\n"),
        (b"async a\nslow\nasync b\nthread\necho c\n", b"a\nslow\nb\nthread\nc\n"),
    ],
    ids=["asyncio-future", "concurrent-future", "mixed"],
)
def test_deferred_answers_keep_command_order_across_pipelined_commands(
    new_loop: LoopFactory, deferring: DeferringHandler, script: bytes, answers: bytes
) -> None:
    """Commands behind a deferred answer wait for it, so answers stay in command order."""

    async def main() -> None:
        async with await aio.start_server(deferring) as server:
            assert await converse(server.port, script + b"disconnect\n") == answers

    run(new_loop, main)


@pytest.mark.srs("SRS-091")
def test_a_long_pipeline_behind_a_pending_answer_is_answered_in_order(
    new_loop: LoopFactory, deferring: DeferringHandler
) -> None:
    """Far more commands than the server holds while an answer is pending all come, in order."""
    count = 50_000  # about 400 KB of commands behind the pending answer
    script = b"slow\n" + b"".join(b"echo %d\n" % n for n in range(count)) + b"disconnect\n"
    expected = b"slow\n" + b"".join(b"%d\n" % n for n in range(count))

    async def main() -> None:
        async with await aio.start_server(deferring) as server:
            assert await converse(server.port, script) == expected
            assert server.stats.commands == count + 2

    run(new_loop, main)


@pytest.mark.srs("SRS-091")
def test_a_concurrent_future_resolved_by_another_thread_is_the_answer(
    new_loop: LoopFactory,
) -> None:
    """A handler that hands work to a thread and returns its Future answers with its result."""
    pool = concurrent.futures.ThreadPoolExecutor(2)

    def handler(command: str) -> concurrent.futures.Future[str]:
        return pool.submit(str.upper, command)

    async def main() -> None:
        async with await aio.start_server(handler) as server:
            script = b"".join(b"cmd %d\n" % number for number in range(200))
            expected = b"".join(b"CMD %d\n" % number for number in range(200))
            assert await converse(server.port, script + b"disconnect\n") == expected

    try:
        run(new_loop, main)
    finally:
        pool.shutdown(wait=True)


@pytest.mark.srs("SRS-092")
def test_an_exception_in_an_awaited_answer_is_logged_and_the_session_goes_on(
    new_loop: LoopFactory, deferring: DeferringHandler, caplog: pytest.LogCaptureFixture
) -> None:
    """A deferred answer that raises sends nothing, is logged and counted; service goes on."""

    async def main() -> ServerStats:
        async with await aio.start_server(deferring) as server:
            script = b"fail\necho after\nfail\nping\ndisconnect\n"
            assert await converse(server.port, script) == b"after\npong\n"
            return server.stats

    with caplog.at_level(logging.ERROR, logger="linesock"):
        stats = run(new_loop, main)
    assert stats.handler_errors == 2
    failures = [record for record in caplog.records if "handler raised" in record.getMessage()]
    assert len(failures) == 2
    assert all(
        record.exc_info and str(record.exc_info[1]) == "the deferred answer failed"
        for record in failures
    )


@pytest.mark.srs("SRS-091")
def test_a_half_closed_client_gets_its_deferred_answers_then_eof(
    new_loop: LoopFactory, deferring: DeferringHandler
) -> None:
    """A client that half-closes behind deferred answers still gets all of them, then EOF."""

    async def main() -> None:
        async with await aio.start_server(deferring) as server:
            async with raw_connection(server.port) as (reader, writer):
                writer.write(b"slow\necho x\nasync y\nlines 2\n")
                writer.write_eof()
                assert await read_until_eof(reader) == b"slow\nx\ny\nline 1\nline 2\n"
            assert await converse(server.port, b"ping\ndisconnect\n") == b"pong\n"

    run(new_loop, main)


@pytest.mark.srs("SRS-091")
def test_a_client_that_resets_during_a_pending_answer_frees_the_slot(
    new_loop: LoopFactory,
) -> None:
    """When the client resets the connection while an answer is pending, it is cancelled."""
    gate: concurrent.futures.Future[str] = concurrent.futures.Future()
    called = threading.Event()

    def handler(command: str) -> object:
        if command == "wait":
            called.set()
            return gate
        return protocol_handler(command)

    async def main() -> None:
        async with await aio.start_server(handler) as server:
            leaving = socket.create_connection(("127.0.0.1", server.port), timeout=WAIT)
            leaving.sendall(b"wait\nping\n")
            assert await asyncio.get_running_loop().run_in_executor(None, called.wait, WAIT)
            leaving.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            leaving.close()  # a reset, not a FIN
            assert await converse(server.port, b"echo next\ndisconnect\n") == b"next\n"
            assert gate.cancelled()

    run(new_loop, main)


@pytest.mark.srs("SRS-091")
def test_a_half_closed_client_waits_for_an_answer_resolved_later(new_loop: LoopFactory) -> None:
    """A client that half-closes while an answer is pending gets it once it resolves, then EOF."""
    gate: concurrent.futures.Future[str] = concurrent.futures.Future()

    def handler(command: str) -> object:
        return gate if command == "wait" else protocol_handler(command)

    async def main() -> None:
        async with (
            await aio.start_server(handler) as server,
            raw_connection(server.port) as (reader, writer),
        ):
            writer.write(b"wait\necho after\n")
            writer.write_eof()
            assert await nothing_arrives(reader, within=0.05)
            threading.Thread(target=gate.set_result, args=("resolved",)).start()
            assert await read_until_eof(reader) == b"resolved\nafter\n"

    run(new_loop, main)


@pytest.mark.srs("SRS-091")
def test_disconnect_behind_a_deferred_answer_runs_in_its_turn(
    new_loop: LoopFactory, deferring: DeferringHandler
) -> None:
    """`disconnect` queued behind a pending answer closes after it; later lines never run."""

    async def main() -> None:
        async with await aio.start_server(deferring) as server:
            script = b"slow\nasync a\ndisconnect\necho never\nshutdown\n"
            assert await converse(server.port, script) == b"slow\na\n"
            assert server.is_serving()
            assert await converse(server.port, b"ping\ndisconnect\n") == b"pong\n"

    run(new_loop, main)


# -- back-pressure, write_timeout and idle_timeout ----------------------------------------

# Each command asks for an answer as large as itself.
_BIG_ECHO = b"echo " + b"x" * 995 + b"\n"


async def fill_until_the_server_stops_reading(port: int) -> tuple[socket.socket, int]:
    """Connect and send big echo commands, never reading, until the server stops reading.

    Returns the socket and how many bytes were sent.  The server has stopped
    reading once a send makes no progress for a while (the kernel's buffers
    both ways are full).
    """
    loop = asyncio.get_running_loop()
    sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
    sock.setblocking(False)
    chunk = _BIG_ECHO * 64
    sent = 0
    deadline = loop.time() + WAIT
    while loop.time() < deadline:
        try:
            await asyncio.wait_for(loop.sock_sendall(sock, chunk), 0.3)
        except asyncio.TimeoutError:
            return sock, sent
        sent += len(chunk)
    sock.close()
    raise AssertionError(f"the server kept reading: {sent} bytes sent without a stall")


@pytest.mark.srs("SRS-096")
def test_a_client_that_never_reads_cannot_grow_the_servers_buffer_and_times_out(
    new_loop: LoopFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """The server stops reading a client that takes no answers, then write_timeout ends it."""
    write_timeout = 1.0
    # The transport's 64 KiB high-water mark, one chunk of answers (OUTPUT_CHUNK), and slack.
    bound = 64 * 1024 + 256 * 1024 + len(_BIG_ECHO) * 64

    async def main() -> None:
        async with await echo_server(write_timeout=write_timeout) as server:
            stuck, sent = await fill_until_the_server_stops_reading(server.port)
            connection = server._connection
            assert connection is not None
            buffered = connection.transport.get_write_buffer_size()
            assert 0 < buffered <= bound < sent // 4
            # Another client waits meanwhile, and is served once the stuck one is cut off.
            async with raw_connection(server.port) as (reader, writer):
                writer.write(b"ping\ndisconnect\n")
                started = asyncio.get_running_loop().time()
                assert await read_until_eof(reader) == b"pong\n"
                assert asyncio.get_running_loop().time() - started < write_timeout + 1.0
                assert server.stats.write_timeouts == 1
                assert server.stats.sessions == 2
            stuck.close()

    with caplog.at_level(logging.INFO, logger="linesock"):
        run(new_loop, main)
    ended = [r.getMessage() for r in caplog.records if "client session ended" in r.getMessage()]
    assert ended[0].startswith(
        f"client session ended: the client took no answers for write_timeout ({write_timeout} s"
    )
    unsent = re.search(r", (\d+) bytes unsent\)", ended[0])
    assert unsent is not None and 0 < int(unsent[1]) <= bound


@pytest.mark.srs("SRS-097")
def test_an_idle_client_is_disconnected_and_counted(new_loop: LoopFactory) -> None:
    """A client silent for idle_timeout gets EOF, and the next client is served."""

    async def main() -> None:
        async with await echo_server(idle_timeout=0.2) as server:
            loop = asyncio.get_running_loop()
            async with raw_connection(server.port) as (reader, writer):
                started = loop.time()
                writer.write(b"ping\n")
                assert await read_until_eof(reader) == b"pong\n"
                assert 0.2 - CLOCK_SLACK <= loop.time() - started < 0.2 + 1.0
                assert server.stats.idle_disconnects == 1
            assert await converse(server.port, b"ping\ndisconnect\n") == b"pong\n"
            assert server.stats.idle_disconnects == 1

    run(new_loop, main)


@pytest.mark.srs("SRS-097")
def test_waiting_for_a_deferred_answer_does_not_count_as_idle(new_loop: LoopFactory) -> None:
    """A slow answer longer than idle_timeout is still delivered; the idle clock starts after."""

    async def handler(command: str) -> str:
        await asyncio.sleep(float(command))
        return "done"

    async def main() -> None:
        async with await aio.start_server(handler, idle_timeout=0.1) as server:
            loop = asyncio.get_running_loop()
            async with raw_connection(server.port) as (reader, writer):
                writer.write(b"0.3\n")
                assert await asyncio.wait_for(reader.readexactly(5), WAIT) == b"done\n"
                answered = loop.time()
                assert await read_until_eof(reader) == b""
                assert loop.time() - answered >= 0.1 - CLOCK_SLACK
                assert server.stats.idle_disconnects == 1

    run(new_loop, main)


@pytest.mark.srs("SRS-097")
def test_a_client_that_keeps_talking_is_never_idle(new_loop: LoopFactory) -> None:
    """Commands closer together than idle_timeout keep the session open past it."""

    async def main() -> None:
        async with await echo_server(idle_timeout=0.2) as server:
            client = await aio.connect(port=server.port)
            loop = asyncio.get_running_loop()
            started = loop.time()
            while loop.time() - started < 0.5:
                assert await client.request("echo alive") == ["alive"]
                await asyncio.sleep(0.05)
            await client.disconnect()
            assert server.stats.idle_disconnects == 0

    run(new_loop, main)


# -- the test harness's asyncio front end ------------------------------------------------


def test_the_suite_front_end_runs_a_server_on_its_own_loop_thread() -> None:
    """frontends.start_asyncio serves on a loop thread and stops cleanly, twice in a row."""
    running = start_asyncio("protocol_handler")
    assert wire.converse(running.port, b"echo hi\nshutdown\n") == b"hi\n"
    assert running.wait_stopped(WAIT)
    running.stop()
    running.stop()
    assert running.stats is not None and running.stats.sessions == 1
