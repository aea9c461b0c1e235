"""`invoke merge DIR...`: cell files from any number of shards or machines -> one run and one report.

Each input is a run directory (holding cells/) or a directory of run directories (a shard's --out).
Every cell file is validated; two files for the same cell must agree (the same results), else the
merge stops naming both; cells that a shard planned but nobody delivered are listed as missing.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from gomatrix.cellfile import read_cell
from gomatrix.errors import CellFileError
from gomatrix.files import write_json_atomic

Log = Callable[[str], None]
PLAN_FILE = "plan.json"  # written by every run: the keys it was asked to run (its shard of the plan)

# What two results of one cell must share to count as the same (timings and cache facts may differ).
_RESULT_FIELDS = ("status", "go_version", "arch", "strategy", "benchmarks", "escapes")


def _run_dirs(path: Path) -> list[Path]:
    if (path / "cells").is_dir():
        return [path]
    found = sorted(p for p in path.iterdir() if p.is_dir() and (p / "cells").is_dir()) if path.is_dir() else []
    if not found:
        raise CellFileError("no cell files here", where=str(path),
                            fix="Pass run directories (holding cells/) or the --out directories of the shards.")
    return found


def _comparable(cell: dict[str, Any]) -> dict[str, Any]:
    picked = {key: cell[key] for key in _RESULT_FIELDS}
    picked["benchmarks"] = [{k: v for k, v in b.items() if k in ("name", "allocs_per_op")}
                            for b in cell["benchmarks"]]
    return picked


def collect(inputs: Sequence[Path], into: Path, log: Log = print) -> list[str]:
    """Copy every input cell (and its raw outputs) into the run directory `into`; returns the keys
    that were planned by some input but delivered by none."""
    seen: dict[str, tuple[Path, dict[str, Any]]] = {}
    planned: set[str] = set()
    for source in inputs:
        for run_dir in _run_dirs(source):
            plan = run_dir / PLAN_FILE
            if plan.exists():  # a shard knows the whole matrix it is a share of
                doc = json.loads(plan.read_text(encoding="utf-8"))
                planned.update(doc.get("matrix_cells") or doc.get("cells") or [])
            for path in sorted((run_dir / "cells").glob("*.json")):
                cell = read_cell(path)
                key = cell["key"]
                if key in seen:
                    first, earlier = seen[key]
                    if _comparable(earlier) != _comparable(cell):
                        raise CellFileError(
                            f"cell {key} comes twice with different results: {first} and {path}",
                            where=str(path), fix="Keep one of the two run directories (or rerun that cell).")
                    continue
                seen[key] = (path, cell)
                (into / "cells").mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, into / "cells" / path.name)
                raw = run_dir / "raw" / key
                if raw.is_dir():
                    shutil.copytree(raw, into / "raw" / key, dirs_exist_ok=True)
    missing = sorted(planned - set(seen))
    write_json_atomic({"cells": sorted(planned | set(seen))}, into / PLAN_FILE)
    log(f"gomatrix: merged {len(seen)} cells from {len(inputs)} input(s)"
        + (f"; missing: {', '.join(missing)}" if missing else ""))
    return missing
