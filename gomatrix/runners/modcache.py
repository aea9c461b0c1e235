"""Module cases' dependencies, had before the cells so that no cell needs a network.

A module with vendor/modules.txt builds from vendor/ (-mod=vendor); one without requirements needs
nothing. Otherwise gomatrix fills a module cache once per module and run: `go mod download` in a copy
of the module, outside any sandbox, with the user's GOPROXY, GOFLAGS, GONOSUMDB, GOPRIVATE, GOSUMDB
(and go env file), so go.sum is checked as the go command checks it. Every cell of the module then gets
that cache read-only (GOMODCACHE, GOPROXY=off, GOFLAGS=-mod=mod). A module whose dependencies cannot be
had keeps the go command's message, which fails its cells; the other cases run.

The cells get only what a build reads offline (GOPROXY=off, GOFLAGS=-mod=mod): the extracted modules and,
under cache/download, each version's .mod (the module graph) and .ziphash (checked against go.sum; without it
the go command takes the module for a partial download and wants to fetch it again). The zips, .info, .lock
and list files, the checksum database's tiles and VCS checkouts are removed once the download is done
(go1.23 and go1.24 build without them). What remains is the resolved module list with the hash of each
module's content: the result cache keys on it (Dependencies.digest).
"""

from __future__ import annotations

import hashlib
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
# Never given to a cell (nor hashed for the result cache): a build does not read them.
VCS_DIRS = (".git", ".hg", ".svn", ".bzr")
# What a build reads of cache/download/<module>/@v/ offline; every other file there goes.
_KEPT_DOWNLOADS = (".mod", ".ziphash")


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
    digest: str = ""  # what the dependencies resolved to: the modules' .mod and .ziphash files, or modules.txt


def prune_for_cells(modcache: Path) -> None:
    """Leave in a filled module cache only what a build reads offline: the extracted modules, and the .mod and
    .ziphash files under cache/download (see the module's docstring)."""
    cache = modcache / "cache"
    if not cache.is_dir():
        return
    for entry in cache.iterdir():
        if entry.name != "download":
            _remove(entry)
    for directory, dirs, files in os.walk(cache / "download", topdown=False):
        here = Path(directory)
        for name in files:
            if here.name != "@v" or not name.endswith(_KEPT_DOWNLOADS):
                (here / name).unlink()
        for name in dirs:  # the checksum database's tiles, modules of which nothing is kept
            if not any((here / name).iterdir()):
                (here / name).rmdir()


def dependencies_digest(modcache: Path) -> str:
    """sha256 over the files of a pruned cache's cache/download: each module version of the build (its .mod)
    and the hash of its content (its .ziphash)."""
    digest = hashlib.sha256()
    download = modcache / "cache" / "download"
    for path in sorted(p for p in download.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(download)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _remove(path: Path) -> None:
    """Remove a file, or a tree the go command may have made read-only."""
    if not path.is_dir() or path.is_symlink():
        path.unlink()
        return
    _writable_dirs(path)
    shutil.rmtree(path)


def _writable_dirs(root: Path) -> None:
    """Make root and the directories under it writable (the go command makes extracted modules read-only)."""
    root.chmod(root.stat().st_mode | stat.S_IWUSR | stat.S_IXUSR)
    for directory, dirs, _files in os.walk(root):
        for name in dirs:
            path = Path(directory) / name
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | stat.S_IWUSR | stat.S_IXUSR)


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

    def cache_inputs(self, case: Case) -> dict[str, str] | None:
        """What the result cache keys on besides the module's files: the dependencies it resolved to ({} for a
        case directory); None when they could not be had (the cell runs, and fails)."""
        if case.module is None:
            return {}
        deps = self.get(case)
        return None if isinstance(deps, Unavailable) else {"dependencies": deps.digest}

    def _fill(self, case: Case, go: Path | None) -> Dependencies | Unavailable:
        module = case.module
        assert module is not None
        if module.vendored:
            self._log(f"module {module.module_path}: dependencies from vendor/")
            modules_txt = (case.path / "vendor" / "modules.txt").read_bytes()
            return Dependencies("-mod=vendor", None, "vendor " + hashlib.sha256(modules_txt).hexdigest())
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
            shutil.copytree(case.path, copy, ignore=shutil.ignore_patterns(*VCS_DIRS))
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
        try:
            prune_for_cells(dest)
            digest = dependencies_digest(dest)
        except OSError as exc:
            return Unavailable(Status.FAILED, f"the module cache of {module.module_path} cannot be made ready for "
                                              f"the cells: {exc}")
        return Dependencies("-mod=mod", dest, "modcache " + digest)

    def close(self) -> None:
        """Remove the caches (the go command makes their files read-only)."""
        if self._root is None:
            return
        _writable_dirs(self._root)
        shutil.rmtree(self._root, ignore_errors=True)
        self._root = None
