"""The report document as GitHub-flavoured markdown: prose made last, from the evidence.

The first screen answers "does the document still hold?": one sentence per claim with where it flips
and why, in the compiler's and the profile's words, then the claims by Go version (split by arch only
where the arches disagree) and the environment. Bulky tables follow in <details>.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tabulate import tabulate

from gomatrix.analysis.evidence import Agreement, ChangeKind, Evidence
from gomatrix.core.kinds import Status, status_counts
from gomatrix.core.values import (
    describe_versions,
    fmt_allocs,
    fmt_bytes,
    format_duration,
    md_code,
    md_text,
    snapped_allocs,
    version_key,
)
from gomatrix.plan.cases import source_link

Doc = Mapping[str, Any]


def _versions(report: Doc) -> list[str]:
    return sorted({c["go_version"] for c in report["columns"]}, key=version_key)


def _arches(report: Doc) -> list[str]:
    return sorted({c["arch"] for c in report["columns"]})


def _allocs_phrase(allocs: float | None, bytes_per_op: float | None) -> str:
    if allocs is None:
        return "no allocation profile"
    if allocs < 0.05:
        return "nothing measured"
    unit = "alloc/op" if fmt_allocs(snapped_allocs(allocs)) == "1" else "allocs/op"
    per = bytes_per_op / allocs if bytes_per_op and allocs else None
    size = f" of {fmt_bytes(per)}" if per is not None and abs(allocs - round(allocs)) < 0.02 and round(allocs) == 1 \
        else (f" ({fmt_bytes(bytes_per_op)}/op)" if bytes_per_op else "")
    return f"{fmt_allocs(snapped_allocs(allocs))} {unit}{size} measured"


def _compiler_words(why: Doc) -> str:
    if why["compiler"] == "none":
        return "no diagnostic"
    reason = f" ({md_text(why['reason'])})" if why.get("reason") else ""
    return f"{md_code(why['message'])}{reason}"


def why_text(why: Doc | None, benchmark: str = "") -> str:
    """`moved to heap: arr` (too large for stack), 1 alloc/op of 10 MiB measured at array_test.go:9."""
    if why is None:
        return "no result"
    lead = ""
    if why.get("benchmark_allocs") is not None:
        count = fmt_allocs(snapped_allocs(why["benchmark_allocs"]))
        unit = "alloc/op" if count == "1" else "allocs/op"
        lead = f"{md_code(benchmark)} makes {count} {unit}" if benchmark else f"{count} {unit} in all"
        if not why["file"]:
            return lead
        lead += "; "
    where = md_code(f"{why['file']}:{why['line']}")
    measured = _allocs_phrase(why["allocs_per_op"], why["bytes_per_op"])
    return f"{lead}{_compiler_words(why)}, {measured} at {where}"


def _holds_word(value: bool) -> str:
    return "holds" if value else "fails"


def _history_text(runs: Sequence[Doc]) -> str:
    return _runs_words(runs, lambda value: _holds_word(bool(value)))


def _documented_text(claim: Doc, *, full: bool = False) -> str:
    agreement = Agreement(claim["agreement"])
    if agreement == Agreement.UNDATED:
        return ""
    parts = []
    if claim["since"]:
        parts.append(f"from Go {claim['since']}")
    if claim["until"]:
        parts.append(f"up to Go {claim['until']}")
    documented = " ".join(parts)
    source = f" ({md_text(claim['documented'])})" if full and claim.get("documented") else ""
    holds = {arch: versions for arch, versions in claim["holds_in"].items()}
    first = sorted({v[0] for v in holds.values() if v}, key=version_key)
    if agreement == Agreement.AS_DOCUMENTED:
        return f" **As documented**{source}: {documented}." if full else f" **As documented** ({documented})."
    if agreement == Agreement.EARLIER and first:
        return f" **Earlier than documented**{source}: documented {documented}, holds from {first[0]} already."
    if agreement == Agreement.LATER and first:
        return f" **Later than documented**{source}: documented {documented}, holds only from {first[0]}."
    return f" **Not as documented**{source}: documented {documented}."


def _claim_parts(report: Doc, claim: Doc, *, full: bool) -> list[str]:
    """Per group of arches with the same history: the history and why (at the flip, or in the newest
    version when it never flips)."""
    multi_arch = len(_arches(report)) > 1
    groups = claim["history"]
    bench = claim["subject"] if claim["kind"] == "benchmark" and full else ""
    texts = []
    for group in groups:
        arches = f" ({', '.join(group['arches'])})" if multi_arch and len(groups) > 1 else ""
        flips = [f for f in claim["flips"] if f["arches"] == group["arches"]]
        if len(flips) == 1:
            texts.append(f"{_history_text(group['runs'])}{arches}: {why_text(flips[0]['why'], bench)}")
        elif flips:
            whys = "; ".join(f"at {flip['after']}: {why_text(flip['why'], bench)}" for flip in flips)
            texts.append(f"{_history_text(group['runs'])}{arches} — {whys}")
        else:
            last = group["runs"][-1]
            column = next((c["id"] for c in report["columns"]
                           if c["go_version"] == last["last"] and c["arch"] == group["arches"][0]), None)
            why = claim["why"].get(column) if column else None
            texts.append(f"{_history_text(group['runs'])}{arches}: {why_text(why, bench)}")
    return texts or ["no result in any version"]


def _steady(claim: Doc) -> bool | None:
    """True/False when the claim holds/fails in every version on every arch, as documented or undated."""
    groups = claim["history"]
    if len(groups) != 1 or len(groups[0]["runs"]) != 1:
        return None
    if Agreement(claim["agreement"]) not in (Agreement.UNDATED, Agreement.AS_DOCUMENTED):
        return None
    return bool(groups[0]["runs"][0]["value"])


def claim_sentences(report: Doc, *, full: bool = False) -> list[str]:
    """One bullet per claim: its history and why. The first screen (full=False) gives claims that never
    change one line each for those that hold and those that fail; full gives every claim its sentence."""
    out = []
    steady: dict[bool, list[str]] = {True: [], False: []}
    for case in report["cases"]:
        for claim in case["claims"]:
            state = _steady(claim)
            if not full and state is not None:
                steady[state].append(md_code(claim["id"]))
                continue
            text = f" *{md_text(claim['text'])}*" if full else ""
            out.append(f"- {md_code(claim['id'])}{text}: {'; '.join(_claim_parts(report, claim, full=full))}."
                       f"{_documented_text(claim, full=full)}")
    if steady[True]:
        out.append(f"- **Hold in every version**: {', '.join(steady[True])}.")
    if steady[False]:
        out.append(f"- **Fail in every version**: {', '.join(steady[False])} (why: *Claims in detail*).")
    return out


def claims_table(report: Doc) -> str:
    """Claims x Go versions; a version whose arches disagree shows each arch's mark."""
    versions = _versions(report)
    rows = []
    for case in report["cases"]:
        for claim in case["claims"]:
            row = [f"{md_code(claim['id'])} {md_text(claim['text'])}"]
            for version in versions:
                marks = {c["arch"]: claim["results"].get(c["id"]) for c in report["columns"]
                         if c["go_version"] == version}
                values = set(marks.values())
                if len(values) == 1:
                    row.append(_mark(values.pop()))
                else:
                    row.append(" ".join(f"{_mark(v)} {arch}" for arch, v in sorted(marks.items())))
            rows.append(row)
    return str(tabulate(rows, headers=["claim", *versions], tablefmt="github"))


def _mark(value: bool | None) -> str:
    return "–" if value is None else ("✅" if value else "❌")


def environment_text(report: Doc) -> list[str]:
    env = report.get("environment") or {}

    def join(key: str) -> str:
        return ", ".join(md_text(v) for v in env.get(key, [])) or "unknown"
    emulated = sorted({c["arch"] for c in report["columns"] if c["emulated"]})
    lines = [
        f"- **CPU**: {join('cpus')} · **cores**: {join('cores')} · **jobs**: {join('jobs')} · "
        f"**runner**: {join('runners')}",
        f"- **GOMAXPROCS**: {join('gomaxprocs')} for `go test -bench`, 1 for the exact counts and allocation "
        f"profiles · **benchtime**: {join('benchtime')} · **count**: {join('count')} · "
        f"**gomatrix** {md_text(env.get('gomatrix_version', '?'))}",
    ]
    if emulated:
        lines.append(f"- † {', '.join(emulated)} ran under QEMU user emulation: allocation figures are exact, "
                     "ns/op measures the emulator, not a CPU.")
    timed = env.get("timed_cells")
    if timed is not None and timed < len(report["cells"]):
        lines.append(f"- {timed} of {len(report['cells'])} cells took timed samples (bench.timings); the others "
                     "have exact allocation figures and no ns/op.")
    for cell in env.get("without_exact", []):
        lines.append(f"- {md_code(cell['key'])} has go test's truncated figures only (marked ≥): "
                     f"{md_text(cell['why'])}")
    loaded = [c for c in report["cells"] if c.get("under_load")]
    if loaded:
        lines.append(f"- ‡ {len(loaded)} native cell(s) ran their benchmarks while other cells of the run were "
                     "working (jobs > 1): their ns/op was taken under load and is not compared.")
    return lines


def _change_value(kind: ChangeKind, value: Any) -> str:
    if kind == ChangeKind.SITE_ALLOCATIONS:
        if not value:
            return "nothing measured"
        return ", ".join(f"{fmt_allocs(allocs)} ({md_code(name)})" for name, allocs in value)
    if kind == ChangeKind.SITE_DIAGNOSTIC:
        verdict, message = value
        return "no diagnostic" if verdict == "none" else md_code(message)
    if kind == ChangeKind.BENCHMARK_ALLOCS:
        count = fmt_allocs(snapped_allocs(value))
        return f"{count} alloc/op" if count == "1" else f"{count} allocs/op"
    return f"{fmt_bytes(value)}/op"


def _runs_text(kind: ChangeKind, runs: Sequence[Doc]) -> str:
    return _runs_words(runs, lambda value: _change_value(kind, value))


def _runs_words(runs: Sequence[Doc], word: Callable[[Any], str]) -> str:
    """'fails up to go1.25.5, holds from go1.26.6' style text of runs of equal values over versions."""
    parts = []
    for index, run in enumerate(runs):
        value = word(run["value"])
        if len(runs) == 1:
            parts.append(f"{value} in every version")
        elif index == 0:
            parts.append(f"{value} up to {run['last']}")
        elif index == len(runs) - 1:
            parts.append(f"{value} from {run['first']}")
        elif run["first"] == run["last"]:
            parts.append(f"{value} only on {run['first']}")
        else:
            parts.append(f"{value} in {run['first']}–{run['last']}")
    return ", ".join(parts)


def _site_id(site_id: str, source_url: str | None) -> str:
    """file:line:column in code, linked to the line when the module case has a source_url."""
    if not source_url:
        return md_code(site_id)
    path, _sep, rest = site_id.partition(":")
    line = rest.partition(":")[0]
    return f"[{md_code(site_id)}]({source_link(source_url, path, int(line))})" if line.isdigit() else md_code(site_id)


def _source_urls(report: Doc) -> dict[str, str | None]:
    """Module cases' link templates by case name."""
    return {case["name"]: (case.get("module") or {}).get("source_url") for case in report["cases"]}


def _site_label(change: Doc, source_url: str | None = None) -> str:
    return f"{_site_id(change['subject'], source_url)} {md_code(change['source'])}"


def _case_words(change: Doc) -> str:
    """The case a change belongs to, with its package for module cases."""
    package = change.get("package")
    return md_text(change["case"]) + (f" {md_code(package)}" if package else "")


def change_lines(report: Doc) -> list[str]:
    """One bullet per change; sites of one file whose change reads the same share a bullet."""
    out = []
    urls = _source_urls(report)
    merged: list[tuple[Doc, list[Doc]]] = []
    # module cases: package by package, what was measured before what the compiler alone said, so that a
    # capped list keeps the measurements (stable: case directories keep their order)
    changes = sorted(report["changes"], key=lambda c: (c["case"], c.get("package") or "",
                                                       c["kind"] == ChangeKind.SITE_DIAGNOSTIC.value)) \
        if any(c.get("package") for c in report["changes"]) else report["changes"]
    for change in changes:
        previous = merged[-1][0] if merged else None
        same = previous is not None and previous["kind"] == change["kind"] == ChangeKind.SITE_DIAGNOSTIC.value \
            and previous["case"] == change["case"] and previous.get("package") == change.get("package") \
            and previous["runs"] == change["runs"] \
            and previous["arches"] == change["arches"] and previous["at"] == change["at"] \
            and previous["measured"] == change["measured"] \
            and previous["subject"].split(":")[0] == change["subject"].split(":")[0]
        if same:
            merged[-1][1].append(change)
        else:
            merged.append((change, [change]))
    for change, group in merged:
        kind = ChangeKind(change["kind"])
        arches = f" ({', '.join(change['arches'])})"
        case = _case_words(change)
        url = urls.get(change["case"])
        if kind == ChangeKind.SITE_ALLOCATIONS:
            words = {True: "; `-m`'s verdict there did not change", False: "; `-m`'s verdict changed with it",
                     None: "; `-m`'s verdict changed at some of these steps"}[change["diagnostic_unchanged"]]
            out.append(f"- {case}, **allocations** at {_site_label(change, url)}: "
                       f"{_runs_text(kind, change['runs'])}{words}{arches}")
        elif kind == ChangeKind.SITE_DIAGNOSTIC:
            sites = ", ".join(_site_label(c, url) for c in group)
            plural = "s" if len(group) > 1 else ""
            if change["measured"]:
                out.append(f"- {case}, diagnostic{plural} at {sites}: {_runs_text(kind, change['runs'])}; "
                           f"**allocations unchanged** at {', '.join(change['at'])}{arches}")
            else:
                out.append(f"- {case}, diagnostic{plural} at {sites}: {_runs_text(kind, change['runs'])} "
                           f"(not measured: no benchmark is known to run {'these lines' if plural else 'this line'})"
                           f"{arches}")
        elif kind == ChangeKind.BENCHMARK_ALLOCS:
            words = "; **`-m` output for its lines unchanged**" if change["diagnostic_unchanged"] else ""
            out.append(f"- {case}, {md_code(change['subject'])}: "
                       f"{_runs_text(kind, change['runs'])}{words}{arches}")
        else:
            out.append(f"- {case}, {md_code(change['subject'])}: "
                       f"{_runs_text(kind, change['runs'])}{arches}")
    return out or ["- Nothing: every allocation measured and every diagnostic is the same in every version."]


_EVIDENCE_WORDS = {
    Evidence.SAYS_STACK_ALLOCATES: "compiler says it does not escape, yet it allocates",
    Evidence.SAYS_HEAP_NOTHING: "compiler says heap, nothing measured",
    Evidence.SILENT_ALLOCATES: "no diagnostic, yet it allocates",
}


def disagreement_lines(report: Doc) -> list[str]:
    out = []
    for item in report["disagreements"]:
        evidence = Evidence(item["evidence"])
        when = describe_versions(item["versions"], item["all_versions"])
        spreads = [(f"{fmt_allocs(snapped_allocs((m['low'] + m['high']) / 2))}" if abs(m["low"] - m["high"]) < 0.02 else
                    f"{fmt_allocs(m['low'])}–{fmt_allocs(m['high'])}") + f" by {md_code(m['benchmark'])}"
                   for m in item["measured"]]
        said = f"{md_code(item['message'])}" if item["message"] else "nothing"
        measured = f"allocs/op measured there: {', '.join(spreads)}" if spreads else "nothing measured there"
        out.append(f"- **{_EVIDENCE_WORDS[evidence]}**: {md_text(item['case'])}, {md_code(item['site'])} "
                   f"{md_code(item['source'])} {md_text(when)} ({', '.join(item['arches'])}): the compiler said "
                   f"{said}; {measured}.")
    return out or ["- Nowhere: at every site the compiler's words agree with what was measured."]


def _bench_cell(result: Doc | None, status: str) -> str:
    if result is None:
        return _no_result(status)
    exact = result.get("exact_allocs_per_op")
    exact_bytes = result.get("exact_bytes_per_op")
    if exact is not None:
        allocs_text = f"**{fmt_allocs(exact)}** allocs"
    elif result.get("allocs_per_op") is not None:  # go test's truncated figure: at least this, below one more
        allocs_text = f"≥{fmt_allocs(result['allocs_per_op'])} allocs"
    else:
        allocs_text = "? allocs"
    if exact_bytes is not None:
        bytes_text = fmt_bytes(exact_bytes)
    else:
        bytes_text = "≥" + fmt_bytes(result["bytes_per_op"]) if result["bytes_per_op"] is not None else "?"
    flag = " ⚠" if result.get("profile_adds_up") is False else ""
    if result["ns_per_op"] is None:  # no timed samples (bench.timings)
        return f"{allocs_text}{flag} · {bytes_text}"
    ns_text = format_duration(result["ns_per_op"])
    if result["emulated"]:
        ns_text += " †"
    elif result.get("under_load"):
        ns_text += " ‡"
    elif result.get("ns_range") and result["samples"] > 1:
        low, high = result["ns_range"]
        ns_text += f" [{format_duration(low)}–{format_duration(high)}]"
    versus = result.get("ns_vs_previous")
    if versus:
        ns_text += f" {_delta_text(versus['delta_pct'])}" if versus["significant"] else " ~"
    return f"{allocs_text}{flag} · {bytes_text} · {ns_text}"


def _no_result(status: str) -> str:
    """A table cell without a result: the cell's status says why, or "–" when the cell ran fine."""
    return status if status != Status.OK else "–"


def _delta_text(delta_pct: float) -> str:
    if delta_pct >= 900:
        return f"×{1 + delta_pct / 100:.3g}".replace("e+0", "e").replace("e+", "e")
    return f"{delta_pct:+.1f}%"


Statuses = Mapping[tuple[str, str], str]


def _statuses(report: Doc) -> Statuses:
    """(case, column) -> the status of its (first) cell; a pair without a cell is "not run"."""
    out: dict[tuple[str, str], str] = {}
    for cell in report["cells"]:
        out.setdefault((cell["case"], cell["column"]), str(cell["status"]))
    return out


def _header(report: Doc) -> list[str]:
    return [f"{c['go_version']} {c['arch']}" + (" †" if c["emulated"] else "") for c in report["columns"]]


def _table(report: Doc, statuses: Statuses, case: Doc, rows_of: Sequence[Doc], label: Callable[[Doc], str],
           cell: Callable[[Doc, str, str], str]) -> str:
    rows = [[label(item), *[cell(item, col["id"], statuses.get((case["name"], col["id"]), "not run"))
                            for col in report["columns"]]] for item in rows_of]
    return compact_table(["", *_header(report)], rows)


def compact_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub table without padding: a long cell in one row does not widen every other row (tabulate pads
    every column to its widest cell)."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)


def _site_cell(site: Doc, col: str, status: str) -> str:
    cell = site["cells"].get(col)
    if cell is None:
        return _no_result(status)
    evidence = Evidence(cell["evidence"])
    said = {"heap": "heap", "stack": "stack", "none": "silent"}[cell["compiler"]]
    allocs = [m for m in cell["measured"] or [] if m["allocs_per_op"] >= 0.05]
    if cell["measured"] is None:
        measured = "no profile"
    elif evidence == Evidence.NOT_RUN:
        measured = "–"
    elif not allocs:
        measured = "0/op"
    elif len(allocs) == 1:
        measured = f"{fmt_allocs(snapped_allocs(allocs[0]['allocs_per_op']))}/op"
    elif len(allocs) <= 3:  # one figure per benchmark that runs the line
        measured = ", ".join(f"{fmt_allocs(snapped_allocs(m['allocs_per_op']))}/op "
                             f"({md_text(m['benchmark'].removeprefix('Benchmark'))})" for m in allocs)
    else:  # many benchmarks run it: the range (report.json has each)
        values = sorted(snapped_allocs(m["allocs_per_op"]) for m in allocs)
        spread = fmt_allocs(values[0]) if values[0] == values[-1] else \
            f"{fmt_allocs(values[0])}–{fmt_allocs(values[-1])}"
        measured = f"{spread}/op in {len(allocs)} benchmarks"
    mark = "⚠️ " if evidence.misleading else ""
    # The verdict names what -m said, except where nothing was measured to set it against.
    words = f" · -m: {said}" if evidence in (Evidence.NOT_RUN, Evidence.NO_PROFILE) else ""
    return f"{mark}{md_text(_EVIDENCE_CELL.get(evidence, evidence.value))}{words}" + \
        (f" · {measured}" if measured != "–" else "")


# Where the stored value says more than the tool knows: it links benchmarks to lines by the functions they call
# by name, so a line outside them may still run.
_EVIDENCE_CELL = {Evidence.NOT_RUN: "not measured: no benchmark is known to run this line"}


def details(summary: str, body: list[str]) -> list[str]:
    return ["<details>", f"<summary>{summary}</summary>", "", *body, "", "</details>", ""]


def render_markdown(report: Doc, *, link_prefix: str = "") -> str:
    """The whole report; link_prefix goes before relative links (plots) when the markdown is placed
    elsewhere than the run directory (reports/latest.md)."""
    return render_markdowns(report, [link_prefix])[0]


@dataclass(frozen=True)
class _Link:
    """A markdown image line whose target is relative to where the markdown is placed."""

    text: str
    target: str


def render_markdowns(report: Doc, link_prefixes: Sequence[str]) -> list[str]:
    """render_markdown for each link prefix, the sections made once."""
    statuses = _statuses(report)
    sections: list[Sequence[str | _Link]] = [
        _title_and_tally(report),
        _do_the_claims_hold(report),
        _between_versions(report),
        _budgets(report),
        _measured_on(report),
        _since_previous(report),
        _what_changed(report),
        _where_the_compiler_misleads(report),
        _claims_in_detail(report),
        *(_case_section(report, statuses, case) for case in report["cases"]),
        _cells(report),
    ]
    lines = [line for section in sections for line in section]
    return ["\n".join(line if isinstance(line, str) else f"![{line.text}]({prefix}{line.target})" for line in lines)
            for prefix in link_prefixes]


# Each section below is a list of lines that ends with the blank line separating it from the next;
# a section with nothing to say is empty, so its heading does not stand alone.


def _has_claims(report: Doc) -> bool:
    return any(case["claims"] for case in report["cases"])


def _title_and_tally(report: Doc) -> list[str]:
    """The title, then how many cells ended how, over which Go versions and arches: what the run covers."""
    cells = report["cells"]
    statuses = status_counts(cells)
    return [f"# {md_text(report['title'])}", "",
            f"Generated {report['generated_at']} · {len(cells)} cells: "
            + ", ".join(f"{n} {s}" for s, n in sorted(statuses.items()) if n)
            + f" · Go {', '.join(_versions(report))} · {', '.join(_arches(report))}",
            ""]


def _do_the_claims_hold(report: Doc) -> list[str]:
    """The first screen: a sentence per claim, then the claims by Go version."""
    if not _has_claims(report):
        return []
    return ["## Do the claims still hold?", "",
            *claim_sentences(report),
            "", claims_table(report), "",
            "Judged by what was measured at the claim's line (every allocation profiled) and by exact "
            "allocs/op; the compiler's `-m=2` words beside them.", ""]


FIRST_SCREEN_STEPS = 25  # benchmark changes listed on the first screen; the rest are counted


def _count(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _step_value(kind: ChangeKind, value: Any, exact: bool) -> str:
    text = _change_value(kind, value)
    return text if exact else f"≥{text}"


def _between_versions(report: Doc) -> list[str]:
    """The first screen of a report without claims (a module): which benchmarks' exact allocs/op or B/op changed
    between Go versions, with the sites whose measured allocations changed at that step and what -m said there;
    then the counts."""
    view = report.get("overview")
    if not view or (_has_claims(report) and not view["steps"]):
        return []
    out = ["## What changed between Go versions", "",
           f"{_count(view['benchmarks'], 'benchmark')}, {_count(view['sites'], 'site')} "
           f"({view['allocating_sites']:,} allocate in some cell): **{view['changed_benchmarks']:,} changed** "
           f"allocs/op or B/op between versions, {view['unchanged_benchmarks']:,} unchanged.", ""]
    # Fractions of an allocation per op are allocations made once in many ops (a growing buffer, a pool
    # refilled after a collection): listed below, counted here
    steps = [s for s in view["steps"] if _whole_step(s)]
    minor = len(view["steps"]) - len(steps)
    if minor:
        out += [f"{_count(minor, 'more change')} of less than half an allocation or 16 B per op (allocations made "
                "once in many ops) are listed under *What changed across versions*.", ""]
    out += _per_run(view.get("per_run") or [])
    urls = _source_urls(report)
    current: tuple[str, str | None] | None = None
    # a benchmark's allocs/op and B/op that changed at the same step share one bullet and its sites
    merged: list[list[Doc]] = []
    for step in steps:
        key = (step["case"], step["package"], step["benchmark"], step["after"]["first"], tuple(step["arches"]))
        last = merged[-1][0] if merged else None
        if last is not None and (last["case"], last["package"], last["benchmark"], last["after"]["first"],
                                 tuple(last["arches"])) == key:
            merged[-1].append(step)
        else:
            merged.append([step])
    for group in merged[:FIRST_SCREEN_STEPS]:
        step = group[0]
        if (step["case"], step["package"]) != current:
            current = (step["case"], step["package"])
            out.append(f"- {md_code(step['case'])}" + (f", package {md_code(step['package'])}" if step["package"]
                                                         else "") + ":")
        figures = "; ".join(f"**{_step_value(ChangeKind(s['kind']), s['before']['value'], s['exact'])} → "
                            f"{_step_value(ChangeKind(s['kind']), s['after']['value'], s['exact'])}**" for s in group)
        before, after = step["before"], step["after"]
        out.append(f"  - {md_code(step['benchmark'])}: {figures} from {after['first']} (was so "
                   f"{'on' if before['first'] == before['last'] else 'up to'} {before['last']}; "
                   f"{', '.join(step['arches'])})")
        sites: list[Doc] = next((s["sites"] for s in group if s["sites"]), [])
        for site in sites[:3]:
            words = _said(site["compiler_before"], site["message_before"])
            now = _said(site["compiler_after"], site["message_after"])
            said = f"-m: {words}" if words == now else f"-m: {words} → {now}"
            called = f", inside {', '.join(md_code(c) for c in site['callees'])}" if site["callees"] else ""
            out.append(f"    - {_site_id(site['site'], urls.get(step['case']))} {md_code(site['source'])}: "
                       f"{_site_allocs(site['before'])} → {_site_allocs(site['after'])} allocs/op measured there"
                       f"{called}; {said}")
        if len(sites) > 3:
            out.append(f"    - and {len(sites) - 3} more sites")
        if not sites and any(ChangeKind(s["kind"]) == ChangeKind.BENCHMARK_ALLOCS for s in group):
            out.append("    - no single line's measured allocations changed with it")
    if len(merged) > FIRST_SCREEN_STEPS:
        out.append(f"- … and {len(merged) - FIRST_SCREEN_STEPS:,} more: *What changed across versions* "
                   "below, and report.json, have every one.")
    if not view["steps"]:
        out.append("No benchmark's exact allocs/op or B/op changed between versions.")
    return [*out, ""]


def _per_run(steps: list[Doc]) -> list[str]:
    """Benchmarks counted as unchanged although their allocs/op differ: each exact run made the same
    allocations, over other numbers of ops."""
    if not steps:
        return []
    names = sorted({(s["case"], s["package"], s["benchmark"]) for s in steps})
    # the example: the widest apart in allocs/op
    first = max(steps, key=lambda s: abs(float(s["allocs_per_op_after"]) - float(s["allocs_per_op_before"])))
    return [f"Unchanged although their allocs/op or B/op differ between versions: {_count(len(names), 'benchmark')} "
            "whose exact runs made the same allocations per run (once per run, not per op) over other numbers of "
            f"ops, e.g. {md_code(first['benchmark'])} on {first['arch']}: {first['allocs_per_run']:,.0f} "
            f"allocations and {fmt_bytes(first['bytes_per_run'])} in each run, over {first['ops_before']:,} ops on "
            f"{first['before']} ({fmt_allocs(first['allocs_per_op_before'])} allocs/op) and {first['ops_after']:,} "
            f"on {first['after']} ({fmt_allocs(first['allocs_per_op_after'])} allocs/op). report.json lists "
            "every one under `overview.per_run`.", ""]


def _whole_step(step: Doc) -> bool:
    before, after = float(step["before"]["value"]), float(step["after"]["value"])
    if ChangeKind(step["kind"]) == ChangeKind.BENCHMARK_ALLOCS:
        return abs(after - before) >= 0.5
    return abs(after - before) >= 16 and abs(after - before) >= 0.05 * max(before, after)


def _said(compiler: str, message: str) -> str:
    return md_code(message) if message else {"none": "nothing", "heap": "heap", "stack": "stack"}[compiler]


def _site_allocs(value: float | None) -> str:
    return "?" if value is None else fmt_allocs(snapped_allocs(value))


def _budgets(report: Doc) -> list[str]:
    """Allocation budgets: the broken ones first, each with the benchmark, the Go version and the measured figure."""
    budgets = [(case["name"], budget) for case in report["cases"] for budget in case.get("budgets", [])]
    if not budgets:
        return []
    broken = [(name, budget, check) for name, budget in budgets for check in budget["broken"]]
    out = ["## Allocation budgets", "",
           f"{_count(len(budgets), 'budget')}, checked on {sum(b['checked'] for _n, b in budgets):,} exact results: "
           + (f"**{len(broken)} broken**." if broken else "all hold."), ""]
    out += [f"- **broken**: {md_code(check['benchmark'])}" + (f" ({md_code(check['package'])})" if check["package"]
                                                            else "")
            + f" on {check['go_version']} {check['arch']}: {_budget_figures(check)}; budget "
            f"{md_code(budget['id'])}" + (f" ({md_text(budget['reason'])})" if budget["reason"] else "")
            for _name, budget, check in broken[:50]]
    if len(broken) > 50:
        out.append(f"- … and {len(broken) - 50} more broken results (report.json has every one)")
    for _name, budget in budgets:
        if not budget["broken"]:
            unmeasured = f", {budget['unmeasured']} without an exact figure" if budget["unmeasured"] else ""
            matched = "matches no benchmark" if not budget["benchmarks"] else \
                f"holds for {_count(budget['benchmarks'], 'benchmark')} in {budget['checked']:,} results{unmeasured}"
            out.append(f"- {md_code(budget['id'])}: {matched}")
    return [*out, ""]


def _budget_figures(check: Doc) -> str:
    parts = []
    if "allocs/op" in check["broken_by"]:
        count = fmt_allocs(check["allocs_per_op"])
        parts.append(f"{count} {'alloc' if count == '1' else 'allocs'}/op exact")
    if "B/op" in check["broken_by"]:
        parts.append(f"{fmt_bytes(check['bytes_per_op'])}/op exact")
    return ", ".join(parts)


def _measured_on(report: Doc) -> list[str]:
    """The machine and settings, next to the verdicts so that ns/op is read with them in mind."""
    return ["**Measured on**", "", *environment_text(report), ""]


def _since_previous(report: Doc) -> list[str]:
    """What differs from the previous run; absent when the report was built without one to compare."""
    if not report.get("since_previous"):
        return []
    return ["## Changes since the previous run", "",
            *(f"- {md_text(item['text']) if item.get('kind') == 'legacy' else since_text(item)}"
              for item in report["since_previous"]),
            ""]


def _what_changed(report: Doc) -> list[str]:
    """Changes across Go versions within this run, led by the measurement rather than by `-m`."""
    return ["## What changed across versions", "",
            "Driven by what was measured at each site; a change in the compiler's words alone is reported as "
            "such.", "",
            *_capped(change_lines(report), "changes"), ""]


def _where_the_compiler_misleads(report: Doc) -> list[str]:
    """Sites where `-m` and the measurement disagree, so that a reader trusting `-m` is warned."""
    return ["## Where the compiler's words mislead", "",
            "Sites where `-gcflags=-m=2` and the allocations measured at that line disagree. Trust the "
            "measurement.", "",
            *_capped(disagreement_lines(report), "sites"), ""]


SECTION_LINES = 80  # a section's list on a report of many benchmarks: the rest is counted (report.json has all)


def _capped(lines: list[str], what: str) -> list[str]:
    if len(lines) <= SECTION_LINES:
        return lines
    return [*lines[:SECTION_LINES], f"- … and {len(lines) - SECTION_LINES:,} more {what}: report.json has every one."]


def _claims_in_detail(report: Doc) -> list[str]:
    """Every claim with its text and its why, including those the first screen folds into one line."""
    if not _has_claims(report):
        return []
    return ["## Claims in detail", "", *claim_sentences(report, full=True), ""]


def _cells(report: Doc) -> list[str]:
    """The cells that did not end ok, each with its reason in view, then every cell folded away."""
    cells = report["cells"]
    not_ok = [c for c in cells if c["status"] != Status.OK]
    out = ["## Cells", ""]
    if not_ok:
        out += [f"- **{md_code(c['key'])}** {c['status']}"
                + (f" (as its case expects: {md_text(c['expected_failure'])})" if c.get("expected_failure") else "")
                + f": {md_text(c['reason'][:300])}" for c in not_ok] + [""]
    rows = [[md_code(c["key"]), c["status"], md_text(c["go_version"] or "–"), c["arch"],
             c["runner"] + (" (emulated)" if c["emulated"] else "") + (" (cached)" if c.get("cached") else ""),
             md_text(c["image"] or "–"), f"{c['total_s']:.1f}", md_text(c["reason"][:300])]
            for c in cells]
    headers = ["cell", "status", "Go", "arch", "runner", "image or toolchain", "seconds", "reason"]
    return out + details(f"All {len(cells)} cells", [tabulate(rows, headers=headers, tablefmt="github")])


def _case_section(report: Doc, statuses: Statuses, case: Doc) -> list[str | _Link]:
    out: list[str | _Link] = [f"## Case {md_code(case['name'])}: {md_text(case['title'])}", ""]
    if case["source"]:
        out += [f"Source: {md_text(case['source'])}", ""]
    plot = report.get("plots", {}).get(case["name"])
    if plot:
        out += [_Link(f"allocs/op, B/op and ns/op of {md_text(case['name'])} across Go versions", plot), ""]
    if case["benchmarks"]:
        legend = ("allocs/op and B/op in **bold** are exact (total / N of the benchmark's timed ops in one run, not "
                  "truncated); ≥N marks go test -benchmem's truncated median where no exact figure was taken (the "
                  "true value is at least N and below N+1); ⚠ the profile's lines do not add up to it · ns/op "
                  "median [min–max] over the timed samples, compared with the previous version on the same native "
                  "arch (benchstat's Mann-Whitney U, α = 0.05): \"~\" not significant, else the change of the "
                  "median; † emulated and ‡ under load, not compared; no ns/op: no timed samples (bench.timings).")
        for package, rows in _by_package(case["benchmarks"]):
            out += details(f"Benchmarks of {md_text(case['name'])}{_package_words(package)}", [legend, "", _table(
                report, statuses, case, rows, lambda b: md_code(b["name"]),
                lambda b, col, status: _bench_cell(b["results"].get(col), status))])
    if case["sites"]:
        legend = ("Each allocation site (file:line:column of the expression) per cell: the verdict from what was "
                  "measured at its line against what `-m` said there, and the allocs/op measured there (per "
                  "benchmark when several run the line).")
        if case.get("module"):
            legend += " Paths are relative to the module's root."
        url = (case.get("module") or {}).get("source_url")
        for package, rows in _by_package(case["sites"]):
            shown = [site for site in rows if _site_worth_a_row(site)]
            quiet = len(rows) - len(shown)
            rest = (f"{_count(quiet, 'more site')}: nothing measured there in any cell and the same `-m` verdict in "
                    "every cell (report.json has them)." if quiet else "")
            body = [legend, "", _table(report, statuses, case, shown,
                                       lambda s: f"{_site_id(s['id'], url)} {md_code(s['source'])}", _site_cell)] \
                if shown else []
            out += details(f"Allocation sites of {md_text(case['name'])}{_package_words(package)}",
                           [*body, *([""] if body and rest else []), *([rest] if rest else [])])
    return out


def _site_worth_a_row(site: Doc) -> bool:
    """A site allocates in some cell, -m's verdict there differs between cells, or -m and the measurement
    disagree somewhere; the others are only counted."""
    cells = list(site["cells"].values())
    return any(sum(m["allocs_per_op"] for m in cell["measured"] or []) >= 0.05 for cell in cells) or \
        len({cell["compiler"] for cell in cells}) > 1 or any(Evidence(cell["evidence"]).misleading for cell in cells)


def _by_package(rows: Sequence[Doc]) -> list[tuple[str | None, list[Doc]]]:
    """Rows grouped by their package (module cases), in first-seen order; case directories: one group."""
    groups: dict[str | None, list[Doc]] = {}
    for row in rows:
        groups.setdefault(row.get("package"), []).append(row)
    return list(groups.items())


def _package_words(package: str | None) -> str:
    return f", package {md_code(package)}" if package else ""


_SINCE_TEXTS = {
    "first-run": "First run: nothing to compare with.",
    "none": ("No changes: every claim's verdict, the compiler's verdict at every line, and every allocs/op "
             "(per benchmark, and per line where both runs measured it) are as in the previous run."),
    "first-profile": ("Allocations are measured per line from this run on; the previous run has no per-line "
                      "figures to compare with."),
    "new-claim": "New claim {code}",
    "dropped-claim": "Claim {code} is no longer in the cases",
    "new-version": "New Go version {text} ({columns})",
    "dropped-version": "Go version {text} is no longer in the matrix (was: {columns})",
    "new-arch": "New architecture {text}",
    "dropped-arch": "Architecture {text} is no longer in the matrix",
    "new-case": "New case {code}",
    "dropped-case": "Case {code} is no longer in the matrix",
    "cell-failing": "Cell {text} is now {before} (was ok){reason}",
    "cell-recovered": "Cell {text} is ok again (was {before})",
}


def since_text(item: Doc) -> str:
    """One "changes since the previous run" entry (gomatrix.analysis.since.SinceChange as JSON) in words."""
    kind = item["kind"]
    subject = item.get("subject", "")
    columns = ", ".join(md_text(c) for c in item.get("columns", []))
    if kind in _SINCE_TEXTS:
        reason = f": {md_text(item['after'])}" if kind == "cell-failing" and item.get("after") else ""
        return _SINCE_TEXTS[kind].format(code=md_code(subject), text=md_text(subject), columns=columns,
                                         before=md_text(item.get("before", "")), reason=reason)
    what = {"claim": f"claim {md_code(subject)}", "site": f"measured allocs/op at {md_code(subject)}",
            "diagnostic": f"`-m` verdict at {md_code(subject)}",
            "allocs": f"allocs/op of {md_code(subject)}"}.get(kind, md_text(subject))
    return f"{what} on {columns}: {md_text(item['before'])} → {md_text(item['after'])}"
