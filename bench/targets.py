"""The targets a run is judged against, as plain data, and the judging of a run.

The targets of issue 15 (:data:`TARGETS`) are each judged on two ratios
from the same run: the rate over the reference's, and the CPU time per
unit of work over the reference's (the server's CPU; for
``Client.request``, the client's, since the client is what is measured
there).  A target is met only when both bars are.  Each ratio is the
median of the repetitions' own ratios: a repetition measures the cell and
its reference within a minute of each other, so the machine's drift between
repetitions cancels out (when a repetition lacks either figure, the ratio
of the medians is taken instead).  The earlier targets
(:data:`OTHER_TARGETS`) are judged on their one figure.

No target is judged from a loaded run: one whose 1-minute load average is
above :data:`MAX_START_LOAD` at its start, in which the hypervisor stole
more than :data:`MAX_STEAL_SHARE` of the CPU time for other guests (a load
the guest's load average does not show), or whose raw reference ran below
:data:`MIN_REFERENCE_SHARE` of its usual rate on any workload (the usual
rates are in ``bench/baseline.json``, written by ``./do_bench
--record-baseline``).  Nor is one judged when there is no baseline for the
kind of run on this machine.  A quick run's verdicts are only indicative.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Protocol

#: A run whose 1-minute load average is above this at its start is not judged.
MAX_START_LOAD: Final = 1.0
#: Nor is one in which the raw reference ran below this share of its usual
#: rate on any workload.
MIN_REFERENCE_SHARE: Final = 0.7
#: Nor is one in which more than this share of the CPU time was stolen by the
#: hypervisor (Linux's steal time; a quiet guest here sees about 0.1 %).
MAX_STEAL_SHARE: Final = 0.02


class Figures(Protocol):
    """What the targets read from a run: a cell's (a workload's and a server's) figures."""

    def median(self, key: str, server: str) -> float | None:
        """The median of one cell, or None if it has no measurement."""

    def by_repetition(self, key: str, server: str) -> list[float] | None:
        """The cell's figure of each repetition in order, or None unless every one has one."""


@dataclass(frozen=True)
class Medians:
    """A run's results seen as :class:`Figures`, to judge the run before its report exists."""

    results: Mapping[str, Mapping[str, list[float]]]
    repetitions: int = 0

    def median(self, key: str, server: str) -> float | None:
        """The median of one cell, or None if it has no measurement."""
        values = self.results.get(key, {}).get(server)
        return statistics.median(values) if values else None

    def by_repetition(self, key: str, server: str) -> list[float] | None:
        """The cell's figure of each repetition in order, or None unless every one has one."""
        return complete(self.results.get(key, {}).get(server), self.repetitions)


def complete(values: list[float] | None, repetitions: int) -> list[float] | None:
    """*values* if there is one per repetition (a failed measurement leaves a gap), else None."""
    return values if values and len(values) == repetitions else None


@dataclass(frozen=True)
class RatioTarget:
    """A bar on a cell's ratio to a reference cell: its rate and, if set, its CPU per unit.

    Attributes:
        title: what is measured, e.g. ``"pipelined short commands, threaded"``.
        workload: the workload key of the cell; its CPU per unit of work is
            under ``"cpu_" + workload``.
        server: the server of the cell.
        rate_bar: the rate must be at least this many times the reference's.
        cpu_bar: the CPU per unit of work must be at most this many times the
            reference's (None: the ratio is shown, not judged).
        reference: the server of the reference cell.
        reference_workload: its workload (None: the cell's own).
        versus: how the reference is named in the target's text.
    """

    title: str
    workload: str
    server: str
    rate_bar: float
    cpu_bar: float | None = None
    reference: str = "raw"
    reference_workload: str | None = None
    versus: str = "raw"

    @property
    def cpu_side(self) -> str:
        """Whose CPU time is compared: the server's, or the client's for the client workloads."""
        return "client" if self.workload.startswith("client_") else "server"

    @property
    def text(self) -> str:
        """The target in words, with its bars."""
        text = f"{self.title}: rate >= {self.rate_bar:g}x {self.versus}"
        if self.cpu_bar is not None:
            text += f", {self.cpu_side} CPU <= {self.cpu_bar:g}x {self.versus}"
        return text

    def rate_ratio(self, figures: Figures) -> float | None:
        """The cell's rate over the reference's (None when either was not measured)."""
        return self._ratio(figures, "")

    def cpu_ratio(self, figures: Figures) -> float | None:
        """The cell's CPU per unit of work over the reference's (None when not measured)."""
        return self._ratio(figures, "cpu_")

    def met(self, figures: Figures) -> tuple[bool | None, str]:
        """Whether both bars are met (None: not measured), and which were missed."""
        rate = self.rate_ratio(figures)
        cpu = self.cpu_ratio(figures) if self.cpu_bar is not None else None
        if rate is None or (self.cpu_bar is not None and cpu is None):
            return None, ""
        missed = []
        if rate < self.rate_bar:
            missed.append("rate")
        if self.cpu_bar is not None and cpu is not None and cpu > self.cpu_bar:
            missed.append("CPU")
        return not missed, " and ".join(missed)

    def _ratio(self, figures: Figures, prefix: str) -> float | None:
        """The cell over the reference, for the keys starting with *prefix*: see the module."""
        key, base_key = prefix + self.workload, prefix + (self.reference_workload or self.workload)
        values = figures.by_repetition(key, self.server)
        bases = figures.by_repetition(base_key, self.reference)
        if values is not None and bases is not None and all(bases):
            return statistics.median([v / b for v, b in zip(values, bases, strict=True)])
        value, base = figures.median(key, self.server), figures.median(base_key, self.reference)
        return value / base if value is not None and base else None


@dataclass(frozen=True)
class LimitTarget:
    """A bar on a cell's own figure: at most ``bar`` ``unit``.

    Attributes:
        text: the target in words, with its bar.
        workload: the workload key of the cell.
        server: the server of the cell.
        bar: the figure must be at most this.
        unit: the unit of the figure and the bar.
        per_item: the figure is 1000 / the cell's median rate (ms per item)
            rather than the median itself.
    """

    text: str
    workload: str
    server: str
    bar: float
    unit: str
    per_item: bool = False

    def figure(self, figures: Figures) -> float | None:
        """The figure that is held to the bar (None when not measured)."""
        value = figures.median(self.workload, self.server)
        if value is None or not self.per_item:
            return value
        return 1000 / value if value else None

    def met(self, figures: Figures) -> bool | None:
        """Whether the figure is within the bar (None: not measured)."""
        value = self.figure(figures)
        return None if value is None else value <= self.bar


# Where the issue gives no bar on CPU, the CPU per unit of work may grow as
# much as the rate may shrink: the bar is 1 / the rate bar (0.7x -> 1.43x).
TARGETS: Final = (
    RatioTarget("pipelined short commands, threaded", "pipelined", "linesock-threaded", 0.8, 1.3),
    RatioTarget("pipelined short commands, asyncio", "pipelined", "linesock-asyncio", 0.7, 1.43),
    RatioTarget("pipelined short commands, uvloop", "pipelined", "linesock-uvloop", 0.7, 1.43),
    RatioTarget("ping-pong, pinned, threaded", "pingpong_pinned", "linesock-threaded", 0.95, 1.05),
    RatioTarget(
        "Client.request, pinned, against a raw client doing the same exchange",
        "client_request_pinned",
        "linesock-threaded",
        0.95,
        1.05,
        reference="linesock-threaded",
        reference_workload="client_raw_pinned",
        versus="the raw client",
    ),
    RatioTarget("session churn, threaded", "churn", "linesock-threaded", 0.95, 1.05),
)
"""Issue 15's targets: the verdict table of every run."""

OTHER_TARGETS: Final[tuple[RatioTarget | LimitTarget, ...]] = (
    RatioTarget(
        "pipelined short commands, threaded",
        "pipelined",
        "linesock-threaded",
        25,
        reference="asyncio-streams",
        versus="asyncio streams",
    ),
    RatioTarget(
        "pipelined short commands with a transcript (issue 7)",
        "pipelined",
        "linesock-transcript",
        0.5,
        reference="linesock-threaded",
        versus="without",
    ),
    LimitTarget(
        "write, then query with PyVISA (Nagle on), threaded: <= 1 ms a pair (issue 12)",
        "write_query_pyvisa",
        "linesock-threaded",
        1.0,
        "ms",
        per_item=True,
    ),
    RatioTarget("64 KiB lines in, threaded", "long_lines", "linesock-threaded", 0.7),
    LimitTarget("start() <= 5 ms (threaded)", "start_ms", "linesock-threaded", 5.0, "ms"),
    LimitTarget("start_server() <= 5 ms (asyncio)", "start_ms", "linesock-asyncio", 5.0, "ms"),
)
"""Issue 6's other targets and those of issues 7 and 12, each judged on its one figure."""


@dataclass(frozen=True)
class RateCheck:
    """The raw reference's rate on one workload in this run, next to its usual rate."""

    workload: str
    measured: float
    usual: float

    @property
    def share(self) -> float:
        """The measured rate as a share of the usual one."""
        return self.measured / self.usual

    @property
    def slow(self) -> bool:
        """True when the raw reference ran below :data:`MIN_REFERENCE_SHARE` of its usual rate."""
        return self.share < MIN_REFERENCE_SHARE


@dataclass(frozen=True)
class Judgement:
    """Whether a run's figures may be held to the targets, and if not, why.

    Attributes:
        quick: a ``--quick`` run: its verdicts are only indicative.
        start_load: the 1-minute load average at the start of the run.
        checks: the raw reference's rates next to its usual ones.
        no_baseline: why its rates could not be checked (None: they were).
        steal_share: the share of the run's CPU time the hypervisor stole
            (None: not measured, where there is no ``/proc/stat``).
    """

    quick: bool
    start_load: float
    checks: tuple[RateCheck, ...]
    no_baseline: str | None
    steal_share: float | None = None

    @property
    def stolen(self) -> bool:
        """True when the hypervisor stole more than :data:`MAX_STEAL_SHARE` of the CPU time."""
        return self.steal_share is not None and self.steal_share > MAX_STEAL_SHARE

    def machine_reasons(self) -> list[str]:
        """Why the machine itself was too busy for a verdict: its load average, its steal time."""
        reasons = []
        if self.start_load > MAX_START_LOAD:
            reasons.append(
                f"the 1-minute load average was {self.start_load:.2f} at the start "
                f"(over {MAX_START_LOAD:g})"
            )
        if self.stolen:
            reasons.append(
                f"the hypervisor stole {self.steal_share:.1%} of the CPU time for other guests "
                f"(over {MAX_STEAL_SHARE:.0%})"
            )
        return reasons

    @property
    def loaded(self) -> bool:
        """True when the machine was loaded: load average, steal time, or a slow raw reference."""
        return (
            self.start_load > MAX_START_LOAD
            or self.stolen
            or any(check.slow for check in self.checks)
        )

    @property
    def judged(self) -> bool:
        """True when the verdicts say met or not met."""
        return not self.loaded and self.no_baseline is None

    def verdict(self, met: bool | None, missed: str = "") -> str:
        """The verdict on one target: met, not met (on what), not measured or not judged."""
        if met is None:
            return "not measured"
        if self.loaded:
            return "not judged (loaded run)"
        if self.no_baseline is not None:
            return "not judged (no baseline)"
        remarks = [] if met or not missed else [f"on {missed}"]
        if self.quick:
            remarks.append("quick run: indicative")
        verdict = "met" if met else "**not met**"
        return verdict + (f" ({'; '.join(remarks)})" if remarks else "")


def judge(
    figures: Figures,
    usual: Mapping[str, float],
    *,
    no_baseline: str | None,
    quick: bool,
    start_load: float,
    steal_share: float | None = None,
    reference: str = "raw",
) -> Judgement:
    """Compare the raw reference's rates with its *usual* ones and say whether the run is judged.

    *usual* maps workload keys to the raw reference's usual rate on this
    machine for this kind of run (empty, with the reason in *no_baseline*,
    when there is none); *steal_share* is the run's steal time, if measured.
    """
    checks = []
    for key, rate in usual.items():
        measured = figures.median(key, reference)
        if measured is not None and rate > 0:
            checks.append(RateCheck(key, measured, rate))
    if not checks and no_baseline is None:
        no_baseline = "the raw reference ran none of the workloads of the baseline"
    return Judgement(quick, start_load, tuple(checks), no_baseline, steal_share)
