"""Runs at the same moment: run directories claimed atomically, two runs into one reports directory,
and a damaged result-cache entry costing a rerun, not the run."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from gomatrix.core.files import locked
from gomatrix.core.kinds import RunnerChoice, Status
from gomatrix.run.resultcache import ResultCache
from gomatrix.run.rundir import new_run_dir
from gomatrix.runners.base import CellOutcome
from tests.conftest import ROOT


def _claim(out: str, barrier: multiprocessing.synchronize.Barrier, results: multiprocessing.Queue[str]) -> None:
    barrier.wait()  # every process claims at the same moment
    results.put(new_run_dir(Path(out)).name)


def test_runs_started_at_the_same_moment_get_their_own_directories(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(8), context.Queue()
    processes = [context.Process(target=_claim, args=(str(tmp_path / "reports"), barrier, results))
                 for _ in range(8)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0  # no FileExistsError traceback in any of them
    names = sorted(results.get(timeout=5) for _ in processes)
    assert len(set(names)) == 8
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == names


def test_two_runs_into_one_reports_directory_both_land(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "gomatrix", "matrix", "--runner", "host", "--versions", "1.24.11",
               "--arches", "amd64", "--cases", "array", "--benchtime", "20ms", "--count", "1",
               "--out", str(tmp_path / "reports")]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    runs = [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    outputs = [run.communicate(timeout=900) for run in runs]
    for run, (out, err) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, out[-2000:] + err[-2000:]
        assert "Traceback" not in err
    dirs = sorted(p for p in (tmp_path / "reports").iterdir() if p.is_dir())
    assert len(dirs) == 2 and all((d / "report.md").is_file() for d in dirs)
    index = (tmp_path / "reports" / "index.md").read_text()
    assert all(d.name in index for d in dirs)  # the later writer saw both runs
    latest = (tmp_path / "reports" / "latest.md").read_text()
    assert any(f"copy of {d.name}/report.md" in latest for d in dirs)


def test_a_damaged_cache_entry_is_reported_and_costs_only_a_rerun(tmp_path: Path) -> None:
    said: list[str] = []
    cache = ResultCache(tmp_path / "results", log=said.append)
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "bench.txt").write_text("goos: linux\n")
    outcome = CellOutcome(status=Status.OK, reason="", runner=RunnerChoice.HOST, emulated=False, image=None,
                          total_s=1.0, started_at="2026-11-30T18:00:00Z")
    key = "ab" * 32
    cache.store(key, outcome, raw)
    entry = tmp_path / "results" / key[:2] / key
    (entry / "outcome.json").write_text('{"status": "ok", "reas')  # cut short, as by a full disk
    assert cache.load(key, tmp_path / "into") is None
    assert len(said) == 1 and f"result cache entry {entry} is unreadable" in said[0] and "runs again" in said[0]
    cache.store(key, outcome, raw)  # the rerun's result replaces it
    assert cache.load(key, tmp_path / "again") == outcome
    assert cache.load("cd" * 32, tmp_path / "none") is None and len(said) == 1  # a plain miss says nothing


def test_runs_merged_at_the_same_moment_all_reach_the_index(tmp_path: Path) -> None:
    # Four recorded runs merged by four processes at once into one reports directory: the index and
    # latest.md are written under a lock, so the last writer's index holds every run.
    reports = tmp_path / "reports"
    names = [f"2026-11-30-{i}" for i in range(2, 6)]
    for name in names:
        shutil.copytree(ROOT / "reports" / "2026-11-30", reports / name,
                        ignore=shutil.ignore_patterns("report.*", "*.svg"))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    merges = [subprocess.Popen([sys.executable, "-m", "gomatrix", "merge", str(reports / name)], cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for name in names]
    for merge in merges:
        out, err = merge.communicate(timeout=900)
        assert merge.returncode == 0, out[-2000:] + err[-2000:]
    index = (reports / "index.md").read_text()
    assert all(f"{name}/report.md" in index for name in names), index
    latest = (reports / "latest.md").read_text()
    assert any(f"copy of {name}/report.md" in latest for name in names)
    assert sorted(p.name for p in reports.iterdir()) == sorted([*names, "index.md", "latest.md"])  # no lock file


def test_the_reports_lock_is_exclusive(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    held = context.Event()
    holder = context.Process(target=_hold, args=(str(tmp_path), held))
    holder.start()
    assert held.wait(30)
    start = time.monotonic()
    with locked(tmp_path):
        waited = time.monotonic() - start
        assert (tmp_path / "released").exists()  # only after the other process let go
    holder.join(30)
    assert waited > 0


def _hold(directory: str, held: multiprocessing.synchronize.Event) -> None:
    with locked(Path(directory)):
        held.set()
        time.sleep(1)
        (Path(directory) / "released").touch()
