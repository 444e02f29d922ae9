"""Where a server's time goes under one workload: ``./do_bench --profile``.

Starts the server in its own process, attaches py-spy to it (sampling, so
the server runs at full speed; ``--native`` off, ``--idle`` off), drives the
workload for a few seconds, then prints the functions that were on the CPU
most often: by self time (the function itself) and by total time (with what
it called).  The collapsed stacks are kept in ``out/bench/profile-*.txt``
for a flame graph.

    ./do_bench --profile                       # threaded server, pipelined
    ./do_bench --profile --server linesock-uvloop --workload churn
"""

from __future__ import annotations

import argparse
import collections
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Final

from . import workloads
from .processes import ROOT, spawn
from .servers import PYTHON_SERVERS
from .workloads import ONELINE

_SAMPLE_RATE: Final = 1000
_WORKLOADS: Final = ("pipelined", "pingpong", "churn", "long_lines", "big_answers")


def drive(port: int, workload: str, seconds: float) -> int:
    """Run *workload* against *port* for about *seconds*; return the commands or sessions done."""
    deadline = time.monotonic() + seconds
    done = 0
    while time.monotonic() < deadline:
        if workload == "pipelined":
            count = 200_000
            workloads.pipelined(
                port, ONELINE, payload=ONELINE.short * count, lines=count, timeout=60
            )
        elif workload == "long_lines":
            count = 128
            line = b"store " + b"z" * (64 * 1024 - 6) + b"\n"
            workloads.pipelined(port, ONELINE, payload=line * count, lines=count, timeout=60)
        elif workload == "big_answers":
            count = 20_000
            workloads.pipelined(port, ONELINE, payload=ONELINE.big * count, lines=count, timeout=60)
        elif workload == "pingpong":
            count = workloads.round_trips(
                port, ONELINE, payload=ONELINE.short, lines=1, budget=1.0, max_count=100_000
            ).work
        else:
            count = workloads.churn(port, ONELINE, budget=1.0, max_count=100_000).work
        done += count
    return done


def summarise(stacks: Path, top: int) -> str:
    """The functions seen most often in py-spy's collapsed *stacks*, by self and total time."""
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in stacks.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = [_short(frame) for frame in stack.split(";")]
        frames = [frame for frame in frames if frame]
        if not frames:
            continue
        samples += count
        own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count
    lines = [f"{samples} samples of the busy threads"]
    for title, counter in (("self", own), ("total", total)):
        lines.append(f"\n-- by {title} time")
        for frame, count in counter.most_common(top):
            lines.append(f"{100 * count / max(samples, 1):6.1f} %  {frame}")
    return "\n".join(lines)


def _short(frame: str) -> str:
    """``function (path:line)`` -> ``function (file:line)``, dropping the thread frame."""
    if frame.startswith(("process ", "thread ")):
        return ""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    path, _, number = where.rpartition(":")
    return f"{name} ({Path(path).name}:{number})" if path else name


def main(argv: list[str] | None = None) -> int:
    """Profile one server under one workload and print the summary."""
    parser = argparse.ArgumentParser(prog="./do_bench --profile", description=__doc__)
    parser.add_argument("--server", default="linesock-threaded", choices=PYTHON_SERVERS)
    parser.add_argument("--workload", default="pipelined", choices=_WORKLOADS)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    py_spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if py_spy is None:
        print("py-spy is not installed: ./do_bench installs the bench extra", file=sys.stderr)
        return 2
    out_dir = ROOT / "out" / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    stacks = out_dir / f"profile-{args.server}-{args.workload}.txt"
    with (out_dir / "profile-server.log").open("a") as log:
        server = spawn(args.server, log)
        try:
            server.wait_ready()
            server.start()
            drive(server.port, args.workload, 0.5)  # warm up before sampling
            recorder = subprocess.Popen(
                [
                    py_spy,
                    "record",
                    "--pid",
                    str(server.pid),
                    "--rate",
                    str(_SAMPLE_RATE),
                    "--format",
                    "raw",
                    "--output",
                    str(stacks),
                    "--nonblocking",
                ],
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
            time.sleep(1.0)  # let py-spy attach
            done = drive(server.port, args.workload, args.seconds)
            recorder.send_signal(signal.SIGINT)
            recorder.wait(30)
        finally:
            server.kill()
    print(f"{args.server}, {args.workload}: {done:,} units of work in about {args.seconds} s")
    print(summarise(stacks, args.top))
    print(f"\ncollapsed stacks: {stacks}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
