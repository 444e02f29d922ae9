"""What each unit of work costs a server process: system calls and page faults.

``./do_bench --cost`` starts each Python server in its own process under
``/usr/bin/time -v`` and, for each workload, counts while it runs:

* the system calls of every thread, by name, with ``strace -c -f -p PID``
  attached for the workload only (strace slows the server down; the counts
  do not depend on speed);
* the minor page faults, from ``/proc/PID/stat`` before and after (the
  counter ``/usr/bin/time -v`` reports for the whole life of the process,
  printed at the end for reference).

Each is divided by the work done: per round trip, per pipelined command,
per session.  The tables go to standard output and ``out/bench/cost.md``.
"""

from __future__ import annotations

import argparse
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from . import workloads
from .processes import ROOT, ServerProcess, spawn
from .servers import PYTHON_SERVERS
from .workloads import ONELINE

# socket-oneline reads a byte per system call: give it less work.
_SMALL_SERVERS: Final = {"socket-oneline"}


@dataclass(frozen=True)
class Cost:
    """Per unit of work: system calls by name, all system calls, minor page faults."""

    calls: dict[str, float]
    total_calls: float
    faults: float


def _round_trips(port: int, count: int) -> int:
    rate = workloads.round_trips(
        port, ONELINE, payload=ONELINE.short, lines=1, budget=60.0, max_count=count
    )
    return rate.work


def _pipelined(port: int, count: int) -> int:
    workloads.pipelined(port, ONELINE, payload=ONELINE.short * count, lines=count, timeout=120)
    return count


def _churn(port: int, count: int) -> int:
    return workloads.churn(port, ONELINE, budget=60.0, max_count=count).work


#: name, unit, how much work (full, for socket-oneline), how to drive it
WORKLOADS: Final[tuple[tuple[str, str, int, int, Callable[[int, int], int]], ...]] = (
    ("ping-pong", "round trip", 2_000, 500, _round_trips),
    ("pipelined", "command", 200_000, 5_000, _pipelined),
    ("session churn", "session", 500, 100, _churn),
)


def measure(process: ServerProcess, drive: Callable[[int, int], int], count: int) -> Cost:
    """Count the system calls and page faults of *process* while *drive* runs."""
    trace = ROOT / "out" / "bench" / f"strace-{process.name}.txt"
    tracer = subprocess.Popen(
        ["strace", "-c", "-f", "-p", str(process.pid), "-o", str(trace)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.5)  # let strace attach to every thread
    faults_before = process.minor_faults()
    work = drive(process.port, count)
    faults = process.minor_faults() - faults_before
    time.sleep(0.1)
    tracer.send_signal(signal.SIGINT)
    tracer.wait(30)
    calls = _parse_strace(trace.read_text())
    return Cost(
        {name: number / work for name, number in calls.items()},
        sum(calls.values()) / work,
        faults / work,
    )


def _parse_strace(text: str) -> dict[str, int]:
    """System call counts from an ``strace -c`` summary."""
    calls = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[0][0].isdigit() and fields[-1] != "total":
            calls[fields[-1]] = int(fields[3])
    return calls


def _time_v_summary(text: str) -> str:
    """The page fault and context switch lines of ``/usr/bin/time -v``."""
    wanted = re.compile(r"page faults|context switches|Maximum resident")
    return "; ".join(line.strip() for line in text.splitlines() if wanted.search(line))


def main(argv: list[str] | None = None) -> int:
    """Measure every server (or those named) and print the tables."""
    parser = argparse.ArgumentParser(prog="./do_bench --cost", description=__doc__)
    parser.add_argument("--servers", help="comma-separated subset of servers")
    args = parser.parse_args(argv)
    if shutil.which("strace") is None:
        print("strace is not installed (apt-get install strace)", file=sys.stderr)
        return 2
    servers = args.servers.split(",") if args.servers else list(PYTHON_SERVERS)
    out_dir = ROOT / "out" / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    results: dict[tuple[str, str], Cost] = {}
    lifetimes: dict[str, str] = {}
    with (out_dir / "cost-servers.log").open("a") as log:
        for name in servers:
            time_file = out_dir / f"time-{name}.txt"
            process = spawn(name, log, ("/usr/bin/time", "-v", "-o", str(time_file)))
            try:
                process.wait_ready()
                process.start()
                for workload, _, full, small, drive in WORKLOADS:
                    count = small if name in _SMALL_SERVERS else full
                    drive(process.port, max(1, count // 10))  # warm up
                    results[name, workload] = measure(process, drive, count)
                    print(f"{name} {workload}: done", file=sys.stderr)
            finally:
                process.kill()
            time.sleep(0.2)
            if time_file.exists():
                lifetimes[name] = _time_v_summary(time_file.read_text())
    text = _tables(servers, results, lifetimes)
    print(text)
    (out_dir / "cost.md").write_text(text)
    return 0


def _tables(
    servers: list[str], results: dict[tuple[str, str], Cost], lifetimes: dict[str, str]
) -> str:
    lines = []
    for workload, unit, *_ in WORKLOADS:
        lines += [
            f"#### {workload}: per {unit}",
            "",
            "| server | system calls | of which | minor page faults |",
            "|---|---:|---|---:|",
        ]
        for name in servers:
            cost = results.get((name, workload))
            if cost is None:
                continue
            top = sorted(cost.calls.items(), key=lambda item: -item[1])[:5]
            detail = ", ".join(f"{call} {number:.3g}" for call, number in top if number >= 1e-6)
            lines.append(f"| {name} | {cost.total_calls:.3g} | {detail} | {cost.faults:.3g} |")
        lines.append("")
    lines += ["#### `/usr/bin/time -v`, whole life of each server process", ""]
    lines += [f"- {name}: {summary}" for name, summary in lifetimes.items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
