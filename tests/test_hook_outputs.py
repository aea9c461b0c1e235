"""The hook's outputs, recorded from real runs (tests/data/recorded/go*/shapes), and the typed values built
from them: names as go test prints them, exact totals, per-line profiles with callees, budgets, marks."""

from __future__ import annotations

from pathlib import Path

import pytest

from gomatrix.analysis.budgets import BudgetStatus, check_budgets
from gomatrix.analysis.document import build_report
from gomatrix.analysis.evidence import Column
from gomatrix.analysis.markdown import render_markdown
from gomatrix.core.errors import CaseError, ConfigError
from gomatrix.core.kinds import Timings
from gomatrix.core.values import describe_versions
from gomatrix.plan.budgets import Limit, parse_budgets
from gomatrix.plan.cases import discover_cases, load_case
from gomatrix.plan.config import cli_overrides, load_config
from gomatrix.results.coverage import executed_lines, parse_coverage, run_lines
from gomatrix.results.profile import account, parse_sites
from tests.recorded import RECORDED, SHAPES, recorded_cell

VERSIONS = ("1.24.11", "1.26.6")


def test_parse_sites_reads_packages_callees_and_the_done_lines() -> None:
    text = ("gomatrix-package: example.com/m\n"
            "gomatrix-line BenchmarkA/x=1 100 100 1600 100 - a.go:3\n"
            "gomatrix-line BenchmarkA/x=1 100 200 4800 0 strconv.Itoa a.go:9\n"
            "gomatrix-line BenchmarkA/x=1 100 1 16 1 - func:runtime\n"
            "gomatrix-site-done BenchmarkA/x=1 100 301 6416 0\n"
            "gomatrix-package: example.com/m/sub\n"
            "gomatrix-site-error BenchmarkA/x=1 profile-buffer-grown\n")
    profiles, errors = parse_sites(text)
    profile = profiles[("example.com/m", "BenchmarkA/x=1")]
    assert errors == {("example.com/m/sub", "BenchmarkA/x=1"): "profile-buffer-grown"}
    accounting = account(profile, 3.01)
    lines = {(m.file, m.line): m for m in accounting.lines}
    called = lines[("a.go", 9)]
    assert called.allocs_per_op == 2 and [c.function for c in called.callees] == ["strconv.Itoa"]
    assert lines[("a.go", 3)].callees == ()
    assert [e.function for e in accounting.elsewhere] == ["runtime"]
    # 3 of the profiled run's 3.01 allocs/op are at lines of the case: within the tolerance
    assert accounting.adds_up is True and accounting.note is None
    off = account(profile, 4.0)  # the exact run counted more than the profiled run: said, not hidden
    assert off.adds_up is False and off.note is not None and "the exact run 4" in off.note


@pytest.mark.parametrize("version", VERSIONS)
def test_recorded_shapes_every_benchmark_exact_agreeing_and_adding_up(version: str, tmp_path: Path) -> None:
    cell = recorded_cell(version, "shapes", tmp_path)
    names = {b["name"] for b in cell["benchmarks"]}
    assert names == {"BenchmarkTable/n=1/a_b", "BenchmarkTable/n=1/c", "BenchmarkTable/n=64/a_b",
                     "BenchmarkTable/n=64/c", "BenchmarkTestdata", "BenchmarkLabel", "BenchmarkLoop",
                     "BenchmarkExternal"}
    for bench in cell["benchmarks"]:
        assert bench["exact"]["go_test_agrees"] is True, bench["name"]
        assert bench["profile"]["adds_up"] is True, (bench["name"], bench["profile"]["note"])
        assert bench["samples"]  # recorded with timings: the timed samples are there too
    # a sub-benchmark links to the Benchmark function that calls b.Run
    table = next(b for b in cell["benchmarks"] if b["name"] == "BenchmarkTable/n=1/a_b")
    assert [r["function"] for r in table["linked"]] == ["BenchmarkTable"]
    label = next(s for s in cell["sites"] if (s["file"], s["line"]) == ("shapes.go", 15))
    assert label["measured"] and all(m["allocs_per_op"] > 0 for m in label["measured"])
    assert "gomatrix-exact BenchmarkTable/n=1/a_b " in (RECORDED / f"go{version}-linux-amd64" / "shapes" /
                                                        "exact.txt").read_text()


@pytest.mark.parametrize("version", VERSIONS)
def test_lines_run_are_measured_by_coverage_and_limited_to_the_timed_loops(version: str, tmp_path: Path) -> None:
    cell = recorded_cell(version, "shapes", tmp_path)
    executed = executed_lines(cell["executed"])
    assert ("shapes.go", 15) in executed  # Label, called from BenchmarkLabel's loop
    assert "shapes_test.go" not in cell["executed"]  # go test instruments no _test.go file: linked lines stand
    sites = {(s["file"], s["line"], s["column"]): s for s in cell["sites"]}
    # the closures handed to b.Run are made in BenchmarkTable's setup: executed, yet outside any timed loop,
    # so "escapes to heap" there is not set against a measurement of the timed ops
    closure = sites[("shapes_test.go", 13, 29)]
    assert closure["compiler"] == "heap" and closure["covered"] is False
    report = build_report([cell], [load_case(SHAPES / "shapes")], generated_at="2026-12-04T12:00:00Z")
    assert not any(d["site"].startswith("shapes_test.go:13:") for d in report["disagreements"])
    executed_ranges = parse_coverage("mode: set\nm/a.go:3.1,5.2 2 1\nm/a.go:6.1,6.9 1 1\nm/b.go:1.1,2.2 1 0\n"
                                     "other/c.go:1.1,1.2 1 1\n", "m")
    assert executed_ranges == {"a.go": [(3, 6)], "b.go": []}
    # an error branch of an instrumented file that never ran is not a line a benchmark runs
    assert run_lines({("a.go", 4), ("b.go", 1), ("x_test.go", 9)}, executed_ranges) == {("a.go", 4), ("x_test.go", 9)}


def test_budgets_are_checked_on_exact_figures_only_and_within_their_versions(tmp_path: Path) -> None:
    cells = [recorded_cell(v, "shapes", tmp_path / v) for v in VERSIONS]
    case = load_case(SHAPES / "shapes")
    report = build_report(cells, [case], generated_at="2026-12-04T12:00:00Z")
    [doc] = report["cases"]
    table, external = doc["budgets"]
    assert (table["benchmarks"], table["checked"], table["broken"]) == (4, 8, [])
    assert [(c["benchmark"], c["go_version"], c["allocs_per_op"]) for c in external["broken"]] == [
        ("BenchmarkExternal", f"go{v}", pytest.approx(1, abs=0.01)) for v in VERSIONS]
    # truncated figures never decide a budget: without the exact figure it is unmeasured
    rows = [{"name": "BenchmarkX", "results": {"go1.24.11 amd64": {"exact_allocs_per_op": None,
                                                                    "exact_bytes_per_op": None,
                                                                    "allocs_per_op": 0.0}}}]
    [result] = check_budgets(parse_budgets([{"benchmark": "Benchmark.*", "allocs_per_op": {"max": 0}}]), rows,
                             [Column("go1.24.11 amd64", "go1.24.11", "amd64", False)])
    assert (result.checked, result.unmeasured, result.broken) == (0, 1, ())
    assert not parse_budgets([{"benchmark": "B", "allocs_per_op": 1, "since": "1.25"}])[0].applies(
        "B", None, "go1.24.11")
    assert BudgetStatus.BROKEN.value == "broken"
    markdown = render_markdown(report)
    assert "**2 broken**" in markdown and "1 alloc/op exact" in markdown


def test_a_budget_limit_is_compared_within_the_exact_count_tolerance() -> None:
    assert Limit(max=2).holds(2.004, tolerant=True) and not Limit(max=2).holds(2.1, tolerant=True)
    assert not Limit(max=0).holds(0.03, tolerant=False) and Limit(min=1, max=1).text() == "1"


def test_a_budget_regexp_that_does_not_compile_names_the_file(tmp_path: Path) -> None:
    case = tmp_path / "bad"
    case.mkdir()
    (case / "x_test.go").write_text("package x\n")
    (case / "case.yaml").write_text('budgets:\n  - benchmark: "Benchmark(["\n    allocs_per_op: 0\n')
    with pytest.raises(CaseError, match="not a regular expression"):
        discover_cases(tmp_path)
    matrix = tmp_path / "matrix.yaml"
    (tmp_path / "mod").mkdir()
    head = "versions: ['1.24.11']\narches: [amd64]\n"
    matrix.write_text(head + 'cases:\n  - module: mod\n    budgets:\n      - benchmark: "("\n        bytes_per_op: 0\n')
    with pytest.raises(ConfigError, match="not a regular expression"):
        load_config(matrix)
    matrix.write_text(head + 'cases:\n  - module: mod\n    budgets:\n      - benchmark: "B"\n')  # no limit
    with pytest.raises(ConfigError):
        load_config(matrix)


def test_timings_choose_which_cells_take_timed_samples() -> None:
    assert Timings.NATIVE.timed(emulated=False) and not Timings.NATIVE.timed(emulated=True)
    assert not Timings.OFF.timed(emulated=False) and Timings.ALL.timed(emulated=True)
    assert cli_overrides(timings="off") == {"bench": {"timings": "off"}}
    with pytest.raises(ConfigError, match="--timings"):
        cli_overrides(timings="sometimes")


def test_truncated_figures_are_marked_and_a_single_version_reads_only_on(tmp_path: Path) -> None:
    cell = recorded_cell("1.24.11", "shapes", tmp_path)
    for bench in cell["benchmarks"]:
        if bench["name"] == "BenchmarkLabel":
            bench["exact"] = None  # as a toolchain whose testing could not take the hook
    report = build_report([cell], [load_case(SHAPES / "shapes")], generated_at="2026-12-04T12:00:00Z")
    rows = {b["name"]: b for b in report["cases"][0]["benchmarks"]}
    assert rows["BenchmarkLabel"]["results"]["go1.24.11 amd64"]["allocs_exact"] is False
    assert rows["BenchmarkLoop"]["results"]["go1.24.11 amd64"]["allocs_exact"] is True
    markdown = render_markdown(report)
    label_row = next(line for line in markdown.splitlines() if line.startswith("| `BenchmarkLabel`"))
    loop_row = next(line for line in markdown.splitlines() if line.startswith("| `BenchmarkLoop`"))
    assert "≥" in label_row and "**" not in label_row.split("|")[2]
    assert "**1** allocs" in loop_row and "≥" not in loop_row
    assert "≥N marks go test -benchmem's truncated median" in markdown
    assert describe_versions(["go1.25.5"], ["go1.24.11", "go1.25.5", "go1.26.6"]) == "only on go1.25.5"


def test_the_first_screen_names_what_changed_between_versions_with_its_sites(tmp_path: Path) -> None:
    old, new = (recorded_cell(v, "shapes", tmp_path / v) for v in VERSIONS)
    # as if go1.26.6 allocated once more per op at Label's line (the recorded runs agree with each other)
    bench = next(b for b in new["benchmarks"] if b["name"] == "BenchmarkLabel")
    bench["exact"]["allocs"] += bench["exact"]["iterations"]
    bench["exact"]["allocs_per_op"] += 1
    site = next(s for s in new["sites"] if (s["file"], s["line"]) == ("shapes.go", 15))
    for measured in site["measured"]:
        if measured["benchmark"] == "BenchmarkLabel":
            measured["allocs_per_op"] += 1
    report = build_report([old, new], [load_case(SHAPES / "shapes")], generated_at="2026-12-04T12:00:00Z")
    view = report["overview"]
    assert (view["benchmarks"], view["changed_benchmarks"]) == (8, 1)
    [step] = [s for s in view["steps"] if s["kind"] == "benchmark allocs/op"]
    assert (step["benchmark"], step["exact"], step["after"]["first"]) == ("BenchmarkLabel", True, "go1.26.6")
    assert [s["site"] for s in step["sites"]] == [site_id(site)]
    markdown = render_markdown(report)
    first = markdown.split("## What changed between Go versions", 1)[1].split("\n## ", 1)[0]
    assert "`BenchmarkLabel`: **3 allocs/op → 4 allocs/op** from go1.26.6" in first
    assert "`shapes.go:15:" in first and "1 changed" in first and "7 unchanged" in first


def site_id(site: dict[str, object]) -> str:
    return f"{site['file']}:{site['line']}:{site['column']}"
