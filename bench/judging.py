"""What ``./do_bench`` says about the run as a whole: its load, its baseline, its verdicts.

At the start of a run it prints the load average, and warns loudly when the
machine is already too loaded for the targets to be judged.  At the end it
checks the raw reference's rates against its usual ones
(:mod:`bench.baseline`), adds them to the baseline when asked
(``--record-baseline``), prints the load average again, the tables and the
verdicts (last, so that they are what the terminal shows), and a loud
banner when no target was judged.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from .baseline import HISTORY, Baseline
from .environment import LoadAverage, format_load
from .report import Report
from .targets import MAX_START_LOAD, Judgement, Medians, judge


def start_of_run() -> LoadAverage:
    """Print the load average now, with a warning when it is already over the bar; return it."""
    load = os.getloadavg()
    print(f"load average at the start: {format_load(load)} (1, 5, 15 min)", file=sys.stderr)
    if load[0] > MAX_START_LOAD:
        banner(
            f"LOADED MACHINE: the 1-minute load average is {load[0]:.2f} (over {MAX_START_LOAD:g})",
            ["no target will be judged from this run: run it again on a quieter machine"],
        )
    return load


def judge_run(
    results: Mapping[str, Mapping[str, list[float]]],
    baseline: Baseline,
    *,
    kind: str,
    cpu: str,
    start_load: float,
    steal_share: float | None,
    reference: str,
) -> Judgement:
    """Whether the run of *kind* (``full`` or ``quick``) on *cpu* may be held to the targets."""
    usual, no_baseline = baseline.usual(kind, cpu)
    return judge(
        Medians(results),
        usual,
        no_baseline=no_baseline,
        quick=kind == "quick",
        start_load=start_load,
        steal_share=steal_share,
        reference=reference,
    )


def end_of_run(report: Report, baseline: Baseline | None, *, kind: str, cpu: str) -> None:
    """Record the baseline (when *baseline* is given), then print the end of the run.

    The load average at the end, then the tables and verdicts on standard
    output, then, when no target was judged, the banner saying why.
    """
    if baseline is not None:
        record_baseline(baseline, report, kind=kind, cpu=cpu)
    print(f"load average at the end: {format_load(report.load[1])} (1, 5, 15 min)", file=sys.stderr)
    sys.stderr.flush()
    print(report.markdown(), flush=True)
    judgement = report.judgement
    if not judgement.judged:
        title = "LOADED RUN" if judgement.loaded else "NOT JUDGED"
        banner(f"{title}: no target is judged from this run, because", report.unjudged())


def record_baseline(baseline: Baseline, report: Report, *, kind: str, cpu: str) -> None:
    """Add the raw reference's medians in *report* to *baseline*, and write it.

    Not from a run that started on a loaded machine, nor from one whose
    host other guests kept busy (steal time): such a baseline would make the
    runs of a loaded machine look usual.
    """
    busy = report.judgement.machine_reasons()
    if busy:
        print(
            f"baseline NOT recorded: {'; '.join(busy)}; record it when the machine is quieter",
            file=sys.stderr,
        )
        return
    rates = {
        workload.key: rate
        for workload in report.workloads
        if workload.higher_is_better and (rate := report.median(workload.key, report.reference))
    }
    done = baseline.record(
        kind,
        cpu,
        rates,
        date=report.date,
        command=report.command,
        load_at_start=report.judgement.start_load,
        judged=report.judgement.judged,
    )
    baseline.write()
    print(done, file=sys.stderr)
    if report.judgement.loaded:
        print(
            "  warning: the raw reference ran slow in this run; record again on a quieter "
            f"machine (the usual rate is the median of the last {HISTORY} recorded runs)",
            file=sys.stderr,
        )


def banner(title: str, lines: list[str]) -> None:
    """Print *title* and *lines* to standard error, framed so that they are not missed."""
    rule = "!" * 78
    text = "\n".join([rule, f"!! {title}", *(f"!!   - {line}" for line in lines), rule])
    print(f"\n{text}\n", file=sys.stderr, flush=True)
