"""Running returns values: every cell ends with a status and a reason, whatever happens inside.

A runner prepares what its cells need (images, toolchains), then runs one cell at a time with the
shared in-cell driver (driver.sh) and leaves the driver's raw outputs in the cell's raw directory.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from gomatrix.config import MatrixConfig
from gomatrix.emulation import emulation_problem
from gomatrix.engine import (
    CREATOR_LABEL,
    OWNER_LABEL,
    RUN_LABEL,
    SANDBOX_UID,
    ContainerResult,
    ContainerSpec,
    DockerEngine,
    ImageInfo,
    ImageNotAvailable,
    tar_directories,
)
from gomatrix.errors import ImageError
from gomatrix.exact import generated_for_case
from gomatrix.files import read_or_empty
from gomatrix.parse import compiler_errors
from gomatrix.plan import Cell
from gomatrix.resources import driver_script
from gomatrix.toolchains import Toolchain

# Exit codes of driver.sh
DRIVER_TOOLCHAIN = 10
DRIVER_COMPILE = 20
DRIVER_BENCH = 30
DRIVER_TIMEOUT = 40
COMPILE_FAILURE = "the case does not compile"

IN_CONTAINER_ROOT = "/tmp/gomatrix"
CACHE_MOUNT = "/gomatrix-cache"
# GOCACHE inside the volume: a directory of the sandbox user (volumes of root-run versions kept
# their root-owned go-build/ beside it).
SANDBOX_GOCACHE = f"{CACHE_MOUNT}/uid{SANDBOX_UID}/go-build"


@dataclass(frozen=True)
class CellOutcome:
    status: str  # ok | failed | skipped | timeout
    reason: str
    runner: str
    emulated: bool
    image: ImageInfo | None
    total_s: float
    started_at: str
    toolchain: Toolchain | None = None  # host runner: where the Go toolchain came from
    strategy: str = "native"  # native | cross | full
    build_image: ImageInfo | None = None  # docker cross: the native image that compiled the test binary


class Runner(Protocol):
    name: str

    def prepare(self, cells: list[Cell]) -> None:
        """Get what the cells need (images, toolchains) before any runs."""

    def strategy(self, cell: Cell) -> str:
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


def _tail(text: str, lines: int = 6) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def read_exit(raw_dir: Path) -> int | None:
    """driver.sh's exit code for the cell (ROOT/out/exit), None if it never finished."""
    try:
        return int((raw_dir / "exit").read_text().strip())
    except (OSError, ValueError):
        return None


def interpret_driver_exit(exit_code: int, raw_dir: Path, cell: Cell, label: str) -> tuple[str, str]:
    """(status, reason) from driver.sh's exit code and what it left in raw_dir."""
    if exit_code == 0:
        return "ok", ""
    if exit_code == DRIVER_COMPILE:
        errors = compiler_errors(read_or_empty(raw_dir / "escape.txt"), cell.case.go_files) or _tail(
            read_or_empty(raw_dir / "prepare.txt"))
        return "failed", f"{COMPILE_FAILURE} with {label}: {errors}"
    if exit_code == DRIVER_TIMEOUT:
        limit = read_or_empty(raw_dir / "timed-out").strip() or "?"
        return "timeout", f"the cell ran longer than {limit} s and was killed"
    if (raw_dir / "oom").exists():
        return "failed", (f"out of memory: a process of the cell hit the memory limit and was killed "
                          f"(with {label}): {_tail(read_or_empty(raw_dir / 'bench.txt'), 3)}")
    if exit_code == DRIVER_BENCH:
        return "failed", f"the benchmarks failed with {label}: {_tail(read_or_empty(raw_dir / 'bench.txt'))}"
    if exit_code == DRIVER_TOOLCHAIN:
        return "failed", f"no usable go toolchain in {label}: {_tail(read_or_empty(raw_dir / 'go-version.txt'))}"
    return "failed", f"the driver exited with {exit_code}"


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class DockerRunner:
    """Runs cells in containers of the Go version's image: by default one container per
    (image, platform) runs all its cells (isolation "group"), or one per cell (isolation "cell")."""

    name = "docker"

    def __init__(self, engine: DockerEngine, config: MatrixConfig, run_label: str,
                 log: Callable[[str], None] = print) -> None:
        self._engine = engine
        self._log = log
        self._config = config
        self._run_label = run_label
        self._native = engine.architecture()
        self._images: dict[tuple[str, str], ImageInfo | tuple[str, str]] = {}

    def strategy(self, cell: Cell) -> str:
        if cell.arch == self._native:
            return "native"
        return "full" if self._config.emulation == "full" else "cross"

    def _image_arches(self, cell: Cell) -> tuple[str, ...]:
        """cross: built in the native image, run in the arch's own image; else only the arch's image."""
        return (self._native, cell.arch) if self.strategy(cell) == "cross" else (cell.arch,)

    def prepare(self, cells: list[Cell]) -> None:
        for ref, arch in sorted({(c.image_ref, arch) for c in cells for arch in self._image_arches(c)}):
            self._log(f"pulling {ref} for linux/{arch}")
            try:
                self._images[(ref, arch)] = self._engine.pull(ref, f"linux/{arch}")
            except ImageNotAvailable as exc:
                self._images[(ref, arch)] = ("skipped", exc.what)
                self._log(f"  not available: {exc.what}")
            except ImageError as exc:
                self._images[(ref, arch)] = ("failed", exc.what)
        for arch in sorted({c.arch for c in cells}):
            problem = emulation_problem(arch, self._native) if self._engine.is_local() else None
            if problem:
                self._log(f"linux/{arch} cells will be skipped: {problem}")
                self._images[("*", f"emulation-{arch}")] = ("skipped", problem)

    def _image_of(self, cell: Cell, arch: str) -> ImageInfo | tuple[str, str]:
        blocked = self._images.get(("*", f"emulation-{cell.arch}"))
        if blocked is not None:
            return blocked
        image = self._images.get((cell.image_ref, arch), ("failed", "image was not prepared"))
        if isinstance(image, ImageInfo) and image.architecture != arch:
            return ("skipped", f"{image.ref} has no linux/{arch} image (the registry served {image.architecture})")
        return image

    def _image(self, cell: Cell) -> ImageInfo | tuple[str, str]:
        """The image the cell's benchmarks run in: always the arch's own."""
        return self._image_of(cell, cell.arch)

    def _build_image(self, cell: Cell) -> ImageInfo | tuple[str, str] | None:
        """cross: the native image that compiles the cell; None for the other strategies."""
        return self._image_of(cell, self._native) if self.strategy(cell) == "cross" else None

    def abort(self) -> None:
        """Remove this run's containers (running ones are killed): their run_group calls return."""
        for container in self._engine.labelled(f"{RUN_LABEL}={self._run_label}"):
            self._engine.remove_container(container.id)

    def group_key(self, cell: Cell) -> str:
        if self._config.isolation == "cell":
            return cell.key
        return f"{cell.image_ref} linux/{cell.arch} {self.strategy(cell)}"

    def cache_inputs(self, cell: Cell) -> dict[str, str] | None:
        image, build = self._image(cell), self._build_image(cell)
        if not isinstance(image, ImageInfo) or isinstance(build, tuple):
            return None
        inputs = {"runner": self.name, "image_id": image.id, "strategy": self.strategy(cell),
                  "memory": self._config.limits.memory, "pids": str(self._config.limits.pids)}
        if build is not None:
            inputs["build_image_id"] = build.id
        return inputs

    def run_group(self, cells: list[Cell], raw_dirs: list[Path]) -> list[CellOutcome]:
        started, start = utc_now(), time.monotonic()

        def outcome(cell: Cell, status: str, reason: str, image: ImageInfo | None, total: float) -> CellOutcome:
            build = self._build_image(cell)
            return CellOutcome(status=status, reason=reason, runner=self.name,
                               emulated=cell.arch != self._native, image=image,
                               total_s=round(total, 3), started_at=started, strategy=self.strategy(cell),
                               build_image=build if isinstance(build, ImageInfo) else None)

        results: dict[int, CellOutcome] = {}
        items: list[tuple[int, Cell, Path]] = []
        run_image: ImageInfo | None = None
        build_image: ImageInfo | None = None
        for index, (cell, raw_dir) in enumerate(zip(cells, raw_dirs, strict=True)):
            prepared, build = self._image(cell), self._build_image(cell)
            if isinstance(prepared, tuple):
                results[index] = outcome(cell, *prepared, None, 0.0)
            elif isinstance(build, tuple):
                results[index] = outcome(cell, build[0], f"cannot cross-compile: {build[1]}", prepared, 0.0)
            else:  # one group: every cell has the same images
                run_image, build_image = prepared, build
                items.append((index, cell, raw_dir))
        if run_image is not None and build_image is not None:
            results.update(self._run_cross(build_image, run_image, items, outcome, start))
        elif run_image is not None:
            results.update(self._run_phase(run_image, items, "all", {}, outcome, start))
        return [results[i] for i in range(len(cells))]

    def _run_cross(self, build_image: ImageInfo, run_image: ImageInfo, items: list[tuple[int, Cell, Path]],
                   outcome: Callable[[Cell, str, str, ImageInfo | None, float], CellOutcome],
                   start: float) -> dict[int, CellOutcome]:
        """cross: the native image compiles the test binaries (fast), the arch's own image runs them under
        QEMU and reports its go version and go env; the cell's image is the one that ran its benchmarks."""
        built: dict[str, bytes] = {}
        results = self._run_phase(build_image, items, "build", built, outcome, start)
        ready = [item for item in items if item[1].key in built]
        if ready:  # none when every cell failed to compile
            results.update(self._run_phase(run_image, ready, "run", built, outcome, start))
        return results

    def _run_phase(self, image: ImageInfo, items: list[tuple[int, Cell, Path]], phase: str,
                   built: dict[str, bytes], outcome: Callable[[Cell, str, str, ImageInfo | None, float], CellOutcome],
                   start: float) -> dict[int, CellOutcome]:
        """One container runs driver.sh for the items in one phase (all, build or run).

        build fills `built` with each compiled cell's files for the run phase (the test binary, and the
        marker that it holds the exact-count test) and returns outcomes only for cells that ended there."""
        volumes: dict[str, str] = {}
        # The cell runs as the sandbox user: HOME and every cell root are its scratch area.
        environment = {"HOME": f"{IN_CONTAINER_ROOT}/home", "GOMATRIX_CELL_TIMEOUT": str(self._config.timeout)}
        more_puts: list[tuple[str, bytes]] = []
        scratch_dirs: tuple[str, ...] = ()
        if self._config.build_cache:
            volume = f"gomatrix-gocache-{image.id.split(':')[-1][:16]}"
            # Shared by every run on purpose (no run label): `invoke clean --volumes` removes them.
            self._engine.ensure_volume(volume, {"io.gomatrix.cache": "gocache", "io.gomatrix.image": image.ref,
                                                CREATOR_LABEL: self._run_label})
            volumes[volume] = CACHE_MOUNT
            environment["GOCACHE"] = SANDBOX_GOCACHE
            more_puts.append((CACHE_MOUNT, tar_directories({}, writable_dirs=(f"uid{SANDBOX_UID}",))))
        else:
            # No volume: the container's cells share one GOCACHE in its scratch area (gone with it).
            environment["GOCACHE"] = f"{IN_CONTAINER_ROOT}/gocache"
            scratch_dirs = ("gomatrix/gocache",)
        extra: dict[str, bytes] = {"gomatrix/driver.sh": driver_script()}
        roots = []
        for _index, cell, _raw in items:
            settings = [f"GOMATRIX_BENCHTIME={self._config.bench.benchtime}",
                        f"GOMATRIX_COUNT={self._config.bench.count}", f"GOMATRIX_PHASE={phase}"]
            if phase == "build":
                settings.append(f"GOMATRIX_GOARCH={cell.arch}")
            extra[f"gomatrix/cells/{cell.key}/cell.env"] = ("\n".join(settings) + "\n").encode()
            if phase == "run":
                extra[f"gomatrix/cells/{cell.key}/case.test"] = built[cell.key]
                if f"{cell.key}/exact-built" in built:
                    extra[f"gomatrix/cells/{cell.key}/exact-built"] = b""
            else:
                for name, source in generated_for_case(cell.case.path, cell.case.go_files).items():
                    extra[f"gomatrix/cells/{cell.key}/exact/{name}"] = source.encode()
            roots.append(f"{IN_CONTAINER_ROOT}/cells/{cell.key}")
        archive = tar_directories({f"gomatrix/cells/{cell.key}/case": cell.case.path for _i, cell, _r in items},
                                  extra, writable_dirs=("gomatrix/home", *scratch_dirs,
                                                        *(f"gomatrix/cells/{c.key}" for _i, c, _r in items)))
        # The driver kills each cell at config.timeout; the container's limit is only a backstop.
        timeout = self._config.timeout * len(items) + 60
        spec = ContainerSpec(
            image_id=image.id,
            command=("sh", f"{IN_CONTAINER_ROOT}/driver.sh", *roots),
            environment=environment,
            labels={RUN_LABEL: self._run_label, OWNER_LABEL: f"{socket.gethostname()}:{os.getpid()}",
                    "io.gomatrix.cells": ",".join(cell.key for _i, cell, _r in items)[:1000],
                    "io.gomatrix.phase": phase},
            memory=self._config.limits.memory,
            pids=self._config.limits.pids,
            cpus=self._config.limits.cpus,
            volumes=volumes,
        )
        staging = Path(tempfile.mkdtemp(prefix="gomatrix-out-"))
        try:
            try:
                result = self._engine.run(spec, put=archive, put_into="/tmp", get=f"{IN_CONTAINER_ROOT}/cells",
                                          get_into=staging, timeout=timeout, more_puts=more_puts)
            except ImageError as exc:
                return {i: outcome(cell, "failed", exc.what, image, time.monotonic() - start)
                        for i, cell, _raw in items}
            results = {}
            for index, cell, raw_dir in items:
                _collect(staging / cell.key / "out", raw_dir, appending=phase == "run")
                with open(raw_dir / "driver.log", "a" if phase == "run" else "w", encoding="utf-8") as log:
                    log.write(f"== {phase} in {image.ref} (linux/{image.architecture}) ==\n{result.logs}\n")
                exit_code = read_exit(raw_dir)
                if phase == "build" and exit_code == 0 and (staging / cell.key / "case.test").is_file():
                    built[cell.key] = (staging / cell.key / "case.test").read_bytes()
                    if (raw_dir / "exact-built").exists():
                        built[f"{cell.key}/exact-built"] = b""
                    (raw_dir / "exit").unlink()  # the run phase's exit decides
                    continue
                total = _steps_seconds(raw_dir) or (time.monotonic() - start)
                status, reason = self._interpret(cell, raw_dir, exit_code, result, timeout, image)
                results[index] = outcome(cell, status, reason, image, total)
            return results
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _interpret(self, cell: Cell, raw_dir: Path, exit_code: int | None, result: ContainerResult, timeout: int,
                   image: ImageInfo) -> tuple[str, str]:
        if exit_code is not None:
            return interpret_driver_exit(exit_code, raw_dir, cell, image.ref)
        if result.timed_out:
            return "timeout", (f"the container ran longer than {timeout} s ({self._config.timeout} s per cell) "
                               "and was killed")
        if result.oom_killed:
            return "failed", f"out of memory: the container hit its {self._config.limits.memory} limit and was killed"
        if "exec format error" in result.logs:
            return "skipped", (f"linux/{cell.arch} binaries cannot run here (exec format error); register QEMU "
                               "user emulation (qemu-user-static, binfmt-support)")
        return "failed", f"the driver did not finish: {_tail(result.logs)}"


def _collect(out: Path, raw_dir: Path, *, appending: bool) -> None:
    """Copy a phase's outputs into the cell's raw directory; a later phase adds its steps to steps.tsv."""
    earlier = read_or_empty(raw_dir / "steps.tsv") if appending else ""
    if out.is_dir():
        shutil.copytree(out, raw_dir, dirs_exist_ok=True)
    if earlier:
        (raw_dir / "steps.tsv").write_text(earlier + read_or_empty(raw_dir / "steps.tsv"), encoding="utf-8")


def _steps_seconds(raw_dir: Path) -> float:
    """Wall time of the driver's steps for one cell (from steps.tsv)."""
    starts, ends = [], []
    for line in read_or_empty(raw_dir / "steps.tsv").splitlines():
        parts = line.split("\t")
        if len(parts) == 4:
            try:
                starts.append(float(parts[2]))
                ends.append(float(parts[3]))
            except ValueError:
                continue
    return max(ends) - min(starts) if starts else 0.0
