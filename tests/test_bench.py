"""The arithmetic of `invoke bench` (its measurements need Docker and minutes: see benchmarks/RESULTS.md)."""

from __future__ import annotations

import pytest

from gomatrix.bench import busy_core_seconds, cpu_bound_speedup

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


def test_cpu_bound_speedup_of_a_measured_first_run() -> None:
    # Measured here: --jobs 1 took 61.8 s and kept the machine busy for 95.6 core-seconds, so two
    # jobs on two cores cannot finish the same work in less than 47.8 s.
    assert cpu_bound_speedup(61.8, 95.6, jobs=2, cores=2) == pytest.approx(61.8 / 47.8)
    # More jobs than cores gain nothing more; one job, nothing at all.
    assert cpu_bound_speedup(61.8, 95.6, jobs=8, cores=2) == cpu_bound_speedup(61.8, 95.6, jobs=2, cores=2)
    assert cpu_bound_speedup(61.8, 61.8, jobs=1, cores=2) == pytest.approx(1.0)
