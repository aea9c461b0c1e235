"""Shards in separate processes, merged, give the single-process report (apart from timings)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from tests.conftest import SEED_ARGS, invoke, only_run_dir


def _results(report: dict[str, Any]) -> dict[str, Any]:
    """Everything but timings: cells and statuses, claims, escape verdicts, allocs/op, changes."""
    return {
        "columns": report["columns"],
        "cells": sorted((c["key"], c["status"], c["go_version"], c["arch"]) for c in report["cells"]),
        "claims": {cl["id"]: (cl["results"], cl["changes"]) for case in report["cases"] for cl in case["claims"]},
        "sites": {(case["name"], s["file"], s["line"], s["subject"]):
                  {k: v["verdict"] for k, v in s["verdicts"].items()}
                  for case in report["cases"] for s in case["sites"]},
        "allocs": {(case["name"], b["name"]): {k: r["allocs_per_op"] for k, r in b["results"].items()}
                   for case in report["cases"] for b in case["benchmarks"]},
        "changes": [c for c in report["changes"] if c["kind"] in ("escape", "allocs")],
    }


def test_three_shards_merge_into_the_single_process_report(docker_seed_run: Path, registry_images: str,
                                                            tmp_path: Path) -> None:
    shards = tmp_path / "shards"
    for index in (1, 2, 3):
        result = invoke("matrix", "--runner", "docker", "--image", registry_images, *SEED_ARGS,
                        "--shard", f"{index}/3", "--out", str(shards / str(index)))
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        assert f"shard {index}/3:" in result.stdout
    sizes = [len(list((only_run_dir(shards / str(i)) / "cells").glob("*.json"))) for i in (1, 2, 3)]
    assert sum(sizes) == 12 and min(sizes) >= 3  # a partition, balanced
    merged = invoke("merge", str(shards / "*"), "--out", str(tmp_path / "reports"))
    assert merged.returncode == 0, merged.stdout + merged.stderr
    single = json.loads((docker_seed_run / "report.json").read_text())
    together = json.loads((only_run_dir(tmp_path / "reports") / "report.json").read_text())
    assert _results(together) == _results(single)


def test_merge_lists_missing_cells_and_rejects_conflicting_duplicates(docker_seed_run: Path,
                                                                       tmp_path: Path) -> None:
    # Two "shards": the seed run without three of its cells, and a copy holding a conflicting result.
    partial = tmp_path / "partial" / docker_seed_run.name
    shutil.copytree(docker_seed_run, partial)
    gone = sorted(p.stem for p in (partial / "cells").glob("sliceappend--*"))[:3]
    for key in gone:
        (partial / "cells" / f"{key}.json").unlink()
    result = invoke("merge", str(partial), "--out", str(tmp_path / "merged"))
    assert result.returncode == 0, result.stderr
    markdown = (only_run_dir(tmp_path / "merged") / "report.md").read_text()
    assert "Partial report" in markdown and all(f"`{key}`" in markdown for key in gone)

    conflicting = tmp_path / "other" / docker_seed_run.name
    shutil.copytree(docker_seed_run, conflicting)
    cell_path = conflicting / "cells" / "array--go1.24.11--amd64.json"
    cell = json.loads(cell_path.read_text())
    cell["benchmarks"][0]["allocs_per_op"] = 7.0
    cell_path.write_text(json.dumps(cell))
    result = invoke("merge", f"{docker_seed_run},{conflicting}", "--out", str(tmp_path / "conflict"))
    assert result.returncode == 6
    assert "array--go1.24.11--amd64 comes twice with different results" in result.stderr
    assert "Traceback" not in result.stderr
