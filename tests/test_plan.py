from __future__ import annotations

from pathlib import Path

import pytest

from gomatrix.core.errors import ConfigError
from gomatrix.core.kinds import Strategy
from gomatrix.plan.cases import discover_cases
from gomatrix.plan.cells import Cell, order_groups, parse_shard, plan_cells, select_shard
from gomatrix.plan.config import cli_overrides, load_config

ROOT = Path(__file__).resolve().parent.parent


def seed_cells(versions: str = "1.21,1.22,1.23,1.24,1.25,1.26,1.27") -> list[Cell]:
    config = load_config(ROOT / "matrix.yaml", cli_overrides(versions=versions))
    return plan_cells(config, discover_cases(config.cases_dir))


def test_plan_is_every_version_arch_case() -> None:
    cells = seed_cells("1.23.9,1.24.11")
    assert len(cells) == 20  # 2 versions x 2 arches x 5 cases
    assert cells[0].key == "appendloop--go1.23.9--amd64"
    assert cells[0].image_ref == "golang:1.23.9" and cells[0].platform == "linux/amd64"
    assert len({c.key for c in cells}) == 20


def test_shards_partition_the_cells_deterministically_and_balanced() -> None:
    cells = seed_cells()
    shards = [select_shard(cells, (i, 3), {}, "amd64") for i in (1, 2, 3)]
    keys = [c.key for shard in shards for c in shard]
    assert sorted(keys) == sorted(c.key for c in cells)  # every cell exactly once
    assert shards == [select_shard(cells, (i, 3), {}, "amd64") for i in (1, 2, 3)]  # same in every process
    emulated = [sum(1 for c in shard if c.arch == "arm64") for shard in shards]
    assert max(emulated) - min(emulated) <= 1  # the expensive cells are spread
    # Costs recorded by an earlier run move cells around: one very slow cell gets a shard of its own.
    slow = {"array--go1.21--arm64": 10_000.0}
    alone = [s for s in (select_shard(cells, (i, 3), slow, "amd64") for i in (1, 2, 3))
             if any(c.key == "array--go1.21--arm64" for c in s)]
    assert [len(s) for s in alone] == [1]


def by_image_and_arch(cells: list[Cell]) -> dict[str, list[Cell]]:
    groups: dict[str, list[Cell]] = {}
    for cell in cells:
        groups.setdefault(f"go{cell.version} {cell.arch}", []).append(cell)
    return groups


def cross_on_amd64(cell: Cell) -> Strategy:
    return Strategy.CROSS if cell.arch == "arm64" else Strategy.NATIVE


def test_groups_nobody_timed_go_slowest_first_by_strategy_size_and_version() -> None:
    groups = by_image_and_arch(seed_cells("1.23.9,1.24.11,1.25"))
    groups["go1.23.9 amd64"] = groups["go1.23.9 amd64"][:2]  # a smaller group waits behind bigger ones
    assert order_groups(groups, cross_on_amd64, {}) == [
        "go1.25 arm64", "go1.24.11 arm64", "go1.23.9 arm64",  # emulated test binaries, newest Go first
        "go1.25 amd64", "go1.24.11 amd64", "go1.23.9 amd64",
    ]
    assert order_groups(groups, lambda cell: Strategy.FULL if cell.arch == "arm64" else Strategy.NATIVE, {})[:3] == [
        "go1.25 arm64", "go1.24.11 arm64", "go1.23.9 arm64"]


def test_groups_an_earlier_run_timed_go_longest_first_after_the_untimed_ones() -> None:
    groups = by_image_and_arch(seed_cells("1.23.9,1.24.11"))
    # Recorded seconds per cell: go1.23.9 amd64 took longest, its arm64 group was never timed.
    costs = {cell.key: {"go1.23.9 amd64": 9.0, "go1.24.11 amd64": 2.0, "go1.24.11 arm64": 5.0}[key]
             for key, cells in groups.items() if key != "go1.23.9 arm64" for cell in cells}
    assert order_groups(groups, cross_on_amd64, costs) == [
        "go1.23.9 arm64", "go1.23.9 amd64", "go1.24.11 arm64", "go1.24.11 amd64"]


@pytest.mark.parametrize("text", ["0/3", "4/3", "2", "a/b", "1/0"])
def test_bad_shards(text: str) -> None:
    with pytest.raises(ConfigError, match="bad shard"):
        parse_shard(text)
    assert parse_shard("2/3") == (2, 3)
