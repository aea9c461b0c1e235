"""Draw one case's plot data (gomatrix.analysis.plots.plot_data) as an SVG with matplotlib.

Imported only when a plot must be drawn (gomatrix.analysis.plots imports it lazily): matplotlib costs about
half a second and tens of MB, which a rerun whose plots are all cached must not pay.

matplotlib's object API only (Figure + the SVG canvas, never pyplot), so nothing here touches a
global figure manager. matplotlib reads its settings from the process-wide rcParams, so a figure
is built and saved under a lock inside a style context: concurrent calls are safe, and the output
depends neither on the user's matplotlibrc nor on the time (fixed hash salt, no date): redrawing
gives byte-identical files.
"""

from __future__ import annotations

import io
import json
import math
import sys
import threading
from collections.abc import Callable
from typing import Any

import matplotlib.style
from matplotlib.axes import Axes
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from gomatrix.analysis.plotspec import PANELS
from gomatrix.core.values import format_duration

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


def draw_svg(data: dict[str, Any]) -> bytes:
    """The SVG document of one case's plot data."""
    buffer = io.BytesIO()
    with _LOCK, matplotlib.style.context(["default", _RC]):
        figure = _case_figure(data)
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


def _case_figure(data: dict[str, Any]) -> Figure:
    versions: list[str] = data["versions"]
    arches: list[str] = [a["name"] for a in data["arches"]]
    emulated = {a["name"]: any(a["emulated"]) for a in data["arches"]}
    benchmarks = data["benchmarks"]

    figure = Figure(figsize=(12, 1.1 + 2.4 * len(benchmarks)), layout="constrained")
    FigureCanvasSVG(figure)
    figure.suptitle(data["title"], fontsize=12, fontweight="bold")
    grid = figure.subplots(len(benchmarks), len(PANELS), squeeze=False)
    for row, bench in enumerate(benchmarks):
        for col, (metric, gid_prefix, panel_title) in enumerate(PANELS):
            native_only = metric == "ns_per_op"
            series = {arch: [math.nan if v is None else float(v) for v in bench["series"][metric][arch]]
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
    labels = [_arch_label(a["name"], a["emulated"]) for a in data["arches"]]
    figure.legend(handles, labels, loc="outside lower center", ncols=max(1, len(arches)), frameon=False)
    return figure


def _arch_label(arch: str, emulated: list[bool]) -> str:
    if all(emulated):
        return f"{arch} (emulated: QEMU, ns/op not shown)"
    if any(emulated):
        return f"{arch} (partly emulated: ns/op only where native)"
    return arch


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


def worker() -> None:
    """A drawing worker process (gomatrix.analysis.plots): a JSON list of plot data on stdin; each plot's
    SVG on stdout, in order, as a line with its length in bytes and then the bytes."""
    out = sys.stdout.buffer
    for data in json.load(sys.stdin):
        svg = draw_svg(data)
        out.write(f"{len(svg)}\n".encode() + svg)
        out.flush()
