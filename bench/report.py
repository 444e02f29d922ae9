"""Turn the runner's measurements into the markdown tables and the verdicts on the targets."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from .environment import LoadAverage, format_load, format_steal
from .targets import (
    MIN_REFERENCE_SHARE,
    OTHER_TARGETS,
    TARGETS,
    Judgement,
    Medians,
    RateCheck,
    RatioTarget,
)

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
    load: tuple[LoadAverage, LoadAverage]
    seconds: float
    judgement: Judgement
    date: str = field(default_factory=lambda: time.strftime("%Y-%m-%d %H:%M %Z"))

    # -- figures --------------------------------------------------------------

    @property
    def _figures(self) -> Medians:
        """The results as the judge reads them: one definition of a cell's figures."""
        repetitions = self.settings.get("repetitions")
        return Medians(self.results, repetitions if isinstance(repetitions, int) else 0)

    def median(self, key: str, server: str) -> float | None:
        """The median of one cell, or None if it has no measurement."""
        return self._figures.median(key, server)

    def by_repetition(self, key: str, server: str) -> list[float] | None:
        """The cell's figure of each repetition in order, or None unless every one has one."""
        return self._figures.by_repetition(key, server)

    def ratio(self, key: str, server: str, reference: str | None = None) -> float | None:
        """One cell's median divided by the reference's median for the same workload."""
        value = self.median(key, server)
        base = self.median(key, reference or self.reference)
        if value is None or not base:
            return None
        return value / base

    def client_ratio(self, pinned: bool, key: str = "client_request") -> float | None:
        """A client's rate (``Client.request``'s by default) over the raw socket client's."""
        suffix = "_pinned" if pinned else ""
        request = self.median(key + suffix, "linesock-threaded")
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
            f"Load average (1, 5, 15 min): {format_load(load_before)} at the start, "
            f"{format_load(load_after)} at the end; steal time (CPU time the hypervisor "
            f"gave other guests): {format_steal(self.judgement.steal_share)} of the run's.  ",
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
        ]
        notes = self._notes()
        if notes:
            lines += ["", "### Notes", "", *(f"- {note}" for note in notes)]
        lines += ["", "### Targets", "", *self.verdicts()]
        return "\n".join(lines) + "\n"

    # -- verdicts -------------------------------------------------------------

    def unjudged(self) -> list[str]:
        """Why no target is judged, one reason each (empty when the run is judged)."""
        judgement = self.judgement
        reasons = judgement.machine_reasons()
        reasons += [
            f"the raw reference ran {self._check(check)} (under {MIN_REFERENCE_SHARE:.0%})"
            for check in judgement.checks
            if check.slow
        ]
        if judgement.no_baseline is not None:
            reasons.append(judgement.no_baseline)
        return reasons

    def verdicts(self) -> list[str]:
        """Whether the run is judged, then the verdicts: issue 15's targets, then the others."""
        judgement = self.judgement
        checks = sorted(judgement.checks, key=lambda check: check.share)
        if judgement.loaded:
            lines = ["**Loaded run: no target is judged.**", ""]
            lines += [f"- {reason}" for reason in self.unjudged()] + [""]
        elif judgement.no_baseline is not None:
            lines = [f"**No target is judged:** {judgement.no_baseline}.", ""]
        else:
            lines = [
                f"Judged: the load average was {judgement.start_load:.2f} at the start, the "
                f"steal time {format_steal(judgement.steal_share)}, and the raw reference ran "
                f"at {checks[0].share:.0%} to {checks[-1].share:.0%} of its usual rates "
                f"(lowest: {self._check(checks[0])}).",
                "",
            ]
        if judgement.quick:
            lines += ["**Quick run: indicative** (fewer repetitions of less work).", ""]
        lines += [
            "| target | measured rate ratio | measured CPU ratio | met? |",
            "|---|---:|---:|---|",
        ]
        for target in TARGETS:
            cpu = target.cpu_ratio(self)
            cpu_shown = "-" if cpu is None else f"{cpu:.3f}x ({target.cpu_side})"
            rate = target.rate_ratio(self)
            rate_shown = "-" if rate is None else f"{rate:.3f}x"
            verdict = judgement.verdict(*target.met(self))
            lines.append(f"| {target.text} | {rate_shown} | {cpu_shown} | {verdict} |")
        lines += [
            "",
            "Issue 6's other targets and those of issues 7 and 12, on their one figure:",
            "",
            "| target | measured | met? |",
            "|---|---:|---|",
        ]
        for other in OTHER_TARGETS:
            if isinstance(other, RatioTarget):
                ratio = other.rate_ratio(self)
                shown = "-" if ratio is None else f"{ratio:.3f}x"
                verdict = judgement.verdict(*other.met(self))
            else:
                value = other.figure(self)
                shown = "-" if value is None else f"{value:.3f} {other.unit}"
                verdict = judgement.verdict(other.met(self))
            lines.append(f"| {other.text} | {shown} | {verdict} |")
        return lines

    def _check(self, check: RateCheck) -> str:
        """The raw reference's rate on one workload, next to its usual rate."""
        workload = next((w for w in self.workloads if w.key == check.workload), None)
        title, unit = (workload.title, workload.unit) if workload else (check.workload, "/s")
        return (
            f"{title} at {format_value(check.measured, unit)} {unit}, {check.share:.0%} of "
            f"its usual {format_value(check.usual, unit)}"
        )

    def _verdict_data(self) -> dict[str, object]:
        """The judgement and the verdicts, for performance.json."""
        judgement = self.judgement
        return {
            "judged": judgement.judged,
            "quick": judgement.quick,
            "start_load": judgement.start_load,
            "steal_share": judgement.steal_share,
            "unjudged": self.unjudged(),
            "reference_shares": {check.workload: check.share for check in judgement.checks},
            "targets": [
                {
                    "target": target.text,
                    "rate_ratio": target.rate_ratio(self),
                    "cpu_ratio": target.cpu_ratio(self),
                    "verdict": judgement.verdict(*target.met(self)).replace("**", ""),
                }
                for target in TARGETS
            ],
        }

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
            ("raw socket client that decodes (`recv`, decode, split)", "client_decoding"),
            ("`linesock.Client.request(command)`", "client_request"),
        ):
            cells = []
            for suffix, pinned in (("", False), ("_pinned", True)):
                value = self.median(key + suffix, "linesock-threaded")
                ratio = self.client_ratio(pinned, key)
                cells.append(
                    "-" if value is None else f"{format_value(value, '/s')} ({ratio or 0:.2f}x)"
                )
            cpu = self.median(f"cpu_{key}", "linesock-threaded")
            cells.append("-" if cpu is None else f"{cpu:.1f}")
            rows.append(f"| {name} | " + " | ".join(cells) + " |")
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
                    "verdicts": self._verdict_data(),
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
