from __future__ import annotations

import math
from pathlib import Path

import pytest

from gomatrix.cases import discover_cases
from gomatrix.report import build_report, render_markdown
from gomatrix.stats import _u_counts, bytes_equal, compare, mann_whitney_p
from tests.recorded import ROOT, recorded_cell

# Two-sided p-values that scipy 1.17.1 gave for these samples, recorded once with
# `float(scipy.stats.mannwhitneyu(x, y, alternative="two-sided").pvalue)` (method "auto": exact
# without ties when a sample has at most 8 values, else normal with tie and continuity correction).
SCIPY_P_VALUES = [
    ("exact 3 v 3, separated", [100.0, 101.0, 102.0], [90.0, 91.0, 92.0], 0.1),
    ("exact 5 v 5, separated", [100.0, 101.0, 99.5, 100.5, 100.2], [80.0, 81.0, 79.0, 80.5, 80.2],
     0.007936507936507936),
    ("exact 5 v 5, overlapping", [100.0, 102.0, 98.0, 101.0, 99.0], [101.0, 99.5, 100.5, 98.5, 102.5],
     0.7532980334628383),
    ("exact 3 v 5", [12.1, 12.9, 13.4], [12.0, 12.5, 13.0, 13.5, 14.0], 0.7857142857142857),
    ("exact 2 v 2", [1.0, 2.0], [3.0, 4.0], 0.3333333333333333),
    ("exact 4 v 12", [5.0, 6.5, 7.25, 9.0], [1.0, 2.0, 3.0, 4.0, 4.5, 5.5, 6.0, 7.0, 8.0, 8.5, 10.0, 11.0],
     0.5208791208791208),
    ("exact, U at the centre", [1.0, 4.0], [2.0, 3.0], 1.0),
    ("ties 5 v 5", [3.0, 3.0, 4.0, 5.0, 5.0], [4.0, 5.0, 6.0, 6.0, 7.0], 0.06960100257898734),
    ("ties 3 v 3", [0.25, 0.25, 0.26], [0.26, 0.27, 0.27], 0.11014892418594699),
    ("ties, shared middle value", [1.0, 2.0, 2.0], [2.0, 2.0, 3.0], 0.3016995824783478),
    ("normal 10 v 12, no ties", [21.0, 25.0, 19.0, 30.0, 27.0, 24.0, 22.0, 28.0, 26.0, 23.0],
     [18.0, 20.0, 17.5, 29.0, 16.0, 15.0, 31.0, 14.0, 13.5, 12.0, 11.0, 10.0], 0.009199422653342403),
    # ns/op samples of BenchmarkMakeSlice2, go1.23.9 vs go1.24.11 amd64, as tests/data/recorded/ held them at ef91606
    ("recorded MakeSlice2", [202.8, 265.7, 280.6], [332.8, 341.2, 332.8], 0.07652250047505922),
]


def test_bytes_tolerance_absorbs_jitter_not_changes() -> None:
    assert bytes_equal(10485760, 10485958)  # a 10 MiB allocation, two runs (recorded)
    assert bytes_equal(1024, 1024)
    assert not bytes_equal(112, 96)  # a smaller growth step is a real change
    assert not bytes_equal(0, 10485760)


def test_mann_whitney_like_benchstat() -> None:
    slow = [100.0, 101.0, 99.5, 100.5, 100.2]
    fast = [80.0, 81.0, 79.0, 80.5, 80.2]
    result = compare(slow, fast)
    assert result is not None and result.significant
    assert result.p_value < 0.05 and round(result.delta_pct) == -20
    overlap = compare([100.0, 102.0, 98.0, 101.0, 99.0], [101.0, 99.5, 100.5, 98.5, 102.5])
    assert overlap is not None and not overlap.significant and overlap.text().startswith("~")
    assert compare([1.0], [2.0]) is None
    assert compare([1.0, 1.0], [1.0, 1.0]) == compare([2.0, 2.0], [2.0, 2.0])


@pytest.mark.parametrize(("x", "y", "expected"), [case[1:] for case in SCIPY_P_VALUES],
                         ids=[case[0] for case in SCIPY_P_VALUES])
def test_mann_whitney_p_matches_scipy(x: list[float], y: list[float], expected: float) -> None:
    assert mann_whitney_p(x, y) == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert mann_whitney_p(y, x) == pytest.approx(expected, rel=1e-12, abs=1e-15)  # two-sided: symmetric


def test_exact_u_distribution_counts_every_ordering() -> None:
    assert _u_counts(2, 2) == [1, 1, 2, 1, 1]  # the 6 orderings of {a, a, b, b} by U
    for m, n in ((1, 1), (3, 5), (5, 3), (8, 8), (4, 20)):
        counts = _u_counts(m, n)
        assert len(counts) == m * n + 1 and counts == counts[::-1]  # U runs 0..mn, symmetric
        assert sum(counts) == math.comb(m + n, m)


def test_mann_whitney_p_edge_cases() -> None:
    assert mann_whitney_p([5.0, 5.0], [5.0, 5.0, 5.0]) == 1.0  # nothing to tell apart
    assert mann_whitney_p([1.0], [2.0]) == 1.0  # one ordering of two is as likely as the other
    with pytest.raises(ValueError, match="at least one value"):
        mann_whitney_p([], [1.0])


def test_ns_is_compared_only_between_native_columns(tmp_path: Path) -> None:
    cells = [recorded_cell(v, "makeslice", tmp_path, arch=a, emulated=a == "arm64")
             for v in ("1.23.9", "1.24.11") for a in ("amd64", "arm64")]
    report = build_report(cells, discover_cases(ROOT / "cases"), generated_at="t")
    bench = next(b for b in report["cases"][0]["benchmarks"] if b["name"] == "BenchmarkMakeSlice2")
    native = bench["results"]["go1.24.11 amd64"]["ns_vs_previous"]
    assert native is not None and native["previous"] == "go1.23.9 amd64"
    assert 0 <= native["p_value"] <= 1
    assert bench["results"]["go1.24.11 arm64"]["ns_vs_previous"] is None  # emulated
    assert bench["results"]["go1.23.9 amd64"]["ns_vs_previous"] is None  # nothing before it
    assert bench["results"]["go1.23.9 amd64"]["ns_range"][0] <= bench["results"]["go1.23.9 amd64"]["ns_per_op"]
    markdown = render_markdown(report)
    assert "Mann-Whitney U" in markdown
