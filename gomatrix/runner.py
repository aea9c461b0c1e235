"""Running returns values: every cell ends with a status and a reason, whatever happens inside.

A runner prepares what its cells need (images, toolchains), then runs one cell at a time with the
shared in-cell driver (driver.sh) and leaves the driver's raw outputs in the cell's raw directory.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Protocol

from gomatrix.config import MatrixConfig
from gomatrix.emulation import emulation_problem
from gomatrix.engine import ContainerSpec, DockerEngine, ImageInfo, ImageNotAvailable, tar_directory
from gomatrix.errors import ImageError
from gomatrix.parse import compiler_errors
from gomatrix.plan import Cell
from gomatrix.toolchains import Toolchain

# Exit codes of driver.sh
DRIVER_TOOLCHAIN = 10
DRIVER_COMPILE = 20
DRIVER_BENCH = 30
DRIVER_VERSION = "1"

IN_CONTAINER_ROOT = "/tmp/gomatrix"
CACHE_MOUNT = "/gomatrix-cache"


def driver_script() -> bytes:
    return resources.files("gomatrix").joinpath("driver.sh").read_bytes()


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


class Runner(Protocol):
    name: str

    def prepare(self, cells: list[Cell]) -> None:
        """Get what the cells need (images, toolchains) before any runs."""

    def run(self, cell: Cell, raw_dir: Path) -> CellOutcome:
        """Run one cell; raw outputs go to raw_dir. Never raises for a problem of the cell itself."""


def _tail(text: str, lines: int = 6) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def interpret_driver_exit(exit_code: int, raw_dir: Path, cell: Cell, label: str) -> tuple[str, str]:
    """(status, reason) from driver.sh's exit code and what it left in raw_dir."""
    if exit_code == 0:
        return "ok", ""
    if exit_code == DRIVER_COMPILE:
        errors = compiler_errors(_read(raw_dir / "escape.txt"), cell.case.go_files) or _tail(
            _read(raw_dir / "prepare.txt"))
        return "failed", f"the case does not compile with {label}: {errors}"
    if exit_code == DRIVER_BENCH:
        return "failed", f"the benchmarks failed with {label}: {_tail(_read(raw_dir / 'bench.txt'))}"
    if exit_code == DRIVER_TOOLCHAIN:
        return "failed", f"no usable go toolchain in {label}: {_tail(_read(raw_dir / 'go-version.txt'))}"
    return "failed", f"the driver exited with {exit_code}"


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class DockerRunner:
    """Runs each cell in a fresh container of the Go version's image for the cell's platform."""

    name = "docker"

    def __init__(self, engine: DockerEngine, config: MatrixConfig, run_label: str,
                 log: Callable[[str], None] = print) -> None:
        self._engine = engine
        self._log = log
        self._config = config
        self._run_label = run_label
        self._native = engine.architecture()
        self._images: dict[tuple[str, str], ImageInfo | tuple[str, str]] = {}

    def prepare(self, cells: list[Cell]) -> None:
        for ref, arch in sorted({(c.image_ref, c.arch) for c in cells}):
            problem = emulation_problem(arch, self._native) if self._engine.is_local() else None
            if problem:
                self._images[(ref, arch)] = ("skipped", problem)
                continue
            self._log(f"pulling {ref} for linux/{arch}")
            try:
                self._images[(ref, arch)] = self._engine.pull(ref, f"linux/{arch}")
            except ImageNotAvailable as exc:
                self._images[(ref, arch)] = ("skipped", exc.what)
                self._log(f"  not available: {exc.what}")
            except ImageError as exc:
                self._images[(ref, arch)] = ("failed", exc.what)

    def image_for(self, cell: Cell) -> ImageInfo | tuple[str, str]:
        return self._images.get((cell.image_ref, cell.arch), ("failed", "image was not prepared"))

    def run(self, cell: Cell, raw_dir: Path) -> CellOutcome:
        started, start = utc_now(), time.monotonic()
        prepared = self.image_for(cell)

        def outcome(status: str, reason: str, image: ImageInfo | None = None) -> CellOutcome:
            return CellOutcome(status=status, reason=reason, runner=self.name,
                               emulated=cell.arch != self._native, image=image,
                               total_s=round(time.monotonic() - start, 3), started_at=started)

        if isinstance(prepared, tuple):
            return outcome(*prepared)
        image = prepared
        if image.architecture != cell.arch:
            return outcome("skipped", f"{image.ref} has no linux/{cell.arch} image "
                                      f"(the registry served {image.architecture})", image)
        volumes = {}
        environment = {
            "GOMATRIX_BENCHTIME": self._config.bench.benchtime,
            "GOMATRIX_COUNT": str(self._config.bench.count),
        }
        if self._config.build_cache:
            volume = f"gomatrix-gocache-{cell.version}-{cell.arch}"
            self._engine.ensure_volume(volume, {"io.gomatrix.cache": "gocache"})
            volumes[volume] = CACHE_MOUNT
            environment["GOCACHE"] = f"{CACHE_MOUNT}/go-build"
        archive = tar_directory(cell.case.path, "gomatrix/case", {"gomatrix/driver.sh": driver_script()})
        spec = ContainerSpec(
            image_id=image.id,
            command=("sh", f"{IN_CONTAINER_ROOT}/driver.sh", IN_CONTAINER_ROOT),
            environment=environment,
            labels={"io.gomatrix.run": self._run_label, "io.gomatrix.cell": cell.key},
            memory=self._config.limits.memory,
            pids=self._config.limits.pids,
            cpus=self._config.limits.cpus,
            volumes=volumes,
        )
        try:
            result = self._engine.run(spec, put=archive, put_into="/tmp", get=f"{IN_CONTAINER_ROOT}/out",
                                      get_into=raw_dir, timeout=self._config.timeout)
        except ImageError as exc:
            return outcome("failed", exc.what, image)
        (raw_dir / "driver.log").write_text(result.logs, encoding="utf-8")
        if result.timed_out:
            return outcome("timeout", f"the cell ran longer than {self._config.timeout} s and was killed", image)
        if result.oom_killed:
            return outcome("failed", f"out of memory: the container hit its {self._config.limits.memory} "
                                     "limit and was killed", image)
        if "exec format error" in result.logs:
            return outcome("skipped", f"linux/{cell.arch} binaries cannot run here (exec format error); "
                                      "register QEMU user emulation (qemu-user-static, binfmt-support)", image)
        assert result.exit_code is not None
        status, reason = interpret_driver_exit(result.exit_code, raw_dir, cell, image.ref)
        if status == "failed" and result.exit_code not in (DRIVER_COMPILE, DRIVER_BENCH, DRIVER_TOOLCHAIN):
            reason += f": {_tail(result.logs)}"
        return outcome(status, reason, image)
