"""The arithmetic of `invoke bench` (its measurements need Docker and minutes: see benchmarks/RESULTS.md)."""

from __future__ import annotations

import pytest

from benchmarks.bench import busy_core_seconds, utilisation

# The first lines of this machine's /proc/stat (2 cores; USER_HZ 100).
PROC_STAT = """cpu  2132143 58 442048 1239942 17210 0 4536 2193 0 0
cpu0 991962 24 207780 713264 3714 0 399 1096 0 0
cpu1 1140181 34 234267 526677 13495 0 4136 1097 0 0
"""


def test_busy_time_counts_every_core_and_leaves_out_idle_and_iowait() -> None:
    busy = 2132143 + 58 + 442048 + 0 + 4536 + 2193  # user nice system irq softirq steal
    assert busy_core_seconds(PROC_STAT, 100) == pytest.approx(busy / 100)


def test_busy_time_refuses_text_that_is_not_proc_stat() -> None:
    with pytest.raises(ValueError, match="not /proc/stat"):
        busy_core_seconds("intr 1 2 3\n", 100)


def test_utilisation_of_measured_first_runs() -> None:
    # Measured here (matrix.yaml's settings, empty caches): --jobs 1 took 99.7 s and 141.4 busy
    # core-seconds, --jobs 2 took 69.3 s and 129.8: the first used 71 % of two cores, the second 94 %.
    assert utilisation(141.4, 99.7, 2) == pytest.approx(0.709, abs=0.001)
    assert utilisation(129.8, 69.3, 2) == pytest.approx(0.936, abs=0.001)
