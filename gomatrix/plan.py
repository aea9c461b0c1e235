"""Planning is pure: configuration + cases -> the cells to run."""

from __future__ import annotations

from dataclasses import dataclass

from gomatrix.cases import Case
from gomatrix.config import MatrixConfig


def cell_key(case: str, version: str, arch: str) -> str:
    """The stable name of a cell: file names and report keys use it."""
    return f"{case}--go{version}--{arch}"


@dataclass(frozen=True)
class Cell:
    case: Case
    version: str  # as planned: exact patch or minor
    arch: str
    image_ref: str

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
