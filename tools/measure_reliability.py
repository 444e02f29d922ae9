"""Measure the figures docs/reliability.md quotes, against a real `linesock serve` process.

Usage: .venv/bin/python tools/measure_reliability.py [--gib N]

Everything runs on 127.0.0.1; every loop is bounded in count and time.
Prints a markdown table.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

MiB = 1024 * 1024
HANDLER_DIR = Path(__file__).resolve().parent.parent / "tests"


def start_server(*flags: str) -> tuple[subprocess.Popen[str], int]:
    """Start `linesock serve handlers:protocol_handler` and return it with its port."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "linesock",
            "serve",
            "handlers:protocol_handler",
            "--port",
            "0",
            *flags,
        ],
        cwd=HANDLER_DIR,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.search(r"listening on \S+:(\d+)", line)
    if match is None:
        process.kill()
        raise SystemExit(f"server did not start: {line!r}")
    return process, int(match[1])


def status_kib(pid: int, field: str) -> int:
    """A VmXXX field of /proc/PID/status, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def cpu_seconds(pid: int) -> float:
    """Utime + stime of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def exchange(port: int, data: bytes) -> bytes:
    """Send data, read until EOF."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


def stop(process: subprocess.Popen[str]) -> None:
    """SIGTERM the server and wait."""
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)


def huge_line(gib: int) -> list[tuple[str, str]]:
    """Stream gib GiB without LF; report the server's RSS before and at peak."""
    process, port = start_server("--max-line-bytes", str(MiB))
    exchange(port, b"ping\ndisconnect\n")
    before = status_kib(process.pid, "VmRSS")
    started = time.monotonic()
    chunk = b"A" * MiB
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        for _ in range(gib * 1024):
            sock.sendall(chunk)
        sock.sendall(b"\ndisconnect\n")
        answer = sock.recv(100)
    seconds = time.monotonic() - started
    peak = status_kib(process.pid, "VmHWM")
    stop(process)
    assert answer == b"invalid\n", answer
    return [
        (f"{gib} GiB line without LF (limit 1 MiB)", f"answered `invalid` after {seconds:.1f} s"),
        ("server RSS before / peak", f"{before / 1024:.1f} MiB / {peak / 1024:.1f} MiB"),
        ("bound asserted by the tests", "growth < 3 x 1 MiB + 32 MiB"),
    ]


def vanishing_clients(count: int) -> list[tuple[str, str]]:
    """Count clients connect and vanish (half of them mid-line); fds and next-client latency."""
    process, port = start_server()
    exchange(port, b"ping\ndisconnect\n")
    fds_before = len(os.listdir(f"/proc/{process.pid}/fd"))
    started = time.monotonic()
    for number in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        if number % 2:
            sock.sendall(b"echo half a li")
        sock.close()
    seconds = time.monotonic() - started
    exchange(port, b"ping\ndisconnect\n")
    fds_after = len(os.listdir(f"/proc/{process.pid}/fd"))
    cpu_before = cpu_seconds(process.pid)
    time.sleep(1.0)  # measuring idle CPU needs wall time
    idle_cpu = cpu_seconds(process.pid) - cpu_before
    next_client = []
    for _ in range(50):
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(b"echo half a li")
        t0 = time.monotonic()
        assert exchange(port, b"ping\ndisconnect\n") == b"pong\n"
        next_client.append(time.monotonic() - t0)
    stop(process)
    next_client.sort()
    return [
        (f"{count} clients connect and vanish", f"{seconds:.2f} s in all"),
        ("server descriptors before / after", f"{fds_before} / {fds_after}"),
        (
            "next client after one vanished mid-line: connect to EOF",
            f"median {next_client[len(next_client) // 2] * 1000:.2f} ms",
        ),
        ("server CPU over 1 s idle afterwards", f"{idle_cpu * 1000:.0f} ms"),
    ]


def soak(sessions: int, commands: int) -> list[tuple[str, str]]:
    """Sessions x commands pipelined echo commands, every answer checked."""
    process, port = start_server()
    started = time.monotonic()
    rss_peak = 0
    for session in range(sessions):
        script = b"".join(b"echo %d.%d\n" % (session, n) for n in range(commands))
        answers = exchange(port, script + b"disconnect\n").split(b"\n")[:-1]
        assert answers == [b"%d.%d" % (session, n) for n in range(commands)]
        rss_peak = max(rss_peak, status_kib(process.pid, "VmRSS"))
    seconds = time.monotonic() - started
    stop(process)
    total = sessions * commands
    return [
        (
            f"soak: {sessions} sessions x {commands} pipelined commands",
            f"all {total} answers once, in order, {total / seconds:,.0f} commands/s",
        ),
        ("server RSS peak during the soak", f"{rss_peak / 1024:.1f} MiB"),
    ]


def stuck_reader() -> list[tuple[str, str]]:
    """A client that never reads: server memory stays flat; write_timeout frees the slot."""
    process, port = start_server("--write-timeout", "2")
    hog = socket.create_connection(("127.0.0.1", port), timeout=30)
    hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    hog.settimeout(0.2)
    sent = 0
    deadline = time.monotonic() + 20
    try:
        while time.monotonic() < deadline:
            sent += hog.send(b"lines 1000\n" * 100)
    except OSError:
        pass
    blocked_at = time.monotonic()
    rss = status_kib(process.pid, "VmRSS")
    answer = exchange(port, b"ping\ndisconnect\n")
    waited = time.monotonic() - blocked_at
    hog.close()
    stop(process)
    assert answer == b"pong\n"
    return [
        (
            "client that never reads",
            f"server stopped reading after {sent / 1024:.0f} KiB of commands",
        ),
        ("server RSS while it is stuck", f"{rss / 1024:.1f} MiB"),
        ("next client served after (write timeout 2 s)", f"{waited:.2f} s"),
    ]


def main() -> None:
    """Run every measurement and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gib", type=int, default=1, help="size of the huge line, in GiB")
    args = parser.parse_args()
    rows = [*huge_line(args.gib), *vanishing_clients(1000), *soak(200, 5000), *stuck_reader()]
    print("| case | figure |")
    print("|---|---|")
    for case, figure in rows:
        print(f"| {case} | {figure} |")


if __name__ == "__main__":
    main()
