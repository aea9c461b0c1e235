from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gomatrix.core.errors import CaseError
from gomatrix.plan.cases import discover_cases, load_case

ROOT = Path(__file__).resolve().parent.parent


def test_seed_cases_have_their_files_and_claims() -> None:
    cases = {c.name: c for c in discover_cases(ROOT / "cases")}
    # the source document's three (undated: written against Go 1.7), and gomatrix's own, whose claims are
    # dated by the release notes that made them true
    assert set(cases) == {"array", "makeslice", "sliceappend", "makevar", "appendloop"}
    assert all(c.since is None and c.until is None for name in ("array", "sliceappend")
               for c in cases[name].claims)
    assert [(c.id, c.since, c.until) for c in cases["makevar"].claims] == [
        ("makevar-16-no-alloc-since-125", "1.25", None), ("makevar-16-stack-since-125", "1.25", None)]
    collect = cases["appendloop"].claims[0]
    assert len(cases["appendloop"].claims) == 1 and collect.since == "1.26"
    assert collect.allocs is not None and (collect.allocs.min, collect.allocs.max) == (None, 2)
    assert collect.allocs_per_op is None and collect.allocs.text() == "at most 2"  # a range, not a count
    dated = next(c for c in cases["makeslice"].claims if c.id == "make-variable-cap-stack-since-125")
    assert (dated.since, dated.documented) == ("1.25", "Go 1.25 release notes, Compiler")
    assert cases["array"].go_files == ("array.go", "array_test.go")
    claim = next(c for c in cases["array"].claims if c.id == "array-10mib-stack")
    assert claim.site is not None and (claim.site.file, claim.site.line, claim.expect) == (
        "array_test.go", 9, "stack")
    line = (ROOT / "cases/array/array_test.go").read_text().splitlines()[claim.site.line - 1]
    assert "var arr [1024 * 1024 * 10]byte" in line
    bench_claim = next(c for c in cases["sliceappend"].claims if c.benchmark)
    assert bench_claim.allocs_per_op == 3


def test_every_seed_claim_points_at_the_line_it_describes() -> None:
    for case in discover_cases(ROOT / "cases"):
        for claim in case.claims:
            if claim.site is None:
                continue
            text = (case.path / claim.site.file).read_text().splitlines()[claim.site.line - 1]
            assert "make(" in text or "var arr" in text, (case.name, claim.id, text)


def test_directory_without_case_yaml_is_a_case(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "cases/array", tmp_path / "mine")
    (tmp_path / "mine/case.yaml").unlink()
    cases = discover_cases(tmp_path)
    assert [c.name for c in cases] == ["mine"]
    assert cases[0].title == "mine" and cases[0].claims == ()


def test_cases_dir_can_be_one_case(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "cases/makeslice", tmp_path / "one")
    assert [c.name for c in discover_cases(tmp_path / "one")] == ["one"]


def test_unknown_case_suggests_the_closest() -> None:
    with pytest.raises(CaseError, match="did you mean 'makeslice'"):
        discover_cases(ROOT / "cases", ("makeslise",))


def test_directory_without_go_files_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(CaseError, match=r"no \.go files"):
        load_case(tmp_path / "empty")
    with pytest.raises(CaseError, match="no case directories"):
        discover_cases(tmp_path)


def test_bad_case_yaml_is_reported_with_path(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "cases/array", tmp_path / "a")
    (tmp_path / "a/case.yaml").write_text("title: x\nclaims:\n  - id: c1\n    text: t\n    expect: stak\n")
    with pytest.raises(CaseError, match=r"\$\.claims\[0\]") as info:
        load_case(tmp_path / "a")
    assert info.value.exit_code == 3


def test_claim_on_a_missing_file_is_rejected(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "cases/array", tmp_path / "a")
    (tmp_path / "a/case.yaml").write_text(
        "claims:\n  - id: c1\n    text: t\n    site: {file: nope.go, line: 1}\n    expect: heap\n")
    with pytest.raises(CaseError, match=r"nope\.go"):
        load_case(tmp_path / "a")
