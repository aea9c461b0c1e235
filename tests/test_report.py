from __future__ import annotations

from pathlib import Path
from typing import Any

from markdown_it import MarkdownIt

from gomatrix.cases import discover_cases
from gomatrix.errors import CellFileError
from gomatrix.report import build_report, describe_runs, md_code, md_text, render_markdown, version_key
from gomatrix.schemas import validate
from tests.recorded import ROOT, recorded_cell

SEED = ("array", "makeslice", "sliceappend")


def seed_cells(tmp_path: Path) -> list[dict[str, Any]]:
    return [recorded_cell(v, c, tmp_path, arch=a, emulated=a == "arm64")
            for v in ("1.24.11", "1.23.9") for a in ("amd64", "arm64") for c in SEED]


def seed_report(tmp_path: Path) -> dict[str, Any]:
    cells = seed_cells(tmp_path)
    for cell in cells:
        validate(cell, "cell", where=cell["key"], error_cls=CellFileError)
    report = build_report(cells, discover_cases(ROOT / "cases"), generated_at="2026-11-25T20:00:00Z")
    validate(report, "report", where="report", error_cls=CellFileError)
    return report


def test_columns_are_ordered_by_version_then_arch(tmp_path: Path) -> None:
    report = seed_report(tmp_path)
    assert [c["id"] for c in report["columns"]] == [
        "go1.23.9 amd64", "go1.23.9 arm64", "go1.24.11 amd64", "go1.24.11 arm64"]
    assert [c["emulated"] for c in report["columns"]] == [False, True, False, True]


def test_array_site_moves_from_stack_to_heap(tmp_path: Path) -> None:
    report = seed_report(tmp_path)
    array = next(c for c in report["cases"] if c["name"] == "array")
    site = next(s for s in array["sites"] if (s["file"], s["line"]) == ("array_test.go", 9))
    verdicts = {col: v["verdict"] for col, v in site["verdicts"].items()}
    assert verdicts == {"go1.23.9 amd64": "stack (no diagnostic)", "go1.23.9 arm64": "stack (no diagnostic)",
                        "go1.24.11 amd64": "heap", "go1.24.11 arm64": "heap"}
    changes = [c for c in report["changes"] if c["case"] == "array"]
    texts = {(c["kind"], c["subject"]): (c["text"], c["arches"]) for c in changes}
    assert texts[("escape", "array_test.go:9 arr")] == (
        "stack up to go1.23.9, heap from go1.24.11", ["amd64", "arm64"])
    assert texts[("allocs", "BenchmarkEaArray1")] == (
        "0 allocs/op up to go1.23.9, 1 allocs/op from go1.24.11", ["amd64", "arm64"])
    assert ("allocs", "BenchmarkEaArray2") not in texts  # 1 alloc on both: no change


def test_claims_are_verified_per_column(tmp_path: Path) -> None:
    report = seed_report(tmp_path)
    claims = {cl["id"]: cl for case in report["cases"] for cl in case["claims"]}
    assert claims["array-10mib-stack"]["results"] == {
        "go1.23.9 amd64": True, "go1.23.9 arm64": True, "go1.24.11 amd64": False, "go1.24.11 arm64": False}
    assert claims["array-10mib-stack"]["changes"] == ["holds up to go1.23.9, fails from go1.24.11 (amd64, arm64)"]
    assert all(claims["make-variable-cap-heap"]["results"].values())
    # The recorded compilers keep a 64 KiB constant make on the stack: the 2016 claim fails.
    assert not any(claims["make-64kib-heap"]["results"].values())
    assert all(claims["append-three-growths"]["results"].values())


def test_failed_cell_is_listed_and_others_complete(tmp_path: Path) -> None:
    cells = [recorded_cell(v, c, tmp_path) for v in ("1.23.9", "1.24.11") for c in ("newonly", "plain")]
    failed = next(c for c in cells if c["key"] == "newonly--go1.23.9--amd64")
    assert failed["status"] == "failed"
    assert "b.Loop undefined" in failed["reason"]
    assert [c["status"] for c in cells if c is not failed] == ["ok", "ok", "ok"]
    report = build_report(cells, [], generated_at="t")
    validate(report, "report", where="report", error_cls=CellFileError)
    markdown = render_markdown(report)
    assert "b.Loop undefined" in markdown
    newonly = next(c for c in report["cases"] if c["name"] == "newonly")
    assert set(newonly["benchmarks"][0]["results"]) == {"go1.24.11 amd64"}


def test_markdown_tables_have_the_expected_shape(tmp_path: Path) -> None:
    report = seed_report(tmp_path)
    markdown = render_markdown(report)
    tokens = MarkdownIt("commonmark").enable("table").parse(markdown)
    tables: list[list[list[str]]] = []
    row: list[str] = []
    in_cell = False
    for token in tokens:
        if token.type == "table_open":
            tables.append([])
        elif token.type == "tr_open":
            row = []
        elif token.type in ("th_open", "td_open"):
            in_cell = True
        elif token.type == "inline" and in_cell:
            row.append(token.content)
            in_cell = False
        elif token.type == "tr_close":
            tables[-1].append(row)
    assert len(tables) == 1 + 3 * 3 + 1  # claims; per case benchmarks, compiler vs measurement, escapes; cells
    claims_table = tables[0]
    assert claims_table[0] == ["case", "claim", "go1.23.9 amd64", "go1.23.9 arm64 †", "go1.24.11 amd64",
                               "go1.24.11 arm64 †"]
    assert len(claims_table) == 1 + 12
    assert all(len(r) == 6 for r in claims_table)
    cells_table = tables[-1]
    assert len(cells_table) == 1 + 12 and all(len(r) == 8 for r in cells_table)
    assert "stack up to go1.23.9, heap from go1.24.11" in markdown
    assert "✅" in markdown and "❌" in markdown


def test_markdown_escaping() -> None:
    assert md_text("a|b <script>") == "a\\|b \\<script\\>"
    assert md_text("two\nlines") == "two lines"
    assert "|" not in md_code("x | y")
    assert md_code("a`b") == "`` a`b ``"


def test_describe_runs_and_version_order() -> None:
    assert describe_runs([("stack", "go1.21", "go1.23"), ("heap", "go1.24", "go1.24"),
                          ("stack", "go1.25", "go1.27")]) == (
        "stack up to go1.23, heap in go1.24, stack from go1.25")
    assert sorted(["go1.9.1", "go1.24.11", "go1.24", "go1.10"], key=version_key) == [
        "go1.9.1", "go1.10", "go1.24", "go1.24.11"]


def test_durations_have_no_exponent() -> None:
    from gomatrix.report import format_duration

    assert [format_duration(v) for v in (0.2738, 72.57, 182.3, 250484, 5094869, 2.5e9, None)] == [
        "0.274 ns", "72.6 ns", "182 ns", "250 µs", "5.09 ms", "2.5 s", "?"]


def test_heap_sites_show_the_compilers_reason(tmp_path: Path) -> None:
    report = seed_report(tmp_path)
    makeslice = next(c for c in report["cases"] if c["name"] == "makeslice")
    site = next(s for s in makeslice["sites"] if s["line"] == 21 and s["file"] == "makeslice_test.go")
    assert {v["reason"] for v in site["verdicts"].values()} == {"non-constant size"}
    markdown = render_markdown(report)
    assert "heap (non-constant size)" in markdown and "heap (too large for stack)" in markdown
