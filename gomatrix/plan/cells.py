"""Planning is pure: configuration + cases -> the cells to run."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from gomatrix.core.errors import ConfigError
from gomatrix.core.kinds import Strategy
from gomatrix.core.values import version_key
from gomatrix.plan.cases import Case
from gomatrix.plan.config import MatrixConfig


def cell_key(case: str, version: str, arch: str) -> str:
    """The stable name of a cell: file names and report keys use it."""
    return f"{case}--go{version}--{arch}"


@dataclass(frozen=True)
class Cell:
    case: Case
    version: str  # as planned: exact patch or minor
    arch: str
    image_ref: str
    pinned: tuple[tuple[str, str], ...] = ()  # (arch, image reference by digest) of a pinned plan

    def image_for(self, arch: str) -> str:
        """The image to pull for arch (a cross cell compiles in the native one): pinned, or the tag."""
        return dict(self.pinned).get(arch, self.image_ref)

    @property
    def key(self) -> str:
        return cell_key(self.case.name, self.version, self.arch)

    @property
    def platform(self) -> str:
        return f"linux/{self.arch}"


def plan_cells(config: MatrixConfig, cases: list[Case]) -> list[Cell]:
    """Every version x arch x case, grouped so that cells sharing an image run together."""
    return [
        Cell(case=case, version=version, arch=arch, image_ref=config.image_ref(version))
        for version in config.versions
        for arch in config.arches
        for case in cases
    ]


# Relative cost of a cell whose cost no earlier run recorded: emulated cells compile under QEMU.
DEFAULT_COST = {"native": 1.0, "emulated": 8.0}  # per cell: by whether its arch is this machine's


def parse_shard(text: str) -> tuple[int, int]:
    """'2/3' -> (2, 3): the second of three shards (1-based)."""
    index, sep, total = text.partition("/")
    if not sep or not index.isdigit() or not total.isdigit() or not 1 <= int(index) <= int(total):
        raise ConfigError(f"bad shard {text!r}", where="--shard", fix="Write I/N with 1 <= I <= N, e.g. 2/3.")
    return int(index), int(total)


def select_shard(cells: list[Cell], shard: tuple[int, int], costs: Mapping[str, float], native_arch: str) -> list[Cell]:
    """The cells of shard I of N: a deterministic greedy split (largest expected cost first, onto the
    least loaded shard) so that shards take about the same time. costs: seconds per cell key from an
    earlier run; unknown cells get DEFAULT_COST. Every process computes the same split."""
    index, total = shard

    def cost(cell: Cell) -> float:
        return costs.get(cell.key) or DEFAULT_COST["native" if cell.arch == native_arch else "emulated"]

    loads = [0.0] * total
    chosen: list[Cell] = []
    for cell in sorted(cells, key=lambda c: (-cost(c), c.key)):
        target = min(range(total), key=lambda i: (loads[i], i))
        loads[target] += cost(cell)
        if target == index - 1:
            chosen.append(cell)
    order = {cell.key: position for position, cell in enumerate(cells)}
    return sorted(chosen, key=lambda c: order[c.key])


# How slow a group's strategy makes it, slowest first: an emulated toolchain, then emulated test binaries.
SLOWNESS = {Strategy.FULL: 0, Strategy.CROSS: 1, Strategy.NATIVE: 2}


def order_groups(groups: Mapping[str, Sequence[Cell]], strategy: Callable[[Cell], Strategy],
                 costs: Mapping[str, float]) -> list[str]:
    """The group keys, the longest expected first, so that parallel workers finish together.

    Groups whose every cell an earlier run timed (costs: seconds per cell key) go by that time. The
    others go first (an unknown group may be the longest), by what makes them slow: the strategy, the
    number of cells, then the newer Go version first (its standard library is bigger to compile cold).
    """
    def expected(key: str) -> tuple[int, float, int, tuple[int, ...]]:
        cells = groups[key]
        timed = [costs.get(cell.key) for cell in cells]
        if all(seconds is not None for seconds in timed):
            return (1, -sum(seconds or 0.0 for seconds in timed), 0, ())
        newest = max(version_key(cell.version) for cell in cells)
        return (0, SLOWNESS.get(strategy(cells[0]), len(SLOWNESS)), -len(cells), tuple(-n for n in newest))

    return sorted(groups, key=expected)
