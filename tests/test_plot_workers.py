"""Plots drawn by worker processes are the same bytes as plots drawn in the merge's own process, and
workers that cannot start or die only cost drawing here."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from gomatrix.analysis import plots
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((ROOT / "reports" / "2026-11-30" / "report.json").read_text(encoding="utf-8"))
    assert len([case for case in doc["cases"] if case["benchmarks"]]) >= plots.PARALLEL_MIN
    return doc


def _drawn(report: dict[str, Any], out: Path) -> dict[str, bytes]:
    paths = plots.write_case_plots(report, out)
    return {name: (out / relative).read_bytes() for name, relative in paths.items()}


def test_workers_draw_the_same_bytes_in_the_same_order(report: dict[str, Any], tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plots, "_cores", lambda: 2)
    started: list[int] = []
    real_start = plots._start_workers

    def counting(shares: list[list[dict[str, Any]]]) -> Any:
        started.append(len(shares))
        return real_start(shares)

    monkeypatch.setattr(plots, "_start_workers", counting)
    by_workers = _drawn(report, tmp_path / "workers")
    assert started == [2]
    monkeypatch.setattr(plots, "PARALLEL_MIN", 10**6)  # every plot drawn here
    assert _drawn(report, tmp_path / "here") == by_workers
    assert started == [2]


def test_workers_that_fail_leave_the_plots_to_this_process(report: dict[str, Any], tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plots, "_cores", lambda: 2)
    monkeypatch.setattr(plots, "PARALLEL_MIN", 10**6)
    expected = _drawn(report, tmp_path / "here")
    monkeypatch.setattr(plots, "PARALLEL_MIN", 2)
    monkeypatch.setattr(sys, "executable", "/bin/false")  # starts, reads nothing, delivers nothing
    assert _drawn(report, tmp_path / "died") == expected
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-such-python"))  # cannot start
    assert _drawn(report, tmp_path / "unstarted") == expected
