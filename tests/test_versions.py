"""Version discovery against the real local registry (the CI mirror), plus pure template parsing."""

from __future__ import annotations

import json
import os

import pytest

from gomatrix.core.errors import RegistryError
from gomatrix.docker.registry import RegistryClient
from gomatrix.toolchains.versions import resolve_versions, split_template
from tests.conftest import REGISTRY, invoke

TEST_REPO = "gomatrix-test/discovery"


def test_split_template() -> None:
    assert split_template("golang:{version}") == ("registry-1.docker.io", "library/golang", "{version}")
    assert split_template("127.0.0.1:5000/golang:{version}") == ("127.0.0.1:5000", "golang", "{version}")
    assert split_template("ghcr.io/org/go:{version}-alpine") == ("ghcr.io", "org/go", "{version}-alpine")
    with pytest.raises(RegistryError, match="has no tag"):
        split_template("golang")


@pytest.fixture(scope="module")
def discovery_repo(registry_images: str) -> str:
    """TEST_REPO holds 1.24.3 (amd64 + arm64) and 1.24.11 (amd64 only), copied from the mirror."""
    client = RegistryClient(REGISTRY)
    client.copy_image("golang", "1.23.9", TEST_REPO, "1.24.3")
    client.copy_image("golang", "1.24.11", TEST_REPO, "1.24.11", only_arch="amd64")
    return f"{REGISTRY}/{TEST_REPO}:{{version}}"


def test_minor_resolves_to_the_newest_patch_and_a_missing_platform_is_reported(discovery_repo: str) -> None:
    resolved = {r.spec: r for r in resolve_versions(discovery_repo, ["1.24", "1.24.3", "1.22"], ["amd64", "arm64"])}
    newest = resolved["1.24"]
    assert (newest.version, newest.platforms, newest.missing) == ("1.24.11", ("linux/amd64",), ("arm64",))
    assert newest.ref == f"{REGISTRY}/{TEST_REPO}:1.24.11"
    assert "no linux/arm64 image" in newest.note
    assert resolved["1.24.3"].platforms == ("linux/amd64", "linux/arm64") and resolved["1.24.3"].missing == ()
    assert resolved["1.22"].missing == ("amd64", "arm64") and "no tag for go1.22" in resolved["1.22"].note


def test_offline_keeps_the_versions_as_written() -> None:
    resolved = resolve_versions("127.0.0.1:9/golang:{version}", ["1.24", "1.23.9"], ["amd64"], timeout=2)
    assert [(r.version, r.ref) for r in resolved] == [("1.24", "127.0.0.1:9/golang:1.24"),
                                                        ("1.23.9", "127.0.0.1:9/golang:1.23.9")]
    assert all(r.note.startswith("as written: the registry could not be read") for r in resolved)


def test_invoke_versions_prints_the_resolution(discovery_repo: str) -> None:
    result = invoke("versions", "--image", discovery_repo, "--versions", "1.24,1.24.3", "--arches", "amd64,arm64",
                    env={"PYTHONUNBUFFERED": os.environ.get("PYTHONUNBUFFERED", "1")})
    assert result.returncode == 0, result.stderr
    assert "1.24.11" in result.stdout and "linux/arm64" in result.stdout and "skipped" in result.stdout


def test_versions_json_is_the_resolution_for_scripts(discovery_repo: str) -> None:
    result = invoke("versions", "--json", "--image", discovery_repo, "--versions", "1.24,1.24.3",
                    "--arches", "amd64,arm64")
    assert result.returncode == 0, result.stderr
    resolved = {row["spec"]: row for row in json.loads(result.stdout)}
    assert resolved["1.24"]["version"] == "1.24.11" and resolved["1.24"]["missing"] == ["arm64"]
    assert resolved["1.24.3"]["platforms"] == ["linux/amd64", "linux/arm64"]
    assert resolved["1.24.3"]["ref"] == f"{REGISTRY}/{TEST_REPO}:1.24.3"
