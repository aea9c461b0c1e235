from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from gomatrix.analysis import plots
from gomatrix.analysis.document import build_report
from gomatrix.analysis.plots import write_case_plots
from gomatrix.core.errors import CellFileError
from gomatrix.core.schemas import validate
from gomatrix.plan.cases import discover_cases
from tests.recorded import ROOT, recorded_cell

SEED = ("array", "makeslice", "sliceappend")
SVG = "{http://www.w3.org/2000/svg}"


def make_report(run_dir: Path, versions: tuple[str, ...] = ("1.23.9", "1.24.11"),
                emulated: tuple[str, ...] = ("arm64",)) -> dict[str, Any]:
    cells = [recorded_cell(v, c, run_dir, arch=a, emulated=a in emulated)
             for v in versions for a in ("amd64", "arm64") for c in SEED]
    report = build_report(cells, discover_cases(ROOT / "cases"), generated_at="2026-11-25T20:00:00Z")
    validate(report, "report", where="report", error_cls=CellFileError)
    return report


@pytest.fixture(scope="module")
def seed_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return make_report(tmp_path_factory.mktemp("run"))


@pytest.fixture(scope="module")
def plotted(seed_report: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    out = tmp_path_factory.mktemp("plots")
    return out, write_case_plots(seed_report, out)


def svg_ids(path: Path) -> set[str]:
    return {el.attrib["id"] for el in ET.parse(path).iter() if "id" in el.attrib}


def svg_texts(path: Path) -> str:
    return "\n".join("".join(el.itertext()) for el in ET.parse(path).iter(f"{SVG}text"))


def test_one_svg_per_case_with_relative_paths(plotted: tuple[Path, dict[str, str]]) -> None:
    out, paths = plotted
    assert paths == {case: f"plots/{case}.svg" for case in SEED}
    for relative in paths.values():
        root = ET.parse(out / relative).getroot()
        assert root.tag == f"{SVG}svg"


def test_svg_has_readable_labels(plotted: tuple[Path, dict[str, str]], seed_report: dict[str, Any]) -> None:
    out, paths = plotted
    for case in seed_report["cases"]:
        texts = svg_texts(out / paths[case["name"]])
        assert f"case {case['name']}: {case['title']}" in texts
        for bench in case["benchmarks"]:
            for panel in ("allocs/op", "B/op", "ns/op (native only)"):
                assert f"{bench['name']} · {panel}" in texts
        assert "go1.23.9" in texts and "go1.24.11" in texts
        assert "amd64" in texts and "arm64 (emulated" in texts


def test_ns_panel_has_native_columns_only(plotted: tuple[Path, dict[str, str]]) -> None:
    out, paths = plotted
    ids = svg_ids(out / paths["makeslice"])
    for bench in ("BenchmarkMakeSlice1", "BenchmarkMakeSlice2", "BenchmarkMakeSlice64KB"):
        for metric in ("allocs", "bytes"):
            assert {f"{metric}-amd64-{bench}", f"{metric}-arm64-{bench}"} <= ids
        assert f"ns-amd64-{bench}" in ids
    assert [i for i in ids if i.startswith("ns-")] == [i for i in ids if i.startswith("ns-amd64-")]


def test_emulated_arch_is_dashed(plotted: tuple[Path, dict[str, str]]) -> None:
    out, paths = plotted
    tree = ET.parse(out / paths["array"])

    def line(gid: str) -> ET.Element:
        group = next(el for el in tree.iter() if el.attrib.get("id") == gid)
        return next(group.iter(f"{SVG}path"))

    assert "stroke-dasharray" in line("allocs-arm64-BenchmarkEaArray1").attrib
    assert "stroke-dasharray" not in line("allocs-amd64-BenchmarkEaArray1").attrib


def test_reruns_are_byte_identical(plotted: tuple[Path, dict[str, str]], seed_report: dict[str, Any],
                                   tmp_path: Path) -> None:
    out, paths = plotted
    with ThreadPoolExecutor(max_workers=2) as pool:  # concurrent calls too
        results = list(pool.map(lambda d: write_case_plots(seed_report, d), [tmp_path / "a", tmp_path / "b"]))
    assert results == [paths, paths]
    for relative in paths.values():
        expected = (out / relative).read_bytes()
        assert (tmp_path / "a" / relative).read_bytes() == expected
        assert (tmp_path / "b" / relative).read_bytes() == expected
    assert sorted(p.name for p in (tmp_path / "a" / "plots").iterdir()) == sorted(f"{c}.svg" for c in SEED)


def test_single_version_and_cases_without_benchmarks(tmp_path: Path) -> None:
    report = make_report(tmp_path / "run", versions=("1.24.11",))
    empty = copy.deepcopy(report["cases"][0])
    empty["name"], empty["benchmarks"] = "nobench", []
    report["cases"].append(empty)
    paths = write_case_plots(report, tmp_path / "out")
    assert set(paths) == set(SEED)
    assert not (tmp_path / "out" / "plots" / "nobench.svg").exists()
    texts = svg_texts(tmp_path / "out" / paths["sliceappend"])
    assert "go1.24.11" in texts and "go1.23.9" not in texts
    assert "ns-amd64-BenchmarkSliceAppend" in svg_ids(tmp_path / "out" / paths["sliceappend"])


def test_all_columns_emulated_leaves_the_ns_panel_empty(tmp_path: Path) -> None:
    report = make_report(tmp_path / "run", versions=("1.23.9",), emulated=("amd64", "arm64"))
    paths = write_case_plots(report, tmp_path / "out")
    svg = tmp_path / "out" / paths["sliceappend"]
    assert not [i for i in svg_ids(svg) if i.startswith("ns-")]
    assert "allocs-amd64-BenchmarkSliceAppend" in svg_ids(svg)
    assert "every column ran under emulation" in svg_texts(svg)


def test_cached_plots_are_reused_without_drawing(seed_report: dict[str, Any], plotted: tuple[Path, dict[str, str]],
                                                 tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out, paths = plotted
    cache = tmp_path / "cache"
    assert write_case_plots(seed_report, tmp_path / "first", cache_dir=cache) == paths
    assert len(list(cache.glob("*.svg"))) == len(SEED)

    def no_drawing(_data: dict[str, Any]) -> bytes:
        raise AssertionError("a cached plot was drawn again")

    monkeypatch.setattr(plots, "_draw", no_drawing)
    assert write_case_plots(seed_report, tmp_path / "second", cache_dir=cache) == paths
    for relative in paths.values():  # the same bytes as drawing them
        assert (tmp_path / "second" / relative).read_bytes() == (out / relative).read_bytes()


def test_changed_data_or_drawing_code_draws_again(seed_report: dict[str, Any], tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    write_case_plots(seed_report, tmp_path / "first", cache_dir=cache)
    drawn: list[str] = []

    def draw(data: dict[str, Any]) -> bytes:
        drawn.append(data["title"])
        return b"<svg></svg>\n"

    monkeypatch.setattr(plots, "_draw", draw)
    changed = copy.deepcopy(seed_report)
    result = changed["cases"][0]["benchmarks"][0]["results"]["go1.24.11 amd64"]
    result["ns_per_op"] *= 2  # a new ns/op measurement: only this case's plot changes
    write_case_plots(changed, tmp_path / "second", cache_dir=cache)
    assert drawn == [f"case {changed['cases'][0]['name']}: {changed['cases'][0]['title']}"]
    monkeypatch.setattr(plots, "PLOT_CODE_VERSION", plots.PLOT_CODE_VERSION + "-next")
    write_case_plots(seed_report, tmp_path / "third", cache_dir=cache)
    assert len(drawn) == 1 + len(SEED)  # every plot, under the new drawing code


def test_damaged_or_unwritable_cache_only_costs_a_drawing(seed_report: dict[str, Any],
                                                          plotted: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    out, paths = plotted
    cache = tmp_path / "cache"
    write_case_plots(seed_report, tmp_path / "first", cache_dir=cache)
    for entry in cache.glob("*.svg"):
        entry.write_bytes(entry.read_bytes()[:100])  # e.g. a full disk in an older version
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    for run, cache_dir in (("second", cache), ("third", blocked)):
        write_case_plots(seed_report, tmp_path / run, cache_dir=cache_dir)
        for relative in paths.values():
            assert (tmp_path / run / relative).read_bytes() == (out / relative).read_bytes()
    assert all(entry.read_bytes().rstrip().endswith(b"</svg>") for entry in cache.glob("*.svg"))


def test_plots_unused_for_a_long_time_are_pruned(seed_report: dict[str, Any], tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    stale, recent = cache / f"{'0' * 64}.svg", cache / f"{'1' * 64}.svg"
    for entry in (stale, recent):
        entry.write_bytes(b"<svg></svg>\n")
    old = time.time() - (plots.CACHE_KEEP_DAYS + 1) * 86400
    os.utime(stale, (old, old))
    write_case_plots(seed_report, tmp_path / "out", cache_dir=cache)
    assert not stale.exists() and recent.exists()
    assert len(list(cache.glob("*.svg"))) == 1 + len(SEED)


def test_the_report_imports_nothing_heavy() -> None:
    code = ("import sys, gomatrix.run.matrix, gomatrix.analysis.plots; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'matplotlib', 'numpy', 'scipy'}))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_a_recorded_report_plots_every_case_with_every_line(tmp_path: Path) -> None:
    report = json.loads((ROOT / "reports" / "2026-11-30" / "report.json").read_text(encoding="utf-8"))
    paths = write_case_plots(report, tmp_path)
    cases = [case for case in report["cases"] if case["benchmarks"]]
    assert set(paths) == {case["name"] for case in cases} and len(cases) >= 5
    native = {column["arch"] for column in report["columns"] if not column["emulated"]}
    arches = {column["arch"] for column in report["columns"]}
    for case in cases:
        ids = svg_ids(tmp_path / paths[case["name"]])
        for bench in case["benchmarks"]:
            expected = {f"{metric}-{arch}-{bench['name']}" for metric in ("allocs", "bytes") for arch in arches}
            expected |= {f"ns-{arch}-{bench['name']}" for arch in native}
            assert expected <= ids
        assert len([i for i in ids if i.startswith(("allocs-", "bytes-", "ns-"))]) == len(case["benchmarks"]) * (
            2 * len(arches) + len(native))
