"""`invoke nightly` against the local registry: no changes twice, then a newer patch appears."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from gomatrix.docker.registry import RegistryClient
from gomatrix.run.nightly import CHANGES_EXIT_CODE
from tests.conftest import REGISTRY, invoke


def test_nightly_reuses_cells_and_reports_a_new_patch(registry_images: str, tmp_path: Path) -> None:
    # A repository of our own: its "1.24.3" tag holds the mirror's go1.23.9 image (a stand-in for an
    # older patch), and go1.24.11 is pushed between the second and the third night.
    repository = f"gomatrix-test/nightly-{uuid.uuid4().hex[:8]}"
    client = RegistryClient(REGISTRY)
    client.copy_image("golang", "1.23.9", repository, "1.24.3")
    args = ["nightly", "--image", f"{REGISTRY}/{repository}:{{version}}", "--versions", "1.24", "--arches", "amd64",
            "--cases", "sliceappend", "--benchtime", "50ms", "--count", "1", "--out", str(tmp_path)]

    first = invoke(*args)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    assert f"{repository}:1.24.3" in first.stdout

    second = invoke(*args)
    assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-2000:]
    assert "no changes since the previous run" in second.stdout
    assert second.stdout.count("from the result cache") == 1  # every cell reused

    client.copy_image("golang", "1.24.11", repository, "1.24.11")
    third = invoke(*args)
    assert third.returncode == CHANGES_EXIT_CODE, third.stdout[-2000:] + third.stderr[-2000:]
    assert f"{repository}:1.24.11" in third.stdout
    runs = sorted(p for p in tmp_path.iterdir() if p.is_dir())
    assert len(runs) == 3
    latest = json.loads((runs[-1] / "report.json").read_text())
    # the image behind "1.24" now reports go1.24.11 instead of go1.23.9: a new column, and one gone
    assert [(item["kind"], item["subject"], item["columns"]) for item in latest["since_previous"]
            if item["kind"] in ("new-version", "dropped-version")] == [
        ("new-version", "go1.24.11", ["amd64"]), ("dropped-version", "go1.23.9", ["amd64"])]
    assert "  - New Go version go1.24.11 (amd64)" in third.stdout  # the nightly log lists it in words
    assert (tmp_path / "index.md").read_text().count("/report.md)") == 3
