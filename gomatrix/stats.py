"""Statistics for the report, in the spirit of benchstat.

- allocs/op is compared exactly (it is an integer count per op, truncated by `go test`);
- B/op is compared with a small tolerance: a large allocation's B/op moves by a few bytes between
  runs because background allocations are spread over few iterations;
- ns/op is compared only between native cells, with a two-sided Mann-Whitney U test
  (alpha = 0.05); not significant is shown as "~". Emulated ns/op is never compared.

The U test is written out here (as benchstat's go-moremath does) rather than taken from scipy,
whose import alone costs about a second and tens of MB in every run of the orchestrator.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

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
    p_value = mann_whitney_p(before, after)
    return Comparison(delta_pct=round(delta, 2), p_value=round(p_value, 4), significant=p_value < ALPHA)


def _median(values: Sequence[float]) -> float:
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


# The exact distribution is used while the smaller sample has at most this many values (and there
# are no ties): the rule of scipy.stats.mannwhitneyu's method="auto", so p-values match scipy's.
EXACT_MAX_SMALLER = 8


def mann_whitney_p(x: Sequence[float], y: Sequence[float]) -> float:
    """Two-sided p-value of the Mann-Whitney U test of samples x and y (both non-empty).

    Without ties and with a small sample, from the exact null distribution of U; otherwise from the
    normal approximation with tie and continuity correction. 1.0 when every value is the same.
    """
    n1, n2 = len(x), len(y)
    if not n1 or not n2:
        raise ValueError("the Mann-Whitney U test needs at least one value in each sample")
    merged = sorted([(value, 0) for value in x] + [(value, 1) for value in y])
    rank_sum_x = 0.0
    tie_sizes: list[int] = []
    start = 0
    while start < len(merged):  # average ranks over each run of equal values
        end = start
        while end < len(merged) and merged[end][0] == merged[start][0]:
            end += 1
        in_x = sum(1 for _value, sample in merged[start:end] if sample == 0)
        rank_sum_x += in_x * (start + 1 + end) / 2
        tie_sizes.append(end - start)
        start = end
    if len(tie_sizes) == 1:
        return 1.0  # all values equal: nothing to tell apart
    u_x = rank_sum_x - n1 * (n1 + 1) / 2
    u_small = min(u_x, n1 * n2 - u_x)
    if max(tie_sizes) == 1 and min(n1, n2) <= EXACT_MAX_SMALLER:
        counts = _u_counts(n1, n2)
        p = 2 * sum(counts[: int(u_small) + 1]) / math.comb(n1 + n2, n1)
    else:
        n = n1 + n2
        ties = sum(t**3 - t for t in tie_sizes)
        sigma = math.sqrt(n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1))))
        # u_small is at or below the mean: the continuity correction moves it half a step up.
        z = min(0.0, u_small - n1 * n2 / 2 + 0.5) / sigma
        p = math.erfc(-z / math.sqrt(2))  # 2 * standard normal CDF(z)
    return min(1.0, p)


def _u_counts(n1: int, n2: int) -> list[int]:
    """counts[u]: how many of the C(n1+n2, n1) orderings of the two samples give U = u.

    These are the coefficients of the Gaussian binomial [n1+n2 choose n1](q), built as
    prod_{i=1..m} (1 - q^(n+i)) / (1 - q^i) with m = min(n1, n2), n = max(n1, n2); exact integers.
    """
    m, n = min(n1, n2), max(n1, n2)
    poly = [1]
    for i in range(1, m + 1):
        shift = n + i
        grown = poly + [0] * shift  # times (1 - q^shift)
        for k in range(len(grown) - 1, shift - 1, -1):
            grown[k] -= grown[k - shift]
        for k in range(i, len(grown)):  # divided by (1 - q^i): exact, since the product is a polynomial
            grown[k] += grown[k - i]
        poly = grown[: i * n + 1]  # the rest is zero: the partial product has degree i * n
    return poly
