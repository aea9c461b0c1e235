"""Build cell documents from the recorded real outputs (no Docker), as a runner would."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from gomatrix.core.kinds import RunnerChoice
from gomatrix.docker.engine import ImageInfo
from gomatrix.plan.cases import discover_cases
from gomatrix.plan.cells import Cell
from gomatrix.plan.config import BenchSettings
from gomatrix.run.cellfile import build_cell
from gomatrix.runners.base import CellOutcome, interpret_driver_exit, read_exit

ROOT = Path(__file__).resolve().parent.parent
RECORDED = ROOT / "tests" / "data" / "recorded"
FIXTURE_CASES = ROOT / "tests" / "fixtures" / "cases"
SHAPES = ROOT / "tests" / "fixtures" / "shapes"  # recorded with the hook in package testing


def recorded_cell(version: str, case_name: str, run_dir: Path, *, arch: str = "amd64",
                  emulated: bool = False) -> dict[str, Any]:
    """The cell a runner would build from the recorded outputs of one real run."""
    cases_dir = next(d for d in (ROOT / "cases", FIXTURE_CASES, SHAPES) if (d / case_name).is_dir())
    case = discover_cases(cases_dir, (case_name,))[0]
    cell = Cell(case=case, version=version, arch=arch, image_ref=f"127.0.0.1:5000/golang:{version}")
    raw_dir = run_dir / "raw" / cell.key
    shutil.copytree(RECORDED / f"go{version}-linux-amd64" / case_name, raw_dir, dirs_exist_ok=True)
    if arch != "amd64":  # same toolchain output, as the arm64 image reports it
        env = raw_dir / "go-env.txt"
        env.write_text(env.read_text().replace("amd64", arch))
    exit_code = read_exit(raw_dir)
    assert exit_code is not None
    ending = interpret_driver_exit(exit_code, raw_dir, cell, cell.image_ref)
    image = ImageInfo(ref=cell.image_ref, id="sha256:" + "ab" * 32, digest="sha256:" + "cd" * 32,
                      architecture=arch)
    outcome = CellOutcome(status=ending.status, reason=ending.reason, runner=RunnerChoice.DOCKER, emulated=emulated,
                          image=image, total_s=1.5, started_at="2026-11-25T19:00:00Z")
    doc = build_cell(cell, outcome, BenchSettings("100ms", 3), raw_dir, run_dir)
    if arch != "amd64":
        # The step times are the amd64 recording's: on this machine's clock they would coincide with the
        # amd64 cell's and make it look as if it ran under load. A copy was timed on no clock of its own.
        doc["timings"]["clock"] = None
    return doc
