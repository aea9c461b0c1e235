"""Fault tests with real containers: hostile or broken cases end as one cell's status, and the rest
of the run is reported correctly. Every assertion about containers is scoped by this run's label."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT, invoke, load_cells, only_run_dir

pytestmark = pytest.mark.docker

FAULTS = ROOT / "tests" / "fixtures" / "faults"
VERSION = "1.24.11"
CELL_TIMEOUT = 45  # seconds per cell: the compile of a small case with a warm GOCACHE takes a few


def run_label(run_dir: Path) -> str:
    return str(json.loads((run_dir / "run.json").read_text())["run_label"])


@pytest.fixture(scope="module")
def fault_run(registry_images: str, docker_seed_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One run holding every faulty case and a healthy one, all in one container (isolation group).

    docker_seed_run first: it fills the GOCACHE volume, so compiles fit in the small timeout.
    """
    tmp = tmp_path_factory.mktemp("faults")
    config = tmp / "matrix.yaml"
    config.write_text(yaml.safe_dump({
        "versions": [VERSION], "arches": ["amd64"], "cases_dir": str(FAULTS), "image": registry_images,
        "bench": {"benchtime": "50ms", "count": 1}, "timeout": CELL_TIMEOUT, "runner": "docker",
        "limits": {"memory": "512m", "pids": 1024, "cpus": 2.0}, "result_cache": False, "out": str(tmp / "out"),
    }))
    result = invoke("matrix", "--config", str(config))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    return only_run_dir(tmp / "out")


def cell(run_dir: Path, case: str) -> dict[str, Any]:
    return load_cells(run_dir)[f"{case}--go{VERSION}--amd64"]


def test_the_healthy_case_beside_the_faults_is_correct(fault_run: Path) -> None:
    plain = cell(fault_run, "plain")
    assert plain["status"] == "ok", plain["reason"]
    assert {b["name"]: b["allocs_per_op"] for b in plain["benchmarks"]}["BenchmarkEscapes"] == 1
    assert len(load_cells(fault_run)) == 6


def test_an_infinite_loop_times_out(fault_run: Path) -> None:
    loop = cell(fault_run, "loop")
    assert loop["status"] == "timeout"
    assert f"longer than {CELL_TIMEOUT} s" in loop["reason"]


def test_a_fork_bomb_is_contained_by_the_pids_limit(fault_run: Path) -> None:
    bomb = cell(fault_run, "forkbomb")
    assert bomb["status"] in ("failed", "timeout"), bomb["reason"]
    # The cells after it in the same container ran normally: the bomb's processes were killed.
    for case in ("loop", "network", "oom", "plain", "writeout"):
        assert cell(fault_run, case)["status"] != "skipped"


def test_an_allocation_beyond_the_memory_limit_fails_with_out_of_memory(fault_run: Path) -> None:
    oom = cell(fault_run, "oom")
    assert oom["status"] == "failed"
    assert "out of memory" in oom["reason"]


def test_a_case_that_dials_the_network_fails_inside(fault_run: Path) -> None:
    network = cell(fault_run, "network")
    assert network["status"] == "failed"
    assert "dial failed" in network["reason"] and "network is unreachable" in network["reason"]


def test_a_case_that_writes_outside_its_scratch_area_is_refused(fault_run: Path) -> None:
    writeout = cell(fault_run, "writeout")
    assert writeout["status"] == "failed"
    for path in ("/usr/local/go/gomatrix-was-here", "/etc/gomatrix-was-here", "../case/writeout.go"):
        assert f"open {path}: permission denied" in writeout["reason"]


def test_no_container_of_the_fault_run_remains(fault_run: Path, docker_engine: Any) -> None:
    assert docker_engine.labelled_containers(f"io.gomatrix.run={run_label(fault_run)}") == []


SEED_ARM64 = ("matrix", "--runner", "docker", "--versions", VERSION, "--arches", "arm64", "--benchtime", "100ms",
              "--count", "3")
SEED_KEYS = {f"{case}--go{VERSION}--arm64" for case in ("array", "makeslice", "sliceappend")}


def start_run(args: tuple[str, ...], env: dict[str, str], out: Path, docker_engine: Any) -> tuple[
        subprocess.Popen[str], str]:
    """Start `invoke matrix` and return once a container of its run exists (the run's label with it)."""
    proc = subprocess.Popen([sys.executable, "-m", "invoke", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    while proc.poll() is None:
        runs = list(out.glob("*/run.json")) if out.is_dir() else []
        if runs:
            label = run_label(runs[0].parent)
            if docker_engine.labelled(f"io.gomatrix.run={label}"):
                return proc, label
        time.sleep(0.2)
    stdout, stderr = proc.communicate()
    raise AssertionError(f"the run ended before it started a container: {stdout[-2000:]} {stderr[-2000:]}")


def private_cache(tmp_path: Path) -> dict[str, str]:
    """A result cache of its own: other runs with the same settings must not feed or read it."""
    return {**os.environ, "GOMATRIX_CACHE": str(tmp_path / "cache"), "PYTHONUNBUFFERED": "1"}


def test_a_killed_orchestrator_leaves_nothing_after_clean_and_resume_completes(
        registry_images: str, docker_seed_run: Path, docker_engine: Any, tmp_path: Path) -> None:
    out, env = tmp_path / "out", private_cache(tmp_path)
    args = (*SEED_ARM64, "--image", registry_images, "--out", str(out))
    proc, label = start_run(args, env, out, docker_engine)
    proc.kill()  # SIGKILL: no chance to clean up
    proc.communicate()
    run_dir = only_run_dir(out)
    for path in (run_dir / "cells").glob("*.json"):  # only whole cell files
        json.loads(path.read_text())
    result = invoke("clean", "--run", label, env=env)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert docker_engine.labelled(f"io.gomatrix.run={label}") == []
    again = invoke(*args, "--resume", str(run_dir), env=env)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    cells = load_cells(run_dir)
    assert set(cells) == SEED_KEYS and all(c["status"] == "ok" for c in cells.values()), cells
    assert "Partial report" not in (run_dir / "report.md").read_text()
    assert docker_engine.labelled(f"io.gomatrix.run={run_label(run_dir)}") == []


def test_sigterm_stops_cleanly_with_a_partial_report_and_resume_finishes_it(
        registry_images: str, docker_seed_run: Path, docker_engine: Any, tmp_path: Path) -> None:
    out, env = tmp_path / "out", private_cache(tmp_path)
    args = (*SEED_ARM64, "--image", registry_images, "--out", str(out))
    proc, label = start_run(args, env, out, docker_engine)
    proc.send_signal(signal.SIGTERM)
    _stdout, stderr = proc.communicate()
    assert proc.returncode == 130, stderr[-3000:]
    assert "run interrupted: SIGTERM received" in stderr and "--resume" in stderr
    assert "Traceback" not in stderr
    assert docker_engine.labelled(f"io.gomatrix.run={label}") == []  # the run removed its own containers
    run_dir = only_run_dir(out)
    missing = SEED_KEYS - set(load_cells(run_dir))
    assert missing  # the signal came while the first container ran
    partial = (run_dir / "report.md").read_text()
    assert "Partial report: the run was interrupted." in partial
    assert all(f"`{key}`" in partial for key in missing)
    again = invoke(*args, "--resume", str(run_dir), env=env)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    cells = load_cells(run_dir)
    assert set(cells) == SEED_KEYS and all(c["status"] == "ok" for c in cells.values()), cells
    assert "Partial report" not in (run_dir / "report.md").read_text()


def test_an_image_without_arm64_gives_skipped_arm64_cells_with_the_reason(
        registry_images: str, docker_engine: Any, tmp_path: Path) -> None:
    # A single-platform (amd64) tag in the local registry: the amd64 golang image pushed under another name.
    registry = registry_images.split("/", 1)[0]
    amd64 = docker_engine.pull(registry_images.format(version=VERSION), "linux/amd64")
    single = f"{registry}/golang-amd64only:{VERSION}"
    for command in (["docker", "tag", amd64.id, single], ["docker", "push", single]):
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
    out = tmp_path / "out"
    result = invoke("matrix", "--runner", "docker", "--image", f"{registry}/golang-amd64only:{{version}}",
                    "--versions", VERSION, "--arches", "amd64,arm64", "--cases-dir", str(FAULTS), "--cases", "plain",
                    "--benchtime", "50ms", "--count", "1", "--force", "--out", str(out))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    cells = load_cells(only_run_dir(out))
    arm64, amd64_cell = cells[f"plain--go{VERSION}--arm64"], cells[f"plain--go{VERSION}--amd64"]
    assert arm64["status"] == "skipped"
    assert "has no linux/arm64 image (the registry served amd64)" in arm64["reason"]
    assert amd64_cell["status"] == "ok", amd64_cell["reason"]
