"""How ./do_bench judges a target: paired repetitions, and the fallback when one is missing.

The benchmark itself is never run in CI (speed is not asserted); its judge
is plain arithmetic on a run's figures, checked here in memory.
"""

from __future__ import annotations

import pytest
from bench.environment import parse_cpu_ticks, steal_share
from bench.targets import Medians, RatioTarget, judge

TARGET = RatioTarget("pipelined", "pipelined", "linesock", 0.8, 1.3)


def test_each_ratio_is_the_median_of_the_repetitions_own_ratios() -> None:
    """Drift between repetitions cancels: the machine slowed down in the last ones here.

    The ratio of the medians would be 0.45 (rate) and 2.2 (CPU): each
    median comes from another repetition.
    """
    results = {
        "pipelined": {"raw": [10.0, 10.0, 10.0, 5.0, 5.0], "linesock": [9.0, 9.0, 4.5, 4.5, 4.5]},
        "cpu_pipelined": {"raw": [1.0, 1.0, 1.0, 2.0, 2.0], "linesock": [1.1, 1.1, 2.2, 2.2, 2.2]},
    }
    figures = Medians(results, repetitions=5)
    assert TARGET.rate_ratio(figures) == pytest.approx(0.9)  # pairs: 0.9, 0.9, 0.45, 0.9, 0.9
    assert TARGET.cpu_ratio(figures) == pytest.approx(1.1)
    assert TARGET.met(figures) == (True, "")


def test_a_repetition_without_a_figure_falls_back_to_the_ratio_of_medians() -> None:
    """A failed measurement leaves a gap: the figures can no longer be paired."""
    results = {"pipelined": {"raw": [10.0, 10.0, 8.0, 8.0, 8.0], "linesock": [8.0, 6.0, 6.0, 6.0]}}
    assert TARGET.rate_ratio(Medians(results, repetitions=5)) == pytest.approx(6.0 / 8.0)
    assert TARGET.rate_ratio(Medians(results)) == pytest.approx(6.0 / 8.0)  # no count: unpaired
    assert TARGET.cpu_ratio(Medians(results, repetitions=5)) is None  # not measured


def test_a_run_whose_host_was_busy_with_other_guests_is_not_judged() -> None:
    """Steal time is a load the guest's load average never shows: above 2 %, nothing is judged."""
    figures = Medians({"pipelined": {"raw": [10.0]}})
    usual = {"pipelined": 10.0}
    busy_host = judge(
        figures, usual, no_baseline=None, quick=False, start_load=0.1, steal_share=0.03
    )
    assert (busy_host.stolen, busy_host.loaded, busy_host.judged) == (True, True, False)
    assert busy_host.verdict(True) == "not judged (loaded run)"
    assert busy_host.machine_reasons() == [
        "the hypervisor stole 3.0% of the CPU time for other guests (over 2%)"
    ]
    quiet_host = judge(
        figures, usual, no_baseline=None, quick=False, start_load=0.1, steal_share=0.02
    )
    assert (quiet_host.stolen, quiet_host.judged, quiet_host.machine_reasons()) == (
        False,
        True,
        [],
    )
    not_measured = judge(figures, usual, no_baseline=None, quick=False, start_load=0.1)
    assert (not_measured.steal_share, not_measured.stolen, not_measured.judged) == (
        None,
        False,
        True,
    )


def test_the_steal_share_is_read_from_the_all_cpus_line_of_proc_stat() -> None:
    """The eighth field is steal; guest time (fields nine and ten) is already in user."""
    before = parse_cpu_ticks("cpu  100 0 50 800 10 0 5 35 7 0\ncpu0 50 0 25 400 5 0 2 17 3 0\n")
    after = parse_cpu_ticks("cpu  600 0 150 2100 10 0 5 135 9 0\n")
    assert (before, after) == ((1000, 35), (3000, 135))
    assert steal_share(before, after) == pytest.approx(0.05)
    assert steal_share(None, after) is None
    assert steal_share(after, after) is None  # no tick passed: no share
    with pytest.raises(ValueError, match="all-CPUs line"):
        parse_cpu_ticks("cpu0 1 2 3 4 5 6 7 8\n")
    with pytest.raises(ValueError, match="all-CPUs line"):
        parse_cpu_ticks("cpu  1 2 3 4\n")  # a kernel too old to count steal time
