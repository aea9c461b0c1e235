"""Per-case SVG plots: allocs/op, B/op and (native) ns/op of every benchmark across Go versions.

matplotlib's object API only (Figure + the SVG canvas, never pyplot), so nothing here touches a
global figure manager. matplotlib reads its settings from the process-wide rcParams, so a figure
is built and saved under a lock inside a style context: concurrent calls are safe, and the output
depends neither on the user's matplotlibrc nor on the time (fixed hash salt, no date): rerunning
gives byte-identical files.
"""

from __future__ import annotations

import io
import math
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib.style
from matplotlib.axes import Axes
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from gomatrix.files import write_atomic
from gomatrix.report import format_duration, version_key

PLOTS_DIR = "plots"

# (metric key in a benchmark result, gid prefix, panel title)
_PANELS = (
    ("allocs_per_op", "allocs", "allocs/op"),
    ("bytes_per_op", "bytes", "B/op"),
    ("ns_per_op", "ns", "ns/op (native only)"),
)
_ARCH_STYLE: dict[str, dict[str, Any]] = {
    "amd64": {"color": "#1f77b4", "marker": "o", "markersize": 6, "fillstyle": "full", "zorder": 3},
    "arm64": {"color": "#ff7f0e", "marker": "s", "markersize": 9, "fillstyle": "none", "zorder": 4},
}
_OTHER_STYLE: dict[str, Any] = {"color": "#2ca02c", "marker": "^", "markersize": 7, "fillstyle": "none",
                                "zorder": 5}
_RC: dict[str, Any] = {
    "svg.hashsalt": "gomatrix",  # deterministic clip-path ids
    "svg.fonttype": "none",  # text stays text: searchable, selectable, small
    "font.size": 9,
    "axes.titlesize": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "lines.linewidth": 1.6,
}
_LOCK = threading.Lock()
_IEC = ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB"))


def write_case_plots(report: dict[str, Any], out_dir: Path) -> dict[str, str]:
    """One SVG per case that has benchmarks, as out_dir/plots/<case>.svg.

    Returns case name -> the SVG's path relative to out_dir (posix, for a markdown image link).
    """
    written: dict[str, str] = {}
    for case in report["cases"]:
        if not case["benchmarks"]:
            continue
        relative = f"{PLOTS_DIR}/{_file_name(case['name'])}.svg"
        write_atomic(out_dir / relative, render_case_svg(report, case))
        written[case["name"]] = relative
    return written


def render_case_svg(report: dict[str, Any], case: dict[str, Any]) -> bytes:
    """The SVG document of one case (which must have benchmarks)."""
    buffer = io.BytesIO()
    with _LOCK, matplotlib.style.context(["default", _RC]):
        figure = _case_figure(report, case)
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


def _file_name(case_name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", case_name).lstrip(".") or "case"



def _case_figure(report: dict[str, Any], case: dict[str, Any]) -> Figure:
    columns: list[dict[str, Any]] = report["columns"]
    versions = sorted({c["go_version"] for c in columns}, key=version_key)
    arches = sorted({c["arch"] for c in columns})
    emulated = {arch: any(c["emulated"] for c in columns if c["arch"] == arch) for arch in arches}
    benchmarks = case["benchmarks"]

    figure = Figure(figsize=(12, 1.1 + 2.4 * len(benchmarks)), layout="constrained")
    FigureCanvasSVG(figure)
    title = f"case {case['name']}"
    if case.get("title") and case["title"] != case["name"]:
        title += f": {case['title']}"
    figure.suptitle(title, fontsize=12, fontweight="bold")
    grid = figure.subplots(len(benchmarks), len(_PANELS), squeeze=False)
    for row, bench in enumerate(benchmarks):
        for col, (metric, gid_prefix, panel_title) in enumerate(_PANELS):
            native_only = metric == "ns_per_op"
            series = {arch: _series(columns, versions, arch, bench, metric, native_only=native_only)
                      for arch in arches}
            plotted = [v for values in series.values() for v in values if not math.isnan(v)]
            scale, unit = 1, ""
            if metric == "bytes_per_op":
                scale, unit = next(((s, u) for s, u in _IEC if plotted and max(plotted) >= s), (1, "B"))
            axes: Axes = grid[row][col]
            for arch, values in series.items():
                if all(math.isnan(v) for v in values):
                    continue  # e.g. an emulated arch in the ns/op panel: no line, no gid
                line = axes.plot(range(len(versions)), [v / scale for v in values],
                                 linestyle="--" if emulated[arch] else "-", label=arch,
                                 **_ARCH_STYLE.get(arch, _OTHER_STYLE))[0]
                line.set_gid(f"{gid_prefix}-{arch}-{bench['name']}")
            axes.set_title(f"{bench['name']} · {panel_title}")
            many = len(versions) > 4
            axes.set_xticks(range(len(versions)), versions, rotation=30 if many else 0,
                            ha="right" if many else "center")
            axes.set_xlim(-0.5, len(versions) - 0.5)
            if not plotted:
                why = "every column ran under emulation" if native_only and all(emulated.values()) else "no results"
                axes.text(0.5, 0.5, f"no {panel_title.split()[0]}: {why}", transform=axes.transAxes,
                          ha="center", va="center", color="0.4")
                axes.set_yticks([])
            elif native_only:
                _ns_axis(axes, plotted)
            else:
                _linear_axis(axes, [v / scale for v in plotted], f" {unit}" if unit else "")
    handles = [Line2D([], [], linestyle="--" if emulated[arch] else "-", **_ARCH_STYLE.get(arch, _OTHER_STYLE))
               for arch in arches]
    labels = [_arch_label(arch, [c["emulated"] for c in columns if c["arch"] == arch]) for arch in arches]
    figure.legend(handles, labels, loc="outside lower center", ncols=max(1, len(arches)), frameon=False)
    return figure


def _arch_label(arch: str, emulated: list[bool]) -> str:
    if all(emulated):
        return f"{arch} (emulated: QEMU, ns/op not shown)"
    if any(emulated):
        return f"{arch} (partly emulated: ns/op only where native)"
    return arch


def _series(columns: list[dict[str, Any]], versions: list[str], arch: str, bench: dict[str, Any], metric: str, *,
            native_only: bool) -> list[float]:
    """One value per version (NaN where there is none: the line breaks there)."""
    values = []
    for version in versions:
        column = next((c for c in columns if c["go_version"] == version and c["arch"] == arch), None)
        result = bench["results"].get(column["id"]) if column else None
        value = result.get(metric) if result else None
        if native_only and (column is None or column["emulated"] or (result or {}).get("emulated")):
            value = None  # under QEMU ns/op measures the emulator, not the CPU
        if native_only and value is not None and value <= 0:
            value = None  # not a measurement, and a log axis cannot show it
        values.append(math.nan if value is None else float(value))
    return values


def _formatter(fmt: Callable[[float], str]) -> FuncFormatter:
    return FuncFormatter(lambda value, _pos: fmt(float(value)))


def _linear_axis(axes: Axes, values: list[float], unit: str) -> None:
    """From 0 with some room above the largest value; integer ticks."""
    top = max(max(values), 1.0)
    axes.set_ylim(-0.08 * top, 1.15 * top)
    axes.yaxis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 5, 10], integer=True, min_n_ticks=2))
    axes.yaxis.set_major_formatter(_formatter(lambda v: f"{v:g}{unit}" if v >= 0 else ""))


def _ns_axis(axes: Axes, values: list[float]) -> None:
    """Log scale when the values span more than a decade (0.27 ns to 4 ms happens), else linear from 0."""
    low, high = min(values), max(values)
    if high / low > 10:
        axes.set_yscale("log")
        axes.set_ylim(low / 3, high * 3)
        axes.yaxis.set_major_locator(LogLocator(base=10, numticks=6))
        axes.yaxis.set_minor_formatter(NullFormatter())
        axes.yaxis.set_major_formatter(_formatter(format_duration))
    else:
        axes.set_ylim(0, 1.15 * high)
        axes.yaxis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 5, 10], min_n_ticks=2))
        axes.yaxis.set_major_formatter(_formatter(lambda v: format_duration(v) if v > 0 else "0"))
