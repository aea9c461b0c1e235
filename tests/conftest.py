"""Shared fixtures. Docker-backed tests fail (not skip) in CI when the daemon or images are missing."""

from __future__ import annotations

import os
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RECORDED = ROOT / "tests" / "data" / "recorded"
FIXTURE_CASES = ROOT / "tests" / "fixtures" / "cases"
REGISTRY = os.environ.get("GOMATRIX_TEST_REGISTRY", "127.0.0.1:5000")
TEST_VERSIONS = ("1.23.9", "1.24.11")


def unavailable(reason: str) -> None:
    """In CI a missing prerequisite is a failure; on a developer machine the test is skipped."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must provision it: see .ci/provision.sh)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def docker_engine() -> object:
    from gomatrix.engine import DockerEngine
    from gomatrix.errors import EngineUnavailable

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
