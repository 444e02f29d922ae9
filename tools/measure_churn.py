"""Session churn, layer by layer: what the session and the server around it each cost per session.

Usage: ``.venv/bin/python tools/measure_churn.py [SESSIONS [ROUNDS]]``
(defaults 3000 and 5).

A client process connects, sends ``ping``, reads ``pong``, sends
``disconnect``, reads to EOF and closes, SESSIONS times in a row, against
the three servers of tools/measure_pinned.py, each on 127.0.0.1 port 0 in
this process: the raw reference, the raw reference's loop with
``linesock.Session`` doing the protocol, and ``linesock.Server``.  The
three take turns, ROUNDS times; nothing is pinned, as in ``./do_bench``'s
churn.

For each it prints the serving thread's exact CPU time per session (the
scheduler's count, Linux), the client's sessions per second, and where the
client's time went (medians): from the start of ``connect`` to its
return, from sending ``ping`` to reading ``pong``, and from sending
``disconnect`` to the server's close.  Then each layer's median ratio to
raw, the rounds paired.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.servers import answer, serve_raw
from measure_pinned import in_thread, on_cpu_ns, print_paired_ratios, serve_session_in_raw_loop

import linesock

CLIENT = """
import socket, statistics, sys, time
port, count = int(sys.argv[1]), int(sys.argv[2])
clock = time.perf_counter
phases = ([], [], [])
buffer = bytearray(4096)
began = clock()
for _ in range(count):
    start = clock()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connected = clock()
        sock.sendall(b"ping\\n")
        if sock.recv_into(buffer) != 5:
            raise SystemExit("no pong")
        answered = clock()
        sock.sendall(b"disconnect\\n")
        while sock.recv_into(buffer):
            pass
        ended = clock()
    phases[0].append(connected - start)
    phases[1].append(answered - connected)
    phases[2].append(ended - answered)
print(count / (clock() - began), *(statistics.median(phase) for phase in phases))
"""
PHASES = ("connect", "ping", "disconnect to close")


def measure(port: int, native_id: int, count: int) -> list[float]:
    """Run the client; return CPU µs per session, sessions/s and the three phases in µs."""
    began = on_cpu_ns(native_id)
    printed = subprocess.run(
        [sys.executable, "-c", CLIENT, str(port), str(count)],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout.split()
    rate, *phases = (float(figure) for figure in printed)
    cpu = (on_cpu_ns(native_id) - began) / count / 1000
    return [cpu, rate, *(phase * 1e6 for phase in phases)]


def main() -> None:
    """Measure the three servers in turn, ROUNDS times; print their medians and paired ratios."""
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    with linesock.Server(answer) as server:
        assert server.thread is not None and server.thread.native_id is not None
        servers = {
            "raw": in_thread(serve_raw),
            "raw loop + Session": in_thread(serve_session_in_raw_loop),
            "linesock.Server": (server.port, server.thread.native_id),
        }
        figures: dict[str, list[list[float]]] = {name: [] for name in servers}
        for _ in range(rounds):
            for name, (port, native_id) in servers.items():
                figures[name].append(measure(port, native_id, count))
    for name, runs in figures.items():
        cpu, rate, *phases = (statistics.median(column) for column in zip(*runs, strict=True))
        spent = ", ".join(f"{what} {phase:.0f}" for what, phase in zip(PHASES, phases, strict=True))
        print(f"{name:20} CPU {cpu:6.1f} us/session, {rate:6.0f} sessions/s; client's us: {spent}")
    print_paired_ratios(figures)


if __name__ == "__main__":
    main()
