"""Per-case SVG plots: allocs/op, B/op and (native) ns/op of every benchmark across Go versions.

A plot is drawn from its plot data (plot_data: the case's title, versions, arches and series, and
nothing else) by gomatrix.analysis.plotdraw, which writes the SVG itself (a few milliseconds a plot, in
this process). SVGs are still cached by a hash of the plot data and PLOT_CODE_VERSION: a rerun whose
cells come from the result cache copies every plot instead of drawing it, byte for byte the same.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import threading
import time
from pathlib import Path
from typing import Any

from gomatrix.analysis.evidence import measured_allocs
from gomatrix.analysis.plotdraw import PANELS, draw_svg
from gomatrix.core.files import read_entry, touch_entry, write_atomic
from gomatrix.core.values import version_key

PLOTS_DIR = "plots"
# Part of every cache key: bump it when the drawing (gomatrix/analysis/plotdraw.py) changes, so that plots
# cached by older code are drawn again. 1: matplotlib; 2: plotdraw's own SVG.
PLOT_CODE_VERSION = "2"
CACHE_KEEP_DAYS = 30  # cached plots not used for this long are removed when a new one is stored


def write_case_plots(report: dict[str, Any], out_dir: Path, *, cache_dir: Path | None = None) -> dict[str, str]:
    """One SVG per case that has benchmarks, as out_dir/plots/<case>.svg.

    cache_dir (if given) keeps drawn SVGs between runs. Returns case name -> the SVG's path relative
    to out_dir (posix, for a markdown image link).
    """
    plots = [(case["name"], f"{PLOTS_DIR}/{_file_name(case['name'])}.svg", plot_data(report, case))
             for case in report["cases"] if case["benchmarks"]]
    written: dict[str, str] = {}
    stored = False
    for name, relative, data in plots:
        svg = _cached(data, cache_dir) if cache_dir is not None else None
        if svg is None:
            svg = _draw(data)
            if cache_dir is not None:
                stored = _store(cache_dir / f"{plot_key(data)}.svg", svg) or stored
        write_atomic(out_dir / relative, svg)
        written[name] = relative
    if stored and cache_dir is not None:
        _prune(cache_dir)
    return written


def plot_data(report: dict[str, Any], case: dict[str, Any]) -> dict[str, Any]:
    """Everything the case's plot shows, as plain JSON data (None where a value is missing)."""
    columns: list[dict[str, Any]] = report["columns"]
    versions = sorted({c["go_version"] for c in columns}, key=version_key)
    arches = sorted({c["arch"] for c in columns})
    title = f"case {case['name']}"
    if case.get("title") and case["title"] != case["name"]:
        title += f": {case['title']}"
    return {
        "title": title,
        "versions": versions,
        "arches": [{"name": arch, "emulated": [bool(c["emulated"]) for c in columns if c["arch"] == arch]}
                   for arch in arches],
        "benchmarks": [{"name": bench["name"],
                        "series": {metric: {arch: _series(columns, versions, arch, bench, metric,
                                                          native_only=metric == "ns_per_op")
                                            for arch in arches}
                                   for metric, _gid, _title in PANELS}}
                       for bench in case["benchmarks"]],
    }


def plot_key(data: dict[str, Any]) -> str:
    """The cache key of a plot: sha256 of its data and the drawing code's version."""
    text = json.dumps({"code": PLOT_CODE_VERSION, "data": data}, sort_keys=True, allow_nan=False,
                      separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _draw(data: dict[str, Any]) -> bytes:
    return draw_svg(data)


def _store(path: Path, svg: bytes) -> bool:
    """Keep a drawn plot in the cache; False when it cannot be written (that only costs a drawing next time).

    Written to a file of its own and renamed, but not synced (hundreds of plots a night): after a crash an
    entry may be empty or cut short, which _cached takes for no entry."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_bytes(svg)
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            temporary.unlink()
        return False
    return True


def _prune(cache_dir: Path) -> None:
    """Remove the plots not used for CACHE_KEEP_DAYS: once per report, not once per plot stored (a nightly
    stores hundreds of plots into a cache holding a month of them)."""
    cutoff = time.time() - CACHE_KEEP_DAYS * 86400
    with contextlib.suppress(OSError):
        for entry in cache_dir.glob("*.svg"):
            with contextlib.suppress(OSError):  # gone or refreshed meanwhile: another run's business
                if entry.stat().st_mtime < cutoff:
                    entry.unlink()


def _cached(data: dict[str, Any], cache_dir: Path) -> bytes | None:
    """The cached SVG of data, None when there is none. A cache that cannot be read (or written: see
    write_case_plots) only costs a drawing: it never fails the report."""
    path = cache_dir / f"{plot_key(data)}.svg"
    svg = read_entry(path) or b""
    if svg.rstrip().endswith(b"</svg>"):  # a complete document (written atomically, but be sure)
        touch_entry(path)
        return svg
    return None


def _file_name(case_name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", case_name).lstrip(".") or "case"


def _series(columns: list[dict[str, Any]], versions: list[str], arch: str, bench: dict[str, Any], metric: str, *,
            native_only: bool) -> list[float | None]:
    """One value per version (None where there is none: the line breaks there)."""
    values: list[float | None] = []
    for version in versions:
        column = next((c for c in columns if c["go_version"] == version and c["arch"] == arch), None)
        result = bench["results"].get(column["id"]) if column else None
        value = result.get(metric) if result else None
        if result and metric == "allocs_per_op":
            value = measured_allocs(result)  # exact when measured: 2.625 is not drawn as 2
        if native_only and (column is None or column["emulated"] or (result or {}).get("emulated")):
            value = None  # under QEMU ns/op measures the emulator, not the CPU
        if native_only and value is not None and value <= 0:
            value = None  # not a measurement, and a log axis cannot show it
        values.append(None if value is None else float(value))
    return values
