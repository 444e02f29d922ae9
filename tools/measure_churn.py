"""Server CPU per session under churn, user and system apart: linesock's threaded server and raw.

Usage: ``.venv/bin/python tools/measure_churn.py [SESSIONS]`` (default 4000).

A client process connects, sends ``ping``, reads ``pong``, sends
``disconnect``, reads to EOF and closes, SESSIONS times in a row, against
the raw reference of bench/servers.py and then against ``linesock.Server``
(the handler answers ``ok``), each on 127.0.0.1 port 0 in this process.
The serving thread's user and system time come from /proc (Linux).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.servers import serve_raw

import linesock

CLIENT = """
import socket, sys
port, count = int(sys.argv[1]), int(sys.argv[2])
for _ in range(count):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(b"ping\\n")
        assert sock.recv(100) == b"pong\\n"
        sock.sendall(b"disconnect\\n")
        while sock.recv(100):
            pass
"""


def thread_times(native_id: int) -> tuple[float, float]:
    """User and system CPU seconds of one thread of this process."""
    fields = Path(f"/proc/self/task/{native_id}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def measure(name: str, port: int, native_id: int, sessions: int) -> None:
    """Run the churn client against *port*; print the serving thread's CPU per session."""
    user, system = thread_times(native_id)
    subprocess.run([sys.executable, "-c", CLIENT, str(port), str(sessions)], check=True)
    user_after, system_after = thread_times(native_id)
    print(
        f"{name:10} user {(user_after - user) / sessions * 1e6:5.0f} us, "
        f"system {(system_after - system) / sessions * 1e6:5.0f} us per session"
    )


def main() -> None:
    """Measure the raw reference, then linesock."""
    sessions = int(sys.argv[1]) if len(sys.argv) > 1 else 4000
    listener = socket.create_server(("127.0.0.1", 0))
    raw = threading.Thread(target=serve_raw, args=(listener,), daemon=True)
    raw.start()
    assert raw.native_id is not None
    measure("raw", listener.getsockname()[1], raw.native_id, sessions)
    with linesock.Server(lambda command: "ok") as server:
        assert server.thread is not None and server.thread.native_id is not None
        measure("linesock", server.port, server.thread.native_id, sessions)


if __name__ == "__main__":
    main()
