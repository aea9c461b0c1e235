"""Per-case SVG plots: allocs/op, B/op and (native) ns/op of every benchmark across Go versions.

A plot is drawn from its plot data (plot_data: the case's title, versions, arches and series, and
nothing else) by gomatrix.analysis.plotdraw with matplotlib. Drawing is the dearest part of building a
report, so SVGs are cached by a hash of the plot data and PLOT_CODE_VERSION: a rerun whose cells
come from the result cache reuses every plot and never imports matplotlib.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Generator
from pathlib import Path
from typing import Any

from gomatrix.analysis.evidence import measured_allocs
from gomatrix.analysis.plotspec import PANELS
from gomatrix.core.files import read_entry, store_entry, touch_entry, write_atomic
from gomatrix.core.values import version_key

PLOTS_DIR = "plots"
# Part of every cache key: bump it when the drawing (gomatrix/analysis/plotdraw.py) changes, so that plots
# cached by older code are drawn again. matplotlib's version is not in the key: reading it costs
# more than the rest of a cache hit, and an upgrade draws the same data the same way.
PLOT_CODE_VERSION = "1"
CACHE_KEEP_DAYS = 30  # cached plots not used for this long are removed when a new one is stored

def write_case_plots(report: dict[str, Any], out_dir: Path, *, cache_dir: Path | None = None) -> dict[str, str]:
    """One SVG per case that has benchmarks, as out_dir/plots/<case>.svg.

    cache_dir (if given) keeps drawn SVGs between runs. Returns case name -> the SVG's path relative
    to out_dir (posix, for a markdown image link).
    """
    plots = [(case["name"], f"{PLOTS_DIR}/{_file_name(case['name'])}.svg", plot_data(report, case))
             for case in report["cases"] if case["benchmarks"]]
    cached = [_cached(data, cache_dir) if cache_dir is not None else None for _name, _relative, data in plots]
    written: dict[str, str] = {}
    with contextlib.closing(_draw_all([data for (_n, _r, data), svg in zip(plots, cached, strict=True)
                                       if svg is None])) as drawn:
        for (name, relative, data), svg in zip(plots, cached, strict=True):
            if svg is None:
                svg = next(drawn)
                if cache_dir is not None:
                    store_entry(cache_dir / f"{plot_key(data)}.svg", svg, days=CACHE_KEEP_DAYS)
            write_atomic(out_dir / relative, svg)
            written[name] = relative
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


def import_drawing_in_background() -> threading.Thread:
    """Start importing the drawing code (matplotlib: about half a second) on a daemon thread.

    A run that has cells to run calls this first: new results mean new plots, and the import then
    overlaps the cells (which mostly wait on containers) instead of delaying the report after them.
    A failed import is left to the real one in _draw, which raises it where it can be reported.
    """
    def load() -> None:
        with contextlib.suppress(Exception):
            import gomatrix.analysis.plotdraw  # noqa: F401

    thread = threading.Thread(target=load, name="gomatrix-import-plotdraw", daemon=True)
    thread.start()
    return thread


def _draw(data: dict[str, Any]) -> bytes:
    from gomatrix.analysis.plotdraw import draw_svg  # imports matplotlib: only when a plot is really drawn

    return draw_svg(data)


# Drawing is CPU-bound and takes most of a second a plot: from this many plots to draw, worker processes
# (one per core, running gomatrix.analysis.plotdraw.worker) draw them, which pays for their start.
PARALLEL_MIN = 4


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _draw_all(datas: list[dict[str, Any]]) -> Generator[bytes, None, None]:
    """The SVGs of datas, in order: drawn here, or by worker processes (each a share, in turn) when there
    are many. What a worker does not deliver (it could not start, or died) is drawn here, so a plot that
    cannot be drawn fails here as it would without workers."""
    count = min(_cores(), len(datas))
    if len(datas) < PARALLEL_MIN or count < 2:
        yield from (_draw(data) for data in datas)
        return
    workers = _start_workers([datas[index::count] for index in range(count)])
    try:
        for index, data in enumerate(datas):
            svg = _receive(workers[index % count])
            yield svg if svg is not None else _draw(data)
    finally:
        for worker in workers:
            if worker is not None:
                worker.kill()
                worker.wait()
                if worker.stdout is not None:
                    worker.stdout.close()


def _start_workers(shares: list[list[dict[str, Any]]]) -> list[subprocess.Popen[bytes] | None]:
    """A worker per share (None where one cannot start), each sent its share once all have started."""
    import gomatrix

    # The worker imports the gomatrix this process runs (a checkout's, when it is not on the worker's path).
    root = str(Path(gomatrix.__file__).resolve().parent.parent)
    code = (f"import sys\nroot = {root!r}\nif root not in sys.path:\n    sys.path.insert(0, root)\n"
            "from gomatrix.analysis.plotdraw import worker\nworker()\n")
    workers: list[subprocess.Popen[bytes] | None] = []
    for _share in shares:
        try:
            workers.append(subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL))
        except OSError:
            workers.append(None)
    for index, (worker, share) in enumerate(zip(workers, shares, strict=True)):
        if worker is None or worker.stdin is None:
            continue
        try:
            with worker.stdin:
                worker.stdin.write(json.dumps(share).encode())
        except OSError:  # it died already
            workers[index] = None
    return workers


def _receive(worker: subprocess.Popen[bytes] | None) -> bytes | None:
    """A worker's next SVG (a line with its length, then its bytes), None when it delivers none."""
    if worker is None or worker.stdout is None:
        return None
    header = worker.stdout.readline()
    if not header.strip().isdigit():
        return None
    svg = worker.stdout.read(int(header))
    return svg if len(svg) == int(header) else None


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
