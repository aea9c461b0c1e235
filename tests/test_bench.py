"""The arithmetic of `invoke bench` (its Docker measurements need minutes: see benchmarks/RESULTS.md), and its
scale section for real at a small size (no Docker)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.bench import OWN_SECTIONS, busy_core_seconds, utilisation
from benchmarks.scale import (
    ARCHES,
    HEADING,
    SHARDS,
    VERSIONS,
    ScaleResult,
    measure_size,
    replace_section,
    scale_lines,
    section,
    sections_except,
)
from gomatrix.run.cellfile import read_cell
from tests.conftest import ROOT

# The first lines of this machine's /proc/stat (2 cores; USER_HZ 100).
PROC_STAT = """cpu  2132143 58 442048 1239942 17210 0 4536 2193 0 0
cpu0 991962 24 207780 713264 3714 0 399 1096 0 0
cpu1 1140181 34 234267 526677 13495 0 4136 1097 0 0
"""


def test_busy_time_counts_every_core_and_leaves_out_idle_and_iowait() -> None:
    busy = 2132143 + 58 + 442048 + 0 + 4536 + 2193  # user nice system irq softirq steal
    assert busy_core_seconds(PROC_STAT, 100) == pytest.approx(busy / 100)


def test_busy_time_refuses_text_that_is_not_proc_stat() -> None:
    with pytest.raises(ValueError, match="not /proc/stat"):
        busy_core_seconds("intr 1 2 3\n", 100)


def test_utilisation_of_measured_first_runs() -> None:
    # Measured here (matrix.yaml's settings, empty caches): --jobs 1 took 99.7 s and 141.4 busy
    # core-seconds, --jobs 2 took 69.3 s and 129.8: the first used 71 % of two cores, the second 94 %.
    assert utilisation(141.4, 99.7, 2) == pytest.approx(0.709, abs=0.001)
    assert utilisation(129.8, 69.3, 2) == pytest.approx(0.936, abs=0.001)


# ---------------------------------------------------------------- the scale section (no Docker: real, small)


@pytest.fixture(scope="module")
def scaled(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[ScaleResult], Path, Path]:
    """`invoke bench --only scale` at 50 and 100 cells into a RESULTS.md that already has other sections;
    the 100-cell run's synthesized shards and merged run are kept."""
    work = tmp_path_factory.mktemp("scale")
    results = work / "RESULTS.md"
    results.write_text("# gomatrix benchmarks\n\nIntro.\n\n## Figures\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
                       f"{HEADING}\n\nan older scale table\n\n## Reading the figures\n\nText.\n", encoding="utf-8")
    kept = work / "kept-100"
    measured = [measure_size(50, ROOT, log=lambda _line: None), measure_size(100, ROOT, log=lambda _line: None,
                                                                               keep=kept)]
    text = results.read_text(encoding="utf-8")
    results.write_text(replace_section(text, HEADING, section(measured, when="now", machine="here")),
                       encoding="utf-8")
    return measured, results, kept


def test_scale_cells_are_shaped_like_a_nightly_and_validate(scaled: tuple[list[ScaleResult], Path, Path]) -> None:
    measured, _results, kept = scaled
    paths = sorted(kept.glob("shards/*/*/cells/*.json"))
    cells = [read_cell(path) for path in paths]  # each validates against schemas/cell.schema.json
    assert len(cells) == 100 == len({cell["key"] for cell in cells})
    assert len({cell["case"] for cell in cells}) == measured[1].cases == 7  # 16 cells a case, the last partly
    assert len({cell["planned"]["version"] for cell in cells}) == VERSIONS
    assert {cell["arch"] for cell in cells} == set(ARCHES)
    assert len(list(kept.glob("shards/*"))) == SHARDS
    assert any(cell["status"] != "ok" for cell in cells)
    assert all((kept / "cases" / cell["case"] / "case.yaml").is_file() for cell in cells)


def test_scale_cells_merge_into_a_report_with_history(scaled: tuple[list[ScaleResult], Path, Path]) -> None:
    measured, _results, kept = scaled
    runs = sorted(p for p in (kept / "published").iterdir() if p.is_dir())
    assert len(runs) == 2  # the previous night's and the merged one
    report = json.loads((runs[-1] / "report.json").read_text(encoding="utf-8"))
    assert len(report["cells"]) == 100 and len(report["cases"]) == 7
    assert [item["kind"] for item in report["since_previous"]] != ["first-run"]
    assert (kept / "published" / "index.md").read_text(encoding="utf-8").count("/report.md)") == 2
    assert measured[1].plots == 7 and measured[1].reads == 100  # every cell read once


def test_scale_table_has_a_row_per_size_and_the_growth(scaled: tuple[list[ScaleResult], Path, Path]) -> None:
    measured, results, _kept = scaled
    text = results.read_text(encoding="utf-8")
    table = [line for line in scale_lines(measured) if line.startswith("|")]
    header = [cell.strip() for cell in table[0].strip("|").split("|")]
    assert header[0] == "cells (cases)" and header[-4:] == ["total", "ms per cell", "total, plots cached", "peak RSS"]
    assert {"load + validate cells", "analysis", "markdown", "plots", "html", "index"} <= set(header)
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table[2:]]
    assert [row[0] for row in rows] == ["50 (4)", "100 (7)", "growth 100/50 (cells ×2)"]
    assert all(len(row) == len(header) for row in rows)
    assert all(float(value.strip("*")) >= 0 for row in rows[:2] for value in row[1:-1])
    assert all(value == "–" or value.strip("*").endswith("×") for value in rows[2][1:])
    assert all(result.peak_rss_mb > 0 and result.plots_cached_s >= 0 and not result.children for result in measured)
    # Its own section was replaced; the others are as they were.
    assert text.count(HEADING) == 1 and "an older scale table" not in text
    assert "| 1 | 2 |" in text and text.index("## Figures") < text.index(HEADING) < text.index("## Reading")
    assert sections_except(text, [HEADING]) == ["## Figures", "", "| a | b |", "|---|---|", "| 1 | 2 |", "",
                                                "## Reading the figures", "", "Text."]


def test_scale_section_is_appended_when_absent_and_kept_by_the_docker_bench() -> None:
    body = [HEADING, "", "table"]
    appended = replace_section("# t\n\n## Figures\n\nx\n", HEADING, body)
    assert appended == f"# t\n\n## Figures\n\nx\n\n{HEADING}\n\ntable\n"
    assert replace_section("", HEADING, body) == f"{HEADING}\n\ntable\n"
    assert sections_except(f"# t\n\n## Figures\n\nx\n\n{HEADING}\n\ntable\n", OWN_SECTIONS) == [*body]
