"""One pinned plan for every shard: versions resolved and images pinned by digest once; shards run
exactly that plan and the merge refuses shards of different plans (real registry, real daemon)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import invoke, only_run_dir

pytestmark = pytest.mark.docker

RUN = ("--runner", "docker", "--cases", "array", "--benchtime", "20ms", "--count", "1", "--force",
       "--accept-failures")


def _plan(registry_images: str, out: Path, versions: str) -> dict[str, object]:
    made = invoke("plan", "--image", registry_images, "--versions", versions, "--arches", "amd64,arm64",
                  "--out", str(out))
    assert made.returncode == 0, made.stdout + made.stderr
    doc: dict[str, object] = json.loads(out.read_text())
    return doc


def test_every_shard_runs_the_pinned_plan_and_the_report_records_it(registry_images: str, tmp_path: Path) -> None:
    plan = _plan(registry_images, tmp_path / "plan.json", "1.24,1.23.9")
    images = plan["images"]
    assert isinstance(images, dict) and plan["versions"] == ["1.24.11", "1.23.9"]  # the minor resolved once
    for version, by_arch in images.items():
        assert set(by_arch) == {"amd64", "arm64"}
        assert by_arch["amd64"] != by_arch["arm64"]  # one digest per platform's image
        assert all(ref.startswith(registry_images.replace("{version}", version) + "@sha256:")
                   for ref in by_arch.values())
    for index in (1, 2):
        ran = invoke("matrix", "--plan", str(tmp_path / "plan.json"), *RUN, "--shard", f"{index}/2",
                     "--out", str(tmp_path / "shards" / str(index)))
        assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
        assert f"gomatrix: plan {str(plan['digest'])[:19]}" in ran.stdout
    merged = invoke("merge", str(tmp_path / "shards" / "*"), "--out", str(tmp_path / "reports"))
    assert merged.returncode == 0, merged.stdout + merged.stderr
    report = json.loads((only_run_dir(tmp_path / "reports") / "report.json").read_text())
    assert report["plan"] == plan["digest"]
    cells = {c["key"]: c for c in report["cells"]}
    assert len(cells) == 4 and all(c["status"] == "ok" for c in cells.values())
    for key, cell in cells.items():
        version, arch = key.split("--")[1].removeprefix("go"), key.split("--")[2]
        assert cell["image"] == images[version][arch]  # pulled by the plan's digest, not by the tag

    # A shard of another plan (the tag resolved again, here with fewer versions) is refused by the merge.
    _plan(registry_images, tmp_path / "other.json", "1.24")
    other = invoke("matrix", "--plan", str(tmp_path / "other.json"), *RUN, "--shard", "1/1",
                   "--out", str(tmp_path / "shards" / "3"))
    assert other.returncode == 0, other.stdout[-3000:] + other.stderr[-3000:]
    refused = invoke("merge", str(tmp_path / "shards" / "*"), "--out", str(tmp_path / "refused"))
    assert refused.returncode == 6 and "the inputs ran different plans" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_a_plan_is_kept_as_written(registry_images: str, tmp_path: Path) -> None:
    path = tmp_path / "plan.json"
    plan = _plan(registry_images, path, "1.24")
    conflict = invoke("matrix", "--plan", str(path), "--versions", "1.23.9", "--dry-run")
    assert conflict.returncode == 2 and "--plan decides the versions and images" in conflict.stderr
    wider = invoke("matrix", "--plan", str(path), "--arches", "amd64", "--dry-run", "--json")
    assert wider.returncode == 0 and {c["arch"] for c in json.loads(wider.stdout)["cells"]} == {"amd64"}
    images = plan["images"]
    assert isinstance(images, dict)
    images["1.24.11"]["amd64"] = images["1.24.11"]["arm64"]  # tampered after planning
    path.write_text(json.dumps(plan))
    tampered = invoke("matrix", "--plan", str(path), "--dry-run")
    assert tampered.returncode == 2 and "was changed after planning" in tampered.stderr
