from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from gomatrix.cases import discover_cases
from gomatrix.errors import CellFileError
from gomatrix.history import (
    FIRST_RUN,
    NO_CHANGES,
    REASON_LIMIT,
    changes_since,
    find_previous_report,
    run_dir_key,
    write_index,
)
from gomatrix.report import build_report
from gomatrix.schemas import validate
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


def test_first_run_and_no_changes(reports: dict[str, dict[str, Any]]) -> None:
    assert changes_since(None, reports["both"]) == [FIRST_RUN]
    assert changes_since(reports["both"], copy.deepcopy(reports["both"])) == [NO_CHANGES]


def test_new_and_removed_go_versions(reports: dict[str, dict[str, Any]]) -> None:
    assert changes_since(reports["old"], reports["both"]) == ["New Go version go1.24.11 (amd64, arm64)"]
    assert changes_since(reports["both"], reports["old"]) == [
        "Go version go1.24.11 is no longer in the matrix (was: amd64, arm64)"]


def test_claim_escape_and_allocs_changes_for_the_same_column(reports: dict[str, dict[str, Any]]) -> None:
    changes = changes_since(reports["prev"], reports["both"])
    columns = "go1.24.11 amd64, go1.24.11 arm64"
    assert changes == [
        f"claim `array-10mib-stack` on {columns}: holds → fails",
        f"claim `array-10mib-no-alloc` on {columns}: holds → fails",
        f"escape of `arr` at `array.go:4` (array) on {columns}: stack → heap",
        f"escape of `arr` at `array_test.go:9` (array) on {columns}: stack → heap",
        f"allocs/op of `BenchmarkEaArray1` (array) on {columns}: 0 → 1",
    ]


def test_failing_and_recovered_cells(reports: dict[str, dict[str, Any]]) -> None:
    changes = changes_since(reports["both"], reports["broken"])
    assert len(changes) == 1
    assert changes[0].startswith("Cell makeslice on go1.23.9 amd64 is now failed (was ok): go: downloading nothing "
                                 "./makeslice\\_test.go:11:7: undefined: \\<frob\\> \\| xxx")
    assert changes[0].endswith("…")
    assert len(changes[0]) < REASON_LIMIT + 80
    assert "\n" not in changes[0]
    assert changes_since(reports["broken"], reports["both"]) == [
        "Cell makeslice on go1.23.9 amd64 is ok again (was failed)"]


def test_all_kinds_together(reports: dict[str, dict[str, Any]]) -> None:
    changes = changes_since(reports["old"], reports["broken"])
    assert changes[0] == "New Go version go1.24.11 (amd64, arm64)"
    assert changes[1].startswith("Cell makeslice on go1.23.9 amd64 is now failed")
    assert len(changes) == 2  # go1.24.11's verdicts are new columns, not changes


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
    return {**report, "since_previous": changes_since(previous, report)}


def test_write_index(reports: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    root = tmp_path / "reports"
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
    claims_changed = sum(1 for case in reports["both"]["cases"] for claim in case["claims"] if claim["changes"])
    assert claims_changed == 2  # array-10mib-stack and array-10mib-no-alloc
    assert rows[1:] == [
        ["[2026-11-25-10](2026-11-25-10/report.md)", "go1.23.9, go1.24.11", "amd64, arm64",
         "array, makeslice, sliceappend", "11/1/0/0", "2", "1"],
        ["[2026-11-25](2026-11-25/report.md)", "go1.23.9, go1.24.11", "amd64, arm64",
         "array, makeslice, sliceappend", "12/0/0/0", "2", "1"],
        ["[2026-11-24](2026-11-24/report.md)", "go1.23.9", "amd64, arm64",
         "array, makeslice, sliceappend", "6/0/0/0", "0", "–"],
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

    monkeypatch.setattr("gomatrix.history.validate", counting)
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
    assert changes_since(before, after) == ["New case `makevar`"]
    assert changes_since(after, before) == ["Case `makevar` is no longer in the matrix"]
