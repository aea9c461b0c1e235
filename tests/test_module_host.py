"""Module cases on the host runner, for real: the go-kit/log fixture and synthetic modules across go1.23.9 and
go1.24.11 on amd64 and arm64 (QEMU), dependencies from a test-made file:// GOPROXY fetched once before the
cells, the cells in the bubblewrap sandbox (no network) with that module cache mounted read-only."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import TEST_VERSIONS, invoke, load_cells, only_run_dir
from tests.modules import Modules, make_modules

ARGS = ("--runner", "host", "--benchtime", "20x", "--count", "1", "--force")
SOURCE_URL = "https://github.com/go-kit/log/blob/{commit}/{path}#L{line}"


@pytest.fixture(scope="module")
def modules(tmp_path_factory: pytest.TempPathFactory) -> Modules:
    return make_modules(tmp_path_factory.mktemp("modules"))


def _user_env(proxy: str) -> dict[str, str]:
    """The user's settings for fetching modules (gomatrix passes them to `go mod download` only)."""
    return {"GOPROXY": proxy, "GOFLAGS": "-mod=mod", "GONOSUMDB": "example.com"}


@pytest.fixture(scope="module")
def host_module_run(modules: Modules, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("module-reports")
    # a matrix file: the module cases as matrix.yaml gives them, with links to the lines of the real one
    config = out.parent / "module-matrix.yaml"
    config.write_text(f"versions: {list(TEST_VERSIONS)}\narches: [amd64, arm64]\ncases:\n"
                      f"  - module: {modules.gokitlog}\n    source_url: '{SOURCE_URL}'\n"
                      f"  - module: {modules.app}\n    packages: [./...]\n    bench: .\n"
                      f"  - module: {modules.newgo}\n", encoding="utf-8")
    result = invoke("matrix", "--config", str(config), *ARGS, "--out", str(out), env=_user_env(modules.proxy))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return only_run_dir(out), result.stdout


def _packages(cell: dict[str, Any], raw: Path) -> list[str]:
    return [line.split("\t")[1] for line in (raw / cell["key"] / "packages.txt").read_text().splitlines()]


def test_the_real_module_runs_every_package_on_both_versions_and_arches(host_module_run: tuple[Path, str]) -> None:
    run_dir, stdout = host_module_run
    cells = load_cells(run_dir)
    assert stdout.count("module github.com/go-kit/log: go mod download") == 1  # once, for every cell
    for version in TEST_VERSIONS:
        for arch in ("amd64", "arm64"):
            cell = cells[f"gokitlog--go{version}--{arch}"]
            assert cell["status"] == "ok", cell["reason"]
            assert (cell["arch"], cell["emulated"], cell["go_version"]) == (arch, arch == "arm64", f"go{version}")
            assert cell["sandbox"]["tool"] is not None  # in bubblewrap: no network
            assert _packages(cell, run_dir / "raw") == ["github.com/go-kit/log", "github.com/go-kit/log/level"]
            # each test binary's output keeps its pkg: header, so every benchmark has its package; emulated cells
            # take no timed samples (bench.timings native): their go test output is the exact run's
            output = "exact-bench.txt" if arch == "arm64" else "bench.txt"
            bench = (run_dir / "raw" / cell["key"] / output).read_text()
            assert "pkg: github.com/go-kit/log\n" in bench and "pkg: github.com/go-kit/log/level\n" in bench
            assert (run_dir / "raw" / cell["key"] / "bench.txt").exists() == (arch == "amd64")
            # every benchmark go test reports, sub-benchmarks included, exact and measured per line
            assert all(b["exact"] is not None and b["exact"]["go_test_agrees"] for b in cell["benchmarks"])
            assert all(b["profile"]["adds_up"] for b in cell["benchmarks"]), \
                [(b["name"], b["profile"]["note"]) for b in cell["benchmarks"] if not b["profile"]["adds_up"]]
            names = {b["name"] for b in cell["benchmarks"]}
            assert {"BenchmarkLogfmtLoggerSimple", "BenchmarkJSONLoggerContextual"} <= names
            assert "Benchmark/TimeContext/AllowedLevel/Logfmt" in names  # level's sub-benchmarks
            escape = (run_dir / "raw" / cell["key"] / "escape.txt").read_text()
            assert "gomatrix-package: github.com/go-kit/log/level\n" in escape
            # -m=2 for the module's packages only: paths relative to the module root, logfmt never analysed
            assert "\nlevel/level.go:" in escape and "\n./logfmt_logger.go:" in escape
            assert "# github.com/go-logfmt/logfmt\n" not in escape  # the go command's header of a compile
            files = {e["file"] for e in cell["escapes"]}
            assert {"logfmt_logger.go", "level/level.go"} <= files
            assert not any(name.startswith("/") or "pkg/mod" in name for name in files)


def test_a_dependency_from_the_test_proxy_is_fetched_once_and_used_read_only(
        host_module_run: tuple[Path, str]) -> None:
    run_dir, stdout = host_module_run
    cells = load_cells(run_dir)
    assert stdout.count("module example.com/app: go mod download") == 1
    for version in TEST_VERSIONS:
        for arch in ("amd64", "arm64"):
            cell = cells[f"app--go{version}--{arch}"]
            assert cell["status"] == "ok", cell["reason"]
            assert _packages(cell, run_dir / "raw") == ["example.com/app", "example.com/app/box"]
            allocs = {b["name"]: b["exact"]["allocs_per_op"] for b in cell["benchmarks"]}
            assert allocs["BenchmarkBox"] == 1 and allocs["BenchmarkJoin"] >= 2
            sites = {(e["file"], e["line"], e["verdict"]) for e in cell["escapes"]}
            assert ("box/box.go", 4, "heap") in sites  # moved to heap: n


def test_a_module_needing_a_newer_go_is_skipped_with_the_reason(host_module_run: tuple[Path, str]) -> None:
    cells = load_cells(host_module_run[0])
    for arch in ("amd64", "arm64"):
        old, new = cells[f"newgo--go1.23.9--{arch}"], cells[f"newgo--go1.24.11--{arch}"]
        assert (old["status"], old["reason"]) == ("skipped", "needs go1.24 (go.mod)")
        assert new["status"] == "ok", new["reason"]
        assert [b["name"] for b in new["benchmarks"]] == ["BenchmarkLoop"]


def test_without_the_proxy_the_module_fails_with_the_go_message_and_the_rest_runs(
        modules: Modules, tmp_path: Path) -> None:
    """The proxy directory removed: the module's cells fail with what go mod download said and the fix; the
    vendored copy (no proxy needed) and a case directory run as usual."""
    proxy_dir = tmp_path / "proxy"
    shutil.copytree(modules.proxy_dir, proxy_dir)
    proxy = proxy_dir.as_uri()
    shutil.rmtree(proxy_dir)
    out = tmp_path / "out"
    result = invoke("matrix", "--module", f"{modules.app},{modules.vendored}", "--cases", "makeslice",
                    "--versions", "1.24.11", "--arches", "amd64", *ARGS, "--out", str(out), env=_user_env(proxy))
    assert result.returncode == 9, result.stdout[-3000:] + result.stderr[-3000:]
    cells = load_cells(only_run_dir(out))
    failed = cells["app--go1.24.11--amd64"]
    assert failed["status"] == "failed"
    assert failed["reason"].startswith("the dependencies of module example.com/app cannot be had: `go mod download` "
                                       "said: ")
    assert "example.com/dep@v1.0.0" in failed["reason"] and str(proxy_dir) in failed["reason"]
    assert "Fix: make them reachable" in failed["reason"] and "go mod vendor" in failed["reason"]
    vendored = cells["appvendored--go1.24.11--amd64"]
    assert vendored["status"] == "ok", vendored["reason"]
    assert {b["name"] for b in vendored["benchmarks"]} == {"BenchmarkJoin", "BenchmarkBox"}
    assert cells["makeslice--go1.24.11--amd64"]["status"] == "ok"
    assert "module example.com/app: its dependencies cannot be had" in result.stdout
    assert "module example.com/app: dependencies from vendor/" in result.stdout


def test_cells_and_report_carry_the_package_of_every_benchmark_and_site(host_module_run: tuple[Path, str],
                                                                         modules: Modules) -> None:
    run_dir, _stdout = host_module_run
    cells = load_cells(run_dir)
    kit = cells["gokitlog--go1.24.11--amd64"]
    assert kit["module"] == {"path": "github.com/go-kit/log", "go": "1.17", "toolchain": None,
                             "commit": modules.gokitlog_commit, "packages": ["./..."], "bench": ".",
                             "dependencies": "modcache",
                             "source_url": SOURCE_URL.replace("{commit}", modules.gokitlog_commit)}
    by_name = {b["name"]: b["package"] for b in kit["benchmarks"]}
    assert by_name["BenchmarkLogfmtLoggerSimple"] == "github.com/go-kit/log"
    assert by_name["Benchmark/NoContext/AllowedLevel/Logfmt"] == "github.com/go-kit/log/level"
    for entries in (kit["escapes"], kit["sites"]):
        assert {(e["file"].startswith("level/"), e["package"]) for e in entries} == {
            (False, "github.com/go-kit/log"), (True, "github.com/go-kit/log/level")}
    # each package's sites come from its own compile: level's compile of bodies inlined from log is not used
    positions = [(e["file"], e["line"], e["col"], e["subject"], e["verdict"]) for e in kit["escapes"]]
    assert len(set(positions)) == len(positions)
    app = cells["app--go1.24.11--amd64"]
    assert app["module"]["commit"] is None and app["module"]["source_url"] is None  # not a repository
    assert {b["name"]: b["package"] for b in app["benchmarks"]} == {"BenchmarkJoin": "example.com/app",
                                                                     "BenchmarkBox": "example.com/app/box"}

    report = json.loads((run_dir / "report.json").read_text())
    case = next(c for c in report["cases"] if c["name"] == "gokitlog")
    assert case["module"]["path"] == "github.com/go-kit/log"
    assert {s["package"] for s in case["sites"]} == {"github.com/go-kit/log", "github.com/go-kit/log/level"}
    markdown = (run_dir / "report.md").read_text()
    for package in ("github.com/go-kit/log", "github.com/go-kit/log/level"):
        assert f"<summary>Allocation sites of gokitlog, package `{package}`</summary>" in markdown
        assert f"<summary>Benchmarks of gokitlog, package `{package}`</summary>" in markdown
    assert "<summary>Allocation sites of app, package `example.com/app/box`</summary>" in markdown
    # site ids link to their lines (the tables list the sites that allocate: value.go's runtime.Caller)
    assert f"](https://github.com/go-kit/log/blob/{modules.gokitlog_commit}/value.go#L" in markdown
    app_section = markdown.split("## Case `app`")[1].split("## Case ")[0]
    assert "<summary>Allocation sites of app" in app_section and "](https://" not in app_section  # no template
    changes = [c for c in report["changes"] if c["case"] in ("gokitlog", "app")]
    assert changes and all(c["package"].startswith(("github.com/go-kit/log", "example.com/app")) for c in changes)
    for change in changes:  # "what changed" names the package of each change
        assert f"- {change['case']} `{change['package']}`, " in markdown
