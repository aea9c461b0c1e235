"""The nightly workflow rehearsed on this machine (.ci/nightly/rehearse.py): its job scripts in their
order, three nights, publishing into a local bare repository (real daemon, real registry, real Go)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.docker


def test_three_nights_one_plan_each_and_only_what_is_new_runs(registry_images: str, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    registry = registry_images.split("/", 1)[0]
    done = subprocess.run([sys.executable, str(ROOT / ".ci" / "nightly" / "rehearse.py"), "--registry", registry,
                           "--work", str(tmp_path / "rehearsal")], cwd=ROOT, capture_output=True, text=True,
                          timeout=1800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    with capsys.disabled():  # the figures, in the CI log: cells run, plan per shard, bytes committed per night
        print("\n" + "\n".join(done.stdout.strip().splitlines()[:-1]))
    nights = json.loads(done.stdout.strip().splitlines()[-1])
    # 2 versions x amd64 x 2 cases; the second night has nothing new; the third a new 1.24 patch
    assert [n["cells_run"] for n in nights] == [4, 0, 2]
    for night in nights:
        assert len(night["plan_digests"]) == 2 and set(night["plan_digests"]) == {night["plan"]}
        assert night["bytes_committed"] > 0
    assert nights[0]["plan"] == nights[1]["plan"] != nights[2]["plan"]
    published = tmp_path / "rehearsal" / "night3" / "published"
    runs = sorted(p.name for p in published.iterdir() if p.is_dir() and not p.name.startswith("."))
    assert len(runs) == 3 and (published / "index.md").is_file()
    for run in runs:  # the report committed, the raw outputs packed
        assert (published / run / "report.md").is_file() and (published / run / "raw.tar.xz").is_file()
        assert not (published / run / "raw").exists()
    log = subprocess.run(["git", "-C", str(tmp_path / "rehearsal" / "published.git"), "log", "--oneline", "reports"],
                         capture_output=True, text=True, check=True).stdout
    assert len(log.splitlines()) == 3
