"""The on-disk Go module proxy (tests/goproxy.py) and the real module fixture it serves, with real Go.

tests/fixtures/modules/gokitlog is github.com/go-kit/log v0.2.1 (trimmed), which needs
github.com/go-logfmt/logfmt v0.5.0 from tests/fixtures/modules/deps. Every build here runs with
GOTOOLCHAIN=local, GOSUMDB=off and a fresh GOMODCACHE: what it downloads comes from the proxy built in
the test. A missing Go toolchain is a failure, not a skip.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import zipfile
from collections.abc import Mapping
from pathlib import Path

import pytest

from tests.conftest import ROOT, TEST_VERSIONS
from tests.goproxy import (
    GoNotFoundError,
    build_proxy,
    escape_path,
    escape_version,
    find_go,
    find_module_sources,
    go_env,
    go_mod_hash,
    go_sum_lines,
    is_pseudo_version,
    module_files,
    module_hash,
    write_module,
)

FIXTURES = ROOT / "tests" / "fixtures" / "modules"
MODULE = FIXTURES / "gokitlog"
DEPS = FIXTURES / "deps"
LOGFMT = "github.com/go-logfmt/logfmt"
LOGFMT_TREE = DEPS / f"{LOGFMT}@v0.5.0"
#: logfmt v0.5.0's hashes in the public checksum database (and so in every go.sum that needs it): our zip
#: of the upstream tree must come out the same
UPSTREAM_SUMS = [
    f"{LOGFMT} v0.5.0 h1:TrB8swr/68K7m9CcGut2g3UOihhbcbiMAYiuTXdEih4=",
    f"{LOGFMT} v0.5.0/go.mod h1:wCYkCAKZfumFQihp8CzCvQ3paCTfi41vtzG1KdI/P7A=",
]
PRIMARY = "1.24.11"
BENCH = ["test", "-run", "^$", "-bench", ".", "-benchtime", "1x", "-benchmem", "./..."]
_BENCH_LINE = re.compile(r"^(Benchmark\S*?)(?:-\d+)?\s+\d+\s+[\d.]+ ns/op\s+(\d+) B/op\s+(\d+) allocs/op$", re.M)


def _build_versions() -> list[str]:
    """The project's test versions (required: a missing one fails), and the newest 1.25 when the cache has one."""
    versions = list(TEST_VERSIONS)
    try:
        newer = find_go("1.25").parents[2].name  # go1.25.N-linux-<arch>
    except GoNotFoundError:
        return versions
    return [*versions, newer.removeprefix("go").split("-", 1)[0]]


def _go(version: str) -> Path:
    try:
        return find_go(version)
    except GoNotFoundError as e:
        pytest.fail(f"these tests build with real Go: {e}")


def _gocache(go: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The host runner's GOCACHE for this toolchain (the shared cache conftest links in), else a temporary one."""
    name = go.parents[2].name.replace("-linux-", "-")  # go1.24.11-amd64, as gomatrix.runners.host names it
    cache = os.environ.get("GOMATRIX_CACHE")
    if cache:
        where = Path(cache) / "gocache" / name
        where.mkdir(parents=True, exist_ok=True)
        return where
    return tmp_path_factory.mktemp(f"gocache-{name}")


def _run(go: Path, args: list[str], cwd: Path, env: Mapping[str, str],
         prefix: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*(prefix or []), str(go), *args], cwd=cwd, env=dict(env), capture_output=True,
                          text=True, timeout=900)


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"{result.args}\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result.stdout + result.stderr


def _copy_module(tmp_path: Path) -> Path:
    work = tmp_path / "gokitlog"
    shutil.copytree(MODULE, work)
    return work


def _env(tmp_path: Path, gocache: Path, goproxy: str, goflags: str = "-mod=mod -modcacherw",
         gomodcache: Path | None = None) -> dict[str, str]:
    return go_env(gopath=tmp_path / "gopath", gocache=gocache, goproxy=goproxy, goflags=goflags,
                  gomodcache=gomodcache or tmp_path / "modcache")


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> str:
    return build_proxy(DEPS, tmp_path_factory.mktemp("goproxy") / "proxy",
                       times={f"{LOGFMT}@v0.5.0": "2020-01-04T05:22:39Z"})


# --- the proxy layout, without Go ---------------------------------------------------------------------


def test_escaping_follows_the_module_rules() -> None:
    assert escape_path("github.com/BurntSushi/toml") == "github.com/!burnt!sushi/toml"
    assert escape_path(LOGFMT) == LOGFMT
    assert escape_version("v1.0.0-RC1") == "v1.0.0-!r!c1"
    assert is_pseudo_version("v0.0.0-20191109021931-daa7c04131f5")
    assert is_pseudo_version("v1.2.4-0.20191109021931-daa7c04131f5")
    assert not is_pseudo_version("v0.5.0")
    for bad in ("github.com/a!b/c", "nodot/path", "github.com/a/../b", "github.com/a b/c"):
        with pytest.raises(ValueError):
            escape_path(bad)
    with pytest.raises(ValueError):
        escape_version("1.2.3")


def test_the_zip_follows_the_module_zip_rules(tmp_path: Path) -> None:
    tree = write_module(tmp_path / "example.com" / "zips@v1.0.0", "example.com/zips", "1.22", {
        "a.go": "package zips\n",
        "sub/b.go": "package sub\n",
        "vendor/modules.txt": "# kept: a file directly in vendor/\n",
        "vendor/example.com/dep/dep.go": "package dep\n",
        "nested/go.mod": "module example.com/zips/nested\n",
        "nested/n.go": "package nested\n",
        ".git/HEAD": "ref: refs/heads/main\n",
        "testdata/.hidden": "dot files are files\n",
    })
    (tree / "link.go").symlink_to(tree / "a.go")
    assert [rel for rel, _ in module_files(tree)] == [
        "a.go", "go.mod", "sub/b.go", "testdata/.hidden", "vendor/modules.txt"]

    (source,) = find_module_sources(tmp_path)
    assert (source.path, source.version) == ("example.com/zips", "v1.0.0")
    url = build_proxy(tmp_path, tmp_path / "proxy")
    assert url == (tmp_path / "proxy").resolve().as_uri()
    with zipfile.ZipFile(tmp_path / "proxy" / "example.com" / "zips" / "@v" / "v1.0.0.zip") as zf:
        assert zf.namelist() == [f"example.com/zips@v1.0.0/{rel}" for rel, _ in module_files(tree)]

    (tree / "CON.go").write_text("package zips\n")
    with pytest.raises(ValueError, match="reserved"):
        module_files(tree)


def test_the_fixture_proxy_serves_upstreams_module(proxy: str, tmp_path: Path) -> None:
    at_v = Path(proxy.removeprefix("file://")) / LOGFMT / "@v"
    assert sorted(p.name for p in at_v.iterdir()) == ["list", "v0.5.0.info", "v0.5.0.mod", "v0.5.0.zip"]
    assert (at_v / "list").read_text() == "v0.5.0\n"
    assert json.loads((at_v / "v0.5.0.info").read_text()) == {"Version": "v0.5.0", "Time": "2020-01-04T05:22:39Z"}
    assert (at_v / "v0.5.0.mod").read_bytes() == (LOGFMT_TREE / "go.mod").read_bytes()
    with zipfile.ZipFile(at_v / "v0.5.0.zip") as zf:
        names = zf.namelist()
        assert all(n.startswith(f"{LOGFMT}@v0.5.0/") and not n.endswith("/") for n in names)
        assert {f"{LOGFMT}@v0.5.0/{f}" for f in ("LICENSE", "go.mod", "encode.go", "encode_test.go")} <= set(names)
        assert zf.read(f"{LOGFMT}@v0.5.0/encode.go") == (LOGFMT_TREE / "encode.go").read_bytes()

    assert go_sum_lines(DEPS) == UPSTREAM_SUMS
    assert (MODULE / "go.sum").read_text().splitlines() == UPSTREAM_SUMS
    (source,) = find_module_sources([LOGFMT_TREE])  # a tree named directly: its path from its go.mod
    assert module_hash(source) == UPSTREAM_SUMS[0].split()[-1]
    assert go_mod_hash(source.go_mod()) == UPSTREAM_SUMS[1].split()[-1]


# --- real Go ------------------------------------------------------------------------------------------


def test_go_reads_the_proxy_escaping_versions_and_hashes(tmp_path: Path,
                                                         tmp_path_factory: pytest.TempPathFactory) -> None:
    """A synthetic dependency with capitals in its path and version, a pseudo-version, a nested module and a
    vendor/ directory: the go command finds it through the escaped names and hashes our zip as we do."""
    go = _go(PRIMARY)
    deps = tmp_path / "deps"
    lib = {"lib.go": 'package lib\n\n// Hello is the greeting.\nfunc Hello() string { return "hi" }\n',
           "vendor/example.com/junk/junk.go": "package junk\n\nthis is not Go\n",
           "tool/go.mod": "module example.com/Upper/lib/tool\n",
           "tool/tool.go": "package tool\n\nthis is not Go either\n"}
    for version in ("v1.2.3", "v1.3.0-RC1", "v0.0.0-20240101000000-abcdefabcdef"):
        write_module(deps / "example.com" / "Upper" / f"lib@{version}", "example.com/Upper/lib", "1.21", lib)
    url = build_proxy(deps, tmp_path / "proxy")
    assert (tmp_path / "proxy" / "example.com" / "!upper" / "lib" / "@v" / "v1.3.0-!r!c1.zip").is_file()
    main = write_module(tmp_path / "main", "example.com/main", "1.21", {
        "main.go": 'package main\n\nimport "example.com/Upper/lib"\n\nfunc main() { println(lib.Hello()) }\n',
    }, requires={"example.com/Upper/lib": "v1.3.0-RC1"})
    env = _env(tmp_path, _gocache(go, tmp_path_factory), url)

    listed = _run(go, ["list", "-m", "-versions", "example.com/Upper/lib"], main, env)
    _ok(listed)
    assert listed.stdout.split() == ["example.com/Upper/lib", "v1.2.3", "v1.3.0-RC1"]  # no pseudo-version in list
    downloaded = _run(go, ["mod", "download", "-json", "example.com/Upper/lib@v1.3.0-RC1"], main, env)
    _ok(downloaded)
    info = json.loads(downloaded.stdout)
    (source,) = [s for s in find_module_sources(deps) if s.version == "v1.3.0-RC1"]
    assert info["Sum"] == module_hash(source) and info["GoModSum"] == go_mod_hash(source.go_mod())
    assert "!upper" in info["Zip"]
    _ok(_run(go, ["build", "./..."], main, env))
    go_sum = (main / "go.sum").read_text()
    assert f"example.com/Upper/lib v1.3.0-RC1 {module_hash(source)}" in go_sum


@pytest.mark.parametrize("version", _build_versions())
def test_fixture_module_builds_and_benchmarks_through_the_proxy(
        version: str, proxy: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    go = _go(version)
    work = _copy_module(tmp_path)
    env = _env(tmp_path, _gocache(go, tmp_path_factory), proxy)

    built = _ok(_run(go, ["build", "./..."], work, env))
    assert f"go: downloading {LOGFMT} v0.5.0" in built  # from the proxy, into the fresh GOMODCACHE
    assert (tmp_path / "modcache" / "cache" / "download" / LOGFMT / "@v" / "v0.5.0.zip").is_file()
    assert "all modules verified" in _ok(_run(go, ["mod", "verify"], work, env))

    bench = _run(go, BENCH, work, env)
    benchmarks = {m.group(1): int(m.group(3)) for m in _BENCH_LINE.finditer(_ok(bench))}
    assert {"BenchmarkLogfmtLoggerSimple", "BenchmarkJSONLoggerContextual",
            "Benchmark/TimeContext/AllowedLevel/Logfmt"} <= set(benchmarks), bench.stdout
    assert benchmarks["BenchmarkLogfmtLoggerSimple"] > 0  # the encoder allocates
    assert "ok  \tgithub.com/go-kit/log\t" in bench.stdout and "ok  \tgithub.com/go-kit/log/level\t" in bench.stdout

    for name in ("go.mod", "go.sum"):  # the committed go.sum is complete and right: nothing added or changed
        assert (work / name).read_bytes() == (MODULE / name).read_bytes(), name


def test_escape_analysis_output_names_files_relative_to_the_module(
        proxy: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    go = _go(PRIMARY)
    work = _copy_module(tmp_path)
    env = _env(tmp_path, _gocache(go, tmp_path_factory), proxy)
    level = _ok(_run(go, ["build", "-gcflags=-m=2", "./level"], work, env))
    root = _ok(_run(go, ["build", "-gcflags=-m=2", "."], work, env))
    assert str(tmp_path) not in level + root
    assert "# github.com/go-kit/log/level\n" in level
    diagnostics = [line for line in level.splitlines() if not line.startswith(("#", "go: ", "<autogenerated>"))]
    assert diagnostics and all(re.match(r"level/\w+\.go:\d+:\d+: ", line) for line in diagnostics), level[:2000]
    assert re.search(r"^level/level\.go:\d+:\d+: .*(escapes to heap|does not escape)", level, re.M)
    assert re.search(r"^\./logfmt_logger\.go:\d+:\d+: ", root, re.M)  # the module root's own package


def test_without_the_proxy_the_build_fails_with_the_go_commands_message(
        tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    go = _go(PRIMARY)
    url = build_proxy(DEPS, tmp_path / "proxy")
    shutil.rmtree(tmp_path / "proxy")
    work = _copy_module(tmp_path)
    gocache = _gocache(go, tmp_path_factory)

    failed = _run(go, ["build", "./..."], work, _env(tmp_path, gocache, url))
    assert failed.returncode != 0
    assert re.search(rf"{re.escape(LOGFMT)}@v0\.5\.0: reading {re.escape(url)}/{re.escape(LOGFMT)}/@v/v0\.5\.0\."
                     r"(zip|mod|info): no such file or directory", failed.stderr), failed.stderr

    off = _run(go, ["build", "./..."], work, _env(tmp_path, gocache, "off"))
    assert off.returncode != 0 and "module lookup disabled by GOPROXY=off" in off.stderr, off.stderr


def test_vendored_copy_builds_with_no_proxy_and_no_module_cache(
        proxy: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    go = _go(PRIMARY)
    work = _copy_module(tmp_path)
    gocache = _gocache(go, tmp_path_factory)
    _ok(_run(go, ["mod", "vendor"], work, _env(tmp_path, gocache, proxy)))
    modules_txt = (work / "vendor" / "modules.txt").read_text()
    assert f"# {LOGFMT} v0.5.0\n" in modules_txt and f"\n{LOGFMT}\n" in modules_txt
    vendored = work / "vendor" / LOGFMT
    assert (vendored / "encode.go").read_bytes() == (LOGFMT_TREE / "encode.go").read_bytes()
    assert not list(vendored.glob("*_test.go"))  # go mod vendor leaves the dependency's tests out
    assert (work / "go.sum").read_bytes() == (MODULE / "go.sum").read_bytes()

    empty = tmp_path / "empty-modcache"
    env = _env(tmp_path, gocache, "off", goflags="-mod=vendor", gomodcache=empty)
    _ok(_run(go, ["build", "./..."], work, env))
    bench = _ok(_run(go, BENCH, work, env))
    assert "BenchmarkLogfmtLoggerSimple" in bench and "downloading" not in bench
    assert not empty.exists() or not any(empty.rglob("*.zip"))


def _manifest(root: Path) -> dict[str, tuple[int, int, int]]:
    return {p.relative_to(root).as_posix(): (p.stat().st_mode, p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*"))}


def _read_only_mount(path: Path) -> list[str]:
    """A command prefix that runs under a read-only bind mount of path (root in its own mount namespace),
    or [] where that cannot be had: then the modes (a-w) do it for a non-root user, and the manifest check
    below catches any write either way."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return []
    prefix = ["unshare", "--mount", "sh", "-c",
              'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"', str(path)]
    probe = subprocess.run([*prefix, "sh", "-c", f'! touch "{path}/.probe" 2>/dev/null'],
                           capture_output=True, timeout=60)
    return prefix if probe.returncode == 0 else []


def test_prefilled_read_only_module_cache_serves_offline_runs(
        proxy: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    """What a runner does: fill a GOMODCACHE from the proxy once with `go mod download` (one Go version does
    for all: the cache is version-independent), then run cells of every version with GOPROXY=off
    GOFLAGS=-mod=mod against it, read-only."""
    filler = _go(TEST_VERSIONS[0])
    work = _copy_module(tmp_path)
    modcache = tmp_path / "filled"
    fill = _env(tmp_path, _gocache(filler, tmp_path_factory), proxy, goflags="-mod=mod", gomodcache=modcache)
    _ok(_run(filler, ["mod", "download"], work, fill))
    assert "all modules verified" in _ok(_run(filler, ["mod", "verify"], work, fill))
    assert (modcache / f"{LOGFMT}@v0.5.0" / "encode.go").is_file()
    subprocess.run(["chmod", "-R", "a-w", str(modcache)], check=True)
    before = _manifest(modcache)
    prefix = _read_only_mount(modcache)
    try:
        for version in _build_versions():
            go = _go(version)
            offline = _env(tmp_path, _gocache(go, tmp_path_factory), "off", goflags="-mod=mod", gomodcache=modcache)
            _ok(_run(go, ["build", "./..."], work, offline, prefix))
            bench = _ok(_run(go, BENCH, work, offline, prefix))
            assert "BenchmarkLogfmtLoggerSimple" in bench and "downloading" not in bench, version
            assert _manifest(modcache) == before, version  # nothing written, not even a lock file
            assert (work / "go.sum").read_bytes() == (MODULE / "go.sum").read_bytes(), version
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(modcache)], check=True)  # so that pytest can clean up
