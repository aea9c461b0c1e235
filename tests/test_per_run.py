"""Allocations made once per run, spread over other numbers of ops, are not a change between Go versions.

The figures are valyala/fastjson v1.6.3's `BenchmarkObjectGet/items_100000/lookups_0`, exact runs on go1.24.11
and go1.26.6 (amd64, this machine): 96 allocations and 71,733,280 B in each run, over 78 ops and over 42, so
1.231 and 2.286 allocs/op; and `parser_timing_test.go:232` (RunParallel's 5 allocations per run) measured
for `BenchmarkParse/citm/fastjson-get` over 188 and 100 ops."""

from __future__ import annotations

import copy
import json
from typing import Any

from gomatrix.analysis.evidence import (
    ChangeKind,
    Column,
    Evidence,
    Site,
    SiteCell,
    benchmark_changes,
    per_run_steps,
    site_changes,
)
from gomatrix.analysis.markdown import render_markdown
from gomatrix.analysis.since import SinceChange, SinceKind, changes_since
from gomatrix.results.sites import Compiler, Measured
from tests.recorded import ROOT

COLUMNS = (Column("go1.24.11 amd64", "go1.24.11", "amd64", False), Column("go1.26.6 amd64", "go1.26.6", "amd64", False))


def _result(allocs: int, total_bytes: int, ops: int) -> dict[str, Any]:
    return {"allocs_per_op": allocs // ops, "bytes_per_op": total_bytes // ops, "exact_allocs_per_op": allocs / ops,
            "exact_bytes_per_op": total_bytes / ops, "exact_iterations": ops, "allocs_exact": True}


def _bench(*results: dict[str, Any]) -> dict[str, Any]:
    return {"name": "BenchmarkObjectGet/items_100000/lookups_0", "package": "github.com/valyala/fastjson",
            "results": {c.id: r for c, r in zip(COLUMNS, results, strict=True)}, "linked_ranges": []}


def test_the_same_allocations_per_run_over_other_numbers_of_ops_are_not_a_change() -> None:
    bench = _bench(_result(96, 71_733_280, 78), _result(96, 71_733_280, 42))
    assert benchmark_changes("fastjson", bench, COLUMNS, ()) == []
    [(before, after, old, new)] = per_run_steps(bench, COLUMNS)
    assert (before.go_version, after.go_version, old.iterations, new.iterations) == ("go1.24.11", "go1.26.6", 78, 42)
    assert round(old.exact_allocs_per_op or 0, 3) == 1.231 and round(new.exact_allocs_per_op or 0, 3) == 2.286


def test_a_runtime_allocation_more_in_a_run_is_still_the_same_run() -> None:
    bench = _bench(_result(96, 71_733_280, 78), _result(98, 71_733_312, 42))
    assert benchmark_changes("fastjson", bench, COLUMNS, ()) == []


def test_whole_counts_per_op_are_per_op_even_when_two_runs_made_as_many() -> None:
    """1 allocation per op over 78 ops makes 78, as 2 per op over 39 do: a change of the count per op."""
    bench = _bench(_result(78, 78 * 64, 78), _result(78, 78 * 64, 39))
    changes = benchmark_changes("fastjson", bench, COLUMNS, ())
    assert [c.kind for c in changes] == [ChangeKind.BENCHMARK_ALLOCS, ChangeKind.BENCHMARK_BYTES]
    assert [(r.first, r.value) for r in changes[0].runs] == [("go1.24.11", 1.0), ("go1.26.6", 2.0)]
    assert per_run_steps(bench, COLUMNS) == []


def test_as_many_allocations_of_other_sizes_are_a_change() -> None:
    bench = _bench(_result(96, 71_733_280, 78), _result(96, 2 * 71_733_280, 42))
    assert [c.kind for c in benchmark_changes("fastjson", bench, COLUMNS, ())] == [
        ChangeKind.BENCHMARK_ALLOCS, ChangeKind.BENCHMARK_BYTES]
    assert per_run_steps(bench, COLUMNS) == []


def _site(*measured: tuple[Measured, ...]) -> Site:
    cells = {c.id: SiteCell(Compiler.HEAP, "func literal escapes to heap", None, m, True, Evidence.HEAP)
             for c, m in zip(COLUMNS, measured, strict=True)}
    return Site("parser_timing_test.go:232:2", "parser_timing_test.go", 232, 2, "b.RunParallel(func(pb *testing.PB) {",
                cells, "github.com/valyala/fastjson")


def test_a_site_whose_benchmark_made_the_same_allocations_per_run_did_not_change() -> None:
    """5 allocations per run: 0.027 allocs/op over 188 ops (under the threshold of allocating), 0.05 over 100."""
    name = "BenchmarkParse/citm/fastjson-get"
    site = _site((Measured(name, 5 / 188, 160 / 188, ("testing.(*B).RunParallel",), 188),),
                 (Measured(name, 5 / 100, 160 / 100, ("testing.(*B).RunParallel",), 100),))
    assert [c.kind for c in site_changes("fastjson", site, COLUMNS)] == []
    # the same figures from a cell that did not record the profiled run's ops: a change, as before
    old = _site((Measured(name, 5 / 188, 160 / 188),), (Measured(name, 5 / 100, 160 / 100),))
    assert [c.kind for c in site_changes("fastjson", old, COLUMNS)] == [ChangeKind.SITE_ALLOCATIONS]


def test_a_site_that_allocates_per_op_on_one_version_only_changed() -> None:
    name = "BenchmarkParse/citm/fastjson-get"
    site = _site((), (Measured(name, 1.0, 16.0, (), 100),))
    [change] = site_changes("fastjson", site, COLUMNS)
    assert change.kind == ChangeKind.SITE_ALLOCATIONS
    assert [r.value for r in change.runs] == [(), ((name, 1.0),)]


def test_the_first_screen_counts_them_unchanged_and_gives_the_widest_example() -> None:
    report = copy.deepcopy(json.loads((ROOT / "reports" / "2026-11-30" / "report.json").read_text()))
    for case in report["cases"]:
        case["claims"] = []

    def step(name: str, ops_after: int) -> dict[str, Any]:
        return {"case": "fastjson", "package": "github.com/valyala/fastjson", "benchmark": name, "arch": "amd64",
                "before": "go1.24.11", "after": "go1.26.6", "allocs_per_run": 96.0, "bytes_per_run": 71_733_280.0,
                "ops_before": 78, "ops_after": ops_after, "allocs_per_op_before": 96 / 78,
                "allocs_per_op_after": 96 / ops_after}
    report["overview"] = {"benchmarks": 2, "sites": 0, "allocating_sites": 0, "changed_benchmarks": 0,
                          "unchanged_benchmarks": 2, "steps": [],
                          "per_run": [step("BenchmarkObjectGet/items_100000/lookups_1", 70),
                                      step("BenchmarkObjectGet/items_100000/lookups_0", 42)]}
    first = render_markdown(report).split("## What changed between Go versions", 1)[1].split("\n## ", 1)[0]
    assert "**0 changed** allocs/op or B/op between versions, 2 unchanged." in first
    assert ("Unchanged although their allocs/op or B/op differ between versions: 2 benchmarks whose exact runs "
            "made the same allocations per run") in first
    assert ("`BenchmarkObjectGet/items_100000/lookups_0` on amd64: 96 allocations and 68.41 MiB in each run, over "
            "78 ops on go1.24.11 (1.231 allocs/op) and 42 on go1.26.6 (2.286 allocs/op)") in first


def test_since_the_previous_run_the_same_allocations_per_run_over_other_ops_are_no_change() -> None:
    """Two nightly runs of one version: go test's ramp-up gave the exact run 78 ops, then 42."""
    previous = json.loads((ROOT / "reports" / "2026-11-30" / "report.json").read_text())
    current = copy.deepcopy(previous)
    column = "go1.21.13 amd64"
    for report, ops, allocs in ((previous, 78, 96), (current, 42, 96)):
        report["cases"][0]["benchmarks"][0]["results"][column].update(_result(allocs, 71_733_280, ops))
    assert changes_since(previous, current) == [SinceChange(SinceKind.NONE)]
    current["cases"][0]["benchmarks"][0]["results"][column].update(_result(42 * 3, 42 * 3 * 64, 42))
    [change] = changes_since(previous, current)
    assert change.kind == SinceKind.ALLOCS
