"""Pinned ping-pong, layer by layer: what the session and the serving loop each cost per round trip.

Usage: ``.venv/bin/python tools/measure_pinned.py [ROUND_TRIPS]`` (default 150000).

A client process sends ``read x`` and waits for its answer, ROUND_TRIPS
times, with the client and every thread of this process on CPU 0 (as
``./do_bench``'s pinned ping-pong), against three servers in turn, each on
127.0.0.1 port 0 in this process:

* ``raw``: the raw reference of bench/servers.py;
* ``raw loop + Session``: the raw reference's blocking loop, with
  ``linesock.Session.receive`` doing the protocol (the sans-IO core alone);
* ``linesock.Server``: the threaded server.

It prints the serving thread's user and system CPU per round trip (from
/proc, Linux) and the client's rate.  Run it a few times: pinned figures
move by some 5 % from run to run.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.servers import answer, serve_raw
from tools.measure_churn import thread_times

import linesock

CPU = 0
CLIENT = """
import socket, sys, time
port, count = int(sys.argv[1]), int(sys.argv[2])
sock = socket.create_connection(("127.0.0.1", port), timeout=10)
sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
buffer = bytearray(65536)
began = time.perf_counter()
for _ in range(count):
    sock.sendall(b"read x\\n")
    if not sock.recv_into(buffer):
        raise SystemExit("the server closed")
print(count / (time.perf_counter() - began))
sock.sendall(b"disconnect\\n")
while sock.recv(100):
    pass
"""


def measure(name: str, port: int, native_id: int, count: int) -> None:
    """Pin everything to one CPU, run the client; print the serving thread's CPU per round trip."""
    for task in os.listdir("/proc/self/task"):
        os.sched_setaffinity(int(task), {CPU})
    user, system = thread_times(native_id)
    rate = subprocess.run(
        ["taskset", "-c", str(CPU), sys.executable, "-c", CLIENT, str(port), str(count)],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    user_after, system_after = thread_times(native_id)
    print(
        f"{name:20} user {(user_after - user) / count * 1e6:5.1f} us, "
        f"system {(system_after - system) / count * 1e6:5.1f} us per round trip, "
        f"{float(rate):8.0f} round trips/s",
        flush=True,
    )


def serve_session_in_raw_loop(listener: socket.socket) -> None:
    """The raw reference's loop with the protocol left to ``Session.receive``."""
    buffer = bytearray(256 * 1024)
    config = linesock.ServerConfig()
    while True:
        client, _ = listener.accept()
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        session = linesock.Session(answer, config)
        receive = session.receive
        with client:
            while session.closing is None and (size := client.recv_into(buffer)):
                out = receive(buffer, size)
                if out:
                    client.sendall(out)


def in_thread(serve: Callable[[socket.socket], None], name: str, count: int) -> None:
    """Serve with *serve* on a daemon thread of this process and measure it."""
    listener = socket.create_server(("127.0.0.1", 0))
    thread = threading.Thread(target=serve, args=(listener,), daemon=True)
    thread.start()
    assert thread.native_id is not None
    measure(name, listener.getsockname()[1], thread.native_id, count)


def main() -> None:
    """Measure the three servers one after another."""
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 150_000
    in_thread(serve_raw, "raw", count)
    in_thread(serve_session_in_raw_loop, "raw loop + Session", count)
    with linesock.Server(answer) as server:
        assert server.thread is not None and server.thread.native_id is not None
        measure("linesock.Server", server.port, server.thread.native_id, count)


if __name__ == "__main__":
    main()
