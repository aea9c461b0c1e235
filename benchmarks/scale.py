"""`invoke bench --only scale`: the orchestrator's own time and peak memory for plan, merge, report and
index at 100, 1,000 and 5,000 cells, into benchmarks/RESULTS.md's "Scale" section.

No Go and no Docker: cells are synthesized from a recorded run's cell files (reports/, the current
schema), shaped like a nightly (many cases, each across versions × arches, split over shards), and
merged the way the nightly's merge job does (`gomatrix merge SHARDS... --out PUBLISHED`, with the
previous night's report beside it). Each size runs in its own child process, so that its peak RSS
is its own (VmHWM); inside, each stage's time is measured by wrapping the functions merge calls.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import datetime
import itertools
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

from gomatrix.analysis.document import build_report
from gomatrix.analysis.index import write_index
from gomatrix.analysis.runs import remember_valid, run_dirs
from gomatrix.analysis.since import changes_since
from gomatrix.core.files import write_json_atomic
from gomatrix.core.text import Log
from gomatrix.core.values import to_json, version_key
from gomatrix.plan.cases import discover_cases
from gomatrix.plan.cells import cell_key, plan_cells, select_shard
from gomatrix.plan.config import cli_overrides, load_config
from gomatrix.run.cellfile import SCHEMA_VERSION, read_cell
from gomatrix.run.merge import valid_reports_dir
from gomatrix.run.rundir import PLAN_FILE
from gomatrix.toolchains.providers import cache_root

SIZES = (100, 1000, 5000)
VERSIONS = 8  # a nightly: 8 Go versions x 2 arches x many cases (1,600 cells at 100 cases)
ARCHES = ("amd64", "arm64")
SHARDS = 3  # the nightly's default
JOBS = 2  # cells at once in a shard: pairs of cells overlap in time (under load)
TARGET_S, TARGET_MB = 30.0, 500.0  # for 5,000 cells
STAGES = ("plan", "load", "collect", "analysis", "markdown", "plots", "html", "index", "write", "other")
STAGE_TITLES = {"plan": "plan", "load": "load + validate cells", "collect": "collect (copy)",
                "analysis": "analysis", "markdown": "markdown", "plots": "plots", "html": "html",
                "index": "index", "write": "write files", "other": "other"}
HEADING = "## Scale: plan, merge, report and index"


# ---------------------------------------------------------------- synthesized runs


@dataclass(frozen=True)
class Synthesized:
    cells: int
    cases: int
    cases_dir: Path
    shards: tuple[Path, ...]  # each shard's --out (holding one run directory)
    published: Path  # the reports checkout: the previous night's run, then the merged one
    cache: Path  # GOMATRIX_CACHE of the merge (the previous night's index row and validity already there)
    versions: tuple[str, ...]


def template_run(root: Path) -> Path:
    """The newest run under root/reports whose cells are all of the current schema."""
    for run_dir in reversed(run_dirs(root / "reports")):
        paths = sorted((run_dir / "cells").glob("*.json"))
        if paths and all(json.loads(p.read_text(encoding="utf-8")).get("schema_version") == SCHEMA_VERSION
                         for p in paths):
            return run_dir
    raise FileNotFoundError(f"no run with schema {SCHEMA_VERSION} cells under {root / 'reports'}")


def _templates(run_dir: Path) -> dict[str, dict[tuple[str, str], dict[str, Any]]]:
    """case -> (planned version, arch) -> the recorded cell (read and validated)."""
    out: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
    for path in sorted((run_dir / "cells").glob("*.json")):
        cell = read_cell(path)
        out.setdefault(cell["case"], {})[(cell["planned"]["version"], cell["arch"])] = cell
    return out


def _versions(recorded: Sequence[str], count: int) -> list[str]:
    """The recorded minors, then newer ones (1.28, 1.29, ...) until there are count."""
    versions = sorted(recorded, key=version_key)[-count:]
    while len(versions) < count:
        major, minor = versions[-1].split(".")[:2]
        versions.append(f"{major}.{int(minor) + 1}")
    return versions


def _span(cell: dict[str, Any]) -> tuple[float, float]:
    steps = [s for s in cell["timings"]["steps"] if s.get("start") is not None and s.get("end") is not None]
    return (min(s["start"] for s in steps), max(s["end"] for s in steps)) if steps else (0.0, 0.0)


def _failed(cell: dict[str, Any]) -> dict[str, Any]:
    return {**cell, "status": "failed", "reason": "synthesized failure: go test exited with status 1",
            "benchmarks": [], "escapes": [], "sites": []}


def _cell(template: dict[str, Any], case: str, number: int, version: str, recorded: str, arch: str) -> dict[str, Any]:
    """The template as case's cell of version (recorded's data when the version was not recorded),
    its ns/op scaled per case so that cases differ."""
    doc = copy.deepcopy(template)
    key = cell_key(case, version, arch)
    old_key = doc["key"]
    doc.update(key=key, case=case, planned={"version": version, "arch": arch})
    if version != recorded and doc["go_version"]:
        go_version = f"go{version}.1"
        doc["go_version_line"] = (doc["go_version_line"] or "").replace(doc["go_version"], go_version)
        doc["go_version"] = go_version
        if doc.get("toolchain"):
            doc["toolchain"]["version"] = go_version.removeprefix("go")
    doc["raw"] = {name: path.replace(old_key, key) for name, path in doc["raw"].items()}
    factor = 1 + (number % 10) / 100
    for bench in doc["benchmarks"]:
        bench["ns_per_op"] *= factor
        for sample in bench["samples"]:
            sample["ns_per_op"] *= factor
    return doc


def synthesize(cells: int, work: Path, root: Path, *, templates: Path | None = None) -> Synthesized:
    """Write `cells` cell files (VERSIONS × ARCHES per case, the last case partly) into SHARDS shards
    under work/, their cases (copies of the recorded ones, claim ids renamed) and the previous night's
    report (a few cells failing in one night and not the other, so that there are changes to list)."""
    source = templates or template_run(root)
    recorded = _templates(source)
    names = sorted(recorded)
    versions = _versions(sorted({v for by_key in recorded.values() for v, _a in by_key}), VERSIONS)
    per_case = len(versions) * len(ARCHES)
    count = -(-cells // per_case)
    cases_dir = work / "cases"
    for number in range(count):
        template = names[number % len(names)]
        target = cases_dir / f"{template}-{number:04d}"
        shutil.copytree(root / "cases" / template, target)
        meta_path = target / "case.yaml"
        if meta_path.exists():
            meta = yaml.safe_load(meta_path.read_text(encoding="utf-8")) or {}
            for claim in meta.get("claims") or []:
                claim["id"] = f"{claim['id']}-{number:04d}"
            meta_path.write_text(yaml.safe_dump(meta, sort_keys=False, allow_unicode=True), encoding="utf-8")
    config = load_config(None, cli_overrides(versions=",".join(versions), arches=",".join(ARCHES),
                                             cases_dir=str(cases_dir)))
    planned = plan_cells(config, discover_cases(cases_dir))
    # The last case only partly, so that there are exactly `cells`; planned is version-major.
    wanted = {cell.key for cell in sorted(planned, key=lambda c: c.case.name)[:cells]}
    planned = [cell for cell in planned if cell.key in wanted]
    by_key: dict[str, dict[str, Any]] = {}
    raw_of: dict[str, Path] = {}  # the recorded raw outputs each cell's are copies of
    previous: list[dict[str, Any]] = []
    for cell in planned:
        number = int(cell.case.name.rsplit("-", 1)[1])
        template_case = names[number % len(names)]
        recorded_versions = sorted({v for v, a in recorded[template_case] if a == cell.arch}, key=version_key)
        known = cell.version if cell.version in recorded_versions else recorded_versions[-1]
        recorded_cell = recorded[template_case][(known, cell.arch)]
        doc = _cell(recorded_cell, cell.case.name, number, cell.version, known, cell.arch)
        raw_of[cell.key] = source / "raw" / recorded_cell["key"]
        first, last = cell.version == versions[0], cell.version == versions[-1]
        by_key[cell.key] = _failed(doc) if number % 25 == 3 and first and cell.arch == ARCHES[0] else doc
        previous.append(_failed(doc) if number % 7 == 5 and last and cell.arch == ARCHES[-1] else doc)
    day = datetime.datetime.now(datetime.UTC).date()  # as new_run_dir names runs
    shards = []
    for index in range(1, SHARDS + 1):
        out = work / "shards" / str(index)
        run_dir = out / day.isoformat()
        mine = select_shard(planned, (index, SHARDS), {}, ARCHES[0])
        clock = f"synthetic-shard-{index}"
        at = 1000.0
        for position, cell in enumerate(mine):
            doc = by_key[cell.key]
            start, end = _span(doc)
            shift = at - start
            for step in doc["timings"]["steps"]:
                if step.get("start") is not None and step.get("end") is not None:
                    step["start"], step["end"] = round(step["start"] + shift, 3), round(step["end"] + shift, 3)
            doc["timings"]["clock"] = clock
            if position % JOBS == JOBS - 1:
                at += end - start + 0.1
            write_json_atomic(doc, run_dir / "cells" / f"{cell.key}.json")
            if raw_of[cell.key].is_dir():
                shutil.copytree(raw_of[cell.key], run_dir / "raw" / cell.key, copy_function=_link_or_copy)
        write_json_atomic({"cells": [c.key for c in mine], "matrix_cells": [c.key for c in planned], "plan": None},
                          run_dir / PLAN_FILE)
        shards.append(out)
    published = work / "published"
    cache = work / "cache"
    _previous_night(previous, discover_cases(cases_dir), published / (day - datetime.timedelta(days=1)).isoformat(),
                    cache)
    return Synthesized(cells, count, cases_dir, tuple(shards), published, cache, tuple(versions))


def _link_or_copy(source: str, target: str) -> None:
    """Raw outputs as hard links where they can be (thousands of copies of the same few files)."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _previous_night(cells: list[dict[str, Any]], cases: Any, run_dir: Path, cache: Path) -> None:
    """The previous night's report.json (no plots: nothing reads them), with what its merge left in the
    result cache that the nightly keeps: its index row, and its digest as a report known to be valid."""
    evidence = build_report(cells, cases, generated_at="2000-01-01T00:00:00Z", title=f"gomatrix report {run_dir.name}")
    report = {**evidence, "since_previous": to_json(changes_since(None, evidence)), "plan": None}
    write_json_atomic(report, run_dir / "report.json")
    remember_valid((run_dir / "report.json").read_bytes(), cache / valid_reports_dir().relative_to(cache_root()))
    write_index(run_dir.parent, cache_dir=cache / "results" / "index-rows")


# ---------------------------------------------------------------- measuring, in the child process


def peak_rss_kb(pid: int | str = "self") -> int:
    """A process's peak RSS since it started its program (VmHWM). Not ru_maxrss: Linux carries that over
    exec from the process it was forked (vfork) from, so a child started by a large process reports at
    least that one's size."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss if pid == "self" else 0
    return next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), 0)


class StageClock:
    """Exclusive time per stage: a stage entered inside another pauses the outer one."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()
        self.peak_stage = ""  # where the process's peak RSS was reached
        self._peak = 0
        self._stack: list[str] = []
        self._since = time.perf_counter()

    def _switch(self) -> None:
        now = time.perf_counter()
        if self._stack:
            self.seconds[self._stack[-1]] += now - self._since
            peak = peak_rss_kb()
            if peak > self._peak:
                self._peak, self.peak_stage = peak, self._stack[-1]
        self._since = now

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self._switch()
        self._stack.append(name)
        try:
            yield
        finally:
            self._switch()
            self._stack.pop()

    def wrap(self, module: ModuleType, attribute: str, stage: str) -> None:
        original: Callable[..., Any] = getattr(module, attribute)

        def timed(*args: Any, **kwargs: Any) -> Any:
            self.calls[attribute] += 1
            with self.stage(stage):
                return original(*args, **kwargs)

        setattr(module, attribute, timed)


# What merge.py calls, by stage (names as merge.py imports them).
MERGE_STAGES = {
    "read_cell": "load", "discover_cases": "load", "collect": "collect", "_collect": "collect",
    "build_report": "analysis", "find_previous_report": "analysis", "changes_since": "analysis",
    "to_json": "analysis", "validate": "analysis", "matches": "analysis", "_plan_of": "analysis",
    "render_markdown": "markdown", "_note_missing": "markdown",
    "write_case_plots": "plots", "markdown_to_html": "html", "write_index": "index",
    "write_atomic": "write", "write_json_atomic": "write", "_json_text": "write",
    "render_markdowns": "markdown", "remember_valid": "analysis",
}


def measure_merge(work: Path, versions: Sequence[str]) -> dict[str, Any]:
    """In the child: plan (config, cases, cells, the shards' split), then `gomatrix merge` of the
    shards into published/, each stage timed; then the plots once more, all cached this time."""
    from gomatrix.analysis import plots
    from gomatrix.run import merge

    clock = StageClock()
    start = time.perf_counter()
    with clock.stage("plan"):
        config = load_config(None, cli_overrides(versions=",".join(versions), arches=",".join(ARCHES),
                                                 cases_dir=str(work / "cases"), out=str(work / "published")))
        cells = plan_cells(config, discover_cases(config.cases_dir, config.cases))
        for index in range(1, SHARDS + 1):
            select_shard(cells, (index, SHARDS), {}, ARCHES[0])
    for attribute, stage in MERGE_STAGES.items():
        if hasattr(merge, attribute):  # names merge no longer uses are left out
            clock.wrap(merge, attribute, stage)
    shards = sorted((work / "shards").iterdir())
    with clock.stage("other"):
        report_md = merge.merge_dirs(shards, work / "cases", out=work / "published", log=lambda _line: None)
    total = time.perf_counter() - start
    peak = peak_rss_kb() / 1024  # the merge's, before what follows
    # Any process the merge started and waited for (none: plots are drawn in this process); Linux gives the
    # largest one's peak, which is at least this process's size at the fork: an upper bound of each.
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    run_dir = report_md.parent
    drawn = len(list((run_dir / "plots").glob("*.svg")))
    # What the plots cost when every one is in the cache (a night whose results did not change).
    report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    again = time.perf_counter()
    plots.write_case_plots(report, work / "plots-again", cache_dir=merge.plot_cache_dir())
    cached = time.perf_counter() - again
    return {"stages": {stage: round(clock.seconds.get(stage, 0.0), 3) for stage in STAGES},
            "total_s": round(total, 3), "plots_cached_s": round(cached, 3), "calls": dict(clock.calls),
            "run": str(run_dir), "plots": drawn,
            "children": children.ru_maxrss > 0, "children_rss_mb": round(children.ru_maxrss / 1024, 1),
            "self_rss_mb": round(peak, 1), "peak_stage": clock.peak_stage,
            "bytes": {name: (run_dir / name).stat().st_size for name in ("report.json", "report.md", "report.html")}}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="one size of the scale bench (run by benchmarks.scale)")
    parser.add_argument("work", type=Path)
    parser.add_argument("--versions", required=True)
    args = parser.parse_args(argv)
    print(json.dumps(measure_merge(args.work, args.versions.split(","))), flush=True)


# ---------------------------------------------------------------- the parent: sizes, table, RESULTS.md


@dataclass(frozen=True)
class ScaleResult:
    cells: int
    cases: int
    stages: dict[str, float]
    total_s: float
    plots_cached_s: float  # the plots stage again, every plot in the cache
    peak_rss_mb: float  # the merge process's own (VmHWM)
    children: bool  # whether the merge started any process (it draws its plots itself)
    children_rss_mb: float  # the largest such process's peak RSS (ru_maxrss of the waited-for children)
    reads: int  # cell files read and validated by the merge
    plots: int
    report_bytes: dict[str, int]

    @property
    def total_cached_s(self) -> float:
        """The total of a night whose plots are all cached."""
        return self.total_s - self.stages.get("plots", 0.0) + self.plots_cached_s


def measure_size(cells: int, root: Path, log: Log = print, *, keep: Path | None = None) -> ScaleResult:
    """Synthesize `cells` cells and merge them in a child process; keep (if given) receives the work
    directory (the synthesized shards and the merged run) instead of it being removed."""
    work = Path(tempfile.mkdtemp(prefix=f"gomatrix-scale-{cells}-"))
    try:
        synth = synthesize(cells, work, root)
        log(f"bench: scale: {cells} cells ({synth.cases} cases × {len(synth.versions)} versions × "
            f"{len(ARCHES)} arches, {SHARDS} shards) synthesized; merging")
        command = [sys.executable, "-m", "benchmarks.scale", str(work), "--versions", ",".join(synth.versions)]
        env = {**os.environ, "GOMATRIX_CACHE": str(synth.cache), "PYTHONHASHSEED": "0"}
        with open(work / "child.log", "w+") as sink:
            process = subprocess.Popen(command, cwd=root, env=env, stdout=subprocess.PIPE, stderr=sink, text=True)
            assert process.stdout is not None
            output = process.stdout.read()
            if process.wait() != 0:
                sink.seek(0)
                raise RuntimeError(f"scale bench of {cells} cells failed:\n{sink.read()[-3000:]}")
        data = json.loads(output.strip().splitlines()[-1])
        result = ScaleResult(cells, synth.cases, data["stages"], data["total_s"], data["plots_cached_s"],
                             data["self_rss_mb"], data["children"], data["children_rss_mb"],
                             int(data["calls"].get("read_cell", 0)), data["plots"], data["bytes"])
        stages = ", ".join(f"{k} {v:.2f}" for k, v in result.stages.items() if v >= 0.005)
        log(f"bench: scale: {cells} cells: {result.total_s:.2f} s ({result.total_cached_s:.2f} s with cached "
            f"plots), peak RSS {_memory(result)} (reached in {data['peak_stage']}); {stages}")
        return result
    finally:
        if keep is not None:
            shutil.rmtree(keep, ignore_errors=True)
            shutil.move(str(work), keep)
        else:
            shutil.rmtree(work, ignore_errors=True)


def _growth(small: ScaleResult, large: ScaleResult, value: Callable[[ScaleResult], float]) -> str:
    before = value(small)
    return f"{value(large) / before:.1f}×" if before >= 0.005 else "–"


def _stage_of(stage: str) -> Callable[[ScaleResult], float]:
    return lambda result: result.stages.get(stage, 0.0)


def _memory(result: ScaleResult) -> str:
    """The merge's peak RSS, and that of any process it started (none: it draws its plots itself)."""
    children = f" + child processes (each ≤ {result.children_rss_mb:.0f} MB)" if result.children else ""
    return f"{result.peak_rss_mb:.0f} MB{children}"


def _verdict(value: float, target: float, unit: str) -> str:
    return "within the target" if value < target else f"over the target by {value - target:.1f} {unit}"


def scale_lines(results: Sequence[ScaleResult]) -> list[str]:
    """The section's body: seconds per stage and size, the growth between sizes, and the targets."""
    shown = [s for s in STAGES if any(r.stages.get(s, 0.0) >= 0.005 for r in results)]
    headers = ["cells (cases)", *(STAGE_TITLES[s] for s in shown), "total", "ms per cell",
               "total, plots cached", "peak RSS"]
    rows = [[f"{r.cells:,} ({r.cases})", *(f"{r.stages.get(s, 0.0):.2f}" for s in shown), f"**{r.total_s:.2f}**",
             f"{1000 * r.total_s / r.cells:.2f}", f"**{r.total_cached_s:.2f}**", _memory(r)] for r in results]
    for small, large in itertools.pairwise(results):
        rows.append([f"growth {large.cells:,}/{small.cells:,} (cells ×{large.cells / small.cells:g})",
                     *(_growth(small, large, _stage_of(s)) for s in shown),
                     f"**{_growth(small, large, lambda r: r.total_s)}**",
                     _growth(small, large, lambda r: r.total_s / r.cells),
                     f"**{_growth(small, large, lambda r: r.total_cached_s)}**",
                     _growth(small, large, lambda r: r.peak_rss_mb)])
    largest = max(results, key=lambda r: r.cells)
    sizes = ", ".join(f"{r.report_bytes.get('report.json', 0) / 1e6:.1f}" for r in results)
    return ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers),
            *("| " + " | ".join(row) + " |" for row in rows), "",
            f"Targets for 5,000 cells: < {TARGET_S:.0f} s and < {TARGET_MB:.0f} MB. Measured at {largest.cells:,}: "
            f"{largest.total_s:.1f} s with every plot drawn ({_verdict(largest.total_s, TARGET_S, 's')}), "
            f"{largest.total_cached_s:.1f} s with every plot cached; {_memory(largest)} "
            f"({_verdict(largest.peak_rss_mb + largest.children_rss_mb, TARGET_MB, 'MB')}). "
            "Cell files read and validated: "
            f"{', '.join(f'{r.reads:,} for {r.cells:,}' for r in results)}; plots drawn: "
            f"{', '.join(str(r.plots) for r in results)}; report.json {sizes} MB."]


def section(results: Sequence[ScaleResult], *, when: str, machine: str) -> list[str]:
    return [HEADING, "",
            "Written by `invoke bench --only scale` (benchmarks/scale.py): the orchestrator's own cost as the matrix",
            "grows, without Go or Docker. The cells are copies of a recorded run's cell files (reports/, the current",
            f"schema) shaped like a nightly's: many cases, each across {VERSIONS} Go versions × {len(ARCHES)} arches "
            f"(the last case partly), in {SHARDS}",
            f"shards ({JOBS} cells at once, so some ran under load), a few cells failing, and the previous night's "
            "report beside",
            "them with what its merge left in the result cache (its index row, its digest as known valid). Each size",
            "is one child process: plan (config, cases, cells, the shards' split), then `gomatrix merge SHARDS...",
            "--out PUBLISHED` as the nightly's merge job runs it. A stage's time is the time spent in what merge",
            "calls for it (exclusive). Every plot is drawn (an empty plot cache: a new Go patch changes every",
            "case's plot); *total, plots cached* replaces the plots stage by writing them again from the cache",
            "(a night whose results did not change). Plots are SVG written by gomatrix itself (analysis/plotdraw.py)",
            "in the merge process. Peak RSS is the merge process's own (VmHWM, not ru_maxrss, which Linux carries",
            "over exec from the process that started it), "
            + ("plus the largest peak of the processes the merge started." if any(r.children for r in results)
               else "and the merge started no other process: it is the whole merge's."), "",
            f"Measured {when} on {machine}.", "",
            *scale_lines(results), ""]


def replace_section(text: str, heading: str, body: Sequence[str]) -> str:
    """text with the `## ` section starting at heading replaced by body (appended when absent)."""
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == heading), None)
    if start is None:
        return "\n".join([*lines, "", *body]).strip("\n") + "\n" if lines else "\n".join(body).strip("\n") + "\n"
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return "\n".join([*lines[:start], *body, *lines[end:]]).rstrip("\n") + "\n"


def sections_except(text: str, headings: Sequence[str]) -> list[str]:
    """The lines of text's `## ` sections other than those headings (what another part of the bench
    wrote, kept when the rest is written again); the text before the first section is left out."""
    kept: list[str] = []
    keep = False
    for line in text.splitlines():
        if line.startswith("## "):
            keep = line.strip() not in headings
        if keep:
            kept.append(line)
    return kept


def _machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "?")
    import platform
    return f"{os.cpu_count()} × {cpu}, Python {platform.python_version()}"


def run_scale_bench(*, sizes: Sequence[int] = SIZES, log: Log = print, results: Path | None = None,
                    root: Path | None = None) -> tuple[Path, list[ScaleResult]]:
    """Measure each size and write (or replace) the Scale section of RESULTS.md; the rest stays."""
    root = root or Path.cwd()
    results = results or root / "benchmarks" / "RESULTS.md"
    measured = [measure_size(n, root, log) for n in sorted(sizes)]
    old = results.read_text(encoding="utf-8") if results.exists() else "# gomatrix benchmarks\n"
    body = section(measured, when=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), machine=_machine())
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(replace_section(old, HEADING, body), encoding="utf-8")
    log(f"bench: wrote {results} ({HEADING.removeprefix('## ')})")
    return results, measured


if __name__ == "__main__":
    main()
