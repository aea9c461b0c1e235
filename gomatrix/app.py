"""The pipeline behind the tasks: plan -> run -> cell files -> merge -> report."""

from __future__ import annotations

import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from gomatrix.cases import Case, discover_cases
from gomatrix.cellfile import build_cell, read_cell, write_cell, write_json_atomic
from gomatrix.config import MatrixConfig
from gomatrix.engine import DockerEngine
from gomatrix.errors import CellFileError, EngineUnavailable, ImageError
from gomatrix.hostrunner import HostRunner
from gomatrix.plan import Cell, plan_cells
from gomatrix.report import build_report, render_markdown
from gomatrix.runner import CellOutcome, DockerRunner, Runner
from gomatrix.schemas import validate
from gomatrix.toolchains import GoBinProvider, LocalProvider, ToolchainProvider

Log = Callable[[str], None]


@dataclass(frozen=True)
class RunSummary:
    run_dir: Path
    report_md: Path
    statuses: dict[str, int]


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


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


def run_cells(runner: Runner, cells: Sequence[Cell], config: MatrixConfig, run_dir: Path, log: Log) -> None:
    """Run every cell; one cell's failure, even a bug of ours, never stops the others."""
    total = len(cells)
    started = time.monotonic()
    for index, cell in enumerate(cells, start=1):
        raw_dir = run_dir / "raw" / cell.key
        raw_dir.mkdir(parents=True, exist_ok=True)
        log(f"[{index}/{total}] {cell.key}: running")
        try:
            outcome = runner.run(cell, raw_dir)
        except Exception as exc:  # a bug must not lose the other cells: record it in the cell
            (raw_dir / "internal-error.txt").write_text(traceback.format_exc(), encoding="utf-8")
            outcome = CellOutcome(status="failed", reason=f"internal error in gomatrix: {exc!r}",
                                  runner=runner.name, emulated=False, image=None, total_s=0.0,
                                  started_at=utc_now())
        doc = build_cell(cell, outcome, config.bench, raw_dir, run_dir)
        write_cell(doc, run_dir / "cells" / f"{cell.key}.json")
        elapsed = time.monotonic() - started
        eta = elapsed / index * (total - index)
        detail = f": {doc['reason'][:160]}" if doc["reason"] else ""
        log(f"[{index}/{total}] {cell.key}: {doc['status']} in {outcome.total_s:.1f} s "
            f"(elapsed {elapsed:.0f} s, ETA {eta:.0f} s){detail}")


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
    validate(report, "report", where=str(run_dir / "report.json"), error_cls=CellFileError,
             fix="This is a bug in gomatrix: the merged report does not match its schema.")
    write_json_atomic(report, run_dir / "report.json")
    markdown = render_markdown(report)
    report_md = run_dir / "report.md"
    _write_text_atomic(report_md, markdown)
    if reports_root is not None:
        _write_text_atomic(reports_root / "latest.md", _latest(markdown, run_dir, reports_root))
    return report_md


def _latest(markdown: str, run_dir: Path, root: Path) -> str:
    relative = run_dir.relative_to(root) if run_dir.is_relative_to(root) else run_dir
    return f"<!-- copy of {relative}/report.md -->\n\n{markdown}"


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


def run_matrix(config: MatrixConfig, *, log: Log = print,
               engine_factory: Callable[[], DockerEngine] = DockerEngine.connect) -> RunSummary:
    """`invoke matrix`: run every planned cell and write the report."""
    cases = discover_cases(config.cases_dir, config.cases)
    cells = plan_cells(config, cases)
    log(f"gomatrix: {len(cells)} cells = {len(config.versions)} Go versions x {len(config.arches)} arches x "
        f"{len(cases)} cases ({config.source})")
    runner = select_runner(config, f"run-{uuid.uuid4().hex[:12]}", log, engine_factory)
    run_dir = new_run_dir(config.out)
    runner.prepare(cells)
    run_cells(runner, cells, config, run_dir, log)
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

