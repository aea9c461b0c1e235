"""Statistics for the report, in the spirit of benchstat.

- allocs/op is compared exactly (it is an integer count per op, truncated by `go test`);
- B/op is compared with a small tolerance: a large allocation's B/op moves by a few bytes between
  runs because background allocations are spread over few iterations;
- ns/op is compared only between native cells, with a two-sided Mann-Whitney U test
  (alpha = 0.05); not significant is shown as "~". Emulated ns/op is never compared.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from scipy.stats import mannwhitneyu

ALPHA = 0.05
BYTES_ABS_TOLERANCE = 8.0  # B/op
BYTES_REL_TOLERANCE = 0.005  # of the larger value


def bytes_equal(a: float, b: float) -> bool:
    return abs(a - b) <= max(BYTES_ABS_TOLERANCE, BYTES_REL_TOLERANCE * max(abs(a), abs(b)))


@dataclass(frozen=True)
class Comparison:
    delta_pct: float  # median change from before to after, in percent
    p_value: float
    significant: bool

    def text(self) -> str:
        if not self.significant:
            return f"~ (p={self.p_value:.2f})"
        return f"{self.delta_pct:+.1f}% (p={self.p_value:.3f})"


def compare(before: Sequence[float], after: Sequence[float]) -> Comparison | None:
    """Mann-Whitney U of two sample sets; None when either has fewer than 2 samples."""
    if len(before) < 2 or len(after) < 2:
        return None
    b_sorted, a_sorted = sorted(before), sorted(after)
    b_median = _median(b_sorted)
    delta = 0.0 if b_median == 0 else (_median(a_sorted) - b_median) / b_median * 100
    if b_sorted == a_sorted or (min(before) == max(before) == min(after) == max(after)):
        return Comparison(delta_pct=delta, p_value=1.0, significant=False)
    p_value = float(mannwhitneyu(before, after, alternative="two-sided").pvalue)
    return Comparison(delta_pct=round(delta, 2), p_value=round(p_value, 4), significant=p_value < ALPHA)


def _median(values: Sequence[float]) -> float:
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2
