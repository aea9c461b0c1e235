"""Engine faults against the real daemon: an unreachable registry is retried a bounded number of times
and ends in one clear ImageError; a missing tag is not retried; a container cannot write its image."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from gomatrix.core.errors import ImageError
from gomatrix.docker.engine import RUN_LABEL, ContainerSpec, ImageNotAvailable, _transient, tar_directories

pytestmark = pytest.mark.docker


def test_an_unreachable_registry_is_retried_then_reported(docker_engine: Any) -> None:
    # Nothing listens on port 1: connection refused, a transient error, tried 3 times.
    with pytest.raises(ImageError) as caught:
        docker_engine.pull("127.0.0.1:1/golang:1.24.11", "linux/amd64", attempts=3, backoff=0.01)
    assert not isinstance(caught.value, ImageNotAvailable)
    assert "after 3 attempts" in caught.value.message()
    assert "127.0.0.1:1/golang:1.24.11" in caught.value.message()
    assert caught.value.exit_code == 5


def test_a_missing_tag_is_not_retried(docker_engine: Any, registry_images: str) -> None:
    with pytest.raises(ImageNotAvailable) as caught:
        docker_engine.pull(registry_images.format(version="1.19.99"), "linux/amd64", attempts=3, backoff=0.01)
    assert "attempts" not in caught.value.message()


def test_transient_errors_are_told_from_permanent_ones() -> None:
    assert _transient("Get \"https://r/v2/\": dial tcp 127.0.0.1:1: connect: connection refused")
    assert _transient("received unexpected HTTP status: 503 Service Unavailable")
    assert _transient("toomanyrequests: You have reached your pull rate limit")
    assert not _transient("manifest for r/golang:1.19.99 not found: manifest unknown")
    assert not _transient("unauthorized: authentication required")


def test_the_image_is_read_only_even_for_root_and_the_scratch_volume_goes_with_the_container(
        docker_engine: Any, registry_images: str, tmp_path: Path) -> None:
    image = docker_engine.pull(registry_images.format(version="1.24.11"), "linux/amd64")
    label = f"run-engine-test-{uuid.uuid4().hex[:8]}"
    # root in the container (user None) owns /etc and /usr/local/go: only the read-only root filesystem stops it.
    script = ("for p in /etc/x /usr/local/go/x /go/x /var/tmp/x; do touch $p 2>&1; done; "
              "id -u > /tmp/out/uid && touch /tmp/out/written")
    spec = ContainerSpec(image_id=image.id, command=("sh", "-c", script), labels={RUN_LABEL: label}, user=None)
    result = docker_engine.run(spec, put=tar_directories({}, writable_dirs=("out",), owner=0), put_into="/tmp",
                               get="/tmp/out", get_into=tmp_path, timeout=120)
    assert result.exit_code == 0, result.logs
    for path in ("/etc/x", "/usr/local/go/x", "/go/x", "/var/tmp/x"):
        assert f"touch: {path}: Read-only file system" in result.logs
    assert (tmp_path / "uid").read_text().strip() == "0" and (tmp_path / "written").exists()  # scratch is writable
    assert docker_engine.labelled(f"{RUN_LABEL}={label}") == []
    assert docker_engine.volume_labels(f"{RUN_LABEL}={label}") == {}
