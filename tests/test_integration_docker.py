"""Integration: `invoke matrix` for real, against the Docker daemon and the local registry's golang images.

CI provisions both (.ci/provision.sh); without them these tests fail in CI and skip elsewhere.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gomatrix.core.values import ALLOCATES_THRESHOLD
from tests.conftest import FIXTURE_CASES, ROOT, SEED_ARGS, counts, invoke, load_cells, only_run_dir

pytestmark = pytest.mark.docker


def test_every_cell_ran_and_reports_its_toolchain(docker_seed_run: Path) -> None:
    cells = load_cells(docker_seed_run)
    assert len(cells) == 12
    for key, cell in cells.items():
        assert cell["status"] == "ok", (key, cell["reason"])
        assert cell["arch"] == cell["planned"]["arch"]  # as `go env GOARCH` said inside
        assert cell["image"]["architecture"] == cell["arch"]
        assert cell["go_version"] == "go" + cell["planned"]["version"]
        assert cell["go_version_line"].endswith(f"linux/{cell['arch']}")
        assert cell["image"]["digest"].startswith("sha256:")
        assert cell["emulated"] == (cell["arch"] == "arm64")
        # emulated cells take no timed samples (bench.timings native): go test's output is the exact run's
        output = cell["raw"]["exact_bench" if cell["emulated"] else "bench"]
        assert (docker_seed_run / output).read_text().startswith("goos: linux")
        assert cell["hook"] == {"applied": True, "why": None}


def test_array_allocs_change_between_go1_23_and_go1_24_on_both_arches(docker_seed_run: Path) -> None:
    cells = load_cells(docker_seed_run)
    for arch in ("amd64", "arm64"):
        old, new = (counts(cells[f"array--{v}--{arch}"]) for v in ("go1.23.9", "go1.24.11"))
        assert old["BenchmarkEaArray1"] == 0 and new["BenchmarkEaArray1"] == 1
        assert old["BenchmarkEaArray2"] == 1 == new["BenchmarkEaArray2"]
        benches = {b["name"]: b for b in cells[f"array--go1.24.11--{arch}"]["benchmarks"]}
        assert len(benches["BenchmarkEaArray1"]["samples"]) == (3 if arch == "amd64" else 0)


def test_report_shows_the_arr_site_moving_to_the_heap(docker_seed_run: Path) -> None:
    report = json.loads((docker_seed_run / "report.json").read_text())
    array = next(c for c in report["cases"] if c["name"] == "array")
    site = next(s for s in array["sites"] if s["id"] == "array_test.go:9:7")
    assert site["source"] == "var arr [1024 * 1024 * 10]byte"
    # go1.23.9: -m silent and nothing measured at the line; go1.24.11: "moved to heap: arr" and one allocation
    assert {col: (v["compiler"], v["evidence"], [round(m["allocs_per_op"], 1) for m in v["measured"]])
            for col, v in site["cells"].items()} == {
        "go1.23.9 amd64": ("none", "nothing measured, no diagnostic", []),
        "go1.23.9 arm64": ("none", "nothing measured, no diagnostic", []),
        "go1.24.11 amd64": ("heap", "heap (measured)", [1.0]), "go1.24.11 arm64": ("heap", "heap (measured)", [1.0])}
    change = "- array, **allocations** at `array_test.go:9:7` `var arr [1024 * 1024 * 10]byte`: nothing " \
             "measured up to go1.23.9, 1 (`BenchmarkEaArray1`) from go1.24.11; `-m`'s verdict changed with it " \
             "(amd64, arm64)"
    markdown = (docker_seed_run / "report.md").read_text()
    assert change in markdown
    latest = (docker_seed_run.parent / "latest.md").read_text()
    assert latest.startswith(f"<!-- copy of {docker_seed_run.name}/report.md -->")
    assert change in latest


def test_merge_rebuilds_the_report_and_rejects_a_corrupt_cell(docker_seed_run: Path, tmp_path: Path) -> None:
    copy = tmp_path / docker_seed_run.name
    shutil.copytree(docker_seed_run, copy)
    (copy / "report.json").unlink()
    result = invoke("merge", str(copy))
    assert result.returncode == 0, result.stderr
    assert json.loads((copy / "report.json").read_text())["cells"]
    bad = copy / "cells" / "makeslice--go1.24.11--arm64.json"
    doc = json.loads(bad.read_text())
    doc["escapes"][0]["verdict"] = "somewhere"
    bad.write_text(json.dumps(doc))
    before = {p.name: p.read_bytes() for p in (copy / "cells").glob("*.json")}
    result = invoke("merge", str(copy))
    assert result.returncode == 6
    assert str(bad) in result.stderr and "$.escapes[0].verdict" in result.stderr
    assert "Traceback" not in result.stderr
    assert {p.name: p.read_bytes() for p in (copy / "cells").glob("*.json")} == before


def test_a_case_that_needs_a_newer_go_fails_alone(registry_images: str, tmp_path: Path,
                                                   docker_engine: Any) -> None:
    out = tmp_path / "reports"
    result = invoke("matrix", "--image", registry_images, "--versions", "1.23.9,1.24.11", "--arches", "amd64",
                    "--cases-dir", str(FIXTURE_CASES), "--out", str(out), "--benchtime", "50ms", "--count", "1")
    # the one failure is the one newonly's case.yaml expects (expected_failures): the run does not fail
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "gomatrix: newonly--go1.23.9--amd64 failed, as its case expects: testing.B.Loop is new in go1.24" \
        in result.stdout
    run_dir = only_run_dir(out)
    cells = load_cells(run_dir)
    assert cells["newonly--go1.23.9--amd64"]["status"] == "failed"
    expected = {c["key"]: c.get("expected_failure") for c in json.loads((run_dir / "report.json").read_text())["cells"]}
    assert expected["newonly--go1.23.9--amd64"] == "testing.B.Loop is new in go1.24"
    assert expected["newonly--go1.24.11--amd64"] is None
    assert "b.Loop undefined" in cells["newonly--go1.23.9--amd64"]["reason"]
    for key in ("newonly--go1.24.11--amd64", "plain--go1.23.9--amd64", "plain--go1.24.11--amd64"):
        assert cells[key]["status"] == "ok", cells[key]["reason"]
    for version in ("1.23.9", "1.24.11"):  # a benchmark in a block comment: the hook sees what go test runs
        commented = cells[f"commented--go{version}--amd64"]
        assert commented["status"] == "ok" and commented["benchmarks"][0]["exact"]["go_test_agrees"] is True
    plain = {b["name"]: b for b in cells["plain--go1.23.9--amd64"]["benchmarks"]}
    assert plain["BenchmarkEscapes"]["allocs_per_op"] == 1
    markdown = (run_dir / "report.md").read_text()
    assert "b.Loop undefined" in markdown and "`plain`" in markdown
    assert "failed (as its case expects: testing.B.Loop is new in go1.24)" in markdown
    # Every container of this run is removed (other runs may share the daemon: look at this run's cells).
    listing = subprocess.run(["docker", "ps", "-a", "--filter", "label=io.gomatrix",
                              "--format", '{{.Label "io.gomatrix.cells"}}'], capture_output=True, text=True, check=True)
    assert not [line for line in listing.stdout.splitlines() if "newonly--" in line]


def test_missing_platform_is_a_skipped_cell_not_a_crash(registry_images: str, tmp_path: Path) -> None:
    # No such tag in the registry: the cells end as skipped with the reason, the run completes.
    out = tmp_path / "reports"
    result = invoke("matrix", "--image", registry_images, "--versions", "1.19.99", "--arches", "amd64",
                    "--cases", "array", "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    cell = load_cells(only_run_dir(out))["array--go1.19.99--amd64"]
    assert cell["status"] == "skipped"
    assert "1.19.99" in cell["reason"]


def test_unreachable_daemon_is_a_clear_error_when_docker_is_asked_for(tmp_path: Path) -> None:
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/nothing.sock"}
    result = subprocess.run([sys.executable, "-m", "invoke", "matrix", "--runner", "docker", "--versions", "1.24.11",
                             "--arches", "amd64", "--out", str(tmp_path / "o")], cwd=ROOT, capture_output=True,
                            text=True, env=env, timeout=120)
    assert result.returncode == 4
    assert "no Docker daemon answers" in result.stderr and "Traceback" not in result.stderr


def test_an_unchanged_rerun_reuses_every_cell(docker_seed_run: Path, registry_images: str, tmp_path: Path) -> None:
    args = [a for a in SEED_ARGS if a != "--force"]
    result = invoke("matrix", "--runner", "docker", "--image", registry_images, *args, "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("from the result cache") == 12
    first, again = load_cells(docker_seed_run), load_cells(only_run_dir(tmp_path))
    for key, cell in again.items():
        assert cell["cache"]["hit"] is True and cell["cache"]["key"] == first[key]["cache"]["key"]
        assert cell["benchmarks"] == first[key]["benchmarks"] and cell["escapes"] == first[key]["escapes"]
        # the raw outputs come back too (emulated cells have the exact run's go test output, no timed samples)
        assert (only_run_dir(tmp_path) / cell["raw"]["exact_bench" if cell["emulated"] else "bench"]).exists()


def _site_shapes(cell: dict[str, Any]) -> list[tuple[Any, ...]]:
    """A cell's sites: positions, the compiler's verdicts and the benchmarks that allocate there (not noise)."""
    return [(s["file"], s["line"], s["column"], s["compiler"],
             [m["benchmark"] for m in s["measured"] if m["allocs_per_op"] >= ALLOCATES_THRESHOLD])
            for s in cell["sites"]]


def test_cross_compiled_arm64_cells_agree_with_the_arm64_image(docker_seed_run: Path, registry_images: str,
                                                                 tmp_path: Path) -> None:
    """The seed run's arm64 cells are cross (the default): compiled in the amd64 image, run in the arm64 one.
    Full emulation (the arm64 image's own toolchain under QEMU) gives the same allocs/op and verdicts."""
    result = invoke("matrix", "--runner", "docker", "--image", registry_images, "--versions", "1.23.9,1.24.11",
                    "--arches", "arm64", "--cases", "array,makeslice,sliceappend", "--emulation", "full",
                    "--benchtime", "100ms", "--count", "3", "--force", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    cross, full = load_cells(docker_seed_run), load_cells(only_run_dir(tmp_path))
    assert len(full) == 6
    for key, cell in full.items():
        assert cell["status"] == "ok", cell["reason"]
        assert (cell["strategy"], cell["arch"], cell["image"]["architecture"]) == ("full", "arm64", "arm64")
        assert cell["build_image"] is None
        crossed = cross[key]
        assert (crossed["strategy"], crossed["image"]["architecture"]) == ("cross", "arm64")
        assert crossed["build_image"]["architecture"] == "amd64"
        assert crossed["build_image"]["ref"] == crossed["image"]["ref"]  # the same Go version's image
        assert crossed["go_version_line"] == cell["go_version_line"]  # both from the arm64 image's go
        assert [s["name"] for s in crossed["timings"]["steps"]] == [
            "build-version", "prepare", "hook", "compile", "cover-compile", "version", "env", "prepare", "exact",
            "sites", "cover"]
        assert counts(cell) == counts(crossed)
        assert {(e["file"], e["line"], e["subject"], e["verdict"]) for e in cell["escapes"]} == {
            (e["file"], e["line"], e["subject"], e["verdict"]) for e in crossed["escapes"]}
        # the same sites, and the same lines allocating, whichever toolchain compiled the test binary
        assert _site_shapes(cell) == _site_shapes(crossed)


def test_a_cross_cell_that_does_not_compile_fails_with_the_message(registry_images: str, tmp_path: Path) -> None:
    """The amd64 image compiles for arm64 and the compiler refuses: the cell fails there, no arm64 container runs."""
    result = invoke("matrix", "--image", registry_images, "--versions", "1.23.9", "--arches", "arm64",
                    "--cases-dir", str(FIXTURE_CASES), "--cases", "newonly", "--force", "--out", str(tmp_path))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    cell = load_cells(only_run_dir(tmp_path))["newonly--go1.23.9--arm64"]
    assert (cell["status"], cell["strategy"]) == ("failed", "cross")
    assert "b.Loop undefined" in cell["reason"]
    assert cell["build_image"]["architecture"] == "amd64"
    log = (only_run_dir(tmp_path) / cell["raw"]["driver_log"]).read_text()
    assert "== build in" in log and "== run in" not in log
