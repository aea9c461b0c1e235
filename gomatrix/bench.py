"""`invoke bench`: measure the orchestrator on this machine and write benchmarks/RESULTS.md.

Every figure comes from real `invoke matrix` runs (subprocesses, so the orchestrator's peak RSS is
its own), against the Docker daemon and the local registry's golang images.
"""

from __future__ import annotations

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

from gomatrix.engine import DockerEngine

Log = Callable[[str], None]
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Measured:
    label: str
    command: str
    wall_s: float
    peak_rss_mb: float
    cells: dict[str, dict[str, Any]]
    ran: int  # cells actually run (not from the result cache)


def _run(label: str, args: Sequence[str], cache: Path, out: Path, log: Log) -> Measured:
    """One `invoke matrix` as a child process: wall time, peak RSS (wait4), and its cells."""
    command = [sys.executable, "-m", "invoke", "matrix", *args, "--out", str(out)]
    env = {**os.environ, "GOMATRIX_CACHE": str(cache), "PYTHONUNBUFFERED": "1"}
    log(f"bench: {label}: invoke matrix {' '.join(args)}")
    start = time.monotonic()
    with open(out.parent / f"{out.name}.log", "w") as sink:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT)
        _pid, status, usage = os.wait4(process.pid, 0)
    wall = time.monotonic() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{label} failed: see {out.parent / f'{out.name}.log'}")
    run_dir = max((p for p in out.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
    cells = {p.stem: json.loads(p.read_text()) for p in (run_dir / "cells").glob("*.json")}
    ran = sum(1 for c in cells.values() if not c["cache"]["hit"])
    log(f"bench: {label}: {wall:.1f} s, {ran}/{len(cells)} cells ran, peak RSS {usage.ru_maxrss / 1024:.0f} MB")
    return Measured(label, "invoke matrix " + " ".join(args), wall, usage.ru_maxrss / 1024, cells, ran)


COLD_REPEATS = 3


def _median_run(runs: Sequence[Measured]) -> Measured:
    return sorted(runs, key=lambda m: m.wall_s)[len(runs) // 2]


def _spread(runs: Sequence[Measured]) -> str:
    walls = sorted(m.wall_s for m in runs)
    return f"{_median_run(runs).wall_s:.1f} s (median of {len(runs)}: {', '.join(f'{w:.1f}' for w in walls)})"


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


def run_bench(*, image: str, versions: Sequence[str], jobs: int, log: Log = print,
              results: Path = ROOT / "benchmarks" / "RESULTS.md") -> Path:
    """Measure cold and warm runs, jobs 1 vs N, full vs cross, overhead and memory; write RESULTS.md."""
    engine = DockerEngine.connect()
    work = Path(tempfile.mkdtemp(prefix="gomatrix-bench-"))
    seed = ["--runner", "docker", "--image", image, "--versions", ",".join(versions), "--arches", "amd64,arm64",
            "--cases", "array,makeslice,sliceappend", "--benchtime", "100ms", "--count", "3"]

    def cold() -> Path:
        """A fresh result cache and no GOCACHE volumes: nothing is reused."""
        engine.remove_volumes("io.gomatrix.cache")
        return Path(tempfile.mkdtemp(prefix="cache-", dir=work))

    try:
        # Cold runs vary by tens of percent on a shared machine: three of each, alternating.
        cold_1s: list[Measured] = []
        cold_ns: list[Measured] = []
        for repeat in range(1, COLD_REPEATS + 1):
            cold_1s.append(_run(f"cold, --jobs 1 (#{repeat})", [*seed, "--jobs", "1"], cold(),
                                work / f"cold1-{repeat}", log))
            cache = cold()
            cold_ns.append(_run(f"cold, --jobs {jobs} (#{repeat})", [*seed, "--jobs", str(jobs)], cache,
                                work / f"coldn-{repeat}", log))
        cold_1, cold_n = _median_run(cold_1s), _median_run(cold_ns)
        warm = _run("warm (nothing changed)", [*seed, "--jobs", str(jobs)], cache, work / "warm", log)
        # "Adding" the newest version: forget its cells' results, as if it had never run.
        added = versions[-1]
        for cell in cold_n.cells.values():
            if cell["planned"]["version"] == added:
                shutil.rmtree(cache / "results" / cell["cache"]["key"][:2] / cell["cache"]["key"], ignore_errors=True)
        add = _run(f"go{added} added", [*seed, "--jobs", str(jobs)], cache, work / "added", log)
        one = ["--runner", "docker", "--image", image, "--versions", added, "--arches", "arm64", "--cases",
               "sliceappend", "--benchtime", "100ms", "--count", "3", "--jobs", "1"]
        full = _run("one arm64 cell, full", [*one, "--emulation", "full"], cold(), work / "full", log)
        cross = _run("one arm64 cell, cross", [*one, "--emulation", "cross"], cold(), work / "cross", log)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    same_results = _results(full.cells) == _results(cross.cells)
    ideal = _go_seconds(cold_n.cells) / jobs
    ratios = sorted(a.wall_s / b.wall_s for a, b in zip(cold_1s, cold_ns, strict=True))
    rows = [
        ("full seed matrix, cold, --jobs 1", _spread(cold_1s), "", cold_1.command),
        (f"full seed matrix, cold, --jobs {jobs}", _spread(cold_ns), "", cold_n.command),
        (f"--jobs 1 / --jobs {jobs} (cold)",
         f"{cold_1.wall_s / cold_n.wall_s:.2f}× (medians; pairwise {', '.join(f'{r:.2f}' for r in ratios)})",
         "≥ 1.6×", ""),
        ("unchanged rerun (warm)", f"{warm.wall_s:.2f} s ({warm.ran} of {len(warm.cells)} cells ran)", "< 2 s",
         warm.command),
        (f"go{added} added to a cached matrix", f"{add.wall_s:.1f} s ({add.ran} of {len(add.cells)} cells ran)",
         "only its cells", add.command),
        ("one arm64 cell, full (cold)", f"{full.wall_s:.1f} s", "", full.command),
        ("one arm64 cell, cross (cold)", f"{cross.wall_s:.1f} s", "", cross.command),
        ("full / cross", f"{full.wall_s / cross.wall_s:.1f}×, results {'identical' if same_results else 'DIFFER'}",
         "≥ 5×, identical", ""),
        (f"orchestration overhead (cold, --jobs {jobs})",
         f"wall {cold_n.wall_s:.1f} s / ideal {ideal:.1f} s = {cold_n.wall_s / ideal:.2f}", "≤ 1.10",
         "ideal = Σ in-cell go step times / jobs"),
        ("orchestrator peak RSS", f"{max(m.peak_rss_mb for m in (*cold_1s, *cold_ns, warm, add, full, cross)):.0f} MB",
         "< 150 MB", "max over the runs above (wait4 ru_maxrss)"),
    ]
    text = ["# gomatrix benchmarks", "",
            "Written by `invoke bench` (gomatrix/bench.py) from one run on one machine. Each figure is one",
            "`invoke matrix` run as a child process; \"cold\" means an empty result cache and no GOCACHE",
            "volumes (the images themselves are already local). The cold runs are repeated three times,",
            "alternating --jobs 1 and --jobs N; the overhead is taken from the median --jobs N run.", "",
            "## Machine", "", "| | |", "|---|---|", *[f"| {k} | {v} |" for k, v in _machine()], "",
            "## Figures", "", "| measurement | result | target | command |", "|---|---|---|---|",
            *[f"| {a} | {b} | {c} | {'`' + d + '`' if d.startswith('invoke') else d} |" for a, b, c, d in rows], "",
            f"Seed matrix: Go {', '.join(versions)} × amd64, arm64 × the three seed cases, image `{image}`.", "",
            "A cold matrix is mostly the first compile of each group (the standard library for amd64, and",
            "for arm64 by the cross-compiler), and `go build` already spreads one compile over every core:",
            "two groups compiling at once each take about twice as long. --jobs N gains only where a cell",
            "leaves cores idle (container starts, copying, single-threaded benchmarks, QEMU).", ""]
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text("\n".join(text), encoding="utf-8")
    log(f"bench: wrote {results}")
    return results
