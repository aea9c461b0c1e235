"""matrix.yaml: parsed once, validated against schemas/matrix.schema.json, frozen."""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gomatrix.core.errors import ConfigError
from gomatrix.core.kinds import Arch, Emulation, Isolation, RunnerChoice, Timings
from gomatrix.core.schemas import defaults, property_schema, schema, validate, value_problem
from gomatrix.plan.budgets import Budget, parse_budgets

ARCHES = tuple(Arch)

# The schema's `default`s are the built-in defaults: what a run uses for anything matrix.yaml leaves out.
DEFAULTS: dict[str, Any] = defaults(schema("matrix"))
# Used when no matrix.yaml is given at all: every Go minor the tool knows about.
DEFAULT_VERSIONS: list[str] = DEFAULTS.pop("versions")
DEFAULTS.pop("arches")


@dataclass(frozen=True)
class BenchSettings:
    benchtime: str
    count: int
    timings: Timings = Timings.NATIVE


@dataclass(frozen=True)
class Limits:
    memory: str
    pids: int
    cpus: float


@dataclass(frozen=True)
class ModuleSpec:
    """A Go module as a case (matrix.yaml `cases: - module: PATH`, or --module PATH)."""

    path: Path  # the module's root directory (holding go.mod), absolute
    packages: tuple[str, ...] = ("./...",)  # package patterns inside it
    bench: str = "."  # the -bench regexp
    source_url: str | None = None  # link template of its source lines ({commit}, {path}, {line})
    budgets: tuple[Budget, ...] = ()  # allocation budgets of its benchmarks


@dataclass(frozen=True)
class MatrixConfig:
    versions: tuple[str, ...]
    arches: tuple[str, ...]
    cases: tuple[str, ...] | None  # case directory names; None: every case in cases_dir
    cases_dir: Path
    image: str
    bench: BenchSettings
    timeout: int
    limits: Limits
    build_cache: bool
    out: Path
    source: str  # where the configuration came from, for messages
    runner: RunnerChoice = RunnerChoice.AUTO
    toolchains: tuple[tuple[str, Path], ...] = ()  # local GOROOTs by version, for the host runner
    emulation: Emulation = Emulation.AUTO
    isolation: Isolation = Isolation.GROUP
    jobs: int = 1
    result_cache: bool = True
    accept_failures: bool = False  # exit 0 even when cells fail or time out
    unsandboxed: bool = False  # host runner: run cells without bubblewrap (the user accepts the risk)
    modules: tuple[ModuleSpec, ...] = ()  # Go modules run as cases, besides the case directories
    source_url: str | None = None  # link template for module source lines: {commit}, {path}, {line}

    def image_ref(self, version: str) -> str:
        return self.image.replace("{version}", version)


def split_list(text: str) -> list[str]:
    """'1.23.9, 1.24.11' -> ['1.23.9', '1.24.11'] (command-line lists)."""
    return [part.strip() for part in text.split(",") if part.strip()]


def read_text(path: Path, *, error_cls: Any = ConfigError, fix: str = "Check the path and its permissions.") -> str:
    """A UTF-8 text file; an unreadable or non-UTF-8 file is error_cls naming the file."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise error_cls(f"not UTF-8 text: byte {exc.start} is {exc.object[exc.start:exc.start + 1]!r}",
                        where=str(path), fix="Save the file as UTF-8.") from None
    except OSError as exc:
        raise error_cls(f"cannot read {path}: {exc.strerror}", where=str(path), fix=fix) from None


def read_yaml(path: Path, *, error_cls: type[ConfigError] | Any = ConfigError) -> Any:
    """Parse a YAML file; syntax errors name the file and line."""
    text = read_text(path, error_cls=error_cls, fix="Check the path (see --config / --cases-dir).")
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise error_cls(f"malformed YAML{line}: {problem}", where=str(path),
                        fix="Fix the YAML syntax.") from None


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_config(path: Path | None, overrides: Mapping[str, Any] | None = None, *,
                cwd: Path | None = None) -> MatrixConfig:
    """Read matrix.yaml (if given), apply command-line overrides, validate, and freeze.

    cases_dir and toolchains in the file are relative to the file; out, and paths given as overrides,
    are relative to cwd (a run writes where the user stands, also with the packaged default matrix).
    """
    cwd = cwd or Path.cwd()
    raw: Any = {}
    base_dir = cwd
    source = "built-in defaults"
    if path is not None:
        raw = read_yaml(path)
        base_dir = path.resolve().parent
        source = str(path)
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ConfigError(f"the top level must be a mapping, not {type(raw).__name__}", where=source,
                              fix="Start the file with keys such as 'versions:' and 'arches:'.")
    # Validate what the user wrote (file + overrides) before defaults fill the gaps, so that
    # unknown keys and bad values are reported against their own text.
    given = _merge(raw, {k: v for k, v in (overrides or {}).items() if v is not None})
    if path is None:
        given.setdefault("versions", DEFAULT_VERSIONS)
        given.setdefault("arches", list(ARCHES))
    validate(given, "matrix", where=source, error_cls=ConfigError,
             fix="See matrix.yaml in the project and schemas/matrix.schema.json for the allowed keys.")
    merged = _merge(DEFAULTS, given)

    def resolve(key: str) -> Path:
        value = Path(merged[key]).expanduser()
        if value.is_absolute():
            return value
        from_override = overrides is not None and overrides.get(key) is not None
        return ((cwd if from_override or key == "out" else base_dir) / value).resolve()

    cases = merged["cases"]
    # Module paths in the file are relative to the file; given on the command line, to where the user stands.
    modules_base = cwd if overrides is not None and overrides.get("cases") is not None else base_dir
    module_defaults = defaults(property_schema("matrix", ("cases",))["oneOf"][1]["items"]["oneOf"][1])
    modules = tuple(ModuleSpec(path=(modules_base / Path(entry["module"]).expanduser()).resolve(),
                               packages=tuple(entry.get("packages", module_defaults["packages"])),
                               bench=entry.get("bench", module_defaults["bench"]),
                               source_url=entry.get("source_url", merged.get("source_url")),
                               budgets=_budgets(entry, source))
                    for entry in (cases if cases != "all" else []) if isinstance(entry, dict))
    return MatrixConfig(
        versions=tuple(merged["versions"]),
        arches=tuple(merged["arches"]),
        cases=None if cases == "all" else tuple(entry for entry in cases if isinstance(entry, str)),
        modules=modules,
        source_url=merged.get("source_url"),
        cases_dir=resolve("cases_dir"),
        image=merged["image"],
        bench=BenchSettings(benchtime=merged["bench"]["benchtime"], count=merged["bench"]["count"],
                            timings=Timings(merged["bench"]["timings"])),
        timeout=merged["timeout"],
        limits=Limits(memory=merged["limits"]["memory"], pids=merged["limits"]["pids"],
                      cpus=float(merged["limits"]["cpus"])),
        build_cache=merged["build_cache"],
        out=resolve("out"),
        source=source,
        runner=RunnerChoice(merged["runner"]),
        emulation=Emulation(merged["emulation"]),
        isolation=Isolation(merged["isolation"]),
        jobs=merged["jobs"] or os.cpu_count() or 1,
        result_cache=merged["result_cache"],
        accept_failures=merged["accept_failures"],
        unsandboxed=merged["unsandboxed"],
        toolchains=tuple((version, (base_dir / Path(path).expanduser()).resolve())
                         for version, path in sorted(merged["toolchains"].items())),
    )



def _budgets(entry: Mapping[str, Any], source: object) -> tuple[Budget, ...]:
    try:
        return parse_budgets(entry.get("budgets"))
    except ValueError as exc:
        raise ConfigError(str(exc), where=f"{source}: module {entry['module']}",
                          fix="Write the benchmark (and package) as a Python/Go-style regular expression, "
                              "e.g. BenchmarkParse/.*") from None


# Command-line options (as task parameters) and the matrix.yaml key each one sets.
CLI_OPTIONS: dict[str, tuple[str, ...]] = {
    "versions": ("versions",), "arches": ("arches",), "cases": ("cases",), "cases_dir": ("cases_dir",),
    "image": ("image",), "out": ("out",), "benchtime": ("bench", "benchtime"), "count": ("bench", "count"),
    "timings": ("bench", "timings"),
    "timeout": ("timeout",), "runner": ("runner",), "jobs": ("jobs",), "emulation": ("emulation",),
    "isolation": ("isolation",), "accept_failures": ("accept_failures",),
    "unsandboxed": ("unsandboxed",),
}


def flag(option: str) -> str:
    return "--" + option.replace("_", "-")


def _convert(option: str, value: object, node: dict[str, Any]) -> Any:
    """A command-line string as the JSON type matrix.yaml would hold there."""
    if not isinstance(value, str):
        return value
    kind = node.get("type")
    if kind == "array" or any(branch.get("type") == "array" for branch in node.get("oneOf", [])):
        return "all" if value == "all" and "oneOf" in node else split_list(value)
    if kind in ("integer", "number"):
        try:
            return int(value) if kind == "integer" else float(value)
        except ValueError:
            raise ConfigError(f"{flag(option)}: {value!r} is not a {'whole ' if kind == 'integer' else ''}number",
                              where="command line", fix=f"Pass a number, e.g. {flag(option)} "
                              f"{node.get('default', 1)}.") from None
    return value


def cli_overrides(**options: object) -> dict[str, Any]:
    """Command-line options (None or "": not given) -> the same shape as matrix.yaml, each value checked
    against its key's schema here so that an error names the option, not the file.

    module (--module PATH, comma-separated for several): Go modules as cases, with their default packages
    and bench filter; besides the --cases given, else instead of the file's cases."""
    result: dict[str, Any] = {}
    module = options.pop("module", None)
    for option, value in options.items():
        if value is None or value == "":
            continue
        path = CLI_OPTIONS[option]
        node = property_schema("matrix", path)
        converted = _convert(option, value, node)
        problem = value_problem(converted, node)
        if problem is not None:
            raise ConfigError(f"{flag(option)}: {problem}", where="command line",
                              fix=f"See `gomatrix matrix --help` for {flag(option)}.")
        target = result
        for key in path[:-1]:
            target = target.setdefault(key, {})
        target[path[-1]] = converted
    if isinstance(module, str) and module:
        named = result.get("cases")
        result["cases"] = [*(named if isinstance(named, list) else []), *({"module": path}
                                                                          for path in split_list(module))]
        if named == "all":
            raise ConfigError("--cases all goes with --module only through matrix.yaml", where="command line",
                              fix="Name the cases (--cases a,b) to run them besides the module, or leave --cases out.")
    return result
