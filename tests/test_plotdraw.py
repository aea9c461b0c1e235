"""The hand-written SVG of one case's plot data (gomatrix.analysis.plotdraw): well-formed, and showing what
the data says: a line per arch and panel through the right points, axes whose ticks sit where their values
are, gaps where a version has no value, dashed emulated arches, labels that neither overflow nor collide."""

from __future__ import annotations

import itertools
import math
import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from gomatrix.analysis.plotdraw import PANELS, WIDTH, draw_svg

SVG = "{http://www.w3.org/2000/svg}"
METRICS = [metric for metric, _prefix, _title in PANELS]


def data(versions: list[str], series: dict[str, dict[str, list[float | None]]], *,
         emulated: dict[str, list[bool]] | None = None, bench: str = "BenchmarkX",
         title: str = "case x: a case") -> dict[str, Any]:
    """Plot data as plots.plot_data makes it: series is metric -> arch -> one value per version."""
    arches = sorted({arch for by_arch in series.values() for arch in by_arch})
    emulated = emulated or {}
    return {"title": title, "versions": versions,
            "arches": [{"name": a, "emulated": emulated.get(a, [False] * len(versions))} for a in arches],
            "benchmarks": [{"name": bench, "series": {m: {a: series.get(m, {}).get(a, [None] * len(versions))
                                                          for a in arches} for m in METRICS}}]}


def parse(plot: dict[str, Any]) -> ET.Element:
    return ET.fromstring(draw_svg(plot))


def group(root: ET.Element, gid: str) -> ET.Element:
    return next(el for el in root.iter(f"{SVG}g") if el.attrib.get("id") == gid)


def path_points(el: ET.Element) -> list[list[tuple[float, float]]]:
    """The runs of a line's path: [[(x, y), ...], ...], a new run at every M."""
    line = next(el.iter(f"{SVG}path"))
    runs: list[list[tuple[float, float]]] = []
    for command, x, y in re.findall(r"([ML])(-?[\d.]+) (-?[\d.]+)", line.attrib["d"]):
        if command == "M":
            runs.append([])
        runs[-1].append((float(x), float(y)))
    return runs


def tooltips(el: ET.Element) -> list[str]:
    return [t.text or "" for t in el.iter(f"{SVG}title")]


def panel_of(root: ET.Element, title: str) -> ET.Element:
    return next(g for g in root.iter(f"{SVG}g") if g.attrib.get("class") == "panel"
                and any(t.text == title for t in g.iter(f"{SVG}text")))


def y_ticks(panel: ET.Element) -> dict[str, float]:
    """The y axis's labels (right-aligned texts) -> the height their tick is at."""
    return {t.text or "": float(t.attrib["y"]) - 4 for t in panel.iter(f"{SVG}text")
            if t.attrib.get("text-anchor") == "end" and "transform" not in t.attrib}


def x_labels(panel: ET.Element) -> list[ET.Element]:
    return [t for t in panel.iter(f"{SVG}text") if (t.text or "").startswith("go1.")]


VERSIONS = ["go1.22.10", "go1.23.9", "go1.24.11"]


@pytest.fixture(scope="module")
def three() -> ET.Element:
    return parse(data(VERSIONS, {
        "allocs_per_op": {"amd64": [5.0, 2.625, 0.0], "arm64": [5.0, 2.625, 0.0]},
        "bytes_per_op": {"amd64": [1024.0, 512.0, 0.0], "arm64": [1024.0, 512.0, 0.0]},
        "ns_per_op": {"amd64": [0.27, 350.0, 4_000_000.0], "arm64": [None, None, None]},
    }, emulated={"arm64": [True, True, True]}))


def test_the_document_is_one_svg_of_the_stated_size(three: ET.Element) -> None:
    assert three.tag == f"{SVG}svg"
    width, height = float(three.attrib["width"]), float(three.attrib["height"])
    assert width == WIDTH and three.attrib["viewBox"] == f"0 0 {width:g} {height:g}"
    title = three.find(f"{SVG}title")
    assert title is not None and title.text == "case x: a case"


def test_one_line_per_arch_and_panel_through_every_value(three: ET.Element) -> None:
    for prefix in ("allocs", "bytes"):
        for arch in ("amd64", "arm64"):
            line = group(three, f"{prefix}-{arch}-BenchmarkX")
            [run] = path_points(line)
            assert len(run) == 3
            xs = [x for x, _y in run]
            assert xs == sorted(xs) and math.isclose(xs[1] - xs[0], xs[2] - xs[1], abs_tol=0.2)
            ys = [y for _x, y in run]
            assert ys[0] < ys[1] < ys[2]  # 5, 2.625, 0 from the top down
    assert group(three, "ns-amd64-BenchmarkX") is not None
    assert not [g for g in three.iter(f"{SVG}g") if g.attrib.get("id", "").startswith("ns-arm64")]


def test_points_sit_at_their_tick(three: ET.Element) -> None:
    allocs = panel_of(three, "BenchmarkX · allocs/op")
    ticks = y_ticks(allocs)
    assert list(ticks) == ["0", "2", "4"]
    [run] = path_points(group(three, "allocs-amd64-BenchmarkX"))
    zero, four = ticks["0"], ticks["4"]
    assert run[2][1] == pytest.approx(zero, abs=0.2)
    assert run[0][1] == pytest.approx(zero + (four - zero) * 5 / 4, abs=0.2)
    assert run[1][1] == pytest.approx(zero + (four - zero) * 2.625 / 4, abs=0.2)


def test_bytes_take_binary_units(three: ET.Element) -> None:
    ticks = y_ticks(panel_of(three, "BenchmarkX · B/op"))
    assert list(ticks) == ["0 KiB", "0.5 KiB", "1.0 KiB"]
    [run] = path_points(group(three, "bytes-amd64-BenchmarkX"))
    assert run[1][1] == pytest.approx(ticks["0.5 KiB"], abs=0.2)
    assert run[0][1] == pytest.approx(ticks["1.0 KiB"], abs=0.2)


def test_ns_over_many_decades_is_a_log_axis(three: ET.Element) -> None:
    ticks = y_ticks(panel_of(three, "BenchmarkX · ns/op (native only)"))
    # 0.09 ns to 12 ms (a third below, three times above): nine decades, every second one labelled
    assert list(ticks) == ["0.1 ns", "10 ns", "1 µs", "100 µs", "10 ms"]
    heights = list(ticks.values())
    steps = [a - b for a, b in itertools.pairwise(heights)]
    assert all(s == pytest.approx(steps[0], abs=0.3) for s in steps)  # each two decades alike
    [run] = path_points(group(three, "ns-amd64-BenchmarkX"))
    # 350 ns: log10(35) / 2 = 0.772 of the way from 10 ns to 1 µs
    assert run[1][1] == pytest.approx(ticks["10 ns"] - 0.772 * steps[0], abs=0.3)
    assert run[0][1] == pytest.approx(ticks["0.1 ns"] - math.log10(2.7) / 2 * steps[0], abs=0.3)


def test_ns_within_a_decade_is_linear_from_zero() -> None:
    root = parse(data(VERSIONS, {"ns_per_op": {"amd64": [10.0, 20.0, 40.0]}}))
    ticks = y_ticks(panel_of(root, "BenchmarkX · ns/op (native only)"))
    assert list(ticks) == ["0", "10 ns", "20 ns", "30 ns", "40 ns"]
    [run] = path_points(group(root, "ns-amd64-BenchmarkX"))
    assert [y for _x, y in run] == pytest.approx([ticks["10 ns"], ticks["20 ns"], ticks["40 ns"]], abs=0.2)


def test_missing_values_break_the_line() -> None:
    root = parse(data(["go1.21.13", *VERSIONS, "go1.25.5"],
                      {"allocs_per_op": {"amd64": [1.0, 1.0, None, 2.0, 2.0]}}))
    line = group(root, "allocs-amd64-BenchmarkX")
    assert [len(run) for run in path_points(line)] == [2, 2]
    assert tooltips(line) == ["go1.21.13 amd64: 1 allocs/op", "go1.22.10 amd64: 1 allocs/op",
                              "go1.24.11 amd64: 2 allocs/op", "go1.25.5 amd64: 2 allocs/op"]
    assert "no B/op: no results" in "".join(t.text or "" for t in root.iter(f"{SVG}text"))


def test_every_point_has_its_value_as_a_tooltip(three: ET.Element) -> None:
    assert tooltips(group(three, "allocs-arm64-BenchmarkX")) == [
        "go1.22.10 arm64: 5 allocs/op", "go1.23.9 arm64: 2.625 allocs/op", "go1.24.11 arm64: 0 allocs/op"]
    assert tooltips(group(three, "bytes-amd64-BenchmarkX"))[0] == "go1.22.10 amd64: 1,024 B/op"
    assert tooltips(group(three, "ns-amd64-BenchmarkX")) == [
        "go1.22.10 amd64: 0.27 ns/op", "go1.23.9 amd64: 350 ns/op", "go1.24.11 amd64: 4 ms/op"]


def test_emulated_arches_are_dashed_and_said_so(three: ET.Element) -> None:
    def dashed(gid: str) -> bool:
        return "stroke-dasharray" in next(group(three, gid).iter(f"{SVG}path")).attrib

    assert dashed("allocs-arm64-BenchmarkX") and not dashed("allocs-amd64-BenchmarkX")
    legend = next(g for g in three.iter(f"{SVG}g") if g.attrib.get("class") == "legend")
    assert [t.text for t in legend.iter(f"{SVG}text")] == ["amd64", "arm64 (emulated: QEMU, ns/op not shown)"]


def test_all_emulated_says_why_the_ns_panel_is_empty() -> None:
    root = parse(data(VERSIONS, {"allocs_per_op": {"amd64": [1.0, 1.0, 1.0], "arm64": [1.0, 1.0, 1.0]}},
                      emulated={"amd64": [True] * 3, "arm64": [True] * 3}))
    texts = [t.text or "" for t in panel_of(root, "BenchmarkX · ns/op (native only)").iter(f"{SVG}text")]
    assert "no ns/op: every column ran under emulation" in texts
    assert not [g for g in root.iter(f"{SVG}g") if g.attrib.get("id", "").startswith("ns-")]


def test_versions_turn_and_thin_out_as_they_crowd() -> None:
    for count, angle in ((3, None), (8, "30"), (40, "90")):
        versions = [f"go1.{minor}.13" for minor in range(count)]
        root = parse(data(versions, {"allocs_per_op": {"amd64": [1.0] * count}}))
        labels = x_labels(panel_of(root, "BenchmarkX · allocs/op"))
        turned = {re.sub(r"rotate\(-(\d+) .*", r"\1", t.attrib.get("transform", "none")) for t in labels}
        assert turned == ({"none"} if angle is None else {angle})
        assert labels[0].text == versions[0]
        xs = [float(t.attrib["x"]) for t in labels]
        gaps = [b - a for a, b in itertools.pairwise(xs)]
        if angle is not None:  # neighbours' baselines at least a line apart
            assert min(gaps) * math.sin(math.radians(int(angle))) >= 11
        if count == 40:
            assert len(labels) < count


def test_text_is_escaped_and_long_titles_fit() -> None:
    name = "Benchmark<Parse>/a&b/" + "long-sub-benchmark-name-" * 4
    root = parse(data(VERSIONS, {"allocs_per_op": {"amd64": [1.0, 2.0, 3.0]}}, bench=name,
                      title="case <x> & " + "y" * 300))
    texts = [t for t in root.iter(f"{SVG}text")]
    title = next(t for t in texts if t.text == f"{name} · allocs/op")
    assert float(title.attrib["font-size"]) < 12
    assert float(title.attrib.get("textLength", "0")) <= WIDTH / len(PANELS)
    heading = next(t for t in texts if (t.text or "").startswith("case <x> & yyy"))
    assert float(heading.attrib["textLength"]) <= WIDTH
    assert group(root, f"allocs-amd64-{name}") is not None


def test_another_arch_gets_a_style_of_its_own() -> None:
    root = parse(data(VERSIONS, {"allocs_per_op": {"amd64": [1.0] * 3, "riscv64": [1.0] * 3}}))
    colors = {next(group(root, f"allocs-{arch}-BenchmarkX").iter(f"{SVG}path")).attrib["stroke"]
              for arch in ("amd64", "riscv64")}
    assert len(colors) == 2


def test_the_same_data_gives_the_same_bytes(three: ET.Element) -> None:
    plot = data(VERSIONS, {"allocs_per_op": {"amd64": [1.0, 2.0, 3.0]}})
    assert draw_svg(plot) == draw_svg(plot)
