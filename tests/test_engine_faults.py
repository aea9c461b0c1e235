"""Engine faults against the real daemon: an unreachable registry is retried a bounded number of times
and ends in one clear ImageError; a missing tag is not retried."""

from __future__ import annotations

from typing import Any

import pytest

from gomatrix.engine import ImageNotAvailable, _transient
from gomatrix.errors import ImageError

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
