"""How ./do_bench judges a target: paired repetitions, and the fallback when one is missing.

The benchmark itself is never run in CI (speed is not asserted); its judge
is plain arithmetic on a run's figures, checked here in memory.
"""

from __future__ import annotations

import pytest
from bench.targets import Medians, RatioTarget

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
