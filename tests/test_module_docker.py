"""Module cases in containers, for real: the same modules as tests/test_module_host.py in the local registry's
golang images, amd64 natively and arm64 cross-compiled and run under QEMU; the module cache filled on this
machine once and copied into the containers read-only (no bind mounts), the module sources likewise."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import TEST_VERSIONS, invoke, load_cells, only_run_dir
from tests.modules import Modules, make_modules

ARGS = ("--runner", "docker", "--benchtime", "20x", "--count", "1", "--force")


@pytest.fixture(scope="module")
def modules(tmp_path_factory: pytest.TempPathFactory) -> Modules:
    return make_modules(tmp_path_factory.mktemp("modules"))


def test_modules_run_in_containers_on_both_versions_and_arches(registry_images: str, modules: Modules,
                                                                 tmp_path: Path) -> None:
    out = tmp_path / "out"
    given = ",".join(str(p) for p in (modules.gokitlog, modules.app, modules.newgo, modules.vendored))
    result = invoke("matrix", "--module", given, "--versions", ",".join(TEST_VERSIONS), "--arches", "amd64,arm64",
                    "--image", registry_images, *ARGS, "--out", str(out),
                    env={"GOPROXY": modules.proxy, "GOFLAGS": "-mod=mod", "GONOSUMDB": "example.com"})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert result.stdout.count(": go mod download") == 2  # gokitlog and app; the vendored copy needs none
    run_dir = only_run_dir(out)
    cells = load_cells(run_dir)
    assert len(cells) == 16
    for version in TEST_VERSIONS:
        for arch in ("amd64", "arm64"):
            kit = cells[f"gokitlog--go{version}--{arch}"]
            assert kit["status"] == "ok", kit["reason"]
            assert kit["runner"] == "docker" and kit["arch"] == arch and kit["go_version"] == f"go{version}"
            assert kit["strategy"] == ("native" if arch == "amd64" else "cross")
            names = {b["name"] for b in kit["benchmarks"]}
            assert {"BenchmarkLogfmtLoggerSimple", "Benchmark/TimeContext/AllowedLevel/Logfmt"} <= names
            assert {"logfmt_logger.go", "level/level.go"} <= {e["file"] for e in kit["escapes"]}
            assert {b["package"] for b in kit["benchmarks"]} == {"github.com/go-kit/log", "github.com/go-kit/log/level"}
            assert {(s["file"].startswith("level/"), s["package"]) for s in kit["sites"]} == {
                (False, "github.com/go-kit/log"), (True, "github.com/go-kit/log/level")}
            assert kit["module"]["dependencies"] == "modcache" and kit["module"]["commit"] == modules.gokitlog_commit
            for name in ("app", "appvendored"):
                cell = cells[f"{name}--go{version}--{arch}"]
                assert cell["status"] == "ok", cell["reason"]
                allocs = {b["name"]: b["allocs_per_op"] for b in cell["benchmarks"]}
                assert allocs["BenchmarkBox"] == 1 and allocs["BenchmarkJoin"] >= 2
                assert ("box/box.go", 4, "heap") in {(e["file"], e["line"], e["verdict"]) for e in cell["escapes"]}
                assert cell["module"]["dependencies"] == ("modcache" if name == "app" else "vendor")
            new = cells[f"newgo--go{version}--{arch}"]
            if version == "1.23.9":
                assert (new["status"], new["reason"]) == ("skipped", "needs go1.24 (go.mod)")
            else:
                assert new["status"] == "ok", new["reason"]


def test_without_the_proxy_the_module_fails_in_containers_and_the_rest_runs(registry_images: str, modules: Modules,
                                                                           tmp_path: Path) -> None:
    proxy_dir = tmp_path / "proxy"
    shutil.copytree(modules.proxy_dir, proxy_dir)
    shutil.rmtree(proxy_dir)
    out = tmp_path / "out"
    result = invoke("matrix", "--module", f"{modules.app},{modules.vendored}", "--cases", "makeslice",
                    "--versions", "1.24.11", "--arches", "amd64", "--image", registry_images, *ARGS, "--out", str(out),
                    env={"GOPROXY": proxy_dir.as_uri(), "GOFLAGS": "-mod=mod", "GONOSUMDB": "example.com"})
    assert result.returncode == 9, result.stdout[-3000:] + result.stderr[-3000:]
    cells = load_cells(only_run_dir(out))
    failed = cells["app--go1.24.11--amd64"]
    assert failed["status"] == "failed"
    assert "`go mod download` said: " in failed["reason"] and "example.com/dep@v1.0.0" in failed["reason"]
    assert cells["appvendored--go1.24.11--amd64"]["status"] == "ok"
    assert cells["makeslice--go1.24.11--amd64"]["status"] == "ok"
