"""Cell JSON: built from a cell's outcome and raw outputs, validated before it is written, and on read."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gomatrix.core.errors import CellFileError
from gomatrix.core.files import read_or_empty, write_json_atomic
from gomatrix.core.kinds import Status
from gomatrix.core.schemas import validate
from gomatrix.core.values import to_json
from gomatrix.docker.engine import ImageInfo
from gomatrix.plan.cases import ModuleInfo
from gomatrix.plan.cells import Cell
from gomatrix.plan.config import BenchSettings
from gomatrix.results.coverage import lines_benchmarks_run, parse_coverage
from gomatrix.results.exact import ExactCount, case_functions, linked_ranges, parse_exact
from gomatrix.results.migrate import OLD_CELL_SCHEMAS, migrate_cell
from gomatrix.results.parse import (
    BenchmarkSummary,
    BenchSample,
    EscapeSite,
    inlined_calls,
    package_sections,
    parse_bench,
    parse_escapes,
    summarize,
)
from gomatrix.results.profile import Accounting, account, parse_sites
from gomatrix.results.quickcheck import matches
from gomatrix.results.sites import cell_sites, fold_inlined
from gomatrix.runners.base import CellOutcome

SCHEMA_VERSION = 3
RAW_FILES = {
    "go_version": "go-version.txt",
    "build_go_version": "build-go-version.txt",  # docker cross: the compiling image's go version
    "go_env": "go-env.txt",
    "prepare": "prepare.txt",
    "escape": "escape.txt",
    "bench": "bench.txt",
    "exact": "exact.txt",  # the hook's exact totals per benchmark
    "exact_bench": "exact-bench.txt",  # go test's own output of that run (truncated figures)
    "hook": "hook.txt",  # how the hook went into package testing, or why not
    "hook_compile": "hook-compile.txt",  # the toolchain's testing rejected the hook: compiled without it
    "sites": "sites.txt",  # the allocation profile per benchmark and line
    "sites_bench": "sites-bench.txt",
    "cover": "cover.txt",  # the coverage run's coverprofile: which lines the benchmarks ran
    "steps": "steps.tsv",
    "driver_log": "driver.log",
}


def _steps(text: str) -> list[dict[str, Any]]:
    steps = []
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) != 4:
            continue
        try:
            start, end = float(parts[2]), float(parts[3])
            steps.append({"name": parts[0], "exit_code": int(parts[1]), "seconds": round(max(0.0, end - start), 3),
                          "start": start, "end": end})
        except ValueError:
            continue
    return steps


def boot_id() -> str | None:
    """The kernel's boot id: cells with the same one timed their steps on one clock (/proc/uptime)."""
    return read_or_empty(Path("/proc/sys/kernel/random/boot_id")).strip() or None


def _profile_doc(accounting: Accounting | None, error: str | None) -> dict[str, Any] | None:
    if accounting is None:
        return None if error is None else {
            "iterations": 0, "lines": [], "elsewhere": [], "tiny_unprofiled_per_op": 0.0, "tiny_placed": False,
            "adds_up": None, "note": None, "error": error}
    return {**to_json(accounting), "error": None}


def _module_escapes(text: str, go_files: tuple[str, ...],
                    module: ModuleInfo) -> tuple[list[EscapeSite], dict[tuple[str, int, int], str]]:
    """A module case's escape sites and inlined calls, each package's taken from its own compile only (another
    package's compile reports the bodies it inlined from it, with other verdicts)."""
    sites: list[EscapeSite] = []
    inlined: dict[tuple[str, int, int], str] = {}
    for package, section in package_sections(text):
        own = [name for name in go_files if module.package_of(name) == package]
        sites += parse_escapes(section, own)
        inlined.update(inlined_calls(section, own))
    return sites, inlined


def benchmark_summaries(samples: tuple[BenchSample, ...], exact: dict[tuple[str | None, str], ExactCount],
                        in_module: bool, printed: Mapping[tuple[str | None, str], BenchSample] | None = None
                        ) -> list[BenchmarkSummary]:
    """Every benchmark of the cell: the timed samples' (go test's names, with their medians), then those only
    the exact run has (timings off, or an emulated cell), without samples or ns/op, with go test's own
    (truncated) allocs/op and B/op of that run (printed). A timed name that go test printed with a -N suffix of
    its own (BenchmarkX/len-16 at GOMAXPROCS=1) takes the exact run's name."""
    out = summarize(exact_names(samples, exact, in_module))
    timed = {(s.package if in_module else None, s.name) for s in out}
    # every benchmark go test printed in the exact run, even one the hook could not total (it failed)
    for package, name in dict.fromkeys([*exact, *(printed or {})]):
        if (package if in_module else None, name) in timed:
            continue
        seen = (printed or {}).get((package, name))
        out.append(BenchmarkSummary(name, None, seen.allocs_per_op if seen else None,
                                    seen.bytes_per_op if seen else None, None, (), package))
    return out


def exact_names(samples: tuple[BenchSample, ...], exact: dict[tuple[str | None, str], ExactCount],
                in_module: bool) -> list[BenchSample]:
    """The samples, a name that go test printed with a -N suffix of its own (BenchmarkX/len-16 at GOMAXPROCS=1,
    which reads as BenchmarkX/len at 16 procs) given back its suffix where the exact run has that name."""
    names = {(package if in_module else None, name) for package, name in exact}
    fixed = []
    for sample in samples:
        key = (sample.package if in_module else None, sample.name)
        if key not in names and sample.procs is not None and (key[0], f"{sample.name}-{sample.procs}") in names:
            sample = BenchSample(f"{sample.name}-{sample.procs}", None, sample.iterations, sample.ns_per_op,
                                 sample.bytes_per_op, sample.allocs_per_op, sample.package)
        fixed.append(sample)
    return fixed


def _hook_doc(raw_dir: Path) -> dict[str, Any] | None:
    """Whether the hook went into the cell's build (exact figures and profiles), and why not; None when the
    driver did not get that far (or the outputs predate the hook)."""
    said = read_or_empty(raw_dir / "hook.txt").strip()
    rejected = read_or_empty(raw_dir / "hook-compile.txt").strip()
    if not said and not rejected and not (raw_dir / "exact.txt").exists():
        return None
    if rejected:
        lines = [line for line in rejected.splitlines() if "gomatrix" in line or "testing" in line or "runtime" in line]
        return {"applied": False, "why": "the toolchain's package testing or runtime did not compile with it: "
                                         + (lines[0] if lines else rejected.splitlines()[0])[:300]}
    if (raw_dir / "exact.txt").exists():
        return {"applied": True, "why": None}
    return {"applied": False, "why": (said.splitlines()[-1] if said else "no hook output")[:300]}


def _agrees(count: ExactCount, printed: BenchSample | None) -> bool | None:
    """Whether go test printed the exact totals of the same run as it does (truncated): None when it printed
    no allocs/op for the benchmark."""
    if printed is None or printed.allocs_per_op is None or printed.iterations != count.iterations:
        return None
    return int(printed.allocs_per_op) == count.allocs // count.iterations and \
        (printed.bytes_per_op is None or int(printed.bytes_per_op) == count.bytes // count.iterations)


def _package_files(go_files: tuple[str, ...], module: ModuleInfo) -> dict[str, frozenset[str]]:
    by_package: dict[str, set[str]] = {}
    for name in go_files:
        by_package.setdefault(module.package_of(name), set()).add(name)
    return {package: frozenset(files) for package, files in by_package.items()}


def _shared_name(name: str, exact: dict[tuple[str | None, str], ExactCount], samples: tuple[BenchSample, ...]) -> bool:
    """Two packages of a module have a benchmark of this name."""
    return len({p for p, n in exact if n == name} | {s.package for s in samples if s.name == name}) > 1


def build_cell(cell: Cell, outcome: CellOutcome, settings: BenchSettings, raw_dir: Path,
               run_dir: Path, *, jobs: int | None = None) -> dict[str, Any]:
    """The cell document; benchmarks and escapes are parsed from the raw outputs that exist."""
    version_line = read_or_empty(raw_dir / "go-version.txt").strip() or None
    env = read_or_empty(raw_dir / "go-env.txt").split()
    goarch = env[1] if len(env) >= 2 and env[1] in ("amd64", "arm64") else cell.arch
    goversion = env[2] if len(env) >= 3 and env[2].startswith("go") else None
    status, reason = outcome.status, outcome.reason
    if status == Status.OK and goarch != cell.arch:
        status, reason = Status.FAILED, f"planned {cell.arch} but the toolchain reported GOARCH={goarch}"
    escape_text = read_or_empty(raw_dir / "escape.txt")
    module = cell.case.module
    if module is None:
        escape_sites = parse_escapes(escape_text, cell.case.go_files)
        inlined = inlined_calls(escape_text, cell.case.go_files)
    else:
        escape_sites, inlined = _module_escapes(escape_text, cell.case.go_files, module)
    escapes = [
        {"file": s.file, "line": s.line, "col": s.col, "message": s.message, "subject": s.subject,
         "verdict": s.verdict, "reason": s.reason, **({"package": module.package_of(s.file)} if module else {})}
        for s in escape_sites
    ]
    exact = parse_exact(read_or_empty(raw_dir / "exact.txt"))
    profiles, profile_errors = parse_sites(read_or_empty(raw_dir / "sites.txt"))
    sources = {name: read_or_empty(cell.case.path / name) for name in cell.case.go_files}
    funcs = case_functions(sources)
    benchmarks = []
    accounts: dict[str, Accounting] = {}
    linked_items: list[dict[str, Any]] = []
    bench_output = parse_bench(read_or_empty(raw_dir / "bench.txt"))
    # go test's own output of the exact run: its truncated figures, checked against the exact totals
    printed = {(s.package if module else None, s.name): s for s in exact_names(
        parse_bench(read_or_empty(raw_dir / "exact-bench.txt")).samples, exact, module is not None)}
    package_files = _package_files(cell.case.go_files, module) if module is not None else {}
    for summary in benchmark_summaries(bench_output.samples, exact, module is not None, printed):
        key = (summary.package if module is not None else None, summary.name)
        count = exact.get(key)
        files = package_files.get(summary.package or "") if module is not None else None
        linked = linked_ranges(summary.name, funcs, files) or None
        linked_items += linked or []
        profile = profiles.get(key)
        # a profile is per (package, name); the sites of a cell are keyed by benchmark name alone, so a
        # module's benchmark carries its package in that name where two packages share it
        label = summary.name if module is None or not _shared_name(summary.name, exact, bench_output.samples) \
            else f"{summary.package}.{summary.name}"
        if profile is not None:
            accounts[label] = account(profile, count.allocs_per_op if count is not None else None,
                                      count.iterations if count is not None else None)
        benchmarks.append({
            "name": summary.name,
            "procs": summary.procs,
            "allocs_per_op": summary.allocs_per_op,
            "bytes_per_op": summary.bytes_per_op,
            "ns_per_op": summary.ns_per_op,
            "samples": [
                {"iterations": s.iterations, "ns_per_op": s.ns_per_op, "bytes_per_op": s.bytes_per_op,
                 "allocs_per_op": s.allocs_per_op}
                for s in summary.samples
            ],
            "exact": None if count is None else {
                "iterations": count.iterations, "allocs": count.allocs, "bytes": count.bytes, "ns": count.ns,
                "allocs_per_op": count.allocs_per_op, "bytes_per_op": count.bytes_per_op,
                "go_test_agrees": _agrees(count, printed.get(key))},
            "linked": linked,
            "profile": _profile_doc(accounts.get(label), profile_errors.get(key)),
            **({"package": summary.package} if module is not None and summary.package else {}),
        })
    cover = read_or_empty(raw_dir / "cover.txt")
    executed = parse_coverage(cover, module.module_path if module is not None else "gomatrix.invalid/case") \
        if cover.strip() else None
    lines_run = lines_benchmarks_run(linked_items, executed)
    folded, inlined_bodies = fold_inlined(escape_sites, inlined, funcs)
    sites = to_json(cell_sites(folded, accounts, sources, lines_run, inlined_bodies))
    if module is not None:
        for site in sites:
            site["package"] = module.package_of(site["file"])
        extra_module: dict[str, Any] = {"module": {
            "path": module.module_path, "go": module.go, "toolchain": module.toolchain, "commit": module.commit,
            "packages": list(module.packages), "bench": module.bench, "dependencies": module.dependencies,
            "source_url": module.source_url}}
    else:
        extra_module = {}
    raw = {
        key: str((raw_dir / name).relative_to(run_dir))
        for key, name in RAW_FILES.items()
        if (raw_dir / name).exists()
    }
    image = _image_doc(outcome.image)
    toolchain = None
    if outcome.toolchain is not None:
        toolchain = {"version": outcome.toolchain.version, "source": outcome.toolchain.source,
                     "sha256": outcome.toolchain.sha256}
    extra: dict[str, Any] = dict(extra_module)
    if outcome.sandbox is not None:
        extra["sandbox"] = {"tool": outcome.sandbox.tool, "limits": outcome.sandbox.limits}
    if executed is not None:
        extra["executed"] = {file: [list(span) for span in spans] for file, spans in executed.items()}
    hook = _hook_doc(raw_dir)
    if hook is not None:
        extra["hook"] = hook
    return {
        "schema_version": SCHEMA_VERSION,
        "key": cell.key,
        "case": cell.case.name,
        "planned": {"version": cell.version, "arch": cell.arch},
        "go_version": goversion,
        "go_version_line": version_line,
        "arch": goarch,
        "runner": outcome.runner,
        "emulated": outcome.emulated,
        "strategy": outcome.strategy,
        "image": image,
        "build_image": _image_doc(outcome.build_image),
        "toolchain": toolchain,
        "status": status,
        "reason": reason,
        "settings": {"benchtime": settings.benchtime, "count": settings.count, "jobs": jobs,
                     "cores": os.cpu_count(), "cpu": bench_output.config.get("cpu")},
        "benchmarks": benchmarks,
        "escapes": escapes,
        "sites": sites,
        "timings": {"total_s": outcome.total_s, "started_at": outcome.started_at, "clock": boot_id(),
                    "steps": _steps(read_or_empty(raw_dir / "steps.tsv"))},
        "raw": raw,
        "cache": {"key": None, "hit": False},
        **extra,
    }


def _image_doc(image: ImageInfo | None) -> dict[str, Any] | None:
    if image is None:
        return None
    return {"ref": image.ref, "id": image.id, "digest": image.digest, "architecture": image.architecture}


def write_benchstat(doc: dict[str, Any], raw_dir: Path, run_dir: Path) -> None:
    """raw/<cell>/benchstat.txt: the benchmark output with the cell's configuration lines, ready for
    `benchstat old=... new=...`; allocs/op is declared exact, as benchstat should compare it."""
    bench = raw_dir / "bench.txt"
    if not bench.exists():
        return
    header = [
        f"gomatrix-cell: {doc['key']}",
        f"go: {doc['go_version'] or 'unknown'}",
        f"runner: {doc['runner']}",
        f"strategy: {doc['strategy']}",
        f"emulated: {str(doc['emulated']).lower()}",
        "Unit allocs/op assume=exact",
        "",
    ]
    target = raw_dir / "benchstat.txt"
    target.write_text("\n".join(header) + bench.read_text(encoding="utf-8", errors="replace"), encoding="utf-8")
    doc["raw"]["benchstat"] = str(target.relative_to(run_dir))


def write_cell(doc: dict[str, Any], path: Path) -> None:
    validate(doc, "cell", where=str(path), error_cls=CellFileError,
             fix="This is a bug in gomatrix: the cell it built does not match its schema.")
    write_json_atomic(doc, path)


def read_cell(path: Path) -> dict[str, Any]:
    """Load and validate a cell file; errors name the file and the failing JSON path."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CellFileError(f"cannot read it: {exc.strerror}", where=str(path)) from None
    except json.JSONDecodeError as exc:
        raise CellFileError(f"not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
                            where=str(path), fix="Delete the file and rerun its cell.") from None
    version = doc.get("schema_version") if isinstance(doc, dict) else None
    schema = "cell" if version == SCHEMA_VERSION or version not in OLD_CELL_SCHEMAS else OLD_CELL_SCHEMAS[version]
    if not matches(doc, schema):  # jsonschema where the quick check is not sure, and for the error
        validate(doc, schema, where=str(path), error_cls=CellFileError,
                 fix="Delete or restore the file and rerun its cell; the other cells are untouched.")
    if not isinstance(doc, dict):  # the schema requires an object; this narrows the type
        raise CellFileError("not a JSON object", where=str(path))
    return migrate_cell(doc)


