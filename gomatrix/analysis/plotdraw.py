"""Draw one case's plot data (gomatrix.analysis.plots.plot_data) as an SVG document, written by hand.

One row per benchmark, one panel per metric (PANELS: allocs/op, B/op, native ns/op), one line per
arch across the Go versions (dashed when the arch ran under emulation; a gap where a version has no
value), a legend below. Every point carries a tooltip with its value. The output is a pure function
of the data: no clock, no random ids, no fonts read, so redrawing gives byte-identical files, any
number of threads may draw at once, and a plot costs a few milliseconds (matplotlib took 0.4 s).

Text widths are estimated (no font metrics here): titles that would not fit are shrunk, and squeezed
with textLength as a last resort; version labels turn (30°, 45°, 60°, 90°) or thin out as they crowd.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from gomatrix.core.values import format_duration

# (metric key in a benchmark result, id prefix of its lines, panel title)
PANELS = (
    ("allocs_per_op", "allocs", "allocs/op"),
    ("bytes_per_op", "bytes", "B/op"),
    ("ns_per_op", "ns", "ns/op (native only)"),
)


@dataclass(frozen=True)
class _Style:
    color: str
    marker: str  # circle, square, triangle
    size: float  # the marker's width in px
    filled: bool


_ARCH_STYLE = {"amd64": _Style("#1f77b4", "circle", 8.0, True),
               "arm64": _Style("#ff7f0e", "square", 11.0, False)}  # larger and hollow: amd64's point stays visible
_OTHER_STYLE = _Style("#2ca02c", "triangle", 10.0, False)
_FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"
_CHAR = 0.6  # estimated width of a character, in ems (DejaVu Sans' digits are 0.64, its lowercase about 0.6)
_IEC = ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB"))

WIDTH = 1200.0
_MARGIN = 12.0  # around the figure
_TITLE_H = 40.0  # the case's title
_PANEL_TITLE_H = 22.0
_PLOT_H = 150.0  # a panel's plotting area
_ROW_GAP = 14.0
_LEGEND_H = 36.0
_TICK = 4.0
_TICK_FONT = 11.0
_RIGHT = 14.0  # room right of a panel's area (a rotated label's end, the next panel)


def draw_svg(data: dict[str, Any]) -> bytes:
    """The SVG document of one case's plot data."""
    versions: list[str] = data["versions"]
    arches: list[str] = [a["name"] for a in data["arches"]]
    emulated = {a["name"]: any(a["emulated"]) for a in data["arches"]}
    benchmarks: list[dict[str, Any]] = data["benchmarks"]
    axis = _XAxis.of(versions, (WIDTH - 2 * _MARGIN) / len(PANELS) - 70.0)
    row_h = _PANEL_TITLE_H + _PLOT_H + axis.height + _ROW_GAP
    height = _TITLE_H + row_h * len(benchmarks) + _LEGEND_H
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH:g}" height="{height:g}" '
           f'viewBox="0 0 {WIDTH:g} {height:g}" font-family="{_FONT}" role="img">',
           f"<title>{escape(data['title'])}</title>",
           f'<rect width="{WIDTH:g}" height="{height:g}" fill="#fff"/>',
           _text(WIDTH / 2, 26, data["title"], size=16, width=WIDTH - 2 * _MARGIN, attrs='font-weight="bold"')]
    column_w = (WIDTH - 2 * _MARGIN) / len(PANELS)
    for row, bench in enumerate(benchmarks):
        top = _TITLE_H + row * row_h
        for col, (metric, id_prefix, panel_title) in enumerate(PANELS):
            series = {arch: bench["series"][metric][arch] for arch in arches}
            out += _panel(_MARGIN + col * column_w, top, column_w, axis, metric, f"{bench['name']} · {panel_title}",
                          {arch: values for arch, values in series.items() if any(v is not None for v in values)},
                          emulated, id_prefix, bench["name"], versions)
    out += _legend(data["arches"], emulated, height - _LEGEND_H / 2)
    out.append("</svg>\n")
    return "\n".join(out).encode("utf-8")


# ---------------------------------------------------------------- the x axis: Go versions


@dataclass(frozen=True)
class _XAxis:
    versions: tuple[str, ...]
    angle: int  # the labels' rotation, degrees (0: level)
    every: int  # every how many versions a label is shown
    height: float  # below the plotting area: ticks and labels

    @staticmethod
    def of(versions: Sequence[str], width: float) -> _XAxis:
        """Level labels while they fit (and there are at most 4, as before), else the least turn that keeps
        neighbours apart, else every second (third, ...) label at 90°."""
        slot = width / max(1, len(versions))
        longest = max((_text_width(v, _TICK_FONT) for v in versions), default=0.0)
        line = _TICK_FONT * 1.25  # what two turned labels need between their baselines
        every, angle = 1, 90
        if len(versions) <= 4 and longest + 6 <= slot:
            angle = 0
        else:
            angle = next((a for a in (30, 45, 60) if slot * math.sin(math.radians(a)) >= line), 90)
            if angle == 90:
                every = math.ceil(line / slot)
        height = _TICK + 4 + (_TICK_FONT if angle == 0 else
                              longest * math.sin(math.radians(angle)) + _TICK_FONT * math.cos(math.radians(angle)))
        return _XAxis(tuple(versions), angle, every, math.ceil(height + 4))

    def x(self, left: float, width: float, index: int) -> float:
        return left + (index + 0.5) * width / len(self.versions)


# ---------------------------------------------------------------- the y axis


@dataclass(frozen=True)
class _YAxis:
    low: float
    high: float
    log: bool
    ticks: tuple[tuple[float, str], ...]  # value, label
    minor: tuple[float, ...] = ()

    def y(self, bottom: float, height: float, value: float) -> float:
        if self.log:
            share = (math.log10(value) - math.log10(self.low)) / (math.log10(self.high) - math.log10(self.low))
        else:
            share = (value - self.low) / (self.high - self.low)
        return bottom - share * height


def _step(span: float, *, integer: bool, bins: int = 5) -> float:
    """The smallest of 1, 2, 5 × 10^k that cuts span into at most bins intervals (at least 1 if integer)."""
    raw = span / bins
    power = 10.0 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw * (1 - 1e-9))
    return max(1.0, round(step)) if integer else step


def _linear(low: float, high: float, step: float, label: Callable[[float], str]) -> _YAxis:
    first = math.ceil(max(low, 0.0) / step - 1e-9)
    ticks = []
    for k in range(first, math.floor(high / step + 1e-9) + 1):
        value = round(k * step, 12)
        ticks.append((value, label(value)))
    return _YAxis(low, high, False, tuple(ticks))


def _number(value: float, step: float) -> str:
    """A tick's label: as many decimals as the step has; thousands separated."""
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) if step < 1 and value != 0 else 0
    return f"{value:,.{decimals}f}"


def _count_axis(values: Sequence[float], unit: str, *, integer: bool) -> _YAxis:
    """From 0 with some room above the largest value (and a little below 0, so that a line at 0 shows)."""
    top = max(max(values), 1.0)
    low, high = -0.08 * top, 1.15 * top
    step = _step(high - low, integer=integer)
    return _linear(low, high, step, lambda v: _number(v, step) + unit)


def _ns_axis(values: Sequence[float]) -> _YAxis:
    """Log scale when the values span more than a decade (0.27 ns to 4 ms happens), else linear from 0."""
    low, high = min(values), max(values)
    if low <= 0 or high / low <= 10:  # (plot_data leaves out ns/op <= 0: not a measurement)
        step = _step(1.15 * high, integer=False)
        return _linear(0.0, 1.15 * high, step, lambda v: format_duration(v) if v > 0 else "0")
    bottom, top = low / 3, high * 3
    first, last = math.ceil(math.log10(bottom) - 1e-9), math.floor(math.log10(top) + 1e-9)
    stride = max(1, math.ceil((last - first + 1) / 6))
    majors = tuple((10.0 ** k, format_duration(10.0 ** k)) for k in range(first, last + 1, stride))
    minor = tuple(m * 10.0 ** k for k in range(first - 1, last + 1) for m in range(2, 10)
                  if bottom <= m * 10.0 ** k <= top) if stride == 1 else ()
    return _YAxis(bottom, top, True, majors, minor)


# ---------------------------------------------------------------- a panel


def _panel(column: float, top: float, column_w: float, axis: _XAxis, metric: str, title: str,
           series: dict[str, list[float | None]], emulated: dict[str, bool], id_prefix: str, bench: str,
           versions: Sequence[str]) -> list[str]:
    """One metric of one benchmark: title, frame, grid, ticks, the arches' lines (or why there are none)."""
    plotted = [v for values in series.values() for v in values if v is not None]
    scale, unit = 1, ""
    if metric == "bytes_per_op":
        scale, unit = next(((s, u) for s, u in _IEC if plotted and max(plotted) >= s), (1, "B"))
    yaxis = None
    if plotted:
        scaled = [v / scale for v in plotted]
        yaxis = (_ns_axis(scaled) if metric == "ns_per_op"
                 else _count_axis(scaled, f" {unit}" if unit else "", integer=scale == 1))
    labels_w = max((_text_width(label, _TICK_FONT) for _v, label in yaxis.ticks), default=0.0) if yaxis else 0.0
    left = column + max(28.0, labels_w + _TICK + 10)
    width = column + column_w - _RIGHT - left
    plot_top = top + _PANEL_TITLE_H
    bottom = plot_top + _PLOT_H
    out = ['<g class="panel">',
           _text(left + width / 2, top + 15, title, size=12,
                 width=2 * min(width / 2 + left - column, column + column_w - left - width / 2) - 6),
           f'<rect x="{_f(left)}" y="{_f(plot_top)}" width="{_f(width)}" height="{_f(_PLOT_H)}" fill="none" '
           'stroke="#333" stroke-width="0.8"/>']
    grid: list[str] = []
    ticks: list[str] = []
    for index, version in enumerate(axis.versions):
        x = axis.x(left, width, index)
        grid.append(f"M{_f(x)} {_f(plot_top)}V{_f(bottom)}")
        ticks.append(f"M{_f(x)} {_f(bottom)}v{_f(_TICK)}")
        if index % axis.every == 0:
            out.append(_tick_label(x, bottom + _TICK + 3, version, axis.angle))
    if yaxis is None:
        what = title.rsplit(" · ", 1)[1].split()[0]
        why = ("every column ran under emulation" if metric == "ns_per_op" and all(emulated.values())
               else "no results")
        out.append(_text(left + width / 2, plot_top + _PLOT_H / 2 + 4, f"no {what}: {why}", size=12,
                         width=width - 8, attrs='fill="#666"'))
    else:
        for value, label in yaxis.ticks:
            y = yaxis.y(bottom, _PLOT_H, value)
            grid.append(f"M{_f(left)} {_f(y)}H{_f(left + width)}")
            ticks.append(f"M{_f(left)} {_f(y)}h{_f(-_TICK)}")
            out.append(f'<text x="{_f(left - _TICK - 3)}" y="{_f(y + 4)}" font-size="{_TICK_FONT:g}" '
                       f'text-anchor="end">{escape(label)}</text>')
        for value in yaxis.minor:
            ticks.append(f"M{_f(left)} {_f(yaxis.y(bottom, _PLOT_H, value))}h{_f(-_TICK / 2)}")
    out.insert(2, f'<path d="{"".join(grid)}" stroke="#b0b0b0" stroke-opacity="0.45" stroke-width="0.8"/>')
    out.append(f'<path d="{"".join(ticks)}" stroke="#333" stroke-width="0.8"/>')
    if yaxis is not None:
        for arch, values in series.items():
            points = [(axis.x(left, width, i), yaxis.y(bottom, _PLOT_H, v / scale), version, v)
                      for i, (version, v) in enumerate(zip(versions, values, strict=True)) if v is not None]
            out += _line(f"{id_prefix}-{arch}-{bench}", arch, emulated[arch], points,
                         [v is not None for v in values], metric)
    out.append("</g>")
    return out


def _line(line_id: str, arch: str, dashed: bool, points: list[tuple[float, float, str, float]],
          present: list[bool], metric: str) -> list[str]:
    """An arch's line (broken where a version has no value) and its markers, each with its value as a tooltip."""
    style = _ARCH_STYLE.get(arch, _OTHER_STYLE)
    path: list[str] = []
    at = 0
    for index, here in enumerate(present):
        if not here:
            continue
        x, y = points[at][0], points[at][1]
        path.append(f"{'L' if index > 0 and present[index - 1] else 'M'}{_f(x)} {_f(y)}")
        at += 1
    dash = ' stroke-dasharray="6 4"' if dashed else ""
    out = [f"<g id={quoteattr(line_id)} class=\"line\">",
           f'<path d="{"".join(path)}" fill="none" stroke="{style.color}" stroke-width="2"{dash} '
           'stroke-linejoin="round"/>']
    fill = style.color if style.filled else "none"
    for x, y, version, value in points:
        shape = _marker(style, x, y)
        out.append(f'<{shape} fill="{fill}" stroke="{style.color}" stroke-width="1.5">'
                   f"<title>{escape(f'{version} {arch}: {_value_words(value, metric)}')}</title></{shape.split()[0]}>")
    out.append("</g>")
    return out


def _marker(style: _Style, x: float, y: float) -> str:
    half = style.size / 2
    if style.marker == "circle":
        return f'circle cx="{_f(x)}" cy="{_f(y)}" r="{_f(half)}"'
    if style.marker == "square":
        return f'rect x="{_f(x - half)}" y="{_f(y - half)}" width="{_f(style.size)}" height="{_f(style.size)}"'
    return f'path d="M{_f(x)} {_f(y - half)}L{_f(x + half)} {_f(y + half)}H{_f(x - half)}Z"'


def _value_words(value: float, metric: str) -> str:
    if metric == "ns_per_op":
        return f"{format_duration(value)}/op"
    if metric == "bytes_per_op":
        return f"{value:,.0f} B/op" if value == int(value) else f"{value:,.3f} B/op"
    return f"{value:,.3f}".rstrip("0").rstrip(".") + " allocs/op"


# ---------------------------------------------------------------- legend and text


def _legend(arches: list[dict[str, Any]], emulated: dict[str, bool], y: float) -> list[str]:
    entries = [(a["name"], _arch_label(a["name"], a["emulated"])) for a in arches]
    widths = [44 + _text_width(label, 12) for _name, label in entries]
    gap = 28.0
    x = (WIDTH - sum(widths) - gap * (len(entries) - 1)) / 2
    out = ['<g class="legend">']
    for (arch, label), width in zip(entries, widths, strict=True):
        style = _ARCH_STYLE.get(arch, _OTHER_STYLE)
        dash = ' stroke-dasharray="6 4"' if emulated[arch] else ""
        fill = style.color if style.filled else "none"
        out += [f'<path d="M{_f(x)} {_f(y)}h34" stroke="{style.color}" stroke-width="2"{dash}/>',
                f'<{_marker(style, x + 17, y)} fill="{fill}" stroke="{style.color}" stroke-width="1.5"/>',
                f'<text x="{_f(x + 42)}" y="{_f(y + 4)}" font-size="12">{escape(label)}</text>']
        x += width + gap
    out.append("</g>")
    return out


def _arch_label(arch: str, emulated: list[bool]) -> str:
    if all(emulated):
        return f"{arch} (emulated: QEMU, ns/op not shown)"
    if any(emulated):
        return f"{arch} (partly emulated: ns/op only where native)"
    return arch


def _tick_label(x: float, y: float, text: str, angle: int) -> str:
    if angle == 0:
        return f'<text x="{_f(x)}" y="{_f(y + _TICK_FONT - 1)}" font-size="{_TICK_FONT:g}" ' \
               f'text-anchor="middle">{escape(text)}</text>'
    # turned about its end, which sits just below the tick
    y += _TICK_FONT * 0.35 * math.cos(math.radians(angle))
    x += _TICK_FONT * 0.35 * math.sin(math.radians(angle))
    return (f'<text x="{_f(x)}" y="{_f(y)}" font-size="{_TICK_FONT:g}" text-anchor="end" '
            f'transform="rotate(-{angle} {_f(x)} {_f(y)})">{escape(text)}</text>')


def _text_width(text: str, size: float) -> float:
    return len(text) * size * _CHAR


def _text(x: float, y: float, text: str, *, size: float, width: float, attrs: str = "") -> str:
    """Centred text, shrunk (to 70 %) when its estimated width exceeds width, then squeezed to fit."""
    fitted = max(size * 0.7, min(size, size * width / max(1.0, _text_width(text, size))))
    squeeze = ""
    if _text_width(text, fitted) > width:
        squeeze = f' textLength="{_f(width)}" lengthAdjust="spacingAndGlyphs"'
    extra = f" {attrs}" if attrs else ""
    return (f'<text x="{_f(x)}" y="{_f(y)}" font-size="{_f(fitted)}" text-anchor="middle"{squeeze}{extra}>'
            f"{escape(text)}</text>")


def _f(value: float) -> str:
    """A coordinate: to a tenth of a pixel, without a trailing .0."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text
