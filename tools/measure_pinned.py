"""Pinned ping-pong, layer by layer: what the session and the serving loop each cost per round trip.

Usage: ``.venv/bin/python tools/measure_pinned.py [ROUND_TRIPS [ROUNDS]]``
(defaults 30000 and 5).

A client process sends ``read x`` and waits for its answer, ROUND_TRIPS
times after a warm-up, with the client and every thread of this process
on CPU 0 (as ``./do_bench``'s pinned ping-pong), against three servers,
each on 127.0.0.1 port 0 in this process:

* ``raw``: the raw reference of bench/servers.py;
* ``raw loop + Session``: the raw reference's blocking loop, with
  ``linesock.Session.receive`` doing the protocol (the sans-IO core alone);
* ``linesock.Server``: the threaded server.

The three take turns, ROUNDS times.  For each it prints the serving
thread's CPU time per round trip, exact (the scheduler's own count,
``/proc/.../schedstat``, Linux; the user and system split of
``/proc/.../stat`` is sampled at each clock tick, too coarse for a
microsecond), and the client's rate; then each layer's median ratio to
raw, the rounds paired.  Pinned figures move by a few per cent from one
process to the next, so compare medians of runs, alternated.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.servers import answer, serve_raw

import linesock

CPU = 0
WARM_UP = 2000
CLIENT = """
import socket, sys, time
port, count, warm_up = (int(arg) for arg in sys.argv[1:])
sock = socket.create_connection(("127.0.0.1", port), timeout=10)
sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
buffer = bytearray(65536)
for _ in range(warm_up):
    sock.sendall(b"read x\\n")
    sock.recv_into(buffer)
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


def on_cpu_ns(native_id: int) -> int:
    """Nanoseconds thread *native_id* of this process has run, as the scheduler counts them."""
    return int(Path(f"/proc/self/task/{native_id}/schedstat").read_text().split()[0])


def measure(port: int, native_id: int, count: int) -> tuple[float, float]:
    """Pin everything to one CPU and run the client; return CPU µs per round trip, and the rate."""
    for task in os.listdir("/proc/self/task"):
        os.sched_setaffinity(int(task), {CPU})
    began = on_cpu_ns(native_id)
    client = [sys.executable, "-c", CLIENT, str(port), str(count), str(WARM_UP)]
    rate = subprocess.run(
        ["taskset", "-c", str(CPU), *client],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    return (on_cpu_ns(native_id) - began) / (count + WARM_UP) / 1000, float(rate)


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


def in_thread(serve: Callable[[socket.socket], None]) -> tuple[int, int]:
    """Serve with *serve* on a daemon thread of this process; return its port and thread id."""
    listener = socket.create_server(("127.0.0.1", 0))
    thread = threading.Thread(target=serve, args=(listener,), daemon=True)
    thread.start()
    assert thread.native_id is not None
    return listener.getsockname()[1], thread.native_id


def main() -> None:
    """Measure the three servers in turn, ROUNDS times; print each round and the paired ratios."""
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 30_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    with linesock.Server(answer) as server:
        assert server.thread is not None and server.thread.native_id is not None
        servers = {
            "raw": in_thread(serve_raw),
            "raw loop + Session": in_thread(serve_session_in_raw_loop),
            "linesock.Server": (server.port, server.thread.native_id),
        }
        figures: dict[str, list[tuple[float, float]]] = {name: [] for name in servers}
        for _ in range(rounds):
            for name, (port, native_id) in servers.items():
                figures[name].append(measure(port, native_id, count))
    for name, runs in figures.items():
        cpus = " ".join(f"{cpu:5.2f}" for cpu, _ in runs)
        rates = " ".join(f"{rate / 1000:4.1f}" for _, rate in runs)
        print(f"{name:20} CPU {cpus} us per round trip; {rates} k round trips/s")
    print_paired_ratios(figures)


def print_paired_ratios(figures: Mapping[str, Sequence[Sequence[float]]]) -> None:
    """Print each layer's median ratio to ``raw``, the rounds paired.

    Each round's figures start with the CPU time and the rate.
    """
    for name, runs in figures.items():
        if name == "raw":
            continue
        pairs = list(zip(runs, figures["raw"], strict=True))
        cpu = statistics.median(ours[0] / raw[0] for ours, raw in pairs)
        rate = statistics.median(ours[1] / raw[1] for ours, raw in pairs)
        print(f"{name:20} of raw (median of the rounds paired): CPU {cpu:.3f}x, rate {rate:.3f}x")


if __name__ == "__main__":
    main()
