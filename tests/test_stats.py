from __future__ import annotations

import csv
import itertools
import json
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gomatrix.analysis import stats
from gomatrix.analysis.document import build_report
from gomatrix.analysis.markdown import render_markdown
from gomatrix.analysis.stats import Comparison, bytes_equal, compare, mann_whitney_p
from gomatrix.plan.cases import discover_cases
from gomatrix.results.parse import parse_bench
from tests.recorded import ROOT, recorded_cell

# benchstat's own output (golang.org/x/perf/cmd/benchstat built from source; see its README.md).
BENCHSTAT = ROOT / "tests" / "data" / "benchstat"


@dataclass(frozen=True)
class BenchstatRow:
    """One comparison benchstat made: a row of its sec/op table, the new file against the old one."""

    id: str
    before: list[float]  # ns/op, as gomatrix.results.parse reads the old file
    after: list[float]
    p: float  # Comparison.P at full precision (the .jsonl dump of benchstat's own tables)
    printed_delta: str  # what benchstat printed under "vs base": "~", "-3.55%", "0.00%"
    printed_p: str  # and next to it: "p=0.043 n=10", "p=1.000 n=3+7"


def _ns_samples(path: Path) -> dict[str, list[float]]:
    """ns/op samples of each benchmark of a go test output, by benchstat's row name (e.g. MakeSlice2-2)."""
    samples: dict[str, list[float]] = {}
    for sample in parse_bench(path.read_text()).samples:
        row = sample.name.removeprefix("Benchmark") + (f"-{sample.procs}" if sample.procs else "")
        assert sample.ns_per_op is not None
        samples.setdefault(row, []).append(sample.ns_per_op)
    return samples


def _printed(path: Path) -> dict[str, tuple[str, str]]:
    """The "vs base" and "P" columns of the sec/op table of `benchstat -format csv` output, by row."""
    rows = list(csv.reader(path.read_text(encoding="utf-8").splitlines()))
    header = next(i for i, row in enumerate(rows) if len(row) > 1 and row[1] == "sec/op")
    printed: dict[str, tuple[str, str]] = {}
    for row in itertools.takewhile(lambda r: r[0] != "geomean", rows[header + 1:]):
        printed[row[0]] = (row[5], row[6])
    return printed


def _benchstat_rows() -> list[BenchstatRow]:
    rows: list[BenchstatRow] = []
    for dump in sorted((BENCHSTAT / "output").rglob("*.jsonl")):
        printed = _printed(dump.with_name(dump.name.removesuffix(".jsonl") + ".csv"))
        name = dump.relative_to(BENCHSTAT / "output").as_posix().removesuffix(".jsonl")
        for line in dump.read_text().splitlines():
            row: dict[str, Any] = json.loads(line)
            # The dump is the same computation as what benchstat printed.
            assert printed[row["row"]] == (row["delta"], row["cmp"]), (name, row["row"])
            before = _ns_samples(ROOT / row["base"])[row["row"]]
            after = _ns_samples(ROOT / row["col"])[row["row"]]
            assert (len(before), len(after)) == (row["n1"], row["n2"])
            rows.append(BenchstatRow(id=f"{name}:{row['row']}", before=before, after=after, p=float(row["p"]),
                                     printed_delta=row["delta"], printed_p=row["cmp"]))
    return rows


BENCHSTAT_ROWS = _benchstat_rows()
BY_ID = {row.id: row for row in BENCHSTAT_ROWS}


def _path(x: list[float], y: list[float]) -> str:
    """Which branch of go-moremath's MannWhitneyUTest computes the p-value of x against y."""
    values = x + y
    distinct = len(set(values))
    if distinct == 1:
        return "all equal"
    ties = distinct < len(values)
    limit = 25 if ties else 50  # MannWhitneyTiesExactLimit, MannWhitneyExactLimit
    return ("exact" if max(len(x), len(y)) <= limit else "normal") + (" with ties" if ties else "")


def _go_arithmetic_only(x: list[float], y: list[float]) -> bool:
    """Whether Go computes this p-value with + - * / alone, so that the port gives the very same float.

    Elsewhere Go calls math.Erfc (normal approximation) or, with ties and more than 20 values,
    mathx.Choose's Exp(Lgamma); those differ from Python's (and Go's own differ between CPUs) in the
    last bits.
    """
    path = _path(x, y)
    return path in ("all equal", "exact") or (path == "exact with ties" and len(x) + len(y) <= 20)


def _benchstat_text(p: float, n1: int, n2: int) -> str:
    """benchmath's Comparison.String."""
    return (f"p={p:.3f} " if p != 0 else "") + (f"n={n1}" if n1 == n2 else f"n={n1}+{n2}")


def test_bytes_tolerance_absorbs_jitter_not_changes() -> None:
    assert bytes_equal(10485760, 10485958)  # a 10 MiB allocation, two runs (recorded)
    assert bytes_equal(1024, 1024)
    assert not bytes_equal(112, 96)  # a smaller growth step is a real change
    assert not bytes_equal(0, 10485760)


def test_benchstat_recordings_cover_the_rule() -> None:
    assert len(BENCHSTAT_ROWS) == 96
    groups = Counter(row.id.split("/")[0].split(":")[0].removesuffix(".jsonl") for row in BENCHSTAT_ROWS)
    assert groups == {"scipy": 12, "extra": 45, "recorded": 39}
    paths = Counter(_path(row.before, row.after) for row in BENCHSTAT_ROWS)
    assert set(paths) == {"all equal", "exact", "exact with ties", "normal", "normal with ties"}
    decisions = Counter(row.printed_delta == "~" for row in BENCHSTAT_ROWS)
    assert decisions[True] > 10 and decisions[False] > 10
    sizes = {(len(row.before), len(row.after)) for row in BENCHSTAT_ROWS}
    assert {(10, 10), (20, 20), (25, 25), (25, 26), (50, 50), (50, 51), (51, 51)} <= sizes


@pytest.mark.parametrize("row", BENCHSTAT_ROWS, ids=[row.id for row in BENCHSTAT_ROWS])
def test_p_value_is_benchstats(row: BenchstatRow) -> None:
    p = mann_whitney_p(row.before, row.after)
    if _go_arithmetic_only(row.before, row.after):
        assert p == row.p
    else:
        assert p == pytest.approx(row.p, rel=1e-13, abs=0)
    assert _benchstat_text(p, len(row.before), len(row.after)) == row.printed_p


@pytest.mark.parametrize("row", BENCHSTAT_ROWS, ids=[row.id for row in BENCHSTAT_ROWS])
def test_decision_is_benchstats(row: BenchstatRow) -> None:
    result = compare(row.before, row.after)
    assert result is not None
    assert result.significant == (row.printed_delta != "~")
    assert result.p_value == round(row.p, 4)
    if result.significant:
        assert (f"{result.delta_pct:+.2f}%" if result.delta_pct else "0.00%") == row.printed_delta


@pytest.mark.parametrize(("row_id", "limit", "moved_to"), [
    ("extra:NoTies50v50", "EXACT_LIMIT", 49),  # exact: the normal approximation would differ
    ("extra:NoTies50v51", "EXACT_LIMIT", 51),  # normal: the exact distribution would differ
    ("extra:Ties25v25", "TIES_EXACT_LIMIT", 24),
    ("extra:Ties25v26", "TIES_EXACT_LIMIT", 26),
    ("extra:Ties3v25", "TIES_EXACT_LIMIT", 24),
    ("extra:Ties3v26", "TIES_EXACT_LIMIT", 26),
])
def test_exact_normal_switch_is_benchstats(monkeypatch: pytest.MonkeyPatch, row_id: str, limit: str,
                                           moved_to: int) -> None:
    row = BY_ID[row_id]
    assert mann_whitney_p(row.before, row.after) == pytest.approx(row.p, rel=1e-13, abs=0)
    monkeypatch.setattr(stats, limit, moved_to)
    assert mann_whitney_p(row.before, row.after) != pytest.approx(row.p, rel=1e-4)


def test_compare_follows_benchstats_decisions() -> None:
    slow = [100.0, 101.0, 99.5, 100.5, 100.2]
    fast = [80.0, 81.0, 79.0, 80.5, 80.2]
    assert compare(slow, fast) == Comparison(delta_pct=-19.96, p_value=0.0079, significant=True)  # p = 2/252
    overlap = compare([100.0, 102.0, 98.0, 101.0, 99.0], [101.0, 99.5, 100.5, 98.5, 102.5])
    assert overlap is not None and not overlap.significant and overlap.text().startswith("~")
    # No minimum sample size, but 1 against 1 can only give p = 1.
    assert compare([1.0], [2.0]) == Comparison(delta_pct=100.0, p_value=1.0, significant=False)
    assert compare([], [2.0]) is None and compare([1.0], []) is None  # benchstat: no cell, no comparison
    # All values equal: the U test fails and benchstat reports p = 1, "~".
    assert compare([1.0, 1.0], [1.0, 1.0]) == Comparison(delta_pct=0.0, p_value=1.0, significant=False)
    # 3 values against 5 can be significant (benchstat warns only when both have fewer than 4).
    small = compare([1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0, 8.0])
    assert small is not None and small.significant and small.p_value == 0.0357  # 2/56
    # p equal to alpha is significant: benchstat says "~" only when p > 0.05.
    boundary = BY_ID["extra:AlphaBoundary3v7Ties"]
    assert mann_whitney_p(boundary.before, boundary.after) == 0.05 == boundary.p
    assert boundary.printed_delta == "-60.00%"
    result = compare(boundary.before, boundary.after)
    assert result is not None and result.significant


def test_mann_whitney_p_edge_cases() -> None:
    assert mann_whitney_p([5.0, 5.0], [5.0, 5.0, 5.0]) == 1.0  # ErrSamplesEqual: nothing to tell apart
    assert mann_whitney_p([5.0] * 30, [5.0] * 40) == 1.0  # the same, on the normal approximation's side
    assert mann_whitney_p([1.0], [2.0]) == 1.0  # one ordering of two is as likely as the other
    assert mann_whitney_p([1.0, 2.0, 2.0, 3.0], [3.0, 2.0, 2.0, 1.0]) == 1.0  # U at the centre
    with pytest.raises(ValueError, match="at least one value"):
        mann_whitney_p([], [1.0])


def _orderings(n1: int, ranks: list[float]) -> Counter[float]:
    """U of x for every choice of which n1 of the (tied) ranked values are x's, by brute force."""
    counts: Counter[float] = Counter()
    for chosen in itertools.combinations(range(len(ranks)), n1):
        others = [ranks[i] for i in range(len(ranks)) if i not in chosen]
        counts[sum(1.0 if ranks[i] > v else 0.5 if ranks[i] == v else 0.0 for i in chosen for v in others)] += 1
    return counts


@pytest.mark.parametrize(("n1", "n2"), [(1, 1), (2, 2), (3, 5), (5, 3), (4, 6)])
def test_exact_u_distribution_without_ties(n1: int, n2: int) -> None:
    counts = _orderings(n1, [float(i) for i in range(n1 + n2)])
    pmf = stats._u_pmf(n1, n2, n1 * n2)
    assert len(pmf) == n1 * n2 + 1
    assert pmf == pytest.approx([counts[u] / math.comb(n1 + n2, n1) for u in range(n1 * n2 + 1)], rel=1e-12)
    assert sum(pmf) == pytest.approx(1.0, rel=1e-12)


@pytest.mark.parametrize(("n1", "ties"), [(2, [2, 2]), (3, [2, 1, 3, 2]), (4, [1, 3, 1, 4, 1]), (2, [5, 1])])
def test_exact_u_distribution_with_ties(n1: int, ties: list[int]) -> None:
    ranks = [float(rank) for rank, size in enumerate(ties) for _ in range(size)]
    counts = _orderings(n1, ranks)
    cumulative = 0
    for two_u in range(2 * n1 * (len(ranks) - n1) + 1):
        cumulative += counts[two_u / 2]
        if cumulative:  # from the smallest U there is (go-moremath is only asked about a U there is)
            # orderings with U <= two_u / 2: exact integers (as floats), as in Go
            assert stats._tie_counts(two_u, n1, ties)[(n1, two_u)] == cumulative
    assert cumulative == math.comb(len(ranks), n1)


def test_recorded_runs_compare_like_benchstat() -> None:
    """As the report pairs them: each benchmark's ns/op samples against the previous version's, per case.

    The inputs are tests/data/recorded's bench.txt files as committed when benchstat was run (README).
    """
    checked = 0
    for case_dir in sorted((BENCHSTAT / "inputs" / "recorded").iterdir()):
        versions = sorted((path.stem for path in case_dir.glob("go*.txt")),
                          key=lambda v: tuple(int(part) for part in v.removeprefix("go").split(".")))
        for old, new in itertools.pairwise(versions):
            before, after = _ns_samples(case_dir / f"{old}.txt"), _ns_samples(case_dir / f"{new}.txt")
            for name in sorted(before.keys() & after.keys()):
                row = BY_ID[f"recorded/{case_dir.name}/{old}-vs-{new}:{name}"]
                assert (row.before, row.after) == (before[name], after[name])
                result = compare(before[name], after[name])
                assert result is not None and result.significant == (row.printed_delta != "~")
                assert result.p_value == round(row.p, 4)
                checked += 1
    assert checked == 39 == sum(row.id.startswith("recorded/") for row in BENCHSTAT_ROWS)


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
