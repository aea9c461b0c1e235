"""Cases: any directory of Go files, with an optional case.yaml (title, source, claims); or a Go module
(matrix.yaml `cases: - module: PATH`, --module PATH) whose packages' benchmarks run as one case."""

from __future__ import annotations

import dataclasses
import difflib
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gomatrix.core.errors import CaseError
from gomatrix.core.schemas import validate
from gomatrix.core.values import in_version_range
from gomatrix.plan.budgets import Budget, parse_budgets, parse_limit
from gomatrix.plan.config import MatrixConfig, ModuleSpec, read_text, read_yaml

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
class ModuleInfo:
    """What a module case builds: its root (Case.path), the go.mod facts, the packages and the bench filter."""

    module_path: str  # go.mod's module line
    packages: tuple[str, ...]  # package patterns, as go list takes them
    bench: str  # the -bench regexp
    go: str | None  # go.mod's go directive ("1.17", "1.24.0"); None: none (the go command assumes 1.16)
    toolchain: str | None  # go.mod's toolchain line: recorded, never obeyed (GOTOOLCHAIN=local)
    vendored: bool  # vendor/modules.txt exists: dependencies come from vendor/ (-mod=vendor)
    requires: bool  # go.mod requires other modules: a module cache is needed unless vendored
    commit: str | None = None  # git rev-parse HEAD of the module's directory, when it is in a repository
    source_url: str | None = None  # link template with {commit} filled in and {path} prefixed with the module's
    # directory in its repository ({path}: relative to the module root; {line} left); None: no links

    def package_of(self, file: str) -> str:
        """The import path of the package a module-relative Go file belongs to."""
        directory = file.rpartition("/")[0]
        return f"{self.module_path}/{directory}" if directory else self.module_path

    @property
    def dependencies(self) -> str:
        """Where the cells' dependencies come from: vendor, modcache or none."""
        return "vendor" if self.vendored else "modcache" if self.requires else "none"


@dataclass(frozen=True)
class Case:
    name: str
    path: Path
    go_files: tuple[str, ...]  # a module: every Go file, relative to the module root
    title: str
    source: str
    claims: tuple[Claim, ...]
    expected_failures: tuple[ExpectedFailure, ...] = ()
    module: ModuleInfo | None = None  # a module case; None: a case directory
    budgets: tuple[Budget, ...] = ()  # allocation budgets (case.yaml, or the module's matrix.yaml entry)

    def expected_failure(self, go_version: str) -> str | None:
        """Why the case is expected to fail on go_version (case.yaml), or None."""
        for expected in self.expected_failures:
            if in_version_range(go_version, expected.since, expected.until):
                return expected.reason
        return None


def _allocs(value: Any) -> AllocsRange | None:
    """A claim's allocs_per_op: a number (exactly that) or {min, max}, as a budget's limits are written."""
    limit = parse_limit(value)
    return None if limit is None else AllocsRange(min=limit.min, max=limit.max)


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
    try:
        budgets = parse_budgets(meta.get("budgets"))
    except ValueError as exc:
        raise CaseError(str(exc), where=str(meta_path), fix="Write it as a regular expression, e.g. BenchmarkParse/.*")\
            from None
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
        budgets=budgets,
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


_GO_MOD_LINE = re.compile(r"^\s*(module|go|toolchain)\s+(\S+)\s*(?://.*)?$", re.MULTILINE)
_REQUIRE = re.compile(r"^\s*require\b", re.MULTILINE)
# Directories the go command never builds packages from (and vendor/, which is the dependencies).
_SKIPPED_DIRS = ("vendor", "testdata")


def _module_go_files(root: Path) -> tuple[str, ...]:
    """Every Go file of the module's packages, relative to its root (nested modules, testdata/, vendor/,
    and directories starting with . or _ left out, as the go command does)."""
    found: list[str] = []

    def walk(directory: Path, relative: str) -> None:
        for entry in sorted(directory.iterdir()):
            name = entry.name
            if entry.is_dir() and not entry.is_symlink():
                if name.startswith((".", "_")) or name in _SKIPPED_DIRS or (entry / "go.mod").exists():
                    continue
                walk(entry, f"{relative}{name}/")
            elif entry.is_file() and name.endswith(".go") and not name.startswith((".", "_")):
                found.append(f"{relative}{name}")

    walk(root, "")
    return tuple(found)


def parse_go_mod(text: str) -> dict[str, str]:
    """go.mod's module, go and toolchain lines (unquoted), by keyword."""
    return {keyword: value.strip('"`') for keyword, value in _GO_MOD_LINE.findall(text)}


def _git_commit(root: Path) -> tuple[str | None, str]:
    """The commit checked out where the module is (for source links), None outside a repository; and the
    module's directory in that repository ("libs/codec/", "" at its root or outside a repository)."""
    try:
        done = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD", "--show-prefix"], capture_output=True,
                              text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None, ""
    lines = done.stdout.splitlines()
    commit = lines[0].strip() if lines else ""
    if done.returncode != 0 or not re.fullmatch(r"[0-9a-f]{40,64}", commit):
        return None, ""
    prefix = lines[1] if len(lines) > 1 else ""
    return commit, prefix if not prefix or prefix.endswith("/") else f"{prefix}/"


def _source_url(template: str | None, commit: str | None, prefix: str = "") -> str | None:
    """The link template with the commit filled in, and {path} made the path from the repository's root
    (prefix: the module's directory in its repository); None without a template, or when it needs a commit
    and the module is in no repository."""
    if template is None or ("{commit}" in template and commit is None):
        return None
    return template.replace("{commit}", commit or "").replace("{path}", prefix + "{path}")


def source_link(template: str, path: str, line: int) -> str:
    """A source line's address from a module's source_url (commit and the module's directory in its repository
    already filled in); path: relative to the module's root."""
    return template.replace("{path}", path).replace("{line}", str(line))


def load_module(spec: ModuleSpec) -> Case:
    """A Go module directory -> a module Case, named after the directory."""
    root = spec.path
    go_mod = root / "go.mod"
    if not go_mod.is_file():
        raise CaseError(f"{root} holds no go.mod", where=str(root),
                        fix="Point `module:` (or --module) at the directory with the module's go.mod.")
    text = read_text(go_mod, error_cls=CaseError)
    lines = parse_go_mod(text)
    if "module" not in lines:
        raise CaseError("go.mod has no module line", where=str(go_mod), fix="Add `module <path>` to go.mod.")
    go_files = _module_go_files(root)
    if not any(name.endswith("_test.go") for name in go_files):
        raise CaseError("the module has no _test.go files, so no benchmarks", where=str(root),
                        fix="Point at a module whose packages have benchmarks (func BenchmarkX(b *testing.B)).")
    info = ModuleInfo(module_path=lines["module"], packages=spec.packages, bench=spec.bench, go=lines.get("go"),
                      toolchain=lines.get("toolchain"), vendored=(root / "vendor" / "modules.txt").is_file(),
                      requires=bool(_REQUIRE.search(text)))
    commit, prefix = _git_commit(root)
    info = dataclasses.replace(info, commit=commit, source_url=_source_url(spec.source_url, commit, prefix))
    return Case(name=re.sub(r"[^A-Za-z0-9_.-]", "-", root.name) or "module", path=root, go_files=go_files,
                title=f"module {info.module_path}", source=str(root), claims=(), module=info, budgets=spec.budgets)


def load_cases(config: MatrixConfig) -> list[Case]:
    """The configuration's cases: its case directories (none when it names only modules), then its modules."""
    modules = [load_module(spec) for spec in config.modules]
    directories = [] if config.modules and config.cases == () else discover_cases(config.cases_dir, config.cases)
    cases = [*directories, *modules]
    seen: dict[str, Case] = {}
    for case in cases:
        if case.name in seen:
            raise CaseError(f"two cases are named {case.name!r}: {seen[case.name].path} and {case.path}",
                            where=str(case.path), fix="Rename one of the directories (a case's name is its "
                            "directory's name).")
        seen[case.name] = case
    return cases
