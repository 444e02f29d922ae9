"""Starting, pinning, measuring and stopping the server processes under test."""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Final

from .servers import BIG_ANSWER
from .workloads import ONELINE, REDIS, Dialect

ROOT: Final = Path(__file__).resolve().parent.parent
# How long a child may take to import, and then to start listening.
_READY_TIMEOUT: Final = 30.0
_START_TIMEOUT: Final = 10.0
# How long a killed server gets to go before SIGKILL.
_KILL_GRACE: Final = 2.0


class ServerFailed(Exception):
    """A server process did not start, or died."""


class ServerProcess:
    """One server under test in its own process: spawned, started, measured, killed."""

    def __init__(self, name: str, log: IO[str], extra_args: tuple[str, ...] = ()) -> None:
        """Spawn ``python -m bench.servers NAME``; :meth:`start` makes it listen.

        *extra_args* go before the interpreter (``/usr/bin/time -v``,
        ``strace -c -f``, ``taskset -c 0``...).
        """
        self.name = name
        self.dialect: Dialect = ONELINE
        self.port = 0
        self.start_ms: float | None = None
        self.pid = 0
        self._process = subprocess.Popen(
            [*extra_args, sys.executable, "-m", "bench.servers", name],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )

    def wait_ready(self) -> None:
        """Wait until the child has done its imports."""
        self.pid = int(str(self._read_json(_READY_TIMEOUT)["pid"]))

    def start(self) -> None:
        """Tell the child to start listening; note its port and how long ``start()`` took."""
        assert self._process.stdin is not None
        self._process.stdin.write("go\n")
        self._process.stdin.flush()
        reply = self._read_json(_START_TIMEOUT)
        self.port = int(str(reply["port"]))
        self.start_ms = float(str(reply["start_ms"]))

    def cpu_ns(self) -> int:
        """The CPU time the server process has used so far, all threads, in ns."""
        assert self._process.stdin is not None
        self._process.stdin.write("cpu\n")
        self._process.stdin.flush()
        return int(str(self._read_json(_START_TIMEOUT)["cpu_ns"]))

    def rss_mib(self) -> float:
        """The resident set size of the server process now, in MiB."""
        return _rss_mib(self.pid)

    def minor_faults(self) -> int:
        """The server process's minor page faults so far (all threads)."""
        return _minor_faults(self.pid)

    def pin(self, cpus: str) -> None:
        """Move every thread of the server onto *cpus* (``taskset -a -p -c``)."""
        _taskset(self.pid, cpus)

    def alive(self) -> bool:
        """True while the process runs."""
        return self._process.poll() is None

    def kill(self) -> None:
        """Stop the server: SIGTERM, then SIGKILL if it lingers."""
        # The server itself first: a wrapper (/usr/bin/time, strace) then
        # exits with it and writes its report.
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid or self._process.pid, signal.SIGTERM)
        try:
            self._process.wait(_KILL_GRACE)
        except subprocess.TimeoutExpired:
            for pid in {self.pid, self._process.pid} - {0}:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self._process.wait(_KILL_GRACE)
        if self._process.stdin is not None:
            with contextlib.suppress(OSError):
                self._process.stdin.close()
        if self._process.stdout is not None:
            self._process.stdout.close()

    def _read_json(self, timeout: float) -> dict[str, object]:
        """Read the child's next JSON line, waiting at most *timeout* seconds."""
        stdout = self._process.stdout
        assert stdout is not None
        ready, _, _ = select.select([stdout], [], [], timeout)
        line = stdout.readline() if ready else ""
        if not line:
            raise ServerFailed(f"{self.name}: no answer from the server process")
        reply: dict[str, object] = json.loads(line)
        return reply


class RedisProcess(ServerProcess):
    """redis-server, the optional C reference: inline commands, no persistence."""

    def __init__(self, name: str, log: IO[str], extra_args: tuple[str, ...] = ()) -> None:
        """Spawn redis-server on a free loopback port."""
        self.name = name
        self.dialect = REDIS
        self.start_ms = None
        with socket.create_server(("127.0.0.1", 0)) as probe:
            self.port = probe.getsockname()[1]
        command = [
            *extra_args,
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "no",
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
        ]
        self._process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=ROOT, text=True
        )
        self.pid = self._process.pid

    def wait_ready(self) -> None:
        """Wait until redis-server accepts connections, then store the 1 KiB value."""
        deadline = time.monotonic() + _READY_TIMEOUT
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(f"SET big {BIG_ANSWER}\n".encode())
                    if sock.recv(64).startswith(b"+OK"):
                        return
            except OSError:
                pass
            if time.monotonic() > deadline or not self.alive():
                raise ServerFailed("redis-server did not start")
            time.sleep(0.02)

    def start(self) -> None:
        """redis-server listens from the start; there is no ``start()`` to time."""

    def cpu_ns(self) -> int:
        """CPU time from ``/proc/PID/stat`` (10 ms ticks: coarse, but redis needs little)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])
        return ticks * 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def redis_available() -> bool:
    """True when redis-server is installed."""
    return shutil.which("redis-server") is not None


def spawn(name: str, log: IO[str], extra_args: tuple[str, ...] = ()) -> ServerProcess:
    """Spawn the server called *name* (``redis`` or a name from ``bench.servers``)."""
    if name == "redis":
        return RedisProcess(name, log, extra_args)
    return ServerProcess(name, log, extra_args)


def _taskset(pid: int, cpus: str) -> None:
    """Set the CPU affinity of every thread of *pid*."""
    subprocess.run(
        ["taskset", "-a", "-p", "-c", cpus, str(pid)],
        check=True,
        stdout=subprocess.DEVNULL,
        timeout=10,
    )


def _rss_mib(pid: int) -> float:
    """VmRSS of *pid*, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise ServerFailed(f"no VmRSS for process {pid}")


def _minor_faults(pid: int) -> int:
    """Minor page faults of *pid* so far, the counter ``/usr/bin/time -v`` reports."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[7])
