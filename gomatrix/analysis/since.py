"""What changed since the previous run: versions, arches and cases added or dropped, cells that started
failing or recovered, claim verdicts, what was measured at a line, the compiler's verdicts, allocs/op.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from gomatrix.analysis.evidence import Figures, same_per_run
from gomatrix.core.kinds import Status
from gomatrix.core.values import ALLOCATES_THRESHOLD, allocs_equal, fmt_allocs, snapped_allocs, version_key

REASON_LIMIT = 160


class SinceKind(enum.Enum):
    FIRST_RUN = "first-run"
    NONE = "none"
    NEW_VERSION = "new-version"
    DROPPED_VERSION = "dropped-version"
    NEW_ARCH = "new-arch"
    DROPPED_ARCH = "dropped-arch"
    NEW_CASE = "new-case"
    DROPPED_CASE = "dropped-case"
    NEW_CLAIM = "new-claim"
    DROPPED_CLAIM = "dropped-claim"
    FIRST_PROFILE = "first-profile"  # this run measures allocations per line, the previous one did not
    CELL_FAILING = "cell-failing"
    CELL_RECOVERED = "cell-recovered"
    CLAIM = "claim"  # a claim's verdict in a column
    SITE = "site"  # allocs/op measured at a line
    DIAGNOSTIC = "diagnostic"  # the compiler's verdict at a line
    ALLOCS = "allocs"  # a benchmark's allocs/op


@dataclass(frozen=True)
class SinceChange:
    """One entry of "changes since the previous run": data, rendered by gomatrix.analysis.markdown."""

    kind: SinceKind
    subject: str = ""
    columns: tuple[str, ...] = ()
    before: str = ""
    after: str = ""

    @property
    def is_change(self) -> bool:
        return self.kind not in (SinceKind.FIRST_RUN, SinceKind.NONE, SinceKind.FIRST_PROFILE)


def changes_since(previous: dict[str, Any] | None, current: dict[str, Any]) -> list[SinceChange]:
    """What changed from the previous run's report to this one (a single FIRST_RUN or NONE entry when
    there is nothing to list)."""
    if previous is None:
        return [SinceChange(SinceKind.FIRST_RUN)]
    out: list[SinceChange] = []
    out += _column_changes(previous, current)
    out += _cell_changes(previous, current)
    out += _claim_changes(previous, current)
    out += _site_changes(previous, current)
    out += _allocs_changes(previous, current)
    if _profiled(current) and not _profiled(previous):
        out.append(SinceChange(SinceKind.FIRST_PROFILE))
    return out if any(change.is_change for change in out) else [SinceChange(SinceKind.NONE), *out]


def _profiled(report: dict[str, Any]) -> bool:
    return any(cell["measured"] is not None for case in report["cases"] for site in case.get("sites", [])
               for cell in site["cells"].values())


def _arches_by_version(report: dict[str, Any]) -> dict[str, list[str]]:
    by_version: dict[str, list[str]] = {}
    for column in report["columns"]:
        by_version.setdefault(column["go_version"], []).append(column["arch"])
    return by_version


def _column_changes(previous: dict[str, Any], current: dict[str, Any]) -> list[SinceChange]:
    before, now = _arches_by_version(previous), _arches_by_version(current)
    out = [SinceChange(SinceKind.NEW_VERSION, v, tuple(sorted(now[v])))
           for v in sorted(now.keys() - before.keys(), key=version_key)]
    out += [SinceChange(SinceKind.DROPPED_VERSION, v, tuple(sorted(before[v])))
            for v in sorted(before.keys() - now.keys(), key=version_key)]
    arches_before = {a for arches in before.values() for a in arches}
    arches_now = {a for arches in now.values() for a in arches}
    out += [SinceChange(SinceKind.NEW_ARCH, arch) for arch in sorted(arches_now - arches_before)]
    out += [SinceChange(SinceKind.DROPPED_ARCH, arch) for arch in sorted(arches_before - arches_now)]
    cases_before = {case["name"] for case in previous["cases"]}
    cases_now = {case["name"] for case in current["cases"]}
    out += [SinceChange(SinceKind.NEW_CASE, name) for name in sorted(cases_now - cases_before)]
    out += [SinceChange(SinceKind.DROPPED_CASE, name) for name in sorted(cases_before - cases_now)]
    return out


def _shorten(text: str, limit: int = REASON_LIMIT) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _cell_changes(previous: dict[str, Any], current: dict[str, Any]) -> list[SinceChange]:
    before = {(c["case"], c["column"]): c for c in previous["cells"]}
    failing, recovered = [], []
    for cell in current["cells"]:
        old = before.get((cell["case"], cell["column"]))
        if old is None or (old["status"] == Status.OK) == (cell["status"] == Status.OK):
            continue
        where = f"{cell['case']} on {cell['column']}"
        if cell["status"] != Status.OK:
            failing.append(SinceChange(SinceKind.CELL_FAILING, where, (cell["column"],), cell["status"],
                                       _shorten(cell["reason"])))
        else:
            recovered.append(SinceChange(SinceKind.CELL_RECOVERED, where, (cell["column"],), old["status"], Status.OK))
    return failing + recovered


def _order(report: dict[str, Any]) -> dict[str, int]:
    return {column["id"]: index for index, column in enumerate(report["columns"])}


def _grouped(kind: SinceKind, entries: Iterable[tuple[str, str, str, str]], order: dict[str, int]) -> list[SinceChange]:
    """(subject, column id, before, after) -> one entry per subject and change, listing its columns."""
    groups: dict[tuple[str, str, str], list[str]] = {}
    for subject, column, old, new in entries:
        groups.setdefault((subject, old, new), []).append(column)
    return [SinceChange(kind, subject, tuple(sorted(columns, key=lambda c: order.get(c, len(order)))), old, new)
            for (subject, old, new), columns in groups.items()]


def _cases(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {case["name"]: case for case in report["cases"]}


def _claim_changes(previous: dict[str, Any], current: dict[str, Any]) -> list[SinceChange]:
    before = _cases(previous)
    entries = []
    added: list[SinceChange] = []
    for case in current["cases"]:
        if case["name"] not in before:
            continue  # a new case: its claims come with it
        old_claims = {claim["id"]: claim for claim in before[case["name"]].get("claims", [])}
        new_ids = {claim["id"] for claim in case["claims"]}
        added += [SinceChange(SinceKind.DROPPED_CLAIM, claim_id) for claim_id in sorted(old_claims.keys() - new_ids)]
        for claim in case["claims"]:
            old = old_claims.get(claim["id"])
            if old is None:
                added.append(SinceChange(SinceKind.NEW_CLAIM, claim["id"]))
                continue
            for column, value in claim["results"].items():
                old_value = old["results"].get(column)
                # None is "no result" (the cell did not run): the cell entries say that.
                if isinstance(value, bool) and isinstance(old_value, bool) and value != old_value:
                    entries.append((claim["id"], column, _holds(old_value), _holds(value)))
    return added + _grouped(SinceKind.CLAIM, entries, _order(current))


def _holds(value: bool) -> str:
    return "holds" if value else "fails"


Measurements = dict[str, Figures]  # benchmark -> allocs/op (and B/op, the profiled run's ops) measured at a line


_NOTHING = Figures(0.0, 0.0, None, 0.0)  # a benchmark that allocated nothing measurable at a line

LineVerdicts = dict[tuple[str, int], dict[str, tuple[str, Measurements | None]]]


def _lines(report: dict[str, Any], case: str) -> tuple[LineVerdicts, set[str]]:
    """(file, line) -> column -> (the compiler's verdict there, allocs/op measured there per benchmark, or
    None without a profile), and the columns whose cell was profiled (a line without a site there
    allocated nothing measurable).

    Measurements below ALLOCATES_THRESHOLD are noise, not allocations (as in the report's own changes)."""
    out: LineVerdicts = {}
    profiled: set[str] = set()
    found = _cases(report).get(case, {})
    for site in found.get("sites", []):
        for column, cell in site["cells"].items():
            measured = cell["measured"]
            if measured is not None:
                profiled.add(column)
            verdict, sums = out.setdefault((site["file"], site["line"]), {}).get(column, ("none", None))
            if cell["compiler"] == "heap" or verdict == "none":
                verdict = cell["compiler"]
            if measured is not None:
                sums = dict(sums or {})
                for m in measured:
                    if m["allocs_per_op"] >= ALLOCATES_THRESHOLD:
                        was = sums.get(m["benchmark"], Figures(0.0, 0.0, m.get("iterations"), 0.0))
                        allocs = (was.exact_allocs_per_op or 0.0) + m["allocs_per_op"]
                        sums[m["benchmark"]] = Figures(allocs, (was.bytes_per_op or 0.0) + m["bytes_per_op"],
                                                       m.get("iterations"), allocs)
            out[(site["file"], site["line"])][column] = (verdict, sums)
    # A case with no site in a column: its benchmarks say whether the cell was profiled.
    for bench in found.get("benchmarks", []):
        profiled |= {column for column, result in bench["results"].items()
                     if result is not None and result.get("profile_adds_up") is not None}
    return out, profiled


def _site_changes(previous: dict[str, Any], current: dict[str, Any]) -> list[SinceChange]:
    """Per line of a case, in columns ok in both runs: the compiler's verdict, and the allocs/op each
    benchmark allocates there when both runs measured it (a line a profiled run has no site at allocated
    nothing)."""
    ok_before = {(c["case"], c["column"]) for c in previous["cells"] if c["status"] == Status.OK}
    ok_now = {(c["case"], c["column"]) for c in current["cells"] if c["status"] == Status.OK}
    verdicts, measured = [], []
    for case in current["cases"]:
        name = case["name"]
        (before, profiled_before), (now, profiled_now) = _lines(previous, name), _lines(current, name)
        columns = [c["id"] for c in current["columns"] if (name, c["id"]) in ok_before and (name, c["id"]) in ok_now]
        for key in sorted(before.keys() | now.keys()):
            label = f"{name}/{key[0]}:{key[1]}"
            for column in columns:
                old = before.get(key, {}).get(column, ("none", {} if column in profiled_before else None))
                new = now.get(key, {}).get(column, ("none", {} if column in profiled_now else None))
                if old[0] != new[0]:
                    verdicts.append((label, column, old[0], new[0]))
                if old[1] is None or new[1] is None:
                    continue
                for bench in sorted(old[1].keys() | new[1].keys()):
                    was, now_value = old[1].get(bench, _NOTHING), new[1].get(bench, _NOTHING)
                    if not allocs_equal(was.allocs_per_op or 0.0, now_value.allocs_per_op or 0.0) and \
                            not same_per_run(was, now_value):
                        measured.append((f"{label} ({bench})", column,
                                         fmt_allocs(snapped_allocs(was.allocs_per_op or 0.0)),
                                         fmt_allocs(snapped_allocs(now_value.allocs_per_op or 0.0))))
    order = _order(current)
    return _grouped(SinceKind.SITE, measured, order) + _grouped(SinceKind.DIAGNOSTIC, verdicts, order)


def _allocs_changes(previous: dict[str, Any], current: dict[str, Any]) -> list[SinceChange]:
    """A benchmark's allocs/op, matched by package and name: a module's packages may have benchmarks of the
    same name (the subject then names the package)."""
    before = _cases(previous)
    entries = []
    for case in current["cases"]:
        old_benches = {(b.get("package"), b["name"]): b for b in before.get(case["name"], {}).get("benchmarks", [])}
        for bench in case["benchmarks"]:
            package = bench.get("package")
            old = old_benches.get((package, bench["name"]))
            if old is None:
                continue
            subject = f"{case['name']}/{bench['name']}" + (f" ({package})" if package else "")
            for column, result in bench["results"].items():
                old_result = old["results"].get(column) or {}
                exact_both = old_result.get("exact_allocs_per_op") is not None and \
                    result.get("exact_allocs_per_op") is not None
                # Compare like with like: exact counts when both runs have them, else go test's figure.
                key = "exact_allocs_per_op" if exact_both else "allocs_per_op"
                old_value, value = (snapped_allocs(r[key], r.get("exact_iterations") if exact_both else None)
                                    if r.get(key) is not None else None for r in (old_result, result))
                # the same allocations per run over another number of ops: no change (evidence.same_per_run)
                if old_value is not None and value is not None and not allocs_equal(old_value, value) and \
                        not (exact_both and same_per_run(Figures.of(old_result), Figures.of(result))):
                    entries.append((subject, column, fmt_allocs(snapped_allocs(old_value)),
                                    fmt_allocs(snapped_allocs(value))))
    return _grouped(SinceKind.ALLOCS, entries, _order(current))


