"""Measure the hardening figures docs/reliability.md quotes, on each serving loop.

Usage: .venv/bin/python tools/measure_hardening.py

Runs ``linesock serve handlers:protocol_handler`` (threaded, ``--loop
asyncio`` and ``--loop uvloop``) on 127.0.0.1 and prints a markdown table:
how long the next client waits behind a client that stalls TLS or trickles
bytes, how fast wrong tokens can be tried, how much memory a streamed
answer costs.  Every loop is bounded in count and time.
"""

from __future__ import annotations

import os
import re
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import trustme

HANDLER_DIR = Path(__file__).resolve().parent.parent / "tests"
LOOPS = {"threaded": [], "asyncio": ["--loop", "asyncio"], "uvloop": ["--loop", "uvloop"]}
IDLE = 2.0


@contextmanager
def serving(*flags: str) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """A ``linesock serve`` process with *flags*, and its port; SIGTERM at the end."""
    command = [sys.executable, "-m", "linesock", "serve", "handlers:protocol_handler"]
    process = subprocess.Popen(
        [*command, "--port", "0", *flags],
        cwd=HANDLER_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    match = re.search(r"listening on \S+:(\d+)", process.stdout.readline())
    if match is None:
        process.kill()
        raise SystemExit("the server did not start")
    try:
        yield process, int(match[1])
    finally:
        process.terminate()
        process.wait(20)


def connect(port: int) -> socket.socket:
    """A raw connection with every wait bounded."""
    return socket.create_connection(("127.0.0.1", port), timeout=30)


def served_after(port: int, context: ssl.SSLContext | None = None, hello: bytes = b"") -> float:
    """Seconds from a new client's connect until its ``ping`` is answered."""
    started = time.monotonic()
    sock = connect(port)
    if context is not None:
        sock = context.wrap_socket(sock, server_hostname="127.0.0.1")
    with sock:
        sock.sendall(hello + b"ping\n")
        data = b""
        while not data.endswith(b"pong\n"):
            chunk = sock.recv(64)
            if not chunk:
                raise SystemExit("closed before pong")
            data += chunk
    return time.monotonic() - started


def tls_stalls(flags: list[str], files: dict[str, str], client: ssl.SSLContext) -> list[str]:
    """The next client's wait behind a TLS record cut short, and behind a silent handshake."""
    tls = ["--tls-cert", files["cert"], "--tls-key", files["key"], "--idle-timeout", str(IDLE)]
    figures = []
    with serving(*flags, *tls) as (_, port):
        stalled = client.wrap_socket(connect(port), server_hostname="127.0.0.1")
        stalled.sendall(b"ping\n")
        stalled.recv(16)
        raw = socket.socket(fileno=os.dup(stalled.fileno()))
        raw.sendall(b"\x17\x03\x03")
        figures.append(f"{served_after(port, client):.2f} s")
        raw.close()
        stalled.close()
        with connect(port):
            figures.append(f"{served_after(port, client):.2f} s")
    return figures


def trickle_and_auth(flags: list[str], token_file: str) -> list[str]:
    """The next client's wait behind a trickle without LF, and one that never authenticates."""
    figures = []
    with serving(*flags, "--idle-timeout", str(IDLE)) as (_, port), connect(port) as trickler:
        trickler.sendall(b"echo never end")
        figures.append(f"{served_after(port):.2f} s")
    auth = ["--token-file", token_file, "--auth-timeout", str(IDLE)]
    with serving(*flags, *auth) as (_, port), connect(port):
        figures.append(f"{served_after(port, hello=b'auth s3cret' + bytes([10])):.2f} s")
    return figures


def guessing(flags: list[str], token_file: str) -> list[str]:
    """Wrong tokens tried per second over 300 fresh connections; a right token's wait after."""
    with serving(*flags, "--token-file", token_file) as (_, port):
        started = time.monotonic()
        for number in range(300):
            with connect(port) as sock:
                sock.sendall(f"auth wrong{number}\n".encode())
                while sock.recv(64):
                    pass
        rate = 300 / (time.monotonic() - started)
        right = served_after(port, hello=b"auth s3cret\n")
    return [f"{rate:.0f}/s", f"{right * 1000:.1f} ms"]


def streamed(flags: list[str]) -> list[str]:
    """Peak RSS growth of the server while it streams a 5-million-line generator answer."""
    with serving(*flags) as (process, port), connect(port) as sock:
        before = peak_rss(process.pid)
        sock.sendall(b"stream 5000000\nping\n")
        tail = b""
        deadline = time.monotonic() + 120
        while not tail.endswith(b"\npong\n") and time.monotonic() < deadline:
            tail = (tail + sock.recv(1 << 20))[-16:]
        grown = peak_rss(process.pid) - before
    return [f"+{grown / 1024:.1f} MiB"]


def peak_rss(pid: int) -> int:
    """The process's peak resident set size, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise SystemExit("no VmHWM")


def main() -> None:
    """Measure each case on each loop and print the table."""
    authority = trustme.CA()
    client = ssl.create_default_context()
    authority.configure_trust(client)
    with tempfile.TemporaryDirectory() as directory:
        cert, key = Path(directory, "cert.pem"), Path(directory, "key.pem")
        issued = authority.issue_cert("127.0.0.1")
        issued.cert_chain_pems[0].write_to_path(str(cert))
        issued.private_key_pem.write_to_path(str(key))
        token_file = Path(directory, "token")
        token_file.write_text("s3cret\n")
        files = {"cert": str(cert), "key": str(key)}
        cases: list[tuple[str, Callable[[list[str]], list[str]]]] = [
            (
                "TLS stall: record cut short; silent handshake",
                lambda f: tls_stalls(f, files, client),
            ),
            (
                "trickle without LF; never authenticates",
                lambda f: trickle_and_auth(f, str(token_file)),
            ),
            (
                "wrong tokens per second; a right token after",
                lambda f: guessing(f, str(token_file)),
            ),
            ("streamed 5 M-line answer, peak RSS growth", streamed),
        ]
        print(f"| case (idle_timeout / auth_timeout {IDLE:g} s) | threaded | asyncio | uvloop |")
        print("|---|---|---|---|")
        for name, measure in cases:
            cells = [" / ".join(measure(flags)) for flags in LOOPS.values()]
            print(f"| {name} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
