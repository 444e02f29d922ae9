"""Every server under test, each started in its own process by ``python -m bench.servers NAME``.

The child speaks a tiny protocol with the runner on its standard streams:

1. after its imports it prints ``{"ready": true, "pid": PID}`` and waits for a
   line on standard input, so that children importing in parallel do not
   disturb each other's ``start()`` timing;
2. on that line it starts its server on 127.0.0.1, port 0, timing the call
   that makes it listen, and prints ``{"port": PORT, "start_ms": MS}``;
3. it serves until the runner kills it.

All servers answer with the same trivial handler (:func:`answer`) and the
same built-ins (``ping`` is answered ``pong``, ``disconnect`` ends the
session), so one client drives them all.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any, Final

#: The short command of the pipelined and ping-pong workloads; answered ``ok``.
SHORT_COMMAND: Final = "read x"
#: The command answered with a 1 KiB line (1023 characters and the LF).
BIG_COMMAND: Final = "big"
BIG_ANSWER: Final = "y" * 1023
#: The setter of the write-then-query workload: answered with nothing at all, so
#: no answer carries the ACK of the read it came in (only that workload sends it).
SILENT_COMMAND: Final = "set x"
#: The longest line any server here accepts (linesock's default limit).
MAX_LINE_BYTES: Final = 1024 * 1024

#: The Python servers ``python -m bench.servers`` can start, by name.
PYTHON_SERVERS: Final = (
    "raw",
    "linesock-threaded",
    "linesock-transcript",
    "linesock-asyncio",
    "linesock-uvloop",
    "socket-oneline",
    "asyncio-streams",
    "twisted",
)

# How much the raw reference reads at a time: the threaded server's read size.
_RAW_READ_SIZE: Final = 256 * 1024
# Linux's one-shot "acknowledge now", as linesock re-arms it (None elsewhere).
_QUICK_ACK: Final[int | None] = getattr(socket, "TCP_QUICKACK", None)


def answer(command: str) -> str | None:
    """The trivial handler every server runs: 1 KiB for ``big``, none for ``set x``, else ``ok``."""
    if command == BIG_COMMAND:
        return BIG_ANSWER
    if command == SILENT_COMMAND:
        return None
    return "ok"


def _report(**fields: object) -> None:
    """Print one JSON line for the runner and flush it."""
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def _timed(start: Callable[[], int]) -> None:
    """Wait for the runner's go, call *start* (which returns the port), report the time."""
    _report(ready=True, pid=os.getpid())
    if not sys.stdin.readline():
        raise SystemExit(0)  # the runner went away before the go
    began = time.perf_counter()
    port = start()
    _started(port, began)


def _started(port: int, began: float) -> None:
    """Report the port and the time since *began*, then answer the runner's CPU queries."""
    _report(port=port, start_ms=(time.perf_counter() - began) * 1000)
    threading.Thread(target=_answer_cpu_queries, name="bench-control", daemon=True).start()


def _answer_cpu_queries() -> None:
    """Tell the runner, on each line it sends, how much CPU time this process has used.

    ``time.process_time_ns`` counts every thread with nanosecond resolution,
    where ``/proc/PID/stat`` counts 10 ms ticks.  This thread sleeps in a
    blocking read between queries, and queries come only between workloads.
    """
    for _ in sys.stdin:
        _report(cpu_ns=time.process_time_ns())


def _wait_forever() -> None:
    """Block the main thread until the runner kills the process."""
    threading.Event().wait()


# -- the raw reference ----------------------------------------------------------


def serve_raw(listener: socket.socket) -> None:
    """Serve clients one at a time, as fast as plain Python can: the yardstick.

    One thread and blocking sockets; each read lands in one reused buffer
    (``recv_into``), the complete lines of a read are decoded at once and
    split on LF, each goes to the handler, and all answers of the read leave
    in one ``sendall``; after a read whose commands got no answer it sets
    ``TCP_QUICKACK``, as linesock does, so that a client with Nagle on is not
    stalled by a delayed ACK.  It keeps what the protocol needs for the
    workloads here (``ping``, ``disconnect``, a line split across reads) and
    nothing else: no length limit, no CR rule, no recovery from undecodable
    input, no timeouts, no logging.
    """
    buffer = bytearray(_RAW_READ_SIZE)
    view = memoryview(buffer)
    handler = answer
    while True:
        connection, _ = listener.accept()
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        tail = bytearray()
        with connection:
            closing = False
            while not closing:
                size = connection.recv_into(buffer)
                if not size:
                    break
                end = buffer.rfind(b"\n", 0, size) + 1
                if not end:
                    tail += view[:size]
                    continue
                if tail:
                    tail += view[:end]
                    text = tail.decode()
                    del tail[:]
                else:
                    text = str(view[:end], "utf-8")
                if end < size:
                    tail += view[end:size]
                lines = text.split("\n")
                lines.pop()
                out = []
                for line in lines:
                    if line == "ping":
                        out.append("pong")
                    elif line == "disconnect":
                        closing = True
                        break
                    elif (reply := handler(line)) is not None:
                        out.append(reply)
                if out:
                    out.append("")
                    connection.sendall("\n".join(out).encode())
                elif _QUICK_ACK is not None:
                    # Only a setter came (write, then query): nothing will carry
                    # its ACK, which a client with Nagle on waits for (Linux).
                    connection.setsockopt(socket.IPPROTO_TCP, _QUICK_ACK, 1)


def start_raw() -> int:
    """Listen and serve the raw reference on a background thread; return the port."""
    listener = socket.create_server(("127.0.0.1", 0))
    threading.Thread(target=serve_raw, args=(listener,), daemon=True).start()
    port: int = listener.getsockname()[1]
    return port


# -- linesock -------------------------------------------------------------------


def run_linesock_threaded(*, transcript: bool = False) -> None:
    """Serve with linesock's threaded Server, started with ``start()``.

    With *transcript*, every session is recorded to a temporary file (issue 7's
    cost of transcripts), which is removed when the server stops.
    """
    import linesock  # noqa: PLC0415 - each child imports only what it serves

    record = None
    if transcript:
        # Lives as long as the process; the file is removed when it closes.
        record = tempfile.NamedTemporaryFile(prefix="linesock-bench-", suffix=".jsonl")  # noqa: SIM115
    server = linesock.Server(
        answer, max_line_bytes=MAX_LINE_BYTES, transcript=None if record is None else record.name
    )

    def start() -> int:
        server.start()
        return server.port

    _timed(start)
    _wait_forever()


def run_linesock_asyncio(*, use_uvloop: bool) -> None:
    """Serve with linesock's asyncio server, on the stdlib event loop or on uvloop."""
    from linesock import aio  # noqa: PLC0415

    async def main() -> None:
        loop = asyncio.get_running_loop()
        _report(ready=True, pid=os.getpid())
        if not await loop.run_in_executor(None, sys.stdin.readline):
            return
        began = time.perf_counter()
        server = await aio.start_server(answer, max_line_bytes=MAX_LINE_BYTES)
        _started(server.port, began)
        await server.serve_forever()

    if not use_uvloop:
        asyncio.run(main())
        return
    import uvloop  # noqa: PLC0415

    if sys.version_info >= (3, 11):
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(main())
    else:
        uvloop.install()
        asyncio.run(main())


# -- peers ----------------------------------------------------------------------


def run_socket_oneline() -> None:
    """Serve with socket-oneline 1.2.0's OnelineServer (it reads one byte per system call)."""
    from socket_oneline import OnelineServer  # noqa: PLC0415

    server = OnelineServer()

    def callback(command: str, is_invalid: bool) -> None:
        reply = answer(command)
        if reply is not None:
            server.send(reply)

    def start() -> int:
        server.start(ip_address="127.0.0.1", ip_port=0, callback=callback)
        # It binds on its own thread; start() sleeps 0.1 s to let it.
        deadline = time.monotonic() + 5
        while server._server is None and time.monotonic() < deadline:
            time.sleep(0.001)
        port: int = server._server.getsockname()[1]
        return port

    _timed(start)
    _wait_forever()


def run_asyncio_streams() -> None:
    """Serve with the asyncio streams code most people write first: readline, write, drain."""

    async def serve_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line.endswith(b"\n"):
                    break
                command = line[:-1].decode()
                if command == "disconnect":
                    break
                reply = "pong" if command == "ping" else answer(command)
                if reply is not None:
                    writer.write(reply.encode() + b"\n")
                    await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        _report(ready=True, pid=os.getpid())
        if not await loop.run_in_executor(None, sys.stdin.readline):
            return
        began = time.perf_counter()
        # The default 64 KiB limit would refuse the 64 KiB lines: raise it to linesock's.
        server = await asyncio.start_server(serve_client, "127.0.0.1", 0, limit=MAX_LINE_BYTES)
        _started(server.sockets[0].getsockname()[1], began)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def run_twisted() -> None:
    """Serve with Twisted's LineOnlyReceiver on the default reactor, LF-delimited."""
    from twisted.internet import protocol  # noqa: PLC0415
    from twisted.internet import reactor as default_reactor  # noqa: PLC0415
    from twisted.protocols.basic import LineOnlyReceiver  # noqa: PLC0415

    reactor: Any = default_reactor

    class OnelineReceiver(LineOnlyReceiver):  # type: ignore[misc, unused-ignore]  # Any without twisted
        """Answers each line; LineOnlyReceiver skips lines after a disconnect."""

        delimiter = b"\n"
        MAX_LENGTH = MAX_LINE_BYTES

        def lineReceived(self, line: bytes) -> None:
            receiver: Any = self  # Twisted's sendLine and transport are not fully typed
            command = line.decode()
            if command == "ping":
                receiver.sendLine(b"pong")
            elif command == "disconnect":
                receiver.transport.loseConnection()
            elif (reply := answer(command)) is not None:
                receiver.sendLine(reply.encode())

    factory = protocol.Factory.forProtocol(OnelineReceiver)

    def start() -> int:
        port: int = reactor.listenTCP(0, factory, interface="127.0.0.1").getHost().port
        return port

    _timed(start)
    reactor.run()


def main(argv: list[str]) -> None:
    """Run the server named by ``argv[0]`` until killed."""
    name = argv[0] if argv else ""
    if name == "raw":
        _timed(start_raw)
        _wait_forever()
    elif name == "linesock-threaded":
        run_linesock_threaded()
    elif name == "linesock-transcript":
        run_linesock_threaded(transcript=True)
    elif name == "linesock-asyncio":
        run_linesock_asyncio(use_uvloop=False)
    elif name == "linesock-uvloop":
        run_linesock_asyncio(use_uvloop=True)
    elif name == "socket-oneline":
        run_socket_oneline()
    elif name == "asyncio-streams":
        run_asyncio_streams()
    elif name == "twisted":
        run_twisted()
    else:
        raise SystemExit(f"usage: python -m bench.servers {{{'|'.join(PYTHON_SERVERS)}}}")


if __name__ == "__main__":
    main(sys.argv[1:])
