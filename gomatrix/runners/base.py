"""Running returns values: every cell ends with a status and a reason, whatever happens inside.

A runner prepares what its cells need (images, toolchains), then runs groups of cells (several at once
with --jobs) with the shared in-cell driver (driver.sh) and leaves the driver's raw outputs in each
cell's raw directory.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from gomatrix.core.files import read_or_empty
from gomatrix.core.kinds import LimitsBy, RunnerChoice, Status, Strategy
from gomatrix.core.text import tail
from gomatrix.core.values import version_key
from gomatrix.docker.engine import (
    SANDBOX_UID,
    ImageInfo,
)
from gomatrix.plan.cells import Cell
from gomatrix.results.parse import compiler_errors
from gomatrix.toolchains.providers import Toolchain

# Exit codes of driver.sh
DRIVER_TOOLCHAIN = 10
DRIVER_COMPILE = 20
DRIVER_BENCH = 30
DRIVER_TIMEOUT = 40
COMPILE_FAILURE = "the case does not compile"

IN_CONTAINER_ROOT = "/tmp/gomatrix"
CACHE_MOUNT = "/gomatrix-cache"
# Module cases: the module cache filled before the cells, read-only in every cell of the module.
MODCACHE_MOUNT = "/gomatrix-modcache"
# GOCACHE inside the volume: a directory of the sandbox user (volumes of root-run versions kept
# their root-owned go-build/ beside it).
SANDBOX_GOCACHE = f"{CACHE_MOUNT}/uid{SANDBOX_UID}/go-build"


@dataclass(frozen=True)
class Unavailable:
    """Why cells cannot run here (no image, toolchain or emulation for them): the status they end with
    (skipped, or failed when something broke) and the reason, which names the fix."""

    status: Status
    reason: str


@dataclass(frozen=True)
class Ending:
    """How the driver says a cell ended: status, reason, and whether the case does not compile (a finding
    a rerun reproduces, so the result cache keeps it)."""

    status: Status
    reason: str = ""
    compile_failure: bool = False


@dataclass(frozen=True)
class SandboxInfo:
    """Host runner: what confined the cell. tool None: unsandboxed (asked for with --unsandboxed)."""

    tool: str | None
    limits: LimitsBy


@dataclass(frozen=True)
class CellOutcome:
    status: Status
    reason: str
    runner: RunnerChoice
    emulated: bool
    image: ImageInfo | None
    total_s: float
    started_at: str
    toolchain: Toolchain | None = None  # host runner: where the Go toolchain came from
    strategy: Strategy = Strategy.NATIVE
    build_image: ImageInfo | None = None  # docker cross: the native image that compiled the test binary
    compile_failure: bool = False  # see Ending
    sandbox: SandboxInfo | None = None  # host runner only


class Runner(Protocol):
    name: RunnerChoice  # DOCKER or HOST

    def prepare(self, cells: list[Cell]) -> None:
        """Get what the cells need (images, toolchains) before any runs."""

    def strategy(self, cell: Cell) -> Strategy:
        """How the cell's arch is run: native, cross (native compiler, QEMU runs the test binary) or
        full (the arch's own toolchain under QEMU)."""

    def group_key(self, cell: Cell) -> str:
        """Cells with the same key may run in one execution (one container)."""

    def cache_inputs(self, cell: Cell) -> dict[str, str] | None:
        """What, besides the case and the settings, decides the cell's result; None: do not cache."""

    def run_group(self, cells: list[Cell], raw_dirs: list[Path]) -> list[CellOutcome]:
        """Run cells (one group); raw outputs go to raw_dirs. Never raises for a problem of a cell."""

    def abort(self) -> None:
        """Stop every running cell now (the run is interrupted); run_group calls then return soon."""

    def close(self) -> None:
        """The run is over: remove what prepare() made for it (module caches)."""


def module_unavailable(cell: Cell, version: str) -> Unavailable | None:
    """A module case whose go.mod needs a newer Go than version (the cell's, exact or a minor): skipped,
    as GOTOOLCHAIN=local never fetches another toolchain. None: it can build, or it is no module."""
    module = cell.case.module
    if module is None or module.go is None:
        return None
    needs, have = version_key(module.go), version_key(version)
    if have[2] == -1:  # a bare minor: any patch of it
        needs, have = needs[:2], have[:2]
    if have < needs:
        return Unavailable(Status.SKIPPED, f"needs go{module.go} (go.mod)")
    return None


def read_exit(raw_dir: Path) -> int | None:
    """driver.sh's exit code for the cell (ROOT/out/exit), None if it never finished."""
    try:
        return int((raw_dir / "exit").read_text().strip())
    except (OSError, ValueError):
        return None


def interpret_driver_exit(exit_code: int, raw_dir: Path, cell: Cell, label: str) -> Ending:
    """How the cell ended, from driver.sh's exit code and what it left in raw_dir."""
    if exit_code == 0:
        return Ending(Status.OK)
    if exit_code == DRIVER_COMPILE:
        errors = compiler_errors(read_or_empty(raw_dir / "escape.txt"), cell.case.go_files) or tail(
            read_or_empty(raw_dir / "prepare.txt"))
        return Ending(Status.FAILED, f"{COMPILE_FAILURE} with {label}: {errors}", compile_failure=True)
    if exit_code == DRIVER_TIMEOUT:
        limit = read_or_empty(raw_dir / "timed-out").strip() or "?"
        return Ending(Status.TIMEOUT, f"the cell ran longer than {limit} s and was killed")
    bench = _failed_run(raw_dir)
    if (raw_dir / "oom").exists():
        return Ending(Status.FAILED, f"out of memory: a process of the cell hit the memory limit and was killed "
                                     f"(with {label}): {tail(bench, 3)}")
    # A Go runtime crash ends with a goroutine dump: its first line says why.
    fatal = next((line for line in bench.splitlines() if line.startswith("fatal error: ")), "")
    if "out of memory" in fatal or "cannot allocate memory" in fatal:
        return Ending(Status.FAILED, f"out of memory: the Go runtime could not get memory within the limit "
                                     f"(with {label}): {fatal}")
    if exit_code == DRIVER_BENCH:
        return Ending(Status.FAILED, f"the benchmarks failed with {label}: {fatal or _failure(bench)}")
    if exit_code == DRIVER_TOOLCHAIN:
        return Ending(Status.FAILED,
                      f"no usable go toolchain in {label}: {tail(read_or_empty(raw_dir / 'go-version.txt'))}")
    return Ending(Status.FAILED, f"the driver exited with {exit_code}")


_FAILED = ("--- FAIL", "FAIL", "panic:", "fatal error:")


def _failed_run(raw_dir: Path) -> str:
    """The output of the run of the test binary that failed: the timed run's (bench.txt), else the exact
    run's (with bench.timings off there is no timed run, and the exact run runs every benchmark first)."""
    outputs = [read_or_empty(raw_dir / name) for name in ("bench.txt", "exact-bench.txt", "sites-bench.txt")]
    return next((text for text in outputs if any(line.startswith(_FAILED) for line in text.splitlines())),
                outputs[0] or outputs[1])


def _failure(output: str, most: int = 6) -> str:
    """What failed: go test's first "--- FAIL: BenchmarkX" with what the benchmark logged (the indented lines
    after it), else the output's tail. A module's output is long, and its tail is only go test's FAIL lines."""
    lines = output.splitlines()
    at = next((i for i, line in enumerate(lines) if line.startswith("--- FAIL")), None)
    if at is None:
        return tail(output)
    logged = []
    for line in lines[at + 1:at + 1 + most]:
        if not line.startswith((" ", "\t")):
            break
        logged.append(line)
    return "\n".join([lines[at], *logged])


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


