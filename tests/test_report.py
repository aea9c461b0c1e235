"""The report from real recorded outputs (go1.23.9 to go1.26.6): sites as evidence, claims, changes."""

from __future__ import annotations

import dataclasses
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt

from gomatrix.analysis.document import build_report
from gomatrix.analysis.markdown import render_markdown
from gomatrix.core.errors import CellFileError
from gomatrix.core.schemas import validate
from gomatrix.core.values import (
    allocs_equal,
    describe_versions,
    fmt_bytes,
    format_duration,
    md_code,
    md_text,
    version_key,
)
from gomatrix.plan.cases import Case, discover_cases
from tests.recorded import ROOT, recorded_cell

VERSIONS = ("1.23.9", "1.24.11", "1.25.5", "1.26.6")
CASES = ("appendloop", "array", "makeslice", "makevar", "sliceappend")


@cache
def _cells(tmp: str) -> tuple[dict[str, Any], ...]:
    return tuple(recorded_cell(v, c, Path(tmp), arch=a, emulated=a == "arm64")
                 for v in VERSIONS for a in ("amd64", "arm64") for c in CASES)


@pytest.fixture(scope="module")
def cells(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], ...]:
    return _cells(str(tmp_path_factory.mktemp("recorded")))


@pytest.fixture(scope="module")
def report(cells: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    for cell in cells:
        validate(cell, "cell", where=cell["key"], error_cls=CellFileError)
    doc = build_report(cells, discover_cases(ROOT / "cases"), generated_at="2026-11-30T12:00:00Z")
    validate(doc, "report", where="report", error_cls=CellFileError)
    return doc


def _case(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in report["cases"] if c["name"] == name)


def _sites_at(report: dict[str, Any], case: str, file: str, line: int) -> list[dict[str, Any]]:
    return [s for s in _case(report, case)["sites"] if (s["file"], s["line"]) == (file, line)]


def _allocs(cell: dict[str, Any]) -> float:
    return float(sum(m["allocs_per_op"] for m in cell["measured"] or []))


def test_a_site_is_a_position_matched_across_wordings(report: dict[str, Any]) -> None:
    # go1.25 reworded make([]byte, cap, cap) as make([]byte, cap, 1024): still one site.
    [site] = _sites_at(report, "makeslice", "makeslice_test.go", 21)
    assert site["source"] == "make([]byte, cap, cap)"
    assert site["id"] == "makeslice_test.go:21:8"
    by_version = {col.split()[0]: cell for col, cell in site["cells"].items() if col.endswith("amd64")}
    assert {v: c["compiler"] for v, c in by_version.items()} == {
        "go1.23.9": "heap", "go1.24.11": "heap", "go1.25.5": "stack", "go1.26.6": "stack"}
    assert {v: round(_allocs(c), 3) for v, c in by_version.items()} == {
        "go1.23.9": 1.0, "go1.24.11": 1.0, "go1.25.5": 0.0, "go1.26.6": 0.0}
    assert {v: c["evidence"] for v, c in by_version.items()} == {
        "go1.23.9": "heap (measured)", "go1.24.11": "heap (measured)",
        "go1.25.5": "stack (nothing measured)", "go1.26.6": "stack (nothing measured)"}
    [site30] = _sites_at(report, "makeslice", "makeslice_test.go", 30)  # 65536 vs 1024 * 64: one site
    assert site30["source"] == "make([]byte, 0, 1024*64)"


def test_parameters_are_not_sites(report: dict[str, Any]) -> None:
    for case in report["cases"]:
        for site in case["sites"]:
            assert not site["source"].startswith("b "), site
            assert site["source"] not in ("b", "t"), site


def test_append_lines_allocate_and_are_never_called_stack(report: dict[str, Any]) -> None:
    sites = [s for s in _case(report, "sliceappend")["sites"] if s["file"] == "sliceappend_test.go"
             and s["source"].startswith("append(")]
    assert len(sites) == 7
    for column in report["columns"]:
        cells = [s["cells"][column["id"]] for s in sites]
        assert allocs_equal(sum(_allocs(c) for c in cells), 3.0), column
        for cell in cells:
            if _allocs(cell) > 0:
                assert cell["evidence"] in ("no diagnostic, allocates", "compiler says does not escape, allocates")
            assert cell["evidence"] != "stack (nothing measured)" or _allocs(cell) == 0


def test_the_ten_mib_array_is_measured_on_the_heap_from_go124(report: dict[str, Any]) -> None:
    [site] = _sites_at(report, "array", "array_test.go", 9)
    for column, cell in site["cells"].items():
        if version_key(column.split()[0]) >= version_key("go1.24"):
            assert cell["evidence"] == "heap (measured)" and cell["compiler"] == "heap"
            [measured] = cell["measured"]
            assert allocs_equal(measured["allocs_per_op"], 1.0)
            assert abs(measured["bytes_per_op"] / measured["allocs_per_op"] - 10 * 2**20) < 1024
        else:  # the compiler is silent there: nothing is inferred from that, but nothing was measured
            assert cell["measured"] == [] and cell["compiler"] == "none"
            assert cell["evidence"] == "nothing measured, no diagnostic"
    markdown = render_markdown(report)
    assert "fails from go1.24.11: `moved to heap: arr` (too large for stack), 1 alloc/op of 10 MiB measured at " \
           "`array_test.go:9`" in markdown


def test_appendloop_names_go126_and_no_allocation_change_at_go125(report: dict[str, Any]) -> None:
    changes = [c for c in report["changes"] if c["case"] == "appendloop"]
    collect10 = [c for c in changes if c["subject"] == "BenchmarkCollect10" and c["kind"] == "benchmark allocs/op"]
    assert len(collect10) == 1
    assert [(r["first"], r["last"], r["value"]) for r in collect10[0]["runs"]] == [
        ("go1.23.9", "go1.25.5", 5.0), ("go1.26.6", "go1.26.6", 2.0)]
    assert collect10[0]["diagnostic_unchanged"] is True
    allocation_steps = {v for c in changes if c["kind"] in ("site allocations", "benchmark allocs/op")
                        for v in c["at"] or [r["first"] for r in c["runs"][1:]]}
    assert allocation_steps == {"go1.26.6"}
    diagnostic = [c for c in changes if c["kind"] == "site diagnostic"]
    assert diagnostic and all(c["at"] == ["go1.25.5"] and c["measured"] for c in diagnostic)
    markdown = render_markdown(report)
    assert "5 allocs/op up to go1.25.5, 2 allocs/op from go1.26.6; **`-m` output for its lines unchanged**" in markdown


def test_misleading_sites_are_sites(report: dict[str, Any]) -> None:
    found = {(d["case"], d["site"], d["evidence"]) for d in report["disagreements"]}
    assert ("makevar", "makevar_test.go:18:10", "compiler says does not escape, allocates") in found
    assert not any(d["site"].startswith("sliceappend_test.go:10:") for d in report["disagreements"])
    assert any(d["site"].startswith("sliceappend_test.go:12:") for d in report["disagreements"])


def _with_since(case: Case, claim_id: str, since: str) -> Case:
    claims = tuple(dataclasses.replace(c, since=since) if c.id == claim_id else c for c in case.claims)
    return dataclasses.replace(case, claims=claims)


@pytest.mark.parametrize(("since", "agreement"), [
    ("1.25", "as documented"),
    ("1.24", "holds only later than documented"),
    ("1.26", "holds earlier than documented"),
])
def test_documented_version_ranges(cells: tuple[dict[str, Any], ...], since: str, agreement: str) -> None:
    cases = [_with_since(c, "makevar-16-no-alloc-since-125", since) for c in discover_cases(ROOT / "cases")]
    doc = build_report(cells, cases, generated_at="t")
    claim = next(cl for cl in _case(doc, "makevar")["claims"] if cl["id"] == "makevar-16-no-alloc-since-125")
    assert claim["agreement"] == agreement
    assert claim["holds_in"]["amd64"] == ["go1.25.5", "go1.26.6"]


def test_an_allocs_range_claim(report: dict[str, Any]) -> None:
    claim = next(cl for cl in _case(report, "appendloop")["claims"] if cl["id"] == "collect10-fewer-allocs-since-126")
    assert claim["expected"] == "at most 2"
    assert {c: v for c, v in claim["results"].items() if c.endswith("amd64")} == {
        "go1.23.9 amd64": False, "go1.24.11 amd64": False, "go1.25.5 amd64": False, "go1.26.6 amd64": True}
    assert claim["agreement"] == "as documented"


def test_profiles_add_up_to_the_exact_counts(cells: tuple[dict[str, Any], ...]) -> None:
    checked = 0
    for cell in cells:
        for bench in cell["benchmarks"]:
            profile, exact = bench["profile"], bench["exact"]
            assert profile is not None and exact is not None, (cell["key"], bench["name"])
            total = sum(line["allocs_per_op"] for line in profile["lines"])
            assert allocs_equal(total, exact["allocs_per_op"]), (cell["key"], bench["name"], total)
            assert profile["adds_up"] is True and profile["note"] is None
            checked += 1
    assert checked == len(VERSIONS) * 2 * 11  # 11 benchmarks in the 5 cases


def _tables(markdown: str) -> list[list[list[str]]]:
    tables: list[list[list[str]]] = []
    row: list[str] = []
    in_cell = False
    for token in MarkdownIt("commonmark").enable("table").parse(markdown):
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
    return tables


def test_claims_table_has_one_column_per_version(report: dict[str, Any]) -> None:
    claims = _tables(render_markdown(report))[0]
    assert claims[0] == ["claim", *(f"go{v}" for v in VERSIONS)]  # amd64 and arm64 agree everywhere
    assert len(claims) == 1 + sum(len(c["claims"]) for c in report["cases"])
    assert all(len(row) == 1 + len(VERSIONS) for row in claims)


def test_claim_cells_split_by_arch_only_where_arches_disagree(cells: tuple[dict[str, Any], ...]) -> None:
    changed = [dict(c) for c in cells]
    for cell in changed:  # arm64 makevar on go1.26.6: pretend the 16-byte make allocates there
        if cell["key"] == "makevar--go1.26.6--arm64":
            cell["benchmarks"] = [{**b, "exact": {**b["exact"], "allocs_per_op": 1.0}}
                                  if b["name"] == "BenchmarkMakeVar16" else b for b in cell["benchmarks"]]
    doc = build_report(changed, discover_cases(ROOT / "cases"), generated_at="t")
    markdown = render_markdown(doc)
    row = next(line for line in markdown.splitlines() if line.startswith("| `makevar-16-no-alloc-since-125`"))
    assert "❌ amd64" not in row and "✅ amd64 ❌ arm64" in row
    assert "(amd64)" in markdown and "(arm64)" in markdown  # the sentence names each arch's history


def test_v2_cells_still_merge(cells: tuple[dict[str, Any], ...]) -> None:
    from gomatrix.run.cellfile import read_cell

    old = read_cell(ROOT / "reports" / "2026-11-25-2" / "cells" / "makeslice--go1.24--amd64.json")
    assert old["schema_version"] == 3 and all(b["profile"] is None for b in old["benchmarks"])
    doc = build_report([old], discover_cases(ROOT / "cases"), generated_at="t")
    [site] = _sites_at(doc, "makeslice", "makeslice_test.go", 21)
    assert [c["evidence"] for c in site["cells"].values()] == ["no allocation profile"]
    claim = next(cl for cl in _case(doc, "makeslice")["claims"] if cl["id"] == "make-variable-cap-heap")
    assert list(claim["results"].values()) == [True]  # the compiler's word, with no profile to go by


def test_value_formats() -> None:
    assert md_text("a|b <script>") == "a\\|b \\<script\\>"
    assert "|" not in md_code("x | y")
    every = ["go1.21", "go1.22", "go1.23", "go1.24"]
    assert [describe_versions(chosen, every) for chosen in (every, every[2:], every[:1], every[1:3], every[::2])] == [
        "in every version", "from go1.23", "up to go1.21", "in go1.22–go1.23", "in go1.21, go1.23"]
    assert [format_duration(v) for v in (0.2738, 72.57, 250484, 2.5e9, None)] == [
        "0.274 ns", "72.6 ns", "250 µs", "2.5 s", "?"]
    assert [fmt_bytes(v) for v in (63.0, 1024.0, 10485760.0, 10493952.0)] == ["63 B", "1 KiB", "10 MiB", "10.01 MiB"]
    assert sorted(["go1.9.1", "go1.24.11", "go1.24", "go1.10"], key=version_key) == [
        "go1.9.1", "go1.10", "go1.24", "go1.24.11"]


def test_what_changed_uses_exact_bytes(report: dict[str, Any]) -> None:
    markdown = render_markdown(report)
    assert "63 B/op up to go1.25.5" in markdown and "62 B/op" not in markdown


def test_inlined_functions_are_judged_by_the_copy_that_runs(tmp_path: Path) -> None:
    """newPoint, counter, toBytes and box are inlined into the benchmarks: -m reports the inlined bodies at
    the calls, the profile at the bodies' own lines; one site per expression, judged by the inlined copy."""
    fixtures = ROOT / "tests" / "fixtures" / "cases"
    for version in ("1.23.9", "1.25.5"):
        cell = recorded_cell(version, "inlined", tmp_path / version)
        by_line = {(s["file"], s["line"]): s for s in cell["sites"]}
        assert not any(file == "mixed_test.go" and line in (13, 28, 37, 44) for file, line in by_line)
        point = by_line[("mixed.go", 8)]
        assert (point["source"], point["compiler"], point["inlined"]) == ("&point{x: x, y: y}", "heap", True)
        measured = [(m["benchmark"], round(m["allocs_per_op"], 3)) for m in point["measured"]]
        assert measured == [("BenchmarkNewPoint", 1.0)]
        closure = by_line[("mixed.go", 17)]  # escapes out of line, does not escape where it is inlined
        assert closure["compiler"] == "stack" and "inlined at mixed_test.go:28" in closure["message"]
        assert by_line[("mixed.go", 24)]["source"] == "[]byte(s)"
        for bench in cell["benchmarks"]:
            assert bench["profile"]["adds_up"] is True, (version, bench["name"], bench["profile"])
    doc = build_report([recorded_cell("1.25.5", "inlined", tmp_path / "r")], discover_cases(fixtures),
                       generated_at="t")
    validate(doc, "report", where="report", error_cls=CellFileError)
    sites = {(s["file"], s["line"]): next(iter(s["cells"].values())) for s in _case(doc, "inlined")["sites"]}
    assert sites[("mixed.go", 16)]["evidence"].startswith("nothing measured; -m's heap verdict is the out-of-line")
    assert doc["disagreements"] == []
    claims = {c["id"]: list(c["results"].values()) for c in _case(doc, "inlined")["claims"]}
    assert claims == {"box-allocates": [True], "point-heap": [True], "counter-stack": [True]}
