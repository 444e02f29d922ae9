"""Pinned ``Client.request``, layer by layer: what decoding, the core and ``Client`` each cost.

Usage: ``.venv/bin/python tools/measure_client.py [REQUESTS]`` (default 60000).

Each client below sends ``read x`` and the ``ping`` sentinel and waits for
both answers, REQUESTS times, against linesock's threaded server (the
bench's, ``python -m bench.servers linesock-threaded``), with the server
and this process on CPU 0, as ``./do_bench``'s pinned client workloads:

* ``raw, counts LFs``: the bench's raw client (``recv_into`` a reused
  buffer, count the LFs);
* ``raw, decodes``: ``recv``, decode, split into lines, as a client that
  returns the answers must;
* ``raw, checks inline``: that, with every check ``ClientConnection`` makes
  written out in the loop (no call but the socket's);
* ``core calls``: ``ClientConnection.request`` and ``receive_answers``
  around the raw socket calls;
* ``Client.request``: the client itself, whose socket waits in the kernel
  (``SO_RCVTIMEO``) on Linux;
* ``Client.request, Python timeout``: the same with the socket's Python
  timeout, as before that change (``poll()`` before each call).

Each prints its rate and the client's CPU per request.  Three rounds,
best of each; run it a few times: pinned figures move by some 5 % from
run to run.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.processes import ServerProcess
from bench.workloads import connect

import linesock

CPU = 0
COMMAND = "read x"
PAYLOAD = b"read x\nping\n"
ROUNDS = 3
WARM_UP = 2000

Request = Callable[[], object]
# A client's request, and how to close its connection.
Made = tuple[Request, Callable[[], None]]


def counting(sock: socket.socket) -> Request:
    """The bench's raw client: the answers' LFs counted in one reused buffer."""
    buffer = bytearray(65536)
    sendall, recv_into = sock.sendall, sock.recv_into

    def request() -> None:
        sendall(PAYLOAD)
        seen = 0
        while seen < 2:
            seen += buffer.count(b"\n", 0, recv_into(buffer))

    return request


def decoding(sock: socket.socket) -> Request:
    """The answers decoded and split into lines (one read holds them, as here)."""
    sendall, recv = sock.sendall, sock.recv

    def request() -> list[str]:
        sendall((COMMAND + "\nping\n").encode())
        lines = recv(65536).decode().split("\n")
        lines.pop()
        lines.pop()
        return lines

    return request


def checking(sock: socket.socket) -> Request:
    """:func:`decoding` with the client core's checks written out: no call but the socket's."""
    sendall, recv = sock.sendall, sock.recv
    encoding, max_answers = "utf-8", 100_000

    def request() -> list[str]:
        command = COMMAND
        if "\n" in command or "\r" in command or command in ("ping", "disconnect"):
            raise ValueError(command)
        sendall((command + "\nping\n").encode(encoding))
        data = recv(65536)
        if 0 < len(data) <= 65536 and data[-1] == 0x0A and 0x0D not in data:
            lines = data.decode(encoding).split("\n")
            lines.pop()
            last = len(lines) - 1
            if lines[last] == "pong" and lines.index("pong") == last <= max_answers:
                lines.pop()
                return lines
        raise AssertionError(data)

    return request


def core_calls(client: linesock.Client) -> Request:
    """The client core's two calls around the raw socket calls."""
    connection, sock = client._connection, client._sock
    assert sock is not None
    to_send, answers = connection.request, connection.receive_answers
    sendall, recv = sock.sendall, sock.recv

    def request() -> object:
        sendall(to_send(COMMAND))
        return answers(recv(65536))

    return request


#: The raw clients by the names both this tool and tools/measure_instructions.py print.
RAW_CLIENTS: dict[str, Callable[[socket.socket], Request]] = {
    "raw, counts LFs": counting,
    "raw, decodes": decoding,
    "raw, checks inline": checking,
}


def measure(name: str, make: Callable[[], Made], count: int) -> None:
    """Run *count* requests, ROUNDS times; print the best rate and CPU per request."""
    rates, cpus = [], []
    for _ in range(ROUNDS):
        request, close = make()
        for _ in range(WARM_UP):
            request()
        cpu, began = time.process_time(), time.perf_counter()
        for _ in range(count):
            request()
        rates.append(count / (time.perf_counter() - began))
        cpus.append((time.process_time() - cpu) / count * 1e6)
        close()
    print(f"{name:32} {max(rates):8.0f} requests/s, {min(cpus):5.1f} us CPU per request")


def main() -> None:
    """Measure each client in turn against one threaded server."""
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 60_000
    with Path(os.devnull).open("w") as log:
        server = ServerProcess("linesock-threaded", log)
        try:
            server.wait_ready()
            server.start()
            server.pin(str(CPU))
            os.sched_setaffinity(0, {CPU})
            measure_each(server.port, count)
        finally:
            server.kill()


def raw_client(port: int, kind: Callable[[socket.socket], Request]) -> Made:
    """A raw client of *kind* on a new connection, and how to close it."""
    sock = connect(port)  # the bench's own: blocking, the kernel bounding its waits
    return kind(sock), sock.close


def linesock_client(port: int, *, python_timeout: bool = False, core: bool = False) -> Made:
    """``Client.request`` (or, with *core*, its core's calls) on a new connection."""
    made = linesock.Client(port=port, timeout=10)
    made.connect()
    if python_timeout:  # the code before the kernel waits
        made._kernel_waits = False
        made._sock.settimeout(10)  # type: ignore[union-attr]
    if core:
        return core_calls(made), made.close
    return (lambda: made.request(COMMAND)), made.close


def measure_each(port: int, count: int) -> None:
    """Measure each client in turn against the server at *port*."""
    for name, kind in RAW_CLIENTS.items():
        measure(name, partial(raw_client, port, kind), count)
    measure("core calls", lambda: linesock_client(port, core=True), count)
    measure("Client.request", lambda: linesock_client(port), count)
    measure(
        "Client.request, Python timeout",
        lambda: linesock_client(port, python_timeout=True),
        count,
    )


if __name__ == "__main__":
    main()
