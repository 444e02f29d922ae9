"""Turn the runner's measurements into the markdown tables, the targets and the chart."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

#: The generated part of docs/performance.md sits between these two lines.
BEGIN_MARK: Final = "<!-- bench:begin (written by ./do_bench; edit bench/report.py) -->"
END_MARK: Final = "<!-- bench:end -->"
CHART_NAME: Final = "performance.png"

LABELS: Final = {
    "raw": "raw reference",
    "linesock-threaded": "linesock threaded",
    "linesock-transcript": "linesock threaded, transcript on",
    "linesock-asyncio": "linesock asyncio",
    "linesock-uvloop": "linesock uvloop",
    "socket-oneline": "socket-oneline",
    "asyncio-streams": "asyncio streams",
    "twisted": "Twisted",
    "redis": "redis-server (C)",
}
# Cells measured with less work than the others (see the notes under the table).
_CAPPED: Final = {
    ("socket-oneline", "pipelined"),
    ("socket-oneline", "long_lines"),
    ("socket-oneline", "big_answers"),
}
_NOT_APPLICABLE: Final = {
    ("redis", "long_lines"): "inline commands stop at 64 KiB",
    ("redis", "start_ms"): "a process, no start() call",
    ("redis", "write_query"): "it answers every command: no setter without an answer",
    ("redis", "write_query_pyvisa"): "it answers every command: no setter without an answer",
}


@dataclass(frozen=True)
class Workload:
    """One column of figures: a key in the results, a title and a unit."""

    key: str
    title: str
    unit: str
    higher_is_better: bool = True


@dataclass(frozen=True)
class Target:
    """One of issue 6's targets: how to compute its figure and the bar to reach."""

    text: str
    figure: Callable[[Report], float | None]
    bar: float
    at_most: bool = False

    def met(self, value: float | None) -> bool | None:
        """Whether *value* reaches the bar (None when it was not measured)."""
        if value is None:
            return None
        return value < self.bar if self.at_most else value >= self.bar


@dataclass
class Report:
    """Everything one run measured, and how to show it."""

    workloads: tuple[Workload, ...]
    client_workloads: tuple[Workload, ...]
    cpu_workloads: tuple[Workload, ...]
    results: dict[str, dict[str, list[float]]]
    servers: list[str]
    reference: str
    notes: list[str]
    machine: str
    python: str
    versions: dict[str, str]
    command: str
    settings: dict[str, object]
    load: tuple[tuple[float, float, float], tuple[float, float, float]]
    seconds: float
    date: str = field(default_factory=lambda: time.strftime("%Y-%m-%d %H:%M %Z"))

    # -- figures --------------------------------------------------------------

    def median(self, key: str, server: str) -> float | None:
        """The median of one cell, or None if it has no measurement."""
        values = self.results.get(key, {}).get(server)
        return statistics.median(values) if values else None

    def ratio(self, key: str, server: str, reference: str | None = None) -> float | None:
        """One cell's median divided by the reference's median for the same workload."""
        value = self.median(key, server)
        base = self.median(key, reference or self.reference)
        if value is None or not base:
            return None
        return value / base

    def client_ratio(self, pinned: bool) -> float | None:
        """``Client.request`` over the raw socket client, on the same server."""
        suffix = "_pinned" if pinned else ""
        request = self.median(f"client_request{suffix}", "linesock-threaded")
        raw = self.median(f"client_raw{suffix}", "linesock-threaded")
        return request / raw if request and raw else None

    # -- markdown -------------------------------------------------------------

    def markdown(self) -> str:
        """The generated section of docs/performance.md."""
        load_before, load_after = self.load
        versions = ", ".join(f"{name} {version}" for name, version in self.versions.items())
        lines = [
            f"Measured {self.date} in {self.seconds:.0f} s with `{self.command}`  ",
            f"Machine: {self.machine}; {self.python}  ",
            f"Versions: {versions}  ",
            f"Load average (1 min) {load_before[0]:.2f} before the run, "
            f"{load_after[0]:.2f} after it.  ",
            f"Each figure is the median of {self.settings['repetitions']} repetitions; "
            "the ratio in parentheses is to the raw reference's median "
            "(for time and memory, lower is better).",
            "",
            f"![ratios to the raw reference]({CHART_NAME})",
            "",
            *self._server_table(self.workloads),
            "",
            "Server CPU time per unit of work (all threads, `time.process_time`; the ratio "
            "is to the raw reference, lower is better; less sensitive to other load "
            "on the machine than the rates above):",
            "",
            *self._server_table(self.cpu_workloads),
            "",
            *self._client_table(),
            "",
            "### Targets",
            "",
            *self._targets_table(),
        ]
        notes = self._notes()
        if notes:
            lines += ["", "### Notes", "", *(f"- {note}" for note in notes)]
        return "\n".join(lines) + "\n"

    def _server_table(self, workloads: tuple[Workload, ...]) -> list[str]:
        servers = self.servers
        header = "| workload | " + " | ".join(LABELS.get(name, name) for name in servers) + " |"
        rule = "|---|" + "---:|" * len(servers)
        rows = [header, rule]
        for workload in workloads:
            cells = [self._cell(workload, server) for server in servers]
            rows.append(f"| {workload.title} ({workload.unit}) | " + " | ".join(cells) + " |")
        return rows

    def _cell(self, workload: Workload, server: str) -> str:
        key = workload.key.removeprefix("cpu_")
        if (server, key) in _NOT_APPLICABLE:
            return "n/a"
        value = self.median(workload.key, server)
        if value is None:
            return "-"
        mark = " †" if (server, key) in _CAPPED else ""
        ratio = self.ratio(workload.key, server)
        shown = format_value(value, workload.unit)
        return f"{shown} ({ratio:.2f}x){mark}" if ratio is not None else shown + mark

    def _client_table(self) -> list[str]:
        rows = [
            "| client, against linesock threaded | unpinned (requests/s) | pinned (requests/s) "
            "| client CPU (us/request) |",
            "|---|---:|---:|---:|",
        ]
        for name, key in (
            ("raw socket client (`command` + `ping`, read 2 lines)", "client_raw"),
            ("`linesock.Client.request(command)`", "client_request"),
        ):
            cells = []
            for suffix, pinned in (("", False), ("_pinned", True)):
                value = self.median(key + suffix, "linesock-threaded")
                ratio = self.client_ratio(pinned) if key == "client_request" else 1.0
                cells.append(
                    "-" if value is None else f"{format_value(value, '/s')} ({ratio or 0:.2f}x)"
                )
            cpu = self.median(f"cpu_{key}", "linesock-threaded")
            cells.append("-" if cpu is None else f"{cpu:.1f}")
            rows.append(f"| {name} | " + " | ".join(cells) + " |")
        return rows

    def _targets_table(self) -> list[str]:
        rows = ["| target | figure | status |", "|---|---:|---|"]
        for target in TARGETS:
            value = target.figure(self)
            met = target.met(value)
            status = "not measured" if met is None else ("met" if met else "**missed**")
            shown = "-" if value is None else f"{value:.2f}" + ("" if target.at_most else "x")
            if target.at_most and value is not None:
                shown += " ms"
            rows.append(f"| {target.text} | {shown} | {status} |")
        return rows

    def _notes(self) -> list[str]:
        share = self.settings.get("pipelined_commands")
        notes = [
            "† socket-oneline reads one byte per system call, so it ran less work: "
            f"a tenth of the {share:,} pipelined commands and of the 1 KiB answers, "
            "and 4 lines of 64 KiB; its figures are rates like the others'.",
            "n/a: redis-server's inline commands stop at 64 KiB, and it has no "
            "start() to time (it is a process of its own).",
            "MB/s counts 10^6 bytes of payload, LFs included.",
            "write, then query: the client leaves Nagle on (as pyvisa-py does), so its "
            "query leaves once the setter is acknowledged; a server that lets that ACK "
            "wait for an answer to carry it stalls each pair by ~40 ms (the peers do; "
            "the raw reference re-arms TCP_QUICKACK after an answerless read, as linesock does).",
        ]
        return notes + self.notes

    # -- files ----------------------------------------------------------------

    def write(self, out_dir: Path) -> None:
        """Write the raw figures (performance.json) and the tables (performance.md)."""
        (out_dir / "performance.json").write_text(
            json.dumps(
                {
                    "command": self.command,
                    "date": self.date,
                    "machine": self.machine,
                    "python": self.python,
                    "versions": self.versions,
                    "load": self.load,
                    "seconds": self.seconds,
                    "settings": self.settings,
                    "results": self.results,
                    "notes": self.notes,
                },
                indent=1,
            )
            + "\n"
        )
        _replace_section(out_dir / "performance.md", self.markdown())


def format_value(value: float, unit: str) -> str:
    """A figure with a precision that suits its size and unit."""
    if unit.endswith("/s") and unit != "MB/s":
        if value >= 1e6:
            return f"{value / 1e6:.2f} M"
        if value >= 1e3:
            return f"{value / 1e3:.1f} k"
        return f"{value:.0f}"
    if unit == "ms":
        return f"{value:.2f}"
    if unit.startswith(("us/", "ns/")):
        return f"{value:.0f}" if value >= 100 else f"{value:.1f}"
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def _replace_section(path: Path, generated: str) -> None:
    """Put *generated* between the markers of *path* (the whole file if it has none)."""
    block = f"{BEGIN_MARK}\n{generated}{END_MARK}\n"
    text = path.read_text() if path.exists() else ""
    if BEGIN_MARK in text and END_MARK in text:
        head, rest = text.split(BEGIN_MARK, 1)
        tail = rest.split(END_MARK, 1)[1].lstrip("\n")
        path.write_text(head + block + ("\n" + tail if tail else ""))
    else:
        path.write_text(block)


def _pipelined_over_streams(report: Report) -> float | None:
    return report.ratio("pipelined", "linesock-threaded", reference="asyncio-streams")


def _transcript_over_plain(report: Report) -> float | None:
    return report.ratio("pipelined", "linesock-transcript", reference="linesock-threaded")


def _pyvisa_pair_ms(report: Report) -> float | None:
    rate = report.median("write_query_pyvisa", "linesock-threaded")
    return 1000 / rate if rate else None


TARGETS: Final = (
    Target(
        "pipelined short commands: threaded >= 0.5x raw",
        lambda r: r.ratio("pipelined", "linesock-threaded"),
        0.5,
    ),
    Target(
        "pipelined short commands: threaded >= 25x asyncio streams", _pipelined_over_streams, 25
    ),
    Target(
        "pipelined short commands with a transcript: >= 0.5x without (issue 7)",
        _transcript_over_plain,
        0.5,
    ),
    Target(
        "pipelined short commands: asyncio on uvloop >= 0.4x raw",
        lambda r: r.ratio("pipelined", "linesock-uvloop"),
        0.4,
    ),
    Target(
        "ping-pong, pinned: threaded >= 0.95x raw",
        lambda r: r.ratio("pingpong_pinned", "linesock-threaded"),
        0.95,
    ),
    Target(
        "Client.request, pinned: >= 0.9x a raw client", lambda r: r.client_ratio(pinned=True), 0.9
    ),
    Target(
        "write, then query with PyVISA (Nagle on): < 1 ms a pair (threaded; issue 12)",
        _pyvisa_pair_ms,
        1.0,
        at_most=True,
    ),
    Target(
        "64 KiB lines: threaded >= 0.7x raw",
        lambda r: r.ratio("long_lines", "linesock-threaded"),
        0.7,
    ),
    Target(
        "session churn: threaded >= 0.9x raw", lambda r: r.ratio("churn", "linesock-threaded"), 0.9
    ),
    Target(
        "start() < 5 ms (threaded)",
        lambda r: r.median("start_ms", "linesock-threaded"),
        5.0,
        at_most=True,
    ),
    Target(
        "start_server() < 5 ms (asyncio)",
        lambda r: r.median("start_ms", "linesock-asyncio"),
        5.0,
        at_most=True,
    ),
)
