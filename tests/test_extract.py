"""cases.extract: an article's Go code blocks -> case directories, variants and proposed claims."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from gomatrix.authoring.extract import extract_cases, extract_document
from gomatrix.core.errors import CaseError
from gomatrix.plan.cases import discover_cases, load_case
from tests.conftest import ROOT, invoke, load_cells, only_run_dir

SEED_DOC = "../shared/seed/go-memory-allocation.md"  # relative to the project root, where invoke runs
DOCUMENTS = ROOT / "tests" / "data" / "documents"
SEED_CASES = ("array", "makeslice", "sliceappend")


SCHEMA_LINE = re.compile(rb"^# yaml-language-server: \$schema=(.*)\n")


def _tree(directory: Path) -> dict[str, bytes]:
    """Every file's bytes; case.yaml without its editor line (the schema's path depends on where it went)."""
    return {str(p.relative_to(directory)): SCHEMA_LINE.sub(b"", p.read_bytes())
            for p in sorted(directory.rglob("*")) if p.is_file()}


def test_extracted_case_yaml_names_its_schema_for_editors(tmp_path: Path) -> None:
    extract_cases(DOCUMENTS / "escape-notes.md", tmp_path / "into", force=False, log=_quiet)
    case_files = sorted((tmp_path / "into").rglob("case.yaml"))
    assert case_files
    for case_file in case_files:
        match = SCHEMA_LINE.match(case_file.read_bytes())
        assert match is not None, case_file
        schema = (case_file.parent / match.group(1).decode()).resolve()
        assert schema == (ROOT / "schemas" / "case.schema.json").resolve()


def _quiet(_: str) -> None:
    pass


@pytest.fixture(scope="module")
def seed_extracted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The seed article extracted through the CLI, as a user runs it."""
    into = tmp_path_factory.mktemp("extracted") / "cases"
    result = invoke("cases.extract", SEED_DOC, "--into", str(into))
    assert result.returncode == 0, result.stdout + result.stderr
    return into, result.stdout


# ----------------------------------------------------------------------------- the seed article


def test_seed_article_gives_the_repo_cases_line_for_line(seed_extracted: tuple[Path, str]) -> None:
    into, _ = seed_extracted
    assert sorted(p.name for p in into.iterdir()) == [
        "array", "array-v2", "makeslice", "makeslice-v2", "makeslice-v3", "sliceappend"]
    for name in SEED_CASES:
        ours, theirs = into / name, ROOT / "cases" / name
        assert sorted(p.name for p in ours.glob("*.go")) == sorted(p.name for p in theirs.glob("*.go")), name
        for go_file in sorted(theirs.glob("*.go")):
            extracted = (ours / go_file.name).read_text().splitlines()
            expected = go_file.read_text().splitlines()
            # same line count: escape-analysis line numbers match; only //-comment lines may differ in wording
            assert len(extracted) == len(expected), go_file.name
            for number, (a, b) in enumerate(zip(extracted, expected, strict=True), start=1):
                if a.strip().startswith("//") and b.strip().startswith("//"):
                    continue
                assert a == b, f"{name}/{go_file.name}:{number}: {a!r} != {b!r}"
            assert extracted[0].startswith("package ")  # the `// name.go` line is not kept


def test_seed_article_variants_swap_in_the_commented_out_mains(seed_extracted: tuple[Path, str]) -> None:
    into, _ = seed_extracted
    assert (into / "array-v2/array_test.go").read_bytes() == (into / "array/array_test.go").read_bytes()
    assert (into / "array-v2/array.go").read_text() == (
        "package main\n\nfunc main() {\n\tvar arr [1024 * 1024 * 10+1]byte\n\t_ = arr\n}\n")
    assert "\ts := make([]byte, cap)\n" in (into / "makeslice-v2/makeslice.go").read_text()
    assert "\ts := make([]byte, 1024*64)\n" in (into / "makeslice-v3/makeslice.go").read_text()
    benchmarks = (into / "makeslice/makeslice_test.go").read_bytes()
    for variant in ("makeslice-v2", "makeslice-v3"):
        assert (into / variant / "makeslice_test.go").read_bytes() == benchmarks
    cases = {c.name: c for c in discover_cases(into)}
    assert cases["array-v2"].claims == ()
    assert cases["array-v2"].source.startswith("go-memory-allocation.md, section 'Stack Allocation Limit'")


def test_seed_article_proposed_claims(seed_extracted: tuple[Path, str]) -> None:
    into, stdout = seed_extracted
    cases = {c.name: c for c in discover_cases(into)}
    proposed = {(name, c.site.file, c.site.line, c.expect)
                for name, case in cases.items() for c in case.claims if c.site is not None}
    assert proposed == {
        ("array", "array_test.go", 9, "stack"),  # "The threshold for stack allocation is 10MB"
        ("makeslice", "makeslice_test.go", 11, "stack"),  # "s will be allocated in stack"
        ("makeslice", "makeslice_test.go", 21, "heap"),  # "s will be allocated in heap"
        ("makeslice", "makeslice_test.go", 30, "heap"),  # "slice >= 64KB 对象被分配在了堆上面"
    }
    for case in cases.values():
        for claim in case.claims:
            assert claim.id.startswith(f"proposed-{case.name}-") and claim.text.startswith("PROPOSED (confirm): ")
    assert cases["array"].title == "Stack Allocation Limit"
    assert cases["array"].source == "go-memory-allocation.md, section 'Stack Allocation Limit'"
    makeslice_yaml = (into / "makeslice/case.yaml").read_text()
    assert '  # proposed from: "slice >= 64KB 对象被分配在了堆上面"\n  - id: proposed-makeslice-' in makeslice_yaml
    assert '# proposed from: "The threshold for stack allocation is 10MB"' in (into / "array/case.yaml").read_text()
    # the CLI says what it wrote
    assert "3 case(s) and 3 variant case(s) from go-memory-allocation.md" in stdout
    assert "variant makeslice-v3/" in stdout
    assert 'proposed claim proposed-makeslice-BenchmarkMakeSlice2-l21: makeslice_test.go:21 heap ' \
           '(from "s will be allocated in heap")' in stdout


def _cell_results(cell: dict[str, Any]) -> tuple[dict[str, Any], set[tuple[str, int, str, str]]]:
    allocs = {b["name"]: b["allocs_per_op"] for b in cell["benchmarks"]}
    escapes = {(e["file"], e["line"], e["subject"], e["verdict"]) for e in cell["escapes"]}
    return allocs, escapes


def test_extracted_seed_cases_measure_like_the_repo_cases(seed_extracted: tuple[Path, str], tmp_path: Path) -> None:
    """The same matrix on the extracted cases and on cases/: same allocs/op and escape verdicts, line for line."""
    into, _ = seed_extracted
    runs = {}
    for label, cases_dir in (("extracted", into), ("repo", ROOT / "cases")):
        out = tmp_path / label
        result = invoke("matrix", "--runner", "host", "--versions", "1.24.11", "--arches", "amd64", "--cases-dir",
                        str(cases_dir), "--cases", ",".join(SEED_CASES), "--benchtime", "50ms", "--count", "1",
                        "--out", str(out), "--force")
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        runs[label] = load_cells(only_run_dir(out))
    assert set(runs["extracted"]) == set(runs["repo"]) == {f"{c}--go1.24.11--amd64" for c in SEED_CASES}
    for key, cell in runs["repo"].items():
        assert cell["status"] == runs["extracted"][key]["status"] == "ok", key
        allocs, escapes = _cell_results(cell)
        assert escapes, key
        assert _cell_results(runs["extracted"][key]) == (allocs, escapes), key


# ----------------------------------------------------------------------------- documents of our own


def test_markdown_document_gives_the_expected_tree(tmp_path: Path) -> None:
    """escape-notes.md: a `// pointer.go` pair, unnamed blocks, a commented-out main, 堆/栈 comments, non-Go blocks."""
    into = tmp_path / "out"
    extraction = extract_cases(DOCUMENTS / "escape-notes.md", into, log=_quiet)
    assert _tree(into) == _tree(DOCUMENTS / "expected" / "escape-notes")
    assert list(tmp_path.iterdir()) == [into]  # nothing written outside --into
    assert [c.name for c in extraction.cases] == ["pointer", "pointer-v2", "growing_a_buffer"]
    # the benchmark block named pointer.go is written as pointer_test.go, without its name line
    assert (into / "pointer/pointer_test.go").read_text().startswith("package main\n\nimport \"testing\"\n")
    assert "// func main" not in (into / "pointer/pointer.go").read_text()
    assert "\tsink = &point{3, 4}\n" in (into / "pointer-v2/pointer.go").read_text()
    # unnamed blocks are named after their section and paired by stem
    assert sorted(load_case(into / "growing_a_buffer").go_files) == ["growing_a_buffer.go", "growing_a_buffer_test.go"]
    claims = {(c.site.file, c.site.line, c.expect) for c in load_case(into / "pointer").claims if c.site}
    assert claims == {("pointer_test.go", 9, "heap"), ("pointer_test.go", 17, "stack")}
    assert extraction.notes == ("ignored 2 fenced block(s) that are not Go (shell commands, output, ...)",
                                "ignored 1 Go fragment(s) without a package clause near line 73")


def test_plain_text_document_gives_the_expected_tree(tmp_path: Path) -> None:
    """plain-notes.txt: no markdown; `// name.go` + package starts a file, prose around the code is dropped."""
    extract_cases(DOCUMENTS / "plain-notes.txt", tmp_path, log=_quiet)
    assert _tree(tmp_path) == _tree(DOCUMENTS / "expected" / "plain-notes")
    size_test = (tmp_path / "size/size_test.go").read_text()
    assert size_test.startswith("package main\n") and "Then run" not in size_test  # dedented, prose dropped
    case = load_case(tmp_path / "size")
    assert [(c.site.line, c.expect) for c in case.claims if c.site] == [(9, "stack")]  # "does not escape"


# ----------------------------------------------------------------------------- rules and errors


def _doc(tmp_path: Path, text: str, name: str = "doc.md") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_unlabelled_go_block_and_two_files_in_one_block(tmp_path: Path) -> None:
    doc = _doc(tmp_path, "# T\n\n```\n// a.go\npackage main\n\nfunc main() {}\n\n// a_test.go\npackage main\n\n"
                         "import \"testing\"\n\nfunc TestA(t *testing.T) {}\n```\n\n```\n$ go run a.go\n```\n")
    cases, notes = extract_document(doc)
    assert [(c.name, sorted(c.files)) for c in cases] == [("a", ["a.go", "a_test.go"])]
    assert cases[0].files["a.go"] == "package main\n\nfunc main() {}\n"
    assert notes == ["ignored 1 fenced block(s) that are not Go (shell commands, output, ...)"]


def test_unnamed_block_without_a_heading_is_case_n(tmp_path: Path) -> None:
    cases, _ = extract_document(_doc(tmp_path, "Text.\n\n~~~go\npackage main\n\nfunc main() {}\n~~~\n"))
    assert [(c.name, list(c.files), c.title, c.source) for c in cases] == [("case1", ["case1.go"], "case1", "doc.md")]


def test_two_blocks_written_to_one_file_is_an_error(tmp_path: Path) -> None:
    doc = _doc(tmp_path, "```go\n// a.go\npackage main\n```\n\n```go\n// a.go\npackage main\n```\n")
    with pytest.raises(CaseError, match=r"two blocks would both be written as a/a\.go \(lines 3 and 8\)"):
        extract_document(doc)


def test_ambiguous_and_non_allocation_comments_propose_nothing(tmp_path: Path) -> None:
    doc = _doc(tmp_path, "```go\n// a.go\npackage main\n\n// Moved from the stack to the heap\nfunc main() {\n"
                         "\t// just a buffer\n\ts := make([]byte, 8)\n\t_ = s\n}\n```\n")
    cases, notes = extract_document(doc)
    assert cases[0].claims == []
    assert notes == ["a/a.go:3: no claim proposed from 'Moved from the stack to the heap': "
                     "it speaks of both the stack and the heap"]


def test_comment_on_a_site_line_and_non_conflicting_comments_stay(tmp_path: Path) -> None:
    doc = _doc(tmp_path, "```go\n// a.go\npackage main\n\nfunc main() {\n\tp := new(int) // 不会逃逸\n\t_ = p\n}\n\n"
                         "// func helper() {\n// }\n```\n")
    cases, _ = extract_document(doc)
    assert [c.name for c in cases] == ["a"]  # helper() redeclares nothing: no variant, the comment stays
    assert cases[0].files["a.go"].endswith("}\n\n// func helper() {\n// }\n")
    assert [(c.line, c.expect, c.comment) for c in cases[0].claims] == [(4, "stack", "不会逃逸")]


def test_existing_case_directories_need_force(tmp_path: Path) -> None:
    into = tmp_path / "cases"
    extract_cases(DOCUMENTS / "escape-notes.md", into, log=_quiet)
    (into / "pointer" / "stale.go").write_text("package main\n")
    before = _tree(into)
    with pytest.raises(CaseError, match=r"already exist: pointer, pointer-v2, growing_a_buffer.*--force"):
        extract_cases(DOCUMENTS / "escape-notes.md", into, log=_quiet)
    assert _tree(into) == before  # nothing written
    extract_cases(DOCUMENTS / "escape-notes.md", into, force=True, log=_quiet)
    assert _tree(into) == _tree(DOCUMENTS / "expected" / "escape-notes")  # replaced, the stale file is gone
    assert list(into.iterdir()) and not [p for p in into.iterdir() if p.name.startswith(".")]


def test_other_directories_under_into_are_left_alone(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "x.go").write_text("package main\n")
    extract_cases(DOCUMENTS / "plain-notes.txt", tmp_path, log=_quiet)
    assert (tmp_path / "mine" / "x.go").read_text() == "package main\n"
    assert yaml.safe_load((tmp_path / "size-v2" / "case.yaml").read_text())["title"].startswith("size (variant 2")


def test_missing_document_and_no_go_blocks_are_case_errors(tmp_path: Path) -> None:
    with pytest.raises(CaseError, match="does not exist") as missing:
        extract_cases(tmp_path / "nope.md", tmp_path / "out", log=_quiet)
    assert missing.value.exit_code == 3 and missing.value.fix
    with pytest.raises(CaseError, match="no Go code blocks") as empty:
        extract_cases(_doc(tmp_path, "# Title\n\n```sh\nls\n```\n"), tmp_path / "out", log=_quiet)
    assert "```go" in empty.value.fix
    with pytest.raises(CaseError, match="no Go code blocks"):
        extract_cases(_doc(tmp_path, "just prose\n", "notes.txt"), tmp_path / "out", log=_quiet)
    assert not (tmp_path / "out").exists()


def test_cli_errors_are_one_paragraph_with_exit_codes(tmp_path: Path) -> None:
    missing = invoke("cases.extract", str(tmp_path / "nope.md"), "--into", str(tmp_path / "out"))
    assert missing.returncode == 3
    assert missing.stderr.startswith("gomatrix: invalid case: document ") and "Traceback" not in missing.stderr
    no_into = invoke("cases.extract", str(DOCUMENTS / "plain-notes.txt"))
    assert no_into.returncode == 2 and "--into" in no_into.stderr
