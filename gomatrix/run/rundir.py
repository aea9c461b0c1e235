"""Run directories: reports/<UTC date>/ (or -2, -3, ... when that day has one) and the files that say
what a run is."""

from __future__ import annotations

import time
from pathlib import Path

RUN_FILE = "run.json"  # in a run directory: the run's label, runner and start time
PLAN_FILE = "plan.json"  # written by every run: the keys it was asked to run (its shard of the plan)


def new_run_dir(out: Path) -> Path:
    """out/<UTC date>/, or out/<UTC date>-2/ ... when that day already has a run (nothing is overwritten)."""
    day = time.strftime("%Y-%m-%d", time.gmtime())
    candidate = out / day
    suffix = 2
    while candidate.exists():
        candidate = out / f"{day}-{suffix}"
        suffix += 1
    candidate.mkdir(parents=True)
    return candidate
