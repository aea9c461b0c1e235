"""`invoke bench`: measure the orchestrator on this machine and write benchmarks/RESULTS.md.

Every figure comes from real `invoke matrix` runs (subprocesses, so the orchestrator's peak RSS is
its own), against the Docker daemon and the local registry's golang images.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.scale import sections_except
from gomatrix.analysis.index import write_index
from gomatrix.analysis.runs import run_dirs
from gomatrix.core.resources import default_matrix
from gomatrix.core.text import Log
from gomatrix.docker.engine import CACHE_LABEL, DockerEngine
from gomatrix.plan.config import load_config


@dataclass(frozen=True)
class Measured:
    label: str
    command: str
    wall_s: float
    peak_rss_mb: float
    busy_core_s: float  # CPU time the whole machine spent during the run (containers, QEMU, dockerd, us)
    cells: dict[str, dict[str, Any]]
    ran: int  # cells actually run (not from the result cache)


def busy_core_seconds(proc_stat: str, ticks_per_second: int) -> float:
    """CPU time spent busy since boot, summed over every core, from /proc/stat's first line
    (user, nice, system, irq, softirq and steal; idle and iowait are not busy)."""
    fields = proc_stat.splitlines()[0].split()
    if fields[0] != "cpu":
        raise ValueError(f"not /proc/stat: {proc_stat[:40]!r}")
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[1:9])
    return (user + nice + system + irq + softirq + steal) / ticks_per_second


def _busy_now() -> float:
    return busy_core_seconds(Path("/proc/stat").read_text(), os.sysconf("SC_CLK_TCK"))


def utilisation(busy_core_s: float, wall_s: float, cores: int) -> float:
    """The share of the machine's CPU a run kept busy: 1.0 is every core for its whole wall time."""
    return busy_core_s / (wall_s * cores)


def _run(label: str, args: Sequence[str], cache: Path, out: Path, log: Log) -> Measured:
    """One `invoke matrix` as a child process: wall time, peak RSS (wait4), busy CPU, and its cells."""
    command = [sys.executable, "-m", "gomatrix", "matrix", *args, "--out", str(out)]
    env = {**os.environ, "GOMATRIX_CACHE": str(cache), "PYTHONUNBUFFERED": "1"}
    log(f"bench: {label}: invoke matrix {' '.join(args)}")
    busy_before, start = _busy_now(), time.monotonic()
    with open(out.parent / f"{out.name}.log", "w") as sink:
        process = subprocess.Popen(command, cwd=Path.cwd(), env=env, stdout=sink, stderr=subprocess.STDOUT)
        _pid, status, usage = os.wait4(process.pid, 0)
    wall, busy = time.monotonic() - start, _busy_now() - busy_before
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{label} failed: see {out.parent / f'{out.name}.log'}")
    run_dir = max((p for p in out.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
    cells = {p.stem: json.loads(p.read_text()) for p in (run_dir / "cells").glob("*.json")}
    ran = sum(1 for c in cells.values() if not c["cache"]["hit"])
    log(f"bench: {label}: {wall:.1f} s, {ran}/{len(cells)} cells ran, CPU busy {busy:.1f} core-s, "
        f"peak RSS {usage.ru_maxrss / 1024:.0f} MB")
    return Measured(label, "invoke matrix " + " ".join(args), wall, usage.ru_maxrss / 1024, busy, cells, ran)


REPEATS = 3


def _median_run(runs: Sequence[Measured]) -> Measured:
    return sorted(runs, key=lambda m: m.wall_s)[len(runs) // 2]


def _spread(runs: Sequence[Measured]) -> str:
    walls = sorted(m.wall_s for m in runs)
    return (f"{_median_run(runs).wall_s:.1f} s (median of {len(runs)}: {', '.join(f'{w:.1f}' for w in walls)}); "
            f"CPU busy {_median_run(runs).busy_core_s:.0f} core-s")


def _pairs(name: str, args: Sequence[str], jobs: int, fresh: Callable[[], Path], work: Path,
           log: Log) -> tuple[list[Measured], list[Measured]]:
    """REPEATS runs of --jobs 1 and --jobs N, alternating (runs vary by tens of percent on a shared
    machine); fresh() gives each run its result cache (and clears whatever else must be cold)."""
    ones: list[Measured] = []
    ns: list[Measured] = []
    for repeat in range(1, REPEATS + 1):
        ones.append(_run(f"{name}, --jobs 1 (#{repeat})", [*args, "--jobs", "1"], fresh(),
                         work / f"{name}-1-{repeat}", log))
        ns.append(_run(f"{name}, --jobs {jobs} (#{repeat})", [*args, "--jobs", str(jobs)], fresh(),
                       work / f"{name}-{jobs}-{repeat}", log))
    return ones, ns


def _ratio(ones: Sequence[Measured], ns: Sequence[Measured]) -> str:
    pairwise = sorted(a.wall_s / b.wall_s for a, b in zip(ones, ns, strict=True))
    return (f"{_median_run(ones).wall_s / _median_run(ns).wall_s:.2f}× (medians; pairwise "
            f"{', '.join(f'{r:.2f}' for r in pairwise)})")


def _overhead(run: Measured, jobs: int) -> str:
    ideal = _go_seconds(run.cells) / jobs
    return f"wall {run.wall_s:.1f} s / ideal {ideal:.1f} s = {run.wall_s / ideal:.2f} ({run.wall_s - ideal:+.1f} s)"


def _go_seconds(cells: dict[str, dict[str, Any]]) -> float:
    """Time spent in the in-cell go commands (the driver's steps), summed over cells."""
    return float(sum(step["seconds"] for cell in cells.values() for step in cell["timings"]["steps"]))


def _results(cells: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {key: ({b["name"]: b["allocs_per_op"] for b in c["benchmarks"]},
                  sorted((e["file"], e["line"], e["subject"], e["verdict"]) for e in c["escapes"]))
            for key, c in cells.items()}


def _machine() -> list[tuple[str, str]]:
    def first_line(cmd: list[str]) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "?"

    mem_kb = next((line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal")), "0")
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return [
        ("date (UTC)", time.strftime("%Y-%m-%d %H:%M", time.gmtime())),
        ("CPU", f"{os.cpu_count()} × {cpu}"),
        ("memory", f"{int(mem_kb) / 1024 / 1024:.0f} GiB"),
        ("OS", first_line(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"])),
        ("Python", platform.python_version()),
        ("Docker", first_line(["docker", "version", "--format", "{{.Server.Version}}"])),
        ("QEMU", first_line(["qemu-aarch64-static", "--version"])),
    ]


NIGHTS = 365


def measure_index(report_json: Path, work: Path, nights: int = NIGHTS) -> tuple[float, float]:
    """Seconds to write index.md over a year of nightly runs (copies of report_json), without and with
    the row cache: every run rewrites the index, so this is what a run pays for the history."""
    root, cache = work / "index-reports", work / "index-cache"
    first = datetime.date(2025, 1, 1)
    for night in range(nights):
        run_dir = root / (first + datetime.timedelta(days=night)).isoformat()
        run_dir.mkdir(parents=True)
        shutil.copyfile(report_json, run_dir / "report.json")
    times = []
    for cache_dir in (None, cache, cache):  # no cache; filling it; using it
        start = time.monotonic()
        write_index(root, cache_dir=cache_dir)
        times.append(time.monotonic() - start)
    return times[0], times[2]


@dataclass(frozen=True)
class Measurements:
    """Every run of one `invoke bench`, as measured."""

    cold_1s: list[Measured]
    cold_ns: list[Measured]
    rerun_1s: list[Measured]
    rerun_ns: list[Measured]
    warm: Measured
    add: Measured
    added: str  # the Go version "added" to a cached matrix
    full: Measured
    cross: Measured
    index_plain: float
    index_cached: float
    published: Path  # the report.json whose copies the index was measured on


def run_bench(*, image: str, versions: Sequence[str], jobs: int, log: Log = print,
              results: Path | None = None) -> Path:
    """Measure cold and warm runs, jobs 1 vs N, full vs cross, overhead and memory; write RESULTS.md."""
    root = Path.cwd()  # a checkout: benchmarks/RESULTS.md and reports/ are read and written there
    results = results or root / "benchmarks" / "RESULTS.md"
    measured = _measure(image, versions, jobs, root, log)
    rows = _rows(measured, jobs, os.cpu_count() or 1, root)
    results.parent.mkdir(parents=True, exist_ok=True)
    # The sections this does not write (the scale section, written by benchmarks.scale) stay.
    kept = sections_except(results.read_text(encoding="utf-8") if results.exists() else "", OWN_SECTIONS)
    results.write_text("\n".join([*_document(rows, versions, image), *kept]).rstrip("\n") + "\n", encoding="utf-8")
    log(f"bench: wrote {results}")
    return results


def _measure(image: str, versions: Sequence[str], jobs: int, root: Path, log: Log) -> Measurements:
    """The runs: cold and re-run pairs, an unchanged rerun, an added version, full vs cross, the index."""
    engine = DockerEngine.connect()
    work = Path(tempfile.mkdtemp(prefix="gomatrix-bench-"))
    # The project's own benchmark settings (matrix.yaml), spelled out so that every command is complete.
    settings = load_config(root / "matrix.yaml" if (root / "matrix.yaml").is_file() else default_matrix()).bench
    measure = ["--benchtime", settings.benchtime, "--count", str(settings.count)]
    seed = ["--runner", "docker", "--image", image, "--versions", ",".join(versions), "--arches", "amd64,arm64",
            "--cases", "array,makeslice,sliceappend", *measure]

    caches: list[Path] = []

    def warm_build() -> Path:
        """A fresh result cache, GOCACHE volumes kept: every cell runs, its compiles are incremental."""
        caches.append(Path(tempfile.mkdtemp(prefix="cache-", dir=work)))
        return caches[-1]

    def first_run() -> Path:
        """A fresh result cache and no GOCACHE volumes: the machine's first run."""
        engine.remove_volumes(CACHE_LABEL)
        return warm_build()

    try:
        cold_1s, cold_ns = _pairs("cold", seed, jobs, first_run, work, log)
        # The last cold run left the GOCACHE volumes warm.
        rerun_1s, rerun_ns = _pairs("rerun", seed, jobs, warm_build, work, log)
        cache = work / "warm-cache"
        shutil.copytree(caches[-1], cache)  # the last re-run's results
        warm = _run("warm (nothing changed)", [*seed, "--jobs", str(jobs)], cache, work / "warm", log)
        # "Adding" the newest version: forget its cells' results, as if it had never run.
        added = versions[-1]
        for cell in warm.cells.values():
            if cell["planned"]["version"] == added:
                shutil.rmtree(cache / "results" / cell["cache"]["key"][:2] / cell["cache"]["key"], ignore_errors=True)
        add = _run(f"go{added} added", [*seed, "--jobs", str(jobs)], cache, work / "added", log)
        one = ["--runner", "docker", "--image", image, "--versions", added, "--arches", "arm64", "--cases",
               "sliceappend", *measure, "--jobs", "1"]
        full = _run("one arm64 cell, full", [*one, "--emulation", "full"], first_run(), work / "full", log)
        cross = _run("one arm64 cell, cross", [*one, "--emulation", "cross"], first_run(), work / "cross", log)
        published = [d / "report.json" for d in run_dirs(root / "reports") if (d / "report.json").is_file()][-1]
        index_plain, index_cached = measure_index(published, work)
        log(f"bench: index.md over {NIGHTS} runs: {index_plain:.2f} s, {index_cached:.2f} s with cached rows")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Measurements(list(cold_1s), list(cold_ns), list(rerun_1s), list(rerun_ns), warm, add, added, full, cross,
                        index_plain, index_cached, published)


def _rows(m: Measurements, jobs: int, cores: int, root: Path) -> list[tuple[str, str, str, str]]:
    """The figures table: measurement, result, target, command or note."""
    cold_1, cold_n, rerun_n = _median_run(m.cold_1s), _median_run(m.cold_ns), _median_run(m.rerun_ns)
    same_results = _results(m.full.cells) == _results(m.cross.cells)
    used_1, used_n, rerun_used_1, rerun_used_n = (utilisation(run.busy_core_s, run.wall_s, cores)
                                                  for run in (cold_1, cold_n, _median_run(m.rerun_1s), rerun_n))
    everything = (*m.cold_1s, *m.cold_ns, *m.rerun_1s, *m.rerun_ns, m.warm, m.add, m.full, m.cross)
    warm, add, full, cross = m.warm, m.add, m.full, m.cross
    return [
        ("first run (cold), --jobs 1", _spread(m.cold_1s), "", cold_1.command),
        (f"first run (cold), --jobs {jobs}", _spread(m.cold_ns), "", cold_n.command),
        (f"--jobs 1 / --jobs {jobs}, first run", _ratio(m.cold_1s, m.cold_ns), "≥ 1.6×",
         f"CPU-bound: --jobs {jobs} kept {used_n:.0%} of the {cores} cores busy (--jobs 1: {used_1:.0%})"),
        ("every cell re-run (--force), GOCACHE warm, --jobs 1", _spread(m.rerun_1s), "",
         _median_run(m.rerun_1s).command + " --force"),
        (f"every cell re-run (--force), GOCACHE warm, --jobs {jobs}", _spread(m.rerun_ns), "",
         rerun_n.command + " --force"),
        (f"--jobs 1 / --jobs {jobs}, re-run", _ratio(m.rerun_1s, m.rerun_ns), "≥ 1.6×",
         f"--jobs {jobs} kept {rerun_used_n:.0%} of the {cores} cores busy (--jobs 1: {rerun_used_1:.0%})"),
        ("unchanged rerun (warm)", f"{warm.wall_s:.2f} s ({warm.ran} of {len(warm.cells)} cells ran)", "< 2 s",
         warm.command),
        (f"go{m.added} added to a cached matrix", f"{add.wall_s:.1f} s ({add.ran} of {len(add.cells)} cells ran)",
         "only its cells", add.command),
        ("one arm64 cell, full (cold)", f"{full.wall_s:.1f} s", "", full.command),
        ("one arm64 cell, cross (cold)", f"{cross.wall_s:.1f} s", "", cross.command),
        ("full / cross", f"{full.wall_s / cross.wall_s:.1f}×, results {'identical' if same_results else 'DIFFER'}",
         "≥ 5×, identical", ""),
        (f"orchestration overhead, first run, --jobs {jobs}", _overhead(cold_n, jobs), "≤ 1.10",
         "ideal = Σ in-cell go step times / jobs (median run)"),
        (f"orchestration overhead, re-run, --jobs {jobs}", _overhead(rerun_n, jobs), "≤ 1.10",
         "the same, on the --force runs"),
        (f"index.md over {NIGHTS} nightly runs (each run rewrites it)",
         f"{m.index_plain:.2f} s without the row cache, {m.index_cached:.2f} s with it", "",
         f"copies of {m.published.relative_to(root)}; benchmarks.bench.measure_index"),
        ("orchestrator peak RSS", f"{max(r.peak_rss_mb for r in everything):.0f} MB", "< 150 MB",
         "max over the runs above (wait4 ru_maxrss)"),
    ]


OWN_SECTIONS = ("## Machine", "## Figures", "## Reading the figures")  # what _document writes


def _document(rows: list[tuple[str, str, str, str]], versions: Sequence[str], image: str) -> list[str]:
    """RESULTS.md: how the figures were made, the machine, the figures, and how to read them."""
    return ["# gomatrix benchmarks", "",
            "Written by `invoke bench` (benchmarks/bench.py) from one run on one machine. Each figure is one",
            "`invoke matrix` run as a child process, on images already local. \"First run\" means an empty",
            "result cache and no GOCACHE volumes (nothing on this machine was ever compiled); \"re-run\" means",
            "every cell runs again (`--force`) with the GOCACHE volumes the first runs left, which is what",
            "every later run of a changed matrix sees. Both are repeated three times, alternating --jobs 1",
            "and --jobs N; overheads come from the median --jobs N run. CPU busy is the whole machine's",
            "(/proc/stat: containers, QEMU, dockerd and gomatrix).", "",
            "## Machine", "", "| | |", "|---|---|", *[f"| {k} | {v} |" for k, v in _machine()], "",
            "## Figures", "", "| measurement | result | target | command / note |", "|---|---|---|---|",
            *[f"| {a} | {b} | {c} | {'`' + d + '`' if d.startswith('invoke') else d} |" for a, b, c, d in rows], "",
            f"Seed matrix: Go {', '.join(versions)} × amd64, arm64 × the three seed cases, image `{image}`.", "",
            "## Reading the figures", "",
            "A first run is mostly the first compile of each group: the standard library for amd64 and, by",
            "the cross-compiler, for arm64. `go build` already spreads one compile over every core, so the",
            "--jobs 1 run keeps the CPU busy most of the time, and --jobs N can only fill what it leaves idle",
            "(container starts, copying, single-threaded benchmarks, QEMU). Once the --jobs N run keeps",
            "nearly every core busy, no schedule can do much better: only less work would.",
            "",
            "A re-run compiles only the case (GOCACHE is warm), so a cell is mostly single-threaded",
            "benchmarks, and --jobs N overlaps them. Its orchestration overhead is the same few seconds as a",
            "first run's, over a shorter run: each container's creation, copies in and out, start and removal",
            "(three per worker here: a cross group takes two), the process's start-up, and drawing the plots.",
            ""]
