"""The Docker runner: cells in containers of each Go version's image (the engine owns the SDK)."""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from gomatrix.core.errors import ImageError
from gomatrix.core.files import read_or_empty
from gomatrix.core.kinds import Emulation, Isolation, RunnerChoice, Status, Strategy
from gomatrix.core.platform import emulation_problem
from gomatrix.core.resources import driver_script
from gomatrix.core.text import tail
from gomatrix.docker.engine import (
    CACHE_LABEL,
    CELLS_LABEL,
    CREATOR_LABEL,
    IMAGE_LABEL,
    OWNER_LABEL,
    PHASE_LABEL,
    RUN_LABEL,
    SANDBOX_UID,
    ContainerResult,
    ContainerSpec,
    DockerEngine,
    ImageInfo,
    ImageNotAvailable,
    tar_directories,
)
from gomatrix.plan.cells import Cell
from gomatrix.plan.config import MatrixConfig
from gomatrix.results.exact import hook_files
from gomatrix.runners.base import (
    CACHE_MOUNT,
    IN_CONTAINER_ROOT,
    SANDBOX_GOCACHE,
    CellOutcome,
    Ending,
    Unavailable,
    interpret_driver_exit,
    module_unavailable,
    read_exit,
    utc_now,
)
from gomatrix.runners.modcache import VCS_DIRS, Dependencies, ModuleCaches, host_go, needs_cache
from gomatrix.toolchains.providers import ToolchainProvider


class Phase(StrEnum):
    """What one container does for its cells (driver.sh's GOMATRIX_PHASE)."""

    ALL = "all"  # compile and run in the arch's own image
    BUILD = "build"  # cross: compile in the native image
    RUN = "run"  # cross: run the test binaries in the arch's own image, under QEMU


@dataclass(frozen=True)
class _Sandbox:
    environment: dict[str, str]
    volumes: dict[str, str]  # volume name -> mount point
    more_puts: list[tuple[str, bytes]]  # tar archives put into volumes before the start
    scratch_dirs: tuple[str, ...]  # extra writable directories in the cell area


class DockerRunner:
    """Runs cells in containers of the Go version's image: by default one container per
    (image, platform) runs all its cells (isolation "group"), or one per cell (isolation "cell")."""

    name = RunnerChoice.DOCKER

    def __init__(self, engine: DockerEngine, config: MatrixConfig, run_label: str,
                 log: Callable[[str], None] = print, providers: Sequence[ToolchainProvider] = ()) -> None:
        """providers: where a go command for `go mod download` comes from (module cases' dependencies are
        fetched on this machine, once, and copied into the containers)."""
        self._engine = engine
        self._providers = list(providers)
        self._modules = ModuleCaches(log, config.timeout)
        self._log = log
        self._config = config
        self._run_label = run_label
        self._native = engine.architecture()
        self._images: dict[tuple[str, str], ImageInfo | Unavailable] = {}
        self._emulation: dict[str, Unavailable] = {}  # by arch: QEMU cannot run it here

    def strategy(self, cell: Cell) -> Strategy:
        if cell.arch == self._native:
            return Strategy.NATIVE
        return Strategy.FULL if self._config.emulation == Emulation.FULL else Strategy.CROSS

    def _image_arches(self, cell: Cell) -> tuple[str, ...]:
        """cross: built in the native image, run in the arch's own image; else only the arch's image."""
        return (self._native, cell.arch) if self.strategy(cell) == Strategy.CROSS else (cell.arch,)

    def prepare(self, cells: list[Cell]) -> None:
        for ref, arch in sorted({(c.image_for(arch), arch) for c in cells for arch in self._image_arches(c)}):
            self._log(f"pulling {ref} for linux/{arch}")
            try:
                self._images[(ref, arch)] = self._engine.pull(ref, f"linux/{arch}")
            except ImageNotAvailable as exc:
                self._images[(ref, arch)] = Unavailable(Status.SKIPPED, exc.what)
                self._log(f"  not available: {exc.what}")
            except ImageError as exc:
                self._images[(ref, arch)] = Unavailable(Status.FAILED, exc.what)
        for arch in sorted({c.arch for c in cells}):
            problem = emulation_problem(arch, self._native) if self._engine.is_local() else None
            if problem:
                self._log(f"linux/{arch} cells will be skipped: {problem}")
                self._emulation[arch] = Unavailable(Status.SKIPPED, problem)
        cases = [c.case for c in cells]
        go = host_go({c.version for c in cells}, self._providers, self._log) if needs_cache(cases) else None
        self._modules.prepare(cases, go)

    def _image_of(self, cell: Cell, arch: str) -> ImageInfo | Unavailable:
        blocked = self._emulation.get(cell.arch)
        if blocked is not None:
            return blocked
        image = self._images.get((cell.image_for(arch), arch), Unavailable(Status.FAILED, "image was not prepared"))
        if isinstance(image, ImageInfo) and image.architecture != arch:
            return Unavailable(Status.SKIPPED,
                               f"{image.ref} has no linux/{arch} image (the registry served {image.architecture})")
        return image

    def _image(self, cell: Cell) -> ImageInfo | Unavailable:
        """The image the cell's benchmarks run in: always the arch's own."""
        return self._image_of(cell, cell.arch)

    def _build_image(self, cell: Cell) -> ImageInfo | Unavailable | None:
        """cross: the native image that compiles the cell; None for the other strategies."""
        return self._image_of(cell, self._native) if self.strategy(cell) == Strategy.CROSS else None

    def abort(self) -> None:
        """Remove this run's containers (running ones are killed): their run_group calls return."""
        for container in self._engine.labelled(f"{RUN_LABEL}={self._run_label}"):
            self._engine.remove_container(container.id)

    def close(self) -> None:
        """Remove the module caches (containers are removed as their groups end)."""
        self._modules.close()

    def group_key(self, cell: Cell) -> str:
        if self._config.isolation == Isolation.CELL:
            return cell.key
        return f"{cell.image_ref} linux/{cell.arch} {self.strategy(cell)}"

    def cache_inputs(self, cell: Cell) -> dict[str, str] | None:
        image, build = self._image(cell), self._build_image(cell)
        if not isinstance(image, ImageInfo) or isinstance(build, Unavailable):
            return None
        inputs = {"runner": self.name, "image_id": image.id, "strategy": self.strategy(cell),
                  "memory": self._config.limits.memory, "pids": str(self._config.limits.pids)}
        if build is not None:
            inputs["build_image_id"] = build.id
        dependencies = self._modules.cache_inputs(cell.case)
        return None if dependencies is None else {**inputs, **dependencies}

    def run_group(self, cells: list[Cell], raw_dirs: list[Path]) -> list[CellOutcome]:
        started, start = utc_now(), time.monotonic()

        def outcome(cell: Cell, ending: Ending, image: ImageInfo | None, total: float) -> CellOutcome:
            build = self._build_image(cell)
            return CellOutcome(status=ending.status, reason=ending.reason, runner=self.name,
                               emulated=cell.arch != self._native, image=image,
                               total_s=round(total, 3), started_at=started, strategy=self.strategy(cell),
                               build_image=build if isinstance(build, ImageInfo) else None,
                               compile_failure=ending.compile_failure)

        results: dict[int, CellOutcome] = {}
        items: list[tuple[int, Cell, Path]] = []
        run_image: ImageInfo | None = None
        build_image: ImageInfo | None = None
        for index, (cell, raw_dir) in enumerate(zip(cells, raw_dirs, strict=True)):
            prepared, build = self._image(cell), self._build_image(cell)
            not_here = module_unavailable(cell, cell.version) or self._module_deps(cell)
            if isinstance(not_here, Unavailable):
                results[index] = outcome(cell, Ending(not_here.status, not_here.reason), None, 0.0)
            elif isinstance(prepared, Unavailable):
                results[index] = outcome(cell, Ending(prepared.status, prepared.reason), None, 0.0)
            elif isinstance(build, Unavailable):
                results[index] = outcome(cell, Ending(build.status, f"cannot cross-compile: {build.reason}"), prepared,
                                         0.0)
            else:  # one group: every cell has the same images
                run_image, build_image = prepared, build
                items.append((index, cell, raw_dir))
        if run_image is not None and build_image is not None:
            results.update(self._run_cross(build_image, run_image, items, outcome, start))
        elif run_image is not None:
            results.update(self._run_phase(run_image, items, Phase.ALL, {}, outcome, start))
        return [results[i] for i in range(len(cells))]

    def _module_deps(self, cell: Cell) -> Dependencies | Unavailable | None:
        return self._modules.get(cell.case) if cell.case.module is not None else None

    def _run_cross(self, build_image: ImageInfo, run_image: ImageInfo, items: list[tuple[int, Cell, Path]],
                   outcome: Callable[[Cell, Ending, ImageInfo | None, float], CellOutcome],
                   start: float) -> dict[int, CellOutcome]:
        """cross: the native image compiles the test binaries (fast), the arch's own image runs them under
        QEMU and reports its go version and go env; the cell's image is the one that ran its benchmarks."""
        built: dict[str, bytes] = {}
        results = self._run_phase(build_image, items, Phase.BUILD, built, outcome, start)
        ready = [item for item in items if item[1].key in built]
        if ready:  # none when every cell failed to compile
            results.update(self._run_phase(run_image, ready, Phase.RUN, built, outcome, start))
        return results

    def _run_phase(self, image: ImageInfo, items: list[tuple[int, Cell, Path]], phase: Phase,
                   built: dict[str, bytes], outcome: Callable[[Cell, Ending, ImageInfo | None, float], CellOutcome],
                   start: float) -> dict[int, CellOutcome]:
        """One container runs driver.sh for the items in one phase (all, build or run).

        build fills `built` with each compiled cell's files for the run phase (the test binary, and the
        marker that it holds the exact-count test) and returns outcomes only for cells that ended there."""
        sandbox = self._sandbox(image)
        archive, roots = self._archive(items, phase, built, sandbox.scratch_dirs)
        # The driver kills each cell at config.timeout; the container's limit is only a backstop.
        timeout = self._config.timeout * len(items) + 60
        spec = ContainerSpec(
            image_id=image.id,
            command=("sh", f"{IN_CONTAINER_ROOT}/driver.sh", *roots),
            environment=sandbox.environment,
            labels={RUN_LABEL: self._run_label, OWNER_LABEL: f"{socket.gethostname()}:{os.getpid()}",
                    CELLS_LABEL: ",".join(cell.key for _i, cell, _r in items)[:1000],
                    PHASE_LABEL: phase},
            memory=self._config.limits.memory,
            pids=self._config.limits.pids,
            cpus=self._config.limits.cpus,
            volumes=sandbox.volumes,
        )
        staging = Path(tempfile.mkdtemp(prefix="gomatrix-out-"))
        try:
            try:
                result = self._engine.run(spec, put=archive, put_into="/tmp", get=f"{IN_CONTAINER_ROOT}/cells",
                                          get_into=staging, timeout=timeout, more_puts=sandbox.more_puts)
            except ImageError as exc:
                return {i: outcome(cell, Ending(Status.FAILED, exc.what), image, time.monotonic() - start)
                        for i, cell, _raw in items}
            return self._phase_outcomes(image, items, phase, built, outcome, start, staging, result, timeout)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _sandbox(self, image: ImageInfo) -> _Sandbox:
        """Environment and mounts of a container: HOME and every cell root are the sandbox user's scratch
        area; GOCACHE is a volume per image kept between runs, or (build_cache off) scratch too."""
        environment = {"HOME": f"{IN_CONTAINER_ROOT}/home", "GOMATRIX_CELL_TIMEOUT": str(self._config.timeout)}
        if not self._config.build_cache:
            environment["GOCACHE"] = f"{IN_CONTAINER_ROOT}/gocache"
            return _Sandbox(environment, {}, [], ("gomatrix/gocache",))
        volume = f"gomatrix-gocache-{image.id.split(':')[-1][:16]}"
        # Shared by every run on purpose (no run label): `gomatrix clean --volumes` removes them.
        self._engine.ensure_volume(volume, {CACHE_LABEL: "gocache", IMAGE_LABEL: image.ref,
                                            CREATOR_LABEL: self._run_label})
        environment["GOCACHE"] = SANDBOX_GOCACHE
        return _Sandbox(environment, {volume: CACHE_MOUNT},
                        [(CACHE_MOUNT, tar_directories({}, writable_dirs=(f"uid{SANDBOX_UID}",)))], ())

    def _archive(self, items: list[tuple[int, Cell, Path]], phase: Phase, built: dict[str, bytes],
                 scratch_dirs: tuple[str, ...]) -> tuple[bytes, list[str]]:
        """The tar put into the container (the driver, each cell's case, settings, the hook files or test
        binary) and the cell roots the driver is given."""
        extra: dict[str, bytes] = {"gomatrix/driver.sh": driver_script()}
        roots = []
        modcaches: dict[str, Path] = {}  # arcname -> a filled module cache: copied in read-only, once
        for _index, cell, _raw in items:
            timed = self._config.bench.timings.timed(emulated=cell.arch != self._native)
            settings = [f"GOMATRIX_BENCHTIME={self._config.bench.benchtime}",
                        f"GOMATRIX_COUNT={self._config.bench.count}", f"GOMATRIX_PHASE={phase}",
                        f"GOMATRIX_TIMINGS={int(timed)}",
                        # full emulation compiles under QEMU: no second (coverage) build there
                        f"GOMATRIX_COVER={int(self.strategy(cell) != Strategy.FULL)}"]
            if phase == Phase.BUILD:
                settings.append(f"GOMATRIX_GOARCH={cell.arch}")
            module, deps = cell.case.module, self._module_deps(cell)
            if module is not None and isinstance(deps, Dependencies):
                settings += ["GOMATRIX_MODULE=1", f"GOMATRIX_PACKAGES={shlex.quote(chr(10).join(module.packages))}",
                             f"GOMATRIX_BENCH={shlex.quote(module.bench)}", f"GOMATRIX_GOFLAGS={deps.goflags}"]
                if deps.modcache is not None and phase != Phase.RUN:
                    arcname = f"gomatrix/modcache/{deps.modcache.name}"
                    modcaches[arcname] = deps.modcache
                    settings.append(f"GOMATRIX_MODCACHE=/tmp/{arcname}")
            extra[f"gomatrix/cells/{cell.key}/cell.env"] = ("\n".join(settings) + "\n").encode()
            if phase == Phase.RUN and module is not None:
                prefix = f"{cell.key}/"
                for name, content in built.items():
                    if name.startswith(prefix):
                        extra[f"gomatrix/cells/{name}"] = content
            elif phase == Phase.RUN:
                extra[f"gomatrix/cells/{cell.key}/case.test"] = built[cell.key]
                for name in ("exact-built", "case.cover.test"):  # the hook went in; the coverage build
                    if f"{cell.key}/{name}" in built:
                        extra[f"gomatrix/cells/{cell.key}/{name}"] = built[f"{cell.key}/{name}"]
            else:  # the hook goes into the build's package testing (driver.sh)
                for name, content in hook_files().items():
                    extra[f"gomatrix/cells/{cell.key}/hook/{name}"] = content
            roots.append(f"{IN_CONTAINER_ROOT}/cells/{cell.key}")
        archive = tar_directories({**{f"gomatrix/cells/{cell.key}/case": cell.case.path for _i, cell, _r in items},
                                   **modcaches},
                                  extra, writable_dirs=("gomatrix/home", *scratch_dirs,
                                                        *(f"gomatrix/cells/{c.key}" for _i, c, _r in items)),
                                  exclude=VCS_DIRS)
        return archive, roots

    def _phase_outcomes(self, image: ImageInfo, items: list[tuple[int, Cell, Path]], phase: Phase,
                        built: dict[str, bytes],
                        outcome: Callable[[Cell, Ending, ImageInfo | None, float], CellOutcome], start: float,
                        staging: Path, result: ContainerResult, timeout: int) -> dict[int, CellOutcome]:
        """Each cell's outputs copied out of staging into its raw directory, and how it ended; a cell built
        for the run phase has no outcome yet."""
        results = {}
        for index, cell, raw_dir in items:
            _collect(staging / cell.key / "out", raw_dir, appending=phase == Phase.RUN)
            with open(raw_dir / "driver.log", "a" if phase == Phase.RUN else "w", encoding="utf-8") as log:
                log.write(f"== {phase} in {image.ref} (linux/{image.architecture}) ==\n{result.logs}\n")
            exit_code = read_exit(raw_dir)
            if phase == Phase.BUILD and exit_code == 0 and cell.case.module is not None:
                # every package's test binary and the list of them, for the run phase
                built[cell.key] = b""
                for path in [staging / cell.key / "packages.list", *(staging / cell.key).glob("pkg*.test")]:
                    built[f"{cell.key}/{path.name}"] = path.read_bytes()
                if (raw_dir / "exact-built").exists():
                    built[f"{cell.key}/exact-built"] = b""
                (raw_dir / "exit").unlink()
                continue
            if phase == Phase.BUILD and exit_code == 0 and (staging / cell.key / "case.test").is_file():
                built[cell.key] = (staging / cell.key / "case.test").read_bytes()
                if (raw_dir / "exact-built").exists():
                    built[f"{cell.key}/exact-built"] = b""
                if (staging / cell.key / "case.cover.test").is_file():
                    built[f"{cell.key}/case.cover.test"] = (staging / cell.key / "case.cover.test").read_bytes()
                (raw_dir / "exit").unlink()  # the run phase's exit decides
                continue
            total = _steps_seconds(raw_dir) or (time.monotonic() - start)
            results[index] = outcome(cell, self._interpret(cell, raw_dir, exit_code, result, timeout, image),
                                     image, total)
        return results

    def _interpret(self, cell: Cell, raw_dir: Path, exit_code: int | None, result: ContainerResult, timeout: int,
                   image: ImageInfo) -> Ending:
        if exit_code is not None:
            return interpret_driver_exit(exit_code, raw_dir, cell, image.ref)
        if result.timed_out:
            return Ending(Status.TIMEOUT, f"the container ran longer than {timeout} s ({self._config.timeout} s per "
                                          "cell) and was killed")
        if result.oom_killed:
            return Ending(Status.FAILED,
                          f"out of memory: the container hit its {self._config.limits.memory} limit and was killed")
        if "exec format error" in result.logs:
            return Ending(Status.SKIPPED, f"linux/{cell.arch} binaries cannot run here (exec format error); register "
                                          "QEMU user emulation (qemu-user-static, binfmt-support)")
        return Ending(Status.FAILED, f"the driver did not finish: {tail(result.logs)}")



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
