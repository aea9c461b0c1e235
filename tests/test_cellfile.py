from __future__ import annotations

import itertools
import json
from pathlib import Path
from xml.etree import ElementTree

import pytest

from gomatrix.core.errors import CellFileError
from gomatrix.plan.cases import discover_cases
from gomatrix.run.cellfile import read_cell, write_cell
from gomatrix.run.merge import merge_run
from tests.recorded import ROOT, recorded_cell


def write_run(tmp_path: Path) -> Path:
    run_dir = tmp_path / "2026-11-25"
    for version in ("1.23.9", "1.24.11"):
        for case in ("array", "makeslice"):
            doc = recorded_cell(version, case, run_dir)
            write_cell(doc, run_dir / "cells" / f"{doc['key']}.json")
    return run_dir


def test_cell_round_trip_holds_the_required_fields(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path)
    doc = read_cell(run_dir / "cells" / "array--go1.24.11--amd64.json")
    assert doc["go_version"] == "go1.24.11" and doc["arch"] == "amd64" and doc["status"] == "ok"
    assert doc["go_version_line"] == "go version go1.24.11 linux/amd64"
    assert doc["image"]["architecture"] == "amd64"
    steps = doc["timings"]["steps"]
    assert [s["name"] for s in steps] == ["version", "env", "prepare", "compile", "bench", "exact", "sites"]
    assert all(s["start"] <= s["end"] for s in steps)
    assert all(a["end"] == b["start"] for a, b in itertools.pairwise(steps))  # one after another
    # the sites step profiled every allocation: each benchmark's lines add up to its exact count
    profiles = {b["name"]: b["profile"] for b in doc["benchmarks"]}
    assert {name: [(line["file"], line["line"], line["allocs_per_op"]) for line in p["lines"]]
            for name, p in profiles.items()} == {"BenchmarkEaArray1": [("array_test.go", 9, 1.0)],
                                                  "BenchmarkEaArray2": [("array_test.go", 16, 1.0)]}
    assert all(p["adds_up"] and p["error"] is None for p in profiles.values())
    measured = {(s["file"], s["line"], s["column"]): (s["compiler"], [m["allocs_per_op"] for m in s["measured"]])
                for s in doc["sites"]}
    assert measured == {("array.go", 4, 6): ("heap", []), ("array_test.go", 9, 7): ("heap", [1.0]),
                        ("array_test.go", 16, 7): ("heap", [1.0])}
    assert (run_dir / doc["raw"]["bench"]).read_text().startswith("goos: linux")
    assert {b["name"] for b in doc["benchmarks"]} == {"BenchmarkEaArray1", "BenchmarkEaArray2"}


def test_merge_writes_report_and_latest(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path)
    report_md = merge_run(run_dir, discover_cases(ROOT / "cases"), reports_root=tmp_path)
    assert report_md == run_dir / "report.md"
    report = json.loads((run_dir / "report.json").read_text())
    assert len(report["cells"]) == 4
    markdown = report_md.read_text()
    assert "![allocs/op, B/op and ns/op of array across Go versions](plots/array.svg)" in markdown
    svg = (run_dir / "plots" / "array.svg").read_text()
    assert svg.startswith("<svg") and ElementTree.fromstring(svg).tag.endswith("svg")  # well-formed SVG
    assert "## Changes since the previous run\n\n- First run: nothing to compare with." in markdown
    latest = (tmp_path / "latest.md").read_text()
    assert latest.startswith("<!-- copy of 2026-11-25/report.md -->")
    assert "](2026-11-25/plots/array.svg)" in latest  # links still resolve from reports/
    assert "[2026-11-25](2026-11-25/report.md)" in (tmp_path / "index.md").read_text()
    assert (run_dir / "report.html").read_text().startswith("<!doctype html>")


def test_a_second_run_lists_changes_since_the_first(tmp_path: Path) -> None:
    first = tmp_path / "2026-11-24"
    for case in ("array", "makeslice"):
        doc = recorded_cell("1.23.9", case, first)
        write_cell(doc, first / "cells" / f"{doc['key']}.json")
    merge_run(first, discover_cases(ROOT / "cases"), reports_root=tmp_path)
    second = write_run(tmp_path)  # 2026-11-25: go1.23.9 and go1.24.11
    markdown = merge_run(second, discover_cases(ROOT / "cases"), reports_root=tmp_path).read_text()
    since = markdown.split("## Changes since the previous run", 1)[1].split("##", 1)[0]
    assert "go1.24.11" in since and "First run" not in since
    index = (tmp_path / "index.md").read_text()
    assert index.index("2026-11-25") < index.index("2026-11-24")  # newest first


def test_corrupt_cell_names_file_and_json_path_and_touches_nothing(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path)
    bad = run_dir / "cells" / "makeslice--go1.24.11--amd64.json"
    doc = json.loads(bad.read_text())
    doc["benchmarks"][1]["allocs_per_op"] = "lots"
    bad.write_text(json.dumps(doc))
    others = {p: p.read_bytes() for p in (run_dir / "cells").glob("*.json") if p != bad}
    with pytest.raises(CellFileError) as info:
        merge_run(run_dir, [])
    message = str(info.value)
    assert str(bad) in message
    assert "$.benchmarks[1].allocs_per_op" in message
    assert info.value.exit_code == 6
    assert not (run_dir / "report.json").exists()
    assert {p: p.read_bytes() for p in others} == others


def test_truncated_cell_is_reported_as_bad_json(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path)
    bad = run_dir / "cells" / "array--go1.23.9--amd64.json"
    bad.write_text(bad.read_text()[:100])
    with pytest.raises(CellFileError, match="not valid JSON at line"):
        read_cell(bad)


def test_invalid_cell_is_never_written(tmp_path: Path) -> None:
    doc = recorded_cell("1.24.11", "array", tmp_path)
    doc["status"] = "great"
    target = tmp_path / "cells" / "x.json"
    with pytest.raises(CellFileError, match=r"\$\.status"):
        write_cell(doc, target)
    assert not target.exists()
