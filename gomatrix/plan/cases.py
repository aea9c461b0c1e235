"""Cases: any directory of Go files, with an optional case.yaml (title, source, claims)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gomatrix.core.errors import CaseError
from gomatrix.core.schemas import validate
from gomatrix.core.values import in_version_range
from gomatrix.plan.config import read_yaml

CASE_FILE = "case.yaml"


@dataclass(frozen=True)
class SiteRef:
    file: str
    line: int


@dataclass(frozen=True)
class AllocsRange:
    """Expected allocs/op: min <= measured <= max (within the tolerance); None is open."""

    min: float | None = None
    max: float | None = None

    @property
    def exact(self) -> float | None:
        return self.min if self.min is not None and self.min == self.max else None

    def text(self) -> str:
        def number(value: float) -> str:
            return str(int(value)) if float(value).is_integer() else str(value)
        if self.exact is not None:
            return number(self.exact)
        if self.min is None:
            return f"at most {number(self.max or 0)}"
        if self.max is None:
            return f"at least {number(self.min)}"
        return f"{number(self.min)} to {number(self.max)}"


@dataclass(frozen=True)
class Claim:
    id: str
    text: str
    site: SiteRef | None = None
    expect: str | None = None  # "stack" | "heap", with site
    benchmark: str | None = None
    allocs: AllocsRange | None = None  # with benchmark
    since: str | None = None  # the document's Go version range, "1.25" style
    until: str | None = None
    documented: str = ""

    @property
    def allocs_per_op(self) -> float | None:
        """The exact expected count (None for a range)."""
        return self.allocs.exact if self.allocs is not None else None


@dataclass(frozen=True)
class ExpectedFailure:
    """Go versions on which the case is expected to fail (case.yaml expected_failures)."""

    reason: str
    since: str | None = None
    until: str | None = None


@dataclass(frozen=True)
class Case:
    name: str
    path: Path
    go_files: tuple[str, ...]
    title: str
    source: str
    claims: tuple[Claim, ...]
    expected_failures: tuple[ExpectedFailure, ...] = ()

    def expected_failure(self, go_version: str) -> str | None:
        """Why the case is expected to fail on go_version (case.yaml), or None."""
        for expected in self.expected_failures:
            if in_version_range(go_version, expected.since, expected.until):
                return expected.reason
        return None


def _allocs(value: Any) -> AllocsRange | None:
    if value is None:
        return None
    if isinstance(value, dict):
        return AllocsRange(min=value.get("min"), max=value.get("max"))
    return AllocsRange(min=float(value), max=float(value))


def _version(value: Any) -> str | None:
    return None if value is None else str(value).removeprefix("go")


def _go_files(directory: Path) -> tuple[str, ...]:
    return tuple(sorted(p.name for p in directory.iterdir() if p.is_file() and p.suffix == ".go"))


def load_case(directory: Path) -> Case:
    """One case directory -> Case; case.yaml is optional."""
    if not directory.is_dir():
        raise CaseError(f"{directory} is not a directory", where=str(directory),
                        fix="Point --cases-dir at a directory of case directories.")
    go_files = _go_files(directory)
    if not go_files:
        raise CaseError("the directory holds no .go files", where=str(directory),
                        fix="A case is a directory of Go files (package main with benchmarks in _test.go).")
    meta_path = directory / CASE_FILE
    meta: dict[str, Any] = {}
    if meta_path.exists():
        loaded = read_yaml(meta_path, error_cls=CaseError)
        meta = loaded if loaded is not None else {}
        if not isinstance(meta, dict):
            raise CaseError("case.yaml must be a mapping (title, source, claims)", where=str(meta_path),
                            fix="See schemas/case.schema.json.")
        validate(meta, "case", where=str(meta_path), error_cls=CaseError,
                 fix="See schemas/case.schema.json for the case.yaml format.")
    claims = []
    for raw in meta.get("claims") or []:
        site = raw.get("site")
        claim = Claim(
            id=raw["id"], text=raw["text"],
            site=SiteRef(file=site["file"], line=site["line"]) if site else None,
            expect=raw.get("expect"), benchmark=raw.get("benchmark"),
            allocs=_allocs(raw.get("allocs_per_op")),
            since=_version(raw.get("since")), until=_version(raw.get("until")),
            documented=str(raw.get("documented") or ""),
        )
        if claim.site is not None and claim.site.file not in go_files:
            raise CaseError(f"claim {claim.id!r} names {claim.site.file}, which is not a Go file of the case",
                            where=str(meta_path), fix=f"Use one of: {', '.join(go_files)}.")
        claims.append(claim)
    return Case(
        name=directory.name,
        path=directory.resolve(),
        go_files=go_files,
        title=str(meta.get("title") or directory.name),
        source=str(meta.get("source") or ""),
        claims=tuple(claims),
        expected_failures=tuple(ExpectedFailure(reason=str(raw["reason"]), since=_version(raw.get("since")),
                                                until=_version(raw.get("until")))
                                for raw in meta.get("expected_failures") or []),
    )


def discover_cases(cases_dir: Path, selection: tuple[str, ...] | None = None) -> list[Case]:
    """Cases under cases_dir (or cases_dir itself when it directly holds Go files), filtered by name."""
    if not cases_dir.is_dir():
        raise CaseError(f"cases directory {cases_dir} does not exist", where=str(cases_dir),
                        fix="Create it or pass --cases-dir.")
    if _go_files(cases_dir):
        found = {cases_dir.name: cases_dir}
    else:
        found = {p.name: p for p in sorted(cases_dir.iterdir())
                 if p.is_dir() and not p.name.startswith(".") and _go_files(p)}
    if not found:
        raise CaseError("no case directories (directories with .go files) found", where=str(cases_dir),
                        fix="Each case is a subdirectory holding Go files.")
    names = sorted(found) if selection is None else list(selection)
    unknown = [n for n in names if n not in found]
    if unknown:
        hints = []
        for name in unknown:
            close = difflib.get_close_matches(name, list(found), n=1)
            hints.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise CaseError(f"unknown case(s): {', '.join(hints)}", where=str(cases_dir),
                        fix=f"Available: {', '.join(sorted(found))}.")
    return [load_case(found[n]) for n in names]
