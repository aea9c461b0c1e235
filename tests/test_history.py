from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from gomatrix.analysis.document import build_report
from gomatrix.analysis.index import write_index
from gomatrix.analysis.markdown import since_text
from gomatrix.analysis.runs import find_previous_report, load_report, run_dir_key
from gomatrix.analysis.since import REASON_LIMIT, SinceChange, SinceKind, changes_since
from gomatrix.core.errors import CellFileError
from gomatrix.core.schemas import validate
from gomatrix.core.values import to_json
from gomatrix.plan.cases import discover_cases
from tests.recorded import ROOT, recorded_cell

SEED = ("array", "makeslice", "sliceappend")
ARCHES = ("amd64", "arm64")
FAILURE = ("go: downloading nothing\n./makeslice_test.go:11:7: undefined: <frob> | " + "x" * 300)


def report_of(cells: list[dict[str, Any]], title: str = "gomatrix report") -> dict[str, Any]:
    report = build_report(cells, discover_cases(ROOT / "cases"), generated_at="2026-11-25T20:00:00Z", title=title)
    validate(report, "report", where="report", error_cls=CellFileError)
    return report


def relabelled(cell: dict[str, Any], version: str) -> dict[str, Any]:
    """A cell recorded with one Go version, presented as another's (a stand-in for 'the case changed')."""
    cell = copy.deepcopy(cell)
    old = cell["go_version"]
    cell["go_version"] = f"go{version}"
    cell["key"] = cell["key"].replace(old, f"go{version}")
    cell["planned"]["version"] = version
    return cell


def failed(cell: dict[str, Any]) -> dict[str, Any]:
    cell = copy.deepcopy(cell)
    cell.update(status="failed", reason=FAILURE, benchmarks=[], escapes=[])
    return cell


@pytest.fixture(scope="module")
def cells(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    run_dir = tmp_path_factory.mktemp("run")
    out = {}
    for version in ("1.23.9", "1.24.11"):
        for arch in ARCHES:
            for case in SEED:
                cell = recorded_cell(version, case, run_dir, arch=arch, emulated=arch == "arm64")
                out[cell["key"]] = cell
    return out


@pytest.fixture(scope="module")
def reports(cells: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """old: go1.23.9 only; prev: both versions, but go1.24.11's array cells still behave like go1.23.9's;
    both: both versions as recorded; broken: both, with makeslice on go1.23.9 amd64 failing."""
    go123 = [c for c in cells.values() if c["go_version"] == "go1.23.9"]
    prev = [relabelled(cells[f"array--go1.23.9--{a}"], "1.24.11") if c["key"] == f"array--go1.24.11--{a}" else c
            for c in cells.values() for a in [c["arch"]]]
    broken = [failed(c) if c["key"] == "makeslice--go1.23.9--amd64" else c for c in cells.values()]
    return {"old": report_of(go123, "old"), "prev": report_of(prev, "prev"),
            "both": report_of(list(cells.values()), "both"), "broken": report_of(broken, "broken")}


def texts(changes: list[SinceChange]) -> list[str]:
    """The entries as the report and the nightly log word them."""
    return [since_text(to_json(change)) for change in changes]


def test_first_run_and_no_changes(reports: dict[str, dict[str, Any]]) -> None:
    assert changes_since(None, reports["both"]) == [SinceChange(SinceKind.FIRST_RUN)]
    assert changes_since(reports["both"], copy.deepcopy(reports["both"])) == [SinceChange(SinceKind.NONE)]
    assert not any(change.is_change for change in changes_since(None, reports["both"]))
    assert texts(changes_since(None, reports["both"])) == ["First run: nothing to compare with."]


def test_new_and_removed_go_versions(reports: dict[str, dict[str, Any]]) -> None:
    assert changes_since(reports["old"], reports["both"]) == [
        SinceChange(SinceKind.NEW_VERSION, "go1.24.11", ("amd64", "arm64"))]
    assert changes_since(reports["both"], reports["old"]) == [
        SinceChange(SinceKind.DROPPED_VERSION, "go1.24.11", ("amd64", "arm64"))]
    assert texts(changes_since(reports["old"], reports["both"])) == ["New Go version go1.24.11 (amd64, arm64)"]
    assert texts(changes_since(reports["both"], reports["old"])) == [
        "Go version go1.24.11 is no longer in the matrix (was: amd64, arm64)"]


def test_claim_site_and_allocs_changes_for_the_same_column(reports: dict[str, dict[str, Any]]) -> None:
    changes = changes_since(reports["prev"], reports["both"])
    columns = ("go1.24.11 amd64", "go1.24.11 arm64")
    assert changes == [
        SinceChange(SinceKind.CLAIM, "array-10mib-stack", columns, "holds", "fails"),
        SinceChange(SinceKind.CLAIM, "array-10mib-no-alloc", columns, "holds", "fails"),
        # measured at the line: the profiled go1.23.9 stand-in had no allocation there
        SinceChange(SinceKind.SITE, "array/array_test.go:9 (BenchmarkEaArray1)", columns, "0", "1"),
        # -m said nothing about arr on go1.23.9 (it stayed on the stack), "moved to heap: arr" on go1.24.11
        SinceChange(SinceKind.DIAGNOSTIC, "array/array.go:4", columns, "none", "heap"),
        SinceChange(SinceKind.DIAGNOSTIC, "array/array_test.go:9", columns, "none", "heap"),
        SinceChange(SinceKind.ALLOCS, "array/BenchmarkEaArray1", columns, "0", "1"),
    ]
    on = "go1.24.11 amd64, go1.24.11 arm64"
    assert texts(changes) == [
        f"claim `array-10mib-stack` on {on}: holds → fails",
        f"claim `array-10mib-no-alloc` on {on}: holds → fails",
        f"measured allocs/op at `array/array_test.go:9 (BenchmarkEaArray1)` on {on}: 0 → 1",
        f"`-m` verdict at `array/array.go:4` on {on}: none → heap",
        f"`-m` verdict at `array/array_test.go:9` on {on}: none → heap",
        f"allocs/op of `array/BenchmarkEaArray1` on {on}: 0 → 1",
    ]
    # and back: every entry reversed
    assert changes_since(reports["both"], reports["prev"]) == [
        SinceChange(change.kind, change.subject, change.columns, change.after, change.before) for change in changes]


def test_a_line_that_starts_allocating_without_a_diagnostic_is_listed(tmp_path: Path) -> None:
    """go1.26 moves appendloop's collected slice to the heap at `return s`, and -m says nothing about it
    there: the line has a site only in the run that measured an allocation at it."""
    go125 = recorded_cell("1.25.5", "appendloop", tmp_path)
    before = report_of([go125, relabelled(go125, "1.26.6")])
    after = report_of([go125, recorded_cell("1.26.6", "appendloop", tmp_path)])
    assert not any(s["file"] == "appendloop.go" and s["line"] == 13 for s in before["cases"][0]["sites"])
    column = ("go1.26.6 amd64",)
    assert changes_since(before, after) == [
        SinceChange(SinceKind.CLAIM, "collect10-fewer-allocs-since-126", column, "fails", "holds"),
        # per benchmark that runs the line
        SinceChange(SinceKind.SITE, "appendloop/appendloop.go:11 (BenchmarkCollect10)", column, "5", "2"),
        SinceChange(SinceKind.SITE, "appendloop/appendloop.go:11 (BenchmarkCollectVaried)", column, "2.625", "0.375"),
        SinceChange(SinceKind.SITE, "appendloop/appendloop.go:13 (BenchmarkCollectVaried)", column, "0", "0.5"),
        SinceChange(SinceKind.ALLOCS, "appendloop/BenchmarkCollectVaried", column, "2.625", "0.875"),
        SinceChange(SinceKind.ALLOCS, "appendloop/BenchmarkCollect10", column, "5", "2"),
    ]


def test_a_version_1_report_as_the_previous_run(tmp_path: Path) -> None:
    """The first run after the upgrade compares with a migrated version 1 report: the same claims, verdicts
    and allocs/op give no entries; parameters (b does not escape), which version 3 leaves out of the
    sites, do not read as diagnostics that disappeared, and nothing measured is inferred for the old run:
    the report says that per-line figures start with this run. A claim added since is listed as new."""
    old = load_report(ROOT / "tests" / "data" / "v1")
    assert old is not None
    cells = [recorded_cell(v, case, tmp_path, arch=arch, emulated=arch == "arm64")
             for v in ("1.23.9", "1.24.11", "1.25.5", "1.26.6") for case in SEED for arch in ARCHES]
    assert changes_since(old, report_of(cells)) == [
        *(SinceChange(SinceKind.DROPPED_VERSION, version, ARCHES)
          for version in ("go1.21.13", "go1.22.10", "go1.27.3")),
        SinceChange(SinceKind.NEW_CLAIM, "make-variable-cap-stack-since-125"),
        SinceChange(SinceKind.FIRST_PROFILE)]


def test_failing_and_recovered_cells(reports: dict[str, dict[str, Any]]) -> None:
    changes = changes_since(reports["both"], reports["broken"])
    assert len(changes) == 1
    failing = changes[0]
    assert (failing.kind, failing.subject, failing.columns, failing.before) == (
        SinceKind.CELL_FAILING, "makeslice on go1.23.9 amd64", ("go1.23.9 amd64",), "failed")
    # the reason on one line, shortened
    assert failing.after.startswith("go: downloading nothing ./makeslice_test.go:11:7: undefined: <frob> | xxx")
    assert failing.after.endswith("…") and len(failing.after) == REASON_LIMIT and "\n" not in failing.after
    text = texts(changes)[0]
    assert text.startswith("Cell makeslice on go1.23.9 amd64 is now failed (was ok): go: downloading nothing "
                           "./makeslice\\_test.go:11:7: undefined: \\<frob\\> \\| xxx")
    assert text.endswith("…") and len(text) < REASON_LIMIT + 80 and "\n" not in text
    assert changes_since(reports["broken"], reports["both"]) == [
        SinceChange(SinceKind.CELL_RECOVERED, "makeslice on go1.23.9 amd64", ("go1.23.9 amd64",), "failed", "ok")]
    assert texts(changes_since(reports["broken"], reports["both"])) == [
        "Cell makeslice on go1.23.9 amd64 is ok again (was failed)"]


def test_all_kinds_together(reports: dict[str, dict[str, Any]]) -> None:
    changes = changes_since(reports["old"], reports["broken"])
    assert [change.kind for change in changes] == [SinceKind.NEW_VERSION, SinceKind.CELL_FAILING]
    assert changes[0].subject == "go1.24.11" and changes[1].subject == "makeslice on go1.23.9 amd64"
    # go1.24.11's verdicts are new columns, not changes


def write_run(root: Path, name: str, report: dict[str, Any] | str) -> Path:
    run_dir = root / name
    run_dir.mkdir(parents=True)
    text = report if isinstance(report, str) else json.dumps(report)
    (run_dir / "report.json").write_text(text, encoding="utf-8")
    (run_dir / "report.md").write_text("# report\n", encoding="utf-8")
    return run_dir


def test_run_dir_names_order_by_date_then_number() -> None:
    names = ["2026-11-25-10", "2026-11-25-2", "2026-11-24", "2026-11-25"]
    keyed = sorted(names, key=lambda n: run_dir_key(n) or (None,))
    assert keyed == ["2026-11-24", "2026-11-25", "2026-11-25-2", "2026-11-25-10"]
    for name in ("latest.md", "2026-11-25-1", "2026-11-25-0", "2026-13-01", "2026-11-25-x", "x2026-11-25"):
        assert run_dir_key(name) is None, name


def test_find_previous_report(reports: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    root = tmp_path / "reports"
    base = reports["both"]
    for name in ("2026-11-24", "2026-11-25", "2026-11-25-2", "2026-11-25-10"):
        write_run(root, name, {**base, "title": name})
    write_run(root, "2026-11-25-1", {**base, "title": "not a run dir name"})
    (root / "latest.md").write_text("x")

    def previous(name: str) -> str | None:
        found = find_previous_report(root, root / name)
        return None if found is None else str(found["title"])

    assert previous("2026-11-25-10") == "2026-11-25-2"
    assert previous("2026-11-25-2") == "2026-11-25"
    assert previous("2026-11-25") == "2026-11-24"
    assert previous("2026-11-24") is None
    assert previous("2026-11-26") == "2026-11-25-10"  # a run that has no report yet
    assert previous("2026-11-25-3") == "2026-11-25-2"
    (root / "2026-11-25-2" / "report.json").write_text("{ corrupt")
    assert previous("2026-11-25-10") == "2026-11-25"
    (root / "2026-11-25" / "report.json").write_text(json.dumps({**base, "columns": "not a list"}))
    assert previous("2026-11-25-10") == "2026-11-24"
    assert find_previous_report(tmp_path / "missing", root / "2026-11-25") is None


def table_rows(markdown: str) -> list[list[str]]:
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines if not line.startswith("|--")]


def merged(report: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, Any]:
    """report as a merge writes it: with its list of changes since the previous run's report."""
    since = to_json(changes_since(previous, report))
    report = {**report, "since_previous": since}
    validate(report, "report", where="report", error_cls=CellFileError)
    return report


def test_write_index(reports: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    root = tmp_path / "reports"
    # the published version 1 report (its since_previous is text: "First run: nothing to compare with.")
    write_run(root, "2026-11-23", (ROOT / "tests" / "data" / "v1" / "report.json").read_text(encoding="utf-8"))
    write_run(root, "2026-11-24", merged(reports["old"], None))
    write_run(root, "2026-11-25", merged(reports["both"], reports["old"]))
    write_run(root, "2026-11-25-2", "{ corrupt")
    write_run(root, "2026-11-25-3", json.dumps({"schema_version": 1}))
    write_run(root, "2026-11-25-10", merged(reports["broken"], reports["both"]))
    (root / "2026-11-26").mkdir()  # a run still going: no report yet
    (root / "latest.md").write_text("x")

    path = write_index(root)
    assert path == root / "index.md"
    assert sorted(p.name for p in root.iterdir() if p.is_file()) == ["index.md", "latest.md"]  # no temp file left
    rows = table_rows(path.read_text(encoding="utf-8"))
    assert rows[0] == ["run", "Go versions", "arches", "cases", "cells ok/failed/skipped/timeout", "claims changed",
                       "changed since previous"]
    flipping = [claim["id"] for case in reports["both"]["cases"] for claim in case["claims"] if claim["flips"]]
    assert flipping == ["array-10mib-stack", "array-10mib-no-alloc"]  # from go1.24.11 on
    assert rows[1:] == [
        ["[2026-11-25-10](2026-11-25-10/report.md)", "go1.23.9, go1.24.11", "amd64, arm64",
         "array, makeslice, sliceappend", "11/1/0/0", "2", "1"],
        ["[2026-11-25](2026-11-25/report.md)", "go1.23.9, go1.24.11", "amd64, arm64",
         "array, makeslice, sliceappend", "12/0/0/0", "2", "1"],
        ["[2026-11-24](2026-11-24/report.md)", "go1.23.9", "amd64, arm64",
         "array, makeslice, sliceappend", "6/0/0/0", "0", "–"],
        # its claims' "changes": the array pair from go1.24.11, make-variable-cap-* from go1.25.5
        ["[2026-11-23](2026-11-23/report.md)", "go1.21.13, go1.22.10, go1.23.9, go1.24.11, go1.25.5, go1.26.6, "
         "go1.27.3", "amd64, arm64", "array, makeslice, sliceappend", "42/0/0/0", "4", "–"],
    ]


def test_index_rows_are_cached_by_report(reports: dict[str, dict[str, Any]], tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    root, cache = tmp_path / "reports", tmp_path / "cache"
    write_run(root, "2026-11-24", merged(reports["old"], None))
    second = write_run(root, "2026-11-25", merged(reports["both"], reports["old"]))
    write_run(root, "2026-11-25-2", "{ corrupt")
    validated: list[str] = []

    def counting(instance: Any, name: str, **kwargs: Any) -> None:
        validated.append(kwargs["where"])
        validate(instance, name, **kwargs)

    monkeypatch.setattr("gomatrix.analysis.runs.validate", counting)
    first = write_index(root, cache_dir=cache).read_text(encoding="utf-8")
    assert len(validated) == 2  # the corrupt one fails to parse: never validated, but its outcome is kept too
    assert len(list(cache.glob("*.json"))) == 3
    validated.clear()
    assert write_index(root, cache_dir=cache).read_text(encoding="utf-8") == first
    assert validated == []  # every row came from the cache
    assert write_index(root).read_text(encoding="utf-8") == first  # the same as without a cache
    validated.clear()

    # A report that changes is read again (the claims-changed column follows it); the others are not.
    edited = merged(reports["old"], reports["old"])
    (second / "report.json").write_text(json.dumps(edited), encoding="utf-8")
    rows = table_rows(write_index(root, cache_dir=cache).read_text(encoding="utf-8"))
    assert validated == [str(second / "report.json")]
    assert rows[1][0] == "[2026-11-25](2026-11-25/report.md)" and rows[1][1] == "go1.23.9" and rows[1][6] == "0"

    # An unreadable cache entry only costs a validation.
    for entry in cache.glob("*.json"):
        entry.write_text("{ not json", encoding="utf-8")
    validated.clear()
    assert table_rows(write_index(root, cache_dir=cache).read_text(encoding="utf-8")) == rows
    assert len(validated) == 2


def test_write_index_without_runs(tmp_path: Path) -> None:
    path = write_index(tmp_path)
    assert "No runs with a valid report yet." in path.read_text(encoding="utf-8")


def test_a_new_case_is_listed(tmp_path: Path) -> None:
    seed = [recorded_cell("1.24.11", case, tmp_path) for case in SEED]
    own = recorded_cell("1.24.11", "makevar", tmp_path)
    before, after = report_of(seed), report_of([*seed, own])
    assert changes_since(before, after) == [SinceChange(SinceKind.NEW_CASE, "makevar")]
    assert changes_since(after, before) == [SinceChange(SinceKind.DROPPED_CASE, "makevar")]
    assert texts(changes_since(before, after) + changes_since(after, before)) == [
        "New case `makevar`", "Case `makevar` is no longer in the matrix"]


def _module_report(allocs: dict[tuple[str, str], float]) -> dict[str, Any]:
    """A module case's report (only what "changes since" reads): benchmarks by (package, name), one column."""
    column = {"id": "go1.24.11 amd64", "go_version": "go1.24.11", "arch": "amd64"}
    result = {"allocs_per_op": 0.0, "exact_allocs_per_op": None, "exact_iterations": None}
    return {"columns": [column],
            "cells": [{"case": "mod", "column": column["id"], "status": "ok", "reason": ""}],
            "cases": [{"name": "mod", "claims": [], "sites": [],
                       "benchmarks": [{"name": name, "package": package,
                                       "results": {column["id"]: {**result, "allocs_per_op": value}}}
                                      for (package, name), value in allocs.items()]}]}


def test_benchmarks_of_the_same_name_in_two_packages_are_compared_each_with_its_own() -> None:
    """A module's packages may have benchmarks of the same name: each is matched by (package, name), and the
    change names its package."""
    before = {("example.com/m", "BenchmarkEncode"): 1.0, ("example.com/m/sub", "BenchmarkEncode"): 0.0}
    assert changes_since(_module_report(before), _module_report(before)) == [SinceChange(SinceKind.NONE)]
    after = {**before, ("example.com/m/sub", "BenchmarkEncode"): 2.0}
    changes = changes_since(_module_report(before), _module_report(after))
    assert changes == [SinceChange(SinceKind.ALLOCS, "mod/BenchmarkEncode (example.com/m/sub)", ("go1.24.11 amd64",),
                                   "0", "2")]
    assert texts(changes) == ["allocs/op of `mod/BenchmarkEncode (example.com/m/sub)` on go1.24.11 amd64: 0 → 2"]
    # a benchmark that moved to another package is not compared with its old self
    moved = {("example.com/m", "BenchmarkEncode"): 1.0, ("example.com/m/other", "BenchmarkEncode"): 5.0}
    assert changes_since(_module_report(before), _module_report(moved)) == [SinceChange(SinceKind.NONE)]
