"""Statistics for the report, following benchstat.

- allocs/op is compared exactly (it is an integer count per op, truncated by `go test`);
- B/op is compared with a small tolerance: a large allocation's B/op moves by a few bytes between
  runs because background allocations are spread over few iterations;
- ns/op is compared only between native cells, the way benchstat (golang.org/x/perf/cmd/benchstat)
  compares a column with its base: a two-sided Mann-Whitney U test, "~" (not significant) unless
  p <= 0.05, and the change of the median. Emulated ns/op is never compared.

Why benchstat's test and not scipy's: the report's "~" should say what `benchstat old.txt new.txt`
says on the same samples (the README tells users to run it), and the rules differ exactly at the
sample counts the report uses (a few to a few dozen per benchmark). benchstat takes the exact
distribution of U while both samples have at most 50 values without ties, or 25 with ties (then a
tie-aware exact distribution), and the normal approximation with tie and continuity correction only
beyond; scipy's default is exact only without ties and while a sample has at most 8 values. So the U
test here is a port of the one benchstat calls, MannWhitneyUTest and UDist of
github.com/aclements/go-moremath/stats (the version golang.org/x/perf requires, f10218a38794), with
the float arithmetic in Go's order, and compare() applies benchstat's decisions
(golang.org/x/perf/benchmath). tests/data/benchstat/ holds benchstat's own output on recorded and
constructed samples; the tests check that this module gives the same p-values and the same "~"
decisions. It is written out rather than taken from scipy, whose import alone costs about a second
and tens of MB in every run of the orchestrator.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

# benchmath.DefaultThresholds.CompareAlpha; benchstat shows "~" when p > ALPHA (Comparison.FormatDelta).
ALPHA = 0.05
BYTES_ABS_TOLERANCE = 8.0  # B/op
BYTES_REL_TOLERANCE = 0.005  # of the larger value

# go-moremath's MannWhitneyExactLimit and MannWhitneyTiesExactLimit: the exact distribution of U is
# used while both samples have at most this many values (without ties / with ties), the normal
# approximation with tie and continuity correction beyond.
EXACT_LIMIT = 50
TIES_EXACT_LIMIT = 25


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
    """benchstat's comparison of an "after" sample with its "before" base (benchmath.AssumeNothing).

    benchstat's rules, which this follows:
    - there is no minimum sample size: any two non-empty samples are compared. With fewer than 4
      values in both, p cannot reach 0.05 (benchstat adds the warning "need >= 4 samples to detect
      a difference"), so the result is "~"; 1 value against 1 gives p = 1. (A sample of 3 against one
      of 5 can be significant.) None only when a sample is empty: benchstat has no cell to compare;
    - when every value of both samples is the same, the U test fails ("all samples are equal") and
      benchstat reports p = 1, "~";
    - significant when p <= ALPHA (benchstat prints "~" when p > alpha);
    - the change is that of benchstat's centre, the median (go-moremath's Sample.Quantile(0.5)):
      (after / before - 1) * 100, 0 when the medians are equal. A zero "before" median, for which
      benchstat prints "?", gives 0 here.
    """
    if not before or not after:
        return None
    b_median, a_median = _median(sorted(before)), _median(sorted(after))
    delta = 0.0 if b_median == a_median or b_median == 0 else (a_median / b_median - 1.0) * 100.0
    p_value = mann_whitney_p(before, after)
    return Comparison(delta_pct=round(delta, 2), p_value=round(p_value, 4), significant=not p_value > ALPHA)


def _median(values: Sequence[float]) -> float:
    """go-moremath's Sample.Quantile(0.5) of sorted values (definition R8, as benchstat's centre)."""
    count = len(values)
    position = 1 / 3.0 + 0.5 * (count + 1 / 3.0)
    frac, whole = math.modf(position)
    k = int(whole)
    if k <= 0:
        return values[0]
    if k >= count:
        return values[-1]
    return values[k - 1] + frac * (values[k] - values[k - 1])


def mann_whitney_p(x: Sequence[float], y: Sequence[float]) -> float:
    """Two-sided p-value of the Mann-Whitney U test of x against y, as benchstat computes it.

    A port of go-moremath's MannWhitneyUTest(x, y, LocationDiffers). Tied values get their average
    rank, so U counts a tie between the samples as 1/2. The p-value comes from the exact distribution
    of U (the tie-aware one when there are ties) while both samples have at most EXACT_LIMIT values,
    or TIES_EXACT_LIMIT when there are ties; else from the normal approximation with tie and
    continuity correction. 1.0 when every value is the same (go-moremath fails with ErrSamplesEqual, and
    benchstat then reports p = 1). Raises ValueError when a sample is empty (ErrSampleSize).
    """
    n1, n2 = len(x), len(y)
    if not n1 or not n2:
        raise ValueError("the Mann-Whitney U test needs at least one value in each sample")
    merged = _labeled_merge(sorted(x), sorted(y))

    # The U statistic of x, and the tie vector T (the size of each run of equal values).
    rank_sum = 0.0
    ties: list[int] = []
    has_ties = False
    i = 0
    while i < len(merged):
        first_rank, in_x, value = i + 1, 0, merged[i][0]
        while i < len(merged) and merged[i][0] == value:  # every value tied with this one
            if merged[i][1] == 1:
                in_x += 1
            i += 1
        if in_x != 0:  # tied values all get their average rank
            rank_sum += (i + first_rank) / 2 * in_x
        ties.append(i - first_rank + 1)
        if i > first_rank:
            has_ties = True
    u1 = rank_sum - n1 * (n1 + 1) / 2
    u2 = n1 * n2 - u1
    u_small = min(u1, u2)

    limit = TIES_EXACT_LIMIT if has_ties else EXACT_LIMIT
    if n1 <= limit and n2 <= limit:  # the exact distribution of U
        if len(ties) == 1:
            return 1.0  # all values equal
        if u1 == u2:
            # The distribution is symmetric about U; doubling CDF(U) would count the probability at
            # U twice. The p-value is the whole distribution: 1.
            return 1.0
        return _u_cdf(n1, n2, ties, u_small) * 2

    # Normal approximation, with tie and continuity correction.
    tie_correction = float(sum(t * t * t - t for t in ties))
    n = float(n1 + n2)
    mean = n1 * n2 / 2
    sigma = math.sqrt(n1 * n2 * ((n + 1) - tie_correction / (n * (n - 1))) / 12)
    if sigma == 0:
        return 1.0  # all values equal
    numerator = u1 - mean
    numerator -= _sign(numerator) * 0.5
    z = numerator / sigma
    cdf = _std_normal_cdf(z)
    return 2 * min(cdf, 1 - cdf)


def _labeled_merge(x: list[float], y: list[float]) -> list[tuple[float, int]]:
    """Sorted x and y merged, each value labelled 1 (from x) or 2 (from y); y first on equal values."""
    merged: list[tuple[float, int]] = []
    i = j = 0
    while i < len(x) and j < len(y):
        if x[i] < y[j]:
            merged.append((x[i], 1))
            i += 1
        else:
            merged.append((y[j], 2))
            j += 1
    merged += [(value, 1) for value in x[i:]]
    merged += [(value, 2) for value in y[j:]]
    return merged


def _sign(value: float) -> float:
    return 0.0 if value == 0 else -1.0 if value < 0 else 1.0


def _std_normal_cdf(z: float) -> float:
    """go-moremath's StdNormal.CDF: Erfc(-(x-Mu)/(Sigma*Sqrt2)) / 2 with Mu = 0, Sigma = 1.

    Python's math.erfc and Go's math.Erfc are different implementations, which can differ in the
    last bit.
    """
    return math.erfc(-z / math.sqrt(2)) / 2


def _u_cdf(n1: int, n2: int, ties: list[int], u: float) -> float:
    """go-moremath's UDist{N1: n1, N2: n2, T: ties}.CDF(u): P(U <= u) under the null hypothesis.

    Without ties, from Mann and Whitney's recurrence (_u_pmf); with ties, from the tie-aware counts
    of _tie_counts over the C(n1+n2, n1) orderings.
    """
    if u < 0:
        return 0.0
    if u >= n1 * n2:
        return 1.0
    if any(t > 1 for t in ties):
        two_u = int(2 * u)
        return _tie_counts(two_u, n1, ties)[(n1, two_u)] / _choose(n1 + n2, n1)
    u_int = math.floor(u)
    # The distribution is symmetric around U = n1 * n2 / 2: sum up whichever tail is smaller.
    flip = u_int >= (n1 * n2 + 1) // 2
    if flip:
        u_int = n1 * n2 - u_int - 1
    p = 0.0
    for pmf in _u_pmf(n1, n2, u_int)[: u_int + 1]:
        p += pmf
    return 1 - p if flip else p


def _u_pmf(n1: int, n2: int, u_max: int) -> list[float]:
    """P(U = u) for u = 0..u_max, samples of sizes n1 and n2 without ties (go-moremath's UDist.p).

    Mann and Whitney's recurrence, by dynamic programming over (n, m):
        p_{n,m}(U) = (n * p_{n-1,m}(U-m) + m * p_{n,m-1}(U)) / (n+m)
        p_{n,m}(U) = 0 if U < 0;  p_{0,m}(U) = p_{n,0}(U) = 1 if U = 0, else 0.
    p_{n,m} = p_{m,n}, so only n <= m is computed; one row of the (n, m) table is kept at a time.
    """
    small, large = min(n1, n2), max(n1, n2)
    memo = [[0.0] * (u_max + 1) for _ in range(small + 1)]
    for m in range(large + 1):
        memo[0][0] = 1.0
        for n in range(1, min(small, m) + 1):
            left = memo[n - 1]  # p_{n-1,m}
            right = memo[n] if n <= m - 1 else memo[m - 1]  # p_{n,m-1}, or p_{m-1,n} when m == n
            u_lim = min(u_max, n * m)
            # Go fills this row in place from the largest U down; each entry only reads the row
            # above and its own old value, so building the new entries at once gives the same floats.
            row = [((n * left[u - m] if u - m >= 0 else 0.0) + m * right[u]) / (n + m) for u in range(u_lim + 1)]
            memo[n] = row + memo[n][u_lim + 1:]
    return memo[small]


def _tie_counts(two_u: int, n1: int, ties: list[int]) -> dict[tuple[int, int], float]:
    """go-moremath's makeUmemo: with tie vector `ties`, how many of the C(sum(ties), n1) ways to
    pick the first sample give a U statistic <= U, for the key (n1, 2U) and every entry the
    recurrence needs, at the last rank. Cheung and Klotz (1997), "The Mann Whitney Wilcoxon
    Distribution Using Linked Lists", Statistica Sinica 7: 805-813; the table for rank k is indexed
    by (size of the first sample among the first k ranks, 2U); counts are floats, as in Go.
    """
    k_total = len(ties)
    if k_total < 2:
        raise ValueError("the tie-aware U distribution needs at least two ranks")
    # a[k] (1-based; a[0] unused)
    a = [0] * (k_total + 1)
    a[1] = ties[0]
    for k in range(2, k_total + 1):
        a[k] = a[k - 1] + ties[k - 2] + ties[k - 1]

    bounds: dict[tuple[int, int], tuple[int, int]] = {}

    def two_u_bounds(n1_k: int, k: int) -> tuple[int, int]:
        """The smallest and largest 2U of n1_k values among the first k ranks."""
        if (n1_k, k) not in bounds:
            bounds[(n1_k, k)] = (_two_u_min(n1_k, ties[:k], a), _two_u_max(n1_k, ties[:k], a))
        return bounds[(n1_k, k)]

    # Which (n1, 2U) entries each rank needs, from the last rank down.
    tables: list[dict[tuple[int, int], float]] = [{} for _ in range(k_total + 1)]
    tables[k_total] = {(n1, two_u): 0.0}
    t_sum = sum(ties)  # always sum(ties[:k + 1])
    for k in range(k_total - 1, 1, -1):
        t_sum -= ties[k]
        needed: dict[tuple[int, int], float] = {}
        for upper_n1, upper_two_u in tables[k + 1]:
            for r_k in range(max(0, upper_n1 - t_sum), min(upper_n1, ties[k]) + 1):
                two_u_k = upper_two_u - r_k * (a[k + 1] - 2 * upper_n1 + r_k)
                n1_k = upper_n1 - r_k
                low, high = two_u_bounds(n1_k, k)
                if low <= two_u_k <= high:
                    needed[(n1_k, two_u_k)] = 0.0
        tables[k] = needed

    # Counts, from the first two ranks up.
    n_2 = ties[0] + ties[1]
    for key in tables[2]:
        key_n1, key_two_u = key
        count = 0.0
        r2_high = _go_div(key_two_u - key_n1 * (ties[0] - key_n1), n_2)
        for r_2 in range(max(0, key_n1 - ties[0]), r2_high + 1):
            count += _choose(ties[0], key_n1 - r_2) * _choose(ties[1], r_2)
        tables[2][key] = count
    t_sum = ties[0]  # always sum(ties[:k - 1])
    for k in range(3, k_total + 1):
        t_sum += ties[k - 2]
        lower = tables[k - 1]
        for key in tables[k]:
            key_n1, key_two_u = key
            count = 0.0
            for r_k in range(max(0, key_n1 - t_sum), min(key_n1, ties[k - 1]) + 1):
                two_u_lower = key_two_u - r_k * (a[k] - 2 * key_n1 + r_k)
                n1_lower = key_n1 - r_k
                found = lower.get((n1_lower, two_u_lower))
                if found is None:
                    # Not needed below: either no pick reaches that U (0) or every pick does.
                    found = _choose(t_sum, n1_lower) if two_u_bounds(n1_lower, k - 1)[1] < two_u_lower else 0.0
                count += found * _choose(ties[k - 1], r_k)
            tables[k][key] = count
    return tables[k_total]


def _two_u_min(n1: int, ties: list[int], a: list[int]) -> int:
    two_u = -n1 * n1
    left = n1
    for k in range(1, len(ties) + 1):
        take = min(left, ties[k - 1])
        two_u += take * a[k]
        left -= take
    return two_u


def _two_u_max(n1: int, ties: list[int], a: list[int]) -> int:
    two_u = -n1 * n1
    left = n1
    for k in range(len(ties), 0, -1):
        take = min(left, ties[k - 1])
        two_u += take * a[k]
        left -= take
    return two_u


def _go_div(a: int, b: int) -> int:
    """Go's integer division, truncated toward zero (Python's // floors), as makeUmemo divides.

    It differs from // only for a 2U below the smallest one the tie vector allows, where makeUmemo's
    count is wrong; MannWhitneyUTest never asks for one (it asks for the U of the samples).
    """
    quotient = abs(a) // abs(b)
    return quotient if (a < 0) == (b < 0) else -quotient


def _choose(n: int, k: int) -> float:
    """The binomial coefficient, as a float (go-moremath's mathx.Choose).

    Go computes it exactly up to n = 20 and as exp(lgamma(n+1) - lgamma(k+1) - lgamma(n-k+1))
    beyond, whose last bits depend on the platform's Exp (Go's amd64 assembly takes an FMA path on
    CPUs that have it): there is no one Go value to reproduce there. The exact value rounded to a
    float is the same up to n = 20 and what Go approximates beyond (p-values then agree with
    benchstat's to about 1e-14, relatively).
    """
    if k < 0 or n < k:
        return 0.0
    return float(math.comb(n, k))
