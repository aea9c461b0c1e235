"""`invoke merge DIR...`: cell files from any number of shards or machines -> one run and one report.

Each input is a run directory (holding cells/) or a directory of run directories (a shard's --out).
Every cell file is validated; two files for the same cell must agree (the same results), else the
merge stops naming both; cells that a shard planned but nobody delivered are listed as missing.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gomatrix.analysis.document import build_report
from gomatrix.analysis.index import write_index
from gomatrix.analysis.markdown import render_markdowns
from gomatrix.analysis.plots import PLOTS_DIR, write_case_plots
from gomatrix.analysis.render import markdown_to_html
from gomatrix.analysis.runs import find_previous_report, remember_valid
from gomatrix.analysis.since import changes_since
from gomatrix.core.errors import CellFileError, ConfigError
from gomatrix.core.files import locked, write_atomic, write_json_atomic
from gomatrix.core.schemas import validate
from gomatrix.core.text import Log
from gomatrix.core.values import to_json
from gomatrix.plan.cases import Case, discover_cases
from gomatrix.results.quickcheck import matches
from gomatrix.run.cellfile import read_cell
from gomatrix.run.rundir import PLAN_FILE, RUN_FILE, new_run_dir
from gomatrix.runners.base import utc_now
from gomatrix.toolchains.providers import cache_root

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
    return _collect(inputs, into, log)[0]


def _collect(inputs: Sequence[Path], into: Path, log: Log) -> tuple[list[str], list[dict[str, Any]]]:
    """collect, also returning the cells copied (as read and validated, in the order of their file names)."""
    seen: dict[str, tuple[Path, dict[str, Any]]] = {}
    copied: dict[str, dict[str, Any]] = {}  # file name in into/cells -> its cell
    planned: set[str] = set()
    plans: dict[str, Path] = {}  # pinned plan digest -> the first run directory that ran it
    for source in inputs:
        for run_dir in _run_dirs(source):
            plan = run_dir / PLAN_FILE
            if plan.exists():  # a shard knows the whole matrix it is a share of
                doc = json.loads(plan.read_text(encoding="utf-8"))
                planned.update(doc.get("matrix_cells") or doc.get("cells") or [])
                if doc.get("plan"):
                    plans.setdefault(str(doc["plan"]), run_dir)
                if len(plans) > 1:
                    raise CellFileError(
                        "the inputs ran different plans: "
                        + ", ".join(f"{digest[:19]} ({where})" for digest, where in plans.items()),
                        where=str(run_dir), fix="Merge only the shards of one `gomatrix plan` (rerun the others).")
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
                copied[path.name] = cell
                raw = run_dir / "raw" / key
                if raw.is_dir():
                    shutil.copytree(raw, into / "raw" / key, dirs_exist_ok=True)
    missing = sorted(planned - set(seen))
    write_json_atomic({"cells": sorted(planned | set(seen)), "plan": next(iter(plans), None)}, into / PLAN_FILE)
    log(f"gomatrix: merged {len(seen)} cells from {len(inputs)} input(s)"
        + (f"; missing: {', '.join(missing)}" if missing else ""))
    return missing, [copied[name] for name in sorted(copied)]


def _plan_of(run_dir: Path) -> str | None:
    """The digest of the pinned plan the run's cells came from (its plan.json), if any."""
    try:
        plan = json.loads((run_dir / PLAN_FILE).read_text(encoding="utf-8")).get("plan")
    except (OSError, ValueError, AttributeError):
        return None
    return plan if isinstance(plan, str) else None


def merge_run(run_dir: Path, cases: Sequence[Case], *, reports_root: Path | None = None,
              title: str | None = None, missing: Sequence[str] = (),
              cells: Sequence[dict[str, Any]] | None = None) -> Path:
    """Validate every cell file of run_dir, merge them into report.json and report.md.

    A cell file that fails its schema stops the merge with the file's name and JSON path; nothing is
    modified. reports_root (if given) gets latest.md. cells: run_dir's cells, already read and
    validated (by collect), in the order of their file names.
    """
    return merge_report(run_dir, cases, reports_root=reports_root, title=title, missing=missing, cells=cells)[0]



def merge_report(run_dir: Path, cases: Sequence[Case], *, reports_root: Path | None, title: str | None = None,
           missing: Sequence[str] = (), cells: Sequence[dict[str, Any]] | None = None) -> tuple[Path, dict[str, Any]]:
    """merge_run, also returning the report document."""
    if cells is None:
        cell_files = sorted((run_dir / "cells").glob("*.json"))
        if not cell_files:
            raise CellFileError("no cell files to merge", where=str(run_dir / "cells"),
                                fix="Run `gomatrix matrix` first, or pass the run directory that holds cells/.")
        cells = [read_cell(path) for path in cell_files]
    # The evidence first; the plots and the comparison with the previous run are drawn from it and go
    # into a new document beside it.
    evidence = build_report(cells, cases, generated_at=utc_now(), title=title or f"gomatrix report {run_dir.name}")
    plots = write_case_plots(evidence, run_dir, cache_dir=plot_cache_dir())
    valid = valid_reports_dir()
    since = changes_since(find_previous_report(reports_root or run_dir.parent, run_dir, valid_cache=valid), evidence)
    report = {**evidence, "plots": plots, "since_previous": to_json(since), "plan": _plan_of(run_dir)}
    if not matches(report, "report"):  # jsonschema where the quick check is not sure, and for the error
        validate(report, "report", where=str(run_dir / "report.json"), error_cls=CellFileError,
                 fix="This is a bug in gomatrix: the merged report does not match its schema.")
    data = _json_text(report).encode("utf-8")
    write_atomic(run_dir / "report.json", data)
    remember_valid(data, valid)  # validated above: neither the index nor the next run validates it again
    del data  # tens of MB for thousands of cells
    relative = None
    if reports_root is not None:
        relative = run_dir.relative_to(reports_root) if run_dir.is_relative_to(reports_root) else run_dir
    # report.md and latest.md (its links lead into the run directory) from one rendering.
    texts = render_markdowns(report, [""] if relative is None else ["", f"{relative}/"])
    markdown = _note_missing(texts[0], missing, run_dir)
    report_md = run_dir / "report.md"
    write_atomic(report_md, markdown)
    write_atomic(run_dir / "report.html", markdown_to_html(markdown, report["title"]))
    if reports_root is not None:
        latest = _note_missing(texts[1], missing, run_dir)
        # Scanned and written under the lock: a run finishing meanwhile cannot overwrite the index with one
        # made before its own report existed.
        with locked(reports_root):
            write_atomic(reports_root / "latest.md", f"<!-- copy of {relative}/report.md -->\n\n{latest}")
            write_index(reports_root, cache_dir=cache_root() / "results" / "index-rows", valid_cache=valid)
    return report_md, report


def _json_text(doc: Any) -> str:
    """doc as write_json_atomic writes it (here: the bytes are remembered as valid)."""
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def valid_reports_dir() -> Path:
    """Digests of report.json files known to match their schema (inside the result cache's directory)."""
    return cache_root() / "results" / "valid-reports"



def plot_cache_dir() -> Path:
    """Where drawn plots are kept by their data (inside the result cache's directory): reruns reuse them."""
    return cache_root() / "results" / PLOTS_DIR



def _note_missing(markdown: str, missing: Sequence[str], run_dir: Path) -> str:
    """A partial report says so under its title, with every planned cell that has no result."""
    if not missing:
        return markdown
    title, _sep, rest = markdown.partition("\n")
    if (run_dir / RUN_FILE).exists():  # an interrupted run (a merge of shards has no run file)
        why = "the run was interrupted"
        hint = f"`gomatrix matrix --resume {run_dir}` (with the same options) runs them."
    else:
        why, hint = "no input delivered these planned cells", "Run the missing shard(s) and merge again."
    note = (f"\n\n> **Partial report: {why}.** {len(missing)} cell(s) are missing below: "
            f"{', '.join(f'`{key}`' for key in missing)}. {hint}\n")
    return f"{title}{note}{rest}"



def partial_report(run_dir: Path, cases: Sequence[Case], reports_root: Path, missing: Sequence[str]) -> None:
    if any((run_dir / "cells").glob("*.json")):
        merge_run(run_dir, cases, reports_root=reports_root, missing=missing)
    else:  # nothing finished: a report that says only that
        write_atomic(run_dir / "report.md", _note_missing(f"# gomatrix report {run_dir.name}\n", missing,
                                                                run_dir))



def merge_dirs(inputs: Sequence[Path], cases_dir: Path | None, *, out: Path | None = None,
               log: Log = print) -> Path:
    """`gomatrix merge`: rebuild one run's report in place, or (with out) merge the cells of several runs,
    shards or machines into a new run under out, listing the planned cells nobody delivered."""
    missing = [str(path) for path in inputs if not path.is_dir()]
    if missing:
        raise ConfigError(f"no such directory: {', '.join(missing)}", where="command line (merge)",
                          fix="Pass run directories (holding cells/) or shards' --out directories; quote globs.")
    cases: list[Case] = []
    if cases_dir is not None and cases_dir.is_dir():
        cases = discover_cases(cases_dir)
    if out is None:
        if len(inputs) != 1:
            raise ConfigError(f"{len(inputs)} directories given without --out", where="command line (merge)",
                              fix="Pass --out REPORTS_DIR to merge several runs into a new one.")
        run_dir = inputs[0]
        report_md = merge_run(run_dir, cases, reports_root=run_dir.parent)
        log(f"gomatrix: merged {len(list((run_dir / 'cells').glob('*.json')))} cells into {report_md}")
        return report_md
    run_dir = new_run_dir(out)
    missing, cells = _collect(inputs, run_dir, log)
    report_md = merge_run(run_dir, cases, reports_root=out, missing=missing, cells=cells)
    log(f"gomatrix: report {report_md}")
    return report_md
