"""The host runner: the same driver.sh steps as in a container, with a toolchain from a provider.

Each cell runs in a bubblewrap sandbox (runners/sandbox.py) within its own limits (runners/limits.py),
unless the user asked for --unsandboxed; the cell records which.

arm64 cells are compiled by the native toolchain with GOARCH=arm64 (so the escape diagnostics come
from the same compiler) and the test binary runs under QEMU user emulation: through binfmt_misc
when registered, else by calling qemu-aarch64-static explicitly.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from gomatrix.core.errors import ToolchainError
from gomatrix.core.kinds import Emulation, RunnerChoice, Status, Strategy
from gomatrix.core.platform import emulation_problem, host_arch, qemu_name
from gomatrix.core.resources import driver_script
from gomatrix.core.text import Log
from gomatrix.core.values import version_key
from gomatrix.plan.cells import Cell
from gomatrix.plan.config import MatrixConfig
from gomatrix.results.exact import write_hook
from gomatrix.runners.base import (
    CACHE_MOUNT,
    MODCACHE_MOUNT,
    CellOutcome,
    Ending,
    SandboxInfo,
    Unavailable,
    interpret_driver_exit,
    module_unavailable,
    utc_now,
)
from gomatrix.runners.limits import CellLimits, LimitsFactory, LimitValues, memory_bytes
from gomatrix.runners.modcache import VCS_DIRS, Dependencies, ModuleCaches
from gomatrix.runners.sandbox import SANDBOX_HOME, SYSTEM_DIRS, Bubblewrap, cell_root_inside, write_etc
from gomatrix.toolchains.providers import Toolchain, ToolchainProvider, cache_root, resolve_version


class HostRunner:
    """Runs each cell as a host process with a toolchain from the providers."""

    name = RunnerChoice.HOST

    def __init__(self, config: MatrixConfig, providers: Sequence[ToolchainProvider], *, sandbox: Bubblewrap | None,
                 limits: LimitsFactory | None = None, log: Log = print, cache_dir: Path | None = None) -> None:
        """sandbox None: the cells run unsandboxed (only when the user asked for it)."""
        self._config = config
        self._sandbox = sandbox
        self._limits = limits or LimitsFactory(limit_values(config))
        self._providers = list(providers)
        self._log = log
        self._cache = cache_dir or cache_root()
        self._native = host_arch()
        self._toolchains: dict[tuple[str, str], Toolchain | Unavailable] = {}  # (version, its arch)
        self._exec: dict[str, str | Unavailable] = {}
        self._running: set[subprocess.Popen[bytes]] = set()
        self._modules = ModuleCaches(log, config.timeout)

    def prepare(self, cells: list[Cell]) -> None:
        confined = f"sandbox {self._sandbox.label}" if self._sandbox else "UNSANDBOXED (asked for)"
        why = f" ({self._limits.why_not_cgroups})" if self._limits.why_not_cgroups else ""
        self._log(f"host cells: {confined}; limits by {self._limits.by}{why}")
        for arch in sorted({c.arch for c in cells}):
            self._exec[arch] = self._exec_for(arch)
        for version in sorted({c.version for c in cells}):
            resolved = resolve_version(version, self._providers)
            arches = sorted({self._toolchain_arch(c) for c in cells if c.version == version})
            if resolved is None:
                offered = "; ".join(f"{p.name}: {', '.join(p.versions()) or 'none'}" for p in self._providers)
                for arch in arches:
                    self._toolchains[(version, arch)] = Unavailable(
                        Status.SKIPPED, f"no toolchain provider can supply go{version} ({offered})")
                self._log(f"go{version}: no provider has it; its cells will be skipped")
                continue
            exact, provider = resolved
            for arch in arches:
                self._toolchains[(version, arch)] = self._get(provider, exact, arch)
        # Module cases: dependencies fetched once, by the newest native toolchain, before any cell.
        native = [t for (_v, arch), t in self._toolchains.items() if arch == self._native and isinstance(t, Toolchain)]
        newest = max(native, key=lambda t: version_key(t.version), default=None)
        self._modules.prepare([c.case for c in cells], newest.goroot / "bin" / "go" if newest else None)

    def close(self) -> None:
        self._modules.close()

    def _get(self, provider: ToolchainProvider, version: str, arch: str) -> Toolchain | Unavailable:
        if arch != self._native and not provider.foreign_arches:
            return Unavailable(Status.SKIPPED, f"{provider.name} has no linux/{arch} build of go{version} for full "
                                              "emulation; use emulation: cross")
        try:
            toolchain = provider.get(version, self._log, arch=arch)
        except ToolchainError as exc:
            return Unavailable(Status.FAILED, exc.message())
        self._log(f"go{version} for linux/{arch}: {toolchain.source}")
        return toolchain

    def _toolchain_arch(self, cell: Cell) -> str:
        """cross: the native toolchain compiles for the cell's arch; full: the arch's own toolchain."""
        return cell.arch if self.strategy(cell) == Strategy.FULL else self._native

    def _exec_for(self, arch: str) -> str | Unavailable:
        """'' to run binaries directly, a QEMU command to run them through, or why they cannot run."""
        problem = emulation_problem(arch, self._native, for_containers=False)
        if problem is None:
            return ""
        name = qemu_name(arch)
        for candidate in (f"{name}-static", name) if name else ():
            path = shutil.which(candidate)
            if path:
                return path
        return Unavailable(Status.SKIPPED, problem)

    def strategy(self, cell: Cell) -> Strategy:
        if cell.arch == self._native:
            return Strategy.NATIVE
        return Strategy.FULL if self._config.emulation == Emulation.FULL else Strategy.CROSS

    def group_key(self, cell: Cell) -> str:
        return cell.key  # host processes are cheap: no grouping

    def cache_inputs(self, cell: Cell) -> dict[str, str] | None:
        toolchain = self._toolchains.get((cell.version, self._toolchain_arch(cell)))
        exec_with = self._exec.get(cell.arch)
        dependencies = self._modules.cache_inputs(cell.case)  # None: a module's dependencies cannot be had
        if not isinstance(toolchain, Toolchain) or isinstance(exec_with, Unavailable) or exec_with is None:
            return None
        if dependencies is None:
            return None
        return {"runner": self.name, "toolchain": toolchain.sha256 or f"{toolchain.source} go{toolchain.version}",
                "strategy": self.strategy(cell), "exec": exec_with or "direct", "memory": self._config.limits.memory,
                "pids": str(self._config.limits.pids), **dependencies}

    def abort(self) -> None:
        """Kill every running cell (its whole session): the run is being stopped."""
        for process in list(self._running):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)

    def run_group(self, cells: list[Cell], raw_dirs: list[Path]) -> list[CellOutcome]:
        return [self.run(cell, raw_dir) for cell, raw_dir in zip(cells, raw_dirs, strict=True)]

    def run(self, cell: Cell, raw_dir: Path) -> CellOutcome:
        started, start = utc_now(), time.monotonic()
        toolchain = self._toolchains.get((cell.version, self._toolchain_arch(cell)),
                                         Unavailable(Status.FAILED, "toolchain was not prepared"))
        exec_with = self._exec.get(cell.arch, Unavailable(Status.FAILED, "emulation was not prepared"))
        if exec_with and isinstance(exec_with, str) and self.strategy(cell) == Strategy.FULL:
            # The go command starts compile and link itself: only binfmt_misc can run them under QEMU.
            exec_with = Unavailable(Status.SKIPPED, f"full emulation of linux/{cell.arch} needs QEMU registered with "
                                                    f"binfmt_misc (update-binfmts --enable {qemu_name(cell.arch)}); or "
                                                    "use emulation: cross")

        limits_by = self._limits.by

        def outcome(ending: Ending) -> CellOutcome:
            return CellOutcome(status=ending.status, reason=ending.reason, runner=self.name,
                               emulated=cell.arch != self._native,
                               image=None, toolchain=toolchain if isinstance(toolchain, Toolchain) else None,
                               total_s=round(time.monotonic() - start, 3), started_at=started,
                               strategy=self.strategy(cell), compile_failure=ending.compile_failure,
                               sandbox=SandboxInfo(self._sandbox.label if self._sandbox else None, limits_by))

        if isinstance(toolchain, Unavailable):
            return outcome(Ending(toolchain.status, toolchain.reason))
        if isinstance(exec_with, Unavailable):
            return outcome(Ending(exec_with.status, exec_with.reason))
        too_old = module_unavailable(cell, toolchain.version)
        if too_old is not None:
            return outcome(Ending(too_old.status, too_old.reason))
        deps = self._modules.get(cell.case) if cell.case.module is not None else None
        if isinstance(deps, Unavailable):
            return outcome(Ending(deps.status, deps.reason))
        root = Path(tempfile.mkdtemp(prefix=f"gomatrix-{cell.key}-"))
        try:
            shutil.copytree(cell.case.path, root / "case", ignore=shutil.ignore_patterns(*VCS_DIRS))
            write_hook(root)
            driver = root / "driver.sh"
            driver.write_bytes(driver_script())
            gocache = self._cache / "gocache" / f"go{toolchain.version}-{cell.arch}"
            gocache.mkdir(parents=True, exist_ok=True)
            command, env = self._command(cell, root, gocache, toolchain, exec_with, deps)
            limits = self._limits.for_cell(cell.key)
            limits_by = limits.by
            ended = self._start(command, env, limits, raw_dir)
            _copy_out(root / "out", raw_dir)
            if isinstance(ended, Ending):
                return outcome(ended)
            return outcome(interpret_driver_exit(ended, raw_dir, cell, f"go{toolchain.version}"))
        finally:
            shutil.rmtree(root, ignore_errors=True)

    def _command(self, cell: Cell, root: Path, gocache: Path, toolchain: Toolchain,
                 exec_with: str, deps: Dependencies | None) -> tuple[list[str], dict[str, str]]:
        """driver.sh for the cell and the environment to start it with: in the sandbox (paths as a container
        has them, its own environment), or as a plain process. deps: a module case's dependencies (its
        module cache mounted read-only in the sandbox)."""
        timed = self._config.bench.timings.timed(emulated=cell.arch != self._native)
        settings = {"GOMATRIX_BENCHTIME": self._config.bench.benchtime, "GOMATRIX_COUNT": str(self._config.bench.count),
                    "GOMATRIX_TIMINGS": str(int(timed)),
                    # full emulation compiles under QEMU: no second (coverage) build there
                    "GOMATRIX_COVER": str(int(self.strategy(cell) != Strategy.FULL))}
        module = cell.case.module
        mounts: list[tuple[Path, str]] = []
        if module is not None and deps is not None:
            settings.update(GOMATRIX_MODULE="1", GOMATRIX_PACKAGES="\n".join(module.packages),
                            GOMATRIX_BENCH=module.bench, GOMATRIX_GOFLAGS=deps.goflags)
            if deps.modcache is not None:
                settings["GOMATRIX_MODCACHE"] = MODCACHE_MOUNT if self._sandbox else str(deps.modcache)
                mounts.append((deps.modcache, MODCACHE_MOUNT))
        if self.strategy(cell) == Strategy.CROSS:
            settings["GOMATRIX_GOARCH"] = cell.arch
        if exec_with:
            settings["GOMATRIX_EXEC"] = exec_with
        goroot = toolchain.goroot.resolve()
        if self._sandbox is None:
            env = {k: v for k, v in os.environ.items() if not k.startswith(("GO", "CGO"))}
            env.update(settings, PATH=f"{goroot / 'bin'}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
                       GOPATH=str(root / "gopath"), GOCACHE=str(gocache))
            return ["sh", str(root / "driver.sh"), str(root)], env
        write_etc(root)
        inside = cell_root_inside(cell.key)
        outside_system = [path for path in (goroot, Path(exec_with) if exec_with else None)
                          if path is not None and not any(path.is_relative_to(f"/{d}") for d in SYSTEM_DIRS)]
        env = {**settings, "PATH": f"{goroot / 'bin'}:/usr/bin:/bin", "HOME": SANDBOX_HOME,
               "GOPATH": f"{inside}/gopath", "GOCACHE": CACHE_MOUNT}
        command = self._sandbox.command(["sh", f"{inside}/driver.sh", inside], root=root, key=cell.key,
                                        gocache=gocache.resolve(), read_only=outside_system, env=env, mounts=mounts)
        return command, {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}

    def _start(self, command: list[str], env: dict[str, str], limits: CellLimits, raw_dir: Path) -> int | Ending:
        """Run the cell's command within its limits: driver.sh's exit code, or the Ending of a cell that timed
        out. Whatever the cell started is killed before this returns."""
        with open(raw_dir / "driver.log", "wb") as log_file:
            process = subprocess.Popen(limits.command(command), env=env, stdout=log_file, stderr=subprocess.STDOUT,
                                       start_new_session=True)
            self._running.add(process)
            timed_out = False
            try:
                process.wait(timeout=self._config.timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            finally:
                self._running.discard(process)
                oom_kills = limits.oom_kills()
                limits.release()
        if oom_kills:
            (raw_dir / "oom").touch()
        if timed_out:
            return Ending(Status.TIMEOUT, f"the cell ran longer than {self._config.timeout} s and was killed")
        return process.returncode


def limit_values(config: MatrixConfig) -> LimitValues:
    limits = config.limits
    return LimitValues(memory_bytes=memory_bytes(limits.memory), pids=limits.pids, cpus=limits.cpus,
                       cpu_seconds=max(1, round(config.timeout * limits.cpus)))


def _copy_out(out: Path, raw_dir: Path) -> None:
    if out.is_dir():
        shutil.copytree(out, raw_dir, dirs_exist_ok=True)
