"""Shards in separate processes, merged, give the single-process report (apart from timings)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from gomatrix.core.values import fmt_allocs, snapped_allocs
from tests.conftest import SEED_ARGS, invoke, only_run_dir


def _value(value: Any) -> Any:
    """A change's value as the report words it: allocs/op snapped and formatted (a run of 100 ops of a
    10 MiB array may count a runtime allocation more than another), verdicts and names as they are."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return fmt_allocs(snapped_allocs(value))
    return [_value(v) for v in value]


def _results(report: dict[str, Any]) -> dict[str, Any]:
    """Everything but timings: cells and statuses, claims, sites' verdicts, allocs/op, changes."""
    return {
        "columns": report["columns"],
        "cells": sorted((c["key"], c["status"], c["go_version"], c["arch"]) for c in report["cells"]),
        "claims": {cl["id"]: (cl["results"], cl["history"], [(f["arches"], f["before"], f["after"], f["holds"])
                                                              for f in cl["flips"]])
                   for case in report["cases"] for cl in case["claims"]},
        "sites": {(case["name"], s["id"], s["source"]):
                  {k: (v["compiler"], v["message"], v["evidence"]) for k, v in s["cells"].items()}
                  for case in report["cases"] for s in case["sites"]},
        "allocs": {(case["name"], b["name"]): {k: r["allocs_per_op"] for k, r in b["results"].items()}
                   for case in report["cases"] for b in case["benchmarks"]},
        # per arch: two runs measure 1.01 and 1.0 allocs/op of a 10 MiB array, and the report groups arches
        # only when their values are identical
        "changes": sorted((c["case"], c["kind"], c["subject"], arch, c["at"],
                           [(r["first"], r["last"], _value(r["value"])) for r in c["runs"]])
                          for c in report["changes"] for arch in c["arches"]
                          if c["kind"] in ("site allocations", "site diagnostic", "benchmark allocs/op")),
        "disagreements": [(d["case"], d["site"], d["evidence"], d["versions"], d["arches"])
                          for d in report["disagreements"]],
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
    merged_results, single_results = _results(together), _results(single)
    for key, value in single_results.items():  # one key at a time: a failure names what differs
        assert merged_results[key] == value, key


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
