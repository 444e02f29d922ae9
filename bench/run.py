"""The benchmark runner: ``./do_bench [--quick]`` (``python -m bench.run``).

Each repetition starts every server afresh in its own process (children
import in parallel, then start one after another so that ``start()`` is
timed on a quiet machine), measures their idle RSS, then runs each workload
against every server in turn, in an order rotated from one repetition to
the next, so that drifting machine load spreads over all of them.  The
figures are medians over the repetitions, each with its ratio to the raw
reference's median.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shlex
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Final

from . import chart, judging, workloads
from .baseline import BASELINE_PATH, Baseline
from .environment import (
    core_build,
    cpu_description,
    cpu_ticks,
    machine_description,
    peer_versions,
    steal_share,
)
from .processes import ROOT, ServerFailed, ServerProcess, redis_available, spawn
from .report import CHART_NAME, Report, Workload
from .servers import PYTHON_SERVERS
from .workloads import ONELINE, WorkloadError

#: The raw reference every figure is divided by.
REFERENCE: Final = "raw"
#: socket-oneline reads one byte per system call: its bursts are cut to this
#: fraction of everyone else's, and reported per second like the others.
SOCKET_ONELINE_SHARE: Final = 0.1
#: ... and for the 64 KiB lines, to this many lines.
SOCKET_ONELINE_LONG_LINES: Final = 4
#: The CPU that the pinned workloads put the client and the server on.
PINNED_CPU: Final = "0"


@dataclass(frozen=True)
class Settings:
    """How much work each repetition does."""

    repetitions: int
    round_trip_seconds: float
    round_trip_max: int
    pipelined_commands: int
    long_lines: int
    big_answers: int
    churn_seconds: float
    churn_max: int
    burst_timeout: float


FULL: Final = Settings(
    repetitions=5,
    round_trip_seconds=0.5,
    round_trip_max=100_000,
    pipelined_commands=200_000,
    long_lines=512,
    big_answers=20_000,
    churn_seconds=0.5,
    churn_max=5_000,
    burst_timeout=60.0,
)
QUICK: Final = Settings(
    repetitions=3,
    round_trip_seconds=0.15,
    round_trip_max=100_000,
    pipelined_commands=200_000,
    long_lines=128,
    big_answers=5_000,
    churn_seconds=0.15,
    churn_max=5_000,
    burst_timeout=30.0,
)

LONG_LINE: Final = b"store " + b"z" * (64 * 1024 - 6) + b"\n"

WORKLOADS: Final = (
    Workload("pingpong", "ping-pong", "round trips/s"),
    Workload("pingpong_pinned", "ping-pong, pinned", "round trips/s"),
    Workload("write_query", "write, then query, Nagle on", "pairs/s"),
    Workload("write_query_pyvisa", "write, then query, PyVISA", "pairs/s"),
    Workload("pipelined", "pipelined short commands", "commands/s"),
    Workload("long_lines", "64 KiB lines in", "MB/s"),
    Workload("big_answers", "1 KiB answers out", "MB/s"),
    Workload("churn", "session churn", "sessions/s"),
    Workload("start_ms", "start() until listening", "ms", higher_is_better=False),
    Workload("rss_mib", "idle RSS", "MiB", higher_is_better=False),
)
CPU_WORKLOADS: Final = (
    Workload("cpu_pingpong", "ping-pong", "us/round trip", higher_is_better=False),
    Workload("cpu_pingpong_pinned", "ping-pong, pinned", "us/round trip", higher_is_better=False),
    Workload("cpu_write_query", "write, then query, Nagle on", "us/pair", higher_is_better=False),
    Workload(
        "cpu_write_query_pyvisa", "write, then query, PyVISA", "us/pair", higher_is_better=False
    ),
    Workload("cpu_pipelined", "pipelined short commands", "ns/command", higher_is_better=False),
    Workload("cpu_long_lines", "64 KiB lines in", "us/MB", higher_is_better=False),
    Workload("cpu_big_answers", "1 KiB answers out", "us/MB", higher_is_better=False),
    Workload("cpu_churn", "session churn", "us/session", higher_is_better=False),
)
CLIENT_WORKLOADS: Final = (
    Workload("client_raw", "raw socket client", "requests/s"),
    Workload("client_decoding", "raw socket client that decodes", "requests/s"),
    Workload("client_request", "linesock.Client.request", "requests/s"),
    Workload("client_raw_pinned", "raw socket client, pinned", "requests/s"),
    Workload("client_decoding_pinned", "raw socket client that decodes, pinned", "requests/s"),
    Workload("client_request_pinned", "linesock.Client.request, pinned", "requests/s"),
)

Results = dict[str, dict[str, list[float]]]
#: What one run of a workload gives: its figure, and the amount of work done
#: in the unit its CPU cost is counted per (commands, MB, round trips...).
Measured = tuple[float, float]


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, write the tables, verdicts and chart, and print them."""
    parser = argparse.ArgumentParser(prog="./do_bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="3 repetitions of less work: a smoke run (< 1 min)"
    )
    parser.add_argument("--repetitions", type=int, help="override the number of repetitions")
    parser.add_argument(
        "--out",
        type=Path,
        help="where the table, chart and JSON go (default: docs/ for a full run, "
        "out/bench/ for --quick)",
    )
    parser.add_argument(
        "--servers", help="comma-separated subset of servers to run (the raw reference is kept)"
    )
    parser.add_argument(
        "--record-baseline",
        action="store_true",
        help="add this run's raw reference rates to the baseline: the usual rates that "
        "runs of the same kind (full or --quick) are checked against",
    )
    parser.add_argument(
        "--baseline", type=Path, default=BASELINE_PATH, help="default: bench/baseline.json"
    )
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    if args.repetitions:
        settings = Settings(**{**asdict(settings), "repetitions": args.repetitions})
    out_dir: Path = args.out or (ROOT / "out" / "bench" if args.quick else ROOT / "docs")
    log_dir = ROOT / "out" / "bench" / "logs"
    out_dir.mkdir(parents=True, exist_ok=True)
    log_dir.mkdir(parents=True, exist_ok=True)

    servers = [*PYTHON_SERVERS, *(["redis"] if redis_available() else [])]
    if args.servers:
        wanted = {REFERENCE, *args.servers.split(",")}
        servers = [name for name in servers if name in wanted]
    command = "./do_bench" + "".join(f" {shlex.quote(arg)}" for arg in (argv or sys.argv[1:]))
    load_before = judging.start_of_run()
    ticks_before = cpu_ticks()
    core = core_build()
    print(f"linesock's core: {core}", file=sys.stderr)
    began = time.monotonic()
    results: Results = {}
    runner = Runner(settings, servers, log_dir, results)
    runner.run()
    load_after = os.getloadavg()
    stolen = steal_share(ticks_before, cpu_ticks())
    kind = "quick" if args.quick else "full"
    cpu = cpu_description()
    baseline = Baseline.read(args.baseline)
    judgement = judging.judge_run(
        results,
        baseline,
        kind=kind,
        cpu=cpu,
        start_load=load_before[0],
        steal_share=stolen,
        reference=REFERENCE,
    )
    report = Report(
        workloads=WORKLOADS,
        client_workloads=CLIENT_WORKLOADS,
        cpu_workloads=CPU_WORKLOADS,
        results=results,
        servers=servers,
        reference=REFERENCE,
        notes=runner.notes,
        machine=machine_description(cpu),
        python=(
            f"{platform.python_implementation()} {platform.python_version()}, "
            f"linesock's core {core}"
        ),
        versions=peer_versions(),
        command=command,
        settings=asdict(settings),
        load=(load_before, load_after),
        seconds=time.monotonic() - began,
        judgement=judgement,
    )
    report.write(out_dir)
    chart.draw(report, out_dir / CHART_NAME)
    print(f"\nwrote {out_dir / CHART_NAME} and the tables in {out_dir}", file=sys.stderr)
    judging.end_of_run(report, baseline if args.record_baseline else None, kind=kind, cpu=cpu)
    return 0


class Runner:
    """Runs every workload against every server, repetition after repetition."""

    def __init__(self, settings: Settings, servers: list[str], log_dir: Path, results: Results):
        """Prepare to run *servers* under *settings*, collecting into *results*."""
        self.settings = settings
        self.servers = servers
        self.log_dir = log_dir
        self.results = results
        #: Remarks for the report (failed runs, capped work).
        self.notes: list[str] = []
        self._processes: dict[str, ServerProcess] = {}
        self._logs: dict[str, IO[str]] = {}
        self._all_cpus = os.sched_getaffinity(0)
        self._pinned_now = False
        self._pyvisa_missing = workloads.pyvisa_missing()
        if self._pyvisa_missing is not None:
            self.notes.append(f"write, then query, PyVISA: not measured: {self._pyvisa_missing}")

    def run(self) -> None:
        """Run all repetitions; servers are killed whatever happens."""
        try:
            for repetition in range(self.settings.repetitions):
                self._repetition(repetition)
        finally:
            self._stop_all()
            for log in self._logs.values():
                log.close()

    def _repetition(self, repetition: int) -> None:
        """Start every server afresh and run each workload against each, in rotated order."""
        started = time.monotonic()
        self._start_all()
        shift = repetition % len(self.servers)
        order = self.servers[shift:] + self.servers[:shift]
        s = self.settings
        share = SOCKET_ONELINE_SHARE
        for name in order:
            process = self._processes[name]
            if process.start_ms is not None:
                self._record("start_ms", name, process.start_ms)
            self._record("rss_mib", name, process.rss_mib())

        def pipelined(process: ServerProcess) -> Measured:
            count = s.pipelined_commands
            if process.name == "socket-oneline":
                count = int(count * share)
            dialect = process.dialect
            burst = workloads.pipelined(
                process.port,
                dialect,
                payload=dialect.short * count,
                lines=count * dialect.short_lines,
                timeout=s.burst_timeout,
            )
            return count / burst.seconds, count

        def long_lines(process: ServerProcess) -> Measured | None:
            if not process.dialect.long_lines:
                return None
            count = s.long_lines
            if process.name == "socket-oneline":
                count = min(count, SOCKET_ONELINE_LONG_LINES)
            burst = workloads.pipelined(
                process.port,
                process.dialect,
                payload=LONG_LINE * count,
                lines=count,
                timeout=s.burst_timeout,
            )
            megabytes = burst.sent_bytes / 1e6
            return megabytes / burst.seconds, megabytes

        def big_answers(process: ServerProcess) -> Measured:
            count = s.big_answers
            if process.name == "socket-oneline":
                count = int(count * share)
            dialect = process.dialect
            burst = workloads.pipelined(
                process.port,
                dialect,
                payload=dialect.big * count,
                lines=count * dialect.big_lines,
                timeout=s.burst_timeout,
            )
            megabytes = burst.received_bytes / 1e6
            return megabytes / burst.seconds, megabytes

        def ping_pong(process: ServerProcess) -> Measured:
            dialect = process.dialect
            rate = workloads.round_trips(
                process.port,
                dialect,
                payload=dialect.short,
                lines=dialect.short_lines,
                budget=s.round_trip_seconds,
                max_count=s.round_trip_max,
            )
            return rate.per_second, rate.work

        def churn(process: ServerProcess) -> Measured:
            rate = workloads.churn(
                process.port, process.dialect, budget=s.churn_seconds, max_count=s.churn_max
            )
            return rate.per_second, rate.work

        for key, measure in (
            ("pingpong", ping_pong),
            ("write_query", self._write_then_query),
            ("write_query_pyvisa", self._pyvisa_write_then_query),
            ("pipelined", pipelined),
            ("long_lines", long_lines),
            ("big_answers", big_answers),
            ("churn", churn),
        ):
            self._each(key, order, measure)
        self._clients("")
        with self._pinned():
            self._each("pingpong_pinned", order, ping_pong)
            self._clients("_pinned")
        self._stop_all()
        print(
            f"-- repetition {repetition + 1}/{s.repetitions} took "
            f"{time.monotonic() - started:.1f} s (load {os.getloadavg()[0]:.2f})",
            file=sys.stderr,
        )

    def _write_then_query(self, process: ServerProcess) -> Measured | None:
        """Setter-then-query pairs per second from a client that leaves Nagle on."""
        silent = process.dialect.silent
        if silent is None:
            return None
        s = self.settings
        rate = workloads.write_then_query(
            process.port,
            process.dialect,
            silent=silent,
            budget=s.round_trip_seconds,
            max_count=s.round_trip_max,
        )
        return rate.per_second, rate.work

    def _pyvisa_write_then_query(self, process: ServerProcess) -> Measured | None:
        """The same pairs with PyVISA (pyvisa-py) as the client, when it is installed."""
        silent = process.dialect.silent
        if silent is None or self._pyvisa_missing is not None:
            return None
        s = self.settings
        rate = workloads.pyvisa_write_then_query(
            process.port,
            process.dialect,
            silent=silent,
            budget=s.round_trip_seconds,
            max_count=s.round_trip_max,
        )
        return rate.per_second, rate.work

    def _clients(self, suffix: str) -> None:
        """The raw socket clients and ``Client.request`` against the threaded server.

        Each key ends in *suffix* (``_pinned`` or nothing).  Besides the
        rate, the client's own CPU time per request is kept.
        """
        process = self._processes.get("linesock-threaded")
        if process is None:
            return
        s = self.settings
        port = process.port
        payload = ONELINE.short + ONELINE.ping
        pairs: list[tuple[str, Callable[[], workloads.Rate]]] = [
            *(
                (
                    key + suffix,
                    lambda decode=decode: workloads.round_trips(
                        port,
                        ONELINE,
                        payload=payload,
                        lines=2,
                        budget=s.round_trip_seconds,
                        max_count=s.round_trip_max,
                        decode=decode,
                    ),
                )
                for key, decode in (("client_raw", False), ("client_decoding", True))
            ),
            (
                "client_request" + suffix,
                lambda: workloads.client_requests(
                    port, budget=s.round_trip_seconds, max_count=s.round_trip_max
                ),
            ),
        ]
        for key, measure in pairs:
            try:
                began = time.process_time_ns()
                rate = measure()
                cpu = time.process_time_ns() - began
            except (WorkloadError, OSError) as exc:
                self._failed(key, "linesock-threaded", exc)
                continue
            self._record(key, "linesock-threaded", rate.per_second)
            self._record(f"cpu_{key}", "linesock-threaded", cpu / rate.work / 1000)

    def _each(
        self, key: str, order: list[str], measure: Callable[[ServerProcess], Measured | None]
    ) -> None:
        """Run one workload against every server in *order*; a failure costs only its cell.

        Keeps the figure, and the server's CPU time per unit of work under
        ``cpu_KEY`` (per command in ns for the pipelined burst, else in us).
        """
        figures = []
        scale = 1 if key == "pipelined" else 1000
        for name in order:
            process = self._processes[name]
            try:
                cpu_before = process.cpu_ns()
                measured = measure(process)
                cpu = process.cpu_ns() - cpu_before
            except (WorkloadError, OSError, ServerFailed) as exc:
                self._failed(key, name, exc)
                figures.append(f"{name} failed")
                continue
            if measured is not None:
                value, work = measured
                self._record(key, name, value)
                self._record(f"cpu_{key}", name, cpu / work / scale)
                figures.append(f"{name} {value:,.0f}")
        print(f"{key}: {', '.join(figures)}", file=sys.stderr)

    def _record(self, key: str, server: str, value: float) -> None:
        """Keep one measurement."""
        self.results.setdefault(key, {}).setdefault(server, []).append(value)

    def _failed(self, key: str, name: str, exc: BaseException) -> None:
        """Note a failed run and restart the server, which may be stuck."""
        note = f"{key} against {name} failed once: {exc}"
        self.notes.append(note)
        print(note, file=sys.stderr)
        process = self._processes.pop(name)
        process.kill()
        replacement = spawn(name, self._log(name))
        replacement.wait_ready()
        replacement.start()
        if self._pinned_now:
            replacement.pin(PINNED_CPU)
        self._processes[name] = replacement

    @contextlib.contextmanager
    def _pinned(self) -> Iterator[None]:
        """Put this process and every server on one CPU for the duration."""
        os.sched_setaffinity(0, {int(PINNED_CPU)})
        for process in self._processes.values():
            process.pin(PINNED_CPU)
        self._pinned_now = True
        try:
            yield
        finally:
            self._pinned_now = False
            os.sched_setaffinity(0, self._all_cpus)
            cpus = ",".join(str(cpu) for cpu in sorted(self._all_cpus))
            for process in self._processes.values():
                if process.alive():
                    process.pin(cpus)

    def _start_all(self) -> None:
        """Spawn every server (imports in parallel), then start them one at a time."""
        for name in self.servers:
            self._processes[name] = spawn(name, self._log(name))
        try:
            for process in self._processes.values():
                process.wait_ready()
            for process in self._processes.values():
                process.start()
        except ServerFailed:
            self._stop_all()
            raise
        time.sleep(0.2)  # let start-up allocations settle before RSS is read

    def _stop_all(self) -> None:
        """Kill every server process."""
        for process in self._processes.values():
            process.kill()
        self._processes.clear()

    def _log(self, name: str) -> IO[str]:
        """The file a server's standard error goes to."""
        if name not in self._logs:
            self._logs[name] = (self.log_dir / f"{name}.log").open("a")
        return self._logs[name]


if __name__ == "__main__":
    sys.exit(main())
