"""Fault tests with real containers: hostile or broken cases end as one cell's status, and the rest
of the run is reported correctly. Every assertion about containers and volumes is scoped by the labels
of this suite's own runs (other runs may share the daemon).

Every run here has `build_cache: false`: it creates no volume but the scratch volume of each
container, which goes with the container. The suite's teardown checks that nothing of its runs
remains (`leak_check`)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gomatrix.docker.engine import CREATOR_LABEL, LABEL, RUN_LABEL
from tests.conftest import ROOT, invoke, load_cells, only_run_dir

pytestmark = pytest.mark.docker

FAULTS = ROOT / "tests" / "fixtures" / "faults"
VERSION = "1.24.11"
# Seconds per cell. Without a build cache the first cell of a container compiles the standard
# library cold (about 20 s on 2 busy cores); the cells after it share that container's GOCACHE.
CELL_TIMEOUT = 60
SEED_CASES = ("array", "makeslice", "sliceappend")
SEED_KEYS = {f"{case}--go{VERSION}--amd64" for case in SEED_CASES}


def run_label(run_dir: Path) -> str:
    return str(json.loads((run_dir / "run.json").read_text())["run_label"])


class Suite:
    """The reports directories of this suite's runs: their run.json files name every run label."""

    def __init__(self) -> None:
        self.outs: list[Path] = []

    def out(self, tmp: Path) -> Path:
        out = tmp / "out"
        self.outs.append(out)
        return out

    def labels(self) -> set[str]:
        labels: set[str] = set()
        for out in self.outs:
            for path in out.glob("*/run.json"):
                info = json.loads(path.read_text())
                labels.update([str(info["run_label"]), *map(str, info.get("earlier_labels", []))])
        return labels


@pytest.fixture(scope="module", autouse=True)
def leak_check(docker_engine: Any) -> Iterator[Suite]:
    """After the fault suite no container and no volume of its runs remains, and no labelled volume
    appeared that does not name the run that created it (volumes of other runs on the daemon, made
    meanwhile, name theirs and are ignored; those that existed before are not compared)."""
    before = docker_engine.volume_labels(LABEL)
    suite = Suite()
    yield suite
    labels = suite.labels()
    assert labels, "the fault suite recorded no run"
    containers = [c.name for c in docker_engine.labelled(LABEL) if c.labels.get(RUN_LABEL) in labels]
    new = {name: volume for name, volume in docker_engine.volume_labels(LABEL).items() if name not in before}
    ours = [name for name, volume in new.items()
            if volume.get(RUN_LABEL) in labels or volume.get(CREATOR_LABEL) in labels]
    unnamed = [name for name, volume in new.items() if not {RUN_LABEL, CREATOR_LABEL} & set(volume)]
    assert containers == [], f"containers of the fault suite's runs remain: {containers}"
    assert ours == [], f"volumes of the fault suite's runs remain: {ours}"
    assert unnamed == [], f"labelled volumes that name no run appeared: {unnamed}"


def write_config(tmp: Path, out: Path, image: str, **settings: Any) -> Path:
    """A matrix.yaml for one run of this suite: docker, the seed cases on amd64, no build cache (so no
    volume of its own), no result cache (every cell runs; resume runs the cells without a cell file)."""
    path = tmp / "matrix.yaml"
    path.write_text(yaml.safe_dump({
        "versions": [VERSION], "arches": ["amd64"], "cases_dir": str(ROOT / "cases"), "cases": list(SEED_CASES),
        "image": image, "bench": {"benchtime": "100ms", "count": 3}, "runner": "docker", "build_cache": False,
        "result_cache": False, "out": str(out), **settings}))
    return path


@pytest.fixture(scope="module")
def fault_run(registry_images: str, leak_check: Suite, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One run holding every faulty case and a healthy one, all in one container (isolation group)."""
    tmp = tmp_path_factory.mktemp("faults")
    config = write_config(tmp, leak_check.out(tmp), registry_images, cases_dir=str(FAULTS), cases="all",
                          bench={"benchtime": "50ms", "count": 1}, timeout=CELL_TIMEOUT,
                          limits={"memory": "512m", "pids": 1024, "cpus": 2.0})
    result = invoke("matrix", "--config", str(config))
    # the faulty cells fail or time out, so the run exits 9 and names each (the healthy one is not named)
    assert result.returncode == 9, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Traceback" not in result.stderr and "gomatrix: cells failed: " in result.stderr
    assert f"loop--go{VERSION}--amd64 (timeout: " in result.stderr and "plain--go" not in result.stderr
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
    for path in ("/usr/local/go/gomatrix-was-here", "/etc/gomatrix-was-here"):
        assert f"open {path}: read-only file system" in writeout["reason"]
    assert "open ../case/writeout.go: permission denied" in writeout["reason"]  # the scratch volume, root's file


def test_the_image_filesystem_is_read_only_even_where_its_modes_allow_writing(fault_run: Path) -> None:
    # /go is world-writable (1777) in golang images: the non-root user alone would not stop this write.
    writeout = cell(fault_run, "writeout")
    assert "/go is dtrwxrwxrwx" in writeout["reason"]
    assert "open /go/gomatrix-was-here: read-only file system" in writeout["reason"]


def test_nothing_of_the_fault_run_remains(fault_run: Path, docker_engine: Any) -> None:
    label = run_label(fault_run)
    assert docker_engine.labelled_containers(f"{RUN_LABEL}={label}") == []
    assert docker_engine.volume_labels(f"{RUN_LABEL}={label}") == {}  # its scratch volume went with it
    assert docker_engine.volume_labels(f"{CREATOR_LABEL}={label}") == {}  # build_cache: false, no GOCACHE volume


def start_run(config: Path, out: Path, docker_engine: Any, *, finished: int = 0) -> tuple[subprocess.Popen[str], str]:
    """Start `invoke matrix --config config`; return once `finished` cells have their files and a container
    of the run exists (a later cell runs), with the run's label."""
    proc = subprocess.Popen([sys.executable, "-m", "invoke", "matrix", "--config", str(config)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while proc.poll() is None:
        runs = list(out.glob("*/run.json")) if out.is_dir() else []
        if runs and len(load_cells(runs[0].parent)) >= finished:
            label = run_label(runs[0].parent)
            if docker_engine.labelled(f"{RUN_LABEL}={label}"):
                return proc, label
        time.sleep(0.2)
    stdout, stderr = proc.communicate()
    raise AssertionError(f"the run ended before the moment to stop it: {stdout[-2000:]} {stderr[-2000:]}")


def resume(config: Path, run_dir: Path) -> None:
    """`invoke matrix --resume` finishes the run: every cell ok, a whole report, nothing left."""
    again = invoke("matrix", "--config", str(config), "--resume", str(run_dir))
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    cells = load_cells(run_dir)
    assert set(cells) == SEED_KEYS and all(c["status"] == "ok" for c in cells.values()), cells
    assert "Partial report" not in (run_dir / "report.md").read_text()


def test_a_killed_orchestrator_leaves_nothing_after_clean_and_resume_completes(
        registry_images: str, leak_check: Suite, docker_engine: Any, tmp_path: Path) -> None:
    out = leak_check.out(tmp_path)
    config = write_config(tmp_path, out, registry_images)
    proc, label = start_run(config, out, docker_engine)
    proc.kill()  # SIGKILL: no chance to clean up
    proc.communicate()
    run_dir = only_run_dir(out)
    for path in (run_dir / "cells").glob("*.json"):  # only whole cell files
        json.loads(path.read_text())
    assert docker_engine.volume_labels(f"{RUN_LABEL}={label}")  # the container's scratch volume, left behind
    result = invoke("clean", "--run", label)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert docker_engine.labelled(f"{RUN_LABEL}={label}") == []
    assert docker_engine.volume_labels(f"{RUN_LABEL}={label}") == {}  # removed with its container
    resume(config, run_dir)
    assert docker_engine.labelled(f"{RUN_LABEL}={run_label(run_dir)}") == []


def test_sigterm_stops_cleanly_with_a_partial_report_and_resume_finishes_it(
        registry_images: str, leak_check: Suite, docker_engine: Any, tmp_path: Path) -> None:
    out = leak_check.out(tmp_path)
    config = write_config(tmp_path, out, registry_images)
    proc, label = start_run(config, out, docker_engine)
    proc.send_signal(signal.SIGTERM)
    _stdout, stderr = proc.communicate()
    assert proc.returncode == 130, stderr[-3000:]
    assert "run interrupted: SIGTERM received" in stderr and "--resume" in stderr
    assert "Traceback" not in stderr
    assert docker_engine.labelled(f"{RUN_LABEL}={label}") == []  # the run removed its own containers
    assert docker_engine.volume_labels(f"{RUN_LABEL}={label}") == {}
    run_dir = only_run_dir(out)
    missing = SEED_KEYS - set(load_cells(run_dir))
    assert missing  # the signal came while the first container ran
    partial = (run_dir / "report.md").read_text()
    assert "Partial report: the run was interrupted." in partial
    assert all(f"`{key}`" in partial for key in missing)
    resume(config, run_dir)


def test_sigint_keeps_finished_cells_removes_running_containers_and_lists_the_missing(
        registry_images: str, leak_check: Suite, docker_engine: Any, tmp_path: Path) -> None:
    # One container per cell, one at a time: the first cell finishes, then Ctrl-C while the next runs.
    out = leak_check.out(tmp_path)
    config = write_config(tmp_path, out, registry_images, isolation="cell", jobs=1)
    proc, label = start_run(config, out, docker_engine, finished=1)
    run_dir = only_run_dir(out)
    finished = load_cells(run_dir)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate()
    assert proc.returncode == 130, stdout[-3000:] + stderr[-3000:]
    assert "gomatrix: SIGINT: stopping" in stdout
    assert "run interrupted: SIGINT received" in stderr and f"--resume {run_dir}" in stderr
    assert "Traceback" not in stderr
    assert docker_engine.labelled(f"{RUN_LABEL}={label}") == []  # the running cell's container was removed
    assert docker_engine.volume_labels(f"{RUN_LABEL}={label}") == {}
    cells = load_cells(run_dir)
    assert finished and all(cells[key] == cell for key, cell in finished.items())  # kept as they were
    assert all(cell["status"] == "ok" for cell in cells.values()), cells
    missing = SEED_KEYS - set(cells)
    assert missing
    partial = (run_dir / "report.md").read_text()
    assert "Partial report: the run was interrupted." in partial
    assert f"{len(missing)} cell(s) are missing below: " in partial
    listed = partial.split("are missing below: ", 1)[1].split("\n", 1)[0]
    assert all(f"`{key}`" in listed for key in missing) and not any(f"`{key}`" in listed for key in cells)
    report = json.loads((run_dir / "report.json").read_text())
    assert {c["key"] for c in report["cells"]} == set(cells)  # the finished cells are in the report


def test_an_image_without_arm64_gives_skipped_arm64_cells_with_the_reason(
        registry_images: str, leak_check: Suite, docker_engine: Any, tmp_path: Path) -> None:
    # A single-platform (amd64) tag in the local registry: the amd64 golang image pushed under another name.
    registry = registry_images.split("/", 1)[0]
    amd64 = docker_engine.pull(registry_images.format(version=VERSION), "linux/amd64")
    single = f"{registry}/golang-amd64only:{VERSION}"
    for command in (["docker", "tag", amd64.id, single], ["docker", "push", single]):
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr
    out = leak_check.out(tmp_path)
    config = write_config(tmp_path, out, f"{registry}/golang-amd64only:{{version}}", arches=["amd64", "arm64"],
                          cases_dir=str(FAULTS), cases=["plain"], bench={"benchtime": "50ms", "count": 1})
    result = invoke("matrix", "--config", str(config))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    cells = load_cells(only_run_dir(out))
    arm64, amd64_cell = cells[f"plain--go{VERSION}--arm64"], cells[f"plain--go{VERSION}--amd64"]
    assert arm64["status"] == "skipped"
    assert "has no linux/arm64 image (the registry served amd64)" in arm64["reason"]
    assert amd64_cell["status"] == "ok", amd64_cell["reason"]
