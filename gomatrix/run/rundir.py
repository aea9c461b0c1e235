"""Run directories: reports/<UTC date>/ (or -2, -3, ... when that day has one) and the files that say
what a run is."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

RUN_FILE = "run.json"  # in a run directory: the run's label, runner and start time
PLAN_FILE = "plan.json"  # written by every run: the keys it was asked to run (its shard of the plan)


def new_run_dir(out: Path) -> Path:
    """out/<UTC date>/, or out/<UTC date>-2/ ... when that day already has a run (nothing is overwritten).

    Claimed atomically: mkdir either creates the directory or fails because another run (another
    process, at the same moment) has it, and then the next name is tried.
    """
    day = time.strftime("%Y-%m-%d", time.gmtime())
    out.mkdir(parents=True, exist_ok=True)
    for suffix in itertools.count(1):
        candidate = out / (day if suffix == 1 else f"{day}-{suffix}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate
    raise AssertionError("unreachable")
