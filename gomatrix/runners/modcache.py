"""Module cases' dependencies, had before the cells so that no cell needs a network.

A module with vendor/modules.txt builds from vendor/ (-mod=vendor); one without requirements needs
nothing. Otherwise gomatrix fills a module cache once per module and run: `go mod download` in a copy
of the module, outside any sandbox, with the user's GOPROXY, GOFLAGS, GONOSUMDB, GOPRIVATE, GOSUMDB
(and go env file), so go.sum is checked as the go command checks it. Every cell of the module then gets
that cache read-only (GOMODCACHE, GOPROXY=off, GOFLAGS=-mod=mod). A module whose dependencies cannot be
had keeps the go command's message, which fails its cells; the other cases run.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from gomatrix.core.errors import ToolchainError
from gomatrix.core.kinds import Status
from gomatrix.core.text import Log, tail
from gomatrix.core.values import version_key
from gomatrix.plan.cases import Case
from gomatrix.runners.base import Unavailable
from gomatrix.toolchains.providers import ToolchainProvider, resolve_version

# The caller's settings that decide where modules come from and how they are checked pass through;
# these are gomatrix's own for the download.
_OWN = ("GOROOT", "GOPATH", "GOMODCACHE", "GOCACHE", "GOTOOLCHAIN", "GOBIN", "GOOS", "GOARCH")
_VCS_DIRS = (".git", ".hg", ".svn", ".bzr")


def needs_cache(cases: Iterable[Case]) -> bool:
    """Whether any module case needs a module cache filled (it requires modules and has no vendor/)."""
    return any(c.module is not None and c.module.requires and not c.module.vendored for c in cases)


def host_go(versions: Iterable[str], providers: Iterable[ToolchainProvider], log: Log) -> Path | None:
    """A go command on this machine to download modules with (the Docker runner's cells have their own):
    the newest of the run's versions a provider has for this machine, else `go` on PATH, else None."""
    chosen = list(providers)
    for version in sorted(versions, key=version_key, reverse=True):
        resolved = resolve_version(version, chosen)
        if resolved is None:
            continue
        exact, provider = resolved
        try:
            return provider.get(exact, log).goroot / "bin" / "go"
        except ToolchainError as exc:
            log(f"go{exact} for downloading modules: {exc.what}")
    found = shutil.which("go")
    return Path(found) if found else None


@dataclass(frozen=True)
class Dependencies:
    """How a module case's cells get its dependencies."""

    goflags: str  # -mod=vendor or -mod=mod
    modcache: Path | None  # the filled module cache to mount read-only; None: vendor/, or no requirements


class ModuleCaches:
    """The module caches of one run: filled by prepare(), read by the cells, removed by close()."""

    def __init__(self, log: Log, timeout: int) -> None:
        self._log = log
        self._timeout = timeout
        self._root: Path | None = None
        self._deps: dict[Path, Dependencies | Unavailable] = {}

    def prepare(self, cases: Iterable[Case], go: Path | None) -> None:
        """Fill a cache for each module case that needs one (once per module root); go: the go command
        to download with (None: there is none, and modules needing a cache fail)."""
        for case in cases:
            if case.module is None or case.path in self._deps:
                continue
            self._deps[case.path] = self._fill(case, go)

    def get(self, case: Case) -> Dependencies | Unavailable:
        return self._deps.get(case.path, Unavailable(Status.FAILED, "the module's dependencies were not prepared"))

    def _fill(self, case: Case, go: Path | None) -> Dependencies | Unavailable:
        module = case.module
        assert module is not None
        if module.vendored:
            self._log(f"module {module.module_path}: dependencies from vendor/")
            return Dependencies("-mod=vendor", None)
        if not module.requires:
            return Dependencies("-mod=mod", None)
        if go is None:
            return Unavailable(Status.FAILED, f"no Go toolchain here to download the dependencies of module "
                                              f"{module.module_path} with; vendor them (`go mod vendor` in "
                                              f"{case.path})")
        if self._root is None:
            self._root = Path(tempfile.mkdtemp(prefix="gomatrix-modcache-"))
            self._root.chmod(0o755)  # the sandbox user reads it
        dest = self._root / str(len(self._deps))
        with tempfile.TemporaryDirectory(prefix="gomatrix-moddownload-") as scratch:
            copy = Path(scratch) / "module"
            shutil.copytree(case.path, copy, ignore=shutil.ignore_patterns(*_VCS_DIRS))
            env = {name: value for name, value in os.environ.items() if name not in _OWN}
            env.update(GOTOOLCHAIN="local", GOMODCACHE=str(dest), GOPATH=str(Path(scratch) / "gopath"),
                       GOCACHE=str(Path(scratch) / "gocache"), GOFLAGS=os.environ.get("GOFLAGS") or "-mod=mod",
                       PATH=f"{go.parent}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}")
            self._log(f"module {module.module_path}: go mod download (GOPROXY={env.get('GOPROXY', 'the default')})")
            try:
                done = subprocess.run([str(go), "mod", "download"], cwd=copy, env=env, capture_output=True,
                                      text=True, timeout=self._timeout, check=False)
                output, code = done.stdout + done.stderr, done.returncode
            except subprocess.TimeoutExpired:
                output, code = f"go mod download ran longer than {self._timeout} s", -1
            except OSError as exc:
                output, code = f"cannot run {go}: {exc.strerror or exc}", -1
        if code != 0:
            message = tail(output, 4, one_line=True)
            self._log(f"module {module.module_path}: its dependencies cannot be had: {message}")
            return Unavailable(Status.FAILED, f"the dependencies of module {module.module_path} cannot be had: "
                               f"`go mod download` said: {message}. Fix: make them reachable the way `go mod "
                               f"download` in {case.path} needs (GOPROXY, GOFLAGS, GONOSUMDB/GOPRIVATE in the "
                               "environment gomatrix runs in), or vendor them (`go mod vendor`)")
        return Dependencies("-mod=mod", dest)

    def close(self) -> None:
        """Remove the caches (the go command makes their files read-only)."""
        if self._root is None:
            return
        for directory, dirs, _files in os.walk(self._root):
            for name in dirs:
                path = Path(directory) / name
                path.chmod(path.stat().st_mode | stat.S_IWUSR | stat.S_IXUSR)
        shutil.rmtree(self._root, ignore_errors=True)
        self._root = None
