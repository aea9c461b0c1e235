from __future__ import annotations

from pathlib import Path

from gomatrix.cases import discover_cases
from gomatrix.report import build_report, render_markdown
from gomatrix.stats import bytes_equal, compare
from tests.recorded import ROOT, recorded_cell


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
