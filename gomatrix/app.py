"""The pipeline behind the tasks: plan -> run -> cell files -> merge -> report."""

from __future__ import annotations

import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from gomatrix.cases import Case, discover_cases
from gomatrix.cellfile import build_cell, read_cell, write_benchstat, write_cell, write_json_atomic
from gomatrix.config import MatrixConfig
from gomatrix.engine import DockerEngine
from gomatrix.errors import CellFileError, EngineUnavailable, ImageError
from gomatrix.history import changes_since, find_previous_report, write_index
from gomatrix.hostrunner import HostRunner
from gomatrix.plan import Cell, plan_cells
from gomatrix.plots import write_case_plots
from gomatrix.progress import Progress
from gomatrix.render import markdown_to_html
from gomatrix.report import build_report, render_markdown
from gomatrix.resultcache import ResultCache, cacheable, cell_cache_key
from gomatrix.runner import CellOutcome, DockerRunner, Runner, utc_now
from gomatrix.schemas import validate
from gomatrix.toolchains import GoBinProvider, LocalProvider, ToolchainProvider, cache_root

Log = Callable[[str], None]


@dataclass(frozen=True)
class RunSummary:
    run_dir: Path
    report_md: Path
    statuses: dict[str, int]


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
              cache: ResultCache | None = None, force: bool = False) -> None:
    """Run every cell: cached results first, then groups in parallel (config.jobs).

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
    # Slowest first (emulated toolchains, then big groups) so that parallel workers finish together.
    ordered = sorted(groups.values(), key=lambda g: (runner.strategy(g[0].cell) != "full", -len(g)))

    def work(group: list[_Pending]) -> list[CellOutcome]:
        progress.started([item.cell.key for item in group])
        try:
            return runner.run_group([item.cell for item in group], [item.raw_dir for item in group])
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
            for item, outcome in zip(futures[future], future.result(), strict=True):
                _finish(item.cell, outcome, config, run_dir, item.raw_dir, progress, cache_key=item.cache_key)
                if cache is not None and item.cache_key is not None and cacheable(outcome):
                    cache.store(item.cache_key, outcome, item.raw_dir)


def _finish(cell: Cell, outcome: CellOutcome, config: MatrixConfig, run_dir: Path, raw_dir: Path,
            progress: Progress, *, cache_key: str | None, cached: bool = False) -> None:
    doc = build_cell(cell, outcome, config.bench, raw_dir, run_dir)
    doc["cache"] = {"key": cache_key, "hit": cached}
    write_benchstat(doc, raw_dir, run_dir)
    write_cell(doc, run_dir / "cells" / f"{cell.key}.json")
    progress.finished(cell.key, doc["status"], outcome.total_s, doc["reason"], cached=cached)


def merge_run(run_dir: Path, cases: Sequence[Case], *, reports_root: Path | None = None,
              title: str | None = None) -> Path:
    """Validate every cell file of run_dir, merge them into report.json and report.md.

    A cell file that fails its schema stops the merge with the file's name and JSON path; nothing is
    modified. reports_root (if given) gets latest.md.
    """
    cell_files = sorted((run_dir / "cells").glob("*.json"))
    if not cell_files:
        raise CellFileError("no cell files to merge", where=str(run_dir / "cells"),
                            fix="Run `invoke matrix` first, or pass the run directory that holds cells/.")
    cells = [read_cell(path) for path in cell_files]
    report = build_report(cells, cases, generated_at=utc_now(),
                          title=title or f"gomatrix report {run_dir.name}")
    report["plots"] = write_case_plots(report, run_dir)
    report["since_previous"] = changes_since(find_previous_report(reports_root or run_dir.parent, run_dir), report)
    validate(report, "report", where=str(run_dir / "report.json"), error_cls=CellFileError,
             fix="This is a bug in gomatrix: the merged report does not match its schema.")
    write_json_atomic(report, run_dir / "report.json")
    markdown = render_markdown(report)
    report_md = run_dir / "report.md"
    _write_text_atomic(report_md, markdown)
    _write_text_atomic(run_dir / "report.html", markdown_to_html(markdown, report["title"]))
    if reports_root is not None:
        relative = run_dir.relative_to(reports_root) if run_dir.is_relative_to(reports_root) else run_dir
        latest = render_markdown(report, link_prefix=f"{relative}/")
        _write_text_atomic(reports_root / "latest.md", f"<!-- copy of {relative}/report.md -->\n\n{latest}")
        write_index(reports_root)
    return report_md


def _write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


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


def run_matrix(config: MatrixConfig, *, log: Log = print, force: bool = False,
               engine_factory: Callable[[], DockerEngine] = DockerEngine.connect) -> RunSummary:
    """`invoke matrix`: run every planned cell and write the report."""
    cases = discover_cases(config.cases_dir, config.cases)
    cells = plan_cells(config, cases)
    log(f"gomatrix: {len(cells)} cells = {len(config.versions)} Go versions x {len(config.arches)} arches x "
        f"{len(cases)} cases ({config.source})")
    runner = select_runner(config, f"run-{uuid.uuid4().hex[:12]}", log, engine_factory)
    run_dir = new_run_dir(config.out)
    runner.prepare(cells)
    progress = Progress(len(cells))
    cache = ResultCache(cache_root() / "results") if config.result_cache else None
    run_cells(runner, cells, config, run_dir, progress, cache=cache, force=force)
    progress.close()
    report_md = merge_run(run_dir, cases, reports_root=config.out)
    statuses: dict[str, int] = {}
    for path in (run_dir / "cells").glob("*.json"):
        status = read_cell(path)["status"]
        statuses[status] = statuses.get(status, 0) + 1
    log(f"gomatrix: report {report_md} ({', '.join(f'{n} {s}' for s, n in sorted(statuses.items()))})")
    return RunSummary(run_dir=run_dir, report_md=report_md, statuses=statuses)


def merge_dirs(run_dir: Path, cases_dir: Path | None, log: Log = print) -> Path:
    """`invoke merge DIR`: rebuild DIR's report from its cell files (case metadata from cases_dir)."""
    cases: list[Case] = []
    if cases_dir is not None and cases_dir.is_dir():
        cases = discover_cases(cases_dir)
    report_md = merge_run(run_dir, cases, reports_root=run_dir.parent)
    log(f"gomatrix: merged {len(list((run_dir / 'cells').glob('*.json')))} cells into {report_md}")
    return report_md

